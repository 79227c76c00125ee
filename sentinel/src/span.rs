//! Spans: the guard behind sync `#[trace]` fns, the future behind async ones,
//! and [`TimeBlock`], all thin fronts over one [`SpanCore`].
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
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::context::{SpanContext, current_span, current_tags, replace_span, restore_span};
use crate::pipeline::AsyncLogger;
use crate::pipeline::staging::Wait;
use crate::record::{ErrorInfo, NameKind};

mod lifecycle;
pub(crate) mod recorded;

pub(crate) use lifecycle::{CpuMode, Outcome, Policy, SpanCore, Target, slow_threshold};
pub use recorded::record;

use crate::tagset::ConstTags;

/// The guard a sync `#[trace]` fn holds: enters the span now, records it when
/// finished (or when dropped, e.g. during a panic).
#[doc(hidden)]
#[derive(Debug)]
pub struct SyncSpan {
    core: SpanCore,
    target: Target,
    prev: Option<SpanContext>,
    outer: recorded::Outer,
    done: bool,
}

impl SyncSpan {
    #[inline]
    fn begin(target: Target, name: Cow<'static, str>, kind: NameKind, policy: Policy) -> Self {
        let core = SpanCore::start(current_span(), name, kind, policy, &target, CpuMode::Whole);
        let prev = replace_span(Some(core.context()));
        let outer = recorded::open(core.context());
        SyncSpan {
            core,
            target,
            prev,
            outer,
            done: false,
        }
    }

    /// Gives the span the constant tags of `#[trace(tags(..))]`.
    #[inline]
    pub fn consts(mut self, consts: &'static ConstTags) -> Self {
        self.core.set_consts(consts);
        self
    }

    /// Starts a span for `name` on the default logger.
    #[inline]
    pub fn start(name: &'static str, sample: f64, slow_ms: f64) -> Self {
        Self::function(Target::Default, name, sample, slow_ms)
    }

    /// Starts a span for `name` on `logger`.
    #[inline]
    pub fn start_on(logger: &AsyncLogger, name: &'static str, sample: f64, slow_ms: f64) -> Self {
        Self::function(Target::of(Some(logger)), name, sample, slow_ms)
    }

    #[inline]
    fn function(target: Target, name: &'static str, sample: f64, slow_ms: f64) -> Self {
        let policy = Policy::new(sample, slow_ms);
        Self::begin(target, Cow::Borrowed(name), NameKind::Function, policy)
    }

    /// Records the span with `error` (`None` for success).
    #[inline]
    pub fn finish(mut self, error: Option<ErrorInfo>) {
        self.end(Outcome::Returned(error));
    }

    /// Records the span as panicked with the panic's message.
    pub fn finish_panic(mut self, payload: &(dyn Any + Send)) {
        self.end(Outcome::panicked(payload));
    }

    #[inline]
    fn end(&mut self, outcome: Outcome) {
        self.done = true;
        recorded::close(self.outer, self.core.values_mut());
        self.core
            .finish(&self.target, outcome, current_tags, Wait::Block);
        restore_span(self.prev);
    }
}

impl Drop for SyncSpan {
    fn drop(&mut self) {
        if !self.done {
            if std::thread::panicking() {
                self.end(Outcome::unwinding());
            } else {
                self.end(Outcome::Returned(None));
            }
        }
    }
}

/// Decides from a call's return value whether it failed.
#[doc(hidden)]
pub type Classify<T> = fn(&T) -> Option<ErrorInfo>;

enum State<T> {
    NotStarted {
        name: Cow<'static, str>,
        kind: NameKind,
        policy: Policy,
    },
    Running(SpanCore),
    /// The call returned but the queue was full: waiting for room.
    Finishing {
        output: Option<T>,
        push: Pin<Box<dyn Future<Output = bool> + Send>>,
    },
    Done,
}

pin_project! {
    /// A future that traces another: a span that starts at the first poll, is
    /// re-entered on every poll (whichever thread polls), measures CPU time only
    /// inside polls, and records `cancelled` if dropped before completion.
    ///
    /// Produced by `#[trace]` on async fns and by [`TimeBlock::wrap`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Instrumented<F: Future> {
        #[pin]
        inner: F,
        target: Target,
        classify: Classify<F::Output>,
        state: State<F::Output>,
    }

    impl<F: Future> PinnedDrop for Instrumented<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // Dropping a pending push (`Finishing`) counts its entry as dropped.
            if let State::Running(core) = this.state {
                core.finish(this.target, Outcome::Cancelled, current_tags, Wait::Never);
                *this.state = State::Done;
            }
        }
    }
}

