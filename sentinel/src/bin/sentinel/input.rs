//! What every subcommand reads: files, folders of segments, quoted globs and `-` for stdin,
//! gzip and zstd read transparently.
//!
//! # Folders
//!
//! A folder is read as the writer leaves it: for each log, its rotated segments in time
//! order, then its live file. A segment is a file named `*.jsonl`, `*.jsonl.gz` or
//! `*.jsonl.zst`; `app.jsonl` is a live file and `app.<time>.<sequence>.jsonl[.gz|.zst]`
//! its rotated siblings, whose names sort in time order. Other files are ignored.
//!
//! # Compression
//!
//! Compression is recognised by its magic bytes, not by the name, so `zcat`-style renames
//! and compressed stdin work too.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use clap::Args;

use sentinel::format::{Line, Loose};

use crate::error::Failure;
use sentinel::rotation::Segment;

use crate::lines::LineReader;

/// Size of the read buffer of each input.
const READ_BUFFER: usize = 1 << 20;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The inputs of a subcommand, shared by every subcommand that reads logs.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct InputArgs {
    /// Log files, folders (every segment in time order, live file last), quoted globs
    /// ('logs/*.jsonl.gz'), or - for stdin. Gzip and zstd are read transparently.
    #[arg(value_name = "PATH")]
    pub(crate) paths: Vec<String>,
}

impl InputArgs {
    /// Resolves the paths to the list of inputs to read, in order.
    ///
    /// # Errors
    ///
    /// A missing path, a folder without segments, a glob matching nothing, or no path at all.
    pub(crate) fn sources(&self) -> Result<Vec<Source>, Failure> {
        if self.paths.is_empty() {
            return Err(Failure::Usage(
                "no input: give a log file, a folder, a glob, or - for stdin".to_owned(),
            ));
        }
        let mut sources = Vec::new();
        for path in &self.paths {
            sources.extend(resolve(path)?);
        }
        Ok(sources)
    }
}

/// One input: a file or stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    /// The name used in messages: the path, or `-` for stdin.
    pub(crate) fn name(&self) -> String {
        match self {
            Source::Stdin => "-".to_owned(),
            Source::File(path) => path.display().to_string(),
        }
    }

    /// Opens the input for reading, decompressing gzip and zstd.
    ///
    /// # Errors
    ///
    /// The open error, naming the path.
    pub(crate) fn open(&self) -> Result<Box<dyn BufRead + Send>, Failure> {
        let raw: Box<dyn Read + Send> = match self {
            Source::Stdin => Box::new(io::stdin()),
            Source::File(path) => {
                let file = File::open(path)
                    .or_else(|e| match compressed_twin(path) {
                        // Compressed since it was listed: same records, new name.
                        Some(twin) if e.kind() == io::ErrorKind::NotFound => File::open(twin),
                        _ => Err(e),
                    })
                    .map_err(|e| Failure::read(&self.name(), &e))?;
                if file.metadata().is_ok_and(|m| m.is_dir()) {
                    return Err(Failure::input(self.name(), "is a directory"));
                }
                Box::new(file)
            }
        };
        decompressed(BufReader::with_capacity(READ_BUFFER, raw))
            .and_then(without_bom)
            .map_err(|e| Failure::read(&self.name(), &e))
    }
}

