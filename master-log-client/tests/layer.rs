//! `MasterLogLayer` against a real loopback server: what an event becomes, level and
//! `EnvFilter` filtering, skipped targets, and a slow server never blocking the emitter.
#![cfg(feature = "tracing")]

mod support;

use std::time::{Duration, Instant};

use master_log_client::layer::MasterLogLayer;
use master_log_client::{Client, ClientBuilder};
use serde_json::{Value, json};
use support::{Reply, Server};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;

const WAIT: Duration = Duration::from_secs(10);

fn builder(server: &Server) -> ClientBuilder {
    Client::builder()
        .environment(|_| None)
        .api_key("test-key")
        .endpoint(server.url())
        .backpressure(false)
        .flush_interval(Duration::from_secs(60))
}

fn fixed_ids() -> Option<(String, String)> {
    Some(("00000000000000aa".into(), "00000000000000bb".into()))
}

fn logs(server: &Server) -> Vec<Value> {
    server.requests().iter().flat_map(|r| r.logs()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_become_master_log_events_with_severity_body_tags_and_metadata() {
    let server = Server::start(vec![]);
    let client = builder(&server).build().unwrap();
    let layer = MasterLogLayer::new(client.clone())
        .level(tracing::Level::DEBUG)
        .trace_ids(fixed_ids);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let _request = tracing::info_span!("request", id = 1).entered();
        let _db = tracing::info_span!("db_query").entered();
        tracing::trace!(target: "my_app::db", "below the level");
        tracing::debug!(target: "my_app::db", rows = 3, "fetched rows");
        tracing::info!(target: "my_app::db", user = "ann", slow = true, "Query done\nin detail");
        tracing::warn!(target: "my_app::db", retry = 1.5, "retrying");
        tracing::error!(target: "my_app::db", error = "disk full");
    });
    let report = client.flush(WAIT).await.unwrap();
    assert_eq!(report.accepted, 4);
    let logs = logs(&server);
    let severities: Vec<&Value> = logs.iter().map(|l| &l["severity"]).collect();
    assert_eq!(severities, ["debug", "info", "warn", "error"]);

    let info = &logs[1];
    let mut metadata = info["metadata"].clone();
    // The client adds its own process details under `rust_client`, and the event's id.
    metadata.as_object_mut().unwrap().remove("rust_client");
    let id = metadata
        .as_object_mut()
        .unwrap()
        .remove("event_id")
        .unwrap();
    assert_eq!(id.as_str().map(str::len), Some(32));
    assert_eq!(info["body"], "Query done\nin detail");
    assert_eq!(info["title"], "Query done");
    assert_eq!(info["tags"], json!(["db_query", "my_app::db", "request"]));
    assert_eq!(
        metadata,
        json!({
            "user": "ann",
            "slow": true,
            "trace_id": "00000000000000aa",
            "span_id": "00000000000000bb",
        })
    );
    assert_eq!(logs[0]["metadata"]["rows"], 3);
    assert_eq!(logs[2]["metadata"]["retry"], 1.5);
    // No message: the fields make the body.
    assert_eq!(logs[3]["body"], "error=disk full");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_filter_on_the_layer_selects_targets_and_levels() {
    let server = Server::start(vec![]);
    let client = builder(&server).build().unwrap();
    let layer = MasterLogLayer::new(client.clone())
        .level(tracing::Level::TRACE)
        .with_filter(EnvFilter::new("warn,my_app=debug,my_app::noisy=off"));
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::debug!(target: "my_app", "kept debug");
        tracing::trace!(target: "my_app", "too verbose");
        tracing::error!(target: "my_app::noisy", "muted target");
        tracing::info!(target: "other", "other info");
        tracing::warn!(target: "other", "other warn");
    });
    client.flush(WAIT).await.unwrap();
    let bodies: Vec<String> = server.received_bodies();
    assert_eq!(bodies, ["kept debug", "other warn"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_the_client_and_http_stack_targets_are_never_forwarded() {
    let server = Server::start(vec![]);
    let client = builder(&server).build().unwrap();
    let layer = MasterLogLayer::new(client.clone()).level(tracing::Level::TRACE);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::error!(target: "master_log_client::worker", "from the stack");
        tracing::error!(target: "reqwest::connect", "from the stack");
        tracing::error!(target: "hyper::proto", "from the stack");
        tracing::error!(target: "h2", "from the stack");
        tracing::error!(target: "hyper_util::client", "from the stack");
        tracing::info!(target: "my_app", "from the app");
    });
    client.flush(WAIT).await.unwrap();
    assert_eq!(server.received_bodies(), ["from the app"]);
    assert_eq!(client.stats().dequeued, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_server_never_blocks_the_emitting_thread() {
    let server = Server::start(vec![]);
    server.set_default(Reply::ok().delay(Duration::from_secs(5)));
    let client = builder(&server)
        .max_queue_size(10)
        .batch_size(5)
        .backpressure(true)
        .build()
        .unwrap();
    let layer = MasterLogLayer::new(client.clone());
    let subscriber = tracing_subscriber::registry().with(layer);
    let started = Instant::now();
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..2_000 {
            tracing::info!(target: "my_app", i, "busy");
        }
    });
    let elapsed = started.elapsed();
    let stats = client.stats();
    // Each event is at most a queue try: two thousand take milliseconds, not the 5 s the
    // server holds each request.
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(stats.dropped_full >= 1_900, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layer_on_a_shut_down_client_counts_refused_events() {
    let server = Server::start(vec![]);
    let client = builder(&server).build().unwrap();
    client.shutdown(WAIT).await.unwrap();
    let layer = MasterLogLayer::new(client.clone());
    let counter = layer.clone();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(target: "my_app", "too late");
        tracing::warn!(target: "my_app", "too late");
    });
    assert_eq!(counter.refused(), 2);
    assert!(server.requests().is_empty());
}
