//! Batching, flushing, pacing and queue policies against a real server, in real time.

mod support;

use std::time::{Duration, Instant};

use master_log_client::{Client, ClientBuilder, Error, Event, FlushReport, TryLogError};
use support::{Reply, Server};

const WAIT: Duration = Duration::from_secs(10);

fn builder(server: &Server) -> ClientBuilder {
    Client::builder()
        .environment(|_| None)
        .api_key("test-key")
        .endpoint(server.url())
        .backpressure(false)
        .flush_interval(Duration::from_secs(60))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_when_batch_size_is_reached() {
    let server = Server::start(vec![]);
    let client = builder(&server).batch_size(5).build().unwrap();
    for i in 0..10 {
        client.log(Event::info(i.to_string())).await.unwrap();
    }
    // The flush interval is a minute: only the size rule can send these.
    let requests = server.wait_for(2).await;
    assert_eq!(requests[0].bodies(), ["0", "1", "2", "3", "4"]);
    assert_eq!(requests[1].bodies(), ["5", "6", "7", "8", "9"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_a_partial_batch_after_the_flush_interval() {
    let server = Server::start(vec![]);
    let client = builder(&server)
        .flush_interval(Duration::from_millis(300))
        .build()
        .unwrap();
    let logged = Instant::now();
    client.log(Event::info("alone")).await.unwrap();
    let requests = server.wait_for(1).await;
    let waited = logged.elapsed();
    assert_eq!(requests[0].bodies(), ["alone"]);
    assert!(waited >= Duration::from_millis(290), "{waited:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_reports_every_batch_and_does_not_wait_for_the_interval() {
    let server = Server::start(vec![]);
    let client = builder(&server).batch_size(10).build().unwrap();
    for i in 0..35 {
        client.log(Event::info(i.to_string())).await.unwrap();
    }
    let started = Instant::now();
    let report = client.flush(WAIT).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(report.accepted, 35);
    assert_eq!(report.sent, 35);
    assert_eq!(report.delivered_batches, 4);
    assert_eq!(report.last_status, Some(200));
    let expected: Vec<String> = (0..35).map(|i| i.to_string()).collect();
    assert_eq!(server.received_bodies(), expected);
    // Nothing new: an empty report, at once.
    assert_eq!(client.flush(WAIT).await.unwrap(), FlushReport::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_request_interval_spaces_requests() {
    let server = Server::start(vec![]);
    let client = builder(&server)
        .batch_size(1)
        .min_request_interval(Duration::from_millis(300))
        .build()
        .unwrap();
    for i in 0..3 {
        client.log(Event::info(i.to_string())).await.unwrap();
    }
    let _ = client.flush(WAIT).await.unwrap();
    let r = server.requests();
    for pair in r.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(280), "{gap:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_when_full_refuses_and_counts() {
    let server = Server::start(vec![]);
    server.set_default(Reply::ok().delay(Duration::from_secs(1)));
    let client = builder(&server)
        .batch_size(1)
        .max_queue_size(3)
        .drop_when_full(true)
        .build()
        .unwrap();
    let mut refused = 0u64;
    let started = Instant::now();
    for i in 0..50 {
        if let Err(e) = client.try_log(Event::info(i.to_string())) {
            assert!(matches!(e, TryLogError::Full(_)), "{e:?}");
            refused += 1;
        }
    }
    match client.log(Event::info("one more")).await {
        Err(Error::QueueFull) => refused += 1,
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "refusal must not wait"
    );
    assert!(refused >= 40, "{refused}");
    let stats = client.stats();
    assert_eq!(stats.dropped_full, refused);
    assert_eq!(stats.queue_high_water, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_without_drop_waits_then_times_out() {
    let server = Server::start(vec![]);
    server.set_default(Reply::ok().delay(Duration::from_secs(3)));
    let client = builder(&server)
        .batch_size(1)
        .max_queue_size(1)
        .drop_when_full(false)
        .queue_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let mut last = Ok(Default::default());
    let mut waited = Duration::ZERO;
    for i in 0..10 {
        let started = Instant::now();
        last = client.log(Event::info(i.to_string())).await;
        waited = started.elapsed();
        if last.is_err() {
            break;
        }
    }
    assert!(matches!(last, Err(Error::QueueFull)), "{last:?}");
    assert!(waited >= Duration::from_millis(190), "{waited:?}");
    assert_eq!(client.stats().dropped_full, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_without_drop_waits_for_space() {
    let server = Server::start(vec![]);
    server.set_default(Reply::ok().delay(Duration::from_millis(50)));
    let client = builder(&server)
        .batch_size(1)
        .max_queue_size(1)
        .drop_when_full(false)
        .queue_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for i in 0..8 {
        client.log(Event::info(i.to_string())).await.unwrap();
    }
    let report = client.flush(WAIT).await.unwrap();
    assert_eq!(report.accepted, 8);
    assert_eq!(client.stats().dropped_full, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_converges_to_the_servers_observed_rate() {
    // 20 ms per batch of 100: about 0.2 ms per log, 5000 logs/s.
    let server = Server::start(vec![]);
    server.set_default(Reply::ok().delay(Duration::from_millis(20)));
    let client = builder(&server)
        .backpressure(true)
        .batch_size(100)
        .initial_send_seconds_per_log(0.001)
        .flush_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    let start = Instant::now();
    let mut marks = Vec::new();
    for i in 0..4000 {
        client.log(Event::info(i.to_string())).await.unwrap();
        if i % 500 == 0 {
            marks.push(start.elapsed());
        }
    }
    let per_log = client.stats().send_seconds_per_log;
    let producer_rate = 1500.0 / (marks[7] - marks[4]).as_secs_f64();
    let observed_rate = 1.0 / per_log;
    let report = client.shutdown(WAIT).await.unwrap();
    assert_eq!(report.accepted, 4000);
    // The server takes at least 20 ms per batch; loopback overhead (and a busy machine) only
    // add to it.
    assert!((0.00019..0.002).contains(&per_log), "{per_log}");
    let ratio = producer_rate / observed_rate;
    assert!(
        (0.6..1.4).contains(&ratio),
        "producer {producer_rate}/s vs server {observed_rate}/s"
    );
    let stats = client.stats();
    assert_eq!(stats.dropped_full, 0);
    assert!(stats.queue_high_water < 1000, "{}", stats.queue_high_water);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_once_and_is_idempotent() {
    let server = Server::start(vec![]);
    let client = builder(&server).build().unwrap();
    for i in 0..3 {
        client.log(Event::info(i.to_string())).await.unwrap();
    }
    let report = client.shutdown(WAIT).await.unwrap();
    assert_eq!(report.accepted, 3);
    assert_eq!(client.shutdown(WAIT).await.unwrap(), FlushReport::default());
    let clone = client.clone();
    assert_eq!(clone.shutdown(WAIT).await.unwrap(), FlushReport::default());
    assert!(matches!(
        client.log(Event::info("late")).await,
        Err(Error::Closed)
    ));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_still_sends_what_is_queued() {
    let server = Server::start(vec![]);
    let client = builder(&server).build().unwrap();
    for i in 0..3 {
        client.log(Event::info(i.to_string())).await.unwrap();
    }
    drop(client);
    let requests = server.wait_for(1).await;
    assert_eq!(requests[0].bodies(), ["0", "1", "2"]);
}
