//! Errors returned by this crate.

use std::path::PathBuf;

/// Everything that can go wrong when building or using a logger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range.
    #[error("invalid sentinel config: `{field}` = {value}: {reason}")]
    InvalidConfig {
        /// The field's name in [`crate::SentinelConfig`].
        field: &'static str,
        /// The rejected value, rendered.
        value: String,
        /// What the field accepts.
        reason: &'static str,
    },
    /// The log file (or its parent directory) could not be created or opened.
    #[error("cannot open log file `{}`", path.display())]
    Open {
        /// The path from the config.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the sentinel writer thread")]
    Spawn(#[source] std::io::Error),
    /// Text that should be a hex trace id (32 digits, or 16 as in older
    /// files) or span id (16 digits) is not.
    #[error(
        "invalid id `{0}`: expected hex digits (32 or 16 for a trace id, 16 for a span id), not all zero"
    )]
    InvalidId(String),
    /// A `traceparent` header value breaks the W3C Trace Context format.
    #[error("invalid traceparent `{value}`: {reason}")]
    InvalidTraceparent {
        /// The rejected value.
        value: String,
        /// The rule it breaks.
        reason: &'static str,
    },
    /// A `tracestate` value holds a character no header value can.
    #[error("invalid tracestate `{}`: only visible ASCII, space and tab can be sent on", .0.escape_debug())]
    InvalidTracestate(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
