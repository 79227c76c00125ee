//! Trace context: ids, the current span, and carrying both across threads and
//! tasks.
//!
//! The current span lives in a thread-local slot. Synchronous nesting just
//! works; a `#[trace]` future carries its own context and re-enters it on every
//! poll, whichever worker thread polls it. A task or thread started by the user
//! begins with no context unless asked: wrap its future with
//! [`FutureExt::in_current_context`] or its closure with [`Context::wrap`].
//!
//! ```
//! use sentinel::context::{Context, FutureExt};
//! use sentinel::{AsyncLogger, SentinelConfig};
//!
//! #[sentinel::trace(logger = logger)]
//! async fn handler(logger: &AsyncLogger) {
//!     let trace = sentinel::current_trace_id();
//!     assert!(trace.is_some());
//!     // The spawned task joins this trace because it was asked to.
//!     let child = tokio::spawn(async move { sentinel::current_trace_id() }.in_current_context());
//!     assert_eq!(child.await.unwrap(), trace);
//!     // A thread too.
//!     let t = std::thread::spawn(Context::current().wrap(sentinel::current_trace_id));
//!     assert_eq!(t.join().unwrap(), trace);
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let logger = AsyncLogger::from_writer(std::io::sink(), SentinelConfig::default()).unwrap();
//! handler(&logger).await;
//! # }
//! ```

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use crate::propagation::TraceState;
use crate::tagset::TagSet;

macro_rules! hex_id {
    ($(#[$meta:meta])* $name:ident($int:ty), $digits:literal, $random:expr, $parse:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub $int);

        impl $name {
            /// A fresh random id (never zero).
            #[inline]
            pub fn random() -> Self {
                $name($random)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:0width$x}", self.0, width = $digits)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:0width$x})", stringify!($name), self.0, width = $digits)
            }
        }

        impl FromStr for $name {
            type Err = crate::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let parse: fn(&str) -> Option<$int> = $parse;
                parse(s)
                    .filter(|v| *v != 0)
                    .map($name)
                    .ok_or_else(|| crate::Error::InvalidId(s.to_owned()))
            }
        }
    };
}

hex_id! {
    /// Identifies one trace: 128 random bits, written as 32 lowercase hex
    /// digits, as W3C Trace Context and OpenTelemetry define a trace id.
    ///
    /// Parsing accepts 32 hex digits, and also the 16 that files written
    /// before trace ids were widened hold; such an id keeps its value, with
    /// the upper 64 bits zero (and then displays with 16 leading zeros, the
    /// way OpenTelemetry widens a 64-bit trace id). Zero is never a valid id.
    TraceId(u128), 32, random_nonzero_u128(), |s| match s.len() {
        16 | 32 => parse_hex(s),
        _ => None,
    }
}

impl TraceId {
    /// The high and low 64 bits.
    #[inline]
    pub(crate) fn halves(self) -> [u64; 2] {
        [(self.0 >> 64) as u64, self.0 as u64]
    }
}

hex_id! {
    /// Identifies one span within a trace: 64 random bits, written as 16
    /// lowercase hex digits. Parsing accepts exactly 16 hex digits; zero is
    /// never a valid id.
    SpanId(u64), 16, random_nonzero(), |s| match s.len() {
        // 16 hex digits always fit.
        16 => parse_hex(s).map(|v| v as u64),
        _ => None,
    }
}

/// Hex digits (either case, at most 32) as a number; `None` for anything
/// else, a sign included (which `from_str_radix` would accept).
fn parse_hex(s: &str) -> Option<u128> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(s, 16).ok()
}

/// The identity of one active span, as seen by its children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanContext {
    /// The trace this span belongs to.
    pub trace_id: TraceId,
    /// This span.
    pub span_id: SpanId,
    /// Whether the trace's root decided to keep this trace.
    pub sampled: bool,
}

// Every access below uses `try_with`: spans may start and end inside another
// thread-local's destructor, after these slots are gone. Then there is no
// current span and there are no tags, and nothing panics (a panic in a
// thread-local destructor aborts the process).
thread_local! {
    static CURRENT: Cell<Option<SpanContext>> = const { Cell::new(None) };
    static TAGS: Cell<Option<Arc<TagSet>>> = const { Cell::new(None) };
    // Only `Context::attach` touches this slot, never a span: spans nested
    // in a remote context leave it in place.
    static TRACESTATE: Cell<Option<TraceState>> = const { Cell::new(None) };
    static RNG: Cell<u64> = const { Cell::new(0) };
}

