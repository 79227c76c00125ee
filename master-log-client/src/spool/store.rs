//! The spool folder on disk: its lock, its segments (oldest first), the append side, the
//! replay side and the acknowledgement ledger. Synchronous; only the spool thread calls it.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::SpoolFsync;
use super::segment::{self, HEADER_LEN, MAGIC, Next};
use crate::stats::{Counters, SpoolCounters};

/// Name of the lock file in a spool folder.
pub(crate) const LOCK_FILE: &str = "lock";
/// Name of the ledger file: how far the oldest segment has been delivered.
const LEDGER_FILE: &str = "ledger";
const SEGMENT_PREFIX: &str = "segment-";
const SEGMENT_SUFFIX: &str = ".spool";
/// Largest segment, whatever the cap; a segment is also at most an eighth of the cap, so
/// evicting the oldest frees a small part of it.
const MAX_SEGMENT_BYTES: u64 = 8 << 20;

/// A spool folder whose lock this process holds.
#[derive(Debug)]
pub(crate) struct Locked {
    pub(crate) dir: PathBuf,
    _lock: File,
}

/// Why a spool folder could not be taken.
#[derive(Debug)]
pub(crate) enum LockError {
    /// Another client (in this process or another) holds the folder's lock.
    Busy,
    Io(io::Error),
}

/// Creates `dir` if needed and takes its lock without waiting.
pub(crate) fn lock(dir: &Path) -> Result<Locked, LockError> {
    fs::create_dir_all(dir).map_err(LockError::Io)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(dir.join(LOCK_FILE))
        .map_err(LockError::Io)?;
    match lock.try_lock() {
        Ok(()) => Ok(Locked {
            dir: dir.to_owned(),
            _lock: lock,
        }),
        Err(TryLockError::WouldBlock) => Err(LockError::Busy),
        Err(TryLockError::Error(e)) => Err(LockError::Io(e)),
    }
}

/// A batch read back from the spool.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Replay {
    pub(crate) payload: Bytes,
    pub(crate) events: u32,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    path: PathBuf,
    /// Size on disk.
    bytes: u64,
    /// Events in good records after `start`, the in-flight record's included.
    events: u64,
    /// Offset of the first record not yet delivered.
    start: u64,
    /// Where a bad tail found (and counted) by the start-up scan begins.
    good_end: Option<u64>,
}

/// What a start-up scan found in one segment.
struct Scan {
    /// Size on disk.
    bytes: u64,
    /// `(offset, events)` of each good record.
    records: Vec<(u64, u64)>,
    /// Where the bad tail begins, if there is one.
    good_end: Option<u64>,
    /// Where the last good record ends.
    records_end: u64,
}

#[derive(Debug)]
struct Reader {
    id: u64,
    file: File,
    pos: u64,
}

/// The replayed record the worker has not acknowledged yet.
#[derive(Debug)]
struct InFlight {
    id: u64,
    end: u64,
    events: u64,
}

/// The spool folder: see the [module docs](super) for the layout and rules.
#[derive(Debug)]
pub(crate) struct Store {
    locked: Locked,
    fsync: SpoolFsync,
    max_bytes: u64,
    segment_bytes: u64,
    segments: VecDeque<Segment>,
    total_bytes: u64,
    /// Appends to the newest segment; `None` until the first append of this process, since
    /// a process never appends to a segment it did not create.
    writer: Option<File>,
    reader: Option<Reader>,
    in_flight: Option<InFlight>,
    ledger: Option<File>,
    next_id: u64,
    counters: Arc<SpoolCounters>,
    scratch: Vec<u8>,
    /// Something was written since the open segment was last synced.
    dirty: bool,
    /// Test hook: every write fails as on a full disk.
    #[cfg(test)]
    fail_writes: bool,
}

