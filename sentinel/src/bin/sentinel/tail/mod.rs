//! `sentinel tail`: pretty-print sentinel JSONL records, flat or as trace trees.
//!
//! The [`Tail`] state machine takes lines and writes what is ready to print; [`run`] feeds it
//! every input in order, and with `--follow` the last input as it grows (`follow.rs`).
//!
//! # Line layout
//!
//! Flat mode prints one line per record, in arrival order, with the same layout as the
//! Python `sentinel tail` of sentinel-trace 0.2.0:
//!
//! ```text
//! TIMESTAMP [TRACE8] NAME 12.35ms STATUS (ERROR) [k=v k=v]
//! ```
//!
//! - `NAME` is `function`, else `label`, else `?`; `TRACE8` is the first 8 characters of
//!   `trace_id`. Absent parts (no timestamp, no trace id, no error, no tags) are left out.
//! - `STATUS` is green `success`, yellow `success SLOW` when `slow` is true, red `error`,
//!   magenta `cancelled` (an async span dropped before it completed); other values are printed
//!   uncoloured.
//! - `(ERROR)` is the `error` message, or `error_type` when there is no message.
//! - Tag values print like Python's `str()`, so a line reads the same in both tools: strings
//!   without quotes, numbers as written, `true`/`false`/`null` as `True`/`False`/`None`;
//!   nested arrays and objects print as compact JSON (Python would print its `repr`).
//! - Control characters inside any value are escaped (`\n`, `\u{1b}`), so a record can neither
//!   break the one-line-per-record layout nor send escape sequences to the terminal.
//!
//! # Tree mode
//!
//! With `--tree`, records are buffered per `trace_id` until the trace's root (a
//! record whose `parent_span_id` is missing, null or empty) arrives; the whole trace is then
//! drawn as a tree with `├─ `, `└─ ` and `│  `, children ordered by start time
//! (`timestamp` − `duration_ms`, since `timestamp` is when a span ended). A multi-span trace
//! gets a `trace TRACE8` header line; a one-span trace is a single `[TRACE8] node` line. Records
//! without a trace id are printed flat at once. Spans whose parent is not in the trace are
//! drawn as extra top-level nodes after the root, so nothing in a buffered trace is dropped.
//!
//! # Orphans and late records
//!
//! - At the end of input (the end of the input) and when a a `--follow` is stopped (Ctrl-C, SIGTERM), every
//!   trace whose root never arrived is drawn under a `trace TRACE8 (incomplete)` header, its
//!   spans as children of the missing root.
//! - A record arriving after its trace was printed (for example a spawned task that outlived
//!   its parent) is printed at once as `[TRACE8] (late) node`. The ids of the last
//!   10,000 printed traces are remembered for this; an older trace's late record is buffered as
//!   a new trace and surfaces as an orphan at the latest at the end of input.
//!
//! # Filters
//!
//! Flat mode prints the records the filter keeps. Tree mode buffers every record of a trace
//! and draws the whole trace when any of its records matched, so `--status error --tree`
//! shows each failing span in its context. With `-n N` only the last N printed records (or
//! traces) are printed; with `--follow`, the last N of what is already there, then the rest
//! as it comes.
//!
//! # Memory
//!
//! Flat mode holds one line at a time (`-n N`: N lines). Tree mode holds the open (rootless)
//! traces only, and is capped by the memory they take (the decoded records, counted with
//! what the allocator adds to each block, and each trace's bookkeeping; not record counts,
//! nor bytes of input, which short records outgrow several times): a trace taking more than
//! [`DEFAULT_MAX_TRACE_BYTES`] (8 MiB), or the oldest open trace whenever all open traces
//! together take more than [`DEFAULT_MAX_BUFFERED_BYTES`] (64 MiB), is printed at once under
//! a `trace TRACE8 (gave up waiting for the root: buffer full)` header; its later records,
//! root included, then print as `(late)` lines, and a note on stderr counts such traces.
//! Besides the cap, the ids of the last 10,000 printed traces are kept (about 2 MiB).
//!
//! # Robust input
//!
//! Blank lines, malformed JSON, JSON that is not an object and lines longer than
//! [`DEFAULT_MAX_LINE_BYTES`] (1 MiB) are skipped (over-long lines are discarded while reading,
//! never held whole). Invalid UTF-8 is replaced with `U+FFFD`. Missing, null or wrongly typed
//! fields fall back to defaults: name `?`, duration `0.00ms`, no status; but a record whose
//! `duration_ms` is there and not a number is skipped, as `stats` does
//! ([`crate::input::mistyped`]). How many lines were skipped is said on stderr; an input of
//! which no line is a record is an error.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Write};
use std::sync::atomic::AtomicBool;

