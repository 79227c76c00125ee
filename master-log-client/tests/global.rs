//! The module-level default client: built from the real environment on first use, replaced
//! by `configure`. Alone in its test binary because it changes process-wide state.

mod support;

use std::sync::Mutex;
use std::time::Duration;

use master_log_client::{Client, mlog};
use support::Server;

/// Serialises access to the process environment within this binary.
static ENV_LOCK: Mutex<()> = Mutex::new(());

#[test]
fn default_client_comes_from_the_environment_and_configure_replaces_it() {
    let _guard = ENV_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let env_server = Server::start(vec![]);
    // SAFETY: no other thread of this process reads or writes the environment now: this is
    // the only test in the binary, and the runtime is created afterwards.
    unsafe {
        std::env::set_var("MASTER_LOG_API_KEY", "env-key");
        std::env::set_var("MASTER_LOG_ENDPOINT", env_server.url());
        std::env::set_var("MASTER_LOG_BACKPRESSURE", "false");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let frame_id = 42;
        mlog!("Captured frame", frame_id, "for", "M31")
            .await
            .unwrap();
        master_log_client::warn("Seeing degraded").await.unwrap();
        let report = master_log_client::flush(Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(report.accepted, 2);
        let r = &env_server.requests()[0];
        assert_eq!(r.header("authorization"), Some("Bearer env-key"));
        assert_eq!(r.bodies(), ["Captured frame 42 for M31", "Seeing degraded"]);

        let code_server = Server::start(vec![]);
        master_log_client::configure(
            Client::builder()
                .api_key("configured-key")
                .endpoint(code_server.url()),
        )
        .unwrap();
        mlog!(error, tags = ["ccd"]; "cooling loop failed")
            .await
            .unwrap();
        let report = master_log_client::shutdown(Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(report.accepted, 1);
        let r = &code_server.requests()[0];
        assert_eq!(r.header("authorization"), Some("Bearer configured-key"));
        assert_eq!(r.logs()[0]["severity"], "error");
        assert_eq!(env_server.requests().len(), 1);
    });
    unsafe {
        std::env::remove_var("MASTER_LOG_API_KEY");
        std::env::remove_var("MASTER_LOG_ENDPOINT");
        std::env::remove_var("MASTER_LOG_BACKPRESSURE");
    }
}
