//! `SentinelLayer`: `tracing` spans as sentinel records, one trace tree with
//! `#[trace]`, error capture, busy vs idle time, filtering, and the
//! toolkit's own diagnostics as structured events.
#![cfg(feature = "tracing")]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sentinel::layer::SentinelLayer;
use sentinel::{AsyncLogger, trace};
use serde_json::Value;
use support::TempLog;
use tracing::Instrument;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;

fn subscriber(logger: &AsyncLogger) -> impl tracing::Subscriber + Send + Sync {
    tracing_subscriber::registry().with(SentinelLayer::with_logger(logger))
}

fn by_name<'a>(records: &'a [Value], name: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["function"] == name)
        .unwrap_or_else(|| panic!("no record named {name:?} in {records:#?}"))
}

fn assert_child(child: &Value, parent: &Value) {
    assert_eq!(child["trace_id"], parent["trace_id"], "{child} / {parent}");
    assert_eq!(
        child["parent_span_id"], parent["span_id"],
        "{child} / {parent}"
    );
}

#[test]
fn closed_span_is_a_record_with_label_fields_as_tags_and_ids() {
    let t = TempLog::new();
    tracing::subscriber::with_default(subscriber(&t.logger), || {
        let _scope = sentinel::tag("env", "test");
        let span = tracing::info_span!("checkout", label = "web", order = 7, user = "ann");
        span.record("order", 8);
        let _e = span.enter();
    });
    let r = t.records();
    assert_eq!(r.len(), 1, "{r:#?}");
    let r = &r[0];
    assert_eq!(r["function"], "checkout[web]");
    assert_eq!(r["status"], "success");
    assert_eq!(r["error_type"], Value::Null);
    assert_eq!(r["tags"]["order"], 8);
    assert_eq!(r["tags"]["user"], "ann");
    assert_eq!(r["tags"]["env"], "test");
    assert!(r["tags"].get("label").is_none());
    assert_eq!(r["parent_span_id"], Value::Null);
    assert_eq!(r["trace_id"].as_str().unwrap().len(), 32);
    assert_eq!(r["span_id"].as_str().unwrap().len(), 16);
    assert!(r["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(r["cpu_time_ms"].as_f64().unwrap() >= 0.0);
}

#[test]
fn sync_tree_instrument_trace_instrument_shares_one_trace() {
    let t = TempLog::new();

    #[tracing::instrument(skip_all)]
    fn outer(logger: &AsyncLogger) {
        middle(logger);
    }

    #[trace(logger = logger)]
    fn middle(logger: &AsyncLogger) {
        let _ = logger;
        inner();
    }

    #[tracing::instrument]
    fn inner() {
        // The tracing span is sentinel's current span while entered.
        assert!(sentinel::current_span_id().is_some());
    }

    tracing::subscriber::with_default(subscriber(&t.logger), || outer(&t.logger));
    assert_eq!(sentinel::current_span_id(), None, "current span restored");
    let r = t.records();
    assert_eq!(r.len(), 3, "{r:#?}");
    let (outer, middle, inner) = (
        by_name(&r, "outer"),
        by_name(&r, "middle"),
        by_name(&r, "inner"),
    );
    assert_eq!(outer["parent_span_id"], Value::Null);
    assert_child(middle, outer);
    assert_child(inner, middle);
}

#[test]
fn sync_tree_trace_instrument_trace_shares_one_trace() {
    let t = TempLog::new();

    #[trace(logger = logger)]
    fn outer(logger: &AsyncLogger) {
        middle(logger);
    }

    #[tracing::instrument(skip_all)]
    fn middle(logger: &AsyncLogger) {
        inner(logger);
    }

    #[trace(logger = logger)]
    fn inner(logger: &AsyncLogger) {
        let _ = logger;
    }

    tracing::subscriber::with_default(subscriber(&t.logger), || outer(&t.logger));
    let r = t.records();
    let (outer, middle, inner) = (
        by_name(&r, "outer"),
        by_name(&r, "middle"),
        by_name(&r, "inner"),
    );
    assert_child(middle, outer);
    assert_child(inner, middle);
}

#[test]
fn explicit_root_span_starts_a_new_trace_inside_a_trace_fn() {
    let t = TempLog::new();

    #[trace(logger = logger)]
    fn outer(logger: &AsyncLogger) {
        let _ = logger;
        let _e = tracing::info_span!(parent: None, "detached").entered();
    }

    tracing::subscriber::with_default(subscriber(&t.logger), || outer(&t.logger));
    let r = t.records();
    let (outer, detached) = (by_name(&r, "outer"), by_name(&r, "detached"));
    assert_eq!(detached["parent_span_id"], Value::Null);
    assert_ne!(detached["trace_id"], outer["trace_id"]);
}

#[trace(logger = logger)]
async fn traced_step(logger: AsyncLogger) -> u32 {
    let _ = &logger;
    tokio::task::yield_now().await;
    instrumented_leaf().await
}

#[tracing::instrument]
async fn instrumented_leaf() -> u32 {
    tokio::task::yield_now().await;
    7
}

#[tracing::instrument(skip_all)]
async fn instrumented_root(logger: AsyncLogger) -> u32 {
    let spawned = {
        let logger = logger.clone();
        // `Instrument` carries the tracing span into the task; the layer
        // makes it sentinel's current span on every poll.
        tokio::spawn(
            async move { traced_step(logger).await }
                .instrument(tracing::info_span!("spawned_task")),
        )
    };
    traced_step(logger).await + spawned.await.unwrap()
}

/// A two-worker runtime whose worker threads keep `dispatch` as their default subscriber
/// for their lifetime.
fn multi_thread_runtime(dispatch: &tracing::Dispatch) -> tokio::runtime::Runtime {
    let for_workers = dispatch.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(move || {
            std::mem::forget(tracing::dispatcher::set_default(&for_workers));
        })
        .build()
        .unwrap()
}

#[test]
fn async_tree_across_spawn_on_a_multi_thread_runtime_shares_one_trace() {
    let t = TempLog::new();
    let dispatch = tracing::Dispatch::new(subscriber(&t.logger));
    let rt = multi_thread_runtime(&dispatch);
    let logger = t.logger.clone();
    let total =
        tracing::dispatcher::with_default(&dispatch, || rt.block_on(instrumented_root(logger)));
    drop(rt);
    assert_eq!(total, 14);
    let r = t.records();
    assert_eq!(r.len(), 6, "{r:#?}");
    let root = by_name(&r, "instrumented_root");
    let task = by_name(&r, "spawned_task");
    assert_child(task, root);
    let steps: Vec<&Value> = r
        .iter()
        .filter(|x| x["function"] == "traced_step")
        .collect();
    let leaves: Vec<&Value> = r
        .iter()
        .filter(|x| x["function"] == "instrumented_leaf")
        .collect();
    assert_eq!((steps.len(), leaves.len()), (2, 2));
    let spawned_step = steps
        .iter()
        .find(|s| s["parent_span_id"] == task["span_id"])
        .expect("one step runs inside the spawned task");
    let direct_step = steps
        .iter()
        .find(|s| s["parent_span_id"] == root["span_id"])
        .expect("one step runs directly under the root");
    for step in [spawned_step, direct_step] {
        assert_eq!(step["trace_id"], root["trace_id"]);
        assert!(
            leaves
                .iter()
                .any(|l| l["parent_span_id"] == step["span_id"]),
            "a leaf under {step}"
        );
    }
    assert!(leaves.iter().all(|l| l["trace_id"] == root["trace_id"]));
}

#[derive(Debug)]
struct PaymentError;

impl std::fmt::Display for PaymentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("card declined")
    }
}

