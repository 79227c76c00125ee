//! The module-level default client used by [`mlog!`](crate::mlog), the severity helpers,
//! [`flush`] and [`shutdown`].
//!
//! It is built from the environment on first use (inside a tokio runtime) and can be
//! replaced with [`configure`]. A [`Client`] handle kept by the caller is slightly faster: each
//! call here takes a shared read lock to find the current client.
//!
//! The default client lives in a static and is never dropped, so its queue is only sent if
//! the program calls [`shutdown`] (or [`flush`]) before leaving `main`.

use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use crate::client::Client;
use crate::config::ClientBuilder;
use crate::error::Result;
use crate::event::Event;
use crate::stats::FlushReport;
use crate::stats::Receipt;

static DEFAULT: RwLock<Option<Client>> = RwLock::new(None);

/// The default client, built from the environment on first use.
///
/// # Errors
///
/// The errors of [`ClientBuilder::build`] when the client has to be built; building is tried
/// again on the next call.
pub fn default_client() -> Result<Client> {
    if let Some(client) = DEFAULT
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
    {
        return Ok(client.clone());
    }
    let mut slot = DEFAULT.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(client) = slot.as_ref() {
        return Ok(client.clone());
    }
    let client = Client::from_env()?;
    *slot = Some(client.clone());
    Ok(client)
}

/// Builds a client from `builder` and makes it the default; values set on the builder win
/// over the environment.
///
/// The previous default client, if any, is dropped: once its other handles are gone its
/// worker sends what it has queued and exits (see [`Client`]'s shutdown notes). Call
/// [`shutdown`] first to wait for that.
///
/// # Errors
///
/// The errors of [`ClientBuilder::build`]; the previous default stays in place.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> master_log_client::Result<()> {
/// master_log_client::configure(
///     master_log_client::Client::builder()
///         .api_key("dev-key")
///         .endpoint("http://127.0.0.1:9")
///         .backpressure(false),
/// )?;
/// master_log_client::mlog!(warn, tags = ["dome", "weather"]; "Wind at", 14.2, "m/s").await?;
/// # Ok(()) }
/// ```
pub fn configure(builder: ClientBuilder) -> Result<Client> {
    let client = builder.build()?;
    let old = DEFAULT
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .replace(client.clone());
    drop(old);
    Ok(client)
}

/// Logs `event` through the default client; see [`Client::log`].
///
/// # Errors
///
/// As [`default_client`] and [`Client::log`].
pub async fn log(event: Event) -> Result<Receipt> {
    default_client()?.log(event).await
}

macro_rules! global_helpers {
    ($($variant:ident $name:ident $doc:literal;)*) => {$(
        #[doc = concat!(
            "Logs `body` at [`Severity::", stringify!($variant), "`](crate::Severity::",
            stringify!($variant), ") through the default client.\n\n# Errors\n\nAs [`log`].",
        )]
        pub async fn $name(body: impl Into<String>) -> Result<Receipt> {
            log(Event::$name(body)).await
        }
    )*};
}
crate::event::with_severities!(global_helpers);

fn current() -> Option<Client> {
    DEFAULT
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Flushes the default client; see [`Client::flush`]. Does nothing (an empty report) when
/// no default client was built yet.
///
/// # Errors
///
/// As [`Client::flush`].
pub async fn flush(timeout: Duration) -> Result<FlushReport> {
    match current() {
        Some(client) => client.flush(timeout).await,
        None => Ok(FlushReport::default()),
    }
}

/// Shuts the default client down; see [`Client::shutdown`]. Does nothing when no default
/// client was built yet.
///
/// # Errors
///
/// As [`Client::shutdown`].
pub async fn shutdown(timeout: Duration) -> Result<FlushReport> {
    match current() {
        Some(client) => client.shutdown(timeout).await,
        None => Ok(FlushReport::default()),
    }
}
