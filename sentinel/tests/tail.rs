//! `sentinel tail`, driven through the built binary on fixture files.
//!
//! Covers every behaviour of sentinel-trace 0.2.0's `tests/test_cli.py` plus issue #4's
//! rules (tree ordering, orphans, late records, follow with truncation and rotation,
//! signals, colour, robust input, broken pipes).

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_sentinel");
/// Generous bound for a followed line to show up; tests never sleep, they wait on output.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(30);

fn fixture(lines: &[&str]) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(&path, text).unwrap();
    (dir, path)
}

fn sentinel(args: &[&str], path: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .arg(path)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

/// Runs `sentinel tail --no-color [extra] PATH`, asserts success and returns stdout.
fn tail(extra: &[&str], lines: &[&str]) -> String {
    let (_dir, path) = fixture(lines);
    let mut args = vec!["tail", "--no-color"];
    args.extend_from_slice(extra);
    let out = sentinel(&args, &path);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn three_span_trace() -> [&'static str; 3] {
    [
        r#"{"timestamp":"2026-04-30T00:00:00.001Z","function":"leaf","duration_ms":1.0,"status":"success","trace_id":"t1","span_id":"s_leaf","parent_span_id":"s_mid"}"#,
        r#"{"timestamp":"2026-04-30T00:00:00.002Z","function":"mid","duration_ms":2.0,"status":"success","trace_id":"t1","span_id":"s_mid","parent_span_id":"s_root"}"#,
        r#"{"timestamp":"2026-04-30T00:00:00.003Z","function":"root","duration_ms":3.0,"status":"success","trace_id":"t1","span_id":"s_root","parent_span_id":null}"#,
    ]
}

// === flat mode (test_cli.py) ===

#[test]
fn prints_function_records() {
    let out = tail(
        &[],
        &[
            r#"{"timestamp":"2026-04-30T00:00:00Z","function":"fetch","duration_ms":5.5,"status":"success","trace_id":"abc123def456ghi7"}"#,
        ],
    );
    assert_eq!(
        out,
        "2026-04-30T00:00:00Z [abc123de] fetch 5.50ms success\n"
    );
}

#[test]
fn prints_timeblock_label_records() {
    let out = tail(
        &[],
        &[
            r#"{"timestamp":"ts","label":"ingest_block","duration_ms":1.0,"status":"success","trace_id":"xxxxxxxxxxxxxxxx"}"#,
        ],
    );
    assert_eq!(out, "ts [xxxxxxxx] ingest_block 1.00ms success\n");
}

#[test]
fn shows_error_and_message() {
    let out = tail(
        &[],
        &[
            r#"{"timestamp":"ts","function":"boom","duration_ms":1.0,"status":"error","error":"kaboom!","error_type":"ValueError","trace_id":"t"}"#,
        ],
    );
    assert_eq!(out, "ts [t] boom 1.00ms error (kaboom!)\n");
}

#[test]
fn shows_error_type_when_message_missing() {
    let out = tail(
        &[],
        &[r#"{"function":"boom","status":"error","error":null,"error_type":"Timeout"}"#],
    );
    assert_eq!(out, "boom 0.00ms error (Timeout)\n");
}

#[test]
fn marks_slow_records() {
    let out = tail(
        &[],
        &[
            r#"{"timestamp":"ts","function":"lag","duration_ms":500.0,"status":"success","slow":true,"trace_id":"t"}"#,
        ],
    );
    assert_eq!(out, "ts [t] lag 500.00ms success SLOW\n");
}

#[test]
fn shows_cancelled_status() {
    let out = tail(
        &[],
        &[r#"{"function":"dropped","duration_ms":2,"status":"cancelled","slow":true}"#],
    );
    assert_eq!(out, "dropped 2.00ms cancelled\n");
}

#[test]
fn renders_tags() {
    let out = tail(
        &[],
        &[
            r#"{"timestamp":"ts","function":"f","duration_ms":1.0,"status":"success","trace_id":"t","tags":{"user_id":42,"env":"prod","ok":true,"none":null}}"#,
        ],
    );
    assert_eq!(
        out,
        "ts [t] f 1.00ms success [user_id=42 env=prod ok=True none=None]\n"
    );
}

#[test]
fn missing_file_exits_1_with_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.jsonl");
    let out = sentinel(&["tail", "--no-color"], &path);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("sentinel: {}: no such file\n", path.display())
    );
}

#[test]
fn folder_without_segments_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "hello\n").unwrap();
    let out = sentinel(&["tail"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "sentinel: {}: no log segments in this folder (*.jsonl, *.jsonl.gz, *.jsonl.zst)\n",
            dir.path().display()
        )
    );
}

#[test]
fn skips_malformed_lines_and_says_how_many() {
    let (_dir, path) = fixture(&[
        "not json at all",
        r#"{"function": "ok", "duration_ms": 1, "status": "success", "trace_id": "t"}"#,
        r#"{"function": "truncated", "dur"#,
    ]);
    let out = sentinel(&["tail", "--no-color"], &path);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "sentinel: {}: skipped 2 line(s) that are not records\n",
            path.display()
        )
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "[t] ok 1.00ms success\n"
    );
}

#[test]
fn skips_non_object_json_lines() {
    let out = tail(
        &[],
        &[
            "[1, 2, 3]",
            r#""a string""#,
            "42",
            "null",
            r#"{"function": "real", "duration_ms": 1, "status": "success", "trace_id": "t"}"#,
        ],
    );
    assert_eq!(out, "[t] real 1.00ms success\n");
}

#[test]
fn requires_subcommand() {
    let out = Command::new(BIN).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("Usage"));
}

#[test]
fn skips_blank_lines() {
    let out = tail(
        &[],
        &[
            "",
            "  ",
            "\t\r",
            r#"{"function": "after_blanks", "duration_ms": 1, "status": "success", "trace_id": "t"}"#,
        ],
    );
    assert_eq!(out, "[t] after_blanks 1.00ms success\n");
}

