//! The name a failed span's `error_type` gets when the error's own type is
//! hidden behind `dyn Error` (`Box<dyn Error + Send + Sync>`,
//! `anyhow::Error`): the most specific name available, never the box's.
//!
//! Best effort, in this order:
//! 1. A `std::io::Error` is recognised by downcasting (its `Debug` form
//!    names the variant of its inner representation, `Os { .. }`, not the type).
//! 2. A context layer (`anyhow`'s `.context(..)`, whose `Debug` form is
//!    `Error { context: .., source: .. }`) is named by the error it wraps.
//! 3. The leading type name of the error's `Debug` form: a derived `Debug`
//!    starts with the struct's name (`ParseIntError { kind: .. }`), or, for an
//!    enum, with the variant's (`Declined(..)`).
//! 4. An error made from a string (`"text".into()`, `anyhow!("text")`),
//!    whose `Debug` form is a quoted string: `String`.
//! 5. Anything else: `Error`.
//!
//! [`TimeBlock::fail`](crate::TimeBlock::fail) sees its error only as a
//! generic `Display + Debug` value, so for a wrapper it takes steps 3 to 5
//! (an anyhow context layer is then named by its context's `Debug` form).
//!
//! Only an error's first 96 bytes of `Debug` output are rendered, so a large
//! error costs little more than its `Display`, which is rendered anyway.

use std::borrow::Cow;
use std::error::Error;
use std::fmt::{self, Write as _};

/// How deep a chain of context layers is followed before giving up.
const MAX_DEPTH: usize = 8;

/// The most specific name of `err`'s concrete type that can be learned
/// through `dyn Error`; see the [module docs](self).
pub(crate) fn dyn_error_name(err: &(dyn Error + 'static)) -> Cow<'static, str> {
    let mut err = err;
    for _ in 0..MAX_DEPTH {
        if err.is::<std::io::Error>() {
            return Cow::Borrowed(std::any::type_name::<std::io::Error>());
        }
        let mut head = Head::default();
        // `Head` stops the formatter once it has enough; that error is expected.
        let _ = write!(head, "{err:?}");
        let text = head.as_str();
        if text.starts_with("Error { context: ")
            && let Some(inner) = err.source()
        {
            err = inner;
            continue;
        }
        return name_from_debug(text);
    }
    Cow::Borrowed("Error")
}

/// Steps 3 to 5 of the [module docs](self), for a value known only by its
/// `Debug` form.
pub(crate) fn debug_type_name(value: &(impl fmt::Debug + ?Sized)) -> Cow<'static, str> {
    let mut head = Head::default();
    // The alternate form: `anyhow::Error` and `eyre::Report` print their
    // inner error's `Debug` with it, a report of messages without it.
    // `Head` stops the formatter once it has enough; that error is expected.
    let _ = write!(head, "{value:#?}");
    name_from_debug(head.as_str())
}

/// Whether `type_name` (as `std::any::type_name` spells it) is a wrapper
/// that hides the error's own type: a boxed `dyn Error`, `anyhow::Error`
/// or `eyre::Report`.
pub(crate) fn is_error_wrapper(type_name: &str) -> bool {
    type_name.starts_with("alloc::boxed::Box<dyn ")
        || type_name == "anyhow::Error"
        || type_name == "eyre::Report"
}

fn name_from_debug(text: &str) -> Cow<'static, str> {
    if text.starts_with('"') {
        return Cow::Borrowed("String");
    }
    match leading_type_name(text) {
        Some(name) => Cow::Owned(name.to_owned()),
        None => Cow::Borrowed("Error"),
    }
}

/// `Name` at the start of `Name`, `Name { .. }`, `Name(..)` or `Name<..>`,
/// when it looks like a type (starts with an uppercase letter).
fn leading_type_name(text: &str) -> Option<&str> {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    let (name, rest) = text.split_at(end);
    let boundary = rest.is_empty() || rest.starts_with([' ', '(', '{', '<']);
    (name.starts_with(|c: char| c.is_ascii_uppercase()) && boundary).then_some(name)
}

/// Keeps the first `HEAD_BYTES` bytes written to it, then fails the write.
struct Head {
    buf: [u8; HEAD_BYTES],
    len: usize,
}

const HEAD_BYTES: usize = 96;

impl Default for Head {
    fn default() -> Self {
        Head {
            buf: [0; HEAD_BYTES],
            len: 0,
        }
    }
}

impl Head {
    fn as_str(&self) -> &str {
        let bytes = &self.buf[..self.len];
        // Cut at a char boundary: a partial multi-byte char at the end is dropped.
        match std::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(),
        }
    }
}

impl fmt::Write for Head {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = HEAD_BYTES - self.len;
        let n = s.len().min(room);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        if n < s.len() { Err(fmt::Error) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Unit;

    impl fmt::Display for Unit {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("unit")
        }
    }

    impl Error for Unit {}

    #[test]
    fn leading_type_name_needs_a_type_like_word() {
        assert_eq!(
            leading_type_name("ParseIntError { kind: Empty }"),
            Some("ParseIntError")
        );
        assert_eq!(leading_type_name("Declined(3)"), Some("Declined"));
        assert_eq!(leading_type_name("Unit"), Some("Unit"));
        assert_eq!(leading_type_name("lowercase words"), None);
        assert_eq!(leading_type_name("[1, 2]"), None);
        assert_eq!(leading_type_name("Name: value"), None);
    }

    #[test]
    fn a_unit_struct_is_named_by_its_debug_form() {
        assert_eq!(dyn_error_name(&Unit), "Unit");
    }

    #[test]
    fn long_debug_output_is_cut_short() {
        let long = format!("{:?}", "x".repeat(10_000));
        let mut head = Head::default();
        assert!(write!(head, "{long}").is_err());
        assert_eq!(head.as_str().len(), HEAD_BYTES);
    }
}
