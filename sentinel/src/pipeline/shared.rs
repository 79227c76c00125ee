//! The state one logger's handles, producers and writer share, and the
//! messages they send. A leaf: it names the record type and the clock, and
//! nothing else of the pipeline.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};

use crate::clock::monotonic_ns;
use crate::config::SentinelConfig;
use crate::record::Entry;
use crate::rotation::policy::Counters;

/// Counts of what a logger wrote and what it dropped, by reason.
///
/// Every record a producer handed over is, in the end, either `written` or
/// counted under exactly one `dropped_*` field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggerStats {
    /// Records written to the sink.
    pub written: u64,
    /// Dropped because the queue was full and the logger is
    /// [lossy](crate::SentinelConfig::lossy).
    pub dropped_queue_full: u64,
    /// Dropped because the sink made no progress for the
    /// [stall timeout](crate::SentinelConfig::stall_timeout) while the
    /// queue was full.
    pub dropped_stalled: u64,
    /// Dropped because the logger was shut down.
    pub dropped_closed: u64,
    /// Refused because the logger had become unhealthy.
    pub dropped_unhealthy: u64,
    /// Lost in a write that failed (the error made the logger unhealthy).
    pub dropped_io_error: u64,
    /// Dropped because the record failed to serialize (an error or a panic
    /// in its `Serialize` impl) or was not a JSON object.
    pub dropped_unserializable: u64,
    /// Refused in a child process forked after the logger started (the
    /// default logger is re-created in the child instead).
    pub dropped_forked: u64,
    /// Estimated encoded bytes of the records waiting for the writer now.
    pub queued_bytes: u64,
    /// The most `queued_bytes` has been.
    pub peak_queued_bytes: u64,
    /// Callers waiting for room right now.
    pub waiting: u64,
    /// Times the sink was found stalled.
    pub stalls: u64,
    /// Whether the sink is stalled now.
    pub stalled: bool,
    /// Times this logger rotated the live file (see [`crate::rotation`]).
    pub rotations: u64,
    /// Rotation, compression and retention steps that failed (disk full,
    /// permission denied…); each is also reported as an error event. Records
    /// kept going into the live file meanwhile.
    pub rotation_errors: u64,
    /// Rotated segments this logger compressed.
    pub segments_compressed: u64,
    /// Rotated segments this logger's retention removed.
    pub segments_removed: u64,
}

impl LoggerStats {
    /// Every dropped record, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_stalled
            + self.dropped_closed
            + self.dropped_unhealthy
            + self.dropped_io_error
            + self.dropped_unserializable
            + self.dropped_forked
    }
}

/// Why a producer dropped a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    QueueFull,
    Stalled,
    Closed,
    Unhealthy,
    Forked,
}

impl DropReason {
    pub(crate) const ALL: [DropReason; 5] = [
        DropReason::QueueFull,
        DropReason::Stalled,
        DropReason::Closed,
        DropReason::Unhealthy,
        DropReason::Forked,
    ];

    /// The name used in warnings and in the file's drop markers.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Stalled => "stalled",
            DropReason::Closed => "closed",
            DropReason::Unhealthy => "unhealthy",
            DropReason::Forked => "forked",
        }
    }
}

/// Drops by reason, and the clock ticks of the first and last one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DropCounts {
    pub(crate) by_reason: [u64; 5],
    pub(crate) first_at: u64,
    pub(crate) last_at: u64,
}

impl DropCounts {
    pub(crate) fn add(&mut self, reason: DropReason, n: u64, at: u64) {
        if self.total() == 0 || at < self.first_at {
            self.first_at = at;
        }
        self.last_at = self.last_at.max(at);
        self.by_reason[reason as usize] += n;
    }

    pub(crate) fn merge(&mut self, other: &DropCounts) {
        if other.total() == 0 {
            return;
        }
        if self.total() == 0 || other.first_at < self.first_at {
            self.first_at = other.first_at;
        }
        self.last_at = self.last_at.max(other.last_at);
        for (a, b) in self.by_reason.iter_mut().zip(other.by_reason) {
            *a += b;
        }
    }

    pub(crate) fn get(&self, reason: DropReason) -> u64 {
        self.by_reason[reason as usize]
    }

    pub(crate) fn total(&self) -> u64 {
        self.by_reason.iter().sum()
    }
}

/// How a waiter learns that its flush or shutdown went through.
pub(crate) enum Ack {
    Async(oneshot::Sender<bool>),
    Blocking(std::sync::mpsc::SyncSender<bool>),
}

