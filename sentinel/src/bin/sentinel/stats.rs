//! `sentinel stats`: per-name duration statistics over a sentinel JSONL file.
//!
//! Streams the input once and keeps one small histogram per distinct span name, so memory is
//! bounded by the number of names, not by the size of the file.
//!
//! # What is counted
//!
//! A line counts as a span when it is a JSON object with a numeric `duration_ms` (numeric
//! strings accepted, negative values counted as 0); other lines (blank, malformed, records
//! from the generic `log()` without a duration) are skipped and counted in
//! [`Stats::skipped`](crate::stats::Stats::skipped). A span's name is `function`, else `label`, else `?`. `errors` counts
//! `status == "error"`, `cancelled` counts `status == "cancelled"`, `slow` counts a true
//! `slow` flag.
//!
//! # Accuracy
//!
//! `count`, `errors`, `max` and `total` are exact. Percentiles use the nearest-rank
//! definition (the smallest recorded value with at least p% of values at or below it) over a
//! log-bucketed histogram: each power of two is split into 64 equal buckets and a percentile
//! reports its bucket's midpoint, clamped to the exact min and max. The reported value is
//! therefore within **1%** (at most 1/128 ≈ 0.8%) of the exact nearest-rank percentile, for
//! any duration from 1 ns up; values below 1 ns count as 0.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Write};

use serde::Serialize;

use sentinel::format::{Line, is_blank, is_object, with_utf8};

use crate::error::Failure;
use crate::filter::Filter;
use crate::input::{Seen, Source, read_lines};
use crate::tail::DEFAULT_MAX_LINE_BYTES;

/// Sub-buckets per power of two, as a power of two: 2^6 = 64 buckets, relative width ≤ 1/64.
const SUB_BUCKET_BITS: u32 = 6;
/// Durations below this (1 ns, in ms) go to the zero bucket.
const MIN_TRACKED_MS: f64 = 1e-6;

/// Column a table is sorted by, largest first; ties are broken by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SortKey {
    /// Total duration (the default): where the time goes.
    #[default]
    Total,
    /// Median duration.
    P50,
    /// 99th percentile duration: the slow tail.
    P99,
    /// Longest duration.
    Max,
    /// Number of spans.
    Count,
    /// Number of errors.
    Errors,
    /// Name, alphabetical (smallest first).
    Name,
}

/// Streaming histogram of non-negative durations with ≤ 1% relative error.
///
/// Buckets are indexed by the top bits of the `f64` representation (exponent plus
/// 6 mantissa bits), stored densely between the smallest and largest index
/// seen, so a name whose durations span six orders of magnitude uses about 1,300 buckets.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    first_key: u64,
    counts: Vec<u64>,
    zeros: u64,
    total: u64,
    min: f64,
    max: f64,
}

impl Histogram {
    /// Creates an empty histogram.
    #[cfg(test)]
    pub fn new() -> Self {
        Self::default()
    }

    fn key(v: f64) -> u64 {
        v.to_bits() >> (52 - SUB_BUCKET_BITS)
    }

    /// Records one value; NaN and negative values count as 0, infinity as `f64::MAX`.
    pub fn record(&mut self, v: f64) {
        let v = if v.is_nan() || v < 0.0 {
            0.0
        } else {
            v.min(f64::MAX)
        };
        if self.total == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.total += 1;
        if v < MIN_TRACKED_MS {
            self.zeros += 1;
            return;
        }
        let key = Self::key(v);
        if self.counts.is_empty() {
            self.first_key = key;
            self.counts.push(0);
        } else if key < self.first_key {
            let grow = (self.first_key - key) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.first_key = key;
        } else if key - self.first_key >= self.counts.len() as u64 {
            self.counts.resize((key - self.first_key) as usize + 1, 0);
        }
        self.counts[(key - self.first_key) as usize] += 1;
    }

    /// Number of values recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// The largest value recorded (exact); `None` when empty.
    pub fn max(&self) -> Option<f64> {
        (self.total > 0).then_some(self.max)
    }

