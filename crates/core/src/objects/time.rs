//! Dates: HTTP dates (`Last-Modified`, `If-Modified-Since`, `Expires`) and
//! RFC 3339 timestamps (JSON bodies).
//!
//! HTTP dates are read in all three formats RFC 9110 §5.6.7 obliges a
//! recipient to accept and written as IMF-fixdate, by hand with the
//! `httpdate` crate's rules (a unit test compares the two): the crate's
//! general code was ~7 KiB of the Worker's wasm (BENCHMARKS.md, "Bundle
//! size"). No clock is read here (`SystemTime::now()` panics on wasm32).

/// The last second an HTTP date can show (9999-12-31T23:59:59Z).
const MAX_HTTP_DATE_SECS: u64 = 253_402_300_799;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// RFC 850's weekdays are written out.
const LONG_WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Seconds since the epoch as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
/// Later times (an `Expires` another R2 client stored, say) are shown as the
/// last representable second (year 9999).
pub fn http_date(secs: u64) -> String {
    let secs = secs.min(MAX_HTTP_DATE_SECS);
    let days = (secs / 86_400) as i64;
    let (year, month, day) = civil_from_days(days);
    let time = secs % 86_400;
    let mut out = String::with_capacity(29);
    out.push_str(WEEKDAYS[weekday(days)]);
    out.push_str(", ");
    push2(&mut out, u64::from(day));
    out.push(' ');
    out.push_str(MONTHS[month as usize - 1]);
    out.push(' ');
    push2(&mut out, year as u64 / 100);
    push2(&mut out, year as u64 % 100);
    for (i, part) in [time / 3600, time / 60 % 60, time % 60]
        .into_iter()
        .enumerate()
    {
        out.push(if i == 0 { ' ' } else { ':' });
        push2(&mut out, part);
    }
    out.push_str(" GMT");
    out
}

/// Two decimal digits.
fn push2(out: &mut String, n: u64) {
    out.push(char::from(b'0' + (n / 10 % 10) as u8));
    out.push(char::from(b'0' + (n % 10) as u8));
}

/// The weekday of a day since the epoch, 0 = Monday (1970-01-01 was a Thursday).
fn weekday(days: i64) -> usize {
    (days + 3).rem_euclid(7) as usize
}

/// Parses an HTTP date (IMF-fixdate, RFC 850 or asctime) to seconds since
/// the epoch; `None` when it is not one (callers then ignore the field, as
/// RFC 9110 asks for conditional headers). Like `httpdate`: surrounding
/// whitespace is ignored, the date must exist, the weekday must be that
/// date's, the year is 1970 to 9999 (RFC 850's two digits: 70–99 are 19xx).
pub fn parse_http_date(text: &str) -> Option<u64> {
    let s = text.trim();
    if !s.is_ascii() {
        return None;
    }
    let s = s.as_bytes();
    let date = imf_fixdate(s)
        .or_else(|| rfc850(s))
        .or_else(|| asctime(s))?;
    date.seconds()
}

/// The fields of an HTTP date as written.
struct HttpDate {
    year: u16,
    /// 1 to 12.
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    /// 0 = Monday.
    weekday: usize,
}

impl HttpDate {
    /// Seconds since the epoch, if the date exists and its weekday is right.
    fn seconds(&self) -> Option<u64> {
        if self.second >= 60
            || self.minute >= 60
            || self.hour >= 24
            || !(1..=31).contains(&self.day)
            || !(1..=12).contains(&self.month)
            || !(1970..=9999).contains(&self.year)
        {
            return None;
        }
        let (year, month, day) = (
            i64::from(self.year),
            u32::from(self.month),
            u32::from(self.day),
        );
        let days = days_from_civil(year, month, day);
        if civil_from_days(days) != (year, month, day) || weekday(days) != self.weekday {
            return None;
        }
        let time =
            u64::from(self.hour) * 3600 + u64::from(self.minute) * 60 + u64::from(self.second);
        Some(days as u64 * 86_400 + time)
    }
}

/// The value of ASCII digits (all of `s`).
fn number(s: &[u8]) -> Option<u16> {
    s.iter().try_fold(0u16, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + u16::from(c - b'0'))
    })
}

fn two(s: &[u8]) -> Option<u8> {
    number(s).map(|n| n as u8)
}

/// The position of `name` in `names`.
fn index(names: &[&str], name: &[u8]) -> Option<usize> {
    names.iter().position(|n| n.as_bytes() == name)
}

