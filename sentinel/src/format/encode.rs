//! The encoder the writer uses: entries to JSON lines, caching what repeats
//! between records. Span records keep the key order of the original
//! sentinel-trace, so its tools read ours. Encoding happens on the writer
//! thread only.

use std::borrow::Cow;
use std::sync::Arc;

use crate::clock::Anchor;
use crate::record::{
    DropMarker, Entry, ErasedRecord, NO_CPU, NameKind, SpanRecord, Status, panic_message,
};
use crate::tagset::{ConstTags, OwnTags, TagSet};

/// Why an entry could not be encoded.
#[derive(Debug)]
pub(crate) enum EncodeError {
    /// The record failed to serialize (a `Serialize` impl returned an error).
    Serialize(serde_json::Error),
    /// The record's `Serialize` impl panicked.
    Panicked(String),
    /// The record serialized to something other than a JSON object.
    NotAnObject,
}

/// Encodes entries into JSON lines, caching what repeats between records.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    /// Second-resolution timestamp prefix (`2026-11-22T01:02:03`) and the unix
    /// second it renders.
    second: Option<(i64, [u8; 19])>,
    /// Serialized form of the most recent tag set, reused while records share it.
    tags: Option<(Arc<TagSet>, Vec<u8>)>,
    /// Address and length of the last `&'static` name that needed no
    /// escaping (static text never changes, so the answer stays right).
    plain_name: Option<(usize, usize)>,
}

/// Room reserved for a span line besides its name: every bounded part at its
/// longest (keys, a 34-byte timestamp, two 28-byte number windows, a 34-byte
/// trace id and two 18-byte span ids, the longest status), with slack.
const SPAN_LINE_RESERVE: usize = 384;

/// Writes a line into capacity reserved up front, so each part is a single
/// copy with no capacity check of its own; parts with a bound are copied at
/// a constant size (a few moves, no `memcpy` call) and trimmed afterwards.
struct Line<'a> {
    out: &'a mut Vec<u8>,
    /// Bytes written so far, including what `out` held before.
    len: usize,
    /// End of the reserved room.
    end: usize,
}

impl<'a> Line<'a> {
    fn new(out: &'a mut Vec<u8>, reserve: usize) -> Self {
        out.reserve(reserve);
        let len = out.len();
        Line {
            end: len + reserve,
            len,
            out,
        }
    }

    #[inline(always)]
    fn put<const N: usize>(&mut self, bytes: &[u8; N]) {
        self.put_prefix(bytes, N);
    }

    /// Copies all `N` bytes but keeps only the first `used`.
    #[inline(always)]
    fn put_prefix<const N: usize>(&mut self, bytes: &[u8; N], used: usize) {
        assert!(used <= N && self.len + N <= self.end, "span line overflows");
        // SAFETY: `len + N <= end <= capacity` (reserved in `new`), so the
        // copy stays inside the allocation; bytes past `used` are
        // overwritten by the next part or left out by `finish`.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.out.as_mut_ptr().add(self.len), N);
        }
        self.len += used;
    }

    #[inline]
    fn put_slice(&mut self, bytes: &[u8]) {
        assert!(self.len + bytes.len() <= self.end, "span line overflows");
        // SAFETY: as in `put_prefix`.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.out.as_mut_ptr().add(self.len),
                bytes.len(),
            );
        }
        self.len += bytes.len();
    }

    /// Makes the written bytes part of `out` and hands it back.
    fn finish(self) -> &'a mut Vec<u8> {
        // SAFETY: every byte up to `len` was written by a `put*` above (or
        // was already in `out`), and `len <= end <= capacity`.
        unsafe { self.out.set_len(self.len) };
        self.out
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Each byte's two lowercase hex digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    table
};

