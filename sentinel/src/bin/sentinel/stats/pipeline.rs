//! Reading inputs on every core: this thread reads (and decompresses) blocks of whole lines,
//! one worker per core parses them into its own [`Stats`], and the workers' counts are
//! merged at the end.
//!
//! Blocks are [`BLOCK_BYTES`] long, cut after their last newline; their buffers go back to
//! the reader once parsed, so memory stays at a few blocks per worker whatever the input.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;

use super::{Query, Stats};
use crate::error::Failure;
use crate::input::{Source, Tally};
use crate::tail::DEFAULT_MAX_LINE_BYTES;

/// Bytes read per block.
const BLOCK_BYTES: usize = 4 << 20;
/// Bytes checked for a NUL at the start of an input to call it binary.
const BINARY_SNIFF: usize = 8192;

/// A run of whole lines of one input.
struct Block {
    index: usize,
    source: usize,
    /// A buffer of [`BLOCK_BYTES`], whose first `len` bytes are the lines.
    data: Vec<u8>,
    len: usize,
}

/// What a worker hands back.
struct Done {
    stats: Stats,
    tallies: Vec<Tally>,
}

/// Reads every input in blocks on as many workers as there are cores.
///
/// # Errors
///
/// None today: an input that cannot be opened or read is marked in its [`Tally`].
pub(super) fn read(sources: &[Source], query: &Query) -> Result<(Stats, Vec<Tally>), Failure> {
    let workers = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let (to_workers, blocks) = sync_channel::<Block>(workers * 2);
    let (recycle, spent) = sync_channel::<Vec<u8>>(workers * 3);
    let blocks = Arc::new(Mutex::new(blocks));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let blocks = Arc::clone(&blocks);
            let recycle = recycle.clone();
            let query = query.clone();
            let n = sources.len();
            thread::spawn(move || work(&blocks, &recycle, &query, n))
        })
        .collect();
    drop(recycle);
    let mut reader = Reader {
        to_workers,
        spent,
        index: 0,
        binary: vec![false; sources.len()],
        oversized: vec![0; sources.len()],
    };
    // An input that cannot be read to its end is reported; the others are still read.
    let unreadable: Vec<Option<String>> = sources
        .iter()
        .enumerate()
        .map(|(i, source)| reader.source(i, source).err().map(|e| e.message()))
        .collect();
    let Reader {
        to_workers,
        binary,
        oversized,
        ..
    } = reader;
    drop(to_workers);
    let mut stats = Stats::new(query.group.clone());
    let mut tallies = vec![Tally::default(); sources.len()];
    for handle in handles {
        let done = handle
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        stats.merge(done.stats);
        for (total, part) in tallies.iter_mut().zip(&done.tallies) {
            total.records += part.records;
            total.not_records += part.not_records;
            total.mistyped += part.mistyped;
            total.oversized += part.oversized;
        }
    }
    let per_source = binary.into_iter().zip(oversized).zip(unreadable);
    for (tally, ((binary, oversized), unreadable)) in tallies.iter_mut().zip(per_source) {
        tally.unreadable = unreadable;
        tally.binary = binary;
        tally.oversized += oversized;
        stats.oversized += tally.oversized;
    }
    stats.settle();
    Ok((stats, tallies))
}

struct Reader {
    to_workers: SyncSender<Block>,
    spent: Receiver<Vec<u8>>,
    index: usize,
    binary: Vec<bool>,
    /// Lines longer than a block, skipped while reading.
    oversized: Vec<u64>,
}

impl Reader {
    /// A spent block's buffer, or a new one: always [`BLOCK_BYTES`] long, so reading into
    /// it never zeroes it again.
    fn buffer(&self) -> Vec<u8> {
        self.spent
            .try_recv()
            .unwrap_or_else(|_| vec![0; BLOCK_BYTES])
    }

    fn source(&mut self, i: usize, source: &Source) -> Result<(), Failure> {
        let name = source.name();
        let mut input = source.open()?;
        let mut buf = self.buffer();
        // Bytes of `buf` holding input.
        let mut filled = 0;
        let mut first = true;
        let mut skipping = false;
        loop {
            let n = match read_some(&mut input, &mut buf[filled..]) {
                Ok(n) => n,
                Err(e) => {
                    // Count the whole lines read so far, as `tail` prints them.
                    if let Some(end) = memchr::memrchr(b'\n', &buf[..filled])
                        && !skipping
                    {
                        self.send(i, buf, end + 1);
                    }
                    return Err(Failure::read(&name, &e));
                }
            };
            filled += n;
            if first {
                first = false;
                if memchr::memchr(0, &buf[..filled.min(BINARY_SNIFF)]).is_some() {
                    self.binary[i] = true;
                    return Ok(());
                }
            }
            if n == 0 {
                if filled > 0 && !skipping {
                    self.send(i, buf, filled);
                }
                return Ok(());
            }
            if skipping {
                // The rest of a line longer than a block: drop it up to its newline.
                match memchr::memchr(b'\n', &buf[..filled]) {
                    Some(end) => {
                        buf.copy_within(end + 1..filled, 0);
                        filled -= end + 1;
                        skipping = false;
                    }
                    None => {
                        filled = 0;
                        continue;
                    }
                }
            }
            if filled < BLOCK_BYTES {
                continue;
            }
            match memchr::memrchr(b'\n', &buf[..filled]) {
                Some(end) => {
                    let mut next = self.buffer();
                    let tail = filled - (end + 1);
                    next[..tail].copy_from_slice(&buf[end + 1..filled]);
                    self.send(i, std::mem::replace(&mut buf, next), end + 1);
                    filled = tail;
                }
                None => {
                    self.oversized[i] += 1;
                    skipping = true;
                    filled = 0;
                }
            }
        }
    }

    fn send(&mut self, source: usize, data: Vec<u8>, len: usize) {
        let block = Block {
            index: self.index,
            source,
            data,
            len,
        };
        self.index += 1;
        // The workers only stop early by panicking, which `join` reports.
        let _ = self.to_workers.send(block);
    }
}

/// Fills `buf` as far as the input allows; 0 only at its end.
fn read_some(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn work(
    blocks: &Mutex<Receiver<Block>>,
    recycle: &SyncSender<Vec<u8>>,
    query: &Query,
    sources: usize,
) -> Done {
    let mut stats = Stats::new(query.group.clone());
    let mut tallies = vec![Tally::default(); sources];
    loop {
        let block = match blocks.lock() {
            Ok(rx) => rx.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        let Ok(block) = block else {
            break;
        };
        let tally = &mut tallies[block.source];
        stats.add_block(
            &block.data[..block.len],
            &query.filter,
            DEFAULT_MAX_LINE_BYTES,
            tally,
        );
        stats.end_block(block.index);
        let _ = recycle.try_send(block.data);
    }
    Done { stats, tallies }
}
