//! The background task: drains the queue into batches, sends them one at a time and in
//! order, retries what may succeed later, and answers flush and shutdown requests.
//!
//! The worker is generic over the function that makes one attempt at sending a batch, so its
//! timing rules are tested with a stub and tokio's paused clock.
//!
//! While one batch is in flight the worker keeps draining the queue into the next one, so
//! encoding overlaps with the network. At most one finished batch waits behind the one in
//! flight; beyond that the queue itself (bounded) holds events back.
//!
//! Waking a parked task costs far more than enqueueing, so the worker only waits on the queue
//! itself when it holds nothing. With a partial batch pending it waits for the batch's
//! deadline or for [`Shared::wake`], which producers signal once a full batch is queued and
//! which flush, shutdown and the last handle's drop signal too: one wake per batch instead of
//! one per event.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::backpressure::SendRate;
use crate::batch::{Batch, Batcher};
use crate::event::Event;
use crate::health::{Health, HealthCell};
use crate::spool::{Replays, Spool};
use crate::stats::{Counters, DeliveryFailure, FailureKind, FlushReport};

/// Messages from client handles to the worker, in one FIFO queue so a flush marker follows
/// every event enqueued before it.
#[derive(Debug)]
pub(crate) enum Msg {
    Event(Event),
    Flush(oneshot::Sender<FlushReport>),
    /// Stop; with a spool, what is still in memory at the deadline goes to the spool.
    Shutdown(oneshot::Sender<FlushReport>, Instant),
}

/// How long before a shutdown's deadline the worker stops waiting on the server and writes
/// what it still holds to the spool.
const SPOOL_SHUTDOWN_MARGIN: Duration = Duration::from_millis(250);

/// The result of one attempt at sending a batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Attempt {
    /// 2xx: the server took the batch. `accepted` is already clamped to the batch; `warning`
    /// says what was wrong with an answer that had to be clamped or could not be read.
    Accepted {
        status: u16,
        accepted: u64,
        warning: Option<String>,
    },
    /// 408, 429, 5xx and connection errors: worth another try.
    Retry {
        status: Option<u16>,
        retry_after: Option<Duration>,
        reason: String,
    },
    /// No answer in time after the request went out: the server may have stored the batch.
    /// Retried (the copy may be a duplicate), with a longer timeout.
    TimedOut { reason: String },
    /// Anything else: retrying cannot help.
    Reject { status: Option<u16>, reason: String },
}

/// Longest wait a `Retry-After` answer can impose; longer values are cut to this.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// Longest per-attempt timeout that retries of a timed-out batch grow to (unless the
/// configured timeout is longer already).
pub(crate) const MAX_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Factor by which each further attempt's timeout grows.
const TIMEOUT_GROWTH: u32 = 3;

/// Timeout of attempt number `attempt` (1-based): the configured timeout, times 3 for each
/// earlier attempt, capped at [`MAX_ATTEMPT_TIMEOUT`] (or the configured timeout, if longer).
pub(crate) fn attempt_timeout(base: Duration, attempt: u32) -> Duration {
    let factor = TIMEOUT_GROWTH.saturating_pow(attempt.saturating_sub(1));
    base.saturating_mul(factor)
        .min(MAX_ATTEMPT_TIMEOUT.max(base))
}

/// Timing rules of the worker.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) batch_size: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) min_request_interval: Duration,
    pub(crate) max_retries: u32,
    pub(crate) max_retry_elapsed: Duration,
    /// Timeout of a batch's first attempt; later ones grow (see [`attempt_timeout`]).
    pub(crate) timeout: Duration,
}

/// State shared between the worker and the client handles.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) counters: Counters,
    pub(crate) rate: SendRate,
    pub(crate) health: HealthCell,
    /// Wakes the worker while it holds a partial batch (see the module docs).
    pub(crate) wake: Notify,
    /// Events in the worker's partial batch, so producers know when a batch is complete.
    pending: AtomicUsize,
    /// Set while the worker holds a partial batch and waits on `wake`: producers notify only
    /// then, rather than touching `wake` on every enqueue of a burst.
    waiting: AtomicBool,
    batch_size: usize,
    /// Set by a failed attempt, cleared by a delivered one: with a spool, batches waiting
    /// behind a failing one go to the spool.
    failing: AtomicBool,
    /// Wakes the worker when an attempt fails or a backoff starts, so it can move batches
    /// to the spool or end a shutdown.
    attempt_news: Notify,
    /// Set while the batch in flight waits out a backoff delay, between two attempts.
    backing_off: AtomicBool,
}

impl Shared {
    pub(crate) fn new(batch_size: usize, initial_send_seconds_per_log: f64) -> Self {
        Shared {
            counters: Counters::default(),
            rate: SendRate::new(initial_send_seconds_per_log),
            health: HealthCell::default(),
            wake: Notify::new(),
            pending: AtomicUsize::new(0),
            waiting: AtomicBool::new(false),
            batch_size,
            failing: AtomicBool::new(false),
            attempt_news: Notify::new(),
            backing_off: AtomicBool::new(false),
        }
    }

    fn attempt_failed(&self) {
        self.failing.store(true, Ordering::Release);
        self.attempt_news.notify_one();
    }

    /// Events waiting for a batch: queued, plus held in the worker's partial batch.
    pub(crate) fn backlog(&self, tx: &mpsc::Sender<Msg>) -> usize {
        (tx.max_capacity() - tx.capacity()) + self.pending.load(Ordering::Relaxed)
    }

    /// Producer side, after an event was queued: wakes the worker once a full batch is
    /// pending (queued plus held by the worker). Only reads a flag unless the worker waits.
    pub(crate) fn enqueued(&self, tx: &mpsc::Sender<Msg>) {
        // The flag first: seeing it set makes the worker's `pending` store visible.
        if self.waiting.load(Ordering::SeqCst) {
            let len = tx.max_capacity() - tx.capacity();
            if len + self.pending.load(Ordering::Acquire) >= self.batch_size
                && self.waiting.swap(false, Ordering::SeqCst)
            {
                self.wake.notify_one();
            }
        }
    }
}

enum Outcome {
    Delivered {
        events: usize,
        accepted: u64,
        status: u16,
        retries: u32,
        /// An earlier attempt timed out, so the server may hold a second copy.
        after_timeout: bool,
    },
    /// 413 for a batch of several events: send the halves instead, in order.
    Split(Batch, Batch),
    GaveUp(Batch, DeliveryFailure),
}

