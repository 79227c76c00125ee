//! `sentinel tail`: pretty-print sentinel JSONL records, flat or as trace trees.
//!
//! Everything the `sentinel tail` command does lives here as plain functions and types over
//! [`BufRead`] and [`Write`]; the binary only parses arguments and calls [`tail()`] or
//! [`follow()`].
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
//! With [`TailOptions::tree`](crate::tail::TailOptions::tree), records are buffered per `trace_id` until the trace's root (a
//! record whose `parent_span_id` is missing, null or empty) arrives; the whole trace is then
//! drawn as a tree with `├─ `, `└─ ` and `│  `, children ordered by start time
//! (`timestamp` − `duration_ms`, since `timestamp` is when a span ended). A multi-span trace
//! gets a `trace TRACE8` header line; a one-span trace is a single `[TRACE8] node` line. Records
//! without a trace id are printed flat at once. Spans whose parent is not in the trace are
//! drawn as extra top-level nodes after the root, so nothing in a buffered trace is dropped.
//!
//! # Orphans and late records
//!
//! - At the end of input ([`tail()`]) and when a [`follow()`] is stopped (Ctrl-C, SIGTERM), every
//!   trace whose root never arrived is drawn under a `trace TRACE8 (incomplete)` header, its
//!   spans as children of the missing root.
//! - A record arriving after its trace was printed (for example a spawned task that outlived
//!   its parent) is printed at once as `[TRACE8] (late) node`. The ids of the last
//!   10,000 printed traces are remembered for this; an older trace's late record is buffered as
//!   a new trace and surfaces as an orphan at the latest at the end of input.
//!
//! # Memory
//!
//! Flat mode holds one line at a time. Tree mode holds the open (rootless) traces only, and is
//! capped: a trace reaching [`TailOptions::max_trace_records`](crate::tail::TailOptions::max_trace_records) records, or the oldest open trace
//! whenever all open traces together exceed [`TailOptions::max_buffered_records`](crate::tail::TailOptions::max_buffered_records), is printed
//! at once as `(incomplete)`; its later records, root included, then print as `(late)` lines.
//!
//! # Robust input
//!
//! Blank lines, malformed JSON, JSON that is not an object and lines longer than
//! [`TailOptions::max_line_bytes`](crate::tail::TailOptions::max_line_bytes) are skipped (over-long lines are discarded while reading,
//! never held whole). Invalid UTF-8 is replaced with `U+FFFD`. Missing, null or wrongly typed
//! fields fall back to defaults: name `?`, duration `0.00ms`, no status.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub(crate) use sentinel::format::{is_blank, is_object};

mod record;
mod render;

pub(crate) use crate::lines::LineReader;
pub use record::*;
use render::*;

/// Longest line read, in bytes, before it is skipped. Defaults for
/// [`TailOptions::max_line_bytes`]: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;
/// Most records buffered for one trace in tree mode; see [`TailOptions::max_trace_records`].
pub const DEFAULT_MAX_TRACE_RECORDS: usize = 10_000;
/// Most records buffered over all open traces; see [`TailOptions::max_buffered_records`].
pub const DEFAULT_MAX_BUFFERED_RECORDS: usize = 200_000;
/// How many printed trace ids are remembered to recognise late records.
const REMEMBERED_TRACES: usize = 10_000;
/// How often [`follow`] checks the stop flag while reading a long backlog.
const STOP_CHECK_LINES: usize = 4096;

/// Settings for [`tail`], [`follow`] and [`Tail`].
#[derive(Debug, Clone)]
#[must_use = "options do nothing until passed to `tail`, `follow` or `Tail::new`"]
pub struct TailOptions {
    /// Draw each trace as a tree instead of one line per record. Defaults to `false`.
    pub tree: bool,
    /// Colour the output with ANSI escape codes. Defaults to `false`; see [`resolve_color`].
    pub color: bool,
    /// Lines longer than this many bytes are skipped. Defaults to [`DEFAULT_MAX_LINE_BYTES`].
    pub max_line_bytes: usize,
    /// A trace holding this many buffered records is printed as incomplete. Defaults to
    /// [`DEFAULT_MAX_TRACE_RECORDS`].
    pub max_trace_records: usize,
    /// When more records than this are buffered in total, the oldest open traces are printed
    /// as incomplete. Defaults to [`DEFAULT_MAX_BUFFERED_RECORDS`].
    pub max_buffered_records: usize,
}