impl Ack {
    pub(crate) fn send(self, ok: bool) {
        match self {
            Ack::Async(tx) => {
                let _ = tx.send(ok);
            }
            Ack::Blocking(tx) => {
                let _ = tx.try_send(ok);
            }
        }
    }
}

/// A staging buffer handed to the writer, with the bytes it reserved.
pub(crate) struct Batch {
    pub(crate) entries: Vec<Entry>,
    pub(crate) bytes: u64,
}

/// Messages to the writer task. The channel is unbounded: batches are
/// bounded by the byte budget (`Shared::queued_bytes`), control messages by
/// the number of callers.
pub(crate) enum Msg {
    Batch(Batch),
    Flush(Ack),
    Shutdown(Option<Ack>),
}

/// One thread's staging buffer for one logger.
#[derive(Debug, Default)]
pub(crate) struct Staging {
    pub(crate) inner: Mutex<StagingInner>,
}

#[derive(Debug, Default)]
pub(crate) struct StagingInner {
    pub(crate) entries: Vec<Entry>,
    /// Estimated encoded bytes of `entries`.
    pub(crate) bytes: u64,
    /// Set by the writer's final sweep: nothing more will be collected.
    pub(crate) sealed: bool,
    /// Every drop on this thread, for `stats()`.
    pub(crate) dropped: DropCounts,
    /// Drops the writer has not yet marked in the file.
    pub(crate) unmarked: DropCounts,
}

impl StagingInner {
    pub(crate) fn count_drop(&mut self, reason: DropReason, n: u64, at: u64) {
        self.dropped.add(reason, n, at);
        self.unmarked.add(reason, n, at);
    }
}

/// A panic while holding one of our locks cannot leave the data
/// inconsistent (plain pushes and swaps), so poisoning is ignored.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The settings producers and the writer read, fixed at start.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) config: SentinelConfig,
    /// A thread hands its staging buffer over at this many records…
    pub(crate) batch_records: usize,
    /// …or at this many bytes, whichever comes first.
    pub(crate) batch_bytes: u64,
}

/// Largest staging batch, in records.
pub(crate) const MAX_BATCH: usize = 256;
/// Largest staging batch, in bytes.
const MAX_BATCH_BYTES: u64 = 64 << 10;

impl Settings {
    pub(crate) fn new(config: SentinelConfig) -> Self {
        let batch_bytes = (config.max_queue_bytes / 8).clamp(1, MAX_BATCH_BYTES);
        Settings {
            config,
            batch_records: MAX_BATCH,
            batch_bytes,
        }
    }
}

/// Stagings known to the writer.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) stagings: Vec<Arc<Staging>>,
    pub(crate) sealed: bool,
}

/// State shared by handles, producers' staging entries and the writer.
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) tx: mpsc::UnboundedSender<Msg>,
    pub(crate) settings: Settings,
    pub(crate) path: Option<PathBuf>,
    /// The fork generation this logger was started in.
    pub(crate) fork_gen: u64,
    pub(crate) closed: AtomicBool,
    pub(crate) healthy: AtomicBool,
    pub(crate) finished: AtomicBool,
    /// The writer wrote its last record and is closing the sink, which
    /// waits up to `exit_timeout` for the compression pass in progress:
    /// waiters allow for that wait instead of taking it for a stall.
    pub(crate) closing: AtomicBool,
    pub(crate) finished_notify: Notify,
    pub(crate) writer_idle: AtomicBool,
    pub(crate) wake: Notify,
    pub(crate) stagings: Mutex<Registry>,
    /// Estimated bytes handed to the writer and not yet written.
    pub(crate) queued_bytes: AtomicU64,
    pub(crate) peak_queued_bytes: AtomicU64,
    /// Bumped whenever the writer takes or writes something; waiters watch it
    /// to tell a slow sink from a stalled one.
    pub(crate) progress: AtomicU64,
    /// `monotonic_ns` when the current write began; 0 outside a write.
    pub(crate) write_started_ns: AtomicU64,
    pub(crate) stalled: AtomicBool,
    pub(crate) stalls: AtomicU64,
    /// Callers waiting for room; the writer notifies only while it is > 0.
    pub(crate) waiters: AtomicUsize,
    pub(crate) room: Mutex<()>,
    pub(crate) room_cv: Condvar,
    pub(crate) room_notify: Notify,
    pub(crate) written: AtomicU64,
    pub(crate) io_error: AtomicU64,
    pub(crate) unserializable: AtomicU64,
    /// Rotation counts, shared with the rotating file and its thread.
    pub(crate) rotation: Arc<Counters>,
    /// Drops of stagings that were retired, and of producers without one.
    pub(crate) retired: Mutex<StagingInner>,
    next_warn_ns: AtomicU64,
    /// Total drops when the last warning went out, so each warning says how many are new.
    warned_dropped: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("closed", &self.closed)
            .field("healthy", &self.healthy)
            .finish_non_exhaustive()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Bumped in a child process by the fork handler (`process.rs`).
