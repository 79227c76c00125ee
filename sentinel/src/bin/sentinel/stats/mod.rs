//! `sentinel stats`: per-name (or per-tag) duration statistics over sentinel JSONL logs.
//!
//! Reads its inputs once, in blocks split at line boundaries that every core parses at once
//! (`pipeline.rs`), and keeps one bounded histogram per group, so memory is bounded by the
//! number of groups, not by the size of the input.
//!
//! # What is counted
//!
//! A record is a line holding a JSON object; a span is a record with a numeric
//! `duration_ms` (numeric strings accepted, negative values counted as 0). A field of the
//! wrong type counts as absent, the same rule as `tail`'s, except a `duration_ms` that is
//! not a number: that record is skipped and counted apart, as `tail` does
//! ([`crate::input::mistyped`]). Lines that are not records, and
//! records that are not spans (user records, records without a duration), are counted as
//! skipped. A span's name is `function`, else `label`, else `?`. `errors` counts
//! `status == "error"`, `cancelled` counts `status == "cancelled"`, `slow` counts a true
//! `slow` flag.
//!
//! # Self time
//!
//! A span's self time is its duration minus its children's (spans of its trace whose
//! `parent_span_id` is its `span_id`), never below 0. A child is matched to its parent when
//! the parent is written after it, as the writer does (a span's record is written when it
//! ends); a child written after its parent (a task that outlived it) is not subtracted.
//!
//! # Accuracy
//!
//! `count`, `errors`, `max` and `total` are exact; percentiles are within 1% (see
//! `histogram.rs`).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use sentinel::format::{Fields, Line, for_each_line, is_blank, is_object, with_utf8};

use crate::error::Failure;
use crate::filter::{Filter, Tags};
use crate::input::{Seen, Source, Tally, mistyped, read_lines};
use crate::tail::DEFAULT_MAX_LINE_BYTES;

pub(crate) mod compare;
mod histogram;
mod output;
mod pipeline;

pub(crate) use compare::compare;
use histogram::Histogram;
pub(crate) use output::{millis, write_csv, write_json, write_table};

/// Spans of a block remembered by id, so a child at the end of the previous block finds
/// its parent there.
const PREFIX_SPANS: usize = 1024;
/// Most children waiting for their parent within one block; more are not subtracted.
const MAX_PENDING: usize = 1 << 18;

/// Column a table is sorted by, largest first; ties are broken by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum SortKey {
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

/// What rows are made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum GroupBy {
    /// One row per span name.
    #[default]
    Name,
    /// One row per value of this tag; spans without it make a `(none)` row.
    Tag(String),
}

impl GroupBy {
    /// Parses `name` or `tag:KEY`.
    pub(crate) fn parse(s: &str) -> Result<GroupBy, String> {
        match s.strip_prefix("tag:") {
            _ if s == "name" => Ok(GroupBy::Name),
            Some(key) if !key.is_empty() => Ok(GroupBy::Tag(key.to_owned())),
            _ => Err(format!("`{s}` is not `name` or `tag:KEY`")),
        }
    }

    /// The heading of the group column.
    pub(crate) fn heading(&self) -> String {
        match self {
            GroupBy::Name => "name".to_owned(),
            GroupBy::Tag(key) => format!("tag:{key}"),
        }
    }
}

/// What to count: the spans `filter` keeps (the last `last` of them), grouped by `group`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pub(crate) filter: Filter,
    pub(crate) group: GroupBy,
    pub(crate) last: Option<usize>,
}

/// A fast hash for short keys (span names, ids): FxHash, as rustc uses.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes(c.try_into().unwrap_or_default());
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        // A multiply mixes each bit only into the bits above it, and hashbrown takes the
        // bucket from the low bits: rotate the well-mixed high bits down (as rustc-hash 2
        // does), or ids that differ only in their last hex digits share one bucket.
        self.0.rotate_left(26)
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