impl Encoder {
    /// Appends one JSON line (with its newline) to `out`. On error `out` is
    /// left as it was.
    pub(crate) fn encode(
        &mut self,
        entry: &Entry,
        anchor: &Anchor,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        match entry {
            Entry::Span(span) => {
                self.encode_span(span, anchor, out);
                Ok(())
            }
            Entry::User { at, record } => {
                let start = out.len();
                // A user's `Serialize` may panic: that record is lost, the
                // writer is not.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.encode_user(*at, record.as_ref(), anchor, out)
                }))
                .unwrap_or_else(|payload| Err(EncodeError::Panicked(panic_message(&*payload))));
                if result.is_err() {
                    out.truncate(start);
                }
                result
            }
            Entry::Dropped(marker) => {
                self.encode_marker(marker, anchor, out);
                Ok(())
            }
            Entry::Line { bytes, .. } => {
                out.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    fn encode_marker(&mut self, m: &DropMarker, anchor: &Anchor, out: &mut Vec<u8>) {
        let count: u64 = m.reasons.iter().map(|(_, n)| n).sum();
        out.extend_from_slice(b"{\"timestamp\":");
        out.extend_from_slice(&self.timestamp(anchor.unix_ns(m.last)));
        out.extend_from_slice(b",\"status\":\"dropped\",\"dropped\":{\"count\":");
        out.extend_from_slice(count.to_string().as_bytes());
        out.extend_from_slice(b",\"reasons\":{");
        for (i, (reason, n)) in m.reasons.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_str(reason, out);
            out.push(b':');
            out.extend_from_slice(n.to_string().as_bytes());
        }
        out.extend_from_slice(b"},\"from\":");
        out.extend_from_slice(&self.timestamp(anchor.unix_ns(m.first)));
        out.extend_from_slice(b",\"to\":");
        out.extend_from_slice(&self.timestamp(anchor.unix_ns(m.last)));
        out.extend_from_slice(b"}}\n");
    }

    fn encode_user(
        &mut self,
        at: u64,
        record: &dyn ErasedRecord,
        anchor: &Anchor,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let value = record.to_value().map_err(EncodeError::Serialize)?;
        let serde_json::Value::Object(map) = value else {
            return Err(EncodeError::NotAnObject);
        };
        out.push(b'{');
        let mut first = true;
        if !map.contains_key("timestamp") {
            out.extend_from_slice(b"\"timestamp\":");
            out.extend_from_slice(&self.timestamp(anchor.unix_ns(at)));
            first = false;
        }
        for (k, v) in &map {
            if !first {
                out.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut *out, k).map_err(EncodeError::Serialize)?;
            out.push(b':');
            serde_json::to_writer(&mut *out, v).map_err(EncodeError::Serialize)?;
        }
        out.extend_from_slice(b"}\n");
        Ok(())
    }

    fn encode_span(&mut self, s: &SpanRecord, anchor: &Anchor, out: &mut Vec<u8>) {
        let duration = anchor.nanos(s.start, s.end);
        let timestamp = self.timestamp(anchor.unix_ns(s.end));
        let plain_name = match &s.name {
            Cow::Borrowed(name) => self.plain_static_name(name),
            Cow::Owned(name) => needs_no_escape(name),
        };
        let mut line = Line::new(out, SPAN_LINE_RESERVE + s.name.len());
        line.put(b"{\"timestamp\":");
        line.put(&timestamp);
        match s.kind {
            NameKind::Function => line.put(b",\"function\":\""),
            NameKind::Label => line.put(b",\"label\":\""),
        }
        if plain_name {
            line.put_slice(s.name.as_bytes());
            line.put(b"\"");
        } else {
            // Rare: a name that needs escaping goes through serde_json.
            let out = line.finish();
            out.pop();
            json_str(&s.name, out);
            line = Line::new(out, SPAN_LINE_RESERVE);
        }
        line.put(b",\"duration_ms\":");
        millis(duration, &mut line);
        if s.cpu_ns != NO_CPU {
            line.put(b",\"cpu_time_ms\":");
            // A thread cannot use more CPU than the span's wall time; readings
            // taken a few hundred ns apart in a syscall could say otherwise.
            millis(s.cpu_ns.min(duration), &mut line);
        }
        match s.status {
            Status::Success => line.put(b",\"status\":\"success\""),
            Status::Error => line.put(b",\"status\":\"error\""),
            Status::Cancelled => line.put(b",\"status\":\"cancelled\""),
        }
        match &s.error {
            Some(err) => {
                line.put(b",\"error_type\":");
                let out = line.finish();
                json_str(&short_type_name(&err.type_name), out);
                out.extend_from_slice(b",\"error\":");
                json_str(&err.message, out);
                line = Line::new(out, SPAN_LINE_RESERVE);
            }
            None => line.put(b",\"error_type\":null,\"error\":null"),
        }
        line.put(b",\"trace_id\":");
        line.put(&hex_trace_id(s.trace_id));
        line.put(b",\"span_id\":");
        line.put(&hex_id(s.span_id));
        if s.parent_span_id == 0 {
            line.put(b",\"parent_span_id\":null");
        } else {
            line.put(b",\"parent_span_id\":");
            line.put(&hex_id(s.parent_span_id));
        }
        let scope = s.tags.as_ref().filter(|t| !t.is_empty());
        if !s.own.is_empty() {
            line.put(b",\"tags\":");
            let out = line.finish();
            own_tags(scope.map(|t| &**t), &s.own, out);
            line = Line::new(out, SPAN_LINE_RESERVE);
        } else if let Some(tags) = scope {
            line.put(b",\"tags\":");
            let out = line.finish();
            self.tags(tags, out);
            line = Line::new(out, SPAN_LINE_RESERVE);
        }
        if duration > s.slow_ns {
            line.put(b",\"slow\":true}\n");
        } else {
            line.put(b"}\n");
        }
        line.finish();
    }

    /// Whether a `&'static` span name needs no escaping. Names are mostly
    /// static, so the answer for the one seen last is kept by address: static
    /// text never changes. (An owned name is checked every time: once freed,
    /// its address and length may come back holding other text.)
    fn plain_static_name(&mut self, name: &'static str) -> bool {
        let key = (name.as_ptr() as usize, name.len());
        if self.plain_name == Some(key) {
            return true;
        }
        let plain = needs_no_escape(name);
        if plain {
            self.plain_name = Some(key);
        }
        plain
    }

    fn tags(&mut self, tags: &Arc<TagSet>, out: &mut Vec<u8>) {
        if let Some((cached, bytes)) = &self.tags
            && Arc::ptr_eq(cached, tags)
        {
            out.extend_from_slice(bytes);
            return;
        }
        let mut bytes = Vec::with_capacity(64);
        bytes.push(b'{');
        for (i, (k, v)) in tags.iter().enumerate() {
            if i > 0 {
                bytes.push(b',');
            }
            json_str(k, &mut bytes);
            bytes.push(b':');
            // A `Value` always serializes.
            let _ = serde_json::to_writer(&mut bytes, v);
        }
        bytes.push(b'}');
        out.extend_from_slice(&bytes);
        self.tags = Some((Arc::clone(tags), bytes));
    }

    /// `"2026-11-22T01:02:03.456789+00:00"`, with the date part cached per second.
    fn timestamp(&mut self, unix_ns: i64) -> [u8; 34] {
        let secs = unix_ns.div_euclid(1_000_000_000);
        let micros = (unix_ns.rem_euclid(1_000_000_000) / 1_000) as u32;
        let prefix = match self.second {
            Some((s, p)) if s == secs => p,
            _ => {
                let p = render_second(secs);
                self.second = Some((secs, p));
                p
            }
        };
        let mut buf = [0u8; 34];
        buf[0] = b'"';
        buf[1..20].copy_from_slice(&prefix);
        buf[20] = b'.';
        let hi = (micros / 10_000) as usize;
        let mid = (micros / 100 % 100) as usize;
        let lo = (micros % 100) as usize;
        buf[21..23].copy_from_slice(&DIGITS2[hi * 2..hi * 2 + 2]);
        buf[23..25].copy_from_slice(&DIGITS2[mid * 2..mid * 2 + 2]);
        buf[25..27].copy_from_slice(&DIGITS2[lo * 2..lo * 2 + 2]);
        buf[27..34].copy_from_slice(b"+00:00\"");
        buf
    }
}

