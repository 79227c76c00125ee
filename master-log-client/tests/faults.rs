//! Server faults that used to lose or multiply events: outages, size limits, slow answers.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use master_log_client::{Client, ClientBuilder, Error, Event, FailureKind};
use support::{Reply, Server};

const WAIT: Duration = Duration::from_secs(30);

fn builder(server: &Server) -> ClientBuilder {
    Client::builder()
        .environment(|_| None)
        .api_key("test-key")
        .endpoint(server.url())
        .backpressure(false)
        .flush_interval(Duration::from_secs(60))
}

// The long outages (20 s and more, with default settings) are tested on the worker with a
// paused clock (`worker.rs`); this is the same path through real HTTP, kept short.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_refused_and_failed_requests_loses_nothing() {
    let mut script = vec![Reply::close(); 2];
    script.extend(vec![Reply::status(503); 3]);
    let server = Server::start(script);
    let client = builder(&server).batch_size(50).build().unwrap();
    for i in 0..200 {
        client.log(Event::info(i.to_string())).await.unwrap();
    }
    let report = client.flush(Duration::from_secs(60)).await.unwrap();
    assert_eq!(report.accepted, 200);
    assert_eq!(report.failed_events, 0);
    let expected: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    assert_eq!(server.stored_bodies(), expected);
}

// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_too_large_batch_is_split_and_only_an_oversized_event_is_dropped() {
    let server = Server::start(vec![]);
    server.set_max_body(60_000);
    let client = builder(&server).batch_size(100).build().unwrap();
    for i in 0..300 {
        let body = match i {
            // Fits alone, but not with 99 others.
            42 => "m".repeat(20_000),
            // Does not fit even alone.
            150 => "x".repeat(70_000),
            _ => i.to_string(),
        };
        client.log(Event::info(body)).await.unwrap();
    }
    let Err(Error::Undelivered(report)) = client.flush(WAIT).await else {
        panic!("the oversized event must be reported");
    };
    assert_eq!(report.accepted, 299);
    assert_eq!((report.failed_batches, report.failed_events), (1, 1));
    let failure = &report.failures[0];
    assert_eq!(failure.status, Some(413));
    match failure.kind {
        FailureKind::TooLarge { bytes } => assert!(bytes > 70_000, "{bytes}"),
        other => panic!("{other:?}"),
    }
    assert!(failure.reason.contains("bytes"), "{}", failure.reason);
    let stored = server.stored_bodies();
    assert_eq!(stored.len(), 299);
    assert!(stored.contains(&"m".repeat(20_000)));
    // Order is kept through the splits.
    let numbers: Vec<usize> = stored.iter().filter_map(|b| b.parse().ok()).collect();
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    assert_eq!(client.stats().failed_events, 1);
}

// regression: issue #14
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_a_server_slower_than_the_timeout_stores_each_event_once_or_twice() {
    let server = Server::start(vec![]);
    server.set_default(Reply::ok().delay(Duration::from_secs(1)));
    let client = builder(&server)
        .batch_size(100)
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    for i in 0..300 {
        client.log(Event::info(i.to_string())).await.unwrap();
    }
    let report = client.flush(WAIT).await.unwrap();
    assert_eq!(report.failed_events, 0);
    assert_eq!(report.accepted, 300);
    // The report says the first attempts' fate was unknown, not that they failed.
    assert_eq!(report.unknown_outcome_events, 300);
    let mut copies: HashMap<String, usize> = HashMap::new();
    for body in server.received_bodies() {
        *copies.entry(body).or_default() += 1;
    }
    assert_eq!(copies.len(), 300);
    assert!(copies.values().all(|&n| n == 1 || n == 2), "{copies:?}");
    let total: usize = copies.values().sum();
    assert!(total <= 600, "{total} copies of 300 events");
    // Every attempt at one batch carries the same idempotency key, and event ids repeat.
    let requests = server.requests();
    let mut keys: HashMap<String, usize> = HashMap::new();
    for r in &requests {
        *keys
            .entry(r.header("idempotency-key").unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(
        requests[0].logs()[0]["metadata"]["event_id"],
        requests[1].logs()[0]["metadata"]["event_id"]
    );
}
