//! `#[trace]` and `TimeBlock`: the original test_tracer.py and
//! test_context.py behaviours, plus Rust-specific forms.

mod support;

use std::time::Duration;

use sentinel::context::{Context, FutureExt};
use sentinel::{AsyncLogger, Tags, TimeBlock, current_span_id, current_trace_id, tag, trace};
use serde_json::{Value, json};
use support::{TempLog, WAIT};

#[test]
fn records_sync_function_success() {
    let t = TempLog::new();
    #[trace(logger = t.logger)]
    fn add(a: i32, b: i32, t: &TempLog) -> i32 {
        let _ = t;
        a + b
    }
    // `logger = EXPR` may use the fn's arguments.
    #[trace(logger = logger)]
    fn add2(a: i32, b: i32, logger: &AsyncLogger) -> i32 {
        let _ = logger;
        a + b
    }
    assert_eq!(add2(2, 3, &t.logger), 5);
    let r = &t.records()[0];
    assert_eq!(r["function"], "add2");
    assert_eq!(r["status"], "success");
    assert_eq!(r["error_type"], Value::Null);
    assert_eq!(r["error"], Value::Null);
    assert!(r["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(r["cpu_time_ms"].as_f64().unwrap() >= 0.0);
}

#[test]
fn label_is_appended_to_function_name_and_kept_on_error() {
    let t = TempLog::new();
    #[trace(logger = logger, label = "checkout")]
    fn run(logger: &AsyncLogger) -> &'static str {
        let _ = logger;
        "ok"
    }
    #[trace(logger = logger, label = "risky")]
    fn fail(logger: &AsyncLogger) -> Result<(), String> {
        let _ = logger;
        Err("nope".into())
    }
    run(&t.logger);
    assert!(fail(&t.logger).is_err());
    let r = t.records();
    assert_eq!(r[0]["function"], "run[checkout]");
    assert_eq!(r[1]["function"], "fail[risky]");
    assert_eq!(r[1]["status"], "error");
    assert_eq!(r[1]["error_type"], "String");
    assert_eq!(r[1]["error"], "nope");
}

#[derive(Debug)]
struct BadInput(u32);
impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad input #{}", self.0)
    }
}
impl std::error::Error for BadInput {}

mod aliases {
    pub type Result<T> = std::result::Result<T, super::BadInput>;
}

#[test]
fn errors_are_detected_through_any_result_alias() {
    let t = TempLog::new();
    #[trace(logger = l)]
    fn io_alias(l: &AsyncLogger) -> std::io::Result<u8> {
        let _ = l;
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such thing",
        ))
    }
    #[trace(logger = l)]
    fn crate_alias(l: &AsyncLogger) -> aliases::Result<u8> {
        let _ = l;
        Err(BadInput(42))
    }
    #[trace(logger = l)]
    fn boxed_alias(l: &AsyncLogger) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
        let _ = l;
        let n: u8 = "x".parse()?;
        Ok(n)
    }
    #[trace(logger = l)]
    fn debug_only(l: &AsyncLogger) -> Result<(), Vec<u8>> {
        let _ = l;
        Err(vec![1, 2])
    }
    #[trace(logger = l)]
    fn generic_err<E>(l: &AsyncLogger, e: E) -> Result<(), E> {
        let _ = l;
        Err(e)
    }
    assert!(io_alias(&t.logger).is_err());
    assert!(crate_alias(&t.logger).is_err());
    assert!(boxed_alias(&t.logger).is_err());
    assert!(debug_only(&t.logger).is_err());
    assert!(generic_err(&t.logger, 5u8).is_err());
    let r = t.records();
    assert_eq!(
        (r[0]["error_type"].as_str(), r[0]["error"].as_str()),
        (Some("Error"), Some("no such thing"))
    );
    assert_eq!(
        (r[1]["error_type"].as_str(), r[1]["error"].as_str()),
        (Some("BadInput"), Some("bad input #42"))
    );
    // A boxed error is named by the error inside (issue #13).
    assert_eq!(r[2]["error_type"], "ParseIntError");
    assert_eq!(r[2]["error"], "invalid digit found in string");
    assert_eq!(
        (r[3]["error_type"].as_str(), r[3]["error"].as_str()),
        (Some("Vec<u8>"), Some("[1, 2]"))
    );
    // A generic E without bounds still counts as an error, named by the
    // concrete type it was instantiated with.
    assert_eq!(
        (r[4]["status"].as_str(), r[4]["error_type"].as_str()),
        (Some("error"), Some("u8"))
    );
    assert!(r.iter().all(|r| r["status"] == "error"));
}

