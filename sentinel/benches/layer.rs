//! Caller-side cost of one span: `#[trace]` against a `tracing` span recorded by
//! `SentinelLayer`, with a registry-only subscriber as the baseline.
//!
//! ```sh
//! cargo bench -p sentinel --bench layer
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sentinel::layer::SentinelLayer;
use sentinel::{AsyncLogger, SentinelConfig};
use tracing_subscriber::layer::SubscriberExt;

#[sentinel::trace(logger = logger)]
fn traced(logger: &AsyncLogger, x: u64) -> u64 {
    let _ = logger;
    black_box(x)
}

fn spans(c: &mut Criterion) {
    let logger = AsyncLogger::from_writer(std::io::sink(), SentinelConfig::default()).unwrap();
    let mut group = c.benchmark_group("span");

    group.bench_function("trace_attribute", |b| {
        b.iter(|| traced(&logger, black_box(1)));
    });

    let registry_only = tracing_subscriber::registry();
    tracing::subscriber::with_default(registry_only, || {
        group.bench_function("tracing_registry_only", |b| {
            b.iter(|| tracing::info_span!("op").in_scope(|| black_box(1)));
        });
    });

    let with_layer = tracing_subscriber::registry().with(SentinelLayer::with_logger(&logger));
    tracing::subscriber::with_default(with_layer, || {
        group.bench_function("tracing_with_sentinel_layer", |b| {
            b.iter(|| tracing::info_span!("op").in_scope(|| black_box(1)));
        });
        group.bench_function("tracing_with_sentinel_layer_two_fields", |b| {
            b.iter(|| tracing::info_span!("op", user = 42, route = "/a").in_scope(|| black_box(1)));
        });
    });
    group.finish();
    let stats = logger.stats();
    println!("written {}, dropped {}", stats.written, stats.dropped());
}

criterion_group!(benches, spans);
criterion_main!(benches);
