//! What the client did: its live [`ClientStats`] counters, and the [`FlushReport`] of a flush.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Most failures kept in one [`FlushReport`]; the counts stay exact beyond it.
pub const MAX_REPORTED_FAILURES: usize = 16;

/// A snapshot of a client's counters since it was built; see [`Client::stats`](crate::Client::stats).
///
/// Only asynchronous mode counts; in direct mode each call's result is the record.
///
/// [`Client::stats`]: crate::Client::stats
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Events the worker has taken off the queue (events refused at enqueue are in
    /// `dropped_full` instead).
    pub dequeued: u64,
    /// Messages waiting in the queue right now: events, plus any flush or shutdown request.
    pub queued: usize,
    /// Highest number of messages (events, plus any flush request) ever waiting in the queue
    /// at once, as seen by the worker before each receive, by producers finding the queue
    /// full, and by this snapshot.
    pub queue_high_water: usize,
    /// Events refused because the queue was full (by `log`, `try_log` and the layer).
    pub dropped_full: u64,
    /// Batch requests started, retries included.
    pub requests: u64,
    /// Batch requests that were retries of an earlier attempt (each also counts in
    /// `requests`).
    pub retries: u64,
    /// Events in batches the server answered with success.
    pub sent: u64,
    /// Events the server reported as accepted (the whole batch when its answer has no count).
    pub accepted: u64,
    /// Batches given up on: rejected with a non-retryable status, or out of retries.
    pub failed_batches: u64,
    /// Events in the batches given up on.
    pub failed_events: u64,
    /// Events whose delivery outcome was unknown at some point: an attempt timed out after
    /// the request went out, so the server may have stored them, and the retry that followed
    /// may be a second copy (or, for a batch then given up on, they may have arrived after
    /// all). Each such event carries its id in `metadata.event_id` for deduplication.
    pub unknown_outcome_events: u64,
    /// Answers that broke the protocol and were corrected: an `accepted` count larger than
    /// the batch, negative or not a number (clamped to the batch), or a success body too
    /// large to read.
    pub protocol_warnings: u64,
    /// Current moving average of seconds per accepted log, which paces enqueues.
    pub send_seconds_per_log: f64,
    /// Spool (see [`ClientBuilder::spool_dir`](crate::ClientBuilder::spool_dir)): events
    /// written to the spool instead of being dropped.
    pub spooled_events: u64,
    /// Spool: events read back from the spool and answered by the server (accepted, or
    /// rejected for good).
    pub spool_replayed_events: u64,
    /// Spool: events waiting in the spool right now.
    pub spool_pending_events: u64,
    /// Spool: bytes of the spool's segment files right now.
    pub spool_bytes: u64,
    /// Spool: events lost by the spool: the oldest segment deleted at `spool_max_bytes`, a
    /// failed write (disk full, permissions), an unreadable segment.
    pub spool_lost_events: u64,
    /// Spool: failed file operations (each also logged as a `tracing` warning).
    pub spool_errors: u64,
    /// Spool: bad segment tails skipped (a torn or corrupt record and all after it in its
    /// segment).
    pub spool_corrupt_records: u64,
    /// Spool: bytes in the skipped bad tails.
    pub spool_corrupt_bytes: u64,
}

/// Shared counters, written by producers (drops) and by the worker.
///
/// The high-water mark is raised by the worker, which reads the queue's length before each
/// receive (the queue only shrinks when the worker takes from it, so its peaks come right
/// before), by producers that find the queue full, and by [`Counters::snapshot`] with the
/// length at that moment. The producer-written counters live on their own cache lines.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) high_water: Padded<AtomicUsize>,
    pub(crate) dropped_full: Padded<AtomicU64>,
    pub(crate) dequeued: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) failed_batches: AtomicU64,
    pub(crate) failed_events: AtomicU64,
    pub(crate) unknown_outcome_events: AtomicU64,
    pub(crate) protocol_warnings: AtomicU64,
    pub(crate) spool: Arc<SpoolCounters>,
}

/// The spool's counters, written by its thread; gauges are stored, the rest added.
#[derive(Debug, Default)]
pub(crate) struct SpoolCounters {
    pub(crate) spooled: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) pending: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) lost: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) corrupt_tails: AtomicU64,
    pub(crate) corrupt_bytes: AtomicU64,
}

/// A value alone on its cache line (128 bytes: x86 prefetches lines in pairs).
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Raises the high-water mark; a plain load first keeps the common case read-only.
    pub(crate) fn observe_queue_len(&self, len: usize) {
        if len > self.high_water.load(Ordering::Relaxed) {
            self.high_water.fetch_max(len, Ordering::Relaxed);
        }
    }

    /// Counts a protocol violation of the server's; the first one is a `tracing` warning,
    /// later ones are debug events, so a misbehaving server cannot flood the logs.
    pub(crate) fn protocol_warning(&self, what: &str) {
        let before = self.protocol_warnings.fetch_add(1, Ordering::Relaxed);
        if before == 0 {
            tracing::warn!(target: "master_log_client", reason = %what, "log server broke the protocol");
        } else {
            tracing::debug!(target: "master_log_client", reason = %what, "log server broke the protocol");
        }
    }

    pub(crate) fn snapshot(&self, queued: usize, send_seconds_per_log: f64) -> ClientStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ClientStats {
            dequeued: get(&self.dequeued),
            queued,
            queue_high_water: self.high_water.load(Ordering::Relaxed).max(queued),
            dropped_full: get(&self.dropped_full),
            requests: get(&self.requests),
            retries: get(&self.retries),
            sent: get(&self.sent),
            accepted: get(&self.accepted),
            failed_batches: get(&self.failed_batches),
            failed_events: get(&self.failed_events),
            unknown_outcome_events: get(&self.unknown_outcome_events),
            protocol_warnings: get(&self.protocol_warnings),
            send_seconds_per_log,
            spooled_events: get(&self.spool.spooled),
            spool_replayed_events: get(&self.spool.replayed),
            spool_pending_events: get(&self.spool.pending),
            spool_bytes: get(&self.spool.bytes),
            spool_lost_events: get(&self.spool.lost),
            spool_errors: get(&self.spool.errors),
            spool_corrupt_records: get(&self.spool.corrupt_tails),
            spool_corrupt_bytes: get(&self.spool.corrupt_bytes),
        }
    }
}

