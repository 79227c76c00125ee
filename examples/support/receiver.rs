//! A minimal Master Log stand-in for the examples that need a server: binds
//! 127.0.0.1:0, counts events and answers `{"accepted": n}`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use master_log_client::ClientBuilder;
use serde_json::json;
use tokio::sync::watch;

/// A minimal Master Log stand-in: counts events and answers `{"accepted": n}`.
pub(crate) struct Receiver {
    pub(crate) addr: SocketAddr,
    pub(crate) events: Arc<AtomicU64>,
    pub(crate) requests: Arc<AtomicU64>,
    /// Distinct event bodies seen, and how many arrived more than once.
    pub(crate) seen: Arc<Mutex<Seen>>,
    /// Tells the listener and every connection to close.
    stop: watch::Sender<bool>,
}

/// What a [`Receiver`] has seen, by event body.
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) bodies: HashSet<String>,
    pub(crate) duplicates: u64,
}

impl Receiver {
    pub(crate) async fn start() -> std::io::Result<Receiver> {
        Self::start_at(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Listens on `addr`, e.g. the address of a receiver that was stopped.
    pub(crate) async fn start_at(addr: SocketAddr) -> std::io::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let events = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (stop, stopped) = watch::channel(false);
        let (ev, rq, sn) = (
            Arc::clone(&events),
            Arc::clone(&requests),
            Arc::clone(&seen),
        );
        let mut accept_stopped = stopped.clone();
        tokio::spawn(async move {
            loop {
                let stream = tokio::select! {
                    _ = accept_stopped.changed() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((stream, _)) => stream,
                        Err(_) => return,
                    },
                };
                let (ev, rq, sn) = (Arc::clone(&ev), Arc::clone(&rq), Arc::clone(&sn));
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let (ev, rq, sn) = (Arc::clone(&ev), Arc::clone(&rq), Arc::clone(&sn));
                    async move {
                        let body = req.into_body().collect().await?.to_bytes();
                        let logs = serde_json::from_slice::<serde_json::Value>(&body)
                            .ok()
                            .and_then(|v| v["logs"].as_array().cloned())
                            .unwrap_or_default();
                        let n = logs.len().max(1) as u64;
                        {
                            let mut seen = sn.lock().unwrap_or_else(|e| e.into_inner());
                            for log in &logs {
                                let body = log["body"].as_str().unwrap_or_default().to_owned();
                                if !seen.bodies.insert(body) {
                                    seen.duplicates += 1;
                                }
                            }
                        }
                        ev.fetch_add(n, Ordering::SeqCst);
                        rq.fetch_add(1, Ordering::SeqCst);
                        let answer = json!({ "accepted": n }).to_string();
                        Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(answer))))
                    }
                });
                let mut conn_stopped = stopped.clone();
                tokio::spawn(async move {
                    let conn =
                        http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = conn => {}
                        _ = conn_stopped.changed() => {}
                    }
                });
            }
        });
        Ok(Receiver {
            addr,
            events,
            requests,
            seen,
            stop,
        })
    }

    /// `"N events (D distinct bodies) in R requests"`.
    pub(crate) fn summary(&self) -> String {
        let distinct = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bodies
            .len();
        format!(
            "{} events ({distinct} distinct bodies) in {} requests",
            self.events.load(Ordering::SeqCst),
            self.requests.load(Ordering::SeqCst)
        )
    }
}

impl Drop for Receiver {
    /// Stops listening and closes every open connection, as a crashed server would.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
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
