//! Timestamps as records carry them (RFC 3339) and as users type them (`15m`, `2h` ago).

use std::time::{SystemTime, UNIX_EPOCH};

/// Parses an RFC 3339 timestamp (`2026-11-22T01:02:03.456789+00:00`, `Z` or no offset
/// meaning UTC) into nanoseconds since the Unix epoch.
pub(crate) fn parse_timestamp_nanos(s: &str) -> Option<i128> {
    let b = s.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + i64::from(d - b'0'))
        })
    };
    let sep = |i: usize, allowed: &[u8]| b.get(i).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let mut scale: i128 = 100_000_000;
        while let Some(d) = b.get(i).filter(|d| d.is_ascii_digit()) {
            frac += i128::from(d - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_secs = match b.get(i) {
        None => 0,
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let secs = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + frac)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a time as a user types it: RFC 3339 (`2026-12-02T06:30:00Z`), a date
/// (`2026-12-02`, its midnight UTC), `now`, or an age like `90s`, `15m`, `2h`, `1d`, `1w`
/// meaning that long before `now_nanos`.
///
/// # Errors
///
/// A message saying what is accepted.
pub(crate) fn parse_user_time(s: &str, now_nanos: i128) -> Result<i128, String> {
    let s = s.trim();
    if s == "now" {
        return Ok(now_nanos);
    }
    if let Some(nanos) = parse_timestamp_nanos(s) {
        return Ok(nanos);
    }
    if s.len() == 10
        && let Some(nanos) = parse_timestamp_nanos(&format!("{s}T00:00:00Z"))
    {
        return Ok(nanos);
    }
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.');
    if let Some(i) = split.filter(|&i| i > 0)
        && let Ok(n) = s[..i].parse::<f64>()
    {
        let unit: f64 = match &s[i..] {
            "s" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            _ => f64::NAN,
        };
        if unit.is_finite() && n.is_finite() {
            return Ok(now_nanos - (n * unit * 1e9) as i128);
        }
    }
    Err(format!(
        "`{s}` is not a time: use RFC 3339 (2026-12-02T06:30:00Z), a date (2026-12-02, midnight UTC), `now`, or an age like 15m, 2h, 1d"
    ))
}

/// Nanoseconds since the Unix epoch, now.
pub(crate) fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_parses_offsets_and_fractions() {
        assert_eq!(parse_timestamp_nanos("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_timestamp_nanos("1970-01-01T00:00:01.5+00:00"),
            Some(1_500_000_000)
        );
        assert_eq!(
            parse_timestamp_nanos("1970-01-01T01:00:00+01:00"),
            Some(0),
            "offset is subtracted"
        );
        assert_eq!(
            parse_timestamp_nanos("2026-11-22T01:02:03.456789+00:00"),
            Some(1_795_309_323_456_789_000)
        );
        assert_eq!(parse_timestamp_nanos("ts"), None);
        assert_eq!(parse_timestamp_nanos("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp_nanos("2026-01-01T00:00:00Zjunk"), None);
    }

    #[test]
    fn user_times_are_absolute_or_ages() {
        let now = 10_000_000_000_000;
        assert_eq!(parse_user_time("now", now), Ok(now));
        assert_eq!(parse_user_time("15m", now), Ok(now - 900_000_000_000));
        assert_eq!(parse_user_time("2h", now), Ok(now - 7_200_000_000_000));
        assert_eq!(parse_user_time("1.5s", now), Ok(now - 1_500_000_000));
        assert_eq!(
            parse_user_time("1970-01-01T00:00:01Z", now),
            Ok(1_000_000_000)
        );
        assert_eq!(parse_user_time("1970-01-02", now), Ok(86_400_000_000_000));
        assert!(parse_user_time("1970-01-32", now).is_err());
        assert!(parse_user_time("15", now).is_err());
        assert!(parse_user_time("m", now).is_err());
        assert!(
            parse_user_time("yesterday", now)
                .unwrap_err()
                .contains("15m")
        );
    }
}