    /// The nearest-rank `p`-th percentile (`0.0..=100.0`), within 1% of the exact value;
    /// `None` when empty.
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((p / 100.0 * self.total as f64).ceil() as u64).clamp(1, self.total);
        if rank == self.total {
            return Some(self.max);
        }
        let mut seen = self.zeros;
        if seen >= rank {
            return Some(self.min);
        }
        for (offset, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let key = self.first_key + offset as u64;
                let lo = f64::from_bits(key << (52 - SUB_BUCKET_BITS));
                let hi = f64::from_bits((key + 1) << (52 - SUB_BUCKET_BITS));
                let mid = if hi.is_finite() {
                    lo + (hi - lo) / 2.0
                } else {
                    lo
                };
                return Some(mid.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

/// Accumulated figures for one span name.
#[derive(Debug, Clone, Default)]
pub struct NameStats {
    /// Spans with a status of `error`.
    pub errors: u64,
    /// Spans with a status of `cancelled`.
    pub cancelled: u64,
    /// Spans flagged `slow`.
    pub slow: u64,
    /// Sum of durations in ms.
    pub total_ms: f64,
    /// Durations in ms.
    pub durations: Histogram,
}

/// One output row: the figures for one name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Span name (`function` or `label`).
    pub name: String,
    /// Number of spans.
    pub count: u64,
    /// Spans with a status of `error`.
    pub errors: u64,
    /// `errors / count`, in percent.
    pub error_rate_pct: f64,
    /// Spans with a status of `cancelled`.
    pub cancelled: u64,
    /// Spans flagged `slow`.
    pub slow: u64,
    /// Median duration in ms (within 1%).
    pub p50_ms: f64,
    /// 95th percentile duration in ms (within 1%).
    pub p95_ms: f64,
    /// 99th percentile duration in ms (within 1%).
    pub p99_ms: f64,
    /// Longest duration in ms (exact).
    pub max_ms: f64,
    /// Sum of durations in ms (exact up to `f64` rounding).
    pub total_ms: f64,
}

/// Per-name statistics of a stream of records.
#[derive(Debug, Default)]
pub struct Stats {
    by_name: HashMap<String, NameStats>,
    spans: u64,
    skipped: u64,
    oversized: u64,
    dropped: u64,
}

impl Stats {
    /// Creates empty statistics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every input in turn, counting the spans `filter` keeps; with `last`, only the
    /// last that many of them. Inputs that are not JSONL are reported to `note` and skipped.
    ///
    /// # Errors
    ///
    /// An input that cannot be opened or read.
    pub fn read(
        sources: &[Source],
        filter: &Filter,
        last: Option<usize>,
        note: &mut dyn FnMut(Result<Option<String>, Failure>),
    ) -> Result<Stats, Failure> {
        let mut stats = Stats::new();
        let mut kept: VecDeque<Vec<u8>> = VecDeque::new();
        for source in sources {
            let tally = read_lines(source, DEFAULT_MAX_LINE_BYTES, |line| {
                Ok(match last {
                    None => stats.add_line(line, filter),
                    Some(n) => stats.keep_line(line, filter, n, &mut kept),
                })
            })?;
            stats.oversized += tally.oversized;
            // The table's footer says what was skipped; only failures are reported here.
            note(
                tally
                    .check(&source.name(), DEFAULT_MAX_LINE_BYTES)
                    .map(|_| None),
            );
        }
        for line in kept {
            stats.add_line(&line, &Filter::default());
        }
        Ok(stats)
    }

    /// Adds one line (without its `\n`) when `filter` keeps it; lines that are not spans are
    /// counted as skipped.
    pub fn add_line(&mut self, line: &[u8], filter: &Filter) -> Seen {
        if is_blank(line) {
            return Seen::Blank;
        }
        let seen = is_object(line)
            && with_utf8(line, |s| match serde_json::from_str::<Line<'_>>(s) {
                Ok(w) => {
                    if filter.matches(&w) && !self.add(&w) {
                        self.skipped += 1;
                    }
                    true
                }
                Err(_) => false,
            });
        if seen {
            Seen::Record
        } else {
            self.skipped += 1;
            Seen::NotRecord
        }
    }

    /// Like [`Stats::add_line`], but keeps the last `n` matching lines in `kept` instead.
    fn keep_line(
        &mut self,
        line: &[u8],
        filter: &Filter,
        n: usize,
        kept: &mut VecDeque<Vec<u8>>,
    ) -> Seen {
        if is_blank(line) {
            return Seen::Blank;
        }
        let decoded = is_object(line)
            && with_utf8(line, |s| match serde_json::from_str::<Line<'_>>(s) {
                Ok(w) => {
                    if filter.matches(&w) && w.duration_ms.f64().is_some() {
                        if kept.len() == n {
                            kept.pop_front();
                        }
                        if n > 0 {
                            kept.push_back(line.to_vec());
                        }
                    } else if let Some(count) = w.dropped_count() {
                        self.dropped += count;
                    }
                    true
                }
                Err(_) => false,
            });
        if decoded {
            Seen::Record
        } else {
            self.skipped += 1;
            Seen::NotRecord
        }
    }

