//! The full-queue policy: wait while the writer makes progress, release and
//! count when it stalls, resume and mark the gap when it moves again; a byte
//! bound; no thread per waiting caller; fork.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use sentinel::{AsyncLogger, SentinelConfig};
use serde_json::json;
use support::{GatedSink, MemSink, WAIT};

/// Threads of this process, from the kernel.
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_slow_sink_loses_nothing_at_default_settings() {
    // A sink slower than the producers, and a queue far smaller than what is
    // logged: callers wait, nothing drops.
    #[derive(Clone, Default)]
    struct Slow(MemSink);
    impl std::io::Write for Slow {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            std::thread::yield_now();
            self.0.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Slow::default();
    let config = SentinelConfig::default().max_queue_bytes(16 << 10);
    let logger = AsyncLogger::from_writer(sink.clone(), config).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let logger = logger.clone();
            std::thread::spawn(move || (0..20_000).all(|i| logger.log(json!({ "t": t, "i": i }))))
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap(), "a record was refused");
    }
    assert!(logger.shutdown_blocking(WAIT));
    let stats = logger.stats();
    assert_eq!(stats.dropped(), 0, "{stats:?}");
    assert_eq!(sink.0.lines().len(), 80_000);
    // The byte bound held: at most one staging batch above the budget.
    assert!(
        stats.peak_queued_bytes <= (16 << 10) + (2 << 10),
        "{stats:?}"
    );
}

#[test]
fn a_stalled_sink_releases_waiters_counts_and_marks_the_gap_then_resumes() {
    let sink = GatedSink::default();
    let config = SentinelConfig::default()
        .max_queue_bytes(1)
        .stall_timeout(Duration::from_millis(200));
    let logger = AsyncLogger::from_writer(sink.clone(), config).unwrap();
    assert!(logger.log(json!({"i": 0})));
    sink.wait_for_write();
    // Record 1 is staged, 2 hands 1 to the queue; 3 finds it full and waits
    // until the stall is seen, then it and the rest are dropped.
    let producer = {
        let logger = logger.clone();
        std::thread::spawn(move || (1..=6).map(|i| logger.log(json!({ "i": i }))).collect())
    };
    let accepted: Vec<bool> = producer.join().unwrap();
    assert_eq!(accepted, [true, true, false, false, false, false]);
    let stats = logger.stats();
    assert_eq!(stats.dropped_stalled, 4, "{stats:?}");
    assert!(stats.stalled && stats.stalls == 1, "{stats:?}");
    assert!(!logger.is_healthy(), "a stalled logger is not healthy");

    sink.open();
    assert!(logger.flush_blocking(WAIT), "writing resumes");
    assert!(logger.is_healthy());
    assert!(logger.log(json!({"i": 7})));
    assert!(logger.shutdown_blocking(WAIT));
    let lines = sink.lines();
    let got: Vec<i64> = lines.iter().filter_map(|r| r["i"].as_i64()).collect();
    assert_eq!(got, [0, 1, 2, 7]);
    let marker = lines.iter().find(|l| l["status"] == "dropped").unwrap();
    assert_eq!(marker["dropped"]["count"], 4, "{lines:?}");
    assert_eq!(marker["dropped"]["reasons"]["stalled"], 4);
    assert!(marker["dropped"]["from"].as_str() <= marker["dropped"]["to"].as_str());
}

// regression: issue #11 (a thread per blocked `log()`)
#[test]
fn waiting_callers_cost_no_thread() {
    // Other tests of this binary start and end threads at any moment, so the
    // count is taken in a process of its own.
    if !support::run_alone("waiting_callers_cost_no_thread") {
        return;
    }
    let sink = GatedSink::default();
    let config = SentinelConfig::default()
        .max_queue_bytes(1)
        .stall_timeout(Duration::from_secs(600));
    let logger = AsyncLogger::from_writer(sink.clone(), config).unwrap();
    logger.log(json!({"i": 0}));
    sink.wait_for_write();
    logger.log(json!({"i": 1}));
    logger.log(json!({"i": 2}));
    let before = thread_count();
    const WAITERS: usize = 8;
    let producers: Vec<_> = (0..WAITERS)
        .map(|i| {
            let logger = logger.clone();
            // The first record fills this thread's staging buffer, the
            // second must hand it over to the full queue, and waits.
            std::thread::spawn(move || {
                logger.log(json!({ "waiter": i })) && logger.log(json!({ "waiter": i }))
            })
        })
        .collect();
    // Wait (by condition, not time) until every producer is parked.
    let start = std::time::Instant::now();
    while logger.stats().waiting < WAITERS as u64 {
        assert!(start.elapsed() < WAIT, "producers never waited");
        std::thread::yield_now();
    }
    assert_eq!(thread_count(), before + WAITERS, "waiting spawned threads");
    sink.open();
    for p in producers {
        assert!(p.join().unwrap());
    }
    assert!(logger.shutdown_blocking(WAIT));
    assert_eq!(logger.dropped(), 0);
}