fn span_key(trace: &str, span: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(trace.as_bytes());
    h.write_u8(0xff);
    h.write(span.as_bytes());
    h.finish()
}

/// Accumulated figures for one group.
#[derive(Debug, Clone, Default)]
pub(crate) struct Group {
    errors: u64,
    cancelled: u64,
    slow: u64,
    total_ms: f64,
    /// Time of this group's spans spent in their children, subtracted from `total_ms`.
    in_children_ms: f64,
    durations: Histogram,
}

impl Group {
    fn merge(&mut self, other: &Group) {
        self.errors += other.errors;
        self.cancelled += other.cancelled;
        self.slow += other.slow;
        self.total_ms += other.total_ms;
        self.in_children_ms += other.in_children_ms;
        self.durations.merge(&other.durations);
    }
}

/// One output row: the figures for one group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Row {
    /// Span name (`function` or `label`), or the tag's value with `--by tag:KEY`.
    pub(crate) name: String,
    pub(crate) count: u64,
    pub(crate) errors: u64,
    /// `errors / count`, in percent.
    pub(crate) error_rate_pct: f64,
    pub(crate) cancelled: u64,
    pub(crate) slow: u64,
    pub(crate) p50_ms: f64,
    pub(crate) p95_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) max_ms: f64,
    /// Sum of durations (inclusive of children).
    pub(crate) total_ms: f64,
    /// Sum of self times (duration minus children's).
    pub(crate) self_ms: f64,
}

/// What one block left open for self time: children whose parent was not in the block,
/// and the first spans of the block by id.
#[derive(Debug, Default)]
struct Boundary {
    /// `(parent key, children's time)`.
    waiting: Vec<(u64, f64)>,
    /// Span key → (group, self time left to subtract from).
    first_spans: HashMap<u64, (Box<str>, f64), FxBuild>,
}

/// Per-group statistics of a stream of records.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    group_by: GroupBy,
    index: HashMap<Box<str>, usize, FxBuild>,
    groups: Vec<(Box<str>, Group)>,
    spans: u64,
    skipped: u64,
    /// Records skipped for a `duration_ms` that is not a number.
    mistyped: u64,
    oversized: u64,
    dropped: u64,
    /// Children's time by parent key, within the current block.
    pending: HashMap<u64, f64, FxBuild>,
    /// The block being read, and what it leaves open.
    boundary: Boundary,
    boundaries: Vec<(usize, Boundary)>,
}

impl Stats {
    pub(crate) fn new(group_by: GroupBy) -> Self {
        Stats {
            group_by,
            ..Stats::default()
        }
    }

    /// Reads every input, counting the spans `query` keeps. Inputs that are not JSONL are
    /// reported to `note` and skipped.
    ///
    /// # Errors
    ///
    /// An input that cannot be opened or read.
    pub(crate) fn read(
        sources: &[Source],
        query: &Query,
        note: &mut dyn FnMut(Result<Option<String>, Failure>),
    ) -> Result<Stats, Failure> {
        let (stats, tallies) = match query.last {
            None => pipeline::read(sources, query)?,
            Some(n) => Self::read_last(sources, query, n)?,
        };
        for (source, tally) in sources.iter().zip(&tallies) {
            // The table's footer says what was skipped; only failures are reported here.
            note(
                tally
                    .check(&source.name(), DEFAULT_MAX_LINE_BYTES)
                    .map(|_| None),
            );
        }
        Ok(stats)
    }

    /// Counts the last `n` spans `query` keeps; reads sequentially, holding `n` lines.
    fn read_last(
        sources: &[Source],
        query: &Query,
        n: usize,
    ) -> Result<(Stats, Vec<Tally>), Failure> {
        let mut stats = Stats::new(query.group.clone());
        let mut kept: VecDeque<Vec<u8>> = VecDeque::new();
        let mut tallies = Vec::new();
        for source in sources {
            let tally = read_lines(source, DEFAULT_MAX_LINE_BYTES, |line| {
                Ok(stats.keep_line(line, &query.filter, n, &mut kept))
            })?;
            stats.oversized += tally.oversized;
            tallies.push(tally);
        }
        let all = Filter::default();
        for line in kept {
            stats.add_line(&line, &all);
        }
        stats.end_block(0);
        stats.settle();
        Ok((stats, tallies))
    }

