//! W4 (shipping) and W5 (backpressure): the Master Log client against the
//! client's own loopback sink (`master-log-client/tests/support`), which
//! answers `{"accepted": n}` and counts the events it received; and, for W4,
//! a plain reqwest batching loop (tokio mpsc → batch → POST) as the anchor.

use std::time::{Duration, Instant};

use master_log_client::{Client, Event, encode_batch};

use super::Outcome;
use super::sink::{Reply, Server};

const W4_EVENTS: u64 = 100_000;
/// W5 and W7 log for this long against a sink taking `W5_DELAY` per request.
const W5_RUN: Duration = Duration::from_secs(5);
const W7_RUN: Duration = Duration::from_secs(3);
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
    (
        "w7",
        "client-32-tasks",
        "master-log-client defaults, 32 producer tasks, sink 20 ms/request",
    ),
    (
        "w7",
        "client-256-tasks",
        "master-log-client defaults, 256 producer tasks, sink 20 ms/request",
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
        ("w7", s) if s.starts_with("client-") => {
            let tasks: usize = s["client-".len()..s.len() - "-tasks".len()]
                .parse()
                .expect("task count");
            server.set_default(Reply::ok().delay(W5_DELAY));
            rt.block_on(w7_client(&server, tasks))
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
    // Defaults: backpressure on, batch 100, queue 10 000, `log` waits for room.
    let client = client_builder(server).build().expect("client");
    let start = Instant::now();
    // (events logged, time) at each half second.
    let mut marks = vec![(0u64, Duration::ZERO)];
    let mut n = 0u64;
    let mut failed = 0u64;
    loop {
        let now = start.elapsed();
        if now >= W5_RUN {
            break;
        }
        if now >= Duration::from_millis(500) * marks.len() as u32 {
            marks.push((n, now));
        }
        match client.log(event(n)).await {
            Ok(_) => n += 1,
            Err(_) => failed += 1,
        }
    }
    let produced = start.elapsed();
    marks.push((n, produced));
    let stats = client.stats();
    let _ = client.shutdown(Duration::from_secs(60)).await;
    let total = start.elapsed();
    let rate = |from: usize, to: usize| {
        let ((i0, t0), (i1, t1)) = (marks[from], marks[to]);
        (i1 - i0) as f64 / (t1 - t0).as_secs_f64()
    };
    let capacity = 100.0 / W5_DELAY.as_secs_f64();
    // The second after the first two: is the producer near capacity 2 s after start?
    let at_two = rate(4, 6);
    let whole = n as f64 / produced.as_secs_f64();
    Outcome {
        caller_ns: produced.as_nanos() as f64 / n.max(1) as f64,
        expected: n,
        dropped_stats: Some(stats.dropped_full),
        flushed_ms: total.as_secs_f64() * 1e3,
        requests: Some(stats.requests),
        extra: format!(
            "{:.0} logs/s from 2 s to 3 s ({:.2}× capacity {capacity:.0}/s); whole run {whole:.0} \
             logs/s ({:.2}×); first second {:.0} logs/s; {failed} log errors; queue high-water \
             {} of 10000",
            at_two,
            at_two / capacity,
            whole / capacity,
            rate(0, 2),
            stats.queue_high_water
        ),
        ratio_override: Some(at_two / capacity),
        ..Outcome::default()
    }
}

/// W7: `tasks` producer tasks share one client with default settings, as a service's
/// request handlers would; their aggregate rate should follow the sink.
async fn w7_client(server: &Server, tasks: usize) -> Outcome {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let client = client_builder(server).build().expect("client");
    let logged = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let producers: Vec<_> = (0..tasks)
        .map(|t| {
            let (client, logged, failed) =
                (client.clone(), Arc::clone(&logged), Arc::clone(&failed));
            tokio::spawn(async move {
                let mut i = t as u64 * 1_000_000;
                while start.elapsed() < W7_RUN {
                    match client.log(event(i)).await {
                        Ok(_) => logged.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    i += 1;
                }
            })
        })
        .collect();
    // The aggregate rate after the first second, once the pace has learned the sink.
    tokio::time::sleep_until((start + Duration::from_secs(1)).into()).await;
    let (n1, t1) = (logged.load(Ordering::Relaxed), start.elapsed());
    for p in producers {
        p.await.expect("producer");
    }
    let produced = start.elapsed();
    let n = logged.load(Ordering::Relaxed);
    let stats = client.stats();
    let _ = client.shutdown(Duration::from_secs(60)).await;
    let total = start.elapsed();
    let capacity = 100.0 / W5_DELAY.as_secs_f64();
    let settled = (n - n1) as f64 / (produced - t1).as_secs_f64();
    let whole = n as f64 / produced.as_secs_f64();
    Outcome {
        caller_ns: produced.as_nanos() as f64 * tasks as f64 / n.max(1) as f64,
        expected: n,
        dropped_stats: Some(stats.dropped_full),
        flushed_ms: total.as_secs_f64() * 1e3,
        requests: Some(stats.requests),
        extra: format!(
            "{settled:.0} logs/s from 1 s on ({:.2}× capacity {capacity:.0}/s); whole run \
             {whole:.0} logs/s; {} queue-full errors; queue high-water {} of 10000",
            settled / capacity,
            failed.load(Ordering::Relaxed),
            stats.queue_high_water
        ),
        ratio_override: Some(settled / capacity),
        ..Outcome::default()
    }
}