/// The `{…}` of a span with tags of its own: the scope's tags, then the
/// span's constants, captured arguments and recorded values. A key that
/// comes again later is written only there, with the later value. No
/// allocation: tags are few, so duplicates are found by scanning.
fn own_tags(scope: Option<&TagSet>, own: &OwnTags, out: &mut Vec<u8>) {
    let scope = scope.map_or(&[][..], |s| &s.entries[..]);
    let consts = own.consts.map_or(&[][..], ConstTags::pairs);
    let values = own.values.as_deref().unwrap_or_default();
    let key = |i: usize| -> &str {
        if i < scope.len() {
            &scope[i].0
        } else if i < scope.len() + consts.len() {
            consts[i - scope.len()].0
        } else {
            &values[i - scope.len() - consts.len()].0
        }
    };
    let total = scope.len() + consts.len() + values.len();
    out.push(b'{');
    let mut first = true;
    for i in 0..total {
        let k = key(i);
        if (i + 1..total).any(|j| key(j) == k) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        json_str(k, out);
        out.push(b':');
        if i < scope.len() {
            // A `Value` always serializes.
            let _ = serde_json::to_writer(&mut *out, &scope[i].1);
        } else if i < scope.len() + consts.len() {
            out.extend_from_slice(consts[i - scope.len()].1.as_bytes());
        } else {
            let _ = serde_json::to_writer(&mut *out, &values[i - scope.len() - consts.len()].1);
        }
    }
    out.push(b'}');
}

