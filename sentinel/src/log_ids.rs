//! Trace ids on `tracing` log lines: a `tracing-subscriber` event format that
//! puts the sentinel trace and span ids of the span an event happens in into
//! each JSON line, so a log line leads to its trace.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::context::{SpanContext, current_span};

/// Wraps a JSON event format (such as `tracing_subscriber::fmt::format().json()`)
/// so that every line written inside a sentinel span starts with its
/// `"trace_id"` (32 hex digits) and `"span_id"` (16), the ids its records
/// have in the sentinel file. Lines outside any span, and lines that are not
/// a JSON object, are written as the inner format wrote them.
///
/// The span is the one the event belongs to: its explicit parent, else the
/// innermost active span of either world (a `#[trace]` call, a `TimeBlock`,
/// or an entered `tracing` span under a [`SentinelLayer`](crate::layer::SentinelLayer)).
///
/// ```
/// use tracing_subscriber::fmt::format;
/// use tracing_subscriber::layer::SubscriberExt;
/// use sentinel::layer::{SentinelLayer, WithTraceIds};
///
/// let json_lines = tracing_subscriber::fmt::layer()
///     .json()
///     .event_format(WithTraceIds::new(format().json()));
/// let _subscriber = tracing_subscriber::registry()
///     .with(SentinelLayer::new())
///     .with(json_lines);
/// // {"trace_id":"4bf92f35…","span_id":"00f067aa…","timestamp":"…","level":"INFO",…}
/// ```
#[derive(Debug, Clone, Default)]
pub struct WithTraceIds<E> {
    inner: E,
}

impl<E> WithTraceIds<E> {
    /// Adds the ids to the lines `inner` formats.
    pub fn new(inner: E) -> Self {
        WithTraceIds { inner }
    }
}

impl<S, N, E> FormatEvent<S, N> for WithTraceIds<E>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    E: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let span = match event.parent() {
            Some(parent) => ctx.span(parent).and_then(|s| crate::layer::span_ctx(&s)),
            None if event.is_contextual() => current_span(),
            None => None,
        };
        let Some(span) = span else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let Some(rest) = line.strip_prefix('{') else {
            return writer.write_str(&line);
        };
        let SpanContext {
            trace_id, span_id, ..
        } = span;
        write!(
            writer,
            "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\"{}{rest}",
            if rest.starts_with('}') { "" } else { "," }
        )
    }
}
