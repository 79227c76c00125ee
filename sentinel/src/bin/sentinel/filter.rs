//! Which records a subcommand looks at: the filter flags every reading subcommand shares.
//!
//! Every flag narrows: a record is kept when it passes all of them. Drop markers (where
//! the logger lost records) pass every filter but the time window, so a filtered view
//! still shows its gaps.

use std::borrow::Cow;
use std::collections::HashMap;

use clap::Args;
use sentinel::format::{Fields, Line, Loose};

use crate::timestamp::{now_nanos, parse_timestamp_nanos, parse_user_time};

/// The filter flags, shared by every subcommand that reads records.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct FilterArgs {
    /// Only records whose trace id starts with ID.
    #[arg(long = "trace", value_name = "ID")]
    pub(crate) trace: Option<String>,
    /// Only spans whose name matches PATTERN: `*` is any text and `?` one character;
    /// without a wildcard, any name containing PATTERN.
    #[arg(long, value_name = "PATTERN")]
    pub(crate) name: Option<String>,
    /// Only records with this status (success, error, cancelled, ...); comma-separate
    /// or repeat for several.
    #[arg(long, value_name = "STATUS", value_delimiter = ',')]
    pub(crate) status: Vec<String>,
    /// Only spans flagged slow (over their slow_ms).
    #[arg(long)]
    pub(crate) slow: bool,
    /// Only spans that took at least N milliseconds.
    #[arg(long, value_name = "N", value_parser = parse_min_ms, allow_negative_numbers = true)]
    pub(crate) min_ms: Option<f64>,
    /// Only records whose tag KEY has the value VALUE; repeat to require several.
    #[arg(long, value_name = "KEY=VALUE", value_parser = parse_tag)]
    pub(crate) tag: Vec<(String, String)>,
    /// Only records that ended at or after TIME: RFC 3339, a date (midnight UTC), or an age
    /// such as 15m, 2h, 1d.
    #[arg(long, value_name = "TIME", value_parser = parse_time, allow_hyphen_values = true)]
    pub(crate) since: Option<i128>,
    /// Only records that ended before TIME: RFC 3339, a date (midnight UTC), or an age such
    /// as 15m, 2h, 1d.
    #[arg(long, value_name = "TIME", value_parser = parse_time, allow_hyphen_values = true)]
    pub(crate) until: Option<i128>,
    /// Only the last N matching records (with `tail --tree`: the last N traces).
    #[arg(
        short = 'n',
        long = "last",
        value_name = "N",
        allow_negative_numbers = true
    )]
    pub(crate) last: Option<usize>,
}

fn parse_min_ms(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a number of milliseconds")),
    }
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

fn parse_time(s: &str) -> Result<i128, String> {
    parse_user_time(s, now_nanos())
}

/// A time window `[since, until)` in nanoseconds since the Unix epoch; either end open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Window {
    pub(crate) since: Option<i128>,
    pub(crate) until: Option<i128>,
}

impl Window {
    /// Parses `SINCE..UNTIL` (either side may be empty), each side a time as `--since` takes.
    pub(crate) fn parse(s: &str, now: i128) -> Option<Result<Window, String>> {
        let (since, until) = s.split_once("..")?;
        let side = |t: &str| -> Result<Option<i128>, String> {
            if t.is_empty() {
                Ok(None)
            } else {
                parse_user_time(t, now).map(Some)
            }
        };
        Some(side(since).and_then(|since| {
            Ok(Window {
                since,
                until: side(until)?,
            })
        }))
    }

    fn contains(&self, nanos: i128) -> bool {
        self.since.is_none_or(|s| nanos >= s) && self.until.is_none_or(|u| nanos < u)
    }

    fn is_open(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }
}

/// The compiled filter of [`FilterArgs`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    trace: Option<String>,
    name: Option<Pattern>,
    status: Vec<String>,
    slow: bool,
    min_ms: Option<f64>,
    tags: Vec<(String, String)>,
    window: Window,
}

impl FilterArgs {
    pub(crate) fn filter(&self) -> Filter {
        Filter {
            trace: self.trace.clone(),
            name: self.name.as_deref().map(Pattern::new),
            status: self.status.clone(),
            slow: self.slow,
            min_ms: self.min_ms,
            tags: self.tag.clone(),
            window: Window {
                since: self.since,
                until: self.until,
            },
        }
    }
}

