//! The logger handle: cheap to clone, `Send + Sync`, safe to call from any
//! thread, runtime or none.
//!
//! # How a record travels
//!
//! A producer (a `#[trace]` call ending, a [`crate::TimeBlock`] dropping, or
//! [`AsyncLogger::log`]) appends a plain-data entry to a staging buffer owned
//! by its thread (an uncontended lock, no formatting). A full staging batch is
//! handed to the writer through a bounded `tokio::sync::mpsc` channel; the
//! writer also sweeps partly filled batches every few milliseconds, so records
//! reach the file promptly even when a thread logs rarely. The writer task runs
//! on a dedicated thread with its own current-thread runtime: it works from a
//! plain `fn main`, inside any runtime, and after the runtime that first used
//! it has shut down.
//!
//! # Backpressure
//!
//! At most [`SentinelConfig::max_queue_size`] records wait in the channel,
//! plus one staging batch (at most 256 records) per producing thread. When
//! both are full:
//! - with `enqueue_timeout` zero (the default) the record is dropped;
//! - otherwise the producer waits up to the timeout for room: async producers
//!   ([`AsyncLogger::log_async`], `#[trace]` async fns) await without blocking
//!   their thread; sync producers block, except on a current-thread runtime's
//!   thread, which must never block, where the record is dropped instead.
//!
//! Every dropped record is counted by reason ([`AsyncLogger::stats`]) and
//! reported through a `tracing` warning (target `sentinel`, at most once per
//! second) with the fields `reason`, `count` (drops since the previous
//! warning), `dropped` (the total) and one total per reason.
//!
//! # Writes
//!
//! Each writer cycle collects everything queued, orders it by time (so a
//! child span's line always precedes its parent's, even when the two ended on
//! different threads), encodes it, and writes it with a single `write` call to
//! a file opened with `O_APPEND`. Several processes may therefore append to
//! one file: lines never interleave.
//!
//! # Shutdown
//!
//! [`AsyncLogger::shutdown`] drains everything accepted, closes the file and
//! stops the writer; it is idempotent and safe after a failure. A process that
//! returns from `main` or calls `std::process::exit` without shutting down
//! still gets every accepted record written: an `atexit` hook shuts down every
//! live logger (waiting up to 5 seconds). Dropping the last handle starts a
//! shutdown in the background.
//!
//! # Failures
//!
//! An I/O error while writing (disk full, a file system turned read-only) makes
//! the logger unhealthy for good: [`AsyncLogger::is_healthy`] turns false, the
//! records in hand are counted as lost, and later records are refused and
//! counted. A record whose `Serialize` impl fails is dropped alone and counted;
//! the writer stays healthy.

use std::fmt;
use std::fs::OpenOptions;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use serde::Serialize;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::clock::{monotonic_ns, now};
use crate::config::SentinelConfig;
use crate::error::{Error, Result};
use crate::record::Entry;
use crate::worker;

/// Largest staging batch a thread fills before handing it to the writer.
pub(crate) const MAX_BATCH: usize = 256;

/// Counts of what a logger wrote and what it dropped, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoggerStats {
    /// Records written to the sink.
    pub written: u64,
    /// Dropped because the queue was full (after `enqueue_timeout`, if any).
    pub dropped_queue_full: u64,
    /// Dropped because the logger was shut down.
    pub dropped_closed: u64,
    /// Refused because the logger had become unhealthy.
    pub dropped_unhealthy: u64,
    /// Lost in a write that failed (the error made the logger unhealthy).
    pub dropped_io_error: u64,
    /// Dropped because the record failed to serialize or was not a JSON object.
    pub dropped_unserializable: u64,
}

impl LoggerStats {
    /// Every dropped record, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full
            + self.dropped_closed
            + self.dropped_unhealthy
            + self.dropped_io_error
            + self.dropped_unserializable
    }
}

/// Why a record was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DropReason {
    QueueFull,
    Closed,
    Unhealthy,
}

impl DropReason {
    fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Closed => "closed",
            DropReason::Unhealthy => "unhealthy",
        }
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

/// Messages from producers and handles to the writer task.
pub(crate) enum Msg {
    Batch(Vec<Entry>),
    Flush(Ack),
    Shutdown(Option<Ack>),
}

#[derive(Debug, Default)]
pub(crate) struct DropCounts {
    pub(crate) queue_full: u64,
    pub(crate) closed: u64,
    pub(crate) unhealthy: u64,
}