impl std::error::Error for PaymentError {}

#[test]
fn instrument_err_marks_the_span_failed_with_the_error_text() {
    let t = TempLog::new();

    #[tracing::instrument(err)]
    fn pay(amount: u32) -> Result<u32, PaymentError> {
        if amount > 10 {
            Err(PaymentError)
        } else {
            Ok(amount)
        }
    }

    #[tracing::instrument(err(Debug))]
    fn pay_debug() -> Result<(), PaymentError> {
        Err(PaymentError)
    }

    tracing::subscriber::with_default(subscriber(&t.logger), || {
        assert!(pay(5).is_ok());
        assert!(pay(50).is_err());
        assert!(pay_debug().is_err());
        let span = tracing::info_span!("typed");
        span.in_scope(|| {
            tracing::error!(error = "timeout", error_type = "Elapsed", "gave up");
        });
    });
    let r = t.records();
    assert_eq!(r.len(), 4, "{r:#?}");
    assert_eq!(r[0]["status"], "success");
    assert_eq!(r[0]["tags"]["amount"], 5);
    assert_eq!(r[1]["status"], "error");
    assert_eq!(r[1]["error"], "card declined");
    assert_eq!(r[1]["error_type"], "Error");
    assert_eq!(r[2]["status"], "error");
    assert_eq!(r[2]["error"], "PaymentError");
    assert_eq!(r[3]["status"], "error");
    assert_eq!(r[3]["error_type"], "Elapsed");
    assert_eq!(r[3]["error"], "timeout");
}

