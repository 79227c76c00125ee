//! Sends a burst of logs through the batching client, flushes, and prints what happened.
//!
//! Runs with no setup: when `MASTER_LOG_ENDPOINT` is unset it starts a loopback receiver of
//! its own and says so. Against a real server, set `MASTER_LOG_ENDPOINT` and
//! `MASTER_LOG_API_KEY`.
//!
//! ```sh
//! cargo run -p examples --example client-batching
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use master_log_client::{Client, Event, event};
use serde_json::json;

const EVENTS: u64 = 1_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = Client::builder()
        .batch_size(100)
        .flush_interval(Duration::from_millis(500))
        // Start from a 1 ms/log guess; the client then learns the server's real pace.
        .initial_send_seconds_per_log(0.001);
    let receiver = match std::env::var("MASTER_LOG_ENDPOINT") {
        Ok(endpoint) if !endpoint.trim().is_empty() => {
            println!("sending to {endpoint}");
            None
        }
        _ => {
            let receiver = Receiver::start().await?;
            println!(
                "MASTER_LOG_ENDPOINT is unset: started a loopback receiver at http://{}",
                receiver.addr
            );
            builder = builder
                .endpoint(format!("http://{}", receiver.addr))
                .api_key("example-key");
            Some(receiver)
        }
    };
    let client = builder.build()?;

    let started = Instant::now();
    for i in 0..EVENTS {
        let severity_event = if i % 250 == 0 {
            Event::warn(format!("Seeing degraded at frame {i}"))
                .tags(["seeing", "atmosphere"])
                .metadata(json!({ "frame": i, "fwhm_arcseconds": 3.4 }))
        } else {
            event!(tags = ["imaging"]; "Captured frame", i, "for", "M31")
        };
        client.log(severity_event).await?;
    }
    let enqueued_in = started.elapsed();

    let report = client.flush(Duration::from_secs(10)).await?;
    let stats = client.stats();
    println!(
        "logged {EVENTS} events in {enqueued_in:.2?} (backpressure settled at {:.3} ms/log)",
        stats.send_seconds_per_log * 1e3
    );
    println!(
        "flush: accepted {} events in {} batches, {} retries, {} failed batches",
        report.accepted, report.batches, report.retries, report.failed_batches
    );
    println!(
        "stats: {} requests, queue high-water mark {}, {} dropped",
        stats.requests, stats.queue_high_water, stats.dropped_full
    );
    client.shutdown(Duration::from_secs(5)).await?;
    if let Some(receiver) = receiver {
        println!(
            "receiver got {} events in {} requests",
            receiver.events.load(Ordering::SeqCst),
            receiver.requests.load(Ordering::SeqCst)
        );
    }
    Ok(())
}

/// A minimal Master Log stand-in: counts events and answers `{"accepted": n}`.
struct Receiver {
    addr: SocketAddr,
    events: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
}

impl Receiver {
    async fn start() -> std::io::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let events = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let (ev, rq) = (Arc::clone(&events), Arc::clone(&requests));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (ev, rq) = (Arc::clone(&ev), Arc::clone(&rq));
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (ev, rq) = (Arc::clone(&ev), Arc::clone(&rq));
                    async move {
                        let body = req.into_body().collect().await?.to_bytes();
                        let n = serde_json::from_slice::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["logs"].as_array().map(Vec::len))
                            .unwrap_or(1) as u64;
                        ev.fetch_add(n, Ordering::SeqCst);
                        rq.fetch_add(1, Ordering::SeqCst);
                        let answer = json!({ "accepted": n }).to_string();
                        Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(answer))))
                    }
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Receiver {
            addr,
            events,
            requests,
        })
    }
}
