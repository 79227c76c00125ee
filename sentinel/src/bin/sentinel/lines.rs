//! Reading lines of bounded length, shared by `tail` and `stats`.

use std::io::{self, BufRead};

/// Splits a byte stream into lines of bounded length.
///
/// Unlike [`BufRead::read_until`], a line longer than the limit is discarded while it is read,
/// so memory stays bounded by the limit. A final line without `\n` is kept back until more
/// data arrives (see [`LineReader::take_partial`]), which is what following a growing file
/// needs.
#[derive(Debug)]
pub struct LineReader {
    buf: Vec<u8>,
    max: usize,
    complete: bool,
    discarding: bool,
    consumed: u64,
    oversized: u64,
}

impl LineReader {
    /// Creates a reader that skips lines longer than `max_line_bytes` bytes.
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            buf: Vec::new(),
            max: max_line_bytes,
            complete: false,
            discarding: false,
            consumed: 0,
            oversized: 0,
        }
    }

    /// Returns the next complete line without its `\n`, or `None` at the end of the available
    /// data (a trailing partial line is kept for the next call).
    ///
    /// # Errors
    ///
    /// Returns the reader's error; [`io::ErrorKind::Interrupted`] is retried.
    pub fn read_line<R: BufRead + ?Sized>(&mut self, reader: &mut R) -> io::Result<Option<&[u8]>> {
        if self.complete {
            self.buf.clear();
            self.complete = false;
        }
        loop {
            let chunk = match reader.fill_buf() {
                Ok(chunk) => chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                return Ok(None);
            }
            let newline = chunk.iter().position(|&b| b == b'\n');
            let data = &chunk[..newline.unwrap_or(chunk.len())];
            if !self.discarding {
                if self.buf.len() + data.len() > self.max {
                    self.discarding = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(data);
                }
            }
            let used = newline.map_or(chunk.len(), |i| i + 1);
            reader.consume(used);
            self.consumed += used as u64;
            if newline.is_some() {
                if self.discarding {
                    self.discarding = false;
                    self.oversized += 1;
                    continue;
                }
                self.complete = true;
                return Ok(Some(&self.buf));
            }
        }
    }

    /// Takes the trailing partial line (data after the last `\n`), if any; call at the true end
    /// of the input.
    pub fn take_partial(&mut self) -> Option<&[u8]> {
        if self.complete {
            self.buf.clear();
            self.complete = false;
        }
        if self.discarding {
            self.discarding = false;
            self.oversized += 1;
            return None;
        }
        if self.buf.is_empty() {
            return None;
        }
        self.complete = true;
        Some(&self.buf)
    }

    /// Forgets any partial line and the byte count, for reading a file again from the start.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.complete = false;
        self.discarding = false;
        self.consumed = 0;
    }

    /// Bytes consumed from the reader since creation or the last [`LineReader::reset`].
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Number of lines skipped for exceeding the limit.
    pub fn oversized(&self) -> u64 {
        self.oversized
    }
}
