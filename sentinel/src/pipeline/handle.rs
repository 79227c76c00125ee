//! The public handle: cheap to clone, `Send + Sync`, safe to call from any
//! thread, runtime or none.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::process;
use super::shared::{Ack, LoggerStats, Msg, Shared, fork_generation};
use super::sink::Sink;
use super::staging::{Wait, push_async, with_local};
use super::wait::{self, Waited, finished_ok};
use super::worker;
use crate::clock::now;
use crate::config::SentinelConfig;
use crate::error::{Error, Result};
use crate::record::Entry;
use crate::rotation::file::{RotatingFile, end_cut_line, open_append};
use crate::rotation::policy::Counters;

/// A handle to a JSONL logger and its writer.
///
/// Cheap to clone (a reference count); all clones share one writer. The
/// [module docs](crate::pipeline) say what happens when the queue is full,
/// the sink stalls, the process exits or forks.
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
            let _ = self.shared.tx.send(Msg::Shutdown(None));
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
    /// file or a parent directory cannot be created or opened (a FIFO with no
    /// reader is refused at once instead of blocking), and [`Error::Spawn`]
    /// when the writer thread cannot start.
    pub fn new(config: SentinelConfig) -> Result<Self> {
        config.validate()?;
        let policy = config.rotation_policy()?;
        let path = config.log_file.clone();
        let open_err = |source| Error::Open {
            path: path.clone(),
            source,
        };
        let counters = Arc::new(Counters::default());
        let sink = if policy.rotates() {
            Sink::Rotating(Box::new(
                RotatingFile::open(&path, policy, Arc::clone(&counters), config.exit_timeout)
                    .map_err(open_err)?,
            ))
        } else {
            let mut file = open_append(&path).map_err(open_err)?;
            // Without rotation's lock, the last byte may be another process's
            // append in progress; O_APPEND writes one at a time, so the newline
            // then lands after it: a blank line, which readers skip. Best
            // effort: a file that cannot be read back is still written.
            let ended = file.metadata().and_then(|m| match m.is_file() {
                true => end_cut_line(&path, &mut file, m.len()),
                false => Ok(()),
            });
            if let Err(error) = ended {
                tracing::warn!(
                    target: "sentinel",
                    %error,
                    path = %path.display(),
                    "could not check the end of the log file for a line cut short"
                );
            }
            Sink::Plain(Box::new(file))
        };
        Self::start(sink, config, Some(path), counters)
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
        Self::start(Sink::Plain(Box::new(writer)), config, None, Arc::default())
    }

    fn start(
        sink: Sink,
        config: SentinelConfig,
        path: Option<PathBuf>,
        counters: Arc<Counters>,
    ) -> Result<Self> {
        // Calibrates off the hot path. The CPU clock decides on its first
        // read, so loggers without CPU time never probe it.
        crate::clock::init();
        let (tx, rx) = mpsc::unbounded_channel();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(Error::Spawn)?;
        let shared = Arc::new(Shared::new(tx, config, path, fork_generation(), counters));
        sink.wake_writer_on_jump(&shared);
        let worker_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("sentinel-writer".into())
            .spawn(move || {
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    rt.block_on(worker::run(Arc::clone(&worker_shared), rx, sink));
                }));
                if outcome.is_err() {
                    // A bug of ours: never leave a waiter behind.
                    worker_shared.healthy.store(false, Ordering::Release);
                    worker_shared.mark_finished();
                }
            })
            .map_err(Error::Spawn)?;
        process::register(&shared);
        Ok(AsyncLogger {
            handle: Arc::new(HandleInner { shared }),
        })
    }

    /// A logger that refuses every record (counting it as unhealthy), used
    /// when the default logger cannot open its file.
    pub(crate) fn failed(config: SentinelConfig) -> Self {
        let (tx, _rx) = mpsc::unbounded_channel();
        let path = Some(config.log_file.clone());
        let shared = Shared::new(tx, config, path, fork_generation(), Arc::default());
        shared.healthy.store(false, Ordering::Release);
        shared.mark_finished();
        crate::pipeline::shared::lock(&shared.stagings).sealed = true;
        AsyncLogger {
            handle: Arc::new(HandleInner {
                shared: Arc::new(shared),
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// Queues any serializable record (a struct, a map, `serde_json::json!`).
    /// A `"timestamp"` key is put first unless the record has its own.
    /// Serialization happens on the writer.
    ///
    /// When the queue is full this waits for room, blocking the thread (on a
    /// multi-thread runtime's worker through `block_in_place`), as long as
    /// the writer makes progress; a [lossy](SentinelConfig::lossy) logger
    /// drops instead. In async code prefer [`AsyncLogger::log_async`], which
    /// awaits.
    ///
    /// Returns whether the record was accepted.
    pub fn log<T: Serialize + Send + 'static>(&self, record: T) -> bool {
        let entry = Entry::User {
            at: now(),
            record: Box::new(record),
        };
        with_local(self.shared(), |local| local.push(entry, Wait::Block)).unwrap_or(false)
    }

    /// Like [`AsyncLogger::log`], but when the queue is full it awaits room
    /// without blocking the thread.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits drops the record (counted as
    /// `queue_full`).
    pub async fn log_async<T: Serialize + Send + 'static>(&self, record: T) -> bool {
        let entry = Entry::User {
            at: now(),
            record: Box::new(record),
        };
        push_async(Arc::clone(self.shared()), entry).await
    }

    /// Waits until every record accepted before the call is in the file.
    ///
    /// Returns `false` at once on an unhealthy logger, and `false` when a
    /// write fails meanwhile or the writer makes no progress for the
    /// [stall timeout](SentinelConfig::stall_timeout).
    ///
    /// # Cancel safety
    ///
    /// Cancelling only stops waiting; the flush itself still happens.
    pub async fn flush(&self) -> bool {
        self.flush_until(None).await
    }

    /// [`AsyncLogger::flush`], giving up after `timeout` (returns `false`).
    ///
    /// The deadline is kept by a timer thread of sentinel's that runs nothing
    /// else, so it holds whatever the writer is doing, and works on runtimes
    /// built without a time driver.
    pub async fn flush_timeout(&self, timeout: Duration) -> bool {
        self.flush_until(Some(Instant::now() + timeout)).await
    }

    async fn flush_until(&self, deadline: Option<Instant>) -> bool {
        let shared = self.shared();
        if let Some(answer) = early_answer(shared) {
            return answer;
        }
        let (tx, rx) = oneshot::channel();
        if shared.tx.send(Msg::Flush(Ack::Async(tx))).is_err() {
            return finished_ok(shared);
        }
        let answer = async { rx.await.unwrap_or_else(|_| finished_ok(shared)) };
        wait::ack(shared, deadline, answer).await.unwrap_or(false)
    }

    /// [`AsyncLogger::flush`] for synchronous code: blocks up to `timeout`.
    pub fn flush_blocking(&self, timeout: Duration) -> bool {
        let shared = self.shared();
        if let Some(answer) = early_answer(shared) {
            return answer;
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        if shared.tx.send(Msg::Flush(Ack::Blocking(tx))).is_err() {
            return finished_ok(shared);
        }
        match wait::block_on_ack(shared, Some(Instant::now() + timeout), &rx) {
            Ok(ok) => ok,
            Err(Waited::Closed) => finished_ok(shared),
            Err(_) => false,
        }
    }

    /// Drains everything accepted, closes the file and stops the writer.
    ///
    /// Idempotent: later calls wait for the first to finish. Safe after a
    /// failure. Afterwards [`AsyncLogger::log`] drops (and counts) records.
    /// Returns whether every accepted record was written; `false` also when
    /// the writer made no progress for the stall timeout.
    pub async fn shutdown(&self) -> bool {
        self.shutdown_until(None).await
    }

    /// [`AsyncLogger::shutdown`], giving up waiting after `timeout`; the
    /// deadline holds as for [`AsyncLogger::flush_timeout`].
    pub async fn shutdown_timeout(&self, timeout: Duration) -> bool {
        self.shutdown_until(Some(Instant::now() + timeout)).await
    }

    async fn shutdown_until(&self, deadline: Option<Instant>) -> bool {
        let shared = self.shared();
        if shared.finished.load(Ordering::Acquire) {
            return shared.is_healthy();
        }
        let (tx, rx) = oneshot::channel();
        let msg = if shared.closed.swap(true, Ordering::AcqRel) {
            // Someone else started the shutdown; a flush queued behind it is
            // answered when the writer finishes.
            Msg::Flush(Ack::Async(tx))
        } else {
            Msg::Shutdown(Some(Ack::Async(tx)))
        };
        if shared.tx.send(msg).is_err() {
            return finished_ok(shared);
        }
        let answer = async { rx.await.is_ok_and(|ok| ok) && finished_ok(shared) };
        wait::ack(shared, deadline, answer).await.unwrap_or(false)
    }

    /// [`AsyncLogger::shutdown`] for synchronous code, waiting up to `timeout`.
    pub fn shutdown_blocking(&self, timeout: Duration) -> bool {
        wait::shutdown_blocking(self.shared(), Some(Instant::now() + timeout))
    }

    /// `false` once a write has failed (disk full, read-only file system…),
    /// from then on records are refused and counted; also `false` while the
    /// sink is stalled (see [`LoggerStats::stalled`]).
    pub fn is_healthy(&self) -> bool {
        self.shared().is_writing()
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
        self.shared().config().cpu_time
    }

    /// The file this logger appends to (`None` for a [`AsyncLogger::from_writer`] sink).
    pub fn path(&self) -> Option<&std::path::Path> {
        self.shared().path.as_deref()
    }
}

/// The answer of a flush that need not ask the writer.
fn early_answer(shared: &Shared) -> Option<bool> {
    if !shared.is_healthy() {
        return Some(false);
    }
    if shared.finished.load(Ordering::Acquire) {
        return Some(shared.is_healthy());
    }
    None
}
