//! How rotated segments are named, and how a reader finds them. A leaf: it
//! imports nothing of the crate.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;

/// How a rotated segment is compressed; also the suffix its name ends with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// Left as written (no suffix).
    #[default]
    None,
    /// gzip (suffix `.gz`).
    Gzip,
    /// Zstandard (suffix `.zst`).
    Zstd,
}

impl Compression {
    /// The suffix appended to a compressed segment's name, with its dot.
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
        }
    }
}

/// One rotated segment of a live file, as found by [`segments`] or
/// [`Segment::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Segment {
    /// Where the segment is.
    pub path: PathBuf,
    /// When it was rotated out, UTC, to the second (from its name).
    pub time: OffsetDateTime,
    /// Its number among the segments rotated in the same second, from 1.
    pub sequence: u32,
    /// How it is compressed (from its suffix).
    pub compression: Compression,
}

/// Width of the sequence number in a segment's name.
const SEQUENCE_DIGITS: usize = 6;
/// Largest sequence number: rotations within one second beyond this reuse it.
pub(crate) const MAX_SEQUENCE: u32 = 999_999;
/// `2026-12-02T06-30-00Z`: RFC 3339 with `-` for `:` (file-name safe
/// everywhere), always UTC, so lexical order is time order.
const TIME_LEN: usize = 20;

impl Segment {
    /// The path of the segment of `live` rotated at `time` (rounded down to
    /// the second, converted to UTC) with `sequence` and `compression`:
    /// `app.jsonl` → `app.2026-12-02T06-30-00Z.000001.jsonl.gz`.
    ///
    /// ```
    /// use sentinel::rotation::{Compression, Segment};
    /// use time::macros::datetime;
    ///
    /// let path = Segment::path_for(
    ///     "logs/app.jsonl".as_ref(),
    ///     datetime!(2026-12-02 06:30:00.75 UTC),
    ///     1,
    ///     Compression::Gzip,
    /// );
    /// assert_eq!(path.to_str(), Some("logs/app.2026-12-02T06-30-00Z.000001.jsonl.gz"));
    /// ```
    pub fn path_for(
        live: &Path,
        time: OffsetDateTime,
        sequence: u32,
        compression: Compression,
    ) -> PathBuf {
        let (stem, ext) = split_name(live);
        let t = time.to_offset(time::UtcOffset::UTC);
        let mut name = OsString::from(stem);
        name.push(format!(
            ".{:04}-{:02}-{:02}T{:02}-{:02}-{:02}Z.{:0width$}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            sequence.min(MAX_SEQUENCE),
            width = SEQUENCE_DIGITS,
        ));
        if let Some(ext) = ext {
            name.push(".");
            name.push(ext);
        }
        name.push(compression.suffix());
        live.with_file_name(name)
    }

    /// Reads `candidate` as a segment of `live`: `None` when its file name
    /// is not one [`Segment::path_for`] makes for `live` (the live file
    /// itself, a temporary file, another log's segment…). Only file names
    /// are compared; `candidate` is taken to be `live`'s sibling.
    ///
    /// ```
    /// use sentinel::rotation::{Compression, Segment};
    ///
    /// let live = std::path::Path::new("app.jsonl");
    /// let seg = Segment::parse(live, "app.2026-12-02T06-30-00Z.000002.jsonl.zst".as_ref()).unwrap();
    /// assert_eq!((seg.sequence, seg.compression), (2, Compression::Zstd));
    /// assert!(Segment::parse(live, "app.jsonl".as_ref()).is_none());
    /// assert!(Segment::parse(live, "other.2026-12-02T06-30-00Z.000002.jsonl".as_ref()).is_none());
    /// ```
    pub fn parse(live: &Path, candidate: &Path) -> Option<Segment> {
        let (stem, ext) = split_name(live);
        let name = candidate.file_name()?.as_encoded_bytes();
        let rest = name.strip_prefix(stem.as_encoded_bytes())?;
        let rest = rest.strip_prefix(b".")?;
        let (time_text, rest) = rest.split_at_checked(TIME_LEN)?;
        let time = parse_time(time_text)?;
        let rest = rest.strip_prefix(b".")?;
        let (digits, mut rest) = rest.split_at_checked(SEQUENCE_DIGITS)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let sequence = std::str::from_utf8(digits).ok()?.parse().ok()?;
        if let Some(ext) = ext {
            rest = rest.strip_prefix(b".")?;
            rest = rest.strip_prefix(ext.as_encoded_bytes())?;
        }
        let compression = match rest {
            b"" => Compression::None,
            b".gz" => Compression::Gzip,
            b".zst" => Compression::Zstd,
            _ => return None,
        };
        Some(Segment {
            path: candidate.to_path_buf(),
            time,
            sequence,
            compression,
        })
    }

    /// The segment's file name without its compression suffix: the same for
    /// a segment and its compressed twin.
    pub(crate) fn key(&self) -> (OffsetDateTime, u32) {
        (self.time, self.sequence)
    }
}

