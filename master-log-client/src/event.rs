//! Log events: [`Severity`], the [`Event`] builder, and their JSON encoding.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};
use time::{OffsetDateTime, UtcOffset};

use crate::error::Error;

/// Title used when an event has neither a title nor a non-blank body.
pub const DEFAULT_TITLE: &str = "Rust log event";
/// Longest derived title, in characters.
pub const MAX_TITLE_CHARS: usize = 120;

/// The one list of severities, most verbose first: calls `$callback!` with one
/// `Variant name "doc";` row per severity. Adding a severity is one row here.
macro_rules! with_severities {
    ($callback:ident) => {
        $callback! {
            Trace trace "Very fine-grained diagnostics.";
            Debug debug "Diagnostics for developers.";
            Info info "Normal operation; the default.";
            Warn warn "Something unexpected that the program handled.";
            Error error "A failure of one operation.";
            Fatal fatal "A failure the program cannot continue after.";
        }
    };
}
pub(crate) use with_severities;

macro_rules! severity_enum {
    ($($variant:ident $name:ident $doc:literal;)*) => {
        /// How serious an event is.
        ///
        /// Parsing accepts any case and surrounding whitespace:
        ///
        /// ```
        /// use master_log_client::Severity;
        ///
        /// assert_eq!(" WARN ".parse::<Severity>().unwrap(), Severity::Warn);
        /// assert!("warning".parse::<Severity>().is_err());
        /// assert_eq!(Severity::Fatal.to_string(), "fatal");
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Severity {
            $(#[doc = $doc] $variant,)*
        }

        impl Severity {
            /// Every severity, most verbose first.
            pub const ALL: &[Severity] = &[$(Severity::$variant),*];

            /// The lowercase wire name, e.g. `"warn"`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Severity::$variant => stringify!($name),)*
                }
            }
        }

        impl Event {
            $(
                #[doc = concat!("An event at [`Severity::", stringify!($variant), "`].")]
                pub fn $name(body: impl Into<String>) -> Self {
                    Self::new(Severity::$variant, body)
                }
            )*
        }
    };
}
with_severities!(severity_enum);

impl Default for Severity {
    /// [`Severity::Info`].
    fn default() -> Self {
        Severity::Info
    }
}

impl Severity {
    /// The wire names, comma-separated, for error messages.
    pub(crate) fn names() -> String {
        let names: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
        names.join(", ")
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim();
        Severity::ALL
            .iter()
            .copied()
            .find(|sev| sev.as_str().eq_ignore_ascii_case(t))
            .ok_or_else(|| Error::InvalidSeverity(s.to_owned()))
    }
}

/// A point in time for `created_at` / `expires_at`: a date-time, or a string sent verbatim.
///
/// Date-times are converted to UTC and written as RFC 3339 with a `Z` suffix, with
/// microseconds only when they are non-zero (`2024-05-01T12:00:00Z`,
/// `2024-05-01T12:00:00.250000Z`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timestamp {
    /// A date-time, converted to UTC when encoded.
    DateTime(OffsetDateTime),
    /// A string passed to the server as is.
    Verbatim(String),
}

impl From<OffsetDateTime> for Timestamp {
    fn from(value: OffsetDateTime) -> Self {
        Timestamp::DateTime(value)
    }
}

impl From<String> for Timestamp {
    fn from(value: String) -> Self {
        Timestamp::Verbatim(value)
    }
}

impl From<&str> for Timestamp {
    fn from(value: &str) -> Self {
        Timestamp::Verbatim(value.to_owned())
    }
}

impl Timestamp {
    fn render(&self) -> String {
        match self {
            Timestamp::Verbatim(s) => s.clone(),
            Timestamp::DateTime(dt) => {
                let dt = dt.to_offset(UtcOffset::UTC);
                let mut out = format!(
                    "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                    dt.year(),
                    u8::from(dt.month()),
                    dt.day(),
                    dt.hour(),
                    dt.minute(),
                    dt.second()
                );
                if dt.microsecond() != 0 {
                    out.push_str(&format!(".{:06}", dt.microsecond()));
                }
                out.push('Z');
                out
            }
        }
    }
}

