//! `stats` output: an aligned table for people, JSON and CSV for scripts.

use std::borrow::Cow;
use std::io::{self, Write};

use super::{Row, Stats};

/// Columns of the table and the CSV, after the group column.
const COLUMNS: [&str; 12] = [
    "count",
    "errors",
    "err%",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "p99.9_ms",
    "max_ms",
    "total_ms",
    "self_ms",
    "cancelled",
    "slow",
];

/// Milliseconds as tables and `tail` lines show them: two decimals, or in scientific
/// notation from a trillion on (a hostile `1e308` would take 300 columns).
pub(crate) fn millis(ms: f64) -> String {
    if ms.abs() < 1e12 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.2e}")
    }
}

fn cells(r: &Row) -> [String; 13] {
    [
        printable(&r.name).into_owned(),
        r.count.to_string(),
        r.errors.to_string(),
        format!("{:.1}%", r.error_rate_pct),
        millis(r.p50_ms),
        millis(r.p95_ms),
        millis(r.p99_ms),
        millis(r.p999_ms),
        millis(r.max_ms),
        millis(r.total_ms),
        millis(r.self_ms),
        r.cancelled.to_string(),
        r.slow.to_string(),
    ]
}

/// Writes rows of cells as an aligned table: the first column left-aligned, the others
/// right-aligned, two spaces apart.
pub(crate) fn write_aligned<W: Write + ?Sized>(
    out: &mut W,
    headers: &[String],
    rows: &[Vec<String>],
) -> io::Result<()> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = String::new();
    for row in std::iter::once(headers).chain(rows.iter().map(Vec::as_slice)) {
        line.clear();
        for (i, (cell, &width)) in row.iter().zip(&widths).enumerate() {
            if i == 0 {
                line.push_str(&format!("{cell:<width$}"));
            } else {
                line.push_str(&format!("  {cell:>width$}"));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Writes `rows` as an aligned text table followed by a one-line summary of `stats`.
///
/// # Errors
///
/// Returns the writer's error.
pub(crate) fn write_table<W: Write + ?Sized>(
    out: &mut W,
    rows: &[Row],
    stats: &Stats,
) -> io::Result<()> {
    let headers: Vec<String> = std::iter::once(stats.heading())
        .chain(COLUMNS.iter().map(|c| (*c).to_owned()))
        .collect();
    let cells: Vec<Vec<String>> = rows.iter().map(|r| cells(r).to_vec()).collect();
    write_aligned(out, &headers, &cells)?;
    write!(
        out,
        "{} spans, {} {}, {} shown; percentiles within 1%",
        stats.spans(),
        stats.names(),
        match stats.group_by {
            super::GroupBy::Name => "names",
            super::GroupBy::Tag(_) => "groups",
        },
        rows.len()
    )?;
    if stats.skipped() > 0 {
        write!(out, "; {} non-span lines skipped", stats.skipped())?;
    }
    if stats.mistyped() > 0 {
        write!(
            out,
            "; {} records with a duration_ms that is not a number skipped",
            stats.mistyped()
        )?;
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

/// Writes `rows` as a JSON array of objects with the fields of [`Row`], one per line.
///
/// # Errors
///
/// Returns the writer's error.
pub(crate) fn write_json<W: Write + ?Sized, T: serde::Serialize>(
    out: &mut W,
    rows: &[T],
) -> io::Result<()> {
    out.write_all(b"[")?;
    for (i, row) in rows.iter().enumerate() {
        out.write_all(if i == 0 { b"\n  " } else { b",\n  " })?;
        serde_json::to_writer(&mut *out, row)?;
    }
    out.write_all(if rows.is_empty() { b"]\n" } else { b"\n]\n" })?;
    out.flush()
}

/// Writes `rows` as CSV with a header line, the fields of [`Row`] in order.
///
/// # Errors
///
/// Returns the writer's error.
pub(crate) fn write_csv<W: Write + ?Sized>(out: &mut W, rows: &[Row]) -> io::Result<()> {
    writeln!(
        out,
        "name,count,errors,error_rate_pct,cancelled,slow,p50_ms,p95_ms,p99_ms,p999_ms,max_ms,total_ms,self_ms"
    )?;
    for r in rows {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&r.name),
            r.count,
            r.errors,
            r.error_rate_pct,
            r.cancelled,
            r.slow,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.p999_ms,
            r.max_ms,
            r.total_ms,
            r.self_ms
        )?;
    }
    out.flush()
}

/// Quotes a field when it holds a comma, a quote or a line break (RFC 4180).
pub(crate) fn csv_field(s: &str) -> Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

/// Escapes control characters so a name cannot break the table.
pub(crate) fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .flat_map(|c| {
                let escaped: Vec<char> = if c.is_control() {
                    c.escape_default().collect()
                } else {
                    vec![c]
                };
                escaped
            })
            .collect(),
    )
}
