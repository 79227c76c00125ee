//! Logger configuration.
//!
//! Rotation settings are taken from, in order: the value set in code, the
//! environment variable, the default (rotation off). A blank variable counts
//! as unset; a bad value is an [`Error::InvalidConfig`] naming the variable.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::rotation::policy::Policy;
use crate::rotation::{
    Compression, FaultHook, Period, RemovalHook, Rotation, SystemClock, WallClock,
};

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
    /// Rotation and retention of [`SentinelConfig::log_file`]; off unless set
    /// here or by the environment (see [`SentinelConfig::rotate_bytes`] and
    /// the [rotation module](crate::rotation)).
    pub rotation: Rotation,
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
            rotation: Rotation::default(),
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

    /// Rotates the live file before it would exceed `bytes` (whole lines
    /// only: a single line longer than `bytes` gets a segment of its own).
    /// Defaults to no size limit; falls back to `SENTINEL_ROTATE_BYTES`
    /// (bytes, or with a suffix: `10MiB`, `512KiB`, `1GiB`, `10MB`).
    pub fn rotate_bytes(mut self, bytes: u64) -> Self {
        self.rotation.max_bytes = Some(bytes);
        self
    }

    /// Rotates the live file at every period boundary, by the writer's own
    /// timer even when no record comes; an empty live file is left as it is
    /// (see [the rotation module](crate::rotation#policies)). Defaults to
    /// [`Period::Never`]; falls back to `SENTINEL_ROTATE_EVERY` (`hourly`,
    /// `daily`, `never`).
    pub fn rotate_every(mut self, period: Period) -> Self {
        self.rotation.every = Some(period);
        self
    }

    /// Period boundaries in the machine's local time instead of UTC
    /// (segment names stay UTC). Defaults to `false`; falls back to
    /// `SENTINEL_ROTATE_TIMEZONE` (`utc`, `local`).
    pub fn rotate_local_time(mut self, local: bool) -> Self {
        self.rotation.local_time = Some(local);
        self
    }

    /// Keeps at most `count` rotated segments (at least 1), removing the
    /// oldest. Defaults to no limit; falls back to `SENTINEL_KEEP_SEGMENTS`.
    pub fn keep_segments(mut self, count: u64) -> Self {
        self.rotation.keep_segments = Some(count);
        self
    }

    /// Keeps rotated segments totalling at most `bytes` (the live file not
    /// counted), removing the oldest. Defaults to no limit; falls back to
    /// `SENTINEL_KEEP_BYTES` (as `SENTINEL_ROTATE_BYTES`).
    pub fn keep_bytes(mut self, bytes: u64) -> Self {
        self.rotation.keep_bytes = Some(bytes);
        self
    }

    /// Removes segments rotated out more than `age` ago. Defaults to no
    /// limit; falls back to `SENTINEL_KEEP_AGE` (`90s`, `30m`, `12h`, `7d`).
    pub fn keep_age(mut self, age: Duration) -> Self {
        self.rotation.keep_age = Some(age);
        self
    }

    /// Compresses rotated segments on a background thread. Defaults to
    /// [`Compression::None`]; falls back to `SENTINEL_COMPRESS` (`none`,
    /// `gzip`, `zstd`; `zstd` needs the crate feature `zstd`).
    pub fn compress(mut self, compression: Compression) -> Self {
        self.rotation.compression = Some(compression);
        self
    }

    /// Calls `hook` with each segment retention is about to remove, while it
    /// is still there and complete: to archive it elsewhere, or to count what
    /// it held. It runs on the background thread (never the writer or a
    /// caller), in whichever process removes the segment. An `Err` or a
    /// panic keeps the segment for the next pass (after the next rotation),
    /// counted in [`LoggerStats::rotation_errors`](crate::LoggerStats::rotation_errors),
    /// so retention may then keep more than its limits. A slow hook delays
    /// compression and shutdown (up to [`SentinelConfig::exit_timeout`]).
    /// Defaults to none.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use sentinel::SentinelConfig;
    /// use sentinel::rotation::Segment;
    ///
    /// let config = SentinelConfig::new("logs/app.jsonl")
    ///     .rotate_bytes(64 << 20)
    ///     .keep_segments(30)
    ///     .before_removal(Arc::new(|segment: &Segment| {
    ///         let archive = std::path::Path::new("archive").join(segment.path.file_name().unwrap());
    ///         std::fs::copy(&segment.path, archive).map(drop)
    ///     }));
    /// # drop(config);
    /// ```
    pub fn before_removal(mut self, hook: RemovalHook) -> Self {
        self.rotation.before_removal = Some(hook);
        self
    }

    /// The clock rotation reads (period boundaries, segment names, ages).
    /// Defaults to [`SystemClock`]; tests pass a
    /// [`ManualClock`](crate::rotation::ManualClock).
    pub fn rotation_clock(mut self, clock: Arc<dyn WallClock>) -> Self {
        self.rotation.clock = Some(clock);
        self
    }

    /// Calls `hook` before each file-system step of rotation, compression and
    /// retention; an `Err` fails that step as the file system would (tests
    /// of disk-full and permission errors). Defaults to none.
    pub fn rotation_fault_hook(mut self, hook: FaultHook) -> Self {
        self.rotation.fault_hook = Some(hook);
        self
    }

    /// Checks every field, and the rotation settings the environment fills
    /// in; [`crate::AsyncLogger::new`] calls this first.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] naming the first bad field or environment
    /// variable.
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
        self.rotation_policy()?;
        Ok(())
    }

    /// The rotation settings resolved against the process environment.
    pub(crate) fn rotation_policy(&self) -> Result<Policy> {
        resolve_rotation(&self.rotation, &|var| std::env::var(var).ok())
    }
}