/// Skips the UTF-8 byte order mark some Windows tools start text with, so the first
/// record is not taken for a line that is not one.
fn without_bom(mut reader: Box<dyn BufRead + Send>) -> io::Result<Box<dyn BufRead + Send>> {
    const BOM: &[u8] = b"\xef\xbb\xbf";
    let head = loop {
        match reader.fill_buf() {
            Ok(head) => break head,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    if head.starts_with(BOM) {
        reader.consume(BOM.len());
    }
    Ok(reader)
}

/// Wraps `reader` in a decoder when it starts with gzip or zstd magic bytes.
fn decompressed<R: BufRead + Send + 'static>(mut reader: R) -> io::Result<Box<dyn BufRead + Send>> {
    let head = loop {
        match reader.fill_buf() {
            Ok(head) => break head,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    };
    if head.starts_with(&GZIP_MAGIC) {
        let decoder = flate2::bufread::MultiGzDecoder::new(reader);
        Ok(Box::new(BufReader::with_capacity(READ_BUFFER, decoder)))
    } else if head.starts_with(&ZSTD_MAGIC) {
        let decoder = zstd::Decoder::with_buffer(reader)?;
        Ok(Box::new(BufReader::with_capacity(READ_BUFFER, decoder)))
    } else {
        Ok(Box::new(reader))
    }
}

fn resolve(path: &str) -> Result<Vec<Source>, Failure> {
    if path == "-" {
        return Ok(vec![Source::Stdin]);
    }
    let p = Path::new(path);
    match std::fs::metadata(p) {
        Ok(meta) if meta.is_dir() => {
            let files: Vec<PathBuf> = folder_logs(p)
                .map_err(|e| Failure::read(path, &e))?
                .into_iter()
                .flat_map(Log::files)
                .collect();
            if files.is_empty() {
                return Err(Failure::input(
                    path,
                    "no log segments in this folder (*.jsonl, *.jsonl.gz, *.jsonl.zst)",
                ));
            }
            Ok(files.into_iter().map(Source::File).collect())
        }
        Ok(_) => Ok(vec![Source::File(p.to_path_buf())]),
        Err(e) if e.kind() == io::ErrorKind::NotFound && is_glob(path) => {
            let pattern = glob::glob(path)
                .map_err(|e| Failure::input(path, format!("bad glob pattern: {}", e.msg)))?;
            let mut files: Vec<PathBuf> = pattern
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            if files.is_empty() {
                return Err(Failure::input(path, "no file matches this pattern"));
            }
            sort_segments(&mut files);
            Ok(files.into_iter().map(Source::File).collect())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Failure::input(path, "no such file")),
        Err(e) => Err(Failure::read(path, &e)),
    }
}

fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// Whether `arg` is meant as an input: `-`, an existing file or folder, or a glob.
pub(crate) fn names_input(arg: &str) -> bool {
    arg == "-" || is_glob(arg) || Path::new(arg).exists()
}

/// One log of a folder: its rotated segments, oldest first, and its live file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Log {
    pub(crate) segments: Vec<PathBuf>,
    /// The live file's path, whether or not it exists now.
    pub(crate) live: PathBuf,
}

impl Log {
    /// Every file of the log in reading order: segments, then the live file if it exists.
    pub(crate) fn files(self) -> Vec<PathBuf> {
        let mut files = self.segments;
        if self.live.is_file() {
            files.push(self.live);
        }
        files
    }
}

/// The logs of a folder in name order, found by the writer's naming rule
/// ([`sentinel::rotation::Segment`]): a live `*.jsonl` file and its rotated siblings, a
/// segment both plain and compressed listed once.
pub(crate) fn folder_logs(dir: &Path) -> io::Result<Vec<Log>> {
    let mut lives: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if let Some(live) = live_of(&entry.path()) {
            lives.push(live);
        }
    }
    lives.sort();
    lives.dedup();
    lives
        .into_iter()
        .map(|live| {
            let segments = sentinel::rotation::segments(&live)?
                .into_iter()
                .map(|s| s.path)
                .collect();
            Ok(Log { segments, live })
        })
        .collect()
}

/// The live file `path` belongs to: its live sibling for a rotated segment, itself for any
/// other `*.jsonl[.gz|.zst]` file; `None` for other files.
pub(crate) fn live_of(path: &Path) -> Option<PathBuf> {
    let name = path.file_name().and_then(OsStr::to_str)?;
    if name.starts_with('.') {
        return None;
    }
    let bare = name
        .strip_suffix(".gz")
        .or_else(|| name.strip_suffix(".zst"))
        .unwrap_or(name);
    let stem = bare.strip_suffix(".jsonl")?;
    // `app.2026-12-02T06-30-00Z.000001`: the live file is `app.jsonl`, if the writer's
    // rule agrees.
    if let Some(log) = stem.rsplitn(3, '.').nth(2)
        && !log.is_empty()
    {
        let live = path.with_file_name(format!("{log}.jsonl"));
        if Segment::parse(&live, path).is_some() {
            return Some(live);
        }
    }
    Some(path.to_path_buf())
}