#[tokio::test(flavor = "current_thread")]
async fn async_span_that_sleeps_counts_busy_cpu_time_not_idle_time() {
    let t = TempLog::new();
    let _guard = tracing::subscriber::set_default(subscriber(&t.logger));

    #[tracing::instrument]
    async fn nap() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    nap().await;
    drop(_guard);
    let r = t.records();
    let nap = by_name(&r, "nap");
    let duration = nap["duration_ms"].as_f64().unwrap();
    let cpu = nap["cpu_time_ms"].as_f64().unwrap();
    assert!(duration >= 200.0, "{nap}");
    assert!(
        cpu < duration / 10.0,
        "busy {cpu} ms of {duration} ms: {nap}"
    );
}

#[test]
fn cpu_time_counts_work_done_while_entered() {
    let t = TempLog::new();
    tracing::subscriber::with_default(subscriber(&t.logger), || {
        let span = tracing::info_span!("crunch");
        // A fixed amount of work, so the CPU it takes does not depend on machine load.
        span.in_scope(|| {
            let mut x = 0u64;
            for i in 0..20_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        });
    });
    let r = t.records();
    let cpu = r[0]["cpu_time_ms"].as_f64().unwrap();
    let duration = r[0]["duration_ms"].as_f64().unwrap();
    assert!(cpu >= 5.0, "{:?}", r[0]);
    assert!(cpu <= duration + 1.0, "{:?}", r[0]);
}

#[test]
fn re_entered_span_counts_its_cpu_time_once() {
    let t = TempLog::new();
    tracing::subscriber::with_default(subscriber(&t.logger), || {
        let span = tracing::info_span!("nested");
        span.in_scope(|| {
            span.in_scope(|| {
                let mut x = 0u64;
                for i in 0..20_000_000u64 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
            });
        });
    });
    let r = t.records();
    let cpu = r[0]["cpu_time_ms"].as_f64().unwrap();
    let duration = r[0]["duration_ms"].as_f64().unwrap();
    assert!(cpu >= 5.0, "{:?}", r[0]);
    // Counted twice, the work would take more CPU than wall time.
    assert!(cpu <= duration + 1.0, "{:?}", r[0]);
}

#[test]
fn per_layer_level_filter_skips_spans_and_children_attach_to_enabled_ancestor() {
    let t = TempLog::new();

    #[trace(logger = logger)]
    fn work(logger: &AsyncLogger) {
        let _ = logger;
    }

    let layer = SentinelLayer::with_logger(&t.logger).with_filter(LevelFilter::INFO);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _a = tracing::info_span!("request").entered();
        let _b = tracing::debug_span!("chatty").entered();
        work(&t.logger);
    });
    let r = t.records();
    assert_eq!(r.len(), 2, "{r:#?}");
    assert!(r.iter().all(|x| x["function"] != "chatty"));
    assert_child(by_name(&r, "work"), by_name(&r, "request"));
}

#[test]
fn env_filter_composes_with_the_layer() {
    let t = TempLog::new();
    let filter = EnvFilter::new("info,noisy=off");
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(SentinelLayer::with_logger(&t.logger));
    tracing::subscriber::with_default(subscriber, || {
        let _a = tracing::info_span!("kept").entered();
        let _b = tracing::info_span!(target: "noisy", "muted").entered();
        let _c = tracing::debug_span!("too_low").entered();
    });
    let r = t.records();
    let names: Vec<&Value> = r.iter().map(|x| &x["function"]).collect();
    assert_eq!(names, ["kept"]);
}

#[test]
fn sampled_out_root_writes_nothing_but_still_propagates() {
    let t = TempLog::new();

    #[trace(logger = logger)]
    fn work(logger: &AsyncLogger) -> Option<sentinel::TraceId> {
        let _ = logger;
        sentinel::current_trace_id()
    }

    let layer = SentinelLayer::with_logger(&t.logger).sample(0.0);
    let (outer_trace, inner_trace) =
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            let _a = tracing::info_span!("dropped_root").entered();
            let outer = sentinel::current_trace_id();
            let _b = tracing::info_span!("dropped_child").entered();
            (outer, work(&t.logger))
        });
    assert!(outer_trace.is_some());
    assert_eq!(outer_trace, inner_trace);
    assert_eq!(t.records(), Vec::<Value>::new());
}

