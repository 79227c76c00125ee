//! One segment file: an 8-byte magic header, then records framed as
//! `length u32 | events u32 | crc32 u32 | payload`, all little-endian, where the CRC-32 covers
//! the length, the event count and the payload.
//!
//! A record is written with one `write` call and never updated, so a crash can only leave a
//! torn record at the very end of a segment. Reading stops at the first record whose header
//! is cut short, whose length is absurd, or whose checksum does not match: everything before
//! it is good, everything from it on is the segment's bad tail.

use std::io::{self, Read};

/// First bytes of every segment file; the last byte is the format version.
pub(crate) const MAGIC: &[u8; 8] = b"MLSPOOL1";
/// Size of the segment header (the magic).
pub(crate) const HEADER_LEN: u64 = MAGIC.len() as u64;
/// Size of one record's frame before its payload.
pub(crate) const FRAME_LEN: u64 = 12;
/// Longest payload a record may hold; a longer length field can only be corruption.
pub(crate) const MAX_PAYLOAD: usize = 256 << 20;

/// Appends one framed record to `out`.
pub(crate) fn encode_record(out: &mut Vec<u8>, events: u32, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len.to_le_bytes());
    crc.update(&events.to_le_bytes());
    crc.update(payload);
    out.reserve(FRAME_LEN as usize + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&events.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
}

/// Size of the record [`encode_record`] writes for a payload of `payload_len` bytes.
pub(crate) fn record_len(payload_len: usize) -> u64 {
    FRAME_LEN + payload_len as u64
}

/// What the next bytes of a segment hold.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// A good record; `len` is its size on disk, frame included.
    Record {
        events: u32,
        payload: Vec<u8>,
        len: u64,
    },
    /// The segment ends here, cleanly.
    End,
    /// The bytes from here on are not a good record.
    Corrupt(&'static str),
}

/// Reads the next record from `src`, positioned at a record boundary with `remaining` bytes
/// left in the segment (a length field pointing past them is corruption, found before
/// anything is allocated for it).
pub(crate) fn read_record(src: &mut impl Read, remaining: u64) -> io::Result<Next> {
    let mut frame = [0u8; FRAME_LEN as usize];
    match read_full(src, &mut frame)? {
        0 => return Ok(Next::End),
        n if n < frame.len() => return Ok(Next::Corrupt("truncated record header")),
        _ => {}
    }
    let word = |i: usize| u32::from_le_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]);
    let (len, events, stored_crc) = (word(0), word(4), word(8));
    if len as usize > MAX_PAYLOAD || record_len(len as usize) > remaining {
        return Ok(Next::Corrupt("record length out of range"));
    }
    let mut payload = vec![0u8; len as usize];
    if read_full(src, &mut payload)? < payload.len() {
        return Ok(Next::Corrupt("truncated record"));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&frame[..8]);
    crc.update(&payload);
    if crc.finalize() != stored_crc {
        return Ok(Next::Corrupt("checksum mismatch"));
    }
    Ok(Next::Record {
        events,
        payload,
        len: record_len(len as usize),
    })
}

/// Checks the segment header; `false` when the file is not a segment of this format.
pub(crate) fn read_header(src: &mut impl Read) -> io::Result<bool> {
    let mut magic = [0u8; MAGIC.len()];
    Ok(read_full(src, &mut magic)? == magic.len() && &magic == MAGIC)
}

/// Reads until `buf` is full or the source ends; returns the bytes read.
fn read_full(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match src.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_records() -> Vec<u8> {
        let mut buf = MAGIC.to_vec();
        encode_record(&mut buf, 2, b"{\"logs\":[1,2]}");
        encode_record(&mut buf, 1, b"{\"logs\":[3]}");
        buf
    }

    fn records(bytes: &[u8]) -> (Vec<(u32, Vec<u8>)>, Next) {
        let mut src = bytes;
        assert!(read_header(&mut src).unwrap());
        let mut good = Vec::new();
        loop {
            let remaining = src.len() as u64;
            match read_record(&mut src, remaining).unwrap() {
                Next::Record {
                    events, payload, ..
                } => good.push((events, payload)),
                other => return (good, other),
            }
        }
    }

    #[test]
    fn records_round_trip_in_order() {
        let (good, end) = records(&two_records());
        assert_eq!(end, Next::End);
        assert_eq!(good[0], (2, b"{\"logs\":[1,2]}".to_vec()));
        assert_eq!(good[1], (1, b"{\"logs\":[3]}".to_vec()));
    }

    #[test]
    fn a_torn_last_record_keeps_the_ones_before_it() {
        let full = two_records();
        // Every cut inside the second record: the first survives, the rest is the bad tail.
        let second = HEADER_LEN as usize + record_len(14) as usize;
        for cut in second + 1..full.len() {
            let (good, end) = records(&full[..cut]);
            assert_eq!(good.len(), 1, "cut at {cut}");
            assert!(matches!(end, Next::Corrupt(_)), "cut at {cut}: {end:?}");
        }
    }

    #[test]
    fn a_flipped_bit_anywhere_in_a_record_is_caught() {
        let full = two_records();
        for at in HEADER_LEN as usize..full.len() {
            let mut bytes = full.clone();
            bytes[at] ^= 0x10;
            let (good, end) = records(&bytes);
            assert!(good.len() < 2, "flip at {at} went unnoticed");
            assert!(matches!(end, Next::Corrupt(_)), "flip at {at}: {end:?}");
        }
    }

    #[test]
    fn a_length_past_the_segment_end_is_corruption() {
        let mut bytes = two_records();
        // The first record claims 200 MiB: refused before anything is read or allocated.
        let at = HEADER_LEN as usize;
        bytes[at..at + 4].copy_from_slice(&(200u32 << 20).to_le_bytes());
        let (good, end) = records(&bytes);
        assert!(good.is_empty());
        assert_eq!(end, Next::Corrupt("record length out of range"));
    }

    #[test]
    fn a_foreign_file_is_not_a_segment() {
        assert!(!read_header(&mut &b"hello, world"[..]).unwrap());
        assert!(!read_header(&mut &b"MLS"[..]).unwrap());
    }
}
