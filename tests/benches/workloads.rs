//! The workload suite of issue 6 (W7 from issue 14): W1–W7 for sentinel, the Master Log client
//! and their peers (`tracing` + `tracing-appender`, `fastrace`, a plain
//! reqwest loop), measured in one run and printed as one Markdown table per
//! workload, ready to paste into `BENCHMARKS.md`.
//!
//! ```text
//! cargo bench -p sentinel-tests --bench workloads            # everything
//! cargo bench -p sentinel-tests --bench workloads -- w1      # rows whose name contains "w1"
//! cargo bench -p sentinel-tests --bench workloads -- fastrace w6
//! ```
//!
//! Each (workload, system) pair runs in a child process (this binary re-executed
//! with `SENTINEL_BENCH_CHILD=<workload>/<system>`), so the peak RSS read from
//! `/proc/self/status` (`VmHWM`) belongs to that system alone and no global
//! state (default logger, global subscriber) leaks between rows.
//! `SENTINEL_BENCH_REPS` (default 3) sets how many times each W1-W3 row runs
//! (W4 rows, which last ~0.1 s, run four more times); the table shows medians
//! (and the worst loss). W5 and W7 run once: they report rates from within
//! their run (W7: 32 and 256 producer tasks sharing one client). Repetitions
//! go round-robin over the rows.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use fastrace::collector::SpanContext;
use fastrace::future::FutureExt as _;
use serde::{Deserialize, Serialize};

#[path = "support/anchors.rs"]
mod anchors;
#[path = "support/fastrace_peer.rs"]
mod fastrace_peer;
#[path = "support/shipping.rs"]
mod shipping;
#[path = "../../master-log-client/tests/support/mod.rs"]
mod sink;

const W1_CALLS: u64 = 1_000_000;
const W2_OUTER: u64 = 300_000;
const W3_TASKS: u64 = 100;
const W3_CALLS: u64 = 10_000;
const W6_THREADS: u64 = 8;
const W6_TASKS: u64 = 64;
/// How long W6 callers run; each also stops at its cap below.
const W6_RUN: Duration = Duration::from_secs(1);
/// Caps that bound a W6 run (16M calls either way) whatever the system's
/// speed, and so the file and any peer's unbounded backlog.
const W6_MAX_PER_THREAD: u64 = 2_000_000;
const W6_MAX_PER_TASK: u64 = 250_000;
/// Calls between two reads of the clock (and, for tasks, two yields).
const W6_CHUNK: u64 = 1_000;

/// What one child run reports.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// Caller's ns per call (per outer call in W2, per enqueue in W4/W5).
    pub caller_ns: f64,
    /// Records (or events) the workload produced.
    pub expected: u64,
    /// Records found in the output (lines in the file, events the sink counted).
    pub written: u64,
    /// Losses the system itself counted (its stats), if it counts them.
    pub dropped_stats: Option<u64>,
    /// From the start of the loop until everything was flushed / delivered.
    pub flushed_ms: f64,
    /// Bytes written (file size or request bodies).
    pub bytes: u64,
    /// Peak resident set of the child process.
    pub rss_kib: u64,
    /// HTTP requests (W4/W5).
    pub requests: Option<u64>,
    /// Workload-specific figures, already formatted.
    pub extra: String,
    /// A figure the ratio column compares (W5: achieved rate / capacity).
    pub ratio_override: Option<f64>,
    /// Set when combining runs: bytes / record of the median run (the
    /// combined `written` is the worst run's, `bytes` the median run's).
    #[serde(default)]
    pub bytes_per_record: Option<f64>,
    /// Set when combining runs: median over runs of records delivered per
    /// second, end to end.
    #[serde(default)]
    pub delivered_per_s: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sys {
    Baseline,
    SentinelDefaults,
    SentinelCpuOff,
    SentinelLossy,
    SentinelCpuOffLossy,
    /// Defaults, a handler that records two arguments and one value (W1 only).
    SentinelArgsRecord,
    TracingMinimal,
    TracingMinimalNoLoss,
    FmtJson,
    FmtJsonNoLoss,
    Fastrace,
}

/// Which traced functions a system runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flavour {
    Plain,
    Sentinel,
    Tracing,
    Fastrace,
}

impl Sys {
    /// The W1-W3 rows.
    const ALL: [Sys; 10] = [
        Sys::Baseline,
        Sys::SentinelDefaults,
        Sys::SentinelCpuOff,
        Sys::SentinelLossy,
        Sys::SentinelCpuOffLossy,
        Sys::TracingMinimal,
        Sys::TracingMinimalNoLoss,
        Sys::FmtJson,
        Sys::FmtJsonNoLoss,
        Sys::Fastrace,
    ];

    /// Rows W1 has besides [`Sys::ALL`].
    const W1_EXTRA: [Sys; 1] = [Sys::SentinelArgsRecord];

    /// The W6 rows: sentinel's defaults and lossless mode against the
    /// fastest peers of W1.
    const W6: [Sys; 5] = [
        Sys::Baseline,
        Sys::SentinelDefaults,
        Sys::SentinelLossy,
        Sys::TracingMinimal,
        Sys::Fastrace,
    ];