pub(crate) static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// How many forks separate this process from the one that loaded sentinel.
#[inline]
pub(crate) fn fork_generation() -> u64 {
    FORK_GENERATION.load(Ordering::Relaxed)
}

impl Shared {
    pub(crate) fn new(
        tx: mpsc::UnboundedSender<Msg>,
        config: SentinelConfig,
        path: Option<PathBuf>,
        fork_gen: u64,
        rotation: Arc<Counters>,
    ) -> Self {
        Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tx,
            settings: Settings::new(config),
            path,
            fork_gen,
            closed: AtomicBool::new(false),
            healthy: AtomicBool::new(true),
            finished: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            finished_notify: Notify::new(),
            writer_idle: AtomicBool::new(false),
            wake: Notify::new(),
            stagings: Mutex::new(Registry::default()),
            queued_bytes: AtomicU64::new(0),
            peak_queued_bytes: AtomicU64::new(0),
            progress: AtomicU64::new(0),
            write_started_ns: AtomicU64::new(0),
            stalled: AtomicBool::new(false),
            stalls: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
            room: Mutex::new(()),
            room_cv: Condvar::new(),
            room_notify: Notify::new(),
            written: AtomicU64::new(0),
            io_error: AtomicU64::new(0),
            unserializable: AtomicU64::new(0),
            rotation,
            retired: Mutex::new(StagingInner::default()),
            next_warn_ns: AtomicU64::new(0),
            warned_dropped: AtomicU64::new(0),
        }
    }

    pub(crate) fn config(&self) -> &SentinelConfig {
        &self.settings.config
    }

    pub(crate) fn stall_timeout(&self) -> Duration {
        self.settings.config.stall_timeout
    }

    /// How long a waiter lets the writer go without progress before calling
    /// the sink stalled: the stall timeout, plus, once the writer is closing,
    /// the exit timeout it may spend waiting for the compression pass.
    pub(crate) fn stall_allowance(&self) -> Duration {
        if self.closing.load(Ordering::Acquire) {
            self.stall_timeout() + self.settings.config.exit_timeout
        } else {
            self.stall_timeout()
        }
    }

    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Healthy, and the sink is not stalled: not flagged by a waiter, and
    /// not inside one write for longer than the stall timeout.
    pub(crate) fn is_writing(&self) -> bool {
        if !self.is_healthy() || self.stalled.load(Ordering::Acquire) {
            return false;
        }
        let started = self.write_started_ns.load(Ordering::Acquire);
        started == 0
            || monotonic_ns().saturating_sub(started) < self.stall_timeout().as_nanos() as u64
    }

    /// Takes `bytes` of the queue budget. A batch larger than the whole
    /// budget still goes through when nothing else waits, so one big record
    /// is never refused for ever.
    pub(crate) fn try_reserve(&self, bytes: u64) -> bool {
        let max = self.settings.config.max_queue_bytes;
        let mut current = self.queued_bytes.load(Ordering::Relaxed);
        loop {
            if current != 0 && current.saturating_add(bytes) > max {
                return false;
            }
            match self.queued_bytes.compare_exchange_weak(
                current,
                current + bytes,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.peak_queued_bytes
                        .fetch_max(current + bytes, Ordering::Relaxed);
                    return true;
                }
                Err(now) => current = now,
            }
        }
    }

    /// Whether `bytes` would fit now (a waiter's re-check; no reservation).
    pub(crate) fn has_room(&self, bytes: u64) -> bool {
        let current = self.queued_bytes.load(Ordering::Acquire);
        current == 0 || current.saturating_add(bytes) <= self.settings.config.max_queue_bytes
    }

    /// The writer made progress: record it, end a stall, wake waiters.
    pub(crate) fn progressed(&self, released: u64) {
        if released > 0 {
            self.queued_bytes.fetch_sub(released, Ordering::AcqRel);
        }
        self.progress.fetch_add(1, Ordering::AcqRel);
        self.stalled.store(false, Ordering::Release);
        self.wake_waiters();
    }

    /// Wakes every caller waiting for room or for the writer to finish.
    pub(crate) fn wake_waiters(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            // Taking the lock orders this wake-up after a waiter's check.
            drop(lock(&self.room));
            self.room_cv.notify_all();
            self.room_notify.notify_waiters();
        }
    }

    /// A waiter saw no progress for the stall timeout.
    pub(crate) fn mark_stalled(&self) {
        if !self.stalled.swap(true, Ordering::AcqRel) {
            self.stalls.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                target: "sentinel",
                reason = "stalled",
                stall_timeout = ?self.stall_timeout(),
                queued_bytes = self.queued_bytes.load(Ordering::Relaxed),
                path = ?self.path,
                "sentinel's sink made no progress; records that do not fit are dropped until it moves"
            );
            self.wake_waiters();
        }
    }

    pub(crate) fn stats(&self) -> LoggerStats {
        let mut counts = lock(&self.retired).dropped;
        for staging in &lock(&self.stagings).stagings {
            counts.merge(&lock(&staging.inner).dropped);
        }
        LoggerStats {
            written: self.written.load(Ordering::Relaxed),
            dropped_queue_full: counts.get(DropReason::QueueFull),
            dropped_stalled: counts.get(DropReason::Stalled),
            dropped_closed: counts.get(DropReason::Closed),
            dropped_unhealthy: counts.get(DropReason::Unhealthy),
            dropped_io_error: self.io_error.load(Ordering::Relaxed),
            dropped_unserializable: self.unserializable.load(Ordering::Relaxed),
            dropped_forked: counts.get(DropReason::Forked),
            queued_bytes: self.queued_bytes.load(Ordering::Relaxed),
            peak_queued_bytes: self.peak_queued_bytes.load(Ordering::Relaxed),
            waiting: self.waiters.load(Ordering::Relaxed) as u64,
            stalls: self.stalls.load(Ordering::Relaxed),
            stalled: !self.is_writing() && self.is_healthy(),
            rotations: self.rotation.rotations.load(Ordering::Relaxed),
            rotation_errors: self.rotation.errors.load(Ordering::Relaxed),
            segments_compressed: self.rotation.compressed.load(Ordering::Relaxed),
            segments_removed: self.rotation.removed.load(Ordering::Relaxed),
        }
    }

    /// A `tracing` warning about drops, at most once per second per logger.
    pub(crate) fn warn_dropped(&self, reason: &'static str) {
        let now = monotonic_ns();
        let next = self.next_warn_ns.load(Ordering::Relaxed);
        if now < next
            || self
                .next_warn_ns
                .compare_exchange(
                    next,
                    now + 1_000_000_000,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        let stats = self.stats();
        let previous = self.warned_dropped.swap(stats.dropped(), Ordering::Relaxed);
        tracing::warn!(
            target: "sentinel",
            reason,
            count = stats.dropped().saturating_sub(previous),
            dropped = stats.dropped(),
            dropped_queue_full = stats.dropped_queue_full,
            dropped_stalled = stats.dropped_stalled,
            dropped_closed = stats.dropped_closed,
            dropped_unhealthy = stats.dropped_unhealthy,
            dropped_io_error = stats.dropped_io_error,
            dropped_unserializable = stats.dropped_unserializable,
            dropped_forked = stats.dropped_forked,
            path = ?self.path,
            "sentinel dropped records"
        );
    }

    /// Registers a staging buffer for the calling thread (`None` once the
    /// writer's final sweep has run).
    pub(crate) fn register(&self) -> Option<Arc<Staging>> {
        let mut reg = lock(&self.stagings);
        if reg.sealed {
            return None;
        }
        let staging = Arc::new(Staging::default());
        reg.stagings.push(Arc::clone(&staging));
        Some(staging)
    }

    #[inline]
    pub(crate) fn wake_writer(&self) {
        if self.writer_idle.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }

    /// The writer is done: nothing more is written, every waiter is released.
    pub(crate) fn mark_finished(&self) {
        self.closed.store(true, Ordering::Release);
        self.finished.store(true, Ordering::Release);
        self.finished_notify.notify_waiters();
        self.waiters.fetch_add(1, Ordering::SeqCst);
        self.wake_waiters();
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}