/// One log event, built with chained setters.
///
/// ```
/// use master_log_client::{Event, Severity};
/// use serde_json::json;
///
/// let event = Event::warn("Seeing degraded")
///     .tags(["seeing", "atmosphere"])
///     .metadata(json!({ "fwhm_arcseconds": 3.4 }))
///     .ttl_seconds(120);
/// assert_eq!(event.severity(), Severity::Warn);
/// assert_eq!(event.body(), "Seeing degraded");
/// ```
///
/// The wire payload has the fields `severity`, `tags`, `title`, `body`, `metadata`, then
/// `ttl_seconds`, `expires_at` and `created_at` only when they were set:
///
/// - `tags`: each tag is split on commas and trimmed; empty tags are dropped; the result is
///   de-duplicated and sorted. Always present, possibly empty.
/// - `title`: the explicit title, trimmed, if not blank; else the first line of the trimmed
///   body cut at [`MAX_TITLE_CHARS`] characters; else [`DEFAULT_TITLE`]. Lines and trimming
///   follow Python's `str.splitlines()` and `str.strip()`, as the original client does.
/// - `metadata`: the event's JSON object plus its id under `event_id` (see
///   [`Event::with_id`]), with the `sentinel` feature the `trace_id` and `span_id` of the
///   sentinel span the event was created in (unless the metadata has them), and a
///   `rust_client` block (hostname, fqdn, pid,
///   process_name, argv0, cwd, rust_version, library, library_version). When the event's
///   metadata already has a `rust_client` key, the block goes under `_rust_client` instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    severity: Severity,
    echo: Option<bool>,
    body: String,
    title: Option<String>,
    tags: Vec<String>,
    // Rarely set fields live behind boxes to keep queue slots small.
    metadata: Option<Box<Map<String, Value>>>,
    lifetime: Option<Box<Lifetime>>,
    id: Option<Box<str>>,
    /// The sentinel span the event was created in (feature `sentinel`): trace id high and
    /// low halves, span id; read when created, written out by the worker. Boxed like the
    /// other optional parts, so events outside spans stay small in the queue.
    #[cfg(feature = "sentinel")]
    trace: Option<Box<[u64; 3]>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Lifetime {
    ttl_seconds: Option<u64>,
    expires_at: Option<Timestamp>,
    created_at: Option<Timestamp>,
}

impl Event {
    /// An event with the given severity and body and nothing else.
    pub fn new(severity: Severity, body: impl Into<String>) -> Self {
        Event {
            severity,
            body: body.into(),
            title: None,
            tags: Vec::new(),
            metadata: None,
            lifetime: None,
            echo: None,
            id: None,
            #[cfg(feature = "sentinel")]
            trace: sentinel::context::current_span().map(|s| {
                Box::new([
                    (s.trace_id.0 >> 64) as u64,
                    s.trace_id.0 as u64,
                    s.span_id.0,
                ])
            }),
        }
    }