impl DropCounts {
    fn add(&mut self, reason: DropReason, n: u64) {
        match reason {
            DropReason::QueueFull => self.queue_full += n,
            DropReason::Closed => self.closed += n,
            DropReason::Unhealthy => self.unhealthy += n,
        }
    }
}

/// One thread's staging buffer for one logger.
#[derive(Debug, Default)]
pub(crate) struct Staging {
    pub(crate) inner: Mutex<StagingInner>,
}

#[derive(Debug, Default)]
pub(crate) struct StagingInner {
    pub(crate) entries: Vec<Entry>,
    /// Set by the writer's final sweep: nothing more will be collected.
    pub(crate) sealed: bool,
    pub(crate) dropped: DropCounts,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of our locks cannot leave the data
    // inconsistent (plain pushes and swaps), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// State shared by handles, producers' staging entries and the writer.
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) tx: mpsc::Sender<Msg>,
    pub(crate) cpu_time: bool,
    pub(crate) enqueue_timeout: Duration,
    pub(crate) batch: usize,
    pub(crate) path: Option<PathBuf>,
    pub(crate) closed: AtomicBool,
    pub(crate) healthy: AtomicBool,
    pub(crate) finished: AtomicBool,
    pub(crate) finished_notify: Notify,
    pub(crate) writer_idle: AtomicBool,
    pub(crate) wake: Notify,
    pub(crate) stagings: Mutex<Registry>,
    pub(crate) written: AtomicU64,
    pub(crate) io_error: AtomicU64,
    pub(crate) unserializable: AtomicU64,
    /// Drops folded in from stagings that were retired.
    pub(crate) retired: Mutex<DropCounts>,
    next_warn_ns: AtomicU64,
    /// Total drops when the last warning went out, so each warning says how many are new.
    warned_dropped: AtomicU64,
    pub(crate) rt: Option<Handle>,
    /// Told when the last `Shared` reference goes, so the writer thread can
    /// drop its runtime.
    pub(crate) released: Arc<Notify>,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) stagings: Vec<Arc<Staging>>,
    pub(crate) sealed: bool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.released.notify_one();
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.id)
            .field("path", &self.path)
            .field("closed", &self.closed)
            .field("healthy", &self.healthy)
            .finish_non_exhaustive()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Shared {
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    fn stats(&self) -> LoggerStats {
        let mut counts = DropCounts::default();
        {
            let retired = lock(&self.retired);
            counts.queue_full += retired.queue_full;
            counts.closed += retired.closed;
            counts.unhealthy += retired.unhealthy;
        }
        for staging in &lock(&self.stagings).stagings {
            let st = lock(&staging.inner);
            counts.queue_full += st.dropped.queue_full;
            counts.closed += st.dropped.closed;
            counts.unhealthy += st.dropped.unhealthy;
        }
        LoggerStats {
            written: self.written.load(Ordering::Relaxed),
            dropped_queue_full: counts.queue_full,
            dropped_closed: counts.closed,
            dropped_unhealthy: counts.unhealthy,
            dropped_io_error: self.io_error.load(Ordering::Relaxed),
            dropped_unserializable: self.unserializable.load(Ordering::Relaxed),
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
            dropped_closed = stats.dropped_closed,
            dropped_unhealthy = stats.dropped_unhealthy,
            dropped_io_error = stats.dropped_io_error,
            dropped_unserializable = stats.dropped_unserializable,
            path = ?self.path,
            "sentinel dropped records"
        );
    }

    fn register(self: &Arc<Self>) -> Option<Arc<Staging>> {
        let mut reg = lock(&self.stagings);
        if reg.sealed {
            return None;
        }
        let staging = Arc::new(Staging::default());
        reg.stagings.push(Arc::clone(&staging));
        Some(staging)
    }

    #[inline]
    fn wake_writer(&self) {
        if self.writer_idle.load(Ordering::SeqCst) {
            self.wake.notify_one();
        }
    }
}

/// A producer's view of one logger on one thread.
#[derive(Debug, Clone)]
pub(crate) struct Local {
    pub(crate) shared: Arc<Shared>,
    staging: Option<Arc<Staging>>,
}

/// What a producer does when the queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Never wait (async producers wait themselves, see [`Local::reserve`]).
    Never,
    /// Block the thread up to `enqueue_timeout`, unless it runs a
    /// current-thread runtime.
    Block,
}