    /// The fields [`Stats::add`] and `filter` read: a line is decoded no further.
    fn fields(&self, filter: &Filter) -> Fields {
        let group = match self.group_by {
            GroupBy::Name => Fields::NAME,
            GroupBy::Tag(_) => Fields::TAGS,
        };
        filter.fields()
            | group
            | Fields::DURATION_MS
            | Fields::STATUS
            | Fields::SLOW
            | Fields::TRACE_ID
            | Fields::SPAN_ID
            | Fields::PARENT_SPAN_ID
            | Fields::DROPPED
    }

    /// Adds one line (without its `\n`) when `filter` keeps it.
    pub(crate) fn add_line(&mut self, line: &[u8], filter: &Filter) -> Seen {
        let fields = self.fields(filter);
        if is_blank(line) {
            return Seen::Blank;
        }
        with_utf8(line, |s| {
            let decoded = Line::parse_only(s, fields);
            self.add_decoded(line, decoded.as_ref(), filter)
        })
    }

    /// Adds every line of `block` (whole lines) that `filter` keeps, counting each in
    /// `tally` unless it is longer than `max_line` bytes (then it counts as oversized).
    pub(crate) fn add_block(
        &mut self,
        block: &[u8],
        filter: &Filter,
        max_line: usize,
        tally: &mut Tally,
    ) {
        let fields = self.fields(filter);
        for_each_line(block, fields, |bytes, line| {
            if bytes.len() > max_line {
                tally.oversized += 1;
            } else {
                tally.count(self.add_decoded(bytes, line, filter));
            }
        });
    }

    /// Adds one line, `bytes`, decoded to `line` (`None` when it is not a record), when
    /// `filter` keeps it.
    fn add_decoded(&mut self, bytes: &[u8], line: Option<&Line<'_>>, filter: &Filter) -> Seen {
        match line {
            None if is_blank(bytes) => Seen::Blank,
            None => {
                self.skipped += 1;
                Seen::NotRecord
            }
            Some(w) if mistyped(w) => {
                self.mistyped += 1;
                Seen::Mistyped
            }
            Some(w) => {
                if filter.matches(w) && !self.add(w) {
                    self.skipped += 1;
                }
                Seen::Record
            }
        }
    }