/// The trace id of the active span, or `None` outside any span.
pub fn current_trace_id() -> Option<TraceId> {
    current_span().map(|s| s.trace_id)
}

/// The span id of the active span, or `None` outside any span.
pub fn current_span_id() -> Option<SpanId> {
    current_span().map(|s| s.span_id)
}

/// The active span, or `None` outside any span.
#[inline]
pub fn current_span() -> Option<SpanContext> {
    CURRENT.try_with(Cell::get).ok().flatten()
}

/// Makes `span` the active span until the returned value is passed to
/// [`restore_span`]; used by span guards and the tracing bridge.
#[inline]
pub(crate) fn replace_span(span: Option<SpanContext>) -> Option<SpanContext> {
    CURRENT.try_with(|c| c.replace(span)).ok().flatten()
}

#[inline]
pub(crate) fn restore_span(previous: Option<SpanContext>) {
    let _ = CURRENT.try_with(|c| c.set(previous));
}

/// The tags in scope on this thread.
#[inline]
pub(crate) fn current_tags() -> Option<Arc<TagSet>> {
    TAGS.try_with(|t| {
        let tags = t.take();
        let copy = tags.clone();
        t.set(tags);
        copy
    })
    .ok()
    .flatten()
}

#[inline]
pub(crate) fn replace_tags(tags: Option<Arc<TagSet>>) -> Option<Arc<TagSet>> {
    TAGS.try_with(|t| t.replace(tags)).ok().flatten()
}

fn current_tracestate() -> Option<TraceState> {
    TRACESTATE
        .try_with(|t| {
            let state = t.take();
            let copy = state.clone();
            t.set(state);
            copy
        })
        .ok()
        .flatten()
}

fn replace_tracestate(state: Option<TraceState>) -> Option<TraceState> {
    TRACESTATE.try_with(|t| t.replace(state)).ok().flatten()
}

/// A non-zero pseudo-random u64 from a per-thread wyrand generator.
///
/// Ids need uniqueness, not secrecy; wyrand costs about a nanosecond and each
/// thread seeds its own state from `RandomState` (OS entropy at process start).
#[inline]
pub(crate) fn random_nonzero() -> u64 {
    RNG.try_with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed();
        }
        let (s, v) = wyrand(s);
        state.set(s);
        v
    })
    .unwrap_or_else(|_| shared_random_nonzero())
}

/// A non-zero pseudo-random u128 (two generator steps, one thread-local
/// access): a trace id.
#[inline]
fn random_nonzero_u128() -> u128 {
    RNG.try_with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed();
        }
        let (s, hi) = wyrand(s);
        let (s, lo) = wyrand(s);
        state.set(s);
        (u128::from(hi) << 64) | u128::from(lo)
    })
    .unwrap_or_else(|_| {
        (u128::from(shared_random_nonzero()) << 64) | u128::from(shared_random_nonzero())
    })
}

/// One wyrand step from state `s`: the next state and a non-zero output.
#[inline]
fn wyrand(mut s: u64) -> (u64, u64) {
    loop {
        s = s.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(s).wrapping_mul(u128::from(s ^ 0xe703_7ed1_a0b4_28db));
        let v = ((t >> 64) as u64) ^ (t as u64);
        if v != 0 {
            return (s, v);
        }
    }
}

/// For a thread whose generator is gone (during thread-local teardown): one
/// generator shared by the process, seeded on first use.
#[cold]
fn shared_random_nonzero() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut s = STATE.load(Ordering::Relaxed);
    loop {
        let current = if s == 0 { seed() } else { s };
        let (next, v) = wyrand(current);
        match STATE.compare_exchange_weak(s, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return v,
            Err(actual) => s = actual,
        }
    }
}

