//! Issue 6 workloads W4 (shipping) and W5 (backpressure) against a loopback sink, printing
//! their figures. Ignored by default because they measure rather than check; run with
//!
//! ```sh
//! cargo test -p master-log-client --release --test workloads -- --ignored --nocapture --test-threads 1
//! ```

mod support;

use std::time::{Duration, Instant};

use master_log_client::{Client, ClientBuilder, Event};
use support::{Reply, Server};

fn builder(server: &Server) -> ClientBuilder {
    Client::builder()
        .environment(|_| None)
        .api_key("bench-key")
        .endpoint(server.url())
}

fn event(i: u64) -> Event {
    Event::info(format!("Captured frame {i} for M31")).tag("imaging")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --ignored --nocapture"]
async fn w4_shipping() {
    const N: u64 = 100_000;
    for batch_size in [100, 1000] {
        let server = Server::sink();
        // No-loss configuration: a queue that holds the whole burst, so the producer's cost is
        // measured alone, and waiting for space rather than dropping if it ever fills.
        let client = builder(&server)
            .backpressure(false)
            .batch_size(batch_size)
            .max_queue_size(N as usize)
            .drop_when_full(false)
            .queue_timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let start = Instant::now();
        for i in 0..N {
            client.log(event(i)).await.unwrap();
        }
        let enqueued = start.elapsed();
        let report = client.shutdown(Duration::from_secs(120)).await.unwrap();
        let total = start.elapsed();
        let stats = client.stats();
        let lost = N - server.events_received();
        println!(
            "W4 batch {batch_size}: {:.0} delivered logs/s, producer {:.0} ns/enqueue, \
             {} requests, {lost} lost, accepted {}",
            N as f64 / total.as_secs_f64(),
            enqueued.as_nanos() as f64 / N as f64,
            stats.requests,
            report.accepted,
        );
        assert_eq!(lost, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --ignored --nocapture"]
async fn w5_backpressure() {
    const N: u64 = 5_000;
    let server = Server::sink();
    server.set_default(Reply::ok().delay(Duration::from_millis(20)));
    // Defaults: backpressure on, batch 100, queue 10 000, drop when full.
    let client = builder(&server).build().unwrap();
    let start = Instant::now();
    let mut marks = Vec::new();
    for i in 0..N {
        client.log(event(i)).await.unwrap();
        if i % 500 == 0 {
            marks.push((i, start.elapsed()));
        }
    }
    let total = start.elapsed();
    let stats = client.stats();
    client.shutdown(Duration::from_secs(30)).await.unwrap();
    let (i0, t0) = marks[marks.len() - 5];
    let (i1, t1) = marks[marks.len() - 1];
    let settled = (i1 - i0) as f64 / (t1 - t0).as_secs_f64();
    println!(
        "W5: producer settled at {settled:.0} logs/s over events {i0}..{i1} \
         (sink capacity 5000 logs/s, ratio {:.2}); whole run {:.0} logs/s; \
         {} dropped; queue high-water mark {}; send {:.3} ms/log",
        settled / 5000.0,
        N as f64 / total.as_secs_f64(),
        stats.dropped_full,
        stats.queue_high_water,
        stats.send_seconds_per_log * 1e3,
    );
    assert_eq!(stats.dropped_full, 0);
}

#[test]
fn sink_counts_every_event() {
    let one = br#"{"severity":"info","body":"{\"severity\":"}"#;
    for n in [0, 1, 2, 7, 33] {
        let mut body = b"{\"logs\":[".to_vec();
        for i in 0..n {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(one);
        }
        body.extend_from_slice(b"]}");
        assert_eq!(support::count_events(&body), n);
    }
}
