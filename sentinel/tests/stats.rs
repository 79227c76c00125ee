//! `sentinel stats`, driven through the built binary on fixture files.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_sentinel");

fn fixture(lines: &[String]) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(&path, text).unwrap();
    (dir, path)
}

fn stats(args: &[&str], path: &Path) -> Output {
    Command::new(BIN)
        .arg("stats")
        .args(args)
        .arg(path)
        .output()
        .unwrap()
}

fn span(name: &str, ms: f64, status: &str, slow: bool) -> String {
    format!(
        r#"{{"timestamp":"2026-11-22T01:02:03.456789+00:00","function":"{name}","duration_ms":{ms},"status":"{status}","trace_id":"9f86d081884c7d65","span_id":"2c26b46b68ffc68f","parent_span_id":null,"slow":{slow}}}"#
    )
}

/// `fetch`: 1..=100 ms, 5 errors, 1 cancelled, 10 slow; `db` (a TimeBlock label): 10 × 50 ms;
/// `rare`: one 1000 ms error; plus lines that are not spans.
fn mixed() -> Vec<String> {
    let mut lines = Vec::new();
    for i in 1..=100 {
        let status = match i {
            _ if i % 20 == 0 => "error",
            7 => "cancelled",
            _ => "success",
        };
        lines.push(span("fetch", f64::from(i), status, i > 90));
    }
    for _ in 0..10 {
        lines.push(r#"{"label":"db","duration_ms":50.0,"status":"success"}"#.to_owned());
    }
    lines.push(span("rare", 1000.0, "error", true));
    lines.push(r#"{"event":"startup","level":"info"}"#.to_owned());
    lines.push("not json".to_owned());
    lines.push(String::new());
    lines
}

fn json_rows(out: &Output) -> Vec<serde_json::Value> {
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn names(rows: &[serde_json::Value]) -> Vec<&str> {
    rows.iter().map(|r| r["name"].as_str().unwrap()).collect()
}

#[test]
fn table_has_one_row_per_name() {
    let (_dir, path) = fixture(&mixed());
    let out = stats(&[], &path);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "\
name   count  errors    err%   p50_ms   p95_ms   p99_ms  p99.9_ms   max_ms  total_ms  self_ms  cancelled  slow
fetch    100       5    5.0%    50.25    95.50    99.50    100.00   100.00   5050.00  5050.00          1    10
rare       1       1  100.0%  1000.00  1000.00  1000.00   1000.00  1000.00   1000.00  1000.00          0     1
db        10       0    0.0%    50.00    50.00    50.00     50.00    50.00    500.00   500.00          0     0
111 spans, 3 names, 3 shown; percentiles within 1%; 2 non-span lines skipped
"
    );
}

#[test]
fn json_reports_every_figure() {
    let (_dir, path) = fixture(&mixed());
    let rows = json_rows(&stats(&["--json"], &path));
    let fetch = &rows[0];
    assert_eq!(fetch["name"], "fetch");
    assert_eq!(fetch["count"], 100);
    assert_eq!(fetch["errors"], 5);
    assert_eq!(fetch["error_rate_pct"], 5.0);
    assert_eq!(fetch["cancelled"], 1);
    assert_eq!(fetch["slow"], 10);
    assert_eq!(fetch["max_ms"], 100.0);
    assert_eq!(fetch["total_ms"], 5050.0);
    // Nearest-rank exact values are 50, 95 and 99; the bound is 1%.
    for (key, exact) in [("p50_ms", 50.0), ("p95_ms", 95.0), ("p99_ms", 99.0)] {
        let got = fetch[key].as_f64().unwrap();
        assert!((got - exact).abs() <= exact * 0.01, "{key}: {got}");
    }
    let db = rows.iter().find(|r| r["name"] == "db").unwrap();
    assert_eq!(db["p50_ms"], 50.0, "single-valued names are exact");
}

#[test]
fn sort_keys_order_rows() {
    let (_dir, path) = fixture(&mixed());
    let order = |key: &str| {
        let rows = json_rows(&stats(&["--json", "--sort", key], &path));
        names(&rows)
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(order("total"), ["fetch", "rare", "db"]);
    assert_eq!(order("p99"), ["rare", "fetch", "db"]);
    assert_eq!(order("count"), ["fetch", "db", "rare"]);
    assert_eq!(order("errors"), ["fetch", "rare", "db"]);
}

#[test]
fn sort_by_p50_max_and_name() {
    // Each key puts the three names in another order: total c a b, p50 b c a, max a c b.
    let lines: Vec<String> = [
        ("a", &[1.0, 1.0, 1.0, 100.0][..]),
        ("b", &[10.0, 10.0][..]),
        (
            "c",
            &[5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 60.0][..],
        ),
    ]
    .iter()
    .flat_map(|(name, ms)| ms.iter().map(|&ms| span(name, ms, "success", false)))
    .collect();
    let (_dir, path) = fixture(&lines);
    for (key, want) in [
        ("total", ["c", "a", "b"]),
        ("p50", ["b", "c", "a"]),
        ("max", ["a", "c", "b"]),
        ("name", ["a", "b", "c"]),
    ] {
        let rows = json_rows(&stats(&["--json", "--sort", key], &path));
        assert_eq!(names(&rows), want, "--sort {key}");
    }
}

#[test]
fn top_limits_rows() {
    let (_dir, path) = fixture(&mixed());
    let rows = json_rows(&stats(&["--json", "--top", "1", "--sort", "count"], &path));
    assert_eq!(names(&rows), ["fetch"]);
    let out = String::from_utf8(stats(&["--top", "2"], &path).stdout).unwrap();
    assert_eq!(out.lines().count(), 4, "{out}");
    assert!(out.ends_with(
        "111 spans, 3 names, 2 shown; percentiles within 1%; 2 non-span lines skipped\n"
    ));
}

#[test]
fn rejects_unknown_sort_key() {
    let (_dir, path) = fixture(&mixed());
    let out = stats(&["--sort", "median"], &path);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("total"));
}

// regression: issue #15
#[test]
fn issue_15_a_bad_choice_for_a_flag_is_a_one_line_error_listing_the_choices() {
    let (_dir, path) = fixture(&mixed());
    for (flag, value, choices) in [
        (
            "--sort",
            "p999",
            "total, p50, p99, max, count, errors, name",
        ),
        ("--format", "xml", "table, json, csv"),
    ] {
        let out = stats(&[flag, value], &path);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(out.stdout.is_empty(), "{flag}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("sentinel: invalid value"), "{err}");
        assert!(
            err.contains(flag) && err.contains(value) && err.contains(choices),
            "{err}"
        );
    }
}

// regression: issue #15
#[test]
fn issue_15_an_unknown_flag_or_subcommand_is_a_one_line_error_naming_it() {
    let (_dir, path) = fixture(&mixed());
    let out = stats(&["--slwo"], &path);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("sentinel: unexpected argument '--slwo'") && err.contains("'--slow'"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sentinel"))
        .arg("stat")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("'stat'") && err.contains("'stats'"), "{err}");
}

#[test]
fn empty_file_gives_empty_results() {
    let (_dir, path) = fixture(&[]);
    assert_eq!(json_rows(&stats(&["--json"], &path)).len(), 0);
    let out = stats(&[], &path);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "name  count  errors  err%  p50_ms  p95_ms  p99_ms  p99.9_ms  max_ms  total_ms  self_ms  cancelled  slow\n\
         0 spans, 0 names, 0 shown; percentiles within 1%\n"
    );
}

#[test]
fn robust_to_bad_records() {
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"{\"function\":\"ok\",\"duration_ms\":\"2\",\"status\":null}\n");
    bytes.extend_from_slice(b"{\"function\":null,\"label\":5,\"duration_ms\":1}\n");
    bytes.extend_from_slice(b"{\"function\":\"bad\xff\",\"duration_ms\":4,\"slow\":1}\n");
    bytes.extend_from_slice(b"[1,2,3]\n{\"function\":\"x\",\"duration_ms\":null}\n");
    bytes.extend_from_slice(&[b'{'; 3 << 20]);
    bytes.extend_from_slice(b"\n{\"function\":\"neg\",\"duration_ms\":-3}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    fs::write(&path, bytes).unwrap();
    let rows = json_rows(&stats(&["--json", "--sort", "count"], &path));
    assert_eq!(names(&rows), ["5", "bad\u{fffd}", "neg", "ok"]);
    assert_eq!(rows[1]["slow"], 1);
    assert_eq!(rows[2]["max_ms"], 0.0);
    assert_eq!(rows[3]["total_ms"], 2.0);
    let table = String::from_utf8(stats(&[], &path).stdout).unwrap();
    assert!(
        table.ends_with("4 spans, 4 names, 4 shown; percentiles within 1%; 2 non-span lines skipped; 1 over-long lines skipped\n"),
        "{table}"
    );
}

/// Over 12 MiB, so the input is read in several blocks: lines cut by a block's end, and a
/// line longer than a block in the middle, are each counted once.
#[test]
fn every_line_counts_once_across_blocks() {
    let line = span("fetch", 1.5, "success", false);
    let per_mib = (1 << 20) / (line.len() + 1);
    let mut text = String::new();
    for _ in 0..per_mib * 5 {
        text.push_str(&line);
        text.push('\n');
    }
    text.push_str(&"x".repeat(5 << 20));
    text.push('\n');
    for _ in 0..per_mib * 7 {
        text.push_str(&line);
        text.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    fs::write(&path, text).unwrap();
    let rows = json_rows(&stats(&["--json"], &path));
    assert_eq!(rows[0]["count"], per_mib * 12, "{rows:?}");
    assert_eq!(rows[0]["total_ms"], 1.5 * (per_mib * 12) as f64);
    let table = String::from_utf8(stats(&[], &path).stdout).unwrap();
    assert!(table.contains("1 over-long lines skipped"), "{table}");
}

// regression: issue #15
#[test]
fn issue_15_a_duration_that_is_not_a_number_skips_the_record_with_a_note() {
    let (_dir, path) = fixture(&[
        r#"{"function":"words","duration_ms":"abc"}"#.to_owned(),
        r#"{"function":"flag","duration_ms":true}"#.to_owned(),
        r#"{"function":"list","duration_ms":[1]}"#.to_owned(),
        r#"{"function":"ok","duration_ms":"2"}"#.to_owned(),
        r#"{"function":"no_duration"}"#.to_owned(),
    ]);
    assert_eq!(names(&json_rows(&stats(&["--json"], &path))), ["ok"]);
    let table = String::from_utf8(stats(&[], &path).stdout).unwrap();
    assert!(
        table.ends_with("1 spans, 1 names, 1 shown; percentiles within 1%; 1 non-span lines skipped; 3 records with a duration_ms that is not a number skipped\n"),
        "{table}"
    );
    let last = String::from_utf8(stats(&["--last", "10"], &path).stdout).unwrap();
    assert!(
        last.contains("3 records with a duration_ms that is not a number skipped"),
        "{last}"
    );
}

#[test]
fn missing_file_exits_1_with_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.jsonl");
    let out = stats(&[], &path);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("sentinel: {}: no such file\n", path.display())
    );
}

#[test]
fn counts_records_the_logger_dropped() {
    let mut lines = mixed();
    lines.push(
        r#"{"timestamp":"2026-11-22T01:02:04.000000+00:00","status":"dropped","dropped":{"count":7,"reasons":{"queue_full":7},"from":"2026-11-22T01:02:03.000000+00:00","to":"2026-11-22T01:02:04.000000+00:00"}}"#
            .to_owned(),
    );
    let (_dir, path) = fixture(&lines);
    let out = stats(&[], &path);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("7 records dropped by the logger"), "{text}");
    // The marker is not one more skipped line: `mixed()` has two of those.
    assert!(text.contains("; 2 non-span lines skipped;"), "{text}");
}

