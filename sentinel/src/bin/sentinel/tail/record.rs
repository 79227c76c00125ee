//! One record as `tail` shows it: decoded through `sentinel::format`, made printable.

use std::borrow::Cow;

use sentinel::format::Line;

use crate::timestamp::parse_timestamp_nanos;

/// Bytes the C allocator adds to each heap block (header and rounding), for memory caps.
pub const HEAP_BLOCK: usize = 16;

/// One record, reduced to what `tail` prints; text fields are already made printable.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `timestamp` as written (the span's end time), empty when missing.
    pub timestamp: String,
    /// `function`, else `label`, else `?`.
    pub name: String,
    /// `duration_ms`, `0.0` when missing or not a number.
    pub duration_ms: f64,
    /// `status`, empty when missing.
    pub status: String,
    /// `slow` flag.
    pub slow: bool,
    /// `error`, else `error_type`.
    pub error: Option<String>,
    /// `trace_id`, when a non-empty string.
    pub trace_id: Option<String>,
    /// `span_id`, when a non-empty string or a number.
    pub span_id: Option<String>,
    /// `parent_span_id`, when a non-empty string or a number; `None` marks a root.
    pub parent_span_id: Option<String>,
    /// `tags` as `(key, value)` pairs in file order, values printed like Python's `str()`.
    pub tags: Vec<(String, String)>,
    /// For a drop marker (`"status":"dropped"`): how many records the logger
    /// dropped there, and a one-line account of why and when.
    pub dropped: Option<(u64, String)>,
    /// The line as read, kept for `--json`.
    pub raw: Option<String>,
}

impl Record {
    /// Parses one line; `None` for blank, malformed or non-object lines.
    #[cfg(test)]
    pub fn parse(line: &[u8]) -> Option<Record> {
        use sentinel::format::{is_object, with_utf8};
        if !is_object(line) {
            return None;
        }
        with_utf8(line, |s| Some(Record::from_line(Line::parse(s)?, None)))
    }

    /// The record `w` decodes to; `raw` is kept as the line to print with `--json`.
    pub fn from_line(w: Line<'_>, raw: Option<String>) -> Record {
        let name = w.name();
        let error = w.error.truthy_text().or_else(|| w.error_type.truthy_text());
        let tags = w.tags.and_then(|raw| serde_json::from_str(raw.get()).ok());
        let tags = match tags {
            Some(serde_json::Value::Object(map)) => map
                .iter()
                .map(|(k, v)| (clean(k).into_owned(), clean(&tag_value(v)).into_owned()))
                .collect(),
            _ => Vec::new(),
        };
        Record {
            timestamp: w
                .timestamp
                .text()
                .map_or_else(String::new, |t| owned_clean(&t)),
            name: name.map_or_else(|| "?".to_owned(), |n| owned_clean(&n)),
            duration_ms: w.duration_ms.f64().unwrap_or(0.0),
            // A status that is not a string counts as absent, as in `stats`.
            status: w.status.str().map_or_else(String::new, owned_clean),
            slow: w.slow.truthy(),
            error: error.map(|e| owned_clean(&e)),
            trace_id: w.trace_id.str().map(owned_clean),
            span_id: w.span_id.text().map(|s| s.into_owned()),
            parent_span_id: w.parent_span_id.text().map(|s| s.into_owned()),
            tags,
            dropped: w
                .dropped
                .and_then(|raw| serde_json::from_str(raw.get()).ok())
                .as_ref()
                .and_then(drop_marker),
            raw,
        }
    }

    /// Heap bytes the record holds beyond its own size: its strings and tags, each block
    /// with what the allocator adds to it ([`HEAP_BLOCK`]).
    pub fn heap_bytes(&self) -> usize {
        let text = |s: &String| match s.capacity() {
            0 => 0,
            n => n + HEAP_BLOCK,
        };
        let maybe = |s: &Option<String>| s.as_ref().map_or(0, text);
        let tags = match self.tags.capacity() {
            0 => 0,
            n => n * std::mem::size_of::<(String, String)>() + HEAP_BLOCK,
        };
        text(&self.timestamp)
            + text(&self.name)
            + text(&self.status)
            + maybe(&self.error)
            + maybe(&self.trace_id)
            + maybe(&self.span_id)
            + maybe(&self.parent_span_id)
            + tags
            + self
                .tags
                .iter()
                .map(|(k, v)| text(k) + text(v))
                .sum::<usize>()
            + self.dropped.as_ref().map_or(0, |(_, t)| text(t))
            + maybe(&self.raw)
    }

    /// The first 8 characters of the trace id.
    pub fn short_trace_id(&self) -> Option<&str> {
        self.trace_id.as_deref().map(short_id)
    }

    /// Start time in nanoseconds since the Unix epoch (`timestamp` − `duration_ms`), when the
    /// timestamp is RFC 3339.
    pub fn start_nanos(&self) -> Option<i128> {
        let end = parse_timestamp_nanos(&self.timestamp)?;
        let dur = if self.duration_ms.is_finite() {
            (self.duration_ms * 1e6) as i128
        } else {
            0
        };
        Some(end - dur)
    }
}

/// `(count, "120 records dropped (stalled 120) from A to B")` from a drop
/// marker's `dropped` object.
pub(crate) fn drop_marker(v: &serde_json::Value) -> Option<(u64, String)> {
    let count = v.get("count")?.as_u64()?;
    let mut text = format!("{count} records dropped by the logger");
    if let Some(serde_json::Value::Object(reasons)) = v.get("reasons") {
        let parts: Vec<String> = reasons
            .iter()
            .map(|(k, n)| format!("{} {}", clean(k), clean(&tag_value(n))))
            .collect();
        text.push_str(&format!(" ({})", parts.join(", ")));
    }
    if let (Some(from), Some(to)) = (
        v.get("from").and_then(|t| t.as_str()),
        v.get("to").and_then(|t| t.as_str()),
    ) {
        text.push_str(&format!(" from {} to {}", clean(from), clean(to)));
    }
    Some((count, text))
}

pub(crate) fn short_id(id: &str) -> &str {
    match id.char_indices().nth(8) {
        Some((i, _)) => &id[..i],
        None => id,
    }
}

/// Formats a tag value the way Python's `str()` would for JSON scalars.
pub(crate) fn tag_value(v: &serde_json::Value) -> Cow<'_, str> {
    match v {
        serde_json::Value::String(s) => Cow::Borrowed(s),
        serde_json::Value::Bool(true) => Cow::Borrowed("True"),
        serde_json::Value::Bool(false) => Cow::Borrowed("False"),
        serde_json::Value::Null => Cow::Borrowed("None"),
        other => Cow::Owned(other.to_string()),
    }
}

/// Escapes control characters so a value cannot break lines or drive the terminal.
pub(crate) fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

pub(crate) fn owned_clean(s: &str) -> String {
    clean(s).into_owned()
}
