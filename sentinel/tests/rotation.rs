//! Rotation and retention of the live file: by size, by time (an injected
//! clock), both; retention by count, bytes and age; compression; failing
//! file-system steps; many processes; SIGKILL in the middle of a rotation.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sentinel::rotation::{
    Compression, FaultHook, ManualClock, Period, RemovalHook, Segment, Step, WallClock, segments,
};
use sentinel::{AsyncLogger, SentinelConfig};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// The records of one file (plain, `.gz` or `.zst`); panics on a line that
/// is not a whole JSON object.
fn read_file(path: &Path) -> Vec<Value> {
    let mut text = String::new();
    let file = std::fs::File::open(path).unwrap();
    match path.extension().and_then(|e| e.to_str()) {
        Some("gz") => flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .unwrap(),
        #[cfg(feature = "zstd")]
        Some("zst") => zstd::stream::read::Decoder::new(file)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap(),
        _ => BufReader::new(file).read_to_string(&mut text).unwrap(),
    };
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "{path:?} ends mid-line"
    );
    text.lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{path:?}: bad line {l:?}: {e}"))
        })
        .collect()
}

/// Every record of a folder, oldest segment first, then the live file.
fn read_folder(live: &Path) -> Vec<Value> {
    let mut all = Vec::new();
    for segment in segments(live).unwrap() {
        all.extend(read_file(&segment.path));
    }
    if live.exists() {
        all.extend(read_file(live));
    }
    all
}

/// The config of a logger on `live` in these tests. Shutdown waits for the
/// background pass (compression, retention) only up to the exit timeout, 2 s
/// by default; on a loaded 2-core machine a pass takes longer (a thread at
/// nice 10, one `fsync` per segment), and then it ends after the shutdown, or
/// in the next logger. The tests check what the pass did right after the
/// shutdown, so they give it what they give every wait.
fn config(live: &Path) -> SentinelConfig {
    SentinelConfig::new(live).exit_timeout(WAIT)
}

fn numbers(records: &[Value]) -> Vec<u64> {
    records.iter().filter_map(|r| r["n"].as_u64()).collect()
}

fn log_numbered(logger: &AsyncLogger, range: std::ops::Range<u64>) {
    for n in range {
        assert!(logger.log(json!({"n": n, "pad": "x".repeat(40)})));
    }
}

fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn at(rfc3339: &str) -> SystemTime {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .unwrap();
    SystemTime::UNIX_EPOCH + Duration::from_secs(t.unix_timestamp() as u64)
}

#[test]
fn size_rotation_keeps_lines_whole_and_segments_under_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let logger = AsyncLogger::new(config(&live).rotate_bytes(4096)).unwrap();
    for chunk in 0..20 {
        log_numbered(&logger, chunk * 100..(chunk + 1) * 100);
        assert!(logger.flush_blocking(WAIT));
    }
    assert!(logger.shutdown_blocking(WAIT));
    let found = segments(&live).unwrap();
    assert!(found.len() >= 20, "{:?}", file_names(dir.path()));
    for segment in &found {
        let len = std::fs::metadata(&segment.path).unwrap().len();
        assert!(
            len <= 4096 && len > 3000,
            "{:?} has {len} bytes",
            segment.path
        );
    }
    assert_eq!(numbers(&read_folder(&live)), (0..2000).collect::<Vec<_>>());
    let stats = logger.stats();
    assert_eq!(stats.rotations, found.len() as u64);
    assert_eq!(stats.rotation_errors, 0);
    assert!(file_names(dir.path()).contains(&".app.jsonl.lock".to_owned()));
}

#[test]
fn time_rotation_follows_the_injected_clock() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let clock = Arc::new(ManualClock::new(at("2026-12-02T10:59:58Z")));
    let logger = AsyncLogger::new(
        config(&live)
            .rotate_every(Period::Hourly)
            .rotation_clock(clock.clone()),
    )
    .unwrap();
    log_numbered(&logger, 0..3);
    assert!(logger.flush_blocking(WAIT));
    clock.advance(Duration::from_secs(1)); // 10:59:59, same hour
    log_numbered(&logger, 3..5);
    assert!(logger.flush_blocking(WAIT));
    assert!(segments(&live).unwrap().is_empty());
    clock.advance(Duration::from_secs(3)); // 11:00:02
    log_numbered(&logger, 5..6);
    assert!(logger.flush_blocking(WAIT));
    clock.advance(Duration::from_secs(86_400)); // the next day, 11:00:02
    log_numbered(&logger, 6..7);
    assert!(logger.shutdown_blocking(WAIT));

    let names: Vec<_> = segments(&live)
        .unwrap()
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "app.2026-12-02T11-00-02Z.000001.jsonl",
            "app.2026-12-03T11-00-02Z.000001.jsonl"
        ]
    );
    let seg = segments(&live).unwrap();
    assert_eq!(numbers(&read_file(&seg[0].path)), [0, 1, 2, 3, 4]);
    assert_eq!(numbers(&read_file(&seg[1].path)), [5]);
    assert_eq!(numbers(&read_file(&live)), [6]);
}

#[test]
fn daily_rotation_and_size_rotation_together() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let clock = Arc::new(ManualClock::new(at("2026-12-02T23:59:00Z")));
    let logger = AsyncLogger::new(
        config(&live)
            .rotate_every(Period::Daily)
            .rotate_bytes(2048)
            .rotation_clock(clock.clone()),
    )
    .unwrap();
    log_numbered(&logger, 0..10); // under 2 KiB
    assert!(logger.flush_blocking(WAIT));
    assert!(segments(&live).unwrap().is_empty());
    log_numbered(&logger, 10..100); // size rotations within the day
    assert!(logger.flush_blocking(WAIT));
    let by_size = segments(&live).unwrap().len();
    assert!(by_size >= 2);
    clock.advance(Duration::from_secs(120)); // past midnight
    log_numbered(&logger, 100..101);
    assert!(logger.shutdown_blocking(WAIT));
    let found = segments(&live).unwrap();
    assert_eq!(found.len(), by_size + 1);
    assert_eq!(
        found.last().unwrap().time,
        time::macros::datetime!(2026-12-03 00:01:00 UTC)
    );
    assert_eq!(numbers(&read_file(&live)), [100]);
    assert_eq!(numbers(&read_folder(&live)), (0..101).collect::<Vec<_>>());
}

