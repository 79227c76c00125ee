//! A count of elementary steps (a hash-table probe, a tree lookup, a track looked at), so a
//! unit test can show an algorithm's order on a large input without timing it. Outside unit
//! tests [`step`] does nothing.

#[cfg(test)]
use std::cell::Cell;

#[cfg(test)]
thread_local! {
    static STEPS: Cell<u64> = const { Cell::new(0) };
}

/// Counts `n` steps of the current thread's work.
#[inline]
pub(crate) fn step(n: u64) {
    #[cfg(test)]
    STEPS.with(|s| s.set(s.get() + n));
    #[cfg(not(test))]
    let _ = n;
}

/// Runs `f` and returns its result with the steps it counted on this thread.
#[cfg(test)]
pub(crate) fn counted<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = STEPS.with(Cell::get);
    let r = f();
    (r, STEPS.with(Cell::get) - before)
}
