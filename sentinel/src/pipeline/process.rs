//! The process around the loggers: the exit hook that drains them, and fork
//! detection.
//!
//! A child forked after a logger started has none of its threads, so the
//! parent's writer is not there to write what the child logs. The child
//! handler only bumps a counter; every logger compares it with the one it was
//! started under and, in a child, refuses records (counted as `forked`)
//! instead of accepting what nobody will write. The default logger is
//! re-created in the child on the same file (see `crate::global`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Instant;

use super::shared::{FORK_GENERATION, Shared, fork_generation};

static HOOKED: AtomicBool = AtomicBool::new(false);
static LIVE: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

#[cfg(unix)]
extern "C" fn forked_child() {
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Installs the exit hook and the fork handler (once) and lists `shared` for
/// the exit hook.
pub(crate) fn register(shared: &Arc<Shared>) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|w| w.strong_count() > 0);
        live.push(Arc::downgrade(shared));
    }
    if !HOOKED.swap(true, Ordering::AcqRel) {
        #[cfg(unix)]
        // SAFETY: registering plain `extern "C" fn()`s with the C runtime;
        // the fork handler only touches an atomic.
        unsafe {
            libc::pthread_atfork(None, None, Some(forked_child));
            libc::atexit(drain_at_exit);
        }
    }
}

/// Runs when the process exits through `exit()` (returning from `main`,
/// `std::process::exit`, a panic that unwound `main`): drains every live
/// logger of this process so accepted records are written, and gives up at
/// the longest of their exit timeouts, counted from here.
#[cfg(unix)]
extern "C" fn drain_at_exit() {
    // Never unwind into the C runtime.
    let _ = std::panic::catch_unwind(drain_live);
}

fn drain_live() {
    let generation = fork_generation();
    // `try_lock`: in a forked child a vanished thread may hold it.
    let live: Vec<Arc<Shared>> = match LIVE.try_lock() {
        Ok(live) => live.iter().filter_map(Weak::upgrade).collect(),
        Err(_) => return,
    };
    let live: Vec<_> = live
        .into_iter()
        .filter(|s| s.fork_gen == generation && !s.finished.load(Ordering::Acquire))
        .collect();
    let Some(timeout) = live.iter().map(|s| s.config().exit_timeout).max() else {
        return;
    };
    let deadline = Instant::now() + timeout;
    // This thread's thread-locals may already be gone at this point of
    // `exit()`: drain on a fresh thread, and wait for it by our own clock.
    let (tx, rx) = std::sync::mpsc::channel();
    let drain = {
        let live = live.clone();
        move || {
            for shared in &live {
                super::wait::shutdown_blocking(shared, Some(deadline));
            }
            let _ = tx.send(());
        }
    };
    let spawned = std::thread::Builder::new()
        .name("sentinel-exit".into())
        .spawn(drain);
    if spawned.is_ok() {
        let _ = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
    for shared in &live {
        if !shared.finished.load(Ordering::Acquire) {
            let stats = shared.stats();
            tracing::error!(
                target: "sentinel",
                reason = "exit",
                exit_timeout = ?shared.config().exit_timeout,
                queued_bytes = stats.queued_bytes,
                written = stats.written,
                path = ?shared.path,
                "sentinel could not write every record before the exit deadline"
            );
        }
    }
}