#[test]
fn a_fifo_without_a_reader_is_an_open_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (tx, rx) = mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let _ = tx.send(AsyncLogger::new(SentinelConfig::new(path)).map(|_| ()));
    });
    let opened = rx
        .recv_timeout(WAIT)
        .expect("AsyncLogger::new hung on a FIFO");
    let err = opened.unwrap_err().to_string();
    assert!(err.contains("pipe"), "{err}");
}

#[test]
fn a_full_pipe_keeps_every_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // A reader that never reads: the pipe fills and the writer blocks.
    // SAFETY: a valid path; the fd is closed when the test ends.
    let reader = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK) };
    assert!(reader >= 0);
    let config = SentinelConfig::new(&fifo)
        .max_queue_bytes(64 << 10)
        .stall_timeout(Duration::from_millis(300));
    let logger = AsyncLogger::new(config).unwrap();
    let (tx, rx) = mpsc::channel();
    let producer = logger.clone();
    std::thread::spawn(move || {
        let big = "x".repeat(4096);
        // Far more than a pipe holds: the producer waits, sees the stall,
        // and is released.
        let accepted = (0..20_000)
            .filter(|_| producer.log(json!({ "pad": big })))
            .count();
        let flushed = producer.flush_blocking(Duration::from_millis(300));
        let _ = tx.send((accepted, flushed));
    });
    let (accepted, flushed) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a producer on a full pipe was never released");
    assert!(accepted < 20_000 && !flushed, "{accepted} {flushed}");
    let stats = logger.stats();
    assert!(stats.dropped_stalled > 0 && stats.stalled, "{stats:?}");
    assert!(!logger.shutdown_blocking(Duration::from_millis(300)));
    // SAFETY: closing our own fd.
    unsafe { libc::close(reader) };
}

/// Forks, runs `child` in the child (its return value is the exit code),
/// and returns the child's exit code, or fails if it hangs.
fn fork_and_wait(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `child` and then `_exit`s.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(101);
        // SAFETY: leave without running the parent's exit handlers twice.
        unsafe { libc::_exit(code) };
    }
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        let _ = tx.send(status);
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(status) => libc::WEXITSTATUS(status),
        Err(_) => {
            // SAFETY: killing our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child hung");
        }
    }
}

// regression: issue #11 (records accepted in a forked child were never
// written; its exit or a later log could hang)
#[test]
fn a_forked_child_refuses_and_counts_instead_of_accepting_what_nobody_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fork.jsonl");
    let logger = AsyncLogger::new(SentinelConfig::new(&path)).unwrap();
    assert!(logger.log(json!({"from": "parent"})));
    assert!(logger.flush_blocking(WAIT));
    let code = fork_and_wait(|| {
        let accepted = logger.log(json!({"from": "child"}));
        let flushed = logger.flush_blocking(Duration::from_secs(1));
        let forked = logger.stats().dropped_forked;
        i32::from(!accepted && !flushed && forked == 1) * 7
    });
    assert_eq!(code, 7, "the child's logger did not refuse and count");
    assert!(logger.log(json!({"from": "parent again"})));
    assert!(logger.shutdown_blocking(WAIT));
    let lines = support::read_jsonl(&path);
    let from: Vec<_> = lines.iter().map(|l| l["from"].as_str().unwrap()).collect();
    assert_eq!(from, ["parent", "parent again"]);
}

#[test]
fn a_forked_child_gets_its_own_default_logger_on_the_same_file() {
    let _g = support::global_lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("default.jsonl");
    let previous =
        sentinel::set_default_logger(AsyncLogger::new(SentinelConfig::new(&path)).unwrap());
    sentinel::default_logger().log(json!({"from": "parent"}));
    assert!(sentinel::default_logger().flush_blocking(WAIT));
    let code = fork_and_wait(|| {
        let logger = sentinel::default_logger();
        let ok = logger.log(json!({"from": "child"})) && logger.shutdown_blocking(WAIT);
        i32::from(ok) * 7
    });
    assert_eq!(code, 7, "the child's default logger did not write");
    let logger = sentinel::default_logger();
    assert!(logger.shutdown_blocking(WAIT));
    if let Some(previous) = previous {
        sentinel::set_default_logger(previous);
    }
    let lines = support::read_jsonl(&path);
    let mut from: Vec<_> = lines.iter().map(|l| l["from"].as_str().unwrap()).collect();
    from.sort_unstable();
    assert_eq!(from, ["child", "parent"]);
}
