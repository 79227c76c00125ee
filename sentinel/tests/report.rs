//! `sentinel report`, loaded in a real browser: headless Chromium (Debian's `chromium`, which
//! `.ci/install-chromium` installs) opens the page, and the page's own self-check (written
//! into `#selfcheck`) says whether it rendered, what it counted, and every JavaScript error.
//!
//! Without Chromium these tests print a notice and pass, except under CI (`CI` set), where
//! a missing browser fails them.

mod support;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_sentinel");
/// How long Chromium may take to load and dump a page.
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);

/// The Chromium binary, or `None` (with a notice) when it is missing outside CI.
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is missing under CI: .ci/install-chromium installs it");
        }
        // Straight to stderr: libtest captures `eprintln!` of passing tests, and this notice
        // must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: chromium is not installed, so the report was not checked in a browser \
             (run .ci/install-chromium, or apt-get install chromium)"
        );
    }
    found
}

/// Runs Chromium headless on `page` with `extra` arguments; returns its stdout.
fn browse(chromium: &Path, page: &Path, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    match rx.recv_timeout(BROWSER_DEADLINE) {
        Ok(text) => {
            assert!(child.wait().unwrap().success(), "chromium failed");
            text
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {BROWSER_DEADLINE:?}");
        }
    }
}

/// The page's self-check, from the DOM Chromium dumped.
fn self_check(dom: &str) -> Value {
    let start = dom
        .find("<pre id=\"selfcheck\"")
        .expect("a #selfcheck element");
    let text = &dom[start..];
    let text = &text[text.find('>').unwrap() + 1..text.find("</pre>").unwrap()];
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("self-check {text:?}: {e}"))
}

/// A span of the trace numbered `trace` (its id in 32 hex digits).
fn span(
    trace: u64,
    id: u64,
    parent: Option<u64>,
    name: &str,
    ms: (u64, u64),
    extra: &str,
) -> String {
    support::span_line(&format!("{trace:032x}"), id, parent, name, ms, extra)
}

fn failed(line: String) -> String {
    line.replace(r#""status":"success""#, r#""status":"error""#)
}

const HOSTILE: &str =
    r#"</script><img src=x onerror="document.documentElement.setAttribute('data-pwned','1')">"#;

/// Three traces: `checkout` with a failed `charge`; a slow `nightly-job`; and one whose
/// root has a hostile name and hostile tags. Plus a `log()` record and a malformed line.
fn fixture_lines() -> Vec<String> {
    vec![
        span(
            1,
            0x11,
            Some(0x10),
            "validate",
            (0, 5),
            r#""tags":{"order":7}"#,
        ),
        failed(span(
            1,
            0x12,
            Some(0x10),
            "charge",
            (10, 40),
            r#""error_type":"CardError","error":"card declined","tags":{"order":7}"#,
        )),
        failed(span(
            1,
            0x10,
            None,
            "checkout",
            (0, 50),
            r#""tags":{"order":7}"#,
        )),
        span(2, 0x21, Some(0x20), "load", (100, 900), ""),
        span(2, 0x20, None, "nightly-job", (100, 1100), r#""slow":true"#),
        span(
            3,
            0x30,
            None,
            HOSTILE,
            (2000, 2010),
            r#""tags":{"\"><svg onload=alert(1)>":"<b>bold</b>","u":"\u2028line"}"#,
        ),
        r#"{"timestamp":"2026-11-22T00:00:03.000000+00:00","event":"started"}"#.to_owned(),
        "{truncated".to_owned(),
    ]
}

fn report(lines: &[String]) -> (tempfile::TempDir, PathBuf) {
    let (dir, page, _) = report_with_stderr(lines);
    (dir, page)
}

/// Like [`report`], with what the command said on stderr.
fn report_with_stderr(lines: &[String]) -> (tempfile::TempDir, PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.jsonl");
    fs::write(&input, lines.join("\n") + "\n").unwrap();
    let page = dir.path().join("report.html");
    let out = Command::new(BIN)
        .arg("report")
        .arg(&input)
        .arg("-o")
        .arg(&page)
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{stderr}");
    (dir, page, stderr)
}

/// The data the page was written with (its `<script type="application/json">`).
fn page_data(page: &Path) -> Value {
    let html = fs::read_to_string(page).unwrap();
    let open = r#"<script type="application/json" id="data">"#;
    let start = html.find(open).expect("the page has its data") + open.len();
    let len = html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..start + len]).unwrap()
}