#[test]
fn daily_rotation_in_local_time_rotates_at_local_midnight() {
    // Two loggers cross 22:00 UTC, which is midnight in a UTC+2 zone; only the
    // one on local time rotates. The zone is the child process's `TZ`.
    let run = |live: &Path, local: bool| -> usize {
        let clock = Arc::new(ManualClock::new(at("2026-12-02T21:59:00Z")));
        let logger = AsyncLogger::new(
            config(live)
                .rotate_every(Period::Daily)
                .rotate_local_time(local)
                .rotation_clock(clock.clone()),
        )
        .unwrap();
        log_numbered(&logger, 0..1);
        assert!(logger.flush_blocking(WAIT));
        clock.advance(Duration::from_secs(120));
        log_numbered(&logger, 1..2);
        assert!(logger.shutdown_blocking(WAIT));
        segments(live).unwrap().len()
    };
    if let Some((role, live)) = child_role() {
        assert_eq!(role, "local");
        println!("local segments {}", run(&live, true));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(run(&dir.path().join("utc.jsonl"), false), 0);
    let live = dir.path().join("local.jsonl");
    let test = "daily_rotation_in_local_time_rotates_at_local_midnight";
    // POSIX zone "XST-2" is two hours east of UTC; no zone database needed.
    let out = child(test, "local", &live)
        .env("TZ", "XST-2")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("local segments 1"));
    let found = segments(&live).unwrap();
    assert_eq!(
        found[0].time,
        time::macros::datetime!(2026-12-02 22:01:00 UTC)
    );
    assert_eq!(numbers(&read_file(&found[0].path)), [0]);
    assert_eq!(numbers(&read_file(&live)), [1]);
}

/// A hook that sends on `tx` each time `step` is about to happen, and lets
/// it happen.
fn reporting(step: Step, tx: std::sync::mpsc::Sender<()>) -> FaultHook {
    Arc::new(move |s| {
        if s == step {
            let _ = tx.send(());
        }
        Ok(())
    })
}

// regression: issue #15
#[test]
fn issue_15_time_rotation_happens_at_the_boundary_without_a_new_record() {
    // The service goes quiet at 23:59. At midnight the writer rotates the
    // day's records out on its own: no record is written after the boundary,
    // and the test waits for the rename itself, not for a flush.
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let clock = Arc::new(ManualClock::new(at("2026-12-02T23:59:00Z")));
    let (renaming, renamed) = std::sync::mpsc::channel();
    let logger = AsyncLogger::new(
        config(&live)
            .rotate_every(Period::Daily)
            .rotation_clock(clock.clone())
            .rotation_fault_hook(reporting(Step::Rename, renaming)),
    )
    .unwrap();
    log_numbered(&logger, 0..5);
    assert!(logger.flush_blocking(WAIT));
    clock.advance(Duration::from_secs(61)); // 00:00:01, and nothing is logged
    renamed
        .recv_timeout(WAIT)
        .expect("the writer did not rotate at the boundary without a new record");
    // The flush is answered after the rotation in progress has finished.
    assert!(logger.flush_blocking(WAIT));
    let found = segments(&live).unwrap();
    assert_eq!(
        found.iter().map(|s| s.time).collect::<Vec<_>>(),
        [time::macros::datetime!(2026-12-03 00:00:01 UTC)]
    );
    assert_eq!(numbers(&read_file(&found[0].path)), [0, 1, 2, 3, 4]);
    assert!(read_file(&live).is_empty());
    assert_eq!(logger.stats().rotations, 1);

    // At the next boundary the live file is empty: no empty segment.
    clock.advance(Duration::from_secs(86_400));
    assert!(logger.flush_blocking(WAIT));
    assert_eq!(segments(&live).unwrap().len(), 1);
    // The records after it start the new day's file; they rotate only at
    // the day's end.
    log_numbered(&logger, 5..6);
    assert!(logger.flush_blocking(WAIT));
    clock.advance(Duration::from_secs(60));
    log_numbered(&logger, 6..7);
    assert!(logger.shutdown_blocking(WAIT));
    assert_eq!(segments(&live).unwrap().len(), 1);
    assert_eq!(numbers(&read_file(&live)), [5, 6]);
    assert_eq!(logger.stats().rotations, 1);
    assert!(renamed.try_recv().is_err());
}

/// Real time moved by an offset the test sets: like the system clock it
/// never signals a jump, so only the writer's own timer sees a boundary.
#[derive(Debug, Default)]
struct ShiftedClock {
    offset_ns: AtomicU64,
}

impl ShiftedClock {
    /// Moves the clock so that it reads `before` ahead of the next hour.
    fn set_before_next_hour(&self, before: Duration) {
        let real = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        // An hour later than needed, so the target is never in the past.
        let hour = Duration::from_secs((real.as_secs() / 3600 + 2) * 3600);
        let offset = hour - before - real;
        self.offset_ns
            .store(offset.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl WallClock for ShiftedClock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_nanos(self.offset_ns.load(Ordering::SeqCst))
    }
}

#[test]
fn the_writer_s_own_timer_rotates_at_the_boundary_in_real_time() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let clock = Arc::new(ShiftedClock::default());
    clock.set_before_next_hour(Duration::from_secs(600));
    let (renaming, renamed) = std::sync::mpsc::channel();
    let logger = AsyncLogger::new(
        config(&live)
            .rotate_every(Period::Hourly)
            .rotation_clock(clock.clone())
            .rotation_fault_hook(reporting(Step::Rename, renaming)),
    )
    .unwrap();
    log_numbered(&logger, 0..3);
    assert!(logger.flush_blocking(WAIT));
    // Stepped to a second before the hour without a signal; the flush makes
    // the writer set its timer from the clock's new reading.
    clock.set_before_next_hour(Duration::from_secs(1));
    assert!(logger.flush_blocking(WAIT));
    renamed
        .recv_timeout(WAIT)
        .expect("the writer's timer did not rotate at the boundary");
    assert!(logger.shutdown_blocking(WAIT));
    let found = segments(&live).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].time.minute(), 0);
    assert_eq!(numbers(&read_file(&found[0].path)), [0, 1, 2]);
    assert!(read_file(&live).is_empty());
}