#[test]
fn filters_narrow_the_spans_counted() {
    let (_dir, path) = fixture(&mixed());
    let rows = json_rows(&stats(&["--json", "--name", "fe*"], &path));
    assert_eq!(names(&rows), ["fetch"]);
    let rows = json_rows(&stats(&["--json", "--status", "error"], &path));
    assert_eq!(names(&rows), ["rare", "fetch"]);
    assert_eq!(rows[1]["count"], 5);
    let rows = json_rows(&stats(
        &["--json", "--slow", "--min-ms", "95", "--sort", "name"],
        &path,
    ));
    assert_eq!(names(&rows), ["fetch", "rare"]);
    assert_eq!(rows[0]["count"], 6, "fetch 95..=100 are slow");
}

#[test]
fn trace_tag_and_time_filters_narrow_the_spans_counted() {
    let line = |name: &str, trace: &str, route: &str, at: &str| {
        format!(
            r#"{{"timestamp":"{at}","function":"{name}","duration_ms":1,"trace_id":"{trace}","span_id":"s","tags":{{"route":"{route}"}}}}"#
        )
    };
    let lines = vec![
        line("early", "aaaa0001", "/a", "2026-12-01T10:00:00Z"),
        line("middle", "aaaa0002", "/b", "2026-12-01T11:00:00Z"),
        line("late", "bbbb0003", "/a", "2026-12-01T12:00:00Z"),
    ];
    let (_dir, path) = fixture(&lines);
    for (args, want) in [
        (&["--trace", "aaaa"][..], &["early", "middle"][..]),
        (&["--tag", "route=/a"][..], &["early", "late"][..]),
        (
            &["--since", "2026-12-01T11:00:00Z"][..],
            &["late", "middle"][..],
        ),
        (&["--until", "2026-12-01T11:00:00Z"][..], &["early"][..]),
        (
            &[
                "--since",
                "2026-12-01T10:30:00Z",
                "--until",
                "2026-12-01T11:30:00Z",
            ][..],
            &["middle"][..],
        ),
        (&["--since", "1h"][..], &[][..]),
    ] {
        let mut all = vec!["--json", "--sort", "name"];
        all.extend_from_slice(args);
        let rows = json_rows(&stats(&all, &path));
        assert_eq!(names(&rows), want, "{args:?}");
    }
}