/// A batch the worker gave up on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryFailure {
    /// Number of events in the batch.
    pub events: usize,
    /// The last HTTP status, if the server answered at all.
    pub status: Option<u16>,
    /// Attempts made, the first one included.
    pub attempts: u32,
    /// What kind of failure it was.
    pub kind: FailureKind,
    /// Why it failed, e.g. `status 401: invalid key` or `connection refused`.
    pub reason: String,
}

/// Why a batch was given up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The server refused it with a status retrying cannot fix (400, 401, 403, 422, ...).
    Rejected,
    /// One event alone is larger than the server accepts (413 for a batch of one event;
    /// larger batches are split in halves until each part fits or holds one event).
    TooLarge {
        /// The encoded event's size.
        bytes: usize,
    },
    /// The retry budget (`max_retry_elapsed`) or `max_retries` ran out while the server was
    /// unreachable, failing (5xx) or busy (429).
    RetryBudget,
    /// The budget ran out (or the batch was spooled) after an attempt that timed out: the
    /// server may have stored the batch after all, so its outcome is unknown, not failed.
    Unknown,
}

/// What happened to the batches answered since the previous flush.
///
/// Returned by [`Client::flush`](crate::Client::flush) and [`Client::shutdown`](crate::Client::shutdown); when any batch failed, the report
/// comes inside [`Error::Undelivered`] instead, so `?` does not let a loss pass silently.
///
/// [`Client::flush`]: crate::Client::flush
/// [`Client::shutdown`]: crate::Client::shutdown
/// [`Error::Undelivered`]: crate::Error::Undelivered
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushReport {
    /// Events the server reported as accepted, over all delivered batches.
    pub accepted: u64,
    /// Events in batches answered with success.
    pub sent: u64,
    /// Batches answered with success.
    pub delivered_batches: u64,
    /// Batch requests that were retries of an earlier attempt, for delivered and given-up
    /// batches alike.
    pub retries: u64,
    /// Batches given up on.
    pub failed_batches: u64,
    /// Events in the batches given up on.
    pub failed_events: u64,
    /// Events with an attempt that timed out: stored once or twice if delivered, perhaps
    /// stored if given up on (see [`ClientStats::unknown_outcome_events`]).
    pub unknown_outcome_events: u64,
    /// Events put in the spool instead of being delivered or dropped; they are sent later
    /// and do not make the report fail.
    pub spooled_events: u64,
    /// The first [`MAX_REPORTED_FAILURES`] failures, oldest first.
    pub failures: Vec<DeliveryFailure>,
    /// The status of the last answered request, if any.
    pub last_status: Option<u16>,
}

impl FlushReport {
    /// `true` when no batch was given up on.
    pub fn is_ok(&self) -> bool {
        self.failed_batches == 0
    }

    pub(crate) fn merge(&mut self, other: FlushReport) {
        self.accepted += other.accepted;
        self.sent += other.sent;
        self.delivered_batches += other.delivered_batches;
        self.retries += other.retries;
        self.failed_batches += other.failed_batches;
        self.failed_events += other.failed_events;
        self.unknown_outcome_events += other.unknown_outcome_events;
        self.spooled_events += other.spooled_events;
        let room = MAX_REPORTED_FAILURES.saturating_sub(self.failures.len());
        self.failures.extend(other.failures.into_iter().take(room));
        if other.last_status.is_some() {
            self.last_status = other.last_status;
        }
    }

    pub(crate) fn record_failure(&mut self, failure: DeliveryFailure) {
        self.failed_batches += 1;
        self.failed_events += failure.events as u64;
        if failure.status.is_some() {
            self.last_status = failure.status;
        }
        if self.failures.len() < MAX_REPORTED_FAILURES {
            self.failures.push(failure);
        }
    }

    pub(crate) fn into_result(self) -> crate::Result<FlushReport> {
        if self.is_ok() {
            Ok(self)
        } else {
            Err(crate::Error::Undelivered(Box::new(self)))
        }
    }
}

/// What [`Client::log`](crate::Client::log) did with an event.
///
/// In asynchronous mode only `queued` is set: the server's answer comes later, through
/// [`Client::flush`](crate::Client::flush). In direct mode the answer's status, first event id and accepted count are
/// filled in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// The event was put on the queue (asynchronous mode).
    pub queued: bool,
    /// The queue stayed full for `queue_timeout`, so the event was written to the spool
    /// instead (asynchronous mode with `spool_dir` and `drop_when_full` off).
    pub spooled: bool,
    /// HTTP status of the answer (direct mode).
    pub status: Option<u16>,
    /// Id the server gave the event (direct mode), from `{"events":[{"id":...}]}`.
    pub event_id: Option<String>,
    /// Events the server reported as accepted (direct mode), from `{"accepted": n}`.
    pub accepted: Option<u64>,
}
