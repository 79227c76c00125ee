//! The process-wide default logger and the exit hook.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::config::SentinelConfig;
use crate::writer::{AsyncLogger, Live, Local, Shared, lock};

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
pub fn default_logger() -> AsyncLogger {
    if let Some(logger) = DEFAULT.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return logger.clone();
    }
    let mut slot = DEFAULT.write().unwrap_or_else(|e| e.into_inner());
    slot.get_or_insert_with(|| {
        let config = SentinelConfig::default();
        AsyncLogger::new(config.clone()).unwrap_or_else(|err| {
            tracing::error!(
                target: "sentinel",
                error = %err,
                reason = "open",
                "cannot create the default sentinel logger; its records will be counted as dropped"
            );
            AsyncLogger::failed(&config)
        })
    })
    .clone()
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
            Some((g, local)) if *g == generation => Some((f.take().expect("called once"))(local)),
            _ => None,
        }
    });
    if let Ok(Some(r)) = hit {
        return r;
    }
    let logger = default_logger();
    let local = crate::writer::with_local(logger.shared(), Clone::clone);
    let _ = CACHED.try_with(|cell| {
        if let Ok(mut cached) = cell.try_borrow_mut() {
            *cached = Some((generation, local.clone()));
        }
    });
    (f.take().expect("called once"))(&local)
}

static LIVE: Live = Mutex::new(Vec::new());
static HOOKED: AtomicBool = AtomicBool::new(false);

/// How long the exit hook waits for each logger to drain.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn register_for_exit(shared: &Arc<Shared>) {
    let mut live = lock(&LIVE);
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(shared));
    drop(live);
    if !HOOKED.swap(true, Ordering::AcqRel) {
        #[cfg(unix)]
        // SAFETY: registering a plain `extern "C" fn()` with the C runtime.
        unsafe {
            libc::atexit(drain_at_exit);
        }
    }
}

/// Runs when the process exits through `exit()` (returning from `main`,
/// `std::process::exit`): drains every live logger so accepted records are
/// written, as the original library does at interpreter exit.
#[cfg(unix)]
extern "C" fn drain_at_exit() {
    // Never unwind into the C runtime.
    let _ = std::panic::catch_unwind(|| {
        let live: Vec<_> = lock(&LIVE).iter().filter_map(|w| w.upgrade()).collect();
        if live.is_empty() {
            return;
        }
        // This thread's thread-locals (tokio's context among them) may
        // already be destroyed at this point of `exit()`: wait on a fresh
        // thread instead.
        let waiter = std::thread::Builder::new()
            .name("sentinel-exit".into())
            .spawn(move || {
                for shared in live {
                    crate::writer::shutdown_shared_blocking(&shared, EXIT_TIMEOUT);
                }
            });
        if let Ok(waiter) = waiter {
            let _ = waiter.join();
        }
    });
}
