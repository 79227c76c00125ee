//! Every front end is an adapter over one span core: the same scenario
//! through `#[trace]` (sync and async), `TimeBlock` and a `tracing` span via
//! `SentinelLayer` writes the same records, apart from names, ids and timings.
#![cfg(feature = "tracing")]

mod support;

use std::num::ParseIntError;
use std::time::Duration;

use sentinel::layer::SentinelLayer;
use sentinel::{AsyncLogger, TimeBlock, tag, trace};
use serde_json::{Value, json};
use support::TempLog;
use tracing_subscriber::layer::SubscriberExt;

/// The root works (spins) past this; its children finish far below it.
const SLOW_MS: f64 = 30.0;
const ROOT_WORK: Duration = Duration::from_millis(40);

/// The scenario's shape, shared by every front end: under the scope tag
/// `env`, a root works past `SLOW_MS`, opens the tag `step` and runs one
/// child that succeeds and one that fails parsing "x".
fn scenario(root: impl FnOnce()) {
    let _env = tag("env", "test");
    root();
}

mod via_trace {
    use super::*;

    #[trace(logger = l, slow_ms = 30)]
    fn ok_child(l: &AsyncLogger) -> Result<u8, ParseIntError> {
        "7".parse()
    }

    #[trace(logger = l, slow_ms = 30)]
    fn bad_child(l: &AsyncLogger) -> Result<u8, ParseIntError> {
        "x".parse()
    }

    #[trace(logger = l, slow_ms = 30)]
    fn root(l: &AsyncLogger) {
        work_for(ROOT_WORK);
        let _step = tag("step", "children");
        let _ = ok_child(l);
        let _ = bad_child(l);
    }

    pub(super) fn run(l: &AsyncLogger) {
        scenario(|| root(l));
    }

    #[trace(logger = l, slow_ms = 30)]
    async fn ok_child_async(l: AsyncLogger) -> Result<u8, ParseIntError> {
        "7".parse()
    }

    #[trace(logger = l, slow_ms = 30)]
    async fn bad_child_async(l: AsyncLogger) -> Result<u8, ParseIntError> {
        "x".parse()
    }

    #[trace(logger = l, slow_ms = 30)]
    async fn root_async(l: AsyncLogger) {
        work_for(ROOT_WORK);
        let _step = tag("step", "children");
        let _ = ok_child_async(l.clone()).await;
        let _ = bad_child_async(l.clone()).await;
    }

    pub(super) fn run_async(l: &AsyncLogger) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        scenario(|| rt.block_on(root_async(l.clone())));
    }
}

fn via_time_block(l: &AsyncLogger) {
    scenario(|| {
        let root = TimeBlock::builder("root")
            .logger(l)
            .slow_ms(SLOW_MS)
            .start();
        work_for(ROOT_WORK);
        {
            let _step = tag("step", "children");
            TimeBlock::builder("ok_child")
                .logger(l)
                .slow_ms(SLOW_MS)
                .start()
                .finish();
            let mut bad = TimeBlock::builder("bad_child")
                .logger(l)
                .slow_ms(SLOW_MS)
                .start();
            if let Err(e) = "x".parse::<u8>() {
                bad.fail(&e);
            }
        }
        root.finish();
    });
}

fn via_tracing(l: &AsyncLogger) {
    let subscriber =
        tracing_subscriber::registry().with(SentinelLayer::with_logger(l).slow_ms(SLOW_MS));
    tracing::subscriber::with_default(subscriber, || {
        scenario(|| {
            let root = tracing::info_span!("root");
            let _root = root.enter();
            work_for(ROOT_WORK);
            let _step = tag("step", "children");
            tracing::info_span!("ok_child").in_scope(|| {});
            tracing::info_span!("bad_child").in_scope(|| {
                if let Err(e) = "x".parse::<u8>() {
                    tracing::error!(error = %e, error_type = "ParseIntError");
                }
            });
        });
    });
}

/// The records of one run, in the order written (children first), with
/// names, ids and timings replaced by what must hold for every front end.
fn normalized(records: Vec<Value>) -> Vec<Value> {
    assert_eq!(records.len(), 3, "{records:#?}");
    let root = &records[2];
    let (trace, root_span) = (root["trace_id"].clone(), root["span_id"].clone());
    records
        .iter()
        .zip(["ok_child", "bad_child", "root"])
        .map(|(r, name)| {
            let mut r = r.as_object().unwrap().clone();
            let (key, got) = ["function", "label"]
                .into_iter()
                .find_map(|k| r.remove(k).map(|v| (k, v)))
                .unwrap_or_else(|| panic!("no name in {r:?}"));
            assert!(got.as_str().unwrap().contains(name), "{key}: {got}");
            r.insert("name".into(), json!(name));
            for timing in ["timestamp", "duration_ms", "cpu_time_ms"] {
                let v = r.get_mut(timing).unwrap_or_else(|| panic!("no {timing}"));
                assert!(v.is_string() || v.as_f64().unwrap() >= 0.0, "{timing}: {v}");
                *v = json!("<timing>");
            }
            assert_eq!(r["trace_id"], trace, "one trace");
            assert_eq!(r["trace_id"].as_str().unwrap().len(), 32);
            r.insert("trace_id".into(), json!("<trace>"));
            assert_eq!(r["span_id"].as_str().unwrap().len(), 16);
            r.insert("span_id".into(), json!("<span>"));
            if r["parent_span_id"] == root_span {
                r.insert("parent_span_id".into(), json!("<root>"));
            }
            Value::Object(r)
        })
        .collect()
}

fn records_of(front_end: impl FnOnce(&AsyncLogger)) -> Vec<Value> {
    let t = TempLog::new();
    front_end(&t.logger);
    normalized(t.records())
}

#[test]
fn every_front_end_writes_the_same_records_for_the_same_scenario() {
    let expected = vec![
        json!({
            "timestamp": "<timing>", "name": "ok_child", "duration_ms": "<timing>",
            "cpu_time_ms": "<timing>", "status": "success", "error_type": null, "error": null,
            "trace_id": "<trace>", "span_id": "<span>", "parent_span_id": "<root>",
            "tags": {"env": "test", "step": "children"},
        }),
        json!({
            "timestamp": "<timing>", "name": "bad_child", "duration_ms": "<timing>",
            "cpu_time_ms": "<timing>", "status": "error", "error_type": "ParseIntError",
            "error": "invalid digit found in string",
            "trace_id": "<trace>", "span_id": "<span>", "parent_span_id": "<root>",
            "tags": {"env": "test", "step": "children"},
        }),
        json!({
            "timestamp": "<timing>", "name": "root", "duration_ms": "<timing>",
            "cpu_time_ms": "<timing>", "status": "success", "error_type": null, "error": null,
            "trace_id": "<trace>", "span_id": "<span>", "parent_span_id": null,
            "tags": {"env": "test"}, "slow": true,
        }),
    ];
    let runs = [
        ("#[trace]", records_of(via_trace::run)),
        ("async #[trace]", records_of(via_trace::run_async)),
        ("TimeBlock", records_of(via_time_block)),
        ("tracing span", records_of(via_tracing)),
    ];
    for (front_end, records) in runs {
        assert_eq!(records, expected, "{front_end}");
    }
}

/// Busy work for at least `d`: the span's duration is what is under test,
/// not a wait for anything.
fn work_for(d: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}
