//! Decoding one record line: [`sentinel::format::Line::parse`] (the fast path) against
//! serde's derive on the same line, the reference it must agree with.
//!
//! ```text
//! cargo bench -p sentinel --bench format
//! ```

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sentinel::format::Line;

const SPAN: &str = r#"{"timestamp":"2026-12-02T00:00:01.123456+00:00","function":"handler_12","duration_ms":3.217,"cpu_time_ms":1.287,"status":"success","error_type":null,"error":null,"trace_id":"9f86d081884c7d65","span_id":"2c26b46b68ffc68f","parent_span_id":"b3f78a58c1d2e3f4","tags":{"route":"/checkout","user":42},"slow":true}"#;

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(SPAN.len() as u64));
    group.bench_function("Line::parse", |b| {
        b.iter(|| Line::parse(black_box(SPAN)).map(|l| l.duration_ms.f64()))
    });
    group.bench_function("serde derive", |b| {
        b.iter(|| {
            serde_json::from_str::<Line<'_>>(black_box(SPAN))
                .ok()
                .map(|l| l.duration_ms.f64())
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
