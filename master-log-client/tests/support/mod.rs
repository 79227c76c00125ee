//! A real HTTP/1.1 server on 127.0.0.1:0 that records requests and answers from a script.
//!
//! It runs on its own thread and runtime, so tests can block or pause their own runtime
//! freely; it shuts down on drop and then fails the test if a handler panicked.

// Each test file uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::{oneshot, watch};

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When it arrived, measured from the server's start.
    pub at: Duration,
    /// The status the server answered with; 0 when it dropped the connection instead.
    pub status: u16,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    /// The `logs` array of a batch request.
    pub fn logs(&self) -> Vec<Value> {
        self.json()["logs"]
            .as_array()
            .expect("a logs array")
            .clone()
    }

    /// The bodies of the events of a batch request.
    pub fn bodies(&self) -> Vec<String> {
        self.logs()
            .iter()
            .map(|l| l["body"].as_str().unwrap().to_owned())
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// `None`: `{"accepted": <number of events in the request>}`.
    pub body: Option<String>,
    pub headers: Vec<(&'static str, String)>,
    pub delay: Duration,
    /// Drop the connection without answering.
    pub close: bool,
    /// Instead of `body`: this many chunks of this many bytes, one per interval.
    pub stream: Option<(usize, u64, Duration)>,
}

impl Reply {
    pub fn ok() -> Self {
        Reply {
            status: 200,
            body: None,
            headers: Vec::new(),
            delay: Duration::ZERO,
            close: false,
            stream: None,
        }
    }

    pub fn status(status: u16) -> Self {
        Reply {
            status,
            body: Some(format!("{{\"detail\":\"status {status}\"}}")),
            ..Reply::ok()
        }
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = Some(body.to_owned());
        self
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Streams `chunks` chunks of `chunk_len` bytes as the body, one every `every`.
    pub fn stream(mut self, chunk_len: usize, chunks: u64, every: Duration) -> Self {
        self.stream = Some((chunk_len, chunks, every));
        self
    }

    pub fn close() -> Self {
        Reply {
            close: true,
            ..Reply::ok()
        }
    }
}

struct State {
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    requests: Mutex<Vec<Recorded>>,
    count: watch::Sender<usize>,
    panicked: AtomicBool,
    start: std::time::Instant,
    /// Sink mode: count events, keep no requests (for benchmarks).
    sink: bool,
    events: AtomicU64,
    /// Bodies larger than this are answered with 413, as a proxy's size limit would.
    max_body: Mutex<Option<usize>>,
}

pub struct Server {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts a server answering `script` in order, then [`Reply::ok`].
    pub fn start(script: Vec<Reply>) -> Server {
        Self::launch(script, false)
    }

    /// Starts a server that only counts events and answers `{"accepted": n}`.
    pub fn sink() -> Server {
        Self::launch(Vec::new(), true)
    }

    /// Starts a server on `addr`, e.g. the address of a server that was dropped, to end an
    /// outage. (The listener sets `SO_REUSEADDR`, so the port's old connections do not
    /// block it.)
    pub fn start_at(addr: SocketAddr, script: Vec<Reply>) -> Server {
        Self::launch_at(addr, script, false)
    }

    fn launch(script: Vec<Reply>, sink: bool) -> Server {
        Self::launch_at(SocketAddr::from(([127, 0, 0, 1], 0)), script, sink)
    }

    fn launch_at(addr: SocketAddr, script: Vec<Reply>, sink: bool) -> Server {
        let (count, _) = watch::channel(0);
        let state = Arc::new(State {
            script: Mutex::new(script.into()),
            default: Mutex::new(Reply::ok()),
            requests: Mutex::new(Vec::new()),
            count,
            panicked: AtomicBool::new(false),
            start: std::time::Instant::now(),
            sink,
            events: AtomicU64::new(0),
            max_body: Mutex::new(None),
        });
        let listener = std::net::TcpListener::bind(addr).unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        let thread_state = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(serve(listener, thread_state, stopped));
        });
        Server {
            addr,
            state,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The answer once the script is used up.
    pub fn set_default(&self, reply: Reply) {
        *self.state.default.lock().unwrap() = reply;
    }

    /// Answers 413 to every request whose body is larger than `bytes`.
    pub fn set_max_body(&self, bytes: usize) {
        *self.state.max_body.lock().unwrap() = Some(bytes);
    }

    /// Event bodies of the requests answered with a 2xx status, in arrival order.
    pub fn stored_bodies(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .flat_map(Recorded::bodies)
            .collect()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until `n` requests arrived.
    pub async fn wait_for(&self, n: usize) -> Vec<Recorded> {
        let mut count = self.state.count.subscribe();
        tokio::time::timeout(Duration::from_secs(10), count.wait_for(|c| *c >= n))
            .await
            .unwrap_or_else(|_| panic!("{n} requests did not arrive in 10 s"))
            .unwrap();
        self.requests()
    }

    /// Waits (up to `limit`) until `n` events arrived; `false` if they did not.
    pub async fn wait_for_events(&self, n: u64, limit: Duration) -> bool {
        let mut count = self.state.count.subscribe();
        let state = Arc::clone(&self.state);
        let arrived = count.wait_for(move |_| state.events.load(Ordering::SeqCst) >= n);
        matches!(tokio::time::timeout(limit, arrived).await, Ok(Ok(_)))
    }

    /// Events received so far (counted in both modes).
    pub fn events_received(&self) -> u64 {
        self.state.events.load(Ordering::SeqCst)
    }

    /// Events in all recorded batch requests, in arrival order.
    pub fn received_bodies(&self) -> Vec<String> {
        self.requests().iter().flat_map(Recorded::bodies).collect()
    }

    /// Stops the server (the start of an outage) and returns the events of every request it
    /// recorded, including one that arrived while it was stopping: read before stopping, a
    /// batch answered in between would be counted nowhere.
    pub fn stop(mut self) -> Vec<String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.received_bodies()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if self.state.panicked.load(Ordering::SeqCst) && !std::thread::panicking() {
            panic!("a server handler panicked");
        }
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stopped: oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = Arc::clone(&state);
                async move {
                    let handled = tokio::spawn(handle(req, Arc::clone(&state))).await;
                    match handled {
                        Ok(r) => r,
                        Err(_) => {
                            state.panicked.store(true, Ordering::SeqCst);
                            Err(std::io::Error::other("handler panicked"))
                        }
                    }
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Counts events in a body this client encoded: each starts with `{"severity":`.
///
/// The sink shares two cores with the client under test, so it skips 8 bytes at a time
/// while they hold no `{` (a SWAR zero-byte test) instead of comparing at every byte.
pub fn count_events(body: &[u8]) -> usize {
    const NEEDLE: &[u8] = b"{\"severity\":";
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let at = |j: usize| usize::from(body[j..].starts_with(NEEDLE));
    let mut count = 0;
    let mut chunks = body.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().unwrap()) ^ (ONES * u64::from(b'{'));
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            count += (offset..offset + 8).map(at).sum::<usize>();
        }
        offset += 8;
    }
    count + (offset..body.len()).map(at).sum::<usize>()
}

/// A response body: whole, or streamed in chunks (the same bytes each time, so the server's
/// memory stays flat however much it sends).
pub enum Body {
    Full(Full<Bytes>),
    Stream {
        chunk: Bytes,
        left: u64,
        every: Duration,
        sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    },
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        use std::task::Poll;
        match self.get_mut() {
            Body::Full(full) => std::pin::Pin::new(full).poll_frame(cx),
            Body::Stream {
                chunk,
                left,
                every,
                sleep,
            } => {
                if *left == 0 {
                    return Poll::Ready(None);
                }
                if !every.is_zero() {
                    let timer = sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(*every)));
                    if timer.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *sleep = None;
                }
                *left -= 1;
                Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk.clone()))))
            }
        }
    }
}

