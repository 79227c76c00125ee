//! `sentinel report`: one self-contained HTML page about the inputs' spans, for a person.
//!
//! The page is `page.html` with its style (`page.css`), its script (`page.js`) and the data
//! inlined: nothing is fetched, so it opens from disk, offline, from a mail attachment. The
//! data is one JSON document in a `<script type="application/json">` element, with `<`, `>`,
//! `&` and the JavaScript line separators escaped as `\uXXXX`, so no span name or tag can end
//! the element; the script puts every text into the page with `textContent`, never as markup.
//!
//! What the page shows, and the caps that keep it usable however large the input (each cap
//! says on the page what it left out):
//! - the time range and the counts of spans, traces, names, errors and what was not a span
//!   (a record whose `duration_ms` is not a number is skipped and counted, the one rule of
//!   every subcommand: [`crate::input::mistyped`]);
//! - the per-name table of `sentinel stats` (sortable; at most [`MAX_NAMES`] rows);
//! - the [`MAX_TRACES`] slowest traces and the [`MAX_TRACES`] latest failed ones as
//!   waterfalls (at most [`MAX_WATERFALL_SPANS`] spans each);
//! - a flame graph by self time over every span (frames narrower than 1/[`FLAME_MIN_SHARE`] of
//!   the total merged away, at most [`MAX_FLAME_NODES`] frames, at most
//!   [`MAX_STACK_DEPTH`](crate::spans::MAX_STACK_DEPTH) deep).

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::error::Failure;
use crate::export::output;
use crate::filter::FilterArgs;
use crate::input::InputArgs;
use crate::spans::{Forest, MAX_STACK_DEPTH, Span, SpanSet, Status};
use crate::stats::{GroupBy, Row, SortKey, Stats};
use crate::{Outcome, Reporter};

/// Rows of the per-name table.
pub(crate) const MAX_NAMES: usize = 1_000;
/// Waterfalls in each of the two lists (slowest, failed).
pub(crate) const MAX_TRACES: usize = 10;
/// Spans drawn in one waterfall.
pub(crate) const MAX_WATERFALL_SPANS: usize = 500;
/// Frames of the flame graph.
pub(crate) const MAX_FLAME_NODES: usize = 2_000;
/// Frames narrower than 1/this of the whole graph are merged into their parent.
pub(crate) const FLAME_MIN_SHARE: u64 = 2_000;

const PAGE: &str = include_str!("page.html");
const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// Arguments of `sentinel report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    pub(crate) input: InputArgs,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// The HTML file to write.
    #[arg(short, long, value_name = "FILE", default_value = "report.html")]
    pub(crate) output: PathBuf,
}

/// Everything the page shows; `page.js` reads it.
#[derive(Debug, Serialize)]
struct Data {
    generator: &'static str,
    inputs: Vec<String>,
    /// Earliest start and latest end, Unix milliseconds.
    range: Option<(f64, f64)>,
    counts: Counts,
    stats: Vec<Row>,
    stats_left_out: usize,
    slowest: Vec<Trace>,
    failed: Vec<Trace>,
    failed_traces: usize,
    flame: Frame,
    flame_left_out: u64,
}

#[derive(Debug, Serialize)]
struct Counts {
    spans: usize,
    traces: usize,
    names: usize,
    errors: usize,
    cancelled: usize,
    not_spans: u64,
    mistyped: u64,
    malformed: u64,
    oversized: u64,
    no_time: u64,
    bad_ids: u64,
    dropped_by_logger: u64,
}

/// One waterfall: a root and its tree.
#[derive(Debug, Serialize)]
struct Trace {
    trace_id: String,
    name: String,
    start_ms: f64,
    duration_ms: f64,
    status: &'static str,
    spans: Vec<Bar>,
    spans_left_out: usize,
}

/// One span of a waterfall, times relative to the trace's start.
#[derive(Debug, Serialize)]
struct Bar {
    name: String,
    /// Index of the input (in `Data::inputs`) the span was read from.
    input: usize,
    depth: usize,
    offset_ms: f64,
    duration_ms: f64,
    status: &'static str,
    error: Option<String>,
    tags: serde_json::Map<String, serde_json::Value>,
}

