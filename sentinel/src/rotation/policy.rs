//! When to rotate, what to keep, the hook retention calls, and the clock and
//! file-system hooks tests inject. A leaf: it imports only the naming rules.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::{Duration, SystemTime};

use super::naming::{Compression, Segment};

/// How often the live file is rotated by time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Period {
    /// Never by time (the default).
    #[default]
    Never,
    /// At the start of every hour.
    Hourly,
    /// At midnight.
    Daily,
}

impl Period {
    /// Length of one period, `None` for [`Period::Never`].
    pub(crate) fn seconds(self) -> Option<i64> {
        match self {
            Period::Never => None,
            Period::Hourly => Some(3600),
            Period::Daily => Some(86_400),
        }
    }
}

/// The wall clock rotation reads: for period boundaries, segment names and
/// the age of segments. Tests inject their own to cross a boundary without
/// waiting.
pub trait WallClock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> SystemTime;

    /// Asks this clock to wake `waker` whenever it jumps, that is moves
    /// other than with the passing of time (a test clock set by hand), so
    /// the writer looks at once whether a period boundary has passed.
    ///
    /// The default does nothing: a clock that follows real time needs no
    /// signal, since the writer's own timer wakes it at each boundary (see
    /// the [module docs](crate::rotation#policies)).
    fn wake_on_jump(&self, waker: Waker) {
        drop(waker);
    }
}

/// [`SystemTime::now`].
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until told to move, for tests.
///
/// Each move wakes the writers using it ([`WallClock::wake_on_jump`]), so a
/// writer with nothing to write still rotates when the clock crosses a
/// period boundary, as it would at the boundary in real time.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use sentinel::rotation::{ManualClock, WallClock};
///
/// let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(3599));
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now(), SystemTime::UNIX_EPOCH + Duration::from_secs(3601));
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    /// Nanoseconds since the Unix epoch.
    ns: AtomicU64,
    /// Woken on every move.
    wakers: Mutex<Vec<Waker>>,
}

impl ManualClock {
    /// A clock showing `at` (the epoch if `at` is earlier).
    pub fn new(at: SystemTime) -> Self {
        let clock = ManualClock::default();
        clock.set(at);
        clock
    }

    /// Shows `at` from now on.
    pub fn set(&self, at: SystemTime) {
        let ns = at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        self.ns.store(ns, Ordering::SeqCst);
        self.wake();
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.ns.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
        self.wake();
    }

    fn wake(&self) {
        let wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        for waker in wakers.iter() {
            waker.wake_by_ref();
        }
    }
}

impl WallClock for ManualClock {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.ns.load(Ordering::SeqCst))
    }

    fn wake_on_jump(&self, waker: Waker) {
        let mut wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        // A writer registers once; a clock shared by many loggers in a test
        // keeps one entry each.
        if !wakers.iter().any(|w| w.will_wake(&waker)) {
            wakers.push(waker);
        }
    }
}

/// A file-system step of rotation, compression or retention, as seen by a
/// [fault hook](crate::SentinelConfig::rotation_fault_hook).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Step {
    /// Appending a batch to the live file, under the shared lock, after
    /// checking the path still names it.
    Append,
    /// Renaming the live file to its segment name.
    Rename,
    /// Creating the new live file after the rename.
    Reopen,
    /// Writing a compressed segment's temporary file.
    Compress,
    /// Renaming a finished compressed segment to its final name.
    Publish,
    /// Removing a plain segment once its compressed twin is published.
    RemovePlain,
    /// Removing a segment that retention gave up.
    Retire,
}

/// Called before each [`Step`]; an `Err` fails the step as if the file
/// system had returned it.
pub type FaultHook = Arc<dyn Fn(Step) -> io::Result<()> + Send + Sync>;

/// Called with each segment retention is about to remove, while it is still
/// there (see [`SentinelConfig::before_removal`]); an `Err` keeps it.
///
/// [`SentinelConfig::before_removal`]: crate::SentinelConfig::before_removal
pub type RemovalHook = Arc<dyn Fn(&Segment) -> io::Result<()> + Send + Sync>;

/// Rotation and retention settings as given in code: `None` falls back to
/// the environment, then to the default (see [`crate::SentinelConfig`]).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Rotation {
    /// Rotate once the live file would exceed this many bytes.
    pub max_bytes: Option<u64>,
    /// Rotate at each period boundary.
    pub every: Option<Period>,
    /// Period boundaries in local time instead of UTC.
    pub local_time: Option<bool>,
    /// Keep at most this many segments.
    pub keep_segments: Option<u64>,
    /// Keep segments totalling at most this many bytes.
    pub keep_bytes: Option<u64>,
    /// Remove segments rotated out longer ago than this.
    pub keep_age: Option<Duration>,
    /// How rotated segments are compressed.
    pub compression: Option<Compression>,
    /// The clock; [`SystemClock`] when `None`.
    pub clock: Option<Arc<dyn WallClock>>,
    /// Called before each file-system step (tests).
    pub fault_hook: Option<FaultHook>,
    /// Called with each segment before retention removes it.
    pub before_removal: Option<RemovalHook>,
}

