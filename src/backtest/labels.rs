//! Who churned after a time `at`: from outcome events (a `churned` outcome in
//! (`at`, `horizon_end`]), or, for data with no explicit churn (retail, say), from inactivity (no
//! event at all in (`at`, `at + inactive_for`]).

use std::collections::{HashMap, HashSet};

use crate::engine::EventTime;

/// Why labels could not be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelError {
    /// The events stop before the last day of the inactivity window, so silence there means
    /// nothing.
    #[error(
        "the events end at {last}, more than a day before {needed} (the scoring time plus the \
         inactivity window): nobody can be called inactive for that long"
    )]
    EventsEndTooSoon {
        /// The latest event time in the input.
        last: EventTime,
        /// When the inactivity window ends.
        needed: EventTime,
    },
}

/// The end of an outcome window from `at`: `at` plus `horizon`, else the time of the last
/// outcome (`last`), else `at`.
pub fn horizon_end(
    at: EventTime,
    horizon: Option<crate::config::ConfigDuration>,
    last: Option<EventTime>,
) -> EventTime {
    match horizon {
        Some(horizon) => at.plus_millis(horizon.millis()),
        None => last.unwrap_or(at),
    }
}

/// A day, in milliseconds.
const DAY_MILLIS: i64 = 86_400_000;

/// For each of `ids`, whether a `churned` outcome in `churned` (customer, time) falls in
/// (`at`, `horizon_end`].
pub fn from_outcomes(
    ids: &[String],
    churned: &[(String, EventTime)],
    at: EventTime,
    horizon_end: EventTime,
) -> Vec<bool> {
    let churned: HashSet<&str> = churned
        .iter()
        .filter(|(_, time)| *time > at && *time <= horizon_end)
        .map(|(id, _)| id.as_str())
        .collect();
    ids.iter().map(|id| churned.contains(id.as_str())).collect()
}

/// For each of `ids`, whether it has no event in (`at`, `at + inactive_for_millis`], given every
/// customer's event times `activity` (customer, time; any order). The events must reach into
/// the window's last day (data exported at a day's cutoff ends some hours before it).
pub fn from_inactivity<'a>(
    ids: &[String],
    activity: impl IntoIterator<Item = (&'a str, EventTime)>,
    at: EventTime,
    inactive_for_millis: i64,
) -> Result<Vec<bool>, LabelError> {
    let needed = at.plus_millis(inactive_for_millis);
    let mut last = None;
    let mut active: HashMap<&str, bool> = HashMap::new();
    for (id, time) in activity {
        last = Some(last.map_or(time, |last: EventTime| last.max(time)));
        if time > at && time <= needed {
            active.insert(id, true);
        }
    }
    match last {
        Some(last) if last >= needed.plus_millis(-DAY_MILLIS) => {}
        _ => {
            return Err(LabelError::EventsEndTooSoon {
                last: last.unwrap_or(at),
                needed,
            })
        }
    }
    Ok(ids
        .iter()
        .map(|id| !active.contains_key(id.as_str()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: i64) -> EventTime {
        EventTime::from_millis(day * 86_400_000).unwrap()
    }

    #[test]
    fn a_churn_counts_only_inside_the_window() {
        let ids = ["a", "b", "c", "d"].map(String::from);
        let churned = [
            ("a".to_string(), day(5)),
            ("b".to_string(), day(10)),
            ("c".to_string(), day(11)),
        ];
        // a churned before the time, b at the window's end, c after it; d never.
        assert_eq!(
            from_outcomes(&ids, &churned, day(5), day(10)),
            [false, true, false, false]
        );
    }

    #[test]
    fn inactive_means_no_event_in_the_window_and_needs_events_past_it() {
        let ids = ["a", "b", "c"].map(String::from);
        let activity = [
            ("a", day(3)),
            ("a", day(12)),
            ("b", day(25)),
            ("c", day(20)),
        ];
        // a is active in (10, 20]; b only after the window; c at its last day.
        assert_eq!(
            from_inactivity(&ids, activity, day(10), 10 * 86_400_000).unwrap(),
            [false, true, false]
        );
        // Events into the window's last day are enough; ending over a day before it is not.
        let late_on_day_19 = day(19).plus_millis(3_600_000);
        assert!(from_inactivity(&ids, [("a", late_on_day_19)], day(10), 10 * DAY_MILLIS).is_ok());
        let early = day(19).plus_millis(-1);
        let error = from_inactivity(&ids, [("a", early)], day(10), 10 * DAY_MILLIS).unwrap_err();
        assert_eq!(
            error,
            LabelError::EventsEndTooSoon {
                last: early,
                needed: day(20)
            }
        );
    }
}
