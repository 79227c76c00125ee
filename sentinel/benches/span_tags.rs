//! What a span's own tags cost the caller: `sentinel::record` outside and
//! inside a span, and `#[trace]` calls with `tags(..)`, `args(..)` and a
//! `record` call, next to a plain `#[trace]` call.
//!
//! Loggers write to `std::io::sink()`, so what is timed is sentinel's own
//! work on the calling thread (the writer runs on its own thread).
//!
//! ```text
//! cargo bench -p sentinel --bench span_tags
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sentinel::{AsyncLogger, SentinelConfig, TimeBlock};

#[sentinel::trace]
fn plain(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[sentinel::trace(tags(route = "/orders/{id}", method = "GET"))]
fn constants(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[sentinel::trace(args(x, half = x / 2))]
fn two_args(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[sentinel::trace]
fn one_record(x: u64) -> u64 {
    let y = black_box(x).wrapping_mul(3);
    sentinel::record("product", y);
    y
}

/// The workload bench's handler row: two arguments and one `record`.
#[sentinel::trace(args(x, half = x / 2))]
fn two_args_one_record(x: u64) -> u64 {
    let y = black_box(x).wrapping_mul(3);
    sentinel::record("product", y);
    y
}

#[sentinel::trace(args(user = "ada"))]
fn string_arg(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

fn sink_logger() -> AsyncLogger {
    AsyncLogger::from_writer(std::io::sink(), SentinelConfig::default()).expect("sink logger")
}

fn record(c: &mut Criterion) {
    let logger = sink_logger();
    sentinel::set_default_logger(logger.clone());
    let mut g = c.benchmark_group("record");
    g.bench_function("record() outside a span", |b| {
        let mut i = 0u64;
        b.iter(|| {
            i += 1;
            sentinel::record("user_id", black_box(i));
        })
    });
    // Many values per span, so the span's own cost is spread thin.
    g.bench_function("record() inside a span (1000 per span)", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            let mut left = iters;
            while left > 0 {
                let n = left.min(1000);
                let _block = TimeBlock::new("batch");
                for i in 0..n {
                    sentinel::record("user_id", black_box(i));
                }
                left -= n;
            }
            t0.elapsed()
        })
    });
    for (name, f) in [
        ("#[trace] call", plain as fn(u64) -> u64),
        ("#[trace(tags(2 constants))] call", constants),
        ("#[trace(args(2 numbers))] call", two_args),
        ("#[trace(args(1 string))] call", string_arg),
        ("#[trace] call + 1 record()", one_record),
        (
            "#[trace(args(2 numbers))] call + 1 record()",
            two_args_one_record,
        ),
    ] {
        g.bench_function(name, |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                f(black_box(i))
            })
        });
    }
    g.finish();
    logger.shutdown_blocking(Duration::from_secs(10));
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = record
}
criterion_main!(benches);