impl Store {
    /// Opens a locked folder: drops segments the ledger says were delivered, and scans the
    /// rest, counting their events and any bad tail. Failures are counted, never fatal.
    pub(crate) fn open(
        locked: Locked,
        max_bytes: u64,
        fsync: SpoolFsync,
        counters: Arc<SpoolCounters>,
    ) -> Store {
        let mut store = Store {
            segment_bytes: (max_bytes / 8).clamp(64 << 10, MAX_SEGMENT_BYTES),
            locked,
            fsync,
            max_bytes,
            segments: VecDeque::new(),
            total_bytes: 0,
            writer: None,
            reader: None,
            in_flight: None,
            ledger: None,
            next_id: 0,
            counters,
            scratch: Vec::new(),
            dirty: false,
            #[cfg(test)]
            fail_writes: false,
        };
        let ledger = store.read_ledger();
        let mut ids = match store.segment_ids() {
            Ok(ids) => ids,
            Err(e) => {
                store.io_error("listing the spool folder", &e);
                Vec::new()
            }
        };
        ids.sort_unstable();
        // New segments come after every one the ledger has seen, even if the folder is empty:
        // a reused id below the ledger's would be taken for delivered at the next start.
        let after_ledger = ledger.map_or(0, |(acked, _)| acked.saturating_add(1));
        store.next_id = ids.last().map_or(0, |id| id + 1).max(after_ledger);
        for id in ids {
            let path = store.segment_path(id);
            match ledger {
                // Delivered before a crash that came ahead of its deletion.
                Some((acked, _)) if id < acked => store.remove(&path),
                Some((acked, offset)) if id == acked => store.scan(id, path, offset),
                _ => store.scan(id, path, HEADER_LEN),
            }
        }
        store.publish();
        store
    }

    fn segment_path(&self, id: u64) -> PathBuf {
        self.locked
            .dir
            .join(format!("{SEGMENT_PREFIX}{id:020}{SEGMENT_SUFFIX}"))
    }