/// The rotated segments of the live file `live`, oldest first; the live file
/// itself is not listed (it is newer than every segment).
///
/// A segment present both plain and compressed (for a moment while it is
/// compressed, or after a crash at that moment) holds the same records
/// twice; it is listed once, plain. Temporary files are never listed.
///
/// # Errors
///
/// The error of reading `live`'s directory; a missing directory is an empty
/// list.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let dir = tempfile::tempdir()?;
/// let live = dir.path().join("app.jsonl");
/// for name in [
///     "app.jsonl",
///     "app.2026-12-02T06-30-00Z.000002.jsonl.gz",
///     "app.2026-12-02T06-30-00Z.000001.jsonl",
///     "app.2026-12-02T06-30-00Z.000001.jsonl.gz",
///     ".app.2026-12-02T06-31-00Z.000001.jsonl.gz.tmp",
/// ] {
///     std::fs::write(dir.path().join(name), "")?;
/// }
/// let names: Vec<_> = sentinel::rotation::segments(&live)?
///     .into_iter()
///     .map(|s| s.path.file_name().unwrap().to_owned())
///     .collect();
/// assert_eq!(
///     names,
///     ["app.2026-12-02T06-30-00Z.000001.jsonl", "app.2026-12-02T06-30-00Z.000002.jsonl.gz"]
/// );
/// # Ok(())
/// # }
/// ```
pub fn segments(live: &Path) -> std::io::Result<Vec<Segment>> {
    let dir = match live.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(segment) = Segment::parse(live, &dir.join(entry.file_name())) {
            found.push(segment);
        }
    }
    // Plain sorts first among twins, so `dedup` keeps it.
    found.sort_by_key(|s| (s.key(), s.compression != Compression::None));
    found.dedup_by(|later, earlier| later.key() == earlier.key());
    Ok(found)
}

/// `app.jsonl` → (`app`, `jsonl`); `app` → (`app`, none).
fn split_name(live: &Path) -> (&std::ffi::OsStr, Option<&std::ffi::OsStr>) {
    let stem = live.file_stem().unwrap_or(live.as_os_str());
    (stem, live.extension())
}

fn parse_time(text: &[u8]) -> Option<OffsetDateTime> {
    let text = std::str::from_utf8(text).ok()?;
    let b = text.as_bytes();
    let shape_ok = b.len() == TIME_LEN
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b'-'
        && b[16] == b'-'
        && b[19] == b'Z';
    if !shape_ok {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = &text[range];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let month = time::Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(num(0..4)?).ok()?,
        month,
        u8::try_from(num(8..10)?).ok()?,
    )
    .ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(num(11..13)?).ok()?,
        u8::try_from(num(14..16)?).ok()?,
        u8::try_from(num(17..19)?).ok()?,
    )
    .ok()?;
    Some(date.with_time(clock).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn names_round_trip_for_every_compression() {
        let live = Path::new("/var/log/my.app.jsonl");
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let t = datetime!(2026-12-02 23:59:59 UTC);
            let path = Segment::path_for(live, t, 42, compression);
            let seg = Segment::parse(live, &path).unwrap();
            assert_eq!(
                (seg.time, seg.sequence, seg.compression),
                (t, 42, compression)
            );
            assert_eq!(seg.path, path);
        }
    }

    #[test]
    fn a_live_file_without_extension_gets_segments_without_one() {
        let live = Path::new("app");
        let path = Segment::path_for(live, datetime!(2026-01-01 0:00 UTC), 1, Compression::Gzip);
        assert_eq!(path, Path::new("app.2026-01-01T00-00-00Z.000001.gz"));
        assert!(Segment::parse(live, &path).is_some());
    }

    #[test]
    fn names_use_utc_whatever_the_offset() {
        let t = datetime!(2026-12-02 08:30:00 +02:00);
        let path = Segment::path_for(Path::new("a.jsonl"), t, 1, Compression::None);
        assert_eq!(path, Path::new("a.2026-12-02T06-30-00Z.000001.jsonl"));
    }

    #[test]
    fn lexical_order_is_time_then_sequence_order() {
        let live = Path::new("app.jsonl");
        let mut times = vec![
            (datetime!(2026-12-02 06:30:00 UTC), 2),
            (datetime!(2026-12-02 06:30:00 UTC), 10),
            (datetime!(2026-12-02 06:30:01 UTC), 1),
            (datetime!(2027-01-01 00:00:00 UTC), 1),
            (datetime!(2026-11-30 23:00:00 UTC), 999_999),
        ];
        let mut names: Vec<_> = times
            .iter()
            .map(|&(t, n)| Segment::path_for(live, t, n, Compression::Gzip))
            .collect();
        names.sort();
        times.sort();
        let parsed: Vec<_> = names
            .iter()
            .map(|p| Segment::parse(live, p).unwrap().key())
            .collect();
        assert_eq!(parsed, times);
    }

    #[test]
    fn look_alikes_are_not_segments() {
        let live = Path::new("app.jsonl");
        for name in [
            "app.jsonl",
            "app.jsonl.lock",
            ".app.jsonl.lock",
            "app.2026-12-02T06-30-00Z.000001.jsonl.gz.tmp",
            ".app.2026-12-02T06-30-00Z.000001.jsonl.gz.tmp",
            "app.2026-12-02T06-30-00Z.000001.log",
            "app.2026-12-02T06-30-00Z.00001.jsonl",
            "app.2026-12-02T06:30:00Z.000001.jsonl",
            "app.2026-13-02T06-30-00Z.000001.jsonl",
            "app.2026-12-02T06-30-00Z.00000a.jsonl",
            "app.2026-12-02T06-30-00Z.000001.jsonl.bz2",
            "apps.2026-12-02T06-30-00Z.000001.jsonl",
        ] {
            assert!(Segment::parse(live, Path::new(name)).is_none(), "{name}");
        }
    }
}
