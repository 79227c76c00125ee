//! Settings, their defaults, their environment variables, and how they are resolved.
//!
//! Every setting is taken from, in order: the value given to the [`ClientBuilder`] in code, the
//! environment variable, the default below. Values are validated in [`ClientBuilder::build`];
//! an unparsable or out-of-range value is an [`Error::InvalidConfig`] that names the setting and
//! the value. Blank environment values count as unset.
//!
//! [`ClientBuilder`]: crate::ClientBuilder
//! [`ClientBuilder::build`]: crate::ClientBuilder::build

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};

/// Environment variable holding the API key sent as `Authorization: Bearer <key>`.
pub const API_KEY_ENV: &str = "MASTER_LOG_API_KEY";
/// Environment variable holding the endpoint (root, `/api/v1`, `/api/v1/logs` or
/// `/api/v1/logs/batch`).
pub const ENDPOINT_ENV: &str = "MASTER_LOG_ENDPOINT";
/// Environment variable for [`ClientBuilder::timeout`](crate::ClientBuilder::timeout), in seconds.
pub const TIMEOUT_ENV: &str = "MASTER_LOG_TIMEOUT_SECONDS";
/// Environment variable for [`ClientBuilder::echo`](crate::ClientBuilder::echo).
pub const ECHO_ENV: &str = "MASTER_LOG_ECHO";
/// Environment variable for [`ClientBuilder::async_mode`](crate::ClientBuilder::async_mode).
pub const ASYNC_ENV: &str = "MASTER_LOG_ASYNC";
/// Environment variable for [`ClientBuilder::batch_size`](crate::ClientBuilder::batch_size).
pub const BATCH_SIZE_ENV: &str = "MASTER_LOG_BATCH_SIZE";
/// Environment variable for
/// [`ClientBuilder::flush_interval`](crate::ClientBuilder::flush_interval), in seconds.
pub const FLUSH_INTERVAL_ENV: &str = "MASTER_LOG_FLUSH_INTERVAL_SECONDS";
/// Environment variable for
/// [`ClientBuilder::max_queue_size`](crate::ClientBuilder::max_queue_size).
pub const MAX_QUEUE_SIZE_ENV: &str = "MASTER_LOG_MAX_QUEUE_SIZE";
/// Environment variable for
/// [`ClientBuilder::drop_when_full`](crate::ClientBuilder::drop_when_full).
pub const DROP_WHEN_FULL_ENV: &str = "MASTER_LOG_DROP_WHEN_FULL";
/// Environment variable for
/// [`ClientBuilder::queue_timeout`](crate::ClientBuilder::queue_timeout), in seconds.
pub const QUEUE_TIMEOUT_ENV: &str = "MASTER_LOG_QUEUE_TIMEOUT_SECONDS";
/// Environment variable for
/// [`ClientBuilder::backpressure`](crate::ClientBuilder::backpressure).
pub const BACKPRESSURE_ENV: &str = "MASTER_LOG_BACKPRESSURE";
/// Environment variable for
/// [`ClientBuilder::initial_send_seconds_per_log`](crate::ClientBuilder::initial_send_seconds_per_log).
pub const INITIAL_SEND_SECONDS_PER_LOG_ENV: &str = "MASTER_LOG_INITIAL_SEND_SECONDS_PER_LOG";
/// Environment variable for
/// [`ClientBuilder::max_enqueue_sleep`](crate::ClientBuilder::max_enqueue_sleep), in seconds.
pub const MAX_ENQUEUE_SLEEP_ENV: &str = "MASTER_LOG_MAX_ENQUEUE_SLEEP_SECONDS";
/// Environment variable for
/// [`ClientBuilder::min_request_interval`](crate::ClientBuilder::min_request_interval), in seconds.
pub const MIN_REQUEST_INTERVAL_ENV: &str = "MASTER_LOG_MIN_REQUEST_INTERVAL_SECONDS";
/// Environment variable for [`ClientBuilder::max_retries`](crate::ClientBuilder::max_retries).
pub const MAX_RETRIES_ENV: &str = "MASTER_LOG_MAX_RETRIES";
/// Environment variable for
/// [`ClientBuilder::max_retry_elapsed`](crate::ClientBuilder::max_retry_elapsed), in seconds.
pub const MAX_RETRY_ELAPSED_ENV: &str = "MASTER_LOG_MAX_RETRY_ELAPSED_SECONDS";

