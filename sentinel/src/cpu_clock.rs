//! The calling thread's CPU time, read without a syscall on the hot path.
//!
//! `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` is a real syscall: about 0.1 µs
//! on bare metal and 0.3-0.6 µs in the virtual machines this crate was
//! measured on, more than the rest of a `#[trace]` call, which reads it twice.
//! But while the kernel keeps a thread on its CPU, the thread's CPU time
//! advances exactly as fast as the wall clock; it only stands still while the
//! thread is switched out. So each thread reads the kernel's clock once (an
//! *anchor*) and afterwards adds the span clock's ticks ([`clock::now`])
//! elapsed since then, for as long as it has not been switched out.
//!
//! The kernel says whether it switched a thread out through restartable
//! sequences (rseq: Linux 4.18; glibc 2.35 and later register every thread).
//! Whenever the kernel preempts a thread, the thread blocks, or a signal
//! arrives, the kernel clears the `rseq_cs` word of the thread's rseq area on
//! its way back to user space, unless the thread was inside the critical
//! section that word describes. At each anchor the thread points the word at
//! a descriptor of an empty critical section (its "code" is a byte of data
//! that no thread ever executes, so no sequence is ever restarted); a read
//! that still finds the word pointing there knows the thread has run without
//! interruption since the anchor, and one that finds it cleared takes a new
//! anchor. Cost: a tick read and a load (a few ns) instead of a syscall, plus
//! one syscall after each context switch.
//!
//! The descriptor, its "code" byte and its abort signature live in an
//! anonymous page mapped once and never unmapped: the kernel follows a
//! thread's word at every switch, so it must stay valid even if this library
//! is unloaded (`dlclose`) while some thread's word still points there.
//!
//! # Choosing the path
//!
//! Nothing is decided until a thread first reads its CPU time, so a process
//! whose loggers all have [`cpu_time(false)`](crate::SentinelConfig::cpu_time)
//! never probes the kernel. On that first read, once per process, a probe
//! thread checks (about 10 ms, more on a loaded machine; the first span with
//! CPU time pays it) that the kernel clears the word both
//! when a thread blocks (two 200 µs sleeps) and when it is preempted (by a
//! spinning thread on the same CPU), that a syscall leaves it alone, and that
//! a fast read costs less than the syscall (it would not on a kernel that
//! clears the word on every syscall, since each read would re-anchor). The
//! fast path is used only where all of that holds, on x86-64 Linux with glibc
//! and rseq registered for the thread; anywhere else every read is the
//! syscall.
//!
//! `SENTINEL_CPU_CLOCK` overrides the choice: `syscall` always uses the
//! syscall, `fast` uses the fast path wherever glibc registered rseq, without
//! the probe, and `auto` (or unset) probes. Any other value is reported once
//! as an error event (target `sentinel`) and read as `auto`.
//!
//! Accuracy: an anchor is at most 10 ms old, so an error in the tick rate
//! adds at most about 1 µs. Interrupt handlers, and time a hypervisor steals
//! from a virtual CPU while the thread runs, count as CPU time here; the
//! kernel's clock leaves them out when it is built with IRQ and steal-time
//! accounting. (On the VM measured, steal was under 0.1% of CPU time.)

use std::cell::Cell;
use std::ffi::OsStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering, compiler_fence};

use crate::clock;

/// Longest an anchor is trusted, in nanoseconds: bounds what an error in the
/// tick rate can add, and lets a thread pick up the writer's refined rate.
const MAX_ANCHOR_AGE_NS: f64 = 10_000_000.0;

/// Attempts at taking an anchor before a read settles for the syscall alone.
const ANCHOR_ATTEMPTS: usize = 3;

/// The environment variable that overrides how CPU time is read.
const SETTING_VAR: &str = "SENTINEL_CPU_CLOCK";

/// How a thread reads its CPU time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Not decided yet (the thread has not read its CPU time).
    Unset,
    /// Anchor plus ticks while the rseq word says the thread stayed on its CPU.
    Rseq,
    /// One `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` per read.
    Syscall,
}

/// What `SENTINEL_CPU_CLOCK` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Setting {
    /// Probe the kernel and use the fast path if it passes (the default).
    Auto,
    /// Always the syscall.
    Syscall,
    /// The fast path wherever rseq is registered, without the probe.
    Fast,
}

