//! A `tracing-subscriber` layer that forwards `tracing` events to Master Log through a
//! [`Client`] (feature `tracing`, on by default).
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//! use master_log_client::layer::MasterLogLayer;
//! use master_log_client::Client;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> master_log_client::Result<()> {
//! let client = Client::builder().api_key("dev-key").endpoint("http://127.0.0.1:9").build()?;
//! let layer = MasterLogLayer::new(client.clone())
//!     .level(tracing::Level::WARN)
//!     // With sentinel: `.trace_ids(sentinel::layer::trace_ids)` adds trace and span ids.
//!     .trace_ids(|| Some(("9f86d081884c7d65".into(), "2c26b46b68ffc68f".into())));
//! let subscriber = tracing_subscriber::registry().with(layer);
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::warn!(frame_id = 42, "Captured frame late");
//! });
//! // Queued for the worker, which runs once this task yields.
//! assert_eq!(client.stats().queued, 1);
//! # Ok(()) }
//! ```
//!
//! # What an event becomes
//!
//! | `tracing` | Master Log |
//! | --- | --- |
//! | level `ERROR`/`WARN`/`INFO`/`DEBUG`/`TRACE` | severity `error`/`warn`/`info`/`debug`/`trace` |
//! | the message | `body` (the title follows the usual rule, see [`Event`]) |
//! | other fields | `metadata`, as JSON values (`Debug` values as strings) |
//! | the target and the names of the enclosing spans, outermost first | `tags` |
//! | the ids from [`MasterLogLayer::trace_ids`] | `metadata.trace_id`, `metadata.span_id` |
//!
//! An event without a message gets its fields as the body (`key=value ...`), so the title still
//! says something.
//!
//! # Trace ids
//!
//! This crate does not depend on sentinel: the layer asks an optional hook,
//! `fn() -> Option<(String, String)>`, for the current trace and span ids when it converts an
//! event. `sentinel::layer::trace_ids` is such a hook: with sentinel's layer installed it
//! names the innermost `#[trace]` call or `tracing` span, so a log event can be found from its
//! trace in the JSONL file and back.
//!
//! # No feedback, no blocking
//!
//! The layer never forwards an event that the client itself causes, which would loop (each
//! send logging an event that is sent, ...) or amplify:
//! - events whose target is this crate's or that of the HTTP stack under it (`reqwest`,
//!   `hyper`, `hyper_util`, `h2`, `rustls`, `tokio_rustls`, `tokio_util`, `tower`, `want`,
//!   `mio`) are skipped, whichever task emits them;
//! - every event emitted while the client's worker task is being polled (or a direct-mode
//!   send) is skipped, whatever its target.
//!
//! `on_event` is synchronous, so the layer uses [`Client::try_log`], which never waits: when
//! the queue is full the event is dropped and counted in [`ClientStats::dropped_full`]. A slow or
//! dead server therefore never blocks the thread that emitted the event. A client in direct
//! mode (`async_mode(false)`) cannot send without waiting; its events are refused and counted
//! by [`MasterLogLayer::refused`]. So are events logged after the client shut down.
//!
//! [`ClientStats::dropped_full`]: crate::ClientStats::dropped_full

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event as TracingEvent, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::client::{Client, TryLogError};
use crate::event::{Event, Severity};

/// Targets whose events are never forwarded: this crate and the HTTP stack it sends with.
pub const IGNORED_TARGETS: &[&str] = &[
    "master_log_client",
    "reqwest",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "tokio_rustls",
    "tokio_util",
    "tower",
    "want",
    "mio",
];

/// A hook that names the current trace and span, as lowercase hex strings.
pub type TraceIds = fn() -> Option<(String, String)>;

/// Forwards `tracing` events at or above a level to Master Log; see the
/// [module documentation](self).
#[derive(Clone)]
pub struct MasterLogLayer {
    client: Client,
    level: Level,
    trace_ids: Option<TraceIds>,
    refused: Arc<AtomicU64>,
}

impl fmt::Debug for MasterLogLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterLogLayer")
            .field("client", &self.client)
            .field("level", &self.level)
            .field("trace_ids", &self.trace_ids.is_some())
            .field("refused", &self.refused())
            .finish()
    }
}