enum Ready {
    Batch(Batch),
    Flush(oneshot::Sender<FlushReport>),
}

type InFlight<F> = Pin<Box<dyn Future<Output = (F, Option<Instant>, Outcome)> + Send>>;

struct State {
    batcher: Batcher,
    /// Reused buffer for bulk receives.
    buf: Vec<Msg>,
    ready: VecDeque<Ready>,
    ready_batches: usize,
    report: FlushReport,
    shutdown_replies: Vec<oneshot::Sender<FlushReport>>,
    channel_done: bool,
    spool: Option<Spool>,
    /// With a spool: when to stop waiting on the server during a shutdown.
    spool_cutoff: Option<Instant>,
}

impl State {
    fn cut(&mut self) {
        if let Some(batch) = self.batcher.take() {
            self.ready.push_back(Ready::Batch(batch));
            self.ready_batches += 1;
        }
    }

    fn can_receive(&self) -> bool {
        !self.channel_done && self.ready_batches == 0
    }

    /// Takes what is already queued, without waiting and without select! per event.
    ///
    /// Receiving in bulk returns the queue's permits once per call rather than once per
    /// event (each return takes the semaphore's lock). The no-op waker keeps this from
    /// arming a wake-up: only an empty worker waits on the queue (see the module docs).
    fn drain(&mut self, rx: &mut mpsc::Receiver<Msg>, shared: &Shared) {
        // The queue only shrinks here, so its length now is a peak since the last drain.
        shared.counters.observe_queue_len(rx.len());
        let mut cx = Context::from_waker(Waker::noop());
        let mut buf = std::mem::take(&mut self.buf);
        while self.can_receive() {
            let limit = self.batcher.room().max(1);
            match rx.poll_recv_many(&mut cx, &mut buf, limit) {
                Poll::Ready(0) => self.handle(None, rx, shared),
                Poll::Ready(_) => {
                    // One shared-counter update per receive, not per event.
                    let events = buf.iter().filter(|m| matches!(m, Msg::Event(_))).count();
                    Counters::add(&shared.counters.dequeued, events as u64);
                    for msg in buf.drain(..) {
                        self.take(msg, rx);
                    }
                }
                // Empty, or out of tokio's cooperative budget: one last unbudgeted look.
                Poll::Pending => match rx.try_recv() {
                    Ok(msg) => self.handle(Some(msg), rx, shared),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => self.handle(None, rx, shared),
                },
            }
        }
        self.buf = buf;
    }

    fn handle(&mut self, msg: Option<Msg>, rx: &mut mpsc::Receiver<Msg>, shared: &Shared) {
        match msg {
            Some(msg) => {
                if matches!(msg, Msg::Event(_)) {
                    Counters::add(&shared.counters.dequeued, 1);
                }
                self.take(msg, rx);
            }
            None => {
                self.channel_done = true;
                self.cut();
            }
        }
    }

    /// Acts on one message; the caller has counted it.
    fn take(&mut self, msg: Msg, rx: &mut mpsc::Receiver<Msg>) {
        match msg {
            Msg::Event(event) => {
                if self.batcher.push(&event) {
                    self.cut();
                }
            }
            Msg::Flush(reply) => {
                self.cut();
                self.ready.push_back(Ready::Flush(reply));
            }
            Msg::Shutdown(reply, deadline) => {
                // Refuse new messages; those already queued are still delivered.
                rx.close();
                self.shutdown_replies.push(reply);
                if self.spool.is_some() {
                    let cutoff = deadline
                        .checked_sub(SPOOL_SHUTDOWN_MARGIN)
                        .unwrap_or(deadline);
                    self.spool_cutoff = Some(self.spool_cutoff.map_or(cutoff, |c| c.min(cutoff)));
                }
            }
        }
    }

    fn apply(&mut self, outcome: Outcome, shared: &Shared) {
        let c = &shared.counters;
        match outcome {
            Outcome::Delivered {
                events,
                accepted,
                status,
                retries,
                after_timeout,
            } => {
                Counters::add(&c.sent, events as u64);
                Counters::add(&c.accepted, accepted);
                self.report.sent += events as u64;
                self.report.accepted += accepted;
                self.report.delivered_batches += 1;
                self.report.retries += u64::from(retries);
                self.report.last_status = Some(status);
                if after_timeout {
                    Counters::add(&c.unknown_outcome_events, events as u64);
                    self.report.unknown_outcome_events += events as u64;
                }
            }
            Outcome::Split(first, second) => {
                // In front of whatever was cut after the batch, so the order is kept.
                self.ready.push_front(Ready::Batch(second));
                self.ready.push_front(Ready::Batch(first));
                self.ready_batches += 2;
            }
            Outcome::GaveUp(batch, failure) => self.give_up(batch, failure, shared),
        }
    }

    /// The one place every batch the worker cannot deliver goes (rejected, too large, or out
    /// of retry budget): counted, logged as a `tracing` error, and reported by the next flush.
    ///
    /// With a spool, a batch the server may take later (it was unreachable, failing, busy or
    /// slow) goes to the spool instead.
    fn give_up(&mut self, batch: Batch, failure: DeliveryFailure, shared: &Shared) {
        if self.spool.is_some()
            && matches!(
                failure.kind,
                FailureKind::RetryBudget | FailureKind::Unknown
            )
        {
            tracing::debug!(
                target: "master_log_client",
                count = failure.events,
                status = failure.status,
                reason = %failure.reason,
                "spooling batch",
            );
            if failure.kind == FailureKind::Unknown {
                // The server may have stored it: its replay may be a second copy.
                Counters::add(
                    &shared.counters.unknown_outcome_events,
                    failure.events as u64,
                );
                self.report.unknown_outcome_events += failure.events as u64;
            }
            self.spool_batch(batch);
            return;
        }
        let c = &shared.counters;
        Counters::add(&c.failed_batches, 1);
        Counters::add(&c.failed_events, failure.events as u64);
        if failure.kind == FailureKind::Unknown {
            Counters::add(&c.unknown_outcome_events, failure.events as u64);
            self.report.unknown_outcome_events += failure.events as u64;
        }
        tracing::error!(
            target: "master_log_client",
            count = failure.events,
            status = failure.status,
            attempts = failure.attempts,
            kind = ?failure.kind,
            reason = %failure.reason,
            "giving up on batch",
        );
        self.report.retries += u64::from(failure.attempts.saturating_sub(1));
        self.report.record_failure(failure);
        drop(batch);
    }

