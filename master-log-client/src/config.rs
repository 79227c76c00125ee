//! Settings, their defaults, their environment variables, and how they are resolved.
//!
//! Every setting is taken from, in order: the value given to the [`ClientBuilder`] in code, the
//! environment variable, the default below. Values are validated in [`ClientBuilder::build`];
//! an unparsable or out-of-range value is an [`Error::InvalidConfig`] that names the setting and
//! the value. Blank environment values count as unset. [`ClientBuilder`] lists every setting
//! with its variable, default and accepted values.
//!
//! Each setting is one row of the `settings!` table in this file, which yields its builder
//! method, environment variable, default, validation and docs.
//!
//! [`ClientBuilder`]: crate::ClientBuilder
//! [`ClientBuilder::build`]: crate::ClientBuilder::build

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::spool::SpoolFsync;

/// Longest duration any seconds setting accepts: one day.
const MAX_SECONDS: f64 = 86_400.0;

/// What a setting accepts, as `rule!(text ...)` for messages and docs and `rule!(check ...)`
/// for the test itself.
macro_rules! rule {
    (text flag) => {
        "one of 1, true, yes, on, 0, false, no, off"
    };
    (check flag) => {
        |_: &bool| true
    };
    (text path) => {
        "a folder path (created if missing)"
    };
    (check path) => {
        |_: &Option<PathBuf>| true
    };
    (text fsync) => {
        "one of none, segment, batch"
    };
    (check fsync) => {
        |_: &SpoolFsync| true
    };
    (text seconds > 0) => {
        "seconds greater than 0 and at most 86400"
    };
    (check seconds > 0) => {
        |d: &Duration| !d.is_zero() && d.as_secs_f64() <= MAX_SECONDS
    };
    (text seconds >= 0) => {
        "seconds between 0 and 86400"
    };
    (check seconds >= 0) => {
        |d: &Duration| d.as_secs_f64() <= MAX_SECONDS
    };
    (text seconds $lo:literal ..= $hi:literal) => {
        concat!(
            "seconds between ",
            stringify!($lo),
            " and ",
            stringify!($hi)
        )
    };
    (check seconds $lo:literal ..= $hi:literal) => {
        |v: &f64| v.is_finite() && (f64::from($lo)..=f64::from($hi)).contains(v)
    };
    (text integer $lo:literal ..= $hi:literal) => {
        concat!(
            "an integer between ",
            stringify!($lo),
            " and ",
            stringify!($hi)
        )
    };
    (check integer $lo:literal ..= $hi:literal) => {
        |v| ($lo..=$hi).contains(v)
    };
}
pub(crate) use rule;

/// The argument type of a generated setter: the setting's type, or the row's `set` type.
macro_rules! setter_arg {
    ($ty:ty) => {
        $ty
    };
    ($ty:ty, $arg:ty) => {
        $arg
    };
}

/// The value a generated setter stores: its argument, or the row's `set` conversion of it.
macro_rules! setter_value {
    ($value:ident) => {
        $value
    };
    ($value:ident, $conv:expr) => {
        ($conv)($value)
    };
}