#[test]
fn reads_folders_globs_compressed_files_and_stdin() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let spans = |name: &str, n: usize| -> String {
        (0..n)
            .map(|_| span(name, 2.0, "success", false) + "\n")
            .collect()
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(spans("first", 1).as_bytes()).unwrap();
    fs::write(
        p("app.2026-12-01T23-00-00Z.000001.jsonl.gz"),
        gz.finish().unwrap(),
    )
    .unwrap();
    fs::write(
        p("app.2026-12-02T06-30-00Z.000001.jsonl.zst"),
        zstd::encode_all(spans("second", 2).as_bytes(), 1).unwrap(),
    )
    .unwrap();
    fs::write(
        p("app.2026-12-02T07-00-00Z.000001.jsonl"),
        spans("third", 3),
    )
    .unwrap();
    fs::write(p("app.jsonl"), spans("live", 4)).unwrap();
    let counts = |rows: Vec<serde_json::Value>| -> Vec<(String, u64)> {
        rows.iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_owned(),
                    r["count"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let folder = dir.path().to_str().unwrap();
    let want = |names: &[(&str, u64)]| -> Vec<(String, u64)> {
        names.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
    };
    let all = want(&[("first", 1), ("live", 4), ("second", 2), ("third", 3)]);
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["stats", "--json", "--sort", "name"])
            .args(args)
            .output()
            .unwrap();
        counts(json_rows(&out))
    };
    assert_eq!(run(&[folder]), all);
    let glob = format!("{folder}/app.2026-12-02*");
    assert_eq!(run(&[&glob]), want(&[("second", 2), ("third", 3)]));
    let gz_path = p("app.2026-12-01T23-00-00Z.000001.jsonl.gz");
    let live = p("app.jsonl");
    assert_eq!(
        run(&[gz_path.to_str().unwrap(), live.to_str().unwrap()]),
        want(&[("first", 1), ("live", 4)])
    );
    let mut child = Command::new(BIN)
        .args(["stats", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&fs::read(p("app.2026-12-02T06-30-00Z.000001.jsonl.zst")).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(counts(json_rows(&out)), want(&[("second", 2)]));
}

#[test]
fn last_n_counts_only_the_last_n_spans() {
    let (_dir, path) = fixture(&mixed());
    // The last 11 spans: 10 × db and the one rare.
    let rows = json_rows(&stats(&["--json", "-n", "11", "--sort", "name"], &path));
    assert_eq!(names(&rows), ["db", "rare"]);
    assert_eq!(rows[0]["count"], 10);
}

#[test]
fn csv_has_a_header_and_quotes_awkward_names() {
    let lines = vec![
        span("plain", 2.0, "success", false),
        span("with,comma \\\"q\\\"", 4.0, "error", false),
    ];
    let (_dir, path) = fixture(&lines);
    let out = stats(&["--format", "csv", "--sort", "name"], &path);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "name,count,errors,error_rate_pct,cancelled,slow,p50_ms,p95_ms,p99_ms,p999_ms,max_ms,total_ms,self_ms"
    );
    assert_eq!(lines.next().unwrap(), "plain,1,0,0,0,0,2,2,2,2,2,2,2");
    assert_eq!(
        lines.next().unwrap(),
        "\"with,comma \"\"q\"\"\",1,1,100,0,0,4,4,4,4,4,4,4"
    );
    assert_eq!(lines.next(), None);
}

/// Peak resident memory of `sentinel ARGS`, in bytes, from the kernel's own account of the
/// reaped child (`wait4`'s `ru_maxrss`), with its exit status.
#[expect(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4, which also reports its peak memory"
)]
fn peak_memory(args: &[&std::ffi::OsStr]) -> (u64, i32) {
    let child = Command::new(BIN)
        .args(args)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid with valid out-pointers; `child` is not waited
    // for again.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    (usage.ru_maxrss as u64 * 1024, libc::WEXITSTATUS(status))
}

