//! Clock reads used on the caller's hot path.
//!
//! Spans carry raw readings of a cheap monotonic tick counter; the writer
//! turns them into nanoseconds and wall-clock timestamps with an [`Anchor`] it
//! takes every cycle. On x86-64 Linux with an invariant TSC that the kernel
//! itself uses as its clocksource, a tick is one `rdtsc` (a few nanoseconds,
//! versus ~25-70 ns for a vDSO `clock_gettime`, more inside a VM); elsewhere a
//! tick is a nanosecond of `CLOCK_MONOTONIC`. This is the approach of
//! fastrace's `minstant` and of `quanta`.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

/// How ticks are read and converted.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// `rdtsc`, with `ns_per_tick` calibrated against `CLOCK_MONOTONIC`.
    #[cfg_attr(
        not(all(target_arch = "x86_64", target_os = "linux")),
        allow(dead_code)
    )]
    Tsc {
        base_ticks: u64,
        base_ns: u64,
        ns_per_tick: f64,
    },
    /// Ticks are `CLOCK_MONOTONIC` nanoseconds.
    Monotonic,
}

static SOURCE: OnceLock<Source> = OnceLock::new();

/// Chooses the tick source once per process (a 1 ms calibration when the TSC
/// is used). Loggers call this when they start, so spans never pay for it.
pub(crate) fn init() {
    source();
}

#[inline]
fn source() -> Source {
    *SOURCE.get_or_init(calibrate)
}

/// The current tick reading: monotonic, comparable across threads.
#[inline]
pub(crate) fn now() -> u64 {
    match source() {
        #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
        // SAFETY: `rdtsc` has no preconditions; `Tsc` is only chosen on
        // x86-64 CPUs that report an invariant TSC.
        Source::Tsc { .. } => unsafe { core::arch::x86_64::_rdtsc() },
        #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
        Source::Tsc { .. } => monotonic_ns(),
        Source::Monotonic => monotonic_ns(),
    }
}

/// Nanoseconds on `CLOCK_MONOTONIC` (not affected by wall-clock changes).
#[inline]
pub(crate) fn monotonic_ns() -> u64 {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC
        // always exists on the platforms we build for.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        // u64 nanoseconds cover 584 years of uptime.
        (ts.tv_sec as u64)
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec as u64)
    }
    #[cfg(not(unix))]
    {
        use std::time::Instant;
        static BASE: OnceLock<Instant> = OnceLock::new();
        let base = *BASE.get_or_init(Instant::now);
        Instant::now().saturating_duration_since(base).as_nanos() as u64
    }
}

fn calibrate() -> Source {
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    {
        if let Some(tsc) = calibrate_tsc() {
            return tsc;
        }
    }
    Source::Monotonic
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn calibrate_tsc() -> Option<Source> {
    use core::arch::x86_64::{__cpuid, _rdtsc};

    if std::env::var_os("SENTINEL_CLOCK").is_some_and(|v| v == "monotonic") {
        return None;
    }
    // Invariant TSC: CPUID.80000007H:EDX[8]. Without it the rate may change
    // with frequency scaling or stop in deep sleep.
    let max_ext = __cpuid(0x8000_0000).eax;
    if max_ext < 0x8000_0007 || __cpuid(0x8000_0007).edx & (1 << 8) == 0 {
        return None;
    }
    // The kernel only keeps `tsc` as its clocksource when the TSC is stable
    // and synchronised across CPUs.
    let clocksource =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
            .ok()?;
    if clocksource.trim() != "tsc" {
        return None;
    }
    let (t0, m0) = pair();
    let mut t1;
    let mut m1;
    loop {
        (t1, m1) = pair();
        if m1.saturating_sub(m0) >= 1_000_000 {
            break;
        }
        std::hint::spin_loop();
    }
    let ns_per_tick = (m1 - m0) as f64 / t1.wrapping_sub(t0) as f64;
    // Between 100 MHz and 20 GHz, or something is off.
    if !(0.05..=10.0).contains(&ns_per_tick) {
        return None;
    }
    // SAFETY: as in `now`.
    let _ = unsafe { _rdtsc() };
    Some(Source::Tsc {
        base_ticks: t0,
        base_ns: m0,
        ns_per_tick,
    })
}

/// A TSC reading and a monotonic reading taken as close together as possible.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn pair() -> (u64, u64) {
    // SAFETY: as in `now`.
    let t = unsafe { core::arch::x86_64::_rdtsc() };
    (t, monotonic_ns())
}