/// Generates, from one row per setting: the `*_ENV` and `DEFAULT_*` constants, the
/// [`Overrides`] and [`Config`] fields, the [`ClientBuilder`] setter, its resolution in
/// [`Config::resolve`] and its line in the builder's settings table.
macro_rules! settings {
    (
        required {$(
            $(#[doc = $req_doc:literal])*
            $req:ident, env $req_env_const:ident = $req_env:literal, accepts $req_accepts:literal;
        )*}
        $(
            $(#[doc = $doc:literal])*
            $name:ident: $ty:ty, $(set $arg:ty => $conv:expr,)? env $env_const:ident = $env:literal,
            default $default_const:ident = $default:expr, $shown:literal,
            accepts [$($rule:tt)*];
        )*
    ) => {
        $(
            $(#[doc = $req_doc])*
            pub const $req_env_const: &str = $req_env;
        )*
        $(
            #[doc = concat!(
                "Environment variable for [`ClientBuilder::", stringify!($name),
                "`](crate::ClientBuilder::", stringify!($name), "): ", $crate::config::rule!(text $($rule)*), ".",
            )]
            pub const $env_const: &str = $env;
            #[doc = concat!(
                "Default of [`ClientBuilder::", stringify!($name), "`](crate::ClientBuilder::",
                stringify!($name), "): ", $shown, ".",
            )]
            pub const $default_const: $ty = $default;
        )*

        /// Values given in code; `None` falls back to the environment, then to the default.
        #[derive(Default, Clone)]
        pub(crate) struct Overrides {
            $(pub(crate) $req: Option<String>,)*
            $(pub(crate) $name: Option<$ty>,)*
        }

        impl fmt::Debug for Overrides {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct("Overrides")
                    .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
                    .field("endpoint", &self.endpoint.as_deref().map(redact))
                    $(.field(stringify!($name), &self.$name))*
                    .finish()
            }
        }

        /// The resolved, validated configuration of one client.
        #[derive(Debug, Clone)]
        pub(crate) struct Config {
            pub(crate) api_key: ApiKey,
            pub(crate) urls: Urls,
            $(pub(crate) $name: $ty,)*
        }

        impl Config {
            /// Resolves `overrides` against `lookup` (the environment) and the defaults.
            pub(crate) fn resolve(overrides: &Overrides, lookup: &Lookup<'_>) -> Result<Config> {
                let config = Config {
                    api_key: resolve_api_key(overrides.api_key.clone(), lookup)?,
                    urls: resolve_urls(overrides.endpoint.clone(), lookup)?,
                    $($name: resolve(
                        overrides.$name.clone(),
                        concat!("ClientBuilder::", stringify!($name)),
                        $env_const,
                        lookup,
                        $default_const,
                        $crate::config::rule!(check $($rule)*),
                        concat!("expected ", $crate::config::rule!(text $($rule)*)),
                    )?,)*
                };
                config.check_transport()?;
                Ok(config)
            }
        }

        impl ClientBuilder {
            $(
                $(#[doc = $doc])*
                ///
                #[doc = concat!(
                    "Defaults to [`", stringify!($default_const), "`] (", $shown,
                    "); falls back to `", $env, "`; accepts ", $crate::config::rule!(text $($rule)*), ".",
                )]
                ///
                #[doc = concat!(
                    "[`", stringify!($default_const), "`]: crate::config::",
                    stringify!($default_const),
                )]
                pub fn $name(mut self, value: setter_arg!($ty $(, $arg)?)) -> Self {
                    self.overrides.$name = Some(setter_value!(value $(, $conv)?));
                    self
                }
            )*
        }

        /// The settings table in [`ClientBuilder`]'s docs.
        macro_rules! settings_table {
            () => {
                concat!(
                    "| Setting | Environment variable | Default | Accepts |\n",
                    "| --- | --- | --- | --- |\n",
                    $(
                        "| [`", stringify!($req), "`](ClientBuilder::", stringify!($req), ") | `",
                        $req_env, "` | required | ", $req_accepts, " |\n",
                    )*
                    $(
                        "| [`", stringify!($name), "`](ClientBuilder::", stringify!($name), ") | `",
                        $env, "` | ", $shown, " | ", $crate::config::rule!(text $($rule)*), " |\n",
                    )*
                )
            };
        }
    };
}

