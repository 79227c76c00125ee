//! Clock reads used on the caller's hot path.
//!
//! Spans carry raw readings of a cheap monotonic tick counter; the writer
//! turns them into nanoseconds and wall-clock timestamps with an [`Anchor`] it
//! takes every cycle. On x86-64 Linux with an invariant TSC that the kernel
//! itself uses as its clocksource, a tick is one `rdtsc` (a few nanoseconds,
//! versus ~25-70 ns for a vDSO `clock_gettime`, more inside a VM); elsewhere a
//! tick is a nanosecond of `CLOCK_MONOTONIC`. This is the approach of
//! fastrace's `minstant` and of `quanta`.
//!
//! The TSC rate is calibrated once per process, when the first logger starts:
//! each end of a 1 ms window pairs a `CLOCK_MONOTONIC` reading with the TSC
//! readings just before and after it, and a window whose pairs were split by
//! a preemption is measured again; after four doubtful windows ticks stay
//! `CLOCK_MONOTONIC` nanoseconds. The writer refines the rate as the process
//! runs.
//!
//! `SENTINEL_CLOCK=monotonic` in the environment keeps ticks on
//! `CLOCK_MONOTONIC` even where the TSC would do; `auto` (or unset) chooses.
//! Any other value is reported once as an error event (target `sentinel`)
//! and read as `auto`.

use std::ffi::OsStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

/// The environment variable that can keep ticks on `CLOCK_MONOTONIC`.
const SETTING_VAR: &str = "SENTINEL_CLOCK";

/// Parses a value of `SENTINEL_CLOCK` (`None` when unset): whether ticks
/// must be `CLOCK_MONOTONIC` nanoseconds.
///
/// # Errors
///
/// [`crate::Error::InvalidConfig`] naming the variable, the value and the
/// accepted values.
pub(crate) fn parse_setting(value: Option<&OsStr>) -> crate::Result<bool> {
    let Some(value) = value else {
        return Ok(false);
    };
    match value.to_str() {
        Some("auto") => Ok(false),
        Some("monotonic") => Ok(true),
        _ => Err(crate::Error::InvalidConfig {
            field: SETTING_VAR,
            value: format!("{:?}", value.to_string_lossy()),
            reason: "expected `monotonic` or `auto`",
        }),
    }
}

/// `SENTINEL_CLOCK` as read by the calibration, kept so that the error can be
/// reported outside the calibration's one-time initialisation.
static SETTING: OnceLock<crate::Result<bool>> = OnceLock::new();

fn monotonic_forced() -> bool {
    let setting = SETTING.get_or_init(|| parse_setting(std::env::var_os(SETTING_VAR).as_deref()));
    matches!(setting, Ok(true))
}

/// Reports a bad `SENTINEL_CLOCK` once per process.
fn report_bad_setting() {
    static REPORTED: AtomicBool = AtomicBool::new(false);
    if let Some(Err(err)) = SETTING.get()
        && !REPORTED.swap(true, Ordering::Relaxed)
    {
        tracing::error!(target: "sentinel", "{err}; choosing the span clock automatically");
    }
}

/// How ticks are read and converted.
#[derive(Clone, Copy, Debug)]
enum Source {
    /// `rdtsc`, with `ns_per_tick` calibrated against `CLOCK_MONOTONIC`.
    #[cfg_attr(
        not(all(target_arch = "x86_64", target_os = "linux")),
        expect(dead_code, reason = "only x86-64 Linux calibrates the TSC")
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
    report_bad_setting();
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
    if monotonic_forced() {
        return Source::Monotonic;
    }
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
    let Calibration {
        base_ticks,
        base_ns,
        ns_per_tick,
    } = calibrate_rate(&mut SystemClocks)?;
    // SAFETY: as in `now`.
    let _ = unsafe { _rdtsc() };
    Some(Source::Tsc {
        base_ticks,
        base_ns,
        ns_per_tick,
    })
}

/// The clocks calibration reads; tests substitute readings with preemptions
/// injected at chosen moments.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
trait CalibrationClocks {
    fn tsc(&mut self) -> u64;
    fn monotonic_ns(&mut self) -> u64;
}

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
struct SystemClocks;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
impl CalibrationClocks for SystemClocks {
    #[inline]
    fn tsc(&mut self) -> u64 {
        // SAFETY: as in `now`.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    #[inline]
    fn monotonic_ns(&mut self) -> u64 {
        monotonic_ns()
    }
}

/// A TSC rate and one point where ticks and monotonic nanoseconds agree.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Calibration {
    base_ticks: u64,
    base_ns: u64,
    ns_per_tick: f64,
}

/// Length of a calibration window, from the first pair to the last.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const CALIBRATION_WINDOW_NS: u64 = 1_000_000;

/// Windows tried before calibration gives up and ticks stay nanoseconds of
/// `CLOCK_MONOTONIC`.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const CALIBRATION_ATTEMPTS: usize = 4;

/// Bracketed samples taken for each end of a window; the tightest is kept.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const PAIR_SAMPLES: usize = 8;

