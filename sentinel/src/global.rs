//! The process-wide default logger.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, TryLockError};

use crate::config::SentinelConfig;
use crate::pipeline::AsyncLogger;
use crate::pipeline::shared::fork_generation;
use crate::pipeline::staging::{Local, with_local};

static DEFAULT: RwLock<Option<AsyncLogger>> = RwLock::new(None);
/// Bumped on every replacement; threads compare it with their cached copy,
/// so the hot path reads one shared word and takes no lock.
static GENERATION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CACHED: std::cell::RefCell<Option<(u64, Local)>> = const { std::cell::RefCell::new(None) };
}

/// The process-wide default logger, created on first use with
/// [`SentinelConfig::default`] (`sentinel_logs.jsonl` in the working
/// directory).
///
/// If that file cannot be opened the default logger is unhealthy: it refuses
/// and counts every record, and an error event (target `sentinel`) says why.
///
/// In a child process forked after the default logger started, the first
/// call re-creates it with the same settings on the same file.
pub fn default_logger() -> AsyncLogger {
    let generation = fork_generation();
    // In a forked child a thread that held the lock at fork time is gone, so
    // the child only tries it: a logger that refuses (and counts) beats a hang.
    let forked = generation > 0;
    let read = match DEFAULT.try_read() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) if forked => None,
        Err(TryLockError::WouldBlock) => Some(DEFAULT.read().unwrap_or_else(|e| e.into_inner())),
    };
    let Some(read) = read else {
        return AsyncLogger::failed(SentinelConfig::default());
    };
    if let Some(logger) = read.as_ref()
        && logger.shared().fork_gen == generation
    {
        return logger.clone();
    }
    drop(read);
    let slot = match DEFAULT.try_write() {
        Ok(guard) => Some(guard),
        Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
        Err(TryLockError::WouldBlock) if forked => None,
        Err(TryLockError::WouldBlock) => Some(DEFAULT.write().unwrap_or_else(|e| e.into_inner())),
    };
    let Some(mut slot) = slot else {
        return AsyncLogger::failed(SentinelConfig::default());
    };
    let stale = slot.as_ref().filter(|l| l.shared().fork_gen != generation);
    if let Some(stale) = stale {
        let config = stale.shared().config().clone();
        let respawned = match stale.path() {
            Some(_) => open_or_failed(config),
            None => AsyncLogger::failed(config),
        };
        *slot = Some(respawned);
        GENERATION.fetch_add(1, Ordering::Release);
    }
    slot.get_or_insert_with(|| open_or_failed(SentinelConfig::default()))
        .clone()
}

fn open_or_failed(config: SentinelConfig) -> AsyncLogger {
    AsyncLogger::new(config.clone()).unwrap_or_else(|err| {
        tracing::error!(
            target: "sentinel",
            error = %err,
            reason = "open",
            "cannot create the default sentinel logger; its records will be counted as dropped"
        );
        AsyncLogger::failed(config)
    })
}

/// Replaces the default logger (resolved at call time by every `#[trace]`
/// without a `logger` argument) and returns the previous one, which keeps
/// running until it is shut down or dropped.
pub fn set_default_logger(logger: AsyncLogger) -> Option<AsyncLogger> {
    let previous = DEFAULT
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .replace(logger);
    GENERATION.fetch_add(1, Ordering::Release);
    previous
}

/// Runs `f` with this thread's staging entry for the default logger.
#[inline]
pub(crate) fn with_default<R>(f: impl FnOnce(&Local) -> R) -> R {
    let generation = GENERATION.load(Ordering::Acquire);
    let mut f = Some(f);
    let hit = CACHED.try_with(|cell| {
        let cached = cell.try_borrow().ok()?;
        match cached.as_ref() {
            Some((g, local)) if *g == generation && local.shared.fork_gen == fork_generation() => {
                Some((f.take().expect("called once"))(local))
            }
            _ => None,
        }
    });
    if let Ok(Some(r)) = hit {
        return r;
    }
    let logger = default_logger();
    let local = with_local(logger.shared(), Clone::clone);
    let _ = CACHED.try_with(|cell| {
        if let Ok(mut cached) = cell.try_borrow_mut() {
            *cached = Some((generation, local.clone()));
        }
    });
    (f.take().expect("called once"))(&local)
}
