//! A span's own tags: values recorded from inside it with
//! `sentinel::record` (across `.await` and thread hops), and the constants
//! and arguments of `#[trace(tags(..), args(..))]`.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, Waker};

use sentinel::context::FutureExt;
use sentinel::{AsyncLogger, Tags, TimeBlock, trace};
use serde_json::{Value, json};
use support::TempLog;

fn by_name<'a>(records: &'a [Value], name: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["function"] == name || r["label"] == name)
        .unwrap_or_else(|| panic!("no record named {name:?} in {records:#?}"))
}

#[test]
fn recorded_values_land_on_the_running_span_only() {
    let t = TempLog::new();
    #[trace(logger = l)]
    fn child(l: &AsyncLogger) {
        let _ = l;
        sentinel::record("rows", 3);
    }
    #[trace(logger = l)]
    fn parent(l: &AsyncLogger) {
        sentinel::record("user_id", 42);
        child(l);
        // After the child: still the parent's.
        sentinel::record("status", "done");
        sentinel::record("user_id", 43); // a key recorded again takes the new value
    }
    parent(&t.logger);
    let r = t.records();
    assert_eq!(by_name(&r, "child")["tags"], json!({"rows": 3}));
    assert_eq!(
        by_name(&r, "parent")["tags"],
        json!({"user_id": 43, "status": "done"})
    );
}

#[test]
fn record_outside_a_span_does_nothing() {
    let t = TempLog::new();
    sentinel::record("stray", 1);
    #[trace(logger = l)]
    fn later(l: &AsyncLogger) {
        let _ = l;
    }
    later(&t.logger);
    sentinel::record("stray", 2);
    let r = t.records();
    assert_eq!(r.len(), 1);
    assert!(r[0].get("tags").is_none(), "{}", r[0]);
}

#[test]
fn record_in_a_sampled_out_span_does_nothing_and_leaves_no_residue() {
    let t = TempLog::new();
    #[trace(logger = l, sample = 0.0)]
    fn dropped(l: &AsyncLogger) {
        let _ = l;
        sentinel::record("lost", 1);
    }
    #[trace(logger = l)]
    fn kept(l: &AsyncLogger) {
        let _ = l;
    }
    dropped(&t.logger);
    kept(&t.logger);
    let r = t.records();
    assert_eq!(r.len(), 1);
    assert!(r[0].get("tags").is_none(), "{}", r[0]);
}

#[test]
fn recorded_values_merge_over_scope_tags_and_are_not_inherited() {
    let t = TempLog::new();
    #[trace(logger = l)]
    fn child(l: &AsyncLogger) {
        let _ = l;
    }
    #[trace(logger = l)]
    fn parent(l: &AsyncLogger) {
        sentinel::record("env", "canary"); // shadows the scope's env on this span
        sentinel::record("user_id", 7);
        child(l);
    }
    {
        let _scope = Tags::new().with("env", "prod").with("region", "eu").enter();
        parent(&t.logger);
    }
    let r = t.records();
    assert_eq!(
        by_name(&r, "parent")["tags"],
        json!({"env": "canary", "region": "eu", "user_id": 7})
    );
    // The child has the scope's tags, not its parent's own.
    assert_eq!(
        by_name(&r, "child")["tags"],
        json!({"env": "prod", "region": "eu"})
    );
}

#[test]
fn time_block_takes_values_recorded_inside_it() {
    let t = TempLog::new();
    {
        let _block = TimeBlock::builder("load").logger(&t.logger).start();
        sentinel::record("bytes", 512);
    }
    let r = t.records();
    assert_eq!(by_name(&r, "load")["tags"], json!({"bytes": 512}));
}

