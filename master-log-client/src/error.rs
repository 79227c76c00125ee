//! The crate's error type.

use std::path::PathBuf;

use crate::stats::FlushReport;

/// Everything that can go wrong while configuring the client or delivering events.
///
/// Failures are values: no method of this crate panics on bad input, and nothing here ever
/// contains the API key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required setting was given neither in code nor in the environment.
    #[error("{setting} is required but was not set")]
    MissingConfig {
        /// The environment variable that would have provided the value.
        setting: &'static str,
    },
    /// A setting could not be parsed or is out of range.
    #[error("invalid value `{value}` for {setting}: {expected}")]
    InvalidConfig {
        /// Where the value came from: the environment variable or the builder method.
        setting: &'static str,
        /// The offending value, as given (redacted for the API key).
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The endpoint is not an `http://` or `https://` URL, or plain `http://` to a host that
    /// is not loopback without [`allow_insecure_http`](crate::ClientBuilder::allow_insecure_http).
    #[error("invalid endpoint url `{endpoint}`: {reason}")]
    InvalidEndpoint {
        /// The endpoint as given, any password in it replaced by `***`.
        endpoint: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A severity string is not the name of a [`Severity`](crate::Severity).
    #[error("invalid severity `{0}`: expected one of {names}", names = crate::Severity::names())]
    InvalidSeverity(String),
    /// An asynchronous client was built outside a tokio runtime.
    #[error(
        "no tokio runtime: build the client inside a runtime or use `ClientBuilder::build_with_handle`"
    )]
    NoRuntime,
    /// The HTTP client could not be constructed.
    #[error("failed to build the http client")]
    Build(#[source] HttpError),
    /// Another client, in this process or another, uses the spool folder: its `lock` file
    /// is held. Give each client its own folder.
    #[error("spool folder `{}` is in use by another client (its lock file is held)", .0.display())]
    SpoolLocked(PathBuf),
    /// The spool folder could not be created, or its lock file opened.
    #[error("cannot open spool folder `{}`", .path.display())]
    Spool {
        /// The folder.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The queue was full: the event was refused (and counted in [`ClientStats::dropped_full`]).
    ///
    /// [`ClientStats::dropped_full`]: crate::ClientStats::dropped_full
    #[error("queue is full")]
    QueueFull,
    /// The client has been shut down; nothing more is accepted.
    #[error("client is shut down")]
    Closed,
    /// A flush or shutdown did not finish within its timeout.
    #[error("timed out waiting for the log worker")]
    Timeout,
    /// The log server answered a direct-mode request with a non-success status.
    #[error("log server answered with status {status}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The start of the response body, for diagnostics.
        body: String,
    },
    /// A direct-mode request failed before a response arrived (connection, timeout, TLS).
    #[error("request to log server failed")]
    Http(#[source] HttpError),
    /// Some batches were given up on (rejected with a non-retryable status, or retries
    /// exhausted). The report says how many events were accepted and which batches failed.
    #[error(
        "{} of the flushed events were not delivered ({} failed batches)",
        .0.failed_events, .0.failed_batches
    )]
    Undelivered(Box<FlushReport>),
}

/// The HTTP stack's own error behind [`Error::Http`] and [`Error::Build`].
///
/// Opaque on purpose: the HTTP library is not part of this crate's API, so upgrading it is not
/// a breaking change. Its `Display` and [`source`](std::error::Error::source) are the
/// underlying error's.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct HttpError(Box<dyn std::error::Error + Send + Sync>);

impl HttpError {
    pub(crate) fn new(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        HttpError(Box::new(err))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
