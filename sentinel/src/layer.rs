//! A `tracing-subscriber` layer that writes `tracing` spans as sentinel
//! records, in the same trace tree as `#[trace]` (feature `tracing`, on by
//! default).
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//! use sentinel::layer::SentinelLayer;
//! use sentinel::{AsyncLogger, SentinelConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let logger = AsyncLogger::new(SentinelConfig::new(dir.path().join("app.jsonl")))?;
//! let subscriber = tracing_subscriber::registry().with(SentinelLayer::with_logger(&logger));
//!
//! #[sentinel::trace(logger = logger)]
//! fn price(logger: &AsyncLogger) -> u32 {
//!     let _ = logger;
//!     12
//! }
//!
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("checkout", label = "web", order = 7);
//!     let _entered = span.enter();
//!     price(&logger); // a child of `checkout`: same trace_id, parent_span_id set
//! });
//! logger.shutdown_blocking(std::time::Duration::from_secs(5));
//!
//! let text = std::fs::read_to_string(dir.path().join("app.jsonl"))?;
//! let lines: Vec<serde_json::Value> =
//!     text.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
//! assert_eq!(lines[0]["function"], "price");
//! assert_eq!(lines[1]["function"], "checkout[web]");
//! assert_eq!(lines[1]["tags"]["order"], 7);
//! assert_eq!(lines[0]["parent_span_id"], lines[1]["span_id"]);
//! assert_eq!(lines[0]["trace_id"], lines[1]["trace_id"]);
//! # Ok(())
//! # }
//! ```
//!
//! # What a span becomes
//!
//! Every closed span that the layer sees (after filtering) is one record with
//! the schema of `#[trace]`, through the same writer:
//! - `function`: the span's name, or `name[label]` when it has a `label` field;
//! - `duration_ms`: from creation to close (idle time included);
//! - `cpu_time_ms`: this thread's CPU time while the span was entered, so an
//!   async span that awaits a timer counts only its polls;
//! - `status: "error"` with `error_type` and `error` when an `ERROR` event
//!   with an `error` field happened inside the span, as
//!   `#[tracing::instrument(err)]` emits. `error_type` comes from an
//!   `error_type` field of the event, else it is `"Error"`;
//! - every other span field, and the sentinel [`tags`](crate::tags) in scope
//!   where the span was created, under `tags`.
//!
//! # One trace tree
//!
//! Each span gets a sentinel [`SpanContext`] when it is created: it joins the
//! innermost active span, whichever world opened it (a `#[trace]` call, a
//! [`TimeBlock`](crate::TimeBlock), or a `tracing` span), or else starts a new
//! trace, keeping it with probability [`SentinelLayer::sample`]. Entering the
//! span makes it sentinel's current span, so `#[trace]` calls inside it are
//! its children and [`current_trace_id`](crate::current_trace_id) sees it.
//! A span with an explicit parent (`parent: &span`) follows that parent; one
//! with `parent: None` starts a new trace. A sampled-out trace writes nothing
//! but its ids still propagate, so the decision holds for both worlds.
//!
//! # Trace ids on log lines
//!
//! `tracing-subscriber`'s JSON formatter, wrapped in [`WithTraceIds`], starts
//! every line logged inside a span with the span's sentinel `trace_id` and
//! `span_id`, so an error line leads to its trace in the sentinel file:
//!
//! ```
//! use tracing_subscriber::fmt::format;
//! use tracing_subscriber::layer::SubscriberExt;
//! use sentinel::layer::{SentinelLayer, WithTraceIds};
//!
//! let subscriber = tracing_subscriber::registry()
//!     .with(SentinelLayer::new())
//!     .with(
//!         tracing_subscriber::fmt::layer()
//!             .json()
//!             .event_format(WithTraceIds::new(format().json())),
//!     );
//! tracing::subscriber::with_default(subscriber, || {
//!     let _span = tracing::info_span!("checkout").entered();
//!     // {"trace_id":"…32 hex…","span_id":"…16 hex…","timestamp":…,"level":"WARN",…}
//!     tracing::warn!(order = 7, "card declined");
//! });
//! ```
//!
//! # Backpressure
//!
//! A closing span is a synchronous producer: when the logger's queue is full
//! it waits for room like any sync caller (or is dropped and counted on a
//! [lossy](crate::SentinelConfig::lossy) logger); see [`crate::pipeline`].

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::context::{SpanContext, current_span, current_tags, replace_span};
use crate::cpu_clock::thread_cpu_ns;
use crate::pipeline::AsyncLogger;
use crate::pipeline::staging::Wait;
use crate::record::{ErrorInfo, NO_CPU, NameKind};
use crate::span::recorded::{self, Outer};
use crate::span::{CpuMode, Outcome, Policy, SpanCore, Target, slow_threshold};
use crate::tags::TagSet;

pub use crate::log_ids::WithTraceIds;

