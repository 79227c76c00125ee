//! Requests as a real server sees them: URLs, headers, payloads, and how answers are handled.

mod support;

use std::time::Duration;

use master_log_client::{Client, ClientBuilder, Error, Event, event};
use serde_json::json;
use support::{Reply, Server};

const WAIT: Duration = Duration::from_secs(10);

fn builder(endpoint: &str) -> ClientBuilder {
    Client::builder()
        .environment(|_| None)
        .api_key("test-key")
        .endpoint(endpoint)
        .backpressure(false)
        .flush_interval(Duration::from_secs(60))
}

fn fast_retries(b: ClientBuilder) -> ClientBuilder {
    b.max_retries(5).max_retry_elapsed(Duration::from_secs(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_requests_go_to_the_batch_url_with_headers_from_every_endpoint_form() {
    let server = Server::start(vec![]);
    let forms = ["", "/", "/api/v1", "/api/v1/logs", "/api/v1/logs/batch"];
    for (i, form) in forms.iter().enumerate() {
        let client = builder(&format!("{}{form}", server.url())).build().unwrap();
        client.log(Event::info(format!("form {i}"))).await.unwrap();
        let report = client.flush(WAIT).await.unwrap();
        assert_eq!(report.accepted, 1, "{form}");
    }
    let requests = server.requests();
    assert_eq!(requests.len(), forms.len());
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/api/v1/logs/batch");
        assert_eq!(r.header("authorization"), Some("Bearer test-key"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("accept"), Some("application/json"));
        assert_eq!(
            r.header("user-agent"),
            Some(concat!(
                "master-log-client-rust/",
                env!("CARGO_PKG_VERSION")
            ))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_mode_posts_to_the_single_url_from_every_endpoint_form() {
    let server = Server::start(vec![]);
    for form in ["", "/api/v1", "/api/v1/logs", "/api/v1/logs/batch"] {
        let client = builder(&format!("{}{form}", server.url()))
            .async_mode(false)
            .build()
            .unwrap();
        let receipt = client.log(event!(warn; "hello", "M31")).await.unwrap();
        assert!(!receipt.queued);
        assert_eq!(receipt.status, Some(200));
        assert_eq!(receipt.accepted, Some(1));
        assert!(receipt.event_id.unwrap().starts_with("event-"));
    }
    for r in server.requests() {
        assert_eq!(r.path, "/api/v1/logs");
        assert_eq!(r.header("authorization"), Some("Bearer test-key"));
        let body = r.json();
        assert_eq!(body["severity"], "warn");
        assert_eq!(body["body"], "hello M31");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_mode_failure_keeps_its_status() {
    let server = Server::start(vec![Reply::status(401).body("{\"detail\":\"bad key\"}")]);
    let client = builder(&server.url()).async_mode(false).build().unwrap();
    match client.log(Event::info("x")).await {
        Err(Error::Status { status, body }) => {
            assert_eq!(status, 401);
            assert!(body.contains("bad key"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_mode_connection_failure_is_an_http_error() {
    let port = closed_port();
    let client = builder(&format!("http://127.0.0.1:{port}"))
        .async_mode(false)
        .build()
        .unwrap();
    match client.log(Event::info("x")).await {
        Err(err @ Error::Http(_)) => {
            assert_eq!(err.to_string(), "request to log server failed");
            assert!(std::error::Error::source(&err).is_some());
        }
        other => panic!("{other:?}"),
    }
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_follows_the_original_rules() {
    let server = Server::start(vec![]);
    let client = builder(&server.url()).build().unwrap();
    let created = time::macros::datetime!(2024-05-01 14:00:00.5 +02:00);
    client
        .log(
            Event::warn("  Seeing degraded\nsecond line")
                .tag("seeing, atmosphere")
                .tags(["atmosphere", " dome ", ""])
                .metadata(json!({"fwhm": 3.4, "rust_client": "user value"}))
                .ttl_seconds(120)
                .created_at(created)
                .expires_at("2030-01-01T00:00:00Z"),
        )
        .await
        .unwrap();
    let _ = client.flush(WAIT).await.unwrap();
    let log = &server.requests()[0].logs()[0];
    let keys: Vec<_> = log.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "severity",
            "tags",
            "title",
            "body",
            "metadata",
            "ttl_seconds",
            "expires_at",
            "created_at"
        ]
    );
    assert_eq!(log["severity"], "warn");
    assert_eq!(log["tags"], json!(["atmosphere", "dome", "seeing"]));
    assert_eq!(log["title"], "Seeing degraded");
    assert_eq!(log["body"], "  Seeing degraded\nsecond line");
    assert_eq!(log["metadata"]["fwhm"], 3.4);
    assert_eq!(log["metadata"]["rust_client"], "user value");
    let block = &log["metadata"]["_rust_client"];
    assert_eq!(block["library"], "master-log-client");
    assert_eq!(block["pid"], std::process::id());
    assert_eq!(log["ttl_seconds"], 120);
    assert_eq!(log["created_at"], "2024-05-01T12:00:00.500000Z");
    assert_eq!(log["expires_at"], "2030-01-01T00:00:00Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_without_the_expected_json_counts_the_batch_as_accepted() {
    let server = Server::start(vec![
        Reply::ok().body("not json at all"),
        Reply::ok().body("{\"accepted\":\"many\"}"),
        Reply::ok().body(""),
    ]);
    let client = builder(&server.url()).batch_size(2).build().unwrap();
    for i in 0..6 {
        client.log(Event::info(i.to_string())).await.unwrap();
    }
    let report = client.flush(WAIT).await.unwrap();
    assert_eq!(report.accepted, 6);
    assert_eq!(report.delivered_batches, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthorized_batch_is_reported_once_and_later_batches_go_through() {
    let server = Server::start(vec![Reply::status(401)]);
    let client = fast_retries(builder(&server.url()))
        .batch_size(2)
        .build()
        .unwrap();
    for i in 0..4 {
        client.log(Event::info(i.to_string())).await.unwrap();
    }
    let report = match client.flush(WAIT).await {
        Err(Error::Undelivered(report)) => report,
        other => panic!("{other:?}"),
    };
    assert_eq!(report.accepted, 2);
    assert_eq!(report.failed_batches, 1);
    assert_eq!(report.failed_events, 2);
    assert_eq!(report.failures[0].status, Some(401));
    assert_eq!(report.failures[0].attempts, 1);
    assert_eq!(server.requests().len(), 2, "401 must not be retried");
    assert_eq!(server.received_bodies(), ["0", "1", "2", "3"]);
    let stats = client.stats();
    assert_eq!((stats.failed_batches, stats.failed_events), (1, 2));
    // The failure was reported; the next flush starts clean.
    assert!(client.flush(WAIT).await.unwrap().is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_client_errors_are_not_retried() {
    let server = Server::start(vec![Reply::status(413), Reply::status(422)]);
    let client = fast_retries(builder(&server.url()))
        .batch_size(1)
        .build()
        .unwrap();
    for i in 0..3 {
        client.log(Event::info(i.to_string())).await.unwrap();
    }
    let Err(Error::Undelivered(report)) = client.flush(WAIT).await else {
        panic!("expected undelivered");
    };
    let statuses: Vec<_> = report.failures.iter().map(|f| f.status).collect();
    assert_eq!(statuses, [Some(413), Some(422)]);
    assert_eq!(report.accepted, 1);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_waits_for_retry_after() {
    let server = Server::start(vec![Reply::status(429).header("retry-after", "1")]);
    let client = fast_retries(builder(&server.url())).build().unwrap();
    client.log(Event::info("patient")).await.unwrap();
    let report = client.flush(WAIT).await.unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(report.retries, 1);
    let r = server.requests();
    assert_eq!(r.len(), 2);
    let gap = r[1].at - r[0].at;
    assert!(gap >= Duration::from_millis(950), "{gap:?}");
    assert_eq!(r[0].body, r[1].body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_in_order_without_loss_or_duplicates() {
    let server = Server::start(vec![
        Reply::status(503),
        Reply::status(500),
        Reply::ok(),
        Reply::status(502),
    ]);
    let client = fast_retries(builder(&server.url()))
        .batch_size(3)
        .build()
        .unwrap();
    for i in 0..9 {
        client.log(Event::info(i.to_string())).await.unwrap();
    }
    let report = client.flush(WAIT).await.unwrap();
    assert_eq!(report.accepted, 9);
    assert_eq!(report.retries, 3);
    // Each accepted answer is for a distinct batch, in order.
    let accepted: Vec<_> = server
        .requests()
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(i, 2 | 4 | 5))
        .flat_map(|(_, r)| r.bodies())
        .collect();
    assert_eq!(accepted, ["0", "1", "2", "3", "4", "5", "6", "7", "8"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connections_are_retried() {
    let server = Server::start(vec![Reply::close(), Reply::close()]);
    let client = fast_retries(builder(&server.url())).build().unwrap();
    client.log(Event::info("survivor")).await.unwrap();
    let report = client.flush(WAIT).await.unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(report.retries, 2);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_are_retried() {
    let server = Server::start(vec![Reply::ok().delay(Duration::from_secs(2))]);
    let client = fast_retries(builder(&server.url()))
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    client.log(Event::info("slow")).await.unwrap();
    let report = client.flush(WAIT).await.unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(report.retries, 1);
    // At least once: the timed-out request reached the server too.
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_given_up_and_reported() {
    let port = closed_port();
    let client = builder(&format!("http://127.0.0.1:{port}"))
        .max_retries(2)
        .build()
        .unwrap();
    client.log(Event::info("lost")).await.unwrap();
    let Err(Error::Undelivered(report)) = client.flush(WAIT).await else {
        panic!("expected undelivered");
    };
    assert_eq!(report.failed_events, 1);
    assert_eq!(report.failures[0].attempts, 3);
    assert_eq!(report.failures[0].status, None);
    assert!(
        report.failures[0].reason.contains("out of retries"),
        "{}",
        report.failures[0].reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_never_appears_in_errors_or_debug() {
    let server = Server::start(vec![Reply::status(401)]);
    let client = builder(&server.url())
        .api_key("sekrit-123")
        .build()
        .unwrap();
    client.log(Event::info("x")).await.unwrap();
    let err = client.flush(WAIT).await.unwrap_err();
    for text in [format!("{err}"), format!("{err:?}"), format!("{client:?}")] {
        assert!(!text.contains("sekrit"), "{text}");
    }
}

// The loopback sink's event counter is what the workload bench trusts.
#[test]
fn sink_counts_every_event() {
    let one = br#"{"severity":"info","body":"{\"severity\":"}"#;
    for n in [0, 1, 2, 7, 33] {
        let mut body = b"{\"logs\":[".to_vec();
        for i in 0..n {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(one);
        }
        body.extend_from_slice(b"]}");
        assert_eq!(support::count_events(&body), n);
    }
}