use sentinel::format::{Line, with_utf8};

pub(crate) use sentinel::format::{is_blank, is_object};

mod follow;
mod record;
mod render;

use crate::error::Failure;
use crate::filter::Filter;
use crate::input::{InputArgs, Seen, mistyped, read_lines};
pub(crate) use crate::lines::LineReader;
pub use record::*;
use render::*;

/// Longest line read, in bytes, before it is skipped: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
/// Most memory one open trace takes in tree mode: 8 MiB.
pub const DEFAULT_MAX_TRACE_BYTES: usize = 8 << 20;
/// Most memory all open traces take together in tree mode: 64 MiB.
pub const DEFAULT_MAX_BUFFERED_BYTES: usize = 64 << 20;
/// How many printed trace ids are remembered to recognise late records.
const REMEMBERED_TRACES: usize = 10_000;
/// Bytes an open trace costs beyond its records: its entry in the map of open traces
/// (which may be twice the entries' size as it grows), and three copies of its id (the
/// map's key, its place in the order of open traces, and a stale place there once closed,
/// of which there are at most two per open trace), besides their heap blocks.
const TRACE_OVERHEAD: usize =
    2 * size_of::<(String, OpenTrace)>() + 3 * (size_of::<String>() + HEAP_BLOCK);

/// Settings for [`Tail`] and [`run`].
#[derive(Debug, Clone)]
#[must_use = "options do nothing until passed to `run` or `Tail::new`"]
pub struct TailOptions {
    /// Draw each trace as a tree instead of one line per record. Defaults to `false`.
    pub tree: bool,
    /// Print matching records as JSONL, as they were read. Defaults to `false`.
    pub json: bool,
    /// Colour the output with ANSI escape codes. Defaults to `false`; see [`resolve_color`].
    pub color: bool,
    /// Print only the last N records (traces in tree mode) of what is read before following.
    /// Defaults to all.
    pub last: Option<usize>,
    /// Lines longer than this many bytes are skipped. Defaults to [`DEFAULT_MAX_LINE_BYTES`].
    pub max_line_bytes: usize,
    /// A trace taking more memory than this is printed at once, marked as given up.
    /// Defaults to [`DEFAULT_MAX_TRACE_BYTES`].
    pub max_trace_bytes: usize,
    /// When open traces take more memory than this, the oldest are printed at once,
    /// marked as given up. Defaults to [`DEFAULT_MAX_BUFFERED_BYTES`].
    pub max_buffered_bytes: usize,
}

impl Default for TailOptions {
    fn default() -> Self {
        Self {
            tree: false,
            json: false,
            color: false,
            last: None,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_trace_bytes: DEFAULT_MAX_TRACE_BYTES,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
        }
    }
}

/// Counters describing one run of [`Tail`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TailSummary {
    /// Records printed (flat lines, tree nodes and late lines).
    pub records: u64,
    /// Records printed as `(late)`, after their trace had been printed.
    pub late: u64,
    /// Traces printed as `(incomplete)`: root missing at the end.
    pub incomplete_traces: u64,
    /// Traces printed before their root came because a buffer cap was reached.
    pub gave_up_traces: u64,
    /// Records the logger dropped, as its drop markers in the input say.
    pub dropped: u64,
}