    fn segment_ids(&self) -> io::Result<Vec<u64>> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.locked.dir)? {
            let name = entry?.file_name();
            let id = name
                .to_str()
                .and_then(|n| n.strip_prefix(SEGMENT_PREFIX))
                .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
                .and_then(|n| n.parse::<u64>().ok());
            ids.extend(id);
        }
        Ok(ids)
    }

    /// Counts the good records of segment `id` from `start` on; a bad tail is counted once.
    fn scan(&mut self, id: u64, path: PathBuf, start: u64) {
        let scanned = (|| -> io::Result<Option<Scan>> {
            let mut file = io::BufReader::new(File::open(&path)?);
            let bytes = file.get_ref().metadata()?.len();
            if !segment::read_header(&mut file)? {
                return Ok(None);
            }
            let mut records = Vec::new();
            let mut pos = HEADER_LEN;
            let good_end = loop {
                match segment::read_record(&mut file, bytes.saturating_sub(pos))? {
                    Next::Record { events, len, .. } => {
                        records.push((pos, u64::from(events)));
                        pos += len;
                    }
                    Next::End => break None,
                    Next::Corrupt(_) => break Some(pos),
                }
            };
            Ok(Some(Scan {
                bytes,
                records,
                good_end,
                records_end: pos,
            }))
        })();
        match scanned {
            Ok(Some(Scan {
                bytes,
                records,
                good_end,
                records_end,
            })) => {
                // A ledger offset that is not a record boundary is not trusted: replaying
                // twice beats losing. The end of the last good record is a boundary too: a
                // segment delivered to its end.
                let start = if start == records_end || records.iter().any(|&(at, _)| at == start) {
                    start
                } else {
                    HEADER_LEN
                };
                let events = records
                    .iter()
                    .filter(|&&(at, _)| at >= start)
                    .map(|&(_, n)| n)
                    .sum();
                if let Some(at) = good_end {
                    self.count_bad_tail(id, bytes - at, "found at start-up");
                }
                self.total_bytes += bytes;
                self.segments.push_back(Segment {
                    id,
                    path,
                    bytes,
                    events,
                    start,
                    good_end,
                });
            }
            // Not a segment of ours (or empty: created by a crash before its header).
            Ok(None) => {
                let bytes = fs::metadata(&path).map_or(0, |m| m.len());
                if bytes > 0 {
                    self.count_bad_tail(id, bytes, "no segment header");
                }
                self.remove(&path);
            }
            Err(e) => self.io_error("reading a spool segment", &e),
        }
    }

    fn count_bad_tail(&self, id: u64, bytes: u64, why: &str) {
        Counters::add(&self.counters.corrupt_tails, 1);
        Counters::add(&self.counters.corrupt_bytes, bytes);
        tracing::warn!(
            target: "master_log_client",
            segment = id,
            bytes,
            reason = why,
            "skipping the corrupt tail of a spool segment",
        );
    }

    fn io_error(&self, doing: &str, err: &io::Error) {
        Counters::add(&self.counters.errors, 1);
        tracing::warn!(
            target: "master_log_client",
            folder = %self.locked.dir.display(),
            error = %err,
            "spool i/o error while {doing}",
        );
    }

    fn lose(&self, events: u64, why: &str) {
        if events == 0 {
            return;
        }
        Counters::add(&self.counters.lost, events);
        tracing::error!(target: "master_log_client", count = events, reason = why, "events dropped from the spool");
    }

    fn remove(&self, path: &Path) {
        if let Err(e) = fs::remove_file(path)
            && e.kind() != io::ErrorKind::NotFound
        {
            self.io_error("deleting a spool segment", &e);
        }
    }

    /// Updates the gauges in the counters.
    pub(crate) fn publish(&self) {
        let events = self.segments.iter().map(|s| s.events).sum();
        self.counters
            .bytes
            .store(self.total_bytes, Ordering::Relaxed);
        self.counters.pending.store(events, Ordering::Relaxed);
    }

    // === append side ===

    /// Appends one batch of `events` events as one record; `false` (counted) when it could not
    /// be written.
    pub(crate) fn append(&mut self, events: u32, payload: &[u8]) -> bool {
        let n = u64::from(events);
        let need = segment::record_len(payload.len());
        if need + HEADER_LEN > self.max_bytes || payload.len() > segment::MAX_PAYLOAD {
            self.lose(n, "batch larger than spool_max_bytes");
            return false;
        }
        // Past the cap the oldest segments go, counted.
        while self.total_bytes + need + self.roll_cost(need) > self.max_bytes
            && !self.segments.is_empty()
        {
            self.evict_oldest();
        }
        if self.roll_cost(need) > 0 && !self.roll() {
            self.lose(n, "spool segment could not be created");
            return false;
        }
        self.scratch.clear();
        segment::encode_record(&mut self.scratch, events, payload);
        let written = self.write_scratch();
        let Some(seg_bytes) = self.segments.back().map(|s| s.bytes) else {
            return false;
        };
        match written {
            Ok(()) => {
                if let Some(seg) = self.segments.back_mut() {
                    seg.bytes += need;
                    seg.events += n;
                }
                self.total_bytes += need;
                Counters::add(&self.counters.spooled, n);
                self.dirty = true;
                if self.fsync == SpoolFsync::Batch {
                    self.sync();
                }
                true
            }
            Err(e) => {
                self.io_error("writing a spool segment", &e);
                self.lose(n, "spool write failed");
                // Cut a torn record off so the segment stays readable; the next append
                // starts a new segment.
                if let Some(w) = self.writer.take()
                    && let Err(e) = w.set_len(seg_bytes)
                {
                    self.io_error("truncating a torn spool record", &e);
                    if let Some(seg) = self.segments.back_mut() {
                        seg.good_end = Some(seg_bytes);
                    }
                }
                false
            }
        }
    }

    fn write_scratch(&mut self) -> io::Result<()> {
        #[cfg(test)]
        if self.fail_writes {
            return Err(io::Error::from(io::ErrorKind::StorageFull));
        }
        match self.writer.as_mut() {
            Some(w) => w.write_all(&self.scratch),
            None => Err(io::Error::other("no open spool segment")),
        }
    }

    /// Header bytes a new segment would add before a record of `need` bytes.
    fn roll_cost(&self, need: u64) -> u64 {
        let fits = self.writer.is_some()
            && self
                .segments
                .back()
                .is_some_and(|s| s.bytes + need <= self.segment_bytes || s.bytes == HEADER_LEN);
        if fits { 0 } else { HEADER_LEN }
    }

    /// Closes the open segment and starts a new one; `false` (counted) on failure.
    fn roll(&mut self) -> bool {
        self.sync();
        self.writer = None;
        self.dirty = false;
        let id = self.next_id;
        self.next_id += 1;
        let path = self.segment_path(id);
        let created = (|| -> io::Result<File> {
            #[cfg(test)]
            if self.fail_writes {
                return Err(io::Error::from(io::ErrorKind::StorageFull));
            }
            let mut file = OpenOptions::new()
                .create_new(true)
                .append(true)
                .open(&path)?;
            file.write_all(MAGIC)?;
            if self.fsync != SpoolFsync::None {
                File::open(&self.locked.dir)?.sync_all()?;
            }
            Ok(file)
        })();
        match created {
            Ok(file) => {
                self.writer = Some(file);
                self.total_bytes += HEADER_LEN;
                self.segments.push_back(Segment {
                    id,
                    path,
                    bytes: HEADER_LEN,
                    events: 0,
                    start: HEADER_LEN,
                    good_end: None,
                });
                true
            }
            Err(e) => {
                self.io_error("creating a spool segment", &e);
                self.remove(&path);
                false
            }
        }
    }

    /// Deletes the oldest segment to make room; its undelivered events are lost, counted.
    fn evict_oldest(&mut self) {
        let Some(seg) = self.segments.pop_front() else {
            return;
        };
        if self.segments.is_empty() {
            self.writer = None;
        }
        if self.reader.as_ref().is_some_and(|r| r.id == seg.id) {
            self.reader = None;
        }
        let mut lost = seg.events;
        if let Some(f) = self.in_flight.as_ref().filter(|f| f.id == seg.id) {
            // Its fate is settled by the worker's answer: see `nack`.
            lost = lost.saturating_sub(f.events);
        }
        self.lose(lost, "spool_max_bytes reached: oldest segment deleted");
        self.total_bytes = self.total_bytes.saturating_sub(seg.bytes);
        self.remove(&seg.path);
    }

    /// Makes what was appended durable as the fsync policy says (after each batch with
    /// `batch`; on flush and shutdown with `segment` and `batch`).
    pub(crate) fn sync(&mut self) {
        if self.fsync == SpoolFsync::None || !std::mem::take(&mut self.dirty) {
            return;
        }
        if let Some(Err(e)) = self.writer.as_ref().map(File::sync_data) {
            self.io_error("syncing a spool segment", &e);
        }
    }

    // === replay side ===

    /// The oldest record not yet delivered, unless one is already out with the worker.
    pub(crate) fn next_replay(&mut self) -> Option<Replay> {
        if self.in_flight.is_some() {
            return None;
        }
        loop {
            let seg = self.segments.front()?;
            let (id, start, good_end, bytes, events) =
                (seg.id, seg.start, seg.good_end, seg.bytes, seg.events);
            let open = self.writer.is_some() && self.segments.len() == 1;
            if self.reader.as_ref().is_none_or(|r| r.id != id) {
                let opened = File::open(&seg.path).and_then(|mut file| {
                    file.seek(SeekFrom::Start(start))?;
                    Ok(file)
                });
                match opened {
                    Ok(file) => {
                        self.reader = Some(Reader {
                            id,
                            file,
                            pos: start,
                        });
                    }
                    Err(e) => {
                        self.io_error("opening a spool segment", &e);
                        self.lose(events, "spool segment unreadable");
                        self.drop_front();
                        continue;
                    }
                }
            }
            let reader = self.reader.as_mut()?;
            let next = if good_end.is_some_and(|g| reader.pos >= g) {
                Ok(Next::End)
            } else {
                segment::read_record(&mut reader.file, bytes.saturating_sub(reader.pos))
            };
            match next {
                Ok(Next::Record {
                    events,
                    payload,
                    len,
                }) => {
                    reader.pos += len;
                    self.in_flight = Some(InFlight {
                        id,
                        end: reader.pos,
                        events: u64::from(events),
                    });
                    return Some(Replay {
                        payload: Bytes::from(payload),
                        events,
                    });
                }
                // The writer may still add to the open segment.
                Ok(Next::End) if open => return None,
                Ok(Next::End) => self.drop_front(),
                Ok(Next::Corrupt(why)) => {
                    let at = reader.pos;
                    self.count_bad_tail(id, bytes.saturating_sub(at), why);
                    self.lose(events, "corrupt spool record");
                    self.drop_front();
                }
                Err(e) => {
                    self.io_error("reading a spool segment", &e);
                    self.lose(events, "spool segment unreadable");
                    self.drop_front();
                }
            }
        }
    }

    /// Deletes the oldest segment, read to its end (or given up on).
    fn drop_front(&mut self) {
        if let Some(seg) = self.segments.pop_front() {
            if self.segments.is_empty() {
                self.writer = None;
            }
            self.reader = None;
            self.total_bytes = self.total_bytes.saturating_sub(seg.bytes);
            self.remove(&seg.path);
        }
    }

    /// The worker delivered (or rejected for good) the record from [`Store::next_replay`].
    pub(crate) fn ack(&mut self) {
        if let Some(f) = self.pass_in_flight() {
            Counters::add(&self.counters.replayed, f.events);
        }
    }

    /// The record from [`Store::next_replay`] passed its checksum but does not hold a batch:
    /// skipped, its events counted lost.
    pub(crate) fn skip_undecodable(&mut self) {
        if let Some(f) = self.pass_in_flight() {
            self.count_bad_tail(f.id, 0, "undecodable record");
            self.lose(f.events, "undecodable spool record");
        }
    }

    /// Moves the segment's start and the ledger past the record handed out, and returns it.
    fn pass_in_flight(&mut self) -> Option<InFlight> {
        let f = self.in_flight.take()?;
        if let Some(seg) = self.segments.iter_mut().find(|s| s.id == f.id) {
            seg.events = seg.events.saturating_sub(f.events);
            seg.start = f.end;
            self.write_ledger(f.id, f.end);
        }
        Some(f)
    }

    /// The worker could not deliver the record: it is read again next time.
    pub(crate) fn nack(&mut self) {
        let Some(f) = self.in_flight.take() else {
            return;
        };
        match self.segments.iter().find(|s| s.id == f.id) {
            Some(seg) => {
                let start = seg.start;
                if let Some(r) = self.reader.as_mut().filter(|r| r.id == f.id) {
                    match r.file.seek(SeekFrom::Start(start)) {
                        Ok(_) => r.pos = start,
                        Err(_) => self.reader = None,
                    }
                }
            }
            // Its segment was evicted while it was out.
            None => self.lose(f.events, "spool_max_bytes reached: oldest segment deleted"),
        }
    }

    fn read_ledger(&self) -> Option<(u64, u64)> {
        let bytes = fs::read(self.locked.dir.join(LEDGER_FILE)).ok()?;
        let bytes: [u8; 20] = bytes.get(..20)?.try_into().ok()?;
        let crc = u32::from_le_bytes(bytes[16..].try_into().ok()?);
        (crc32fast::hash(&bytes[..16]) == crc).then(|| {
            let word =
                |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or_default());
            (word(0), word(8))
        })
    }

    /// Records that segment `id` is delivered up to `offset`. Losing this write only means
    /// replaying a record twice, so it is never synced.
    fn write_ledger(&mut self, id: u64, offset: u64) {
        let mut entry = [0u8; 20];
        entry[..8].copy_from_slice(&id.to_le_bytes());
        entry[8..16].copy_from_slice(&offset.to_le_bytes());
        let crc = crc32fast::hash(&entry[..16]);
        entry[16..].copy_from_slice(&crc.to_le_bytes());
        let path = self.locked.dir.join(LEDGER_FILE);
        let written = (|| -> io::Result<()> {
            if self.ledger.is_none() {
                self.ledger = Some(
                    OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(&path)?,
                );
            }
            let file = self
                .ledger
                .as_mut()
                .ok_or_else(|| io::Error::other("no ledger"))?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&entry)
        })();
        if let Err(e) = written {
            self.ledger = None;
            self.io_error("writing the spool ledger", &e);
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.sync();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path, max_bytes: u64) -> (Store, Arc<SpoolCounters>) {
        let counters = Arc::new(SpoolCounters::default());
        let locked = lock(dir).unwrap();
        let store = Store::open(locked, max_bytes, SpoolFsync::None, Arc::clone(&counters));
        (store, counters)
    }

    fn get(c: &std::sync::atomic::AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }

    fn body(i: usize) -> Vec<u8> {
        format!("{{\"logs\":[{i}]}}").into_bytes()
    }

    /// Replays and acknowledges everything; returns the bodies in order.
    fn drain(store: &mut Store) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(r) = store.next_replay() {
            out.push(String::from_utf8(r.payload.to_vec()).unwrap());
            store.ack();
        }
        out
    }

    fn bodies(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| String::from_utf8(body(i)).unwrap()).collect()
    }

    #[test]
    fn replays_oldest_first_one_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, counters) = open(dir.path(), 256 << 20);
        for i in 0..3 {
            assert!(store.append(1, &body(i)));
        }
        let first = store.next_replay().unwrap();
        assert_eq!(first.payload, body(0));
        assert_eq!(store.next_replay(), None, "one out at a time");
        store.nack();
        assert_eq!(
            store.next_replay().unwrap().payload,
            body(0),
            "handed out again"
        );
        store.ack();
        assert_eq!(drain(&mut store), bodies(1..3));
        store.publish();
        assert_eq!(get(&counters.replayed), 3);
        assert_eq!(get(&counters.pending), 0);
    }

    #[test]
    fn segments_roll_and_delivered_ones_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = open(dir.path(), 512 << 10);
        let payload = vec![b'x'; 10_000];
        for _ in 0..20 {
            assert!(store.append(1, &payload));
        }
        assert!(store.segments.len() > 2, "{}", store.segments.len());
        while store.next_replay().is_some() {
            store.ack();
        }
        // Only the open segment is left.
        assert_eq!(store.segment_ids().unwrap().len(), 1);
    }

    #[test]
    fn a_reopened_folder_replays_only_what_was_not_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = open(dir.path(), 256 << 20);
        for i in 0..4 {
            store.append(1, &body(i));
        }
        store.next_replay().unwrap();
        store.ack();
        // Handed out but never answered: replayed again after a restart.
        store.next_replay().unwrap();
        drop(store);
        let (mut store, counters) = open(dir.path(), 256 << 20);
        assert_eq!(get(&counters.pending), 3);
        assert_eq!(drain(&mut store), bodies(1..4));
    }

    // regression: issue #14
    #[test]
    fn issue_14_a_fully_delivered_segment_is_not_replayed_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = open(dir.path(), 256 << 20);
        for i in 0..3 {
            assert!(store.append(1, &body(i)));
        }
        assert_eq!(drain(&mut store), bodies(0..3));
        drop(store);
        // The ledger points at the end of the (still open) segment: nothing is left to send.
        let (mut store, counters) = open(dir.path(), 256 << 20);
        assert_eq!(get(&counters.pending), 0);
        assert!(drain(&mut store).is_empty());
    }

    // regression: issue #14
    #[test]
    fn issue_14_a_folder_emptied_by_replay_does_not_reuse_the_ledgers_segment_ids() {
        let dir = tempfile::tempdir().unwrap();
        // First process: spools across a few segments and delivers them all.
        let (mut store, _) = open(dir.path(), 512 << 10);
        let payload = vec![b'x'; 30_000];
        for _ in 0..10 {
            assert!(store.append(1, &payload));
        }
        assert!(store.segments.len() > 1);
        drain(&mut store);
        drop(store);
        // Second process: deletes the delivered open segment; the folder is now empty but
        // the ledger still names the last segment delivered.
        let (mut store, _) = open(dir.path(), 512 << 10);
        assert!(drain(&mut store).is_empty());
        drop(store);
        assert_eq!(store_segment_count(dir.path()), 0);
        // Third process spools during an outage and stops with the server still down.
        let (mut store, _) = open(dir.path(), 512 << 10);
        for i in 0..3 {
            assert!(store.append(1, &body(i)));
        }
        drop(store);
        // The fourth must replay them, not take them for delivered ones.
        let (mut store, counters) = open(dir.path(), 512 << 10);
        assert_eq!(get(&counters.pending), 3);
        assert_eq!(drain(&mut store), bodies(0..3));
    }

    fn store_segment_count(dir: &Path) -> usize {
        fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "spool")
            })
            .count()
    }

    #[test]
    fn a_second_lock_on_the_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open(dir.path(), 256 << 20);
        assert!(matches!(lock(dir.path()), Err(LockError::Busy)));
        drop(store);
        assert!(lock(dir.path()).is_ok());
    }

    #[test]
    fn past_the_cap_the_oldest_segment_goes_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let cap = 512 << 10;
        let (mut store, counters) = open(dir.path(), cap);
        let payload = vec![b'x'; 1000];
        for _ in 0..2000 {
            assert!(store.append(10, &payload));
            assert!(store.total_bytes <= cap, "{}", store.total_bytes);
        }
        store.publish();
        let on_disk: u64 = store
            .segment_ids()
            .unwrap()
            .iter()
            .map(|&id| fs::metadata(store.segment_path(id)).unwrap().len())
            .sum();
        assert_eq!(on_disk, get(&counters.bytes));
        assert!(on_disk <= cap);
        let (lost, pending) = (get(&counters.lost), get(&counters.pending));
        assert!(lost > 0);
        assert_eq!(lost + pending, 20_000);
        assert_eq!(get(&counters.spooled), 20_000);
        // What is left is the newest.
        assert_eq!(drain(&mut store).len() as u64 * 10, pending);
    }

    #[test]
    fn a_batch_larger_than_the_cap_is_counted_lost() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, counters) = open(dir.path(), 4096);
        assert!(!store.append(7, &vec![b'x'; 5000]));
        assert_eq!(get(&counters.lost), 7);
        assert!(store.append(1, &body(1)));
    }

    fn only_segment(dir: &Path) -> PathBuf {
        let mut paths: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "spool"))
            .collect();
        assert_eq!(paths.len(), 1);
        paths.pop().unwrap()
    }

    #[test]
    fn a_flipped_byte_keeps_the_good_records_and_counts_the_bad_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = open(dir.path(), 256 << 20);
        for i in 0..5 {
            store.append(1, &body(i));
        }
        drop(store);
        let path = only_segment(dir.path());
        let mut bytes = fs::read(&path).unwrap();
        let record = segment::record_len(body(0).len()) as usize;
        // A byte in the payload of the fourth record.
        bytes[HEADER_LEN as usize + 3 * record + 14] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        let (mut store, counters) = open(dir.path(), 256 << 20);
        assert_eq!(get(&counters.corrupt_tails), 1);
        assert_eq!(get(&counters.corrupt_bytes), 2 * record as u64);
        assert_eq!(drain(&mut store), bodies(0..3));
        // Counted once, at start-up, not again when replay reaches it.
        assert_eq!(get(&counters.corrupt_tails), 1);
        assert_eq!(store.segment_ids().unwrap().len(), 0);
    }

    #[test]
    fn a_truncated_segment_replays_what_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = open(dir.path(), 256 << 20);
        for i in 0..5 {
            store.append(1, &body(i));
        }
        drop(store);
        let path = only_segment(dir.path());
        let len = fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 3)
            .unwrap();
        let (mut store, counters) = open(dir.path(), 256 << 20);
        assert_eq!(drain(&mut store), bodies(0..4));
        assert_eq!(get(&counters.corrupt_tails), 1);
        // New appends go to a new segment, readable after the damaged one.
        store.append(1, &body(9));
        assert_eq!(drain(&mut store), bodies(9..10));
    }

    #[test]
    fn a_failing_disk_counts_the_loss_and_recovers() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, counters) = open(dir.path(), 256 << 20);
        assert!(store.append(1, &body(0)));
        store.fail_writes = true;
        assert!(!store.append(5, &body(1)));
        assert!(!store.append(5, &body(2)));
        store.fail_writes = false;
        assert!(store.append(1, &body(3)));
        assert_eq!(get(&counters.lost), 10);
        assert!(get(&counters.errors) >= 2);
        let mut replayed = drain(&mut store);
        replayed.sort();
        assert_eq!(replayed, [bodies(0..1), bodies(3..4)].concat());
    }
}
