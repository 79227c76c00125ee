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
//! The fast path is used only where each condition holds: x86-64 Linux with
//! glibc, rseq registered for the thread, and a kernel that clears the word
//! when a thread blocks as well as when it is preempted (tested once per
//! process: two 200 µs sleeps). Anywhere else, and with
//! `SENTINEL_CPU_CLOCK=syscall` in the environment, every read is the syscall.
//!
//! Accuracy: an anchor is at most 10 ms old, so an error in the tick rate
//! adds at most about 1 µs. Interrupt handlers, and time a hypervisor steals
//! from a virtual CPU while the thread runs, count as CPU time here; the
//! kernel's clock leaves them out when it is built with IRQ and steal-time
//! accounting. (On the VM measured, steal was under 0.1% of CPU time.)

use std::cell::Cell;
use std::sync::atomic::{Ordering, compiler_fence};

use crate::clock;

/// Longest an anchor is trusted, in nanoseconds: bounds what an error in the
/// tick rate can add, and lets a thread pick up the writer's refined rate.
const MAX_ANCHOR_AGE_NS: f64 = 10_000_000.0;

/// Attempts at taking an anchor before a read settles for the syscall alone.
const ANCHOR_ATTEMPTS: usize = 3;

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

#[derive(Debug)]
struct ThreadClock {
    mode: Cell<Mode>,
    /// This thread's `rseq_cs` word (null unless `mode` is `Rseq`).
    word: Cell<*mut u64>,
    /// Tick reading and CPU nanoseconds at the anchor.
    anchor_ticks: Cell<u64>,
    anchor_ns: Cell<u64>,
    /// Ticks from which on the anchor is too old; 0 forces a new anchor.
    deadline: Cell<u64>,
    ns_per_tick: Cell<f64>,
}

thread_local! {
    static THREAD: ThreadClock = const {
        ThreadClock {
            mode: Cell::new(Mode::Unset),
            word: Cell::new(std::ptr::null_mut()),
            anchor_ticks: Cell::new(0),
            anchor_ns: Cell::new(0),
            deadline: Cell::new(0),
            ns_per_tick: Cell::new(1.0),
        }
    };
}

/// Decides once per process whether the fast path is usable (a fraction of
/// a millisecond: the kernel test sleeps twice). Loggers call this when they
/// start, so no span pays for it.
pub(crate) fn init() {
    rseq::usable();
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
            && unsafe { word.read_volatile() } == rseq::descriptor()
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
        match rseq::thread_word() {
            Some(word) => {
                self.word.set(word);
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
        let descriptor = rseq::descriptor();
        for _ in 0..ANCHOR_ATTEMPTS {
            // SAFETY: `word` is this thread's rseq_cs word (see `read`); only
            // this thread and the kernel, on this thread's behalf, touch it.
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
    use std::time::Duration;

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
        start_ip: *const u8,
        post_commit_offset: u64,
        abort_ip: *const u8,
    }

    // SAFETY: the descriptor is immutable; the pointers are only addresses
    // handed to the kernel, never dereferenced by us.
    unsafe impl Sync for Descriptor {}

    /// The "code" of the empty critical section: a byte of data, which no
    /// thread executes, so the kernel never finds a thread inside it.
    static NEVER_EXECUTED: u8 = 0;

    /// The signature, then the (never taken) abort address right after it.
    static ABORT: [u32; 2] = [RSEQ_SIG, 0];

    static DESCRIPTOR: Descriptor = Descriptor {
        version: 0,
        flags: 0,
        start_ip: &NEVER_EXECUTED,
        post_commit_offset: 1,
        abort_ip: (&ABORT[1] as *const u32).cast(),
    };

    /// The value a thread's `rseq_cs` word holds while it is armed.
    #[inline]
    pub(super) fn descriptor() -> u64 {
        &DESCRIPTOR as *const Descriptor as u64
    }

    /// glibc's `__rseq_offset` once the process-wide checks have passed.
    static OFFSET: OnceLock<Option<isize>> = OnceLock::new();

    pub(super) fn usable() -> bool {
        offset().is_some()
    }

    fn offset() -> Option<isize> {
        *OFFSET.get_or_init(probe)
    }

    /// The calling thread's `rseq_cs` word, if the fast path may use it.
    pub(super) fn thread_word() -> Option<*mut u64> {
        word_at(offset()?)
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

    fn probe() -> Option<isize> {
        if std::env::var_os("SENTINEL_CPU_CLOCK").is_some_and(|v| v == "syscall") {
            return None;
        }
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
        if size < MIN_RSEQ_SIZE {
            // glibc.pthread.rseq=0, or a kernel without rseq.
            return None;
        }
        let word = word_at(offset)?;
        // Preemption is documented to clear the word; blocking is what
        // kernels may skip. A sleep always blocks: if the word survives two,
        // the fast path would count time asleep as CPU time.
        for _ in 0..2 {
            // SAFETY: this thread's rseq_cs word, see `word_at`.
            unsafe { word.write_volatile(descriptor()) };
            std::thread::sleep(Duration::from_micros(200));
            // SAFETY: as above.
            if unsafe { word.read_volatile() } == descriptor() {
                // SAFETY: as above; leave the word as we found it.
                unsafe { word.write_volatile(0) };
                return None;
            }
        }
        // A forked child keeps its parent thread's anchor but starts its CPU
        // clock from zero.
        // SAFETY: registers a handler that only touches a thread-local cell.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        Some(offset)
    }

    extern "C" fn after_fork_in_child() {
        super::forget_anchor();
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64", target_env = "gnu")))]
mod rseq {
    pub(super) fn descriptor() -> u64 {
        0
    }

    pub(super) fn usable() -> bool {
        false
    }

    pub(super) fn thread_word() -> Option<*mut u64> {
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

    /// Two threads pinned to one CPU take turns; each times short spans with
    /// the fast clock. The spans must add up to the kernel's CPU time for the
    /// thread, not to the wall time, which is about twice as long.
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
                        let mut spans = 0u64;
                        while wall0.elapsed() < std::time::Duration::from_millis(300) {
                            let a = thread_cpu_ns();
                            spin(20_000);
                            spans += thread_cpu_ns().saturating_sub(a);
                        }
                        let kernel = thread_cpu_ns_syscall() - kernel0;
                        Some((spans, kernel, wall0.elapsed().as_nanos() as u64))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in results {
            let Some((spans, kernel, wall)) = r else {
                eprintln!("skipped: could not pin threads to CPU 0");
                return;
            };
            assert!(
                kernel < wall * 4 / 5,
                "the threads did not share the CPU (cpu {kernel} ns of {wall} ns wall)"
            );
            let (spans, kernel) = (spans as f64, kernel as f64);
            assert!(
                spans < kernel * 1.1 + 1e6 && spans > kernel * 0.8,
                "spans add up to {spans} ns, the kernel counted {kernel} ns"
            );
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
}