/// "00" to "99", for writing two digits at a time.
const DIGITS2: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

fn render_second(secs: i64) -> [u8; 19] {
    let mut buf = [b'0'; 19];
    let dt =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    if let Ok(s) = dt.format(&fmt)
        && s.len() == 19
    {
        buf.copy_from_slice(s.as_bytes());
    }
    buf
}

/// Nanoseconds as a decimal number of milliseconds with up to six fraction
/// digits, without float formatting (exact, and trailing zeros trimmed).
fn millis(ns: u64, out: &mut Line<'_>) {
    let (buf, start, end) = millis_digits(ns);
    let window: &[u8; MILLIS_WINDOW] = buf[start..start + MILLIS_WINDOW]
        .try_into()
        .expect("window inside the buffer");
    out.put_prefix(window, end - start);
}

/// Longest `millis` text: 14 whole digits of `u64::MAX` ns, a point, six digits.
const MILLIS_WINDOW: usize = 28;

/// The digits of `millis` in `buf[start..end]`; `buf` extends at least
/// `MILLIS_WINDOW` bytes past `start`, so the text can be copied at a
/// constant size.
fn millis_digits(ns: u64) -> ([u8; 48], usize, usize) {
    let mut buf = [0u8; 48];
    // Whole milliseconds, right-aligned in buf[..20].
    let mut whole = ns / 1_000_000;
    let mut i = 20;
    while whole >= 100 {
        let d = (whole % 100) as usize;
        whole /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGITS2[d * 2..d * 2 + 2]);
    }
    if whole >= 10 {
        let d = whole as usize;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGITS2[d * 2..d * 2 + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + whole as u8;
    }
    buf[20] = b'.';
    let frac = (ns % 1_000_000) as usize;
    let (hi, mid, lo) = (frac / 10_000, frac / 100 % 100, frac % 100);
    buf[21..23].copy_from_slice(&DIGITS2[hi * 2..hi * 2 + 2]);
    buf[23..25].copy_from_slice(&DIGITS2[mid * 2..mid * 2 + 2]);
    buf[25..27].copy_from_slice(&DIGITS2[lo * 2..lo * 2 + 2]);
    let mut end = 27;
    while end > 22 && buf[end - 1] == b'0' {
        end -= 1;
    }
    (buf, i, end)
}