/// The segment `path` became once compressed (`.gz` or `.zst` added), if there is one.
fn compressed_twin(path: &Path) -> Option<PathBuf> {
    let live = live_of(path)?;
    let segment = Segment::parse(&live, path)?;
    sentinel::rotation::segments(&live)
        .ok()?
        .into_iter()
        .find(|s| (s.time, s.sequence) == (segment.time, segment.sequence) && s.path != path)
        .map(|s| s.path)
}

/// Puts the files a glob matched in reading order: by log, rotated segments in time order,
/// the live file last; files of no log keep name order, after.
fn sort_segments(files: &mut [PathBuf]) {
    files.sort_by_cached_key(|p| {
        let live = live_of(p);
        let rotated = live
            .as_deref()
            .and_then(|live| Segment::parse(live, p))
            .map(|s| (s.time, s.sequence));
        (live.is_none(), live, rotated.is_none(), rotated, p.clone())
    });
}

/// What a subcommand made of one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A record (a JSON object), whether or not a filter kept it.
    Record,
    /// A non-blank line that is not a record.
    NotRecord,
    /// A record skipped for a `duration_ms` that is not a number (see [`mistyped`]).
    Mistyped,
    /// Whitespace only.
    Blank,
}

/// Counts of one input's lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) records: u64,
    pub(crate) not_records: u64,
    /// Records skipped for a `duration_ms` that is not a number (also in `records`).
    pub(crate) mistyped: u64,
    pub(crate) oversized: u64,
    /// The input starts with binary data (a NUL byte in its first block).
    pub(crate) binary: bool,
    /// Why the input could not be opened or read to its end (a corrupt or truncated
    /// compressed segment, a segment removed meanwhile): what came before was read, the
    /// rest is skipped, and the other inputs are still read.
    pub(crate) unreadable: Option<String>,
}

/// The one rule for a wrongly typed field that every subcommand applies: a record whose
/// `duration_ms` is there but is not a number (nor a numeric string) is skipped, and
/// counted as [`Seen::Mistyped`]. Other wrongly typed fields count as absent.
pub(crate) fn mistyped(line: &Line<'_>) -> bool {
    line.duration_ms != Loose::Null && line.duration_ms.f64().is_none()
}

impl Tally {
    /// Counts one line.
    pub(crate) fn count(&mut self, seen: Seen) {
        match seen {
            Seen::Record => self.records += 1,
            Seen::NotRecord => self.not_records += 1,
            Seen::Mistyped => {
                self.records += 1;
                self.mistyped += 1;
            }
            Seen::Blank => {}
        }
    }

    /// The one-line account of what was skipped, or an error when nothing was a record.
    ///
    /// # Errors
    ///
    /// A binary input, or one with lines of which none was a record.
    pub(crate) fn check(
        &self,
        name: &str,
        max_line_bytes: usize,
    ) -> Result<Option<String>, Failure> {
        if let Some(why) = &self.unreadable {
            let read = match self.records + self.not_records {
                0 => String::new(),
                n => format!(" after {n} line(s)"),
            };
            return Err(Failure::input(
                name,
                format!("{why}; stopped reading this input{read}"),
            ));
        }
        if self.binary {
            return Err(Failure::input(name, "binary file, not JSONL; skipped"));
        }
        if self.records == 0 && self.not_records + self.oversized > 0 {
            return Err(Failure::input(
                name,
                format!(
                    "not a sentinel JSONL file: none of its {} line(s) is a JSON object",
                    self.not_records + self.oversized
                ),
            ));
        }
        let mut notes = Vec::new();
        if self.not_records > 0 {
            notes.push(format!("{} line(s) that are not records", self.not_records));
        }
        if self.mistyped > 0 {
            notes.push(format!(
                "{} record(s) whose duration_ms is not a number",
                self.mistyped
            ));
        }
        if self.oversized > 0 {
            notes.push(format!(
                "{} line(s) longer than {max_line_bytes} bytes",
                self.oversized
            ));
        }
        Ok((!notes.is_empty()).then(|| format!("{name}: skipped {}", notes.join(" and "))))
    }
}

