//! Clock reads used on the caller's hot path.
//!
//! Wall-clock time is not read per span: spans carry a monotonic reading in
//! nanoseconds (`CLOCK_MONOTONIC`), and the writer turns it into a wall
//! timestamp with an anchor it refreshes every cycle (so a record is off by at
//! most the drift since the last cycle, microseconds).

#[cfg(not(unix))]
use std::sync::OnceLock;
#[cfg(not(unix))]
use std::time::Instant;
use std::time::SystemTime;

#[cfg(not(unix))]
static BASE: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds on the monotonic clock (`CLOCK_MONOTONIC`, the clock behind
/// `Instant`), from an arbitrary origin fixed for the process. Only
/// differences between readings mean anything.
///
/// Read directly rather than through `Instant`: a span reads it twice, and
/// skipping the `OnceLock` base and the `Duration` arithmetic saves a few ns
/// per read (see `benches/writer.rs`, group `clocks`).
#[inline]
pub(crate) fn now_ns() -> u64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC exists
        // on every supported unix, so this cannot fail.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        // u64 nanoseconds cover 584 years of uptime.
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
    }
    #[cfg(not(unix))]
    {
        let base = *BASE.get_or_init(Instant::now);
        Instant::now().saturating_duration_since(base).as_nanos() as u64
    }
}

/// A pair of clock readings taken together, used to map monotonic readings to
/// wall time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Anchor {
    mono_ns: u64,
    unix_ns: i128,
}

impl Anchor {
    pub(crate) fn now() -> Self {
        let mono_ns = now_ns();
        let unix_ns = match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        };
        Anchor { mono_ns, unix_ns }
    }

    /// Unix time in nanoseconds of a monotonic reading.
    pub(crate) fn unix_ns(&self, mono_ns: u64) -> i128 {
        self.unix_ns - (self.mono_ns as i128 - mono_ns as i128)
    }
}

/// CPU time consumed by the calling thread, in nanoseconds.
///
/// One `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` call: a real syscall (not
/// vDSO-accelerated), roughly 100-150 ns, which is why it can be switched off.
#[inline]
pub(crate) fn thread_cpu_ns() -> u64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; the clock id is a
        // constant the platform defines. On failure we report 0.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        if rc != 0 {
            return 0;
        }
        (ts.tv_sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec as u64)
    }
    #[cfg(not(unix))]
    {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_reading_never_goes_back() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a);
    }

    #[test]
    fn thread_cpu_time_advances_with_work() {
        let before = thread_cpu_ns();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_ns() > before);
    }

    #[test]
    fn anchor_maps_monotonic_to_wall_time() {
        let anchor = Anchor::now();
        let wall = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i128;
        let mapped = anchor.unix_ns(now_ns());
        // Both readings were taken within a second of each other.
        assert!((mapped - wall).abs() < 1_000_000_000);
    }
}