#[test]
fn second_layer_on_one_subscriber_stays_passive_instead_of_panicking() {
    let first = TempLog::new();
    let second = TempLog::new();
    let subscriber = tracing_subscriber::registry()
        .with(SentinelLayer::with_logger(&first.logger))
        .with(SentinelLayer::with_logger(&second.logger));
    tracing::subscriber::with_default(subscriber, || {
        let _a = tracing::info_span!("once").entered();
    });
    assert_eq!(first.records().len(), 1);
    assert_eq!(second.records().len(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn spans_longer_than_slow_ms_are_marked_slow() {
    let t = TempLog::new();
    let layer = SentinelLayer::with_logger(&t.logger).slow_ms(50.0);
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    tokio::time::sleep(Duration::from_millis(80))
        .instrument(tracing::info_span!("slow_one"))
        .await;
    tracing::info_span!("fast_one").in_scope(|| {});
    drop(_guard);
    let r = t.records();
    assert_eq!(by_name(&r, "slow_one")["slow"], true);
    assert!(by_name(&r, "fast_one").get("slow").is_none());
}

#[test]
fn trace_ids_name_the_current_span_in_hex() {
    let t = TempLog::new();
    let ids = tracing::subscriber::with_default(subscriber(&t.logger), || {
        assert_eq!(sentinel::layer::trace_ids(), None);
        let _a = tracing::info_span!("with_ids").entered();
        sentinel::layer::trace_ids()
    });
    let (trace_id, span_id) = ids.expect("ids inside a span");
    let r = t.records();
    assert_eq!(r[0]["trace_id"], trace_id.as_str());
    assert_eq!(r[0]["span_id"], span_id.as_str());
}

/// One event as seen by [`Captured`]: target, level, fields.
type CapturedEvent = (String, tracing::Level, Vec<(String, String)>);

/// A layer that keeps each event's target, level and fields.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<CapturedEvent>>>);

impl<S: tracing::Subscriber> Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(Vec<(String, String)>);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                self.0.push((f.name().to_owned(), format!("{v:?}")));
            }
            fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
                self.0.push((f.name().to_owned(), v.to_owned()));
            }
        }
        let mut fields = Fields(Vec::new());
        event.record(&mut fields);
        let meta = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((meta.target().to_owned(), *meta.level(), fields.0));
    }
}

#[test]
fn drop_warning_is_a_structured_event_with_target_sentinel() {
    let t = TempLog::new();
    assert!(t.logger.shutdown_blocking(support::WAIT));
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    tracing::subscriber::with_default(subscriber, || {
        t.logger.log(serde_json::json!({"event": "late"}));
    });
    let events = captured.0.lock().unwrap();
    let (target, level, fields) = events
        .iter()
        .find(|(target, ..)| target == "sentinel")
        .expect("a sentinel event");
    assert_eq!(target, "sentinel");
    assert_eq!(*level, tracing::Level::WARN);
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(field("reason"), Some("closed"));
    assert_eq!(field("count"), Some("1"));
    assert_eq!(field("dropped"), Some("1"));
    assert_eq!(field("dropped_closed"), Some("1"));
    assert_eq!(t.logger.stats().dropped_closed, 1);
}

#[test]
fn trace_tags_inside_an_instrument_span_and_fields_stay_on_their_own_spans() {
    let t = TempLog::new();

    #[tracing::instrument(skip_all, fields(tenant = "acme", status = tracing::field::Empty))]
    fn request(logger: &AsyncLogger) {
        checkout(logger, 17);
        // A value the `tracing` span learns late, both ways.
        tracing::Span::current().record("status", "ok");
        sentinel::record("user_id", 7);
    }

    #[trace(logger = logger, tags(route = "/checkout"), args(order_id))]
    fn checkout(logger: &AsyncLogger, order_id: u64) {
        let _ = (logger, order_id);
        sentinel::record("rows", 2);
    }

    tracing::subscriber::with_default(subscriber(&t.logger), || request(&t.logger));
    let r = t.records();
    let (request, checkout) = (by_name(&r, "request"), by_name(&r, "checkout"));
    assert_child(checkout, request);
    assert_eq!(
        request["tags"],
        serde_json::json!({"tenant": "acme", "status": "ok", "user_id": 7})
    );
    assert_eq!(
        checkout["tags"],
        serde_json::json!({"route": "/checkout", "order_id": 17, "rows": 2})
    );
}