    fn name(self) -> &'static str {
        match self {
            Sys::Baseline => "no tracing (baseline)",
            Sys::SentinelDefaults => "sentinel defaults",
            Sys::SentinelCpuOff => "sentinel cpu_time(false)",
            Sys::SentinelLossy => "sentinel lossy(true) (drops when full)",
            Sys::SentinelCpuOffLossy => "sentinel cpu_time(false) + lossy(true)",
            Sys::SentinelArgsRecord => "sentinel defaults, args(2) + 1 record()",
            Sys::TracingMinimal => "tracing minimal layer (non_blocking default)",
            Sys::TracingMinimalNoLoss => "tracing minimal layer (lossy(false))",
            Sys::FmtJson => "tracing fmt json (non_blocking default)",
            Sys::FmtJsonNoLoss => "tracing fmt json (lossy(false))",
            Sys::Fastrace => "fastrace (JSONL file reporter)",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Sys::Baseline => "baseline",
            Sys::SentinelDefaults => "sentinel",
            Sys::SentinelCpuOff => "sentinel-cpu-off",
            Sys::SentinelLossy => "sentinel-lossy",
            Sys::SentinelCpuOffLossy => "sentinel-cpu-off-lossy",
            Sys::SentinelArgsRecord => "sentinel-args-record",
            Sys::TracingMinimal => "tracing-minimal",
            Sys::TracingMinimalNoLoss => "tracing-minimal-no-loss",
            Sys::FmtJson => "fmt-json",
            Sys::FmtJsonNoLoss => "fmt-json-no-loss",
            Sys::Fastrace => "fastrace",
        }
    }

    fn flavour(self) -> Flavour {
        match self {
            Sys::Baseline => Flavour::Plain,
            Sys::SentinelDefaults
            | Sys::SentinelCpuOff
            | Sys::SentinelLossy
            | Sys::SentinelCpuOffLossy
            | Sys::SentinelArgsRecord => Flavour::Sentinel,
            Sys::TracingMinimal | Sys::TracingMinimalNoLoss | Sys::FmtJson | Sys::FmtJsonNoLoss => {
                Flavour::Tracing
            }
            Sys::Fastrace => Flavour::Fastrace,
        }
    }

    /// Whether the ratio column may take this row as the fastest peer.
    fn is_peer(self) -> bool {
        matches!(self.flavour(), Flavour::Tracing | Flavour::Fastrace)
    }

    fn from_key(key: &str) -> Option<Sys> {
        Sys::ALL
            .into_iter()
            .chain(Sys::W1_EXTRA)
            .find(|s| s.key() == key)
    }
}

// ---------------------------------------------------------------------------
// The traced functions, one flavour per system.

