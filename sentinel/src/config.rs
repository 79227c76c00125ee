//! Logger configuration.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// Default path of the log file, relative to the working directory.
pub const DEFAULT_LOG_FILE: &str = "sentinel_logs.jsonl";

/// Default bound on records waiting for the writer.
///
/// 65,536 records, about 7 MiB when full (a queued record is ~104 bytes of
/// plain data); memory is only used by records actually waiting. It absorbs
/// bursts of tens of thousands of records while the writer catches up (a
/// slow disk, a stalled write). Measured on the 2-core target VM, a traced
/// call costs ~0.1 µs and the writer encodes and appends a record in about
/// as long, so a single thread calling a trivial traced fn in a hot loop can
/// outrun the writer; what does not fit is dropped and counted unless
/// [`SentinelConfig::enqueue_timeout`] is set, which makes producers wait for
/// room instead. (The original library's 1,000 lost 98% of such a loop.)
pub const DEFAULT_MAX_QUEUE_SIZE: usize = 65_536;

/// Settings for an [`crate::AsyncLogger`].
///
/// ```
/// use std::time::Duration;
/// use sentinel::SentinelConfig;
///
/// let config = SentinelConfig::new("logs/app.jsonl")
///     .max_queue_size(10_000)
///     .enqueue_timeout(Duration::from_millis(5))
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
    /// How many records may wait for the writer; must be > 0. Defaults to
    /// [`DEFAULT_MAX_QUEUE_SIZE`].
    pub max_queue_size: usize,
    /// How long a producer may wait for room when the queue is full. Zero (the
    /// default) drops the record at once and counts it.
    pub enqueue_timeout: Duration,
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
            max_queue_size: DEFAULT_MAX_QUEUE_SIZE,
            enqueue_timeout: Duration::ZERO,
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

    /// Sets [`SentinelConfig::max_queue_size`].
    pub fn max_queue_size(mut self, records: usize) -> Self {
        self.max_queue_size = records;
        self
    }

    /// Sets [`SentinelConfig::enqueue_timeout`].
    pub fn enqueue_timeout(mut self, timeout: Duration) -> Self {
        self.enqueue_timeout = timeout;
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
        if self.max_queue_size == 0 {
            return Err(Error::InvalidConfig {
                field: "max_queue_size",
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
        if self.enqueue_timeout > Duration::from_secs(3600) {
            return Err(Error::InvalidConfig {
                field: "enqueue_timeout",
                value: format!("{:?}", self.enqueue_timeout),
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
        assert_eq!(c.max_queue_size, DEFAULT_MAX_QUEUE_SIZE);
        assert_eq!(c.enqueue_timeout, Duration::ZERO);
        assert!(c.cpu_time);
    }

    #[test]
    fn zero_queue_size_is_rejected_with_the_field_name() {
        let err = SentinelConfig::default()
            .max_queue_size(0)
            .validate()
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("max_queue_size"), "{msg}");
        assert!(msg.contains("greater than 0"), "{msg}");
    }

    #[test]
    fn empty_path_and_huge_timeout_are_rejected() {
        assert!(SentinelConfig::new("").validate().is_err());
        let err = SentinelConfig::default()
            .enqueue_timeout(Duration::from_secs(7200))
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("enqueue_timeout"));
    }

    #[test]
    fn building_a_config_touches_no_file_system() {
        let dir = std::env::temp_dir().join("sentinel-config-test-does-not-exist");
        let _ = SentinelConfig::new(dir.join("log.jsonl"));
        assert!(!dir.exists());
    }
}
