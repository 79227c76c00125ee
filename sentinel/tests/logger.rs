//! The logger: the original test_logger.py behaviours, plus failures, exit
//! and multi-process appends.

mod support;

use std::time::Duration;

use sentinel::{AsyncLogger, SentinelConfig};
use serde_json::json;
use support::{GatedSink, MemSink, TempLog, WAIT, global_events, read_jsonl};

#[test]
fn writes_single_record_to_file() {
    let t = TempLog::new();
    assert!(t.logger.log(json!({"event": "test", "value": 42})));
    let records = t.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["event"], "test");
    assert_eq!(records[0]["value"], 42);
}

#[test]
fn writes_multiple_records_in_order() {
    let t = TempLog::new();
    for i in 0..2000 {
        t.logger.log(json!({ "i": i }));
    }
    let got: Vec<i64> = t
        .records()
        .iter()
        .map(|r| r["i"].as_i64().unwrap())
        .collect();
    assert_eq!(got, (0..2000).collect::<Vec<_>>());
}

#[test]
fn injects_timestamp_first_as_rfc3339_utc() {
    let t = TempLog::new();
    t.logger.log(json!({"event": "x"}));
    let text = {
        t.logger.shutdown_blocking(WAIT);
        std::fs::read_to_string(&t.path).unwrap()
    };
    assert!(text.starts_with("{\"timestamp\":\""), "{text}");
    let rec: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    let ts = rec["timestamp"].as_str().unwrap();
    assert!(ts.contains('T') && ts.ends_with("+00:00"), "{ts}");
    // Microsecond precision: exactly six fraction digits.
    let frac = ts.split('.').nth(1).unwrap();
    assert_eq!(frac.len(), "123456+00:00".len(), "{ts}");
}

#[test]
fn user_can_override_timestamp() {
    let t = TempLog::new();
    t.logger
        .log(json!({"timestamp": "2020-01-01T00:00:00+00:00", "event": "x"}));
    assert_eq!(t.records()[0]["timestamp"], "2020-01-01T00:00:00+00:00");
}

#[test]
fn accepts_any_serializable_struct() {
    #[derive(serde::Serialize)]
    struct Login {
        user: &'static str,
        attempts: u32,
        tags: Vec<&'static str>,
    }
    let t = TempLog::new();
    t.logger.log(Login {
        user: "ada",
        attempts: 3,
        tags: vec!["a", "b"],
    });
    let mut map = std::collections::BTreeMap::new();
    map.insert("k", 1);
    t.logger.log(map);
    let records = t.records();
    assert_eq!(records[0]["user"], "ada");
    assert_eq!(records[0]["tags"], json!(["a", "b"]));
    assert_eq!(records[1]["k"], 1);
}

#[test]
fn creates_missing_parent_directories() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/c/log.jsonl");
    let logger = AsyncLogger::new(SentinelConfig::new(&nested)).unwrap();
    logger.log(json!({"event": "x"}));
    assert!(logger.shutdown_blocking(WAIT));
    assert_eq!(read_jsonl(&nested).len(), 1);
}

