//! The fast path of [`Line::parse`]: one pass over the bytes of a line that fills a
//! [`Line`] without serde's machinery.
//!
//! It handles the common line (no backslash in any string, well-formed JSON) and hands
//! everything else to serde by answering [`None`]: an escape, a duplicate field, anything
//! malformed, numbers serde reads differently (`-0`, integers past 18 digits, floats with an
//! exponent or more than 15 digits), nesting past [`MAX_DEPTH`]. So it accepts exactly the lines serde accepts and
//! decodes them to the same [`Line`]; the tests of `format` check both paths agree.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::{Fields, Line, Loose};

/// The fields [`Line`] decodes, listed once, at their bit in [`Fields`]: `KEYS` (each
/// name quoted) and `expected_key` (the name quoted and its colon, compared as a
/// fixed-size array: a few word compares instead of a `memcmp` call).
macro_rules! keys {
    ($($bit:literal => $name:literal,)*) => {
        const KEYS: [&str; 14] = [$(concat!("\"", $name, "\"")),*];

        /// Whether `b[i..]` starts with field `bit`'s key, quoted, and a colon.
        #[inline]
        fn expected_key(b: &[u8], i: usize, bit: usize) -> bool {
            match bit {
                $($bit => {
                    const KEY: &[u8] = concat!("\"", $name, "\":").as_bytes();
                    at::<{ KEY.len() }>(b, i, KEY)
                })*
                _ => false,
            }
        }
    };
}

keys! {
    0 => "timestamp",
    1 => "function",
    2 => "label",
    3 => "duration_ms",
    4 => "status",
    5 => "error_type",
    6 => "error",
    7 => "trace_id",
    8 => "span_id",
    9 => "parent_span_id",
    10 => "slow",
    11 => "cpu_time_ms",
    12 => "tags",
    13 => "dropped",
}

/// Whether `b[i..]` starts with `key` (`N` bytes long), compared as an `N`-byte array.
#[inline(always)]
fn at<const N: usize>(b: &[u8], i: usize, key: &[u8]) -> bool {
    let (Some(s), Some(key)) = (b.get(i..i + N), key.first_chunk::<N>()) else {
        return false;
    };
    <&[u8; N]>::try_from(s).is_ok_and(|s| s == key)
}

/// The bits of the fields the writer puts in a span, in its order.
const WRITER_ORDER: [usize; 12] = [0, 1, 3, 11, 4, 5, 6, 7, 8, 9, 12, 10];

/// Deeper nesting is left to serde, which stops at 128.
const MAX_DEPTH: usize = 64;

/// What is known of a line's bytes before it is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Known {
    /// Nothing: [`scan`] looks for backslashes and control characters itself.
    Nothing,
    /// The line holds no backslash and no byte below 0x20 (a whole block was checked).
    Plain,
}

/// Whether `b` holds a backslash (bit 0) or a byte below 0x20 (bit 1), a `\n` counting
/// only when `NEWLINE` is true, in one pass the compiler vectorises.
#[inline]
pub(super) fn specials<const NEWLINE: bool>(b: &[u8]) -> u8 {
    let mut found = 0u8;
    for chunk in b.chunks(4096) {
        found |= chunk.iter().fold(0u8, |any, &c| {
            let control = c < 0x20 && (NEWLINE || c != b'\n');
            any | u8::from(c == b'\\') | (u8::from(control) << 1)
        });
        if found == 3 {
            break;
        }
    }
    found
}

/// Decodes `wanted` of `s` (a whole line) when it is plain enough; `None` hands it to
/// serde. The fields not wanted are only checked, as an unknown field is.
pub(super) fn scan(s: &str, wanted: Fields, known: Known) -> Option<Line<'_>> {
    let mut line = Line::default();
    scan_into(s, wanted, known, &mut line).map(|()| line)
}