/// A hand-moved clock that, unlike [`ManualClock`], never tells the writer
/// it moved: the writer sees the move only when it next reads the clock.
#[derive(Debug)]
struct SilentClock(ManualClock);

impl WallClock for SilentClock {
    fn now(&self) -> SystemTime {
        self.0.now()
    }
}

#[test]
fn the_first_record_after_a_quiet_boundary_starts_the_new_file_instead_of_a_segment() {
    // The live file is empty when the hour ends, and a record comes before
    // the writer's timer has looked: it goes into the live file, which now
    // belongs to the new hour; nothing is rotated.
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let clock = Arc::new(SilentClock(ManualClock::new(at("2026-12-02T10:59:30Z"))));
    let logger = AsyncLogger::new(
        config(&live)
            .rotate_every(Period::Hourly)
            .rotation_clock(clock.clone()),
    )
    .unwrap();
    assert!(logger.flush_blocking(WAIT));
    clock.0.advance(Duration::from_secs(60)); // 11:00:30
    log_numbered(&logger, 0..2);
    assert!(logger.flush_blocking(WAIT));
    clock.0.advance(Duration::from_secs(60)); // 11:01:30, same hour
    log_numbered(&logger, 2..3);
    assert!(logger.shutdown_blocking(WAIT));
    assert!(
        segments(&live).unwrap().is_empty(),
        "{:?}",
        file_names(dir.path())
    );
    assert_eq!(numbers(&read_file(&live)), [0, 1, 2]);
    assert_eq!(logger.stats().rotations, 0);
}

#[test]
fn at_a_boundary_exactly_one_of_two_writers_on_one_file_rotates_it() {
    // Two loggers with their own descriptors and lock-file handles (as two
    // processes have) cross the boundary together with no record to write.
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let clock = Arc::new(ManualClock::new(at("2026-12-02T10:59:30Z")));
    let (renaming, renamed) = std::sync::mpsc::channel();
    let hook = reporting(Step::Rename, renaming);
    let open = || {
        AsyncLogger::new(
            config(&live)
                .rotate_every(Period::Hourly)
                .rotation_clock(clock.clone())
                .rotation_fault_hook(hook.clone()),
        )
        .unwrap()
    };
    let (a, b) = (open(), open());
    log_numbered(&a, 0..3);
    log_numbered(&b, 100..103);
    assert!(a.flush_blocking(WAIT) && b.flush_blocking(WAIT));
    clock.advance(Duration::from_secs(60)); // 11:00:30
    renamed
        .recv_timeout(WAIT)
        .expect("neither writer rotated at the boundary");
    // Both have looked at the boundary once their flush is answered.
    assert!(a.flush_blocking(WAIT) && b.flush_blocking(WAIT));
    assert!(renamed.try_recv().is_err(), "rotated twice");
    assert_eq!(a.stats().rotations + b.stats().rotations, 1);
    let found = segments(&live).unwrap();
    assert_eq!(found.len(), 1);
    let mut rotated = numbers(&read_file(&found[0].path));
    rotated.sort_unstable();
    assert_eq!(rotated, [0, 1, 2, 100, 101, 102]);
    // Both append to the new live file from now on.
    log_numbered(&a, 3..4);
    log_numbered(&b, 103..104);
    assert!(a.shutdown_blocking(WAIT) && b.shutdown_blocking(WAIT));
    let mut after = numbers(&read_file(&live));
    after.sort_unstable();
    assert_eq!(after, [3, 103]);
    assert_eq!(segments(&live).unwrap().len(), 1);
}

#[test]
fn segment_names_keep_write_order_when_the_clock_steps_back() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let clock = Arc::new(ManualClock::new(at("2026-12-02T10:00:00Z")));
    let logger = AsyncLogger::new(
        config(&live)
            .rotate_bytes(2048)
            .rotation_clock(clock.clone()),
    )
    .unwrap();
    log_numbered(&logger, 0..100);
    assert!(logger.flush_blocking(WAIT));
    let before = segments(&live).unwrap().len();
    assert!(before >= 2);
    // NTP steps the clock back an hour: new segments still sort after the old ones.
    clock.set(at("2026-12-02T09:00:00Z"));
    log_numbered(&logger, 100..200);
    assert!(logger.shutdown_blocking(WAIT));
    let found = segments(&live).unwrap();
    assert!(found.len() >= before + 2);
    assert!(
        found
            .iter()
            .all(|s| s.time == time::macros::datetime!(2026-12-02 10:00:00 UTC)),
        "{:?}",
        file_names(dir.path())
    );
    // Lexical order of the names (what `segments` and `ls` give) is write order.
    assert_eq!(numbers(&read_folder(&live)), (0..200).collect::<Vec<_>>());
}

#[test]
fn gzip_compression_runs_in_the_background_and_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let logger =
        AsyncLogger::new(config(&live).rotate_bytes(8192).compress(Compression::Gzip)).unwrap();
    for chunk in 0..10 {
        log_numbered(&logger, chunk * 100..(chunk + 1) * 100);
        assert!(logger.flush_blocking(WAIT));
    }
    // Shutdown waits for the background thread's last pass.
    assert!(logger.shutdown_blocking(WAIT));
    let found = segments(&live).unwrap();
    assert!(found.len() >= 5);
    assert!(
        found.iter().all(|s| s.compression == Compression::Gzip),
        "{:?}",
        file_names(dir.path())
    );
    assert!(!file_names(dir.path()).iter().any(|n| n.ends_with(".tmp")));
    assert_eq!(numbers(&read_folder(&live)), (0..1000).collect::<Vec<_>>());
    let stats = logger.stats();
    assert_eq!(stats.segments_compressed, found.len() as u64);
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_compression_keeps_every_record() {
    let (dir, live, stats) = run_with(|c| c.rotate_bytes(4096).compress(Compression::Zstd), 500);
    let found = segments(&live).unwrap();
    assert!(found.len() >= 3);
    assert!(
        found.iter().all(|s| s.compression == Compression::Zstd),
        "{:?}",
        file_names(dir.path())
    );
    assert_eq!(stats.segments_compressed, found.len() as u64);
    assert_eq!(numbers(&read_folder(&live)), (0..500).collect::<Vec<_>>());
}