/// Decides whether output is coloured.
///
/// Colour is on only when `no_color_flag` is false, the `NO_COLOR` environment variable
/// (`no_color_env`) is unset or empty (<https://no-color.org>), and stdout is a terminal.
pub fn resolve_color(
    no_color_flag: bool,
    no_color_env: Option<&std::ffi::OsStr>,
    stdout_is_terminal: bool,
) -> bool {
    let env_says_no = no_color_env.is_some_and(|v| !v.is_empty());
    !no_color_flag && !env_says_no && stdout_is_terminal
}

// === the tail state machine ===

/// A trace waiting for its root.
#[derive(Debug, Default)]
struct OpenTrace {
    records: Vec<Record>,
    bytes: usize,
    /// Whether any of its records passed the filter.
    matched: bool,
}

/// Incremental `sentinel tail`: feed it lines, it writes what is ready to print.
#[derive(Debug)]
pub struct Tail {
    opts: TailOptions,
    filter: Filter,
    open: HashMap<String, OpenTrace>,
    /// Open trace ids in first-seen order, for evicting the oldest; may hold ids already
    /// closed, which are skipped (and compacted away when they pile up).
    open_order: VecDeque<String>,
    buffered: usize,
    printed: HashSet<String>,
    printed_order: VecDeque<String>,
    summary: TailSummary,
    line: String,
    /// The unit being written: a line, or a whole trace.
    unit: Vec<u8>,
    /// With `-n N`, the last N units, held back until [`Tail::release`].
    held: Option<VecDeque<Vec<u8>>>,
}

impl Tail {
    /// Creates a tail with the given options, printing what `filter` keeps.
    pub fn new(opts: TailOptions, filter: Filter) -> Self {
        Self {
            held: opts.last.map(|n| VecDeque::with_capacity(n.min(4096))),
            opts,
            filter,
            open: HashMap::new(),
            open_order: VecDeque::new(),
            buffered: 0,
            printed: HashSet::new(),
            printed_order: VecDeque::new(),
            summary: TailSummary::default(),
            line: String::new(),
            unit: Vec::new(),
        }
    }

    /// Processes one input line (without its `\n`) and says what it was.
    ///
    /// # Errors
    ///
    /// Returns the writer's error.
    pub fn line<W: Write + ?Sized>(&mut self, line: &[u8], out: &mut W) -> io::Result<Seen> {
        if !is_object(line) {
            return Ok(if is_blank(line) {
                Seen::Blank
            } else {
                Seen::NotRecord
            });
        }
        let decoded = with_utf8(line, |s| {
            let parsed = Line::parse(s)?;
            if mistyped(&parsed) {
                return Some(None);
            }
            let matched = self.filter.matches(&parsed);
            let raw = self.opts.json.then(|| s.to_owned());
            Some(Some((Record::from_line(parsed, raw), matched)))
        });
        let Some(decoded) = decoded else {
            return Ok(Seen::NotRecord);
        };
        let Some((record, matched)) = decoded else {
            return Ok(Seen::Mistyped);
        };
        self.record(record, matched, out)?;
        Ok(Seen::Record)
    }

