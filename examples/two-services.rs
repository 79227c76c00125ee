//! Two services, two log files, one trace: W3C trace context over HTTP.
//!
//! Run with `cargo run -p examples --example two-services`. In one process
//! (for a run with no setup) it starts two services that share nothing but
//! a loopback HTTP connection, each with its own logger and file:
//!
//! - `pricing`, a hyper server answering `GET /price/{order}`; its handler
//!   runs in the context the request's `traceparent` header carries
//!   (`sentinel::http::incoming_context`);
//! - `shop`, whose traced `checkout` calls `pricing` with hyper's client and
//!   puts its current span into the request's headers
//!   (`sentinel::http::inject`).
//!
//! It writes `target/two-services/shop.jsonl` and `pricing.jsonl`
//! (recreated on each run), checks that each checkout is one trace across
//! both files, and shows them with `sentinel tail --tree` over both files,
//! run through cargo as a new user would: each tree has `shop`'s spans and,
//! under `fetch_price`, `pricing`'s.

use std::convert::Infallible;
use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sentinel::context::FutureExt;
use sentinel::{AsyncLogger, SentinelConfig, trace};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

type BoxError = Box<dyn Error + Send + Sync>;

// === the pricing service ===

/// Answers one request; a child of the caller's `fetch_price` span.
#[trace(logger = logger)]
async fn price(path: String, logger: AsyncLogger) -> Result<u64, BoxError> {
    let order: u64 = path.trim_start_matches("/price/").parse()?;
    let base = lookup_base_price(order, &logger);
    tokio::task::yield_now().await; // a database round trip, say
    Ok(base + order * 250)
}

#[trace(logger = logger)]
fn lookup_base_price(order: u64, logger: &AsyncLogger) -> u64 {
    let _ = logger;
    1_000 + order % 3
}

/// Serves `GET /price/{order}` on `listener` until the process ends.
async fn serve_pricing(listener: TcpListener, logger: AsyncLogger) {
    while let Ok((stream, _)) = listener.accept().await {
        let logger = logger.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                // The request's trace context, taken before the handler owns it.
                let context = sentinel::http::incoming_context(request.headers());
                let handler = price(request.uri().path().to_owned(), logger.clone());
                async move {
                    let body = match handler.with_context(context).await {
                        Ok(cents) => cents.to_string(),
                        Err(e) => format!("error: {e}"),
                    };
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

// === the shop service ===

#[trace(logger = logger, label = "checkout")]
async fn checkout(order: u64, pricing: SocketAddr, logger: &AsyncLogger) -> Result<u64, BoxError> {
    let cents = fetch_price(order, pricing, logger).await?;
    Ok(cents)
}

/// Calls the pricing service with this span's `traceparent`.
#[trace(logger = logger)]
async fn fetch_price(
    order: u64,
    pricing: SocketAddr,
    logger: &AsyncLogger,
) -> Result<u64, BoxError> {
    let _ = logger;
    let stream = TcpStream::connect(pricing).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = Request::get(format!("/price/{order}"))
        .header(hyper::header::HOST, pricing.to_string())
        .body(Empty::<Bytes>::new())?;
    sentinel::http::inject(request.headers_mut());
    let response = sender.send_request(request).await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(std::str::from_utf8(&body)?.parse()?)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
    let dir = Path::new(&target).join("two-services");
    std::fs::create_dir_all(&dir)?;
    let shop_path = dir.join("shop.jsonl");
    let pricing_path = dir.join("pricing.jsonl");
    for path in [&shop_path, &pricing_path] {
        let _ = std::fs::remove_file(path);
    }
    let shop = AsyncLogger::new(SentinelConfig::new(&shop_path))?;
    let pricing = AsyncLogger::new(SentinelConfig::new(&pricing_path))?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve_pricing(listener, pricing.clone()));

    for order in 1..=2 {
        let cents = checkout(order, addr, &shop).await?;
        println!("order {order}: {cents} cents");
    }

    // Each service's records reach its own file.
    assert!(shop.shutdown().await, "shop's logger did not flush");
    assert!(pricing.shutdown().await, "pricing's logger did not flush");

    let traces = one_trace_per_checkout(&shop_path, &pricing_path)?;
    println!(
        "\n{} checkouts, each one trace across both files: {}\n",
        traces.len(),
        traces.join(", ")
    );

    // `tail --tree` reads its inputs one after the other and draws a trace
    // when its root arrives, so the called service's file goes first: its
    // spans are then waiting when shop's root closes the tree.
    let files = [pricing_path, shop_path];
    println!(
        "$ cargo run -q -p sentinel -- tail --tree {}",
        files.each_ref().map(|p| p.display().to_string()).join(" ")
    );
    run_cli(&["tail", "--tree"], &files)?;
    Ok(())
}

/// Checks that every `pricing` span belongs to a `shop` trace, under the
/// span that called it, and returns the trace ids.
fn one_trace_per_checkout(shop: &Path, pricing: &Path) -> Result<Vec<String>, BoxError> {
    let read = |path: &Path| -> Result<Vec<Value>, BoxError> {
        let text = std::fs::read_to_string(path)?;
        Ok(text
            .lines()
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?)
    };
    let (shop, pricing) = (read(shop)?, read(pricing)?);
    let mut traces = Vec::new();
    for handler in pricing.iter().filter(|r| r["function"] == "price") {
        let caller = shop
            .iter()
            .find(|r| r["span_id"] == handler["parent_span_id"])
            .ok_or("a pricing span whose parent is not in shop's file")?;
        if caller["function"] != "fetch_price" || caller["trace_id"] != handler["trace_id"] {
            return Err(format!("{handler} is not under fetch_price's trace: {caller}").into());
        }
        traces.push(handler["trace_id"].as_str().unwrap_or_default().to_owned());
    }
    if traces.len() != 2 {
        return Err(format!("expected 2 traces across the files, found {}", traces.len()).into());
    }
    Ok(traces)
}

/// Runs the `sentinel` binary (`cargo run -p sentinel -- ARGS FILES`) and
/// lets it print to this process's stdout.
fn run_cli(args: &[&str], files: &[PathBuf]) -> Result<(), BoxError> {
    // `cargo run` tells the program which cargo started it.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = std::process::Command::new(cargo)
        .args(["run", "--quiet", "--locked", "-p", "sentinel", "--"])
        .args(args)
        .args(files)
        .status()?;
    if !status.success() {
        return Err(format!("sentinel {} failed: {status}", args.join(" ")).into());
    }
    Ok(())
}