#[test]
fn ok_results_and_non_results_are_success() {
    let t = TempLog::new();
    #[trace(logger = l)]
    fn ok(l: &AsyncLogger) -> Result<u8, String> {
        let _ = l;
        Ok(1)
    }
    #[trace(logger = l)]
    fn opt(l: &AsyncLogger) -> Option<u8> {
        let _ = l;
        None
    }
    ok(&t.logger).unwrap();
    assert_eq!(opt(&t.logger), None);
    assert!(
        t.records()
            .iter()
            .all(|r| r["status"] == "success" && r["error"].is_null())
    );
}

#[test]
fn panic_is_recorded_and_keeps_unwinding() {
    let t = TempLog::new();
    #[trace(logger = l)]
    fn boom(l: &AsyncLogger) {
        let _ = l;
        panic!("kaboom {}", 99);
    }
    let caught = std::panic::catch_unwind(|| boom(&t.logger));
    assert!(caught.is_err());
    // The context is restored after the unwind.
    assert_eq!(current_span_id(), None);
    let r = &t.records()[0];
    assert_eq!(r["status"], "error");
    assert_eq!(r["error_type"], "panic");
    assert_eq!(r["error"], "kaboom 99");
}

#[test]
fn return_and_question_mark_keep_their_meaning() {
    let t = TempLog::new();
    #[trace(logger = l)]
    fn early(l: &AsyncLogger, x: i32) -> Result<i32, std::num::ParseIntError> {
        let _ = l;
        if x > 0 {
            return Ok(x);
        }
        let v: i32 = "nan".parse()?;
        Ok(v)
    }
    assert_eq!(early(&t.logger, 3).unwrap(), 3);
    assert!(early(&t.logger, -1).is_err());
    let r = t.records();
    assert_eq!(r[0]["status"], "success");
    assert_eq!(r[1]["error_type"], "ParseIntError");
}

#[tokio::test]
async fn records_async_function_success_and_error() {
    let t = TempLog::new();
    #[trace(logger = l)]
    async fn fetch(l: &AsyncLogger) -> &'static str {
        let _ = l;
        tokio::time::sleep(Duration::from_millis(10)).await;
        "ok"
    }
    #[trace(logger = l)]
    async fn fail(l: &AsyncLogger) -> Result<(), BadInput> {
        let _ = l;
        tokio::task::yield_now().await;
        Err(BadInput(7))
    }
    #[trace(logger = l, label = "signup")]
    async fn go(l: &AsyncLogger) -> std::io::Result<()> {
        let _ = l;
        let _n: u32 = "1".parse().map_err(std::io::Error::other)?;
        Ok(())
    }
    assert_eq!(fetch(&t.logger).await, "ok");
    assert!(fail(&t.logger).await.is_err());
    go(&t.logger).await.unwrap();
    let r = t.records();
    assert_eq!(r[0]["function"], "fetch");
    assert!(r[0]["duration_ms"].as_f64().unwrap() >= 10.0);
    assert_eq!(r[1]["error_type"], "BadInput");
    assert_eq!(r[1]["error"], "bad input #7");
    assert_eq!(r[2]["function"], "go[signup]");
}