impl Local {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let staging = shared.register();
        Local { shared, staging }
    }

    /// Stages `entry`: `Ok(true)` when accepted, `Ok(false)` when dropped
    /// (and counted), `Err(entry)` when the queue is full and the caller asked
    /// not to wait, so an async caller can wait and retry.
    #[inline]
    pub(crate) fn push(&self, entry: Entry, wait: Wait) -> std::result::Result<bool, Entry> {
        // The common case, small enough to inline into the span's end so the
        // entry is built in place: room in this thread's staging batch.
        if let Some(staging) = &self.staging
            && self.shared.is_healthy()
        {
            let mut st = lock(&staging.inner);
            if !st.sealed && st.entries.len() < self.shared.batch {
                st.entries.push(entry);
                drop(st);
                self.shared.wake_writer();
                return Ok(true);
            }
        }
        self.push_slow(entry, wait)
    }

    /// `push` when the staging batch is full, sealed or missing, or the
    /// logger is unhealthy.
    #[inline(never)]
    fn push_slow(&self, entry: Entry, wait: Wait) -> std::result::Result<bool, Entry> {
        let shared = &self.shared;
        if !shared.is_healthy() {
            self.count_drop(DropReason::Unhealthy);
            return Ok(false);
        }
        let Some(staging) = &self.staging else {
            self.count_drop(DropReason::Closed);
            return Ok(false);
        };
        let mut st = lock(&staging.inner);
        if st.sealed {
            st.dropped.add(DropReason::Closed, 1);
            drop(st);
            shared.warn_dropped(DropReason::Closed.as_str());
            return Ok(false);
        }
        if st.entries.len() >= shared.batch {
            let full = std::mem::replace(&mut st.entries, Vec::with_capacity(shared.batch));
            match shared.tx.try_send(Msg::Batch(full)) {
                Ok(()) => {}
                Err(err) => {
                    let closed = matches!(err, mpsc::error::TrySendError::Closed(_));
                    if let Msg::Batch(full) = err.into_inner() {
                        st.entries = full;
                    }
                    if closed {
                        // The writer is gone (failed); its final sweep may
                        // not see these, so they stay counted by `sealed`
                        // once it gets here. Refuse the new one.
                        st.dropped.add(DropReason::Closed, 1);
                        drop(st);
                        shared.warn_dropped(DropReason::Closed.as_str());
                        return Ok(false);
                    }
                    drop(st);
                    return self.full(entry, wait);
                }
            }
        }
        st.entries.push(entry);
        drop(st);
        shared.wake_writer();
        Ok(true)
    }

    fn full(&self, entry: Entry, wait: Wait) -> std::result::Result<bool, Entry> {
        let timeout = self.shared.enqueue_timeout;
        if timeout.is_zero() {
            self.count_drop(DropReason::QueueFull);
            return Ok(false);
        }
        match wait {
            Wait::Never => Err(entry),
            Wait::Block => match self.block_for_room(timeout) {
                Some(permit) => Ok(self.push_with_permit(entry, permit)),
                None => {
                    self.count_drop(DropReason::QueueFull);
                    Ok(false)
                }
            },
        }
    }

    /// Blocks the calling thread until the channel has room, or `timeout`.
    fn block_for_room(&self, timeout: Duration) -> Option<mpsc::OwnedPermit<Msg>> {
        let rt = self.shared.rt.as_ref()?;
        let tx = self.shared.tx.clone();
        let wait = {
            let rt = rt.clone();
            move || {
                rt.block_on(async move { tokio::time::timeout(timeout, tx.reserve_owned()).await })
                    .ok()
                    .and_then(|r| r.ok())
            }
        };
        match Handle::try_current() {
            Err(_) => wait(),
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| std::thread::scope(|s| s.spawn(wait).join().ok())?)
            }
            // A current-thread runtime's only thread must not block.
            Ok(_) => None,
        }
    }

    /// Awaits room in the channel up to `enqueue_timeout` without blocking the
    /// thread; the timer runs on the writer's runtime, so the caller's runtime
    /// needs no time driver.
    pub(crate) fn reserve(&self) -> Reserve {
        let shared = &self.shared;
        let timeout = shared.enqueue_timeout;
        let sleep = shared.rt.as_ref().map(|rt| {
            let _enter = rt.enter();
            Box::pin(tokio::time::sleep(timeout))
        });
        Reserve {
            permit: Box::pin(shared.tx.clone().reserve_owned()),
            sleep,
        }
    }

    /// Stages `entry` using a reserved slot: hands the current batch to the
    /// writer through the permit if the staging buffer is still full.
    pub(crate) fn push_with_permit(&self, entry: Entry, permit: mpsc::OwnedPermit<Msg>) -> bool {
        let Some(staging) = &self.staging else {
            self.count_drop(DropReason::Closed);
            return false;
        };
        let mut st = lock(&staging.inner);
        if st.sealed {
            st.dropped.add(DropReason::Closed, 1);
            return false;
        }
        if st.entries.len() >= self.shared.batch {
            let full = std::mem::replace(&mut st.entries, Vec::with_capacity(self.shared.batch));
            permit.send(Msg::Batch(full));
        }
        st.entries.push(entry);
        drop(st);
        self.shared.wake_writer();
        true
    }

    pub(crate) fn count_drop(&self, reason: DropReason) {
        match &self.staging {
            Some(staging) => lock(&staging.inner).dropped.add(reason, 1),
            None => lock(&self.shared.retired).add(reason, 1),
        }
        self.shared.warn_dropped(reason.as_str());
    }
}