// regression: issue #15
#[test]
fn issue_15_durations_from_1e_minus_6_to_1e308_stay_under_64_mib() {
    // Each name sees the smallest and the largest duration: a dense histogram per name
    // spans ~64,000 buckets.
    let mut lines = Vec::new();
    for i in 0..2_000 {
        lines.push(format!(r#"{{"function":"n{i}","duration_ms":1e-6}}"#));
        lines.push(format!(r#"{{"function":"n{i}","duration_ms":1e308}}"#));
    }
    let (_dir, path) = fixture(&lines);
    assert!(fs::metadata(&path).unwrap().len() < 300_000);
    let (peak, code) = peak_memory(&["stats".as_ref(), path.as_os_str()]);
    assert_eq!(code, 0);
    assert!(peak < 64 << 20, "peak {} MiB", peak >> 20);
}

// regression: issue #15
#[test]
fn issue_15_huge_durations_print_in_scientific_notation_not_300_digits() {
    let lines = vec![
        span("huge", 1e308, "success", false),
        span("huge", 1e-6, "success", false),
        span("small", 12.345, "success", false),
    ];
    let (_dir, path) = fixture(&lines);
    let table = String::from_utf8(stats(&["--sort", "name"], &path).stdout).unwrap();
    assert!(table.lines().all(|l| l.len() < 200), "{table}");
    assert!(table.contains("1.00e308"), "{table}");
    assert!(table.contains("12.35"), "{table}");
    let out = Command::new(BIN)
        .args(["tail", "--name", "huge"])
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(" huge 1.00e308ms success"), "{text}");
    assert!(text.contains(" huge 0.00ms success"), "{text}");
}

#[test]
fn p999_and_self_time_are_reported() {
    let mut lines = Vec::new();
    for i in 1..=1000 {
        lines.push(format!(
            r#"{{"function":"child","duration_ms":{i},"trace_id":"t{i}","span_id":"c","parent_span_id":"r"}}"#
        ));
        lines.push(format!(
            r#"{{"function":"root","duration_ms":{},"trace_id":"t{i}","span_id":"r"}}"#,
            i + 1
        ));
    }
    let (_dir, path) = fixture(&lines);
    let rows = json_rows(&stats(&["--json", "--sort", "name"], &path));
    assert_eq!(names(&rows), ["child", "root"]);
    let p999 = rows[0]["p999_ms"].as_f64().unwrap();
    assert!((p999 - 999.0).abs() <= 9.99, "{p999}");
    assert_eq!(rows[0]["self_ms"], rows[0]["total_ms"]);
    assert_eq!(
        rows[1]["self_ms"], 1000.0,
        "each root is 1 ms longer than its child"
    );
}

// regression: issue #15
#[test]
fn issue_15_numeric_span_ids_link_children_to_parents_as_tail_does() {
    // `tail --tree` draws these as a tree; self time must see the same tree.
    let lines = vec![
        r#"{"function":"child","duration_ms":3,"trace_id":"t","span_id":2,"parent_span_id":1}"#
            .to_owned(),
        r#"{"function":"root","duration_ms":10,"trace_id":"t","span_id":1}"#.to_owned(),
    ];
    let (_dir, path) = fixture(&lines);
    let rows = json_rows(&stats(&["--json", "--sort", "name"], &path));
    assert_eq!(names(&rows), ["child", "root"]);
    assert_eq!(rows[1]["self_ms"], 7.0, "{rows:?}");
}

#[test]
fn by_tag_groups_rows_by_the_tag_value() {
    let lines: Vec<String> = [("/a", 1.0), ("/a", 3.0), ("/b", 10.0)]
        .iter()
        .map(|(route, ms)| {
            format!(r#"{{"function":"h","duration_ms":{ms},"tags":{{"route":"{route}"}}}}"#)
        })
        .chain([r#"{"function":"h","duration_ms":2}"#.to_owned()])
        .collect();
    let (_dir, path) = fixture(&lines);
    let rows = json_rows(&stats(
        &["--json", "--by", "tag:route", "--sort", "name"],
        &path,
    ));
    assert_eq!(names(&rows), ["(none)", "/a", "/b"]);
    assert_eq!(rows[1]["count"], 2);
    let table = String::from_utf8(stats(&["--by", "tag:route"], &path).stdout).unwrap();
    assert!(table.starts_with("tag:route  count"), "{table}");
    assert!(table.contains("4 spans, 3 groups"), "{table}");
}

/// `name` spans with durations `ms`, `errors` of them failed, at `timestamp`.
fn spans_at(name: &str, ms: &[f64], errors: usize, timestamp: &str) -> Vec<String> {
    ms.iter()
        .enumerate()
        .map(|(i, ms)| {
            let status = if i < errors { "error" } else { "success" };
            format!(
                r#"{{"timestamp":"{timestamp}","function":"{name}","duration_ms":{ms},"status":"{status}"}}"#
            )
        })
        .collect()
}

#[test]
fn compare_two_inputs_sorts_by_biggest_regression() {
    let dir = tempfile::tempdir().unwrap();
    let ts = "2026-12-01T10:00:00Z";
    let before: Vec<String> = [
        spans_at("steady", &[10.0; 10], 0, ts),
        spans_at("slower", &[10.0; 10], 0, ts),
        spans_at("failing", &[10.0; 10], 0, ts),
        spans_at("gone", &[1.0], 0, ts),
    ]
    .concat();
    let after: Vec<String> = [
        spans_at("steady", &[10.0; 10], 0, ts),
        spans_at("slower", &[15.0; 10], 0, ts),
        spans_at("failing", &[10.0; 10], 8, ts),
        spans_at("new", &[1.0], 0, ts),
    ]
    .concat();
    let a = dir.path().join("before.jsonl");
    let b = dir.path().join("after.jsonl");
    fs::write(&a, before.join("\n")).unwrap();
    fs::write(&b, after.join("\n")).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let out = Command::new(BIN)
        .args(["stats", "--format", "json", "--compare", a, b])
        .output()
        .unwrap();
    let rows = json_rows(&out);
    assert_eq!(names(&rows), ["failing", "slower", "steady", "gone", "new"]);
    assert_eq!(rows[0]["error_rate_change_pts"], 80.0);
    assert_eq!(rows[1]["p50_change_pct"], 50.0);
    assert_eq!(rows[2]["regression"], 0.0);
    assert_eq!(rows[3]["count_b"], 0);
    assert!(rows[4]["p50_change_pct"].is_null());

    let csv = Command::new(BIN)
        .args(["stats", "--format", "csv", "--compare", a, b])
        .output()
        .unwrap();
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(csv.starts_with("name,count_a,count_b,p50_ms_a"), "{csv}");
    assert!(csv.contains("\nslower,10,10,10,15,50,"), "{csv}");

    let table = Command::new(BIN)
        .args(["stats", "--compare", a, b])
        .output()
        .unwrap();
    let table = String::from_utf8(table.stdout).unwrap();
    let second = table.lines().nth(2).unwrap();
    assert!(second.starts_with("slower"), "{table}");
    assert!(
        second.contains("10.00→15.00") && second.contains("+50.0%"),
        "{table}"
    );
    assert!(
        table.contains(&format!("A: {a} (31 spans); B: {b} (31 spans)")),
        "{table}"
    );
}

// regression: issue #15
#[test]
fn issue_15_compare_takes_folders_and_paths_that_climb_with_dot_dot() {
    let dir = tempfile::tempdir().unwrap();
    let ts = "2026-12-01T10:00:00Z";
    for (side, ms) in [("old", 10.0), ("new", 20.0)] {
        fs::create_dir(dir.path().join(side)).unwrap();
        fs::write(
            dir.path().join(side).join("app.jsonl"),
            spans_at("api", &[ms; 3], 0, ts).join("\n"),
        )
        .unwrap();
    }
    let here = dir.path().join("here");
    fs::create_dir(&here).unwrap();
    for sides in [
        ["../old", "../new"],
        ["../old/app.jsonl", "../new/app.jsonl"],
        ["../old/*.jsonl", "../new/*.jsonl"],
    ] {
        let out = Command::new(BIN)
            .args(["stats", "--json", "--compare", sides[0], sides[1]])
            .current_dir(&here)
            .output()
            .unwrap();
        assert!(out.status.success(), "{sides:?}: {out:?}");
        let rows = json_rows(&out);
        assert_eq!(rows[0]["p50_ms_a"], 10.0, "{sides:?}");
        assert_eq!(rows[0]["p50_ms_b"], 20.0, "{sides:?}");
    }
}

#[test]
fn compare_two_time_windows_of_one_input() {
    let lines: Vec<String> = [
        spans_at("api", &[10.0; 4], 0, "2026-12-01T10:00:00Z"),
        spans_at("api", &[20.0; 4], 2, "2026-12-01T11:00:00Z"),
    ]
    .concat();
    let (_dir, path) = fixture(&lines);
    let out = stats(
        &[
            "--json",
            "--compare",
            "2026-12-01T09:30:00Z..2026-12-01T10:30:00Z",
            "2026-12-01T10:30:00Z..",
        ],
        &path,
    );
    let rows = json_rows(&out);
    assert_eq!(rows[0]["p50_ms_a"], 10.0);
    assert_eq!(rows[0]["p50_ms_b"], 20.0);
    assert_eq!(rows[0]["error_rate_change_pts"], 50.0);
}

// regression: issue #15
#[test]
fn issue_15_compare_refuses_to_read_stdin_twice() {
    use std::io::Write;
    let lines = spans_at("api", &[10.0; 4], 0, "2026-12-01T10:00:00Z");
    for args in [
        &[
            "2026-12-01T09:00:00Z..2026-12-01T10:30:00Z",
            "2026-12-01T10:30:00Z..",
            "-",
        ][..],
        &["-", "-"][..],
    ] {
        let mut child = Command::new(BIN)
            .args(["stats", "--compare"])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The child may refuse before reading: a closed pipe is fine.
        let _ = child
            .stdin
            .take()
            .unwrap()
            .write_all(lines.join("\n").as_bytes());
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("stdin"), "{err}");
    }
}

#[test]
fn compare_rejects_a_mix_of_input_and_window() {
    let (_dir, path) = fixture(&[]);
    let out = Command::new(BIN)
        .args(["stats", "--compare", "1h..", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "sentinel: --compare A B: give two inputs or two time windows SINCE..UNTIL, not one of each\n"
    );
}