    fn add(&mut self, w: &Line<'_>) -> bool {
        if let Some(count) = w.dropped_count() {
            self.dropped += count;
            return true;
        }
        let Some(duration) = w.duration_ms.f64() else {
            return false;
        };
        let name = w.name();
        let name = name.as_deref().unwrap_or("?");
        let entry = match self.by_name.get_mut(name) {
            Some(entry) => entry,
            None => self.by_name.entry(name.to_owned()).or_default(),
        };
        let duration = if duration.is_finite() {
            duration.max(0.0)
        } else {
            0.0
        };
        entry.durations.record(duration);
        entry.total_ms += duration;
        match w.status.str() {
            Some("error") => entry.errors += 1,
            Some("cancelled") => entry.cancelled += 1,
            _ => {}
        }
        if w.slow.truthy() {
            entry.slow += 1;
        }
        self.spans += 1;
        true
    }

    /// Number of spans counted.
    pub fn spans(&self) -> u64 {
        self.spans
    }

    /// Non-blank lines that were not spans (malformed, not an object, no `duration_ms`).
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Records the logger dropped, as the drop markers in the input say.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Lines skipped for being longer than the line limit.
    pub fn oversized(&self) -> u64 {
        self.oversized
    }

    /// Number of distinct names.
    pub fn names(&self) -> usize {
        self.by_name.len()
    }

    /// One row per name, sorted by `sort` (largest first, then by name), at most `top` rows.
    pub fn rows(&self, sort: SortKey, top: Option<usize>) -> Vec<Row> {
        let mut rows: Vec<Row> = self
            .by_name
            .iter()
            .map(|(name, s)| {
                let h = &s.durations;
                let count = h.len();
                Row {
                    name: name.clone(),
                    count,
                    errors: s.errors,
                    error_rate_pct: if count == 0 {
                        0.0
                    } else {
                        s.errors as f64 * 100.0 / count as f64
                    },
                    cancelled: s.cancelled,
                    slow: s.slow,
                    p50_ms: h.percentile(50.0).unwrap_or(0.0),
                    p95_ms: h.percentile(95.0).unwrap_or(0.0),
                    p99_ms: h.percentile(99.0).unwrap_or(0.0),
                    max_ms: h.max().unwrap_or(0.0),
                    total_ms: s.total_ms,
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            let by = match sort {
                SortKey::Total => b.total_ms.total_cmp(&a.total_ms),
                SortKey::P50 => b.p50_ms.total_cmp(&a.p50_ms),
                SortKey::P99 => b.p99_ms.total_cmp(&a.p99_ms),
                SortKey::Max => b.max_ms.total_cmp(&a.max_ms),
                SortKey::Name => std::cmp::Ordering::Equal,
                SortKey::Count => b.count.cmp(&a.count),
                SortKey::Errors => b.errors.cmp(&a.errors),
            };
            by.then_with(|| a.name.cmp(&b.name))
        });
        if let Some(top) = top {
            rows.truncate(top);
        }
        rows
    }
}

/// Writes `rows` as an aligned text table followed by a one-line summary of `stats`.
///
/// Columns: name, count, errors, err% (errors / count), p50, p95, p99, max and total in ms,
/// cancelled, slow.
///
/// # Errors
///
/// Returns the writer's error.
pub fn write_table<W: Write + ?Sized>(out: &mut W, rows: &[Row], stats: &Stats) -> io::Result<()> {
    const HEADERS: [&str; 11] = [
        "name",
        "count",
        "errors",
        "err%",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "max_ms",
        "total_ms",
        "cancelled",
        "slow",
    ];
    let cells: Vec<[String; 11]> = rows
        .iter()
        .map(|r| {
            [
                printable(&r.name),
                r.count.to_string(),
                r.errors.to_string(),
                format!("{:.1}%", r.error_rate_pct),
                format!("{:.2}", r.p50_ms),
                format!("{:.2}", r.p95_ms),
                format!("{:.2}", r.p99_ms),
                format!("{:.2}", r.max_ms),
                format!("{:.2}", r.total_ms),
                r.cancelled.to_string(),
                r.slow.to_string(),
            ]
        })
        .collect();
    let mut widths = HEADERS.map(|h| h.chars().count());
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = String::new();
    let mut emit = |out: &mut W, row: &[&str]| -> io::Result<()> {
        line.clear();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i == 0 {
                line.push_str(&format!("{cell:<width$}"));
            } else {
                line.push_str(&format!("  {cell:>width$}"));
            }
        }
        writeln!(out, "{}", line.trim_end())
    };
    emit(out, &HEADERS)?;
    for row in &cells {
        let row: Vec<&str> = row.iter().map(String::as_str).collect();
        emit(out, &row)?;
    }
    write!(
        out,
        "{} spans, {} names, {} shown; percentiles within 1%",
        stats.spans(),
        stats.names(),
        rows.len()
    )?;
    if stats.skipped() > 0 {
        write!(out, "; {} non-span lines skipped", stats.skipped())?;
    }
    if stats.oversized() > 0 {
        write!(out, "; {} over-long lines skipped", stats.oversized())?;
    }
    if stats.dropped() > 0 {
        write!(out, "; {} records dropped by the logger", stats.dropped())?;
    }
    writeln!(out)?;
    out.flush()
}

