//! Deadlines the caller keeps by its own clock, whatever the writer does: a
//! sink that blocks for ever, a full pipe, a panicking `Serialize`, a forked
//! child, and an exit with records still queued.
//!
//! Every call under test runs on a helper thread that reports through a
//! channel; the test waits for that report up to the call's own deadline plus
//! a margin, so a hang fails the test instead of hanging the suite.

mod support;

use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sentinel::{AsyncLogger, SentinelConfig};
use serde_json::json;
use support::GatedSink;

/// What a call may take beyond its deadline: thread start-up and scheduling
/// on a loaded 2-core machine.
const MARGIN: Duration = Duration::from_secs(3);

/// Runs `f` on a thread; `Some(result)` if it finished within `limit`.
fn within<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).ok()
}

/// A small lossy queue, so a stalled sink fills it without making the test
/// wait, and a stall timeout longer than any deadline under test, so what
/// ends each wait is the deadline itself.
fn small_queue() -> SentinelConfig {
    SentinelConfig::default()
        .max_queue_bytes(1)
        .lossy(true)
        .stall_timeout(Duration::from_secs(600))
}

/// A logger whose sink is blocked inside its first write, with `records`
/// more records accepted behind it.
fn blocked_logger(config: SentinelConfig, records: usize) -> (AsyncLogger, GatedSink) {
    let sink = GatedSink::default();
    let logger = AsyncLogger::from_writer(sink.clone(), config).unwrap();
    assert!(logger.log(json!({"first": true})));
    sink.wait_for_write();
    for i in 0..records {
        logger.log(json!({ "i": i }));
    }
    (logger, sink)
}

// regression: issue #11 (flush_blocking(1 s) never returned on a stalled sink)
#[test]
fn flush_blocking_keeps_its_deadline_when_the_sink_blocks() {
    let (logger, sink) = blocked_logger(small_queue(), 100);
    let deadline = Duration::from_millis(300);
    let started = Instant::now();
    let flushed = within(deadline + MARGIN, move || logger.flush_blocking(deadline));
    assert_eq!(
        flushed,
        Some(false),
        "flush_blocking({deadline:?}) did not return false within its deadline + {MARGIN:?}"
    );
    assert!(
        started.elapsed() >= deadline,
        "returned before its deadline"
    );
    sink.open();
}

// regression: issue #11 (shutdown_blocking(1 s) never returned on a stalled sink)
#[test]
fn shutdown_blocking_keeps_its_deadline_when_the_sink_blocks() {
    let (logger, sink) = blocked_logger(small_queue(), 100);
    let deadline = Duration::from_millis(300);
    let done = within(deadline + MARGIN, move || {
        logger.shutdown_blocking(deadline)
    });
    assert_eq!(
        done,
        Some(false),
        "shutdown_blocking did not keep its deadline"
    );
    sink.open();
}

// regression: issue #11 (the timers of the `_timeout` variants ran on the
// writer's runtime, which a blocked write stops)
#[test]
fn flush_timeout_keeps_its_deadline_when_the_sink_blocks() {
    let (logger, sink) = blocked_logger(small_queue(), 100);
    let deadline = Duration::from_millis(300);
    let done = within(deadline + MARGIN, move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let flushed = logger.flush_timeout(deadline).await;
            let shut = logger.shutdown_timeout(deadline).await;
            (flushed, shut)
        })
    });
    assert_eq!(
        done,
        Some((false, false)),
        "a timed async wait outlived its deadline"
    );
    sink.open();
}

/// Fails (and says so) instead of hanging when a `Serialize` impl panics.
struct Explodes;

impl serde::Serialize for Explodes {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        panic!("serialize exploded");
    }
}

// regression: issue #11 (a panicking Serialize killed the writer; shutdown hung)
#[test]
fn a_panicking_serialize_drops_that_record_and_the_writer_goes_on() {
    let sink = support::MemSink::default();
    let logger = AsyncLogger::from_writer(sink.clone(), SentinelConfig::default()).unwrap();
    assert!(logger.log(json!({"n": 1})));
    assert!(logger.log(Explodes));
    assert!(logger.log(json!({"n": 2})));
    let probe = logger.clone();
    let shut = within(support::WAIT, move || {
        probe.shutdown_blocking(support::WAIT)
    });
    assert_eq!(shut, Some(true), "shutdown after a panicking Serialize");
    assert!(logger.is_healthy());
    let lines = sink.lines();
    let ns: Vec<_> = lines.iter().filter_map(|l| l["n"].as_i64()).collect();
    assert_eq!(ns, [1, 2], "{lines:?}");
    assert_eq!(logger.stats().dropped_unserializable, 1);
    let marker = lines.iter().find(|l| l["status"] == "dropped").unwrap();
    assert_eq!(marker["dropped"]["reasons"]["unserializable"], 1);
}

const CHILD: &str = "SENTINEL_DEADLINE_CHILD";

fn child(test: &str, mode: &str, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .env("SENTINEL_DEADLINE_DIR", dir);
    cmd
}

fn child_mode() -> Option<(String, std::path::PathBuf)> {
    Some((
        std::env::var(CHILD).ok()?,
        std::env::var("SENTINEL_DEADLINE_DIR").ok()?.into(),
    ))
}

/// Waits for `cmd` up to `limit`; kills it and fails if it takes longer.
fn run_within(mut cmd: Command, limit: Duration) -> std::process::Output {
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    match within(limit, move || child.wait_with_output()) {
        Some(out) => out.unwrap(),
        None => {
            // SAFETY: sending a signal to our own child's pid.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("child process did not exit within {limit:?}");
        }
    }
}

// regression: issue #11 (process::exit hung for more than 20 s behind a
// stalled sink)
#[test]
fn exit_keeps_its_deadline_when_the_sink_blocks() {
    if let Some((mode, _)) = child_mode() {
        let (logger, _sink) = blocked_logger(small_queue(), 100);
        std::mem::forget(logger);
        match mode.as_str() {
            "exit" => std::process::exit(0),
            _ => return,
        }
    }
    let dir = tempfile::tempdir().unwrap();
    for how in ["exit", "return"] {
        let out = run_within(
            child(
                "exit_keeps_its_deadline_when_the_sink_blocks",
                how,
                dir.path(),
            ),
            Duration::from_secs(2) + MARGIN,
        );
        assert!(out.status.success(), "exit by {how}: {out:?}");
    }
}

/// A sink whose `write` panics: the writer must fail like on an I/O error.
struct PanickingSink;

impl std::io::Write for PanickingSink {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        panic!("sink exploded");
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_sink_that_panics_makes_the_logger_unhealthy_and_no_wait_hangs() {
    let logger = AsyncLogger::from_writer(PanickingSink, SentinelConfig::default()).unwrap();
    assert!(logger.log(json!({"n": 1})));
    let probe = logger.clone();
    let flushed = within(support::WAIT, move || probe.flush_blocking(support::WAIT));
    assert_eq!(flushed, Some(false), "flush on a dead sink");
    assert!(!logger.is_healthy());
    assert!(!logger.log(json!({"n": 2})), "an unhealthy logger refuses");
    let probe = logger.clone();
    let shut = within(support::WAIT, move || {
        probe.shutdown_blocking(support::WAIT)
    });
    assert_eq!(shut, Some(false));
    let stats = logger.stats();
    assert_eq!(
        (stats.dropped_io_error, stats.dropped_unhealthy),
        (1, 1),
        "{stats:?}"
    );
}