/// Waiting for room in the channel, bounded by `enqueue_timeout`.
pub(crate) struct Reserve {
    #[allow(clippy::type_complexity)]
    permit: Pin<
        Box<
            dyn Future<
                    Output = std::result::Result<
                        mpsc::OwnedPermit<Msg>,
                        mpsc::error::SendError<()>,
                    >,
                > + Send,
        >,
    >,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Future for Reserve {
    type Output = Option<mpsc::OwnedPermit<Msg>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(r) = self.permit.as_mut().poll(cx) {
            return Poll::Ready(r.ok());
        }
        match self.sleep.as_mut() {
            Some(sleep) => match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            },
            None => Poll::Ready(None),
        }
    }
}

thread_local! {
    static LOCALS: std::cell::RefCell<Vec<Local>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's staging entry for `shared`.
pub(crate) fn with_local<R>(shared: &Arc<Shared>, f: impl FnOnce(&Local) -> R) -> R {
    let mut f = Some(f);
    let fast = LOCALS.try_with(|locals| {
        if let Ok(list) = locals.try_borrow()
            && let Some(local) = list.iter().find(|l| l.shared.id == shared.id)
        {
            return Some((f.take().expect("called once"))(local));
        }
        None
    });
    if let Ok(Some(r)) = fast {
        return r;
    }
    let local = Local::new(Arc::clone(shared));
    let _ = LOCALS.try_with(|locals| {
        if let Ok(mut list) = locals.try_borrow_mut() {
            // Forget loggers whose writer is gone, so their threads can end.
            list.retain(|l| !l.shared.finished.load(Ordering::Relaxed));
            list.push(local.clone());
        }
    });
    (f.take().expect("called once"))(&local)
}

/// A handle to a JSONL logger and its writer task.
///
/// Cheap to clone (a reference count); all clones share one writer.
///
/// ```
/// use sentinel::{AsyncLogger, SentinelConfig};
///
/// let dir = tempfile::tempdir().unwrap();
/// let logger = AsyncLogger::new(SentinelConfig::new(dir.path().join("app.jsonl"))).unwrap();
/// logger.log(serde_json::json!({"event": "started", "port": 8080}));
/// assert!(logger.flush_blocking(std::time::Duration::from_secs(5)));
/// let text = std::fs::read_to_string(dir.path().join("app.jsonl")).unwrap();
/// assert!(text.contains("\"event\":\"started\""));
/// logger.shutdown_blocking(std::time::Duration::from_secs(5));
/// ```
#[derive(Clone)]
pub struct AsyncLogger {
    handle: Arc<HandleInner>,
}

struct HandleInner {
    shared: Arc<Shared>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        // The last handle is gone: drain and stop in the background. Records
        // still staged by threads are collected by the writer's final sweep.
        if !self.shared.closed.swap(true, Ordering::AcqRel) {
            let _ = self.shared.tx.try_send(Msg::Shutdown(None));
            self.shared.wake.notify_one();
        }
    }
}

impl fmt::Debug for AsyncLogger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncLogger")
            .field("path", &self.handle.shared.path)
            .field("healthy", &self.is_healthy())
            .finish_non_exhaustive()
    }
}