#[test]
fn instrument_span_inside_a_traced_fn_keeps_its_fields_and_recorded_values() {
    let t = TempLog::new();

    #[trace(logger = logger, tags(route = "/orders"), args(order_id))]
    fn handler(logger: &AsyncLogger, order_id: u64) {
        let _ = logger;
        query(order_id);
        sentinel::record("cached", false);
    }

    #[tracing::instrument(fields(table = "orders"))]
    fn query(order_id: u64) {
        sentinel::record("rows", 3);
    }

    tracing::subscriber::with_default(subscriber(&t.logger), || handler(&t.logger, 5));
    let r = t.records();
    let (handler, query) = (by_name(&r, "handler"), by_name(&r, "query"));
    assert_child(query, handler);
    assert_eq!(
        query["tags"],
        serde_json::json!({"table": "orders", "order_id": 5, "rows": 3})
    );
    assert_eq!(
        handler["tags"],
        serde_json::json!({"route": "/orders", "order_id": 5, "cached": false})
    );
}

#[tracing::instrument(skip_all, fields(kind = "async"))]
async fn instrumented_recorder(n: u64) -> u64 {
    for i in 0..5 {
        tokio::task::yield_now().await;
        sentinel::record(format!("step_{i}"), i * n);
    }
    n
}

#[test]
fn values_recorded_in_an_async_instrument_span_survive_thread_hops() {
    let t = TempLog::new();
    let dispatch = tracing::Dispatch::new(subscriber(&t.logger));
    let rt = multi_thread_runtime(&dispatch);
    tracing::dispatcher::with_default(&dispatch, || {
        rt.block_on(async {
            let tasks: Vec<_> = (1..=4)
                .map(|n| tokio::spawn(instrumented_recorder(n)))
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        })
    });
    drop(rt);
    let r = t.records();
    assert_eq!(r.len(), 4, "{r:#?}");
    for rec in &r {
        let tags = rec["tags"].as_object().unwrap();
        let n = tags["step_1"].as_u64().unwrap();
        assert_eq!(tags["kind"], "async");
        for i in 0..5u64 {
            assert_eq!(tags[&format!("step_{i}")], i * n, "{rec}");
        }
    }
}

/// Everything a `fmt` layer writes, shared with the test.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Lines {
    fn json(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect()
    }
}

#[test]
fn json_log_lines_carry_the_ids_of_the_span_they_are_logged_in() {
    use sentinel::layer::WithTraceIds;
    use tracing_subscriber::fmt::format;

    let t = TempLog::new();
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::registry()
        .with(SentinelLayer::with_logger(&t.logger))
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .event_format(WithTraceIds::new(format().json()))
                .with_writer(move || writer.clone()),
        );
    #[trace(logger = logger)]
    fn charge(logger: &AsyncLogger) {
        let _ = logger;
        tracing::warn!(order = 7, "card declined");
    }
    let (outer, explicit) = tracing::subscriber::with_default(subscriber, || {
        tracing::info!("before any span");
        let outer = tracing::info_span!("checkout");
        {
            let _entered = outer.enter();
            tracing::info!("in checkout");
            charge(&t.logger);
        }
        // Logged outside, but explicitly under `checkout`.
        tracing::info!(parent: &outer, "for checkout");
        let explicit = outer.id();
        drop(outer);
        (sentinel::current_trace_id(), explicit)
    });
    assert_eq!(outer, None);
    assert!(explicit.is_some());
    let r = t.records();
    let (checkout, charge) = (by_name(&r, "checkout"), by_name(&r, "charge"));
    let logged = lines.json();
    assert_eq!(logged.len(), 4, "{logged:#?}");
    assert!(logged[0].get("trace_id").is_none(), "{}", logged[0]);
    assert_eq!(logged[0]["fields"]["message"], "before any span");
    for (line, span) in [
        (&logged[1], checkout),
        (&logged[2], charge),
        (&logged[3], checkout),
    ] {
        assert_eq!(line["trace_id"], span["trace_id"], "{line}");
        assert_eq!(line["span_id"], span["span_id"], "{line}");
        assert_eq!(line["trace_id"].as_str().unwrap().len(), 32);
    }
    // The inner format's own fields are all still there.
    assert_eq!(logged[2]["level"], "WARN");
    assert_eq!(logged[2]["fields"]["order"], 7);
    assert_eq!(logged[2]["fields"]["message"], "card declined");
    assert!(logged[2]["timestamp"].is_string());
}