/// Writes `total` records in flushed chunks of 50 to a fresh logger made by
/// `settings`, and returns the folder's records and the logger's stats.
fn run_with(
    settings: impl FnOnce(SentinelConfig) -> SentinelConfig,
    total: u64,
) -> (tempfile::TempDir, PathBuf, sentinel::LoggerStats) {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let logger = AsyncLogger::new(settings(config(&live))).unwrap();
    let mut n = 0;
    while n < total {
        log_numbered(&logger, n..(n + 50).min(total));
        n = (n + 50).min(total);
        assert!(logger.flush_blocking(WAIT));
    }
    assert!(logger.shutdown_blocking(WAIT));
    (dir, live, logger.stats())
}

/// The records kept are exactly the newest ones: a suffix of what was written.
fn assert_newest_kept(live: &Path, total: u64) -> u64 {
    let kept = numbers(&read_folder(live));
    let first = kept.first().copied().unwrap_or(total);
    assert_eq!(kept, (first..total).collect::<Vec<_>>());
    first
}

#[test]
fn retention_by_count_keeps_the_newest_segments() {
    let (_dir, live, stats) = run_with(|c| c.rotate_bytes(2048).keep_segments(3), 1000);
    assert_eq!(segments(&live).unwrap().len(), 3);
    assert!(stats.rotations > 3);
    assert_eq!(stats.segments_removed, stats.rotations - 3);
    assert!(assert_newest_kept(&live, 1000) > 0);
}

#[test]
fn the_removal_hook_sees_every_segment_retention_removes_while_it_is_complete() {
    let removed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicU64::new(0));
    let hook: RemovalHook = {
        let (removed, calls) = (removed.clone(), calls.clone());
        Arc::new(move |segment: &Segment| {
            calls.fetch_add(1, Ordering::SeqCst);
            let records = numbers(&read_file(&segment.path));
            removed.lock().unwrap().extend(records);
            Ok(())
        })
    };
    let (_dir, live, stats) = run_with(
        |c| {
            c.rotate_bytes(2048)
                .keep_segments(3)
                .compress(Compression::Gzip)
                .before_removal(hook)
        },
        1000,
    );
    assert!(stats.segments_removed > 0);
    assert_eq!(calls.load(Ordering::SeqCst), stats.segments_removed);
    assert_eq!(stats.rotation_errors, 0);
    // What the hook saw and what is left are every record, once each.
    let mut all = removed.lock().unwrap().clone();
    all.extend(numbers(&read_folder(&live)));
    all.sort_unstable();
    assert_eq!(all, (0..1000).collect::<Vec<_>>());
}

#[test]
fn a_failing_removal_hook_keeps_the_segment() {
    let hook: RemovalHook = Arc::new(|segment: &Segment| {
        Err(std::io::Error::other(format!(
            "archive unreachable for {:?}",
            segment.path
        )))
    });
    let (_dir, live, stats) = run_with(
        |c| c.rotate_bytes(2048).keep_segments(3).before_removal(hook),
        500,
    );
    assert_eq!(stats.segments_removed, 0);
    assert!(stats.rotation_errors > 0);
    assert_eq!(segments(&live).unwrap().len() as u64, stats.rotations);
    assert_eq!(numbers(&read_folder(&live)), (0..500).collect::<Vec<_>>());
}

#[test]
fn retention_by_bytes_bounds_the_segments_total() {
    let (_dir, live, stats) = run_with(|c| c.rotate_bytes(2048).keep_bytes(5000), 1000);
    let total: u64 = segments(&live)
        .unwrap()
        .iter()
        .map(|s| std::fs::metadata(&s.path).unwrap().len())
        .sum();
    assert!(total <= 5000 && total > 2048, "{total}");
    assert!(stats.segments_removed > 0);
    assert_newest_kept(&live, 1000);
}

#[test]
fn retention_by_age_removes_segments_older_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let clock = Arc::new(ManualClock::new(at("2026-12-01T12:00:00Z")));
    let logger = AsyncLogger::new(
        config(&live)
            .rotate_bytes(2048)
            .keep_age(Duration::from_secs(86_400))
            .rotation_clock(clock.clone()),
    )
    .unwrap();
    log_numbered(&logger, 0..100);
    assert!(logger.flush_blocking(WAIT));
    let old = segments(&live).unwrap().len();
    assert!(old >= 2);
    clock.advance(Duration::from_secs(86_400 - 60)); // within the day: kept
    log_numbered(&logger, 100..200);
    assert!(logger.flush_blocking(WAIT));
    clock.advance(Duration::from_secs(120)); // the first ones are now a day old
    log_numbered(&logger, 200..300);
    assert!(logger.shutdown_blocking(WAIT));
    let stats = logger.stats();
    assert_eq!(stats.segments_removed, old as u64);
    assert!(
        segments(&live)
            .unwrap()
            .iter()
            .all(|s| s.time >= time::macros::datetime!(2026-12-02 11:59:00 UTC))
    );
    assert_newest_kept(&live, 300);
}