settings! {
    required {
        /// Environment variable holding the API key sent as `Authorization: Bearer <key>`.
        api_key, env API_KEY_ENV = "MASTER_LOG_API_KEY",
            accepts "a key without control characters";
        /// Environment variable holding the endpoint (root, `/api/v1`, `/api/v1/logs` or
        /// `/api/v1/logs/batch`).
        endpoint, env ENDPOINT_ENV = "MASTER_LOG_ENDPOINT",
            accepts "an `http` or `https` URL";
    }

    /// Allows sending the API key over plain `http://` to a host that is not loopback
    /// (`localhost`, `127.0.0.0/8`, `::1`). Off, such an endpoint is refused by `build`: the
    /// key would cross the network unencrypted.
    allow_insecure_http: bool, env ALLOW_INSECURE_HTTP_ENV = "MASTER_LOG_ALLOW_INSECURE_HTTP",
        default DEFAULT_ALLOW_INSECURE_HTTP = false, "off", accepts [flag];
    /// Sets the timeout of each HTTP request.
    timeout: Duration, env TIMEOUT_ENV = "MASTER_LOG_TIMEOUT_SECONDS",
        default DEFAULT_TIMEOUT = Duration::from_secs(2), "2 s", accepts [seconds > 0];
    /// Prints each event's body to stdout when it is logged.
    echo: bool, env ECHO_ENV = "MASTER_LOG_ECHO",
        default DEFAULT_ECHO = false, "off", accepts [flag];
    /// Chooses asynchronous mode (queue + worker) or direct mode (one request per
    /// `log().await`).
    async_mode: bool, env ASYNC_ENV = "MASTER_LOG_ASYNC",
        default DEFAULT_ASYNC_MODE = true, "on: asynchronous", accepts [flag];
    /// Sets the number of events per batch request.
    batch_size: usize, env BATCH_SIZE_ENV = "MASTER_LOG_BATCH_SIZE",
        default DEFAULT_BATCH_SIZE = 100, "100 events", accepts [integer 1 ..= 100000];
    /// Sets the age of the oldest pending event at which a partial batch is sent.
    flush_interval: Duration, env FLUSH_INTERVAL_ENV = "MASTER_LOG_FLUSH_INTERVAL_SECONDS",
        default DEFAULT_FLUSH_INTERVAL = Duration::from_secs(1), "1 s", accepts [seconds > 0];
    /// Sets the queue capacity, in events.
    max_queue_size: usize, env MAX_QUEUE_SIZE_ENV = "MASTER_LOG_MAX_QUEUE_SIZE",
        default DEFAULT_MAX_QUEUE_SIZE = 10_000, "10 000 events",
        accepts [integer 1 ..= 100000000];
    /// Refuses events at once when the queue is full (`true`, counting them) or makes
    /// [`Client::log`](crate::Client::log) wait up to `queue_timeout` for space (`false`).
    /// Changed from the original client, which dropped by default.
    drop_when_full: bool, env DROP_WHEN_FULL_ENV = "MASTER_LOG_DROP_WHEN_FULL",
        default DEFAULT_DROP_WHEN_FULL = false, "off: `log` waits for room", accepts [flag];
    /// Sets how long [`Client::log`](crate::Client::log) waits for queue space when
    /// `drop_when_full` is off; past it the event is refused with
    /// `Error::QueueFull` and counted.
    queue_timeout: Duration, env QUEUE_TIMEOUT_ENV = "MASTER_LOG_QUEUE_TIMEOUT_SECONDS",
        default DEFAULT_QUEUE_TIMEOUT = Duration::from_secs(5), "5 s",
        accepts [seconds >= 0];
    /// Turns the enqueue backpressure pause on or off. Turn it off only when the caller has
    /// its own rate limit.
    backpressure: bool, env BACKPRESSURE_ENV = "MASTER_LOG_BACKPRESSURE",
        default DEFAULT_BACKPRESSURE = true, "on", accepts [flag];
    /// Seeds the moving average of seconds per log used before the first batch is answered.
    initial_send_seconds_per_log: f64,
        env INITIAL_SEND_SECONDS_PER_LOG_ENV = "MASTER_LOG_INITIAL_SEND_SECONDS_PER_LOG",
        default DEFAULT_INITIAL_SEND_SECONDS_PER_LOG = 0.005, "5 ms per log",
        accepts [seconds 0 ..= 60];
    /// Caps one backpressure pause.
    max_enqueue_sleep: Duration, env MAX_ENQUEUE_SLEEP_ENV = "MASTER_LOG_MAX_ENQUEUE_SLEEP_SECONDS",
        default DEFAULT_MAX_ENQUEUE_SLEEP = Duration::from_millis(250), "250 ms",
        accepts [seconds >= 0];
    /// Sets the least time between the starts of two requests.
    min_request_interval: Duration,
        env MIN_REQUEST_INTERVAL_ENV = "MASTER_LOG_MIN_REQUEST_INTERVAL_SECONDS",
        default DEFAULT_MIN_REQUEST_INTERVAL = Duration::ZERO, "0, no limit",
        accepts [seconds >= 0];
    /// Caps how many times one batch is retried after its first attempt. By default only the
    /// retry budget (`max_retry_elapsed`) ends retries. Changed from the original client,
    /// whose fixed count gave a batch up after about 23 s, before its 60 s budget.
    max_retries: u32, env MAX_RETRIES_ENV = "MASTER_LOG_MAX_RETRIES",
        default DEFAULT_MAX_RETRIES = u32::MAX, "no cap: the retry budget decides",
        accepts [integer 0 ..= 4294967295];
    /// Sets the retry budget: how long one batch may be retried, counted from its first
    /// attempt; a retry that would start later gives the batch up. Retries back off
    /// exponentially from 100 ms to 10 s (with jitter) or follow the server's `Retry-After`
    /// (capped at 5 minutes), so an outage shorter than the budget loses nothing.
    max_retry_elapsed: Duration, env MAX_RETRY_ELAPSED_ENV = "MASTER_LOG_MAX_RETRY_ELAPSED_SECONDS",
        default DEFAULT_MAX_RETRY_ELAPSED = Duration::from_secs(60), "60 s",
        accepts [seconds >= 0];
    /// Turns the durable spool on: batches that cannot be delivered in time are written to
    /// this folder and sent later, by this process or the next one; see
    /// [`spool`](crate::spool). One client per folder.
    spool_dir: Option<PathBuf>, set impl Into<PathBuf> => some_path,
        env SPOOL_DIR_ENV = "MASTER_LOG_SPOOL_DIR",
        default DEFAULT_SPOOL_DIR = None, "off", accepts [path];
    /// Caps the spool's segment files, in bytes; past it the oldest segment is deleted and
    /// its events counted in [`ClientStats::spool_lost_events`](crate::ClientStats::spool_lost_events).
    spool_max_bytes: u64, env SPOOL_MAX_BYTES_ENV = "MASTER_LOG_SPOOL_MAX_BYTES",
        default DEFAULT_SPOOL_MAX_BYTES = 256 << 20, "256 MiB",
        accepts [integer 65536 ..= 1099511627776];
    /// Sets when the spool forces its writes to disk; see [`SpoolFsync`] for the choices and
    /// BENCHMARKS.md for their cost.
    spool_fsync: SpoolFsync, env SPOOL_FSYNC_ENV = "MASTER_LOG_SPOOL_FSYNC",
        default DEFAULT_SPOOL_FSYNC = SpoolFsync::Segment, "`segment`", accepts [fsync];
}