#[inline(never)]
fn plain_leaf(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[sentinel::trace]
fn s_leaf(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// A handler's shape: two arguments recorded, one value learned inside.
#[sentinel::trace(args(x, half = x / 2))]
fn s_leaf_args(x: u64) -> u64 {
    let y = black_box(x).wrapping_mul(3);
    sentinel::record("product", y);
    y
}

fn t_leaf(x: u64) -> u64 {
    let _g = tracing::info_span!("t_leaf").entered();
    black_box(x).wrapping_mul(3)
}

#[inline(never)]
fn plain_outer(x: u64) -> u64 {
    plain_leaf(x) ^ plain_leaf(x + 1)
}

#[sentinel::trace]
fn s_outer(x: u64) -> u64 {
    s_leaf(x) ^ s_leaf(x + 1)
}

fn t_outer(x: u64) -> u64 {
    let _g = tracing::info_span!("t_outer").entered();
    t_leaf(x) ^ t_leaf(x + 1)
}

async fn plain_step(x: u64) -> u64 {
    tokio::task::yield_now().await;
    black_box(x)
}

#[sentinel::trace]
async fn s_step(x: u64) -> u64 {
    tokio::task::yield_now().await;
    black_box(x)
}

async fn t_step(x: u64) -> u64 {
    use tracing::Instrument;
    async move {
        tokio::task::yield_now().await;
        black_box(x)
    }
    .instrument(tracing::info_span!("t_step"))
    .await
}

// fastrace needs a root span per trace: `#[fastrace::trace]` alone makes a
// `LocalSpan`, which records nothing without a local parent. So every call
// that is a root in sentinel (each W1/W3/W6 call, each W2 outer call) makes
// a `Span::root`, and W2's inner calls are `#[fastrace::trace]` local spans
// under it: one `SpanRecord` per traced call, as sentinel writes one line.

fn f_leaf(x: u64) -> u64 {
    // No `set_local_parent`: the leaf has no children to attach.
    let _root = fastrace::Span::root("f_leaf", SpanContext::random());
    black_box(x).wrapping_mul(3)
}

#[fastrace::trace]
fn f_inner(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

fn f_outer(x: u64) -> u64 {
    let root = fastrace::Span::root("f_outer", SpanContext::random());
    let _parent = root.set_local_parent();
    f_inner(x) ^ f_inner(x + 1)
}

async fn f_step(x: u64) -> u64 {
    async move {
        tokio::task::yield_now().await;
        black_box(x)
    }
    .in_span(fastrace::Span::root("f_step", SpanContext::random()))
    .await
}

// ---------------------------------------------------------------------------
// Child side.

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `SENTINEL_BENCH_PROFILE=1`: skip the post-run line count, so a profile of
/// a child shows the workload alone.
fn profiling() -> bool {
    std::env::var_os("SENTINEL_BENCH_PROFILE").is_some()
}

fn count_lines(path: &Path) -> (u64, u64) {
    let Ok(file) = std::fs::File::open(path) else {
        return (0, 0);
    };
    let mut lines = 0;
    let mut bytes = 0;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    loop {
        let buf = match reader.fill_buf() {
            Ok([]) | Err(_) => break,
            Ok(b) => b,
        };
        lines += buf.iter().filter(|&&b| b == b'\n').count() as u64;
        bytes += buf.len() as u64;
        let n = buf.len();
        reader.consume(n);
    }
    (lines, bytes)
}

/// A traced leaf `fn(u64) -> u64` of each flavour.
fn leaf_fn(sys: Sys) -> fn(u64) -> u64 {
    if sys == Sys::SentinelArgsRecord {
        return s_leaf_args;
    }
    match sys.flavour() {
        Flavour::Plain => plain_leaf,
        Flavour::Sentinel => s_leaf,
        Flavour::Tracing => t_leaf,
        Flavour::Fastrace => f_leaf,
    }
}

/// The multi-thread runtime of W3 and W6: 2 workers, the machine's cores.
/// With fastrace, each worker drains its own parked spans as it stops.
fn runtime(installed: &Installed) -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_all();
    if let Installed::Fastrace(lines) = installed {
        let lines = Arc::clone(lines);
        builder.on_thread_stop(move || fastrace_peer::drain_thread(&lines));
    }
    builder.build().expect("runtime")
}

/// What a workload body measured.
struct Measured {
    /// Caller's ns per call (see [`Outcome::caller_ns`]).
    caller_ns: f64,
    /// Records the body produced.
    records: u64,
    /// Workload-specific figures, already formatted.
    extra: String,
}

/// Runs W1-W3 for one system.
fn span_body(workload: &str, sys: Sys, installed: &Installed) -> Measured {
    let (elapsed, records, calls) = match workload {
        "w1" => {
            let leaf = leaf_fn(sys);
            let t0 = Instant::now();
            let mut acc = 0u64;
            for i in 0..W1_CALLS {
                acc ^= leaf(black_box(i));
            }
            black_box(acc);
            (t0.elapsed(), W1_CALLS, W1_CALLS)
        }
        "w2" => {
            let outer = match sys.flavour() {
                Flavour::Plain => plain_outer,
                Flavour::Sentinel => s_outer,
                Flavour::Tracing => t_outer,
                Flavour::Fastrace => f_outer,
            };
            let t0 = Instant::now();
            let mut acc = 0u64;
            for i in 0..W2_OUTER {
                acc ^= outer(black_box(i));
            }
            black_box(acc);
            (t0.elapsed(), W2_OUTER * 3, W2_OUTER)
        }
        "w3" => {
            let rt = runtime(installed);
            let flavour = sys.flavour();
            let elapsed = rt.block_on(async move {
                let t0 = Instant::now();
                let mut handles = Vec::new();
                for t in 0..W3_TASKS {
                    handles.push(tokio::spawn(async move {
                        let mut acc = 0u64;
                        for i in 0..W3_CALLS {
                            let x = t * W3_CALLS + i;
                            acc ^= match flavour {
                                Flavour::Plain => plain_step(x).await,
                                Flavour::Sentinel => s_step(x).await,
                                Flavour::Tracing => t_step(x).await,
                                Flavour::Fastrace => f_step(x).await,
                            };
                        }
                        acc
                    }));
                }
                for h in handles {
                    black_box(h.await.expect("task"));
                }
                t0.elapsed()
            });
            rt.shutdown_timeout(Duration::from_secs(5));
            (elapsed, W3_TASKS * W3_CALLS, W3_TASKS * W3_CALLS)
        }
        other => panic!("unknown workload {other}"),
    };
    Measured {
        caller_ns: elapsed.as_nanos() as f64 / calls as f64,
        records,
        extra: String::new(),
    }
}

/// Per caller (thread or task): calls, CPU ns, wall time of its loop.
type CallerRun = (u64, u64, Duration);

/// W6's figures from its callers' runs: caller ns is the median over callers
/// of wall time / calls, so a system whose callers wait for room shows it
/// (8 threads on 2 cores, or 64 tasks on 2 workers, also wait for a core:
/// the same for every system). CPU time per call is in the notes.
fn w6_measured(runs: &[CallerRun], elapsed: Duration, what: &str) -> Measured {
    let calls: u64 = runs.iter().map(|r| r.0).sum();
    let cpu: u64 = runs.iter().map(|r| r.1).sum();
    let wall_ns = median(
        runs.iter()
            .map(|(n, _, wall)| wall.as_nanos() as f64 / (*n).max(1) as f64)
            .collect(),
    );
    Measured {
        caller_ns: wall_ns,
        records: calls,
        extra: format!(
            "{what}; {} calls; CPU {:.0} ns/call",
            fmt_rate(calls as f64 / elapsed.as_secs_f64()),
            cpu as f64 / calls.max(1) as f64,
        ),
    }
}

/// W6 with OS threads: `W6_THREADS` threads call the leaf until the shared
/// deadline or their cap.
fn w6_threads(sys: Sys, installed: &Installed) -> Measured {
    let leaf = leaf_fn(sys);
    let lines = installed.fastrace_lines();
    let start = Instant::now();
    let deadline = start + W6_RUN;
    let runs: Vec<CallerRun> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..W6_THREADS)
            .map(|t| {
                let lines = lines.clone();
                s.spawn(move || {
                    let t0 = Instant::now();
                    let cpu0 = anchors::thread_cpu_ns();
                    let mut n = 0u64;
                    let mut acc = 0u64;
                    while n < W6_MAX_PER_THREAD && Instant::now() < deadline {
                        for _ in 0..W6_CHUNK {
                            acc ^= leaf(black_box(t * W6_MAX_PER_THREAD + n));
                            n += 1;
                        }
                    }
                    let cpu = anchors::thread_cpu_ns().saturating_sub(cpu0);
                    let wall = t0.elapsed();
                    black_box(acc);
                    if let Some(lines) = &lines {
                        fastrace_peer::drain_thread(lines);
                    }
                    (n, cpu, wall)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("w6 thread"))
            .collect()
    });
    let longest = runs.iter().map(|r| r.2).max().unwrap_or_default();
    w6_measured(&runs, longest, &format!("{W6_THREADS} threads"))
}

/// W6 with tasks: `W6_TASKS` tokio tasks on 2 workers call the leaf in
/// chunks of `W6_CHUNK`, yielding between chunks so every task gets its
/// share before the deadline. CPU time is read around each chunk, within
/// which a task cannot change thread.
fn w6_tasks(sys: Sys, installed: &Installed) -> Measured {
    let leaf = leaf_fn(sys);
    let rt = runtime(installed);
    let (runs, elapsed) = rt.block_on(async move {
        let start = Instant::now();
        let deadline = start + W6_RUN;
        let handles: Vec<_> = (0..W6_TASKS)
            .map(|t| {
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    let mut n = 0u64;
                    let mut cpu = 0u64;
                    let mut acc = 0u64;
                    while n < W6_MAX_PER_TASK && Instant::now() < deadline {
                        let cpu0 = anchors::thread_cpu_ns();
                        for _ in 0..W6_CHUNK {
                            acc ^= leaf(black_box(t * W6_MAX_PER_TASK + n));
                            n += 1;
                        }
                        cpu += anchors::thread_cpu_ns().saturating_sub(cpu0);
                        tokio::task::yield_now().await;
                    }
                    black_box(acc);
                    (n, cpu, t0.elapsed())
                })
            })
            .collect();
        let mut runs: Vec<CallerRun> = Vec::new();
        for h in handles {
            runs.push(h.await.expect("w6 task"));
        }
        (runs, start.elapsed())
    });
    rt.shutdown_timeout(Duration::from_secs(5));
    w6_measured(&runs, elapsed, &format!("{W6_TASKS} tasks on 2 workers"))
}

