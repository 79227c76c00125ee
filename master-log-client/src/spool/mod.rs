//! The durable spool: batches that cannot be delivered in time wait on disk instead of being
//! dropped, and are sent once the server answers again. Off unless
//! [`ClientBuilder::spool_dir`](crate::ClientBuilder::spool_dir) (or `MASTER_LOG_SPOOL_DIR`)
//! names a folder.
//!
//! # What goes to the spool
//!
//! - A batch whose attempt fails in a way that may succeed later (connection refused or
//!   cut, 5xx, 408, 429, timeout): at once, after that one attempt, so an outage keeps
//!   everything but the queue on disk, where a crash or a kill cannot reach it.
//! - While the server is failing, every batch cut behind the one being retried, in order,
//!   so the queue keeps draining and producers are not held up.
//! - With `drop_when_full` off, an event [`Client::log`](crate::Client::log) could not
//!   enqueue within `queue_timeout`: its [`Receipt::spooled`](crate::Receipt::spooled) is
//!   set instead of an [`Error::QueueFull`].
//! - On [`Client::shutdown`](crate::Client::shutdown), whatever is still in memory
//!   (queued, batched, in flight) 250 ms before the deadline.
//!
//! A batch the server refuses for good (400, 401, 403, 422, an event over its size limit) is
//! not spooled: sending it again cannot help. It is counted and reported as before.
//!
//! # Replay
//!
//! The spool is read oldest first, one batch at a time, from the start of the client (what a
//! previous process left) and whenever a batch lands in it. The spooled batch at the head is
//! the one retried, with the usual backoff, while the server is down. Once the server
//! answers, spooled and new batches alternate, one each, so new events keep arriving while a
//! backlog drains; both share the worker's one request at a time, `min_request_interval` and
//! the backoff, so a backlog never goes faster than the server answers. A replayed batch is
//! the same request as its first attempt: same body, same `Idempotency-Key`. One the server
//! finds too large (413) goes back to the spool as two halves, at its end, before its record
//! is acknowledged, so a crash while the halves are out loses nothing.
//!
//! # Layout
//!
//! ```text
//! <spool_dir>/lock                          held (flock) by the client using the folder
//! <spool_dir>/ledger                        how far the oldest segment has been delivered
//! <spool_dir>/segment-00000000000000000007.spool
//! <spool_dir>/segment-00000000000000000008.spool   append-only, oldest = lowest number
//! ```
//!
//! A segment starts with the 8 bytes `MLSPOOL1`, then holds records of one batch each:
//! `length u32 | events u32 | crc32 u32 | payload` (little-endian; the CRC-32 covers length,
//! count and payload). The payload is the batch's 32-byte id, then each event's JSON as first
//! encoded (event ids included), each behind its `u32` length. A process appends only to segments it created; a segment
//! is closed at an eighth of `spool_max_bytes` (at most 8 MiB) and deleted once delivered.
//!
//! # Bounds and corruption
//!
//! The segment files never exceed `spool_max_bytes` together (default 256 MiB): past it the
//! oldest segment is deleted and its undelivered events are counted in
//! [`ClientStats::spool_lost_events`](crate::ClientStats::spool_lost_events). A failed write
//! (disk full, permissions) loses that batch, counted the same way and in
//! [`ClientStats::spool_errors`](crate::ClientStats::spool_errors); the client keeps sending
//! what it can. Each record is checked when read: a torn record (a crash mid-write) or one
//! whose checksum fails ends its segment's good part; the records before it are replayed, and
//! the bad tail is skipped and counted in
//! [`ClientStats::spool_corrupt_records`](crate::ClientStats::spool_corrupt_records) and
//! `spool_corrupt_bytes` (how many events it held cannot be known).
//!
//! # Durability
//!
//! Spool files are written with plain `write` calls, from a thread of their own, never on
//! the producers' path. Data written survives the process being killed (SIGKILL, OOM) with
//! any [`SpoolFsync`] policy; the policy only matters if the machine itself goes down. See
//! BENCHMARKS.md for what each policy costs.
//!
//! # Duplicates
//!
//! Delivery is at least once. An event can arrive twice when (1) a request reached the
//! server but its answer did not reach the client (timeout, connection cut), so it is sent
//! again, from memory or from the spool; (2) the process died after the server accepted a
//! spooled batch but before the `ledger` recorded it (at most the one batch in flight);
//! (3) shutdown's deadline cut a request in flight and its batch went to the spool. A copy
//! carries the same `Idempotency-Key` header and the same `metadata.event_id` in each
//! event (written once, replayed byte for byte), so a server or reader can drop it.
//!
//! # One client per folder
//!
//! The folder's `lock` file is locked (`flock`) while a client uses it, and released when
//! the process ends, however it ends. A second client pointed at a folder in use fails to
//! build with [`Error::SpoolLocked`] rather than share it and replay the other's batches
//! twice: give each process its own folder (for example one per service instance).