/// Default request timeout: 2 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default for echoing rendered lines to stdout: off.
pub const DEFAULT_ECHO: bool = false;
/// Default delivery mode: asynchronous (queue + background worker).
pub const DEFAULT_ASYNC_MODE: bool = true;
/// Default number of events per batch request: 100.
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// Default age of the oldest pending event that triggers a send: 1 s.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(1);
/// Default queue capacity: 10 000 events.
pub const DEFAULT_MAX_QUEUE_SIZE: usize = 10_000;
/// Default full-queue policy: refuse the event at once (and count it).
pub const DEFAULT_DROP_WHEN_FULL: bool = true;
/// Default wait for queue space when [`DEFAULT_DROP_WHEN_FULL`] is off: 250 ms.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_millis(250);
/// Default for enqueue backpressure: on.
pub const DEFAULT_BACKPRESSURE: bool = true;
/// Default seed of the send-time moving average: 5 ms per log.
pub const DEFAULT_INITIAL_SEND_SECONDS_PER_LOG: f64 = 0.005;
/// Default cap of one backpressure pause: 250 ms.
pub const DEFAULT_MAX_ENQUEUE_SLEEP: Duration = Duration::from_millis(250);
/// Default minimum spacing between request starts: none.
pub const DEFAULT_MIN_REQUEST_INTERVAL: Duration = Duration::ZERO;
/// Default number of retries of one batch after its first attempt: 8.
pub const DEFAULT_MAX_RETRIES: u32 = 8;
/// Default time budget for retrying one batch, counted from its first attempt: 60 s.
pub const DEFAULT_MAX_RETRY_ELAPSED: Duration = Duration::from_secs(60);

const MAX_SECONDS: f64 = 86_400.0;
const MAX_BATCH_SIZE: usize = 100_000;
const MAX_QUEUE_SIZE: usize = 100_000_000;
const MAX_RETRIES: u32 = 1_000;

/// Looks up one environment variable; see [`ClientBuilder::environment`].
///
/// [`ClientBuilder::environment`]: crate::ClientBuilder::environment
pub(crate) type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

pub(crate) fn process_env() -> EnvLookup {
    Arc::new(|name| std::env::var(name).ok())
}

/// An API key that never shows itself in `Debug` output.
#[derive(Clone)]
pub(crate) struct ApiKey(pub(crate) String);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// The two URLs derived from one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Urls {
    pub(crate) single: String,
    pub(crate) batch: String,
}

/// Derives the single-event and batch URLs from any accepted endpoint form.
pub(crate) fn derive_urls(endpoint: &str) -> Result<Urls> {
    let trimmed = endpoint.trim().trim_end_matches('/');
    let parsed =
        reqwest::Url::parse(trimmed).map_err(|_| Error::InvalidEndpoint(endpoint.to_owned()))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::InvalidEndpoint(endpoint.to_owned()));
    }
    let (single, batch) = if let Some(base) = trimmed.strip_suffix("/api/v1/logs/batch") {
        (format!("{base}/api/v1/logs"), trimmed.to_owned())
    } else if trimmed.ends_with("/api/v1/logs") {
        (trimmed.to_owned(), format!("{trimmed}/batch"))
    } else if trimmed.ends_with("/api/v1") {
        (format!("{trimmed}/logs"), format!("{trimmed}/logs/batch"))
    } else {
        (
            format!("{trimmed}/api/v1/logs"),
            format!("{trimmed}/api/v1/logs/batch"),
        )
    };
    Ok(Urls { single, batch })
}

/// Values given in code; `None` falls back to the environment, then to the default.
#[derive(Default, Clone)]
pub(crate) struct Overrides {
    pub(crate) api_key: Option<String>,
    pub(crate) endpoint: Option<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) echo: Option<bool>,
    pub(crate) async_mode: Option<bool>,
    pub(crate) batch_size: Option<usize>,
    pub(crate) flush_interval: Option<Duration>,
    pub(crate) max_queue_size: Option<usize>,
    pub(crate) drop_when_full: Option<bool>,
    pub(crate) queue_timeout: Option<Duration>,
    pub(crate) backpressure: Option<bool>,
    pub(crate) initial_send_seconds_per_log: Option<f64>,
    pub(crate) max_enqueue_sleep: Option<Duration>,
    pub(crate) min_request_interval: Option<Duration>,
    pub(crate) max_retries: Option<u32>,
    pub(crate) max_retry_elapsed: Option<Duration>,
}