fn month(name: &[u8]) -> Option<u8> {
    index(&MONTHS, name).map(|m| m as u8 + 1)
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(s: &[u8]) -> Option<HttpDate> {
    if s.len() != 29
        || &s[3..5] != b", "
        || s[7] != b' '
        || s[11] != b' '
        || s[16] != b' '
        || s[19] != b':'
        || s[22] != b':'
        || &s[25..] != b" GMT"
    {
        return None;
    }
    Some(HttpDate {
        weekday: index(&WEEKDAYS, &s[..3])?,
        day: two(&s[5..7])?,
        month: month(&s[8..11])?,
        year: number(&s[12..16])?,
        hour: two(&s[17..19])?,
        minute: two(&s[20..22])?,
        second: two(&s[23..25])?,
    })
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn rfc850(s: &[u8]) -> Option<HttpDate> {
    let comma = s.iter().position(|&c| c == b',')?;
    let weekday = index(&LONG_WEEKDAYS, &s[..comma])?;
    let s = s[comma..].strip_prefix(b", ")?;
    // (`httpdate` does not look at the separator between year and time.)
    if s.len() != 22
        || s[2] != b'-'
        || s[6] != b'-'
        || s[12] != b':'
        || s[15] != b':'
        || &s[18..] != b" GMT"
    {
        return None;
    }
    let year = number(&s[7..9])?;
    Some(HttpDate {
        weekday,
        day: two(&s[..2])?,
        month: month(&s[3..6])?,
        year: if year < 70 { year + 2000 } else { year + 1900 },
        hour: two(&s[10..12])?,
        minute: two(&s[13..15])?,
        second: two(&s[16..18])?,
    })
}

/// `Sun Nov  6 08:49:37 1994`
fn asctime(s: &[u8]) -> Option<HttpDate> {
    if s.len() != 24
        || s[3] != b' '
        || s[7] != b' '
        || s[10] != b' '
        || s[13] != b':'
        || s[16] != b':'
        || s[19] != b' '
    {
        return None;
    }
    let day = if s[8] == b' ' { &s[9..10] } else { &s[8..10] };
    Some(HttpDate {
        weekday: index(&WEEKDAYS, &s[..3])?,
        month: month(&s[4..7])?,
        day: two(day)?,
        hour: two(&s[11..13])?,
        minute: two(&s[14..16])?,
        second: two(&s[17..19])?,
        year: number(&s[20..24])?,
    })
}

/// (year, month, day) in the proleptic Gregorian calendar to days since
/// 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch as RFC 3339 in UTC with milliseconds
/// (`2024-02-29T12:34:56.789Z`), the form JavaScript's `toISOString` writes.
pub fn rfc3339_millis(ms: u64) -> String {
    let secs = ms / 1000;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_http_dates() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            http_date(MAX_HTTP_DATE_SECS),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
        assert_eq!(http_date(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        for text in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            " Sun, 06 Nov 1994 08:49:37 GMT ",
        ] {
            assert_eq!(parse_http_date(text), Some(784_111_777), "{text}");
        }
        for bad in [
            "",
            "0",
            "yesterday",
            "2024-01-01T00:00:00Z",
            "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    /// Formatting and every parsing decision agree with the `httpdate`
    /// crate, on dates across the whole range and on damaged dates.
    #[test]
    fn agrees_with_the_httpdate_crate() {
        use std::time::{Duration, UNIX_EPOCH};
        let theirs = |text: &str| {
            httpdate::parse_http_date(text)
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
        };
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let symbols = b"0123456789 ,:-GMTSunMonFebdayX\t";
        for i in 0..4000u64 {
            let secs = match i {
                0 => 0,
                1 => MAX_HTTP_DATE_SECS,
                2 => 951_782_400, // 2000-02-29
                _ => next() % (MAX_HTTP_DATE_SECS + 1),
            };
            let imf = http_date(secs);
            assert_eq!(
                imf,
                httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
            );
            let days = secs / 86_400;
            let (year, month, day) = civil_from_days(days as i64);
            let t = secs % 86_400;
            let clock = format!("{:02}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60);
            let weekday = weekday(days as i64);
            let month = MONTHS[month as usize - 1];
            let rfc850 = format!(
                "{}, {day:02}-{month}-{:02} {clock} GMT",
                LONG_WEEKDAYS[weekday],
                year % 100
            );
            let asctime = format!("{} {month} {day:>2} {clock} {year}", WEEKDAYS[weekday]);
            for text in [imf, rfc850, asctime] {
                assert_eq!(parse_http_date(&text), theirs(&text), "{text}");
                let mut damaged = text.into_bytes();
                let at = (next() as usize) % damaged.len();
                let symbol = symbols[(next() as usize) % symbols.len()];
                match next() % 3 {
                    0 => damaged[at] = symbol,
                    1 => {
                        damaged.remove(at);
                    }
                    _ => damaged.insert(at, symbol),
                }
                let damaged = String::from_utf8(damaged).unwrap();
                assert_eq!(parse_http_date(&damaged), theirs(&damaged), "{damaged:?}");
            }
        }
        for text in [
            "Mon, 29 Feb 2021 00:00:00 GMT",
            "Sun, 31 Jun 2024 00:00:00 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Wed, 31 Dec 1969 23:59:59 GMT",
            "Fri, 31 Dec 9999 23:59:60 GMT",
            "Thursday, 01-Jan-70 00:00:00 GMT",
            "Sunday, 06-Nov-94X08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT ",
            "Sun Nov 06 08:49:37 1994",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{e9}",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 +8:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(text), theirs(text), "{text}");
        }
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(784_111_777_123), "1994-11-06T08:49:37.123Z");
        assert_eq!(
            rfc3339_millis(1_709_210_096_789),
            "2024-02-29T12:34:56.789Z"
        );
        assert_eq!(
            rfc3339_millis(4_102_444_799_999),
            "2099-12-31T23:59:59.999Z"
        );
        assert_eq!(rfc3339_millis(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
