//! The `fastrace` peer: a [`Reporter`] that writes one JSON line per
//! [`SpanRecord`] into a buffered file, so the peer does the work sentinel
//! does (one JSON line per span on disk), and the end-of-run drain.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use fastrace::collector::{Config, Reporter, SpanContext, SpanRecord};

/// Encodes each span as `{"name", "trace_id", "span_id", "parent_id",
/// "begin_unix_ns", "duration_ns", "properties"}` on its own line.
pub struct JsonlReporter {
    out: BufWriter<File>,
    lines: Arc<AtomicU64>,
}

fn push_json_str(out: &mut BufWriter<File>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

impl Reporter for JsonlReporter {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        if spans.is_empty() {
            return;
        }
        let out = &mut self.out;
        for span in &spans {
            let _ = out.write_all(b"{\"name\":");
            push_json_str(out, &span.name);
            let _ = write!(
                out,
                ",\"trace_id\":\"{}\",\"span_id\":\"{}\",\"parent_id\":",
                span.trace_id, span.span_id
            );
            if span.parent_id.0 == 0 {
                let _ = out.write_all(b"null");
            } else {
                let _ = write!(out, "\"{}\"", span.parent_id);
            }
            let _ = write!(
                out,
                ",\"begin_unix_ns\":{},\"duration_ns\":{},\"properties\":{{",
                span.begin_time_unix_ns, span.duration_ns
            );
            for (i, (k, v)) in span.properties.iter().enumerate() {
                if i > 0 {
                    let _ = out.write_all(b",");
                }
                push_json_str(out, k);
                let _ = out.write_all(b":");
                push_json_str(out, v);
            }
            let _ = out.write_all(b"}}\n");
        }
        // One flush per batch (fastrace hands over everything it collected
        // since the last report), so after `fastrace::flush()` the file holds
        // every line reported.
        let _ = out.flush();
        self.lines.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}

/// Installs the reporter writing to `path`; returns its count of lines.
pub fn install(path: &Path) -> Arc<AtomicU64> {
    let lines = Arc::new(AtomicU64::new(0));
    let file = File::create(path).expect("fastrace log file");
    fastrace::set_reporter(
        JsonlReporter {
            out: BufWriter::with_capacity(64 << 10, file),
            lines: Arc::clone(&lines),
        },
        Config::default(),
    );
    lines
}

/// Hands everything the calling thread traced to the reporter; call it on
/// each producing thread before it exits, then once more on the main thread.
///
/// fastrace parks what its per-thread ring (10,240 commands) cannot take in
/// a queue that only the thread's next span pushes on (its exit pushes it
/// with `.ok()`, dropping what does not fit), and `fastrace::flush()` drains
/// the rings alone. A cancelled root pushes the parked commands on without
/// adding a record; two rounds that report nothing new mean none is left.
pub fn drain_thread(lines: &AtomicU64) {
    let mut quiet = 0;
    for _ in 0..100_000 {
        let before = lines.load(Ordering::Relaxed);
        fastrace::Span::root("drain", SpanContext::random()).cancel();
        fastrace::flush();
        if lines.load(Ordering::Relaxed) == before {
            quiet += 1;
            if quiet == 2 {
                return;
            }
        } else {
            quiet = 0;
        }
    }
}
