//! ISO 8601 timestamps without a date crate: the generator needs fixed,
//! seed-derived dates and the write routes need "now".

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `2023-04-05T06:07:08.009Z`, the shape OZmap (a Node/MongoDB server) answers.
pub(crate) fn iso8601(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Milliseconds since the Unix epoch of an ISO 8601 instant: `2023-04-05`,
/// `2023-04-05T06:07`, `2023-04-05T06:07:08`, fractions of a second, and `Z`,
/// `+03:00`, `-0300` or no zone (taken as UTC). `None` when `s` is not one.
pub(crate) fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.trim().as_bytes();
    let digits = |from: usize, n: usize| -> Option<i64> {
        let part = b.get(from..from + n)?;
        part.iter().all(u8::is_ascii_digit).then(|| {
            part.iter()
                .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
        })
    };
    let (y, m, d) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&m) {
        return None;
    }
    if !(1..=days_in_month(y, m as u32) as i64).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, m as u32, d as u32) * 86_400_000;
    let mut at = 10;
    if matches!(b.get(at), Some(b'T' | b't' | b' ')) {
        let (hh, mm) = (digits(at + 1, 2)?, digits(at + 4, 2)?);
        if b.get(at + 3) != Some(&b':') || hh > 23 || mm > 59 {
            return None;
        }
        ms += (hh * 3600 + mm * 60) * 1000;
        at += 6;
        if b.get(at) == Some(&b':') {
            let ss = digits(at + 1, 2)?;
            if ss > 60 {
                return None;
            }
            ms += ss * 1000;
            at += 3;
            if matches!(b.get(at), Some(b'.' | b',')) {
                at += 1;
                let begin = at;
                let mut scale = 100;
                while let Some(c) = b.get(at).filter(|c| c.is_ascii_digit()) {
                    ms += i64::from(c - b'0') * scale;
                    scale /= 10;
                    at += 1;
                }
                if at == begin {
                    return None;
                }
            }
        }
    }
    match b.get(at) {
        None => {}
        Some(b'Z' | b'z') if at + 1 == b.len() => {}
        Some(sign @ (b'+' | b'-')) => {
            let hh = digits(at + 1, 2)?;
            let colon = usize::from(b.get(at + 3) == Some(&b':'));
            let mm = digits(at + 3 + colon, 2)?;
            if at + 5 + colon != b.len() {
                return None;
            }
            let offset = (hh * 60 + mm) * 60_000;
            ms += if *sign == b'+' { -offset } else { offset };
        }
        Some(_) => return None,
    }
    Some(ms)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Howard Hinnant's civil-to-days algorithm, the inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::{iso8601, parse_iso8601};

    #[test]
    fn formats_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_709_251_199_123), "2024-02-29T23:59:59.123Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn parses_what_it_formats_and_other_shapes() {
        for ms in [0, 1_709_251_199_123, 951_782_400_000, 1_614_556_800_000] {
            assert_eq!(parse_iso8601(&iso8601(ms)), Some(ms));
        }
        let base = parse_iso8601("2024-02-29T23:59:59.123Z").unwrap();
        assert_eq!(parse_iso8601("2024-02-29T23:59:59.12300Z"), Some(base));
        assert_eq!(parse_iso8601("2024-02-29T23:59:59Z"), Some(base - 123));
        assert_eq!(parse_iso8601("2024-03-01T02:59:59.123+03:00"), Some(base));
        assert_eq!(parse_iso8601("2024-02-29T20:59:59.123-0300"), Some(base));
        assert_eq!(parse_iso8601("2024-02-29"), Some(base - 86_399_123));
        for bad in [
            "",
            "2024",
            "2023-02-29",
            "2024-13-01",
            "yesterday",
            "2024-02-29T25:00Z",
            "SVC-000123",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }
}
