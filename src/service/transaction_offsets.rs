//! The input offsets an output transaction commits to the consumer group (exactly-once). They say
//! up to where every output is published, which is not always where the state is: a partition
//! taken on from a snapshot older than the group's offsets is re-applied silently up to them
//! (`silent_until`), and until it gets there its position is below what is already published.
//! Committing that position would move the group's offsets back, and the next owner of the
//! partition would publish the span between again.

use std::collections::HashMap;

use crate::snapshot::InputOffsets;

/// The offsets to commit with a transaction: each input partition's `positions` entry (the next
/// offset to apply), or the offset its committed outputs already reach (`silent_until`) where
/// that is further.
pub fn offsets_to_commit(
    positions: &HashMap<(String, i32), i64>,
    silent_until: &HashMap<(String, i32), i64>,
) -> InputOffsets {
    positions
        .iter()
        .map(|(key, position)| {
            let published = silent_until.get(key).copied().unwrap_or(*position);
            (key.clone(), (*position).max(published))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(topic: &str, partition: i32) -> (String, i32) {
        (topic.to_string(), partition)
    }

    #[test]
    fn a_partition_re_applied_silently_commits_the_offset_its_outputs_reach_not_its_position() {
        let positions = HashMap::from([
            (key("customer.usage", 0), 120),
            (key("customer.usage", 1), 75),
            (key("customer.payments", 0), 9),
        ]);
        // Partition 0 of the usage topic was restored from a snapshot at 100 and has been
        // re-applied to 120; a committed transaction published up to 300.
        let silent_until = HashMap::from([
            (key("customer.usage", 0), 300),
            // Passed already (an entry is dropped once passed; a stale one changes nothing).
            (key("customer.usage", 1), 50),
            // Not held here: committing it is another instance's business.
            (key("customer.usage", 3), 999),
        ]);

        let offsets = offsets_to_commit(&positions, &silent_until);

        assert_eq!(
            offsets,
            InputOffsets::from([
                (key("customer.usage", 0), 300),
                (key("customer.usage", 1), 75),
                (key("customer.payments", 0), 9),
            ])
        );
    }

    #[test]
    fn without_silent_input_the_positions_are_committed_as_they_are() {
        let positions = HashMap::from([(key("customer.usage", 0), 42)]);
        assert_eq!(
            offsets_to_commit(&positions, &HashMap::new()),
            InputOffsets::from([(key("customer.usage", 0), 42)])
        );
    }
}
