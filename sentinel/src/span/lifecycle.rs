//! One span's life, from start to record, written once for every front end:
//! `#[trace]` (sync guard and async future), [`TimeBlock`](super::TimeBlock)
//! and the `tracing` bridge all start a [`SpanCore`] and finish it.
//!
//! What lives here: joining the parent's trace or starting one (the root
//! decides sampling), the slow threshold, the clock and CPU readings, the
//! status, the [`SpanRecord`] and its hand-off to the logger. A front end
//! only says which span is the parent, when the span is entered, which tags
//! it carries and whether its caller can wait for room.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use crate::clock::now;
use crate::context::{SpanContext, SpanId, TraceId};
use crate::cpu_clock::thread_cpu_ns;
use crate::pipeline::AsyncLogger;
use crate::pipeline::shared::{DropReason, Shared};
use crate::pipeline::staging::{Local, Wait, push_async, with_local};
use crate::record::{Entry, ErrorInfo, NO_CPU, NameKind, SpanRecord, Status, panic_message};
use crate::sampling::keep;
use crate::tagset::{ConstTags, OwnTags, TagSet};

use super::recorded::Tag;

/// Which logger a span writes to.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    /// The process-wide default, resolved when the span ends.
    Default,
    Logger(Arc<Shared>),
}

impl Target {
    pub(crate) fn of(logger: Option<&AsyncLogger>) -> Self {
        match logger {
            Some(l) => Target::Logger(Arc::clone(l.shared())),
            None => Target::Default,
        }
    }

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&Local) -> R) -> R {
        match self {
            Target::Default => crate::global::with_default(f),
            Target::Logger(shared) => with_local(shared, f),
        }
    }

    #[inline]
    fn cpu_time(&self) -> bool {
        match self {
            Target::Default => crate::global::with_default(|l| l.shared.config().cpu_time),
            Target::Logger(shared) => shared.config().cpu_time,
        }
    }
}

/// What a front end was asked to do with new traces and slow spans.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    /// Probability of keeping a trace that starts here.
    pub(crate) sample: f64,
    /// Spans longer than this many clock nanoseconds are marked slow.
    pub(crate) slow_ns: u64,
    /// Tags every span of this front end carries (`#[trace(tags(..))]`).
    pub(crate) consts: Option<&'static ConstTags>,
}

impl Policy {
    /// Keep every trace, never mark a span slow.
    pub(crate) const DEFAULT: Policy = Policy {
        sample: 1.0,
        slow_ns: u64::MAX,
        consts: None,
    };

    #[inline]
    pub(crate) fn new(sample: f64, slow_ms: f64) -> Self {
        Policy {
            sample,
            slow_ns: slow_threshold(slow_ms),
            consts: None,
        }
    }
}

/// `slow_ms` as a threshold in nanoseconds; never slow when not a finite,
/// non-negative number.
#[inline]
pub(crate) fn slow_threshold(slow_ms: f64) -> u64 {
    if slow_ms.is_finite() && slow_ms >= 0.0 {
        (slow_ms * 1e6) as u64
    } else {
        u64::MAX
    }
}

/// How a span counts this thread's CPU time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CpuMode {
    /// From start to end on one thread: a guard that stays where it began.
    Whole,
    /// Only while entered (polled), summed across threads.
    Busy,
}

#[derive(Clone, Copy, Debug)]
enum Cpu {
    /// Not measured: sampled out, or the logger has CPU time off.
    Off,
    /// The thread's reading at start.
    Since(u64),
    /// Time counted so far while entered.
    Busy(u64),
}

/// How a span ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Returned or closed; failed when it carries an error.
    Returned(Option<ErrorInfo>),
    /// Panicked with this message.
    Panicked(ErrorInfo),
    /// Dropped before completion.
    Cancelled,
}

impl Outcome {
    /// Panicked with `payload`'s message.
    pub(crate) fn panicked(payload: &(dyn Any + Send)) -> Self {
        Outcome::Panicked(ErrorInfo {
            type_name: Cow::Borrowed("panic"),
            message: panic_message(payload),
        })
    }

    /// Unwinding past a guard, whose payload is out of reach.
    pub(crate) fn unwinding() -> Self {
        Outcome::Panicked(ErrorInfo {
            type_name: Cow::Borrowed("panic"),
            message: "panicked".into(),
        })
    }

    #[inline]
    fn split(self) -> (Status, Option<ErrorInfo>) {
        match self {
            Outcome::Returned(None) => (Status::Success, None),
            Outcome::Returned(Some(e)) | Outcome::Panicked(e) => (Status::Error, Some(e)),
            Outcome::Cancelled => (Status::Cancelled, None),
        }
    }
}

/// One span from start to record: identity, sampling, timing.
#[derive(Debug)]
pub(crate) struct SpanCore {
    name: Cow<'static, str>,
    kind: NameKind,
    slow_ns: u64,
    ctx: SpanContext,
    parent: u64,
    /// Clock ticks at the start (see `clock::now`); 0 when sampled out.
    start: u64,
    cpu: Cpu,
    consts: Option<&'static ConstTags>,
    /// Captured arguments and recorded values, in order.
    values: Vec<Tag>,
}