/// Writes every closed `tracing` span as a sentinel record; see the
/// [module documentation](self).
///
/// Install one per subscriber: a second one on the same subscriber records
/// nothing. Compose it with other layers and filters as usual:
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
/// use tracing_subscriber::Layer;
///
/// let layer = sentinel::layer::SentinelLayer::new()
///     .sample(0.5)
///     .slow_ms(250.0)
///     .with_filter(tracing_subscriber::filter::LevelFilter::INFO);
/// let _subscriber = tracing_subscriber::registry().with(layer);
/// ```
#[derive(Debug, Clone)]
pub struct SentinelLayer {
    target: Target,
    policy: Policy,
}

impl Default for SentinelLayer {
    fn default() -> Self {
        SentinelLayer::new()
    }
}

impl SentinelLayer {
    /// Writes to the process-wide default logger
    /// ([`default_logger`](crate::default_logger)), resolved when each span
    /// closes, like `#[trace]` without `logger`.
    pub fn new() -> Self {
        SentinelLayer {
            target: Target::Default,
            policy: Policy::DEFAULT,
        }
    }

    /// Writes to `logger`.
    pub fn with_logger(logger: &AsyncLogger) -> Self {
        SentinelLayer {
            target: Target::of(Some(logger)),
            policy: Policy::DEFAULT,
        }
    }

    /// Keeps a trace that starts at a `tracing` span with probability `p`.
    /// Defaults to 1 (keep all). Spans that join an existing trace inherit its
    /// decision.
    #[must_use]
    pub fn sample(mut self, p: f64) -> Self {
        self.policy.sample = p;
        self
    }

    /// Adds `"slow": true` to spans that take longer than `ms` from creation
    /// to close. Defaults to never, like `#[trace]` without `slow_ms`.
    #[must_use]
    pub fn slow_ms(mut self, ms: f64) -> Self {
        self.policy.slow_ns = slow_threshold(ms);
        self
    }
}

/// The current span's trace and span ids as 16-digit hex strings, or `None`
/// outside any span.
///
/// The current span is the innermost `#[trace]` call, `TimeBlock` or (with a
/// [`SentinelLayer`] installed) entered `tracing` span on this thread. Its
/// signature fits the id hook of `master_log_client::layer::MasterLogLayer`,
/// which adds these ids to every forwarded log event.
pub fn trace_ids() -> Option<(String, String)> {
    current_span().map(|s| (s.trace_id.to_string(), s.span_id.to_string()))
}

