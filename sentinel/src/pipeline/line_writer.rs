//! A logger as a `tracing_subscriber::fmt::MakeWriter`: `tracing` events
//! formatted by `fmt` go through the same queue, writer and rotating file
//! as sentinel's own records.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

use super::handle::AsyncLogger;
use super::shared::DropReason;
use super::staging::{Wait, with_local};
use crate::clock::now;
use crate::record::Entry;

/// Collects one formatted `tracing` event and hands it to the logger when
/// dropped (`fmt` drops it after each event), as one entry written whole.
///
/// Made by [`AsyncLogger`]'s [`MakeWriter`] impl, so an application that
/// only uses `tracing` gets a non-blocking writer, sentinel's loss and stall
/// rules, and rotation:
///
/// ```
/// use std::time::Duration;
/// use sentinel::{AsyncLogger, SentinelConfig};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let logger = AsyncLogger::new(
///     SentinelConfig::new(dir.path().join("app.log"))
///         .rotate_bytes(10 << 20)
///         .keep_segments(5),
/// )?;
/// let subscriber = tracing_subscriber::fmt()
///     .with_writer(logger.clone())
///     .with_ansi(false)
///     .finish();
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(port = 8080, "listening");
/// });
/// assert!(logger.shutdown_blocking(Duration::from_secs(5)));
/// let text = std::fs::read_to_string(dir.path().join("app.log"))?;
/// assert!(text.contains("listening port=8080"));
/// # Ok(())
/// # }
/// ```
///
/// The formatting happens on the caller's thread (that is how `fmt` works);
/// the write happens on sentinel's writer. Give `fmt` output its own logger
/// (its own file): its lines are not sentinel records.
#[derive(Debug)]
pub struct LineWriter<'a> {
    logger: &'a AsyncLogger,
    buf: Vec<u8>,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter<'_> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let mut bytes = std::mem::take(&mut self.buf);
        if bytes.last() != Some(&b'\n') {
            bytes.push(b'\n');
        }
        let entry = Entry::Line {
            at: now(),
            bytes: bytes.into_boxed_slice(),
        };
        // An event sentinel's own threads emit (a rotation error) must not
        // wait for room: that room is made by the writer itself.
        let own_thread = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("sentinel-"));
        let wait = if own_thread { Wait::Never } else { Wait::Block };
        // Refused or dropped entries are counted by the logger, as `log`'s.
        with_local(self.logger.shared(), |local| {
            match local.push(entry, wait) {
                Ok(_) => {}
                Err(_) => {
                    local.refuse(DropReason::QueueFull);
                }
            }
        });
    }
}

impl<'a> MakeWriter<'a> for AsyncLogger {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            logger: self,
            buf: Vec::with_capacity(256),
        }
    }
}