/// The `set` conversion of [`ClientBuilder::spool_dir`]: a path given in code turns the
/// spool on.
fn some_path(path: impl Into<PathBuf>) -> Option<PathBuf> {
    Some(path.into())
}

/// Looks up one environment variable; see [`ClientBuilder::environment`].
pub(crate) type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

type Lookup<'a> = dyn Fn(&str) -> Option<String> + Send + Sync + 'a;

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

/// The two URLs derived from one endpoint. `Debug` hides any password in them.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Urls {
    pub(crate) single: String,
    pub(crate) batch: String,
    /// Plain `http` to a host that is not loopback.
    pub(crate) insecure: bool,
}

impl Urls {
    /// The batch URL as it may be shown: password replaced.
    pub(crate) fn shown_batch(&self) -> String {
        redact(&self.batch)
    }
}

impl fmt::Debug for Urls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Urls")
            .field("single", &redact(&self.single))
            .field("batch", &redact(&self.batch))
            .finish()
    }
}

/// `endpoint` with the password of its user info, if any, replaced by `***`, for messages.
/// Works on text that is not a valid URL, too.
pub(crate) fn redact(endpoint: &str) -> String {
    let after_scheme = endpoint.find("://").map_or(0, |i| i + 3);
    let rest = &endpoint[after_scheme..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return endpoint.to_owned();
    };
    let user_info = &rest[..at];
    let user = user_info.split(':').next().unwrap_or("");
    let hidden = if user_info.contains(':') {
        format!("{user}:***")
    } else {
        user.to_owned()
    };
    format!("{}{hidden}{}", &endpoint[..after_scheme], &rest[at..])
}

