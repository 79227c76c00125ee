//! `tail --follow`: keep reading the live file as it grows, across rotation and truncation,
//! and wait for it when it does not exist yet.
//!
//! Wakes on file-change notification (inotify on the file's folder, which sees writes,
//! renames and creations of the file), with a poll every [`NOTIFIED_POLL`] as a safety net
//! for file systems that do not notify; without inotify it polls every [`PLAIN_POLL`].
//!
//! # Rotation
//!
//! When the path names a new file (the writer renamed the live file away and created a new
//! one), the old file is read to its end through the descriptor still open, then every
//! segment rotated out after it (a fast writer may rotate several times between two looks),
//! then the new file from its start: no record is missed or repeated. A record a writer appends to the
//! old file after the new one appeared (another process that has not reopened yet) is
//! missed, as with `tail -F`. When the file gets shorter than what was read (truncation), it
//! is read again from its start.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{LineReader, Tail};
use crate::error::Failure;
use crate::input::{InputArgs, Log, Source, folder_logs, read_lines};
use sentinel::rotation::{Compression, Segment, segments};

/// Poll interval while inotify watches the folder: a safety net only.
const NOTIFIED_POLL: Duration = Duration::from_secs(1);
/// Poll interval when inotify is not available.
const PLAIN_POLL: Duration = Duration::from_millis(250);
/// How often the stop flag is checked while reading a long backlog.
const STOP_CHECK_LINES: usize = 4096;

/// Splits the inputs into those read once and the file to follow: the last path, or the
/// live file of the last folder. A missing last path is followed once it appears.
///
/// # Errors
///
/// Any input but the followed one that cannot be resolved.
pub(crate) fn split_inputs(input: &InputArgs) -> Result<(Vec<Source>, Option<PathBuf>), Failure> {
    let Some((last, rest)) = input.paths.split_last() else {
        return input.sources().map(|s| (s, None));
    };
    let rest = InputArgs {
        paths: rest.to_vec(),
    };
    let mut sources = if rest.paths.is_empty() {
        Vec::new()
    } else {
        rest.sources()?
    };
    let path = Path::new(last);
    if last == "-" {
        sources.push(Source::Stdin);
        return Ok((sources, None));
    }
    let followed = if path.is_dir() {
        let mut logs = folder_logs(path).map_err(|e| Failure::read(last, &e))?;
        let Some(followed) = logs.pop() else {
            return Err(Failure::input(
                last.as_str(),
                "no log segments in this folder (*.jsonl, *.jsonl.gz, *.jsonl.zst)",
            ));
        };
        let files = logs.into_iter().flat_map(Log::files);
        sources.extend(files.chain(followed.segments).map(Source::File));
        followed.live
    } else if path.exists() || !last.contains(['*', '?', '[']) {
        path.to_path_buf()
    } else {
        let mut matched = InputArgs {
            paths: vec![last.clone()],
        }
        .sources()?;
        let Some(Source::File(live)) = matched.pop() else {
            return Ok((sources, None));
        };
        sources.extend(matched);
        live
    };
    Ok((sources, Some(followed)))
}

/// Identity of the file behind a path, to notice it being replaced.
fn file_identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// The followed file, open.
struct Open {
    reader: BufReader<File>,
    identity: (u64, u64),
    /// The rotated segments that existed once it was open, by `(time, sequence)`.
    known: BTreeSet<SegmentKey>,
}

type SegmentKey = (time::OffsetDateTime, u32);

/// The rotated segments of `live`, oldest first (none when the folder cannot be read).
fn segments_of(live: &Path) -> Vec<Segment> {
    segments(live).unwrap_or_default()
}

/// Follows `path` until `stop` is set, feeding `state`; see the module docs.
///
/// # Errors
///
/// A read error on the file, or a write error.
pub(crate) fn follow<W: Write + ?Sized>(
    path: &Path,
    state: &mut Tail,
    out: &mut W,
    stop: &AtomicBool,
    note: &mut dyn FnMut(Result<Option<String>, Failure>),
) -> Result<(), Failure> {
    let name = path.display().to_string();
    let watch = Watch::new(
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    );
    let mut lines = LineReader::new(state.opts.max_line_bytes);
    let mut current: Option<Open> = None;
    let mut said_waiting = false;
    let read_err = |e: io::Error| Failure::read(&name, &e);
    while !stop.load(Ordering::Relaxed) {
        let Some(open) = &mut current else {
            match open_live(path) {
                Ok(Some((opened, _))) => {
                    current = Some(opened);
                    lines.reset();
                    continue;
                }
                Ok(None) => {
                    if !said_waiting {
                        said_waiting = true;
                        state.release(out)?;
                        note(Ok(Some(format!("{name}: waiting for the file to appear"))));
                    }
                    watch.wait(stop);
                    continue;
                }
                Err(e) => return Err(read_err(e)),
            }
        };
        if drain(&mut open.reader, &mut lines, state, out, stop)? {
            out.flush()?;
            continue;
        }
        // Idle: what was there is shown; `-n` holds nothing back from now on.
        state.release(out)?;
        match std::fs::metadata(path) {
            Ok(meta) if file_identity(&meta) != open.identity => {
                // Rotated: finish the old file, its writer may have added lines since;
                // open the new live file, then read the segments rotated between the two
                // (the writer may have rotated more than once since we looked).
                drain(&mut open.reader, &mut lines, state, out, stop)?;
                if let Some(line) = lines.take_partial() {
                    state.line(line, out)?;
                }
                let Some((next, all)) = open_live(path).map_err(read_err)? else {
                    // Renamed away, the new one not there yet: look again when it is.
                    watch.wait(stop);
                    continue;
                };
                for segment in missed_segments(&all, open, &next) {
                    read_segment(&segment, state, out, note)?;
                }
                out.flush()?;
                current = Some(next);
                lines.reset();
                continue;
            }
            Ok(meta) if meta.len() < lines.consumed() => {
                open.reader.seek(SeekFrom::Start(0)).map_err(read_err)?;
                lines.reset();
                continue;
            }
            _ => {}
        }
        watch.wait(stop);
    }
    if current.is_some()
        && let Some(line) = lines.take_partial()
    {
        state.line(line, out)?;
    }
    out.flush()?;
    Ok(())
}