    /// Processes one decoded record; `matched` says whether the filter kept it.
    fn record<W: Write + ?Sized>(
        &mut self,
        record: Record,
        matched: bool,
        out: &mut W,
    ) -> io::Result<()> {
        let color = self.opts.color;
        if let Some((count, text)) = &record.dropped {
            // A gap the logger marked: shown where it is, in both modes.
            self.summary.dropped += count;
            if !matched {
                return Ok(());
            }
            if let Some(raw) = &record.raw {
                return self.emit_raw(&[raw], out);
            }
            self.line.clear();
            if !record.timestamp.is_empty() {
                paint(&mut self.line, &record.timestamp, GRAY, color);
                self.line.push(' ');
            }
            paint(&mut self.line, &format!("! {text}"), RED, color);
            return self.emit_line(out);
        }
        let trace_id = match (&record.trace_id, self.opts.tree) {
            (Some(id), true) => id.clone(),
            _ => {
                if !matched {
                    return Ok(());
                }
                self.summary.records += 1;
                if let Some(raw) = &record.raw {
                    return self.emit_raw(&[raw], out);
                }
                self.line.clear();
                format_flat(&mut self.line, &record, color);
                return self.emit_line(out);
            }
        };
        if self.printed.contains(&trace_id) {
            // Part of a trace already shown: shown too, filter or not.
            self.summary.records += 1;
            self.summary.late += 1;
            if let Some(raw) = &record.raw {
                return self.emit_raw(&[raw], out);
            }
            self.line.clear();
            paint(
                &mut self.line,
                &format!("[{}] (late)", short_id(&trace_id)),
                GRAY,
                color,
            );
            self.line.push(' ');
            format_node(&mut self.line, &record, color);
            return self.emit_line(out);
        }
        let is_root = record.parent_span_id.is_none();
        // What holding the record costs: its heap, and its slot in the trace's records.
        let mut cost = record.heap_bytes();
        let trace = self.open.entry(trace_id.clone()).or_insert_with(|| {
            self.open_order.push_back(trace_id.clone());
            cost += TRACE_OVERHEAD + 3 * trace_id.len() + size_of::<Record>() + HEAP_BLOCK;
            OpenTrace {
                records: Vec::with_capacity(1),
                ..OpenTrace::default()
            }
        });
        let slots = trace.records.capacity();
        trace.records.push(record);
        cost += (trace.records.capacity() - slots) * size_of::<Record>();
        trace.bytes += cost;
        trace.matched |= matched;
        self.buffered += cost;
        if is_root {
            self.close(&trace_id, Completeness::Complete, out)?;
        } else if trace.bytes > self.opts.max_trace_bytes {
            self.close(&trace_id, Completeness::GaveUp, out)?;
        }
        while self.buffered > self.opts.max_buffered_bytes {
            let Some(oldest) = self.open_order.pop_front() else {
                break;
            };
            if self.open.contains_key(&oldest) {
                self.close(&oldest, Completeness::GaveUp, out)?;
            }
        }
        if self.open_order.len() > 2 * self.open.len() + 1024 {
            let open = &self.open;
            self.open_order.retain(|id| open.contains_key(id));
        }
        Ok(())
    }

    /// Prints every open trace as incomplete, oldest first; call at the end of input.
    ///
    /// # Errors
    ///
    /// Returns the writer's error.
    pub fn finish<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<()> {
        while let Some(id) = self.open_order.pop_front() {
            if self.open.contains_key(&id) {
                self.close(&id, Completeness::Incomplete, out)?;
            }
        }
        Ok(())
    }

    /// Prints what `-n` held back and prints everything at once from now on.
    ///
    /// # Errors
    ///
    /// Returns the writer's error.
    pub fn release<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<()> {
        if let Some(held) = self.held.take() {
            for unit in held {
                out.write_all(&unit)?;
            }
        }
        out.flush()
    }

    /// Counters so far.
    pub fn summary(&self) -> TailSummary {
        self.summary
    }

    /// The stderr note about traces given up on, if any.
    fn gave_up_note(&self) -> Option<String> {
        let n = self.summary.gave_up_traces;
        (n > 0).then(|| {
            format!(
                "gave up waiting for the root of {n} trace(s) and printed them early: \
                 tree mode buffers at most {} MiB per trace and {} MiB in all",
                self.opts.max_trace_bytes >> 20,
                self.opts.max_buffered_bytes >> 20
            )
        })
    }