impl AsyncLogger {
    /// Validates `config`, creates missing parent directories, opens the log
    /// file for appending and starts the writer.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a bad setting, [`Error::Open`] when the
    /// file or a parent directory cannot be created or opened, and
    /// [`Error::Spawn`] when the writer thread cannot start.
    pub fn new(config: SentinelConfig) -> Result<Self> {
        config.validate()?;
        let path = config.log_file.clone();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::Open {
                path: path.clone(),
                source,
            })?;
        Self::start(Box::new(file), &config, Some(path))
    }

    /// A logger writing to any `Write` sink instead of a file (handy in tests:
    /// a `Vec<u8>` behind a lock, `std::io::sink()`); `config.log_file` is
    /// ignored.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a bad setting, [`Error::Spawn`] when the
    /// writer thread cannot start.
    pub fn from_writer<W: Write + Send + 'static>(
        writer: W,
        config: SentinelConfig,
    ) -> Result<Self> {
        config.validate()?;
        Self::start(Box::new(writer), &config, None)
    }

    fn start(
        sink: Box<dyn Write + Send>,
        config: &SentinelConfig,
        path: Option<PathBuf>,
    ) -> Result<Self> {
        crate::clock::init();
        crate::cpu_clock::init();
        let batch = config.max_queue_size.clamp(1, MAX_BATCH);
        let capacity = config.max_queue_size.div_ceil(batch);
        let (tx, rx) = mpsc::channel(capacity);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(Error::Spawn)?;
        let released = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tx,
            cpu_time: config.cpu_time,
            enqueue_timeout: config.enqueue_timeout,
            batch,
            path,
            closed: AtomicBool::new(false),
            healthy: AtomicBool::new(true),
            finished: AtomicBool::new(false),
            finished_notify: Notify::new(),
            writer_idle: AtomicBool::new(false),
            wake: Notify::new(),
            stagings: Mutex::new(Registry::default()),
            written: AtomicU64::new(0),
            io_error: AtomicU64::new(0),
            unserializable: AtomicU64::new(0),
            retired: Mutex::new(DropCounts::default()),
            next_warn_ns: AtomicU64::new(0),
            warned_dropped: AtomicU64::new(0),
            rt: Some(rt.handle().clone()),
            released: Arc::clone(&released),
        });
        let weak = Arc::downgrade(&shared);
        let worker_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("sentinel-writer".into())
            .spawn(move || {
                rt.block_on(worker::run(worker_shared, rx, sink));
                // Keep the runtime (and so its timer) alive while handles
                // exist, so a pending `flush_timeout` never polls a timer of
                // a dead runtime; it is dropped here, off any async context.
                if weak.strong_count() > 0 {
                    drop(weak);
                    rt.block_on(released.notified());
                }
            })
            .map_err(Error::Spawn)?;
        crate::global::register_for_exit(&shared);
        Ok(AsyncLogger {
            handle: Arc::new(HandleInner { shared }),
        })
    }

    /// A logger that refuses every record (counting it as unhealthy), used
    /// when the default logger cannot open its file.
    pub(crate) fn failed(config: &SentinelConfig) -> Self {
        let (tx, _rx) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tx,
            cpu_time: config.cpu_time,
            enqueue_timeout: Duration::ZERO,
            batch: 1,
            path: Some(config.log_file.clone()),
            closed: AtomicBool::new(true),
            healthy: AtomicBool::new(false),
            finished: AtomicBool::new(true),
            finished_notify: Notify::new(),
            writer_idle: AtomicBool::new(false),
            wake: Notify::new(),
            stagings: Mutex::new(Registry {
                stagings: Vec::new(),
                sealed: true,
            }),
            written: AtomicU64::new(0),
            io_error: AtomicU64::new(0),
            unserializable: AtomicU64::new(0),
            retired: Mutex::new(DropCounts::default()),
            next_warn_ns: AtomicU64::new(0),
            warned_dropped: AtomicU64::new(0),
            rt: None,
            released: Arc::new(Notify::new()),
        });
        AsyncLogger {
            handle: Arc::new(HandleInner { shared }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// Queues any serializable record (a struct, a map, `serde_json::json!`).
    /// A `"timestamp"` key is put first unless the record has its own.
    /// Serialization happens on the writer.
    ///
    /// Never blocks an async executor thread: when the queue is full the record
    /// is dropped (counted) unless `enqueue_timeout` is set, in which case a
    /// plain thread (or a multi-thread runtime's worker, through
    /// `block_in_place`) waits up to the timeout. In async code prefer
    /// [`AsyncLogger::log_async`].
    ///
    /// Returns whether the record was accepted.
    pub fn log<T: Serialize + Send + 'static>(&self, record: T) -> bool {
        let entry = Entry::User {
            at: now(),
            record: Box::new(record),
        };
        with_local(self.shared(), |local| local.push(entry, Wait::Block)).unwrap_or(false)
    }

    /// Like [`AsyncLogger::log`], but when the queue is full it awaits room (up
    /// to `enqueue_timeout`) without blocking the thread.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits drops the record (it is counted).
    pub async fn log_async<T: Serialize + Send + 'static>(&self, record: T) -> bool {
        let entry = Entry::User {
            at: now(),
            record: Box::new(record),
        };
        let shared = Arc::clone(self.shared());
        let rejected = with_local(&shared, |local| local.push(entry, Wait::Never));
        let entry = match rejected {
            Ok(accepted) => return accepted,
            Err(entry) => entry,
        };
        let reserve = with_local(&shared, Local::reserve);
        let guard = DropOnCancel(Some(Arc::clone(&shared)));
        let permit = reserve.await;
        guard.disarm();
        with_local(&shared, |local| match permit {
            Some(permit) => local.push_with_permit(entry, permit),
            None => {
                local.count_drop(DropReason::QueueFull);
                false
            }
        })
    }

    /// Waits until every record accepted before the call is in the file.
    ///
    /// Returns `false` at once on an unhealthy logger, and `false` when a
    /// write failed meanwhile.
    ///
    /// # Cancel safety
    ///
    /// Cancelling only stops waiting; the flush itself still happens.
    pub async fn flush(&self) -> bool {
        let shared = self.shared();
        if !shared.is_healthy() {
            return false;
        }
        if shared.finished.load(Ordering::Acquire) {
            return shared.is_healthy();
        }
        let (tx, rx) = oneshot::channel();
        if shared.tx.send(Msg::Flush(Ack::Async(tx))).await.is_err() {
            return self.finished_ok();
        }
        rx.await.unwrap_or_else(|_| self.finished_ok())
    }

    /// [`AsyncLogger::flush`], giving up after `timeout` (returns `false`).
    ///
    /// The timer runs on the writer's own runtime, so this works on runtimes
    /// built without a time driver.
    pub async fn flush_timeout(&self, timeout: Duration) -> bool {
        self.within(timeout, self.flush()).await.unwrap_or(false)
    }

    /// Runs `fut` until it finishes or `timeout` passes (`None`), timed by the
    /// writer runtime's timer, which needs nothing from the caller's runtime.
    async fn within<F: Future>(&self, timeout: Duration, fut: F) -> Option<F::Output> {
        let Some(rt) = self.shared().rt.as_ref() else {
            // A logger that never started answers at once.
            return Some(fut.await);
        };
        let sleep = {
            let _enter = rt.enter();
            tokio::time::sleep(timeout)
        };
        Race {
            a: Box::pin(fut),
            b: Box::pin(sleep),
        }
        .await
    }

    /// [`AsyncLogger::flush`] for synchronous code: blocks up to `timeout`.
    ///
    /// Inside a runtime it waits on a helper thread, so it is safe (though a
    /// blocking call) anywhere; in async code prefer `flush().await`.
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        let shared = self.shared();
        if !shared.is_healthy() {
            return false;
        }
        if shared.finished.load(Ordering::Acquire) {
            return shared.is_healthy();
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        if !send_blocking(self.shared(), Msg::Flush(Ack::Blocking(tx)), timeout) {
            return false;
        }
        rx.recv_timeout(timeout)
            .unwrap_or_else(|_| self.finished_ok())
    }

    fn finished_ok(&self) -> bool {
        let shared = self.shared();
        shared.finished.load(Ordering::Acquire) && shared.is_healthy()
    }

    /// Drains everything accepted, closes the file and stops the writer.
    ///
    /// Idempotent: later calls wait for the first to finish. Safe after a
    /// failure. Afterwards [`AsyncLogger::log`] drops (and counts) records.
    /// Returns whether every accepted record was written.
    pub async fn shutdown(&self) -> bool {
        let shared = self.shared();
        let finished = shared.finished_notify.notified();
        if !shared.closed.swap(true, Ordering::AcqRel) {
            let (tx, rx) = oneshot::channel();
            if shared
                .tx
                .send(Msg::Shutdown(Some(Ack::Async(tx))))
                .await
                .is_ok()
            {
                return rx.await.unwrap_or_else(|_| self.finished_ok());
            }
        }
        if !shared.finished.load(Ordering::Acquire) {
            finished.await;
        }
        shared.is_healthy()
    }

    /// [`AsyncLogger::shutdown`], giving up waiting after `timeout`.
    pub async fn shutdown_timeout(&self, timeout: Duration) -> bool {
        self.within(timeout, self.shutdown()).await.unwrap_or(false)
    }

    /// [`AsyncLogger::shutdown`] for synchronous code, waiting up to `timeout`.
    ///
    /// Inside a runtime it waits on a helper thread; in async code prefer
    /// `shutdown().await`.
    pub fn shutdown_blocking(&self, timeout: Duration) -> bool {
        shutdown_shared_blocking(self.shared(), timeout)
    }

    /// `false` once a write has failed (disk full, read-only file system…);
    /// from then on records are refused and counted.
    pub fn is_healthy(&self) -> bool {
        self.shared().is_healthy()
    }

    /// What was written and dropped so far, by reason.
    pub fn stats(&self) -> LoggerStats {
        self.shared().stats()
    }

    /// Every record dropped so far, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.stats().dropped()
    }

    /// Whether spans on this logger record `cpu_time_ms`.
    pub fn records_cpu_time(&self) -> bool {
        self.shared().cpu_time
    }

    /// The file this logger appends to (`None` for a [`AsyncLogger::from_writer`] sink).
    pub fn path(&self) -> Option<&std::path::Path> {
        self.shared().path.as_deref()
    }
}

