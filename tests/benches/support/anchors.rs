//! The `tracing` anchors: a minimal hand-written layer writing one JSON line
//! per closed span with sentinel's fields, and the stock fmt JSON layer, both
//! through `tracing-appender`'s non-blocking writer.

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::time::{Instant, SystemTime};

use tracing::span::{Attributes, Id};
use tracing::{Dispatch, Subscriber};
use tracing_appender::non_blocking::NonBlocking;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// CPU time of the calling thread, read the way sentinel reads it.
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(0x9e37_79b9_7f4a_7c15 ^ (thread_cpu_ns() | 1));
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
    static SECOND: Cell<(i64, [u8; 19])> = const { Cell::new((i64::MIN, [0; 19])) };
}

/// wyrand, like sentinel's id generator.
fn random_id() -> u64 {
    RNG.with(|s| {
        let v = s.get().wrapping_add(0xa076_1d64_78bd_642f);
        s.set(v);
        let t = u128::from(v).wrapping_mul(u128::from(v ^ 0xe703_7ed1_a0b4_28db));
        (((t >> 64) as u64) ^ (t as u64)) | 1
    })
}

/// A 128-bit trace id, as sentinel writes them.
fn random_trace_id() -> u128 {
    (u128::from(random_id()) << 64) | u128::from(random_id())
}

struct Timing {
    start: Instant,
    cpu_enter: u64,
    cpu: u64,
    trace_id: u128,
    span_id: u64,
    parent: u64,
}

/// One JSON line per closed span: timestamp, function, duration_ms,
/// cpu_time_ms, status, ids — the fields of a sentinel span record.
pub struct MinimalLayer {
    writer: NonBlocking,
}

fn push_millis(ns: u64, out: &mut Vec<u8>) {
    let _ = write!(out, "{}.{:06}", ns / 1_000_000, ns % 1_000_000);
}

fn push_hex(id: u64, out: &mut Vec<u8>) {
    let _ = write!(out, "\"{id:016x}\"");
}

fn push_trace_hex(id: u128, out: &mut Vec<u8>) {
    let _ = write!(out, "\"{id:032x}\"");
}

fn push_timestamp(out: &mut Vec<u8>) {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let prefix = SECOND.with(|c| {
        let (s, p) = c.get();
        if s == secs {
            return p;
        }
        let mut p = [b'0'; 19];
        let dt = time::OffsetDateTime::from_unix_timestamp(secs)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
        if let Ok(s) = dt.format(&f)
            && s.len() == 19
        {
            p.copy_from_slice(s.as_bytes());
        }
        c.set((secs, p));
        p
    });
    out.push(b'"');
    out.extend_from_slice(&prefix);
    let _ = write!(out, ".{:06}+00:00\"", d.subsec_micros());
}

impl<S> Layer<S> for MinimalLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let (trace_id, parent) = match span.parent() {
            Some(p) => match p.extensions().get::<Timing>() {
                Some(t) => (t.trace_id, t.span_id),
                None => (random_trace_id(), 0),
            },
            None => (random_trace_id(), 0),
        };
        span.extensions_mut().insert(Timing {
            start: Instant::now(),
            cpu_enter: 0,
            cpu: 0,
            trace_id,
            span_id: random_id(),
            parent,
        });
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(t) = span.extensions_mut().get_mut::<Timing>()
        {
            t.cpu_enter = thread_cpu_ns();
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(t) = span.extensions_mut().get_mut::<Timing>()
        {
            t.cpu += thread_cpu_ns().saturating_sub(t.cpu_enter);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let ext = span.extensions();
        let Some(t) = ext.get::<Timing>() else { return };
        let duration = t.start.elapsed().as_nanos() as u64;
        LINE.with(|line| {
            let mut out = line.borrow_mut();
            out.clear();
            out.extend_from_slice(b"{\"timestamp\":");
            push_timestamp(&mut out);
            out.extend_from_slice(b",\"function\":\"");
            out.extend_from_slice(span.name().as_bytes());
            out.extend_from_slice(b"\",\"duration_ms\":");
            push_millis(duration, &mut out);
            out.extend_from_slice(b",\"cpu_time_ms\":");
            push_millis(t.cpu, &mut out);
            out.extend_from_slice(
                b",\"status\":\"success\",\"error_type\":null,\"error\":null,\"trace_id\":",
            );
            push_trace_hex(t.trace_id, &mut out);
            out.extend_from_slice(b",\"span_id\":");
            push_hex(t.span_id, &mut out);
            out.extend_from_slice(b",\"parent_span_id\":");
            if t.parent == 0 {
                out.extend_from_slice(b"null");
            } else {
                push_hex(t.parent, &mut out);
            }
            out.extend_from_slice(b"}\n");
            let mut w = self.writer.clone();
            let _ = w.write_all(&out);
        });
    }
}

/// Registry + [`MinimalLayer`] writing through `writer`.
pub fn minimal_dispatch(writer: NonBlocking) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(MinimalLayer { writer }))
}

/// The stock fmt JSON layer with span-close events.
pub fn fmt_json_dispatch(writer: NonBlocking) -> Dispatch {
    Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_span_events(FmtSpan::CLOSE)
            .with_writer(writer)
            .finish(),
    )
}
