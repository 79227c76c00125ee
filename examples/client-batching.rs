//! Sends a burst of logs through the batching client, flushes, and prints what happened.
//!
//! Runs with no setup: when `MASTER_LOG_ENDPOINT` is unset it starts a loopback receiver of
//! its own and says so. Against a real server, set `MASTER_LOG_ENDPOINT` and
//! `MASTER_LOG_API_KEY`.
//!
//! ```sh
//! cargo run -p examples --features client --example client-batching
//! ```

#[path = "support/receiver.rs"]
mod receiver;

use std::time::{Duration, Instant};

use master_log_client::{Client, Event, event};
use serde_json::json;

const EVENTS: u64 = 1_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let builder = Client::builder()
        .batch_size(100)
        .flush_interval(Duration::from_millis(500))
        // Start from a 1 ms/log guess; the client then learns the server's real pace.
        .initial_send_seconds_per_log(0.001);
    let (builder, receiver) = receiver::endpoint_or_loopback(builder).await?;
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
        report.accepted, report.delivered_batches, report.retries, report.failed_batches
    );
    println!(
        "stats: {} requests, queue high-water mark {}, {} dropped",
        stats.requests, stats.queue_high_water, stats.dropped_full
    );
    client.shutdown(Duration::from_secs(5)).await?;
    if let Some(receiver) = receiver {
        println!("receiver got {}", receiver.summary());
    }
    Ok(())
}
