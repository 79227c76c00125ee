//! The operating-system calls rotation needs beyond `std`: `flock`, the
//! local time offset and thread priority. Every `unsafe` block of the rotation module is here.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

/// How a lock is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Many holders at once: writers appending to the live file.
    Shared,
    /// One holder: the process rotating the live file.
    Exclusive,
}

/// A held `flock`; released on drop (and by the kernel if the process dies).
#[derive(Debug)]
pub(crate) struct Held {
    file: Arc<File>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = flock(&self.file, libc::LOCK_UN);
    }
}

/// Waits for `mode` on `file`.
pub(crate) fn lock(file: &Arc<File>, mode: Mode) -> io::Result<Held> {
    let op = match mode {
        Mode::Shared => libc::LOCK_SH,
        Mode::Exclusive => libc::LOCK_EX,
    };
    flock(file, op)?;
    Ok(Held {
        file: Arc::clone(file),
    })
}

/// Takes `mode` on `file` if that needs no wait; `None` when another open
/// file holds a lock in the way.
pub(crate) fn try_lock(file: &Arc<File>, mode: Mode) -> io::Result<Option<Held>> {
    let op = match mode {
        Mode::Shared => libc::LOCK_SH,
        Mode::Exclusive => libc::LOCK_EX,
    };
    match flock(file, op | libc::LOCK_NB) {
        Ok(()) => Ok(Some(Held {
            file: Arc::clone(file),
        })),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Takes an exclusive lock on `file` if nobody holds one: `Ok(false)` when
/// another open file (in this process or another) holds it. The lock lasts
/// until `file` is closed.
pub(crate) fn try_exclusive(file: &File) -> io::Result<bool> {
    match flock(file, libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: the descriptor is open for as long as `file` is borrowed;
        // flock only changes the lock state of its open file description.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The local time zone's offset from UTC at `secs` since the epoch, in
/// seconds (0 when the C library cannot tell).
pub(crate) fn local_offset(secs: i64) -> i64 {
    let t = secs as libc::time_t;
    // SAFETY: `tm` is plain data the call fills in; `localtime_r` is the
    // re-entrant form and writes only through the pointers given.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff
        }
    }
}

/// Makes the calling thread yield the CPU to the application's threads and
/// the writer (nice 10), where the system allows; compression is background
/// work.
pub(crate) fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid has no preconditions; setpriority on our own thread id
    // only changes this thread's nice value.
    unsafe {
        let tid = libc::gettid();
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}
