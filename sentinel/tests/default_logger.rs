//! The process-wide default logger: resolved at call time, replaceable,
//! one instance, and alive after the runtime that first used it is gone.

mod support;

use sentinel::{AsyncLogger, SentinelConfig, default_logger, set_default_logger, trace};
use support::{WAIT, global_lock, read_jsonl};

#[trace]
fn seven() -> i32 {
    7
}

#[trace]
async fn async_seven() -> i32 {
    tokio::task::yield_now().await;
    7
}

#[test]
fn resolves_default_logger_at_call_time() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.jsonl");
    let late = dir.path().join("late.jsonl");
    set_default_logger(AsyncLogger::new(SentinelConfig::new(&first)).unwrap());
    assert_eq!(seven(), 7);
    // Installed after the fn was defined and first called.
    let previous =
        set_default_logger(AsyncLogger::new(SentinelConfig::new(&late)).unwrap()).unwrap();
    assert_eq!(seven(), 7);
    assert!(previous.shutdown_blocking(WAIT));
    assert!(default_logger().shutdown_blocking(WAIT));
    assert_eq!(read_jsonl(&first).len(), 1);
    let recs = read_jsonl(&late);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0]["function"], "seven");
}

#[test]
fn default_logger_is_one_instance_across_threads() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    set_default_logger(AsyncLogger::new(SentinelConfig::new(dir.path().join("x.jsonl"))).unwrap());
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let b = barrier.clone();
            std::thread::spawn(move || {
                b.wait();
                default_logger().path().map(|p| p.to_path_buf())
            })
        })
        .collect();
    let paths: Vec<_> = handles.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(paths.windows(2).all(|w| w[0] == w[1]));
    default_logger().shutdown_blocking(WAIT);
}

// regression: a default logger first used inside one `#[tokio::test]`
// runtime must keep working after that runtime is dropped.
#[test]
fn default_logger_outlives_the_runtime_that_first_used_it() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rt.jsonl");
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            set_default_logger(AsyncLogger::new(SentinelConfig::new(&path)).unwrap());
            assert_eq!(async_seven().await, 7);
        });
    } // runtime gone
    assert_eq!(seven(), 7);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(async_seven().await, 7);
        assert!(default_logger().flush().await);
    });
    drop(rt);
    assert!(default_logger().flush_blocking(WAIT));
    let names: Vec<_> = read_jsonl(&path)
        .iter()
        .map(|r| r["function"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["async_seven", "seven", "async_seven"]);
    default_logger().shutdown_blocking(WAIT);
}

#[test]
fn unopenable_default_file_makes_an_unhealthy_default_not_a_panic() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    // Emulate a working directory where the default file cannot be created:
    // a directory named like the default file.
    let cwd = std::env::current_dir().unwrap();
    std::fs::create_dir(dir.path().join(sentinel::DEFAULT_LOG_FILE)).unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let err = AsyncLogger::new(SentinelConfig::default()).unwrap_err();
    std::env::set_current_dir(cwd).unwrap();
    assert!(err.to_string().contains(sentinel::DEFAULT_LOG_FILE));
}
