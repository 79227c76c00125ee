//! Spans: the guard behind sync `#[trace]` fns, the future behind async ones,
//! and [`TimeBlock`].
//!
//! The caller's share of a span is small and fixed: two monotonic clock reads,
//! two thread-CPU clock reads (unless switched off), two random ids, a
//! thread-local swap, and one push onto a per-thread staging buffer. Names are
//! `&'static str` assembled at compile time; nothing is formatted here except
//! an error's `Display`, which must be rendered before the error is handed
//! back to the caller.

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use crate::clock::now;
use crate::context::{
    SpanContext, SpanId, TraceId, current_span, current_tags, replace_span, restore_span,
};
use crate::cpu_clock::thread_cpu_ns;
use crate::pipeline::AsyncLogger;
use crate::pipeline::shared::{DropReason, Shared};
use crate::pipeline::staging::{Local, Wait, push_async, with_local};
use crate::record::{Entry, ErrorInfo, NO_CPU, NameKind, SpanRecord, Status, panic_message};
use crate::sampling::keep;

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
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Local) -> R) -> R {
        match self {
            Target::Default => crate::global::with_default(f),
            Target::Logger(shared) => with_local(shared, f),
        }
    }

    #[inline]
    pub(crate) fn cpu_time(&self) -> bool {
        match self {
            Target::Default => crate::global::with_default(|l| l.shared.config().cpu_time),
            Target::Logger(shared) => shared.config().cpu_time,
        }
    }
}

/// The part of a span common to every form: identity and timing.
#[derive(Debug)]
struct Core {
    target: Target,
    name: Cow<'static, str>,
    kind: NameKind,
    slow_ns: u64,
    ctx: SpanContext,
    parent: u64,
    /// Clock ticks at the start (see `clock::now`).
    start: u64,
    /// CPU time so far (async) or the reading at start (sync); `NO_CPU` when off.
    cpu: u64,
}

impl Core {
    /// Starts a span under whatever span is current (or a new trace).
    #[inline]
    fn start(
        target: Target,
        name: Cow<'static, str>,
        kind: NameKind,
        sample: f64,
        slow_ms: f64,
    ) -> Self {
        let (trace_id, parent, sampled) = match current_span() {
            Some(p) => (p.trace_id, p.span_id.0, p.sampled),
            None => (TraceId::random(), 0, keep(sample)),
        };
        let ctx = SpanContext {
            trace_id,
            span_id: SpanId::random(),
            sampled,
        };
        let slow_ns = if slow_ms.is_finite() && slow_ms >= 0.0 {
            (slow_ms * 1e6) as u64
        } else {
            u64::MAX
        };
        let mut core = Core {
            target,
            name,
            kind,
            slow_ns,
            ctx,
            parent,
            start: 0,
            cpu: NO_CPU,
        };
        if sampled {
            core.start = now();
        }
        core
    }

    #[inline]
    fn record(&self, end: u64, cpu_ns: u64, status: Status, error: Option<ErrorInfo>) -> Entry {
        Entry::Span(SpanRecord {
            name: self.name.clone(),
            kind: self.kind,
            status,
            slow_ns: self.slow_ns,
            start: self.start,
            end,
            cpu_ns,
            trace_id: self.ctx.trace_id.0,
            span_id: self.ctx.span_id.0,
            parent_span_id: self.parent,
            tags: current_tags(),
            error: error.map(Box::new),
        })
    }
}

/// The guard a sync `#[trace]` fn holds: enters the span now, records it when
/// finished (or when dropped, e.g. during a panic).
#[doc(hidden)]
#[derive(Debug)]
pub struct SyncSpan {
    core: Core,
    prev: Option<SpanContext>,
    done: bool,
}

impl SyncSpan {
    #[inline]
    fn begin(
        target: Target,
        name: Cow<'static, str>,
        kind: NameKind,
        sample: f64,
        slow_ms: f64,
    ) -> Self {
        let mut core = Core::start(target, name, kind, sample, slow_ms);
        let prev = replace_span(Some(core.ctx));
        if core.ctx.sampled && core.target.cpu_time() {
            core.cpu = thread_cpu_ns();
        }
        SyncSpan {
            core,
            prev,
            done: false,
        }
    }

