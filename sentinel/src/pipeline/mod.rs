//! How a record travels from a traced call to the file, and what happens
//! when the file cannot keep up.
//!
//! ```text
//!  caller thread                         writer thread (one per logger)
//!  ─────────────                         ──────────────────────────────
//!  span ends ─► staging buffer ─(full)─► byte budget ─► mpsc ─► collect ─► sort ─► encode ─► write
//!               (this thread's,          room? ─no─► wait ◄── progress ──────────────────────┘
//!                no shared lock)              │        │
//!                                             │        └─ no progress for stall_timeout:
//!                                          lossy:          release, drop + count "stalled"
//!                                          drop + count
//!                                          "queue_full"
//! ```
//!
//! # The path
//!
//! A producer (a `#[trace]` call ending, a [`crate::TimeBlock`] dropping,
//! a `tracing` span closing, or [`AsyncLogger::log`]) appends a plain-data
//! entry to a staging buffer owned by its thread: an uncontended lock, no
//! formatting. A full buffer (256 records or 64 KiB) is handed to the writer
//! through a `tokio::sync::mpsc` channel; the writer also sweeps partly
//! filled buffers every few milliseconds, so records reach the file promptly
//! even when a thread logs rarely. Each writer cycle orders what it collected
//! by time (a child span's line precedes its parent's even across threads),
//! encodes it and writes it in pieces of at most 1 MiB, each one `write` call
//! on a file opened with `O_APPEND`: several processes may append to one
//! file and lines never interleave.
//!
//! # When the queue is full: wait, stall, drop
//!
//! The queue is bounded in bytes: [`SentinelConfig::max_queue_bytes`] (64
//! MiB by default) of estimated encoded size may wait for the writer, plus
//! one staging buffer per producing thread. When a buffer does not fit:
//!
//! - **Wait** (the default): a sync caller blocks, an async caller (an async
//!   `#[trace]` fn, [`AsyncLogger::log_async`]) awaits without blocking its
//!   thread, until there is room. Nothing is lost while the writer makes
//!   progress: in a tight loop the caller runs at the writer's pace. Waiting
//!   costs no thread (a `Condvar`, or a waker).
//! - **Stall**: when the writer makes no progress for
//!   [`SentinelConfig::stall_timeout`] (1 s by default), measured by each
//!   waiter's own clock (a full pipe, a hung network mount), waiters are
//!   released and records that do not fit are dropped, counted as
//!   `stalled`; [`AsyncLogger::is_healthy`] is `false` and
//!   [`LoggerStats::stalled`] is set, and one warning (target `sentinel`)
//!   says so. When the sink moves again, writing resumes.
//! - **Drop** (opt-in, [`SentinelConfig::lossy`]): the record is dropped at
//!   once and counted as `queue_full`; the caller never waits.
//!
//! Every drop is counted by reason ([`AsyncLogger::stats`]), reported
//! through a rate-limited `tracing` warning (target `sentinel`), and marked
//! in the file: the writer writes one line where the gap is,
//!
//! ```text
//! {"timestamp":"…","status":"dropped","dropped":{"count":120,"reasons":{"stalled":120},"from":"…","to":"…"}}
//! ```
//!
//! which `sentinel tail` and `sentinel stats` show.
//!
//! # Deadlines
//!
//! Every wait ends by the waiting side's own clock: sync waits on the
//! caller's thread, async timeouts on a timer thread of sentinel's that runs
//! nothing else (so the caller's runtime needs no time driver). Neither
//! depends on the writer, so `flush_timeout(t)`, `flush_blocking(t)` and
//! their shutdown twins return within `t` even when a write never returns.
//! The untimed `flush()` and `shutdown()` give up when the writer stalls.
//!
//! # Exit
//!
//! [`AsyncLogger::shutdown`] drains everything accepted, closes the file and
//! stops the writer; it is idempotent and safe after a failure. A process
//! that returns from `main`, calls `std::process::exit`, or panics out of
//! `main` without shutting down still gets every accepted record written: an
//! `atexit` hook drains every live logger, waiting at most
//! [`SentinelConfig::exit_timeout`] (2 s by default); what it could not write
//! by then is reported (an error event, target `sentinel`) and the process
//! exits anyway. Dropping the last handle starts a shutdown in the
//! background.
//!
//! # Fork
//!
//! A child forked after a logger started has no writer thread. In the child
//! the parent's loggers refuse records, counted as `forked`, and never make
//! a caller wait; the default logger is re-created in the child on the same
//! file (safe: `O_APPEND`), so `#[trace]` keeps working there.
//!
//! # Failures
//!
//! An I/O error while writing (disk full, a file system turned read-only)
//! makes the logger unhealthy for good: [`AsyncLogger::is_healthy`] turns
//! false, the records in hand are counted as lost, and later records are
//! refused and counted. Such a write may leave the file ending mid-line: the
//! next logger to open it (a restart, another process) writes a newline
//! first, so the cut line stays one bad line and its own records start lines
//! of their own (without rotation's lock, at worst a blank line when another
//! process's append was in progress). A record whose `Serialize` impl fails or panics is
//! dropped alone and counted; the writer stays healthy. A failed rotation
//! step never makes the logger unhealthy: it is counted and the live file
//! keeps being written (see [`crate::rotation`]).
//!
//! # Rotation
//!
//! With [rotation](crate::rotation) on, the writer appends each batch under
//! a shared `flock` and renames the live file when a policy says so, between
//! lines, or, for time rotation, when its timer says a period boundary has
//! passed with nothing to write; compression and retention run on a
//! background thread. The rules above hold unchanged: a rename that blocks
//! (a hung file system) is a stalled sink like a blocked write. A shutdown,
//! once every record is written, waits up to
//! [`SentinelConfig::exit_timeout`] for the background pass in progress; its
//! waiters allow for that wait rather than take it for a stall, so a slow
//! pass (a loaded machine) delays the answer but does not make it `false`.
//!
//! [`SentinelConfig::max_queue_bytes`]: crate::SentinelConfig::max_queue_bytes
//! [`SentinelConfig::stall_timeout`]: crate::SentinelConfig::stall_timeout
//! [`SentinelConfig::lossy`]: crate::SentinelConfig::lossy
//! [`SentinelConfig::exit_timeout`]: crate::SentinelConfig::exit_timeout

mod handle;
#[cfg(feature = "tracing")]
mod line_writer;
pub(crate) mod process;
pub(crate) mod shared;
mod sink;
pub(crate) mod staging;
mod wait;
mod worker;

pub use handle::AsyncLogger;
#[cfg(feature = "tracing")]
pub use line_writer::LineWriter;
pub use shared::LoggerStats;