    /// Sets the event's id, sent as `metadata.event_id` so the server or a reader can drop a
    /// copy delivered twice (see the crate's delivery docs). Default: a metadata `event_id`
    /// the event already has, else one generated when the event is encoded (32 hex
    /// characters: a random per-process prefix and a counter).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into().into_boxed_str());
        self
    }

    /// The id set with [`Event::with_id`], if any (a generated id exists only in the encoded
    /// event).
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Sets the severity. Defaults to the one given at construction.
    #[must_use]
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Replaces the body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets an explicit title. Default: derived from the body (see [`Event`]).
    #[must_use]
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Adds tags; each may itself be a comma-separated list. Default: no tags.
    #[must_use]
    pub fn tags<I>(mut self, tags: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.tags
            .extend(tags.into_iter().map(|t| t.as_ref().to_owned()));
        self
    }

    /// Adds one tag, or several as a comma-separated string (`"ccd, telescope"`).
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Sets the metadata object. Default: empty.
    ///
    /// A value that is not a JSON object is stored under the key `"value"`, so
    /// `metadata(json!(3))` sends `{"value": 3, "rust_client": {...}}`.
    #[must_use]
    pub fn metadata(mut self, metadata: impl Into<Value>) -> Self {
        self.metadata = Some(Box::new(match metadata.into() {
            Value::Object(map) => map,
            other => Map::from_iter([("value".to_owned(), other)]),
        }));
        self
    }

    /// Sets how long the server keeps the event, in seconds (never negative). Default: unset,
    /// the server's default applies.
    #[must_use]
    pub fn ttl_seconds(mut self, ttl_seconds: u64) -> Self {
        self.lifetime.get_or_insert_default().ttl_seconds = Some(ttl_seconds);
        self
    }

    /// Sets when the server may discard the event. Default: unset.
    #[must_use]
    pub fn expires_at(mut self, at: impl Into<Timestamp>) -> Self {
        self.lifetime.get_or_insert_default().expires_at = Some(at.into());
        self
    }

    /// Sets when the event happened. Default: unset, the server stamps it on arrival.
    #[must_use]
    pub fn created_at(mut self, at: impl Into<Timestamp>) -> Self {
        self.lifetime.get_or_insert_default().created_at = Some(at.into());
        self
    }

    /// Prints (or not) the body to stdout when logged, overriding
    /// [`ClientBuilder::echo`](crate::ClientBuilder::echo). Default: the client's setting.
    #[must_use]
    pub fn echo(mut self, echo: bool) -> Self {
        self.echo = Some(echo);
        self
    }

    /// The severity.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The body.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// The title that will be sent: explicit, derived from the body, or [`DEFAULT_TITLE`].
    ///
    /// Lines end where Python's `str.splitlines()` ends them (`\n`, `\r`, `\v`, `\f`,
    /// `\x1c`-`\x1e`, `\x85`, U+2028, U+2029), and the body is trimmed of what Python's
    /// `str.strip()` trims, so titles match the original client's.
    pub fn effective_title(&self) -> &str {
        if let Some(t) = self
            .title
            .as_deref()
            .map(python_strip)
            .filter(|t| !t.is_empty())
        {
            return t;
        }
        let first = first_line(python_strip(&self.body));
        let cut = first
            .char_indices()
            .nth(MAX_TITLE_CHARS)
            .map_or(first, |(i, _)| &first[..i]);
        if cut.is_empty() { DEFAULT_TITLE } else { cut }
    }

    /// The tags that will be sent: split on commas, trimmed, de-duplicated and sorted.
    pub fn normalized_tags(&self) -> Vec<&str> {
        let mut tags: Vec<&str> = self
            .tags
            .iter()
            .flat_map(|t| t.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        tags.sort_unstable();
        tags.dedup();
        tags
    }

    pub(crate) fn echo_override(&self) -> Option<bool> {
        self.echo
    }

    /// Appends this event's JSON object to `out`.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"severity\":\"");
        out.extend_from_slice(self.severity.as_str().as_bytes());
        out.extend_from_slice(b"\",\"tags\":[");
        match self.tags.as_slice() {
            [] => {}
            // The common case needs no sorting and no allocation.
            [one] if !one.contains(',') && !one.trim().is_empty() => write_json(out, one.trim()),
            _ => {
                for (i, tag) in self.normalized_tags().into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json(out, tag);
                }
            }
        }
        out.extend_from_slice(b"],\"title\":");
        write_json(out, self.effective_title());
        out.extend_from_slice(b",\"body\":");
        write_json(out, &self.body);
        out.extend_from_slice(b",\"metadata\":{");
        let block_key = match &self.metadata {
            Some(m) if m.contains_key("rust_client") => "_rust_client",
            _ => "rust_client",
        };
        // An explicit id wins over a metadata `event_id`, which wins over a generated one.
        let has_own_id = self
            .metadata
            .as_ref()
            .is_some_and(|m| m.contains_key(ID_KEY));
        if let Some(id) = &self.id {
            write_json(out, ID_KEY);
            out.push(b':');
            write_json(out, &**id);
            out.push(b',');
        } else if !has_own_id {
            out.extend_from_slice(b"\"event_id\":\"");
            out.extend_from_slice(&generated_id());
            out.extend_from_slice(b"\",");
        }
        #[cfg(feature = "sentinel")]
        if let Some(&[high, low, span]) = self.trace.as_deref() {
            // The event's own metadata keys win, as a `MasterLogLayer` id hook's do.
            let own = |key: &str| self.metadata.as_ref().is_some_and(|m| m.contains_key(key));
            if !own("trace_id") && !own("span_id") {
                let ids =
                    format!("\"trace_id\":\"{high:016x}{low:016x}\",\"span_id\":\"{span:016x}\",");
                out.extend_from_slice(ids.as_bytes());
            }
        }
        if let Some(map) = &self.metadata {
            // The block replaces a user entry with the same key, as a dict update would.
            let skip_id = self.id.is_some();
            for (k, v) in map
                .iter()
                .filter(|(k, _)| k.as_str() != block_key && !(skip_id && k.as_str() == ID_KEY))
            {
                write_json(out, k);
                out.push(b':');
                write_json(out, v);
                out.push(b',');
            }
        }
        write_json(out, block_key);
        out.push(b':');
        out.extend_from_slice(process_metadata().as_bytes());
        out.push(b'}');
        if let Some(lifetime) = &self.lifetime {
            if let Some(ttl) = lifetime.ttl_seconds {
                out.extend_from_slice(b",\"ttl_seconds\":");
                write_json(out, &ttl);
            }
            if let Some(at) = &lifetime.expires_at {
                out.extend_from_slice(b",\"expires_at\":");
                write_json(out, &at.render());
            }
            if let Some(at) = &lifetime.created_at {
                out.extend_from_slice(b",\"created_at\":");
                write_json(out, &at.render());
            }
        }
        out.push(b'}');
    }

    /// This event's JSON payload, as sent in direct mode or inside a batch.
    ///
    /// ```
    /// use master_log_client::Event;
    ///
    /// let json = Event::info("Mount tracking enabled").tag("mount, startup").to_json();
    /// assert_eq!(json["title"], "Mount tracking enabled");
    /// assert_eq!(json["tags"], serde_json::json!(["mount", "startup"]));
    /// assert_eq!(json["metadata"]["rust_client"]["library"], "master-log-client");
    /// ```
    pub fn to_json(&self) -> Value {
        let mut buf = Vec::with_capacity(512);
        self.encode_into(&mut buf);
        serde_json::from_slice(&buf).unwrap_or(Value::Null)
    }
}

