//! `--format chrome`: the Trace Event Format's JSON object form, which Perfetto UI and
//! `chrome://tracing` open.
//!
//! - One complete event (`"ph":"X"`, `ts` and `dur` in microseconds) per span. `ts` counts
//!   from the earliest span start; the absolute start is in `otherData.start_unix_us`.
//! - Sentinel records carry no process or thread id, so `pid` is the input (named by a
//!   `process_name` metadata event) and `tid` a track: a child goes on its parent's track when it
//!   nests inside it and no running sibling is there; concurrent (async) children, and spans
//!   outliving their parent, get a track of their own. Complete events on one track always
//!   nest, as the format requires.
//! - `args` holds the span's tags, then `status`, `error_type`, `error`, `trace_id`, `span_id`,
//!   `parent_span_id`, `cpu_time_ms`, `slow`; a tag with one of those names is shown as
//!   `tag.NAME`. `cat` is the status (filterable in `chrome://tracing`), and `cname` colours
//!   errors red and cancellations grey there.
//! - A child drawn on another track or input than its parent is linked to it by a flow
//!   arrow: a flow start (`"ph":"s"`) inside the parent's slice and a flow end (`"ph":"f"`) at
//!   the child's start, which binds to the child's slice.
//! - A drop marker is a process-wide instant event (`"ph":"i","s":"p"`) named
//!   `N records dropped by the logger`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

use serde_json::{Map, Value, json};

use crate::spans::{Forest, SpanSet, Status};

/// Names of the `args` sentinel fills in itself; a tag of the same name is renamed.
const OWN_ARGS: [&str; 8] = [
    "status",
    "error_type",
    "error",
    "trace_id",
    "span_id",
    "parent_span_id",
    "cpu_time_ms",
    "slow",
];

/// Writes `set` as one trace event JSON object; `sources` names the inputs (process names).
///
/// # Errors
///
/// Returns the writer's error.
pub fn write<W: Write + ?Sized>(set: &SpanSet, sources: &[String], out: &mut W) -> io::Result<()> {
    let spans = &set.spans;
    let origin = spans
        .iter()
        .map(|s| s.start_ns)
        .chain(set.drops.iter().filter_map(|d| d.at_ns))
        .min()
        .unwrap_or(0);
    let tracks = assign_tracks(set);
    let mut first = true;
    let mut event = |out: &mut W, v: Value| -> io::Result<()> {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        serde_json::to_writer(&mut *out, &v).map_err(io::Error::from)
    };
    out.write_all(b"{\"traceEvents\":[")?;
    let mut track_count = vec![0usize; sources.len()];
    for (i, s) in spans.iter().enumerate() {
        track_count[s.source] = track_count[s.source].max(tracks[i].track + 1);
    }
    for (source, name) in sources.iter().enumerate() {
        let pid = source + 1;
        event(
            out,
            json!({"name":"process_name","ph":"M","pid":pid,"tid":0,"args":{"name":name}}),
        )?;
        for track in 0..track_count[source] {
            event(
                out,
                json!({"name":"thread_name","ph":"M","pid":pid,"tid":track + 1,
                       "args":{"name":format!("track {}", track + 1)}}),
            )?;
        }
    }
    for (i, s) in spans.iter().enumerate() {
        let mut args = Map::new();
        for (k, v) in &s.tags {
            let key = if OWN_ARGS.contains(&k.as_str()) {
                format!("tag.{k}")
            } else {
                k.clone()
            };
            args.insert(key, v.clone());
        }
        args.insert("status".into(), s.status.as_str().into());
        if let Some(t) = &s.error_type {
            args.insert("error_type".into(), t.as_str().into());
        }
        if let Some(e) = &s.error {
            args.insert("error".into(), e.as_str().into());
        }
        args.insert("trace_id".into(), s.trace_hex().into());
        args.insert("span_id".into(), s.span_hex().into());
        if let Some(p) = s.parent_hex() {
            args.insert("parent_span_id".into(), p.into());
        }
        if let Some(cpu) = s.cpu_ms {
            args.insert("cpu_time_ms".into(), cpu.into());
        }
        if s.slow {
            args.insert("slow".into(), true.into());
        }
        let mut e = json!({
            "name": s.name,
            "cat": s.status.as_str(),
            "ph": "X",
            "ts": micros(tracks[i].start_ns - origin),
            "dur": micros(tracks[i].end_ns - tracks[i].start_ns),
            "pid": s.source + 1,
            "tid": tracks[i].track + 1,
            "args": args,
        });
        match s.status {
            Status::Error => e["cname"] = "terrible".into(),
            Status::Cancelled => e["cname"] = "grey".into(),
            _ => {}
        }
        event(out, e)?;
    }
    // A child drawn away from its parent (another track or input) gets a flow arrow from the
    // parent's slice to its own.
    let forest = Forest::new(spans);
    let mut flow_id = 0u64;
    for (p, children) in forest.children.iter().enumerate() {
        for &c in children {
            let (parent, child) = (&tracks[p], &tracks[c]);
            if spans[p].source == spans[c].source && parent.track == child.track {
                continue;
            }
            flow_id += 1;
            let from = child.start_ns.clamp(parent.start_ns, parent.end_ns);
            event(
                out,
                json!({"name":"child","cat":"flow","ph":"s","id":flow_id,"ts":micros(from - origin),
                       "pid":spans[p].source + 1,"tid":parent.track + 1}),
            )?;
            event(
                out,
                json!({"name":"child","cat":"flow","ph":"f","id":flow_id,"ts":micros(child.start_ns - origin),
                       "pid":spans[c].source + 1,"tid":child.track + 1}),
            )?;
        }
    }
    for d in &set.drops {
        let Some(at) = d.at_ns else { continue };
        event(
            out,
            json!({"name": format!("{} records dropped by the logger", d.count),
                   "cat":"dropped","ph":"i","s":"p","ts":micros(at - origin),
                   "pid":d.source + 1,"tid":0,"args":{"count":d.count}}),
        )?;
    }
    // Written as text: the absolute start has 19 digits, more than a `Value` (an f64) keeps.
    write!(
        out,
        "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{{\"generator\":\"sentinel {}\",\"start_unix_us\":{}}}}}\n",
        env!("CARGO_PKG_VERSION"),
        micros_text(origin)
    )?;
    out.flush()
}