/// A gzip-compressing logger on `live` with 100 records written and rotated, whose
/// background thread is inside its first compression, held there until the returned
/// sender sends (or `hold` passes); `tune` adjusts the config.
fn stuck_in_compression(
    live: &Path,
    hold: Duration,
    tune: impl FnOnce(SentinelConfig) -> SentinelConfig,
) -> (AsyncLogger, std::sync::mpsc::Sender<()>) {
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let first = std::sync::atomic::AtomicBool::new(true);
    let hook: FaultHook = Arc::new(move |step| {
        if step == Step::Compress && first.swap(false, Ordering::SeqCst) {
            let _ = entered_tx.send(());
            let _ = released.lock().unwrap().recv_timeout(hold);
        }
        Ok(())
    });
    let logger = AsyncLogger::new(
        tune(config(live))
            .rotate_bytes(2048)
            .compress(Compression::Gzip)
            .rotation_fault_hook(hook),
    )
    .unwrap();
    log_numbered(&logger, 0..100);
    assert!(logger.flush_blocking(WAIT));
    entered
        .recv_timeout(WAIT)
        .expect("compression never started");
    (logger, release)
}

#[test]
fn retention_never_removes_a_segment_another_logger_is_compressing() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    // Logger A stops inside its first compression until released.
    let (a, release) = stuck_in_compression(&live, WAIT, |c| c);
    let busy = segments(&live).unwrap()[0].path.clone();

    // Logger B, same file, keeps one segment: its retention must pass over
    // the segment A holds.
    let b = AsyncLogger::new(config(&live).rotate_bytes(2048).keep_segments(1)).unwrap();
    log_numbered(&b, 100..200);
    assert!(b.shutdown_blocking(WAIT));
    assert!(b.stats().segments_removed > 0);
    assert!(busy.exists(), "{:?}", file_names(dir.path()));

    release.send(()).unwrap();
    assert!(a.shutdown_blocking(WAIT));
    let mut done = busy.into_os_string();
    done.push(".gz");
    assert!(Path::new(&done).exists(), "{:?}", file_names(dir.path()));
    assert_eq!(a.stats().rotation_errors, 0);
}

/// Whether a process waits for an exclusive `flock` on the file with inode
/// `ino` (a blocked request is listed with `->` in `/proc/locks`).
fn exclusive_lock_awaited(ino: u64) -> bool {
    let locks = std::fs::read_to_string("/proc/locks").unwrap();
    let suffix = format!(":{ino} ");
    locks.lines().any(|l| {
        l.contains("->") && l.contains("FLOCK") && l.contains("WRITE") && l.contains(&suffix)
    })
}

#[test]
fn a_rotation_waits_for_appends_in_progress_elsewhere() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    // Logger B stops in its first append: it has checked the path and holds
    // the shared lock, about to write.
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let first = std::sync::atomic::AtomicBool::new(true);
    let b_hook: sentinel::rotation::FaultHook = Arc::new(move |step| {
        if step == Step::Append && first.swap(false, Ordering::SeqCst) {
            let _ = entered_tx.send(());
            let _ = released.lock().unwrap().recv_timeout(WAIT);
        }
        Ok(())
    });
    // Logger A reports reaching the rename.
    let (renaming_tx, renaming) = std::sync::mpsc::channel();
    let renaming_tx = std::sync::Mutex::new(renaming_tx);
    let a_hook: sentinel::rotation::FaultHook = Arc::new(move |step| {
        if step == Step::Rename {
            let _ = renaming_tx.lock().unwrap().send(());
        }
        Ok(())
    });
    let hooked = |hook| config(&live).rotate_bytes(2048).rotation_fault_hook(hook);
    let a = AsyncLogger::new(hooked(a_hook)).unwrap();
    let b = AsyncLogger::new(hooked(b_hook)).unwrap();
    log_numbered(&a, 0..10);
    assert!(a.flush_blocking(WAIT));
    b.log(json!({"n": 1000}));
    entered.recv_timeout(WAIT).expect("B never appended");

    // A needs a rotation now; it must wait for B's append, not rename the
    // file B is about to write to.
    let ino = std::fs::metadata(dir.path().join(".app.jsonl.lock"))
        .unwrap()
        .ino();
    std::thread::scope(|s| {
        s.spawn(|| {
            log_numbered(&a, 10..100);
            assert!(a.flush_blocking(WAIT));
        });
        let start = std::time::Instant::now();
        while !exclusive_lock_awaited(ino) {
            assert!(
                renaming.try_recv().is_err(),
                "A renamed the file while B was appending to it"
            );
            assert!(start.elapsed() < WAIT, "A never asked for the lock");
            std::thread::yield_now();
        }
        release.send(()).unwrap();
    });
    assert!(b.shutdown_blocking(WAIT));
    assert!(a.shutdown_blocking(WAIT));
    // B's record went into the file before it was rotated out: the first
    // segment, with A's first records.
    let first = numbers(&read_file(&segments(&live).unwrap()[0].path));
    assert_eq!(first[..10], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert!(first.contains(&1000), "{first:?}");
    let mut all = numbers(&read_folder(&live));
    all.sort_unstable();
    let mut expected: Vec<u64> = (0..100).collect();
    expected.push(1000);
    assert_eq!(all, expected);
}

/// A hook failing `step` with ENOSPC while `on` is set.
fn failing(step: Step, on: Arc<AtomicU64>) -> sentinel::rotation::FaultHook {
    Arc::new(move |s| {
        if s == step && on.load(Ordering::SeqCst) > 0 {
            on.fetch_sub(1, Ordering::SeqCst);
            Err(std::io::Error::from_raw_os_error(libc::ENOSPC))
        } else {
            Ok(())
        }
    })
}

#[test]
fn a_failed_rename_is_counted_and_the_live_file_keeps_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let clock = Arc::new(ManualClock::new(at("2026-12-02T10:00:00Z")));
    let fail = Arc::new(AtomicU64::new(u64::MAX));
    let logger = AsyncLogger::new(
        config(&live)
            .rotate_bytes(2048)
            .rotation_clock(clock.clone())
            .rotation_fault_hook(failing(Step::Rename, fail.clone())),
    )
    .unwrap();
    log_numbered(&logger, 0..100);
    assert!(logger.flush_blocking(WAIT));
    let stats = logger.stats();
    assert!(logger.is_healthy());
    assert_eq!(stats.rotations, 0);
    assert!(stats.rotation_errors >= 1);
    assert!(segments(&live).unwrap().is_empty());
    assert_eq!(numbers(&read_file(&live)), (0..100).collect::<Vec<_>>());
    // The disk has room again; the next try (a second later) rotates.
    fail.store(0, Ordering::SeqCst);
    clock.advance(Duration::from_secs(2));
    log_numbered(&logger, 100..200);
    assert!(logger.shutdown_blocking(WAIT));
    assert!(logger.stats().rotations >= 1);
    assert_eq!(numbers(&read_folder(&live)), (0..200).collect::<Vec<_>>());
}