impl<F: Future> fmt::Debug for Instrumented<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let span = match &self.state {
            State::Running(core) => Some(core),
            _ => None,
        };
        f.debug_struct("Instrumented")
            .field("span", &span)
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
        policy: Policy,
        classify: Classify<F::Output>,
        inner: F,
    ) -> Self {
        Instrumented {
            inner,
            target,
            classify,
            state: State::NotStarted { name, kind, policy },
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
        let policy = Policy::new(sample, slow_ms);
        let name = Cow::Borrowed(name);
        Self::new(
            Target::Default,
            name,
            NameKind::Function,
            policy,
            classify,
            inner,
        )
    }

    /// Gives the span the constant tags of `#[trace(tags(..))]`.
    #[doc(hidden)]
    pub fn consts(mut self, consts: &'static ConstTags) -> Self {
        if let State::NotStarted { policy, .. } = &mut self.state {
            policy.consts = Some(consts);
        }
        self
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
        let (target, policy) = (Target::of(Some(&logger)), Policy::new(sample, slow_ms));
        let name = Cow::Borrowed(name);
        Self::new(target, name, NameKind::Function, policy, classify, inner)
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        match this.state {
            State::Finishing { output, push } => {
                if push.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let out = output.take().expect("output stored while finishing");
                *this.state = State::Done;
                return Poll::Ready(out);
            }
            // Polled after completion: let the inner future decide.
            State::Done => return this.inner.poll(cx),
            State::NotStarted { name, kind, policy } => {
                let core = SpanCore::start(
                    current_span(),
                    std::mem::take(name),
                    *kind,
                    *policy,
                    this.target,
                    CpuMode::Busy,
                );
                *this.state = State::Running(core);
            }
            State::Running(_) => {}
        }
        let State::Running(core) = this.state else {
            unreachable!("started above")
        };
        let prev = replace_span(Some(core.context()));
        let outer = recorded::open(core.context());
        let mark = core.busy_mark();
        let polled = catch_unwind(AssertUnwindSafe(|| this.inner.as_mut().poll(cx)));
        core.add_busy_since(mark);
        recorded::close(outer, core.values_mut());
        restore_span(prev);
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => {
                let outcome = Outcome::Returned((this.classify)(&out));
                let push = core.finish_async(this.target, outcome, current_tags);
                *this.state = State::Done;
                if let Some(push) = push {
                    let mut push: Pin<Box<dyn Future<Output = bool> + Send>> = Box::pin(push);
                    if push.as_mut().poll(cx).is_pending() {
                        *this.state = State::Finishing {
                            output: Some(out),
                            push,
                        };
                        return Poll::Pending;
                    }
                }
                Poll::Ready(out)
            }
            Err(payload) => {
                let outcome = Outcome::panicked(&*payload);
                core.finish(this.target, outcome, current_tags, Wait::Never);
                *this.state = State::Done;
                resume_unwind(payload)
            }
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
            .field("label", &self.span.core.name())
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
            policy: Policy::DEFAULT,
        }
    }

    /// Marks the block failed: `status: "error"`, `error_type` = the type name
    /// of `err` without its module path, `error` = its `Display`.
    ///
    /// A wrapper that hides the error's type (`Box<dyn Error>` in any
    /// `Send`/`Sync` form, `anyhow::Error`, `eyre::Report`) is named by the
    /// leading type name of its `Debug` form, never by the wrapper's name.
    pub fn fail<E: fmt::Display + fmt::Debug + ?Sized>(&mut self, err: &E) {
        let type_name = std::any::type_name::<E>();
        let type_name = if crate::error_name::is_error_wrapper(type_name) {
            crate::error_name::debug_type_name(err)
        } else {
            Cow::Borrowed(type_name)
        };
        self.error = Some(ErrorInfo {
            type_name,
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
        self.span.core.context()
    }

    /// Records the block now (dropping it does the same).
    pub fn finish(self) {}
}

impl Drop for TimeBlock {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return; // SyncSpan's own drop records the panic.
        }
        self.span.end(Outcome::Returned(self.error.take()));
    }
}

/// Options for a [`TimeBlock`].
#[derive(Debug)]
#[must_use = "call `start` to open the block"]
pub struct TimeBlockBuilder {
    label: Cow<'static, str>,
    logger: Option<AsyncLogger>,
    policy: Policy,
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
        self.policy.sample = p;
        self
    }

    /// Adds `"slow": true` when the block takes longer than `ms` (default: never).
    pub fn slow_ms(mut self, ms: f64) -> Self {
        self.policy.slow_ns = slow_threshold(ms);
        self
    }

    /// Opens the block now.
    pub fn start(self) -> TimeBlock {
        TimeBlock {
            span: SyncSpan::begin(
                Target::of(self.logger.as_ref()),
                self.label,
                NameKind::Label,
                self.policy,
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
            self.policy,
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