/// Environment variables of the rotation settings, one per setting.
pub(crate) const ROTATE_BYTES_ENV: &str = "SENTINEL_ROTATE_BYTES";
pub(crate) const ROTATE_EVERY_ENV: &str = "SENTINEL_ROTATE_EVERY";
pub(crate) const ROTATE_TIMEZONE_ENV: &str = "SENTINEL_ROTATE_TIMEZONE";
pub(crate) const KEEP_SEGMENTS_ENV: &str = "SENTINEL_KEEP_SEGMENTS";
pub(crate) const KEEP_BYTES_ENV: &str = "SENTINEL_KEEP_BYTES";
pub(crate) const KEEP_AGE_ENV: &str = "SENTINEL_KEEP_AGE";
pub(crate) const COMPRESS_ENV: &str = "SENTINEL_COMPRESS";

/// One setting: the value from code, else the variable parsed by `parse`
/// (a blank one is unset), else `None`.
fn setting<T: Clone>(
    code: &Option<T>,
    var: &'static str,
    lookup: &dyn Fn(&str) -> Option<String>,
    parse: fn(&str) -> Option<T>,
    expected: &'static str,
) -> Result<Option<T>> {
    if code.is_some() {
        return Ok(code.clone());
    }
    match lookup(var) {
        Some(text) if !text.trim().is_empty() => match parse(text.trim()) {
            Some(value) => Ok(Some(value)),
            None => Err(Error::InvalidConfig {
                field: var,
                value: format!("{text:?}"),
                reason: expected,
            }),
        },
        _ => Ok(None),
    }
}

