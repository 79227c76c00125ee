//! Colours, flat lines, tree nodes and whole trace trees.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use super::record::*;

/// Whether a trace is drawn with its root.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Completeness {
    Complete,
    /// The input ended (or `--follow` stopped) before the root came.
    Incomplete,
    /// Printed before its root came because a buffer cap was reached.
    GaveUp,
}

pub(crate) const RESET: &str = "\x1b[0m";
pub(crate) const RED: &str = "\x1b[31m";
pub(crate) const GREEN: &str = "\x1b[32m";
pub(crate) const YELLOW: &str = "\x1b[33m";
pub(crate) const MAGENTA: &str = "\x1b[35m";
pub(crate) const GRAY: &str = "\x1b[90m";
pub(crate) const BOLD: &str = "\x1b[1m";

pub(crate) fn paint(out: &mut String, text: &str, code: &str, color: bool) {
    if color {
        out.push_str(code);
        out.push_str(text);
        out.push_str(RESET);
    } else {
        out.push_str(text);
    }
}

/// Appends the status word: red `error`, magenta `cancelled`, yellow `STATUS SLOW`, green
/// `success`. Returns false when there was nothing to print.
pub(crate) fn push_status(out: &mut String, r: &Record, color: bool) -> bool {
    match r.status.as_str() {
        "error" => paint(out, "error", RED, color),
        "cancelled" => paint(out, "cancelled", MAGENTA, color),
        "" if r.slow => paint(out, "SLOW", YELLOW, color),
        "" => return false,
        s if r.slow => paint(out, &format!("{s} SLOW"), YELLOW, color),
        "success" => paint(out, "success", GREEN, color),
        s => out.push_str(s),
    }
    true
}

/// Appends `NAME 1.23ms STATUS (ERROR) [k=v ...]`: the node text shared by flat and tree lines.
pub fn format_node(out: &mut String, r: &Record, color: bool) {
    use std::fmt::Write as _;
    paint(out, &r.name, BOLD, color);
    let _ = write!(out, " {}ms", crate::stats::millis(r.duration_ms));
    let mark = out.len();
    out.push(' ');
    if !push_status(out, r, color) {
        out.truncate(mark);
    }
    if let Some(err) = &r.error {
        out.push(' ');
        paint(out, &format!("({err})"), RED, color);
    }
    if !r.tags.is_empty() {
        let mut tags = String::from("[");
        for (i, (k, v)) in r.tags.iter().enumerate() {
            if i > 0 {
                tags.push(' ');
            }
            tags.push_str(k);
            tags.push('=');
            tags.push_str(v);
        }
        tags.push(']');
        out.push(' ');
        paint(out, &tags, GRAY, color);
    }
}

/// Appends the flat line for `r` (without the newline): `TIMESTAMP [TRACE8] ` then
/// [`format_node`].
pub fn format_flat(out: &mut String, r: &Record, color: bool) {
    if !r.timestamp.is_empty() {
        paint(out, &r.timestamp, GRAY, color);
        out.push(' ');
    }
    if let Some(short) = r.short_trace_id() {
        paint(out, &format!("[{short}]"), GRAY, color);
        out.push(' ');
    }
    format_node(out, r, color);
}

pub(crate) fn write_line<W: Write + ?Sized>(out: &mut W, line: &str) -> io::Result<()> {
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")
}

/// Draws one trace. Spans whose parent is absent become top-level nodes: drawn without a
/// connector under a complete trace's header, or as children of the missing root when the
/// trace is incomplete.
pub(crate) fn render_trace<W: Write + ?Sized>(
    out: &mut W,
    line: &mut String,
    trace_id: &str,
    records: &[Record],
    completeness: Completeness,
    color: bool,
) -> io::Result<()> {
    let short = short_id(trace_id);
    if completeness == Completeness::Complete && records.len() == 1 {
        line.clear();
        paint(line, &format!("[{short}]"), GRAY, color);
        line.push(' ');
        format_node(line, &records[0], color);
        return write_line(out, line);
    }

    let starts: Vec<Option<i128>> = records.iter().map(Record::start_nanos).collect();
    let order = |a: &usize, b: &usize| {
        let key = |i: usize| {
            let s = starts[i];
            (
                s.is_none(),
                s.unwrap_or(0),
                records[i].timestamp.as_str(),
                i,
            )
        };
        key(*a).cmp(&key(*b))
    };
    let spans: HashSet<&str> = records
        .iter()
        .filter_map(|r| r.span_id.as_deref())
        .collect();
    let mut children: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut tops = Vec::new();
    for (i, r) in records.iter().enumerate() {
        match r.parent_span_id.as_deref() {
            Some(p) if spans.contains(p) && r.span_id.as_deref() != Some(p) => {
                children.entry(p).or_default().push(i);
            }
            _ => tops.push(i),
        }
    }
    // The real root first, then spans whose parent never arrived.
    tops.sort_by(|a, b| {
        let orphan = |i: &usize| records[*i].parent_span_id.is_some();
        orphan(a).cmp(&orphan(b)).then_with(|| order(a, b))
    });
    for list in children.values_mut() {
        list.sort_by(order);
    }

    line.clear();
    let header = match completeness {
        Completeness::Complete => format!("trace {short}"),
        Completeness::Incomplete => format!("trace {short} (incomplete)"),
        Completeness::GaveUp => {
            format!("trace {short} (gave up waiting for the root: buffer full)")
        }
    };
    paint(line, &header, GRAY, color);
    write_line(out, line)?;

    let base = usize::from(completeness != Completeness::Complete);
    let mut visited = vec![false; records.len()];
    // (record, depth, is last sibling); depth 0 is drawn without a connector.
    let mut stack: Vec<(usize, usize, bool)> = Vec::new();
    // lasts[k]: whether the ancestor at depth k + 1 was a last sibling.
    let mut lasts: Vec<bool> = Vec::new();
    let mut pending_tops = tops;
    loop {
        if stack.is_empty() {
            // Spans caught in a parent cycle are never reached from a top; draw them as tops.
            if pending_tops.is_empty() {
                pending_tops = (0..records.len()).filter(|&i| !visited[i]).collect();
                if pending_tops.is_empty() {
                    break;
                }
            }
            let n = pending_tops.len();
            for (k, &i) in pending_tops.iter().enumerate().rev() {
                visited[i] = true;
                stack.push((i, base, k + 1 == n));
            }
            pending_tops.clear();
        }
        let Some((i, depth, last)) = stack.pop() else {
            break;
        };
        line.clear();
        if depth > 0 {
            lasts.truncate(depth - 1);
            for &ancestor_last in &lasts {
                line.push_str(if ancestor_last { "   " } else { "│  " });
            }
            line.push_str(if last { "└─ " } else { "├─ " });
            lasts.push(last);
        } else {
            lasts.clear();
        }
        format_node(line, &records[i], color);
        write_line(out, line)?;
        if let Some(kids) = records[i].span_id.as_deref().and_then(|s| children.get(s)) {
            let kids: Vec<usize> = kids.iter().copied().filter(|&k| !visited[k]).collect();
            let n = kids.len();
            for (k, &child) in kids.iter().enumerate().rev() {
                visited[child] = true;
                stack.push((child, depth + 1, k + 1 == n));
            }
        }
    }
    Ok(())
}
