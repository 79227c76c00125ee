//! `MasterLogLayer` installed globally while the client talks to a server that answers errors:
//! the client's retry and give-up events, emitted on its worker, must not be forwarded, or
//! each send would cause another (a loop). Alone in its binary: it sets the global subscriber.
#![cfg(feature = "tracing")]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use master_log_client::layer::MasterLogLayer;
use master_log_client::{Client, Error};
use support::{Reply, Server};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

/// Counts events with target `master_log_client`, to show there was something to feed back.
#[derive(Clone, Default)]
struct ClientEvents(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for ClientEvents {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target().starts_with("master_log_client") {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_layer_does_not_forward_what_a_failing_send_logs() {
    let server = Server::start(vec![]);
    server.set_default(Reply::status(500));
    let client = Client::builder()
        .environment(|_| None)
        .api_key("test-key")
        .endpoint(server.url())
        .backpressure(false)
        .flush_interval(Duration::from_millis(50))
        .max_retries(2)
        .build()
        .unwrap();
    let client_events = ClientEvents::default();
    let subscriber = tracing_subscriber::registry()
        .with(client_events.clone())
        .with(MasterLogLayer::new(client.clone()).level(tracing::Level::TRACE));
    tracing::subscriber::set_global_default(subscriber).unwrap();

    for i in 0..3 {
        tracing::warn!(target: "my_app", i, "user event");
    }
    let flushed = client.flush(Duration::from_secs(10)).await;
    assert!(matches!(flushed, Err(Error::Undelivered(_))), "{flushed:?}");
    // Give any fed-back event a chance to be sent: it would be queued by now, and a flush
    // sends it.
    let _ = client.flush(Duration::from_secs(10)).await;

    assert!(
        client_events.0.load(Ordering::SeqCst) >= 3,
        "the client logged its retries and the give-up"
    );
    let stats = client.stats();
    assert_eq!(stats.dequeued, 3, "{stats:?}");
    let requests = server.requests();
    // One batch, sent once and retried twice; nothing else.
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(r.bodies(), ["user event"; 3]);
    }
}