    /// Like [`Stats::add_line`], but keeps the last `n` spans' lines in `kept` instead.
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
        let fields = self.fields(filter);
        let decoded = is_object(line)
            && with_utf8(line, |s| match Line::parse_only(s, fields) {
                Some(w) if mistyped(&w) => {
                    self.mistyped += 1;
                    true
                }
                Some(w) => {
                    if let Some(count) = w.dropped_count() {
                        self.dropped += count;
                    } else if !filter.matches(&w) {
                    } else if w.duration_ms.f64().is_some() {
                        if kept.len() == n {
                            kept.pop_front();
                        }
                        if n > 0 {
                            kept.push_back(line.to_vec());
                        }
                    } else {
                        self.skipped += 1;
                    }
                    true
                }
                None => false,
            });
        if decoded {
            // A mistyped record was counted above; `read_last` reports it in the footer.
            Seen::Record
        } else {
            self.skipped += 1;
            Seen::NotRecord
        }
    }

    /// Counts one decoded record; false when it is not a span.
    fn add(&mut self, w: &Line<'_>) -> bool {
        if let Some(count) = w.dropped_count() {
            self.dropped += count;
            return true;
        }
        let Some(duration) = w.duration_ms.f64() else {
            return false;
        };
        let duration = if duration.is_finite() {
            duration.max(0.0)
        } else {
            0.0
        };
        let tags;
        let group = match &self.group_by {
            GroupBy::Name => w.name(),
            GroupBy::Tag(key) => {
                tags = Tags::of(w);
                tags.as_ref().and_then(|t| t.get(key))
            }
        };
        let fallback = match self.group_by {
            GroupBy::Name => "?",
            GroupBy::Tag(_) => "(none)",
        };
        let group = group.as_deref().unwrap_or(fallback);
        let at = self.group_index(group);
        let in_children = self.self_time(w, duration, at);
        let entry = &mut self.groups[at].1;
        entry.durations.record(duration);
        entry.total_ms += duration;
        entry.in_children_ms += in_children;
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

    fn group_index(&mut self, group: &str) -> usize {
        if let Some(&at) = self.index.get(group) {
            return at;
        }
        let at = self.groups.len();
        self.groups.push((group.into(), Group::default()));
        self.index.insert(group.into(), at);
        at
    }

    /// Books a span for self time; returns how much of its `duration` its children (seen
    /// before it in this block) took.
    fn self_time(&mut self, w: &Line<'_>, duration: f64, group: usize) -> f64 {
        let Some(trace) = w.trace_id.str() else {
            return 0.0;
        };
        // Ids as `tail` reads them: strings, or numbers as written.
        let in_children = match w.span_id.text() {
            Some(span) => {
                let key = span_key(trace, &span);
                let children = self.pending.remove(&key).unwrap_or(0.0).min(duration);
                if self.boundary.first_spans.len() < PREFIX_SPANS {
                    let name = self.groups[group].0.clone();
                    self.boundary
                        .first_spans
                        .insert(key, (name, duration - children));
                }
                children
            }
            None => 0.0,
        };
        if let Some(parent) = w.parent_span_id.text() {
            let key = span_key(trace, &parent);
            if let Some(sum) = self.pending.get_mut(&key) {
                *sum += duration;
            } else if self.pending.len() < MAX_PENDING {
                self.pending.insert(key, duration);
            }
        }
        in_children
    }

    /// Ends the input fed by [`Stats::add_line`] alone: settles self time.
    pub(crate) fn finish(&mut self) {
        self.end_block(self.boundaries.len());
        self.settle();
    }

    /// Ends block `index`: what it leaves open is matched with its neighbours by
    /// [`Stats::settle`].
    fn end_block(&mut self, index: usize) {
        let mut boundary = std::mem::take(&mut self.boundary);
        boundary.waiting = self.pending.drain().collect();
        self.boundaries.push((index, boundary));
    }

    /// Adds `other`'s counts (another worker's, over other blocks).
    fn merge(&mut self, mut other: Stats) {
        for (name, group) in &other.groups {
            let at = self.group_index(name);
            self.groups[at].1.merge(group);
        }
        self.spans += other.spans;
        self.skipped += other.skipped;
        self.mistyped += other.mistyped;
        self.oversized += other.oversized;
        self.dropped += other.dropped;
        self.boundaries.append(&mut other.boundaries);
    }

    /// Subtracts the children at the end of each block from their parents at the start of
    /// the next.
    fn settle(&mut self) {
        let mut boundaries = std::mem::take(&mut self.boundaries);
        boundaries.sort_by_key(|(index, _)| *index);
        for pair in boundaries.windows(2) {
            let (before, after) = (&pair[0].1, &pair[1].1);
            for (parent, children) in &before.waiting {
                if let Some((name, left)) = after.first_spans.get(parent) {
                    let at = self.group_index(name);
                    self.groups[at].1.in_children_ms += children.min(*left);
                }
            }
        }
    }

    /// Number of spans counted.
    pub(crate) fn spans(&self) -> u64 {
        self.spans
    }

    /// Lines that were not spans (malformed, not an object, no `duration_ms`).
    pub(crate) fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Records skipped for a `duration_ms` that is not a number.
    pub(crate) fn mistyped(&self) -> u64 {
        self.mistyped
    }

    /// Records the logger dropped, as the drop markers in the input say.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Lines skipped for being longer than the line limit.
    pub(crate) fn oversized(&self) -> u64 {
        self.oversized
    }

    /// Number of groups.
    pub(crate) fn names(&self) -> usize {
        self.groups.len()
    }

    /// The heading of the group column.
    pub(crate) fn heading(&self) -> String {
        self.group_by.heading()
    }

    /// One row per group, sorted by `sort` (largest first, then by name), at most `top`.
    pub(crate) fn rows(&self, sort: SortKey, top: Option<usize>) -> Vec<Row> {
        let mut rows: Vec<Row> = self.groups.iter().map(|(n, g)| row(n, g)).collect();
        sort_rows(&mut rows, sort);
        if let Some(top) = top {
            rows.truncate(top);
        }
        rows
    }
}

