//! Logger configuration.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Default path of the log file, relative to the working directory.
pub const DEFAULT_LOG_FILE: &str = "sentinel_logs.jsonl";

/// Default bound on what waits for the writer: 64 MiB of estimated encoded
/// records (about 250,000 span lines). Memory is only used by records
/// actually waiting.
pub const DEFAULT_MAX_QUEUE_BYTES: u64 = 64 << 20;

/// Default time without writer progress after which waiting callers are
/// released and records that do not fit are dropped (counted as `stalled`).
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(1);

/// Default bound on how long the exit hook waits for loggers to drain.
pub const DEFAULT_EXIT_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest accepted `stall_timeout` and `exit_timeout`.
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// Settings for an [`crate::AsyncLogger`].
///
/// ```
/// use std::time::Duration;
/// use sentinel::SentinelConfig;
///
/// let config = SentinelConfig::new("logs/app.jsonl")
///     .max_queue_bytes(16 << 20)
///     .stall_timeout(Duration::from_millis(500))
///     .cpu_time(false);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
#[must_use = "a config does nothing until a logger is built from it"]
pub struct SentinelConfig {
    /// Where records go. Defaults to [`DEFAULT_LOG_FILE`]. Missing parent
    /// directories are created when the logger is built.
    pub log_file: PathBuf,
    /// Estimated encoded bytes that may wait for the writer (besides one
    /// staging buffer of at most 64 KiB per producing thread); must be > 0.
    /// Defaults to [`DEFAULT_MAX_QUEUE_BYTES`].
    pub max_queue_bytes: u64,
    /// When the queue is full: `false` (the default) makes producers wait
    /// for room while the writer makes progress, so nothing is lost; `true`
    /// drops the record at once, counted as `queue_full`, so a caller never
    /// waits.
    pub lossy: bool,
    /// How long the writer may make no progress before waiting producers are
    /// released and records that do not fit are dropped (counted as
    /// `stalled`). Defaults to [`DEFAULT_STALL_TIMEOUT`]; at most one hour.
    pub stall_timeout: Duration,
    /// How long the exit hook waits for this logger to drain at process
    /// exit. Defaults to [`DEFAULT_EXIT_TIMEOUT`]; at most one hour.
    pub exit_timeout: Duration,
    /// Whether spans record `cpu_time_ms`. Defaults to `true`. A span reads
    /// its thread's CPU time at each end (and a traced future at each poll):
    /// ~10 ns on x86-64 Linux with glibc, where a thread extrapolates from one
    /// kernel reading until it is switched out, and a syscall (~0.12 µs on
    /// bare metal, ~0.5 µs in a VM) per read elsewhere.
    pub cpu_time: bool,
}

impl Default for SentinelConfig {
    fn default() -> Self {
        SentinelConfig {
            log_file: PathBuf::from(DEFAULT_LOG_FILE),
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            lossy: false,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            exit_timeout: DEFAULT_EXIT_TIMEOUT,
            cpu_time: true,
        }
    }
}

impl SentinelConfig {
    /// Defaults, writing to `log_file`.
    pub fn new(log_file: impl Into<PathBuf>) -> Self {
        SentinelConfig {
            log_file: log_file.into(),
            ..SentinelConfig::default()
        }
    }

    /// Sets [`SentinelConfig::max_queue_bytes`].
    pub fn max_queue_bytes(mut self, bytes: u64) -> Self {
        self.max_queue_bytes = bytes;
        self
    }

    /// Sets [`SentinelConfig::lossy`].
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.lossy = lossy;
        self
    }

    /// Sets [`SentinelConfig::stall_timeout`].
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    /// Sets [`SentinelConfig::exit_timeout`].
    pub fn exit_timeout(mut self, timeout: Duration) -> Self {
        self.exit_timeout = timeout;
        self
    }

    /// Sets [`SentinelConfig::cpu_time`].
    pub fn cpu_time(mut self, on: bool) -> Self {
        self.cpu_time = on;
        self
    }

    /// Checks every field; [`crate::AsyncLogger::new`] calls this first.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<()> {
        if self.max_queue_bytes == 0 {
            return Err(Error::InvalidConfig {
                field: "max_queue_bytes",
                value: "0".into(),
                reason: "must be greater than 0",
            });
        }
        if self.log_file.as_os_str().is_empty() {
            return Err(Error::InvalidConfig {
                field: "log_file",
                value: "\"\"".into(),
                reason: "must not be empty",
            });
        }
        if self.stall_timeout.is_zero() || self.stall_timeout > MAX_TIMEOUT {
            return Err(Error::InvalidConfig {
                field: "stall_timeout",
                value: format!("{:?}", self.stall_timeout),
                reason: "must be greater than 0 and at most one hour",
            });
        }
        if self.exit_timeout > MAX_TIMEOUT {
            return Err(Error::InvalidConfig {
                field: "exit_timeout",
                value: format!("{:?}", self.exit_timeout),
                reason: "must be at most one hour",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_documented_values() {
        let c = SentinelConfig::default();
        assert_eq!(c.log_file, PathBuf::from("sentinel_logs.jsonl"));
        assert_eq!(c.max_queue_bytes, 64 << 20);
        assert!(!c.lossy);
        assert_eq!(c.stall_timeout, Duration::from_secs(1));
        assert_eq!(c.exit_timeout, Duration::from_secs(2));
        assert!(c.cpu_time);
    }

    #[test]
    fn zero_queue_size_is_rejected_with_the_field_name() {
        let err = SentinelConfig::default()
            .max_queue_bytes(0)
            .validate()
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("max_queue_bytes"), "{msg}");
        assert!(msg.contains("greater than 0"), "{msg}");
    }

    #[test]
    fn empty_path_and_huge_timeout_are_rejected() {
        assert!(SentinelConfig::new("").validate().is_err());
        let err = SentinelConfig::default()
            .exit_timeout(Duration::from_secs(7200))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("exit_timeout"));
        let err = SentinelConfig::default()
            .stall_timeout(Duration::ZERO)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("stall_timeout"));
    }

    #[test]
    fn building_a_config_touches_no_file_system() {
        let dir = std::env::temp_dir().join("sentinel-config-test-does-not-exist");
        let _ = SentinelConfig::new(dir.join("log.jsonl"));
        assert!(!dir.exists());
    }
}