impl Config {
    /// Refuses to send the API key unencrypted over the network unless allowed.
    fn check_transport(&self) -> Result<()> {
        if self.urls.insecure && !self.allow_insecure_http {
            return Err(Error::InvalidEndpoint {
                endpoint: self.urls.shown_batch(),
                reason: "plain http would send the API key unencrypted to a host that is not \
                         loopback: use https, or opt in with `allow_insecure_http(true)` \
                         (MASTER_LOG_ALLOW_INSECURE_HTTP)",
            });
        }
        Ok(())
    }
}

/// Whether `url`'s host is this machine: `localhost`, `127.0.0.0/8` or `::1`.
fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let host = host.to_ascii_lowercase();
            host == "localhost" || host.ends_with(".localhost")
        }
    }
}

/// Derives the single-event and batch URLs from any accepted endpoint form.
pub(crate) fn derive_urls(endpoint: &str) -> Result<Urls> {
    let invalid = |reason| Error::InvalidEndpoint {
        endpoint: redact(endpoint),
        reason,
    };
    let trimmed = endpoint.trim().trim_end_matches('/');
    if !trimmed.contains("://") {
        return Err(invalid(
            "the scheme is missing: start the endpoint with `https://` (or `http://`)",
        ));
    }
    let parsed = reqwest::Url::parse(trimmed).map_err(|_| invalid("not a valid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("the scheme must be `http` or `https`"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the host is missing"));
    }
    let insecure = parsed.scheme() == "http" && !is_loopback(&parsed);
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
    Ok(Urls {
        single,
        batch,
        insecure,
    })
}

/// A value a setting can hold: how it is read from the environment and shown in errors.
trait SettingValue: Clone {
    fn parse(raw: &str) -> Option<Self>;
    fn show(&self) -> String;
}

impl SettingValue for Option<PathBuf> {
    fn parse(raw: &str) -> Option<Self> {
        Some(Some(PathBuf::from(raw)))
    }

    fn show(&self) -> String {
        self.as_ref()
            .map_or_else(String::new, |p| p.display().to_string())
    }
}

impl SettingValue for SpoolFsync {
    fn parse(raw: &str) -> Option<Self> {
        SpoolFsync::parse(raw)
    }

    fn show(&self) -> String {
        self.as_str().to_owned()
    }
}

impl SettingValue for bool {
    fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" => Some(false),
            _ => None,
        }
    }

    fn show(&self) -> String {
        self.to_string()
    }
}

impl SettingValue for Duration {
    /// Seconds, fractions allowed; negative, infinite and NaN values do not parse.
    fn parse(raw: &str) -> Option<Self> {
        let secs = raw.parse::<f64>().ok()?;
        Duration::try_from_secs_f64(secs).ok()
    }

    fn show(&self) -> String {
        format!("{}s", self.as_secs_f64())
    }
}

