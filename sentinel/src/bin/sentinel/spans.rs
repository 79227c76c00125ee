//! The spans of the inputs, decoded once for `export` and `report`: ids as numbers, start and
//! end in Unix nanoseconds, and the parent links resolved into trees.
//!
//! Records are decoded through [`sentinel::format::Line`]. A record is a span when it has a
//! numeric `duration_ms`, an RFC 3339 `timestamp` (its end), and a trace id and a span id that
//! [`sentinel::TraceId`] and [`sentinel::SpanId`] parse. A trace id of 16 hex digits (files
//! written before trace ids became 128-bit) is the low 64 bits of a 128-bit id, which is what
//! left-padding it with zeros to 32 digits means. A record whose `duration_ms` is there but
//! is not a number is skipped and counted, the one rule of every subcommand
//! ([`crate::input::mistyped`]). Everything else is counted, never dropped silently: see
//! [`SpanSet`]'s counters.

use std::collections::HashMap;

use sentinel::format::{Line, Loose, is_blank, is_object, with_utf8};
use sentinel::{SpanId, TraceId};

use crate::error::Failure;
use crate::filter::Filter;
use crate::input::{Seen, Source, mistyped, read_lines};
use crate::tail::DEFAULT_MAX_LINE_BYTES;
use crate::timestamp::parse_timestamp_nanos;

/// How a span ended: the library's one definition; a missing or unknown
/// `status` reads as [`Status::Success`].
pub use sentinel::Status;

/// One span record, decoded.
#[derive(Debug, Clone)]
pub struct Span {
    /// Index of the input it came from.
    pub source: usize,
    /// 128-bit trace id (a 16-hex id from an older file is its low half).
    pub trace_id: u128,
    /// Span id.
    pub span_id: u64,
    /// Parent span id; `None` at a root.
    pub parent: Option<u64>,
    /// `function`, else `label`, else `?`.
    pub name: String,
    /// Start, in nanoseconds since the Unix epoch (end − duration).
    pub start_ns: i64,
    /// End, in nanoseconds since the Unix epoch (the record's `timestamp`).
    pub end_ns: i64,
    /// How it ended.
    pub status: Status,
    /// `error_type`, when set.
    pub error_type: Option<String>,
    /// `error`, when set.
    pub error: Option<String>,
    /// `tags`, in file order.
    pub tags: serde_json::Map<String, serde_json::Value>,
    /// `cpu_time_ms`, when present and a finite number.
    pub cpu_ms: Option<f64>,
    /// The `slow` flag.
    pub slow: bool,
}

impl Span {
    /// Wall time in nanoseconds.
    pub fn duration_ns(&self) -> i64 {
        self.end_ns - self.start_ns
    }

    /// `error_type: error`, or whichever of the two is set.
    pub fn error_text(&self) -> Option<String> {
        match (&self.error_type, &self.error) {
            (Some(t), Some(e)) => Some(format!("{t}: {e}")),
            (Some(t), None) => Some(t.clone()),
            (None, Some(e)) => Some(e.clone()),
            (None, None) => None,
        }
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_hex(&self) -> String {
        TraceId(self.trace_id).to_string()
    }

    /// The span id as 16 lowercase hex digits.
    pub fn span_hex(&self) -> String {
        SpanId(self.span_id).to_string()
    }

    /// The parent's span id as 16 lowercase hex digits.
    pub fn parent_hex(&self) -> Option<String> {
        self.parent.map(|p| SpanId(p).to_string())
    }
}

/// A drop marker: the logger lost `count` records around `at_ns`.
#[derive(Debug, Clone)]
pub struct DropMark {
    /// Index of the input it came from.
    pub source: usize,
    /// The marker's `timestamp`, in Unix nanoseconds, when it has one.
    pub at_ns: Option<i64>,
    /// Records lost.
    pub count: u64,
}

/// Every span of the inputs, plus counts of what was not a span.
#[derive(Debug, Default)]
pub struct SpanSet {
    /// The spans, in input order.
    pub spans: Vec<Span>,
    /// Drop markers, in input order.
    pub drops: Vec<DropMark>,
    /// Objects without `duration_ms`: records from `log()`, which have no span to show.
    pub not_spans: u64,
    /// Records skipped for a `duration_ms` that is not a number ([`mistyped`]); also
    /// reported per input by [`Tally::check`](crate::input::Tally::check).
    pub mistyped: u64,
    /// Lines that are not JSON objects (malformed, truncated, not an object); also reported
    /// per input by [`Tally::check`](crate::input::Tally::check).
    pub malformed: u64,
    /// Lines over the line limit.
    pub oversized: u64,
    /// Spans without a usable `timestamp`.
    pub no_time: u64,
    /// Spans whose trace or span id is missing, malformed or all zeros.
    pub bad_ids: u64,
    /// Spans whose `parent_span_id` is present but malformed: shown as roots.
    pub bad_parents: u64,
}

impl SpanSet {
    /// Reads every source, keeping the records `filter` keeps (and with `last`, only the last
    /// that many spans); every line is also handed to `also` (the report feeds `sentinel
    /// stats` from the same pass). Inputs that are not JSONL are reported to `note` and
    /// skipped, as in `tail` and `stats`.
    ///
    /// # Errors
    ///
    /// An input that cannot be opened or read.
    pub fn read(
        sources: &[Source],
        filter: &Filter,
        last: Option<usize>,
        note: &mut dyn FnMut(Result<Option<String>, Failure>),
        mut also: impl FnMut(&[u8]),
    ) -> Result<SpanSet, Failure> {
        let mut set = SpanSet::default();
        for (index, source) in sources.iter().enumerate() {
            let tally = read_lines(source, DEFAULT_MAX_LINE_BYTES, |line| {
                also(line);
                Ok(set.add_line(line, index, filter))
            })?;
            set.oversized += tally.oversized;
            note(tally.check(&source.name(), DEFAULT_MAX_LINE_BYTES));
        }
        if let Some(n) = last {
            let cut = set.spans.len().saturating_sub(n);
            set.spans.drain(..cut);
        }
        Ok(set)
    }

