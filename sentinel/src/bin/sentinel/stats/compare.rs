//! `stats --compare A B`: two sets of statistics side by side, biggest regression first.
//!
//! For each group: the count, each percentile and the error rate in A and in B, and the
//! change from A to B (percent for durations, percentage points for the error rate). Rows
//! are sorted by their regression: the largest of the percentiles' relative increases and
//! the error rate's increase in points (so +10 points of errors weighs as much as +10% of
//! latency). A group found on one side only has no change and sorts after the others.

use std::collections::BTreeMap;
use std::io::{self, Write};

use super::output::{csv_field, millis, printable, write_aligned};
use super::{Row, SortKey, Stats};

/// One group in both sets.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct Comparison {
    pub(crate) name: String,
    pub(crate) count_a: u64,
    pub(crate) count_b: u64,
    pub(crate) p50_ms_a: f64,
    pub(crate) p50_ms_b: f64,
    pub(crate) p50_change_pct: Option<f64>,
    pub(crate) p95_ms_a: f64,
    pub(crate) p95_ms_b: f64,
    pub(crate) p95_change_pct: Option<f64>,
    pub(crate) p99_ms_a: f64,
    pub(crate) p99_ms_b: f64,
    pub(crate) p99_change_pct: Option<f64>,
    pub(crate) p999_ms_a: f64,
    pub(crate) p999_ms_b: f64,
    pub(crate) p999_change_pct: Option<f64>,
    pub(crate) error_rate_pct_a: f64,
    pub(crate) error_rate_pct_b: f64,
    pub(crate) error_rate_change_pts: Option<f64>,
    /// What the rows are sorted by, largest first; `None` for a group on one side only.
    pub(crate) regression: Option<f64>,
}

fn change_pct(a: f64, b: f64) -> f64 {
    if a == 0.0 {
        if b == 0.0 { 0.0 } else { 100.0 }
    } else {
        (b - a) / a * 100.0
    }
}

/// Joins the groups of `a` and `b`, biggest regression first (then by name).
pub(crate) fn compare(a: &Stats, b: &Stats) -> Vec<Comparison> {
    let mut joined: BTreeMap<String, (Option<Row>, Option<Row>)> = BTreeMap::new();
    for row in a.rows(SortKey::Name, None) {
        let name = row.name.clone();
        joined.entry(name).or_default().0 = Some(row);
    }
    for row in b.rows(SortKey::Name, None) {
        let name = row.name.clone();
        joined.entry(name).or_default().1 = Some(row);
    }
    let mut rows: Vec<Comparison> = joined
        .into_iter()
        .map(|(name, (ra, rb))| {
            let both = ra.is_some() && rb.is_some();
            let ra = ra.unwrap_or_else(|| empty(&name));
            let rb = rb.unwrap_or_else(|| empty(&name));
            let pct = |x: f64, y: f64| both.then(|| change_pct(x, y));
            let changes = [
                pct(ra.p50_ms, rb.p50_ms),
                pct(ra.p95_ms, rb.p95_ms),
                pct(ra.p99_ms, rb.p99_ms),
                pct(ra.p999_ms, rb.p999_ms),
            ];
            let error_change = both.then_some(rb.error_rate_pct - ra.error_rate_pct);
            let regression = both.then(|| {
                changes
                    .iter()
                    .flatten()
                    .chain(error_change.iter())
                    .copied()
                    .fold(f64::NEG_INFINITY, f64::max)
            });
            Comparison {
                name,
                count_a: ra.count,
                count_b: rb.count,
                p50_ms_a: ra.p50_ms,
                p50_ms_b: rb.p50_ms,
                p50_change_pct: changes[0],
                p95_ms_a: ra.p95_ms,
                p95_ms_b: rb.p95_ms,
                p95_change_pct: changes[1],
                p99_ms_a: ra.p99_ms,
                p99_ms_b: rb.p99_ms,
                p99_change_pct: changes[2],
                p999_ms_a: ra.p999_ms,
                p999_ms_b: rb.p999_ms,
                p999_change_pct: changes[3],
                error_rate_pct_a: ra.error_rate_pct,
                error_rate_pct_b: rb.error_rate_pct,
                error_rate_change_pts: error_change,
                regression,
            }
        })
        .collect();
    rows.sort_by(|x, y| {
        let score = |c: &Comparison| c.regression.unwrap_or(f64::NEG_INFINITY);
        score(y)
            .total_cmp(&score(x))
            .then_with(|| x.name.cmp(&y.name))
    });
    rows
}

