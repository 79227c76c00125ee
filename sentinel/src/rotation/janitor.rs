//! The background thread that compresses rotated segments and applies
//! retention, so neither ever runs on the writer or on a caller.
//!
//! A plain segment is compressed into a hidden temporary file beside it
//! (`.app.<time>.<seq>.jsonl.gz.tmp`), synced, renamed to its final name,
//! and only then is the plain segment removed: a crash at any point leaves
//! every record in a plain or a complete compressed segment. The thread
//! holds an exclusive `flock` on a plain segment while it compresses it;
//! retention skips a segment it cannot lock, so no process removes a segment
//! another is compressing.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::Duration;

use super::lock;
use super::naming::{Compression, Segment, segments};
use super::policy::{Counters, Policy, Step};

/// Handle to the background thread; dropping it lets the thread finish its
/// current pass and waits for that, up to the exit deadline.
#[derive(Debug)]
pub(crate) struct Janitor {
    wake: Option<mpsc::SyncSender<()>>,
    done: mpsc::Receiver<()>,
    exit_wait: Duration,
}

impl Janitor {
    /// Starts the thread; its first pass finishes what an earlier run left.
    pub(crate) fn spawn(
        live: PathBuf,
        policy: Arc<Policy>,
        counters: Arc<Counters>,
        exit_wait: Duration,
    ) -> io::Result<Janitor> {
        // One pending wake-up is enough: a pass handles every segment.
        let (wake, rx) = mpsc::sync_channel(1);
        let (done_tx, done) = mpsc::channel();
        let _ = wake.try_send(());
        let pass = Pass {
            live,
            policy,
            counters,
        };
        std::thread::Builder::new()
            .name("sentinel-rotation".into())
            .spawn(move || {
                lock::lower_priority();
                while rx.recv().is_ok() {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pass.run()));
                }
                let _ = done_tx.send(());
            })?;
        Ok(Janitor {
            wake: Some(wake),
            done,
            exit_wait,
        })
    }

    /// Asks for a pass (after a rotation); never blocks.
    pub(crate) fn wake(&self) {
        if let Some(wake) = &self.wake {
            let _ = wake.try_send(());
        }
    }
}

impl Drop for Janitor {
    fn drop(&mut self) {
        self.wake = None;
        let _ = self.done.recv_timeout(self.exit_wait);
    }
}

/// One pass over the folder.
struct Pass {
    live: PathBuf,
    policy: Arc<Policy>,
    counters: Arc<Counters>,
}

impl Pass {
    fn run(&self) {
        // Segments retention removes anyway are not worth compressing.
        if self.policy.keep_segments.is_some() || self.policy.keep_age.is_some() {
            self.retain(false);
        }
        if self.policy.compression != Compression::None {
            self.remove_stale_temporaries();
            match segments(&self.live) {
                Ok(found) => {
                    for segment in found {
                        if segment.compression == Compression::None {
                            self.compress(&segment.path);
                        }
                    }
                }
                Err(e) => self.failed("list segments", &self.live, &e),
            }
        }
        if self.policy.retains() {
            self.retain(true);
        }
    }

