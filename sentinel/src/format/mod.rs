//! The record format: one JSON object per line, version 2.
//!
//! The writer produces, and every reader (the `sentinel` CLI, tests, benches)
//! decodes through [`Line`]:
//!
//! ```text
//! {"timestamp":"2026-11-22T01:02:03.456789+00:00","function":"checkout[payments]",
//!  "duration_ms":12.345,"cpu_time_ms":1.2,"status":"success","error_type":null,
//!  "error":null,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"2c26b46b68ffc68f",
//!  "parent_span_id":null,"tags":{"user":42},"slow":true}
//! ```
//!
//! (one line in the file). Fields, in the order the writer puts them:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `timestamp` | string | RFC 3339, microseconds, UTC: when the span ended (a user record: when it was logged) |
//! | `function` / `label` | string | the span's name: `function` for `#[trace]` fns and `tracing` spans, `label` for a `TimeBlock` |
//! | `duration_ms` | number | wall time |
//! | `cpu_time_ms` | number | CPU time while running; absent when CPU time is off; never above `duration_ms` |
//! | `status` | string | `success`, `error`, `cancelled` |
//! | `error_type`, `error` | string or null | the error's type name (module path stripped) and `Display`; `panic` and its message |
//! | `trace_id` | string | 32 lowercase hex digits (128 bits, never all zero), as W3C Trace Context's `trace-id` |
//! | `span_id` | string | 16 lowercase hex digits (64 bits, never all zero), as W3C Trace Context's `parent-id` |
//! | `parent_span_id` | string or null | the parent's `span_id`; null for a root span (a span whose parent is in another process has that process's span id here) |
//! | `tags` | object | present only with tags in scope |
//! | `slow` | `true` | present only when the span exceeded its `slow_ms` |
//!
//! A record from [`AsyncLogger::log`](crate::AsyncLogger::log) is the user's
//! object with `timestamp` put first. Where the logger dropped records it
//! writes a drop marker:
//!
//! ```text
//! {"timestamp":"…","status":"dropped","dropped":{"count":120,"reasons":{"stalled":120},"from":"…","to":"…"}}
//! ```
//!
//! Readers ignore fields they do not know, so a later version may add fields;
//! changing one's meaning bumps [`VERSION`].
//!
//! # Versions
//!
//! | version | change |
//! |---|---|
//! | 1 | the original sentinel-trace fields; `trace_id` has 16 hex digits |
//! | 2 | `trace_id` widens to 32 hex digits, so a trace can cross processes in a W3C `traceparent` |
//!
//! Readers take both: [`TraceId`](crate::TraceId)'s `FromStr` accepts 16 or
//! 32 digits, and [`Line`] keeps ids as the text they are. Tools that treat
//! ids as opaque strings, as the original Python `sentinel tail` does, read
//! either version.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

pub(crate) mod encode;
mod scan;

use scan::Known;

/// The version of the format this crate writes (it reads every version up
/// to this one; see [Versions](self#versions)).
pub const VERSION: u32 = 2;

/// One line of a sentinel file, decoded leniently: every field is optional
/// and a wrongly typed field reads as [`Loose::Null`]/[`Loose::Other`]
/// instead of rejecting the record.
#[derive(Debug, Deserialize, Default)]
#[serde(default)]
#[non_exhaustive]
pub struct Line<'a> {
    #[serde(borrow)]
    /// `timestamp`: RFC 3339 end time of a span, or when a record was logged.
    pub timestamp: Loose<'a>,
    #[serde(borrow)]
    /// `function`: a `#[trace]` fn or `tracing` span name (`name[label]` with a label).
    pub function: Loose<'a>,
    #[serde(borrow)]
    /// `label`: a `TimeBlock` name, used when `function` is absent.
    pub label: Loose<'a>,
    #[serde(borrow)]
    /// `duration_ms`: wall time of the span, in milliseconds.
    pub duration_ms: Loose<'a>,
    #[serde(borrow)]
    /// `status`: `success`, `error`, `cancelled`, or `dropped` on a drop marker.
    pub status: Loose<'a>,
    #[serde(borrow)]
    /// `error_type`: the error's type name without module path, or `panic`.
    pub error_type: Loose<'a>,
    #[serde(borrow)]
    /// `error`: the error's `Display`, or the panic message.
    pub error: Loose<'a>,
    #[serde(borrow)]
    /// `trace_id`: lowercase hex trace id (32 digits; 16 in version 1 files).
    pub trace_id: Loose<'a>,
    #[serde(borrow)]
    /// `span_id`: lowercase hex span id.
    pub span_id: Loose<'a>,
    #[serde(borrow)]
    /// `parent_span_id`: the parent's span id; `null` for a root span.
    pub parent_span_id: Loose<'a>,
    #[serde(borrow)]
    /// `slow`: `true` when the span took longer than its `slow_ms`.
    pub slow: Loose<'a>,
    #[serde(borrow)]
    /// `cpu_time_ms`: CPU time the span spent running, in milliseconds.
    pub cpu_time_ms: Loose<'a>,
    /// `tags`: the tags in scope, as an object, undecoded (readers that do
    /// not show tags pay nothing for them).
    #[serde(borrow)]
    pub tags: Option<&'a RawValue>,
    /// `dropped` (drop markers only): `count`, `reasons`, `from`, `to`, undecoded.
    #[serde(borrow)]
    pub dropped: Option<&'a RawValue>,
}

