//! A small HTTP service with traced async handlers, driven by its own load.
//!
//! Run with `cargo run -p examples --example web-service`.
//! It serves `GET /orders/{id}` on a loopback port with plain hyper, sends
//! itself a few thousand requests over keep-alive connections, writes
//! `target/web-service.jsonl` (recreated on each run), prints where, and
//! shows the file with `sentinel tail --tree` (the first traces) and
//! `sentinel stats`, run through cargo as a new user would.
//!
//! What to look for in the output:
//! - each request is a trace: `handle_request` (its route and method as
//!   constant tags, the order id as a recorded argument) with
//!   `authenticate` and `load_order` under it;
//! - `request_id` is a per-request tag scope, so every span of a request
//!   carries it; `user_id` is learned half-way, after authentication, and
//!   recorded on the request's own span with `sentinel::record`;
//! - every 7th request has no token: `authenticate` fails with a boxed
//!   error, recorded as `Unauthorized` (the error's own name);
//! - orders divisible by 50 do not exist: `load_order` fails with
//!   `NotFound`, and so does its caller, which returns it boxed.

use std::convert::Infallible;
use std::error::Error;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sentinel::tags::TagsFutureExt;
use sentinel::{AsyncLogger, SentinelConfig, Tags, trace};

/// Requests the load generator sends, over `CONNECTIONS` connections.
const REQUESTS: u64 = 4_000;
const CONNECTIONS: u64 = 8;

type BoxError = Box<dyn Error + Send + Sync>;

#[derive(Debug)]
struct Unauthorized;

impl fmt::Display for Unauthorized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("missing or bad bearer token")
    }
}

impl Error for Unauthorized {}

#[derive(Debug)]
struct NotFound(u64);

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no order {}", self.0)
    }
}

impl Error for NotFound {}

struct Order {
    id: u64,
    items: u32,
    total_cents: u64,
}

/// Checks the bearer token; a boxed error on failure, as many auth layers do.
#[trace]
async fn authenticate(token: Option<&str>) -> Result<u64, BoxError> {
    tokio::task::yield_now().await; // a session-store lookup, say
    match token.and_then(|t| t.strip_prefix("user-")) {
        Some(id) => Ok(id.parse()?),
        None => Err(Box::new(Unauthorized)),
    }
}

/// "The database": some work and a yield; orders divisible by 50 are missing.
#[trace(tags(table = "orders"), args(order_id))]
async fn load_order(order_id: u64) -> Result<Order, NotFound> {
    tokio::task::yield_now().await;
    if order_id.is_multiple_of(50) {
        return Err(NotFound(order_id));
    }
    let items = (order_id % 5 + 1) as u32;
    let total_cents = std::hint::black_box((0..200 * u64::from(items)).sum::<u64>()) % 10_000;
    Ok(Order {
        id: order_id,
        items,
        total_cents,
    })
}

/// The handler: constant tags for the route, the order id as an argument,
/// and the user id recorded once authentication has told us who it is.
#[trace(tags(route = "/orders/{id}", method = "GET"), args(order_id))]
async fn handle_request(order_id: u64, token: Option<String>) -> Result<Order, BoxError> {
    let user_id = authenticate(token.as_deref()).await?;
    sentinel::record("user_id", user_id);
    let order = load_order(order_id).await?;
    sentinel::record("items", order.items);
    Ok(order)
}

/// Routing and HTTP: outside the traced code, like a framework's.
async fn serve(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let order_id = req
        .uri()
        .path()
        .strip_prefix("/orders/")
        .and_then(|id| id.parse::<u64>().ok());
    let Some(order_id) = order_id else {
        return Ok(reply(StatusCode::NOT_FOUND, "no such route".into()));
    };
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    // A per-request tag scope: every span of this request carries it.
    let handled = handle_request(order_id, token)
        .with_tags(Tags::new().with("request_id", request_id))
        .await;
    Ok(match handled {
        Ok(o) => reply(
            StatusCode::OK,
            format!(
                "{{\"id\":{},\"items\":{},\"total_cents\":{}}}",
                o.id, o.items, o.total_cents
            ),
        ),
        Err(e) if e.is::<Unauthorized>() => reply(StatusCode::UNAUTHORIZED, e.to_string()),
        Err(e) => reply(StatusCode::NOT_FOUND, e.to_string()),
    })
}