/// Parses a value of `SENTINEL_CPU_CLOCK` (`None` when unset).
///
/// # Errors
///
/// [`crate::Error::InvalidConfig`] naming the variable, the value and the
/// accepted values.
pub(crate) fn parse_setting(value: Option<&OsStr>) -> crate::Result<Setting> {
    let Some(value) = value else {
        return Ok(Setting::Auto);
    };
    match value.to_str() {
        Some("auto") => Ok(Setting::Auto),
        Some("syscall") => Ok(Setting::Syscall),
        Some("fast") => Ok(Setting::Fast),
        _ => Err(crate::Error::InvalidConfig {
            field: SETTING_VAR,
            value: format!("{:?}", value.to_string_lossy()),
            reason: "expected `syscall`, `fast` or `auto`",
        }),
    }
}

/// `SENTINEL_CPU_CLOCK`, read once per process. A bad value reads as `Auto`
/// and is reported once, after the value is stored, so a subscriber that
/// reads the CPU clock while handling the report finds it decided.
fn setting() -> Setting {
    static SETTING: OnceLock<crate::Result<Setting>> = OnceLock::new();
    static REPORTED: AtomicBool = AtomicBool::new(false);
    match SETTING.get_or_init(|| parse_setting(std::env::var_os(SETTING_VAR).as_deref())) {
        Ok(setting) => *setting,
        Err(err) => {
            if !REPORTED.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    target: "sentinel",
                    "{err}; choosing how to read CPU time automatically"
                );
            }
            Setting::Auto
        }
    }
}

#[derive(Debug)]
struct ThreadClock {
    mode: Cell<Mode>,
    /// This thread's `rseq_cs` word (null unless `mode` is `Rseq`).
    word: Cell<*mut u64>,
    /// The value the word holds while armed: the descriptor's address.
    descriptor: Cell<u64>,
    /// Tick reading and CPU nanoseconds at the anchor.
    anchor_ticks: Cell<u64>,
    anchor_ns: Cell<u64>,
    /// Ticks from which on the anchor is too old; 0 forces a new anchor.
    deadline: Cell<u64>,
    ns_per_tick: Cell<f64>,
}

thread_local! {
    static THREAD: ThreadClock = const { ThreadClock::new() };
}

/// CPU time consumed by the calling thread, in nanoseconds. Only differences
/// between two reads on one thread are meaningful.
#[inline]
pub(crate) fn thread_cpu_ns() -> u64 {
    // During thread-local teardown the thread's clock may be gone; the
    // kernel's clock is always there.
    THREAD
        .try_with(ThreadClock::read)
        .unwrap_or_else(|_| clock::thread_cpu_ns_syscall())
}

/// How this thread reads its CPU time (deciding now if it has not yet).
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "tests check which path is in use")
)]
pub(crate) fn mode() -> Mode {
    THREAD
        .try_with(|c| {
            if c.mode.get() == Mode::Unset {
                c.setup();
            }
            c.mode.get()
        })
        .unwrap_or(Mode::Syscall)
}

impl ThreadClock {
    const fn new() -> Self {
        ThreadClock {
            mode: Cell::new(Mode::Unset),
            word: Cell::new(std::ptr::null_mut()),
            descriptor: Cell::new(0),
            anchor_ticks: Cell::new(0),
            anchor_ns: Cell::new(0),
            deadline: Cell::new(0),
            ns_per_tick: Cell::new(1.0),
        }
    }

