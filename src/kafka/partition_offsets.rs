//! The input partitions' offset ranges as librdkafka's statistics report them, and the lag they
//! give against the positions the service has processed.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The oldest and next offsets of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetRange {
    /// The oldest offset still in the log.
    pub low: i64,
    /// The offset the next message will get (the high watermark).
    pub high: i64,
}

/// Where input partitions' logs begin and end, as far as this member knows: what the event-time
/// merge asks to tell an input partition with data on the broker not fetched yet from one at
/// its end.
pub trait PartitionEnds: Send + Sync {
    /// The partition's offset range, if its end is known (its start may not be: `low` is then
    /// `None`).
    fn end_of(&self, topic: &str, partition: i32) -> Option<PartitionEnd>;
}

/// What is known of where a partition's log lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionEnd {
    /// The oldest offset still in the log, if known.
    pub low: Option<i64>,
    /// The offset the next message will get (the high watermark).
    pub high: i64,
}

impl PartitionEnd {
    /// Whether the log holds messages at or after `position` (the next offset to fetch;
    /// `None`: nothing fetched yet, so from the oldest retained).
    pub fn has_messages_from(&self, position: Option<i64>) -> bool {
        match (position, self.low) {
            (Some(position), _) => position < self.high,
            (None, Some(low)) => low < self.high,
            (None, None) => self.high > 0,
        }
    }
}

/// The offset ranges of the partitions this member is fetching, refreshed every second.
#[derive(Debug, Default)]
pub struct PartitionOffsets {
    ranges: Mutex<BTreeMap<(String, i32), OffsetRange>>,
}

impl PartitionOffsets {
    /// Replaces the ranges with those of the partitions being fetched in `statistics`.
    pub fn update(&self, statistics: &rdkafka::Statistics) {
        let mut ranges = BTreeMap::new();
        for (topic, details) in &statistics.topics {
            for partition in details.partitions.values() {
                if partition.partition < 0 || partition.fetch_state != "active" {
                    continue;
                }
                if partition.hi_offset >= 0 {
                    ranges.insert(
                        (topic.clone(), partition.partition),
                        OffsetRange {
                            low: partition.lo_offset.max(0),
                            high: partition.hi_offset,
                        },
                    );
                }
            }
        }
        *self
            .ranges
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = ranges;
    }

    /// Messages not yet processed, per partition being fetched, given the next offsets to read.
    pub fn lag(&self, positions: &HashMap<(String, i32), i64>) -> BTreeMap<(String, i32), i64> {
        let ranges = self
            .ranges
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        ranges
            .iter()
            .map(|(key, range)| (key.clone(), lag_of(*range, positions.get(key).copied())))
            .collect()
    }
}

impl PartitionEnds for PartitionOffsets {
    fn end_of(&self, topic: &str, partition: i32) -> Option<PartitionEnd> {
        let ranges = self
            .ranges
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let range = ranges.get(&(topic.to_string(), partition))?;
        Some(PartitionEnd {
            low: Some(range.low),
            high: range.high,
        })
    }
}

/// The messages between the next offset to read (`None`: the oldest retained) and the end.
pub fn lag_of(range: OffsetRange, position: Option<i64>) -> i64 {
    let position = position.unwrap_or(range.low).max(range.low);
    (range.high - position).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_has_messages_from_a_position_before_its_end_or_from_a_start_before_it() {
        let end = PartitionEnd {
            low: Some(10),
            high: 25,
        };
        assert!(end.has_messages_from(Some(24)));
        assert!(!end.has_messages_from(Some(25)));
        assert!(end.has_messages_from(None));
        let emptied = PartitionEnd {
            low: Some(25),
            high: 25,
        };
        assert!(
            !emptied.has_messages_from(None),
            "all retained were deleted"
        );
        let start_unknown = PartitionEnd { low: None, high: 0 };
        assert!(!start_unknown.has_messages_from(None));
        assert!(PartitionEnd { low: None, high: 3 }.has_messages_from(None));
    }

    #[test]
    fn lag_counts_from_the_next_offset_or_the_oldest_retained() {
        let range = OffsetRange { low: 10, high: 25 };
        assert_eq!(lag_of(range, Some(20)), 5);
        assert_eq!(lag_of(range, Some(25)), 0);
        assert_eq!(lag_of(range, None), 15);
        assert_eq!(lag_of(range, Some(3)), 15, "deleted messages are not lag");
        assert_eq!(lag_of(range, Some(30)), 0);
    }
}
