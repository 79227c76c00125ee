//! What `#[trace]` expansions name. Not a public API: no stability promise.

pub use crate::pipeline::AsyncLogger;
pub use crate::record::ErrorInfo;
pub use crate::span::{Classify, Instrumented, SyncSpan};
pub use crate::tagset::ConstTags;

pub use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// Whether the span whose code runs here keeps recorded values (it exists
/// and sampling kept it): `args(..)` are evaluated only then.
#[inline]
pub fn recording() -> bool {
    crate::span::recorded::recording()
}

/// Records one of `args(..)` on the running span; see [`recording`].
#[inline]
pub fn record_value(key: &'static str, value: serde_json::Value) {
    crate::span::recorded::push((std::borrow::Cow::Borrowed(key), value));
}

/// Autoref specialization over a value `args(..)` records: the first trait
/// whose impl applies wins.
///
/// Called as `(&&&TagProbe(&value)).__sentinel_tag()`.
pub mod tag_probe {
    use std::fmt::Display;

    use serde::Serialize;
    use serde_json::Value;

    /// Wraps a reference to the value to record.
    #[derive(Debug)]
    pub struct TagProbe<'a, T: ?Sized>(pub &'a T);

    /// Numbers, booleans, strings, `Option`s and `Vec`s of them, JSON
    /// values: converted directly (a copy, no serialization).
    pub trait ViaInto {
        /// The value as JSON.
        fn __sentinel_tag(self) -> Value;
    }

    impl<T: Into<Value> + Clone> ViaInto for &&&TagProbe<'_, T> {
        #[inline]
        fn __sentinel_tag(self) -> Value {
            self.0.clone().into()
        }
    }

    /// Any other `Serialize` value: serialized to a JSON value here.
    pub trait ViaSerialize {
        /// The value as JSON.
        fn __sentinel_tag(self) -> Value;
    }

    impl<T: Serialize + ?Sized> ViaSerialize for &&TagProbe<'_, T> {
        fn __sentinel_tag(self) -> Value {
            serde_json::to_value(self.0)
                .unwrap_or_else(|e| Value::String(format!("<not serializable: {e}>")))
        }
    }

    /// A `Display` value that is not `Serialize`: its text.
    pub trait ViaDisplay {
        /// The value's `Display` as a JSON string.
        fn __sentinel_tag(self) -> Value;
    }

    impl<T: Display + ?Sized> ViaDisplay for &TagProbe<'_, T> {
        fn __sentinel_tag(self) -> Value {
            Value::String(self.0.to_string())
        }
    }

    /// Implemented by no type: names what a recorded value needs when none
    /// of the probes above applies.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be recorded as a tag",
        label = "neither `serde::Serialize` nor `Display`",
        note = "record a field of it (`args(id = value.id)`), or implement `serde::Serialize` or `Display` for it"
    )]
    pub trait Recordable {}

    /// The last resort, which fails to compile with a message that says why.
    pub trait Unrecordable<T: ?Sized> {
        /// Never callable: `T: Recordable` does not hold.
        fn __sentinel_tag(self) -> Value
        where
            T: Recordable;
    }

    impl<T: ?Sized> Unrecordable<T> for TagProbe<'_, T> {
        fn __sentinel_tag(self) -> Value
        where
            T: Recordable,
        {
            Value::Null
        }
    }
}

/// Autoref specialization over a return value: the first trait whose impl
/// applies wins, so a `Result` is recognised by its type, whatever alias
/// spells it (`io::Result<T>`, `anyhow::Result<T>`, a crate's own alias).
///
/// Called as `(&&&&Probe(&value)).__sentinel_error()`.
pub mod probe {
    use std::borrow::Cow;
    use std::error::Error;
    use std::fmt::{Debug, Display};
    use std::ops::Deref;

    use super::ErrorInfo;
    use crate::error_name::dyn_error_name;