impl Filter {
    /// Narrows the filter further to `window`.
    pub(crate) fn within(mut self, window: Window) -> Filter {
        self.window.since = self.window.since.max(window.since);
        self.window.until = match (self.window.until, window.until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }

    /// Whether `line` passes every filter.
    /// The fields [`Filter::matches`] reads, for [`Line::parse_only`].
    pub(crate) fn fields(&self) -> Fields {
        let mut fields = Fields::STATUS;
        if !self.window.is_open() {
            fields |= Fields::TIMESTAMP;
        }
        if self.trace.is_some() {
            fields |= Fields::TRACE_ID;
        }
        if self.name.is_some() {
            fields |= Fields::NAME;
        }
        if self.slow {
            fields |= Fields::SLOW;
        }
        if self.min_ms.is_some() {
            fields |= Fields::DURATION_MS;
        }
        if !self.tags.is_empty() {
            fields |= Fields::TAGS;
        }
        fields
    }

    pub(crate) fn matches(&self, line: &Line<'_>) -> bool {
        if !self.window.is_open() {
            let Some(end) = line.timestamp.str().and_then(parse_timestamp_nanos) else {
                return false;
            };
            if !self.window.contains(end) {
                return false;
            }
        }
        if line.status.str() == Some("dropped") {
            return true;
        }
        if let Some(prefix) = &self.trace
            && !line
                .trace_id
                .str()
                .is_some_and(|t| t.starts_with(prefix.as_str()))
        {
            return false;
        }
        if let Some(pattern) = &self.name
            && !line.name().is_some_and(|n| pattern.matches(&n))
        {
            return false;
        }
        if !self.status.is_empty()
            && !line
                .status
                .str()
                .is_some_and(|s| self.status.iter().any(|want| want == s))
        {
            return false;
        }
        if self.slow && !line.slow.truthy() {
            return false;
        }
        if let Some(min) = self.min_ms
            && !line.duration_ms.f64().is_some_and(|d| d >= min)
        {
            return false;
        }
        if !self.tags.is_empty() {
            let Some(tags) = Tags::of(line) else {
                return false;
            };
            return self.tags.iter().all(|(k, v)| tags.is(k, v));
        }
        true
    }
}

/// A record's tags, decoded on demand (most commands never look at them).
#[derive(Debug)]
pub(crate) struct Tags<'a>(HashMap<Cow<'a, str>, Loose<'a>>);

impl<'a> Tags<'a> {
    /// The tags of `line`; `None` when it has none or they are not an object.
    pub(crate) fn of(line: &Line<'a>) -> Option<Tags<'a>> {
        let raw = line.tags?;
        serde_json::from_str(raw.get()).ok().map(Tags)
    }

    /// Whether tag `key` has the value `want`: as [`Tags::get`] writes it, or for a boolean
    /// also as `tail` prints it (`True`, `False`).
    pub(crate) fn is(&self, key: &str, want: &str) -> bool {
        match self.0.get(key) {
            Some(Loose::Bool(true)) => want == "true" || want == "True",
            Some(Loose::Bool(false)) => want == "false" || want == "False",
            _ => self.get(key).as_deref() == Some(want),
        }
    }

    /// The tag's value as text: a string as it is, a number or boolean as JSON writes it.
    pub(crate) fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        match self.0.get(key)? {
            Loose::Str(s) => Some(Cow::Borrowed(s)),
            Loose::Num(n) => Some(Cow::Owned(n.to_string())),
            Loose::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Loose::Null | Loose::Other => None,
        }
    }
}

/// A name pattern: `*` and `?` wildcards over the whole name, or a substring without them.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    text: Vec<char>,
    wild: bool,
}

impl Pattern {
    pub(crate) fn new(pattern: &str) -> Pattern {
        Pattern {
            text: pattern.chars().collect(),
            wild: pattern.contains(['*', '?']),
        }
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        if !self.wild {
            let needle: String = self.text.iter().collect();
            return name.contains(&needle);
        }
        let name: Vec<char> = name.chars().collect();
        // Iterative wildcard match with one backtrack point, linear in practice.
        let (mut p, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match self.text.get(p) {
                Some('*') => {
                    star = Some((p, n));
                    p += 1;
                }
                Some(&c) if c == '?' || c == name[n] => {
                    p += 1;
                    n += 1;
                }
                _ => match star {
                    Some((sp, sn)) => {
                        p = sp + 1;
                        n = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        self.text[p..].iter().all(|&c| c == '*')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_wildcards_or_substrings() {
        assert!(Pattern::new("check").matches("checkout[pay]"));
        assert!(!Pattern::new("check").matches("charge"));
        assert!(Pattern::new("check*").matches("checkout[pay]"));
        assert!(!Pattern::new("check*").matches("precheckout"));
        assert!(Pattern::new("*[pay]").matches("checkout[pay]"));
        assert!(Pattern::new("f?tch").matches("fetch"));
        assert!(Pattern::new("*a*b*").matches("xaxxbx"));
        assert!(!Pattern::new("*a*b").matches("xaxxbx"));
    }

    #[test]
    fn windows_parse_either_side() {
        let now = 1_000_000_000_000;
        assert_eq!(
            Window::parse("2s..1s", now),
            Some(Ok(Window {
                since: Some(now - 2_000_000_000),
                until: Some(now - 1_000_000_000)
            }))
        );
        assert_eq!(Window::parse("..1s", now).unwrap().unwrap().since, None);
        assert!(Window::parse("logs/", now).is_none());
        assert!(Window::parse("x..", now).unwrap().is_err());
    }

    #[test]
    fn tags_compare_as_text() {
        let line = Line::parse(r#"{"tags":{"route":"/a","code":200,"ok":true}}"#).unwrap();
        let tags = Tags::of(&line).unwrap();
        assert_eq!(tags.get("route").as_deref(), Some("/a"));
        assert_eq!(tags.get("code").as_deref(), Some("200"));
        assert_eq!(tags.get("ok").as_deref(), Some("true"));
        assert_eq!(tags.get("nope"), None);
    }
}
