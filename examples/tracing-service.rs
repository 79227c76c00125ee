//! A small service instrumented with `tracing` only, wired to three layers at once: the
//! console (`fmt`), sentinel's JSONL spans, and Master Log for events. `#[instrument]`
//! handlers call a `#[sentinel::trace]` helper, and all of it lands in one trace tree; every
//! Master Log event carries the trace and span ids of the span it was emitted in.
//!
//! Runs with no setup: spans go to a JSONL file in the temp directory, and when
//! `MASTER_LOG_ENDPOINT` is unset the example starts a loopback Master Log receiver of its own
//! and says so. Against a real server, set `MASTER_LOG_ENDPOINT` and `MASTER_LOG_API_KEY`.
//! `RUST_LOG` filters the console and Master Log (default `info`).
//!
//! ```sh
//! cargo run -p examples --features client --example tracing-service
//! ```

#[path = "support/receiver.rs"]
mod receiver;

use std::time::Duration;

use master_log_client::Client;
use master_log_client::layer::MasterLogLayer;
use sentinel::layer::SentinelLayer;
use sentinel::{AsyncLogger, SentinelConfig};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Debug)]
struct OutOfStock(u32);

impl std::fmt::Display for OutOfStock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "item {} is out of stock", self.0)
    }
}

impl std::error::Error for OutOfStock {}

/// A request handler, instrumented the usual `tracing` way.
#[tracing::instrument(err, fields(label = "api"))]
async fn handle_order(order: u32) -> Result<u32, OutOfStock> {
    let price = price(order);
    tokio::time::sleep(Duration::from_millis(20)).await; // idle: not in cpu_time_ms
    if order % 4 == 3 {
        return Err(OutOfStock(order));
    }
    tracing::info!(order, price, "order accepted");
    Ok(price)
}

/// A helper traced with sentinel's attribute: a child of the `handle_order` span.
#[sentinel::trace]
fn price(order: u32) -> u32 {
    if order > 5 {
        tracing::warn!(order, "large order, checking stock twice");
    }
    order * 12
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spans = std::env::temp_dir().join("sentinel-tracing-service.jsonl");
    let _ = std::fs::remove_file(&spans);
    sentinel::set_default_logger(AsyncLogger::new(SentinelConfig::new(&spans))?);

    let builder = Client::builder().flush_interval(Duration::from_millis(200));
    let (builder, receiver) = receiver::endpoint_or_loopback(builder).await?;
    let client = builder.build()?;

    // The setup this example is about.
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(filter()))
        .with(SentinelLayer::new())
        .with(
            MasterLogLayer::new(client.clone())
                .trace_ids(sentinel::layer::trace_ids)
                .with_filter(filter()),
        )
        .init();

    let mut tasks = Vec::new();
    for order in 1..=8 {
        let span = tracing::info_span!("request", order);
        tasks.push(tokio::spawn(handle_order(order).instrument(span)));
    }
    for task in tasks {
        let _ = task.await?;
    }

    let report = client.shutdown(Duration::from_secs(5)).await?;
    sentinel::default_logger()
        .shutdown_timeout(Duration::from_secs(5))
        .await;
    let text = std::fs::read_to_string(&spans)?;
    println!(
        "sentinel wrote {} span records to {}",
        text.lines().count(),
        spans.display()
    );
    if let Some(line) = text.lines().find(|l| l.contains("\"status\":\"error\"")) {
        println!("  a failed span: {line}");
    }
    println!("Master Log accepted {} events", report.accepted);
    if let Some(receiver) = receiver {
        println!("  the loopback receiver got {}", receiver.summary());
    }
    Ok(())
}