/// Nanoseconds as microseconds with three exact decimals, as JSON number text.
fn micros_text(ns: i64) -> String {
    format!(
        "{}{}.{:03}",
        if ns < 0 { "-" } else { "" },
        ns.unsigned_abs() / 1000,
        ns.unsigned_abs() % 1000
    )
}

/// [`micros_text`] as a JSON number: an f64, so exact to the nanosecond for times up to
/// 10^12 µs (11 days) from the origin, which is what `ts` and `dur` are.
fn micros(ns: i64) -> Value {
    serde_json::from_str(&micros_text(ns)).expect("a decimal is a JSON number")
}

/// Where a span is drawn: its track (0-based, per input) and its times, nudged by less than
/// [`TOLERANCE_NS`] so that spans on one track nest exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Placed {
    track: usize,
    start_ns: i64,
    end_ns: i64,
}

/// End times are written to the microsecond and starts are derived from them, so siblings
/// that ran one after the other may seem to overlap by up to this much.
const TOLERANCE_NS: i64 = 1000;

/// Places every span on a track so that the spans of one track nest: on its parent's track
/// when it nests there, else on the lowest free track, found in O(log tracks).
fn assign_tracks(set: &SpanSet) -> Vec<Placed> {
    let spans = &set.spans;
    let forest = Forest::new(spans);
    let mut parent_of = vec![None; spans.len()];
    for (p, children) in forest.children.iter().enumerate() {
        for &c in children {
            parent_of[c] = Some(p);
        }
    }
    let mut depth = vec![0usize; spans.len()];
    for &root in &forest.roots {
        for (i, d) in forest.walk(root) {
            depth[i] = d;
        }
    }
    // Parents before children: by start, longer first, then by depth in the tree.
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| (spans[i].start_ns, Reverse(spans[i].end_ns), depth[i]));
    let mut tracks: Vec<Tracks> = (0..set_sources(set)).map(|_| Tracks::default()).collect();
    let mut placed = vec![Placed::default(); spans.len()];
    for i in order {
        let s = &spans[i];
        let tracks = &mut tracks[s.source];
        let parent = parent_of[i]
            .filter(|&p| spans[p].source == s.source && s.end_ns <= spans[p].end_ns + TOLERANCE_NS);
        let on_parent = parent.map(|p| placed[p].track).filter(|&t| {
            tracks.pop(t, s.start_ns, &placed);
            tracks.stacks[t].0.last() == parent.as_ref()
        });
        let track = on_parent.unwrap_or_else(|| tracks.first_free(s.start_ns, &placed));
        let (stack, floor) = &mut tracks.stacks[track];
        let mut start = s.start_ns.max(*floor);
        let mut end = s.end_ns;
        if let Some(&top) = stack.last() {
            start = start.max(placed[top].start_ns);
            end = end.min(placed[top].end_ns);
        }
        let outermost = stack.is_empty();
        stack.push(i);
        placed[i] = Placed {
            track,
            start_ns: start,
            end_ns: end.max(start),
        };
        if outermost {
            // Spans pushed above it nest inside it: the track is busy until it ends.
            crate::steps::step(1);
            tracks.busy.push(Reverse((placed[i].end_ns, track)));
        }
    }
    placed
}

