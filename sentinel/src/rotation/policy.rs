//! When to rotate, what to keep, and the clock and file-system hooks tests
//! inject. A leaf: it imports only the naming rules.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use super::naming::Compression;

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
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.ns.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl WallClock for ManualClock {
    fn now(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.ns.load(Ordering::SeqCst))
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
