//! Waiting for the writer (for room, for a flush or shutdown to be
//! acknowledged), with every deadline kept by the waiting side.
//!
//! A waiter gives up when its own deadline passes, or when the writer has
//! made no progress for the stall timeout *as measured by the waiter*, so a
//! write blocked in the kernel (a full pipe, a hung NFS mount) cannot hold a
//! caller. Sync waiters block on a `Condvar`; async waiters await a `Notify`
//! raced against a timer on sentinel's own timer thread, which runs nothing
//! but timers: the caller's runtime needs no time driver, and the writer's
//! state cannot delay the timer.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

use super::shared::{Ack, Msg, Shared, fork_generation, lock};

/// Why a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Waited {
    /// What was waited for happened.
    Ready,
    /// The writer made no progress for the stall timeout, as this waiter
    /// measured it (the logger is now flagged stalled).
    Stalled,
    /// The waiter's own deadline passed.
    Deadline,
    /// The logger finished or failed while waiting.
    Closed,
}

/// Tells a slow writer from a stalled one, by the waiter's own clock.
struct StallWatch {
    progress: u64,
    since: Instant,
    deadline: Option<Instant>,
    /// This watch saw the stall (rather than finding it flagged).
    detected: bool,
}

impl StallWatch {
    fn new(shared: &Shared, deadline: Option<Instant>) -> Self {
        StallWatch {
            progress: shared.progress.load(Ordering::Acquire),
            since: Instant::now(),
            deadline,
            detected: false,
        }
    }

    /// Ends a wait: flags a stall this watch detected.
    fn end(self, shared: &Shared, why: Waited) -> Waited {
        if self.detected {
            shared.mark_stalled();
        }
        why
    }

    /// `Err` when the wait must end, else how long to sleep before the next
    /// check.
    fn check(&mut self, shared: &Shared) -> Result<Duration, Waited> {
        if shared.finished.load(Ordering::Acquire) || !shared.is_healthy() {
            return Err(Waited::Closed);
        }
        let now = Instant::now();
        let progress = shared.progress.load(Ordering::Acquire);
        if progress != self.progress {
            self.progress = progress;
            self.since = now;
        }
        let stall_left = shared.stall_allowance().saturating_sub(now - self.since);
        if stall_left.is_zero() {
            // The caller flags the stall (`Shared::mark_stalled`) once it
            // holds no lock: flagging wakes every waiter.
            self.detected = true;
            return Err(Waited::Stalled);
        }
        match self.deadline {
            Some(d) if d <= now => Err(Waited::Deadline),
            Some(d) => Ok(stall_left.min(d - now)),
            None => Ok(stall_left),
        }
    }
}

/// Counts a waiter for as long as it lives, so the writer knows to notify.
struct Waiting<'a>(&'a Shared);

impl<'a> Waiting<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.waiters.fetch_add(1, Ordering::SeqCst);
        Waiting(shared)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiters.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Blocks the calling thread until `ready()` holds, re-checking whenever the
