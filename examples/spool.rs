//! The durable spool: a local server stops mid-run and comes back, and every event arrives.
//!
//! Starts a loopback receiver, logs 300 events while stopping the receiver after the 100th
//! and starting it again on the same port after the 200th, then waits until the receiver
//! has every event. Events that could not be delivered meanwhile wait in a spool folder
//! (a temporary one here) and are replayed once the receiver answers again.
//!
//! ```sh
//! cargo run -p examples --features client --example spool
//! ```

#[path = "support/receiver.rs"]
#[expect(dead_code, reason = "the other examples use the rest of the receiver")]
mod receiver;

use std::time::{Duration, Instant};

use master_log_client::{Client, Event};
use receiver::Receiver;

const EVENTS: usize = 300;
const STOP_AT: usize = 100;
const RESTART_AT: usize = 200;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spool_dir =
        std::env::temp_dir().join(format!("master-log-spool-example-{}", std::process::id()));
    let mut server = Some(Receiver::start().await?);
    let addr = server.as_ref().map(|s| s.addr).ok_or("no receiver")?;
    println!(
        "receiver on http://{addr}, spool folder {}",
        spool_dir.display()
    );

    let client = Client::builder()
        .environment(|_| None)
        .endpoint(format!("http://{addr}"))
        .api_key("example-key")
        .batch_size(20)
        .flush_interval(Duration::from_millis(100))
        .spool_dir(&spool_dir)
        .build()?;

    let started = Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(5));
    let mut seen_before_stop = None;
    for i in 0..EVENTS {
        ticks.tick().await;
        if i == STOP_AT {
            let stopped = server.take().ok_or("no receiver")?;
            println!(
                "[{:>5.2?}] receiver stopped after {}",
                started.elapsed(),
                stopped.summary()
            );
            seen_before_stop = Some(std::mem::take(
                &mut *stopped.seen.lock().unwrap_or_else(|e| e.into_inner()),
            ));
            // Dropping it closes the listener and every connection.
            drop(stopped);
        }
        if i == RESTART_AT {
            let stats = client.stats();
            println!(
                "[{:>5.2?}] restarting the receiver; the spool holds {} events ({} bytes)",
                started.elapsed(),
                stats.spool_pending_events,
                stats.spool_bytes
            );
            server = Some(Receiver::start_at(addr).await?);
        }
        client.log(Event::info(format!("event {i}"))).await?;
    }
    let server = server.ok_or("no receiver")?;

    // Wait (at most 30 s) until the receivers together have every event.
    let before = seen_before_stop.unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (arrived, duplicates) = loop {
        let (arrived, duplicates) = {
            let seen = server.seen.lock().unwrap_or_else(|e| e.into_inner());
            let arrived = seen.bodies.union(&before.bodies).count();
            let both = seen.bodies.intersection(&before.bodies).count() as u64;
            (arrived, seen.duplicates + before.duplicates + both)
        };
        if arrived == EVENTS || Instant::now() >= deadline {
            break (arrived, duplicates);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stats = client.stats();
    println!(
        "[{:>5.2?}] {arrived} of {EVENTS} events arrived, {duplicates} twice; \
         {} went through the spool, {} lost",
        started.elapsed(),
        stats.spool_replayed_events,
        stats.spool_lost_events
    );
    client.shutdown(Duration::from_secs(5)).await?;
    let _ = std::fs::remove_dir_all(&spool_dir);
    if arrived != EVENTS {
        return Err(format!("{} events did not arrive", EVENTS - arrived).into());
    }
    Ok(())
}