/// Resolves `rotation` against `lookup` (the environment) and validates it.
pub(crate) fn resolve_rotation(
    rotation: &Rotation,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Policy> {
    const BYTES: &str =
        "a positive byte count, optionally with a suffix (512KiB, 10MiB, 1GiB, 10MB)";
    let max_bytes = setting(
        &rotation.max_bytes,
        ROTATE_BYTES_ENV,
        lookup,
        parse_bytes,
        BYTES,
    )?;
    let every = setting(
        &rotation.every,
        ROTATE_EVERY_ENV,
        lookup,
        parse_period,
        "hourly, daily or never",
    )?;
    let local_time = setting(
        &rotation.local_time,
        ROTATE_TIMEZONE_ENV,
        lookup,
        parse_zone,
        "utc or local",
    )?;
    let keep_segments = setting(
        &rotation.keep_segments,
        KEEP_SEGMENTS_ENV,
        lookup,
        |t| t.parse().ok().filter(|&n| n > 0),
        "a whole number of segments, at least 1",
    )?;
    let keep_bytes = setting(
        &rotation.keep_bytes,
        KEEP_BYTES_ENV,
        lookup,
        parse_bytes,
        BYTES,
    )?;
    let keep_age = setting(
        &rotation.keep_age,
        KEEP_AGE_ENV,
        lookup,
        parse_age,
        "a positive age: 90s, 30m, 12h or 7d",
    )?;
    let compression = setting(
        &rotation.compression,
        COMPRESS_ENV,
        lookup,
        parse_compression,
        "none, gzip or zstd",
    )?;
    let invalid = |field: &'static str, value: String, reason: &'static str| {
        Err(Error::InvalidConfig {
            field,
            value,
            reason,
        })
    };
    if max_bytes == Some(0) {
        return invalid("rotation.max_bytes", "0".into(), "must be greater than 0");
    }
    if keep_segments == Some(0) {
        return invalid("rotation.keep_segments", "0".into(), "must be at least 1");
    }
    if keep_bytes == Some(0) {
        return invalid("rotation.keep_bytes", "0".into(), "must be greater than 0");
    }
    if keep_age.is_some_and(|a| a.is_zero()) {
        return invalid("rotation.keep_age", "0s".into(), "must be greater than 0");
    }
    let compression = compression.unwrap_or_default();
    if compression == Compression::Zstd && !cfg!(feature = "zstd") {
        return invalid(
            "rotation.compression",
            "zstd".into(),
            "zstd needs sentinel's `zstd` feature; use gzip or enable the feature",
        );
    }
    let policy = Policy {
        max_bytes,
        every: every.unwrap_or_default(),
        local_time: local_time.unwrap_or(false),
        keep_segments,
        keep_bytes,
        keep_age,
        compression,
        clock: rotation
            .clock
            .clone()
            .unwrap_or_else(|| Arc::new(SystemClock)),
        fault_hook: rotation.fault_hook.clone(),
        before_removal: rotation.before_removal.clone(),
    };
    if !policy.rotates() && (policy.retains() || compression != Compression::None) {
        // Name each setting that asks for it as the user gave it: in code or by variable.
        let given = |in_code: bool, field: &str, var: &str| {
            if in_code {
                Some(field.to_owned())
            } else {
                lookup(var)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| format!("{var}={v}"))
            }
        };
        let asking: Vec<String> = [
            (
                rotation.keep_segments.is_some(),
                "keep_segments",
                KEEP_SEGMENTS_ENV,
            ),
            (rotation.keep_bytes.is_some(), "keep_bytes", KEEP_BYTES_ENV),
            (rotation.keep_age.is_some(), "keep_age", KEEP_AGE_ENV),
            (rotation.compression.is_some(), "compress", COMPRESS_ENV),
        ]
        .into_iter()
        .filter_map(|(in_code, field, var)| given(in_code, field, var))
        .collect();
        return invalid(
            "rotation",
            asking.join(", "),
            "retention and compression need rotation: set rotate_bytes or rotate_every \
             (SENTINEL_ROTATE_BYTES or SENTINEL_ROTATE_EVERY)",
        );
    }
    Ok(policy)
}

fn parse_bytes(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(scale).filter(|&b| b > 0)
}

fn parse_period(text: &str) -> Option<Period> {
    match text.to_ascii_lowercase().as_str() {
        "hourly" => Some(Period::Hourly),
        "daily" => Some(Period::Daily),
        "never" => Some(Period::Never),
        _ => None,
    }
}

fn parse_zone(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "utc" => Some(false),
        "local" => Some(true),
        _ => None,
    }
}