/// A flame graph frame: self and total time in microseconds.
#[derive(Debug, Default, Serialize)]
struct Frame {
    name: String,
    self_us: u64,
    total_us: u64,
    children: Vec<Frame>,
}

/// Runs `sentinel report`.
///
/// # Errors
///
/// Unreadable inputs, an unwritable output file.
pub(crate) fn run(args: &ReportArgs) -> Result<Outcome, Failure> {
    if args.filter.last.is_some() {
        return Err(Failure::Usage(
            "report shows every matching span; narrow it with --since/--until instead of -n"
                .to_owned(),
        ));
    }
    let sources = args.input.sources()?;
    let filter = args.filter.filter();
    let mut reporter = Reporter::default();
    let mut stats = Stats::new(GroupBy::Name);
    let set = SpanSet::read(
        &sources,
        &filter,
        None,
        &mut |note| reporter.note(note),
        |line| {
            stats.add_line(line, &filter);
        },
    )?;
    stats.finish();
    let inputs = sources.iter().map(|s| s.name()).collect();
    let html = page(&data(&set, &stats, inputs));
    let mut out = output(Some(&args.output))?;
    out.write_all(html.as_bytes())?;
    out.flush()?;
    crate::error::say(format_args!(
        "report: {} spans -> {}",
        set.spans.len(),
        args.output.display()
    ));
    Ok(reporter.outcome())
}

/// The page with its style, script and `data` inlined.
fn page(data: &Data) -> String {
    let json = serde_json::to_string(data).expect("report data serialises");
    PAGE.replacen("/*STYLE*/", STYLE, 1)
        .replacen("/*SCRIPT*/", SCRIPT, 1)
        .replacen("{/*DATA*/}", &script_safe(&json), 1)
}

/// JSON that cannot end a `<script>` element or be read as markup: `<`, `>`, `&` and the
/// line separators U+2028/U+2029 become `\uXXXX` escapes, which mean the same in JSON (they
/// can only occur inside strings).
fn script_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + 64);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn data(set: &SpanSet, stats: &Stats, inputs: Vec<String>) -> Data {
    let spans = &set.spans;
    let forest = Forest::new(spans);
    let mut rows = stats.rows(SortKey::Total, None);
    let stats_left_out = rows.len().saturating_sub(MAX_NAMES);
    rows.truncate(MAX_NAMES);

    let trees: Vec<(usize, bool)> = forest
        .roots
        .iter()
        .map(|&root| {
            let failed = forest
                .walk(root)
                .iter()
                .any(|&(i, _)| spans[i].status == Status::Error);
            (root, failed)
        })
        .collect();
    let mut slowest: Vec<usize> = trees.iter().map(|&(r, _)| r).collect();
    slowest.sort_by_key(|&r| std::cmp::Reverse(spans[r].duration_ns()));
    slowest.truncate(MAX_TRACES);
    let mut failed: Vec<usize> = trees.iter().filter(|t| t.1).map(|&(r, _)| r).collect();
    let failed_traces = failed.len();
    failed.sort_by_key(|&r| std::cmp::Reverse(spans[r].end_ns));
    failed.truncate(MAX_TRACES);

    let (flame, flame_left_out) = flame(spans, &forest);
    let traces: HashSet<u128> = spans.iter().map(|s| s.trace_id).collect();
    let range = spans
        .iter()
        .map(|s| s.start_ns)
        .min()
        .zip(spans.iter().map(|s| s.end_ns).max())
        .map(|(a, b)| (a as f64 / 1e6, b as f64 / 1e6));
    Data {
        generator: concat!("sentinel ", env!("CARGO_PKG_VERSION")),
        inputs,
        range,
        counts: Counts {
            spans: spans.len(),
            traces: traces.len(),
            names: stats.names(),
            errors: spans.iter().filter(|s| s.status == Status::Error).count(),
            cancelled: spans
                .iter()
                .filter(|s| s.status == Status::Cancelled)
                .count(),
            not_spans: set.not_spans,
            mistyped: set.mistyped,
            malformed: set.malformed,
            oversized: set.oversized,
            no_time: set.no_time,
            bad_ids: set.bad_ids,
            dropped_by_logger: set.dropped_by_logger(),
        },
        stats: rows,
        stats_left_out,
        slowest: slowest
            .into_iter()
            .map(|r| trace(spans, &forest, r))
            .collect(),
        failed: failed
            .into_iter()
            .map(|r| trace(spans, &forest, r))
            .collect(),
        failed_traces,
        flame,
        flame_left_out,
    }
}