/// Writes and deletes a file as large as the biggest log a row writes, so the
/// row starts with recycled page-cache pages, unless `SENTINEL_BENCH_COLD` is
/// set.
///
/// The VM this suite was measured on hands freed memory back to its host
/// (virtio free page reporting) and faults it in again on first touch: a
/// `write` into fresh page-cache pages runs at ~0.3 GB/s there, into pages
/// freed a moment ago at ~4.7 GB/s. Without this step a row's figures depend
/// on whether the previous row's pages were handed back yet, not on the
/// logger (every system here writes 185-256 bytes per record).
fn warm_page_cache(dir: &Path) {
    if std::env::var_os("SENTINEL_BENCH_COLD").is_some() {
        return;
    }
    let path = dir.join("warm.bin");
    // Small chunks, so the warm-up leaves no mark on the row's peak RSS.
    let chunk = vec![b'w'; 64 << 10];
    let mut file = std::fs::File::create(&path).expect("warm-up file");
    for _ in 0..5_120 {
        file.write_all(&chunk).expect("warm-up write");
    }
    drop(file);
    std::fs::remove_file(&path).expect("remove warm-up file");
}

/// Every sentinel config the suite builds, in one place.
fn sentinel_config(sys: Sys, path: &Path) -> sentinel::SentinelConfig {
    let cfg = sentinel::SentinelConfig::new(path);
    match sys {
        Sys::SentinelDefaults | Sys::SentinelArgsRecord => cfg,
        Sys::SentinelCpuOff => cfg.cpu_time(false),
        Sys::SentinelLossy => cfg.lossy(true),
        Sys::SentinelCpuOffLossy => cfg.cpu_time(false).lossy(true),
        other => panic!("{} is not a sentinel row", other.key()),
    }
}