impl fmt::Debug for Overrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Overrides")
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("echo", &self.echo)
            .field("async_mode", &self.async_mode)
            .field("batch_size", &self.batch_size)
            .field("flush_interval", &self.flush_interval)
            .field("max_queue_size", &self.max_queue_size)
            .field("drop_when_full", &self.drop_when_full)
            .field("queue_timeout", &self.queue_timeout)
            .field("backpressure", &self.backpressure)
            .field(
                "initial_send_seconds_per_log",
                &self.initial_send_seconds_per_log,
            )
            .field("max_enqueue_sleep", &self.max_enqueue_sleep)
            .field("min_request_interval", &self.min_request_interval)
            .field("max_retries", &self.max_retries)
            .field("max_retry_elapsed", &self.max_retry_elapsed)
            .finish()
    }
}

/// The resolved, validated configuration of one client.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) api_key: ApiKey,
    pub(crate) urls: Urls,
    pub(crate) timeout: Duration,
    pub(crate) echo: bool,
    pub(crate) async_mode: bool,
    pub(crate) batch_size: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) max_queue_size: usize,
    pub(crate) drop_when_full: bool,
    pub(crate) queue_timeout: Duration,
    pub(crate) backpressure: bool,
    pub(crate) initial_send_seconds_per_log: f64,
    pub(crate) max_enqueue_sleep: Duration,
    pub(crate) min_request_interval: Duration,
    pub(crate) max_retries: u32,
    pub(crate) max_retry_elapsed: Duration,
}

/// Where a value came from, for error messages.
struct Source<'a> {
    code: &'static str,
    env: &'static str,
    lookup: &'a (dyn Fn(&str) -> Option<String> + Send + Sync),
}