impl Default for TailOptions {
    fn default() -> Self {
        Self {
            tree: false,
            color: false,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_trace_records: DEFAULT_MAX_TRACE_RECORDS,
            max_buffered_records: DEFAULT_MAX_BUFFERED_RECORDS,
        }
    }
}

/// Counters describing one run of [`tail`] or [`follow`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TailSummary {
    /// Records printed (flat lines, tree nodes and late lines).
    pub records: u64,
    /// Non-blank lines skipped because they were not a JSON object.
    pub skipped: u64,
    /// Lines skipped because they exceeded [`TailOptions::max_line_bytes`].
    pub oversized: u64,
    /// Records printed as `(late)`, after their trace had been printed.
    pub late: u64,
    /// Traces printed as `(incomplete)`: root missing at the end, or buffer cap reached.
    pub incomplete_traces: u64,
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

/// Incremental `sentinel tail`: feed it lines, it writes what is ready to print.
///
/// [`tail`] and [`follow`] drive it; use it directly to tail another kind of source.
#[derive(Debug)]
pub struct Tail {
    opts: TailOptions,
    open: HashMap<String, Vec<Record>>,
    /// Open trace ids in first-seen order, for evicting the oldest; may hold ids already
    /// closed, which are skipped (and compacted away when they pile up).
    open_order: VecDeque<String>,
    buffered: usize,
    printed: HashSet<String>,
    printed_order: VecDeque<String>,
    summary: TailSummary,
    line: String,
}

impl Tail {
    /// Creates a tail with the given options.
    pub fn new(opts: TailOptions) -> Self {
        Self {
            opts,
            open: HashMap::new(),
            open_order: VecDeque::new(),
            buffered: 0,
            printed: HashSet::new(),
            printed_order: VecDeque::new(),
            summary: TailSummary::default(),
            line: String::new(),
        }
    }

    /// Processes one input line (without its `\n`).
    ///
    /// # Errors
    ///
    /// Returns the writer's error.
    pub fn line<W: Write + ?Sized>(&mut self, line: &[u8], out: &mut W) -> io::Result<()> {
        match Record::parse(line) {
            Some(record) => self.record(record, out),
            None => {
                if !is_blank(line) {
                    self.summary.skipped += 1;
                }
                Ok(())
            }
        }
    }