    fn close<W: Write + ?Sized>(
        &mut self,
        trace_id: &str,
        completeness: Completeness,
        out: &mut W,
    ) -> io::Result<()> {
        let Some(trace) = self.open.remove(trace_id) else {
            return Ok(());
        };
        self.buffered -= trace.bytes;
        if !trace.matched {
            return Ok(());
        }
        match completeness {
            Completeness::Incomplete => self.summary.incomplete_traces += 1,
            Completeness::GaveUp => self.summary.gave_up_traces += 1,
            Completeness::Complete => {}
        }
        self.summary.records += trace.records.len() as u64;
        if self.printed_order.len() >= REMEMBERED_TRACES
            && let Some(old) = self.printed_order.pop_front()
        {
            self.printed.remove(&old);
        }
        self.printed.insert(trace_id.to_owned());
        self.printed_order.push_back(trace_id.to_owned());
        if self.opts.json {
            let raws: Vec<&str> = trace
                .records
                .iter()
                .filter_map(|r| r.raw.as_deref())
                .collect();
            return self.emit_raw(&raws, out);
        }
        self.unit.clear();
        render_trace(
            &mut self.unit,
            &mut self.line,
            trace_id,
            &trace.records,
            completeness,
            self.opts.color,
        )?;
        self.emit(out)
    }

    fn emit_line<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<()> {
        self.unit.clear();
        write_line(&mut self.unit, &self.line)?;
        self.emit(out)
    }

    fn emit_raw<W: Write + ?Sized>(&mut self, lines: &[&str], out: &mut W) -> io::Result<()> {
        self.unit.clear();
        for line in lines {
            self.unit.extend_from_slice(line.as_bytes());
            self.unit.push(b'\n');
        }
        self.emit(out)
    }

    /// Writes the unit, or holds it back with `-n`.
    fn emit<W: Write + ?Sized>(&mut self, out: &mut W) -> io::Result<()> {
        match &mut self.held {
            None => out.write_all(&self.unit),
            Some(held) => {
                let n = self.opts.last.unwrap_or(0);
                if n == 0 {
                    return Ok(());
                }
                let unit = if held.len() >= n {
                    let mut reused = held.pop_front().unwrap_or_default();
                    reused.clear();
                    reused.extend_from_slice(&self.unit);
                    reused
                } else {
                    self.unit.clone()
                };
                held.push_back(unit);
                Ok(())
            }
        }
    }
}

// === entry point ===