// regression: issue #15
#[test]
fn issue_15_a_line_cut_by_a_full_disk_does_not_swallow_the_next_record_without_rotation() {
    // A write cut short by a full disk (an earlier run, or another process) leaves the file
    // ending mid-line; the next logger's first record must not be glued to it and lost.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    std::fs::write(&path, "{\"n\":0}\n{\"n\":1,\"pad\":\"xx").unwrap();
    let logger = AsyncLogger::new(SentinelConfig::new(&path)).unwrap();
    logger.log(json!({"n": 2}));
    logger.log(json!({"n": 3}));
    assert!(logger.shutdown_blocking(WAIT));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(
        lines[1], "{\"n\":1,\"pad\":\"xx",
        "the cut line stays as it was"
    );
    let later: Vec<u64> = lines[2..]
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(later, [2, 3]);
    // A file that ends with its newline gets no blank line.
    let logger = AsyncLogger::new(SentinelConfig::new(&path)).unwrap();
    assert!(logger.shutdown_blocking(WAIT));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn unopenable_path_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be.
    let err = AsyncLogger::new(SentinelConfig::new(dir.path())).unwrap_err();
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    // A parent that is a regular file.
    let file = dir.path().join("plain");
    std::fs::write(&file, b"x").unwrap();
    let err = AsyncLogger::new(SentinelConfig::new(file.join("log.jsonl"))).unwrap_err();
    assert!(matches!(err, sentinel::Error::Open { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn invalid_config_is_an_error_not_a_panic() {
    let err = AsyncLogger::new(SentinelConfig::default().max_queue_bytes(0)).unwrap_err();
    assert!(err.to_string().contains("max_queue_bytes"), "{err}");
}

#[test]
fn shutdown_is_idempotent() {
    let t = TempLog::new();
    assert!(t.logger.shutdown_blocking(WAIT));
    assert!(t.logger.shutdown_blocking(WAIT));
    assert!(t.logger.shutdown_blocking(WAIT));
}

#[tokio::test]
async fn async_shutdown_is_idempotent_and_concurrent_calls_agree() {
    let t = TempLog::new();
    t.logger.log(json!({"n": 1}));
    let (a, b) = tokio::join!(t.logger.shutdown(), t.logger.shutdown());
    assert!(a && b);
    assert!(t.logger.shutdown().await);
    assert_eq!(read_jsonl(&t.path).len(), 1);
}

#[test]
fn log_after_shutdown_drops_with_counted_warning() {
    let events = global_events();
    let t = TempLog::new();
    t.logger.log(json!({"event": "before"}));
    t.logger.shutdown_blocking(WAIT);
    assert!(!t.logger.log(json!({"event": "after"})));
    let records = read_jsonl(&t.path);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["event"], "before");
    assert_eq!(t.logger.stats().dropped_closed, 1);
    assert!(
        events.contains("reason=\"closed\""),
        "{:?}",
        events.0.lock().unwrap()
    );
}

#[test]
fn flush_makes_records_visible_without_shutdown() {
    let t = TempLog::new();
    for i in 0..50 {
        t.logger.log(json!({ "i": i }));
    }
    assert!(t.logger.flush_blocking(WAIT));
    assert_eq!(read_jsonl(&t.path).len(), 50);
    assert_eq!(t.logger.stats().written, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_flush_covers_records_from_every_thread() {
    let t = TempLog::new();
    let mut handles = Vec::new();
    for w in 0..4 {
        let logger = t.logger.clone();
        handles.push(std::thread::spawn(move || {
            for i in 0..100 {
                logger.log(json!({ "w": w, "i": i }));
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert!(t.logger.flush().await);
    assert_eq!(read_jsonl(&t.path).len(), 400);
    assert!(t.logger.flush_timeout(WAIT).await);
}

#[test]
fn full_queue_drops_with_counted_warning() {
    let events = global_events();
    let sink = GatedSink::default();
    let config = SentinelConfig::default().max_queue_bytes(1).lossy(true);
    let logger = AsyncLogger::from_writer(sink.clone(), config).unwrap();
    logger.log(json!({"i": 1}));
    sink.wait_for_write(); // the writer holds record 1 inside a write
    // Room for one staged record and one queued batch; the rest must drop.
    let accepted: Vec<bool> = (2..=6).map(|i| logger.log(json!({ "i": i }))).collect();
    assert_eq!(accepted, [true, true, false, false, false]);
    assert_eq!(logger.stats().dropped_queue_full, 3);
    assert!(events.contains("reason=\"queue_full\""));
    sink.open();
    assert!(logger.shutdown_blocking(WAIT));
    let lines = sink.lines();
    let got: Vec<i64> = lines.iter().filter_map(|r| r["i"].as_i64()).collect();
    assert_eq!(got, [1, 2, 3]);
    // The gap is marked in the file, with its count and reason.
    let marker = lines.last().unwrap();
    assert_eq!(marker["status"], "dropped", "{lines:?}");
    assert_eq!(marker["dropped"]["count"], 3);
    assert_eq!(marker["dropped"]["reasons"]["queue_full"], 3);
}

#[test]
fn a_full_queue_makes_producers_wait_instead_of_dropping() {
    let sink = GatedSink::default();
    let config = SentinelConfig::default()
        .max_queue_bytes(1)
        .stall_timeout(Duration::from_secs(30));
    let logger = AsyncLogger::from_writer(sink.clone(), config).unwrap();
    logger.log(json!({"i": 0}));
    sink.wait_for_write();
    let producer = {
        let logger = logger.clone();
        std::thread::spawn(move || {
            let mut all = true;
            for i in 1..20 {
                all &= logger.log(json!({ "i": i }));
            }
            all
        })
    };
    // The producer blocks on the full queue until the writer moves on.
    sink.open();
    assert!(producer.join().unwrap());
    assert!(logger.shutdown_blocking(WAIT));
    assert_eq!(logger.dropped(), 0);
    let got: Vec<i64> = sink
        .lines()
        .iter()
        .map(|r| r["i"].as_i64().unwrap())
        .collect();
    assert_eq!(got, (0..20).collect::<Vec<_>>());
}

#[tokio::test(flavor = "current_thread")]
async fn log_async_awaits_room_without_blocking_the_runtime() {
    let sink = GatedSink::default();
    let config = SentinelConfig::default()
        .max_queue_bytes(1)
        .stall_timeout(Duration::from_secs(30));
    let logger = AsyncLogger::from_writer(sink.clone(), config).unwrap();
    logger.log(json!({"i": 0}));
    sink.wait_for_write();
    let producer = {
        let logger = logger.clone();
        tokio::spawn(async move {
            let mut ok = true;
            for i in 1..10 {
                ok &= logger.log_async(json!({ "i": i })).await;
            }
            ok
        })
    };
    // This single-threaded runtime still runs other tasks meanwhile.
    tokio::task::yield_now().await;
    sink.open();
    assert!(producer.await.unwrap());
    assert!(logger.shutdown().await);
    assert_eq!(sink.lines().len(), 10);
}

#[test]
fn concurrent_writers_all_records_persisted() {
    let t = TempLog::new();
    let threads: Vec<_> = (0..10)
        .map(|s| {
            let logger = t.logger.clone();
            std::thread::spawn(move || {
                for i in s * 100..s * 100 + 100 {
                    logger.log(json!({ "i": i }));
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let mut got: Vec<i64> = t
        .records()
        .iter()
        .map(|r| r["i"].as_i64().unwrap())
        .collect();
    got.sort_unstable();
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
}

#[test]
fn unserializable_record_is_dropped_alone_and_writer_stays_healthy() {
    struct Unstringable;
    impl serde::Serialize for Unstringable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("nope"))
        }
    }
    let events = global_events();
    let t = TempLog::new();
    t.logger
        .log(json!({"bad": [1]}).as_object().map(|_| Unstringable));
    t.logger.log(42); // not an object
    t.logger.log(json!({"good": "yes"}));
    assert!(t.logger.flush_blocking(WAIT));
    assert!(t.logger.is_healthy());
    assert_eq!(t.logger.stats().dropped_unserializable, 2);
    let records = t.records();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0]["good"], "yes");
    // The two lost records are marked where they were dropped.
    assert_eq!(records[1]["status"], "dropped");
    assert_eq!(records[1]["dropped"]["reasons"]["unserializable"], 2);
    assert!(events.contains("failed to serialize"));
}

#[test]
fn healthy_after_construction() {
    let t = TempLog::new();
    assert!(t.logger.is_healthy());
}

#[cfg(target_os = "linux")]
#[test]
fn disk_full_marks_unhealthy_and_refuses_further_records() {
    let events = global_events();
    let logger = AsyncLogger::new(SentinelConfig::new("/dev/full")).unwrap();
    logger.log(json!({"trigger": "enospc"}));
    // The flush answers false: the write failed.
    assert!(!logger.flush_blocking(WAIT));
    assert!(!logger.is_healthy());
    assert_eq!(logger.stats().dropped_io_error, 1);
    assert!(events.contains("sentinel writer failed"));
    // Refused and counted from now on, never silently.
    assert!(!logger.log(json!({"event": "after death"})));
    assert_eq!(logger.stats().dropped_unhealthy, 1);
    // flush is false at once; shutdown is safe.
    assert!(!logger.flush_blocking(WAIT));
    assert!(!logger.shutdown_blocking(WAIT));
    assert!(!logger.shutdown_blocking(WAIT));
}

#[test]
fn failing_sink_counts_every_queued_record_as_lost() {
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "disk gone",
            ))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let logger = AsyncLogger::from_writer(Broken, SentinelConfig::default()).unwrap();
    for i in 0..10 {
        logger.log(json!({ "i": i }));
    }
    assert!(!logger.flush_blocking(WAIT));
    let stats = logger.stats();
    assert_eq!(stats.written, 0);
    assert_eq!(stats.dropped_io_error, 10);
}

#[test]
fn from_writer_sink_receives_lines() {
    let sink = MemSink::default();
    let logger = AsyncLogger::from_writer(sink.clone(), SentinelConfig::default()).unwrap();
    logger.log(json!({"a": 1}));
    assert!(logger.flush_blocking(WAIT));
    assert_eq!(sink.lines()[0]["a"], 1);
}

#[test]
fn writes_nothing_to_stdout_or_stderr() {
    // Run a child that logs, drops, and fails, with no subscriber installed;
    // it must print nothing.
    if std::env::var_os("SENTINEL_QUIET_CHILD").is_some() {
        let logger = AsyncLogger::new(SentinelConfig::new(
            std::env::var("SENTINEL_QUIET_CHILD").unwrap(),
        ))
        .unwrap();
        logger.log(json!({"x": 1}));
        logger.shutdown_blocking(WAIT);
        logger.log(json!({"x": 2})); // dropped: closed
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "writes_nothing_to_stdout_or_stderr",
            "--quiet",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SENTINEL_QUIET_CHILD", dir.path().join("q.jsonl"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Only the test harness's own summary lines.
    assert!(!stdout.contains("sentinel"), "{stdout}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("sentinel"));
    assert_eq!(read_jsonl(&dir.path().join("q.jsonl")).len(), 1);
}

#[test]
fn a_backlog_is_written_in_bounded_chunks_in_order() {
    let sink = GatedSink::default();
    let logger = AsyncLogger::from_writer(sink.clone(), SentinelConfig::default()).unwrap();
    logger.log(json!({"i": 0}));
    sink.wait_for_write(); // the writer is stuck in its first write
    for i in 1..60_000 {
        assert!(logger.log(json!({ "i": i })));
    }
    sink.open();
    assert!(logger.flush_blocking(WAIT));
    let got: Vec<i64> = sink
        .lines()
        .iter()
        .map(|r| r["i"].as_i64().unwrap())
        .collect();
    assert_eq!(got, (0..60_000).collect::<Vec<_>>());
    // One write for the first record, then the backlog in several cycles
    // rather than one that holds the whole queue a second time.
    let writes = sink.state.0.lock().unwrap().writes_started;
    assert!(writes >= 4, "backlog written in {writes} writes");
    assert_eq!(logger.dropped(), 0);
}