/// A system set up to receive a row's spans.
enum Installed {
    Nothing,
    Sentinel(sentinel::AsyncLogger),
    Tracing {
        guard: tracing_appender::non_blocking::WorkerGuard,
        errors: tracing_appender::non_blocking::ErrorCounter,
    },
    /// The reporter's count of lines written.
    Fastrace(Arc<AtomicU64>),
}

impl Installed {
    fn new(sys: Sys, path: &Path) -> Installed {
        match sys.flavour() {
            Flavour::Plain => Installed::Nothing,
            Flavour::Sentinel => {
                let logger =
                    sentinel::AsyncLogger::new(sentinel_config(sys, path)).expect("logger");
                sentinel::set_default_logger(logger.clone());
                Installed::Sentinel(logger)
            }
            Flavour::Tracing => {
                let lossless = matches!(sys, Sys::TracingMinimalNoLoss | Sys::FmtJsonNoLoss);
                let minimal = matches!(sys, Sys::TracingMinimal | Sys::TracingMinimalNoLoss);
                let file = std::fs::File::create(path).expect("log file");
                let (writer, guard) = if lossless {
                    tracing_appender::non_blocking::NonBlockingBuilder::default()
                        .lossy(false)
                        .finish(file)
                } else {
                    tracing_appender::non_blocking(file)
                };
                let errors = writer.error_counter();
                let dispatch = if minimal {
                    anchors::minimal_dispatch(writer)
                } else {
                    anchors::fmt_json_dispatch(writer)
                };
                tracing::dispatcher::set_global_default(dispatch).expect("global subscriber");
                Installed::Tracing { guard, errors }
            }
            Flavour::Fastrace => Installed::Fastrace(fastrace_peer::install(path)),
        }
    }

    fn fastrace_lines(&self) -> Option<Arc<AtomicU64>> {
        match self {
            Installed::Fastrace(lines) => Some(Arc::clone(lines)),
            _ => None,
        }
    }

    /// Flushes everything to the file; returns the system's own count of
    /// dropped records (if it keeps one) and a note if the flush failed.
    fn finish(self) -> (Option<u64>, Option<&'static str>) {
        match self {
            Installed::Nothing => (None, None),
            Installed::Sentinel(logger) => {
                let ok = logger.flush_blocking(Duration::from_secs(120));
                let stats = logger.stats();
                logger.shutdown_blocking(Duration::from_secs(30));
                (Some(stats.dropped()), (!ok).then_some("flush timed out"))
            }
            Installed::Tracing { guard, errors } => {
                drop(guard); // flushes and joins the appender's worker
                (Some(errors.dropped_lines() as u64), None)
            }
            Installed::Fastrace(lines) => {
                // The main thread made the W1/W2 spans; W3/W6 producers
                // drained themselves as they stopped. This also flushes the
                // rings of every thread.
                fastrace_peer::drain_thread(&lines);
                (None, None)
            }
        }
    }
}

/// Runs one row: sets up `sys`, runs `body`, flushes, counts the lines.
fn run_row(sys: Sys, body: impl FnOnce(&Installed) -> Measured) -> Outcome {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.jsonl");
    warm_page_cache(dir.path());
    let installed = Installed::new(sys, &path);
    let t0 = Instant::now();
    let m = body(&installed);
    let (dropped_stats, failed) = installed.finish();
    let flushed = t0.elapsed();
    let (expected, (lines, bytes)) = match sys {
        Sys::Baseline => (0, (0, 0)),
        _ if profiling() => (m.records, (m.records, 0)),
        _ => (m.records, count_lines(&path)),
    };
    let mut extra = m.extra;
    if let Some(f) = failed {
        if !extra.is_empty() {
            extra.push_str("; ");
        }
        extra.push_str(f);
    }
    Outcome {
        caller_ns: m.caller_ns,
        expected,
        written: lines,
        dropped_stats,
        flushed_ms: flushed.as_secs_f64() * 1e3,
        bytes,
        rss_kib: peak_rss_kib(),
        extra,
        ..Outcome::default()
    }
}

fn run_child(spec: &str) -> Outcome {
    let (workload, system) = spec.split_once('/').expect("workload/system");
    let sys = || Sys::from_key(system).unwrap_or_else(|| panic!("unknown system {system}"));
    match workload {
        "w1" | "w2" | "w3" => run_row(sys(), |i| span_body(workload, sys(), i)),
        "w6-threads" => run_row(sys(), |i| w6_threads(sys(), i)),
        "w6-tasks" => run_row(sys(), |i| w6_tasks(sys(), i)),
        "writer" => writer_ceiling(),
        "w4" | "w5" | "w7" => {
            let mut out = shipping::run(workload, system);
            out.rss_kib = peak_rss_kib();
            out
        }
        other => panic!("unknown workload {other}"),
    }
}

/// Records staged for the writer-ceiling row.
const WRITER_RECORDS: u64 = 1_000_000;

/// A file whose first write waits until the gate opens, so every record is
/// staged before the writer starts, and the writer's time is its own.
struct GatedFile {
    file: std::fs::File,
    entered: Option<std::sync::mpsc::Sender<()>>,
    gate: Option<std::sync::mpsc::Receiver<()>>,
}