/// The tracks of one input.
#[derive(Debug, Default)]
struct Tracks {
    /// Per track: the open spans (a stack, each nesting in the one below) and the latest
    /// end popped off it.
    stacks: Vec<(Vec<usize>, i64)>,
    /// Tracks holding spans, by the end of their outermost span: when they become free.
    busy: BinaryHeap<Reverse<(i64, usize)>>,
    /// Tracks whose spans have all ended, lowest first.
    free: BinaryHeap<Reverse<usize>>,
}

impl Tracks {
    /// Pops the spans of `track` that end before `start_ns` (within [`TOLERANCE_NS`]).
    fn pop(&mut self, track: usize, start_ns: i64, placed: &[Placed]) {
        let (stack, floor) = &mut self.stacks[track];
        while let Some(&top) = stack.last() {
            if placed[top].end_ns > start_ns + TOLERANCE_NS {
                break;
            }
            *floor = (*floor).max(placed[top].end_ns);
            stack.pop();
        }
    }

    /// The lowest track whose spans have all ended by `start_ns`, emptied, or a new one.
    /// Starts only grow from call to call, so a track once free stays free until used.
    fn first_free(&mut self, start_ns: i64, placed: &[Placed]) -> usize {
        while let Some(&Reverse((end, track))) = self.busy.peek() {
            if end > start_ns + TOLERANCE_NS {
                break;
            }
            crate::steps::step(1);
            self.busy.pop();
            self.free.push(Reverse(track));
        }
        crate::steps::step(1);
        match self.free.pop() {
            Some(Reverse(track)) => {
                self.pop(track, start_ns, placed);
                track
            }
            None => {
                self.stacks.push((Vec::new(), i64::MIN));
                self.stacks.len() - 1
            }
        }
    }
}