    /// A clock on the fast path with this thread's `word`.
    #[cfg_attr(
        not(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu")),
        expect(dead_code, reason = "only the rseq probe builds one")
    )]
    fn armed(word: *mut u64, descriptor: u64) -> Self {
        let clock = ThreadClock::new();
        clock.mode.set(Mode::Rseq);
        clock.word.set(word);
        clock.descriptor.set(descriptor);
        clock
    }

    #[inline]
    fn read(&self) -> u64 {
        let t = clock::now();
        // The word must be checked after the tick read: a switch between the
        // two then shows up as a cleared word, never as a stale tick.
        compiler_fence(Ordering::SeqCst);
        let word = self.word.get();
        // SAFETY: a non-null `word` points into this thread's rseq area, which
        // glibc keeps registered (and mapped) for the thread's whole life.
        if !word.is_null()
            && t < self.deadline.get()
            && unsafe { word.read_volatile() } == self.descriptor.get()
        {
            let ticks = t.saturating_sub(self.anchor_ticks.get());
            return self.anchor_ns.get() + (ticks as f64 * self.ns_per_tick.get()) as u64;
        }
        self.slow()
    }

    #[cold]
    #[inline(never)]
    fn slow(&self) -> u64 {
        if self.mode.get() == Mode::Unset {
            self.setup();
        }
        match self.mode.get() {
            Mode::Rseq => self.anchor(),
            Mode::Unset | Mode::Syscall => clock::thread_cpu_ns_syscall(),
        }
    }

    fn setup(&self) {
        match rseq::thread_word(setting()) {
            Some((word, descriptor)) => {
                self.word.set(word);
                self.descriptor.set(descriptor);
                self.mode.set(Mode::Rseq);
            }
            None => self.mode.set(Mode::Syscall),
        }
    }

    /// Points the word at the descriptor and reads the kernel's clock; keeps
    /// the reading as the new anchor if the thread was not switched out
    /// meanwhile.
    fn anchor(&self) -> u64 {
        let word = self.word.get();
        let descriptor = self.descriptor.get();
        for _ in 0..ANCHOR_ATTEMPTS {
            // SAFETY: `word` is this thread's rseq_cs word (see `read`); only
            // this thread and the kernel, on this thread's behalf, touch it.
            // `descriptor` is the address of a valid descriptor that stays
            // mapped for the life of the process.
            unsafe { word.write_volatile(descriptor) };
            compiler_fence(Ordering::SeqCst);
            let t0 = clock::now();
            let ns = clock::thread_cpu_ns_syscall();
            let t1 = clock::now();
            compiler_fence(Ordering::SeqCst);
            // SAFETY: as above.
            if unsafe { word.read_volatile() } == descriptor {
                // The kernel sampled its clock somewhere inside the syscall.
                let at = t0 + t1.saturating_sub(t0) / 2;
                let rate = clock::ns_per_tick();
                self.anchor_ticks.set(at);
                self.anchor_ns.set(ns);
                self.ns_per_tick.set(rate);
                self.deadline
                    .set(at.saturating_add((MAX_ANCHOR_AGE_NS / rate) as u64));
                return ns;
            }
        }
        // Switched out during every attempt (a loaded machine): this reading
        // is exact, the next read tries again.
        clock::thread_cpu_ns_syscall()
    }
}

/// Forgets this thread's anchor; runs in a child process after `fork`, whose
/// CPU clock starts again from zero.
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu")),
    expect(dead_code, reason = "only the rseq path registers the fork handler")
)]
fn forget_anchor() {
    let _ = THREAD.try_with(|c| c.deadline.set(0));
}

#[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
mod rseq {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use super::{Setting, ThreadClock};
    use crate::clock;

    /// glibc's rseq signature on x86 (`RSEQ_SIG` in `sys/rseq.h`). The kernel
    /// refuses (with `SIGSEGV`) a descriptor whose abort address does not
    /// follow these four bytes, even if it never aborts.
    const RSEQ_SIG: u32 = 0x5305_3053;

    /// Offset of `rseq_cs` in `struct rseq` (after `cpu_id_start`, `cpu_id`).
    const RSEQ_CS_OFFSET: isize = 8;
    /// Offset of `cpu_id`, negative until the kernel has registered the area.
    const CPU_ID_OFFSET: isize = 4;
    /// `struct rseq` up to and including `rseq_cs` and `flags`.
    const MIN_RSEQ_SIZE: u32 = 20;

    /// `struct rseq_cs`: version, flags, start, length, abort address.
    #[repr(C, align(32))]
    struct Descriptor {
        version: u32,
        flags: u32,
        start_ip: u64,
        post_commit_offset: u64,
        abort_ip: u64,
    }

    /// Length of the descriptor page (mmap rounds it up to a whole page).
    const PAGE_LEN: usize = 4096;
    /// Where the "code" of the empty critical section lives in the page: a
    /// byte of data, which no thread executes, so the kernel never finds a
    /// thread inside it.
    const START_OFFSET: usize = 64;
    /// Where the abort signature lives; the (never taken) abort address is
    /// right after it.
    const SIG_OFFSET: usize = 96;

    /// The descriptor page's address: mapped on first use, never unmapped,
    /// so a thread's word stays valid even after this library is unloaded.
    static PAGE: OnceLock<Option<usize>> = OnceLock::new();

    fn page() -> Option<usize> {
        *PAGE.get_or_init(map_page)
    }

