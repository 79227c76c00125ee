//! Both `tracing` layers together: a Master Log event carries the ids of the sentinel span it
//! was emitted in, whether that span is a `tracing` span or a `#[trace]` call.

// The client's loopback server, shared rather than copied.
#[path = "../../master-log-client/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use master_log_client::Client;
use master_log_client::layer::MasterLogLayer;
use sentinel::layer::SentinelLayer;
use sentinel::{AsyncLogger, SentinelConfig};
use serde_json::Value;
use support::Server;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

const WAIT: Duration = Duration::from_secs(10);

#[sentinel::trace(logger = logger)]
fn traced_work(logger: &AsyncLogger) {
    let _ = logger;
    tracing::info!(target: "my_app", "inside trace fn");
}

#[sentinel::trace(logger = logger)]
async fn traced_async(logger: AsyncLogger) {
    let _ = &logger;
    tokio::task::yield_now().await;
    tracing::warn!(target: "my_app", "inside async trace fn");
}

fn record<'a>(records: &'a [Value], function: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["function"] == function)
        .unwrap_or_else(|| panic!("no {function} in {records:#?}"))
}

#[tokio::test(flavor = "current_thread")]
async fn log_events_carry_the_trace_and_span_ids_of_their_sentinel_span() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spans.jsonl");
    let logger = AsyncLogger::new(SentinelConfig::new(&path)).unwrap();
    let server = Server::start(vec![]);
    let client = Client::builder()
        .environment(|_| None)
        .api_key("test-key")
        .endpoint(server.url())
        .backpressure(false)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(SentinelLayer::with_logger(&logger))
        .with(MasterLogLayer::new(client.clone()).trace_ids(sentinel::layer::trace_ids));
    let guard = tracing::subscriber::set_default(subscriber);

    let handler = tracing::info_span!("handler");
    async {
        tracing::info!(target: "my_app", "inside tracing span");
        traced_work(&logger);
        let spawned =
            tokio::spawn(traced_async(logger.clone()).instrument(tracing::info_span!("spawned")));
        spawned.await.unwrap();
    }
    .instrument(handler)
    .await;
    tracing::info!(target: "my_app", "outside any span");
    drop(guard);

    client.flush(WAIT).await.unwrap();
    assert!(logger.shutdown_timeout(WAIT).await);
    let text = std::fs::read_to_string(&path).unwrap();
    let records: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let logs: Vec<Value> = server.requests().iter().flat_map(|r| r.logs()).collect();
    let log = |body: &str| {
        logs.iter()
            .find(|l| l["body"] == body)
            .unwrap_or_else(|| panic!("no {body} in {logs:#?}"))
            .clone()
    };

    let handler = record(&records, "handler");
    let work = record(&records, "traced_work");
    let spawned = record(&records, "spawned");
    let traced_async = record(&records, "traced_async");
    for (body, span) in [
        ("inside tracing span", handler),
        ("inside trace fn", work),
        ("inside async trace fn", traced_async),
    ] {
        let log = log(body);
        assert_eq!(log["metadata"]["trace_id"], span["trace_id"], "{body}");
        assert_eq!(log["metadata"]["span_id"], span["span_id"], "{body}");
    }
    assert_eq!(work["parent_span_id"], handler["span_id"]);
    assert_eq!(spawned["parent_span_id"], handler["span_id"]);
    assert_eq!(traced_async["parent_span_id"], spawned["span_id"]);
    let tags = log("inside async trace fn")["tags"].clone();
    assert_eq!(tags, serde_json::json!(["handler", "my_app", "spawned"]));
    let outside = log("outside any span");
    assert!(outside["metadata"].get("trace_id").is_none(), "{outside}");
}