    fn spool_batch(&mut self, batch: Batch) {
        if let Some(spool) = &self.spool {
            self.report.spooled_events += batch.len as u64;
            spool.store(batch);
        }
    }

    /// Sends every batch waiting to be sent to the spool; flush markers keep their place.
    fn divert(&mut self) {
        let ready = std::mem::take(&mut self.ready);
        for item in ready {
            match item {
                Ready::Batch(batch) => self.spool_batch(batch),
                flush @ Ready::Flush(_) => self.ready.push_back(flush),
            }
        }
        self.ready_batches = 0;
    }

    /// Answers a flush once the spool holds what was handed to it before.
    async fn reply_synced(&mut self, reply: oneshot::Sender<FlushReport>) {
        if let Some(spool) = &self.spool {
            spool.sync().await;
        }
        self.reply(reply);
    }

    fn reply(&mut self, reply: oneshot::Sender<FlushReport>) {
        if let Err(unread) = reply.send(std::mem::take(&mut self.report)) {
            // The flush was cancelled or timed out: keep its counts for the next one.
            let mut kept = unread;
            kept.merge(std::mem::take(&mut self.report));
            self.report = kept;
        }
    }
}

/// Runs the worker until every handle is gone (or a shutdown arrives) and the queue is empty.
///
/// With a spool, batches read back from it are sent too, alternating with new batches when
/// both wait (see [`crate::spool`]).
///
/// `done` is dropped on return, which tells waiting `shutdown` calls that the worker ended.
pub(crate) async fn run<F, Fut>(
    mut rx: mpsc::Receiver<Msg>,
    send: F,
    settings: Settings,
    shared: Arc<Shared>,
    spool: Option<(Spool, Replays)>,
    done: watch::Sender<()>,
) where
    F: FnMut(Batch, Duration) -> Fut + Send + 'static,
    Fut: Future<Output = Attempt> + Send,
{
    let (spool, mut replays) = spool.unzip();
    let mut state = State {
        batcher: Batcher::new(settings.batch_size, settings.flush_interval),
        buf: Vec::new(),
        ready: VecDeque::new(),
        ready_batches: 0,
        report: FlushReport::default(),
        shutdown_replies: Vec::new(),
        channel_done: false,
        spool,
        spool_cutoff: None,
    };
    // `idle` holds the send function whenever no batch is in flight.
    let mut idle = Some(send);
    let mut in_flight: Option<InFlight<F>> = None;
    // The batch in flight, kept to spool it if a shutdown's deadline cuts it off.
    let mut in_flight_batch: Option<Batch> = None;
    let mut in_flight_replayed = false;
    // A batch read back from the spool, waiting for its turn.
    let mut replay: Option<Batch> = None;
    let mut replay_next = true;
    let mut last_start: Option<Instant> = None;
    let mut seed = jitter_seed();

    loop {
        state.drain(&mut rx, &shared);
        while let Some(mut send) = idle.take() {
            if matches!(state.ready.front(), Some(Ready::Flush(_))) {
                if let Some(Ready::Flush(reply)) = state.ready.pop_front() {
                    state.reply_synced(reply).await;
                }
                idle = Some(send);
                continue;
            }
            let live = matches!(state.ready.front(), Some(Ready::Batch(_)));
            let replayed = replay.is_some() && !state.channel_done && (replay_next || !live);
            let batch = if replayed {
                replay.take()
            } else if let Some(Ready::Batch(batch)) = state.ready.pop_front() {
                state.ready_batches -= 1;
                Some(batch)
            } else {
                None
            };
            let Some(batch) = batch else {
                idle = Some(send);
                break;
            };
            replay_next = !replayed;
            in_flight_replayed = replayed;
            // A new batch that fails once goes to the spool; the spool's oldest batch is the
            // one retried, so an outage keeps everything but the queue on disk.
            let spill = state.spool.is_some() && !replayed;
            in_flight_batch = state.spool.is_some().then(|| batch.clone());
            let shared = Arc::clone(&shared);
            seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut last = last_start;
            in_flight = Some(Box::pin(async move {
                let outcome =
                    deliver(&mut send, batch, &settings, &shared, &mut last, seed, spill).await;
                (send, last, outcome)
            }));
        }
        let failing = in_flight.is_some() && shared.failing.load(Ordering::Acquire);
        // While a batch read back from the spool waits for the server to answer again, newer
        // batches join it in the spool, in order. (A new batch in flight leaves the spool
        // after its first attempt, so batches behind it just wait.)
        let probing = failing && in_flight_replayed;
        if probing {
            state.divert();
        }
        if in_flight_replayed {
            // Everything logged before these flushes has been answered or spooled.
            while matches!(state.ready.front(), Some(Ready::Flush(_))) {
                if let Some(Ready::Flush(reply)) = state.ready.pop_front() {
                    state.reply_synced(reply).await;
                }
            }
        }
        // A replay waiting to retry need not finish for a shutdown: its batch is still in
        // the spool. (One whose request is out may be answered: that is waited for.)
        let abandon_replay = in_flight_replayed && shared.backing_off.load(Ordering::Acquire);
        if state.channel_done
            && (in_flight.is_none() || abandon_replay)
            && state.ready.is_empty()
            && state.batcher.is_empty()
        {
            break;
        }

        shared
            .pending
            .store(state.batcher.pending(), Ordering::Release);
        let deadline = state.batcher.deadline();
        let can_receive = state.can_receive();
        // Only an empty worker waits on the queue itself; see the module docs.
        let wait_on_queue = can_receive && state.batcher.is_empty();
        let wait_for_wake = can_receive && !wait_on_queue;
        if wait_for_wake {
            shared.waiting.store(true, Ordering::SeqCst);
            // A producer that completed the batch before it saw the flag did not notify. (One
            // that races past both checks leaves the batch to its deadline at worst: the next
            // enqueue sees the flag.)
            if rx.len() + state.batcher.pending() >= settings.batch_size {
                shared.waiting.store(false, Ordering::Relaxed);
                continue;
            }
        }
        let want_replay = replays.is_some() && replay.is_none() && !state.channel_done;
        let watch_attempts = in_flight_replayed;
        tokio::select! {
            biased;
            (send, last, outcome) = async {
                match in_flight.as_mut() {
                    Some(fut) => fut.await,
                    None => std::future::pending().await,
                }
            } => {
                in_flight = None;
                idle = Some(send);
                last_start = last;
                let batch = in_flight_batch.take();
                if std::mem::take(&mut in_flight_replayed) {
                    settle_replay(&mut state, outcome, &shared);
                } else {
                    drop(batch);
                    state.apply(outcome, &shared);
                }
            }
            () = sleep_until(state.spool_cutoff) => {
                // The shutdown deadline is near: what is still in memory goes to the spool.
                in_flight = None;
                if let Some(batch) = in_flight_batch.take().filter(|_| !in_flight_replayed) {
                    // Its request may have reached the server: a possible duplicate.
                    state.spool_batch(batch);
                }
                while !state.channel_done {
                    state.drain(&mut rx, &shared);
                    state.cut();
                    state.divert();
                }
                state.cut();
                state.divert();
                while let Some(Ready::Flush(reply)) = state.ready.pop_front() {
                    state.reply_synced(reply).await;
                }
                break;
            }
            batch = async {
                match replays.as_mut() {
                    Some(r) => r.recv().await,
                    None => std::future::pending().await,
                }
            }, if want_replay => match batch {
                Some(batch) => replay = Some(batch),
                // The spool thread is gone.
                None => replays = None,
            },
            msg = rx.recv(), if wait_on_queue => {
                shared.counters.observe_queue_len(rx.len() + usize::from(msg.is_some()));
                state.handle(msg, &mut rx, &shared);
            }
            () = shared.wake.notified(), if wait_for_wake => {}
            () = shared.attempt_news.notified(), if watch_attempts => {}
            () = sleep_until(deadline) => {
                // Take what arrived up to now, then send the partial batch.
                state.drain(&mut rx, &shared);
                state.cut();
            }
        }
        shared.waiting.store(false, Ordering::Relaxed);
    }

    // Unsent replays stay in the spool for the next process.
    drop(replays);
    drop(in_flight);
    if let Some(spool) = state.spool.take() {
        spool.close().await;
    }
    let report = std::mem::take(&mut state.report);
    for reply in state.shutdown_replies.drain(..) {
        let _ = reply.send(report.clone());
    }
    drop(done);
}

