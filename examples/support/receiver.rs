//! A minimal Master Log stand-in for the examples that need a server: binds
//! 127.0.0.1:0, counts events and answers `{"accepted": n}`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use master_log_client::ClientBuilder;
use serde_json::json;

/// A minimal Master Log stand-in: counts events and answers `{"accepted": n}`.
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    pub(crate) events: Arc<AtomicU64>,
    pub(crate) requests: Arc<AtomicU64>,
}

impl Receiver {
    pub(crate) async fn start() -> std::io::Result<Receiver> {
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

/// Points `builder` at `MASTER_LOG_ENDPOINT` when it is set; otherwise starts
/// a loopback receiver, says so, and points the builder at it.
pub(crate) async fn endpoint_or_loopback(
    builder: ClientBuilder,
) -> std::io::Result<(ClientBuilder, Option<Receiver>)> {
    if let Ok(endpoint) = std::env::var("MASTER_LOG_ENDPOINT")
        && !endpoint.trim().is_empty()
    {
        println!("sending to {endpoint}");
        return Ok((builder, None));
    }
    let receiver = Receiver::start().await?;
    println!(
        "MASTER_LOG_ENDPOINT is unset: started a loopback receiver at http://{}",
        receiver.addr
    );
    let builder = builder
        .endpoint(format!("http://{}", receiver.addr))
        .api_key("example-key");
    Ok((builder, Some(receiver)))
}
