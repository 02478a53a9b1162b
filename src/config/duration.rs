//! Durations in config files, written the way people write them: `7d`, `90d`, `12h`, `1h 30m`.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A length of time read from config, such as `half_life = "7d"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration {
    millis: i64,
}

impl ConfigDuration {
    /// A duration of whole days.
    pub const fn days(days: i64) -> Self {
        ConfigDuration {
            millis: days * 86_400_000,
        }
    }

    /// A duration of milliseconds.
    pub const fn from_millis(millis: i64) -> Self {
        ConfigDuration { millis }
    }

    /// A duration of whole seconds.
    pub const fn seconds(seconds: i64) -> Self {
        ConfigDuration {
            millis: seconds * 1000,
        }
    }

    /// The duration in milliseconds.
    pub fn millis(self) -> i64 {
        self.millis
    }

    /// The duration in days, as a decimal.
    pub fn as_days(self) -> f64 {
        self.millis as f64 / 86_400_000.0
    }

    /// The duration as a standard library duration.
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.millis.max(0) as u64)
    }
}

impl std::str::FromStr for ConfigDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parsed = humantime::parse_duration(text).map_err(|error| {
            format!("`{text}` is not a duration such as \"7d\", \"12h\" or \"30m\" ({error})")
        })?;
        let millis = i64::try_from(parsed.as_millis())
            .map_err(|_| format!("`{text}` is too long a duration"))?;
        Ok(ConfigDuration { millis })
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ConfigDuration {
    /// Whole days as days (`90d`, as a config file says it), anything else as humantime writes
    /// it (`12h`, `1h 30m`).
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DAY: i64 = 86_400_000;
        if self.millis > 0 && self.millis % DAY == 0 {
            return write!(formatter, "{}d", self.millis / DAY);
        }
        let duration = std::time::Duration::from_millis(self.millis.max(0) as u64);
        write!(formatter, "{}", humantime::format_duration(duration))
    }
}

impl serde::Serialize for ConfigDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(
            "7d".parse::<ConfigDuration>().unwrap(),
            ConfigDuration::days(7)
        );
        assert_eq!(
            "1h 30m".parse::<ConfigDuration>().unwrap().millis(),
            5_400_000
        );
        assert!("seven days"
            .parse::<ConfigDuration>()
            .unwrap_err()
            .contains("not a duration"));
    }
}