/// Settles a batch read back from the spool: delivered or refused for good are done with
/// (acknowledged); split, its halves go back to the spool first; one the server may take
/// later stays in the spool.
fn settle_replay(state: &mut State, outcome: Outcome, shared: &Shared) {
    match outcome {
        Outcome::GaveUp(_, failure)
            if matches!(
                failure.kind,
                FailureKind::RetryBudget | FailureKind::Unknown
            ) =>
        {
            if let Some(spool) = &state.spool {
                spool.nack();
            }
        }
        // The halves go back to the spool before the record is acknowledged (the spool
        // thread handles both in order): a crash while they are out loses nothing.
        Outcome::Split(first, second) => {
            state.spool_batch(first);
            state.spool_batch(second);
            if let Some(spool) = &state.spool {
                spool.ack();
            }
        }
        outcome => {
            if let Some(spool) = &state.spool {
                spool.ack();
            }
            state.apply(outcome, shared);
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn jitter_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32) | 1
}

/// xorshift64*: enough randomness to spread retries of many clients apart.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Delay before the first retry, before jitter; doubled for each further retry.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
/// Longest delay between two retries, before jitter.
const BACKOFF_CAP: Duration = Duration::from_secs(10);

/// Delay before retry number `retry` (1-based): exponential, capped, with "equal jitter"
/// (a uniformly random point in the upper half), so clients that failed together spread out.
pub(crate) fn backoff(retry: u32, rng: &mut u64) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(
            1u32.checked_shl(retry.saturating_sub(1))
                .unwrap_or(u32::MAX),
        )
        .min(BACKOFF_CAP);
    let half = exp / 2;
    let fraction = (next_random(rng) >> 11) as f64 / (1u64 << 53) as f64;
    half + half.mul_f64(fraction)
}