    /// Adds one line (without its `\n`) when `filter` keeps it.
    pub fn add_line(&mut self, line: &[u8], source: usize, filter: &Filter) -> Seen {
        if is_blank(line) {
            return Seen::Blank;
        }
        let seen = if is_object(line) {
            with_utf8(line, |s| {
                let l = Line::parse(s)?;
                if mistyped(&l) {
                    self.mistyped += 1;
                    return Some(Seen::Mistyped);
                }
                if filter.matches(&l) {
                    self.add(&l, source);
                }
                Some(Seen::Record)
            })
        } else {
            None
        };
        seen.unwrap_or_else(|| {
            self.malformed += 1;
            Seen::NotRecord
        })
    }

    fn add(&mut self, l: &Line<'_>, source: usize) {
        let end = l.timestamp.str().and_then(parse_timestamp_nanos);
        if let Some(count) = l.dropped_count() {
            self.drops.push(DropMark {
                source,
                at_ns: end.and_then(|t| i64::try_from(t).ok()),
                count,
            });
            return;
        }
        let Some(duration_ms) = l.duration_ms.f64() else {
            self.not_spans += 1;
            return;
        };
        let Some(end_ns) = end.and_then(|t| i64::try_from(t).ok()) else {
            self.no_time += 1;
            return;
        };
        let (Some(trace), Some(span)) = (trace_id(&l.trace_id), span_id(&l.span_id)) else {
            self.bad_ids += 1;
            return;
        };
        let parent = match &l.parent_span_id {
            Loose::Null => None,
            other => {
                let parent = span_id(other);
                if parent.is_none() {
                    self.bad_parents += 1;
                }
                parent
            }
        };
        let duration_ns = if duration_ms.is_finite() && duration_ms > 0.0 {
            (duration_ms * 1e6).round().min(end_ns as f64) as i64
        } else {
            0
        };
        let tags = match l.tags.map(|raw| serde_json::from_str(raw.get())) {
            Some(Ok(serde_json::Value::Object(map))) => map,
            _ => serde_json::Map::new(),
        };
        self.spans.push(Span {
            source,
            trace_id: trace,
            span_id: span,
            parent,
            name: l.name().map_or_else(|| "?".to_owned(), |n| n.into_owned()),
            start_ns: end_ns - duration_ns,
            end_ns,
            status: match l.status.str() {
                Some("error") => Status::Error,
                Some("cancelled") => Status::Cancelled,
                _ => Status::Success,
            },
            error_type: l.error_type.truthy_text().map(|s| s.into_owned()),
            error: l.error.truthy_text().map(|s| s.into_owned()),
            tags,
            // "NaN" or "inf" in a string parses, but is no time (and no JSON number).
            cpu_ms: l.cpu_time_ms.f64().filter(|v| v.is_finite()),
            slow: l.slow.truthy(),
        });
    }

    /// Records the inputs held that are not in [`SpanSet::spans`], as one sentence
    /// (`None` when there are none): what a converter tells the user it left out. Lines that
    /// are not records are reported per input when read.
    pub fn left_out(&self) -> Option<String> {
        let parts = [
            (self.not_spans, "records without a duration (not spans)"),
            (self.no_time, "spans without a timestamp"),
            (self.bad_ids, "spans without valid trace and span ids"),
        ];
        let text: Vec<String> = parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        (!text.is_empty()).then(|| text.join(", "))
    }