/// A uniform float in [0, 1) for sampling decisions.
#[inline]
pub(crate) fn random_unit() -> f64 {
    (random_nonzero() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn seed() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u64(crate::clock::monotonic_ns());
    // A stack address differs between live threads; unlike
    // `thread::current()` it is there during thread-local teardown too.
    let local = 0u8;
    h.write_usize(std::ptr::addr_of!(local) as usize);
    h.finish() | 1
}

/// A snapshot of everything that flows with the code: the active span, the
/// tags in scope and, in a context that came with a request, the request's
/// `tracestate` (see [`Context::remote`]).
///
/// Take one with [`Context::current`] and re-enter it elsewhere, typically in
/// a spawned thread ([`Context::wrap`]) or task
/// ([`FutureExt::in_current_context`]).
#[derive(Clone, Default)]
pub struct Context {
    span: Option<SpanContext>,
    tags: Option<Arc<TagSet>>,
    tracestate: Option<TraceState>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("span", &self.span)
            .field("tags", &self.tags.as_deref())
            .field("tracestate", &self.tracestate.as_ref().map(|t| &t.value))
            .finish()
    }
}

impl Context {
    /// The context active on this thread right now.
    pub fn current() -> Self {
        Context {
            span: current_span(),
            tags: current_tags(),
            tracestate: current_tracestate(),
        }
    }

    /// A context with the given span and `tracestate`, and the tags in
    /// scope here.
    pub(crate) fn with_parts(span: Option<SpanContext>, tracestate: Option<TraceState>) -> Self {
        Context {
            span,
            tags: current_tags(),
            tracestate,
        }
    }

    pub(crate) fn tracestate_part(&self) -> Option<&TraceState> {
        self.tracestate.as_ref()
    }

    /// The span in this context, if any.
    pub fn span(&self) -> Option<SpanContext> {
        self.span
    }

    /// A context whose active span is `span` and which has no tags; the
    /// tracing bridge uses this to make `#[trace]` children of `tracing`
    /// spans.
    pub fn with_span(span: Option<SpanContext>) -> Self {
        Context {
            span,
            tags: None,
            tracestate: None,
        }
    }

    /// Makes this context active on the current thread until the guard drops.
    pub fn attach(&self) -> ContextGuard {
        ContextGuard {
            span: replace_span(self.span),
            tags: replace_tags(self.tags.clone()),
            tracestate: replace_tracestate(self.tracestate.clone()),
            _not_send: std::marker::PhantomData,
        }
    }

    /// Runs `f` with this context active.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _guard = self.attach();
        f()
    }

    /// Wraps a closure so that it runs in this context, wherever it is called
    /// (for example in `std::thread::spawn`).
    pub fn wrap<R>(self, f: impl FnOnce() -> R) -> impl FnOnce() -> R {
        move || self.run(f)
    }
}

/// Restores the previous context when dropped. Returned by [`Context::attach`].
#[must_use = "the context is detached again when the guard drops"]
pub struct ContextGuard {
    span: Option<SpanContext>,
    tags: Option<Arc<TagSet>>,
    tracestate: Option<TraceState>,
    // The guard restores thread-local state, so it must drop on the thread
    // that created it.
    _not_send: std::marker::PhantomData<*const ()>,
}

impl fmt::Debug for ContextGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextGuard").finish_non_exhaustive()
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        restore_span(self.span);
        replace_tags(self.tags.take());
        replace_tracestate(self.tracestate.take());
    }
}

/// Something a future can carry and re-enter on every poll: a whole
/// [`Context`], or [`Tags`](crate::Tags) merged over the tags in scope.
///
/// Sealed: implemented by sentinel for exactly those two.
pub trait Scope: sealed::Sealed {
    /// Restores what was active before when dropped.
    type Guard;

    /// Makes `self` active on this thread until the guard drops.
    fn enter_scope(&self) -> Self::Guard;
}

pub(crate) mod sealed {
    /// Keeps [`Scope`](super::Scope) implemented only inside sentinel.
    pub trait Sealed {}
}

impl sealed::Sealed for Context {}

impl Scope for Context {
    type Guard = ContextGuard;

    fn enter_scope(&self) -> ContextGuard {
        self.attach()
    }
}

pin_project! {
    /// Carries a [`Scope`] with a future: entered on every poll, left after.
    ///
    /// Created by [`FutureExt::in_current_context`] and
    /// [`FutureExt::with_context`] (carrying a [`Context`]), and by
    /// [`TagsFutureExt::with_tags`](crate::tags::TagsFutureExt::with_tags)
    /// (carrying [`Tags`](crate::Tags), as [`WithTags`](crate::tags::WithTags)).
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct WithContext<F, S = Context> {
        #[pin]
        inner: F,
        scope: S,
    }
}