fn trace(spans: &[Span], forest: &Forest, root: usize) -> Trace {
    let r = &spans[root];
    let walk = forest.walk(root);
    let spans_left_out = walk.len().saturating_sub(MAX_WATERFALL_SPANS);
    Trace {
        trace_id: r.trace_hex(),
        name: r.name.clone(),
        start_ms: r.start_ns as f64 / 1e6,
        duration_ms: r.duration_ns() as f64 / 1e6,
        status: r.status.as_str(),
        spans: walk
            .into_iter()
            .take(MAX_WATERFALL_SPANS)
            .map(|(i, depth)| {
                let s = &spans[i];
                Bar {
                    name: s.name.clone(),
                    input: s.source,
                    depth,
                    offset_ms: (s.start_ns - r.start_ns) as f64 / 1e6,
                    duration_ms: s.duration_ns() as f64 / 1e6,
                    status: s.status.as_str(),
                    error: s.error_text(),
                    tags: s.tags.clone(),
                }
            })
            .collect(),
        spans_left_out,
    }
}

/// The flame graph by self time, and how many frames were merged away by the caps.
fn flame(spans: &[Span], forest: &Forest) -> (Frame, u64) {
    /// A frame while the graph is built: nodes live in one vector, so the walk keeps the
    /// node of each depth of its path and finds a span's frame with one lookup.
    #[derive(Default)]
    struct Node {
        parent: usize,
        self_us: u64,
        children: BTreeMap<String, usize>,
    }
    let mut nodes = vec![Node::default()];
    let mut too_deep = 0;
    for &r in &forest.roots {
        // `path[d]`: the node of the walk's current span at depth `d`.
        let mut path: Vec<usize> = Vec::new();
        for (i, depth) in forest.walk(r) {
            let at = if depth < MAX_STACK_DEPTH {
                path.truncate(depth);
                let parent = path.last().copied().unwrap_or(0);
                crate::steps::step(1);
                let at = match nodes[parent].children.get(spans[i].name.as_str()) {
                    Some(&at) => at,
                    None => {
                        let at = nodes.len();
                        nodes.push(Node {
                            parent,
                            ..Node::default()
                        });
                        nodes[parent].children.insert(spans[i].name.clone(), at);
                        at
                    }
                };
                path.push(at);
                at
            } else {
                // Drawn as part of its ancestor at the cap (the last node of `path`).
                too_deep += 1;
                path.last().copied().unwrap_or(0)
            };
            nodes[at].self_us += u64::try_from(forest.self_ns(spans, i)).unwrap_or(0) / 1000;
        }
    }
    // A child's index is above its parent's, so one backward pass sums every subtree.
    let mut totals: Vec<u64> = nodes.iter().map(|n| n.self_us).collect();
    for at in (1..nodes.len()).rev() {
        totals[nodes[at].parent] += totals[at];
    }
    let min = totals[0] / FLAME_MIN_SHARE;
    let mut budget = MAX_FLAME_NODES;
    let mut merged = too_deep;
    // Widest first, so the budget goes to what is seen; merged frames add to their parent.
    fn keep(
        name: String,
        at: usize,
        nodes: &mut [Node],
        totals: &[u64],
        min: u64,
        budget: &mut usize,
        merged: &mut u64,
    ) -> Frame {
        let mut children: Vec<(String, usize)> = std::mem::take(&mut nodes[at].children)
            .into_iter()
            .collect();
        children.sort_by_key(|&(_, c)| std::cmp::Reverse(totals[c]));
        let mut frame = Frame {
            name,
            self_us: nodes[at].self_us,
            total_us: nodes[at].self_us,
            children: Vec::new(),
        };
        for (n, c) in children {
            let t = totals[c];
            frame.total_us += t;
            if t >= min.max(1) && *budget > 0 {
                *budget -= 1;
                frame
                    .children
                    .push(keep(n, c, nodes, totals, min, budget, merged));
            } else {
                *merged += 1;
                frame.self_us += t;
            }
        }
        frame
    }
    let frame = keep(
        "all".to_owned(),
        0,
        &mut nodes,
        &totals,
        min,
        &mut budget,
        &mut merged,
    );
    (frame, merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::Filter;

    #[test]
    fn the_flame_graph_merges_frames_too_narrow_to_see_and_keeps_the_total() {
        let mut set = SpanSet::default();
        // One wide root (10 s) and 3,000 one-millisecond roots of distinct names.
        let line = |id: u64, name: &str, ms: u64| {
            format!(
                r#"{{"timestamp":"2026-11-22T00:00:10+00:00","function":"{name}","duration_ms":{ms},"trace_id":"{id:032x}","span_id":"{id:016x}"}}"#
            )
        };
        set.add_line(line(1, "wide", 10_000).as_bytes(), 0, &Filter::default());
        for i in 0..3_000u64 {
            let l = line(2 + i, &format!("narrow-{i}"), 1);
            set.add_line(l.as_bytes(), 0, &Filter::default());
        }
        let forest = Forest::new(&set.spans);
        let (frame, merged) = flame(&set.spans, &forest);
        assert_eq!(frame.total_us, 13_000_000);
        assert_eq!(frame.children.len(), 1, "only `wide` is drawn");
        assert_eq!(frame.children[0].name, "wide");
        assert_eq!(merged, 3_000);
        assert_eq!(
            frame.self_us, 3_000_000,
            "merged frames count as the parent's self time"
        );
    }

    fn frame_depth(f: &Frame) -> usize {
        // Iterative: the frame tree under test may be deep.
        let mut deepest = 0;
        let mut stack = vec![(f, 0)];
        while let Some((f, d)) = stack.pop() {
            deepest = deepest.max(d);
            stack.extend(f.children.iter().map(|c| (c, d + 1)));
        }
        deepest
    }

    // regression: issue #16
    #[test]
    fn issue_16_a_very_deep_trace_is_cut_at_the_flame_depth_cap_and_keeps_its_time() {
        let set = crate::spans::chain(10_000);
        let forest = Forest::new(&set.spans);
        let (frame, merged) = flame(&set.spans, &forest);
        assert_eq!(frame.total_us, 10_000_000);
        assert!(
            frame_depth(&frame) <= MAX_STACK_DEPTH,
            "{}",
            frame_depth(&frame)
        );
        assert_eq!(merged, 10_000 - MAX_STACK_DEPTH as u64);
    }

    // regression: issue #15
    #[test]
    fn issue_15_the_flame_graph_looks_each_span_up_once_however_deep_the_trace() {
        let set = crate::spans::chain(20_000);
        let forest = Forest::new(&set.spans);
        let ((frame, _), steps) = crate::steps::counted(|| flame(&set.spans, &forest));
        assert_eq!(frame.total_us, 20_000_000);
        assert!(steps <= 20_000, "{steps} frame lookups for 20000 spans");
    }

    #[test]
    fn nothing_from_the_data_can_close_the_script_element() {
        let json = serde_json::to_string(&serde_json::json!({
            "name": "</script><img src=x onerror=alert(1)>&amp;\u{2028}"
        }))
        .unwrap();
        let safe = script_safe(&json);
        assert!(!safe.contains('<') && !safe.contains('>') && !safe.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(
            back["name"],
            "</script><img src=x onerror=alert(1)>&amp;\u{2028}"
        );
    }
}