#[test]
fn help_lists_every_subcommand_option() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "tail",
        "stats",
        "Options for `sentinel tail`:",
        "-f, --follow",
        "--tree",
        "--no-color",
        "<PATH>",
        "Options for `sentinel stats`:",
        "--sort <KEY>",
        "[total|p50|p99|max|count|errors|name]",
        "--format <FORMAT>",
        "--since <TIME>",
        "--tag <KEY=VALUE>",
        "Examples:",
        "--top <N>",
        "--json",
        "within 1%",
    ] {
        assert!(help.contains(needle), "{needle:?} missing from:\n{help}");
    }
}

// === robust input ===

// regression: issue #15
#[test]
fn issue_15_missing_null_and_mistyped_fields_use_defaults() {
    let out = tail(
        &[],
        &[
            "{}",
            r#"{"function":null,"label":null,"duration_ms":null,"status":null,"trace_id":null,"tags":null,"slow":null}"#,
            r#"{"function":["x"],"status":7,"trace_id":{"a":1},"tags":[1,2],"error":false}"#,
            r#"{"label":"numeric-string","duration_ms":"2.5","status":"success"}"#,
        ],
    );
    assert_eq!(
        out,
        "? 0.00ms\n? 0.00ms\n? 0.00ms\nnumeric-string 2.50ms success\n"
    );
}

// regression: issue #15
#[test]
fn issue_15_a_duration_that_is_not_a_number_skips_the_record_with_a_note() {
    let (_dir, path) = fixture(&[
        r#"{"function":"words","duration_ms":"abc","trace_id":"t"}"#,
        r#"{"function":"flag","duration_ms":true,"trace_id":"t"}"#,
        r#"{"function":"list","duration_ms":[1],"trace_id":"t"}"#,
        r#"{"function":"ok","duration_ms":"2","trace_id":"t"}"#,
    ]);
    let out = sentinel(&["tail", "--no-color"], &path);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "[t] ok 2.00ms\n");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "sentinel: {}: skipped 3 record(s) whose duration_ms is not a number\n",
            path.display()
        )
    );
}

// regression: issue #15
#[test]
fn issue_15_a_duration_of_nan_or_infinity_is_not_a_number_for_tail_nor_stats() {
    let (_dir, path) = fixture(&[
        r#"{"function":"nan","duration_ms":"NaN"}"#,
        r#"{"function":"inf","duration_ms":"inf"}"#,
        r#"{"function":"neg","duration_ms":" -Infinity "}"#,
        r#"{"function":"ok","duration_ms":" 2 "}"#,
    ]);
    let out = sentinel(&["tail", "--no-color"], &path);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "ok 2.00ms\n");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "sentinel: {}: skipped 3 record(s) whose duration_ms is not a number\n",
            path.display()
        )
    );
    let out = sentinel(&["stats", "--format", "csv"], &path);
    assert!(out.status.success(), "{out:?}");
    let csv = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(names, ["ok"], "{csv}");
}

// regression: issue #15
#[test]
fn issue_15_a_byte_order_mark_does_not_cost_the_first_record() {
    // Windows tools start UTF-8 text with EF BB BF.
    let text = format!("\u{feff}{}{}", named("first"), named("second"));
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("bom.jsonl");
    fs::write(&plain, &text).unwrap();
    let packed = dir.path().join("bom.jsonl.gz");
    fs::write(&packed, gzip(&text)).unwrap();
    for path in [&plain, &packed] {
        let out = sentinel(&["tail"], path);
        assert_eq!(stdout_of(&out), "first 1.00ms\nsecond 1.00ms\n", "{path:?}");
        assert!(out.stderr.is_empty(), "{out:?}");
        let out = sentinel(&["stats", "--format", "csv", "--sort", "name"], path);
        let csv = stdout_of(&out);
        let names: Vec<&str> = csv
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .collect();
        assert_eq!(names, ["first", "second"], "{path:?}");
    }
}

#[test]
fn invalid_utf8_is_replaced_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.jsonl");
    let mut bytes = b"{\"function\":\"caf".to_vec();
    bytes.extend_from_slice(&[0xff, 0xfe]);
    bytes.extend_from_slice(b"\",\"duration_ms\":1,\"status\":\"success\"}\n\xff\xff\n");
    fs::write(&path, bytes).unwrap();
    let out = sentinel(&["tail", "--no-color"], &path);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "caf\u{fffd}\u{fffd} 1.00ms success\n"
    );
}

#[test]
fn control_characters_cannot_break_lines() {
    let out = tail(
        &[],
        &[r#"{"function":"two\nlines\u001b[2J","duration_ms":1,"status":"success"}"#],
    );
    assert_eq!(out, "two\\nlines\\u{1b}[2J 1.00ms success\n");
}

#[test]
fn huge_lines_are_skipped_with_a_note() {
    let huge = format!(
        r#"{{"function":"huge","tags":{{"blob":"{}"}}}}"#,
        "x".repeat(3 << 20)
    );
    let (_dir, path) = fixture(&[
        &huge,
        r#"{"function":"after","duration_ms":1,"status":"success"}"#,
    ]);
    let out = sentinel(&["tail", "--no-color"], &path);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "after 1.00ms success\n"
    );
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "sentinel: {}: skipped 1 line(s) longer than 1048576 bytes\n",
            path.display()
        )
    );
}

#[test]
fn last_line_without_newline_is_printed() {
    let (_dir, path) = fixture(&[]);
    fs::write(&path, r#"{"function":"last","duration_ms":1}"#).unwrap();
    let out = sentinel(&["tail", "--no-color"], &path);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "last 1.00ms\n");
}