mod record;
mod segment;
mod store;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::batch::Batch;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::stats::SpoolCounters;
use store::Store;

/// When the spool forces what it wrote to the disk (`fsync`).
///
/// Whatever the policy, spooled data survives the process being killed; the policy decides
/// what survives a power cut or a kernel crash, and what it costs (see BENCHMARKS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SpoolFsync {
    /// Never; the operating system writes back when it likes (typically within 30 s).
    /// About 0.03 ms per spooled batch of 100 events on the benchmark machine.
    None,
    /// When a segment is closed, and on flush and shutdown: a power cut loses at most the
    /// open segment's batches since the last flush. The default: about 16 ms per 8 MiB
    /// segment on the benchmark machine, some 0.12 ms per batch of 100 events.
    #[default]
    Segment,
    /// After every batch written: nothing written is lost, at the price of one disk sync
    /// per spooled batch (7.5 ms on the benchmark machine, so at most ~130 batches a second).
    Batch,
}

impl SpoolFsync {
    /// The name used by `MASTER_LOG_SPOOL_FSYNC`: `none`, `segment` or `batch`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SpoolFsync::None => "none",
            SpoolFsync::Segment => "segment",
            SpoolFsync::Batch => "batch",
        }
    }

    pub(crate) fn parse(raw: &str) -> Option<SpoolFsync> {
        [SpoolFsync::None, SpoolFsync::Segment, SpoolFsync::Batch]
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(raw))
    }
}

/// Requests from the worker to the spool thread, handled in order.
#[derive(Debug)]
enum Cmd {
    Store(Batch),
    /// One event a producer could not enqueue (full queue, wait expired).
    Event(Event),
    /// The batch last handed out for replay was answered for good.
    Ack,
    /// The batch last handed out for replay could not be delivered; hand it out again.
    Nack,
    /// Answers once everything stored before is written (and synced, per the policy).
    Sync(oneshot::Sender<()>),
    /// Write what is pending, release the folder and end the thread.
    Close,
}

/// The worker's handle on the spool thread.
///
/// Requests go over an unbounded channel so the worker never waits on the disk: it hands
/// over at most what producers managed to enqueue, and the thread writes far faster than
/// the bounded queue fills.
#[derive(Debug)]
pub(crate) struct Spool {
    cmd: mpsc::UnboundedSender<Cmd>,
    exited: oneshot::Receiver<()>,
}

/// Batches read back from the spool, one at a time: the next comes after an ack or a nack.
pub(crate) type Replays = mpsc::Receiver<Batch>;

impl Spool {
    /// Takes the folder's lock (an error if another client holds it) and starts the thread,
    /// which scans the folder and offers what a previous process left.
    pub(crate) fn start(
        dir: &Path,
        max_bytes: u64,
        fsync: SpoolFsync,
        counters: Arc<SpoolCounters>,
    ) -> Result<(Spool, Replays)> {
        let locked = lock(dir)?;
        let (cmd, cmds) = mpsc::unbounded_channel();
        let (replay_tx, replays) = mpsc::channel(1);
        let (exit, exited) = oneshot::channel();
        std::thread::Builder::new()
            .name("master-log-spool".into())
            .spawn(move || {
                run(
                    Store::open(locked, max_bytes, fsync, counters),
                    cmds,
                    replay_tx,
                );
                // After the store (and its lock) is dropped.
                let _ = exit.send(());
            })
            .map_err(|source| Error::Spool {
                path: dir.to_owned(),
                source,
            })?;
        Ok((Spool { cmd, exited }, replays))
    }