impl<F, S: Scope> WithContext<F, S> {
    /// Carries `scope` with `inner`.
    pub(crate) fn new(inner: F, scope: S) -> Self {
        WithContext { inner, scope }
    }
}

impl<F: Future, S: Scope> Future for WithContext<F, S> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _guard = this.scope.enter_scope();
        this.inner.poll(cx)
    }
}

/// Extension methods that make futures carry trace context.
pub trait FutureExt: Future + Sized {
    /// Captures the current context (span and tags) and re-enters it on every
    /// poll of `self`: use it on futures handed to `tokio::spawn` so that their
    /// spans join the caller's trace.
    fn in_current_context(self) -> WithContext<Self> {
        self.with_context(Context::current())
    }

    /// Runs `self` inside `context` on every poll.
    fn with_context(self, context: Context) -> WithContext<Self> {
        WithContext::new(self, context)
    }
}

impl<F: Future> FutureExt for F {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_32_and_span_ids_16_lowercase_hex_digits() {
        assert_eq!(TraceId(0xab).to_string(), format!("{}ab", "0".repeat(30)));
        assert_eq!(SpanId(0xab).to_string(), "00000000000000ab");
        for _ in 0..1000 {
            let t = TraceId::random().to_string();
            let s = SpanId::random().to_string();
            assert_eq!((t.len(), s.len()), (32, 16));
            for id in [t, s] {
                assert!(
                    id.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                    "{id}"
                );
            }
        }
    }

    #[test]
    fn random_trace_ids_use_both_halves() {
        // Neither half is a constant: a trace id is 128 random bits, not a
        // 64-bit id zero-extended.
        let ids: Vec<u128> = (0..64).map(|_| TraceId::random().0).collect();
        assert!(ids.iter().any(|id| (id >> 64) != (ids[0] >> 64)));
        assert!(ids.iter().any(|id| (*id as u64) != (ids[0] as u64)));
        assert!(ids.iter().all(|id| *id != 0));
    }

    #[test]
    fn ids_parse_back_and_reject_bad_text() {
        let id = TraceId::random();
        assert_eq!(id.to_string().parse::<TraceId>().unwrap(), id);
        let id = SpanId::random();
        assert_eq!(id.to_string().parse::<SpanId>().unwrap(), id);
        for bad in [
            "",
            "xyz",
            "0000000000000000",
            "00000000000000000000000000000000",
            "+123456789abcdef",
            "4bf92f3577b34da6a3ce929d0e0e473",
            "4bf92f3577b34da6a3ce929d0e0e47367",
            "4bf92f3577b34da6-3ce929d0e0e4736",
        ] {
            assert!(bad.parse::<TraceId>().is_err(), "{bad:?}");
        }
        for bad in [
            "0000000000000000",
            "00000000000000001",
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ] {
            assert!(bad.parse::<SpanId>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sixteen_digit_trace_ids_from_older_files_still_parse() {
        let id: TraceId = "9f86d081884c7d65".parse().unwrap();
        assert_eq!(id, TraceId(0x9f86_d081_884c_7d65));
        assert_eq!(id.to_string(), "00000000000000009f86d081884c7d65");
        assert_eq!(id.to_string().parse::<TraceId>().unwrap(), id);
    }

    #[test]
    fn random_ids_differ() {
        let ids: std::collections::HashSet<u64> = (0..10_000).map(|_| random_nonzero()).collect();
        assert_eq!(ids.len(), 10_000);
    }

    #[test]
    fn random_unit_stays_in_range() {
        for _ in 0..10_000 {
            let v = random_unit();
            assert!((0.0..1.0).contains(&v));
        }
    }

    #[test]
    fn attached_context_is_restored_on_drop() {
        assert_eq!(current_span(), None);
        let ctx = Context::with_span(Some(SpanContext {
            trace_id: TraceId(1),
            span_id: SpanId(2),
            sampled: true,
        }));
        {
            let _g = ctx.attach();
            assert_eq!(current_trace_id(), Some(TraceId(1)));
            assert_eq!(current_span_id(), Some(SpanId(2)));
        }
        assert_eq!(current_span(), None);
    }
}
