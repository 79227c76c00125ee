//! The producer's side: each thread stages records in its own buffer (an
//! uncontended lock, no formatting) and hands a full buffer to the writer
//! when the byte budget has room, waiting for room when it has not.

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use tokio::runtime::{Handle, RuntimeFlavor};

use super::shared::{Batch, DropReason, Msg, Shared, Staging, StagingInner, fork_generation, lock};
use super::wait::{self, Waited};
use crate::clock::now;
use crate::record::Entry;

/// What a producer does when the queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Hand the entry back ([`Full`]) so an async caller can await room.
    Never,
    /// Block the thread until there is room (or the writer stalls).
    Block,
}

/// The queue had no room and the caller asked not to wait: the entry, and
/// the bytes its staging buffer needs.
#[derive(Debug)]
pub(crate) struct Full {
    pub(crate) entry: Entry,
    bytes: u64,
}

/// A producer's view of one logger on one thread.
#[derive(Debug, Clone)]
pub(crate) struct Local {
    pub(crate) shared: Arc<Shared>,
    staging: Option<Arc<Staging>>,
}

impl Local {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let staging = shared.register();
        Local { shared, staging }
    }

    /// Stages `entry`: `Ok(true)` when accepted, `Ok(false)` when dropped
    /// (and counted), `Err` when the queue is full and `wait` is
    /// [`Wait::Never`].
    #[inline]
    pub(crate) fn push(&self, entry: Entry, wait: Wait) -> Result<bool, Box<Full>> {
        // The common case, small enough to inline into the span's end so the
        // entry is built in place: room in this thread's staging batch.
        if let Some(staging) = &self.staging
            && self.shared.is_healthy()
            && self.shared.fork_gen == fork_generation()
        {
            let st = lock(&staging.inner);
            if !st.sealed && !self.is_full(&st) {
                return Ok(self.stage(st, entry));
            }
        }
        self.push_slow(entry, wait)
    }

    /// Appends `entry` to a staging buffer with room, and wakes an idle
    /// writer.
    #[inline]
    fn stage(&self, mut st: MutexGuard<'_, StagingInner>, entry: Entry) -> bool {
        st.bytes += entry.approx_bytes();
        st.entries.push(entry);
        drop(st);
        self.shared.wake_writer();
        true
    }

    #[inline]
    fn is_full(&self, st: &StagingInner) -> bool {
        let settings = &self.shared.settings;
        st.entries.len() >= settings.batch_records || st.bytes >= settings.batch_bytes
    }

    /// `push` when the staging batch is full, sealed or missing, the logger
    /// is unhealthy, or this is a forked child.
    #[inline(never)]
    fn push_slow(&self, entry: Entry, wait: Wait) -> Result<bool, Box<Full>> {
        let shared = &self.shared;
        if shared.fork_gen != fork_generation() {
            return Ok(self.refuse(DropReason::Forked));
        }
        if !shared.is_healthy() {
            return Ok(self.refuse(DropReason::Unhealthy));
        }
        let Some(staging) = &self.staging else {
            return Ok(self.refuse(DropReason::Closed));
        };
        loop {
            let mut st = lock(&staging.inner);
            if st.sealed {
                drop(st);
                return Ok(self.refuse(DropReason::Closed));
            }
            if !self.is_full(&st) {
                return Ok(self.stage(st, entry));
            }
            let bytes = st.bytes;
            if shared.try_reserve(bytes) {
                let capacity = shared.settings.batch_records;
                let entries = std::mem::replace(&mut st.entries, Vec::with_capacity(capacity));
                st.bytes = 0;
                if let Err(lost) = shared.tx.send(Msg::Batch(Batch { entries, bytes })) {
                    // The writer is gone (it failed or finished): these
                    // records and the new one will never be written.
                    shared.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
                    let n = match lost.0 {
                        Msg::Batch(b) => b.entries.len() as u64,
                        _ => 0,
                    };
                    st.count_drop(DropReason::Closed, n + 1, now());
                    drop(st);
                    shared.warn_dropped(DropReason::Closed.as_str());
                    return Ok(false);
                }
                return Ok(self.stage(st, entry));
            }
            drop(st);
            if shared.config().lossy {
                return Ok(self.refuse(DropReason::QueueFull));
            }
            if shared.stalled.load(Ordering::Acquire) {
                return Ok(self.refuse(DropReason::Stalled));
            }
            match wait {
                // Boxed: a full queue is rare and its caller is about to
                // wait, while every push's return value stays small.
                Wait::Never => return Err(Box::new(Full { entry, bytes })),
                Wait::Block => match self.block_for_room(bytes) {
                    Waited::Ready => {}
                    why => return Ok(self.refuse(reason(why, shared))),
                },
            }
        }
    }

    /// Blocks this thread until `bytes` fit the queue; on a multi-thread
    /// runtime's worker through `block_in_place`, so its other tasks move on.
    fn block_for_room(&self, bytes: u64) -> Waited {
        let shared = &*self.shared;
        let wait = || wait::block_until(shared, || shared.has_room(bytes));
        match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }

    /// Counts a drop (by this thread, so no shared lock) and returns `false`.
    pub(crate) fn refuse(&self, reason: DropReason) -> bool {
        let at = now();
        match &self.staging {
            Some(staging) => lock(&staging.inner).count_drop(reason, 1, at),
            None => lock(&self.shared.retired).count_drop(reason, 1, at),
        }
        self.shared.warn_dropped(reason.as_str());
        false
    }
}

/// The drop reason for a wait that ended without room.
pub(crate) fn reason(why: Waited, shared: &Shared) -> DropReason {
    match why {
        Waited::Closed if !shared.is_healthy() => DropReason::Unhealthy,
        Waited::Closed => DropReason::Closed,
        Waited::Ready | Waited::Stalled | Waited::Deadline => DropReason::Stalled,
    }
}

/// Stages `entry`, awaiting room without blocking the thread when the queue
/// is full. Returns whether the entry was accepted.
///
/// Cancel safety: dropping the future while it waits drops the entry,
/// counted as `queue_full`.
pub(crate) async fn push_async(shared: Arc<Shared>, entry: Entry) -> bool {
    let mut entry = entry;
    loop {
        let full = match with_local(&shared, |local| local.push(entry, Wait::Never)) {
            Ok(accepted) => return accepted,
            Err(full) => full,
        };
        entry = full.entry;
        let cancelled = CountOnCancel(Some(&shared));
        let why = wait::until(&shared, || shared.has_room(full.bytes)).await;
        cancelled.disarm();
        if why != Waited::Ready {
            return with_local(&shared, |local| local.refuse(reason(why, &shared)));
        }
    }
}

/// Counts the pending entry as dropped if its waiting future is cancelled.
struct CountOnCancel<'a>(Option<&'a Arc<Shared>>);

impl CountOnCancel<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for CountOnCancel<'_> {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            with_local(shared, |local| local.refuse(DropReason::QueueFull));
        }
    }
}

thread_local! {
    static LOCALS: std::cell::RefCell<Vec<Local>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's staging entry for `shared`. During thread
/// teardown (thread-locals gone) `f` gets a fresh entry whose staging the
/// writer collects and then retires.
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
