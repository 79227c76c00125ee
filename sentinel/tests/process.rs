//! Behaviour across processes: several writers on one file, and records
//! accepted before an exit without shutdown.
//!
//! Each test re-runs this test binary as a child (selected with `--exact`)
//! with an environment variable telling it what to do.

mod support;

use std::process::Command;

use sentinel::{AsyncLogger, SentinelConfig, set_default_logger, trace};
use serde_json::json;
use support::read_jsonl;

const CHILD: &str = "SENTINEL_TEST_CHILD";
const FILE: &str = "SENTINEL_TEST_FILE";

fn child(test: &str, mode: &str, file: &std::path::Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .env(FILE, file);
    cmd
}

fn mode() -> Option<(String, std::path::PathBuf)> {
    Some((std::env::var(CHILD).ok()?, std::env::var(FILE).ok()?.into()))
}

#[trace(label = "child")]
fn work(i: u64) -> u64 {
    i * 2
}

#[test]
fn several_processes_append_to_one_file_without_interleaving() {
    const PROCS: usize = 4;
    const PER_PROC: u64 = 20_000;
    if let Some((mode, file)) = mode() {
        if mode == "append" {
            let logger = AsyncLogger::new(SentinelConfig::new(&file)).unwrap();
            let pid = std::process::id();
            for i in 0..PER_PROC {
                // Long-ish lines make torn writes likely if writes were split.
                logger.log(json!({ "pid": pid, "i": i, "pad": "x".repeat(200) }));
            }
            assert!(logger.shutdown_blocking(support::WAIT));
            assert_eq!(logger.dropped(), 0);
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shared.jsonl");
    let children: Vec<_> = (0..PROCS)
        .map(|_| {
            child(
                "several_processes_append_to_one_file_without_interleaving",
                "append",
                &file,
            )
            .spawn()
            .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    // Every line parses (no interleaving) and none is missing.
    let records = read_jsonl(&file);
    assert_eq!(records.len(), PROCS * PER_PROC as usize);
    let mut per_pid = std::collections::HashMap::<u64, Vec<u64>>::new();
    for r in &records {
        per_pid
            .entry(r["pid"].as_u64().unwrap())
            .or_default()
            .push(r["i"].as_u64().unwrap());
    }
    assert_eq!(per_pid.len(), PROCS);
    for seq in per_pid.values() {
        assert_eq!(
            *seq,
            (0..PER_PROC).collect::<Vec<_>>(),
            "each process's lines stay in order"
        );
    }
}

#[test]
fn records_accepted_before_returning_from_main_are_written() {
    if let Some((mode, file)) = mode() {
        set_default_logger(AsyncLogger::new(SentinelConfig::new(&file)).unwrap());
        for i in 0..5000 {
            work(i);
        }
        match mode.as_str() {
            // No shutdown, no flush: the harness returns from main.
            "return" => return,
            "exit" => std::process::exit(0),
            _ => unreachable!(),
        }
    }
    for how in ["return", "exit"] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("exit.jsonl");
        let status = child(
            "records_accepted_before_returning_from_main_are_written",
            how,
            &file,
        )
        .status()
        .unwrap();
        assert!(status.success());
        let records = read_jsonl(&file);
        assert_eq!(records.len(), 5000, "exit by {how}");
        assert_eq!(records[4999]["function"], "work[child]");
    }
}

#[trace(logger = l)]
fn tagged(l: &AsyncLogger) -> u32 {
    let _t = sentinel::tag("phase", "inside");
    7
}

/// Calls a `#[trace]` fn and opens a `TimeBlock` when its thread's
/// thread-locals are destroyed.
struct TracesOnDrop(AsyncLogger);

impl Drop for TracesOnDrop {
    fn drop(&mut self) {
        assert_eq!(tagged(&self.0), 7);
        drop(
            sentinel::TimeBlock::builder("block_in_destructor")
                .logger(&self.0)
                .start(),
        );
    }
}

// regression: issue #11
#[test]
fn issue_11_spans_in_a_thread_local_destructor_do_not_abort() {
    if let Some((mode, file)) = mode() {
        assert_eq!(mode, "teardown");
        thread_local! {
            static GUARD: std::cell::RefCell<Option<TracesOnDrop>> =
                const { std::cell::RefCell::new(None) };
        }
        let logger = AsyncLogger::new(SentinelConfig::new(&file)).unwrap();
        // The process's first spans, and first CPU-time reads, happen in a
        // destructor.
        let l = logger.clone();
        std::thread::spawn(move || {
            GUARD.with(|g| *g.borrow_mut() = Some(TracesOnDrop(l)));
        })
        .join()
        .unwrap();
        let l = logger.clone();
        std::thread::spawn(move || {
            // Registered first, so destroyed after sentinel's own
            // thread-locals, which the spans below bring to life.
            GUARD.with(|g| *g.borrow_mut() = Some(TracesOnDrop(l.clone())));
            let _t = sentinel::tag("phase", "running");
            tagged(&l);
        })
        .join()
        .unwrap();
        assert!(logger.shutdown_blocking(support::WAIT));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("teardown.jsonl");
    let out = child(
        "issue_11_spans_in_a_thread_local_destructor_do_not_abort",
        "teardown",
        &file,
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "the child died: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let records = read_jsonl(&file);
    let names: Vec<_> = records
        .iter()
        .map(|r| r["function"].as_str().or(r["label"].as_str()).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "tagged",
            "block_in_destructor",
            "tagged",
            "tagged",
            "block_in_destructor"
        ],
        "{records:?}"
    );
}