/// Largest error in the rate that the two end pairs' brackets may allow
/// (0.05%: 0.5 µs in a 1 ms span until the writer refines the rate).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const MAX_RATE_ERROR: f64 = 5e-4;

/// Measures the TSC rate against `CLOCK_MONOTONIC` over a short window.
///
/// A preemption between a TSC read and the monotonic read it is paired with
/// would skew the rate (a 4 ms preemption in a 1 ms window: 5×), so each end
/// of the window is a monotonic read bracketed by two TSC reads, the tightest
/// of several, and a window whose brackets leave the rate uncertain by more
/// than [`MAX_RATE_ERROR`] is measured again. `None` when no window is
/// trustworthy: the caller then keeps the monotonic clock.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn calibrate_rate(clocks: &mut impl CalibrationClocks) -> Option<Calibration> {
    for _ in 0..CALIBRATION_ATTEMPTS {
        let first = tightest_pair(clocks);
        while clocks.monotonic_ns().saturating_sub(first.ns) < CALIBRATION_WINDOW_NS {
            std::hint::spin_loop();
        }
        let last = tightest_pair(clocks);
        let ticks = last.ticks.saturating_sub(first.ticks);
        let ns = last.ns.saturating_sub(first.ns);
        if ticks == 0 || ns < CALIBRATION_WINDOW_NS {
            continue;
        }
        // Each midpoint is within half its bracket of the true tick reading.
        let uncertainty = (first.width + last.width) as f64 / 2.0 / ticks as f64;
        if uncertainty > MAX_RATE_ERROR {
            continue;
        }
        let ns_per_tick = ns as f64 / ticks as f64;
        // Between 100 MHz and 20 GHz, or something is off.
        if !(0.05..=10.0).contains(&ns_per_tick) {
            return None;
        }
        return Some(Calibration {
            base_ticks: first.ticks,
            base_ns: first.ns,
            ns_per_tick,
        });
    }
    None
}

/// A monotonic reading and the TSC reading at the same moment, known to
/// within `width` ticks.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[derive(Clone, Copy, Debug)]
struct Pair {
    ticks: u64,
    ns: u64,
    width: u64,
}

/// The tightest of [`PAIR_SAMPLES`] bracketed pairs: a sample during which
/// the thread was switched out has a wide bracket and loses.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
fn tightest_pair(clocks: &mut impl CalibrationClocks) -> Pair {
    let mut best = Pair {
        ticks: 0,
        ns: 0,
        width: u64::MAX,
    };
    for _ in 0..PAIR_SAMPLES {
        let pair = bracketed_pair(clocks);
        if pair.width < best.width {
            best = pair;
        }
    }
    best
}