impl Write for GatedFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(entered) = self.entered.take() {
            let _ = entered.send(());
        }
        if let Some(gate) = self.gate.take() {
            let _ = gate.recv();
        }
        self.file.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The writer's own ceiling: span records of W1's shape (CPU time off) are
/// staged while the writer is held in its first write; then the gate opens
/// and the writer encodes and appends them all, with no caller running.
fn writer_ceiling() -> Outcome {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log.jsonl");
    warm_page_cache(dir.path());
    let (entered_tx, entered_rx) = std::sync::mpsc::channel();
    let (gate_tx, gate_rx) = std::sync::mpsc::channel();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open");
    let sink = GatedFile {
        file,
        entered: Some(entered_tx),
        gate: Some(gate_rx),
    };
    let config = sentinel::SentinelConfig::new(&path)
        .cpu_time(false)
        .max_queue_bytes(1 << 30)
        .stall_timeout(Duration::from_secs(600));
    let logger = sentinel::AsyncLogger::from_writer(sink, config).expect("logger");
    sentinel::set_default_logger(logger.clone());
    logger.log(serde_json::json!({"first": true}));
    entered_rx.recv().expect("writer entered its first write");
    for i in 0..WRITER_RECORDS {
        black_box(s_leaf(black_box(i)));
    }
    let t0 = Instant::now();
    gate_tx.send(()).expect("open the gate");
    assert!(logger.flush_blocking(Duration::from_secs(120)), "flush");
    let elapsed = t0.elapsed();
    assert!(logger.shutdown_blocking(Duration::from_secs(60)));
    let (lines, bytes) = count_lines(&path);
    Outcome {
        caller_ns: elapsed.as_nanos() as f64 / WRITER_RECORDS as f64,
        expected: WRITER_RECORDS + 1,
        written: lines,
        dropped_stats: Some(logger.dropped()),
        flushed_ms: elapsed.as_secs_f64() * 1e3,
        bytes,
        rss_kib: peak_rss_kib(),
        extra: format!(
            "writer {:.2} M records/s; ns column = writer ns per record",
            WRITER_RECORDS as f64 / elapsed.as_secs_f64() / 1e6
        ),
        ..Outcome::default()
    }
}

// ---------------------------------------------------------------------------
// Parent side.

struct Case {
    workload: &'static str,
    key: String,
    label: String,
    reps: usize,
}

fn cases(reps: usize) -> Vec<Case> {
    let mut out = Vec::new();
    for workload in ["w1", "w2", "w3"] {
        let extra: &[Sys] = if workload == "w1" {
            &Sys::W1_EXTRA
        } else {
            &[]
        };
        for sys in Sys::ALL.into_iter().chain(extra.iter().copied()) {
            out.push(Case {
                workload,
                key: sys.key().into(),
                label: sys.name().into(),
                reps,
            });
        }
    }
    for (workload, key, label) in shipping::CASES {
        out.push(Case {
            workload,
            key: (*key).into(),
            label: (*label).into(),
            // W5 runs for seconds and reports a settled rate within the run.
            // A W4 run lasts ~0.1 s and varies by +-30% on the VM measured,
            // so it gets more repetitions than the rest.
            reps: match *workload {
                "w5" | "w7" => 1,
                _ => reps.max(3) + 4,
            },
        });
    }
    out.push(Case {
        workload: "writer",
        key: Sys::SentinelCpuOff.key().into(),
        label: "sentinel writer alone (records staged first)".into(),
        reps,
    });
    for workload in ["w6-threads", "w6-tasks"] {
        for sys in Sys::W6 {
            out.push(Case {
                workload,
                key: sys.key().into(),
                label: sys.name().into(),
                reps,
            });
        }
    }
    out
}