#[test]
fn a_failed_reopen_puts_the_live_file_back() {
    let fail = Arc::new(AtomicU64::new(1));
    let (dir, live, stats) = run_with(
        |c| {
            c.rotate_bytes(2048)
                .rotation_fault_hook(failing(Step::Reopen, fail.clone()))
        },
        200,
    );
    assert_eq!(stats.rotation_errors, 1);
    assert!(live.exists());
    assert_eq!(numbers(&read_folder(&live)), (0..200).collect::<Vec<_>>());
    drop(dir);
}

#[test]
fn a_failed_compression_keeps_the_plain_segment() {
    let fail = Arc::new(AtomicU64::new(u64::MAX));
    let (dir, live, stats) = run_with(
        |c| {
            c.rotate_bytes(2048)
                .compress(Compression::Gzip)
                .rotation_fault_hook(failing(Step::Publish, fail.clone()))
        },
        200,
    );
    assert!(stats.rotation_errors >= 1);
    assert_eq!(stats.segments_compressed, 0);
    let names = file_names(dir.path());
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with(".gz") || n.ends_with(".tmp")),
        "{names:?}"
    );
    assert_eq!(numbers(&read_folder(&live)), (0..200).collect::<Vec<_>>());
}

#[test]
fn a_failed_removal_is_counted_and_retention_tries_again() {
    let fail = Arc::new(AtomicU64::new(u64::MAX));
    let (dir, live, stats) = run_with(
        |c| {
            c.rotate_bytes(2048)
                .keep_segments(1)
                .rotation_fault_hook(failing(Step::Retire, fail.clone()))
        },
        200,
    );
    assert!(stats.rotation_errors >= 1);
    assert_eq!(stats.segments_removed, 0);
    assert_eq!(segments(&live).unwrap().len() as u64, stats.rotations);
    assert_eq!(numbers(&read_folder(&live)), (0..200).collect::<Vec<_>>());
    // Permission back: the next logger's first pass applies retention.
    let logger = AsyncLogger::new(config(&live).rotate_bytes(2048).keep_segments(1)).unwrap();
    assert!(logger.shutdown_blocking(WAIT));
    assert_eq!(segments(&live).unwrap().len(), 1);
    assert_eq!(logger.stats().segments_removed, stats.rotations - 1);
    drop(dir);
}

#[test]
fn compression_stuck_on_a_segment_never_holds_up_the_writer() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    // The background thread stops in its first compression until released.
    let (logger, release) = stuck_in_compression(&live, 4 * WAIT, |c| c);
    // Meanwhile the writer appends, rotates and flushes as if nothing were compressed.
    let rotated = logger.stats().rotations;
    for chunk in 1..5 {
        log_numbered(&logger, chunk * 100..(chunk + 1) * 100);
        assert!(logger.flush_blocking(WAIT), "chunk {chunk}");
    }
    let stats = logger.stats();
    assert!(stats.rotations >= rotated + 4, "{stats:?}");
    assert_eq!(stats.segments_compressed, 0);
    release.send(()).unwrap();
    assert!(logger.shutdown_blocking(WAIT));
    assert!(
        segments(&live)
            .unwrap()
            .iter()
            .all(|s| s.compression == Compression::Gzip),
        "{:?}",
        file_names(dir.path())
    );
    assert_eq!(numbers(&read_folder(&live)), (0..500).collect::<Vec<_>>());
}

// regression: a shutdown waiting for the compression pass was taken for a
// stalled sink (the flaky `sigkill_at_any_step_of_a_rotation_loses_no_flushed_record`)
#[test]
fn shutdown_waiting_for_a_slow_compression_pass_is_no_stall() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    // The background thread stops in its first compression until released:
    // a pass slower than the stall timeout, as on a loaded machine.
    let stall = Duration::from_millis(100);
    let (logger, release) = stuck_in_compression(&live, 4 * WAIT, |c| c.stall_timeout(stall));
    let (answer_tx, answer) = std::sync::mpsc::channel();
    let shutting = logger.clone();
    let waiter = std::thread::spawn(move || {
        let _ = answer_tx.send(shutting.shutdown_blocking(WAIT));
    });
    // Every record is written; the writer waits for the pass, up to the exit
    // timeout, and so does the shutdown, for many stall timeouts.
    match answer.recv_timeout(10 * stall) {
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        other => panic!("shutdown answered {other:?} while the pass was running"),
    }
    release.send(()).unwrap();
    assert_eq!(answer.recv_timeout(WAIT), Ok(true));
    waiter.join().unwrap();
    let stats = logger.stats();
    assert_eq!(stats.stalls, 0, "{stats:?}");
    assert!(
        segments(&live)
            .unwrap()
            .iter()
            .all(|s| s.compression == Compression::Gzip),
        "{:?}",
        file_names(dir.path())
    );
    assert_eq!(numbers(&read_folder(&live)), (0..100).collect::<Vec<_>>());
}

/// Every event the process emits, as `tracing_subscriber::fmt` writes it (installed once,
/// for the whole process: the writer thread does not see a test's thread-local default).
#[cfg(feature = "tracing")]
fn captured_events() -> &'static std::sync::Mutex<Vec<u8>> {
    static EVENTS: std::sync::OnceLock<&'static std::sync::Mutex<Vec<u8>>> =
        std::sync::OnceLock::new();
    EVENTS.get_or_init(|| {
        let events: &'static std::sync::Mutex<Vec<u8>> =
            Box::leak(Box::new(std::sync::Mutex::new(Vec::new())));
        struct Capture(&'static std::sync::Mutex<Vec<u8>>);
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Capture(events))
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        events
    })
}

