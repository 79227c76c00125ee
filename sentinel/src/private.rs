//! What `#[trace]` expansions name. Not a public API: no stability promise.

pub use crate::record::ErrorInfo;
pub use crate::span::{Classify, Instrumented, SyncSpan};
pub use crate::writer::AsyncLogger;

pub use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// Autoref specialization over a return value: the first trait whose impl
/// applies wins, so a `Result` is recognised by its type, whatever alias
/// spells it (`io::Result<T>`, `anyhow::Result<T>`, a crate's own alias).
///
/// Called as `(&&&Probe(&value)).__sentinel_error()`.
pub mod probe {
    use std::borrow::Cow;
    use std::fmt::{Debug, Display};

    use super::ErrorInfo;

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
