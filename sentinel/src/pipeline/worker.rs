//! The writer task: collects staged records, encodes them and appends them to
//! the sink, one `write` call per cycle.

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;

use super::shared::{Ack, DropCounts, DropReason, Msg, Shared, StagingInner, lock};
use super::sink::Sink;
use crate::clock::{Anchor, monotonic_ns};
use crate::format::encode::{EncodeError, Encoder};
use crate::record::{DropMarker, Entry, panic_message};

/// How long an active writer waits before sweeping partly filled staging
/// buffers again: the latency bound for a thread that logs rarely.
const LINGER: Duration = Duration::from_millis(5);

/// A write is split (at line boundaries) once this much is encoded: large
/// enough that syscalls cost nothing per line, small enough that the buffer
/// stays a small part of the logger's memory.
const MAX_WRITE: usize = 1 << 20;

/// Messages taken from the channel in one `recv_many`.
const RECV_BATCH: usize = 64;

/// Entries taken from the channel in one cycle when a backlog has built up:
/// bounds the writer's own memory (records in hand, sort scratch) so a full
/// queue is not held twice.
const MAX_CYCLE: usize = 16_384;

struct Worker {
    shared: Arc<Shared>,
    rx: mpsc::UnboundedReceiver<Msg>,
    sink: Sink,
    /// When the sink wants to look at the clock again (time rotation), as
    /// it said after the last cycle; an idle writer wakes for it.
    timer: Option<Duration>,
    entries: Vec<Entry>,
    acks: Vec<Ack>,
    shutdown: Option<Option<Ack>>,
    buf: Vec<u8>,
    encoder: Encoder,
    failed: bool,
    /// The last collection stopped at `MAX_CYCLE` with more queued.
    backlog: bool,
    /// Queue bytes of the batches in hand, released once they are written.
    held_bytes: u64,
    /// Producers' drops collected but not yet marked in the file.
    unmarked: DropCounts,
    /// Records this writer could not encode since the last marker, and the
    /// ticks of the first and last.
    unserializable: (u64, u64, u64),
}

pub(crate) async fn run(shared: Arc<Shared>, rx: mpsc::UnboundedReceiver<Msg>, sink: Sink) {
    let mut worker = Worker {
        shared,
        rx,
        sink,
        timer: None,
        entries: Vec::new(),
        acks: Vec::new(),
        shutdown: None,
        buf: Vec::with_capacity(256 << 10),
        encoder: Encoder::default(),
        failed: false,
        backlog: false,
        held_bytes: 0,
        unmarked: DropCounts::default(),
        unserializable: (0, 0, 0),
    };
    worker.run().await;
}

impl Worker {
    async fn run(&mut self) {
        let mut msgs = Vec::with_capacity(RECV_BATCH);
        let mut idle = false;
        loop {
            let closed = if self.backlog {
                false
            } else if idle {
                let timer = self.timer;
                tokio::select! {
                    biased;
                    n = self.rx.recv_many(&mut msgs, RECV_BATCH) => n == 0,
                    () = self.shared.wake.notified() => false,
                    () = tokio::time::sleep(timer.unwrap_or_default()), if timer.is_some() => false,
                }
            } else {
                tokio::select! {
                    biased;
                    n = self.rx.recv_many(&mut msgs, RECV_BATCH) => n == 0,
                    () = tokio::time::sleep(LINGER) => false,
                }
            };
            self.shared.writer_idle.store(false, Ordering::SeqCst);
            if closed && self.shutdown.is_none() {
                self.shutdown = Some(None);
            }
            for msg in msgs.drain(..) {
                self.take(msg);
            }
            self.collect();
            let busy = !self.entries.is_empty() || !self.acks.is_empty() || self.backlog;
            self.write_collected();
            if self.failed {
                return self.fail_rest();
            }
            if self.shutdown.is_some() {
                return self.finish();
            }
            idle = false;
            if !busy {
                // Announce idleness, then look once more: a producer that
                // staged a record before seeing the flag is caught here, one
                // that sees the flag wakes us.
                self.shared.writer_idle.store(true, Ordering::SeqCst);
                self.collect();
                if self.entries.is_empty() && self.acks.is_empty() && self.shutdown.is_none() {
                    idle = true;
                } else {
                    self.shared.writer_idle.store(false, Ordering::SeqCst);
                }
            }
        }
    }

    fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Batch(mut batch) => {
                self.held_bytes += batch.bytes;
                self.entries.append(&mut batch.entries);
            }
            Msg::Flush(ack) => self.acks.push(ack),
            Msg::Shutdown(ack) => {
                if let Some(Some(previous)) = self.shutdown.replace(ack) {
                    self.acks.push(previous);
                }
            }
        }
    }

    fn drain_channel(&mut self) {
        while let Ok(msg) = self.rx.try_recv() {
            self.take(msg);
        }
    }

    /// Takes everything queued in the channel and staged by threads, or, when
    /// a backlog has built up, the next `MAX_CYCLE` entries of the channel.
    fn collect(&mut self) {
        self.backlog = false;
        while self.entries.len() < MAX_CYCLE {
            match self.rx.try_recv() {
                Ok(msg) => self.take(msg),
                Err(_) => break,
            }
        }
        if self.entries.len() >= MAX_CYCLE && self.acks.is_empty() && self.shutdown.is_none() {
            // Write this part first. Staged records are newer than anything
            // their thread sent through the channel, so they wait for the
            // cycle that empties it.
            self.backlog = true;
            return;
        }
        self.drain_channel();
        let shared = Arc::clone(&self.shared);
        let mut reg = lock(&shared.stagings);
        reg.stagings.retain(|staging| {
            let mut st = lock(&staging.inner);
            // Batches a thread sent before we took its lock are in the
            // channel: take them first to keep that thread's order.
            self.drain_channel();
            self.take_staged(&mut st);
            // A staging nobody else holds belongs to an exited thread.
            let retire = Arc::strong_count(staging) == 1;
            if retire {
                lock(&shared.retired).dropped.merge(&st.dropped);
            }
            !retire
        });
        drop(reg);
        let unmarked = std::mem::take(&mut lock(&shared.retired).unmarked);
        self.unmarked.merge(&unmarked);
    }

    /// Takes a staging buffer's records (never reserved against the budget)
    /// and its drops not yet marked.
    fn take_staged(&mut self, st: &mut StagingInner) {
        self.entries.append(&mut st.entries);
        st.bytes = 0;
        let unmarked = std::mem::take(&mut st.unmarked);
        self.unmarked.merge(&unmarked);
    }

    /// Adds the drop marker for what was dropped since the last one, placed
    /// at the time of the last drop.
    fn mark_drops(&mut self) {
        let (n, first, last) = std::mem::take(&mut self.unserializable);
        let mut counts = std::mem::take(&mut self.unmarked);
        if counts.total() == 0 && n == 0 {
            return;
        }
        let mut reasons: Vec<(&'static str, u64)> = DropReason::ALL
            .iter()
            .map(|r| (r.as_str(), counts.get(*r)))
            .filter(|(_, n)| *n > 0)
            .collect();
        if n > 0 {
            reasons.push(("unserializable", n));
            let window = DropCounts {
                by_reason: [n, 0, 0, 0, 0],
                first_at: first,
                last_at: last,
            };
            counts.merge(&window);
        }
        self.entries.push(Entry::Dropped(DropMarker {
            reasons,
            first: counts.first_at,
            last: counts.last_at,
        }));
    }

    /// Takes everything and seals every staging buffer, so nothing can be
    /// accepted after the last collection.
    fn collect_final(&mut self) {
        self.rx.close();
        self.collect();
        let shared = Arc::clone(&self.shared);
        let mut reg = lock(&shared.stagings);
        reg.sealed = true;
        for staging in &reg.stagings {
            let mut st = lock(&staging.inner);
            self.drain_channel();
            self.take_staged(&mut st);
            st.sealed = true;
        }
    }

    fn write_collected(&mut self) {
        if !self.failed {
            self.mark_drops();
        }
        if !self.entries.is_empty() && !self.failed {
            // Per-thread order is already right; this also orders entries
            // that ended on different threads (a child before its parent).
            // One producing thread (the common case) needs no sort, and then
            // no sort buffer.
            if !self.entries.is_sorted_by_key(Entry::at) {
                self.entries.sort_by_key(Entry::at);
            }
            let anchor = Anchor::now();
            let mut lines = 0u64;
            let entries = std::mem::take(&mut self.entries);
            let mut rest = entries.len() as u64;
            for entry in &entries {
                rest -= 1;
                match self.encoder.encode(entry, &anchor, &mut self.buf) {
                    Ok(()) => lines += 1,
                    Err(err) => self.unserializable(&err, entry.at()),
                }
                if self.buf.len() >= MAX_WRITE {
                    if !self.write_buf(lines, rest) {
                        break;
                    }
                    lines = 0;
                }
            }
            if !self.failed {
                self.write_buf(lines, 0);
            }
            self.entries = entries;
            self.entries.clear();
        }
        if !self.failed {
            self.shared.progressed(std::mem::take(&mut self.held_bytes));
            // Before answering flushes: a flush finds a boundary that has
            // passed already acted on, as a write after it would be. A
            // rename that hangs is a stalled sink, as a write that hangs.
            self.shared
                .write_started_ns
                .store(monotonic_ns().max(1), Ordering::Release);
            self.timer =
                catch_unwind(AssertUnwindSafe(|| self.sink.rotate_if_due())).unwrap_or(None);
            self.shared.write_started_ns.store(0, Ordering::Release);
        }
        // With a shutdown pending, flushes (a second shutdown's among them)
        // are answered once the writer has finished, by `finish`.
        if self.shutdown.is_none() {
            let ok = !self.failed;
            for ack in self.acks.drain(..) {
                ack.send(ok);
            }
        }
    }

    /// One write of whole lines; on failure the logger turns unhealthy and
    /// the lines in hand (`lines`) plus the entries not yet encoded (`rest`)
    /// are counted as lost.
    fn write_buf(&mut self, lines: u64, rest: u64) -> bool {
        if self.buf.is_empty() {
            return true;
        }
        self.shared
            .write_started_ns
            .store(monotonic_ns().max(1), Ordering::Release);
        // A `Write` that panics is a failed write, not a dead writer.
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.sink
                .write_all(&self.buf)
                .and_then(|()| self.sink.flush())
        }))
        .unwrap_or_else(|payload| Err(std::io::Error::other(panic_message(&*payload))));
        self.shared.write_started_ns.store(0, Ordering::Release);
        self.buf.clear();
        match result {
            Ok(()) => {
                self.shared.written.fetch_add(lines, Ordering::Relaxed);
                self.shared.progressed(0);
                true
            }
            Err(err) => {
                self.failed = true;
                self.shared.healthy.store(false, Ordering::Release);
                self.shared
                    .io_error
                    .fetch_add(lines + rest, Ordering::Relaxed);
                tracing::error!(
                    target: "sentinel",
                    error = %err,
                    lost = lines + rest,
                    path = ?self.shared.path,
                    reason = "io_error",
                    "sentinel writer failed; the logger is unhealthy and refuses further records"
                );
                false
            }
        }
    }

    fn unserializable(&mut self, err: &EncodeError, at: u64) {
        self.shared.unserializable.fetch_add(1, Ordering::Relaxed);
        let (n, first, last) = &mut self.unserializable;
        if *n == 0 {
            *first = at;
        }
        *n += 1;
        *last = (*last).max(at);
        match err {
            EncodeError::Panicked(message) => tracing::error!(
                target: "sentinel",
                panic = %message,
                reason = "serialize",
                "a log record's Serialize impl panicked; dropping it"
            ),
            EncodeError::Serialize(e) => tracing::error!(
                target: "sentinel",
                error = %e,
                reason = "serialize",
                "failed to serialize log record; dropping it"
            ),
            EncodeError::NotAnObject => tracing::error!(
                target: "sentinel",
                reason = "not_an_object",
                "log record is not a JSON object; dropping it"
            ),
        }
    }

    /// After a failed write: count everything still queued as lost, refuse the
    /// rest, answer every waiter with `false`.
    fn fail_rest(&mut self) {
        self.collect_final();
        let lost = self
            .entries
            .iter()
            .filter(|e| !matches!(e, Entry::Dropped(_)))
            .count() as u64;
        self.entries.clear();
        self.shared.io_error.fetch_add(lost, Ordering::Relaxed);
        self.shared.closed.store(true, Ordering::Release);
        self.done();
        for ack in self.acks.drain(..) {
            ack.send(false);
        }
        if let Some(Some(ack)) = self.shutdown.take() {
            ack.send(false);
        }
    }

    /// Shutdown: write everything accepted, close the sink, answer waiters.
    fn finish(&mut self) {
        self.collect_final();
        self.write_collected();
        if self.failed {
            return self.fail_rest();
        }
        let ok = self.shared.is_healthy();
        // Every record is written; closing the sink may now wait up to the
        // exit timeout for the compression pass, which is no stalled sink.
        self.shared.closing.store(true, Ordering::Release);
        self.shared.progressed(0);
        // Mark finished before answering, so the waiters see a final state.
        self.done();
        for ack in self.acks.drain(..) {
            ack.send(ok);
        }
        if let Some(Some(ack)) = self.shutdown.take() {
            ack.send(ok);
        }
    }

    fn done(&mut self) {
        self.sink = Sink::Plain(Box::new(std::io::sink()));
        self.shared.mark_finished();
    }
}