impl<'a> Line<'a> {
    /// Decodes one line (without its newline); `None` for a blank line, one
    /// that is not a JSON object, or malformed JSON.
    ///
    /// Plain lines take a fast path that reads the fields in one pass; lines with
    /// escapes or anything unusual go through serde. Both decode a line the same way.
    pub fn parse(line: &'a str) -> Option<Line<'a>> {
        if !is_object(line.as_bytes()) {
            return None;
        }
        scan::scan(line, Fields::ALL, Known::Nothing).or_else(|| serde_json::from_str(line).ok())
    }

    /// Like [`Line::parse`], but decodes only `fields`: the others read as absent. The
    /// line is accepted or rejected exactly as by [`Line::parse`]; skipping a field's value
    /// is what makes this faster (no number parsed, no tags checked twice).
    pub fn parse_only(line: &'a str, fields: Fields) -> Option<Line<'a>> {
        if !is_object(line.as_bytes()) {
            return None;
        }
        scan::scan(line, fields, Known::Nothing).or_else(|| by_serde(line, fields))
    }

    /// This line with the fields outside `fields` reset to absent.
    fn only(mut self, fields: Fields) -> Line<'a> {
        let loose = [
            (Fields::TIMESTAMP, &mut self.timestamp),
            (Fields::FUNCTION, &mut self.function),
            (Fields::LABEL, &mut self.label),
            (Fields::DURATION_MS, &mut self.duration_ms),
            (Fields::STATUS, &mut self.status),
            (Fields::ERROR_TYPE, &mut self.error_type),
            (Fields::ERROR, &mut self.error),
            (Fields::TRACE_ID, &mut self.trace_id),
            (Fields::SPAN_ID, &mut self.span_id),
            (Fields::PARENT_SPAN_ID, &mut self.parent_span_id),
            (Fields::SLOW, &mut self.slow),
            (Fields::CPU_TIME_MS, &mut self.cpu_time_ms),
        ];
        for (field, value) in loose {
            if !fields.contains(field) {
                *value = Loose::Null;
            }
        }
        if !fields.contains(Fields::TAGS) {
            self.tags = None;
        }
        if !fields.contains(Fields::DROPPED) {
            self.dropped = None;
        }
        self
    }

    /// The span's name: `function`, else `label` (Python-truthy values only,
    /// as the original reader did).
    pub fn name(&self) -> Option<Cow<'_, str>> {
        self.function
            .truthy_text()
            .or_else(|| self.label.truthy_text())
    }

    /// For a drop marker, the number of records dropped there.
    pub fn dropped_count(&self) -> Option<u64> {
        if self.status.str() != Some("dropped") {
            return None;
        }
        #[derive(Deserialize)]
        struct Count {
            count: u64,
        }
        let raw = self.dropped?;
        serde_json::from_str::<Count>(raw.get())
            .ok()
            .map(|c| c.count)
    }
}