/// [`scan`], into a [`Line`] the caller made (all fields absent), so a decoded line is
/// not moved on its way back.
#[inline]
pub(super) fn scan_into<'a>(
    s: &'a str,
    wanted: Fields,
    known: Known,
    line: &mut Line<'a>,
) -> Option<()> {
    let b = s.as_bytes();
    let quotes_end_strings = match known {
        Known::Plain => true,
        Known::Nothing => {
            let found = specials::<true>(b);
            // A backslash anywhere is an escape (or malformed): serde's either way.
            if found & 1 != 0 {
                return None;
            }
            found == 0
        }
    };
    let mut p = Scanner {
        s,
        b,
        i: 0,
        quotes_end_strings,
    };
    let mut seen: u32 = 0;
    // The key expected next, in the writer's order.
    let mut next = 0;
    p.ws();
    p.eat(b'{')?;
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            // The field's bit in `Fields`, for a known field.
            let bit = match WRITER_ORDER.get(next) {
                // The expected key and its colon, as the writer puts them, need no search
                // for the key's end.
                Some(&bit) if expected_key(p.b, p.i, bit) => {
                    p.i += KEYS[bit].len() + 1;
                    next += 1;
                    Some(bit)
                }
                _ => {
                    let key = p.string()?;
                    let bit = KEYS.iter().position(|k| &k[1..k.len() - 1] == key);
                    if let Some(bit) = bit {
                        next = WRITER_ORDER
                            .iter()
                            .position(|&w| w == bit)
                            .map_or(next, |at| at + 1);
                    }
                    p.ws();
                    p.eat(b':')?;
                    bit
                }
            };
            p.ws();
            let slot = match bit {
                Some(0) => Some((0, &mut line.timestamp)),
                Some(1) => Some((1, &mut line.function)),
                Some(2) => Some((2, &mut line.label)),
                Some(3) => Some((3, &mut line.duration_ms)),
                Some(4) => Some((4, &mut line.status)),
                Some(5) => Some((5, &mut line.error_type)),
                Some(6) => Some((6, &mut line.error)),
                Some(7) => Some((7, &mut line.trace_id)),
                Some(8) => Some((8, &mut line.span_id)),
                Some(9) => Some((9, &mut line.parent_span_id)),
                Some(10) => Some((10, &mut line.slow)),
                Some(11) => Some((11, &mut line.cpu_time_ms)),
                _ => None,
            };
            if let Some((bit, field)) = slot {
                // A repeated field is serde's to reject.
                if seen & (1 << bit) != 0 {
                    return None;
                }
                seen |= 1 << bit;
                if wanted.0 & (1 << bit) != 0 {
                    *field = p.loose()?;
                } else {
                    p.skip(0)?;
                }
            } else if let Some(bit @ (12 | 13)) = bit {
                if seen & (1 << bit) != 0 {
                    return None;
                }
                seen |= 1 << bit;
                if wanted.0 & (1 << bit) == 0 {
                    p.skip(0)?;
                    p.ws();
                    match p.next()? {
                        b',' => continue,
                        b'}' => break,
                        _ => return None,
                    }
                }
                let start = p.i;
                p.skip(0)?;
                let raw = &s[start..p.i];
                let raw = if raw == "null" {
                    None
                } else {
                    Some(serde_json::from_str::<&RawValue>(raw).ok()?)
                };
                if bit == 12 {
                    line.tags = raw;
                } else {
                    line.dropped = raw;
                }
            } else {
                p.skip(0)?;
            }
            p.ws();
            match p.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    p.ws();
    (p.i == p.b.len()).then_some(())
}

/// The offset of the first `"`, `\\` or control character in `b`, eight bytes at a time.
fn string_end(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let special = |c: u8| c == b'"' || c == b'\\' || c < 0x20;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        // A byte is flagged when it is zero (after the xor) or below 0x20; the lowest
        // flagged byte is exact, which is all we look at.
        let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        let found = zero(quote) | zero(backslash) | below_space;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(|&c| special(c)).map(|p| i + p)
}

