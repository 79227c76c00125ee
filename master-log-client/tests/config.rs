//! Configuration from code and from an (injected) environment.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use master_log_client::{Client, Error, Event};
use support::Server;

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| map.get(name).cloned()
}

#[tokio::test]
async fn missing_key_or_endpoint_is_an_error_naming_the_variable() {
    let err = Client::builder().environment(env(&[])).build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "MASTER_LOG_API_KEY is required but was not set"
    );
    let err = Client::builder()
        .environment(env(&[
            ("MASTER_LOG_API_KEY", "k"),
            ("MASTER_LOG_ENDPOINT", "  "),
        ]))
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingConfig {
                setting: "MASTER_LOG_ENDPOINT"
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_env_values_are_errors_naming_variable_and_value() {
    let cases = [
        ("MASTER_LOG_BATCH_SIZE", "lots"),
        ("MASTER_LOG_FLUSH_INTERVAL_SECONDS", "0"),
        ("MASTER_LOG_TIMEOUT_SECONDS", "-2"),
        ("MASTER_LOG_DROP_WHEN_FULL", "perhaps"),
        ("MASTER_LOG_MAX_QUEUE_SIZE", "1.5"),
        ("MASTER_LOG_ENDPOINT", "localhost:8000"),
    ];
    for (var, value) in cases {
        let lookup = env(&[
            ("MASTER_LOG_API_KEY", "k"),
            ("MASTER_LOG_ENDPOINT", "http://127.0.0.1:9"),
            (var, value),
        ]);
        let err = Client::builder().environment(lookup).build().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(value), "{var}: {msg}");
        if var != "MASTER_LOG_ENDPOINT" {
            assert!(msg.contains(var), "{var}: {msg}");
        }
    }
}

#[tokio::test]
async fn bad_severity_strings_are_rejected_with_the_value() {
    let err = "loud".parse::<master_log_client::Severity>().unwrap_err();
    assert!(matches!(err, Error::InvalidSeverity(ref s) if s == "loud"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_values_win_over_the_environment() {
    let env_server = Server::start(vec![]);
    let code_server = Server::start(vec![]);
    let lookup = env(&[
        ("MASTER_LOG_API_KEY", "env-key"),
        ("MASTER_LOG_ENDPOINT", &env_server.url()),
        ("MASTER_LOG_BATCH_SIZE", "1"),
        ("MASTER_LOG_BACKPRESSURE", "false"),
    ]);
    let client = Client::builder()
        .environment(lookup)
        .api_key("code-key")
        .endpoint(code_server.url())
        .batch_size(2)
        .build()
        .unwrap();
    client.log(Event::info("a")).await.unwrap();
    client.log(Event::info("b")).await.unwrap();
    let _ = client.flush(Duration::from_secs(10)).await.unwrap();
    let requests = code_server.requests();
    assert_eq!(requests.len(), 1, "batch size 2 from code, not 1 from env");
    assert_eq!(requests[0].header("authorization"), Some("Bearer code-key"));
    assert!(env_server.requests().is_empty());
}