impl MasterLogLayer {
    /// Forwards through `client`, which should be in asynchronous mode (the default).
    pub fn new(client: Client) -> Self {
        MasterLogLayer {
            client,
            level: Level::INFO,
            trace_ids: None,
            refused: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Forwards events at `level` or more severe. Defaults to [`Level::INFO`].
    ///
    /// This only decides what this layer forwards; it does not disable events for other
    /// layers. Use `with_filter` for finer per-layer filtering (targets, `EnvFilter`).
    #[must_use]
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// Adds `trace_id` and `span_id` from `hook` to every forwarded event's metadata.
    /// Defaults to none. Pass `sentinel::layer::trace_ids` to link events to sentinel traces.
    #[must_use]
    pub fn trace_ids(mut self, hook: TraceIds) -> Self {
        self.trace_ids = Some(hook);
        self
    }

    /// Events refused because the client is shut down or in direct mode (full-queue drops
    /// are counted by the client, in [`ClientStats::dropped_full`](crate::ClientStats::dropped_full)).
    /// Clones of the layer share the count.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Builds the Master Log event for `event`; `spans` are the enclosing span names,
    /// outermost first.
    fn convert<'a>(&self, event: &TracingEvent<'_>, spans: impl Iterator<Item = &'a str>) -> Event {
        let meta = event.metadata();
        let mut fields = Fields::default();
        event.record(&mut fields);
        let body = match fields.message.take() {
            Some(message) => message,
            None => fields.as_text(),
        };
        let mut metadata = fields.map;
        if let Some((trace_id, span_id)) = self.trace_ids.and_then(|hook| hook()) {
            metadata.insert("trace_id".into(), Value::String(trace_id));
            metadata.insert("span_id".into(), Value::String(span_id));
        }
        let mut out = Event::new(severity(*meta.level()), body).tag(meta.target());
        for span in spans {
            out = out.tag(span);
        }
        if !metadata.is_empty() {
            out = out.metadata(Value::Object(metadata));
        }
        out
    }
}

/// The Master Log severity of a `tracing` level.
pub fn severity(level: Level) -> Severity {
    match level {
        Level::ERROR => Severity::Error,
        Level::WARN => Severity::Warn,
        Level::INFO => Severity::Info,
        Level::DEBUG => Severity::Debug,
        Level::TRACE => Severity::Trace,
    }
}

/// Whether events from `target` are never forwarded (see [`IGNORED_TARGETS`]).
pub fn is_ignored_target(target: &str) -> bool {
    IGNORED_TARGETS.iter().any(|t| {
        target
            .strip_prefix(t)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

impl<S> Layer<S> for MasterLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &TracingEvent<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        // `Level` orders more verbose as greater: TRACE > DEBUG > ... > ERROR.
        if *meta.level() > self.level
            || is_ignored_target(meta.target())
            || crate::quiet::is_quiet()
        {
            return;
        }
        let scope = ctx.event_scope(event);
        let names = scope
            .into_iter()
            .flat_map(|s| s.from_root())
            .map(|span| span.name());
        let converted = self.convert(event, names);
        match self.client.try_log(converted) {
            // Counted by the client.
            Ok(()) | Err(TryLogError::Full(_)) => {}
            Err(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// An event's message and its other fields as JSON.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    map: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.map.insert(field.name().to_owned(), value);
        }
    }

    /// `key=value` pairs, for events without a message.
    fn as_text(&self) -> String {
        let mut out = String::new();
        for (k, v) in &self.map {
            if !out.is_empty() {
                out.push(' ');
            }
            let _ = match v {
                Value::String(s) => write!(out, "{k}={s}"),
                other => write!(out, "{k}={other}"),
            };
        }
        out
    }
}

macro_rules! record_as_json {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method(&mut self, field: &Field, value: $ty) {
            self.put(field, Value::from(value));
        }
    )*};
}

/// Numbers, booleans and strings become JSON values; 128-bit integers too when they fit in 64
/// bits. Everything else, errors included (tracing's default shows their `Display`), is its
/// `Debug` text.
impl Visit for Fields {
    record_as_json!(
        record_f64: f64,
        record_i64: i64,
        record_u64: u64,
        record_bool: bool,
        record_str: &str
    );

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(
            field,
            i64::try_from(value).map_or_else(|_| value.to_string().into(), Value::from),
        );
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.put(
            field,
            u64::try_from(value).map_or_else(|_| value.to_string().into(), Value::from),
        );
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use tokio::runtime::Handle;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::batch::Batch;
    use crate::config::{Config, Overrides};
    use crate::worker::Attempt;

    static SENDS: AtomicUsize = AtomicUsize::new(0);

    /// A client whose transport logs an event with an innocent target on every send, as a
    /// user's own instrumentation under the client might.
    fn chatty_transport_client() -> Client {
        let overrides = Overrides {
            api_key: Some("k".into()),
            endpoint: Some("http://127.0.0.1:9".into()),
            backpressure: Some(false),
            ..Overrides::default()
        };
        let config = Config::resolve(&overrides, &|_: &str| None).unwrap();
        let send = |batch: Batch, _timeout: std::time::Duration| async move {
            SENDS.fetch_add(1, Ordering::SeqCst);
            tracing::warn!(target: "my_app::transport", events = batch.len, "sending");
            Attempt::Accepted {
                status: 200,
                accepted: batch.len as u64,
                warning: None,
            }
        };
        Client::spawn(config, send, &Handle::current())
    }

    // On a current-thread runtime the worker runs on this thread, under this thread's
    // subscriber: without the quiet mark every send would enqueue one more event, forever.
    #[tokio::test(flavor = "current_thread")]
    async fn events_emitted_on_the_worker_task_are_not_forwarded() {
        let client = chatty_transport_client();
        let layer = MasterLogLayer::new(client.clone()).level(Level::TRACE);
        let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        tracing::info!(target: "my_app", "user event");
        let report = client.flush(Duration::from_secs(5)).await.unwrap();
        assert_eq!(report.accepted, 1);
        let again = client.flush(Duration::from_secs(5)).await.unwrap();
        assert_eq!(again.sent, 0);
        assert_eq!(SENDS.load(Ordering::SeqCst), 1);
        assert_eq!(client.stats().dequeued, 1);
    }

    #[test]
    fn levels_map_to_severities_of_the_same_name() {
        assert_eq!(severity(Level::ERROR), Severity::Error);
        assert_eq!(severity(Level::WARN), Severity::Warn);
        assert_eq!(severity(Level::INFO), Severity::Info);
        assert_eq!(severity(Level::DEBUG), Severity::Debug);
        assert_eq!(severity(Level::TRACE), Severity::Trace);
    }

    #[test]
    fn ignored_targets_match_whole_path_segments() {
        assert!(is_ignored_target("master_log_client"));
        assert!(is_ignored_target("master_log_client::worker"));
        assert!(is_ignored_target("hyper::proto::h1"));
        assert!(is_ignored_target("hyper_util::client::legacy"));
        assert!(is_ignored_target("h2::codec"));
        assert!(!is_ignored_target("hyperion"));
        assert!(!is_ignored_target("my_app::hyper"));
        assert!(!is_ignored_target("sentinel"));
    }
}
