//! Rotation and retention of the log file: what a log folder holds, and the
//! names a reader relies on.
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

mod naming;

pub use naming::{Compression, Segment, segments};