#[test]
fn broken_pipe_exits_quietly() {
    let line = r#"{"timestamp":"2026-11-22T01:02:03.456789+00:00","function":"checkout","duration_ms":12.345,"status":"success","trace_id":"9f86d081884c7d65"}"#;
    let lines = vec![line; 200_000];
    let (_dir, path) = fixture(&lines);
    let mut child = Command::new(BIN)
        .args(["tail", "--no-color"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.contains("checkout 12.35ms success"), "{first}");
    drop(stdout); // like `| head -1`
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");
}

// regression: issue #15
#[test]
fn issue_15_a_closed_stderr_does_not_turn_an_error_into_a_panic() {
    // `sentinel tail ... 2>&1 | head -1`: the reader may be gone when a note comes.
    let (_dir, path) = fixture(&["garbage", r#"{"function":"f","duration_ms":1}"#]);
    let missing = path.with_file_name("missing.jsonl");
    for (file, code) in [(&path, 0), (&missing, 1)] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(BIN)
            .args(["tail", "--no-color"])
            .arg(file)
            .stderr(writer)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{file:?}: {out:?}");
    }
    // `report` and `export` say what they did on stderr too.
    let page = path.with_file_name("report.html");
    let folded = path.with_file_name("folded.txt");
    for args in [
        vec![
            "report".as_ref(),
            path.as_os_str(),
            "-o".as_ref(),
            page.as_os_str(),
        ],
        vec![
            "export".as_ref(),
            "--format".as_ref(),
            "folded".as_ref(),
            path.as_os_str(),
            "-o".as_ref(),
            folded.as_os_str(),
        ],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(BIN)
            .args(&args)
            .stderr(writer)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
    }
}

// === colour ===

#[test]
fn no_color_when_stdout_is_not_a_terminal() {
    let (_dir, path) = fixture(&[r#"{"function":"f","duration_ms":1,"status":"success"}"#]);
    let out = sentinel(&["tail"], &path);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "f 1.00ms success\n");
}

/// Runs `sentinel tail` with stdout on a pseudo-terminal and returns what it printed.
fn tail_on_terminal(extra: &[&str], no_color_env: Option<&str>) -> String {
    use std::os::fd::{FromRawFd, OwnedFd};
    let (_dir, path) = fixture(&[r#"{"function":"f","duration_ms":1,"status":"success"}"#]);
    let (mut master, mut slave) = (0, 0);
    // SAFETY: out-pointers are valid; name, termios and winsize may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty returned two fresh descriptors that we now own.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut cmd = Command::new(BIN);
    cmd.arg("tail").args(extra).arg(&path).stdout(slave);
    match no_color_env {
        Some(v) => cmd.env("NO_COLOR", v),
        None => cmd.env_remove("NO_COLOR"),
    };
    let status = cmd.status().unwrap();
    // The command still holds the slave end; the master only reports EOF once all are closed.
    drop(cmd);
    assert!(status.success());
    let mut out = Vec::new();
    // Reading the master ends with EIO once the slave is closed.
    let _ = File::from(master).read_to_end(&mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn colour_on_a_terminal() {
    let out = tail_on_terminal(&[], None);
    assert_eq!(
        out, "\x1b[1mf\x1b[0m 1.00ms \x1b[32msuccess\x1b[0m\r\n",
        "{out:?}"
    );
}

#[test]
fn no_color_env_disables_colour_on_a_terminal() {
    assert_eq!(tail_on_terminal(&[], Some("1")), "f 1.00ms success\r\n");
}

#[test]
fn no_color_flag_disables_colour_on_a_terminal() {
    assert_eq!(
        tail_on_terminal(&["--no-color"], None),
        "f 1.00ms success\r\n"
    );
}

// === tree mode (test_cli.py) ===

#[test]
fn tree_renders_root_and_children_with_box_chars() {
    let out = tail(&["--tree"], &three_span_trace());
    assert_eq!(
        out,
        "trace t1\n\
         root 3.00ms success\n\
         └─ mid 2.00ms success\n\
         \x20  └─ leaf 1.00ms success\n"
    );
}

#[test]
fn tree_drops_timestamp_in_node_lines() {
    let out = tail(&["--tree"], &three_span_trace());
    assert!(!out.contains("2026-04-30T00:00:00"), "{out}");
}

#[test]
fn tree_separates_independent_traces() {
    let out = tail(
        &["--tree"],
        &[
            r#"{"timestamp":"t1","function":"a_root","duration_ms":1.0,"status":"success","trace_id":"A","span_id":"sa","parent_span_id":null}"#,
            r#"{"timestamp":"t2","function":"b_root","duration_ms":1.0,"status":"success","trace_id":"B","span_id":"sb","parent_span_id":null}"#,
        ],
    );
    assert_eq!(
        out,
        "[A] a_root 1.00ms success\n[B] b_root 1.00ms success\n"
    );
}

#[test]
fn tree_reads_16_and_32_digit_trace_ids_alike() {
    // Format version 1 files hold 16-digit trace ids, version 2 files 32.
    let out = tail(
        &["--tree"],
        &[
            r#"{"timestamp":"t1","function":"old_leaf","duration_ms":1.0,"status":"success","trace_id":"9f86d081884c7d65","span_id":"2c26b46b68ffc68f","parent_span_id":"0123456789abcdef"}"#,
            r#"{"timestamp":"t2","function":"old_root","duration_ms":2.0,"status":"success","trace_id":"9f86d081884c7d65","span_id":"0123456789abcdef","parent_span_id":null}"#,
            r#"{"timestamp":"t3","function":"new_leaf","duration_ms":1.0,"status":"success","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","parent_span_id":"b7ad6b7169203331"}"#,
            r#"{"timestamp":"t4","function":"new_root","duration_ms":2.0,"status":"success","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"b7ad6b7169203331","parent_span_id":null}"#,
        ],
    );
    assert_eq!(
        out,
        "trace 9f86d081\n\
         old_root 2.00ms success\n\
         └─ old_leaf 1.00ms success\n\
         trace 4bf92f35\n\
         new_root 2.00ms success\n\
         └─ new_leaf 1.00ms success\n"
    );
}

#[test]
fn tree_renders_two_siblings_under_root() {
    let out = tail(
        &["--tree"],
        &[
            r#"{"timestamp":"2026-04-30T00:00:00.001Z","function":"child_a","duration_ms":1.0,"status":"success","trace_id":"t","span_id":"c1","parent_span_id":"r"}"#,
            r#"{"timestamp":"2026-04-30T00:00:00.002Z","function":"child_b","duration_ms":1.0,"status":"success","trace_id":"t","span_id":"c2","parent_span_id":"r"}"#,
            r#"{"timestamp":"2026-04-30T00:00:00.003Z","function":"root","duration_ms":1.0,"status":"success","trace_id":"t","span_id":"r","parent_span_id":null}"#,
        ],
    );
    assert_eq!(
        out,
        "trace t\nroot 1.00ms success\n├─ child_a 1.00ms success\n└─ child_b 1.00ms success\n"
    );
}

#[test]
fn tree_draws_vertical_bars_for_open_siblings() {
    let out = tail(
        &["--tree"],
        &[
            r#"{"timestamp":"2026-04-30T00:00:00.002Z","function":"a1","duration_ms":1,"trace_id":"t","span_id":"a1","parent_span_id":"a"}"#,
            r#"{"timestamp":"2026-04-30T00:00:00.003Z","function":"a","duration_ms":3,"trace_id":"t","span_id":"a","parent_span_id":"r"}"#,
            r#"{"timestamp":"2026-04-30T00:00:00.005Z","function":"b","duration_ms":1,"trace_id":"t","span_id":"b","parent_span_id":"r"}"#,
            r#"{"timestamp":"2026-04-30T00:00:00.006Z","function":"r","duration_ms":6,"trace_id":"t","span_id":"r"}"#,
        ],
    );
    assert_eq!(
        out,
        "trace t\nr 6.00ms\n├─ a 3.00ms\n│  └─ a1 1.00ms\n└─ b 1.00ms\n"
    );
}

#[test]
fn tree_orders_children_by_start_time() {
    // `early` starts first but ends last, so it is logged after `late_start`.
    let out = tail(
        &["--tree"],
        &[
            r#"{"timestamp":"2026-11-22T01:00:00.050+00:00","function":"late_start","duration_ms":10,"trace_id":"t","span_id":"b","parent_span_id":"r"}"#,
            r#"{"timestamp":"2026-11-22T02:00:00.090+01:00","function":"early","duration_ms":80,"trace_id":"t","span_id":"a","parent_span_id":"r"}"#,
            r#"{"timestamp":"2026-11-22T01:00:00.100Z","function":"root","duration_ms":100,"trace_id":"t","span_id":"r"}"#,
        ],
    );
    assert_eq!(
        out,
        "trace t\nroot 100.00ms\n├─ early 80.00ms\n└─ late_start 10.00ms\n"
    );
}

#[test]
fn tree_orphans_are_printed_at_end_of_file() {
    let out = tail(
        &["--tree"],
        &[
            r#"{"timestamp":"ts","function":"orphan_child","duration_ms":1.0,"status":"success","trace_id":"orphan","span_id":"c","parent_span_id":"missing_root"}"#,
            r#"{"function":"solo","trace_id":"done"}"#,
            r#"{"function":"second_orphan","trace_id":"other","span_id":"d","parent_span_id":"x"}"#,
            r#"{"function":"grandchild","trace_id":"orphan","span_id":"g","parent_span_id":"c"}"#,
        ],
    );
    assert_eq!(
        out,
        "[done] solo 0.00ms\n\
         trace orphan (incomplete)\n\
         └─ orphan_child 1.00ms success\n\
         \x20  └─ grandchild 0.00ms\n\
         trace other (incomplete)\n\
         └─ second_orphan 0.00ms\n"
    );
}

#[test]
fn tree_gives_up_on_a_trace_past_its_memory_cap_and_says_so() {
    // One trace whose root comes after 40,000 children: more than the 8 MiB a trace may
    // hold in tree mode.
    let mut lines: Vec<String> = (0..40_000)
        .map(|i| {
            format!(r#"{{"function":"c{i}","duration_ms":1,"trace_id":"big","span_id":"s{i}","parent_span_id":"r"}}"#)
        })
        .collect();
    lines.push(r#"{"function":"root","duration_ms":9,"trace_id":"big","span_id":"r"}"#.to_owned());
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (_dir, path) = fixture(&refs);
    let out = sentinel(&["tail", "--tree", "--no-color"], &path);
    let text = stdout_of(&out);
    let mut printed = text.lines();
    assert_eq!(
        printed.next(),
        Some("trace big (gave up waiting for the root: buffer full)")
    );
    assert_eq!(text.lines().last(), Some("[big] (late) root 9.00ms"));
    // Every record is printed once, in the given-up tree or late.
    assert_eq!(
        text.lines().filter(|l| l.contains(" 1.00ms")).count(),
        40_000
    );
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "sentinel: gave up waiting for the root of 1 trace(s) and printed them early: \
         tree mode buffers at most 8 MiB per trace and 64 MiB in all\n"
    );
}

#[test]
fn tree_record_after_root_is_shown_late() {
    let out = tail(
        &["--tree"],
        &[
            r#"{"function":"child","duration_ms":1,"status":"success","trace_id":"9f86d081884c7d65","span_id":"c","parent_span_id":"r"}"#,
            r#"{"function":"root","duration_ms":2,"status":"success","trace_id":"9f86d081884c7d65","span_id":"r"}"#,
            r#"{"function":"spawned","duration_ms":5,"status":"success","trace_id":"9f86d081884c7d65","span_id":"s","parent_span_id":"r"}"#,
        ],
    );
    assert_eq!(
        out,
        "trace 9f86d081\n\
         root 2.00ms success\n\
         └─ child 1.00ms success\n\
         [9f86d081] (late) spawned 5.00ms success\n"
    );
}

#[test]
fn tree_records_without_trace_id_print_flat_at_once() {
    let out = tail(
        &["--tree"],
        &[
            r#"{"function":"child","trace_id":"t","span_id":"c","parent_span_id":"r"}"#,
            r#"{"timestamp":"ts","function":"legacy","duration_ms":1.0,"status":"success"}"#,
            r#"{"function":"root","trace_id":"t","span_id":"r"}"#,
        ],
    );
    assert_eq!(
        out,
        "ts legacy 1.00ms success\ntrace t\nroot 0.00ms\n└─ child 0.00ms\n"
    );
}

#[test]
fn tree_single_span_uses_inline_prefix_not_header() {
    let out = tail(
        &["--tree"],
        &[
            r#"{"timestamp":"ts","function":"solo","duration_ms":1.0,"status":"success","trace_id":"abcdef0123456789","span_id":"s","parent_span_id":null}"#,
        ],
    );
    assert_eq!(out, "[abcdef01] solo 1.00ms success\n");
}

#[test]
fn tree_renders_errored_span_with_message() {
    let out = tail(
        &["--tree"],
        &[
            r#"{"timestamp":"ts","function":"fail","duration_ms":1.0,"status":"error","error":"kaboom!","error_type":"ValueError","trace_id":"t","span_id":"s","parent_span_id":null}"#,
        ],
    );
    assert_eq!(out, "[t] fail 1.00ms error (kaboom!)\n");
}

#[test]
fn tree_renders_tags_on_nodes() {
    let out = tail(
        &["--tree"],
        &[
            r#"{"timestamp":"ts","function":"f","duration_ms":1.0,"status":"success","trace_id":"t","span_id":"s","parent_span_id":null,"tags":{"k":"v"}}"#,
        ],
    );
    assert_eq!(out, "[t] f 1.00ms success [k=v]\n");
}

#[test]
fn tree_skips_blank_lines() {
    let out = tail(
        &["--tree"],
        &[
            "",
            "   ",
            r#"{"function": "after_blanks", "duration_ms": 1, "status": "success", "trace_id": "t", "span_id": "s", "parent_span_id": null}"#,
        ],
    );
    assert_eq!(out, "[t] after_blanks 1.00ms success\n");
}

#[test]
fn tree_keeps_spans_whose_parent_never_arrived() {
    let out = tail(
        &["--tree"],
        &[
            r#"{"function":"lost","trace_id":"t","span_id":"l","parent_span_id":"gone"}"#,
            r#"{"function":"root","trace_id":"t","span_id":"r"}"#,
        ],
    );
    assert_eq!(out, "trace t\nroot 0.00ms\nlost 0.00ms\n");
}

// === inputs ===

/// Runs `sentinel ARGS` with no colour and returns its output.
fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

fn stdout_of(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn named(name: &str) -> String {
    format!(r#"{{"function":"{name}","duration_ms":1}}"#) + "\n"
}

fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

fn zstd(text: &str) -> Vec<u8> {
    zstd::encode_all(text.as_bytes(), 1).unwrap()
}

/// A folder as the rotating writer leaves it: three rotated segments (gzip, zstd, plain),
/// the live file, and a file that is not a segment.
fn rotated_folder() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    fs::write(p("app.jsonl"), named("live")).unwrap();
    fs::write(p("app.2026-12-02T06-30-00Z.000003.jsonl"), named("third")).unwrap();
    fs::write(
        p("app.2026-12-01T23-00-00Z.000001.jsonl.gz"),
        gzip(&named("first")),
    )
    .unwrap();
    fs::write(
        p("app.2026-12-02T06-30-00Z.000002.jsonl.zst"),
        zstd(&named("second")),
    )
    .unwrap();
    fs::write(p("README.txt"), "not a log\n").unwrap();
    dir
}

#[test]
fn reads_a_folder_oldest_segment_first_and_the_live_file_last() {
    let dir = rotated_folder();
    let out = run(&["tail", dir.path().to_str().unwrap()]);
    assert_eq!(
        stdout_of(&out),
        "first 1.00ms\nsecond 1.00ms\nthird 1.00ms\nlive 1.00ms\n"
    );
    assert!(out.stderr.is_empty(), "{out:?}");
}

#[test]
fn a_segment_caught_while_being_compressed_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let seg = dir.path().join("app.2026-12-02T06-30-00Z.000001.jsonl");
    fs::write(&seg, named("once")).unwrap();
    fs::write(seg.with_extension("jsonl.gz"), gzip(&named("once"))).unwrap();
    assert_eq!(
        stdout_of(&run(&["tail", dir.path().to_str().unwrap()])),
        "once 1.00ms\n"
    );
}

#[test]
fn reads_a_quoted_glob_in_segment_order() {
    let dir = rotated_folder();
    let pattern = format!("{}/app.2026-12-02*", dir.path().display());
    assert_eq!(
        stdout_of(&run(&["tail", &pattern])),
        "second 1.00ms\nthird 1.00ms\n"
    );
}

#[test]
fn reads_several_paths_in_the_order_given() {
    let dir = rotated_folder();
    let live = dir.path().join("app.jsonl");
    let gz = dir.path().join("app.2026-12-01T23-00-00Z.000001.jsonl.gz");
    assert_eq!(
        stdout_of(&run(&[
            "tail",
            live.to_str().unwrap(),
            gz.to_str().unwrap()
        ])),
        "live 1.00ms\nfirst 1.00ms\n"
    );
}

#[test]
fn reads_stdin_given_as_dash_compressed_or_not() {
    for input in [
        named("piped").into_bytes(),
        gzip(&named("piped")),
        zstd(&named("piped")),
    ] {
        let mut child = Command::new(BIN)
            .args(["tail", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(stdout_of(&out), "piped 1.00ms\n");
    }
}

#[test]
fn a_glob_matching_nothing_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = format!("{}/*.jsonl", dir.path().display());
    let out = run(&["tail", &pattern]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!("sentinel: {pattern}: no file matches this pattern\n")
    );
}

#[test]
fn a_binary_file_is_an_error_naming_it() {
    let (_dir, path) = fixture(&[]);
    fs::write(&path, b"\x7fELF\x02\x01\x01\x00\x00\x00\n\x00\x00").unwrap();
    let out = sentinel(&["tail"], &path);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        format!(
            "sentinel: {}: binary file, not JSONL; skipped\n",
            path.display()
        )
    );
}

// regression: issue #15
#[test]
fn issue_15_a_corrupt_segment_is_reported_and_the_rest_of_the_folder_is_read() {
    let dir = rotated_folder();
    // A gzip segment cut short (a copy that did not finish): its header is fine, its
    // stream ends early.
    let corrupt = dir.path().join("app.2026-12-02T00-00-00Z.000001.jsonl.gz");
    let whole = gzip(&named("lost").repeat(50));
    fs::write(&corrupt, &whole[..whole.len() / 2]).unwrap();
    let folder = dir.path().to_str().unwrap();

    let out = run(&["tail", folder]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split(' ').next())
        .filter(|n| *n != "lost")
        .collect();
    assert_eq!(names, ["first", "second", "third", "live"], "{text}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("sentinel: {}: ", corrupt.display())),
        "{err}"
    );

    let out = run(&["stats", "--json", folder]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut names: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["name"].as_str())
        .filter(|n| *n != "lost")
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["first", "live", "second", "third"], "{rows:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("sentinel: {}: ", corrupt.display())),
        "{err}"
    );
}

#[test]
fn a_file_without_any_record_is_an_error_naming_it() {
    let (_dir, path) = fixture(&["# a config file", "key = value", "[1, 2]"]);
    for cmd in ["tail", "stats"] {
        let out = sentinel(&[cmd], &path);
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        assert_eq!(
            String::from_utf8(out.stderr).unwrap(),
            format!(
                "sentinel: {}: not a sentinel JSONL file: none of its 3 line(s) is a JSON object\n",
                path.display()
            ),
            "{cmd}"
        );
    }
}

#[test]
fn no_input_and_bad_flag_values_are_one_line_errors() {
    let out = run(&["tail"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "sentinel: no input: give a log file, a folder, a glob, or - for stdin\n"
    );
    let (_dir, path) = fixture(&[]);
    for (flag, value) in [
        ("--since", "yesterday"),
        ("--min-ms", "fast"),
        ("--tag", "route"),
    ] {
        let out = sentinel(&["tail", flag, value], &path);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("sentinel: invalid value"), "{err}");
        assert!(err.contains(flag) && err.contains(value), "{err}");
    }
}

// regression: issue #15
#[test]
fn issue_15_a_negative_flag_value_is_a_one_line_error_naming_the_flag() {
    let (_dir, path) = fixture(&[]);
    for (cmd, flag, value) in [
        ("tail", "--min-ms", "-1"),
        ("tail", "--last", "-3"),
        ("tail", "--since", "-5m"),
        ("tail", "--until", "-1h"),
        ("stats", "--top", "-1"),
    ] {
        let out = sentinel(&[cmd, flag, value], &path);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("sentinel: invalid value"), "{err}");
        assert!(err.contains(flag) && err.contains(value), "{err}");
    }
}

// === filters ===

/// RFC 3339 for `secs_ago` seconds before now, as the writer writes timestamps.
fn ago(secs_ago: u64) -> String {
    let t = std::time::SystemTime::now() - Duration::from_secs(secs_ago);
    let t = time::OffsetDateTime::from(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// Five spans of three traces, of different names, statuses, durations, tags and ages.
fn varied() -> Vec<String> {
    vec![
        format!(
            r#"{{"timestamp":"{}","function":"checkout","duration_ms":120,"status":"success","trace_id":"aaaa1111","span_id":"a1","tags":{{"route":"/buy","code":200}}}}"#,
            ago(3 * 3600)
        ),
        format!(
            r#"{{"timestamp":"{}","function":"charge","duration_ms":30,"status":"error","error":"declined","trace_id":"bbbb2222","span_id":"b2","parent_span_id":"b1","tags":{{"route":"/buy","code":402}}}}"#,
            ago(600)
        ),
        format!(
            r#"{{"timestamp":"{}","function":"checkout","duration_ms":45,"status":"error","trace_id":"bbbb2222","span_id":"b1","tags":{{"route":"/buy","code":402}}}}"#,
            ago(599)
        ),
        format!(
            r#"{{"timestamp":"{}","function":"search","duration_ms":900,"status":"success","slow":true,"trace_id":"cccc3333","span_id":"c1","tags":{{"route":"/find"}}}}"#,
            ago(60)
        ),
        format!(
            r#"{{"timestamp":"{}","function":"ping","duration_ms":0.5,"status":"cancelled","trace_id":"cccc4444","span_id":"d1"}}"#,
            ago(30)
        ),
    ]
}

/// The names `tail` prints for the varied log with `args`, in order.
fn names_with(args: &[&str]) -> Vec<String> {
    let lines = varied();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (_dir, path) = fixture(&lines);
    let mut all = vec!["tail"];
    all.extend_from_slice(args);
    let out = sentinel(&all, &path);
    stdout_of(&out)
        .lines()
        .map(|l| l.split(' ').nth(2).unwrap().to_owned())
        .collect()
}

#[test]
fn each_filter_keeps_only_matching_records() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["--trace", "bbbb"], &["charge", "checkout"]),
        (&["--trace", "cccc3"], &["search"]),
        (&["--name", "check"], &["checkout", "checkout"]),
        (&["--name", "c*e"], &["charge"]),
        (&["--status", "error"], &["charge", "checkout"]),
        (
            &["--status", "cancelled,success"],
            &["checkout", "search", "ping"],
        ),
        (&["--slow"], &["search"]),
        (&["--min-ms", "45"], &["checkout", "checkout", "search"]),
        (
            &["--tag", "route=/buy"],
            &["checkout", "charge", "checkout"],
        ),
        (
            &["--tag", "route=/buy", "--tag", "code=402"],
            &["charge", "checkout"],
        ),
        (
            &["--since", "15m"],
            &["charge", "checkout", "search", "ping"],
        ),
        (&["--until", "2m"], &["checkout", "charge", "checkout"]),
        (
            &["--since", "1h", "--until", "45s"],
            &["charge", "checkout", "search"],
        ),
        (&["-n", "2"], &["search", "ping"]),
        (&["--status", "error", "-n", "1"], &["checkout"]),
    ];
    for (args, want) in cases {
        assert_eq!(names_with(args), *want, "{args:?}");
    }
}

// regression: issue #15
#[test]
fn issue_15_a_boolean_tag_matches_as_tail_prints_it_and_as_json_writes_it() {
    let (_dir, path) = fixture(&[
        r#"{"function":"hit","duration_ms":1,"tags":{"cached":true}}"#,
        r#"{"function":"miss","duration_ms":1,"tags":{"cached":false}}"#,
    ]);
    // tail prints `[cached=True]`: what a user copies into the filter.
    assert!(stdout_of(&sentinel(&["tail"], &path)).contains("hit 1.00ms [cached=True]"));
    for value in ["cached=True", "cached=true"] {
        let out = stdout_of(&sentinel(&["tail", "--tag", value], &path));
        assert_eq!(out, "hit 1.00ms [cached=True]\n", "{value}");
    }
    let out = stdout_of(&sentinel(&["tail", "--tag", "cached=False"], &path));
    assert_eq!(out, "miss 1.00ms [cached=False]\n");
}

#[test]
fn since_takes_rfc_3339_too() {
    let since = ago(120);
    assert_eq!(names_with(&["--since", &since]), ["search", "ping"]);
}

#[test]
fn json_prints_the_matching_records_as_they_are() {
    let lines = varied();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (_dir, path) = fixture(&refs);
    let out = sentinel(&["tail", "--json", "--status", "error"], &path);
    assert_eq!(stdout_of(&out), format!("{}\n{}\n", lines[1], lines[2]));
}

#[test]
fn tree_with_a_filter_shows_the_whole_trace_of_each_match() {
    let lines = varied();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (_dir, path) = fixture(&refs);
    let out = stdout_of(&sentinel(&["tail", "--tree", "--name", "charge"], &path));
    assert_eq!(
        out,
        "trace bbbb2222\ncheckout 45.00ms error [route=/buy code=402]\n\
         └─ charge 30.00ms error (declined) [route=/buy code=402]\n"
    );
    let json = stdout_of(&sentinel(
        &["tail", "--tree", "--json", "--name", "charge"],
        &path,
    ));
    assert_eq!(json, format!("{}\n{}\n", lines[1], lines[2]));
}

#[test]
fn tree_with_last_n_shows_the_last_n_traces() {
    let lines = varied();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (_dir, path) = fixture(&refs);
    let out = stdout_of(&sentinel(&["tail", "--tree", "-n", "2"], &path));
    assert_eq!(
        out,
        "[cccc3333] search 900.00ms success SLOW [route=/find]\n[cccc4444] ping 0.50ms cancelled\n"
    );
}

// === follow mode ===

/// A running `sentinel tail -f` whose stdout lines arrive on a channel.
struct Followed {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Followed {
    fn spawn(args: &[&str], path: &Path) -> Followed {
        Followed::spawn_as("--follow", args, path)
    }

    /// Like [`Followed::spawn`], following by `flag` (`--follow`, `-f` or `-F`).
    fn spawn_as(flag: &str, args: &[&str], path: &Path) -> Followed {
        let mut child = Command::new(BIN)
            .args(["tail", flag, "--no-color"])
            .args(args)
            .arg(path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                if tx.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        Followed {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until `want` is printed; fails on timeout, on exit, or on an unexpected line.
    fn expect(&mut self, want: &str) {
        let deadline = Instant::now() + FOLLOW_TIMEOUT;
        let left = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(line) => {
                self.seen.push(line.clone());
                assert_eq!(line, want, "output so far: {:#?}", self.seen);
            }
            Err(e) => panic!("waiting for {want:?}: {e}; output so far: {:#?}", self.seen),
        }
    }

    /// Waits for the next line, whatever it is.
    fn next_line(&mut self) -> String {
        match self.lines.recv_timeout(FOLLOW_TIMEOUT) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(e) => panic!("waiting for a line: {e}; output so far: {:#?}", self.seen),
        }
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: plain kill(2) on our own child's pid.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0);
    }

    /// Waits for exit and returns every line printed after the last `expect`.
    fn finish(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let status = self.child.wait().unwrap();
        let rest = self.lines.iter().collect();
        (status, rest)
    }
}

impl Drop for Followed {
    /// A failed test must not leave its `tail -f` running (it would hold the test's
    /// output open).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn append(path: &Path, line: &str) {
    let mut f = OpenOptions::new().append(true).open(path).unwrap();
    writeln!(f, "{line}").unwrap();
}

#[test]
fn follow_prints_appended_lines_and_stops_on_sigint() {
    let (_dir, path) = fixture(&[r#"{"function":"first","duration_ms":1}"#]);
    let mut tail = Followed::spawn(&[], &path);
    tail.expect("first 1.00ms");
    append(&path, r#"{"function":"second","duration_ms":2}"#);
    tail.expect("second 2.00ms");
    // A line written in two parts is printed once, whole.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(br#"{"function":"thi"#).unwrap();
    f.flush().unwrap();
    f.write_all(b"rd\",\"duration_ms\":3}\n").unwrap();
    tail.expect("third 3.00ms");
    tail.signal(libc::SIGINT);
    let (status, rest) = tail.finish();
    assert!(status.success(), "{status:?}");
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn follow_survives_truncation_and_rotation_and_flushes_orphans_on_sigterm() {
    let padding = format!(
        r#"{{"function":"pad","trace_id":"t0","tags":{{"p":"{}"}}}}"#,
        "x".repeat(300)
    );
    let (dir, path) = fixture(&[&padding]);
    let mut tail = Followed::spawn(&["--tree"], &path);
    tail.expect(&format!("[t0] pad 0.00ms [p={}]", "x".repeat(300)));

    // Buffered until the end: its root never comes.
    append(
        &path,
        r#"{"function":"orphan","duration_ms":1,"status":"success","trace_id":"t2","span_id":"c","parent_span_id":"gone"}"#,
    );
    append(&path, r#"{"function":"before_truncate","trace_id":"t3"}"#);
    tail.expect("[t3] before_truncate 0.00ms");

    // Truncate and write less than was read, so the shrink is visible whenever it is polled.
    fs::write(
        &path,
        "{\"function\":\"after_truncate\",\"trace_id\":\"t4\"}\n",
    )
    .unwrap();
    tail.expect("[t4] after_truncate 0.00ms");

    // Rotate: the old file moves away, a new one takes its name.
    fs::rename(&path, dir.path().join("log.jsonl.1")).unwrap();
    fs::write(
        &path,
        "{\"function\":\"after_rotate\",\"trace_id\":\"t5\"}\n",
    )
    .unwrap();
    tail.expect("[t5] after_rotate 0.00ms");
    append(&path, r#"{"function":"appended","trace_id":"t6"}"#);
    tail.expect("[t6] appended 0.00ms");

    tail.signal(libc::SIGTERM);
    let (status, rest) = tail.finish();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        rest,
        ["trace t2 (incomplete)", "└─ orphan 1.00ms success"],
        "orphans must be printed on SIGTERM"
    );
}

#[test]
fn follow_waits_for_a_file_that_does_not_exist_yet() {
    // `-F`, as GNU tail spells "follow by name and wait for the file", is the same mode.
    for flag in ["--follow", "-f", "-F"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("later.jsonl");
        let mut tail = Followed::spawn_as(flag, &[], &path);
        fs::write(&path, named("born")).unwrap();
        tail.expect("born 1.00ms");
        append(&path, r#"{"function":"grown","duration_ms":2}"#);
        tail.expect("grown 2.00ms");
        tail.signal(libc::SIGINT);
        let (status, rest) = tail.finish();
        assert!(status.success(), "{flag}: {status:?}");
        assert!(rest.is_empty(), "{flag}: {rest:?}");
    }
}

#[test]
fn follow_a_folder_reads_its_segments_then_follows_the_live_file_across_a_rename() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    fs::write(
        dir.path().join("app.2026-12-02T06-00-00Z.000001.jsonl.gz"),
        gzip(&named("old")),
    )
    .unwrap();
    fs::write(&live, named("live1")).unwrap();
    let mut tail = Followed::spawn(&["-n", "5"], dir.path());
    tail.expect("old 1.00ms");
    tail.expect("live1 1.00ms");
    append(&live, r#"{"function":"live2","duration_ms":1}"#);
    tail.expect("live2 1.00ms");

    // Rotate as the writer does: rename the live file, which its last writer may still
    // finish, then start a new live file.
    let rotated = dir.path().join("app.2026-12-02T07-00-00Z.000002.jsonl");
    fs::rename(&live, &rotated).unwrap();
    append(&rotated, r#"{"function":"last_of_old","duration_ms":1}"#);
    fs::write(&live, named("new1")).unwrap();
    tail.expect("last_of_old 1.00ms");
    tail.expect("new1 1.00ms");
    append(&live, r#"{"function":"new2","duration_ms":1}"#);
    tail.expect("new2 1.00ms");

    tail.signal(libc::SIGINT);
    let (status, rest) = tail.finish();
    assert!(status.success(), "{status:?}");
    assert!(rest.is_empty(), "nothing repeated: {rest:?}");
}

#[test]
fn follow_with_last_n_prints_the_last_n_then_what_comes() {
    let (_dir, path) = fixture(&[
        r#"{"function":"a","duration_ms":1}"#,
        r#"{"function":"b","duration_ms":1}"#,
        r#"{"function":"c","duration_ms":1}"#,
    ]);
    let mut tail = Followed::spawn(&["-n", "1"], &path);
    tail.expect("c 1.00ms");
    append(&path, r#"{"function":"d","duration_ms":1}"#);
    tail.expect("d 1.00ms");
    tail.signal(libc::SIGTERM);
    let (status, rest) = tail.finish();
    assert!(status.success(), "{status:?}");
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn follow_keeps_up_with_the_writers_own_rotation() {
    use sentinel::rotation::Compression;
    use sentinel::{AsyncLogger, SentinelConfig};

    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.jsonl");
    let logger = AsyncLogger::new(
        SentinelConfig::new(&live)
            .rotate_bytes(1024)
            .compress(Compression::Gzip),
    )
    .unwrap();
    let log = |range: std::ops::Range<u64>| {
        for n in range {
            let record = serde_json::json!({"function": format!("r{n}"), "duration_ms": 1, "pad": "x".repeat(40)});
            assert!(logger.log(record));
        }
        assert!(logger.flush_blocking(FOLLOW_TIMEOUT));
    };
    // Already rotated (and compressed, or being compressed) before the tail starts.
    log(0..40);
    let mut tail = Followed::spawn(&["--json"], dir.path());
    let mut got = Vec::new();
    let expect_up_to = |tail: &mut Followed, end: u64, got: &mut Vec<u64>| {
        while got.last().is_none_or(|&n| n + 1 < end) {
            let line: serde_json::Value = serde_json::from_str(&tail.next_line()).unwrap();
            let name = line["function"].as_str().unwrap();
            got.push(name[1..].parse().unwrap());
        }
    };
    expect_up_to(&mut tail, 40, &mut got);
    // Rotations while it follows: a few records at a time, each batch flushed.
    for batch in 0..30 {
        log(40 + batch * 10..50 + batch * 10);
    }
    expect_up_to(&mut tail, 340, &mut got);
    assert!(logger.shutdown_blocking(FOLLOW_TIMEOUT));
    assert!(
        sentinel::rotation::segments(&live).unwrap().len() > 10,
        "the writer rotated"
    );
    assert_eq!(
        got,
        (0..340).collect::<Vec<u64>>(),
        "every record once, in order"
    );
    tail.signal(libc::SIGINT);
    let (status, rest) = tail.finish();
    assert!(status.success(), "{status:?}");
    assert!(rest.is_empty(), "nothing repeated: {rest:?}");
}

/// A drop marker as the writer writes it, between two spans.
const DROP_MARKER: &str = r#"{"timestamp":"2026-11-22T01:02:04.000000+00:00","status":"dropped","dropped":{"count":120,"reasons":{"stalled":120},"from":"2026-11-22T01:02:03.500000+00:00","to":"2026-11-22T01:02:04.000000+00:00"}}"#;

#[test]
fn shows_where_the_logger_dropped_records() {
    let [a, b, c] = three_span_trace();
    for mode in [&[][..], &["--tree"][..]] {
        let out = tail(mode, &[a, DROP_MARKER, b, c]);
        let line = out
            .lines()
            .find(|l| l.contains("dropped"))
            .unwrap_or_else(|| panic!("no drop line in {out}"));
        assert!(
            line.contains("! 120 records dropped by the logger (stalled 120)"),
            "{line}"
        );
        assert!(
            line.contains("from 2026-11-22T01:02:03.500000+00:00"),
            "{line}"
        );
    }
}
