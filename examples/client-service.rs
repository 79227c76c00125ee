//! How a service's request handlers should log: many handlers share one client, each
//! `log(...).await` waits its turn in the client-wide pace (and for room in the queue, up to
//! `queue_timeout`), and a logging hiccup never fails the request.
//!
//! 32 concurrent "connections" each handle requests for a second, as a tokio HTTP service's
//! handler tasks would. Runs with no setup: when `MASTER_LOG_ENDPOINT` is unset it starts a
//! loopback receiver of its own and says so.
//!
//! ```sh
//! cargo run -p examples --features client --example client-service
//! ```

#[path = "support/receiver.rs"]
mod receiver;

use std::time::{Duration, Instant};

use master_log_client::{Client, Event};

const CONNECTIONS: usize = 32;
const RUN_FOR: Duration = Duration::from_secs(1);

/// One request. Its answer never depends on whether the log line got through: no `?` on
/// `log`. A failure to log is already counted in `client.stats()` and shows in
/// `client.health()`, so the handler only notes it at debug level.
async fn handle_request(client: &Client, connection: usize, request: u64) -> u64 {
    let answer = request * 2;
    let event = Event::info(format!(
        "request {request} on connection {connection} answered"
    ))
    .tags(["http", "request"]);
    if let Err(err) = client.log(event).await {
        eprintln!("debug: log line for request {request} not queued: {err}");
    }
    answer
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (builder, receiver) = receiver::endpoint_or_loopback(Client::builder()).await?;
    // Defaults: backpressure on, `log` waits for room (up to 5 s) instead of dropping.
    let client = builder.build()?;

    let started = Instant::now();
    let connections: Vec<_> = (0..CONNECTIONS)
        .map(|connection| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut served = 0u64;
                while started.elapsed() < RUN_FOR {
                    handle_request(&client, connection, served).await;
                    served += 1;
                }
                served
            })
        })
        .collect();
    let mut served = 0;
    for c in connections {
        served += c.await?;
    }
    let elapsed = started.elapsed();

    // Health is known at once, not only at shutdown: a wrong key shows here.
    println!("health after the run: {:?}", client.health());
    let stats = client.stats();
    println!(
        "{CONNECTIONS} connections served {served} requests in {elapsed:.2?} ({:.0} logs/s, \
         paced at {:.3} ms/log for the whole client)",
        served as f64 / elapsed.as_secs_f64(),
        stats.send_seconds_per_log * 1e3
    );
    println!(
        "queue high-water mark {}, {} refused as full",
        stats.queue_high_water, stats.dropped_full
    );
    let report = client.shutdown(Duration::from_secs(10)).await?;
    println!(
        "shutdown: {} accepted in {} batches",
        report.accepted, report.delivered_batches
    );
    if let Some(receiver) = receiver {
        println!("receiver got {}", receiver.summary());
    }
    Ok(())
}
