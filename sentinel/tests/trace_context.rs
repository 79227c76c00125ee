//! W3C trace context end to end: what a `traceparent` makes of the spans
//! that handle a request, and what a span sends on.

mod support;

use http::HeaderMap;
use sentinel::context::Context;
use sentinel::{AsyncLogger, SpanContext, trace};
use serde_json::Value;
use support::TempLog;

const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const UNSAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

fn request(traceparent: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", traceparent.parse().unwrap());
    headers
}

#[trace(logger = logger)]
async fn handler(logger: &AsyncLogger) -> String {
    let _ = logger;
    tokio::task::yield_now().await;
    inner(logger);
    let mut outgoing = HeaderMap::new();
    assert!(sentinel::http::inject(&mut outgoing));
    outgoing["traceparent"].to_str().unwrap().to_owned()
}

#[trace(logger = logger)]
fn inner(logger: &AsyncLogger) {
    let _ = logger;
}

#[tokio::test]
async fn a_sampled_request_continues_the_senders_trace() {
    let t = TempLog::new();
    let sent_on = sentinel::http::in_incoming_context(&request(SAMPLED), handler(&t.logger)).await;
    let r = t.records();
    assert_eq!(r.len(), 2, "{r:?}");
    let (inner, handler) = (&r[0], &r[1]);
    for rec in &r {
        assert_eq!(rec["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    }
    // The handler's parent is the sender's span, in the sender's file.
    assert_eq!(handler["parent_span_id"], "00f067aa0ba902b7");
    assert_eq!(inner["parent_span_id"], handler["span_id"]);
    // A request sent from the handler names the handler's span, sampled.
    let next = SpanContext::from_traceparent(&sent_on).unwrap();
    assert_eq!(
        next.trace_id.to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(Value::String(next.span_id.to_string()), handler["span_id"]);
    assert!(next.sampled);
}

#[tokio::test]
async fn an_unsampled_request_records_nothing_and_stays_unsampled() {
    let t = TempLog::new();
    let sent_on =
        sentinel::http::in_incoming_context(&request(UNSAMPLED), handler(&t.logger)).await;
    assert_eq!(t.records(), Vec::<Value>::new());
    assert!(sent_on.ends_with("-00"), "{sent_on}");
    assert!(sent_on.contains("-4bf92f3577b34da6a3ce929d0e0e4736-"));
}

#[tokio::test]
async fn a_root_sends_its_own_sampling_decision() {
    #[trace(logger = logger, sample = 0.0)]
    fn dropped_root(logger: &AsyncLogger) -> SpanContext {
        let _ = logger;
        sentinel::context::current_span().unwrap()
    }
    #[trace(logger = logger, sample = 1.0)]
    fn kept_root(logger: &AsyncLogger) -> SpanContext {
        let _ = logger;
        sentinel::context::current_span().unwrap()
    }
    let t = TempLog::new();
    let dropped = dropped_root(&t.logger);
    let kept = kept_root(&t.logger);
    assert!(dropped.traceparent().ends_with("-00"));
    assert!(kept.traceparent().ends_with("-01"));
    let r = t.records();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["span_id"], kept.span_id.to_string());
}

#[tokio::test]
async fn a_request_without_a_valid_traceparent_starts_a_new_trace() {
    let t = TempLog::new();
    let mut bad = request("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01");
    bad.insert("tracestate", "congo=t61rcWkgMzE".parse().unwrap());
    let sent_on = sentinel::http::in_incoming_context(&bad, handler(&t.logger)).await;
    let r = t.records();
    assert_eq!(r.len(), 2);
    assert_eq!(r[1]["parent_span_id"], Value::Null, "a root");
    assert_ne!(r[1]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(sent_on.contains(r[1]["trace_id"].as_str().unwrap()));
    assert!(matches!(
        sentinel::http::extract(&bad),
        Err(sentinel::Error::InvalidTraceparent { .. })
    ));
}

#[tokio::test]
async fn tracestate_is_passed_on_untouched_from_inside_the_handler() {
    let t = TempLog::new();
    let mut headers = request(SAMPLED);
    headers.insert(
        "tracestate",
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".parse().unwrap(),
    );
    let outgoing = sentinel::http::in_incoming_context(&headers, async {
        #[trace(logger = logger)]
        async fn call(logger: &AsyncLogger) -> HeaderMap {
            let _ = logger;
            let mut outgoing = HeaderMap::new();
            sentinel::http::inject(&mut outgoing);
            outgoing
        }
        call(&t.logger).await
    })
    .await;
    assert_eq!(
        outgoing["tracestate"],
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    );
    // Outside the request's context, nothing of it is left.
    assert_eq!(Context::current().tracestate(), None);
    assert_eq!(t.records().len(), 1);
}
