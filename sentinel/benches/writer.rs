//! Micro-benches of the pieces a traced call and a writer cycle are made of:
//! id generation, clock reads, the enqueue a `#[trace]` call or `log()` pays,
//! and the encoding of one record and of one batch; and the writer's rate into
//! a real file with rotation off and on.
//!
//! Loggers here write to `std::io::sink()`, the no-op sink baseline: what is
//! measured is sentinel's own work, not the disk (except the `rotation`
//! group, which writes files in a temporary directory). The end-to-end workloads
//! (files, anchors, peak RSS) live in `tests/benches/workloads.rs`.
//!
//! ```text
//! cargo bench -p sentinel --bench writer
//! cargo bench -p sentinel --bench writer -- rotation
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sentinel::__private::bench;
use sentinel::{AsyncLogger, SentinelConfig};

#[inline(never)]
fn untraced(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[sentinel::trace]
fn traced(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[sentinel::trace]
fn traced_outer(x: u64) -> u64 {
    traced(x) ^ traced(x + 1)
}

#[derive(serde::Serialize)]
struct Small {
    event: &'static str,
    n: u64,
}

/// A logger on the no-op sink; lossless (the default), so what is timed is
/// the sustained cost, never the cheaper drop path.
fn sink_logger(cpu_time: bool) -> AsyncLogger {
    let cfg = SentinelConfig::default().cpu_time(cpu_time);
    AsyncLogger::from_writer(std::io::sink(), cfg).expect("sink logger")
}

fn ids(c: &mut Criterion) {
    let mut g = c.benchmark_group("ids");
    g.bench_function("random_id", |b| b.iter(bench::random_id));
    g.finish();
}

fn clocks(c: &mut Criterion) {
    let mut g = c.benchmark_group("clocks");
    g.bench_function("Instant::now", |b| b.iter(Instant::now));
    g.bench_function("sentinel tick (rdtsc or CLOCK_MONOTONIC)", |b| {
        b.iter(bench::now_ticks)
    });
    g.bench_function("CLOCK_MONOTONIC (vDSO)", |b| b.iter(bench::monotonic_ns));
    g.bench_function("thread CPU time (rseq anchor + ticks)", |b| {
        b.iter(bench::thread_cpu_ns)
    });
    g.bench_function("thread CPU time (CLOCK_THREAD_CPUTIME_ID syscall)", |b| {
        b.iter(bench::thread_cpu_ns_syscall)
    });
    g.finish();
}

fn enqueue(c: &mut Criterion) {
    let mut g = c.benchmark_group("enqueue");
    g.bench_function("baseline: untraced call", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            untraced(black_box(i))
        })
    });
    for (name, cpu) in [("cpu on", true), ("cpu off", false)] {
        let logger = sink_logger(cpu);
        sentinel::set_default_logger(logger.clone());
        g.bench_function(format!("#[trace] call, {name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                traced(black_box(i))
            })
        });
        g.bench_function(format!("#[trace] outer + 2 nested, {name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                traced_outer(black_box(i))
            })
        });
        logger.shutdown_blocking(Duration::from_secs(10));
    }
    let logger = sink_logger(true);
    g.bench_function("log() small record", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            logger.log(Small {
                event: "tick",
                n: black_box(n),
            })
        })
    });
    logger.shutdown_blocking(Duration::from_secs(10));
    g.finish();
}

fn serialize(c: &mut Criterion) {
    let mut g = c.benchmark_group("serialize");
    g.throughput(Throughput::Elements(1));
    let mut one = bench::SpanEncoder::new(1);
    let mut out = Vec::with_capacity(512);
    g.bench_function("encode one span record", |b| {
        b.iter(|| {
            out.clear();
            black_box(one.encode_all(&mut out));
        })
    });
    g.throughput(Throughput::Elements(256));
    let mut out = Vec::with_capacity(256 * 300);
    g.bench_function("sort + encode a 256-record batch", |b| {
        b.iter_batched_ref(
            || bench::SpanEncoder::new(256),
            |enc| {
                out.clear();
                black_box(enc.sort_and_encode(&mut out));
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// The writer's records/s into a real file, rotation off and on: each
/// iteration logs a batch and waits until it is on disk.
fn rotation(c: &mut Criterion) {
    const BATCH: u64 = 100_000;
    let mut g = c.benchmark_group("rotation");
    g.throughput(Throughput::Elements(BATCH));
    g.sample_size(10);
    type Setup = fn(SentinelConfig) -> SentinelConfig;
    let variants: [(&str, Setup); 3] = [
        ("file, rotation off", |c| c),
        ("file, 1 MiB segments, keep 20", |c| {
            c.rotate_bytes(1 << 20).keep_segments(20)
        }),
        ("file, 1 MiB segments, keep 20, gzip", |c| {
            c.rotate_bytes(1 << 20)
                .keep_segments(20)
                .compress(sentinel::rotation::Compression::Gzip)
        }),
    ];
    for (name, setup) in variants {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = setup(SentinelConfig::new(dir.path().join("app.jsonl")).cpu_time(false));
        let logger = AsyncLogger::new(cfg).expect("file logger");
        g.bench_function(name, |b| {
            let mut n = 0u64;
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..BATCH {
                        n += 1;
                        logger.log(Small {
                            event: "tick",
                            n: black_box(n),
                        });
                    }
                    assert!(logger.flush_blocking(Duration::from_secs(60)));
                }
                start.elapsed()
            })
        });
        logger.shutdown_blocking(Duration::from_secs(30));
        eprintln!("{name}: {:?}", logger.stats());
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = ids, clocks, enqueue, serialize, rotation
}
criterion_main!(benches);
