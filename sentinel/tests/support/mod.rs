//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sentinel::{AsyncLogger, SentinelConfig};
use serde_json::Value;

pub const WAIT: Duration = Duration::from_secs(10);

/// Set in a child that [`run_alone`] started; the test then runs its body.
const ALONE: &str = "SENTINEL_TEST_ALONE";

/// Runs test `name` of this test binary again in a child process with no
/// other test beside it, for tests that read process-wide state (the
/// thread count) that parallel tests would disturb. Returns `true` in that
/// child, where the caller runs its body; in the parent it waits for the
/// child, fails if it failed, and returns `false`.
pub fn run_alone(name: &str) -> bool {
    if std::env::var_os(ALONE).is_some() {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(ALONE, "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{name} failed alone:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(" 1 passed"),
        "{name} did not run alone:\n{stdout}"
    );
    false
}

/// Every line of a JSONL file, parsed; panics on a malformed line.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

/// A logger on a fresh file in a temp dir (kept alive by the returned guard).
pub struct TempLog {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub logger: AsyncLogger,
}

impl TempLog {
    pub fn new() -> Self {
        Self::with(|c| c)
    }

    pub fn with(f: impl FnOnce(SentinelConfig) -> SentinelConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let logger = AsyncLogger::new(f(SentinelConfig::new(&path))).unwrap();
        TempLog { dir, path, logger }
    }

    /// Shuts the logger down and returns every record written.
    pub fn records(&self) -> Vec<Value> {
        assert!(self.logger.shutdown_blocking(WAIT), "shutdown failed");
        read_jsonl(&self.path)
    }
}

/// A sink that blocks writes until released, for tests that fill the queue.
#[derive(Clone, Default)]
pub struct GatedSink {
    pub state: Arc<(Mutex<Gate>, std::sync::Condvar)>,
}

#[derive(Default)]
pub struct Gate {
    pub open: bool,
    pub writes_started: usize,
    pub data: Vec<u8>,
}

impl GatedSink {
    pub fn open(&self) {
        let (m, cv) = &*self.state;
        m.lock().unwrap().open = true;
        cv.notify_all();
    }

    /// Waits until the writer is blocked inside a write.
    pub fn wait_for_write(&self) {
        let (m, cv) = &*self.state;
        let g = m.lock().unwrap();
        let (g, timeout) = cv
            .wait_timeout_while(g, WAIT, |g| g.writes_started == 0)
            .unwrap();
        assert!(!timeout.timed_out(), "writer never wrote");
        drop(g);
    }

    pub fn lines(&self) -> Vec<Value> {
        let (m, _) = &*self.state;
        let g = m.lock().unwrap();
        String::from_utf8_lossy(&g.data)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl std::io::Write for GatedSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (m, cv) = &*self.state;
        let mut g = m.lock().unwrap();
        g.writes_started += 1;
        cv.notify_all();
        while !g.open {
            g = cv.wait(g).unwrap();
        }
        g.data.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A `Vec<u8>` sink readable while the logger runs.
#[derive(Clone, Default)]
pub struct MemSink(pub Arc<Mutex<Vec<u8>>>);

impl MemSink {
    pub fn lines(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl std::io::Write for MemSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Tests touching the process-wide default logger run one at a time.
pub fn global_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A `tracing` subscriber that records events with target `sentinel`.
#[derive(Clone, Default)]
pub struct Events(pub Arc<Mutex<Vec<String>>>);

impl Events {
    pub fn contains(&self, needle: &str) -> bool {
        self.0.lock().unwrap().iter().any(|e| e.contains(needle))
    }
}

impl std::io::Write for Events {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Events {
    type Writer = Events;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs `f` with a subscriber capturing `sentinel` events on this thread.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Events) {
    let events = Events::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(events.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let r = tracing::subscriber::with_default(subscriber, f);
    (r, events)
}

/// A process-wide subscriber capturing events from every thread (the writer
/// reports from its own thread). Installed once per test binary.
pub fn global_events() -> Events {
    static EVENTS: std::sync::OnceLock<Events> = std::sync::OnceLock::new();
    EVENTS
        .get_or_init(|| {
            let events = Events::default();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(events.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::TRACE)
                .finish();
            tracing::subscriber::set_global_default(subscriber)
                .expect("no other global subscriber");
            events
        })
        .clone()
}

/// One writer-shaped span record (without its newline) of trace `trace`, ending `end` ms
/// after 2026-11-22T00:00:00Z and `end - start` ms long; `extra` (fields, comma-separated)
/// is spliced in before the closing brace.
pub fn span_line(
    trace: &str,
    id: u64,
    parent: Option<u64>,
    name: &str,
    (start, end): (u64, u64),
    extra: &str,
) -> String {
    let parent = parent.map_or("null".to_owned(), |p| format!("\"{p:016x}\""));
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(",{extra}")
    };
    format!(
        r#"{{"timestamp":"2026-11-22T00:{:02}:{:02}.{:03}000+00:00","function":{},"duration_ms":{},"status":"success","trace_id":"{trace}","span_id":"{id:016x}","parent_span_id":{parent}{extra}}}"#,
        end / 60_000,
        end / 1000 % 60,
        end % 1000,
        serde_json::to_string(name).unwrap(),
        end - start,
    )
}