/// A set of [`Line`]'s fields, for [`Line::parse_only`]; combine them with `|`.
///
/// ```
/// use sentinel::format::{Fields, Line};
///
/// let line = r#"{"function":"f","duration_ms":1.5,"status":"error"}"#;
/// let only = Line::parse_only(line, Fields::FUNCTION | Fields::DURATION_MS).unwrap();
/// assert_eq!(only.duration_ms.f64(), Some(1.5));
/// assert_eq!(only.status.str(), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields(u16);

impl Fields {
    /// `timestamp`.
    pub const TIMESTAMP: Fields = Fields(1 << 0);
    /// `function`.
    pub const FUNCTION: Fields = Fields(1 << 1);
    /// `label`.
    pub const LABEL: Fields = Fields(1 << 2);
    /// `duration_ms`.
    pub const DURATION_MS: Fields = Fields(1 << 3);
    /// `status`.
    pub const STATUS: Fields = Fields(1 << 4);
    /// `error_type`.
    pub const ERROR_TYPE: Fields = Fields(1 << 5);
    /// `error`.
    pub const ERROR: Fields = Fields(1 << 6);
    /// `trace_id`.
    pub const TRACE_ID: Fields = Fields(1 << 7);
    /// `span_id`.
    pub const SPAN_ID: Fields = Fields(1 << 8);
    /// `parent_span_id`.
    pub const PARENT_SPAN_ID: Fields = Fields(1 << 9);
    /// `slow`.
    pub const SLOW: Fields = Fields(1 << 10);
    /// `cpu_time_ms`.
    pub const CPU_TIME_MS: Fields = Fields(1 << 11);
    /// `tags`.
    pub const TAGS: Fields = Fields(1 << 12);
    /// `dropped` (what [`Line::dropped_count`] reads, with `status`).
    pub const DROPPED: Fields = Fields(1 << 13);
    /// No field.
    pub const NONE: Fields = Fields(0);
    /// Every field.
    pub const ALL: Fields = Fields((1 << 14) - 1);
    /// What [`Line::name`] reads: `function` and `label`.
    pub const NAME: Fields = Fields(Fields::FUNCTION.0 | Fields::LABEL.0);

    /// True when every field of `other` is in `self`.
    pub const fn contains(self, other: Fields) -> bool {
        self.0 & other.0 == other.0
    }
}

impl std::ops::BitOr for Fields {
    type Output = Fields;

    fn bitor(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }
}

impl std::ops::BitOrAssign for Fields {
    fn bitor_assign(&mut self, other: Fields) {
        self.0 |= other.0;
    }
}

/// A JSON value of any type, keeping strings borrowed from the input where possible.
///
/// Used for every record field so that a wrongly typed field degrades to a default instead
/// of rejecting the whole record.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Loose<'a> {
    /// Missing or `null`.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Num(serde_json::Number),
    /// A string, borrowed from the line when it needed no unescaping.
    Str(Cow<'a, str>),
    /// An array or object; its content is not kept.
    Other,
}

impl Loose<'_> {
    /// The value as display text, if it is a non-empty string, a number or a bool.
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Loose::Str(s) if !s.is_empty() => Some(Cow::Borrowed(s)),
            Loose::Num(n) => Some(Cow::Owned(n.to_string())),
            Loose::Bool(b) => Some(Cow::Borrowed(if *b { "True" } else { "False" })),
            _ => None,
        }
    }

    /// Like [`Loose::text`], but only for Python-truthy values, as the original's
    /// `record.get("function") or record.get("label")`.
    pub fn truthy_text(&self) -> Option<Cow<'_, str>> {
        if self.truthy() { self.text() } else { None }
    }

    /// The value as a string slice, if it is a non-empty string.
    pub fn str(&self) -> Option<&str> {
        match self {
            Loose::Str(s) if !s.is_empty() => Some(s),
            _ => None,
        }
    }

    /// The value as a number; numeric strings are accepted too, but not the
    /// words Rust would read as one (`"NaN"`, `"inf"`), which no JSON number
    /// can be.
    pub fn f64(&self) -> Option<f64> {
        match self {
            Loose::Num(n) => n.as_f64(),
            Loose::Str(s) => s.trim().parse().ok().filter(|v: &f64| v.is_finite()),
            _ => None,
        }
    }

    /// Python-like truthiness, as the original's `bool(record.get("slow"))`.
    pub fn truthy(&self) -> bool {
        match self {
            Loose::Null => false,
            Loose::Bool(b) => *b,
            Loose::Num(n) => n.as_f64().is_some_and(|v| v != 0.0),
            Loose::Str(s) => !s.is_empty(),
            Loose::Other => true,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor(PhantomData))
    }
}