    /// Records the logger itself dropped, as the drop markers say.
    pub fn dropped_by_logger(&self) -> u64 {
        self.drops.iter().map(|d| d.count).sum()
    }
}

/// A trace id as the library parses it ([`TraceId`]: 32 hex digits, or 16 from an older
/// file, never zero).
fn trace_id(v: &Loose<'_>) -> Option<u128> {
    v.str()?.parse::<TraceId>().ok().map(|id| id.0)
}

/// A span id as the library parses it ([`SpanId`]: 16 hex digits, never zero).
fn span_id(v: &Loose<'_>) -> Option<u64> {
    v.str()?.parse::<SpanId>().ok().map(|id| id.0)
}

/// Deepest stack the flame graphs (`export --format folded`, the report's) draw: a deeper span
/// adds its self time to its ancestor at this depth. A recursion thousands deep would
/// otherwise cost time and memory quadratic in its depth.
pub const MAX_STACK_DEPTH: usize = 256;

/// A chain of `depth` spans of one trace, each the parent of the next, each with 1 ms of
/// self time: the deepest tree there is.
#[cfg(test)]
pub(crate) fn chain(depth: u64) -> SpanSet {
    let mut set = SpanSet::default();
    for i in 1..=depth {
        let parent = if i == 1 {
            "null".to_owned()
        } else {
            format!("\"{:016x}\"", i - 1)
        };
        let l = format!(
            r#"{{"timestamp":"2026-11-22T00:00:10+00:00","function":"f{}","duration_ms":{},"trace_id":"{:032x}","span_id":"{i:016x}","parent_span_id":{parent}}}"#,
            i % 7,
            depth - i + 1,
            1
        );
        set.add_line(l.as_bytes(), 0, &Filter::default());
    }
    set
}

/// The spans as forests: each span's children, and the roots (spans whose parent is not among
/// the spans, so a trace cut short still shows). Parents are found across inputs: a request
/// that went from one service's file to another's is one tree.
#[derive(Debug)]
pub struct Forest {
    /// For each span (by index into the slice), its children ordered by start.
    pub children: Vec<Vec<usize>>,
    /// Spans without a parent among the spans, ordered by start.
    pub roots: Vec<usize>,
}

impl Forest {
    /// Links `spans` by `(trace_id, parent)`; a span claiming to be its own ancestor
    /// (a cycle in a corrupt file) is made a root.
    pub fn new(spans: &[Span]) -> Forest {
        let mut index: HashMap<(u128, u64), usize> = HashMap::with_capacity(spans.len());
        for (i, s) in spans.iter().enumerate() {
            index.entry((s.trace_id, s.span_id)).or_insert(i);
        }
        let mut parent_of: Vec<Option<usize>> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.parent
                    .and_then(|p| index.get(&(s.trace_id, p)).copied())
                    .filter(|&p| p != i)
            })
            .collect();
        // Break cycles: walk up from each span, marking the path; a revisit cuts the link.
        let mut state = vec![0u8; spans.len()]; // 0 new, 1 on the current path, 2 done
        for start in 0..spans.len() {
            let mut path = Vec::new();
            let mut at = start;
            loop {
                match state[at] {
                    2 => break,
                    1 => {
                        parent_of[at] = None;
                        break;
                    }
                    _ => {}
                }
                state[at] = 1;
                path.push(at);
                match parent_of[at] {
                    Some(p) => at = p,
                    None => break,
                }
            }
            for i in path {
                state[i] = 2;
            }
        }
        let mut children = vec![Vec::new(); spans.len()];
        let mut roots = Vec::new();
        for (i, p) in parent_of.iter().enumerate() {
            match p {
                Some(p) => children[*p].push(i),
                None => roots.push(i),
            }
        }
        let by_start = |a: &usize, b: &usize| {
            (spans[*a].start_ns, std::cmp::Reverse(spans[*a].end_ns))
                .cmp(&(spans[*b].start_ns, std::cmp::Reverse(spans[*b].end_ns)))
        };
        for c in &mut children {
            c.sort_by(by_start);
        }
        roots.sort_by(by_start);
        Forest { children, roots }
    }

    /// Self time of span `i`: its duration less the time covered by at least one child
    /// (children clipped to the span; concurrent children are not counted twice).
    pub fn self_ns(&self, spans: &[Span], i: usize) -> i64 {
        let span = &spans[i];
        let mut covered = 0;
        let mut reach = span.start_ns;
        for &c in &self.children[i] {
            let (start, end) = (
                spans[c].start_ns.max(reach),
                spans[c].end_ns.min(span.end_ns),
            );
            if end > start {
                covered += end - start;
                reach = end;
            }
        }
        (span.duration_ns() - covered).max(0)
    }

    /// Spans of the tree under `root` (itself first), depth first in start order, with depths.
    pub fn walk(&self, root: usize) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut stack = vec![(root, 0)];
        while let Some((i, depth)) = stack.pop() {
            out.push((i, depth));
            for &c in self.children[i].iter().rev() {
                stack.push((c, depth + 1));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(trace: &str, span: &str, parent: Option<&str>, end: &str, ms: f64) -> String {
        let parent = parent.map_or("null".to_owned(), |p| format!("\"{p}\""));
        format!(
            r#"{{"timestamp":"{end}","function":"f","duration_ms":{ms},"status":"success","trace_id":"{trace}","span_id":"{span}","parent_span_id":{parent}}}"#
        )
    }

    fn set(lines: &[String]) -> SpanSet {
        let mut set = SpanSet::default();
        for l in lines {
            set.add_line(l.as_bytes(), 0, &Filter::default());
        }
        set
    }

    #[test]
    fn sixteen_hex_trace_ids_are_the_low_half_of_a_128_bit_id() {
        let s = set(&[line(
            "9f86d081884c7d65",
            "2c26b46b68ffc68f",
            None,
            "2026-11-22T01:02:03.5+00:00",
            500.0,
        )]);
        assert_eq!(s.spans[0].trace_hex(), "00000000000000009f86d081884c7d65");
        assert_eq!(s.spans[0].end_ns - s.spans[0].start_ns, 500_000_000);
        assert_eq!(s.spans[0].start_ns, 1_795_309_323_000_000_000);
    }

    #[test]
    fn bad_ids_and_missing_times_are_counted_not_kept() {
        let s = set(&[
            line(
                "00000000000000000000000000000000",
                "2c26b46b68ffc68f",
                None,
                "2026-11-22T01:02:03+00:00",
                1.0,
            ),
            line(
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "xyz",
                None,
                "2026-11-22T01:02:03+00:00",
                1.0,
            ),
            line(
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "00f067aa0ba902b7",
                Some("nope"),
                "2026-11-22T01:02:03+00:00",
                1.0,
            ),
            line(
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "00f067aa0ba902b7",
                None,
                "yesterday",
                1.0,
            ),
            r#"{"event":"started"}"#.to_owned(),
            "{not json".to_owned(),
        ]);
        assert_eq!(s.spans.len(), 1);
        assert_eq!(s.spans[0].parent, None);
        assert_eq!(
            (
                s.bad_ids,
                s.bad_parents,
                s.no_time,
                s.not_spans,
                s.malformed
            ),
            (2, 1, 1, 1, 1)
        );
        assert!(s.left_out().unwrap().contains("2 spans without valid"));
    }

    #[test]
    fn self_time_does_not_count_overlapping_children_twice() {
        let t = "4bf92f3577b34da6a3ce929d0e0e4736";
        // root 0..100 ms; children 10..50 and 30..70 (concurrent): covered 10..70.
        let s = set(&[
            line(
                t,
                "0000000000000001",
                None,
                "2026-11-22T00:00:00.100+00:00",
                100.0,
            ),
            line(
                t,
                "0000000000000002",
                Some("0000000000000001"),
                "2026-11-22T00:00:00.050+00:00",
                40.0,
            ),
            line(
                t,
                "0000000000000003",
                Some("0000000000000001"),
                "2026-11-22T00:00:00.070+00:00",
                40.0,
            ),
        ]);
        let forest = Forest::new(&s.spans);
        assert_eq!(forest.roots, vec![0]);
        assert_eq!(forest.children[0], vec![1, 2]);
        assert_eq!(forest.self_ns(&s.spans, 0), 40_000_000);
        assert_eq!(forest.walk(0), vec![(0, 0), (1, 1), (2, 1)]);
    }

    #[test]
    fn a_parent_cycle_is_cut_instead_of_looping() {
        let t = "4bf92f3577b34da6a3ce929d0e0e4736";
        let s = set(&[
            line(
                t,
                "0000000000000001",
                Some("0000000000000002"),
                "2026-11-22T00:00:00.100+00:00",
                1.0,
            ),
            line(
                t,
                "0000000000000002",
                Some("0000000000000001"),
                "2026-11-22T00:00:00.100+00:00",
                1.0,
            ),
        ]);
        let forest = Forest::new(&s.spans);
        assert_eq!(forest.roots.len(), 1);
        assert_eq!(forest.walk(forest.roots[0]).len(), 2);
    }
}