/// Opens the live file, then lists its segments (in that order, so every segment rotated
/// out before the opened file was created is listed); `None` when it does not exist.
fn open_live(live: &Path) -> io::Result<Option<(Open, Vec<Segment>)>> {
    let file = match File::open(live) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let identity = file_identity(&file.metadata()?);
    let all = segments_of(live);
    let known = all.iter().map(|s| (s.time, s.sequence)).collect();
    let open = Open {
        reader: BufReader::with_capacity(1 << 16, file),
        identity,
        known,
    };
    Ok(Some((open, all)))
}

/// Of `all` segments, those rotated out after `old` was the live file and before `next`
/// was, oldest first.
///
/// A file is found among the segments by its inode. Once compressed it has another one:
/// `old` is then taken to be the oldest segment that appeared since it was opened, and
/// `next`, not yet rotated, to be none of them.
fn missed_segments(all: &[Segment], old: &Open, next: &Open) -> Vec<Segment> {
    let find = |identity| {
        all.iter().position(|s| {
            s.compression == Compression::None
                && std::fs::metadata(&s.path).is_ok_and(|m| file_identity(&m) == identity)
        })
    };
    let new: Vec<usize> = (0..all.len())
        .filter(|&i| !old.known.contains(&(all[i].time, all[i].sequence)))
        .collect();
    let after = match find(old.identity) {
        Some(i) => i + 1,
        None => new.first().map_or(all.len(), |&i| i + 1),
    };
    let before = find(next.identity).unwrap_or(all.len());
    new.into_iter()
        .filter(|&i| i >= after && i < before)
        .map(|i| all[i].clone())
        .collect()
}

/// Reads a whole rotated segment (its compressed twin if it was compressed meanwhile).
fn read_segment<W: Write + ?Sized>(
    segment: &Segment,
    state: &mut Tail,
    out: &mut W,
    note: &mut dyn FnMut(Result<Option<String>, Failure>),
) -> Result<(), Failure> {
    let max = state.opts.max_line_bytes;
    let source = Source::File(segment.path.clone());
    let tally = read_lines(&source, max, |line| Ok(state.line(line, out)?));
    match tally {
        Ok(tally) => note(tally.check(&source.name(), max)),
        // Removed by retention before it could be read: say so, go on.
        Err(e @ Failure::Input { .. }) => note(Err(e)),
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Reads every complete line available now; returns whether anything was read.
fn drain<W: Write + ?Sized>(
    reader: &mut BufReader<File>,
    lines: &mut LineReader,
    state: &mut Tail,
    out: &mut W,
    stop: &AtomicBool,
) -> io::Result<bool> {
    let mut n = 0usize;
    while let Some(line) = lines.read_line(reader)? {
        state.line(line, out)?;
        n += 1;
        if n.is_multiple_of(STOP_CHECK_LINES) && stop.load(Ordering::Relaxed) {
            break;
        }
    }
    Ok(n > 0)
}

/// Change notification for one folder (inotify), or plain polling where that fails.
struct Watch {
    inotify: Option<OwnedFd>,
}

impl Watch {
    fn new(dir: &Path) -> Watch {
        use std::os::unix::ffi::OsStrExt;
        let Ok(dir) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
            return Watch { inotify: None };
        };
        // SAFETY: inotify_init1 takes no pointers; a non-negative result is a fresh fd we own.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Watch { inotify: None };
        }
        // SAFETY: fd was just returned by inotify_init1 and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mask = libc::IN_MODIFY
            | libc::IN_CREATE
            | libc::IN_MOVED_TO
            | libc::IN_MOVED_FROM
            | libc::IN_DELETE
            | libc::IN_ATTRIB
            | libc::IN_CLOSE_WRITE;
        // SAFETY: `dir` is a valid NUL-terminated string for the duration of the call.
        let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), dir.as_ptr(), mask) };
        Watch {
            inotify: (wd >= 0).then_some(fd),
        }
    }

    /// Waits until something changes in the folder, a poll interval passes, or a signal
    /// (the stop signals) interrupts the wait.
    fn wait(&self, stop: &AtomicBool) {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let Some(fd) = &self.inotify else {
            let mut pfd: [libc::pollfd; 0] = [];
            // SAFETY: an empty poll set; poll only sleeps, and a signal cuts it short.
            unsafe { libc::poll(pfd.as_mut_ptr(), 0, PLAIN_POLL.as_millis() as libc::c_int) };
            return;
        };
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a signal ends the wait with EINTR, which is what we want.
        let ready = unsafe { libc::poll(&mut pfd, 1, NOTIFIED_POLL.as_millis() as libc::c_int) };
        if ready > 0 {
            let mut events = [0u8; 4096];
            // Drain the queued events: all we need to know is that something changed.
            // SAFETY: the buffer is valid for its length; the fd is non-blocking.
            while unsafe { libc::read(fd.as_raw_fd(), events.as_mut_ptr().cast(), events.len()) }
                > 0
            {}
        }
    }
}