macro_rules! plain_setting_values {
    ($($ty:ty),*) => {$(
        impl SettingValue for $ty {
            fn parse(raw: &str) -> Option<Self> {
                raw.parse().ok()
            }

            fn show(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
plain_setting_values!(usize, u32, u64, f64);

/// The environment value of `name`, blank counting as unset.
fn env_value(lookup: &Lookup<'_>, name: &str) -> Option<String> {
    lookup(name).filter(|v| !v.trim().is_empty())
}

/// Checks the value given in code, or else parses and checks the environment variable, or
/// else takes the default. An error names the builder method or the variable, and the value.
fn resolve<T: SettingValue>(
    code: Option<T>,
    setter: &'static str,
    env: &'static str,
    lookup: &Lookup<'_>,
    default: T,
    valid: fn(&T) -> bool,
    expected: &'static str,
) -> Result<T> {
    let invalid = |setting, value| Error::InvalidConfig {
        setting,
        value,
        expected,
    };
    if let Some(value) = code {
        return if valid(&value) {
            Ok(value)
        } else {
            Err(invalid(setter, value.show()))
        };
    }
    match env_value(lookup, env) {
        None => Ok(default),
        Some(raw) => match T::parse(raw.trim()) {
            Some(value) if valid(&value) => Ok(value),
            _ => Err(invalid(env, raw)),
        },
    }
}

fn resolve_api_key(code: Option<String>, lookup: &Lookup<'_>) -> Result<ApiKey> {
    let key = code
        .or_else(|| env_value(lookup, API_KEY_ENV))
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .ok_or(Error::MissingConfig {
            setting: API_KEY_ENV,
        })?;
    if key.bytes().any(|b| b.is_ascii_control()) {
        return Err(Error::InvalidConfig {
            setting: API_KEY_ENV,
            value: "<redacted>".to_owned(),
            expected: "expected a key without control characters",
        });
    }
    Ok(ApiKey(key))
}

fn resolve_urls(code: Option<String>, lookup: &Lookup<'_>) -> Result<Urls> {
    let endpoint = code
        .or_else(|| env_value(lookup, ENDPOINT_ENV))
        .filter(|e| !e.trim().is_empty())
        .ok_or(Error::MissingConfig {
            setting: ENDPOINT_ENV,
        })?;
    derive_urls(&endpoint)
}

/// Builds a [`Client`](crate::Client). Every option not set here falls back to its environment variable,
/// then to its default; values are validated by [`ClientBuilder::build`].
///
/// # Settings
///
#[doc = settings_table!()]
///
/// Durations in environment variables are seconds, fractions allowed. Flags accept `1`, `true`,
/// `yes`, `on`, `0`, `false`, `no` and `off` in any case. Blank values count as unset.
#[must_use = "a builder does nothing until `build` is called"]
#[derive(Default, Clone)]
pub struct ClientBuilder {
    pub(crate) overrides: Overrides,
    pub(crate) env: Option<EnvLookup>,
    pub(crate) http_client: Option<reqwest::Client>,
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
                matches!(derive_urls(bad), Err(Error::InvalidEndpoint { ref endpoint, .. }) if endpoint == bad),
                "{bad}"
            );
        }
    }

    // regression: issue #14
    #[test]
    fn issue_14_an_endpoint_without_a_scheme_says_the_scheme_is_missing() {
        for bad in [
            "localhost:8000",
            "127.0.0.1:8000",
            "logs.example.com/api/v1",
        ] {
            let err = derive_urls(bad).unwrap_err().to_string();
            assert!(
                err.contains("scheme is missing") && err.contains(bad),
                "{err}"
            );
        }
    }

    #[test]
    fn passwords_are_redacted_from_endpoints() {
        assert_eq!(redact("https://u:pw@h:1/x@y"), "https://u:***@h:1/x@y");
        assert_eq!(redact("https://token@h"), "https://token@h");
        assert_eq!(redact("u:pw@h:1"), "u:***@h:1");
        assert_eq!(redact("https://h/p?q=a@b"), "https://h/p?q=a@b");
        let urls = derive_urls("https://u:hunter2@h").unwrap();
        assert!(!format!("{urls:?}").contains("hunter2"));
        let err = derive_urls("ftp://u:hunter2@h").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    // regression: issue #14
    #[test]
    fn issue_14_plain_http_to_a_remote_host_is_refused_unless_allowed() {
        let with = |endpoint: &str, allow: Option<bool>| {
            Config::resolve(
                &Overrides {
                    api_key: Some("k".into()),
                    endpoint: Some(endpoint.into()),
                    allow_insecure_http: allow,
                    ..Overrides::default()
                },
                &|_: &str| None,
            )
        };
        for remote in [
            "http://logs.example.com",
            "http://10.0.0.1:8000",
            "http://[2001:db8::1]",
        ] {
            let err = with(remote, None).unwrap_err().to_string();
            assert!(err.contains("allow_insecure_http"), "{err}");
            assert!(with(remote, Some(true)).is_ok(), "{remote}");
        }
        for fine in [
            "https://logs.example.com",
            "http://localhost:8000",
            "http://127.0.0.2:1",
            "http://[::1]:1",
        ] {
            assert!(with(fine, None).is_ok(), "{fine}");
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = resolve_with(&[]).unwrap();
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.batch_size, 100);
        assert_eq!(c.flush_interval, Duration::from_secs(1));
        assert_eq!(c.max_queue_size, 10_000);
        assert!(!c.drop_when_full && c.backpressure && c.async_mode && !c.echo);
        assert_eq!(c.queue_timeout, Duration::from_secs(5));
        assert_eq!(c.initial_send_seconds_per_log, 0.005);
        assert_eq!(c.max_enqueue_sleep, Duration::from_millis(250));
        assert_eq!(c.min_request_interval, Duration::ZERO);
        assert_eq!(c.spool_dir, None);
        assert_eq!(c.spool_max_bytes, 256 << 20);
        assert_eq!(c.spool_fsync, SpoolFsync::Segment);
    }

    #[test]
    fn env_values_are_parsed() {
        let c = resolve_with(&[
            (TIMEOUT_ENV, " 0.5 "),
            (BATCH_SIZE_ENV, "7"),
            (FLUSH_INTERVAL_ENV, "2.5"),
            (MAX_QUEUE_SIZE_ENV, "3"),
            (DROP_WHEN_FULL_ENV, "ON"),
            (QUEUE_TIMEOUT_ENV, "0"),
            (BACKPRESSURE_ENV, "No"),
            (ECHO_ENV, "yes"),
            (ASYNC_ENV, "0"),
            (INITIAL_SEND_SECONDS_PER_LOG_ENV, "0.001"),
            (MAX_ENQUEUE_SLEEP_ENV, "0.01"),
            (MIN_REQUEST_INTERVAL_ENV, "0.25"),
            (MAX_RETRIES_ENV, "0"),
            (MAX_RETRY_ELAPSED_ENV, "3"),
            (SPOOL_DIR_ENV, " /var/spool/app "),
            (SPOOL_MAX_BYTES_ENV, "1048576"),
            (SPOOL_FSYNC_ENV, "Batch"),
        ])
        .unwrap();
        assert_eq!(c.timeout, Duration::from_millis(500));
        assert_eq!(c.batch_size, 7);
        assert_eq!(c.flush_interval, Duration::from_millis(2500));
        assert_eq!(c.max_queue_size, 3);
        assert!(c.drop_when_full && !c.backpressure && !c.async_mode && c.echo);
        assert_eq!(c.queue_timeout, Duration::ZERO);
        assert_eq!(c.initial_send_seconds_per_log, 0.001);
        assert_eq!(c.max_enqueue_sleep, Duration::from_millis(10));
        assert_eq!(c.min_request_interval, Duration::from_millis(250));
        assert_eq!(c.max_retries, 0);
        assert_eq!(c.max_retry_elapsed, Duration::from_secs(3));
        assert_eq!(c.spool_dir, Some(PathBuf::from("/var/spool/app")));
        assert_eq!(c.spool_max_bytes, 1 << 20);
        assert_eq!(c.spool_fsync, SpoolFsync::Batch);
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
            (MAX_RETRIES_ENV, "-1"),
            (SPOOL_MAX_BYTES_ENV, "1000"),
            (SPOOL_FSYNC_ENV, "always"),
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
    fn settings_table_names_each_setting_with_its_variable_and_default() {
        let table = settings_table!();
        assert!(table.contains(
            "| [`batch_size`](ClientBuilder::batch_size) | `MASTER_LOG_BATCH_SIZE` | 100 events \
             | an integer between 1 and 100000 |"
        ));
        assert!(table.contains("| `MASTER_LOG_API_KEY` | required |"));
        assert_eq!(table.lines().filter(|l| l.starts_with("| [`")).count(), 20);
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
            endpoint: Some("https://code:1".into()),
            batch_size: Some(5),
            backpressure: Some(true),
            ..Overrides::default()
        };
        let lookup = env(&[
            (API_KEY_ENV, "env-key"),
            (ENDPOINT_ENV, "https://env:1"),
            (BATCH_SIZE_ENV, "9"),
            (BACKPRESSURE_ENV, "false"),
        ]);
        let c = Config::resolve(&overrides, &lookup).unwrap();
        assert_eq!(c.api_key.0, "code-key");
        assert_eq!(c.urls.batch, "https://code:1/api/v1/logs/batch");
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