impl SpanCore {
    /// Starts a span under `parent` (in its trace, with its sampling
    /// decision) or, without one, as the root of a new trace kept with
    /// probability `policy.sample`. Reads the clocks only when sampled.
    #[inline]
    pub(crate) fn start(
        parent: Option<SpanContext>,
        name: Cow<'static, str>,
        kind: NameKind,
        policy: Policy,
        target: &Target,
        cpu: CpuMode,
    ) -> Self {
        let (trace_id, parent, sampled) = match parent {
            Some(p) => (p.trace_id, p.span_id.0, p.sampled),
            None => (TraceId::random(), 0, keep(policy.sample)),
        };
        let mut core = SpanCore {
            name,
            kind,
            slow_ns: policy.slow_ns,
            ctx: SpanContext {
                trace_id,
                span_id: SpanId::random(),
                sampled,
            },
            parent,
            start: 0,
            cpu: Cpu::Off,
            consts: policy.consts,
            values: Vec::new(),
        };
        if sampled {
            core.start = now();
            if target.cpu_time() {
                core.cpu = match cpu {
                    CpuMode::Whole => Cpu::Since(thread_cpu_ns()),
                    CpuMode::Busy => Cpu::Busy(0),
                };
            }
        }
        core
    }

    /// This span as its children see it.
    #[inline]
    pub(crate) fn context(&self) -> SpanContext {
        self.ctx
    }

    /// Where a front end puts what the span's frame recorded (see
    /// `recorded::close`).
    #[inline]
    pub(crate) fn values_mut(&mut self) -> &mut Vec<Tag> {
        &mut self.values
    }

    /// Sets the span's constant tags.
    #[inline]
    pub(crate) fn set_consts(&mut self, consts: &'static ConstTags) {
        self.consts = Some(consts);
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Replaces the name, for a front end that learns it late (a `tracing`
    /// span's `label` field may be recorded after creation).
    #[cfg(feature = "tracing")]
    pub(crate) fn rename(&mut self, name: Cow<'static, str>) {
        self.name = name;
    }

    /// A CPU reading to pass to [`add_busy_since`](Self::add_busy_since)
    /// when the span is left, or `NO_CPU` when busy time is not counted.
    #[inline]
    pub(crate) fn busy_mark(&self) -> u64 {
        match self.cpu {
            Cpu::Busy(_) => thread_cpu_ns(),
            Cpu::Off | Cpu::Since(_) => NO_CPU,
        }
    }

    /// Whether [`busy_mark`](Self::busy_mark) reads the CPU clock.
    #[cfg(feature = "tracing")]
    #[inline]
    pub(crate) fn counts_busy(&self) -> bool {
        matches!(self.cpu, Cpu::Busy(_))
    }

    /// Counts the CPU time from `mark` until now as busy.
    #[inline]
    pub(crate) fn add_busy_since(&mut self, mark: u64) {
        if mark != NO_CPU {
            self.add_busy(thread_cpu_ns().saturating_sub(mark));
        }
    }

    /// Counts `ns` more of CPU time as busy.
    #[inline]
    pub(crate) fn add_busy(&mut self, ns: u64) {
        if let Cpu::Busy(total) = &mut self.cpu {
            *total += ns;
        }
    }

    /// The record of this span ended now, or `None` when sampled out.
    #[inline]
    fn entry(
        &mut self,
        outcome: Outcome,
        tags: impl FnOnce() -> Option<Arc<TagSet>>,
    ) -> Option<Entry> {
        if !self.ctx.sampled {
            return None;
        }
        let end = now();
        let cpu_ns = match self.cpu {
            Cpu::Off => NO_CPU,
            Cpu::Since(t0) => thread_cpu_ns().saturating_sub(t0),
            Cpu::Busy(total) => total,
        };
        let (status, error) = outcome.split();
        let own = OwnTags {
            consts: self.consts,
            // One allocation at most, handed over as it is.
            values: (!self.values.is_empty())
                .then(|| std::mem::take(&mut self.values).into_boxed_slice()),
        };
        Some(Entry::Span(SpanRecord {
            name: std::mem::replace(&mut self.name, Cow::Borrowed("")),
            kind: self.kind,
            status,
            slow_ns: self.slow_ns,
            start: self.start,
            end,
            cpu_ns,
            trace_id: self.ctx.trace_id.halves(),
            span_id: self.ctx.span_id.0,
            parent_span_id: self.parent,
            tags: tags(),
            own,
            error: error.map(Box::new),
        }))
    }

    /// Ends the span and hands its record over: `Wait::Block` waits for
    /// room like any sync caller (or drops and counts on a lossy logger);
    /// `Wait::Never` is for a caller that cannot wait (dropped, unwinding),
    /// whose record a full queue drops and counts.
    #[inline]
    pub(crate) fn finish(
        &mut self,
        target: &Target,
        outcome: Outcome,
        tags: impl FnOnce() -> Option<Arc<TagSet>>,
        wait: Wait,
    ) {
        if let Some(entry) = self.entry(outcome, tags) {
            target.with(|local| {
                if local.push(entry, wait).is_err() {
                    local.refuse(DropReason::QueueFull);
                }
            });
        }
    }

    /// Ends the span for an async caller: `Some` push to await when the
    /// queue is full (dropping that future counts the record as dropped).
    pub(crate) fn finish_async(
        &mut self,
        target: &Target,
        outcome: Outcome,
        tags: impl FnOnce() -> Option<Arc<TagSet>>,
    ) -> Option<impl Future<Output = bool> + Send + 'static> {
        let entry = self.entry(outcome, tags)?;
        target.with(|local| match local.push(entry, Wait::Never) {
            Ok(_) => None,
            Err(full) => Some(push_async(Arc::clone(&local.shared), full.entry)),
        })
    }
}