/// The metadata key holding the event's id.
const ID_KEY: &str = "event_id";

/// A new process-unique id (of an event, or of a batch) as 32 lowercase hex digits: a per-process random prefix (so ids
/// from a restarted process, e.g. spooled events replayed, do not collide) and a counter.
pub(crate) fn generated_id() -> [u8; 32] {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let local = 0u8;
        splitmix64(
            nanos ^ u64::from(std::process::id()).rotate_left(32) ^ (&raw const local as u64),
        )
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let value = (u128::from(prefix) << 64) | u128::from(n);
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        let nibble = (value >> (124 - 4 * i)) & 0xf;
        *byte = b"0123456789abcdef"[nibble as usize];
    }
    out
}

/// splitmix64: spreads a weakly random seed over all 64 bits.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Python's `str.isspace()`: Unicode white space plus the separators `\x1c`-`\x1f`.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// `text.strip()` as Python does it.
fn python_strip(text: &str) -> &str {
    text.trim_matches(is_python_space)
}

/// The first line of `text` as Python's `str.splitlines()` cuts it.
///
/// Scans bytes: the breaks are `\n`, `\r`, `\v`, `\f`, `\x1c`-`\x1e`, and the UTF-8 forms of
/// U+0085 (`C2 85`) and U+2028/U+2029 (`E2 80 A8`/`A9`), whose lead bytes start characters.
fn first_line(text: &str) -> &str {
    let bytes = text.as_bytes();
    let end = bytes.iter().enumerate().position(|(i, &b)| match b {
        b'\n' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1e => true,
        0xC2 => bytes.get(i + 1) == Some(&0x85),
        0xE2 => bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xA8 | 0xA9)),
        _ => false,
    });
    end.map_or(text, |i| &text[..i])
}

fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Serializing a str or a serde_json::Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// The `rust_client` metadata block, serialized once per process.
///
/// Computed on first use: later changes of the working directory are not reflected. `fqdn`
/// is the host name as the kernel reports it; no DNS lookup is made, so it is only fully
/// qualified when the host name is.
pub(crate) fn process_metadata() -> &'static str {
    static BLOCK: OnceLock<String> = OnceLock::new();
    BLOCK.get_or_init(|| {
        let argv0 = std::env::args_os()
            .next()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        let process_name = std::path::Path::new(&argv0)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "rust".to_owned());
        let hostname = hostname();
        let cwd = std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let block = serde_json::json!({
            "hostname": hostname,
            "fqdn": hostname,
            "pid": std::process::id(),
            "process_name": process_name,
            "argv0": argv0,
            "cwd": cwd,
            "rust_version": env!("MLC_RUSTC_VERSION"),
            "library": "master-log-client",
            "library_version": env!("CARGO_PKG_VERSION"),
        });
        block.to_string()
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    #[cfg(feature = "sentinel")]
    #[test]
    fn an_event_created_in_a_sentinel_span_carries_its_ids() {
        use sentinel::context::Context;
        use sentinel::{SpanContext, SpanId, TraceId};

        let span = SpanContext {
            trace_id: TraceId(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            span_id: SpanId(0x00f0_67aa_0ba9_02b7),
            sampled: true,
        };
        let (inside, own) = Context::with_span(Some(span)).run(|| {
            (
                Event::info("in a span"),
                Event::info("own ids").metadata(json!({"trace_id": "mine"})),
            )
        });
        let v = inside.to_json();
        assert_eq!(
            v["metadata"]["trace_id"],
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(v["metadata"]["span_id"], "00f067aa0ba902b7");
        let v = own.to_json();
        assert_eq!(v["metadata"]["trace_id"], "mine");
        assert!(v["metadata"].get("span_id").is_none(), "{v}");
        let outside = Event::info("no span").to_json();
        assert!(outside["metadata"].get("trace_id").is_none(), "{outside}");
    }

    use super::*;

    #[test]
    fn every_severity_parses_from_its_name_and_builds_its_event() {
        for &severity in Severity::ALL {
            assert_eq!(severity.as_str().parse::<Severity>().unwrap(), severity);
        }
        assert_eq!(Event::fatal("x").severity(), Severity::Fatal);
        assert_eq!(Severity::default(), Severity::Info);
        let err = "loud".parse::<Severity>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid severity `loud`: expected one of trace, debug, info, warn, error, fatal"
        );
    }

    #[test]
    fn severity_parses_any_case_and_space() {
        assert_eq!("  Error\n".parse::<Severity>().unwrap(), Severity::Error);
        assert_eq!("TRACE".parse::<Severity>().unwrap(), Severity::Trace);
        let err = "critical".parse::<Severity>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid severity `critical`: expected one of trace, debug, info, warn, error, fatal"
        );
    }

    #[test]
    fn payload_fields_come_in_order() {
        let e = Event::info("b")
            .ttl_seconds(5)
            .created_at("now")
            .expires_at("later");
        let mut buf = Vec::new();
        e.encode_into(&mut buf);
        let text = String::from_utf8(buf).unwrap();
        let keys: Vec<String> = serde_json::from_str::<Map<String, Value>>(&text)
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys,
            [
                "severity",
                "tags",
                "title",
                "body",
                "metadata",
                "ttl_seconds",
                "expires_at",
                "created_at"
            ]
        );
        let bare = Event::info("b").to_json();
        assert_eq!(bare.as_object().unwrap().len(), 5);
    }

    #[test]
    fn tags_are_split_trimmed_deduplicated_sorted() {
        let e = Event::info("x")
            .tag("ccd, telescope")
            .tags(["b", " a ", "", "a,,b", "telescope"]);
        assert_eq!(e.normalized_tags(), ["a", "b", "ccd", "telescope"]);
        assert_eq!(Event::info("x").to_json()["tags"], json!([]));
    }

    #[test]
    fn title_rules() {
        assert_eq!(Event::info("x").title("  T  ").effective_title(), "T");
        assert_eq!(
            Event::info("\n  first\nsecond")
                .title(" ")
                .effective_title(),
            "first"
        );
        assert_eq!(Event::info("   ").effective_title(), DEFAULT_TITLE);
        // 130 three-byte characters: cut at 120 characters, not bytes.
        let long = "é".repeat(130);
        let title = Event::info(long).effective_title().to_owned();
        assert_eq!(title.chars().count(), 120);
    }

    // regression: issue #14
    #[test]
    fn issue_14_titles_split_lines_as_python_splitlines_does() {
        // Expected values printed by CPython 3: `body.strip().splitlines()[0]`.
        let cases = [
            ("a\rb", "a"),
            ("a\r\nb", "a"),
            ("a\x0bb", "a"),
            ("a\x0cb", "a"),
            ("a\x1cb", "a"),
            ("a\x1db", "a"),
            ("a\x1eb", "a"),
            ("a\u{85}b", "a"),
            ("a\u{2028}b", "a"),
            ("a\u{2029}b", "a"),
            ("a\x1fb", "a\x1fb"),
            ("\x1f\x1c  title \nrest", "title "),
            ("a\tb\nc", "a\tb"),
            // Other characters sharing the breaks' lead bytes do not end a line.
            ("a…b\u{a0}c", "a…b\u{a0}c"),
            ("é\u{2029}x", "é"),
        ];
        for (body, title) in cases {
            assert_eq!(Event::info(body).effective_title(), title, "{body:?}");
        }
        assert_eq!(Event::info("x").title("\x1ct\x1f").effective_title(), "t");
    }

    #[test]
    fn events_get_a_generated_id_unless_they_have_one() {
        let id_of = |e: &Event| {
            let mut buf = Vec::new();
            e.encode_into(&mut buf);
            let v: Value = serde_json::from_slice(&buf).unwrap();
            v["metadata"]["event_id"].as_str().unwrap().to_owned()
        };
        let (a, b) = (id_of(&Event::info("a")), id_of(&Event::info("a")));
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_eq!(a[..16], b[..16], "one prefix per process");
        let own = Event::info("x").metadata(json!({"event_id": "mine"}));
        assert_eq!(id_of(&own), "mine");
        let set = own.with_id("explicit");
        assert_eq!(set.id(), Some("explicit"));
        assert_eq!(id_of(&set), "explicit");
        assert_eq!(set.to_json()["metadata"].as_object().unwrap().len(), 2);
    }

    #[test]
    fn metadata_gets_rust_client_block() {
        let v = Event::info("x")
            .metadata(json!({"target": "M13"}))
            .to_json();
        assert_eq!(v["metadata"]["target"], "M13");
        let block = &v["metadata"]["rust_client"];
        for key in [
            "hostname",
            "fqdn",
            "pid",
            "process_name",
            "argv0",
            "cwd",
            "rust_version",
            "library",
            "library_version",
        ] {
            assert!(!block[key].is_null(), "missing {key}");
        }
        assert_eq!(block["pid"], std::process::id());
        assert!(
            block["rust_version"]
                .as_str()
                .unwrap()
                .starts_with("rustc ")
        );
    }

    #[test]
    fn metadata_collision_moves_block_to_underscore_key() {
        let v = Event::info("x")
            .metadata(json!({"rust_client": "mine", "_rust_client": "overwritten"}))
            .to_json();
        assert_eq!(v["metadata"]["rust_client"], "mine");
        assert_eq!(
            v["metadata"]["_rust_client"]["library"],
            "master-log-client"
        );
        assert_eq!(v["metadata"].as_object().unwrap().len(), 3);
    }

    #[test]
    fn non_object_metadata_is_wrapped() {
        let v = Event::info("x").metadata(json!([1, 2])).to_json();
        assert_eq!(v["metadata"]["value"], json!([1, 2]));
    }

    #[test]
    fn timestamps_are_utc_with_micros_only_when_nonzero() {
        let e = Event::info("x")
            .created_at(datetime!(2024-05-01 14:00:00 +02:00))
            .expires_at(datetime!(2024-05-01 12:00:00.250000789 UTC));
        let v = e.to_json();
        assert_eq!(v["created_at"], "2024-05-01T12:00:00Z");
        assert_eq!(v["expires_at"], "2024-05-01T12:00:00.250000Z");
        let v = Event::info("x").created_at("yesterday-ish").to_json();
        assert_eq!(v["created_at"], "yesterday-ish");
    }

    #[test]
    fn strings_are_escaped() {
        let v = Event::info("quote \" backslash \\ newline \n tab \t").to_json();
        assert_eq!(v["body"], "quote \" backslash \\ newline \n tab \t");
    }
}