/// A span id as a quoted string of 16 lowercase hex digits.
#[inline]
fn hex_id(id: u64) -> [u8; 18] {
    let mut buf = [b'"'; 18];
    hex_into(id, &mut buf, 1);
    buf
}

/// A trace id (high and low halves) as a quoted string of 32 lowercase hex
/// digits.
#[inline]
fn hex_trace_id([high, low]: [u64; 2]) -> [u8; 34] {
    let mut buf = [b'"'; 34];
    hex_into(high, &mut buf, 1);
    hex_into(low, &mut buf, 17);
    buf
}

/// Writes the 16 hex digits of `v` at `buf[at..at + 16]`, a table lookup
/// per byte. (A branch-free SWAR version spreading nibbles over a u128 was
/// measured slower on x86-64 than these L1-resident lookups.)
#[inline(always)]
fn hex_into<const N: usize>(v: u64, buf: &mut [u8; N], at: usize) {
    let bytes = v.to_be_bytes();
    let mut i = 0;
    while i < 8 {
        let pair = HEX_PAIRS[bytes[i] as usize];
        buf[at + 2 * i] = pair[0];
        buf[at + 2 * i + 1] = pair[1];
        i += 1;
    }
}

fn needs_no_escape(s: &str) -> bool {
    s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// A JSON string literal; fast path for text that needs no escaping.
fn json_str(s: &str, out: &mut Vec<u8>) {
    if needs_no_escape(s) {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Serializing a `str` cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// `std::io::error::Error` → `Error`; `my::Wrapper<alloc::string::String>` →
/// `Wrapper<String>`: every path segment but the last is dropped.
pub(crate) fn short_type_name(full: &str) -> Cow<'_, str> {
    if !full.contains("::") {
        return Cow::Borrowed(full);
    }
    let mut out = String::with_capacity(full.len());
    let mut segment_start = 0;
    let bytes = full.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b':' && bytes.get(i + 1) == Some(&b':') {
            // Drop the path segment collected so far.
            out.truncate(segment_start);
            i += 2;
            continue;
        }
        out.push(c as char);
        if !(c.is_ascii_alphanumeric() || c == b'_') {
            segment_start = out.len();
        }
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ErrorInfo;

    fn span() -> SpanRecord {
        SpanRecord {
            name: Cow::Borrowed("fetch[db]"),
            kind: NameKind::Function,
            status: Status::Success,
            slow_ns: u64::MAX,
            start: 1_000,
            end: 12_346_000,
            cpu_ns: 500_000,
            trace_id: [0x4bf9_2f35_77b3_4da6, 0xa3ce_929d_0e0e_4736],
            span_id: 0x2c26_b46b_68ff_c68f,
            parent_span_id: 0,
            tags: None,
            own: Default::default(),
            error: None,
        }
    }

    fn encode(entry: &Entry) -> serde_json::Value {
        let mut out = Vec::new();
        Encoder::default()
            .encode(entry, &Anchor::identity(20_000_000), &mut out)
            .unwrap();
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn span_record_has_original_keys_in_order() {
        let v = encode(&Entry::Span(span()));
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "timestamp",
                "function",
                "duration_ms",
                "cpu_time_ms",
                "status",
                "error_type",
                "error",
                "trace_id",
                "span_id",
                "parent_span_id"
            ]
        );
        assert_eq!(v["duration_ms"], 12.345);
        assert_eq!(v["cpu_time_ms"], 0.5);
        assert_eq!(v["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(v["span_id"], "2c26b46b68ffc68f");
        assert_eq!(v["parent_span_id"], serde_json::Value::Null);
        let ts = v["timestamp"].as_str().unwrap();
        assert_eq!(ts.len(), "2026-11-22T01:02:03.456789+00:00".len());
        assert!(ts.ends_with("+00:00"));
        time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).unwrap();
    }

    #[test]
    fn names_that_need_escaping_and_long_parts_stay_valid_json() {
        let mut s = span();
        s.name = Cow::Owned(format!("say \"hi\"\n{}", "x".repeat(10_000)));
        s.error = Some(Box::new(ErrorInfo {
            type_name: Cow::Borrowed("my::Error"),
            message: "y".repeat(5_000),
        }));
        s.tags = Some(Arc::new(TagSet::merged(
            None,
            &[(Cow::Borrowed("k"), "v".repeat(3_000).into())],
        )));
        s.slow_ns = 0;
        let v = encode(&Entry::Span(s));
        assert!(v["function"].as_str().unwrap().starts_with("say \"hi\"\n"));
        assert_eq!(v["function"].as_str().unwrap().len(), 10_009);
        assert_eq!(v["error"].as_str().unwrap().len(), 5_000);
        assert_eq!(v["tags"]["k"].as_str().unwrap().len(), 3_000);
        assert_eq!(v["slow"], true);
    }

    // regression: issue #11
    #[test]
    fn issue_11_owned_name_reusing_a_plain_names_memory_is_still_escaped() {
        let anchor = Anchor::identity(20_000_000);
        let mut encoder = Encoder::default();
        let mut out = Vec::new();
        // One buffer refilled in place, so the second name certainly has the
        // first one's address and length.
        let plain = "plain_name_abcd";
        let forged = "a\"b\\c\nd\u{1}efghijk";
        assert_eq!(plain.len(), forged.len());
        let mut buf = String::with_capacity(plain.len());
        buf.push_str(plain);
        let addr = buf.as_ptr();
        for text in [plain, forged] {
            buf.clear();
            buf.push_str(text);
            assert_eq!(buf.as_ptr(), addr, "the buffer moved");
            let mut s = span();
            s.name = Cow::Owned(buf);
            let entry = Entry::Span(s);
            encoder.encode(&entry, &anchor, &mut out).unwrap();
            let Entry::Span(s) = entry else {
                unreachable!()
            };
            let Cow::Owned(name) = s.name else {
                unreachable!()
            };
            buf = name;
        }
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text:?}");
        let second: serde_json::Value = serde_json::from_str(lines[1])
            .unwrap_or_else(|e| panic!("not JSON: {:?}: {e}", lines[1]));
        assert_eq!(second["function"], forged);
    }

    #[test]
    fn static_plain_names_are_written_as_they_are_on_repeat() {
        let anchor = Anchor::identity(20_000_000);
        let mut encoder = Encoder::default();
        let mut out = Vec::new();
        for _ in 0..3 {
            encoder
                .encode(&Entry::Span(span()), &anchor, &mut out)
                .unwrap();
        }
        for line in String::from_utf8(out).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["function"], "fetch[db]");
        }
    }

    #[test]
    fn cpu_time_never_exceeds_the_duration() {
        let mut s = span();
        s.cpu_ns = 20_000_000;
        let v = encode(&Entry::Span(s));
        assert_eq!(v["duration_ms"], 12.345);
        assert_eq!(v["cpu_time_ms"], 12.345);
    }

    #[test]
    fn optional_fields_appear_only_when_present() {
        let mut s = span();
        s.kind = NameKind::Label;
        s.cpu_ns = NO_CPU;
        s.slow_ns = 0;
        s.parent_span_id = 7;
        s.status = Status::Error;
        s.error = Some(Box::new(ErrorInfo {
            type_name: Cow::Borrowed("std::io::error::Error"),
            message: "disk \"gone\"\n".into(),
        }));
        s.tags = Some(Arc::new(TagSet::merged(
            None,
            &[(Cow::Borrowed("user"), 42.into())],
        )));
        let v = encode(&Entry::Span(s));
        assert_eq!(v["label"], "fetch[db]");
        assert!(v.get("function").is_none());
        assert!(v.get("cpu_time_ms").is_none());
        assert_eq!(v["slow"], true);
        assert_eq!(v["parent_span_id"], "0000000000000007");
        assert_eq!(v["error_type"], "Error");
        assert_eq!(v["error"], "disk \"gone\"\n");
        assert_eq!(v["tags"]["user"], 42);
    }

    #[test]
    fn longest_fixed_fields_fit_the_reserved_line() {
        let mut s = span();
        s.start = 0;
        s.end = u64::MAX;
        s.cpu_ns = u64::MAX - 1;
        s.status = Status::Cancelled;
        s.trace_id = [u64::MAX; 2];
        s.span_id = u64::MAX;
        s.parent_span_id = u64::MAX;
        let v = encode(&Entry::Span(s));
        assert_eq!(v["status"], "cancelled");
        assert_eq!(v["trace_id"], "f".repeat(32));
        assert_eq!(v["parent_span_id"], "ffffffffffffffff");
    }

    #[test]
    fn ids_are_fixed_width_lowercase_hex() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut values = vec![0, 1, 0xa, 0xf, 0x10, 0x0123_4567_89ab_cdef, u64::MAX];
        for _ in 0..10_000 {
            // xorshift: cheap varied bit patterns.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            values.push(state);
        }
        for v in values {
            assert_eq!(hex_id(v), *format!("\"{v:016x}\"").as_bytes(), "{v:#x}");
            let wide = (u128::from(v) << 64) | u128::from(!v);
            assert_eq!(
                hex_trace_id([v, !v]),
                *format!("\"{wide:032x}\"").as_bytes()
            );
        }
    }

    #[test]
    fn user_record_gets_timestamp_first_unless_it_has_one() {
        let rec = Entry::User {
            at: crate::clock::now(),
            record: Box::new(serde_json::json!({"event": "x", "value": 42})),
        };
        let v = encode(&rec);
        let keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["timestamp", "event", "value"]);

        let rec = Entry::User {
            at: 0,
            record: Box::new(
                serde_json::json!({"event": "x", "timestamp": "2020-01-01T00:00:00+00:00"}),
            ),
        };
        let v = encode(&rec);
        assert_eq!(v["timestamp"], "2020-01-01T00:00:00+00:00");
    }

    #[test]
    fn non_object_user_record_is_an_error_and_writes_nothing() {
        let mut out = b"keep".to_vec();
        let rec = Entry::User {
            at: 0,
            record: Box::new(5),
        };
        let err = Encoder::default().encode(&rec, &Anchor::now(), &mut out);
        assert!(matches!(err, Err(EncodeError::NotAnObject)));
        assert_eq!(out, b"keep");
    }

    #[test]
    fn millis_are_exact_and_trimmed() {
        let cases = [
            (0, "0.0"),
            (1, "0.000001"),
            (1_500_000, "1.5"),
            (12_345_678_000, "12345.678"),
            (u64::MAX, "18446744073709.551615"),
        ];
        for (ns, want) in cases {
            let mut out = b"x".to_vec();
            let mut line = Line::new(&mut out, MILLIS_WINDOW);
            millis(ns, &mut line);
            line.finish();
            assert_eq!(String::from_utf8(out).unwrap(), format!("x{want}"));
        }
    }

    #[test]
    fn type_names_lose_their_module_paths() {
        assert_eq!(short_type_name("std::io::error::Error"), "Error");
        assert_eq!(short_type_name("anyhow::Error"), "Error");
        assert_eq!(short_type_name("ParseIntError"), "ParseIntError");
        assert_eq!(
            short_type_name("my::Wrapper<alloc::string::String, core::num::ParseIntError>"),
            "Wrapper<String, ParseIntError>"
        );
        assert_eq!(short_type_name("&dyn core::error::Error"), "&dyn Error");
    }
}