#[tokio::test]
async fn async_cpu_time_counts_polls_not_waiting() {
    let t = TempLog::new();
    #[trace(logger = l)]
    async fn sleepy(l: &AsyncLogger) {
        let _ = l;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sleepy(&t.logger).await;
    let r = &t.records()[0];
    let wall = r["duration_ms"].as_f64().unwrap();
    let cpu = r["cpu_time_ms"].as_f64().unwrap();
    assert!(wall >= 50.0);
    assert!(cpu < wall - 10.0, "cpu {cpu} wall {wall}");
}

#[test]
fn sync_cpu_time_is_less_than_wall_time_when_sleeping() {
    let t = TempLog::new();
    #[trace(logger = l)]
    fn nap(l: &AsyncLogger) {
        let _ = l;
        std::thread::sleep(Duration::from_millis(50));
    }
    nap(&t.logger);
    let r = &t.records()[0];
    let wall = r["duration_ms"].as_f64().unwrap();
    assert!(r["cpu_time_ms"].as_f64().unwrap() < wall - 10.0);
}

#[test]
fn cpu_time_can_be_switched_off() {
    let t = TempLog::with(|c| c.cpu_time(false));
    #[trace(logger = l)]
    fn f(l: &AsyncLogger) {
        let _ = l;
    }
    f(&t.logger);
    assert!(t.records()[0].get("cpu_time_ms").is_none());
}

#[tokio::test]
async fn cancelled_future_records_cancelled() {
    let t = TempLog::new();
    #[trace(logger = l)]
    async fn forever(l: &AsyncLogger) {
        let _ = l;
        std::future::pending::<()>().await;
    }
    let fut = forever(&t.logger);
    let res = tokio::time::timeout(Duration::from_millis(20), fut).await;
    assert!(res.is_err());
    let r = &t.records()[0];
    assert_eq!(r["function"], "forever");
    assert_eq!(r["status"], "cancelled");
}

#[test]
fn nested_calls_share_trace_and_link_parent_children_first() {
    let t = TempLog::new();
    #[trace(logger = l)]
    fn inner(l: &AsyncLogger) -> Option<sentinel::TraceId> {
        let _ = l;
        current_trace_id()
    }
    #[trace(logger = l)]
    fn outer(l: &AsyncLogger) -> Option<sentinel::TraceId> {
        let seen = inner(l);
        assert_eq!(seen, current_trace_id());
        seen
    }
    let seen = outer(&t.logger);
    assert!(seen.is_some());
    assert_eq!(current_trace_id(), None);
    let r = t.records();
    assert_eq!(r[0]["function"], "inner");
    assert_eq!(r[1]["function"], "outer");
    assert_eq!(r[0]["trace_id"], r[1]["trace_id"]);
    assert_eq!(r[0]["trace_id"], seen.unwrap().to_string());
    assert_eq!(r[0]["parent_span_id"], r[1]["span_id"]);
    assert_eq!(r[1]["parent_span_id"], Value::Null);
    for rec in &r {
        for (key, digits) in [("trace_id", 32), ("span_id", 16)] {
            let id = rec[key].as_str().unwrap();
            assert_eq!(id.len(), digits, "{key}: {id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
    }
}

#[test]
fn independent_calls_get_distinct_traces() {
    let t = TempLog::new();
    #[trace(logger = l)]
    fn f(l: &AsyncLogger) {
        let _ = l;
    }
    f(&t.logger);
    f(&t.logger);
    let r = t.records();
    assert_ne!(r[0]["trace_id"], r[1]["trace_id"]);
}

#[tokio::test]
async fn async_nesting_propagates_trace() {
    let t = TempLog::new();
    #[trace(logger = l)]
    async fn inner(l: &AsyncLogger) {
        let _ = l;
        tokio::task::yield_now().await;
    }
    #[trace(logger = l)]
    async fn outer(l: &AsyncLogger) {
        inner(l).await;
        inner(l).await;
    }
    outer(&t.logger).await;
    let r = t.records();
    assert_eq!(r.len(), 3);
    assert_eq!(r[2]["function"], "outer");
    for child in &r[..2] {
        assert_eq!(child["trace_id"], r[2]["trace_id"]);
        assert_eq!(child["parent_span_id"], r[2]["span_id"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn context_survives_polls_on_other_worker_threads() {
    let t = TempLog::new();
    #[trace(logger = l)]
    async fn leaf(l: &AsyncLogger, parent: Option<sentinel::SpanId>) {
        let _ = l;
        assert_eq!(current_span_id().is_some(), parent.is_some());
    }
    #[trace(logger = l)]
    async fn hop(l: &AsyncLogger) -> Vec<std::thread::ThreadId> {
        let mut threads = Vec::new();
        for _ in 0..50 {
            let before = current_span_id();
            // Spawned work (not in context) forces the task to be rescheduled.
            tokio::spawn(async {}).await.unwrap();
            threads.push(std::thread::current().id());
            assert_eq!(current_span_id(), before);
            leaf(l, before).await;
        }
        threads
    }
    let l = t.logger.clone();
    let threads = tokio::spawn(async move { hop(&l).await }).await.unwrap();
    let distinct: std::collections::HashSet<_> = threads.into_iter().collect();
    let r = t.records();
    let root = r.last().unwrap();
    assert_eq!(root["function"], "hop");
    assert_eq!(r.len(), 51);
    for leaf in &r[..50] {
        assert_eq!(leaf["parent_span_id"], root["span_id"]);
        assert_eq!(leaf["trace_id"], root["trace_id"]);
    }
    // Usually both workers polled it; the assertions above hold either way.
    assert!(!distinct.is_empty());
}

#[tokio::test]
async fn spawned_tasks_join_the_trace_only_when_asked() {
    let t = TempLog::new();
    #[trace(logger = l)]
    async fn child(l: AsyncLogger) {
        let _ = l;
    }
    #[trace(logger = l)]
    async fn parent(l: &AsyncLogger) {
        tokio::spawn(child(l.clone()).in_current_context())
            .await
            .unwrap();
        tokio::spawn(child(l.clone())).await.unwrap();
        let ctx = Context::current();
        let l2 = l.clone();
        std::thread::spawn(ctx.wrap(move || {
            #[trace(logger = l)]
            fn in_thread(l: &AsyncLogger) {
                let _ = l;
            }
            in_thread(&l2)
        }))
        .join()
        .unwrap();
    }
    parent(&t.logger).await;
    let r = t.records();
    let root = r.iter().find(|r| r["function"] == "parent").unwrap();
    let joined: Vec<_> = r
        .iter()
        .filter(|x| x["trace_id"] == root["trace_id"])
        .collect();
    assert_eq!(joined.len(), 3, "{r:?}");
    let alone = r
        .iter()
        .filter(|x| x["trace_id"] != root["trace_id"])
        .count();
    assert_eq!(alone, 1);
}

#[test]
fn tags_attach_nest_shadow_and_pop() {
    let t = TempLog::new();
    #[trace(logger = l)]
    fn f(l: &AsyncLogger) {
        let _ = l;
    }
    {
        let _a = Tags::new().with("env", "prod").with("user_id", 1).enter();
        let _b = tag("user_id", 2);
        f(&t.logger);
    }
    {
        let _s = tag("scoped", "yes");
        f(&t.logger);
    }
    f(&t.logger);
    let r = t.records();
    assert_eq!(r[0]["tags"], json!({"env": "prod", "user_id": 2}));
    assert_eq!(r[1]["tags"], json!({"scoped": "yes"}));
    assert!(r[2].get("tags").is_none());
}

#[tokio::test]
async fn tags_travel_with_futures() {
    use sentinel::tags::TagsFutureExt;
    let t = TempLog::new();
    #[trace(logger = l)]
    async fn f(l: AsyncLogger) {
        let _ = l;
        tokio::task::yield_now().await;
    }
    tokio::spawn(f(t.logger.clone()).with_tags(Tags::new().with("req", "abc")))
        .await
        .unwrap();
    let captured = {
        let _g = tag("component", "ingest");
        f(t.logger.clone()).in_current_context()
    };
    tokio::spawn(captured).await.unwrap();
    let r = t.records();
    assert_eq!(r[0]["tags"], json!({"req": "abc"}));
    assert_eq!(r[1]["tags"], json!({"component": "ingest"}));
}

#[test]
fn slow_flag_only_when_threshold_exceeded() {
    let t = TempLog::new();
    #[trace(logger = l, slow_ms = 10)]
    fn slow(l: &AsyncLogger) {
        let _ = l;
        std::thread::sleep(Duration::from_millis(20));
    }
    #[trace(logger = l, slow_ms = 10_000)]
    fn fast(l: &AsyncLogger) {
        let _ = l;
    }
    #[trace(logger = l)]
    fn unset(l: &AsyncLogger) {
        let _ = l;
        std::thread::sleep(Duration::from_millis(20));
    }
    slow(&t.logger);
    fast(&t.logger);
    unset(&t.logger);
    let r = t.records();
    assert_eq!(r[0]["slow"], true);
    assert!(r[1].get("slow").is_none());
    assert!(r[2].get("slow").is_none());
}

#[test]
fn sampling_is_decided_at_the_root_and_inherited() {
    let t = TempLog::new();
    #[trace(logger = l, sample = 1.0)]
    fn keep_inner(l: &AsyncLogger) {
        let _ = l;
    }
    #[trace(logger = l, sample = 0.0)]
    fn drop_root(l: &AsyncLogger) -> Option<sentinel::TraceId> {
        keep_inner(l);
        current_trace_id()
    }
    #[trace(logger = l, sample = 0.0)]
    fn drop_inner(l: &AsyncLogger) {
        let _ = l;
    }
    #[trace(logger = l, sample = 1)]
    fn keep_root(l: &AsyncLogger) {
        drop_inner(l);
        drop_inner(l);
    }
    for _ in 0..10 {
        // Sampled-out calls still run and still expose their trace id.
        assert!(drop_root(&t.logger).is_some());
    }
    keep_root(&t.logger);
    let r = t.records();
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(r.iter().all(|x| x["trace_id"] == r[2]["trace_id"]));
}

#[tokio::test]
async fn async_sample_zero_emits_nothing_but_runs() {
    let t = TempLog::new();
    #[trace(logger = l, sample = 0.0)]
    async fn f(l: &AsyncLogger) -> &'static str {
        let _ = l;
        "ok"
    }
    assert_eq!(f(&t.logger).await, "ok");
    assert!(t.records().is_empty());
}

#[test]
fn time_block_records_success_error_and_joins_trace() {
    let t = TempLog::new();
    {
        let _b = TimeBlock::builder("work").logger(&t.logger).start();
        std::thread::sleep(Duration::from_millis(20));
    }
    {
        let mut b = TimeBlock::builder("boom").logger(&t.logger).start();
        if let Err(e) = "x".parse::<u8>() {
            b.fail(&e);
        }
    }
    #[trace(logger = l)]
    fn outer(l: &AsyncLogger) {
        let _g = tag("component", "ingest");
        let _b = TimeBlock::builder("inside").logger(l).start();
    }
    outer(&t.logger);
    {
        let _b = TimeBlock::builder("dropped")
            .logger(&t.logger)
            .sample(0.0)
            .start();
    }
    let r = t.records();
    assert_eq!(r.len(), 4, "{r:?}");
    assert_eq!(r[0]["label"], "work");
    assert!(r[0].get("function").is_none());
    assert_eq!(r[0]["status"], "success");
    assert!(r[0]["duration_ms"].as_f64().unwrap() >= 20.0);
    assert_eq!(r[0]["parent_span_id"], Value::Null);
    assert_eq!(r[1]["status"], "error");
    assert_eq!(r[1]["error_type"], "ParseIntError");
    assert_eq!(r[2]["label"], "inside");
    assert_eq!(r[2]["tags"], json!({"component": "ingest"}));
    assert_eq!(r[2]["parent_span_id"], r[3]["span_id"]);
    assert_eq!(r[3]["function"], "outer");
}

#[test]
fn time_block_records_panic() {
    let t = TempLog::new();
    let l = t.logger.clone();
    let res = std::panic::catch_unwind(move || {
        let _b = TimeBlock::builder("explodes").logger(&l).start();
        panic!("missing");
    });
    assert!(res.is_err());
    let r = &t.records()[0];
    assert_eq!(r["label"], "explodes");
    assert_eq!(r["error_type"], "panic");
}

#[tokio::test]
async fn time_block_wraps_a_future() {
    let t = TempLog::new();
    let out = TimeBlock::builder("download")
        .logger(&t.logger)
        .wrap(async {
            tokio::task::yield_now().await;
            current_trace_id()
        })
        .await;
    assert!(out.is_some());
    let r = &t.records()[0];
    assert_eq!(r["label"], "download");
    assert_eq!(r["trace_id"], out.unwrap().to_string());
}

struct Service {
    logger: AsyncLogger,
    calls: u32,
}

impl Service {
    #[trace(logger = self.logger)]
    fn by_ref(&self) -> u32 {
        self.calls
    }

    /// Docs survive.
    #[trace(logger = self.logger, label = "mutate")]
    fn by_mut(&mut self) -> u32 {
        self.calls += 1;
        self.calls
    }

    #[trace(logger = self.logger)]
    async fn by_mut_async(&mut self) -> u32 {
        tokio::task::yield_now().await;
        self.calls += 1;
        self.calls
    }

    #[trace(logger = self.logger.clone())]
    fn by_value(self) -> u32 {
        self.calls
    }

    #[trace(logger = self.logger)]
    fn generic<T: Into<u32> + Copy>(&self, x: T) -> impl std::fmt::Display + use<T> {
        x.into() + 1
    }

    #[trace(logger = self.logger)]
    fn borrowed<'a>(&self, s: &'a str) -> &'a str {
        &s[1..]
    }

    #[trace(logger = self.logger)]
    unsafe fn dangerous(&self, p: *const u32) -> u32 {
        // SAFETY: the caller passes a valid pointer.
        unsafe { *p }
    }
}

trait Handler {
    fn handle(&self, x: u32) -> impl std::future::Future<Output = u32> + Send;
}

impl Handler for Service {
    #[trace(logger = self.logger)]
    async fn handle(&self, x: u32) -> u32 {
        tokio::task::yield_now().await;
        x * 2
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::test]
async fn methods_generics_lifetimes_unsafe_and_trait_impls() {
    let t = TempLog::new();
    let mut s = Service {
        logger: t.logger.clone(),
        calls: 0,
    };
    assert_eq!(s.by_ref(), 0);
    assert_eq!(s.by_mut(), 1);
    assert_eq!(assert_send(s.by_mut_async()).await, 2);
    assert_eq!(s.generic(4u8).to_string(), "5");
    assert_eq!(s.borrowed("xyz"), "yz");
    let v = 7u32;
    // SAFETY: `v` is alive.
    assert_eq!(unsafe { s.dangerous(&v) }, 7);
    assert_eq!(assert_send(s.handle(21)).await, 42);
    assert_eq!(s.by_value(), 2);
    let names: Vec<String> = t
        .records()
        .iter()
        .map(|r| r["function"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "by_ref",
            "by_mut[mutate]",
            "by_mut_async",
            "generic",
            "borrowed",
            "dangerous",
            "handle",
            "by_value"
        ]
    );
}

#[test]
fn trace_ids_are_visible_inside_and_gone_after() {
    let t = TempLog::new();
    assert_eq!(current_trace_id(), None);
    assert_eq!(current_span_id(), None);
    #[trace(logger = l)]
    fn f(l: &AsyncLogger) -> (Option<sentinel::TraceId>, Option<sentinel::SpanId>) {
        let _ = l;
        (current_trace_id(), current_span_id())
    }
    let (tid, sid) = f(&t.logger);
    assert!(tid.is_some() && sid.is_some());
    assert_eq!(current_trace_id(), None);
    let r = &t.records()[0];
    assert_eq!(r["span_id"], sid.unwrap().to_string());
}

#[test]
fn flush_with_wait_returns_after_records_are_in_the_file() {
    let t = TempLog::new();
    #[trace(logger = l)]
    fn f(l: &AsyncLogger) {
        let _ = l;
    }
    for _ in 0..1000 {
        f(&t.logger);
    }
    assert!(t.logger.flush_blocking(WAIT));
    assert_eq!(support::read_jsonl(&t.path).len(), 1000);
}

// regression: issue #11
#[test]
fn issue_11_owned_labels_that_need_escaping_stay_json_when_memory_is_reused() {
    const ROUNDS: usize = 5_000;
    let t = TempLog::new();
    let mut want = Vec::with_capacity(2 * ROUNDS);
    for i in 0..ROUNDS {
        // Same length, so a freed plain label's memory fits the next one.
        let plain = format!("plain-{i:09}");
        let forged = format!("\"\\\n\t\u{1}{i:010}");
        assert_eq!(plain.len(), forged.len());
        for label in [plain, forged] {
            want.push(label.clone());
            drop(TimeBlock::builder(label).logger(&t.logger).start());
            // The writer encodes and frees this label before the next one is
            // allocated, so the allocator may hand its memory out again.
            assert!(t.logger.flush_blocking(WAIT));
        }
    }
    let records = t.records();
    assert_eq!(records.len(), want.len());
    for (r, want) in records.iter().zip(&want) {
        assert_eq!(r["label"], want.as_str());
    }
}
