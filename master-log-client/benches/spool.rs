//! What the spool's fsync policies cost: writing batches of 100 encoded events into a spool
//! folder on the machine's disk, then closing it (which syncs per the policy).
//!
//! Run with `cargo bench -p master-log-client --bench spool`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use master_log_client::spool::bench_append;
use master_log_client::{Event, SpoolFsync, encode_batch};

/// Batches written per measured call: 8 MiB segments hold about 200 of these.
const BATCHES: usize = 64;

fn spool_append(c: &mut Criterion) {
    let events: Vec<Event> = (0..100)
        .map(|i| Event::info(format!("Captured frame {i} for M31")).tag("imaging"))
        .collect();
    let body = encode_batch(&events);
    let batches: Vec<(u32, &[u8])> = (0..BATCHES).map(|_| (100, &body[..])).collect();
    let mut group = c.benchmark_group("spool_append");
    group.throughput(Throughput::Elements(BATCHES as u64));
    group.sample_size(10);
    for fsync in [SpoolFsync::None, SpoolFsync::Segment, SpoolFsync::Batch] {
        group.bench_with_input(
            BenchmarkId::from_parameter(fsync.as_str()),
            &fsync,
            |b, &fsync| {
                b.iter_batched(
                    || tempfile::tempdir_in(std::env::temp_dir()).unwrap(),
                    |dir| {
                        bench_append(dir.path(), fsync, black_box(&batches)).unwrap();
                        dir
                    },
                    criterion::BatchSize::PerIteration,
                );
            },
        );
    }
    group.finish();
    println!("batch body: {} bytes, 100 events", body.len());
}

criterion_group!(benches, spool_append);
criterion_main!(benches);