/// TSC, monotonic clock, TSC: the monotonic reading was taken between the
/// two TSC readings.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
#[inline]
fn bracketed_pair(clocks: &mut impl CalibrationClocks) -> Pair {
    let before = clocks.tsc();
    let ns = clocks.monotonic_ns();
    let after = clocks.tsc();
    let width = after.saturating_sub(before);
    Pair {
        ticks: before + width / 2,
        ns,
        width,
    }
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
        report_bad_setting();
        let ticks = now();
        // i64 nanoseconds reach the year 2262.
        let unix_ns = match SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i64,
            Err(e) => -(e.duration().as_nanos() as i64),
        };
        let ns_per_tick = match source() {
            #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
            Source::Tsc {
                base_ticks,
                base_ns,
                ..
            } => {
                // Refine the 1 ms calibration over the process's lifetime,
                // from a bracketed pair: a preemption inside an unbracketed
                // one would skew the rate by its length over the elapsed time.
                let pair = bracketed_pair(&mut SystemClocks);
                let elapsed_ticks = pair.ticks.wrapping_sub(base_ticks);
                let elapsed_ns = pair.ns.saturating_sub(base_ns);
                if elapsed_ns > 1_000_000_000
                    && elapsed_ticks > 0
                    && (pair.width as f64) < elapsed_ticks as f64 * REFINE_MAX_ERROR
                {
                    let refined = elapsed_ns as f64 / elapsed_ticks as f64;
                    REFINED_NS_PER_TICK.store(refined.to_bits(), Ordering::Relaxed);
                    refined
                } else {
                    ns_per_tick()
                }
            }
            #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
            Source::Tsc { ns_per_tick, .. } => ns_per_tick,
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

/// Largest bracket, relative to the ticks since calibration, of a pair that
/// refines the rate (after a second: 10 µs).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
const REFINE_MAX_ERROR: f64 = 1e-5;

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
    fn clock_setting_accepts_monotonic_and_auto_only() {
        let parse = |v: &str| parse_setting(Some(OsStr::new(v)));
        assert!(matches!(parse_setting(None), Ok(false)));
        assert!(matches!(parse("auto"), Ok(false)));
        assert!(matches!(parse("monotonic"), Ok(true)));
        for bad in ["tsc", "", "Monotonic"] {
            let msg = parse(bad).unwrap_err().to_string();
            for word in ["SENTINEL_CLOCK", "`monotonic`", "`auto`"] {
                assert!(msg.contains(word), "{msg}");
            }
            assert!(msg.contains(&format!("{bad:?}")), "{msg}");
        }
    }

    #[test]
    fn ticks_never_go_back() {
        let a = now();
        let b = now();
        assert!(b >= a);
    }

    #[test]
    fn tick_durations_agree_with_the_monotonic_clock() {
        // Each tick reading is bracketed by monotonic readings, so being
        // switched out between reads widens the bracket instead of skewing
        // the comparison: the test holds however loaded the machine is.
        let bracket = || {
            let before = monotonic_ns();
            let ticks = now();
            (before, ticks, monotonic_ns())
        };
        let (a0, t0, b0) = bracket();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let (a1, t1, b1) = bracket();
        let measured = Anchor::now().nanos(t0, t1) as f64;
        let (shortest, longest) = ((a1 - b0) as f64, (b1 - a0) as f64);
        // The rate is calibrated to within 0.05% (`MAX_RATE_ERROR`) and NTP
        // may slew CLOCK_MONOTONIC by up to 0.05%; 0.2% leaves room for both.
        let slack = longest * 0.002 + 1_000.0;
        assert!(
            measured > shortest - slack && measured < longest + slack,
            "ticks say {measured} ns, the monotonic clock between {shortest} and {longest} ns"
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

#[cfg(all(test, target_arch = "x86_64", target_os = "linux"))]
mod calibration_tests {
    use super::*;

    /// Clocks on a simulated timeline: every read takes `step_ns`, the TSC
    /// runs at `1 / ns_per_tick` GHz, and the thread can be preempted just
    /// before chosen monotonic reads (that is, between a TSC read and the
    /// monotonic read after it).
    struct FakeClocks {
        ns: u64,
        step_ns: u64,
        ns_per_tick: f64,
        /// (true time from which on, length): each applies once, at the
        /// first monotonic read at or after that time.
        preemptions: Vec<(u64, u64)>,
        /// Preempt before every monotonic read, by this much.
        always_preempt_ns: u64,
    }

    impl FakeClocks {
        fn new() -> Self {
            FakeClocks {
                ns: 1_000_000_000,
                step_ns: 25,
                ns_per_tick: 0.4,
                preemptions: Vec::new(),
                always_preempt_ns: 0,
            }
        }

        fn ticks_at(&self, ns: u64) -> u64 {
            (ns as f64 / self.ns_per_tick) as u64
        }
    }

    impl CalibrationClocks for FakeClocks {
        fn tsc(&mut self) -> u64 {
            self.ns += self.step_ns;
            self.ticks_at(self.ns)
        }

        fn monotonic_ns(&mut self) -> u64 {
            self.ns += self.step_ns + self.always_preempt_ns;
            if let Some(i) = self.preemptions.iter().position(|p| self.ns >= p.0) {
                self.ns += self.preemptions.remove(i).1;
            }
            self.ns
        }
    }

    fn assert_trustworthy(clocks: &FakeClocks, c: Option<Calibration>) {
        let c = c.expect("calibration gave up");
        let error = (c.ns_per_tick - clocks.ns_per_tick).abs() / clocks.ns_per_tick;
        assert!(
            error < 1e-3,
            "rate {} ns/tick, true rate {}",
            c.ns_per_tick,
            clocks.ns_per_tick
        );
        // The base point maps ticks to the monotonic time they were read at,
        // so it cannot come from a pair split by a preemption.
        let base_true_ns = c.base_ticks as f64 * clocks.ns_per_tick;
        assert!(
            (base_true_ns - c.base_ns as f64).abs() < 1_000.0,
            "base point is {} ns off",
            base_true_ns - c.base_ns as f64
        );
    }

    #[test]
    fn calibration_without_preemption_finds_the_rate() {
        let mut clocks = FakeClocks::new();
        let c = calibrate_rate(&mut clocks);
        assert_trustworthy(&clocks, c);
    }

    // regression: issue #11
    #[test]
    fn issue_11_calibration_ignores_a_preemption_inside_the_first_pair() {
        let mut clocks = FakeClocks::new();
        // 4 ms off the CPU between the very first TSC and monotonic reads.
        clocks.preemptions.push((0, 4_000_000));
        let c = calibrate_rate(&mut clocks);
        assert_trustworthy(&clocks, c);
    }

    // regression: issue #11
    #[test]
    fn issue_11_calibration_ignores_a_preemption_inside_the_last_pair() {
        let mut clocks = FakeClocks::new();
        // Just before the window closes, at the monotonic reads that end
        // the wait and those of the closing pair's first samples.
        let at = clocks.ns + 1_000_000 - 2 * clocks.step_ns;
        clocks.preemptions.extend([(at, 4_000_000); 3]);
        let c = calibrate_rate(&mut clocks);
        assert_trustworthy(&clocks, c);
    }

    #[test]
    fn calibration_gives_up_when_every_pair_is_split() {
        let mut clocks = FakeClocks::new();
        clocks.always_preempt_ns = 50_000;
        assert_eq!(calibrate_rate(&mut clocks), None);
    }
}