fn spawn_child(workload: &str, key: &str) -> Result<Outcome, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .env("SENTINEL_BENCH_CHILD", format!("{workload}/{key}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("timed out after 180 s".into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let mut stdout = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut s, &mut stdout);
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("@@RESULT "))
        .ok_or_else(|| format!("child printed no result: {stdout}"))
        .and_then(|j| serde_json::from_str(j).map_err(|e| e.to_string()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Medians of the timing figures; worst case of the losses (W6 runs differ
/// in `expected`, so the worst run is the one that lost most).
fn combine(runs: &[Outcome]) -> Outcome {
    let med = |f: &dyn Fn(&Outcome) -> f64| median(runs.iter().map(f).collect());
    let mid = {
        let c = med(&|o| o.caller_ns);
        runs.iter()
            .min_by(|a, b| (a.caller_ns - c).abs().total_cmp(&(b.caller_ns - c).abs()))
            .cloned()
            .unwrap_or_default()
    };
    let worst = runs
        .iter()
        .max_by_key(|o| o.expected.saturating_sub(o.written))
        .cloned()
        .unwrap_or_default();
    Outcome {
        caller_ns: med(&|o| o.caller_ns),
        expected: worst.expected,
        written: worst.written,
        dropped_stats: runs.iter().filter_map(|o| o.dropped_stats).max(),
        flushed_ms: med(&|o| o.flushed_ms),
        bytes: mid.bytes,
        rss_kib: med(&|o| o.rss_kib as f64) as u64,
        requests: mid.requests,
        extra: mid.extra.clone(),
        ratio_override: mid.ratio_override,
        bytes_per_record: (mid.written > 0 && mid.bytes > 0)
            .then(|| mid.bytes as f64 / mid.written as f64),
        delivered_per_s: Some(med(&delivered_rate)),
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    let dirty = if git(&["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        ""
    } else {
        " (dirty)"
    };
    format!("machine: {cores} cores (nproc), {cpu}; commit {commit}{dirty}")
}

fn fmt_rate(per_s: f64) -> String {
    if !per_s.is_finite() || per_s <= 0.0 {
        "-".into()
    } else if per_s >= 1e6 {
        format!("{:.2} M/s", per_s / 1e6)
    } else if per_s >= 1e3 {
        format!("{:.0} k/s", per_s / 1e3)
    } else {
        format!("{per_s:.0} /s")
    }
}

fn main() {
    if let Ok(spec) = std::env::var("SENTINEL_BENCH_CHILD") {
        let out = run_child(&spec);
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(
            stdout,
            "@@RESULT {}",
            serde_json::to_string(&out).expect("json")
        );
        let _ = stdout.flush();
        // Skip destructors and exit hooks: everything was flushed above.
        std::process::exit(0);
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.to_lowercase())
        .collect();
    let reps: usize = std::env::var("SENTINEL_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    println!("{}; SENTINEL_BENCH_REPS={reps}", machine());
    let all = cases(reps);
    let selected: Vec<&Case> = all
        .iter()
        .filter(|case| {
            let id = format!("{} {} {}", case.workload, case.key, case.label).to_lowercase();
            filters.is_empty() || filters.iter().any(|f| id.contains(f.as_str()))
        })
        .collect();
    // Repetitions go round-robin over the selected rows, so the VM's slow
    // drifts (other tenants, page reclaim) hit every system alike instead of
    // whichever row happened to run during them.
    // Per row, one slot per round it ran in (`None` if that run failed), so
    // runs of different rows in the same round can be paired.
    let mut runs: Vec<Vec<Option<Outcome>>> = vec![Vec::new(); selected.len()];
    let mut errors: Vec<Option<String>> = vec![None; selected.len()];
    let rounds = selected.iter().map(|c| c.reps).max().unwrap_or(0);
    for round in 0..rounds {
        for (i, case) in selected.iter().enumerate() {
            if round >= case.reps {
                continue;
            }
            eprint!("running {}/{} ... ", case.workload, case.key);
            match spawn_child(case.workload, &case.key) {
                Ok(o) => {
                    eprintln!("{:.1} ns/op", o.caller_ns);
                    runs[i].push(Some(o));
                }
                Err(e) => {
                    eprintln!("failed: {e}");
                    runs[i].push(None);
                    errors[i] = Some(e);
                }
            }
        }
    }
    let results: Vec<Row<'_>> = selected
        .iter()
        .zip(runs)
        .zip(errors)
        .map(|((case, runs), err)| {
            let ok: Vec<Outcome> = runs.iter().flatten().cloned().collect();
            let outcome = if ok.is_empty() {
                Err(err.unwrap_or_default())
            } else {
                Ok(combine(&ok))
            };
            Row {
                case,
                outcome,
                runs,
            }
        })
        .collect();
    println!("{}", table(&results));
}

/// One row of the table: the combined outcome and the runs behind it, one
/// slot per round.
struct Row<'a> {
    case: &'a Case,
    outcome: Result<Outcome, String>,
    runs: Vec<Option<Outcome>>,
}

/// Records (or events) delivered per second of one run, end to end.
fn delivered_rate(o: &Outcome) -> f64 {
    o.written as f64 / (o.flushed_ms / 1e3)
}

/// The median over rounds of `f(a, b)` for runs of two rows made in the same
/// round: pairing cancels the VM's drifts between rounds.
fn paired_median(
    a: &[Option<Outcome>],
    b: &[Option<Outcome>],
    f: impl Fn(&Outcome, &Outcome) -> f64,
) -> Option<f64> {
    let v: Vec<f64> = a
        .iter()
        .zip(b)
        .filter_map(|(x, y)| Some(f(x.as_ref()?, y.as_ref()?)))
        .filter(|r| r.is_finite())
        .collect();
    (!v.is_empty()).then(|| median(v))
}

/// The heading of a workload's section in `BENCHMARKS.md`.
fn workload_title(workload: &str) -> &'static str {
    match workload {
        "w1" => "W1: one thread, 1,000,000 calls of a trivial traced fn",
        "w2" => "W2: nested, 300,000 traced outer calls of two traced inner calls each",
        "w3" => "W3: 100 async tasks × 10,000 traced async calls, 2 workers",
        "w4" => "W4: shipping 100,000 events to a loopback sink",
        "w5" => "W5: backpressure, 5 s of logging against a sink answering in 20 ms",
        "w7" => "W7: 32 and 256 producer tasks sharing one client, sink answering in 20 ms",
        "w6-threads" => "W6 threads: 8 OS threads tracing a trivial fn for ~1 s",
        "w6-tasks" => "W6 tasks: 64 tokio tasks on 2 workers tracing a trivial fn for ~1 s",
        "writer" => {
            "Writer ceiling: one writer thread encoding and writing 1,000,000 staged span records"
        }
        _ => "other",
    }
}

/// One Markdown section (heading + table) per workload, in run order, so
/// each can be pasted into `BENCHMARKS.md` whole.
fn table(results: &[Row<'_>]) -> String {
    // The fastest peer per workload (lowest caller ns), for the ratio column.
    let mut fastest: BTreeMap<&str, (f64, &str)> = BTreeMap::new();
    let mut runs_by_id: BTreeMap<(&str, &str), &[Option<Outcome>]> = BTreeMap::new();
    for row in results {
        runs_by_id.insert((row.case.workload, row.case.key.as_str()), &row.runs);
        let Ok(o) = &row.outcome else { continue };
        if Sys::from_key(&row.case.key).is_some_and(Sys::is_peer)
            && o.caller_ns > 0.0
            && fastest
                .get(row.case.workload)
                .is_none_or(|(ns, _)| o.caller_ns < *ns)
        {
            fastest.insert(row.case.workload, (o.caller_ns, row.case.key.as_str()));
        }
    }
    let mut t = String::new();
    let mut current = "";
    for row in results {
        let case = row.case;
        if case.workload != current {
            current = case.workload;
            let _ = writeln!(t, "\n### {}\n", workload_title(current));
            let _ = writeln!(
                t,
                "| system | runs | caller ns/op | ratio | until flushed ms | end-to-end rec/s | written | lost | self-counted drops | B/rec | peak RSS MiB | notes |"
            );
            let _ = writeln!(
                t,
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
            );
        }
        let n = row.runs.iter().flatten().count();
        let o = match &row.outcome {
            Ok(o) => o,
            Err(e) => {
                let _ = writeln!(
                    t,
                    "| {} | 0 | - | - | - | - | - | - | - | - | - | failed: {} |",
                    case.label,
                    e.replace('|', "/")
                );
                continue;
            }
        };
        let ratio = if let Some(r) = o.ratio_override {
            format!("{r:.2}×")
        } else if case.workload == "w4" {
            // Delivered rate against the plain loop at the same batch size,
            // run for run within each round.
            let batch = case.key.rsplit('-').next().unwrap_or_default();
            let loop_key = format!("reqwest-loop-{batch}");
            let paired = runs_by_id.get(&("w4", loop_key.as_str())).and_then(|l| {
                paired_median(&row.runs, l, |c, l| delivered_rate(c) / delivered_rate(l))
            });
            match paired {
                Some(r) => format!("{r:.2}× loop"),
                None => "-".into(),
            }
        } else {
            match fastest.get(case.workload) {
                Some((ns, peer)) if o.caller_ns > 0.0 && case.key != "baseline" => {
                    format!("{:.2}× vs {peer}", ns / o.caller_ns)
                }
                _ => "-".into(),
            }
        };
        let mut notes = o.extra.clone();
        if case.workload == "w2"
            && case.key != "baseline"
            && let Some(w1) = runs_by_id.get(&("w1", case.key.as_str()))
            && let Some(r) = paired_median(&row.runs, w1, |w2, w1| w2.caller_ns / w1.caller_ns)
        {
            if !notes.is_empty() {
                notes.push_str("; ");
            }
            let _ = write!(notes, "{r:.2}× W1 per outer call");
        }
        if n > 1 && case.key != "baseline" {
            let ns: Vec<f64> = row.runs.iter().flatten().map(|o| o.caller_ns).collect();
            let (lo, hi) = ns
                .iter()
                .fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
            if !notes.is_empty() {
                notes.push_str("; ");
            }
            let _ = write!(notes, "caller {lo:.0}-{hi:.0} ns over runs");
        }
        if let Some(r) = o.requests {
            if !notes.is_empty() {
                notes.push_str("; ");
            }
            let _ = write!(notes, "{r} requests");
        }
        let e2e = if o.written > 0 {
            fmt_rate(o.delivered_per_s.unwrap_or_else(|| delivered_rate(o)))
        } else {
            "-".into()
        };
        let lost = if o.expected > 0 {
            format!("{}", o.expected.saturating_sub(o.written))
        } else {
            "-".into()
        };
        let bpr = o
            .bytes_per_record
            .map_or_else(|| "-".into(), |b| format!("{b:.0}"));
        let _ = writeln!(
            t,
            "| {} | {} | {:.0} | {} | {:.1} | {} | {} | {} | {} | {} | {:.1} | {} |",
            case.label,
            n,
            o.caller_ns,
            ratio,
            o.flushed_ms,
            e2e,
            o.written,
            lost,
            o.dropped_stats.map_or("-".into(), |d| d.to_string()),
            bpr,
            o.rss_kib as f64 / 1024.0,
            notes
        );
    }
    t
}
