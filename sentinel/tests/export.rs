//! `sentinel export`, driven through the built binary, its output read by the real consumers:
//! `opentelemetry-proto` for OTLP/JSON (also over HTTP), `inferno` for folded stacks, and the
//! Trace Event Format's documented fields for the Chrome format.

mod support;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::Value;
use support::span_line as span;
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_sentinel");
/// 2026-11-22T00:00:00Z in Unix seconds: the fixture's time origin.
const ORIGIN_S: i64 = 1_795_305_600;
const TRACE_A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// A 64-bit trace id, as files written before 128-bit ids have them.
const TRACE_B: &str = "9f86d081884c7d65";

/// Trace A (128-bit id): `handle` 0..100 ms with tags of every JSON type; `db` 10..40 failed;
/// `parse` 15..25 under `db`; `cache` 50..60 cancelled. Trace B (64-bit id): `job` 200..230,
/// slow. Plus a `log()` record, a drop marker and a malformed line.
fn fixture_lines() -> Vec<String> {
    vec![
        span(TRACE_A, 4, Some(2), "parse", (15, 25), ""),
        span(
            TRACE_A,
            2,
            Some(1),
            "db",
            (10, 40),
            r#""error_type":"DbError","error":"timeout after 30 ms""#,
        )
        .replace(r#""status":"success""#, r#""status":"error""#),
        span(TRACE_A, 3, Some(1), "cache", (50, 60), "")
            .replace(r#""status":"success""#, r#""status":"cancelled""#),
        span(
            TRACE_A,
            1,
            None,
            "handle",
            (0, 100),
            r#""tags":{"user":42,"path":"/a","ratio":0.5,"ok":true,"none":null,"list":[1,"x"],"obj":{"k":"v"},"status":"tagged"}"#,
        ),
        r#"{"timestamp":"2026-11-22T00:00:00.150000+00:00","event":"started"}"#.to_owned(),
        r#"{"timestamp":"2026-11-22T00:00:00.160000+00:00","status":"dropped","dropped":{"count":7,"reasons":{"stalled":7},"from":"a","to":"b"}}"#.to_owned(),
        "{truncated".to_owned(),
        span(TRACE_B, 0xaa, None, "job", (200, 230), r#""cpu_time_ms":5.5,"slow":true"#),
    ]
}

fn fixture() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkout.jsonl");
    fs::write(&path, fixture_lines().join("\n") + "\n").unwrap();
    (dir, path)
}

fn export(args: &[&str], path: &Path) -> Output {
    let out = Command::new(BIN)
        .arg("export")
        .args(args)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn unix_ns(ms: i64) -> u64 {
    u64::try_from((ORIGIN_S * 1000 + ms) * 1_000_000).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every request of an OTLP/JSON export, decoded by `opentelemetry-proto`.
fn decode_lines(stdout: &[u8]) -> Vec<ExportTraceServiceRequest> {
    String::from_utf8(stdout.to_vec())
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("opentelemetry-proto rejects {l}: {e}"))
        })
        .collect()
}

/// The spans of decoded requests by name, with their service name.
fn spans_by_name(
    requests: &[ExportTraceServiceRequest],
) -> HashMap<String, (String, opentelemetry_proto::tonic::trace::v1::Span)> {
    let mut out = HashMap::new();
    for r in requests {
        for rs in &r.resource_spans {
            let service = rs
                .resource
                .as_ref()
                .unwrap()
                .attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    Any::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .expect("a service.name");
            for ss in &rs.scope_spans {
                assert_eq!(ss.scope.as_ref().unwrap().name, "sentinel");
                for s in &ss.spans {
                    out.insert(s.name.clone(), (service.clone(), s.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn otlp_json_lines_decode_with_opentelemetry_proto_with_ids_times_and_parents() {
    let (_dir, path) = fixture();
    let out = export(&["--format", "otlp-json", "--batch-spans", "2"], &path);
    let requests = decode_lines(&out.stdout);
    assert_eq!(requests.len(), 3, "5 spans in batches of 2");
    let spans = spans_by_name(&requests);
    assert_eq!(spans.len(), 5);

    let (service, handle) = &spans["handle"];
    assert_eq!(service, "checkout", "service.name from the file name");
    assert_eq!(hex(&handle.trace_id), TRACE_A);
    assert_eq!(hex(&handle.span_id), "0000000000000001");
    assert!(handle.parent_span_id.is_empty(), "a root has no parent");
    assert_eq!(handle.start_time_unix_nano, unix_ns(0));
    assert_eq!(handle.end_time_unix_nano, unix_ns(100));
    let attr = |s: &opentelemetry_proto::tonic::trace::v1::Span, key: &str| {
        s.attributes
            .iter()
            .find(|kv| kv.key == key)
            .unwrap_or_else(|| panic!("no attribute {key}"))
            .value
            .clone()
            .and_then(|v| v.value)
    };
    assert_eq!(attr(handle, "user"), Some(Any::IntValue(42)));
    assert_eq!(attr(handle, "path"), Some(Any::StringValue("/a".into())));
    assert_eq!(attr(handle, "ratio"), Some(Any::DoubleValue(0.5)));
    assert_eq!(attr(handle, "ok"), Some(Any::BoolValue(true)));
    assert_eq!(attr(handle, "none"), None);
    assert!(matches!(attr(handle, "list"), Some(Any::ArrayValue(a)) if a.values.len() == 2));
    assert!(matches!(attr(handle, "obj"), Some(Any::KvlistValue(kv)) if kv.values[0].key == "k"));
    assert_eq!(
        attr(handle, "status"),
        Some(Any::StringValue("tagged".into()))
    );
    assert_eq!(
        attr(handle, "sentinel.status"),
        Some(Any::StringValue("success".into()))
    );

    let (_, db) = &spans["db"];
    assert_eq!(db.parent_span_id, handle.span_id);
    assert_eq!(db.trace_id, handle.trace_id);
    assert_eq!(db.start_time_unix_nano, unix_ns(10));
    assert_eq!(db.end_time_unix_nano, unix_ns(40));
    let status = db.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "DbError: timeout after 30 ms");
    assert_eq!(db.events[0].name, "exception");
    assert_eq!(db.events[0].time_unix_nano, unix_ns(40));
    assert_eq!(spans["parse"].1.parent_span_id, db.span_id);
    assert_eq!(spans["cache"].1.parent_span_id, handle.span_id);
    assert_eq!(
        attr(&spans["cache"].1, "sentinel.status"),
        Some(Any::StringValue("cancelled".into()))
    );
    assert_eq!(spans["cache"].1.status.as_ref().map_or(0, |s| s.code), 0);

    let (_, job) = &spans["job"];
    assert_eq!(
        hex(&job.trace_id),
        format!("0000000000000000{TRACE_B}"),
        "a 64-bit trace id is left-padded to 128 bits"
    );
    assert_eq!(attr(job, "sentinel.slow"), Some(Any::BoolValue(true)));
    assert_eq!(
        attr(job, "sentinel.cpu_time_ms"),
        Some(Any::DoubleValue(5.5))
    );

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 records without a duration"), "{stderr}");
    assert!(
        stderr.contains("skipped 1 line(s) that are not records"),
        "{stderr}"
    );
    assert!(stderr.contains("7 records the logger dropped"), "{stderr}");
}

#[test]
fn the_shared_filters_narrow_what_is_exported() {
    let (_dir, path) = fixture();
    let out = export(&["--format", "folded", "--trace", "9f86"], &path);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "job 30000\n");
    let out = export(&["--format", "otlp-json", "--status", "error"], &path);
    let spans = spans_by_name(&decode_lines(&out.stdout));
    assert_eq!(spans.keys().collect::<Vec<_>>(), ["db"]);
}

// regression: issue #15
#[test]
fn issue_15_a_duration_that_is_not_a_number_skips_the_record_with_a_note_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.jsonl");
    let lines = [
        span(TRACE_A, 2, Some(1), "typo", (10, 20), "")
            .replace(r#""duration_ms":10"#, r#""duration_ms":"ten""#),
        span(TRACE_A, 3, Some(1), "flag", (10, 20), "")
            .replace(r#""duration_ms":10"#, r#""duration_ms":true"#),
        span(TRACE_A, 1, None, "handle", (0, 100), ""),
        r#"{"timestamp":"2026-11-22T00:00:00.150000+00:00","event":"started"}"#.to_owned(),
    ];
    assert!(lines[0].contains(r#""ten""#) && lines[1].contains("true"));
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    for format in ["chrome", "otlp-json", "folded"] {
        let out = export(&["--format", format], &path);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stdout.contains("handle"), "{format}: {stdout}");
        assert!(
            !stdout.contains("typo") && !stdout.contains("flag"),
            "{format} exported a record without a numeric duration: {stdout}"
        );
        assert!(
            stderr.contains("app.jsonl: skipped 2 record(s) whose duration_ms is not a number"),
            "{format}: {stderr}"
        );
        assert!(
            stderr.contains("left out 1 records without a duration (not spans)"),
            "{format}: only the log() record has no duration: {stderr}"
        );
    }
}

/// A request that crossed two services: the client's span in one file is the parent of the
/// server's root span in the other.
#[test]
fn a_trace_across_two_files_is_one_trace_with_a_service_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let client = dir.path().join("client.jsonl");
    let server = dir.path().join("server.2026-11-22.jsonl");
    fs::write(&client, span(TRACE_A, 1, None, "call", (0, 50), "")).unwrap();
    fs::write(&server, span(TRACE_A, 2, Some(1), "handle", (10, 40), "")).unwrap();
    let out = Command::new(BIN)
        .args(["export", "--format", "otlp-json"])
        .args([&client, &server])
        .output()
        .unwrap();
    assert!(out.status.success());
    let spans = spans_by_name(&decode_lines(&out.stdout));
    assert_eq!(spans["call"].0, "client");
    assert_eq!(spans["handle"].0, "server");
    assert_eq!(spans["handle"].1.parent_span_id, spans["call"].1.span_id);

    let out = Command::new(BIN)
        .args(["export", "--format", "folded"])
        .args([&client, &server])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "call 20000\ncall;handle 30000\n"
    );
}

#[test]
fn service_flag_names_every_resource() {
    let (_dir, path) = fixture();
    let out = export(&["--format", "otlp-json", "--service", "shop"], &path);
    let spans = spans_by_name(&decode_lines(&out.stdout));
    assert!(spans.values().all(|(service, _)| service == "shop"));
}

/// Folded stacks, with the self times worked out by hand from the fixture.
#[test]
fn folded_stacks_by_self_time_render_with_inferno() {
    let (_dir, path) = fixture();
    let out = export(&["--format", "folded"], &path);
    let folded = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        folded,
        "handle 60000\nhandle;cache 10000\nhandle;db 20000\nhandle;db;parse 10000\njob 30000\n"
    );
    let mut svg = Vec::new();
    let mut opts = inferno::flamegraph::Options::default();
    opts.count_name = "us".into();
    inferno::flamegraph::from_reader(&mut opts, folded.as_bytes(), &mut svg).unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.starts_with("<?xml"), "{}", &svg[..100.min(svg.len())]);
    // inferno titles each frame with its total (self + children) samples.
    assert!(
        svg.contains("<title>handle (100,000 us, 76.92%)</title>"),
        "{svg}"
    );
    assert!(
        svg.contains("<title>db (30,000 us, 23.08%)</title>"),
        "{svg}"
    );
    assert!(
        svg.contains("<title>parse (10,000 us, 7.69%)</title>"),
        "{svg}"
    );
    assert!(
        svg.contains("<title>job (30,000 us, 23.08%)</title>"),
        "{svg}"
    );
}

/// The fields the Trace Event Format documents for the events we write: every event has
/// `name`, `ph`, `pid`, `tid`; `X` (complete) events have `ts` and `dur` in microseconds; `M`
/// (metadata) events are `process_name`/`thread_name` with `args.name`; `i` (instant) events
/// have scope `s` of `g`, `p` or `t`; flow events (`s` start, `f` end) have an `id`. On one
/// `(pid, tid)`, complete events must nest.
#[test]
fn chrome_trace_events_have_the_documented_fields_and_nest_per_track() {
    let (_dir, path) = fixture();
    let out = export(&["--format", "chrome"], &path);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["displayTimeUnit"], "ms");
    let events = doc["traceEvents"].as_array().unwrap();
    let mut complete = Vec::new();
    let mut flows = Vec::new();
    let mut names = HashMap::new();
    for e in events {
        let ph = e["ph"].as_str().unwrap();
        assert!(e["name"].is_string(), "{e}");
        assert!(e["pid"].is_u64() && e["tid"].is_u64(), "{e}");
        match ph {
            "X" => {
                let ts = e["ts"].as_f64().unwrap();
                let dur = e["dur"].as_f64().unwrap();
                assert!(ts >= 0.0 && dur >= 0.0, "{e}");
                assert!(e["args"].is_object(), "{e}");
                complete.push(e.clone());
            }
            "M" => {
                let name = e["name"].as_str().unwrap();
                assert!(name == "process_name" || name == "thread_name", "{e}");
                assert!(e["args"]["name"].is_string(), "{e}");
                names.insert(
                    (name.to_owned(), e["pid"].as_u64(), e["tid"].as_u64()),
                    e["args"]["name"].clone(),
                );
            }
            "s" | "f" => {
                assert!(e["id"].is_u64() && e["ts"].is_number(), "{e}");
                flows.push(e.clone());
            }
            "i" => {
                assert!(matches!(e["s"].as_str(), Some("g" | "p" | "t")), "{e}");
                assert!(e["ts"].is_number(), "{e}");
                assert_eq!(e["name"], "7 records dropped by the logger");
            }
            other => panic!("unexpected phase {other}"),
        }
    }
    assert_eq!(complete.len(), 5);
    assert_eq!(
        names[&("process_name".to_owned(), Some(1), Some(0))],
        "checkout"
    );

    let by_name: HashMap<&str, &Value> = complete
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e))
        .collect();
    let handle = by_name["handle"];
    assert_eq!(handle["ts"], 0.0);
    assert_eq!(handle["dur"], 100_000.0);
    assert_eq!(handle["args"]["user"], 42);
    assert_eq!(handle["args"]["tag.status"], "tagged");
    assert_eq!(handle["args"]["status"], "success");
    assert_eq!(handle["args"]["trace_id"], TRACE_A);
    let db = by_name["db"];
    assert_eq!(db["ts"], 10_000.0);
    assert_eq!(db["args"]["error"], "timeout after 30 ms");
    assert_eq!(db["args"]["error_type"], "DbError");
    assert_eq!(db["args"]["parent_span_id"], "0000000000000001");
    assert_eq!(db["cat"], "error");
    // Sequential children nest on their parent's track.
    assert_eq!(db["tid"], handle["tid"]);
    assert_eq!(by_name["parse"]["tid"], handle["tid"]);
    assert_eq!(
        by_name["job"]["args"]["trace_id"],
        format!("0000000000000000{TRACE_B}")
    );

    let mut per_track: HashMap<(u64, u64), Vec<(f64, f64)>> = HashMap::new();
    for e in &complete {
        let ts = e["ts"].as_f64().unwrap();
        per_track
            .entry((e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap()))
            .or_default()
            .push((ts, ts + e["dur"].as_f64().unwrap()));
    }
    for intervals in per_track.values_mut() {
        intervals.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        let mut open: Vec<(f64, f64)> = Vec::new();
        for &(start, end) in intervals.iter() {
            while open.last().is_some_and(|&(_, e)| e <= start) {
                open.pop();
            }
            if let Some(&(_, outer_end)) = open.last() {
                assert!(end <= outer_end, "overlapping events on one track");
            }
            open.push((start, end));
        }
    }
}

#[test]
fn async_children_that_overlap_go_to_separate_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fanout.jsonl");
    let lines = [
        span(TRACE_A, 1, None, "fanout", (0, 100), ""),
        span(TRACE_A, 2, Some(1), "fetch-a", (10, 60), ""),
        span(TRACE_A, 3, Some(1), "fetch-b", (20, 70), ""),
    ];
    fs::write(&path, lines.join("\n")).unwrap();
    let out = export(&["--format", "chrome"], &path);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tid = |name: &str| {
        doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap()["tid"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(tid("fetch-a"), tid("fanout"));
    assert_ne!(tid("fetch-b"), tid("fanout"));
    // A flow arrow leads from the parent's slice to the child drawn on another track.
    let events = doc["traceEvents"].as_array().unwrap();
    let phase = |ph: &str| {
        let found: Vec<&Value> = events.iter().filter(|e| e["ph"] == ph).collect();
        assert_eq!(found.len(), 1, "one flow {ph}: {found:?}");
        found[0].clone()
    };
    let (start, end) = (phase("s"), phase("f"));
    assert_eq!(start["id"], end["id"]);
    assert_eq!(start["tid"], tid("fanout"));
    assert_eq!(end["tid"], tid("fetch-b"));
    assert_eq!(
        start["ts"], 20_000.0,
        "inside the parent, where the child starts"
    );
    assert_eq!(end["ts"], 20_000.0);
}

#[test]
fn bad_arguments_are_named() {
    let (_dir, path) = fixture();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("export")
            .args(args)
            .arg(&path)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--format"));
    let out = run(&[
        "--format",
        "chrome",
        "--otlp-endpoint",
        "http://127.0.0.1:1",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("sends otlp-json, not chrome"));
    let out = run(&["--otlp-endpoint", "ftp://x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --otlp-endpoint"));
    let out = Command::new(BIN)
        .args(["export", "--format", "folded", "/nonexistent/x.jsonl"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.jsonl: no such file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// === OTLP/HTTP ===

/// One request a [`Receiver`] got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    content_type: String,
    /// The body decoded by `opentelemetry-proto`, or why it was not.
    decoded: Result<ExportTraceServiceRequest, String>,
}

/// An OTLP/HTTP receiver on loopback: records every request and answers with the statuses of
/// its script in turn (with `Retry-After: 0` on a 503), then 200.
struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(script: Vec<u16>) -> Receiver {
        use http_body_util::{BodyExt, Full};
        use hyper::service::service_fn;
        use hyper_util::rt::TokioIo;

        let received = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let log = received.clone();
        let script = Arc::new(Mutex::new(std::collections::VecDeque::from(script)));
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (stream, _) = tokio::select! {
                        conn = listener.accept() => conn.unwrap(),
                        _ = &mut stopped => return,
                    };
                    let log = log.clone();
                    let script = script.clone();
                    tokio::spawn(async move {
                        let service =
                            service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                                let log = log.clone();
                                let status = script.lock().unwrap().pop_front().unwrap_or(200);
                                async move {
                                    let path = req.uri().path().to_owned();
                                    let content_type = req
                                        .headers()
                                        .get("content-type")
                                        .and_then(|v| v.to_str().ok())
                                        .unwrap_or_default()
                                        .to_owned();
                                    let body = req.into_body().collect().await?.to_bytes();
                                    let decoded =
                                        serde_json::from_slice(&body).map_err(|e| e.to_string());
                                    log.lock().unwrap().push(Received {
                                        path,
                                        content_type,
                                        decoded,
                                    });
                                    let reply = if status == 200 {
                                        r#"{"partialSuccess":{}}"#
                                    } else {
                                        "overloaded"
                                    };
                                    let mut response = hyper::Response::builder().status(status);
                                    if status == 503 {
                                        response = response.header("retry-after", "0");
                                    }
                                    Ok::<_, hyper::Error>(
                                        response
                                            .body(Full::new(bytes::Bytes::from(reply)))
                                            .unwrap(),
                                    )
                                }
                            });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Receiver {
            addr: addr_rx.recv().unwrap(),
            received,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.stop.take().unwrap().send(());
        let panicked = self.thread.take().unwrap().join().is_err();
        if panicked && !std::thread::panicking() {
            panic!("the receiver's thread panicked");
        }
    }
}

#[test]
fn otlp_endpoint_receives_every_span_in_batches_that_opentelemetry_proto_decodes() {
    let (_dir, path) = fixture();
    let receiver = Receiver::start(Vec::new());
    let out = export(
        &["--otlp-endpoint", &receiver.url(), "--batch-spans", "2"],
        &path,
    );
    assert!(out.stdout.is_empty(), "posting writes nothing to stdout");
    let received = receiver.received();
    assert_eq!(received.len(), 3, "5 spans in batches of 2");
    let mut ids = HashSet::new();
    let mut requests = Vec::new();
    for r in received {
        assert_eq!(r.path, "/v1/traces");
        assert_eq!(r.content_type, "application/json");
        let request = r.decoded.expect("opentelemetry-proto decodes the body");
        for rs in &request.resource_spans {
            for ss in &rs.scope_spans {
                ids.extend(ss.spans.iter().map(|s| hex(&s.span_id)));
            }
        }
        requests.push(request);
    }
    assert_eq!(ids.len(), 5);
    let spans = spans_by_name(&requests);
    assert_eq!(spans["parse"].1.parent_span_id, spans["db"].1.span_id);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sent 5 spans in 3 requests"), "{stderr}");

    // The same JSON as the file format, byte for byte in meaning.
    let file = export(&["--format", "otlp-json", "--batch-spans", "2"], &path);
    assert_eq!(decode_lines(&file.stdout), requests);
}

#[test]
fn a_receiver_that_refuses_fails_the_export_and_says_what_was_sent() {
    let (_dir, path) = fixture();
    let receiver = Receiver::start(vec![200, 400]);
    let out = Command::new(BIN)
        .args([
            "export",
            "--batch-spans",
            "2",
            "--otlp-endpoint",
            &receiver.url(),
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("400 Bad Request (1 attempts)"), "{stderr}");
    assert!(
        stderr.contains("2 spans in 1 batches sent before"),
        "{stderr}"
    );
    assert_eq!(receiver.received().len(), 2, "a 400 is not retried");
}

#[test]
fn a_busy_receiver_gets_the_batch_again_after_its_retry_after() {
    let (_dir, path) = fixture();
    let receiver = Receiver::start(vec![503]);
    let out = export(&["--otlp-endpoint", &receiver.url()], &path);
    let received = receiver.received();
    assert_eq!(received.len(), 2, "refused once, then accepted");
    let bodies: Vec<_> = received.into_iter().map(|r| r.decoded.unwrap()).collect();
    assert_eq!(bodies[0], bodies[1], "the same batch again");
    assert!(String::from_utf8_lossy(&out.stderr).contains("sent 5 spans in 1 requests"));

    let receiver = Receiver::start(vec![503, 503, 503]);
    let out = Command::new(BIN)
        .args(["export", "--otlp-endpoint", &receiver.url()])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("503 Service Unavailable (3 attempts)"),
        "{stderr}"
    );
    assert_eq!(receiver.received().len(), 3);
}

// regression: issue #16
#[test]
fn issue_16_a_receiver_answering_with_a_huge_body_is_read_only_up_to_a_cap() {
    use std::io::{Read, Write};

    const TOTAL: usize = 128 << 20;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Answers 200 with a 128 MiB body and counts what it managed to write before the
    // client hung up.
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 64 << 10];
        let _ = stream.read(&mut request).unwrap();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {TOTAL}\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        let chunk = vec![b' '; 64 << 10];
        let mut written = 0;
        while written < TOTAL {
            match stream.write(&chunk) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        written
    });
    let (_dir, path) = fixture();
    let out = export(
        &["--otlp-endpoint", &format!("http://{addr}/v1/traces")],
        &path,
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("sent 5 spans in 1 requests"));
    let written = server.join().unwrap();
    assert!(
        written < TOTAL / 4,
        "the client read {written} bytes of an answer it only needs the start of"
    );
}

// regression: issue #16
#[test]
fn issue_16_a_non_numeric_cpu_time_cannot_make_otlp_json_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.jsonl");
    let lines: Vec<String> = ["\"NaN\"", "\"inf\"", "\"-infinity\""]
        .iter()
        .enumerate()
        .map(|(i, cpu)| {
            let extra = format!(r#""cpu_time_ms":{cpu}"#);
            span(TRACE_A, i as u64 + 1, None, "odd", (0, 10), &extra)
        })
        .collect();
    fs::write(&path, lines.join("\n") + "\n").unwrap();
    let out = export(&["--format", "otlp-json"], &path);
    let requests = decode_lines(&out.stdout);
    let spans: Vec<_> = requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    assert_eq!(spans.len(), 3);
    for s in spans {
        assert!(
            s.attributes.iter().all(|a| a.key != "sentinel.cpu_time_ms"),
            "{:?}",
            s.attributes
        );
    }
}