    /// Compresses the plain segment `plain` unless another thread or process
    /// is at it.
    fn compress(&self, plain: &Path) {
        let Ok(source) = File::open(plain) else {
            return; // compressed and removed by someone else meanwhile
        };
        match lock::try_exclusive(&source) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => return self.failed("lock segment", plain, &e),
        }
        // Locked: is it still there (not finished by someone else)?
        if !std::fs::exists(plain).unwrap_or(false) {
            return;
        }
        let suffix = self.policy.compression.suffix();
        let mut done = plain.as_os_str().to_owned();
        done.push(suffix);
        let done = PathBuf::from(done);
        if !std::fs::exists(&done).unwrap_or(false) {
            let tmp = temporary(&done);
            let written = self
                .policy
                .step(Step::Compress)
                .and_then(|()| self.encode(&source, &tmp));
            if let Err(e) = written {
                let _ = std::fs::remove_file(&tmp);
                return self.failed("compress", plain, &e);
            }
            if let Err(e) = self
                .policy
                .step(Step::Publish)
                .and_then(|()| std::fs::rename(&tmp, &done))
            {
                let _ = std::fs::remove_file(&tmp);
                return self.failed("publish compressed segment", plain, &e);
            }
            self.counters.compressed.fetch_add(1, Ordering::Relaxed);
        }
        // The compressed twin is complete: the plain one may go.
        if let Err(e) = self
            .policy
            .step(Step::RemovePlain)
            .and_then(|()| std::fs::remove_file(plain))
        {
            self.failed("remove compressed plain segment", plain, &e);
        }
    }

    fn encode(&self, source: &File, tmp: &Path) -> io::Result<()> {
        let out = File::create(tmp)?;
        let mut reader = io::BufReader::with_capacity(256 << 10, source);
        let out = match self.policy.compression {
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(
                    BufWriter::with_capacity(256 << 10, out),
                    // Level 1: JSONL still shrinks ~8x, at several times
                    // the speed of the default level.
                    flate2::Compression::fast(),
                );
                io::copy(&mut reader, &mut enc)?;
                enc.finish()?
            }
            #[cfg(feature = "zstd")]
            Compression::Zstd => {
                let mut enc =
                    zstd::stream::write::Encoder::new(BufWriter::with_capacity(256 << 10, out), 3)?;
                io::copy(&mut reader, &mut enc)?;
                enc.finish()?
            }
            _ => return Err(io::Error::other("compression not available")),
        };
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()
    }

    /// Removes temporary files a crashed compression left behind (those whose
    /// plain segment nobody is compressing now).
    fn remove_stale_temporaries(&self) {
        let dir = folder(&self.live);
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(final_name) = name
                .to_str()
                .and_then(|n| n.strip_prefix('.'))
                .and_then(|n| n.strip_suffix(".tmp"))
            else {
                continue;
            };
            let Some(segment) = Segment::parse(&self.live, &dir.join(final_name)) else {
                continue;
            };
            let plain = plain_of(&segment);
            let busy = match File::open(&plain) {
                // Locked by a compressor at work: its temporary file is live.
                Ok(file) => !lock::try_exclusive(&file).unwrap_or(false),
                Err(_) => false,
            };
            if !busy {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Removes the oldest segments beyond the count and (with `bytes`) byte
    /// limits, and those older than the age limit; never the live file, never
    /// a segment another thread or process is compressing.
    fn retain(&self, bytes: bool) {
        let found = match segments(&self.live) {
            Ok(found) => found,
            Err(e) => return self.failed("list segments", &self.live, &e),
        };
        let sizes: Vec<u64> = found
            .iter()
            .map(|s| std::fs::metadata(&s.path).map_or(0, |m| m.len()))
            .collect();
        let mut count = found.len() as u64;
        let mut total: u64 = sizes.iter().sum();
        let now = self.policy.now_secs();
        for (segment, size) in found.iter().zip(sizes) {
            let over_count = self.policy.keep_segments.is_some_and(|k| count > k);
            let over_bytes = bytes && self.policy.keep_bytes.is_some_and(|b| total > b);
            let too_old = self
                .policy
                .keep_age
                .is_some_and(|age| now - segment.time.unix_timestamp() > age.as_secs() as i64);
            if !(over_count || over_bytes || too_old) {
                continue;
            }
            if self.retire(segment) {
                count -= 1;
                total -= size;
                self.counters.removed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn retire(&self, segment: &Segment) -> bool {
        // Hold the segment's lock while removing it, so a compressor never
        // loses it mid-way.
        let guard = match File::open(&segment.path) {
            Ok(file) => file,
            Err(_) => return false,
        };
        if !lock::try_exclusive(&guard).unwrap_or(false) {
            return false;
        }
        if let Some(hook) = &self.policy.before_removal {
            let kept = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(segment)))
                .unwrap_or_else(|_| Err(io::Error::other("the hook panicked")));
            if let Err(e) = kept {
                self.failed("before_removal hook", &segment.path, &e);
                return false;
            }
        }
        if let Err(e) = self
            .policy
            .step(Step::Retire)
            .and_then(|()| std::fs::remove_file(&segment.path))
        {
            self.failed("remove segment", &segment.path, &e);
            return false;
        }
        // A compressed twin of a plain segment holds the same records.
        if segment.compression == Compression::None {
            for suffix in [Compression::Gzip.suffix(), Compression::Zstd.suffix()] {
                let mut twin = segment.path.as_os_str().to_owned();
                twin.push(suffix);
                let _ = std::fs::remove_file(twin);
            }
        }
        true
    }

    fn failed(&self, what: &'static str, path: &Path, err: &io::Error) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            target: "sentinel",
            error = %err,
            step = what,
            path = ?path,
            reason = "rotation",
            "sentinel could not compress or retire a rotated segment; it stays as it is"
        );
    }
}

fn folder(live: &Path) -> &Path {
    match live.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `.name.tmp` beside `path`.
fn temporary(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".tmp");
    path.with_file_name(name)
}

/// The plain segment a (possibly compressed) segment was made from.
fn plain_of(segment: &Segment) -> PathBuf {
    let text = segment.path.as_os_str().to_string_lossy();
    let plain = text
        .strip_suffix(segment.compression.suffix())
        .unwrap_or(&text);
    PathBuf::from(plain)
}
