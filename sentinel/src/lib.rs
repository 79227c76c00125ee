//! Structured span logging for Rust services: put `#[trace]` on a function
//! (sync or async) and get one JSON line per call on disk, written by a
//! background task so the caller's hot path only reads clocks and hands over
//! plain data.
//!
//! ```
//! use sentinel::{AsyncLogger, SentinelConfig, trace};
//!
//! #[trace(label = "checkout")]
//! fn checkout(order: u32) -> Result<u32, std::num::ParseIntError> {
//!     let total = price(order)?;
//!     Ok(total)
//! }
//!
//! #[trace]
//! fn price(order: u32) -> Result<u32, std::num::ParseIntError> {
//!     "12".parse::<u32>().map(|p| p * order)
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.jsonl");
//! sentinel::set_default_logger(AsyncLogger::new(SentinelConfig::new(&path))?);
//!
//! assert_eq!(checkout(3)?, 36);
//! sentinel::default_logger().flush_blocking(std::time::Duration::from_secs(5));
//!
//! // price finished first, then checkout: children precede parents.
//! let text = std::fs::read_to_string(&path)?;
//! let lines: Vec<serde_json::Value> =
//!     text.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
//! assert_eq!(lines[0]["function"], "price");
//! assert_eq!(lines[1]["function"], "checkout[checkout]");
//! assert_eq!(lines[0]["parent_span_id"], lines[1]["span_id"]);
//! # Ok(())
//! # }
//! ```
//!
//! Async functions work the same way; the span travels with the future and
//! its `cpu_time_ms` counts only the time spent inside polls:
//!
//! ```
//! # use sentinel::trace;
//! #[trace(slow_ms = 250, sample = 0.1)]
//! async fn handler(id: u64) -> std::io::Result<u64> {
//!     tokio::task::yield_now().await;
//!     Ok(id)
//! }
//! ```
//!
//! A span says which request it was with constant tags, recorded arguments
//! and values learned inside it ([`record`](fn@record)), across `.await`
//! points and thread hops; none of it is captured unless asked for:
//!
//! ```
//! # use sentinel::trace;
//! struct Session { user_id: u64 }
//!
//! #[trace(tags(route = "/orders/{id}"), args(order_id, user = session.user_id))]
//! async fn get_order(order_id: u64, session: &Session) -> std::io::Result<u32> {
//!     tokio::task::yield_now().await;
//!     let items = 3; // loaded, say
//!     sentinel::record("items", items);
//!     Ok(items)
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! # let _ = get_order(7, &Session { user_id: 42 }).await;
//! # }
//! ```
//!
//! # Modules
//!
//! - [`pipeline`]: [`AsyncLogger`], the handle to the JSONL writer, and the
//!   rules for a full queue, a stalled sink, exit and fork.
//! - [`context`]: trace and span ids, the current span, and carrying context
//!   into spawned tasks and threads; [`SpanContext::traceparent`] and
//!   [`Context::remote`](context::Context::remote) carry it to other
//!   processes as W3C Trace Context.
//! - `http` (feature `http`): `traceparent`/`tracestate` in the `http`
//!   crate's `HeaderMap`, for reqwest, hyper and axum.
//! - [`tags`]: scoped key/value pairs added to every record in scope.
//! - `layer` (feature `tracing`, on by default): `SentinelLayer`, which
//!   writes `tracing` spans as sentinel records in the same trace tree.
//! - [`format`](mod@format): the line format, and the decoder every reader uses.
//! - [`rotation`]: rotated segments of the log file, their names and how
//!   to find them.
//! - [`record`](mod@record): span status and error types.
//!
//! # Environment
//!
//! - `SENTINEL_CLOCK`: `monotonic` times spans with `CLOCK_MONOTONIC` even
//!   where the CPU's invariant TSC would do; `auto` (the default) uses the
//!   TSC when the kernel does and its calibration is trustworthy.
//! - `SENTINEL_CPU_CLOCK`: `syscall` reads `cpu_time_ms` with a syscall
//!   every time; `fast` uses the rseq fast path (x86-64 Linux, glibc)
//!   without probing the kernel first; `auto` (the default) probes once, on
//!   the first CPU-time read, for about 10 ms.
//!
//! Any other value is reported once as an error event (target `sentinel`)
//! and read as `auto`.
//!
//! Rotation and retention settings left unset in code come from
//! `SENTINEL_ROTATE_BYTES`, `SENTINEL_ROTATE_EVERY`,
//! `SENTINEL_ROTATE_TIMEZONE`, `SENTINEL_KEEP_SEGMENTS`,
//! `SENTINEL_KEEP_BYTES`, `SENTINEL_KEEP_AGE` and `SENTINEL_COMPRESS` (see
//! [`rotation`]); a bad value there is an error from
//! [`AsyncLogger::new`].
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![doc(test(attr(deny(warnings))))]

mod clock;
mod config;
pub mod context;
mod cpu_clock;
mod error;
mod error_name;
pub mod format;
mod global;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "tracing")]
pub mod layer;
#[cfg(feature = "tracing")]
mod log_ids;
pub mod pipeline;
mod propagation;
pub mod record;
pub mod rotation;
mod sampling;
mod span;
pub mod tags;
mod tagset;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use config::{
    DEFAULT_EXIT_TIMEOUT, DEFAULT_LOG_FILE, DEFAULT_MAX_QUEUE_BYTES, DEFAULT_STALL_TIMEOUT,
    SentinelConfig,
};
pub use context::{SpanContext, SpanId, TraceId, current_span_id, current_trace_id};
pub use error::{Error, Result};
pub use global::{default_logger, set_default_logger};
pub use pipeline::{AsyncLogger, LoggerStats};
pub use record::Status;
pub use span::{Instrumented, TimeBlock, TimeBlockBuilder, record};
pub use tags::{Tags, tag};

// The attribute's full documentation lives on the macro and is inlined here.
#[doc(inline)]
pub use sentinel_macros::trace;