    fn map_page() -> Option<usize> {
        // SAFETY: a fresh anonymous private mapping; no existing memory is
        // affected.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return None;
        }
        let base = page as usize;
        let descriptor = Descriptor {
            version: 0,
            flags: 0,
            start_ip: (base + START_OFFSET) as u64,
            post_commit_offset: 1,
            abort_ip: (base + SIG_OFFSET + 4) as u64,
        };
        // SAFETY: the page is writable, page-aligned and PAGE_LEN bytes long,
        // so both writes are in bounds and aligned; nothing else uses it yet.
        unsafe {
            page.cast::<Descriptor>().write(descriptor);
            page.cast::<u8>()
                .add(SIG_OFFSET)
                .cast::<u32>()
                .write(RSEQ_SIG);
        }
        // SAFETY: the mapping made above; read-only from now on (the kernel
        // only reads it). Should this fail, the page merely stays writable.
        unsafe { libc::mprotect(page, PAGE_LEN, libc::PROT_READ) };
        Some(base)
    }

    /// `__rseq_offset` and the descriptor's address, once the process-wide
    /// checks have passed.
    static USABLE: OnceLock<Option<(isize, u64)>> = OnceLock::new();

    /// The calling thread's `rseq_cs` word and the value that arms it, if
    /// the fast path may use them.
    pub(super) fn thread_word(setting: Setting) -> Option<(*mut u64, u64)> {
        let (offset, descriptor) = (*USABLE.get_or_init(|| decide(setting)))?;
        Some((word_at(offset)?, descriptor))
    }

    #[cfg(test)]
    pub(super) fn probed() -> bool {
        USABLE.get().is_some()
    }

    /// The descriptor, its "code" byte and its signature.
    #[cfg(test)]
    pub(super) fn descriptor_addresses() -> Option<[usize; 3]> {
        let base = page()?;
        Some([base, base + START_OFFSET, base + SIG_OFFSET])
    }

    fn decide(setting: Setting) -> Option<(isize, u64)> {
        if setting == Setting::Syscall {
            return None;
        }
        let offset = registered_offset()?;
        let descriptor = page()? as u64;
        if setting == Setting::Auto {
            // On a thread of its own: the probe pins itself to a CPU.
            let findings = std::thread::scope(|s| {
                std::thread::Builder::new()
                    .name("sentinel-cpu-probe".into())
                    .spawn_scoped(s, || probe(offset, descriptor))
                    .ok()?
                    .join()
                    .ok()?
            })?;
            if !findings.fast_path_pays() {
                return None;
            }
        }
        // A forked child keeps its parent thread's anchor but starts its CPU
        // clock from zero.
        // SAFETY: registers a handler that only touches a thread-local cell.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        Some((offset, descriptor))
    }

    /// glibc's `__rseq_offset`, if glibc registered an rseq area large
    /// enough for the fast path.
    fn registered_offset() -> Option<isize> {
        // SAFETY: `dlsym` with RTLD_DEFAULT and NUL-terminated names; the
        // symbols, when glibc (2.35+) exports them, are an `isize` and a
        // `u32` that never change after startup.
        let (offset, size) = unsafe {
            let offset = libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_offset".as_ptr());
            let size = libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_size".as_ptr());
            if offset.is_null() || size.is_null() {
                return None;
            }
            (offset.cast::<isize>().read(), size.cast::<u32>().read())
        };
        // Smaller: glibc.pthread.rseq=0, or a kernel without rseq.
        (size >= MIN_RSEQ_SIZE).then_some(offset)
    }

    /// The calling thread's `rseq_cs` word in the rseq area at `offset` from
    /// the thread pointer, if the kernel registered that area.
    fn word_at(offset: isize) -> Option<*mut u64> {
        let area = area(offset);
        // SAFETY: `area` is this thread's registered rseq area (glibc
        // allocates it in the thread's static TLS block), at least
        // `MIN_RSEQ_SIZE` bytes long.
        let cpu_id = unsafe { area.offset(CPU_ID_OFFSET).cast::<i32>().read_volatile() };
        if cpu_id < 0 {
            // Registration failed or has not happened for this thread.
            return None;
        }
        // SAFETY: as above; `rseq_cs` is 8-byte aligned in `struct rseq`.
        Some(unsafe { area.offset(RSEQ_CS_OFFSET) }.cast::<u64>())
    }

    fn area(offset: isize) -> *mut u8 {
        let tp: *mut u8;
        // SAFETY: on x86-64 glibc, `fs:0` holds the thread control block's
        // address (the thread pointer), which `__rseq_offset` is relative to.
        unsafe {
            std::arch::asm!(
                "mov {}, fs:0",
                out(reg) tp,
                options(nostack, readonly, preserves_flags, pure)
            );
        }
        tp.wrapping_offset(offset)
    }

    /// What the probe learnt about this kernel.
    #[derive(Clone, Copy, Debug, PartialEq)]
    pub(super) struct Findings {
        /// Sleeping cleared the word (two sleeps out of two).
        pub(super) blocking_clears: bool,
        /// Being preempted cleared it; `None` when no preemption was seen.
        pub(super) preemption_clears: Option<bool>,
        /// A syscall left it armed (so an anchor sticks).
        pub(super) syscall_keeps: bool,
        /// Best cost of a read, in nanoseconds: fast path and syscall.
        pub(super) fast_read_ns: f64,
        pub(super) syscall_read_ns: f64,
    }

    impl Findings {
        /// Whether the fast path is both right and cheaper on this kernel.
        pub(super) fn fast_path_pays(&self) -> bool {
            self.blocking_clears
                && self.preemption_clears == Some(true)
                && self.syscall_keeps
                && self.fast_read_ns < self.syscall_read_ns
        }
    }

    /// Runs on a thread of its own, which it may pin.
    fn probe(offset: isize, descriptor: u64) -> Option<Findings> {
        let word = word_at(offset)?;
        let arm = || {
            // SAFETY: this thread's rseq_cs word (see `word_at`) and a
            // descriptor that stays mapped for the life of the process.
            unsafe { word.write_volatile(descriptor) }
        };
        // SAFETY: as above.
        let armed = || unsafe { word.read_volatile() } == descriptor;
        // SAFETY: as above; disarmed is how glibc left the word.
        let disarm = || unsafe { word.write_volatile(0) };

        // A sleep always blocks: if the word survives one, the fast path
        // would count time asleep as CPU time.
        let blocking_clears = (0..2).all(|_| {
            arm();
            std::thread::sleep(Duration::from_micros(200));
            !armed()
        });
        disarm();
        if !blocking_clears {
            return Some(Findings {
                blocking_clears,
                preemption_clears: None,
                syscall_keeps: false,
                fast_read_ns: f64::INFINITY,
                syscall_read_ns: 0.0,
            });
        }

        // An anchor is a syscall with the word armed; a kernel that clears
        // the word on every syscall (rseq debugging) would re-anchor on
        // every read. A preemption may clear it now and then.
        let kept = (0..8)
            .filter(|_| {
                arm();
                std::hint::black_box(clock::thread_cpu_ns_syscall());
                armed()
            })
            .count();
        disarm();
        let syscall_keeps = kept >= 6;

        let syscall_read_ns = best_batch_ns(clock::thread_cpu_ns_syscall);
        let fast = ThreadClock::armed(word, descriptor);
        let fast_read_ns = best_batch_ns(|| fast.read());
        disarm();

        let preemption_clears = (0..3).find_map(|_| preemption_clears(word, descriptor));
        disarm();
        Some(Findings {
            blocking_clears,
            preemption_clears,
            syscall_keeps,
            fast_read_ns,
            syscall_read_ns,
        })
    }

    /// Nanoseconds per call of `read`, from the fastest of a few short
    /// batches (a batch the thread was switched out in loses).
    fn best_batch_ns(read: impl Fn() -> u64) -> f64 {
        const BATCH: u32 = 16;
        (0..5)
            .map(|_| {
                let start = Instant::now();
                for _ in 0..BATCH {
                    std::hint::black_box(read());
                }
                start.elapsed().as_nanos() as f64 / f64::from(BATCH)
            })
            .fold(f64::INFINITY, f64::min)
    }

    /// Arms the word and spins in user space beside another spinning thread
    /// pinned to the same CPU, until the scheduler switches this one out (at
    /// the end of a time slice: a few ms). `Some(cleared)` once an
    /// involuntary switch happened, `None` if none could be arranged.
    fn preemption_clears(word: *mut u64, descriptor: u64) -> Option<bool> {
        // SAFETY: `sched_getcpu` has no preconditions.
        let cpu = unsafe { libc::sched_getcpu() };
        if cpu < 0 || !pin_to(cpu as usize) {
            return None;
        }
        let stop = AtomicBool::new(false);
        let both_pinned = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            let competitor = std::thread::Builder::new()
                .name("sentinel-cpu-probe".into())
                .spawn_scoped(s, || {
                    let pinned = pin_to(cpu as usize);
                    both_pinned.wait();
                    while pinned && !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
                .ok()?;
            both_pinned.wait();
            let watch = || {
                let deadline = Instant::now() + Duration::from_millis(50);
                let before = involuntary_switches()?;
                // SAFETY: this thread's rseq_cs word (see `word_at`) and a
                // descriptor that stays mapped for the life of the process.
                unsafe { word.write_volatile(descriptor) };
                // SAFETY: as above.
                while unsafe { word.read_volatile() } == descriptor && Instant::now() < deadline {
                    std::hint::spin_loop();
                }
                // SAFETY: as above.
                let cleared = unsafe { word.read_volatile() } != descriptor;
                let preempted = involuntary_switches()? > before;
                preempted.then_some(cleared)
            };
            let result = watch();
            stop.store(true, Ordering::Relaxed);
            let _ = competitor.join();
            result
        })
    }

    fn pin_to(cpu: usize) -> bool {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; the call only
        // reads it and changes the calling thread's affinity.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
        }
    }

    /// How often the kernel has switched this thread out involuntarily.
    fn involuntary_switches() -> Option<i64> {
        // SAFETY: a zeroed rusage is valid; the call fills it in.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is valid and writable.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
        (rc == 0).then_some(usage.ru_nivcsw)
    }

    extern "C" fn after_fork_in_child() {
        super::forget_anchor();
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu")))]
mod rseq {
    use super::Setting;

    pub(super) fn thread_word(_setting: Setting) -> Option<(*mut u64, u64)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::thread_cpu_ns_syscall;

    fn spin(iterations: u64) -> u64 {
        let mut x = 0u64;
        for i in 0..iterations {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        x
    }

    #[test]
    fn agrees_with_the_kernel_clock_over_busy_work() {
        let (k0, f0) = (thread_cpu_ns_syscall(), thread_cpu_ns());
        spin(20_000_000);
        let (f1, k1) = (thread_cpu_ns(), thread_cpu_ns_syscall());
        let (fast, kernel) = ((f1 - f0) as f64, (k1 - k0) as f64);
        // The kernel's span encloses ours; both include any preemption the
        // fast path detected. 5% + 0.5 ms covers steal and interrupts.
        assert!(
            (fast - kernel).abs() < kernel * 0.05 + 500_000.0,
            "fast {fast} ns vs kernel {kernel} ns"
        );
    }

    #[test]
    fn stands_still_while_the_thread_sleeps() {
        // Shorter than an anchor's life, so only the rseq word can tell.
        let before = thread_cpu_ns();
        std::thread::sleep(std::time::Duration::from_millis(4));
        let slept = thread_cpu_ns() - before;
        // Waking up costs microseconds of CPU; counting the sleep would be 4 ms.
        assert!(slept < 1_000_000, "charged {slept} ns for a 4 ms sleep");
    }

    /// This thread's time on a CPU and time waiting on a run queue (runnable
    /// but not running), in nanoseconds, as the scheduler counted them.
    #[cfg(target_os = "linux")]
    fn schedstat() -> (u64, u64) {
        let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
        let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().unwrap());
        (fields.next().unwrap(), fields.next().unwrap())
    }

    /// Two threads pinned to one CPU take turns; each times short spans with
    /// the fast clock. The spans must add up to the kernel's CPU time for the
    /// thread, not to the time it was runnable, which includes the time it
    /// waited for the other thread (and for anything else on a loaded
    /// machine).
    #[cfg(target_os = "linux")]
    #[test]
    fn does_not_charge_time_while_preempted() {
        fn pin_to_cpu0() -> bool {
            // SAFETY: a zeroed cpu_set_t is a valid empty set; the call only
            // reads it.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
            }
        }
        let barrier = std::sync::Barrier::new(2);
        let results: Vec<Option<(u64, u64, u64)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    s.spawn(|| {
                        let pinned = pin_to_cpu0();
                        barrier.wait();
                        if !pinned {
                            return None;
                        }
                        let wall0 = std::time::Instant::now();
                        let kernel0 = thread_cpu_ns_syscall();
                        let (_, wait0) = schedstat();
                        let mut spans = 0u64;
                        while wall0.elapsed() < std::time::Duration::from_millis(300) {
                            let a = thread_cpu_ns();
                            spin(20_000);
                            spans += thread_cpu_ns().saturating_sub(a);
                        }
                        let (_, wait1) = schedstat();
                        let kernel = thread_cpu_ns_syscall() - kernel0;
                        Some((spans, kernel, wait1 - wait0))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in results {
            let Some((spans, kernel, waited)) = r else {
                eprintln!("skipped: could not pin threads to CPU 0");
                return;
            };
            // However loaded the machine, two spinning threads on one CPU
            // wait for each other about as long as they run.
            assert!(
                waited > kernel / 4,
                "the threads did not take turns (ran {kernel} ns, waited {waited} ns)"
            );
            // Charging the waits would add most of `waited`, over a quarter
            // of `kernel`. What the kernel leaves out of its clock
            // (interrupts) and a rate error stay within 5% + 1 ms; the loop
            // around the spans costs a few percent of the CPU time, however
            // long the thread waits.
            let (spans, kernel, waited) = (spans as f64, kernel as f64, waited as f64);
            assert!(
                spans < kernel * 1.05 + 1e6 && spans > kernel * 0.8,
                "spans add up to {spans} ns, the kernel counted {kernel} ns (and {waited} ns waiting)"
            );
        }
    }

    /// Spinning, sleeping and blocking on a pipe, in turns: the fast clock
    /// must count the spinning only. Charging the sleeps would add at least
    /// 20 ms, charging run-queue waits (on a loaded machine) what
    /// schedstat reports.
    #[cfg(target_os = "linux")]
    #[test]
    fn agrees_with_the_kernel_clock_over_spinning_sleeping_and_blocking() {
        const ROUNDS: usize = 20;
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let [read_fd, write_fd] = fds;
        let (go, wait_for_go) = std::sync::mpsc::channel::<()>();
        let writer = std::thread::spawn(move || {
            for () in wait_for_go {
                // SAFETY: writes one byte from a valid buffer to our pipe.
                assert_eq!(
                    unsafe { libc::write(write_fd, [1u8].as_ptr().cast(), 1) },
                    1
                );
            }
        });
        let (_, wait0) = schedstat();
        let (kernel0, fast0) = (thread_cpu_ns_syscall(), thread_cpu_ns());
        for _ in 0..ROUNDS {
            spin(200_000);
            std::thread::sleep(std::time::Duration::from_millis(1));
            spin(50_000);
            go.send(()).unwrap();
            let mut byte = 0u8;
            // SAFETY: reads one byte into `byte` from our pipe; blocks until
            // the writer thread has written it.
            assert_eq!(unsafe { libc::read(read_fd, (&raw mut byte).cast(), 1) }, 1);
            spin(50_000);
        }
        let (fast1, kernel1) = (thread_cpu_ns(), thread_cpu_ns_syscall());
        let (_, wait1) = schedstat();
        drop(go);
        writer.join().unwrap();
        // SAFETY: closes the two descriptors made above, used by no one now.
        unsafe {
            libc::close(read_fd);
            libc::close(write_fd);
        }
        let (fast, kernel) = ((fast1 - fast0) as f64, (kernel1 - kernel0) as f64);
        let waited = (wait1 - wait0) as f64;
        // 3% + 0.5 ms: interrupts, which the kernel may leave out of its clock,
        // and the tick rate's error; far below what a sleep would add.
        assert!(
            (fast - kernel).abs() < kernel * 0.03 + 500_000.0,
            "fast {fast} ns vs kernel {kernel} ns ({waited} ns waiting to run)"
        );
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
    #[test]
    fn fast_path_is_chosen_only_where_it_is_right_and_cheaper() {
        let good = rseq::Findings {
            blocking_clears: true,
            preemption_clears: Some(true),
            syscall_keeps: true,
            fast_read_ns: 10.0,
            syscall_read_ns: 500.0,
        };
        assert!(good.fast_path_pays());
        let bad = [
            rseq::Findings {
                blocking_clears: false,
                ..good
            },
            rseq::Findings {
                preemption_clears: Some(false),
                ..good
            },
            rseq::Findings {
                preemption_clears: None,
                ..good
            },
            // A kernel that clears the word on every syscall (rseq debugging).
            rseq::Findings {
                syscall_keeps: false,
                ..good
            },
            rseq::Findings {
                fast_read_ns: 600.0,
                ..good
            },
        ];
        for findings in bad {
            assert!(!findings.fast_path_pays(), "{findings:?}");
        }
    }

    #[test]
    fn cpu_clock_setting_accepts_syscall_fast_and_auto_only() {
        let parse = |v: &str| parse_setting(Some(OsStr::new(v)));
        assert!(matches!(parse_setting(None), Ok(Setting::Auto)));
        assert!(matches!(parse("auto"), Ok(Setting::Auto)));
        assert!(matches!(parse("syscall"), Ok(Setting::Syscall)));
        assert!(matches!(parse("fast"), Ok(Setting::Fast)));
        for bad in ["bogus", "", "SYSCALL"] {
            let msg = parse(bad).unwrap_err().to_string();
            for word in ["SENTINEL_CPU_CLOCK", "`syscall`", "`fast`", "`auto`"] {
                assert!(msg.contains(word), "{msg}");
            }
            assert!(msg.contains(&format!("{bad:?}")), "{msg}");
        }
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
    #[test]
    fn uses_rseq_where_glibc_registers_it() {
        if std::env::var_os("SENTINEL_CPU_CLOCK").is_some() {
            return;
        }
        // SAFETY: as in `rseq::probe`.
        let size = unsafe {
            let size = libc::dlsym(libc::RTLD_DEFAULT, c"__rseq_size".as_ptr());
            if size.is_null() {
                return;
            }
            size.cast::<u32>().read()
        };
        if size == 0 {
            return;
        }
        assert_eq!(
            mode(),
            Mode::Rseq,
            "glibc registers rseq, yet the fast CPU clock is off: the kernel does \
             not clear rseq_cs when a thread sleeps"
        );
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
    #[test]
    fn a_forked_child_reads_its_own_cpu_time() {
        // Give this thread's clock a large reading and a fresh anchor.
        spin(50_000_000);
        let parent = thread_cpu_ns();
        assert!(parent > 20_000_000, "parent burned only {parent} ns");
        // SAFETY: the child only reads clocks, spins and calls `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // The child's CPU clock restarted at zero; an inherited anchor
            // would continue from the parent's reading. (Current kernels
            // also clear the rseq word of a new child; the fork handler
            // covers those that do not.)
            let first = thread_cpu_ns();
            let kernel = thread_cpu_ns_syscall();
            let code = if first <= kernel && kernel < parent / 2 {
                0
            } else {
                1
            };
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waits for the child started above.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(waited, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the child read its parent's CPU time (status {status})"
        );
    }

    /// Re-runs this test binary for one test, with `SENTINEL_CPU_CLOCK_CHILD`
    /// set, so the child starts with no clock decided yet.
    fn run_child(test: &str, env: &[(&str, &str)]) -> std::process::Output {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env_remove("SENTINEL_CPU_CLOCK");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    const CHILD: &str = "SENTINEL_CPU_CLOCK_CHILD";

    fn in_child() -> bool {
        std::env::var_os(CHILD).is_some()
    }

    fn assert_child_passed(out: &std::process::Output) {
        assert!(
            out.status.success(),
            "child failed ({:?}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // regression: issue #11
    #[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
    #[test]
    fn issue_11_loggers_without_cpu_time_never_probe_the_kernel() {
        if in_child() {
            let config = crate::SentinelConfig::default().cpu_time(false);
            let logger = crate::AsyncLogger::from_writer(std::io::sink(), config).unwrap();
            for _ in 0..10 {
                drop(crate::TimeBlock::builder("block").logger(&logger).start());
                crate::span::SyncSpan::start_on(&logger, "f", 1.0, f64::INFINITY).finish(None);
            }
            assert!(logger.shutdown_blocking(std::time::Duration::from_secs(10)));
            assert!(!rseq::probed(), "the CPU clock probe ran");
            return;
        }
        assert_child_passed(&run_child(
            "cpu_clock::tests::issue_11_loggers_without_cpu_time_never_probe_the_kernel",
            &[],
        ));
    }

    // regression: issue #11
    #[test]
    fn issue_11_an_unknown_cpu_clock_setting_is_reported_once() {
        if in_child() {
            let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
            let sink = std::sync::Arc::clone(&events);
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || SharedBuf(std::sync::Arc::clone(&sink)))
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber).unwrap();
            thread_cpu_ns();
            std::thread::spawn(thread_cpu_ns).join().unwrap();
            let text = String::from_utf8(events.lock().unwrap().clone()).unwrap();
            let reports: Vec<_> = text
                .lines()
                .filter(|l| l.contains("SENTINEL_CPU_CLOCK"))
                .collect();
            assert_eq!(reports.len(), 1, "{text}");
            for word in ["ERROR", "sentinel", "bogus", "syscall", "fast"] {
                assert!(reports[0].contains(word), "no {word:?} in {text}");
            }
            return;
        }
        assert_child_passed(&run_child(
            "cpu_clock::tests::issue_11_an_unknown_cpu_clock_setting_is_reported_once",
            &[("SENTINEL_CPU_CLOCK", "bogus")],
        ));
    }

    struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for SharedBuf {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// This process's mappings: start, end, permissions and path (empty for
    /// anonymous memory).
    #[cfg(target_os = "linux")]
    fn mappings() -> Vec<(usize, usize, String, String)> {
        std::fs::read_to_string("/proc/self/maps")
            .unwrap()
            .lines()
            .map(|line| {
                let mut fields = line.split_whitespace();
                let range = fields.next().unwrap();
                let perms = fields.next().unwrap().to_owned();
                let path = fields.nth(3).unwrap_or("").to_owned();
                let (start, end) = range.split_once('-').unwrap();
                let hex = |s| usize::from_str_radix(s, 16).unwrap();
                (hex(start), hex(end), perms, path)
            })
            .collect()
    }

    // regression: issue #11
    #[cfg(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu"))]
    #[test]
    fn issue_11_rseq_descriptor_lives_outside_the_library() {
        let Some(addresses) = rseq::descriptor_addresses() else {
            return;
        };
        let maps = mappings();
        let find = |addr: usize| {
            maps.iter()
                .find(|m| m.0 <= addr && addr < m.1)
                .unwrap_or_else(|| panic!("{addr:#x} is not mapped"))
        };
        // The file this code was loaded from: dlclose would unmap all of it.
        let library = &find(thread_cpu_ns as fn() -> u64 as usize).3;
        assert!(!library.is_empty());
        for addr in addresses {
            let (_, _, perms, path) = find(addr);
            assert_ne!(
                path, library,
                "{addr:#x} ({perms}) is inside {library}, which dlclose would unmap"
            );
        }
    }
}