    /// Starts a span for `name` on the default logger.
    #[inline]
    pub fn start(name: &'static str, sample: f64, slow_ms: f64) -> Self {
        Self::begin(
            Target::Default,
            Cow::Borrowed(name),
            NameKind::Function,
            sample,
            slow_ms,
        )
    }

    /// Starts a span for `name` on `logger`.
    #[inline]
    pub fn start_on(logger: &AsyncLogger, name: &'static str, sample: f64, slow_ms: f64) -> Self {
        Self::begin(
            Target::of(Some(logger)),
            Cow::Borrowed(name),
            NameKind::Function,
            sample,
            slow_ms,
        )
    }

    /// Records the span with `error` (`None` for success).
    #[inline]
    pub fn finish(mut self, error: Option<ErrorInfo>) {
        let status = if error.is_some() {
            Status::Error
        } else {
            Status::Success
        };
        self.end(status, error);
    }

    /// Records the span as panicked with the panic's message.
    pub fn finish_panic(mut self, payload: &(dyn Any + Send)) {
        self.end(Status::Error, Some(panic_info(payload)));
    }

    #[inline]
    fn end(&mut self, status: Status, error: Option<ErrorInfo>) {
        self.done = true;
        let core = &self.core;
        if core.ctx.sampled {
            let end = now();
            let cpu = if core.cpu == NO_CPU {
                NO_CPU
            } else {
                thread_cpu_ns().saturating_sub(core.cpu)
            };
            let entry = core.record(end, cpu, status, error);
            core.target.with(|local| {
                let _ = local.push(entry, Wait::Block);
            });
        }
        restore_span(self.prev);
    }
}

impl Drop for SyncSpan {
    fn drop(&mut self) {
        if !self.done {
            if std::thread::panicking() {
                self.end(
                    Status::Error,
                    Some(ErrorInfo {
                        type_name: Cow::Borrowed("panic"),
                        message: "panicked".into(),
                    }),
                );
            } else {
                self.end(Status::Success, None);
            }
        }
    }
}

pub(crate) fn panic_info(payload: &(dyn Any + Send)) -> ErrorInfo {
    ErrorInfo {
        type_name: Cow::Borrowed("panic"),
        message: panic_message(payload),
    }
}

/// Decides from a call's return value whether it failed.
#[doc(hidden)]
pub type Classify<T> = fn(&T) -> Option<ErrorInfo>;

enum State<T> {
    NotStarted,
    Running,
    /// The call returned but the queue was full: waiting for room.
    Finishing {
        output: Option<T>,
        push: Pin<Box<dyn Future<Output = bool> + Send>>,
    },
    Done,
}

/// A future that traces another: a span that starts at the first poll, is
/// re-entered on every poll (whichever thread polls), measures CPU time only
/// inside polls, and records `cancelled` if dropped before completion.
///
/// Produced by `#[trace]` on async fns and by [`TimeBlock::wrap`].
#[must_use = "futures do nothing unless polled"]
pub struct Instrumented<F: Future> {
    inner: F,
    core: Option<Core>,
    start: Option<(Target, Cow<'static, str>, NameKind, f64, f64)>,
    classify: Classify<F::Output>,
    state: State<F::Output>,
}

impl<F: Future> fmt::Debug for Instrumented<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instrumented")
            .field("span", &self.core)
            .finish_non_exhaustive()
    }
}

fn no_error<T>(_: &T) -> Option<ErrorInfo> {
    None
}

impl<F: Future> Instrumented<F> {
    fn new(
        target: Target,
        name: Cow<'static, str>,
        kind: NameKind,
        sample: f64,
        slow_ms: f64,
        classify: Classify<F::Output>,
        inner: F,
    ) -> Self {
        Instrumented {
            inner,
            core: None,
            start: Some((target, name, kind, sample, slow_ms)),
            classify,
            state: State::NotStarted,
        }
    }

    /// Traces `inner` as fn `name` on the default logger.
    #[doc(hidden)]
    pub fn function(
        name: &'static str,
        sample: f64,
        slow_ms: f64,
        classify: Classify<F::Output>,
        inner: F,
    ) -> Self {
        Self::new(
            Target::Default,
            Cow::Borrowed(name),
            NameKind::Function,
            sample,
            slow_ms,
            classify,
            inner,
        )
    }