/// writer makes progress.
pub(crate) fn block_until(shared: &Shared, mut ready: impl FnMut() -> bool) -> Waited {
    let _waiting = Waiting::new(shared);
    let mut watch = StallWatch::new(shared, None);
    let mut guard = lock(&shared.room);
    loop {
        if ready() {
            return Waited::Ready;
        }
        let pause = match watch.check(shared) {
            Ok(pause) => pause,
            Err(why) => {
                drop(guard);
                return watch.end(shared, why);
            }
        };
        guard = shared
            .room_cv
            .wait_timeout(guard, pause)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Awaits `ready()` without blocking the thread; the async twin of
/// [`block_until`].
pub(crate) async fn until(shared: &Shared, mut ready: impl FnMut() -> bool) -> Waited {
    let _waiting = Waiting::new(shared);
    let mut watch = StallWatch::new(shared, None);
    loop {
        let notified = shared.room_notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if ready() {
            return Waited::Ready;
        }
        let pause = match watch.check(shared) {
            Ok(pause) => pause,
            Err(why) => return watch.end(shared, why),
        };
        let Some(sleep) = sleep(pause) else {
            // No timer could be had (a thread could not start): do not wait.
            return Waited::Deadline;
        };
        tokio::select! {
            () = &mut notified => {}
            () = sleep => {}
        }
    }
}

/// Runs `fut` (an acknowledgement from the writer) until it finishes, the
/// deadline passes or the writer stalls.
pub(crate) async fn ack<F: Future<Output = bool>>(
    shared: &Shared,
    deadline: Option<Instant>,
    fut: F,
) -> Result<bool, Waited> {
    tokio::pin!(fut);
    let _waiting = Waiting::new(shared);
    let mut watch = StallWatch::new(shared, deadline);
    loop {
        let pause = match watch.check(shared) {
            Ok(pause) => pause,
            // The writer finished: its answer is already there or gone.
            Err(Waited::Closed) => return Ok(fut.await),
            Err(why) => return Err(watch.end(shared, why)),
        };
        let Some(sleep) = sleep(pause) else {
            return Err(Waited::Deadline);
        };
        tokio::select! {
            biased;
            ok = &mut fut => return Ok(ok),
            () = sleep => {}
        }
    }
}

/// Waits for a blocking acknowledgement; the sync twin of [`ack`].
pub(crate) fn block_on_ack(
    shared: &Shared,
    deadline: Option<Instant>,
    rx: &std::sync::mpsc::Receiver<bool>,
) -> Result<bool, Waited> {
    let _waiting = Waiting::new(shared);
    let mut watch = StallWatch::new(shared, deadline);
    loop {
        let pause = match watch.check(shared) {
            Ok(pause) => pause,
            Err(Waited::Closed) => return rx.try_recv().map_err(|_| Waited::Closed),
            Err(why) => return Err(watch.end(shared, why)),
        };
        match rx.recv_timeout(pause) {
            Ok(ok) => return Ok(ok),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Err(Waited::Closed),
        }
    }
}

/// A sleep on sentinel's timer thread (`None` if it cannot be started).
fn sleep(d: Duration) -> Option<tokio::time::Sleep> {
    let handle = timer()?;
    let _enter = handle.enter();
    Some(tokio::time::sleep(d))
}

/// The timer thread of this process (a forked child starts its own).
fn timer() -> Option<Handle> {
    static FIRST: OnceLock<Option<(u64, Handle)>> = OnceLock::new();
    static LATER: Mutex<Option<(u64, Handle)>> = Mutex::new(None);
    let generation = fork_generation();
    if let Some(Some((g, h))) = FIRST.get()
        && *g == generation
    {
        return Some(h.clone());
    }
    if FIRST.get().is_none() {
        return FIRST
            .get_or_init(|| start_timer().map(|h| (generation, h)))
            .as_ref()
            .map(|(_, h)| h.clone());
    }
    // A forked child: the parent's timer thread did not come along. `try_lock`
    // because a thread that held this lock at fork time is gone.
    let mut later = LATER.try_lock().ok()?;
    match later.as_ref() {
        Some((g, h)) if *g == generation => Some(h.clone()),
        _ => {
            let h = start_timer()?;
            *later = Some((generation, h.clone()));
            Some(h)
        }
    }
}

fn start_timer() -> Option<Handle> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .ok()?;
    let handle = rt.handle().clone();
    std::thread::Builder::new()
        .name("sentinel-timer".into())
        .spawn(move || rt.block_on(std::future::pending::<()>()))
        .ok()?;
    Some(handle)
}

/// Whether the writer finished with every record written.
pub(crate) fn finished_ok(shared: &Shared) -> bool {
    shared.finished.load(Ordering::Acquire) && shared.is_healthy()
}

/// Shuts a logger down from sync code, waiting until `deadline`; used by
/// `AsyncLogger::shutdown_blocking` and the exit hook.
pub(crate) fn shutdown_blocking(shared: &Shared, deadline: Option<Instant>) -> bool {
    if shared.finished.load(Ordering::Acquire) {
        return shared.is_healthy();
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let msg = if shared.closed.swap(true, Ordering::AcqRel) {
        Msg::Flush(Ack::Blocking(tx))
    } else {
        Msg::Shutdown(Some(Ack::Blocking(tx)))
    };
    if shared.tx.send(msg).is_err() {
        return finished_ok(shared);
    }
    shared.wake.notify_one();
    match block_on_ack(shared, deadline, &rx) {
        Ok(ok) => ok && finished_ok(shared),
        Err(_) => finished_ok(shared),
    }
}