#[cfg(feature = "tracing")]
#[test]
fn a_failed_rotation_or_compression_is_reported_as_an_error_event() {
    let events = captured_events();
    for (step, says) in [
        (Step::Rename, "could not rotate the log file"),
        (
            Step::Publish,
            "could not compress or retire a rotated segment",
        ),
    ] {
        let fail = Arc::new(AtomicU64::new(u64::MAX));
        let (dir, live, stats) = run_with(
            |c| {
                c.rotate_bytes(2048)
                    .compress(Compression::Gzip)
                    .rotation_fault_hook(failing(step, fail.clone()))
            },
            200,
        );
        assert!(stats.rotation_errors >= 1, "{step:?}");
        let text = String::from_utf8_lossy(&events.lock().unwrap()).into_owned();
        let reported: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&dir.path().display().to_string()))
            .collect();
        assert!(!reported.is_empty(), "{step:?}: nothing reported in {text}");
        for line in &reported {
            assert!(line.contains("ERROR"), "{line}");
            assert!(line.contains(says), "{step:?}: {line}");
            assert!(line.contains("No space left on device"), "{line}");
        }
        assert!(
            reported.len() as u64 <= stats.rotation_errors,
            "{reported:?}"
        );
        assert_eq!(numbers(&read_folder(&live)), (0..200).collect::<Vec<_>>());
    }
}

// regression: issue #15
#[test]
fn issue_15_a_line_cut_by_a_full_disk_does_not_swallow_the_next_record() {
    // A write cut short by a full disk (in an earlier run, or another process) leaves the
    // live file ending mid-line; the next record must not be glued to it.
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    std::fs::write(&live, "{\"n\":0}\n{\"n\":1,\"pad\":\"xx").unwrap();
    let logger = AsyncLogger::new(config(&live).rotate_bytes(1 << 20)).unwrap();
    log_numbered(&logger, 2..4);
    assert!(logger.shutdown_blocking(WAIT));
    let text = std::fs::read_to_string(&live).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[1], "{\"n\":1,\"pad\":\"xx");
    let later: Vec<u64> = lines[2..]
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(later, [2, 3]);
}

#[test]
fn opening_a_logger_never_waits_for_another_process_s_append() {
    use std::os::fd::AsRawFd;
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    std::fs::write(&live, "{\"n\":0}\n{\"n\":1,\"pad\":\"xx").unwrap();
    // Another writer holds the shared lock, as while it appends (stopped by a debugger,
    // say): a new logger must open at once, not wait for it.
    let lock = std::fs::File::create(dir.path().join(".app.jsonl.lock")).unwrap();
    // SAFETY: flock on a descriptor this test owns for the rest of the test.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_SH) }, 0);
    let (opened_tx, opened) = std::sync::mpsc::channel();
    let settings = config(&live).rotate_bytes(1 << 20);
    std::thread::spawn(move || {
        let _ = opened_tx.send(AsyncLogger::new(settings).map(|l| l.shutdown_blocking(WAIT)));
    });
    let result = opened.recv_timeout(WAIT);
    drop(lock);
    assert!(
        matches!(result, Ok(Ok(true))),
        "AsyncLogger::new waited for the lock: {result:?}"
    );
}

#[test]
fn a_new_logger_finishes_what_a_crashed_one_left() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let lines = |range: std::ops::Range<u64>| -> String {
        range.map(|n| format!("{{\"n\":{n}}}\n")).collect()
    };
    // A plain segment, one compressed half-way (a stale temporary), and one
    // present twice (compressed, its plain twin not yet removed).
    let seg = |s: u32| format!("app.2026-12-02T06-30-00Z.{s:06}.jsonl");
    std::fs::write(dir.path().join(seg(1)), lines(0..10)).unwrap();
    std::fs::write(dir.path().join(seg(2)), lines(10..20)).unwrap();
    std::fs::write(
        dir.path().join(format!(".{}.gz.tmp", seg(2))),
        b"\x1f\x8b half",
    )
    .unwrap();
    std::fs::write(dir.path().join(seg(3)), lines(20..30)).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, lines(20..30).as_bytes()).unwrap();
    std::fs::write(
        dir.path().join(format!("{}.gz", seg(3))),
        gz.finish().unwrap(),
    )
    .unwrap();
    std::fs::write(&live, lines(30..35)).unwrap();

    let logger = AsyncLogger::new(
        config(&live)
            .rotate_bytes(1 << 20)
            .compress(Compression::Gzip),
    )
    .unwrap();
    assert!(logger.shutdown_blocking(WAIT));
    let names = file_names(dir.path());
    assert_eq!(
        names,
        [
            ".app.jsonl.lock".to_owned(),
            format!("{}.gz", seg(1)),
            format!("{}.gz", seg(2)),
            format!("{}.gz", seg(3)),
            "app.jsonl".to_owned(),
        ]
    );
    assert_eq!(numbers(&read_folder(&live)), (0..35).collect::<Vec<_>>());
}

// === many processes ===

const CHILD: &str = "SENTINEL_ROTATION_TEST_CHILD";
const LIVE: &str = "SENTINEL_ROTATION_TEST_LIVE";

fn child(test: &str, role: &str, live: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, role)
        .env(LIVE, live)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd
}

fn child_role() -> Option<(String, PathBuf)> {
    Some((std::env::var(CHILD).ok()?, std::env::var(LIVE).ok()?.into()))
}

const PROCESSES: u64 = 6;
const PER_PROCESS: u64 = 3000;