/// Feeds every line of `source` (without its `\n`) to `f`, skipping lines longer than
/// `max_line_bytes`, and counts what `f` made of them. An input that cannot be opened or
/// read to its end is marked [`Tally::unreadable`], for [`Tally::check`] to report.
///
/// # Errors
///
/// `f`'s errors, passed on.
pub(crate) fn read_lines(
    source: &Source,
    max_line_bytes: usize,
    mut f: impl FnMut(&[u8]) -> Result<Seen, Failure>,
) -> Result<Tally, Failure> {
    let mut tally = Tally::default();
    let mut reader = match source.open() {
        Ok(reader) => reader,
        Err(e) => {
            tally.unreadable = Some(e.message());
            return Ok(tally);
        }
    };
    match reader.fill_buf() {
        Ok(head) if memchr::memchr(0, &head[..head.len().min(8192)]).is_some() => {
            tally.binary = true;
            return Ok(tally);
        }
        Ok(_) => {}
        Err(e) => {
            tally.unreadable = Some(Failure::read_message(&e));
            return Ok(tally);
        }
    }
    let mut lines = LineReader::new(max_line_bytes);
    let count = |seen: Seen, tally: &mut Tally| tally.count(seen);
    loop {
        match lines.read_line(&mut reader) {
            Ok(Some(line)) => count(f(line)?, &mut tally),
            Ok(None) => break,
            Err(e) => {
                tally.unreadable = Some(Failure::read_message(&e));
                tally.oversized = lines.oversized();
                return Ok(tally);
            }
        }
    }
    if let Some(line) = lines.take_partial() {
        count(f(line)?, &mut tally);
    }
    tally.oversized = lines.oversized();
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_sort_in_time_order_with_the_live_file_last() {
        let mut files: Vec<PathBuf> = [
            "d/app.jsonl",
            "d/app.2026-12-02T06-30-00Z.000002.jsonl.zst",
            "d/other.jsonl",
            "d/app.2026-12-01T23-00-00Z.000001.jsonl.gz",
            "d/app.2026-12-02T06-30-00Z.000001.jsonl",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        sort_segments(&mut files);
        let names: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "d/app.2026-12-01T23-00-00Z.000001.jsonl.gz",
                "d/app.2026-12-02T06-30-00Z.000001.jsonl",
                "d/app.2026-12-02T06-30-00Z.000002.jsonl.zst",
                "d/app.jsonl",
                "d/other.jsonl",
            ]
        );
    }

    #[test]
    fn a_segment_belongs_to_its_live_file() {
        let live_of = |p: &str| live_of(Path::new(p)).map(|p| p.display().to_string());
        assert_eq!(live_of("a.txt"), None);
        assert_eq!(live_of("a.jsonl.bak"), None);
        assert_eq!(live_of("d/my.app.jsonl").as_deref(), Some("d/my.app.jsonl"));
        assert_eq!(
            live_of("d/app.2026-12-02T06-30-00Z.000002.jsonl.zst").as_deref(),
            Some("d/app.jsonl")
        );
        // Not the writer's time format: a log of its own, not a segment of `app`.
        assert_eq!(
            live_of("d/app.v2.000002.jsonl").as_deref(),
            Some("d/app.v2.000002.jsonl")
        );
        assert_eq!(live_of("d/old.jsonl.gz").as_deref(), Some("d/old.jsonl.gz"));
    }
}
