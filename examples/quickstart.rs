//! Quickstart: trace a small async service, then read the traces back.
//!
//! Run with `cargo run -p examples --example quickstart`. It writes
//! `target/quickstart.jsonl` (recreated on each run), prints where, and shows
//! the file with `sentinel tail --tree` and `sentinel stats`, run through
//! cargo as a new user would.

use std::error::Error;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use sentinel::context::FutureExt;
use sentinel::{AsyncLogger, SentinelConfig, Tags, TimeBlock, trace};

#[derive(Debug)]
enum CheckoutError {
    Invalid(u64),
    CardDeclined { order: u64 },
}

impl fmt::Display for CheckoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckoutError::Invalid(order) => write!(f, "order {order} has no items"),
            CheckoutError::CardDeclined { order } => write!(f, "card declined for order {order}"),
        }
    }
}

impl Error for CheckoutError {}

/// A sync step: validation.
#[trace]
fn validate(order: u64) -> Result<(), CheckoutError> {
    if order == 0 {
        return Err(CheckoutError::Invalid(order));
    }
    Ok(())
}

/// An async step that waits on "the network"; slower than 5 ms is flagged.
#[trace(slow_ms = 5)]
async fn fetch_price(order: u64) -> std::io::Result<u64> {
    tokio::time::sleep(Duration::from_millis(2 + order % 3 * 3)).await;
    Ok(1_000 + order * 250)
}

/// An async step with a timed block inside; order 3's card is declined.
#[trace]
async fn charge(order: u64, amount: u64) -> Result<u64, CheckoutError> {
    {
        let _ledger = TimeBlock::new("ledger_write");
        std::hint::black_box((0..20_000u64).sum::<u64>());
    }
    tokio::task::yield_now().await;
    if order == 3 {
        return Err(CheckoutError::CardDeclined { order });
    }
    Ok(amount)
}

#[trace(label = "checkout")]
async fn checkout(order: u64) -> Result<u64, CheckoutError> {
    validate(order)?;
    let price = fetch_price(order)
        .await
        .map_err(|_| CheckoutError::Invalid(order))?;
    charge(order, price).await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    // Beside the build output, wherever CARGO_TARGET_DIR puts it.
    let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
    let path = Path::new(&target).join("quickstart.jsonl");
    let _ = std::fs::remove_file(&path);
    let logger = AsyncLogger::new(SentinelConfig::new(&path))?;
    // `#[trace]` without `logger = ...` writes to the default logger.
    sentinel::set_default_logger(logger.clone());

    // Each request runs in its own task; `in_current_context` carries the
    // request's tags into it.
    let mut tasks = Vec::new();
    for order in 1..=4 {
        let _request = Tags::new()
            .with("request_id", format!("req-{order}"))
            .with("order", order)
            .enter();
        tasks.push(tokio::spawn(checkout(order).in_current_context()));
    }
    for (order, task) in (1..).zip(tasks) {
        match task.await? {
            Ok(total) => println!("order {order}: charged {total}"),
            Err(e) => println!("order {order}: failed: {e}"),
        }
    }

    // Everything accepted so far reaches the file before this returns.
    assert!(logger.flush().await, "flush failed");
    let stats = logger.stats();
    println!(
        "\nwrote {} records to {} ({} dropped)\n",
        stats.written,
        path.display(),
        stats.dropped()
    );

    logger.shutdown().await;

    // The CLI is its own binary: run it as a new user would, through cargo.
    for command in ["tail --tree", "stats"] {
        println!("$ cargo run -q -p sentinel -- {command} {}", path.display());
        run_cli(command, &path)?;
        println!();
    }
    Ok(())
}

/// Runs the `sentinel` binary (`cargo run -p sentinel -- ARGS PATH`) and
/// lets it print to this process's stdout.
fn run_cli(args: &str, path: &Path) -> Result<(), Box<dyn Error>> {
    // `cargo run` tells the program which cargo started it.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["run", "--quiet", "--locked", "-p", "sentinel", "--"])
        .args(args.split(' '))
        .arg(path)
        .status()?;
    if !status.success() {
        return Err(format!("sentinel {args} failed: {status}").into());
    }
    Ok(())
}