impl fmt::Debug for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rotation")
            .field("max_bytes", &self.max_bytes)
            .field("every", &self.every)
            .field("local_time", &self.local_time)
            .field("keep_segments", &self.keep_segments)
            .field("keep_bytes", &self.keep_bytes)
            .field("keep_age", &self.keep_age)
            .field("compression", &self.compression)
            .field("clock", &self.clock)
            .field("fault_hook", &self.fault_hook.as_ref().map(|_| "<hook>"))
            .field(
                "before_removal",
                &self.before_removal.as_ref().map(|_| "<hook>"),
            )
            .finish()
    }
}

// The clock and hook are only called by sentinel's own threads, never while
// a caller's panic could observe them half-way: a logger stays unwind safe.
impl std::panic::UnwindSafe for Rotation {}
impl std::panic::RefUnwindSafe for Rotation {}

/// Hooks compare by identity.
impl PartialEq for Rotation {
    fn eq(&self, other: &Self) -> bool {
        fn same<T: ?Sized>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
            match (a, b) {
                (None, None) => true,
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                _ => false,
            }
        }
        self.max_bytes == other.max_bytes
            && self.every == other.every
            && self.local_time == other.local_time
            && self.keep_segments == other.keep_segments
            && self.keep_bytes == other.keep_bytes
            && self.keep_age == other.keep_age
            && self.compression == other.compression
            && same(&self.clock, &other.clock)
            && same(&self.fault_hook, &other.fault_hook)
            && same(&self.before_removal, &other.before_removal)
    }
}

/// Resolved rotation settings: what the writer and the background thread
/// follow.
#[derive(Clone)]
pub(crate) struct Policy {
    pub(crate) max_bytes: Option<u64>,
    pub(crate) every: Period,
    pub(crate) local_time: bool,
    pub(crate) keep_segments: Option<u64>,
    pub(crate) keep_bytes: Option<u64>,
    pub(crate) keep_age: Option<Duration>,
    pub(crate) compression: Compression,
    pub(crate) clock: Arc<dyn WallClock>,
    pub(crate) fault_hook: Option<FaultHook>,
    pub(crate) before_removal: Option<RemovalHook>,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("max_bytes", &self.max_bytes)
            .field("every", &self.every)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Whether anything rotates the file.
    pub(crate) fn rotates(&self) -> bool {
        self.max_bytes.is_some() || self.every != Period::Never
    }

    /// Whether retention removes anything.
    pub(crate) fn retains(&self) -> bool {
        self.keep_segments.is_some() || self.keep_bytes.is_some() || self.keep_age.is_some()
    }

    pub(crate) fn step(&self, step: Step) -> io::Result<()> {
        match &self.fault_hook {
            Some(hook) => hook(step),
            None => Ok(()),
        }
    }

    /// Seconds since the epoch on the policy's clock.
    pub(crate) fn now_secs(&self) -> i64 {
        unix_secs(self.clock.now())
    }

    /// The start of the period holding `secs` (UTC or local seconds since
    /// the epoch, as configured); `None` without time rotation.
    pub(crate) fn period_of(&self, secs: i64) -> Option<i64> {
        let len = self.every.seconds()?;
        let offset = if self.local_time {
            super::lock::local_offset(secs)
        } else {
            0
        };
        let local = secs + offset;
        Some(local - local.rem_euclid(len))
    }

    /// How long until the next period boundary on the policy's clock;
    /// `None` without time rotation.
    pub(crate) fn until_next_period(&self) -> Option<Duration> {
        let len = self.every.seconds()?;
        let now = self.clock.now();
        let secs = unix_secs(now);
        let offset = if self.local_time {
            super::lock::local_offset(secs)
        } else {
            0
        };
        let left = (len - (secs + offset).rem_euclid(len)) as u64;
        let into_second = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Some(Duration::from_secs(left) - Duration::from_nanos(u64::from(into_second)))
    }
}

pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64) - 1,
    }
}

/// Counts shared by the writer, the background thread and
/// [`crate::LoggerStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) rotations: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) compressed: AtomicU64,
    pub(crate) removed: AtomicU64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(every: Period, at: SystemTime) -> Policy {
        Policy {
            max_bytes: None,
            every,
            local_time: false,
            keep_segments: None,
            keep_bytes: None,
            keep_age: None,
            compression: Compression::None,
            clock: Arc::new(ManualClock::new(at)),
            fault_hook: None,
            before_removal: None,
        }
    }

    #[test]
    fn the_next_boundary_is_the_start_of_the_next_period() {
        // 2026-12-02T10:59:58.250Z
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_209_198_250);
        assert_eq!(
            policy(Period::Hourly, at).until_next_period(),
            Some(Duration::from_millis(1_750))
        );
        assert_eq!(
            policy(Period::Daily, at).until_next_period(),
            Some(Duration::from_millis(13 * 3600 * 1000 + 1_750))
        );
        assert_eq!(policy(Period::Never, at).until_next_period(), None);
        // Exactly on a boundary: a whole period to the next one.
        let on = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_209_200);
        assert_eq!(
            policy(Period::Hourly, on).until_next_period(),
            Some(Duration::from_secs(3600))
        );
    }

    #[test]
    fn a_manual_clock_wakes_each_registered_writer_on_every_move() {
        use std::sync::atomic::AtomicUsize;
        use std::task::Wake;

        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let clock = ManualClock::new(SystemTime::UNIX_EPOCH);
        let waker = Waker::from(Arc::clone(&count));
        clock.wake_on_jump(waker.clone());
        clock.wake_on_jump(waker);
        clock.advance(Duration::from_secs(1));
        clock.set(SystemTime::UNIX_EPOCH);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
    }
}