/// Prints every input of `input` through a [`Tail`], then, when `follow` is given, keeps
/// following the last one until the flag is set. Notes and per-input failures (skipped
/// lines, binary files) go to `note` as they happen.
///
/// # Errors
///
/// An input that cannot be found or read, or a write error.
pub(crate) fn run<W: Write + ?Sized>(
    input: &InputArgs,
    filter: &Filter,
    opts: &TailOptions,
    follow: Option<&AtomicBool>,
    out: &mut W,
    note: &mut dyn FnMut(Result<Option<String>, Failure>),
) -> Result<TailSummary, Failure> {
    let mut state = Tail::new(opts.clone(), filter.clone());
    let (sources, followed) = match follow {
        Some(_) => follow::split_inputs(input)?,
        None => (input.sources()?, None),
    };
    for source in &sources {
        let tally = read_lines(source, opts.max_line_bytes, |line| {
            Ok(state.line(line, out)?)
        })?;
        note(tally.check(&source.name(), opts.max_line_bytes));
    }
    if let (Some(stop), Some(path)) = (follow, followed) {
        follow::follow(&path, &mut state, out, stop, note)?;
    }
    state.finish(out)?;
    state.release(out)?;
    if let Some(gave_up) = state.gave_up_note() {
        note(Ok(Some(gave_up)));
    }
    Ok(state.summary())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds every line of `input` to a [`Tail`] and finishes it.
    fn feed(input: &str, opts: TailOptions, out: &mut Vec<u8>) {
        let mut state = Tail::new(opts, Filter::default());
        for line in input.lines() {
            state.line(line.as_bytes(), out).unwrap();
        }
        state.finish(out).unwrap();
        state.release(out).unwrap();
    }

    fn run(input: &str, tree: bool) -> String {
        let opts = TailOptions {
            tree,
            ..TailOptions::default()
        };
        let mut out = Vec::new();
        feed(input, opts, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn line_reader_skips_overlong_lines_and_keeps_partials() {
        let mut lines = LineReader::new(4);
        let mut input: &[u8] = b"abc\ntoolong\nok\npart";
        assert_eq!(lines.read_line(&mut input).unwrap(), Some(&b"abc"[..]));
        assert_eq!(lines.read_line(&mut input).unwrap(), Some(&b"ok"[..]));
        assert_eq!(lines.read_line(&mut input).unwrap(), None);
        assert_eq!(lines.oversized(), 1);
        assert_eq!(lines.take_partial(), Some(&b"part"[..]));
        assert_eq!(lines.consumed(), 19);
    }

    #[test]
    fn loose_fields_fall_back_to_defaults() {
        let r = Record::parse(
            br#"{"function":null,"label":7,"duration_ms":"2.5","status":[1],"trace_id":5}"#,
        )
        .unwrap();
        assert_eq!(r.name, "7");
        assert_eq!(r.duration_ms, 2.5);
        assert_eq!(r.status, "");
        assert_eq!(r.trace_id, None);
        assert!(Record::parse(b"[1,2]").is_none());
        assert!(Record::parse(b"").is_none());
    }

    #[test]
    fn tag_values_print_like_python_str() {
        let r =
            Record::parse(br#"{"tags":{"s":"x","i":42,"f":1.0,"t":true,"n":null,"o":{"a":1}}}"#)
                .unwrap();
        let mut line = String::new();
        format_node(&mut line, &r, false);
        assert_eq!(line, r#"? 0.00ms [s=x i=42 f=1.0 t=True n=None o={"a":1}]"#);
    }

    #[test]
    fn control_characters_are_escaped() {
        let r = Record::parse(br#"{"function":"a\nb\u001b[31m","status":"success"}"#).unwrap();
        let mut line = String::new();
        format_node(&mut line, &r, false);
        assert_eq!(line, r"a\nb\u{1b}[31m 0.00ms success");
    }

    #[test]
    fn colour_wraps_each_part() {
        let r = Record::parse(br#"{"function":"f","duration_ms":1,"status":"cancelled"}"#).unwrap();
        let mut line = String::new();
        format_node(&mut line, &r, true);
        assert_eq!(line, "\x1b[1mf\x1b[0m 1.00ms \x1b[35mcancelled\x1b[0m");
    }

    #[test]
    fn resolve_color_rules() {
        use std::ffi::OsStr;
        assert!(!resolve_color(true, None, true), "--no-color");
        assert!(
            !resolve_color(false, Some(OsStr::new("1")), true),
            "NO_COLOR"
        );
        assert!(
            resolve_color(false, Some(OsStr::new("")), true),
            "empty NO_COLOR"
        );
        assert!(resolve_color(false, None, true), "terminal");
        assert!(!resolve_color(false, None, false), "not a terminal");
    }

    #[test]
    fn children_are_ordered_by_start_not_end() {
        // `long` starts first but ends last; `short` ends first.
        let input = concat!(
            r#"{"timestamp":"2026-01-01T00:00:00.010Z","function":"short","duration_ms":1,"trace_id":"t","span_id":"b","parent_span_id":"r"}"#,
            "\n",
            r#"{"timestamp":"2026-01-01T00:00:00.020Z","function":"long","duration_ms":19,"trace_id":"t","span_id":"a","parent_span_id":"r"}"#,
            "\n",
            r#"{"timestamp":"2026-01-01T00:00:00.030Z","function":"root","duration_ms":30,"trace_id":"t","span_id":"r"}"#,
            "\n",
        );
        assert_eq!(
            run(input, true),
            "trace t\nroot 30.00ms\n├─ long 19.00ms\n└─ short 1.00ms\n"
        );
    }

    #[test]
    fn parent_cycles_do_not_loop() {
        let input = concat!(
            r#"{"function":"a","trace_id":"t","span_id":"a","parent_span_id":"b"}"#,
            "\n",
            r#"{"function":"b","trace_id":"t","span_id":"b","parent_span_id":"a"}"#,
            "\n",
        );
        let out = run(input, true);
        assert!(out.starts_with("trace t (incomplete)\n"), "{out}");
        assert_eq!(out.lines().count(), 3, "{out}");
    }

    #[test]
    fn byte_cap_gives_up_on_the_oldest_trace() {
        let line = |t: &str, s: &str| {
            format!(r#"{{"function":"{s}","trace_id":"{t}","span_id":"{s}","parent_span_id":"x"}}"#)
        };
        // What one such trace costs, so that two fit under the cap and three do not.
        let tree = TailOptions {
            tree: true,
            ..TailOptions::default()
        };
        let mut probe = Tail::new(tree.clone(), Filter::default());
        probe
            .line(line("t0", "z").as_bytes(), &mut io::sink())
            .unwrap();
        let one = probe.buffered;
        let opts = TailOptions {
            max_buffered_bytes: 2 * one + one / 2,
            ..tree
        };
        let mut state = Tail::new(opts, Filter::default());
        let mut out = Vec::new();
        for (t, s) in [("t1", "a"), ("t2", "b"), ("t3", "c")] {
            state.line(line(t, s).as_bytes(), &mut out).unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "trace t1 (gave up waiting for the root: buffer full)\n└─ a 0.00ms\n"
        );
        assert_eq!(state.summary().gave_up_traces, 1);
        assert!(state.gave_up_note().unwrap().contains("gave up"));
    }

    // regression: issue #15
    #[test]
    fn issue_15_tree_mode_holds_no_more_memory_than_its_stated_cap() {
        // Many short traces whose roots never come: the costliest input per byte.
        let cap = 2 << 20;
        let opts = TailOptions {
            tree: true,
            max_buffered_bytes: cap,
            ..TailOptions::default()
        };
        let mut gave_up = 0;
        let peak = crate::heap::peak_during(|| {
            let mut state = Tail::new(opts, Filter::default());
            let mut out = io::sink();
            let mut line = String::new();
            for i in 0..40_000 {
                line.clear();
                line.push_str(&format!(
                    r#"{{"function":"f","trace_id":"t{i}","span_id":"s","parent_span_id":"p","duration_ms":1}}"#
                ));
                state.line(line.as_bytes(), &mut out).unwrap();
            }
            gave_up = state.summary().gave_up_traces;
        });
        assert!(gave_up > 20_000, "{gave_up}");
        // On top of the cap: the ids of the last 10,000 printed traces (for late records),
        // about 2 MiB whatever the cap (measured with a cap of 0).
        let remembered = 5 << 19;
        assert!(
            peak <= cap + remembered,
            "peak {} KiB for a cap of {} KiB",
            peak >> 10,
            cap >> 10
        );
    }

    #[test]
    fn the_module_example_prints_a_flat_line() {
        let log = br#"{"timestamp":"2026-11-22T01:02:03Z","function":"checkout","duration_ms":12.345,"status":"success","trace_id":"9f86d081884c7d65","tags":{"user":42}}"#;
        let mut out = Vec::new();
        feed(
            std::str::from_utf8(log).unwrap(),
            TailOptions::default(),
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-11-22T01:02:03Z [9f86d081] checkout 12.35ms success [user=42]\n",
        );
    }
}