    /// Wraps a reference to the value under inspection.
    #[derive(Debug)]
    pub struct Probe<'a, T: ?Sized>(pub &'a T);

    // Manual impls: a derive would require `T: Copy`.
    impl<T: ?Sized> Clone for Probe<'_, T> {
        fn clone(&self) -> Self {
            *self
        }
    }

    impl<T: ?Sized> Copy for Probe<'_, T> {}

    /// The `dyn Error` forms an error is boxed as.
    pub trait DynError {
        /// The boxed error.
        fn as_dyn_error(&self) -> &(dyn Error + 'static);
    }

    impl DynError for dyn Error + 'static {
        fn as_dyn_error(&self) -> &(dyn Error + 'static) {
            self
        }
    }

    impl DynError for dyn Error + Send + 'static {
        fn as_dyn_error(&self) -> &(dyn Error + 'static) {
            self
        }
    }

    impl DynError for dyn Error + Send + Sync + 'static {
        fn as_dyn_error(&self) -> &(dyn Error + 'static) {
            self
        }
    }

    /// `Result<T, E>` whose `E` derefs to a `dyn Error` (`Box<dyn Error>`,
    /// `anyhow::Error`): named by the error inside, see `error_name`.
    pub trait ViaDynError {
        /// The error, if the value is an `Err`.
        fn __sentinel_error(self) -> Option<ErrorInfo>;
    }

    impl<T, E> ViaDynError for &&&&Probe<'_, Result<T, E>>
    where
        E: Deref + Display,
        E::Target: DynError,
    {
        #[inline]
        fn __sentinel_error(self) -> Option<ErrorInfo> {
            match self.0 {
                Ok(_) => None,
                Err(e) => Some(ErrorInfo {
                    type_name: dyn_error_name((**e).as_dyn_error()),
                    message: e.to_string(),
                }),
            }
        }
    }

    /// `Result<T, E: Display>`: the error's `Display`.
    pub trait ViaDisplay {
        /// The error, if the value is an `Err`.
        fn __sentinel_error(self) -> Option<ErrorInfo>;
    }

    impl<T, E: Display> ViaDisplay for &&&Probe<'_, Result<T, E>> {
        #[inline]
        fn __sentinel_error(self) -> Option<ErrorInfo> {
            match self.0 {
                Ok(_) => None,
                Err(e) => Some(ErrorInfo {
                    type_name: Cow::Borrowed(std::any::type_name::<E>()),
                    message: e.to_string(),
                }),
            }
        }
    }

    /// `Result<T, E: Debug>` without `Display`: the error's `Debug`.
    pub trait ViaDebug {
        /// The error, if the value is an `Err`.
        fn __sentinel_error(self) -> Option<ErrorInfo>;
    }

    impl<T, E: Debug> ViaDebug for &&Probe<'_, Result<T, E>> {
        #[inline]
        fn __sentinel_error(self) -> Option<ErrorInfo> {
            match self.0 {
                Ok(_) => None,
                Err(e) => Some(ErrorInfo {
                    type_name: Cow::Borrowed(std::any::type_name::<E>()),
                    message: format!("{e:?}"),
                }),
            }
        }
    }

    /// Any other `Result`: only the error's type name.
    pub trait ViaResult {
        /// The error, if the value is an `Err`.
        fn __sentinel_error(self) -> Option<ErrorInfo>;
    }

    impl<T, E> ViaResult for &Probe<'_, Result<T, E>> {
        #[inline]
        fn __sentinel_error(self) -> Option<ErrorInfo> {
            match self.0 {
                Ok(_) => None,
                Err(_) => Some(ErrorInfo {
                    type_name: Cow::Borrowed(std::any::type_name::<E>()),
                    message: String::new(),
                }),
            }
        }
    }

    /// Not a `Result`: never an error.
    pub trait NotResult {
        /// Always `None`.
        fn __sentinel_error(self) -> Option<ErrorInfo>;
    }

    impl<T: ?Sized> NotResult for Probe<'_, T> {
        #[inline]
        fn __sentinel_error(self) -> Option<ErrorInfo> {
            None
        }
    }
}

/// Hooks for `benches/writer.rs`: the writer-side pieces that are not public
/// API (id generation, clocks, encoding), reachable without widening the API.
pub mod bench {
    use std::borrow::Cow;

    use crate::clock::Anchor;
    use crate::format::encode::Encoder;
    use crate::record::{Entry, NO_CPU, NameKind, SpanRecord, Status};

    /// One random span/trace id, as a `#[trace]` call draws it.
    #[inline]
    pub fn random_id() -> u64 {
        crate::context::random_nonzero()
    }

    /// The clock reading spans use: a TSC tick where the kernel trusts the
    /// TSC, else `CLOCK_MONOTONIC` nanoseconds.
    #[inline]
    pub fn now_ticks() -> u64 {
        crate::clock::now()
    }

    /// A `CLOCK_MONOTONIC` reading (vDSO), for comparison.
    #[inline]
    pub fn monotonic_ns() -> u64 {
        crate::clock::monotonic_ns()
    }

    /// The thread-CPU clock reading spans use: an anchor plus ticks while
    /// the thread stays on its CPU (see `cpu_clock`), else the syscall.
    #[inline]
    pub fn thread_cpu_ns() -> u64 {
        crate::cpu_clock::thread_cpu_ns()
    }

    /// The kernel's thread-CPU clock: one `clock_gettime` syscall.
    #[inline]
    pub fn thread_cpu_ns_syscall() -> u64 {
        crate::clock::thread_cpu_ns_syscall()
    }

    /// Encodes typical span records the way the writer does.
    #[derive(Debug)]
    pub struct SpanEncoder {
        encoder: Encoder,
        anchor: Anchor,
        entries: Vec<Entry>,
    }

    impl SpanEncoder {
        /// `n` span records of a small traced fn, CPU time recorded, each
        /// with a parent (the common nested case).
        pub fn new(n: usize) -> Self {
            let base = crate::clock::now();
            let entries = (0..n as u64)
                .map(|i| {
                    Entry::Span(SpanRecord {
                        name: Cow::Borrowed("workloads::s_leaf"),
                        kind: NameKind::Function,
                        status: Status::Success,
                        slow_ns: u64::MAX,
                        start: base + i * 1_000,
                        end: base + i * 1_000 + 345,
                        cpu_ns: if i % 2 == 0 { 321 } else { NO_CPU },
                        trace_id: crate::context::TraceId::random().halves(),
                        span_id: random_id(),
                        parent_span_id: random_id(),
                        tags: None,
                        own: Default::default(),
                        error: None,
                    })
                })
                .collect();
            SpanEncoder {
                encoder: Encoder::default(),
                anchor: Anchor::now(),
                entries,
            }
        }

        /// Appends every record (one JSON line each) to `out`; returns how
        /// many were encoded.
        pub fn encode_all(&mut self, out: &mut Vec<u8>) -> usize {
            let mut n = 0;
            for entry in &self.entries {
                if self.encoder.encode(entry, &self.anchor, out).is_ok() {
                    n += 1;
                }
            }
            n
        }

        /// Sorts by time, then encodes: one writer cycle's work for a batch.
        pub fn sort_and_encode(&mut self, out: &mut Vec<u8>) -> usize {
            self.entries.sort_by_key(Entry::at);
            self.encode_all(out)
        }
    }
}