impl Source<'_> {
    fn env_value(&self) -> Option<String> {
        (self.lookup)(self.env).filter(|v| !v.trim().is_empty())
    }

    fn resolve<T: Copy>(
        &self,
        code: Option<T>,
        default: T,
        parse: impl Fn(&str) -> Option<T>,
        valid: impl Fn(T) -> bool,
        show: impl Fn(T) -> String,
        expected: &'static str,
    ) -> Result<T> {
        let invalid = |setting, value| Error::InvalidConfig {
            setting,
            value,
            expected,
        };
        if let Some(value) = code {
            return if valid(value) {
                Ok(value)
            } else {
                Err(invalid(self.code, show(value)))
            };
        }
        match self.env_value() {
            None => Ok(default),
            Some(raw) => match parse(raw.trim()) {
                Some(value) if valid(value) => Ok(value),
                _ => Err(invalid(self.env, raw)),
            },
        }
    }

    fn boolean(&self, code: Option<bool>, default: bool) -> Result<bool> {
        self.resolve(
            code,
            default,
            parse_bool,
            |_| true,
            |b| b.to_string(),
            "expected one of 1, true, yes, on, 0, false, no, off",
        )
    }

    fn seconds(
        &self,
        code: Option<Duration>,
        default: Duration,
        allow_zero: bool,
        expected: &'static str,
    ) -> Result<Duration> {
        let secs = self.resolve(
            code.map(|d| d.as_secs_f64()),
            default.as_secs_f64(),
            |s| s.parse::<f64>().ok(),
            |v| v.is_finite() && v <= MAX_SECONDS && (v > 0.0 || (allow_zero && v == 0.0)),
            |v| format!("{v}s"),
            expected,
        )?;
        // Validated above: finite and within [0, MAX_SECONDS].
        Ok(code.unwrap_or_else(|| Duration::from_secs_f64(secs)))
    }

    fn count<T>(&self, code: Option<T>, default: T, max: T, expected: &'static str) -> Result<T>
    where
        T: Copy + PartialOrd + std::str::FromStr + fmt::Display + From<u8>,
    {
        self.resolve(
            code,
            default,
            |s| s.parse::<T>().ok(),
            |v| v >= T::from(1) && v <= max,
            |v| v.to_string(),
            expected,
        )
    }
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl Config {
    /// Resolves `overrides` against `lookup` (the environment) and the defaults.
    pub(crate) fn resolve(
        overrides: &Overrides,
        lookup: &(dyn Fn(&str) -> Option<String> + Send + Sync),
    ) -> Result<Config> {
        let src = |code, env| Source { code, env, lookup };

        let api_key = match &overrides.api_key {
            Some(key) => Some(key.clone()),
            None => src("", API_KEY_ENV).env_value(),
        }
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .ok_or(Error::MissingConfig {
            setting: API_KEY_ENV,
        })?;
        if api_key.bytes().any(|b| b.is_ascii_control()) {
            return Err(Error::InvalidConfig {
                setting: API_KEY_ENV,
                value: "<redacted>".to_owned(),
                expected: "expected a key without control characters",
            });
        }

        let endpoint = match &overrides.endpoint {
            Some(e) => Some(e.clone()),
            None => src("", ENDPOINT_ENV).env_value(),
        }
        .filter(|e| !e.trim().is_empty())
        .ok_or(Error::MissingConfig {
            setting: ENDPOINT_ENV,
        })?;
        let urls = derive_urls(&endpoint)?;

        let initial_send_seconds_per_log = src(
            "ClientBuilder::initial_send_seconds_per_log",
            INITIAL_SEND_SECONDS_PER_LOG_ENV,
        )
        .resolve(
            overrides.initial_send_seconds_per_log,
            DEFAULT_INITIAL_SEND_SECONDS_PER_LOG,
            |s| s.parse::<f64>().ok(),
            |v| v.is_finite() && (0.0..=60.0).contains(&v),
            |v| v.to_string(),
            "expected seconds between 0 and 60",
        )?;

        Ok(Config {
            api_key: ApiKey(api_key),
            urls,
            timeout: src("ClientBuilder::timeout", TIMEOUT_ENV).seconds(
                overrides.timeout,
                DEFAULT_TIMEOUT,
                false,
                "expected seconds greater than 0 and at most 86400",
            )?,
            echo: src("ClientBuilder::echo", ECHO_ENV).boolean(overrides.echo, DEFAULT_ECHO)?,
            async_mode: src("ClientBuilder::async_mode", ASYNC_ENV)
                .boolean(overrides.async_mode, DEFAULT_ASYNC_MODE)?,
            batch_size: src("ClientBuilder::batch_size", BATCH_SIZE_ENV).count(
                overrides.batch_size,
                DEFAULT_BATCH_SIZE,
                MAX_BATCH_SIZE,
                "expected an integer between 1 and 100000",
            )?,
            flush_interval: src("ClientBuilder::flush_interval", FLUSH_INTERVAL_ENV).seconds(
                overrides.flush_interval,
                DEFAULT_FLUSH_INTERVAL,
                false,
                "expected seconds greater than 0 and at most 86400",
            )?,
            max_queue_size: src("ClientBuilder::max_queue_size", MAX_QUEUE_SIZE_ENV).count(
                overrides.max_queue_size,
                DEFAULT_MAX_QUEUE_SIZE,
                MAX_QUEUE_SIZE,
                "expected an integer between 1 and 100000000",
            )?,
            drop_when_full: src("ClientBuilder::drop_when_full", DROP_WHEN_FULL_ENV)
                .boolean(overrides.drop_when_full, DEFAULT_DROP_WHEN_FULL)?,
            queue_timeout: src("ClientBuilder::queue_timeout", QUEUE_TIMEOUT_ENV).seconds(
                overrides.queue_timeout,
                DEFAULT_QUEUE_TIMEOUT,
                true,
                "expected seconds between 0 and 86400",
            )?,
            backpressure: src("ClientBuilder::backpressure", BACKPRESSURE_ENV)
                .boolean(overrides.backpressure, DEFAULT_BACKPRESSURE)?,
            initial_send_seconds_per_log,
            max_enqueue_sleep: src("ClientBuilder::max_enqueue_sleep", MAX_ENQUEUE_SLEEP_ENV)
                .seconds(
                    overrides.max_enqueue_sleep,
                    DEFAULT_MAX_ENQUEUE_SLEEP,
                    true,
                    "expected seconds between 0 and 86400",
                )?,
            min_request_interval: src(
                "ClientBuilder::min_request_interval",
                MIN_REQUEST_INTERVAL_ENV,
            )
            .seconds(
                overrides.min_request_interval,
                DEFAULT_MIN_REQUEST_INTERVAL,
                true,
                "expected seconds between 0 and 86400",
            )?,
            max_retries: src("ClientBuilder::max_retries", MAX_RETRIES_ENV).resolve(
                overrides.max_retries,
                DEFAULT_MAX_RETRIES,
                |s| s.parse::<u32>().ok(),
                |v| v <= MAX_RETRIES,
                |v| v.to_string(),
                "expected an integer between 0 and 1000",
            )?,
            max_retry_elapsed: src("ClientBuilder::max_retry_elapsed", MAX_RETRY_ELAPSED_ENV)
                .seconds(
                    overrides.max_retry_elapsed,
                    DEFAULT_MAX_RETRY_ELAPSED,
                    true,
                    "expected seconds between 0 and 86400",
                )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn base() -> Vec<(&'static str, &'static str)> {
        vec![(API_KEY_ENV, "k"), (ENDPOINT_ENV, "http://127.0.0.1:1")]
    }

    fn resolve_with(extra: &[(&'static str, &'static str)]) -> Result<Config> {
        let mut pairs = base();
        pairs.extend_from_slice(extra);
        Config::resolve(&Overrides::default(), &env(&pairs))
    }

    #[test]
    fn urls_are_derived_from_every_endpoint_form() {
        for endpoint in [
            "http://h:8000",
            "http://h:8000/",
            " http://h:8000/api/v1 ",
            "http://h:8000/api/v1/logs",
            "http://h:8000/api/v1/logs/batch",
            "http://h:8000/api/v1/logs/batch/",
        ] {
            let urls = derive_urls(endpoint).unwrap();
            assert_eq!(urls.single, "http://h:8000/api/v1/logs", "{endpoint}");
            assert_eq!(urls.batch, "http://h:8000/api/v1/logs/batch", "{endpoint}");
        }
    }

    #[test]
    fn urls_keep_a_path_prefix() {
        let urls = derive_urls("https://example.com/master-log").unwrap();
        assert_eq!(urls.single, "https://example.com/master-log/api/v1/logs");
        assert_eq!(
            urls.batch,
            "https://example.com/master-log/api/v1/logs/batch"
        );
    }

    #[test]
    fn non_http_endpoints_are_rejected() {
        for bad in ["ftp://h", "h:8000", "not a url", "http://"] {
            assert!(
                matches!(derive_urls(bad), Err(Error::InvalidEndpoint(ref e)) if e == bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = resolve_with(&[]).unwrap();
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.flush_interval, Duration::from_secs(1));
        assert_eq!(c.max_queue_size, 10_000);
        assert!(c.drop_when_full && c.backpressure && c.async_mode && !c.echo);
        assert_eq!(c.queue_timeout, Duration::from_millis(250));
        assert_eq!(c.initial_send_seconds_per_log, 0.005);
        assert_eq!(c.max_enqueue_sleep, Duration::from_millis(250));
        assert_eq!(c.min_request_interval, Duration::ZERO);
    }

    #[test]
    fn env_values_are_parsed() {
        let c = resolve_with(&[
            (TIMEOUT_ENV, " 0.5 "),
            (BATCH_SIZE_ENV, "7"),
            (FLUSH_INTERVAL_ENV, "2.5"),
            (MAX_QUEUE_SIZE_ENV, "3"),
            (DROP_WHEN_FULL_ENV, "OFF"),
            (QUEUE_TIMEOUT_ENV, "0"),
            (BACKPRESSURE_ENV, "No"),
            (ECHO_ENV, "yes"),
            (ASYNC_ENV, "0"),
            (INITIAL_SEND_SECONDS_PER_LOG_ENV, "0.001"),
            (MAX_ENQUEUE_SLEEP_ENV, "0.01"),
            (MIN_REQUEST_INTERVAL_ENV, "0.25"),
            (MAX_RETRIES_ENV, "0"),
            (MAX_RETRY_ELAPSED_ENV, "3"),
        ])
        .unwrap();
        assert_eq!(c.timeout, Duration::from_millis(500));
        assert_eq!(c.batch_size, 7);
        assert_eq!(c.flush_interval, Duration::from_millis(2500));
        assert_eq!(c.max_queue_size, 3);
        assert!(!c.drop_when_full && !c.backpressure && !c.async_mode && c.echo);
        assert_eq!(c.queue_timeout, Duration::ZERO);
        assert_eq!(c.initial_send_seconds_per_log, 0.001);
        assert_eq!(c.max_enqueue_sleep, Duration::from_millis(10));
        assert_eq!(c.min_request_interval, Duration::from_millis(250));
        assert_eq!(c.max_retries, 0);
        assert_eq!(c.max_retry_elapsed, Duration::from_secs(3));
    }

    #[test]
    fn bad_env_values_name_the_variable_and_value() {
        let cases = [
            (BATCH_SIZE_ENV, "0"),
            (BATCH_SIZE_ENV, "ten"),
            (BATCH_SIZE_ENV, "-1"),
            (TIMEOUT_ENV, "0"),
            (TIMEOUT_ENV, "NaN"),
            (TIMEOUT_ENV, "inf"),
            (FLUSH_INTERVAL_ENV, "-1"),
            (MAX_QUEUE_SIZE_ENV, "0"),
            (QUEUE_TIMEOUT_ENV, "-0.1"),
            (DROP_WHEN_FULL_ENV, "maybe"),
            (BACKPRESSURE_ENV, "2"),
            (ECHO_ENV, "y"),
            (ASYNC_ENV, "t"),
            (INITIAL_SEND_SECONDS_PER_LOG_ENV, "-0.005"),
            (MAX_ENQUEUE_SLEEP_ENV, "1e9"),
            (MIN_REQUEST_INTERVAL_ENV, "soon"),
            (MAX_RETRIES_ENV, "1001"),
        ];
        for (var, value) in cases {
            match resolve_with(&[(var, value)]) {
                Err(err @ Error::InvalidConfig { setting, .. }) => {
                    assert_eq!(setting, var);
                    let msg = err.to_string();
                    assert!(msg.contains(var) && msg.contains(value), "{msg}");
                }
                other => panic!("{var}={value}: expected InvalidConfig, got {other:?}"),
            }
        }
    }

    #[test]
    fn blank_env_values_count_as_unset() {
        let c = resolve_with(&[(BATCH_SIZE_ENV, "  ")]).unwrap();
        assert_eq!(c.batch_size, DEFAULT_BATCH_SIZE);
    }

    #[test]
    fn code_values_win_over_env() {
        let overrides = Overrides {
            api_key: Some("code-key".into()),
            endpoint: Some("http://code:1".into()),
            batch_size: Some(5),
            backpressure: Some(true),
            ..Overrides::default()
        };
        let lookup = env(&[
            (API_KEY_ENV, "env-key"),
            (ENDPOINT_ENV, "http://env:1"),
            (BATCH_SIZE_ENV, "9"),
            (BACKPRESSURE_ENV, "false"),
        ]);
        let c = Config::resolve(&overrides, &lookup).unwrap();
        assert_eq!(c.api_key.0, "code-key");
        assert_eq!(c.urls.batch, "http://code:1/api/v1/logs/batch");
        assert_eq!(c.batch_size, 5);
        assert!(c.backpressure);
    }

    #[test]
    fn bad_code_values_name_the_builder_method() {
        let overrides = Overrides {
            batch_size: Some(0),
            ..Overrides::default()
        };
        let err = Config::resolve(&overrides, &env(&base())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value `0` for ClientBuilder::batch_size: expected an integer between 1 and 100000"
        );
    }

    #[test]
    fn missing_key_and_endpoint_are_named() {
        let err = Config::resolve(&Overrides::default(), &env(&[])).unwrap_err();
        assert!(matches!(err, Error::MissingConfig { setting } if setting == API_KEY_ENV));
        let err = Config::resolve(&Overrides::default(), &env(&[(API_KEY_ENV, "k")])).unwrap_err();
        assert!(matches!(err, Error::MissingConfig { setting } if setting == ENDPOINT_ENV));
        assert_eq!(
            err.to_string(),
            "MASTER_LOG_ENDPOINT is required but was not set"
        );
    }

    #[test]
    fn api_key_is_redacted_in_debug_and_errors() {
        let c = resolve_with(&[]).unwrap();
        let key = "super-secret-key";
        let c = Config {
            api_key: ApiKey(key.into()),
            ..c
        };
        assert!(!format!("{c:?}").contains(key));
        let overrides = Overrides {
            api_key: Some(format!("{key}\n")),
            ..Overrides::default()
        };
        assert!(!format!("{overrides:?}").contains(key));
        let err = Config::resolve(
            &Overrides {
                api_key: Some("bad\u{7}key".into()),
                ..Overrides::default()
            },
            &env(&base()),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("bad"), "{err}");
    }
}