/// Counts the pending record as dropped if `log_async` is cancelled while it
/// waits for room.
struct DropOnCancel(Option<Arc<Shared>>);

impl DropOnCancel {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for DropOnCancel {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            with_local(&shared, |local| local.count_drop(DropReason::QueueFull));
        }
    }
}

/// The first of two futures to finish; `None` when the second (a timer) wins.
struct Race<A, B> {
    a: Pin<Box<A>>,
    b: Pin<Box<B>>,
}

impl<A: Future, B: Future> Future for Race<A, B> {
    type Output = Option<A::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.a.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if self.b.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

/// Weak references to every live logger, for the exit hook.
pub(crate) type Live = Mutex<Vec<Weak<Shared>>>;

/// Shuts a logger down from sync code, waiting up to `timeout`; used by
/// [`AsyncLogger::shutdown_blocking`] and the exit hook.
pub(crate) fn shutdown_shared_blocking(shared: &Arc<Shared>, timeout: Duration) -> bool {
    if shared.finished.load(Ordering::Acquire) {
        return shared.is_healthy();
    }
    let deadline = std::time::Instant::now() + timeout;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let msg = if shared.closed.swap(true, Ordering::AcqRel) {
        // Someone else started the shutdown; a flush queued behind it is
        // answered when the writer finishes.
        Msg::Flush(Ack::Blocking(tx))
    } else {
        Msg::Shutdown(Some(Ack::Blocking(tx)))
    };
    if !send_blocking(shared, msg, timeout) {
        return shared.finished.load(Ordering::Acquire) && shared.is_healthy();
    }
    match rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
        Ok(ok) => ok && shared.finished.load(Ordering::Acquire),
        Err(_) => shared.finished.load(Ordering::Acquire) && shared.is_healthy(),
    }
}

/// Sends a control message from sync code, waiting up to `timeout` for room.
pub(crate) fn send_blocking(shared: &Shared, msg: Msg, timeout: Duration) -> bool {
    let Some(rt) = shared.rt.clone() else {
        return false;
    };
    let tx = shared.tx.clone();
    let send = move || {
        rt.block_on(async move { tokio::time::timeout(timeout, tx.send(msg)).await })
            .is_ok_and(|r| r.is_ok())
    };
    if Handle::try_current().is_ok() {
        // `Handle::block_on` refuses to run inside a runtime context.
        std::thread::scope(|s| s.spawn(send).join().unwrap_or(false))
    } else {
        send()
    }
}