fn row(name: &str, g: &Group) -> Row {
    let h = &g.durations;
    let count = h.len();
    Row {
        name: name.to_owned(),
        count,
        errors: g.errors,
        error_rate_pct: if count == 0 {
            0.0
        } else {
            g.errors as f64 * 100.0 / count as f64
        },
        cancelled: g.cancelled,
        slow: g.slow,
        p50_ms: h.percentile(50.0).unwrap_or(0.0),
        p95_ms: h.percentile(95.0).unwrap_or(0.0),
        p99_ms: h.percentile(99.0).unwrap_or(0.0),
        p999_ms: h.percentile(99.9).unwrap_or(0.0),
        max_ms: h.max().unwrap_or(0.0),
        total_ms: g.total_ms,
        self_ms: (g.total_ms - g.in_children_ms).max(0.0),
    }
}

fn sort_rows(rows: &mut [Row], sort: SortKey) {
    rows.sort_by(|a, b| {
        let by = match sort {
            SortKey::Total => b.total_ms.total_cmp(&a.total_ms),
            SortKey::P50 => b.p50_ms.total_cmp(&a.p50_ms),
            SortKey::P99 => b.p99_ms.total_cmp(&a.p99_ms),
            SortKey::Max => b.max_ms.total_cmp(&a.max_ms),
            SortKey::Count => b.count.cmp(&a.count),
            SortKey::Errors => b.errors.cmp(&a.errors),
            SortKey::Name => std::cmp::Ordering::Equal,
        };
        by.then_with(|| a.name.cmp(&b.name))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_of(lines: &[&str]) -> Stats {
        let mut s = Stats::new(GroupBy::Name);
        for line in lines {
            s.add_line(line.as_bytes(), &Filter::default());
        }
        s.end_block(0);
        s.settle();
        s
    }

    #[test]
    fn rows_sort_and_truncate() {
        let s = stats_of(&[
            r#"{"function":"a","duration_ms":1}"#,
            r#"{"function":"a","duration_ms":1}"#,
            r#"{"function":"b","duration_ms":10,"status":"error"}"#,
            r#"{"label":"c","duration_ms":5}"#,
            r#"{"event":"no duration"}"#,
            "garbage",
        ]);
        let names = |rows: Vec<Row>| rows.into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(names(s.rows(SortKey::Total, None)), ["b", "c", "a"]);
        assert_eq!(names(s.rows(SortKey::Count, Some(1))), ["a"]);
        assert_eq!(names(s.rows(SortKey::Errors, None)), ["b", "a", "c"]);
        assert_eq!(names(s.rows(SortKey::P99, None)), ["b", "c", "a"]);
        assert_eq!(names(s.rows(SortKey::Name, None)), ["a", "b", "c"]);
        assert_eq!((s.spans(), s.skipped()), (4, 2));
    }

    #[test]
    fn self_time_subtracts_children_written_before_their_parent() {
        let s = stats_of(&[
            r#"{"function":"leaf","duration_ms":2,"trace_id":"t","span_id":"l","parent_span_id":"m"}"#,
            r#"{"function":"mid","duration_ms":5,"trace_id":"t","span_id":"m","parent_span_id":"r"}"#,
            r#"{"function":"mid","duration_ms":1,"trace_id":"t","span_id":"m2","parent_span_id":"r"}"#,
            r#"{"function":"root","duration_ms":10,"trace_id":"t","span_id":"r"}"#,
            r#"{"function":"late","duration_ms":3,"trace_id":"t","span_id":"x","parent_span_id":"r"}"#,
        ]);
        let rows = s.rows(SortKey::Name, None);
        let self_of = |name: &str| rows.iter().find(|r| r.name == name).unwrap().self_ms;
        assert_eq!(self_of("leaf"), 2.0);
        assert_eq!(self_of("mid"), 4.0, "(5 - 2) + 1");
        assert_eq!(
            self_of("root"),
            4.0,
            "10 - 5 - 1; the late child is not subtracted"
        );
        assert_eq!(self_of("late"), 3.0);
    }

    #[test]
    fn self_time_finds_a_parent_at_the_start_of_the_next_block() {
        let mut a = Stats::new(GroupBy::Name);
        let mut b = Stats::new(GroupBy::Name);
        let all = Filter::default();
        a.add_line(
            br#"{"function":"child","duration_ms":3,"trace_id":"t","span_id":"c","parent_span_id":"p"}"#,
            &all,
        );
        a.end_block(0);
        b.add_line(
            br#"{"function":"parent","duration_ms":10,"trace_id":"t","span_id":"p"}"#,
            &all,
        );
        b.end_block(1);
        a.merge(b);
        a.settle();
        let rows = a.rows(SortKey::Name, None);
        assert_eq!(rows[0].name, "child");
        assert_eq!(rows[1].self_ms, 7.0);
    }

    // regression: issue #15
    #[test]
    fn issue_15_sequential_span_ids_spread_over_the_table_of_waiting_children() {
        use std::hash::BuildHasher as _;

        // hashbrown takes a key's bucket from the low bits of its hash; keys that share them
        // form one probe run, so inserting n of them costs n²/2 probes. A deep trace with
        // sequential ids written parent first leaves every span waiting in `pending`.
        // Modelled here as linear probing, counting probes.
        const SLOTS: usize = 1 << 15;
        let n = 10_000u64;
        let build = FxBuild::default();
        let trace = format!("{:032x}", 1);
        let mut table = vec![false; SLOTS];
        let mut probes = 0u64;
        for i in 1..=n {
            let key = span_key(&trace, &format!("{i:016x}"));
            let mut at = build.hash_one(key) as usize & (SLOTS - 1);
            probes += 1;
            while table[at] {
                at = (at + 1) & (SLOTS - 1);
                probes += 1;
            }
            table[at] = true;
        }
        assert!(probes < 3 * n, "{probes} probes for {n} keys");
    }

    #[test]
    fn groups_by_a_tag() {
        let mut s = Stats::new(GroupBy::Tag("route".into()));
        for line in [
            r#"{"function":"a","duration_ms":1,"tags":{"route":"/x"}}"#,
            r#"{"function":"b","duration_ms":2,"tags":{"route":"/x"}}"#,
            r#"{"function":"c","duration_ms":4}"#,
        ] {
            s.add_line(line.as_bytes(), &Filter::default());
        }
        let rows = s.rows(SortKey::Name, None);
        assert_eq!(
            rows.iter()
                .map(|r| (r.name.as_str(), r.count))
                .collect::<Vec<_>>(),
            [("(none)", 1), ("/x", 2)]
        );
        assert_eq!(
            GroupBy::parse("tag:"),
            Err("`tag:` is not `name` or `tag:KEY`".into())
        );
    }
}