fn empty(name: &str) -> Row {
    Row {
        name: name.to_owned(),
        count: 0,
        errors: 0,
        error_rate_pct: 0.0,
        cancelled: 0,
        slow: 0,
        p50_ms: 0.0,
        p95_ms: 0.0,
        p99_ms: 0.0,
        p999_ms: 0.0,
        max_ms: 0.0,
        total_ms: 0.0,
        self_ms: 0.0,
    }
}

fn signed(change: Option<f64>, unit: &str, a_count: u64) -> String {
    match change {
        Some(c) => format!("{c:+.1}{unit}"),
        None if a_count == 0 => "new".to_owned(),
        None => "gone".to_owned(),
    }
}

/// Writes the comparison as a table, then a line naming A and B.
///
/// # Errors
///
/// Returns the writer's error.
pub(crate) fn write_table<W: Write + ?Sized>(
    out: &mut W,
    rows: &[Comparison],
    heading: &str,
    labels: [&str; 2],
    spans: [u64; 2],
) -> io::Result<()> {
    let headers: Vec<String> = [
        heading, "count", "p50_ms", "Δp50", "p95_ms", "Δp95", "p99_ms", "Δp99", "p99.9_ms",
        "Δp99.9", "err%", "Δerr",
    ]
    .iter()
    .map(|h| (*h).to_owned())
    .collect();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|c| {
            let pair = |a: f64, b: f64| format!("{}→{}", millis(a), millis(b));
            vec![
                printable(&c.name).into_owned(),
                format!("{}→{}", c.count_a, c.count_b),
                pair(c.p50_ms_a, c.p50_ms_b),
                signed(c.p50_change_pct, "%", c.count_a),
                pair(c.p95_ms_a, c.p95_ms_b),
                signed(c.p95_change_pct, "%", c.count_a),
                pair(c.p99_ms_a, c.p99_ms_b),
                signed(c.p99_change_pct, "%", c.count_a),
                pair(c.p999_ms_a, c.p999_ms_b),
                signed(c.p999_change_pct, "%", c.count_a),
                format!("{:.1}→{:.1}", c.error_rate_pct_a, c.error_rate_pct_b),
                signed(c.error_rate_change_pts, "pt", c.count_a),
            ]
        })
        .collect();
    write_aligned(out, &headers, &cells)?;
    writeln!(
        out,
        "A: {} ({} spans); B: {} ({} spans); biggest regression first; percentiles within 1%",
        labels[0], spans[0], labels[1], spans[1]
    )?;
    out.flush()
}

/// Writes the comparison as CSV, the fields of [`Comparison`] in order (empty for none).
///
/// # Errors
///
/// Returns the writer's error.
pub(crate) fn write_csv<W: Write + ?Sized>(out: &mut W, rows: &[Comparison]) -> io::Result<()> {
    writeln!(
        out,
        "name,count_a,count_b,p50_ms_a,p50_ms_b,p50_change_pct,p95_ms_a,p95_ms_b,p95_change_pct,\
         p99_ms_a,p99_ms_b,p99_change_pct,p999_ms_a,p999_ms_b,p999_change_pct,\
         error_rate_pct_a,error_rate_pct_b,error_rate_change_pts,regression"
    )?;
    let opt = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    for c in rows {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&c.name),
            c.count_a,
            c.count_b,
            c.p50_ms_a,
            c.p50_ms_b,
            opt(c.p50_change_pct),
            c.p95_ms_a,
            c.p95_ms_b,
            opt(c.p95_change_pct),
            c.p99_ms_a,
            c.p99_ms_b,
            opt(c.p99_change_pct),
            c.p999_ms_a,
            c.p999_ms_b,
            opt(c.p999_change_pct),
            c.error_rate_pct_a,
            c.error_rate_pct_b,
            opt(c.error_rate_change_pts),
            opt(c.regression),
        )?;
    }
    out.flush()
}