fn full(text: String) -> Body {
    Body::Full(Full::new(Bytes::from(text)))
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Body>, std::io::Error> {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    if state.sink {
        let events = count_events(&body);
        state.events.fetch_add(events as u64, Ordering::SeqCst);
        let delay = state.default.lock().unwrap().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let text = format!("{{\"accepted\":{events}}}");
        return Ok(Response::new(full(text)));
    }
    let events = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["logs"].as_array().map(Vec::len))
        .unwrap_or(1);
    state.events.fetch_add(events as u64, Ordering::SeqCst);
    let too_large = state
        .max_body
        .lock()
        .unwrap()
        .is_some_and(|max| body.len() > max);
    let reply = if too_large {
        Reply::status(413)
    } else {
        state
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| state.default.lock().unwrap().clone())
    };
    let index = {
        let mut requests = state.requests.lock().unwrap();
        requests.push(Recorded {
            method,
            path,
            headers,
            body,
            at: state.start.elapsed(),
            status: if reply.close { 0 } else { reply.status },
        });
        requests.len()
    };
    state.count.send_replace(index);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    if reply.close {
        return Err(std::io::Error::other("scripted close"));
    }
    let text = reply.body.unwrap_or_else(|| {
        format!("{{\"accepted\":{events},\"events\":[{{\"id\":\"event-{index}\"}}]}}")
    });
    let mut response = Response::builder().status(reply.status);
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    let body = match reply.stream {
        Some((len, chunks, every)) => Body::Stream {
            chunk: Bytes::from(vec![b'x'; len]),
            left: chunks,
            every,
            sleep: None,
        },
        None => full(text),
    };
    Ok(response
        .header("content-type", "application/json")
        .body(body)
        .unwrap())
}