/// Writes `rows` as CSV with a header line, the columns of [`Row`].
///
/// # Errors
///
/// Returns the writer's error.
pub fn write_csv<W: Write + ?Sized>(out: &mut W, rows: &[Row]) -> io::Result<()> {
    writeln!(
        out,
        "name,count,errors,error_rate_pct,cancelled,slow,p50_ms,p95_ms,p99_ms,max_ms,total_ms"
    )?;
    for r in rows {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&r.name),
            r.count,
            r.errors,
            r.error_rate_pct,
            r.cancelled,
            r.slow,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.max_ms,
            r.total_ms
        )?;
    }
    out.flush()
}

/// Quotes a field when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// Writes `rows` as a JSON array of objects with the fields of [`Row`], one per line.
///
/// # Errors
///
/// Returns the writer's error.
pub fn write_json<W: Write + ?Sized>(out: &mut W, rows: &[Row]) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, row) in rows.iter().enumerate() {
        out.write_all(if i == 0 { b"\n  " } else { b",\n  " })?;
        serde_json::to_writer(&mut *out, row)?;
    }
    out.write_all(if rows.is_empty() { b"]\n" } else { b"\n]\n" })?;
    out.flush()
}

/// Escapes control characters so a name cannot break the table.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact nearest-rank percentile, for comparison.
    fn exact(sorted: &[f64], p: f64) -> f64 {
        let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    #[test]
    fn histogram_percentiles_are_within_one_percent() {
        // A skewed, wide-range sample: 1 µs up to ~10 minutes.
        let mut values: Vec<f64> = (0..20_000u64)
            .map(|i| 0.001 * 1.0007f64.powi(i as i32) + (i % 7) as f64 * 0.01)
            .collect();
        let mut h = Histogram::new();
        for &v in &values {
            h.record(v);
        }
        values.sort_by(f64::total_cmp);
        for p in [1.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0] {
            let want = exact(&values, p);
            let got = h.percentile(p).unwrap();
            assert!(
                (got - want).abs() <= want * 0.01,
                "p{p}: got {got}, exact {want}"
            );
        }
        assert_eq!(h.percentile(100.0), Some(*values.last().unwrap()));
    }

    #[test]
    fn histogram_handles_zero_and_single_values() {
        let mut h = Histogram::new();
        assert_eq!(h.percentile(50.0), None);
        h.record(0.0);
        assert_eq!(h.percentile(50.0), Some(0.0));
        h.record(5.0);
        h.record(-1.0);
        assert_eq!(h.percentile(100.0), Some(5.0));
        assert_eq!(h.percentile(50.0), Some(0.0));
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn rows_sort_and_truncate() {
        let mut s = Stats::new();
        for line in [
            r#"{"function":"a","duration_ms":1}"#,
            r#"{"function":"a","duration_ms":1}"#,
            r#"{"function":"b","duration_ms":10,"status":"error"}"#,
            r#"{"label":"c","duration_ms":5}"#,
            r#"{"event":"no duration"}"#,
            "garbage",
        ] {
            s.add_line(line.as_bytes(), &Filter::default());
        }
        let names = |rows: Vec<Row>| rows.into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(names(s.rows(SortKey::Total, None)), ["b", "c", "a"]);
        assert_eq!(names(s.rows(SortKey::Count, Some(1))), ["a"]);
        assert_eq!(names(s.rows(SortKey::Errors, None)), ["b", "a", "c"]);
        assert_eq!(names(s.rows(SortKey::P99, None)), ["b", "c", "a"]);
        assert_eq!((s.spans(), s.skipped()), (4, 2));
    }

    #[test]
    fn the_module_example_counts_a_small_log() {
        let log = concat!(
            r#"{"function":"fetch","duration_ms":10.0,"status":"success"}"#,
            "\n",
            r#"{"function":"fetch","duration_ms":30.0,"status":"error","error":"boom"}"#,
            "\n",
        );
        let mut stats = Stats::new();
        for line in log.lines() {
            stats.add_line(line.as_bytes(), &Filter::default());
        }
        let rows = stats.rows(SortKey::Total, None);
        assert_eq!(rows[0].name, "fetch");
        assert_eq!((rows[0].count, rows[0].errors), (2, 1));
        assert_eq!(rows[0].max_ms, 30.0);
    }
}