/// What the layer keeps in a span's extensions.
struct SpanData {
    /// Identity and timing; CPU time counts only while entered.
    core: SpanCore,
    label: Option<String>,
    fields: Vec<(Cow<'static, str>, Value)>,
    scope_tags: Option<Arc<TagSet>>,
    error: Option<ErrorInfo>,
}

/// One `on_enter` on this thread, undone by the matching `on_exit`.
struct Entered {
    id: u64,
    prev: Option<SpanContext>,
    /// The frame for `sentinel::record` that was open before.
    outer: Outer,
    /// Thread CPU reading at enter; `NO_CPU` when not measured.
    cpu0: u64,
}

thread_local! {
    // Per thread rather than per span: one span may be entered on several
    // threads at once, and each thread must restore its own previous span.
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

pub(crate) fn span_ctx<S>(
    span: &tracing_subscriber::registry::SpanRef<'_, S>,
) -> Option<SpanContext>
where
    S: for<'a> LookupSpan<'a>,
{
    span.extensions()
        .get::<SpanData>()
        .map(|d| d.core.context())
}

impl<S> Layer<S> for SentinelLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = if attrs.is_contextual() {
            // Entering a span (ours or `#[trace]`'s) sets sentinel's current
            // span, so it is the innermost of both worlds on this thread.
            current_span().or_else(|| span.parent().and_then(|p| span_ctx(&p)))
        } else {
            span.parent().and_then(|p| span_ctx(&p))
        };
        let core = SpanCore::start(
            parent,
            Cow::Borrowed(span.metadata().name()),
            NameKind::Function,
            self.policy,
            &self.target,
            CpuMode::Busy,
        );
        let sampled = core.context().sampled;
        let mut data = SpanData {
            core,
            label: None,
            fields: Vec::new(),
            scope_tags: None,
            error: None,
        };
        if sampled {
            data.scope_tags = current_tags();
            attrs.record(&mut FieldVisitor {
                label: &mut data.label,
                fields: &mut data.fields,
            });
        }
        let mut ext = span.extensions_mut();
        // A second `SentinelLayer` on the same subscriber stays passive rather than panic
        // on the duplicate extension.
        if ext.get_mut::<SpanData>().is_none() {
            ext.insert(data);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(data) = ext.get_mut::<SpanData>()
            && data.core.context().sampled
        {
            let SpanData { label, fields, .. } = data;
            values.record(&mut FieldVisitor { label, fields });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut visitor = ErrorVisitor::default();
        event.record(&mut visitor);
        let Some(message) = visitor.error else { return };
        let mut ext = span.extensions_mut();
        if let Some(data) = ext.get_mut::<SpanData>()
            && data.core.context().sampled
        {
            data.error = Some(ErrorInfo {
                type_name: visitor
                    .error_type
                    .map_or(Cow::Borrowed("Error"), Cow::Owned),
                message,
            });
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some((sctx, measure)) = span
            .extensions()
            .get::<SpanData>()
            .map(|d| (d.core.context(), d.core.counts_busy()))
        else {
            return;
        };
        let prev = replace_span(Some(sctx));
        let outer = recorded::open(sctx);
        let raw = id.into_u64();
        let _ = ENTERED.try_with(|stack| {
            let mut stack = stack.borrow_mut();
            // Re-entering a span already entered on this thread: the outer entry
            // measures the whole stretch, so this one must not count it again.
            let cpu0 = if measure && !stack.iter().any(|e| e.id == raw) {
                thread_cpu_ns()
            } else {
                NO_CPU
            };
            stack.push(Entered {
                id: raw,
                prev,
                outer,
                cpu0,
            });
        });
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let raw = id.into_u64();
        let mut recorded = Vec::new();
        let entered = ENTERED
            .try_with(|stack| {
                let mut stack = stack.borrow_mut();
                let pos = stack.iter().rposition(|e| e.id == raw)?;
                let entered = stack.remove(pos);
                match stack.get_mut(pos) {
                    // Exited out of order: whoever was entered after this
                    // span now restores what this span would have restored
                    // (and takes what was recorded since this one entered).
                    Some(next) => {
                        next.prev = entered.prev;
                        next.outer = entered.outer;
                    }
                    None => {
                        replace_span(entered.prev);
                        recorded::close(entered.outer, &mut recorded);
                    }
                }
                Some(entered)
            })
            .ok()
            .flatten();
        let Some(entered) = entered else { return };
        if entered.cpu0 == NO_CPU && recorded.is_empty() {
            return;
        }
        // Read only when measuring, so `cpu_time(false)` never probes the clock.
        let cpu1 = (entered.cpu0 != NO_CPU).then(thread_cpu_ns);
        let Some(span) = ctx.span(id) else { return };
        if let Some(data) = span.extensions_mut().get_mut::<SpanData>() {
            if let Some(cpu1) = cpu1 {
                data.core.add_busy(cpu1.saturating_sub(entered.cpu0));
            }
            for (key, value) in recorded {
                put_field(&mut data.fields, key, value);
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(data) = span.extensions_mut().remove::<SpanData>() else {
            return;
        };
        let SpanData {
            mut core,
            label,
            fields,
            scope_tags,
            error,
        } = data;
        if !core.context().sampled {
            return;
        }
        if let Some(label) = label {
            let base = span.metadata().name();
            core.rename(Cow::Owned(format!("{base}[{label}]")));
        }
        // A closing span waits for room like any sync caller.
        let tags = || {
            if fields.is_empty() {
                scope_tags
            } else {
                Some(Arc::new(TagSet::merged(scope_tags.as_deref(), &fields)))
            }
        };
        core.finish(&self.target, Outcome::Returned(error), tags, Wait::Block);
    }
}

/// Collects span fields: `label` apart, the rest as tag values.
struct FieldVisitor<'a> {
    label: &'a mut Option<String>,
    fields: &'a mut Vec<(Cow<'static, str>, Value)>,
}

impl FieldVisitor<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if name == "label" {
            *self.label = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
            return;
        }
        put_field(self.fields, Cow::Borrowed(name), value);
    }
}

/// Sets `key` in `fields`: replaces its value in place, or appends it.
fn put_field(fields: &mut Vec<(Cow<'static, str>, Value)>, key: Cow<'static, str>, value: Value) {
    match fields.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => fields.push((key, value)),
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let v = i64::try_from(value).map_or_else(|_| Value::from(value.to_string()), Value::from);
        self.put(field, v);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let v = u64::try_from(value).map_or_else(|_| Value::from(value.to_string()), Value::from);
        self.put(field, v);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

/// Reads `error` and `error_type` from an `ERROR` event.
#[derive(Default)]
struct ErrorVisitor {
    error: Option<String>,
    error_type: Option<String>,
}

impl ErrorVisitor {
    fn put(&mut self, field: &Field, value: String) {
        match field.name() {
            "error" => self.error = Some(value),
            "error_type" => self.error_type = Some(value),
            _ => {}
        }
    }
}

impl Visit for ErrorVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_owned());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `error = %e` arrives here as a `Display` wrapper whose `Debug`
        // prints the `Display` form.
        if matches!(field.name(), "error" | "error_type") {
            self.put(field, format!("{value:?}"));
        }
    }
}
