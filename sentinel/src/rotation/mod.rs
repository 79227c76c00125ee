//! Rotation and retention of the log file: when the live file is rotated,
//! what is kept, and the names a reader relies on.
//!
//! ```
//! use std::time::Duration;
//! use sentinel::rotation::{Compression, Period};
//! use sentinel::{AsyncLogger, SentinelConfig};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("app.jsonl");
//! let logger = AsyncLogger::new(
//!     SentinelConfig::new(&path)
//!         .rotate_bytes(64 << 20)                     // at 64 MiB…
//!         .rotate_every(Period::Daily)                // …or at midnight UTC
//!         .keep_segments(30)                          // retention: count,
//!         .keep_bytes(1 << 30)                        // total bytes,
//!         .keep_age(Duration::from_secs(14 * 86_400)) // and age
//!         .compress(Compression::Gzip),               // on a background thread
//! )?;
//! logger.log(serde_json::json!({"event": "started"}));
//! assert!(logger.shutdown_blocking(Duration::from_secs(5)));
//! # Ok(())
//! # }
//! ```
//!
//! The same settings come from the environment when code leaves them unset
//! (`SENTINEL_ROTATE_BYTES=64MiB`, `SENTINEL_ROTATE_EVERY=daily`,
//! `SENTINEL_ROTATE_TIMEZONE=local`, `SENTINEL_KEEP_SEGMENTS=30`,
//! `SENTINEL_KEEP_BYTES=1GiB`, `SENTINEL_KEEP_AGE=14d`,
//! `SENTINEL_COMPRESS=gzip`); see [`SentinelConfig::rotate_bytes`] and the
//! setters after it.
//!
//! # Policies
//!
//! - **Size**: a write that would take the live file past the limit goes,
//!   whole lines at a time, into a new live file; a line is never split
//!   between files, and a single line longer than the limit gets a file of
//!   its own.
//! - **Time**: hourly or daily, at boundaries of UTC or (optionally) local
//!   time. The writer rotates at the boundary whether or not records are
//!   coming: its own timer wakes it there, so a service that goes quiet at
//!   23:59 still has its day's segment at midnight, not with its next record
//!   days later. The timer runs on the monotonic clock and re-reads the wall
//!   clock at least once a minute, so the rotation comes within milliseconds
//!   of the boundary, and within a minute of it after the wall clock jumps (a
//!   stepped clock, a resumed machine); a write blocked in the kernel delays
//!   it like any other write. A live file empty at the boundary is not
//!   rotated (no empty segments, as logrotate's `notifempty`): the records
//!   after it start the new period's file. A file found at start that was
//!   last changed in an earlier period rotates at once. A
//!   [flush](crate::AsyncLogger::flush_blocking) is answered after any
//!   boundary already passed has been acted on. An injected clock moved by
//!   hand ([`ManualClock`]) wakes the writer through
//!   [`WallClock::wake_on_jump`], so tests cross a boundary without waiting.
//! - **Both**: whichever comes first.
//! - **Retention** (after each rotation, on a background thread): the
//!   oldest segments beyond the count, beyond the total bytes (segments only;
//!   the live file is bounded by the size limit), and those rotated out
//!   longer ago than the age. Never the live file, never a segment being
//!   compressed. A [`before_removal`] hook, when set, is called with each
//!   segment just before it goes (to archive it elsewhere, or count what it
//!   held); an error from it keeps the segment.
//! - **Compression** (gzip, or zstd with the `zstd` feature) runs on the
//!   same background thread, never on the writer or a caller. Shutdown waits
//!   for the pass in progress, up to [`SentinelConfig::exit_timeout`], after
//!   every record is written (a wait its caller does not take for a stalled
//!   sink); what a process leaves uncompressed is finished by the next
//!   logger opened on the same file.
//!
//! # Several processes
//!
//! Any number of processes may append to one live file with rotation on.
//! Each write (one batch of whole lines) happens under a shared `flock` of
//! the lock file, after checking that the path still names the file this
//! process has open; a rotation takes the lock exclusively, checks the file
//! was not rotated by someone else meanwhile, renames it and creates the new
//! one. So exactly one process performs each rotation, the others reopen the
//! path before their next write, no record lands in a segment after it was
//! rotated out, and none is lost, repeated or split. With several writers a
//! segment may exceed the size limit by what others appended meanwhile. At
//! a time boundary every process's timer fires: each first looks without the
//! lock and does nothing when the path already names a new file (another
//! process rotated) or an empty one; otherwise it takes the exclusive lock
//! as any rotation does, and checks again under it.
//!
//! A process killed at any point (`SIGKILL` included) loses no record it
//! had written: the kernel drops its locks; a rename either happened or not;
//! a live file missing after a rename is created by the next write; a
//! compressed segment gets its final name only once complete, and its plain
//! twin is removed only after that.
//!
//! # Failures
//!
//! A rotation, compression or retention step that fails (disk full,
//! permission denied, too many open files) is reported as an error event
//! (target `sentinel`) and counted in
//! [`LoggerStats::rotation_errors`](crate::LoggerStats::rotation_errors);
//! the writer goes on appending to the live file (past its limit) and tries
//! to rotate again a second later. If the new live file cannot be created
//! after the rename, the rename is undone. A live file found ending
//! mid-line when a logger opens it (a write cut short by a full disk) gets
//! a newline first, so the cut line stays one bad line and the next record
//! starts a line of its own (unless another process is appending right
//! then: opening a logger never waits for the lock).
//!
//! [`SentinelConfig::rotate_bytes`]: crate::SentinelConfig::rotate_bytes
//! [`SentinelConfig::exit_timeout`]: crate::SentinelConfig::exit_timeout
//! [`before_removal`]: crate::SentinelConfig::before_removal
//!
//! # Names
//!
//! The live file keeps its configured name (`app.jsonl`) and is the only
//! file ever written. A rotation renames it to a sibling *segment* and
//! starts a new live file:
//!
//! ```text
//! logs/
//!   app.2026-12-02T06-30-00Z.000001.jsonl.gz   oldest
//!   app.2026-12-02T06-30-00Z.000002.jsonl.gz
//!   app.2026-12-02T06-41-17Z.000001.jsonl      just rotated, not yet compressed
//!   app.jsonl                                  live, newest
//!   .app.jsonl.lock                            the rotation lock (empty)
//! ```
//!
//! A segment's name is the live file's stem, the UTC time it was rotated
//! out (RFC 3339 to the second, `:` written `-`, always `Z`), a six-digit
//! sequence number counting rotations within that second from `000001`, the
//! live file's extension, and `.gz` or `.zst` once compressed
//! ([`Segment::path_for`]). The writer never gives a segment a time earlier
//! than the newest existing segment's, so **lexical order of the names is
//! the order the records were written in**; the live file comes after all
//! of them. Every record of a segment was written before the time in its
//! name.
//!
//! A reader of a folder:
//!
//! - reads [`segments`] (or every name [`Segment::parse`] accepts, in
//!   lexical order), then the live file;
//! - ignores every other name: temporary files (`.app.….jsonl.gz.tmp`,
//!   hidden, ending in `.tmp`) and the lock file (`.app.jsonl.lock`);
//! - reads a segment present both plain and compressed once: both hold the
//!   same records (the compressed one is complete as soon as it has its
//!   final name; the plain one is about to be removed). [`segments`] keeps
//!   the plain one;
//! - following the live file (`tail -f`): when the path names a new file
//!   (its inode changed), finish the old file descriptor to its end (the
//!   records a rotation moved into the segment), then read the new file from
//!   its start.
//!
//! Segment files are never written after rotation; a compressed segment
//! replaces its plain twin in one `rename`.
//!
//! ```
//! use sentinel::rotation::{Compression, Segment};
//!
//! let live = std::path::Path::new("app.jsonl");
//! let seg = Segment::parse(live, "app.2026-12-02T06-30-00Z.000001.jsonl.gz".as_ref()).unwrap();
//! assert_eq!(seg.compression, Compression::Gzip);
//! assert_eq!(seg.time, time::macros::datetime!(2026-12-02 06:30:00 UTC));
//! ```

pub(crate) mod file;
mod janitor;
mod lock;
mod naming;
pub(crate) mod policy;

pub use naming::{Compression, Segment, segments};
pub use policy::{
    FaultHook, ManualClock, Period, RemovalHook, Rotation, Step, SystemClock, WallClock,
};
