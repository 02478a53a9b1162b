//! Event time: milliseconds since the Unix epoch, parsed from RFC 3339 or epoch milliseconds.

use std::fmt;

use chrono::DateTime;

use super::rfc3339;

/// The latest accepted event time: 2106-02-07T06:28:15Z, the last second a `u32` of epoch seconds holds.
pub const MAX_EVENT_MILLIS: i64 = u32::MAX as i64 * 1000;

/// A point in event time, in milliseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime(i64);

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text is not an RFC 3339 date-time.
    #[error("not an RFC 3339 date-time such as 2026-03-01T12:00:00Z")]
    NotRfc3339,
    /// The time is before 1970 or after 2106-02-07.
    #[error("outside the supported range 1970-01-01 to 2106-02-07")]
    OutOfRange,
}

impl EventTime {
    /// The Unix epoch.
    pub const EPOCH: EventTime = EventTime(0);

    /// A time from epoch milliseconds, refusing times outside the supported range.
    pub fn from_millis(millis: i64) -> Result<Self, TimeError> {
        if (0..=MAX_EVENT_MILLIS).contains(&millis) {
            Ok(EventTime(millis))
        } else {
            Err(TimeError::OutOfRange)
        }
    }

    /// A time from whole epoch seconds (always in range).
    pub fn from_seconds(seconds: u32) -> Self {
        EventTime(i64::from(seconds) * 1000)
    }

    /// Parses an RFC 3339 date-time such as `2026-03-01T12:00:00Z` or `2026-03-01T13:00:00.250+01:00`.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimeError> {
        if let Some(millis) = rfc3339::parse_utc(text) {
            return Self::from_millis(millis);
        }
        let parsed = DateTime::parse_from_rfc3339(text).map_err(|_| TimeError::NotRfc3339)?;
        Self::from_millis(parsed.timestamp_millis())
    }

    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch, rounded down; fits in a `u32` for every valid time.
    pub fn seconds(self) -> u32 {
        u32::try_from(self.0.div_euclid(1000)).unwrap_or(u32::MAX)
    }

    /// This time moved by a number of milliseconds, saturating at the range ends.
    pub fn plus_millis(self, millis: i64) -> Self {
        EventTime(self.0.saturating_add(millis).clamp(0, MAX_EVENT_MILLIS))
    }

    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later).
    pub fn millis_since(self, earlier: EventTime) -> i64 {
        self.0 - earlier.0
    }

    /// Days from `earlier` to `self` as a decimal number.
    pub fn days_since(self, earlier: EventTime) -> f64 {
        self.millis_since(earlier) as f64 / MILLIS_PER_DAY as f64
    }
}

/// Milliseconds in one day.
pub const MILLIS_PER_DAY: i64 = 86_400_000;

impl fmt::Display for EventTime {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (text, length) = rfc3339::format_utc(self.0);
        // The text is ASCII digits and separators.
        formatter.write_str(std::str::from_utf8(&text[..length]).map_err(|_| fmt::Error)?)
    }
}

impl serde::Serialize for EventTime {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (text, length) = rfc3339::format_utc(self.0);
        serializer.serialize_str(std::str::from_utf8(&text[..length]).unwrap_or_default())
    }
}

impl std::str::FromStr for EventTime {
    type Err = TimeError;

    /// Accepts RFC 3339 or integer epoch milliseconds, as input events do.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.parse::<i64>() {
            Ok(millis) => Self::from_millis(millis),
            Err(_) => Self::parse_rfc3339(text),
        }
    }
}

/// A time kept in a 32-bit word of customer state: whole seconds since the epoch plus one, so
/// that the zero word means "never". Ordered as the times are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeCode(u32);

impl TimeCode {
    /// No time: the code of something that never happened.
    pub const NEVER: TimeCode = TimeCode(0);

    /// The code of `time`, to the second.
    pub fn of(time: EventTime) -> TimeCode {
        TimeCode(time.seconds().saturating_add(1))
    }

    /// The time coded, if any.
    pub fn time(self) -> Option<EventTime> {
        self.0.checked_sub(1).map(EventTime::from_seconds)
    }

    /// Whether this is [`TimeCode::NEVER`].
    pub fn is_never(self) -> bool {
        self == TimeCode::NEVER
    }

    /// The word stored in state.
    pub fn word(self) -> u32 {
        self.0
    }

    /// The code a state word holds.
    pub fn from_word(word: u32) -> TimeCode {
        TimeCode(word)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_with_offsets_and_fractions() {
        let utc = EventTime::parse_rfc3339("2026-03-01T12:00:00Z").unwrap();
        let offset = EventTime::parse_rfc3339("2026-03-01T13:00:00+01:00").unwrap();
        assert_eq!(utc, offset);
        assert_eq!(utc.millis(), 1_772_366_400_000);
        let fraction = EventTime::parse_rfc3339("2026-03-01T12:00:00.250Z").unwrap();
        assert_eq!(fraction.millis_since(utc), 250);
    }

    #[test]
    fn formats_seconds_or_millis() {
        assert_eq!(
            EventTime::from_millis(1_772_366_400_000)
                .unwrap()
                .to_string(),
            "2026-03-01T12:00:00Z"
        );
        assert_eq!(
            EventTime::from_millis(1_772_366_400_250)
                .unwrap()
                .to_string(),
            "2026-03-01T12:00:00.250Z"
        );
    }

    #[test]
    fn refuses_out_of_range_and_garbage() {
        assert_eq!(EventTime::from_millis(-1), Err(TimeError::OutOfRange));
        assert_eq!(
            EventTime::from_millis(MAX_EVENT_MILLIS + 1),
            Err(TimeError::OutOfRange)
        );
        assert_eq!(
            EventTime::parse_rfc3339("yesterday"),
            Err(TimeError::NotRfc3339)
        );
        assert_eq!(
            EventTime::parse_rfc3339("1969-12-31T23:59:59Z"),
            Err(TimeError::OutOfRange)
        );
    }

    #[test]
    fn from_str_takes_both_forms() {
        let millis: EventTime = "1772366400000".parse().unwrap();
        let text: EventTime = "2026-03-01T12:00:00Z".parse().unwrap();
        assert_eq!(millis, text);
    }

    #[test]
    fn time_codes_round_trip_with_zero_as_never() {
        assert_eq!(TimeCode::NEVER.time(), None);
        assert!(TimeCode::from_word(0).is_never());
        let time = EventTime::from_seconds(1_700_000_000);
        assert_eq!(TimeCode::of(time).time(), Some(time));
        assert_eq!(TimeCode::of(EventTime::EPOCH).word(), 1);
    }
}