/// Sends one batch until it is delivered, split (413) or given up.
///
/// Retries last as long as the retry budget (`max_retry_elapsed`, counted from the first
/// attempt) allows; `max_retries`, unlimited by default, can end them sooner.
async fn deliver<F, Fut>(
    send: &mut F,
    batch: Batch,
    settings: &Settings,
    shared: &Shared,
    last_start: &mut Option<Instant>,
    mut rng: u64,
    spill: bool,
) -> Outcome
where
    F: FnMut(Batch, Duration) -> Fut,
    Fut: Future<Output = Attempt>,
{
    let first_attempt = Instant::now();
    let mut attempts: u32 = 0;
    let mut timed_out = false;
    loop {
        if let Some(prev) = last_start.filter(|_| !settings.min_request_interval.is_zero()) {
            tokio::time::sleep_until(prev + settings.min_request_interval).await;
        }
        let started = Instant::now();
        *last_start = Some(started);
        attempts += 1;
        Counters::add(&shared.counters.requests, 1);
        if attempts > 1 {
            Counters::add(&shared.counters.retries, 1);
        }
        let timeout = attempt_timeout(settings.timeout, attempts);
        let failure = |kind, status, reason| DeliveryFailure {
            events: batch.len,
            status,
            attempts,
            kind,
            reason,
        };
        let (status, retry_after, reason, this_timed_out) = match send(batch.clone(), timeout).await
        {
            Attempt::Accepted {
                status,
                accepted,
                warning,
            } => {
                if let Some(warning) = warning {
                    shared.counters.protocol_warning(&warning);
                }
                shared.rate.observe(started.elapsed(), accepted);
                shared.failing.store(false, Ordering::Release);
                shared.health.delivered();
                return Outcome::Delivered {
                    events: batch.len,
                    accepted,
                    status,
                    retries: attempts - 1,
                    after_timeout: timed_out,
                };
            }
            Attempt::Reject {
                status: Some(413),
                reason,
            } => {
                if let Some((first, second)) = batch.split() {
                    tracing::debug!(
                        target: "master_log_client",
                        count = batch.len,
                        status = 413,
                        "splitting a batch the server found too large",
                    );
                    return Outcome::Split(first, second);
                }
                let bytes = batch.events().next().map_or(0, <[u8]>::len);
                let reason =
                    format!("event of {bytes} bytes is too large for the server ({reason})");
                let failure = failure(FailureKind::TooLarge { bytes }, Some(413), reason);
                return Outcome::GaveUp(batch, failure);
            }
            Attempt::Reject { status, reason } => {
                if let Some(status @ (401 | 403)) = status {
                    shared.health.failed(Health::Unauthorized { status });
                }
                let failure = failure(FailureKind::Rejected, status, reason);
                return Outcome::GaveUp(batch, failure);
            }
            Attempt::TimedOut { reason } => (None, None, reason, true),
            Attempt::Retry {
                status,
                retry_after,
                reason,
            } => (status, retry_after, reason, false),
        };
        timed_out |= this_timed_out;
        shared.attempt_failed();
        // After any attempt that timed out, the server may hold the batch: unknown, not failed.
        let kind = if timed_out {
            FailureKind::Unknown
        } else {
            FailureKind::RetryBudget
        };
        if spill {
            let failure = failure(kind, status, format!("{reason} (spooled)"));
            return Outcome::GaveUp(batch, failure);
        }
        let delay = retry_after
            .map(|d| d.min(MAX_RETRY_AFTER))
            .unwrap_or_else(|| backoff(attempts, &mut rng));
        let out_of_budget = first_attempt.elapsed() + delay > settings.max_retry_elapsed;
        if attempts > settings.max_retries || out_of_budget {
            let why = if out_of_budget {
                "retry budget exhausted"
            } else {
                "out of retries"
            };
            shared.health.failed(Health::Unreachable {
                reason: reason.clone(),
            });
            let failure = failure(kind, status, format!("{reason} ({why})"));
            return Outcome::GaveUp(batch, failure);
        }
        tracing::warn!(
            target: "master_log_client",
            count = batch.len,
            status,
            attempt = attempts,
            delay_ms = delay.as_millis() as u64,
            reason = %reason,
            "retrying batch",
        );
        shared.backing_off.store(true, Ordering::Release);
        shared.attempt_news.notify_one();
        tokio::time::sleep(delay).await;
        shared.backing_off.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::Value;

    use super::*;

    fn settings(batch_size: usize) -> Settings {
        Settings {
            batch_size,
            flush_interval: Duration::from_secs(1),
            min_request_interval: Duration::ZERO,
            max_retries: 3,
            max_retry_elapsed: Duration::from_secs(60),
            timeout: Duration::from_secs(2),
        }
    }

    /// A sent batch as the stub saw it: when, and the bodies of its events.
    #[derive(Debug, Clone)]
    struct Seen {
        at: Duration,
        bodies: Vec<String>,
    }

    struct Harness {
        tx: mpsc::Sender<Msg>,
        seen: mpsc::UnboundedReceiver<Seen>,
        shared: Arc<Shared>,
        task: tokio::task::JoinHandle<()>,
        start: Instant,
    }

    /// Spawns a worker whose sender answers with `script` in order, then `Accepted`.
    fn spawn(settings: Settings, script: Vec<Attempt>, latency: Duration) -> Harness {
        spawn_spooled(settings, script, latency, None)
    }

    /// As [`spawn`], with a spool in `dir` if given.
    fn spawn_spooled(
        settings: Settings,
        script: Vec<Attempt>,
        latency: Duration,
        dir: Option<&std::path::Path>,
    ) -> Harness {
        let (tx, rx) = mpsc::channel(1000);
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::new(settings.batch_size, 0.005));
        let spool = dir.map(|dir| {
            let counters = Arc::clone(&shared.counters.spool);
            Spool::start(dir, 1 << 20, crate::SpoolFsync::None, counters).unwrap()
        });
        let start = Instant::now();
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let send = move |batch: Batch, _timeout: Duration| {
            let v: Value = serde_json::from_slice(&batch.body).unwrap();
            let bodies = v["logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["body"].as_str().unwrap().to_owned())
                .collect();
            let _ = seen_tx.send(Seen {
                at: start.elapsed(),
                bodies,
            });
            let next = script.lock().unwrap().pop_front();
            async move {
                tokio::time::sleep(latency).await;
                next.unwrap_or(Attempt::Accepted {
                    status: 200,
                    accepted: batch.len as u64,
                    warning: None,
                })
            }
        };
        let (done, _) = watch::channel(());
        let task = tokio::spawn(run(rx, send, settings, Arc::clone(&shared), spool, done));
        Harness {
            tx,
            seen,
            shared,
            task,
            start,
        }
    }

    impl Harness {
        // These mirror what `Client` does: wake the worker for full batches and requests.
        async fn log(&self, body: &str) {
            self.tx.send(Msg::Event(Event::info(body))).await.unwrap();
            self.shared.enqueued(&self.tx);
        }

        /// Logs the events `"0"`, `"1"`, ... up to `n - 1`.
        async fn log_numbered(&self, n: usize) {
            for i in 0..n {
                self.log(&i.to_string()).await;
            }
        }

        async fn request(&self, msg: Msg) {
            self.tx.send(msg).await.unwrap();
            self.shared.wake.notify_one();
        }

        async fn flush(&self) -> FlushReport {
            let (reply, answer) = oneshot::channel();
            self.request(Msg::Flush(reply)).await;
            answer.await.unwrap()
        }

        async fn shutdown(self) -> (FlushReport, Vec<Seen>) {
            let (reply, answer) = oneshot::channel();
            self.request(Msg::Shutdown(
                reply,
                Instant::now() + Duration::from_secs(3600),
            ))
            .await;
            let report = answer.await.unwrap();
            self.task.await.unwrap();
            let mut seen = self.seen;
            let mut all = Vec::new();
            while let Ok(s) = seen.try_recv() {
                all.push(s);
            }
            (report, all)
        }
    }

    fn retry(status: u16, retry_after: Option<Duration>) -> Attempt {
        Attempt::Retry {
            status: Some(status),
            retry_after,
            reason: format!("status {status}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn sends_at_once_when_batch_is_full() {
        let mut h = spawn(settings(3), vec![], Duration::ZERO);
        for b in ["a", "b", "c"] {
            h.log(b).await;
        }
        let seen = h.seen.recv().await.unwrap();
        assert_eq!(seen.bodies, ["a", "b", "c"]);
        assert_eq!(seen.at, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn sends_at_once_when_queued_and_held_events_make_a_batch() {
        let mut h = spawn(settings(4), vec![], Duration::ZERO);
        h.log("a").await;
        h.log("b").await;
        // Let the worker take the first two into its partial batch.
        while h.shared.pending.load(Ordering::Relaxed) < 2 {
            tokio::task::yield_now().await;
        }
        h.log("c").await;
        h.log("d").await;
        let seen = h.seen.recv().await.unwrap();
        assert_eq!(seen.bodies, ["a", "b", "c", "d"]);
        assert_eq!(seen.at, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn high_water_mark_is_the_peak_the_worker_drained() {
        let mut h = spawn(settings(100), vec![], Duration::ZERO);
        // Seven events queue up before the worker runs once.
        h.log_numbered(7).await;
        while h.shared.pending.load(Ordering::Relaxed) < 7 {
            tokio::task::yield_now().await;
        }
        // The queue is empty again; only the worker saw the peak.
        assert_eq!(h.tx.max_capacity() - h.tx.capacity(), 0);
        let stats = h.shared.counters.snapshot(0, 0.0);
        assert_eq!(stats.queue_high_water, 7);
        assert_eq!(h.flush().await.sent, 7);
        assert_eq!(h.seen.recv().await.unwrap().bodies.len(), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn flushes_on_interval() {
        let mut h = spawn(settings(100), vec![], Duration::ZERO);
        h.log("lonely").await;
        let seen = h.seen.recv().await.unwrap();
        assert_eq!(seen.bodies, ["lonely"]);
        assert_eq!(seen.at, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn interval_counts_from_the_oldest_pending_event() {
        let mut h = spawn(settings(100), vec![], Duration::ZERO);
        h.log("first").await;
        tokio::time::sleep(Duration::from_millis(700)).await;
        h.log("second").await;
        let seen = h.seen.recv().await.unwrap();
        assert_eq!(seen.bodies, ["first", "second"]);
        assert_eq!(seen.at, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn flush_reports_total_across_batches_without_waiting_an_interval() {
        let h = spawn(settings(2), vec![], Duration::from_millis(10));
        h.log_numbered(5).await;
        let report = h.flush().await;
        assert_eq!(report.accepted, 5);
        assert_eq!(report.delivered_batches, 3);
        assert_eq!(report.last_status, Some(200));
        assert_eq!(h.start.elapsed(), Duration::from_millis(30));
        // The next flush only counts what came after.
        h.log("late").await;
        assert_eq!(h.flush().await.accepted, 1);
        assert_eq!(h.flush().await, FlushReport::default());
    }

    #[tokio::test(start_paused = true)]
    async fn min_request_interval_spaces_request_starts() {
        let s = Settings {
            min_request_interval: Duration::from_millis(250),
            ..settings(1)
        };
        let h = spawn(s, vec![], Duration::from_millis(10));
        h.log_numbered(3).await;
        let (report, seen) = h.shutdown().await;
        assert_eq!(report.accepted, 3);
        let starts: Vec<_> = seen.iter().map(|s| s.at.as_millis()).collect();
        assert_eq!(starts, [0, 250, 500]);
    }

    #[tokio::test(start_paused = true)]
    async fn retryable_failure_is_retried_in_order_without_loss_or_duplicates() {
        let h = spawn(settings(2), vec![retry(503, None)], Duration::ZERO);
        for b in ["a", "b", "c", "d"] {
            h.log(b).await;
        }
        let (report, seen) = h.shutdown().await;
        let bodies: Vec<_> = seen.iter().map(|s| s.bodies.join("")).collect();
        assert_eq!(bodies, ["ab", "ab", "cd"]);
        assert_eq!(report.accepted, 4);
        assert_eq!(report.retries, 1);
        assert!(report.is_ok());
        // Equal jitter on a 100 ms base: the retry starts within [50, 100] ms.
        let gap = seen[1].at - seen[0].at;
        assert!(
            gap >= Duration::from_millis(50) && gap <= Duration::from_millis(100),
            "{gap:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let h = spawn(
            settings(1),
            vec![retry(429, Some(Duration::from_secs(3)))],
            Duration::ZERO,
        );
        h.log("x").await;
        let (report, seen) = h.shutdown().await;
        assert_eq!(seen[1].at - seen[0].at, Duration::from_secs(3));
        assert_eq!(report.accepted, 1);
    }

    /// Level, target and `(name, value)` fields of one tracing event.
    type Recorded = (tracing::Level, String, Vec<(String, String)>);

    /// Records every tracing event on this thread.
    #[derive(Default, Clone)]
    struct Recorder(Arc<Mutex<Vec<Recorded>>>);

    impl tracing::Subscriber for Recorder {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            struct Fields(Vec<(String, String)>);
            impl tracing::field::Visit for Fields {
                fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                    self.0.push((f.name().to_owned(), format!("{v:?}")));
                }
            }
            let mut fields = Fields(Vec::new());
            event.record(&mut fields);
            let meta = event.metadata();
            self.0
                .lock()
                .unwrap()
                .push((*meta.level(), meta.target().to_owned(), fields.0));
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[tokio::test(start_paused = true)]
    async fn diagnostics_are_structured_tracing_events() {
        let recorder = Recorder::default();
        let _guard = tracing::subscriber::set_default(recorder.clone());
        let script = vec![
            retry(503, None),
            Attempt::Reject {
                status: Some(401),
                reason: "status 401: bad key".into(),
            },
        ];
        let h = spawn(settings(2), script, Duration::ZERO);
        h.log("a").await;
        h.log("b").await;
        let _ = h.flush().await;
        let events = recorder.0.lock().unwrap().clone();
        let field = |fields: &[(String, String)], name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let (level, target, fields) = &events[0];
        assert_eq!(
            (*level, target.as_str()),
            (tracing::Level::WARN, "master_log_client")
        );
        assert_eq!(field(fields, "count").as_deref(), Some("2"));
        assert_eq!(field(fields, "status").as_deref(), Some("503"));
        assert!(field(fields, "reason").is_some());
        // Then the health warning (401), then the given-up batch.
        assert!(format!("{:?}", events[1].2).contains("Unauthorized"));
        let (level, target, fields) = &events[2];
        assert_eq!(
            (*level, target.as_str()),
            (tracing::Level::ERROR, "master_log_client")
        );
        assert_eq!(field(fields, "count").as_deref(), Some("2"));
        assert_eq!(field(fields, "status").as_deref(), Some("401"));
        assert_eq!(
            field(fields, "reason").as_deref(),
            Some("status 401: bad key")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rejected_batch_is_reported_and_does_not_block_the_next() {
        let reject = Attempt::Reject {
            status: Some(401),
            reason: "status 401: bad key".into(),
        };
        let h = spawn(settings(2), vec![reject], Duration::ZERO);
        for b in ["a", "b", "c"] {
            h.log(b).await;
        }
        let report = h.flush().await;
        assert_eq!(report.accepted, 1);
        assert_eq!(report.failed_batches, 1);
        assert_eq!(report.failed_events, 2);
        assert_eq!(report.failures[0].status, Some(401));
        assert_eq!(report.failures[0].attempts, 1);
        assert_eq!(
            h.shared
                .counters
                .failed_events
                .load(std::sync::atomic::Ordering::Relaxed),
            2
        );
        let (_, seen) = h.shutdown().await;
        assert_eq!(seen.len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_retries_and_counts_it() {
        let script = (0..10).map(|_| retry(500, None)).collect();
        let h = spawn(settings(1), script, Duration::ZERO);
        h.log("doomed").await;
        let report = h.flush().await;
        assert_eq!(report.failed_batches, 1);
        assert_eq!(report.failures[0].attempts, 4);
        assert_eq!(report.retries, 3);
        assert!(report.failures[0].reason.contains("out of retries"));
        // Backoff doubles: 50..100, 100..200, 200..400 ms.
        let (_, seen) = h.shutdown().await;
        let gaps: Vec<_> = seen
            .windows(2)
            .map(|w| (w[1].at - w[0].at).as_millis())
            .collect();
        for (gap, (lo, hi)) in gaps.iter().zip([(50, 100), (100, 200), (200, 400)]) {
            assert!((lo..=hi).contains(gap), "{gaps:?}");
        }
    }

    // regression: issue #14
    #[tokio::test(start_paused = true)]
    async fn issue_14_an_outage_shorter_than_the_default_budget_loses_nothing() {
        use crate::config::{DEFAULT_MAX_RETRIES, DEFAULT_MAX_RETRY_ELAPSED, DEFAULT_TIMEOUT};
        // 20 s as in the issue, and 45 s, past any fixed count of 8 retries.
        for outage in [Duration::from_secs(20), Duration::from_secs(45)] {
            let settings = Settings {
                max_retries: DEFAULT_MAX_RETRIES,
                max_retry_elapsed: DEFAULT_MAX_RETRY_ELAPSED,
                timeout: DEFAULT_TIMEOUT,
                ..settings(100)
            };
            let (tx, rx) = mpsc::channel(10_000);
            let shared = Arc::new(Shared::new(100, 0.005));
            let start = Instant::now();
            let send = move |batch: Batch, _timeout: Duration| async move {
                if start.elapsed() < outage {
                    Attempt::Retry {
                        status: None,
                        retry_after: None,
                        reason: "connection refused".into(),
                    }
                } else {
                    Attempt::Accepted {
                        status: 200,
                        accepted: batch.len as u64,
                        warning: None,
                    }
                }
            };
            let (done, _) = watch::channel(());
            let task = tokio::spawn(run(rx, send, settings, Arc::clone(&shared), None, done));
            for i in 0..2000 {
                tx.send(Msg::Event(Event::info(i.to_string())))
                    .await
                    .unwrap();
                shared.enqueued(&tx);
            }
            let (reply, answer) = oneshot::channel();
            tx.send(Msg::Flush(reply)).await.unwrap();
            shared.wake.notify_one();
            let report = answer.await.unwrap();
            assert_eq!(report.accepted, 2000, "{outage:?}: {report:?}");
            assert_eq!(report.failed_events, 0, "{outage:?}");
            assert!(start.elapsed() >= outage);
            drop(tx);
            task.await.unwrap();
        }
    }

    // regression: issue #14
    #[tokio::test(start_paused = true)]
    async fn issue_14_an_endpoint_down_past_the_budget_shows_in_health_with_one_warning() {
        let recorder = Recorder::default();
        let _guard = tracing::subscriber::set_default(recorder.clone());
        let s = Settings {
            max_retry_elapsed: Duration::from_secs(2),
            max_retries: u32::MAX,
            ..settings(1)
        };
        let down = || Attempt::Retry {
            status: None,
            retry_after: None,
            reason: "connection failed: refused".into(),
        };
        let h = spawn(s, (0..40).map(|_| down()).collect(), Duration::ZERO);
        assert!(h.shared.health.is_healthy());
        h.log("a").await;
        h.log("b").await;
        let report = h.flush().await;
        assert_eq!(report.failed_batches, 2);
        assert!(!h.shared.health.is_healthy());
        assert!(matches!(
            h.shared.health.get(),
            Health::Unreachable { ref reason } if reason.contains("refused")
        ));
        let warnings = |recorder: &Recorder| {
            recorder
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|(_, _, fields)| {
                    fields
                        .iter()
                        .any(|(_, v)| v.contains("log client is unhealthy"))
                })
                .count()
        };
        // Two batches given up, one warning: the next may come a minute later.
        assert_eq!(warnings(&recorder), 1);
        // Delivering again makes the client healthy.
        let mut h = h;
        while h.seen.try_recv().is_ok() {}
        let rest = 40 - h.shared.counters.snapshot(0, 0.0).requests as usize;
        for i in 0..rest {
            h.log(&i.to_string()).await;
        }
        h.log("delivered").await;
        let report = h.flush().await;
        assert!(report.accepted >= 1, "{report:?}");
        assert!(h.shared.health.is_healthy());
    }

    #[tokio::test(start_paused = true)]
    async fn a_timed_out_last_attempt_is_reported_as_unknown_not_failed() {
        let s = Settings {
            max_retries: 1,
            ..settings(2)
        };
        let timed_out = || Attempt::TimedOut {
            reason: "timed out".into(),
        };
        let h = spawn(s, vec![timed_out(), timed_out()], Duration::ZERO);
        h.log("a").await;
        h.log("b").await;
        let report = h.flush().await;
        assert_eq!(report.failures[0].kind, FailureKind::Unknown);
        assert_eq!(report.unknown_outcome_events, 2);
        assert_eq!(h.shared.counters.snapshot(0, 0.0).unknown_outcome_events, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_given_up_after_any_timed_out_attempt_is_unknown() {
        let s = Settings {
            max_retries: 1,
            ..settings(1)
        };
        let script = vec![
            Attempt::TimedOut {
                reason: "timed out".into(),
            },
            retry(503, None),
        ];
        let h = spawn(s, script, Duration::ZERO);
        h.log("a").await;
        let report = h.flush().await;
        assert_eq!(report.failures[0].kind, FailureKind::Unknown);
        assert_eq!(report.failures[0].status, Some(503));
    }

    #[test]
    fn attempt_timeouts_grow_and_are_capped() {
        let base = Duration::from_millis(500);
        let got: Vec<_> = (1..=6).map(|a| attempt_timeout(base, a)).collect();
        assert_eq!(
            got,
            [0.5, 1.5, 4.5, 13.5, 30.0, 30.0].map(Duration::from_secs_f64)
        );
        let long = Duration::from_secs(100);
        assert_eq!(attempt_timeout(long, 3), long);
    }

    #[tokio::test(start_paused = true)]
    async fn absurd_retry_after_is_capped_at_five_minutes() {
        let s = Settings {
            max_retry_elapsed: Duration::from_secs(3600),
            ..settings(1)
        };
        let ten_years = Duration::from_secs(10 * 365 * 86_400);
        let h = spawn(s, vec![retry(503, Some(ten_years))], Duration::ZERO);
        h.log("x").await;
        let report = h.flush().await;
        assert_eq!(report.accepted, 1);
        assert_eq!(h.start.elapsed(), MAX_RETRY_AFTER);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_beyond_the_budget_gives_up() {
        let s = Settings {
            max_retry_elapsed: Duration::from_secs(5),
            ..settings(1)
        };
        let h = spawn(
            s,
            vec![retry(429, Some(Duration::from_secs(10)))],
            Duration::ZERO,
        );
        h.log("x").await;
        let report = h.flush().await;
        assert_eq!(report.failed_batches, 1);
        assert!(report.failures[0].reason.contains("budget"));
        assert_eq!(h.start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_all_handles_sends_what_is_queued() {
        let h = spawn(settings(100), vec![], Duration::ZERO);
        h.log("a").await;
        h.log("b").await;
        let Harness {
            tx,
            mut seen,
            task,
            start,
            ..
        } = h;
        drop(tx);
        task.await.unwrap();
        let s = seen.recv().await.unwrap();
        assert_eq!(s.bodies, ["a", "b"]);
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_delivers_events_queued_behind_it() {
        let h = spawn(settings(100), vec![], Duration::ZERO);
        let (reply, answer) = oneshot::channel();
        h.log("before").await;
        h.request(Msg::Shutdown(
            reply,
            Instant::now() + Duration::from_secs(3600),
        ))
        .await;
        h.log("behind").await;
        let report = answer.await.unwrap();
        assert_eq!(report.accepted, 2);
        assert!(h.tx.send(Msg::Event(Event::info("after"))).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_flush_keeps_its_counts_for_the_next() {
        let h = spawn(settings(1), vec![], Duration::ZERO);
        h.log("a").await;
        let (reply, answer) = oneshot::channel();
        h.request(Msg::Flush(reply)).await;
        drop(answer);
        h.log("b").await;
        assert_eq!(h.flush().await.accepted, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn send_rate_follows_the_sink() {
        // 20 ms per batch of 100: 0.2 ms per log.
        let h = spawn(settings(100), vec![], Duration::from_millis(20));
        h.log_numbered(3000).await;
        let report = h.flush().await;
        assert_eq!(report.accepted, 3000);
        let rate = h.shared.rate.get();
        assert!((rate - 0.0002).abs() < 0.0001, "{rate}");
    }

    // regression: issue #14
    // Real time, as above.
    #[tokio::test]
    async fn issue_14_a_replayed_batch_split_by_a_413_stays_on_disk_until_its_halves_are_sent() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel(10);
        let shared = Arc::new(Shared::new(2, 0.005));
        let counters = Arc::clone(&shared.counters.spool);
        let spool = Spool::start(dir.path(), 1 << 20, crate::SpoolFsync::None, counters).unwrap();
        let (third_tx, mut third) = mpsc::unbounded_channel();
        let calls = Arc::new(AtomicUsize::new(0));
        // 503 (so "ab" goes to the spool), then 413 for its replay (split), then the halves'
        // requests never end: the process is killed while they are out.
        let send = move |_batch: Batch, _timeout: Duration| {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            let third_tx = third_tx.clone();
            async move {
                match call {
                    0 => retry(503, None),
                    1 => Attempt::Reject {
                        status: Some(413),
                        reason: "too large".into(),
                    },
                    _ => {
                        let _ = third_tx.send(());
                        std::future::pending().await
                    }
                }
            }
        };
        let (done, _) = watch::channel(());
        let task = tokio::spawn(run(
            rx,
            send,
            settings(2),
            Arc::clone(&shared),
            Some(spool),
            done,
        ));
        for b in ["a", "b"] {
            tx.send(Msg::Event(Event::info(b))).await.unwrap();
            shared.enqueued(&tx);
        }
        third.recv().await.unwrap();
        // The kill: the worker stops where it is; its spool thread writes what it was handed.
        task.abort();
        let _ = task.await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let counters = Arc::new(crate::stats::SpoolCounters::default());
        let (_spool, mut replays) = loop {
            match Spool::start(
                dir.path(),
                1 << 20,
                crate::SpoolFsync::None,
                Arc::clone(&counters),
            ) {
                Ok(s) => break s,
                Err(crate::Error::SpoolLocked(_)) if Instant::now() < deadline => {
                    tokio::task::yield_now().await;
                }
                Err(e) => panic!("{e}"),
            }
        };
        // The next process still has both events.
        let replayed = tokio::time::timeout(Duration::from_secs(10), replays.recv())
            .await
            .expect("the split batch's events were lost")
            .unwrap();
        let v: Value = serde_json::from_slice(&replayed.body).unwrap();
        assert_eq!(v["logs"][0]["body"], "a");
    }

    // Real time: the spool's thread answers outside the runtime, so a paused clock would
    // jump ahead while the worker waits for it.
    #[tokio::test]
    async fn with_a_spool_failed_batches_wait_on_disk_and_arrive_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let script = (0..3).map(|_| retry(503, None)).collect();
        let mut h = spawn_spooled(settings(2), script, Duration::ZERO, Some(dir.path()));
        for b in ["a", "b", "c", "d", "e", "f"] {
            h.log(b).await;
        }
        // Everything failed at least once, so everything went through the spool, and the
        // flush does not wait for the spooled batch being retried.
        let report = h.flush().await;
        assert_eq!(report.spooled_events, 6);
        assert!(report.is_ok());
        let mut attempts = Vec::new();
        for _ in 0..6 {
            attempts.push(h.seen.recv().await.unwrap().bodies.join(""));
        }
        // Three failed attempts, then each batch once, oldest first.
        assert_eq!(attempts[3..], ["ab", "cd", "ef"]);
        let (report, rest) = h.shutdown().await;
        assert!(rest.is_empty(), "{rest:?}");
        assert_eq!(report.accepted, 6);
    }

    #[test]
    fn backoff_is_capped() {
        let mut rng = 7;
        for retry in 1..40 {
            let d = backoff(retry, &mut rng);
            assert!(d <= Duration::from_secs(10), "{retry}: {d:?}");
        }
        assert!(backoff(30, &mut rng) >= Duration::from_secs(5));
    }
}