fn parse_age(text: &str) -> Option<Duration> {
    let (digits, unit) = text.split_at(text.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    (secs > 0).then(|| Duration::from_secs(secs))
}

fn parse_compression(text: &str) -> Option<Compression> {
    match text.to_ascii_lowercase().as_str() {
        "none" => Some(Compression::None),
        "gzip" | "gz" => Some(Compression::Gzip),
        "zstd" | "zst" => Some(Compression::Zstd),
        _ => None,
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

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |var| {
            pairs
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn rotation_is_off_by_default() {
        let p = resolve_rotation(&Rotation::default(), &env(&[])).unwrap();
        assert!(!p.rotates());
        assert!(!p.retains());
        assert_eq!(p.compression, Compression::None);
    }

    #[test]
    fn rotation_settings_come_from_the_environment_when_unset_in_code() {
        let vars = env(&[
            ("SENTINEL_ROTATE_BYTES", "10MiB"),
            ("SENTINEL_ROTATE_EVERY", "daily"),
            ("SENTINEL_ROTATE_TIMEZONE", "local"),
            ("SENTINEL_KEEP_SEGMENTS", "7"),
            ("SENTINEL_KEEP_BYTES", "1GB"),
            ("SENTINEL_KEEP_AGE", "14d"),
            ("SENTINEL_COMPRESS", "gzip"),
        ]);
        let p = resolve_rotation(&Rotation::default(), &vars).unwrap();
        assert_eq!(p.max_bytes, Some(10 << 20));
        assert_eq!(p.every, Period::Daily);
        assert!(p.local_time);
        assert_eq!(p.keep_segments, Some(7));
        assert_eq!(p.keep_bytes, Some(1_000_000_000));
        assert_eq!(p.keep_age, Some(Duration::from_secs(14 * 86_400)));
        assert_eq!(p.compression, Compression::Gzip);
    }

    #[test]
    fn code_wins_over_the_environment_and_blank_variables_are_unset() {
        let config = SentinelConfig::default()
            .rotate_bytes(4096)
            .rotate_every(Period::Never)
            .compress(Compression::None);
        let vars = env(&[
            ("SENTINEL_ROTATE_BYTES", "10MiB"),
            ("SENTINEL_ROTATE_EVERY", "hourly"),
            ("SENTINEL_COMPRESS", "gzip"),
            ("SENTINEL_KEEP_SEGMENTS", "  "),
        ]);
        let p = resolve_rotation(&config.rotation, &vars).unwrap();
        assert_eq!(p.max_bytes, Some(4096));
        assert_eq!(p.every, Period::Never);
        assert_eq!(p.compression, Compression::None);
        assert_eq!(p.keep_segments, None);
    }

    #[test]
    fn bad_rotation_values_name_the_variable_or_field() {
        for (vars, named) in [
            (
                env(&[("SENTINEL_ROTATE_BYTES", "ten")]),
                "SENTINEL_ROTATE_BYTES",
            ),
            (
                env(&[("SENTINEL_ROTATE_BYTES", "0")]),
                "SENTINEL_ROTATE_BYTES",
            ),
            (
                env(&[("SENTINEL_ROTATE_EVERY", "weekly")]),
                "SENTINEL_ROTATE_EVERY",
            ),
            (env(&[("SENTINEL_KEEP_AGE", "7w")]), "SENTINEL_KEEP_AGE"),
            (env(&[("SENTINEL_COMPRESS", "lz4")]), "SENTINEL_COMPRESS"),
            (
                env(&[("SENTINEL_KEEP_SEGMENTS", "5")]),
                "rotate_bytes or rotate_every",
            ),
        ] {
            let msg = resolve_rotation(&Rotation::default(), &vars)
                .unwrap_err()
                .to_string();
            assert!(msg.contains(named), "{msg}");
        }
        let zero = SentinelConfig::default().rotate_bytes(1).keep_segments(0);
        let msg = resolve_rotation(&zero.rotation, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("keep_segments"), "{msg}");
    }

    // regression: issue #15
    #[test]
    fn issue_15_an_environment_setting_in_error_is_named_as_the_variable_and_its_value() {
        let zero = resolve_rotation(
            &Rotation::default(),
            &env(&[
                ("SENTINEL_ROTATE_BYTES", "1MiB"),
                ("SENTINEL_KEEP_SEGMENTS", "0"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(zero.contains("SENTINEL_KEEP_SEGMENTS"), "{zero}");
        assert!(zero.contains("at least 1"), "{zero}");

        let unrotated = resolve_rotation(
            &Rotation::default(),
            &env(&[
                ("SENTINEL_KEEP_SEGMENTS", "5"),
                ("SENTINEL_COMPRESS", "gzip"),
            ]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            unrotated.contains("SENTINEL_KEEP_SEGMENTS=5, SENTINEL_COMPRESS=gzip"),
            "{unrotated}"
        );
        assert!(!unrotated.contains("None"), "{unrotated}");
        assert!(unrotated.contains("SENTINEL_ROTATE_BYTES"), "{unrotated}");
    }

    #[test]
    fn building_a_config_touches_no_file_system() {
        let dir = std::env::temp_dir().join("sentinel-config-test-does-not-exist");
        let _ = SentinelConfig::new(dir.join("log.jsonl"));
        assert!(!dir.exists());
    }
}