/// A future that is pending until `flag` says go: lets a test poll a traced
/// future on one thread, then finish it on another.
struct Gate(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Future for Gate {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
        if self.0.load(std::sync::atomic::Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

#[test]
fn recorded_values_survive_await_points_and_thread_hops() {
    let t = TempLog::new();
    let go = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    #[trace(logger = l)]
    async fn handler(l: AsyncLogger, gate: Gate) -> std::thread::ThreadId {
        let _ = l;
        sentinel::record("before", format!("{:?}", std::thread::current().id()));
        gate.await;
        sentinel::record("after", format!("{:?}", std::thread::current().id()));
        std::thread::current().id()
    }
    let mut fut = Box::pin(handler(t.logger.clone(), Gate(go.clone())));
    let mut cx = TaskContext::from_waker(Waker::noop());
    // First poll on this thread: records "before", then waits on the gate.
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    // Values recorded in a poll are the span's, not this thread's.
    sentinel::record("stray", 1);
    let first = std::thread::current().id();
    go.store(true, std::sync::atomic::Ordering::Release);
    let second = std::thread::spawn(move || {
        let mut cx = TaskContext::from_waker(Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(id) => id,
            Poll::Pending => panic!("gate was open"),
        }
    })
    .join()
    .unwrap();
    assert_ne!(first, second);
    let r = t.records();
    assert_eq!(
        r[0]["tags"],
        json!({"before": format!("{first:?}"), "after": format!("{second:?}")})
    );
}

#[test]
fn recorded_values_survive_yields_on_a_multi_thread_runtime() {
    let t = TempLog::new();
    #[trace(logger = l)]
    async fn handler(l: AsyncLogger, n: u64) -> u64 {
        let _ = l;
        for step in 0..20u64 {
            sentinel::record(format!("step_{step}"), step * n);
            tokio::task::yield_now().await;
        }
        n
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let tasks: Vec<_> = (1..=8)
            .map(|n| tokio::spawn(handler(t.logger.clone(), n)))
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    drop(rt);
    let r = t.records();
    assert_eq!(r.len(), 8);
    for rec in &r {
        let tags = rec["tags"].as_object().unwrap();
        assert_eq!(tags.len(), 20, "{rec}");
        let n = tags["step_1"].as_u64().unwrap();
        for step in 0..20u64 {
            assert_eq!(tags[&format!("step_{step}")], step * n, "{rec}");
        }
    }
}

#[test]
fn a_spawned_task_carrying_the_context_does_not_record_into_its_caller() {
    let t = TempLog::new();
    #[trace(logger = l)]
    async fn handler(l: AsyncLogger) {
        let _ = l;
        sentinel::record("mine", 1);
        tokio::spawn(async { sentinel::record("task", 2) }.in_current_context())
            .await
            .unwrap();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(handler(t.logger.clone()));
    drop(rt);
    let r = t.records();
    assert_eq!(r[0]["tags"], json!({"mine": 1}));
}

#[test]
fn a_tag_scope_inside_an_async_fn_is_a_send_future_across_threads() {
    let t = TempLog::new();
    #[trace(logger = l)]
    async fn step(l: AsyncLogger) {
        let _ = l;
        tokio::task::yield_now().await;
    }
    #[trace(logger = l)]
    async fn handler(l: AsyncLogger, tenant: &'static str) {
        use sentinel::tags::TagsFutureExt;
        // The scope covers what the inner future does, across its awaits.
        async {
            step(l.clone()).await;
            tokio::task::yield_now().await;
            step(l.clone()).await;
        }
        .with_tags(Tags::new().with("tenant", tenant))
        .await;
        step(l).await; // outside the scope
    }
    fn assert_send<T: Send>(t: T) -> T {
        t
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let a = tokio::spawn(assert_send(handler(t.logger.clone(), "acme")));
        let b = tokio::spawn(assert_send(handler(t.logger.clone(), "globex")));
        a.await.unwrap();
        b.await.unwrap();
    });
    drop(rt);
    let r = t.records();
    let handlers: Vec<&Value> = r.iter().filter(|r| r["function"] == "handler").collect();
    assert_eq!(handlers.len(), 2);
    for h in handlers {
        let steps: Vec<&Value> = r
            .iter()
            .filter(|s| s["function"] == "step" && s["parent_span_id"] == h["span_id"])
            .collect();
        assert_eq!(steps.len(), 3);
        let tenants: Vec<&Value> = steps.iter().map(|s| &s["tags"]["tenant"]).collect();
        let scoped: Vec<&Value> = tenants.iter().copied().filter(|v| v.is_string()).collect();
        assert_eq!(scoped.len(), 2, "{steps:#?}");
        assert!(scoped.windows(2).all(|w| w[0] == w[1]));
        // The handler's own record is outside the scope it opened.
        assert!(h.get("tags").is_none(), "{h}");
    }
}

#[derive(serde::Serialize, Clone)]
struct Cart {
    items: u32,
    coupon: Option<&'static str>,
}

struct Sku(u32);

impl std::fmt::Display for Sku {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SKU-{:05}", self.0)
    }
}

struct User {
    id: u64,
}

#[test]
fn trace_tags_and_args_are_the_spans_own_tags() {
    let t = TempLog::new();
    #[trace(logger = l, tags(route = "/checkout", version = 2, beta = true, ratio = -0.5))]
    fn constant(l: &AsyncLogger) {
        let _ = l;
    }
    #[trace(logger = l, args(order_id, user = user.id, cart, sku, "http.method" = "POST"))]
    fn captured(l: &AsyncLogger, order_id: u64, user: &User, cart: Cart, sku: Sku) -> u32 {
        let _ = (l, &sku);
        sentinel::record("paid", true);
        cart.items
    }
    #[trace(logger = l, skip_all, tags(route = "/health"))]
    fn skipped(l: &AsyncLogger, secret: &str) {
        let _ = (l, secret);
    }
    constant(&t.logger);
    let cart = Cart {
        items: 3,
        coupon: None,
    };
    assert_eq!(captured(&t.logger, 17, &User { id: 42 }, cart, Sku(7)), 3);
    skipped(&t.logger, "hunter2");
    let r = t.records();
    assert_eq!(
        by_name(&r, "constant")["tags"],
        json!({"route": "/checkout", "version": 2, "beta": true, "ratio": -0.5})
    );
    assert_eq!(
        by_name(&r, "captured")["tags"],
        json!({
            "order_id": 17,
            "user": 42,
            "cart": {"items": 3, "coupon": null},
            "sku": "SKU-00007",
            "http.method": "POST",
            "paid": true,
        })
    );
    assert_eq!(by_name(&r, "skipped")["tags"], json!({"route": "/health"}));
}

#[test]
fn async_trace_args_and_recorded_values_meet_on_one_span() {
    let t = TempLog::new();
    #[trace(logger = l, tags(route = "/orders"), args(order_id))]
    async fn handler(l: AsyncLogger, order_id: u64) -> Result<u64, std::num::ParseIntError> {
        let _ = l;
        tokio::task::yield_now().await;
        sentinel::record("rows", 2);
        tokio::task::yield_now().await;
        "x".parse::<u64>().map(|n| n + order_id)
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let _tenant = Tags::new().with("tenant", "acme").enter();
    let task = handler(t.logger.clone(), 9).in_current_context();
    let out = rt.block_on(async { tokio::spawn(task).await.unwrap() });
    assert!(out.is_err());
    drop(rt);
    let r = t.records();
    assert_eq!(r[0]["status"], "error");
    assert_eq!(
        r[0]["tags"],
        json!({"tenant": "acme", "route": "/orders", "order_id": 9, "rows": 2})
    );
}

#[test]
fn args_are_not_evaluated_when_sampling_drops_the_span() {
    use std::sync::atomic::{AtomicU32, Ordering};
    static EVALUATED: AtomicU32 = AtomicU32::new(0);
    fn costly(n: u64) -> u64 {
        EVALUATED.fetch_add(1, Ordering::Relaxed);
        n * 2
    }
    let t = TempLog::new();
    #[trace(logger = l, sample = 0.0, args(double = costly(n)))]
    fn dropped(l: &AsyncLogger, n: u64) {
        let _ = (l, n);
    }
    #[trace(logger = l, args(double = costly(n)))]
    fn kept(l: &AsyncLogger, n: u64) {
        let _ = (l, n);
    }
    dropped(&t.logger, 1);
    assert_eq!(EVALUATED.load(Ordering::Relaxed), 0);
    kept(&t.logger, 2);
    assert_eq!(EVALUATED.load(Ordering::Relaxed), 1);
    let r = t.records();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["tags"], json!({"double": 4}));
}
