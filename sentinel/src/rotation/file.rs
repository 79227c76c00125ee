//! The live file with rotation: a `Write` the writer appends whole lines to,
//! which renames the live file to a segment when a policy says so and
//! follows renames made by other processes.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::janitor::Janitor;
use super::lock::{self, Mode};
use super::naming::{Compression, MAX_SEQUENCE, Segment, segments};
use super::policy::{Counters, Policy, Step, unix_secs};

/// Seconds before a failed rotation is tried again (on the policy's clock);
/// meanwhile the live file keeps growing past its limits.
const RETRY_SECS: i64 = 1;

/// At most one error event per this long; every failure is counted.
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// The writer's timer looks at the clock at least this often with time
/// rotation on: it sleeps on the monotonic clock, so a wall clock that jumps
/// (a suspended machine, a stepped clock) is noticed within this.
const MAX_TIMER: Duration = Duration::from_secs(60);

/// Opens `path` for appending, creating it and its parent directories.
/// `O_NONBLOCK` for the open alone, so a FIFO without a reader is an error
/// (`ENXIO`) instead of a hang; writes then block as usual.
pub(crate) fn open_append(path: &Path) -> io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: `fd` is open for the lifetime of `file`; F_GETFL/F_SETFL
        // only read and set its status flags.
        let cleared = unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            flags >= 0 && libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) == 0
        };
        if !cleared {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(file)
}

/// Ends a last line left unfinished (a write cut short by a full disk, in an
/// earlier run or another process): writes a newline to `file`, open for
/// appending at `path`, when its last byte (of `len`) is not one, so the
/// next record starts a line of its own instead of being glued to the cut
/// one and lost with it.
pub(crate) fn end_cut_line(path: &Path, file: &mut File, len: u64) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    let mut last = [0u8];
    File::open(path)?.read_exact_at(&mut last, len - 1)?;
    if last[0] == b'\n' {
        return Ok(());
    }
    file.write_all(b"\n")
}

/// The lock file beside `live`: `.app.jsonl.lock`.
pub(crate) fn lock_path(live: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(live.file_name().unwrap_or(live.as_os_str()));
    name.push(".lock");
    live.with_file_name(name)
}

/// The live file of a rotating logger.
#[derive(Debug)]
pub(crate) struct RotatingFile {
    live: PathBuf,
    file: File,
    /// Device and inode of `file`: when the path names another, someone
    /// rotated it.
    id: (u64, u64),
    lock: Arc<File>,
    policy: Arc<Policy>,
    counters: Arc<Counters>,
    /// Start of the period `file` belongs to (time rotation only).
    period: Option<i64>,
    /// No rotation is tried before this (policy clock, seconds).
    retry_at: i64,
    /// When the last error event went out, and how many failures since.
    reported: Option<(Instant, u64)>,
    janitor: Option<Janitor>,
}

impl RotatingFile {
    /// Opens (creating) `live` and its lock file, and starts the background
    /// thread when segments are compressed or retained; that thread first
    /// finishes what a previous run left (compression, retention).
    pub(crate) fn open(
        live: &Path,
        policy: Policy,
        counters: Arc<Counters>,
        exit_wait: Duration,
    ) -> io::Result<Self> {
        let file = open_append(live)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(lock_path(live))?;
        let lock = Arc::new(lock);
        let policy = Arc::new(policy);
        let janitor = (policy.compression != Compression::None || policy.retains()).then(|| {
            Janitor::spawn(
                live.to_path_buf(),
                Arc::clone(&policy),
                Arc::clone(&counters),
                exit_wait,
            )
        });
        let mut rotating = RotatingFile {
            live: live.to_path_buf(),
            id: (0, 0),
            file,
            lock,
            policy,
            counters,
            period: None,
            retry_at: i64::MIN,
            reported: None,
            janitor: janitor.transpose()?,
        };
        let meta = rotating.file.metadata()?;
        rotating.adopt(&meta);
        rotating.end_cut_line();
        Ok(rotating)
    }

    /// Ends a last line left unfinished (a write cut short by a full disk, in an
    /// earlier run or in another process), so the next record starts a line of
    /// its own instead of being glued to the cut one and lost with it. Under the
    /// exclusive lock, so no append is half done while the last byte is read;
    /// this runs in the caller's `AsyncLogger::new`, so it never waits for the
    /// lock: while another process holds it (appending), the check is skipped
    /// and a cut line, if any, stays as it is.
    fn end_cut_line(&mut self) {
        let held = match lock::try_lock(&self.lock, Mode::Exclusive) {
            Ok(Some(held)) => held,
            Ok(None) => return,
            Err(e) => return self.failed("lock", &e),
        };
        // `follow` makes the path name `self.file`; nobody renames it while we
        // hold the lock.
        let ended = self
            .follow()
            .and_then(|len| end_cut_line(&self.live, &mut self.file, len));
        drop(held);
        if let Err(e) = ended {
            self.failed("end the cut last line", &e);
        }
    }