struct LooseVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for LooseVisitor<'a> {
    type Value = Loose<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Loose::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Loose::Num(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Loose::Num(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Loose::Null, Loose::Num))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Loose::Str(Cow::Owned(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Loose::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Loose::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Other)
    }
}

/// Runs `f` on the line as UTF-8, replacing invalid sequences only when there are any.
pub fn with_utf8<T>(line: &[u8], f: impl FnOnce(&str) -> T) -> T {
    match std::str::from_utf8(line) {
        Ok(s) => f(s),
        Err(_) => f(&String::from_utf8_lossy(line)),
    }
}

/// Decodes each line of `block` (whole lines split at `\n`, such as a block read from a
/// file): calls `each` with the line's bytes (without the `\n`) and, for a record, its
/// `fields` decoded as [`Line::parse_only`] decodes them (`None` for a blank line, a line
/// that is not a JSON object, or malformed JSON). A final line without `\n` is a line too.
///
/// It decodes exactly what [`Line::parse_only`] per line would, only faster: the block is
/// checked once for valid UTF-8, backslashes and control characters, instead of every line
/// on its own, and the decoded line is lent, not moved. A line that is not valid UTF-8 is
/// decoded with invalid sequences replaced, as [`with_utf8`] does.
///
/// ```
/// use sentinel::format::{Fields, for_each_line};
///
/// let block = b"{\"function\":\"f\",\"duration_ms\":1.5}\nnot json\n";
/// let mut seen = Vec::new();
/// for_each_line(block, Fields::DURATION_MS, |bytes, line| {
///     seen.push((bytes.len(), line.and_then(|l| l.duration_ms.f64())));
/// });
/// assert_eq!(seen, [(34, Some(1.5)), (8, None), (0, None)]);
/// ```
pub fn for_each_line<'a>(
    block: &'a [u8],
    fields: Fields,
    mut each: impl FnMut(&'a [u8], Option<&Line<'_>>),
) {
    let text = std::str::from_utf8(block).ok();
    // Lines are split at `\n`, so a `\n` is in none of them.
    let known = if scan::specials::<false>(block) == 0 {
        Known::Plain
    } else {
        Known::Nothing
    };
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', block).chain(std::iter::once(block.len()));
    for end in ends {
        let bytes = &block[start..end];
        // `\n` is ASCII, so the line's ends are character boundaries of a valid block.
        match text.and_then(|t| t.get(start..end)) {
            Some(s) => decode_lent(bytes, s, fields, known, &mut each),
            None => with_utf8(bytes, |s| decode_lent(bytes, s, fields, known, &mut each)),
        }
        start = end + 1;
    }
}

/// Decodes one line of [`for_each_line`] and lends it to `each`.
#[inline]
fn decode_lent<'a>(
    bytes: &'a [u8],
    s: &str,
    fields: Fields,
    known: Known,
    each: &mut impl FnMut(&'a [u8], Option<&Line<'_>>),
) {
    if !is_object(bytes) {
        return each(bytes, None);
    }
    let mut line = Line::default();
    if scan::scan_into(s, fields, known, &mut line).is_some() {
        return each(bytes, Some(&line));
    }
    each(bytes, by_serde(s, fields).as_ref());
}

/// serde's decoding of `line`, with only `fields` kept: the path of every line the fast
/// path hands over.
fn by_serde(line: &str, fields: Fields) -> Option<Line<'_>> {
    serde_json::from_str(line)
        .ok()
        .map(|l: Line<'_>| l.only(fields))
}

