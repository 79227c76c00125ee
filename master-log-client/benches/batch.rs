//! Micro-benchmarks: the producer's enqueue cost, batch encoding, end-to-end delivery to a
//! loopback sink, and no-op baselines.
//!
//! Run with `cargo bench -p master-log-client --bench batch`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use master_log_client::{Client, Event, encode_batch};
use serde_json::json;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn client(rt: &tokio::runtime::Runtime, server: &support::Server, batch_size: usize) -> Client {
    Client::builder()
        .environment(|_| None)
        .api_key("bench-key")
        .endpoint(server.url())
        .backpressure(false)
        .batch_size(batch_size)
        .max_queue_size(100_000)
        .drop_when_full(false)
        .queue_timeout(Duration::from_secs(60))
        .build_with_handle(rt.handle())
        .unwrap()
}

fn event(i: u64) -> Event {
    Event::info(format!("Captured frame {i} for M31")).tag("imaging")
}

fn enqueue(c: &mut Criterion) {
    let rt = runtime();
    let server = support::Server::sink();
    let client = client(&rt, &server, 1000);
    let mut group = c.benchmark_group("enqueue");
    group.throughput(Throughput::Elements(1));
    // Baseline: building the event alone.
    group.bench_function("build_event_only", |b| {
        let mut i = 0;
        b.iter(|| {
            i += 1;
            black_box(event(i))
        })
    });
    // Baseline: the same event through a bare tokio channel drained by a task.
    group.bench_function("noop_channel", |b| {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(100_000);
        rt.spawn(async move { while rx.recv().await.is_some() {} });
        let mut i = 0;
        b.iter(|| {
            i += 1;
            let _ = black_box(tx.try_send(event(i)));
        })
    });
    // try_log, backpressure off; each sample is drained before the next so nothing drops.
    group.bench_function("try_log", |b| {
        let mut n = 0;
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let chunk = left.min(50_000);
                let start = Instant::now();
                for _ in 0..chunk {
                    n += 1;
                    let _ = black_box(client.try_log(event(n)));
                }
                elapsed += start.elapsed();
                rt.block_on(client.flush(Duration::from_secs(60))).unwrap();
                left -= chunk;
            }
            elapsed
        })
    });
    group.finish();
    assert_eq!(client.stats().dropped_full, 0);
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for n in [1usize, 100, 1000] {
        let events: Vec<Event> = (0..n as u64).map(event).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("batch", n), &events, |b, events| {
            b.iter(|| black_box(encode_batch(events.iter())))
        });
        // Baseline: serde_json of the same number of equivalent objects.
        let values: Vec<_> = events.iter().map(Event::to_json).collect();
        group.bench_with_input(BenchmarkId::new("serde_json_values", n), &values, |b, v| {
            b.iter(|| black_box(serde_json::to_vec(&json!({ "logs": v })).unwrap()))
        });
    }
    group.finish();
}

fn deliver(c: &mut Criterion) {
    let rt = runtime();
    let server = support::Server::sink();
    let mut group = c.benchmark_group("deliver");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    for batch_size in [100usize, 1000] {
        let client = client(&rt, &server, batch_size);
        group.bench_function(BenchmarkId::new("loopback_sink", batch_size), |b| {
            let mut n = 0;
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        n += 1;
                        client.log(event(n)).await.unwrap();
                    }
                    let report = client.flush(Duration::from_secs(600)).await.unwrap();
                    assert_eq!(report.accepted, iters);
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, enqueue, encode, deliver);
criterion_main!(benches);
