//! W4 (shipping) and W5 (backpressure): the Master Log client against the
//! client's own loopback sink (`master-log-client/tests/support`), which
//! answers `{"accepted": n}` and counts the events it received; and, for W4,
//! a plain reqwest batching loop (tokio mpsc → batch → POST) as the anchor.

use std::time::{Duration, Instant};

use master_log_client::{Client, Event, encode_batch};

use super::Outcome;
use super::sink::{Reply, Server};

const W4_EVENTS: u64 = 100_000;
const W5_EVENTS: u64 = 5_000;
const W5_DELAY: Duration = Duration::from_millis(20);

/// (workload, system key, label) of every shipping row.
pub const CASES: &[(&str, &str, &str)] = &[
    (
        "w4",
        "client-100",
        "master-log-client batch 100 (backpressure off, no-loss queue)",
    ),
    (
        "w4",
        "reqwest-loop-100",
        "plain reqwest loop batch 100 (mpsc → batch → POST)",
    ),
    (
        "w4",
        "client-1000",
        "master-log-client batch 1000 (backpressure off, no-loss queue)",
    ),
    (
        "w4",
        "reqwest-loop-1000",
        "plain reqwest loop batch 1000 (mpsc → batch → POST)",
    ),
    (
        "w5",
        "client-defaults",
        "master-log-client defaults (backpressure on), sink 20 ms/request",
    ),
];

fn event(i: u64) -> Event {
    Event::info(format!("Captured frame {i} for M31")).tag("imaging")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn client_builder(server: &Server) -> master_log_client::ClientBuilder {
    Client::builder()
        .environment(|_| None)
        .api_key("bench-key")
        .endpoint(server.url())
}

pub fn run(workload: &str, system: &str) -> Outcome {
    let rt = runtime();
    let server = Server::sink();
    let out = match (workload, system) {
        ("w4", s) if s.starts_with("client-") => {
            let batch: usize = s["client-".len()..].parse().expect("batch size");
            rt.block_on(w4_client(&server, batch))
        }
        ("w4", s) if s.starts_with("reqwest-loop-") => {
            let batch: usize = s["reqwest-loop-".len()..].parse().expect("batch size");
            rt.block_on(w4_reqwest(&server, batch))
        }
        ("w5", "client-defaults") => {
            server.set_default(Reply::ok().delay(W5_DELAY));
            rt.block_on(w5_client(&server))
        }
        _ => panic!("unknown shipping case {workload}/{system}"),
    };
    let mut out = out;
    out.written = server.events_received();
    out
}

async fn w4_client(server: &Server, batch: usize) -> Outcome {
    let n = W4_EVENTS;
    // No-loss: a queue that holds the whole burst, and waiting rather than
    // dropping if it ever fills.
    let client = client_builder(server)
        .backpressure(false)
        .batch_size(batch)
        .max_queue_size(n as usize)
        .drop_when_full(false)
        .queue_timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let start = Instant::now();
    for i in 0..n {
        client.log(event(i)).await.expect("log");
    }
    let enqueued = start.elapsed();
    let report = client.shutdown(Duration::from_secs(120)).await;
    let total = start.elapsed();
    let stats = client.stats();
    Outcome {
        caller_ns: enqueued.as_nanos() as f64 / n as f64,
        expected: n,
        dropped_stats: Some(stats.dropped_full + stats.failed_events),
        flushed_ms: total.as_secs_f64() * 1e3,
        requests: Some(stats.requests),
        extra: match report {
            Ok(r) => format!("accepted {}", r.accepted),
            Err(e) => format!("shutdown: {e}"),
        },
        ..Outcome::default()
    }
}

/// The anchor: what a hand-written batching loop over reqwest achieves.
async fn w4_reqwest(server: &Server, batch: usize) -> Outcome {
    let n = W4_EVENTS;
    let url = format!("{}/api/v1/logs/batch", server.url());
    let http = reqwest::Client::new();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(n as usize);
    let sender = tokio::spawn(async move {
        let mut requests = 0u64;
        let mut accepted_total = 0u64;
        let mut buf = Vec::with_capacity(batch);
        while rx.recv_many(&mut buf, batch).await > 0 {
            let body = encode_batch(buf.iter());
            buf.clear();
            requests += 1;
            let resp = http
                .post(&url)
                .header("content-type", "application/json")
                .header("x-api-key", "bench-key")
                .body(body)
                .send()
                .await;
            if let Ok(resp) = resp {
                accepted_total += accepted(resp).await;
            }
        }
        (requests, accepted_total)
    });
    let start = Instant::now();
    for i in 0..n {
        tx.send(event(i)).await.expect("send");
    }
    let enqueued = start.elapsed();
    drop(tx);
    let (requests, accepted) = sender.await.expect("sender");
    let total = start.elapsed();
    Outcome {
        caller_ns: enqueued.as_nanos() as f64 / n as f64,
        expected: n,
        flushed_ms: total.as_secs_f64() * 1e3,
        requests: Some(requests),
        extra: format!("accepted {accepted}"),
        ..Outcome::default()
    }
}

/// Reads `n` from an `{"accepted": n}` answer.
async fn accepted(resp: reqwest::Response) -> u64 {
    let Ok(bytes) = resp.bytes().await else {
        return 0;
    };
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    v["accepted"].as_u64().unwrap_or(0)
}

async fn w5_client(server: &Server) -> Outcome {
    let n = W5_EVENTS;
    // Defaults: backpressure on, batch 100, queue 10 000, drop when full.
    let client = client_builder(server).build().expect("client");
    let start = Instant::now();
    let mut marks = Vec::new();
    for i in 0..n {
        client.log(event(i)).await.expect("log");
        if i % 500 == 0 {
            marks.push((i, start.elapsed()));
        }
    }
    let produced = start.elapsed();
    let stats = client.stats();
    let _ = client.shutdown(Duration::from_secs(60)).await;
    let total = start.elapsed();
    // The settled rate: the last 2,000 events, after the moving average has
    // learned the sink's pace.
    let (i0, t0) = marks[marks.len() - 5];
    let (i1, t1) = marks[marks.len() - 1];
    let settled = (i1 - i0) as f64 / (t1 - t0).as_secs_f64();
    let capacity = 100.0 / W5_DELAY.as_secs_f64();
    Outcome {
        caller_ns: produced.as_nanos() as f64 / n as f64,
        expected: n,
        dropped_stats: Some(stats.dropped_full),
        flushed_ms: total.as_secs_f64() * 1e3,
        requests: Some(stats.requests),
        extra: format!(
            "settled {settled:.0} logs/s vs capacity {capacity:.0}/s over events {i0}..{i1}; \
             whole run {:.0} logs/s; queue high-water {} of 10000",
            n as f64 / produced.as_secs_f64(),
            stats.queue_high_water
        ),
        ratio_override: Some(settled / capacity),
        ..Outcome::default()
    }
}