/// The offset of the first `"` in `b`, eight bytes at a time.
fn quote(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])) ^ (ONES * u64::from(b'"'));
        // The lowest flagged byte is exact, which is all we look at.
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(|&c| c == b'"').map(|p| i + p)
}

/// Powers of ten that an `f64` holds exactly.
const POWERS_OF_TEN: [f64; 16] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
];

/// A number as [`Scanner::number`] read it.
struct Scanned<'a> {
    text: &'a str,
    negative: bool,
    /// The digits as an integer, ignoring the point (wrapped past 19 digits).
    mantissa: u64,
    /// Digits in all; `u32::MAX` with an exponent.
    digits: u32,
    /// Digits after the point.
    fraction: u32,
    integer: bool,
}

impl Scanned<'_> {
    /// The value, when reading it in one pass is exact: an integer of at most 18 digits
    /// (not `-0`, which serde reads as a float), or a decimal fraction without exponent of
    /// at most 15 digits. Such a fraction is a 53-bit integer over an exact power of ten,
    /// so one division rounds it correctly, as `str::parse` and serde do (Clinger's fast
    /// path). `None` for anything else.
    #[inline]
    fn exact(&self) -> Option<serde_json::Number> {
        if self.integer {
            if self.digits > 18 {
                return None;
            }
            if !self.negative {
                return Some(serde_json::Number::from(self.mantissa));
            }
            if self.mantissa == 0 {
                return None;
            }
            // At most 18 digits: below i64::MAX.
            return Some(serde_json::Number::from(
                -i64::try_from(self.mantissa).ok()?,
            ));
        }
        if self.digits > 15 {
            return None;
        }
        let scale = POWERS_OF_TEN[self.fraction as usize];
        #[expect(
            clippy::cast_precision_loss,
            reason = "at most 15 digits: below 2^53, exact"
        )]
        let value = self.mantissa as f64 / scale;
        serde_json::Number::from_f64(if self.negative { -value } else { value })
    }
}

/// A number [`Scanned::exact`] did not take, as serde decodes it, or `None` where serde
/// might decode it otherwise.
fn slow_number(text: &str, integer: bool) -> Option<serde_json::Number> {
    if integer {
        // serde reads `-0` and integers past u64 as floats: its call.
        if text.len() > 18 || text == "-0" {
            return None;
        }
        if text.starts_with('-') {
            Some(serde_json::Number::from(text.parse::<i64>().ok()?))
        } else {
            Some(serde_json::Number::from(text.parse::<u64>().ok()?))
        }
    } else {
        // At most 15 digits and no exponent: the value is a 53-bit integer over a power
        // of ten up to 10^22, which serde (without `float_roundtrip`) and `parse` both
        // round exactly. Past that serde may round differently (by an ulp): its call.
        let digits = text.bytes().filter(u8::is_ascii_digit).count();
        if digits > 15 || text.bytes().any(|c| c | 0x20 == b'e') {
            return None;
        }
        serde_json::Number::from_f64(text.parse::<f64>().ok()?)
    }
}

struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    /// The line has no control character (nor backslash), so a string ends at the next
    /// quote.
    quotes_end_strings: bool,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    /// JSON whitespace: space, tab, line feed, carriage return.
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// A string without escapes or control characters, returned without its quotes.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        let end = if self.quotes_end_strings {
            start + quote(&self.b[start..])?
        } else {
            let end = start + string_end(&self.b[start..])?;
            if self.b[end] != b'"' {
                return None;
            }
            end
        };
        self.i = end + 1;
        // Quotes are ASCII, so both ends are character boundaries.
        Some(&self.s[start..end])
    }

    /// `word` at the cursor, compared as an array (a word compare, not a `memcmp` call).
    #[inline]
    fn literal<const N: usize>(&mut self, word: &[u8; N]) -> Option<()> {
        let end = self.i + N;
        let at: &[u8; N] = self.b.get(self.i..end)?.try_into().ok()?;
        (at == word).then(|| self.i = end)
    }

    /// A number as JSON writes it, read in one pass.
    fn number(&mut self) -> Option<Scanned<'a>> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let mut n = Scanned {
            text: "",
            negative,
            mantissa: 0,
            digits: 0,
            fraction: 0,
            integer: true,
        };
        match self.peek()? {
            b'0'..=b'9' => {
                let leading_zero = self.b[self.i] == b'0';
                self.digits(&mut n);
                // JSON allows no digit after a leading zero.
                if leading_zero && n.digits > 1 {
                    self.i = start + usize::from(negative) + 1;
                    n.digits = 1;
                    n.mantissa = 0;
                }
            }
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            n.integer = false;
            let before = n.digits;
            self.digits(&mut n);
            n.fraction = n.digits - before;
            if n.fraction == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            n.integer = false;
            // The value is serde's to work out; only the syntax is checked here.
            n.digits = u32::MAX;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.digit()?;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.i += 1;
            }
        }
        n.text = &self.s[start..self.i];
        Some(n)
    }

    fn digit(&mut self) -> Option<()> {
        self.next()?.is_ascii_digit().then_some(())
    }

    /// Reads digits into `n`'s mantissa (meaningful while it has at most 19 digits).
    fn digits(&mut self, n: &mut Scanned<'_>) {
        while let Some(&c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            n.mantissa = n
                .mantissa
                .wrapping_mul(10)
                .wrapping_add(u64::from(c - b'0'));
            n.digits = n.digits.saturating_add(1);
            self.i += 1;
        }
    }

    /// A known field's value, as serde decodes it into [`Loose`].
    fn loose(&mut self) -> Option<Loose<'a>> {
        match self.peek()? {
            b'"' => Some(Loose::Str(Cow::Borrowed(self.string()?))),
            b't' => self.literal(b"true").map(|()| Loose::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Loose::Bool(false)),
            b'n' => self.literal(b"null").map(|()| Loose::Null),
            b'[' | b'{' => self.skip(0).map(|()| Loose::Other),
            _ => {
                let n = self.number()?;
                let number = match n.exact() {
                    Some(number) => number,
                    None => slow_number(n.text, n.integer)?,
                };
                Some(Loose::Num(number))
            }
        }
    }

    /// Skips one well-formed value.
    fn skip(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            open @ (b'[' | b'{') => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.i += 1;
                let close = if open == b'[' { b']' } else { b'}' };
                self.ws();
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    if open == b'{' {
                        self.string()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                    }
                    self.skip(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => continue,
                        c if c == close => return Some(()),
                        _ => return None,
                    }
                }
            }
            _ => {
                let Scanned { text, integer, .. } = self.number()?;
                // Numbers serde might read differently are its call.
                let plain = if integer {
                    text.len() <= 18
                } else if text.len() < 300 && !text.bytes().any(|c| c | 0x20 == b'e') {
                    // Fewer than 300 digits and no exponent: well below f64::MAX.
                    true
                } else {
                    text.parse::<f64>().is_ok_and(f64::is_finite)
                };
                plain.then_some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::string_end;

    #[test]
    fn string_end_finds_the_first_special_byte_at_every_offset() {
        for len in 0..40 {
            for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                let mut b = vec![b'a'; len];
                b.extend_from_slice(&[special, b'"', b'x']);
                assert_eq!(string_end(&b), Some(len), "{len} {special}");
                let mut high = vec![0xc3; len];
                high.push(special);
                assert_eq!(
                    string_end(&high),
                    Some(len),
                    "{len} {special} after non-ASCII"
                );
            }
            assert_eq!(string_end(&vec![b' '; len]), None);
            assert_eq!(string_end(&vec![0x7f; len]), None);
        }
    }
}