/// True when the line looks like a JSON object; serde would also accept a struct written as
/// an array.
pub fn is_object(line: &[u8]) -> bool {
    line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// True for lines holding nothing but whitespace.
pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::encode::Encoder;
    use super::*;
    use crate::clock::Anchor;
    use crate::record::{DropMarker, Entry, ErrorInfo, NameKind, SpanRecord, Status};
    use crate::tagset::{ConstTags, OwnTags, TagSet};

    fn encode(entry: &Entry) -> String {
        let mut out = Vec::new();
        Encoder::default()
            .encode(entry, &Anchor::identity(20_000_000), &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    static CONSTS: ConstTags = ConstTags::new(&[("route", "\"/pay\""), ("v", "2")]);

    /// Every field of a span, with escapes and non-ASCII in each text field.
    fn full_span() -> SpanRecord {
        SpanRecord {
            name: Cow::Owned("caf\u{e9} \"checkout\"\n\\[pay\u{2028}]".into()),
            kind: NameKind::Function,
            status: Status::Error,
            slow_ns: 0,
            start: 1_000,
            end: 12_346_000,
            cpu_ns: 500_000,
            trace_id: [0x4bf9_2f35_77b3_4da6, 0xa3ce_929d_0e0e_4736],
            span_id: 0x2c26_b46b_68ff_c68f,
            parent_span_id: 0x0123_4567_89ab_cdef,
            tags: Some(Arc::new(TagSet::merged(
                None,
                &[
                    (Cow::Borrowed("user"), 42.into()),
                    (Cow::Borrowed("r\u{f6}ute"), "/\u{1f600}\t\"x\"".into()),
                ],
            ))),
            own: OwnTags {
                consts: Some(&CONSTS),
                values: Some(Box::new([
                    (Cow::Borrowed("user"), 43.into()), // over the scope's
                    (Cow::Borrowed("q\"uote\n"), "\u{2028}".into()),
                ])),
            },
            error: Some(Box::new(ErrorInfo {
                type_name: Cow::Borrowed("my::Error"),
                message: "disk \"gone\"\r\n\u{0}\u{7f} \u{fc}".into(),
            })),
        }
    }

    #[test]
    fn every_span_field_survives_encode_decode_encode() {
        let line = encode(&Entry::Span(full_span()));
        let decoded = Line::parse(line.trim_end()).expect("a decodable line");
        assert_eq!(
            decoded.name().as_deref(),
            Some("caf\u{e9} \"checkout\"\n\\[pay\u{2028}]")
        );
        assert_eq!(decoded.status.str(), Some("error"));
        assert_eq!(decoded.error_type.str(), Some("Error"));
        assert_eq!(
            decoded.error.str(),
            Some("disk \"gone\"\r\n\u{0}\u{7f} \u{fc}")
        );
        assert_eq!(
            decoded.trace_id.str(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        assert_eq!(decoded.span_id.str(), Some("2c26b46b68ffc68f"));
        assert_eq!(decoded.parent_span_id.str(), Some("0123456789abcdef"));
        assert!(decoded.slow.truthy());
        assert!(decoded.duration_ms.f64().unwrap() > 0.0);
        assert!(decoded.cpu_time_ms.f64().unwrap() <= decoded.duration_ms.f64().unwrap());
        assert!(decoded.timestamp.str().unwrap().ends_with("+00:00"));
        let tags: serde_json::Value = serde_json::from_str(decoded.tags.unwrap().get()).unwrap();
        assert_eq!(tags["user"], 43);
        assert_eq!(tags["r\u{f6}ute"], "/\u{1f600}\t\"x\"");
        assert_eq!(tags["route"], "/pay");
        assert_eq!(tags["v"], 2);
        assert_eq!(tags["q\"uote\n"], "\u{2028}");
        let keys: Vec<&str> = tags
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        // A key that comes again is written where it comes last.
        assert_eq!(keys, ["r\u{f6}ute", "route", "v", "user", "q\"uote\n"]);

        // Re-encoding what was decoded gives the same record, field for field.
        let mut again = serde_json::Map::new();
        let fields = [
            ("timestamp", &decoded.timestamp),
            ("function", &decoded.function),
            ("duration_ms", &decoded.duration_ms),
            ("cpu_time_ms", &decoded.cpu_time_ms),
            ("status", &decoded.status),
            ("error_type", &decoded.error_type),
            ("error", &decoded.error),
            ("trace_id", &decoded.trace_id),
            ("span_id", &decoded.span_id),
            ("parent_span_id", &decoded.parent_span_id),
        ];
        for (key, value) in fields {
            let v = match value {
                Loose::Str(s) => serde_json::Value::String(s.to_string()),
                Loose::Num(n) => serde_json::Value::Number(n.clone()),
                Loose::Bool(b) => serde_json::Value::Bool(*b),
                Loose::Null | Loose::Other => serde_json::Value::Null,
            };
            again.insert(key.into(), v);
        }
        again.insert("tags".into(), tags);
        again.insert(
            "slow".into(),
            serde_json::Value::Bool(decoded.slow.truthy()),
        );
        let original: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(serde_json::Value::Object(again), original);
    }

    #[test]
    fn a_drop_marker_decodes_with_its_count() {
        let line = encode(&Entry::Dropped(DropMarker {
            reasons: vec![("stalled", 3), ("queue_full", 4)],
            first: 1_000,
            last: 2_000,
        }));
        let decoded = Line::parse(line.trim_end()).unwrap();
        assert_eq!(decoded.dropped_count(), Some(7));
        assert_eq!(decoded.name(), None);
    }

    #[test]
    fn wrongly_typed_fields_degrade_instead_of_rejecting_the_line() {
        let decoded = Line::parse(r#"{"function":["x"],"duration_ms":"1.5","slow":0}"#).unwrap();
        assert_eq!(decoded.function, Loose::Other);
        assert_eq!(decoded.duration_ms.f64(), Some(1.5));
        assert!(!decoded.slow.truthy());
        assert!(Line::parse("[1,2]").is_none());
        assert!(Line::parse("not json").is_none());
    }

    /// Serde's decoding of a line, the reference for the fast path.
    fn by_serde(line: &str) -> Option<String> {
        serde_json::from_str::<Line<'_>>(line)
            .ok()
            .map(|l| format!("{l:?}"))
    }

    /// Subsets of fields the agreement tests try: each alone, `stats`'s, none.
    fn subsets() -> Vec<Fields> {
        let mut all: Vec<Fields> = (0..14).map(|bit| Fields(1 << bit)).collect();
        all.push(Fields::NONE);
        all.push(
            Fields::NAME
                | Fields::DURATION_MS
                | Fields::STATUS
                | Fields::SLOW
                | Fields::TRACE_ID
                | Fields::SPAN_ID
                | Fields::PARENT_SPAN_ID
                | Fields::DROPPED,
        );
        all
    }

    /// The fast path accepts only what serde accepts, and decodes it the same, whichever
    /// fields it is asked for.
    fn agrees(line: &str) {
        if let Some(fast) = scan::scan(line, Fields::ALL, Known::Nothing) {
            assert_eq!(Some(format!("{fast:?}")), by_serde(line), "{line:?}");
        }
        for fields in subsets() {
            let by_serde_only = serde_json::from_str::<Line<'_>>(line)
                .ok()
                .filter(|_| is_object(line.as_bytes()))
                .map(|l| format!("{:?}", l.only(fields)));
            if let Some(fast) = scan::scan(line, fields, Known::Nothing) {
                assert_eq!(
                    Some(format!("{fast:?}")),
                    by_serde_only,
                    "{fields:?} {line:?}"
                );
            }
            assert_eq!(
                Line::parse_only(line, fields).map(|l| format!("{l:?}")),
                by_serde_only,
                "{fields:?} {line:?}"
            );
        }
        // A block of the line with a plain neighbour decodes each line as
        // `parse_only`: the block's checks must not trust a line they did not cover.
        if !line.contains('\n') {
            let plain = r#"{"function":"p","duration_ms":2.5}"#;
            let stats = subsets().pop().expect("stats' fields");
            for block in [format!("{line}\n{plain}"), format!("{plain}\n{line}\n")] {
                for fields in [Fields::ALL, stats] {
                    let mut got = Vec::new();
                    for_each_line(block.as_bytes(), fields, |bytes, l| {
                        got.push((bytes.to_vec(), l.map(|l| format!("{l:?}"))));
                    });
                    let want: Vec<_> = block
                        .split('\n')
                        .map(|l| {
                            let decoded = Line::parse_only(l, fields).map(|d| format!("{d:?}"));
                            (l.as_bytes().to_vec(), decoded)
                        })
                        .collect();
                    assert_eq!(got, want, "{fields:?} {block:?}");
                }
            }
        }
        assert_eq!(
            Line::parse(line).map(|l| format!("{l:?}")),
            if is_object(line.as_bytes()) {
                by_serde(line)
            } else {
                None
            },
            "{line:?}"
        );
    }

    #[test]
    fn the_fast_path_agrees_with_serde_on_every_mutation() {
        let corpus = [
            r#"{"timestamp":"2026-11-22T01:02:03.456789+00:00","function":"checkout[payments]","duration_ms":12.345,"cpu_time_ms":1.2,"status":"success","error_type":null,"error":null,"trace_id":"9f86d081884c7d65","span_id":"2c26b46b68ffc68f","parent_span_id":null,"tags":{"user":42,"route":"/a"},"slow":true}"#,
            r#"{"timestamp":"2026-11-22T01:02:04.000000+00:00","status":"dropped","dropped":{"count":120,"reasons":{"stalled":120},"from":"a","to":"b"}}"#,
            r#" { "function" : ["x", {"y": [1, -2.5e3, true, false, null]}], "duration_ms" : -0.0, "label": 7, "extra": {"deep": [[[]]]}, "n": 123456789012345678901 } "#,
            r#"{"function":"esc\"aped","duration_ms":1e2,"slow":0,"error":"caf\u00e9"}"#,
            r#"{"function":"a","function":"b"}"#,
            r#"{}"#,
            r#"{"duration_ms":1e400}"#,
            r#"{"duration_ms":-0,"x":1e400,"slow":18446744073709551616}"#,
            r#"{"cpu_time_ms":1e400,"tags":{"a":[1e400]},"timestamp":-0,"error":12345678901234567890}"#,
            r#"{"duration_ms":0.000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001}"#,
        ];
        let replacements = [
            b' ', b'"', b'\\', b',', b':', b'{', b'}', b'[', b']', b'0', b'-', b'e', b'.', b'x',
            b'n', b'\x01', b'\t',
        ];
        for base in corpus {
            agrees(base);
            let bytes = base.as_bytes();
            for i in 0..bytes.len() {
                if !bytes[i].is_ascii() {
                    continue;
                }
                agrees(&base[..i]);
                let mut cut = base[..i].to_owned();
                cut.push('}');
                agrees(&cut);
                for &r in &replacements {
                    let mut changed = bytes.to_vec();
                    changed[i] = r;
                    agrees(std::str::from_utf8(&changed).unwrap());
                }
                let mut doubled = bytes.to_vec();
                doubled.insert(i, bytes[i]);
                agrees(std::str::from_utf8(&doubled).unwrap());
            }
        }
    }

    #[test]
    fn a_block_with_invalid_utf8_decodes_its_lines_as_with_utf8_does() {
        let block = b"{\"function\":\"caf\xe9\",\"duration_ms\":1}\n{\"function\":\"ok\",\"duration_ms\":2}";
        let mut names = Vec::new();
        for_each_line(block, Fields::ALL, |_, line| {
            names.push(line.and_then(|l| l.name().map(|n| n.into_owned())));
        });
        assert_eq!(
            names,
            [Some("caf\u{fffd}".to_owned()), Some("ok".to_owned())]
        );
    }

    #[test]
    fn plain_decimals_decode_as_serde_does() {
        for text in [
            "0",
            "7",
            "-7",
            "123456789012345678",
            "-123456789012345678",
            "1234567890123456789",
            "0.5",
            "-0.5",
            "-0.0",
            "0.1",
            "12.345",
            "999999999999999.9",
            "0.000000000000001",
            "1.0000000000000002",
            "-0",
            "5e3",
            "1.5E-2",
            "0.30000000000000004",
        ] {
            let line = format!(r#"{{"duration_ms":{text}}}"#);
            assert_eq!(
                Line::parse(&line).map(|l| format!("{:?}", l.duration_ms)),
                serde_json::from_str::<Line<'_>>(&line)
                    .ok()
                    .map(|l| format!("{:?}", l.duration_ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn the_fast_path_takes_plain_lines() {
        let line = r#"{"function":"f","duration_ms":1.5,"tags":{"a":1},"status":"success"}"#;
        let fast = scan::scan(line, Fields::ALL, Known::Nothing)
            .expect("a plain line takes the fast path");
        assert_eq!(fast.duration_ms.f64(), Some(1.5));
        assert_eq!(fast.tags.map(|t| t.get()), Some(r#"{"a":1}"#));
        assert!(
            scan::scan(r#"{"function":"a\"b"}"#, Fields::ALL, Known::Nothing).is_none(),
            "escapes go to serde"
        );
    }
}