#[test]
fn many_processes_rotate_one_file_without_losing_or_repeating_a_record() {
    if let Some((role, live)) = child_role() {
        // A child: log numbered records in small flushed batches, then print
        // how many rotations this process did.
        let id: u64 = role.parse().unwrap();
        let logger = AsyncLogger::new(
            config(&live)
                .rotate_bytes(16 << 10)
                .compress(Compression::Gzip),
        )
        .unwrap();
        for chunk in 0..PER_PROCESS / 100 {
            for n in chunk * 100..(chunk + 1) * 100 {
                logger.log(json!({"p": id, "n": n, "pad": "y".repeat(30)}));
            }
            assert!(logger.flush_blocking(WAIT));
        }
        assert!(logger.shutdown_blocking(WAIT));
        let stats = logger.stats();
        println!(
            "rotations {} errors {}",
            stats.rotations, stats.rotation_errors
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let test = "many_processes_rotate_one_file_without_losing_or_repeating_a_record";
    let children: Vec<_> = (0..PROCESSES)
        .map(|id| child(test, &id.to_string(), &live).spawn().unwrap())
        .collect();
    let mut rotations = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find_map(|l| l.find("rotations ").map(|i| &l[i..]))
            .unwrap_or_else(|| panic!("no report: {text}"));
        let words: Vec<&str> = line.split(' ').collect();
        rotations += words[1].parse::<u64>().unwrap();
        assert_eq!(words[3], "0", "{line}");
    }
    // Leftovers of a process that exited before its last compression are
    // finished by the next logger to open the folder.
    let last = AsyncLogger::new(
        config(&live)
            .rotate_bytes(16 << 10)
            .compress(Compression::Gzip),
    )
    .unwrap();
    assert!(last.shutdown_blocking(WAIT));
    let found = segments(&live).unwrap();
    // Exactly one process performed each rotation.
    assert_eq!(found.len() as u64, rotations);
    assert!(rotations >= 10, "{rotations}");
    let mut seen: BTreeMap<(u64, u64), u32> = BTreeMap::new();
    for r in read_folder(&live) {
        *seen
            .entry((r["p"].as_u64().unwrap(), r["n"].as_u64().unwrap()))
            .or_default() += 1;
    }
    assert_eq!(seen.len() as u64, PROCESSES * PER_PROCESS, "records lost");
    assert!(seen.values().all(|&c| c == 1), "records repeated");
}

// === SIGKILL during a rotation ===

#[test]
fn sigkill_at_any_step_of_a_rotation_loses_no_flushed_record() {
    if let Some((role, live)) = child_role() {
        // A child: the hook reports reaching `role`'s step and stops there
        // for good (until killed). Each flushed batch is reported first.
        let step = match role.as_str() {
            "rename" => Step::Rename,
            "reopen" => Step::Reopen,
            "compress" => Step::Compress,
            "publish" => Step::Publish,
            "remove-plain" => Step::RemovePlain,
            other => panic!("unknown step {other}"),
        };
        let hook: sentinel::rotation::FaultHook = Arc::new(move |s| {
            if s == step {
                println!("paused");
                loop {
                    std::thread::park();
                }
            }
            Ok(())
        });
        let logger = AsyncLogger::new(
            config(&live)
                .rotate_bytes(4096)
                .compress(Compression::Gzip)
                .rotation_fault_hook(hook),
        )
        .unwrap();
        let mut n = 0;
        loop {
            log_numbered(&logger, n..n + 20);
            n += 20;
            if !logger.flush_blocking(Duration::from_secs(3600)) {
                return;
            }
            println!("flushed {n}");
        }
    }
    let test = "sigkill_at_any_step_of_a_rotation_loses_no_flushed_record";
    for step in ["rename", "reopen", "compress", "publish", "remove-plain"] {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("app.jsonl");
        let mut c = child(test, step, &live).spawn().unwrap();
        let mut flushed = 0;
        for line in BufReader::new(c.stdout.take().unwrap()).lines() {
            let line = line.unwrap();
            if line.ends_with("paused") {
                break;
            }
            if let Some(n) = line.split("flushed ").nth(1) {
                flushed = n.parse().unwrap();
            }
        }
        c.kill().unwrap(); // SIGKILL
        c.wait().unwrap();
        // Everything flushed is somewhere, once.
        let after_kill = numbers(&read_folder(&live));
        assert!(flushed > 0, "{step}");
        assert_eq!(
            after_kill[..flushed as usize],
            (0..flushed).collect::<Vec<_>>(),
            "{step}"
        );
        // The next logger on the folder repairs it and loses nothing more.
        let logger =
            AsyncLogger::new(config(&live).rotate_bytes(4096).compress(Compression::Gzip)).unwrap();
        log_numbered(&logger, 1_000_000..1_000_010);
        assert!(logger.shutdown_blocking(WAIT));
        let mut expected = after_kill.clone();
        expected.extend(1_000_000..1_000_010);
        assert_eq!(numbers(&read_folder(&live)), expected, "{step}");
        let names = file_names(dir.path());
        assert!(
            !names.iter().any(|n| n.ends_with(".tmp")),
            "{step}: {names:?}"
        );
        assert!(
            segments(&live)
                .unwrap()
                .iter()
                .all(|s| s.compression == Compression::Gzip),
            "{step}: {names:?}"
        );
    }
}

// === tracing ===

#[cfg(feature = "tracing")]
#[test]
fn a_tracing_fmt_subscriber_gets_size_rotation_through_the_logger() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.log");
    let logger = AsyncLogger::new(
        config(&live)
            .rotate_bytes(4096)
            .keep_segments(100)
            .compress(Compression::Gzip),
    )
    .unwrap();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logger.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        for n in 0..500 {
            tracing::info!(n, "request served");
        }
    });
    assert!(logger.shutdown_blocking(WAIT));
    let found = segments(&live).unwrap();
    assert!(found.len() >= 5, "{:?}", file_names(dir.path()));
    let mut text = String::new();
    for segment in &found {
        assert_eq!(segment.compression, Compression::Gzip);
        let file = std::fs::File::open(&segment.path).unwrap();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .unwrap();
    }
    text.push_str(&std::fs::read_to_string(&live).unwrap());
    let ns: Vec<u64> = text
        .lines()
        .map(|l| {
            let (_, n) = l.split_once("request served n=").unwrap();
            n.parse().unwrap()
        })
        .collect();
    assert_eq!(ns, (0..500).collect::<Vec<_>>());
    assert_eq!(logger.stats().written, 500);
}