fn set_sources(set: &SpanSet) -> usize {
    set.spans
        .iter()
        .map(|s| s.source + 1)
        .chain(set.drops.iter().map(|d| d.source + 1))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(span: u64, parent: Option<u64>, start_ms: u64, end_ms: u64) -> String {
        let parent = parent.map_or("null".to_owned(), |p| format!("\"{p:016x}\""));
        let end = format!("2026-11-22T00:00:00.{end_ms:03}+00:00");
        format!(
            r#"{{"timestamp":"{end}","function":"s{span}","duration_ms":{},"status":"success","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"{span:016x}","parent_span_id":{parent}}}"#,
            end_ms - start_ms
        )
    }

    fn tracks(lines: &[String]) -> Vec<usize> {
        let mut set = SpanSet::default();
        for l in lines {
            set.add_line(l.as_bytes(), 0, &crate::filter::Filter::default());
        }
        assign_tracks(&set).iter().map(|p| p.track).collect()
    }

    #[test]
    fn nested_children_share_the_parents_track() {
        let t = tracks(&[
            span(1, None, 0, 100),
            span(2, Some(1), 10, 20),
            span(3, Some(1), 30, 40),
            span(4, Some(3), 31, 39),
        ]);
        assert_eq!(t, vec![0, 0, 0, 0]);
    }

    #[test]
    fn concurrent_children_get_their_own_tracks() {
        let t = tracks(&[
            span(1, None, 0, 100),
            span(2, Some(1), 10, 60),
            span(3, Some(1), 20, 70),
            span(4, Some(1), 80, 90),
            // Outlives its parent (a detached task): not on the parent's track.
            span(5, Some(1), 95, 120),
        ]);
        assert_eq!(t[0], t[1]);
        assert_ne!(t[2], t[0]);
        assert_eq!(t[3], t[0]);
        assert_ne!(t[4], t[0]);
    }

    #[test]
    fn siblings_overlapping_by_timestamp_rounding_share_a_track_and_are_nudged_apart() {
        let mut set = SpanSet::default();
        let t = "4bf92f3577b34da6a3ce929d0e0e4736";
        for l in [
            format!(
                r#"{{"timestamp":"2026-11-22T00:00:00.000100+00:00","function":"root","duration_ms":0.1,"trace_id":"{t}","span_id":"0000000000000001"}}"#
            ),
            // 10.0004..20.000 µs, then 19.9996..30 µs: 0.4 ns of overlap from rounding.
            format!(
                r#"{{"timestamp":"2026-11-22T00:00:00.000020+00:00","function":"a","duration_ms":0.0099996,"trace_id":"{t}","span_id":"0000000000000002","parent_span_id":"0000000000000001"}}"#
            ),
            format!(
                r#"{{"timestamp":"2026-11-22T00:00:00.000030+00:00","function":"b","duration_ms":0.0100004,"trace_id":"{t}","span_id":"0000000000000003","parent_span_id":"0000000000000001"}}"#
            ),
        ] {
            set.add_line(l.as_bytes(), 0, &crate::filter::Filter::default());
        }
        let placed = assign_tracks(&set);
        assert_eq!(placed[1].track, placed[0].track);
        assert_eq!(placed[2].track, placed[0].track);
        assert!(placed[2].start_ns >= placed[1].end_ns);
        assert!(placed[2].start_ns - set.spans[2].start_ns < TOLERANCE_NS);
    }

    // regression: issue #15
    #[test]
    fn issue_15_placing_many_concurrent_roots_looks_at_few_tracks_each() {
        // 2,000 roots, each running while every other one does: 2,000 tracks.
        let n = 2_000u64;
        let mut set = SpanSet::default();
        for i in 1..=n {
            let l = format!(
                r#"{{"timestamp":"2026-11-22T00:00:{:02}.{:03}+00:00","function":"r","duration_ms":{},"trace_id":"{i:032x}","span_id":"{i:016x}"}}"#,
                (2 * n) / 1000,
                (2 * n) % 1000,
                2 * n - i
            );
            set.add_line(l.as_bytes(), 0, &crate::filter::Filter::default());
        }
        let (placed, steps) = crate::steps::counted(|| assign_tracks(&set));
        let mut tracks: Vec<usize> = placed.iter().map(|p| p.track).collect();
        tracks.sort_unstable();
        tracks.dedup();
        assert_eq!(tracks.len(), n as usize, "one track each");
        assert!(steps <= 4 * n, "{steps} tracks looked at for {n} roots");
    }

    // regression: issue #16
    #[test]
    fn issue_16_the_absolute_start_is_exact_to_the_nanosecond() {
        let mut set = SpanSet::default();
        let l = r#"{"timestamp":"2026-11-22T01:02:03.000000123+00:00","function":"f","duration_ms":0,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"0000000000000001"}"#;
        set.add_line(l.as_bytes(), 0, &crate::filter::Filter::default());
        let mut out = Vec::new();
        write(&set, &["a".to_owned()], &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("\"start_unix_us\":1795309323000000.123"),
            "{}",
            &text[text.find("otherData").unwrap()..]
        );
        // Still one JSON document.
        serde_json::from_str::<Value>(&text).unwrap();
    }

    #[test]
    fn micros_are_exact_decimals() {
        assert_eq!(micros(1_234_567).to_string(), "1234.567");
        assert_eq!(micros(-5).to_string(), "-0.005");
    }
}
