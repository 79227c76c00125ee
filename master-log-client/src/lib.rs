//! Async batching client for the Master Log service, with moving-average backpressure.
//!
//! A service builds one [`Client`] inside its tokio runtime; the client's worker task batches
//! events into `POST /api/v1/logs/batch` requests, retries what may succeed later, and
//! reports what it could not deliver. Logging only enqueues (no network I/O on the caller's
//! task) and then pauses for about as long as the server needs per log, so a hot loop cannot
//! outrun the server.
//!
//! ```
//! use std::time::Duration;
//! use master_log_client::{event, Client, Error, Event};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> master_log_client::Result<()> {
//! // Unset options fall back to MASTER_LOG_* environment variables, then to defaults.
//! let client = Client::builder()
//!     .api_key("dev-key")
//!     .endpoint("http://127.0.0.1:9") // the root, /api/v1, /api/v1/logs or /api/v1/logs/batch
//!     .batch_size(100)
//!     .flush_interval(Duration::from_secs(1))
//!     .build()?;
//!
//! // Enqueue, then pause for the observed send time per log (backpressure).
//! client.log(Event::info("Mount tracking enabled").tags(["mount"])).await?;
//! // Print-like events: values joined with spaces, options before the `;`.
//! let frame_id = 42;
//! client.log(event!(warn, tags = ["imaging"]; "Captured frame", frame_id, "late")).await?;
//! // Never waits: hands the event back when the queue is full.
//! if let Err(e) = client.try_log(Event::debug("from sync code")) {
//!     let _event = e.into_event();
//! }
//! assert_eq!(client.stats().dropped_full, 0);
//!
//! // Bad settings are errors that name the setting and the value, never panics.
//! let err = Client::builder().batch_size(0).api_key("k").endpoint("http://127.0.0.1:9").build();
//! assert!(matches!(err, Err(Error::InvalidConfig { setting: "ClientBuilder::batch_size", .. })));
//!
//! // With a server listening, `flush` returns once everything logged so far is answered:
//! // let report = client.flush(Duration::from_secs(5)).await?;
//! // and `shutdown` flushes, then stops the worker:
//! // client.shutdown(Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
//!
//! # Modules
//!
//! - [`client`]: [`Client`], [`ClientBuilder`], and the delivery, backpressure and shutdown
//!   semantics.
//! - [`config`]: environment variable names and `DEFAULT_*` values.
//! - [`spool`]: the durable spool (opt-in): what goes to disk, replay, layout, bounds,
//!   fsync policies, when duplicates can happen.
//! - `layer` (feature `tracing`, on by default): `MasterLogLayer`, which forwards `tracing`
//!   events to Master Log.
//! - [`event!`] and [`mlog!`]: print-like events; [`Event`] and [`Severity`].
//! - Module-level functions ([`configure`], [`log`], [`info`], ..., [`flush`], [`shutdown`])
//!   use a default client built from the environment on first use.
//!
//! # Diagnostics
//!
//! The client prints nothing (except what `echo` asks for). Retries, drops and given-up
//! batches are `tracing` events with target `master_log_client` and fields such as `count`,
//! `status` and `reason`.

#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod backpressure;
mod batch;
pub mod client;
pub mod config;
mod error;
mod event;
mod global;
mod health;
mod http;
#[cfg(feature = "tracing")]
pub mod layer;
mod macros;
mod quiet;
pub mod spool;
mod stats;
mod worker;

pub use client::{Client, TryLogError};
pub use config::ClientBuilder;
pub use error::{Error, HttpError, Result};
pub use event::{DEFAULT_TITLE, Event, MAX_TITLE_CHARS, Severity, Timestamp};
pub use global::*;
pub use health::{HEALTH_WARNING_INTERVAL, Health};
pub use http::USER_AGENT;
pub use spool::SpoolFsync;
pub use stats::Receipt;
pub use stats::{ClientStats, DeliveryFailure, FailureKind, FlushReport, MAX_REPORTED_FAILURES};

#[doc(hidden)]
pub use batch::encode_batch;
#[doc(hidden)]
pub use macros::private as __private;
