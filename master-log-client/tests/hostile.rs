//! Nothing a log server sends back can hurt the process: huge or endless bodies, absurd
//! counts and waits; and nothing secret leaks through what the client shows.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use master_log_client::{Client, ClientBuilder, Error, Event, FailureKind, Health};
use support::{Reply, Server};

const WAIT: Duration = Duration::from_secs(20);

fn builder(endpoint: &str) -> ClientBuilder {
    Client::builder()
        .environment(|_| None)
        .api_key("test-key")
        .endpoint(endpoint)
        .backpressure(false)
        .flush_interval(Duration::from_secs(60))
}

/// Peak resident set of this process, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_huge_answer_is_read_only_up_to_the_cap() {
    // 512 MiB as fast as loopback carries it.
    let server = Server::start(vec![Reply::ok().stream(1 << 20, 512, Duration::ZERO)]);
    let client = builder(&server.url()).build().unwrap();
    let before = peak_rss();
    client.log(Event::info("x")).await.unwrap();
    let report = client.flush(WAIT).await.unwrap();
    assert_eq!(report.accepted, 1);
    let grown = peak_rss().saturating_sub(before);
    assert!(grown < 64 << 20, "peak RSS grew by {} MiB", grown >> 20);
    assert_eq!(client.stats().protocol_warnings, 1);
    // The connection was not reused: the next batch still goes through.
    client.log(Event::info("y")).await.unwrap();
    assert_eq!(client.flush(WAIT).await.unwrap().accepted, 1);
}

// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_an_endless_slow_answer_is_cut_off_by_the_timeout() {
    // 1 KiB every 50 ms, for hours.
    let server = Server::start(vec![Reply::ok().stream(
        1024,
        1_000_000,
        Duration::from_millis(50),
    )]);
    let client = builder(&server.url())
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let start = Instant::now();
    client.log(Event::info("x")).await.unwrap();
    let report = client.flush(WAIT).await.unwrap();
    // The status was a success, so the batch counts as delivered.
    assert_eq!(report.accepted, 1);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_absurd_accepted_counts_are_clamped_and_counted() {
    let server = Server::start(vec![
        Reply::ok().body("{\"accepted\":1000000}"),
        Reply::ok().body("{\"accepted\":-5}"),
        Reply::ok().body("{\"accepted\":\"lots\"}"),
        Reply::ok().body("{\"accepted\":1.5}"),
    ]);
    let client = builder(&server.url()).batch_size(2).build().unwrap();
    for i in 0..8 {
        client.log(Event::info(i.to_string())).await.unwrap();
    }
    let report = client.flush(WAIT).await.unwrap();
    // 2 (clamped) + 0 (clamped) + 2 + 2 (not counts: the whole batch, as with no count).
    assert_eq!(report.accepted, 6);
    let stats = client.stats();
    assert_eq!((stats.sent, stats.accepted), (8, 6));
    assert_eq!(stats.protocol_warnings, 4);
    let rate = stats.send_seconds_per_log;
    assert!(rate.is_finite() && rate > 0.0 && rate < 1.0, "{rate}");
}

// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_an_absurd_retry_after_does_not_park_the_client() {
    let server = Server::start(vec![
        Reply::status(503).header("retry-after", "315360000"),
        Reply::status(429).header("retry-after", "Fri, 01 Jan 2100 00:00:00 GMT"),
    ]);
    let client = builder(&server.url()).batch_size(1).build().unwrap();
    let start = Instant::now();
    client.log(Event::info("a")).await.unwrap();
    client.log(Event::info("b")).await.unwrap();
    // Capped at 5 minutes, which is past the 60 s budget: both are given up at once.
    let Err(Error::Undelivered(report)) = client.flush(WAIT).await else {
        panic!("expected both batches given up");
    };
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(report.failed_events, 2);
    assert!(
        report
            .failures
            .iter()
            .all(|f| f.kind == FailureKind::RetryBudget)
    );
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// regression: issue #14
// Current-thread runtime: the worker runs on this thread, under this thread's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn issue_14_credentials_in_the_endpoint_never_show() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = Server::start(vec![Reply::status(401), Reply::status(503)]);
    let endpoint = format!("http://ann:hunter2@{}", server.addr());
    let with_secrets = builder(&endpoint)
        .api_key("sekrit-key")
        .batch_size(1)
        .max_retries(1);
    let mut shown = vec![format!("{with_secrets:?}")];
    let client = with_secrets.build().unwrap();
    client.log(Event::info("a")).await.unwrap();
    client.log(Event::info("b")).await.unwrap();
    let err = client.flush(WAIT).await.unwrap_err();
    shown.extend([format!("{err}"), format!("{err:?}"), format!("{client:?}")]);
    // A direct-mode request that fails before an answer: reqwest's error names the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let direct = builder(&format!("http://ann:hunter2@{closed}"))
        .async_mode(false)
        .build()
        .unwrap();
    let err = direct.log(Event::info("c")).await.unwrap_err();
    shown.extend([format!("{err}"), format!("{err:?}"), format!("{direct:?}")]);
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        shown.push(cause.to_string());
        source = cause.source();
    }
    let invalid = builder("ftp://ann:hunter2@example.com")
        .build()
        .unwrap_err();
    shown.extend([format!("{invalid}"), format!("{invalid:?}")]);
    shown.push(String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned());
    for text in &shown {
        assert!(!text.contains("hunter2"), "password shown: {text}");
        assert!(!text.contains("sekrit"), "API key shown: {text}");
    }
    assert!(
        shown.last().unwrap().contains("giving up"),
        "the logs were captured"
    );
    assert!(shown[0].contains("ann:***@"), "{}", shown[0]);
}

// regression: issue #14
#[test]
fn issue_14_plain_http_with_a_key_to_a_remote_host_is_refused() {
    let err = builder("http://logs.example.com:8000")
        .async_mode(false)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidEndpoint { .. }), "{err:?}");
    assert!(
        err.to_string().contains("allow_insecure_http(true)"),
        "{err}"
    );
    let ok = builder("http://logs.example.com:8000")
        .async_mode(false)
        .allow_insecure_http(true)
        .build();
    assert!(ok.is_ok());
    let err = builder("localhost:8000")
        .async_mode(false)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("scheme is missing"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_own_reqwest_client_is_used_with_the_clients_headers() {
    let server = Server::start(vec![]);
    let http = reqwest::Client::builder().build().unwrap();
    let client = builder(&server.url()).http_client(http).build().unwrap();
    client.log(Event::info("via my client")).await.unwrap();
    assert_eq!(client.flush(WAIT).await.unwrap().accepted, 1);
    let r = &server.requests()[0];
    assert_eq!(r.header("authorization"), Some("Bearer test-key"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(
        r.header("user-agent")
            .unwrap()
            .starts_with("master-log-client-rust/")
    );
    assert_eq!(r.header("idempotency-key").map(str::len), Some(32));
}

// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_wrong_key_shows_in_health_at_once() {
    let server = Server::start(vec![]);
    server.set_default(Reply::status(401));
    let client = builder(&server.url()).build().unwrap();
    assert!(client.is_healthy());
    client.log(Event::info("x")).await.unwrap();
    // The first answer sets it, before the flush that waits for that answer returns.
    assert!(client.flush(WAIT).await.is_err());
    assert!(!client.is_healthy());
    assert_eq!(client.health(), Health::Unauthorized { status: 401 });
    server.set_default(Reply::ok());
    client.log(Event::info("y")).await.unwrap();
    let _ = client.flush(WAIT).await;
    assert!(client.is_healthy());
}