/// Clock readings taken together, mapping ticks to nanoseconds and to wall
/// time. The writer takes one per cycle.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Anchor {
    ticks: u64,
    unix_ns: i64,
    ns_per_tick: f64,
}

impl Anchor {
    pub(crate) fn now() -> Self {
        let ticks = now();
        // i64 nanoseconds reach the year 2262.
        let unix_ns = match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i64,
            Err(e) => -(e.duration().as_nanos() as i64),
        };
        let ns_per_tick = match source() {
            Source::Tsc {
                base_ticks,
                base_ns,
                ns_per_tick,
            } => {
                // Refine the 1 ms calibration over the process's lifetime.
                let elapsed_ticks = ticks.wrapping_sub(base_ticks);
                let elapsed_ns = monotonic_ns().saturating_sub(base_ns);
                if elapsed_ns > 1_000_000_000 && elapsed_ticks > 0 {
                    let refined = elapsed_ns as f64 / elapsed_ticks as f64;
                    REFINED_NS_PER_TICK.store(refined.to_bits(), Ordering::Relaxed);
                    refined
                } else {
                    ns_per_tick
                }
            }
            Source::Monotonic => 1.0,
        };
        Anchor {
            ticks,
            unix_ns,
            ns_per_tick,
        }
    }

    /// An anchor where one tick is one nanosecond, for tests of the encoder.
    #[cfg(test)]
    pub(crate) fn identity(ticks: u64) -> Self {
        let unix_ns = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        Anchor {
            ticks,
            unix_ns,
            ns_per_tick: 1.0,
        }
    }

    /// Nanoseconds between two tick readings.
    pub(crate) fn nanos(&self, from: u64, to: u64) -> u64 {
        let ticks = to.saturating_sub(from);
        if self.ns_per_tick == 1.0 {
            ticks
        } else {
            (ticks as f64 * self.ns_per_tick) as u64
        }
    }

    /// Unix time in nanoseconds of a tick reading.
    pub(crate) fn unix_ns(&self, ticks: u64) -> i64 {
        let back = self.ticks.wrapping_sub(ticks) as i64;
        let back_ns = if self.ns_per_tick == 1.0 {
            back
        } else {
            (back as f64 * self.ns_per_tick) as i64
        };
        self.unix_ns.wrapping_sub(back_ns)
    }
}

/// Nanoseconds per tick: the best rate known so far (refined by every
/// [`Anchor`] once the process has run for a second), 1.0 when ticks are
/// nanoseconds.
pub(crate) fn ns_per_tick() -> f64 {
    match source() {
        Source::Tsc { ns_per_tick, .. } => {
            let refined = REFINED_NS_PER_TICK.load(Ordering::Relaxed);
            if refined == 0 {
                ns_per_tick
            } else {
                f64::from_bits(refined)
            }
        }
        Source::Monotonic => 1.0,
    }
}

/// The refined TSC rate as `f64` bits; 0 until the first refinement.
static REFINED_NS_PER_TICK: AtomicU64 = AtomicU64::new(0);

/// CPU time consumed by the calling thread, in nanoseconds, straight from the
/// kernel.
///
/// One `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` call: a real syscall (not
/// vDSO-accelerated), 0.1-0.6 µs depending on the machine. Spans read the CPU
/// clock through [`crate::cpu_clock`], which needs this only after the
/// kernel has switched the thread out.
#[inline]
pub(crate) fn thread_cpu_ns_syscall() -> u64 {
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
    fn ticks_never_go_back() {
        let a = now();
        let b = now();
        assert!(b >= a);
    }

    #[test]
    fn tick_durations_agree_with_the_monotonic_clock() {
        let (t0, m0) = (now(), monotonic_ns());
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (t1, m1) = (now(), monotonic_ns());
        let measured = Anchor::now().nanos(t0, t1) as f64;
        let truth = (m1 - m0) as f64;
        // Within 2% (and 200 µs of read jitter on a busy machine).
        assert!(
            (measured - truth).abs() < truth * 0.02 + 200_000.0,
            "{measured} vs {truth}"
        );
    }

    #[test]
    fn thread_cpu_time_advances_with_work() {
        let before = thread_cpu_ns_syscall();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_ns_syscall() > before);
    }

    #[test]
    fn anchor_maps_ticks_to_wall_time() {
        let anchor = Anchor::now();
        let wall = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        let mapped = anchor.unix_ns(now());
        // Both readings were taken within a second of each other.
        assert!((mapped - wall).abs() < 1_000_000_000);
    }
}
