//! The writer task: collects staged records, encodes them and appends them to
//! the sink, one `write` call per cycle.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::clock::Anchor;
use crate::record::{EncodeError, Encoder, Entry};
use crate::writer::{Ack, Msg, Shared, lock};

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
    rx: mpsc::Receiver<Msg>,
    sink: Box<dyn Write + Send>,
    entries: Vec<Entry>,
    acks: Vec<Ack>,
    shutdown: Option<Option<Ack>>,
    buf: Vec<u8>,
    encoder: Encoder,
    failed: bool,
    /// The last collection stopped at `MAX_CYCLE` with more queued.
    backlog: bool,
}

pub(crate) async fn run(shared: Arc<Shared>, rx: mpsc::Receiver<Msg>, sink: Box<dyn Write + Send>) {
    let mut worker = Worker {
        shared,
        rx,
        sink,
        entries: Vec::new(),
        acks: Vec::new(),
        shutdown: None,
        buf: Vec::with_capacity(256 << 10),
        encoder: Encoder::default(),
        failed: false,
        backlog: false,
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
                tokio::select! {
                    biased;
                    n = self.rx.recv_many(&mut msgs, RECV_BATCH) => n == 0,
                    () = self.shared.wake.notified() => false,
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
            Msg::Batch(mut batch) => self.entries.append(&mut batch),
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
            self.entries.append(&mut st.entries);
            // A staging nobody else holds belongs to an exited thread.
            let retire = Arc::strong_count(staging) == 1;
            if retire {
                let mut retired = lock(&shared.retired);
                retired.queue_full += st.dropped.queue_full;
                retired.closed += st.dropped.closed;
                retired.unhealthy += st.dropped.unhealthy;
            }
            !retire
        });
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
            self.entries.append(&mut st.entries);
            st.sealed = true;
        }
    }

    fn write_collected(&mut self) {
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
                    Err(err) => self.unserializable(&err),
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
        let ok = !self.failed;
        for ack in self.acks.drain(..) {
            ack.send(ok);
        }
    }

    /// One write of whole lines; on failure the logger turns unhealthy and
    /// the lines in hand (`lines`) plus the entries not yet encoded (`rest`)
    /// are counted as lost.
    fn write_buf(&mut self, lines: u64, rest: u64) -> bool {
        if self.buf.is_empty() {
            return true;
        }
        let result = self
            .sink
            .write_all(&self.buf)
            .and_then(|()| self.sink.flush());
        self.buf.clear();
        match result {
            Ok(()) => {
                self.shared.written.fetch_add(lines, Ordering::Relaxed);
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

    fn unserializable(&self, err: &EncodeError) {
        self.shared.unserializable.fetch_add(1, Ordering::Relaxed);
        match err {
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
        let lost = self.entries.len() as u64;
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
        // Mark finished before answering, so the waiter sees a final state.
        self.done();
        if let Some(Some(ack)) = self.shutdown.take() {
            ack.send(ok);
        }
    }

    fn done(&mut self) {
        self.sink = Box::new(std::io::sink());
        self.shared.closed.store(true, Ordering::Release);
        self.shared.finished.store(true, Ordering::Release);
        self.shared.finished_notify.notify_waiters();
    }
}