fn reply(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

/// Sends `count` requests, one after another, on one keep-alive connection;
/// returns how many got each status (200, 401, 404).
async fn client(addr: std::net::SocketAddr, first: u64, count: u64) -> Result<[u64; 3], BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut seen = [0u64; 3];
    for n in first..first + count {
        let mut req = Request::get(format!("/orders/{}", 1 + n % 500))
            .header("host", "localhost")
            .header("x-request-id", format!("req-{n}"));
        if n % 7 != 3 {
            req = req.header("authorization", format!("Bearer user-{}", 100 + n % 13));
        }
        let response = sender
            .send_request(req.body(Empty::<Bytes>::new())?)
            .await?;
        let status = response.status();
        response.into_body().collect().await?;
        match status {
            StatusCode::OK => seen[0] += 1,
            StatusCode::UNAUTHORIZED => seen[1] += 1,
            _ => seen[2] += 1,
        }
    }
    Ok(seen)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), BoxError> {
    // Beside the build output, wherever CARGO_TARGET_DIR puts it.
    let target = std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into());
    let path = Path::new(&target).join("web-service.jsonl");
    let _ = std::fs::remove_file(&path);
    let logger = AsyncLogger::new(SentinelConfig::new(&path))?;
    // `#[trace]` without `logger = ...` writes to the default logger.
    sentinel::set_default_logger(logger.clone());

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let connections = Arc::new(AtomicU64::new(0));
    let accepted = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(
                http1::Builder::new().serve_connection(TokioIo::new(stream), service_fn(serve)),
            );
        }
    });
    println!(
        "serving http://{addr}/orders/{{id}}; sending {REQUESTS} requests over {CONNECTIONS} connections"
    );

    let started = Instant::now();
    let per = REQUESTS / CONNECTIONS;
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|c| tokio::spawn(client(addr, c * per, per)))
        .collect();
    let mut seen = [0u64; 3];
    for c in clients {
        let s = c.await??;
        for (total, n) in seen.iter_mut().zip(s) {
            *total += n;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{} requests in {:.0} ms ({:.0}/s): {} ok, {} unauthorized, {} not found",
        seen.iter().sum::<u64>(),
        elapsed.as_secs_f64() * 1e3,
        REQUESTS as f64 / elapsed.as_secs_f64(),
        seen[0],
        seen[1],
        seen[2],
    );

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
    println!(
        "$ cargo run -q -p sentinel -- tail --tree --no-color {} | head -16",
        path.display()
    );
    print_head(&run_cli("tail --tree --no-color", &path)?, 16);
    println!("\n$ cargo run -q -p sentinel -- stats {}", path.display());
    print!("{}", run_cli("stats", &path)?);
    Ok(())
}

/// Runs the `sentinel` binary (`cargo run -p sentinel -- ARGS PATH`) and
/// returns what it printed.
fn run_cli(args: &str, path: &Path) -> Result<String, BoxError> {
    // `cargo run` tells the program which cargo started it.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["run", "--quiet", "--locked", "-p", "sentinel", "--"])
        .args(args.split(' '))
        .arg(path)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("sentinel {args} failed: {}", output.status).into());
    }
    Ok(String::from_utf8(output.stdout)?)
}

fn print_head(text: &str, lines: usize) {
    for line in text.lines().take(lines) {
        println!("{line}");
    }
    let total = text.lines().count();
    if total > lines {
        println!("... ({} more lines)", total - lines);
    }
}
