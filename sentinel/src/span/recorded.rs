//! Values a span learns while it runs: [`record`](fn@record) adds a tag to the span
//! whose code is running, from anywhere inside it.
//!
//! Each front end opens a *frame* on this thread while the span's code runs
//! (a sync call's whole body, each poll of an async one, each entry of a
//! `tracing` span) and closes it after, taking what was recorded meanwhile.
//! Frames nest like the calls that open them, so the values recorded since
//! a frame opened are its span's (inner frames took theirs when they closed).
//! An async span takes its values at the end of every poll, so the next
//! poll may run on any thread.

use std::borrow::Cow;
use std::cell::RefCell;

use serde_json::Value;

use crate::context::{SpanContext, SpanId, current_span};

pub(crate) use crate::tagset::Tag;

struct Frames {
    /// The span whose frame is open, `None` outside any or when it is not
    /// recorded (sampled out).
    owner: Option<SpanId>,
    /// Where the open frame's values start in `values`.
    start: usize,
    /// Values of every open frame on this thread, innermost last.
    values: Vec<Tag>,
}

thread_local! {
    static FRAMES: RefCell<Frames> = const {
        RefCell::new(Frames { owner: None, start: 0, values: Vec::new() })
    };
}

/// The frame that was open before [`open`]; hand it to [`close`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outer {
    owner: Option<SpanId>,
    start: usize,
}

impl Outer {
    /// No frame: what a thread whose thread-locals are gone reports.
    const NONE: Outer = Outer {
        owner: None,
        start: 0,
    };
}

/// Opens `span`'s frame on this thread until [`close`].
#[inline]
pub(crate) fn open(span: SpanContext) -> Outer {
    FRAMES
        .try_with(|f| {
            let mut f = f.borrow_mut();
            let outer = Outer {
                owner: f.owner,
                start: f.start,
            };
            f.owner = span.sampled.then_some(span.span_id);
            f.start = f.values.len();
            outer
        })
        .unwrap_or(Outer::NONE)
}

/// Closes the frame [`open`] opened (reopening `outer`) and appends what
/// was recorded in it to `into`.
#[inline]
pub(crate) fn close(outer: Outer, into: &mut Vec<Tag>) {
    let _ = FRAMES.try_with(|f| {
        let mut f = f.borrow_mut();
        let start = f.start;
        if f.values.len() > start {
            into.extend(f.values.drain(start..));
        }
        f.owner = outer.owner;
        f.start = outer.start;
    });
}

/// Whether [`record`](fn@record) would keep a value now: inside a recorded span's
/// frame, with that span current (not a context merely attached in it).
#[inline]
pub(crate) fn recording() -> bool {
    let owner = FRAMES
        .try_with(|f| f.try_borrow().ok().and_then(|f| f.owner))
        .ok()
        .flatten();
    owner.is_some() && owner == current_span().map(|s| s.span_id)
}

/// Keeps `tag` for the open frame; callers check [`recording`] first.
#[inline]
pub(crate) fn push(tag: Tag) {
    let _ = FRAMES.try_with(|f| {
        if let Ok(mut f) = f.try_borrow_mut() {
            f.values.push(tag);
        }
    });
}

/// Adds a tag to the current span's record, from anywhere inside the span:
/// the innermost `#[trace]` call, [`TimeBlock`](crate::TimeBlock) or (with a
/// [`SentinelLayer`](crate::layer::SentinelLayer)) entered `tracing` span
/// whose code is running on this thread.
///
/// For what a handler learns half-way (the user after authentication, the
/// rows a query returned), as `Span::current().record(..)` in `tracing`.
/// Keys and values take what [`Tags::with`](crate::Tags::with) takes; a key
/// recorded again, or one the span already has from
/// `#[trace(tags(..), args(..))]` or from a tag scope, takes the new value.
/// The tag is the span's own: its children do not inherit it (open a
/// [tag scope](crate::tags) for that).
///
/// ```
/// use sentinel::{AsyncLogger, SentinelConfig, trace};
///
/// #[trace(logger = logger)]
/// async fn handle(logger: &AsyncLogger, token: &str) -> usize {
///     tokio::task::yield_now().await;
///     let user_id = token.len(); // authenticated, say
///     sentinel::record("user_id", user_id);
///     user_id
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("app.jsonl");
/// let logger = AsyncLogger::new(SentinelConfig::new(&path))?;
/// handle(&logger, "secret").await;
/// sentinel::record("user_id", 1); // outside any span: does nothing
/// logger.shutdown().await;
/// let line: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
/// assert_eq!(line["tags"]["user_id"], 6);
/// # Ok(())
/// # }
/// ```
///
/// # Across `.await`, threads and tasks
///
/// An async `#[trace]` fn keeps what its body records across `.await`
/// points, whichever worker thread polls it next. A task it spawns is
/// separate code: `record` there reaches the task's own spans, and does
/// nothing outside them, even when the task carries the caller's context
/// with [`in_current_context`](crate::context::FutureExt::in_current_context)
/// (the caller may have finished by the time the task runs).
///
/// # Cost
///
/// Outside a span, or in a span that sampling dropped, two thread-local
/// reads and nothing is converted. Inside, the conversion to a JSON value
/// (free for numbers and booleans; a copy for strings) and a push onto a
/// per-thread buffer, which the span takes when it ends or, for an async
/// span, when its poll ends. The JSON text is written by the writer.
pub fn record(key: impl Into<Cow<'static, str>>, value: impl Into<Value>) {
    if recording() {
        push((key.into(), value.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{TraceId, replace_span, restore_span};

    fn span(id: u64, sampled: bool) -> SpanContext {
        SpanContext {
            trace_id: TraceId(7),
            span_id: SpanId(id),
            sampled,
        }
    }

    /// Runs `f` as `ctx`'s code: current and with its frame open.
    fn inside(ctx: SpanContext, f: impl FnOnce()) -> Vec<Tag> {
        let prev = replace_span(Some(ctx));
        let outer = open(ctx);
        f();
        let mut values = Vec::new();
        close(outer, &mut values);
        restore_span(prev);
        values
    }

    #[test]
    fn nested_frames_keep_their_own_values() {
        let mut inner = Vec::new();
        let outer = inside(span(1, true), || {
            record("a", 1);
            inner = inside(span(2, true), || record("b", 2));
            record("c", 3);
        });
        assert_eq!(inner, vec![("b".into(), Value::from(2))]);
        assert_eq!(
            outer,
            vec![("a".into(), Value::from(1)), ("c".into(), Value::from(3))]
        );
    }

    #[test]
    fn nothing_is_kept_outside_a_frame_or_when_sampled_out() {
        record("lost", 1);
        assert!(inside(span(3, false), || record("lost", 2)).is_empty());
        // A context attached inside a frame is not the frame's span.
        let values = inside(span(4, true), || {
            let prev = replace_span(Some(span(5, true)));
            record("lost", 3);
            restore_span(prev);
        });
        assert!(values.is_empty());
        assert!(FRAMES.with(|f| f.borrow().values.is_empty()));
    }
}