    /// Processes one parsed record.
    ///
    /// # Errors
    ///
    /// Returns the writer's error.
    pub fn record<W: Write + ?Sized>(&mut self, record: Record, out: &mut W) -> io::Result<()> {
        if let Some((count, text)) = &record.dropped {
            // A gap the logger marked: shown where it is, in both modes.
            self.line.clear();
            if !record.timestamp.is_empty() {
                paint(&mut self.line, &record.timestamp, GRAY, self.opts.color);
                self.line.push(' ');
            }
            paint(&mut self.line, &format!("! {text}"), RED, self.opts.color);
            self.summary.dropped += count;
            return write_line(out, &self.line);
        }
        let trace_id = match (&record.trace_id, self.opts.tree) {
            (Some(id), true) => id.clone(),
            _ => {
                self.line.clear();
                format_flat(&mut self.line, &record, self.opts.color);
                self.summary.records += 1;
                return write_line(out, &self.line);
            }
        };
        if self.printed.contains(&trace_id) {
            self.line.clear();
            paint(
                &mut self.line,
                &format!("[{}] (late)", short_id(&trace_id)),
                GRAY,
                self.opts.color,
            );
            self.line.push(' ');
            format_node(&mut self.line, &record, self.opts.color);
            self.summary.records += 1;
            self.summary.late += 1;
            return write_line(out, &self.line);
        }
        let is_root = record.parent_span_id.is_none();
        let records = self.open.entry(trace_id.clone()).or_insert_with(|| {
            self.open_order.push_back(trace_id.clone());
            Vec::new()
        });
        records.push(record);
        self.buffered += 1;
        if is_root {
            self.close(&trace_id, Completeness::Complete, out)?;
        } else if records.len() >= self.opts.max_trace_records {
            self.close(&trace_id, Completeness::Incomplete, out)?;
        }
        while self.buffered > self.opts.max_buffered_records {
            let Some(oldest) = self.open_order.pop_front() else {
                break;
            };
            if self.open.contains_key(&oldest) {
                self.close(&oldest, Completeness::Incomplete, out)?;
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

    /// Counters so far.
    pub fn summary(&self) -> TailSummary {
        self.summary
    }

    fn close<W: Write + ?Sized>(
        &mut self,
        trace_id: &str,
        completeness: Completeness,
        out: &mut W,
    ) -> io::Result<()> {
        let Some(records) = self.open.remove(trace_id) else {
            return Ok(());
        };
        self.buffered -= records.len();
        if completeness == Completeness::Incomplete {
            self.summary.incomplete_traces += 1;
        }
        self.summary.records += records.len() as u64;
        if self.printed_order.len() >= REMEMBERED_TRACES
            && let Some(old) = self.printed_order.pop_front()
        {
            self.printed.remove(&old);
        }
        self.printed.insert(trace_id.to_owned());
        self.printed_order.push_back(trace_id.to_owned());
        render_trace(
            out,
            &mut self.line,
            trace_id,
            &records,
            completeness,
            self.opts.color,
        )
    }
}

// === entry points ===

/// Prints every record of `reader` to `out`, then any incomplete traces, and flushes `out`.
///
/// # Errors
///
/// Returns the first read or write error; a [`io::ErrorKind::BrokenPipe`] from `out` means
/// the reader of our output went away.
pub fn tail<R: BufRead, W: Write + ?Sized>(
    mut reader: R,
    out: &mut W,
    opts: &TailOptions,
) -> io::Result<TailSummary> {
    let mut state = Tail::new(opts.clone());
    let mut lines = LineReader::new(opts.max_line_bytes);
    while let Some(line) = lines.read_line(&mut reader)? {
        state.line(line, out)?;
    }
    end_of_input(state, &mut lines, out)
}

/// The last, unterminated line, the open traces and the summary, at the end
/// of `tail`'s input or when `follow` is stopped.
fn end_of_input<W: Write + ?Sized>(
    mut state: Tail,
    lines: &mut LineReader,
    out: &mut W,
) -> io::Result<TailSummary> {
    if let Some(line) = lines.take_partial() {
        state.line(line, out)?;
    }
    state.finish(out)?;
    out.flush()?;
    let mut summary = state.summary();
    summary.oversized = lines.oversized();
    Ok(summary)
}

/// Identity of the file behind a path, to notice it being replaced.
fn file_identity(meta: &std::fs::Metadata) -> (u64, u64) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (meta.dev(), meta.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        (0, 0)
    }
}

/// Reads every complete line available now; returns whether anything was read.
fn drain<W: Write + ?Sized>(
    reader: &mut BufReader<File>,
    lines: &mut LineReader,
    state: &mut Tail,
    out: &mut W,
    stop: &AtomicBool,
) -> io::Result<bool> {
    let mut n = 0usize;
    while let Some(line) = lines.read_line(reader)? {
        state.line(line, out)?;
        n += 1;
        if n.is_multiple_of(STOP_CHECK_LINES) && stop.load(Ordering::Relaxed) {
            break;
        }
    }
    Ok(n > 0)
}

/// Like [`tail`], then keeps reading `file` (opened from `path`) as it grows, like `tail -f`,
/// until `stop` becomes true; then prints incomplete traces, flushes and returns.
///
/// Output is flushed after each batch of lines. When the file is idle, `path` is checked
/// every `poll`: if it names a different file (rotation), the rest of the old file is read
/// and the new one is read from its start; if it got shorter than what was read
/// (truncation), it is read again from the start. A truncation followed by a rewrite to at
/// least the old size between two polls cannot be noticed (as with `tail -f`).
///
/// # Errors
///
/// Returns the first read or write error, or the error of reopening a replaced file.
pub fn follow<W: Write + ?Sized>(
    file: File,
    path: &Path,
    out: &mut W,
    opts: &TailOptions,
    stop: &AtomicBool,
    poll: Duration,
) -> io::Result<TailSummary> {
    let mut state = Tail::new(opts.clone());
    let mut lines = LineReader::new(opts.max_line_bytes);
    let mut identity = file_identity(&file.metadata()?);
    let mut reader = BufReader::with_capacity(1 << 16, file);
    while !stop.load(Ordering::Relaxed) {
        if drain(&mut reader, &mut lines, &mut state, out, stop)? {
            out.flush()?;
            continue;
        }
        if let Ok(meta) = std::fs::metadata(path) {
            if file_identity(&meta) != identity {
                if let Ok(new) = File::open(path) {
                    // Rotated: finish the old file, its writer may still have added lines.
                    drain(&mut reader, &mut lines, &mut state, out, stop)?;
                    if let Some(line) = lines.take_partial() {
                        state.line(line, out)?;
                    }
                    out.flush()?;
                    identity = file_identity(&new.metadata()?);
                    reader = BufReader::with_capacity(1 << 16, new);
                    lines.reset();
                    continue;
                }
            } else if meta.len() < lines.consumed() {
                reader.seek(SeekFrom::Start(0))?;
                lines.reset();
                continue;
            }
        }
        sleep_unless_stopped(poll, stop);
    }
    end_of_input(state, &mut lines, out)
}

fn sleep_unless_stopped(poll: Duration, stop: &AtomicBool) {
    let deadline = Instant::now() + poll;
    let step = Duration::from_millis(25).min(poll);
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep(step.min(deadline - now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, tree: bool) -> String {
        let opts = TailOptions {
            tree,
            ..TailOptions::default()
        };
        let mut out = Vec::new();
        tail(input.as_bytes(), &mut out, &opts).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn timestamp_parses_offsets_and_fractions() {
        assert_eq!(parse_timestamp_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp_nanos("1970-01-01T00:00:01.5+00:00"),
            Some(1_500_000_000)
        );
        assert_eq!(
            parse_timestamp_nanos("1970-01-01T01:00:00+01:00"),
            Some(0),
            "offset is subtracted"
        );
        assert_eq!(
            parse_timestamp_nanos("2026-11-22T01:02:03.456789+00:00"),
            Some(1_795_309_323_456_789_000)
        );
        assert_eq!(parse_timestamp_nanos("ts"), None);
        assert_eq!(parse_timestamp_nanos("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp_nanos("2026-01-01T00:00:00Zjunk"), None);
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
    fn buffer_cap_flushes_oldest_trace() {
        let opts = TailOptions {
            tree: true,
            max_buffered_records: 2,
            ..TailOptions::default()
        };
        let mut state = Tail::new(opts);
        let mut out = Vec::new();
        for (t, s) in [("t1", "a"), ("t2", "b"), ("t3", "c")] {
            let line = format!(
                r#"{{"function":"{s}","trace_id":"{t}","span_id":"{s}","parent_span_id":"x"}}"#
            );
            state.line(line.as_bytes(), &mut out).unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "trace t1 (incomplete)\n└─ a 0.00ms\n"
        );
        assert_eq!(state.summary().incomplete_traces, 1);
    }

    #[test]
    fn the_module_example_prints_a_flat_line() {
        let log = br#"{"timestamp":"2026-11-22T01:02:03Z","function":"checkout","duration_ms":12.345,"status":"success","trace_id":"9f86d081884c7d65","tags":{"user":42}}"#;
        let mut out = Vec::new();
        tail(&log[..], &mut out, &TailOptions::default()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2026-11-22T01:02:03Z [9f86d081] checkout 12.35ms success [user=42]\n",
        );
    }
}