    /// Traces `inner` as fn `name` on `logger`.
    #[doc(hidden)]
    pub fn function_on(
        logger: AsyncLogger,
        name: &'static str,
        sample: f64,
        slow_ms: f64,
        classify: Classify<F::Output>,
        inner: F,
    ) -> Self {
        Self::new(
            Target::of(Some(&logger)),
            Cow::Borrowed(name),
            NameKind::Function,
            sample,
            slow_ms,
            classify,
            inner,
        )
    }

    fn emit(
        &mut self,
        end: u64,
        status: Status,
        error: Option<ErrorInfo>,
        wait: bool,
    ) -> Option<Entry> {
        let core = self.core.as_ref()?;
        if !core.ctx.sampled {
            return None;
        }
        let entry = core.record(end, core.cpu, status, error);
        let rejected = core.target.with(|local| local.push(entry, Wait::Never));
        match rejected {
            Err(full) if wait => Some(full.entry),
            Err(_) => {
                // Dropped or unwinding: this span cannot wait for room.
                core.target
                    .with(|local| local.refuse(DropReason::QueueFull));
                None
            }
            Ok(_) => None,
        }
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: it is never moved out of
        // `self`; every other field is treated as unpinned.
        let this = unsafe { self.get_unchecked_mut() };
        if let State::Finishing { output, push } = &mut this.state {
            if push.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let out = output.take().expect("output stored while finishing");
            this.state = State::Done;
            return Poll::Ready(out);
        }
        if let Some((target, name, kind, sample, slow_ms)) = this.start.take() {
            let mut core = Core::start(target, name, kind, sample, slow_ms);
            if core.ctx.sampled && core.target.cpu_time() {
                core.cpu = 0;
            }
            this.core = Some(core);
            this.state = State::Running;
        }
        let Some(core) = this.core.as_mut() else {
            // Polled after completion: let the inner future decide.
            // SAFETY: structural pinning, see above.
            return unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx);
        };
        let prev = replace_span(Some(core.ctx));
        let measure = core.cpu != NO_CPU;
        let cpu0 = if measure { thread_cpu_ns() } else { 0 };
        // SAFETY: structural pinning, see above.
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let polled = catch_unwind(AssertUnwindSafe(|| inner.poll(cx)));
        if measure {
            core.cpu += thread_cpu_ns().saturating_sub(cpu0);
        }
        restore_span(prev);
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => {
                let end = now();
                let error = (this.classify)(&out);
                let status = if error.is_some() {
                    Status::Error
                } else {
                    Status::Success
                };
                this.state = State::Done;
                if let Some(entry) = this.emit(end, status, error, true) {
                    let shared = this
                        .core
                        .as_ref()
                        .map(|c| c.target.with(|local| Arc::clone(&local.shared)));
                    if let Some(shared) = shared {
                        this.state = State::Finishing {
                            output: Some(out),
                            push: Box::pin(push_async(shared, entry)),
                        };
                        // SAFETY: `this` came from a pinned reference.
                        return unsafe { Pin::new_unchecked(this) }.poll(cx);
                    }
                }
                Poll::Ready(out)
            }
            Err(payload) => {
                this.state = State::Done;
                this.emit(now(), Status::Error, Some(panic_info(&*payload)), false);
                resume_unwind(payload)
            }
        }
    }
}

impl<F: Future> Drop for Instrumented<F> {
    fn drop(&mut self) {
        match &mut self.state {
            State::Running => {
                self.state = State::Done;
                self.emit(now(), Status::Cancelled, None, false);
            }
            // Dropping the pending push counts its entry as dropped.
            State::Finishing { .. } => {}
            State::NotStarted | State::Done => {}
        }
    }
}

