//! RFC 3339 text for event times, without chrono on the hot path: writing the UTC form the
//! outputs carry (`2026-03-01T12:00:00Z`, or `...:00.250Z` with milliseconds), and reading the
//! same form, which is what nearly every producer sends. Other forms (offsets, lowercase letters,
//! leap seconds, more than nine fraction digits) are left to chrono by the caller.

/// The days from 1970-01-01 to a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let shifted_month = i64::from((month + 9) % 12);
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day counted from 1970-01-01: year, month, day (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Writes `millis` since the epoch (0 or more, years below 10000) as RFC 3339 in UTC, with
/// milliseconds only when there are some. Returns the buffer and how much of it is used.
pub fn format_utc(millis: i64) -> ([u8; 24], usize) {
    let mut text = *b"0000-00-00T00:00:00.000Z";
    let (year, month, day) = civil_from_days(millis.div_euclid(86_400_000));
    let of_day = millis.rem_euclid(86_400_000);
    let put = |text: &mut [u8; 24], at: usize, width: usize, mut value: i64| {
        for place in (at..at + width).rev() {
            text[place] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(&mut text, 0, 4, year);
    put(&mut text, 5, 2, i64::from(month));
    put(&mut text, 8, 2, i64::from(day));
    put(&mut text, 11, 2, of_day / 3_600_000);
    put(&mut text, 14, 2, of_day / 60_000 % 60);
    put(&mut text, 17, 2, of_day / 1000 % 60);
    if of_day % 1000 == 0 {
        text[19] = b'Z';
        return (text, 20);
    }
    put(&mut text, 20, 3, of_day % 1000);
    (text, 24)
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (fraction of 1 to 9 digits, cut to milliseconds, as
/// chrono does) as milliseconds since the epoch; `None` for any other text, valid or not.
pub fn parse_utc(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() < 20 || bytes.last() != Some(&b'Z') {
        return None;
    }
    let number = |at: usize, width: usize| -> Option<u32> {
        bytes[at..at + width].iter().try_fold(0u32, |total, byte| {
            byte.is_ascii_digit()
                .then(|| total * 10 + u32::from(byte - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|(at, byte)| bytes[*at] != *byte) {
        return None;
    }
    let year = i64::from(number(0, 4)?);
    let (month, day) = (number(5, 2)?, number(8, 2)?);
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    let fraction = &bytes[19..bytes.len() - 1];
    let millis_of_second = match fraction {
        [] => 0,
        [b'.', digits @ ..]
            if (1..=9).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) =>
        {
            // The first three digits, padded with zeros: chrono cuts to milliseconds.
            digits
                .iter()
                .chain(std::iter::repeat(&b'0'))
                .take(3)
                .fold(0, |millis, digit| millis * 10 + i64::from(digit - b'0'))
        }
        _ => return None,
    };
    let seconds = days_from_civil(year, month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second);
    Some(seconds * 1000 + millis_of_second)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, SecondsFormat, Utc};
    use proptest::prelude::*;

    use super::*;

    fn formatted(millis: i64) -> String {
        let (text, length) = format_utc(millis);
        String::from_utf8(text[..length].to_vec()).unwrap()
    }

    fn chrono_formatted(millis: i64) -> String {
        let precision = if millis % 1000 == 0 {
            SecondsFormat::Secs
        } else {
            SecondsFormat::Millis
        };
        DateTime::<Utc>::from_timestamp_millis(millis)
            .unwrap()
            .to_rfc3339_opts(precision, true)
    }

    fn chrono_parsed(text: &str) -> Option<i64> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|time| time.timestamp_millis())
    }

    #[test]
    fn writes_and_reads_known_times() {
        assert_eq!(formatted(0), "1970-01-01T00:00:00Z");
        assert_eq!(formatted(1_772_366_400_250), "2026-03-01T12:00:00.250Z");
        assert_eq!(formatted(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(parse_utc("2026-03-01T12:00:00Z"), Some(1_772_366_400_000));
        assert_eq!(
            parse_utc("2026-03-01T12:00:00.2509Z"),
            Some(1_772_366_400_250)
        );
        assert_eq!(parse_utc("2000-02-29T00:00:00Z"), Some(951_782_400_000));
    }

    #[test]
    fn leaves_every_other_form_to_chrono() {
        for text in [
            "2026-03-01T13:00:00+01:00",
            "2026-03-01t12:00:00z",
            "2026-03-01T12:00:60Z",
            "2026-02-29T12:00:00Z",
            "2100-02-29T12:00:00Z",
            "2026-04-31T12:00:00Z",
            "2026-03-01T12:00:00.2a5Z",
            "2026-03-01T12:00:00.25aZ",
            "2026-03-01T12:00:00.Z",
            "2026-03-01T12:00:00.1234567890Z",
            "2026-03-01 12:00:00Z",
            "2026-3-01T12:00:00Z",
            "yesterday",
        ] {
            assert_eq!(parse_utc(text), None, "{text}");
        }
    }

    proptest! {
        #[test]
        fn writes_what_chrono_writes(millis in 0i64..=u32::MAX as i64 * 1000) {
            prop_assert_eq!(formatted(millis), chrono_formatted(millis));
        }

        #[test]
        fn reads_its_own_text_back(millis in 0i64..=u32::MAX as i64 * 1000) {
            prop_assert_eq!(parse_utc(&formatted(millis)), Some(millis));
        }

        #[test]
        fn where_it_reads_a_text_chrono_reads_the_same_time(
            year in 1900u32..2200,
            month in 0u32..14,
            day in 0u32..33,
            hour in 0u32..26,
            minute in 0u32..62,
            second in 0u32..62,
            fraction in "(\\.[0-9]{0,10})?",
        ) {
            let text = format!(
                "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z"
            );
            if let Some(millis) = parse_utc(&text) {
                prop_assert_eq!(Some(millis), chrono_parsed(&text), "{}", text);
            }
        }
    }
}