    /// Takes `meta` (of `self.file`) as the current file: its identity, and
    /// the period it belongs to: now for an empty file, else the period of
    /// its last change (so a file left from yesterday rotates at once).
    fn adopt(&mut self, meta: &std::fs::Metadata) {
        self.id = (meta.dev(), meta.ino());
        let now = self.policy.now_secs();
        let changed = meta.modified().map_or(now, unix_secs);
        let at = if meta.len() == 0 {
            now
        } else {
            changed.min(now)
        };
        self.period = self.policy.period_of(at);
    }

    /// Makes `self.file` the file the path names (another process may have
    /// rotated it) and returns its size.
    fn follow(&mut self) -> io::Result<u64> {
        match std::fs::metadata(&self.live) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.id => return Ok(meta.len()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                self.failed("stat", &e);
                return Ok(self.file.metadata()?.len());
            }
        }
        // Renamed by another process (or by a rotation that died before
        // creating the new file): append to whatever the path names now.
        match open_append(&self.live) {
            Ok(file) => {
                let meta = file.metadata()?;
                self.file = file;
                self.adopt(&meta);
                Ok(meta.len())
            }
            Err(e) => {
                self.failed("reopen", &e);
                Ok(self.file.metadata()?.len())
            }
        }
    }

    /// How much of `rest` goes into the live file now (whole lines), given
    /// its `size`; 0 when it must rotate first.
    fn fits(&self, size: u64, rest: &[u8]) -> usize {
        if size == 0 {
            // A fresh file takes at least one line, however long.
            return match self.policy.max_bytes {
                Some(max) if rest.len() as u64 > max => {
                    let room = (max as usize).min(rest.len());
                    match rest[..room].iter().rposition(|&b| b == b'\n') {
                        Some(i) => i + 1,
                        None => rest
                            .iter()
                            .position(|&b| b == b'\n')
                            .map_or(rest.len(), |i| i + 1),
                    }
                }
                _ => rest.len(),
            };
        }
        if self.time_due() {
            return 0;
        }
        match self.policy.max_bytes {
            Some(max) if size + rest.len() as u64 > max => {
                let room = max.saturating_sub(size) as usize;
                rest[..room.min(rest.len())]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |i| i + 1)
            }
            _ => rest.len(),
        }
    }

    fn time_due(&self) -> bool {
        let now = self.policy.period_of(self.policy.now_secs());
        matches!((self.period, now), (Some(file), Some(now)) if now > file)
    }

    /// Appends `buf` (whole lines), rotating where a policy says; no line is
    /// split between files.
    fn append(&mut self, mut rest: &[u8]) -> io::Result<()> {
        let mut may_rotate = true;
        while !rest.is_empty() {
            let held = match lock::lock(&self.lock, Mode::Shared) {
                Ok(held) => Some(held),
                Err(e) => {
                    self.failed("lock", &e);
                    None
                }
            };
            let size = self.follow()?;
            if size == 0 && self.time_due() {
                // Empty since before the boundary: it holds the new period's
                // records from now on, and must not be rotated for the old one.
                self.period = self.policy.period_of(self.policy.now_secs());
            }
            let take = if may_rotate && self.policy.now_secs() >= self.retry_at {
                self.fits(size, rest)
            } else {
                rest.len()
            };
            if take > 0 {
                self.policy.step(Step::Append)?;
                self.file.write_all(&rest[..take])?;
                rest = &rest[take..];
            }
            drop(held);
            if !rest.is_empty() {
                may_rotate = self.rotate();
            }
        }
        Ok(())
    }

    /// For the writer's timer (called after each write cycle, and when the
    /// timer or the clock wakes it): rotates the live file when its period
    /// has ended and it holds records, as the next write would; an empty one
    /// is only taken into the new period. Returns how long until it is due
    /// again, `None` without time rotation.
    pub(crate) fn rotate_if_due(&mut self) -> Option<Duration> {
        let until = self.policy.until_next_period()?;
        if !self.time_due() {
            return Some(until.min(MAX_TIMER));
        }
        if self.policy.now_secs() >= self.retry_at {
            self.rotate_on_time();
        }
        if self.time_due() {
            // The rotation failed: try again when the retry is due.
            return Some(Duration::from_secs(RETRY_SECS as u64));
        }
        Some(self.policy.until_next_period()?.min(MAX_TIMER))
    }

    /// A time rotation with no record in hand. A look under the shared lock
    /// first, as a write takes it (so no rotation is half done meanwhile):
    /// most often another process rotated already, or the file is empty,
    /// and then nothing needs the exclusive lock.
    fn rotate_on_time(&mut self) {
        let held = match lock::lock(&self.lock, Mode::Shared) {
            Ok(held) => Some(held),
            Err(e) => {
                self.failed("lock", &e);
                None
            }
        };
        // Follows a file another process rotated in, which adopts it.
        let size = self.follow();
        drop(held);
        match size {
            _ if !self.time_due() => {}
            // Nothing to rotate; no empty segment.
            Ok(0) => self.period = self.policy.period_of(self.policy.now_secs()),
            Ok(_) => {
                self.rotate();
            }
            Err(e) => {
                self.rotation_failed("stat", &e);
            }
        }
    }

    /// Has `waker` woken when the policy's clock jumps (a test clock).
    pub(crate) fn wake_on_jump(&self, waker: std::task::Waker) {
        self.policy.clock.wake_on_jump(waker);
    }

    /// Renames the live file to the next segment and starts a new one, under
    /// the exclusive lock so exactly one process rotates it. Returns whether
    /// the path now names a new file (ours or another process's rotation);
    /// `false` after a failure, which is counted and reported.
    fn rotate(&mut self) -> bool {
        let held = match lock::lock(&self.lock, Mode::Exclusive) {
            Ok(held) => held,
            Err(e) => return self.rotation_failed("lock", &e),
        };
        let meta = match std::fs::metadata(&self.live) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                drop(held);
                return self.follow().is_ok();
            }
            Err(e) => return self.rotation_failed("stat", &e),
        };
        if (meta.dev(), meta.ino()) != self.id {
            // Another process rotated it first.
            drop(held);
            return self.follow().is_ok();
        }
        if meta.len() == 0 {
            self.adopt(&meta);
            return true;
        }
        let now = self.policy.now_secs();
        let segment = match self.next_segment(now) {
            Ok(path) => path,
            Err(e) => return self.rotation_failed("list segments", &e),
        };
        if let Err(e) = self
            .policy
            .step(Step::Rename)
            .and_then(|()| std::fs::rename(&self.live, &segment))
        {
            return self.rotation_failed("rename", &e);
        }
        match self
            .policy
            .step(Step::Reopen)
            .and_then(|()| open_append(&self.live))
        {
            Ok(file) => {
                let meta = file.metadata();
                self.file = file;
                match meta {
                    Ok(meta) => self.adopt(&meta),
                    Err(e) => self.failed("stat", &e),
                }
            }
            Err(e) => {
                // Put the file back: the live path must keep naming a file
                // others append to. Nobody else can act while we hold the lock.
                if let Err(back) = std::fs::rename(&segment, &self.live) {
                    self.failed("rename back", &back);
                }
                return self.rotation_failed("create the new live file", &e);
            }
        }
        drop(held);
        self.counters.rotations.fetch_add(1, Ordering::Relaxed);
        if let Some(janitor) = &self.janitor {
            janitor.wake();
        }
        true
    }

    /// The name of the next segment: never earlier than the newest one, so
    /// names sort in rotation order even if the clock steps back.
    fn next_segment(&self, now: i64) -> io::Result<PathBuf> {
        let newest = segments(&self.live)?.pop();
        let now = time::OffsetDateTime::from_unix_timestamp(now)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let (time, sequence) = match newest {
            Some(s) if s.time > now => (s.time, s.sequence + 1),
            Some(s) if s.time == now => (now, s.sequence + 1),
            _ => (now, 1),
        };
        if sequence > MAX_SEQUENCE {
            return Err(io::Error::other("more than 999999 rotations in one second"));
        }
        Ok(Segment::path_for(
            &self.live,
            time,
            sequence,
            Compression::None,
        ))
    }

    fn rotation_failed(&mut self, what: &'static str, err: &io::Error) -> bool {
        self.retry_at = self.policy.now_secs() + RETRY_SECS;
        self.failed(what, err);
        false
    }

    /// Counts a failed step and reports it, at most one event a second
    /// (saying how many failed since); the live file is still written.
    fn failed(&mut self, what: &'static str, err: &io::Error) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let count = match self.reported {
            Some((at, n)) if now.duration_since(at) < REPORT_EVERY => {
                self.reported = Some((at, n + 1));
                return;
            }
            Some((_, n)) => n + 1,
            None => 1,
        };
        self.reported = Some((now, 0));
        tracing::error!(
            target: "sentinel",
            error = %err,
            step = what,
            count,
            path = ?self.live,
            reason = "rotation",
            "sentinel could not rotate the log file; records go on into the live file"
        );
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.append(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