/// Times a block of code: records on drop, with `label` as its name.
///
/// Joins the current trace (or starts one), like a `#[trace]` call.
///
/// ```
/// use sentinel::{AsyncLogger, SentinelConfig, TimeBlock};
///
/// let logger = AsyncLogger::from_writer(std::io::sink(), SentinelConfig::default()).unwrap();
/// {
///     let mut block = TimeBlock::builder("data_crunching").logger(&logger).start();
///     if let Err(e) = "x".parse::<u32>() {
///         block.fail(&e); // status "error", error_type "ParseIntError"
///     }
/// } // recorded here
/// ```
///
/// A future can be timed the same way with [`TimeBlock::wrap`]. The guard
/// changes this thread's current span, so it is not `Send`: drop it where it
/// was created.
#[must_use = "the block is recorded when the guard drops"]
pub struct TimeBlock {
    span: SyncSpan,
    error: Option<ErrorInfo>,
    _not_send: std::marker::PhantomData<*const ()>,
}

impl fmt::Debug for TimeBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimeBlock")
            .field("label", &self.span.core.name)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl TimeBlock {
    /// Starts timing `label` on the default logger.
    pub fn new(label: impl Into<Cow<'static, str>>) -> Self {
        TimeBlock::builder(label).start()
    }

    /// Options: logger, sampling, slow threshold.
    pub fn builder(label: impl Into<Cow<'static, str>>) -> TimeBlockBuilder {
        TimeBlockBuilder {
            label: label.into(),
            logger: None,
            sample: 1.0,
            slow_ms: f64::INFINITY,
        }
    }

    /// Marks the block failed: `status: "error"`, `error_type` = the type name
    /// of `err` without its module path, `error` = its `Display`.
    pub fn fail<E: fmt::Display + ?Sized>(&mut self, err: &E) {
        self.error = Some(ErrorInfo {
            type_name: Cow::Borrowed(std::any::type_name::<E>()),
            message: err.to_string(),
        });
    }

    /// Marks the block failed with an explicit type name and message.
    pub fn fail_with(
        &mut self,
        error_type: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) {
        self.error = Some(ErrorInfo {
            type_name: error_type.into(),
            message: message.into(),
        });
    }

    /// The span this block opened (its trace and span ids).
    pub fn context(&self) -> SpanContext {
        self.span.core.ctx
    }

    /// Records the block now (dropping it does the same).
    pub fn finish(self) {}
}

impl Drop for TimeBlock {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return; // SyncSpan's own drop records the panic.
        }
        let error = self.error.take();
        let status = if error.is_some() {
            Status::Error
        } else {
            Status::Success
        };
        self.span.end(status, error);
    }
}

/// Options for a [`TimeBlock`].
#[derive(Debug)]
#[must_use = "call `start` to open the block"]
pub struct TimeBlockBuilder {
    label: Cow<'static, str>,
    logger: Option<AsyncLogger>,
    sample: f64,
    slow_ms: f64,
}

impl TimeBlockBuilder {
    /// Writes to `logger` instead of the default logger.
    pub fn logger(mut self, logger: &AsyncLogger) -> Self {
        self.logger = Some(logger.clone());
        self
    }

    /// Keeps a new trace with probability `p` (default 1). Ignored when the
    /// block joins an existing trace, whose root already decided.
    pub fn sample(mut self, p: f64) -> Self {
        self.sample = p;
        self
    }

    /// Adds `"slow": true` when the block takes longer than `ms` (default: never).
    pub fn slow_ms(mut self, ms: f64) -> Self {
        self.slow_ms = ms;
        self
    }

    /// Opens the block now.
    pub fn start(self) -> TimeBlock {
        TimeBlock {
            span: SyncSpan::begin(
                Target::of(self.logger.as_ref()),
                self.label,
                NameKind::Label,
                self.sample,
                self.slow_ms,
            ),
            error: None,
            _not_send: std::marker::PhantomData,
        }
    }

    /// Times a future instead of a block: the span starts at its first poll
    /// and ends when it completes (`cancelled` if dropped before).
    pub fn wrap<F: Future>(self, fut: F) -> Instrumented<F> {
        Instrumented::new(
            Target::of(self.logger.as_ref()),
            self.label,
            NameKind::Label,
            self.sample,
            self.slow_ms,
            no_error::<F::Output>,
            fut,
        )
    }
}

impl TimeBlock {
    /// Times a future on the default logger; see [`TimeBlockBuilder::wrap`].
    pub fn wrap<F: Future>(label: impl Into<Cow<'static, str>>, fut: F) -> Instrumented<F> {
        TimeBlock::builder(label).wrap(fut)
    }
}
