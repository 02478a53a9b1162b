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

/// The messages between the next offset to read (`None`: the oldest retained) and the end.
pub fn lag_of(range: OffsetRange, position: Option<i64>) -> i64 {
    let position = position.unwrap_or(range.low).max(range.low);
    (range.high - position).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

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