    /// Hands a batch to the spool thread, to be written.
    pub(crate) fn store(&self, batch: Batch) {
        let _ = self.cmd.send(Cmd::Store(batch));
    }

    /// The replayed batch was answered for good (accepted, or refused in a way no retry can
    /// change).
    pub(crate) fn ack(&self) {
        let _ = self.cmd.send(Cmd::Ack);
    }

    /// The replayed batch could not be delivered: it stays in the spool.
    pub(crate) fn nack(&self) {
        let _ = self.cmd.send(Cmd::Nack);
    }

    /// Waits until everything stored so far is written (and synced, per the policy).
    pub(crate) async fn sync(&self) {
        let (tx, rx) = oneshot::channel();
        if self.cmd.send(Cmd::Sync(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Stops the thread and waits until it has written everything and released the lock.
    pub(crate) async fn close(self) {
        let Spool { cmd, exited } = self;
        let _ = cmd.send(Cmd::Close);
        let _ = exited.await;
    }

    /// A handle producers use to put events in the spool when the queue has no room.
    pub(crate) fn inbox(&self) -> Inbox {
        Inbox(self.cmd.clone())
    }
}

/// The producers' way into the spool: an event that found the queue full after waiting is
/// handed to the spool thread (a lock-free push; encoding and I/O happen on the thread).
#[derive(Debug, Clone)]
pub(crate) struct Inbox(mpsc::UnboundedSender<Cmd>);

impl Inbox {
    /// Hands `event` to the spool thread; `false` if the spool is closed.
    pub(crate) fn store(&self, event: Event) -> bool {
        self.0.send(Cmd::Event(event)).is_ok()
    }
}

/// Takes the folder's lock, naming the folder in the error.
fn lock(dir: &Path) -> Result<store::Locked> {
    store::lock(dir).map_err(|e| match e {
        store::LockError::Busy => Error::SpoolLocked(dir.to_owned()),
        store::LockError::Io(source) => Error::Spool {
            path: dir.to_owned(),
            source,
        },
    })
}

fn run(mut store: Store, mut cmds: mpsc::UnboundedReceiver<Cmd>, replay: mpsc::Sender<Batch>) {
    let mut handed_out = false;
    let mut scratch = Vec::new();
    loop {
        while !handed_out && let Some(r) = store.next_replay() {
            match record::decode(&r.payload, r.events) {
                Some(batch) => match replay.try_send(batch) {
                    Ok(()) => handed_out = true,
                    // The worker is gone: the record stays for the next process.
                    Err(_) => {
                        store.nack();
                        break;
                    }
                },
                // A corruption the checksum missed: skip the record, counted.
                None => store.skip_undecodable(),
            }
        }
        store.publish();
        let Some(cmd) = cmds.blocking_recv() else {
            break;
        };
        match cmd {
            Cmd::Store(batch) => {
                let events = u32::try_from(batch.len).unwrap_or(u32::MAX);
                scratch.clear();
                record::encode(&batch, &mut scratch);
                store.append(events, &scratch);
            }
            Cmd::Event(event) => {
                let mut encoded = Vec::new();
                event.encode_into(&mut encoded);
                scratch.clear();
                record::encode(&Batch::from_events([&encoded[..]]), &mut scratch);
                store.append(1, &scratch);
            }
            Cmd::Close => break,
            Cmd::Ack => {
                store.ack();
                handed_out = false;
            }
            Cmd::Nack => {
                store.nack();
                handed_out = false;
            }
            Cmd::Sync(done) => {
                store.sync();
                let _ = done.send(());
            }
        }
    }
    store.sync();
    store.publish();
}

/// Writes `batches` (event count, request body) into the spool folder `dir` with `fsync`,
/// as the spool thread would, and closes it. For the spool benchmark; not part of the API.
#[doc(hidden)]
pub fn bench_append(dir: &Path, fsync: SpoolFsync, batches: &[(u32, &[u8])]) -> Result<()> {
    let locked = lock(dir)?;
    let counters = Arc::new(SpoolCounters::default());
    let mut store = Store::open(locked, u64::MAX, fsync, counters);
    for (events, body) in batches {
        store.append(*events, body);
    }
    Ok(())
}
