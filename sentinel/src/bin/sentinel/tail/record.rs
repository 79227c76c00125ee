//! One record as `tail` shows it: decoded through `sentinel::format`, made printable.

use std::borrow::Cow;

use sentinel::format::{Line, is_object, with_utf8};

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
}

impl Record {
    /// Parses one line; `None` for blank, malformed or non-object lines.
    pub fn parse(line: &[u8]) -> Option<Record> {
        if !is_object(line) {
            return None;
        }
        with_utf8(line, |s| Some(Record::from_line(Line::parse(s)?)))
    }

    fn from_line(w: Line<'_>) -> Record {
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
            status: w
                .status
                .text()
                .map_or_else(String::new, |s| owned_clean(&s)),
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
        }
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

/// Parses an RFC 3339 timestamp (`2026-11-22T01:02:03.456789+00:00`, `Z` or no offset
/// meaning UTC) into nanoseconds since the Unix epoch.
pub fn parse_timestamp_nanos(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let mut scale: i128 = 100_000_000;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            frac += i128::from(d - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_secs = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let secs = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + frac)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