// regression: issue #15
#[test]
fn issue_15_a_duration_that_is_not_a_number_skips_the_record_and_the_page_says_so() {
    let mut lines = fixture_lines();
    lines.push(
        span(4, 0x40, None, "typo", (0, 10), "")
            .replace(r#""duration_ms":10"#, r#""duration_ms":"ten""#),
    );
    assert!(lines.last().unwrap().contains(r#""ten""#));
    let (_dir, page, stderr) = report_with_stderr(&lines);
    assert!(
        stderr.contains("app.jsonl: skipped 1 line(s) that are not records and 1 record(s) whose duration_ms is not a number"),
        "{stderr}"
    );
    let data = page_data(&page);
    let counts = &data["counts"];
    assert_eq!(counts["spans"], 6, "{counts}");
    assert_eq!(counts["mistyped"], 1, "{counts}");
    assert_eq!(counts["not_spans"], 1, "only the log() record: {counts}");
    assert!(!data["stats"].to_string().contains("typo"));
    assert!(!data["slowest"].to_string().contains("typo"));
    if let Some(chromium) = chromium() {
        let dom = browse(&chromium, &page, &["--dump-dom"]);
        assert!(
            dom.contains("1 records whose duration_ms is not a number skipped"),
            "the page's notes say so"
        );
    }
}

#[test]
fn the_page_is_self_contained() {
    let (_dir, page) = report(&fixture_lines());
    // The SVG namespace is a name, not something fetched.
    let html = fs::read_to_string(&page)
        .unwrap()
        .replace("\"http://www.w3.org/2000/svg\"", "");
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    for outside in [
        "http://", "https://", "src=\"", "href=\"", "@import", "url(",
    ] {
        assert!(!html.contains(outside), "the page refers to {outside}");
    }
    // The hostile name is in the file only as escaped JSON.
    assert!(!html.contains("</script><img"));
    assert!(html.contains(r"\u003c/script\u003e\u003cimg"));
}

#[test]
fn report_renders_in_headless_chromium_with_the_expected_counts() {
    let Some(chromium) = chromium() else { return };
    let (_dir, page) = report(&fixture_lines());
    let dom = browse(&chromium, &page, &["--dump-dom"]);
    let check = self_check(&dom);
    assert_eq!(check["errors"], serde_json::json!([]), "{check}");
    assert_eq!(check["rendered"], true, "{check}");
    assert_eq!(check["spans"], 6, "{check}");
    assert_eq!(check["stats_rows"], 6, "one row per name: {check}");
    assert_eq!(check["sort_ok"], true, "{check}");
    // Slowest: the three traces; failed: checkout.
    assert_eq!(check["waterfalls"], 4, "{check}");
    assert_eq!(check["bars"], 3 + 2 + 1 + 3, "{check}");
    // all, checkout, charge, validate, nightly-job, load, the hostile root.
    assert_eq!(check["flame_frames"], 7, "{check}");
    assert!(dom.contains("data-selfcheck=\"ok\""));
    assert!(dom.contains("card declined"));
    assert!(
        dom.contains("id=\"count-errors\">2</b>errors"),
        "the error count is shown"
    );
}

/// The self-check sees a page that breaks: the same report with its script failing halfway.
#[test]
fn a_page_whose_script_fails_is_reported_as_failed() {
    let Some(chromium) = chromium() else { return };
    let (dir, page) = report(&fixture_lines());
    let html = fs::read_to_string(&page).unwrap();
    let broken = html.replacen(
        "var countHeader",
        "throw new Error(\"boom\"); var countHeader",
        1,
    );
    assert_ne!(broken, html, "the script has the line to break");
    let page = dir.path().join("broken.html");
    fs::write(&page, broken).unwrap();
    let dom = browse(&chromium, &page, &["--dump-dom"]);
    let check = self_check(&dom);
    assert_eq!(check["rendered"], false, "{check}");
    assert!(
        check["errors"][0].as_str().unwrap().contains("boom"),
        "{check}"
    );
    assert!(dom.contains("data-selfcheck=\"failed\""));
}

#[test]
fn hostile_names_and_tags_stay_text_in_the_browser() {
    let Some(chromium) = chromium() else { return };
    let (_dir, page) = report(&fixture_lines());
    let dom = browse(&chromium, &page, &["--dump-dom"]);
    let check = self_check(&dom);
    assert_eq!(check["errors"], serde_json::json!([]), "{check}");
    assert_eq!(check["images"], 0, "no element was injected: {check}");
    assert!(!dom.contains("data-pwned=\"1\""), "injected script ran");
    assert!(!dom.contains("<img"), "injected markup became an element");
    assert!(
        !dom.contains("<svg onload"),
        "injected markup became an element"
    );
    assert!(
        dom.contains("&lt;/script&gt;&lt;img src=x onerror="),
        "the name is shown as text"
    );
}

#[test]
fn a_hundred_thousand_spans_are_capped_and_the_page_says_what_was_left_out() {
    let Some(chromium) = chromium() else { return };
    // 1,200 names (over the table's 1,000 rows); one trace of 700 spans (over a waterfall's
    // 500); 99,300 more spans in two-span traces.
    let mut lines = Vec::with_capacity(100_000);
    lines.push(span(1, 1, None, "big", (0, 60_000), ""));
    for i in 0..699u64 {
        lines.push(span(1, 2 + i, Some(1), "part", (i * 80, i * 80 + 40), ""));
    }
    for t in 0..49_650u64 {
        let root = 10_000 + 2 * t;
        let name = format!("op-{}", t % 1_200);
        lines.push(span(2 + t, root + 1, Some(root), "io", (t, t + 1), ""));
        lines.push(span(2 + t, root, None, &name, (t, t + 3), ""));
    }
    assert_eq!(lines.len(), 100_000);
    let (_dir, page) = report(&lines);
    let size = fs::metadata(&page).unwrap().len();
    assert!(size < 4 << 20, "the page stays small: {size} bytes");
    let dom = browse(&chromium, &page, &["--dump-dom"]);
    let check = self_check(&dom);
    assert_eq!(check["errors"], serde_json::json!([]), "{check}");
    assert_eq!(check["spans"], 100_000, "{check}");
    assert_eq!(check["stats_rows"], 1_000, "{check}");
    assert!(
        dom.contains("203 more names"),
        "the table says what it left out"
    );
    assert!(dom.contains("200 more spans of this trace are not drawn"));
}

#[test]
fn screenshot_of_a_report() {
    let Some(chromium) = chromium() else { return };
    let (_dir, page) = report(&fixture_lines());
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    let _ = fs::remove_file(&shot);
    browse(
        &chromium,
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,1000",
        ],
    );
    let png = fs::read(&shot).expect("chromium wrote the screenshot");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert_eq!((width, height), (1400, 1000));
    // A blank page compresses to a few kB; a drawn report does not.
    assert!(
        png.len() > 30_000,
        "the screenshot looks empty: {} bytes",
        png.len()
    );
    eprintln!("report screenshot: {}", shot.display());
}
