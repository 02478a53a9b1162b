//! Committing input offsets to the consumer group. The service resumes from its snapshots, not
//! from the group's offsets: a commit only reports progress (to lag monitors and `kafka-
//! consumer-groups`), so it is asynchronous and a failure is logged, not fatal.

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::consumer::InputConsumer;
use crate::snapshot::InputOffsets;

/// Commits `offsets` for the input partitions this member is assigned now. Committing
/// partitions it does not own fails, and librdkafka answers such a failure during a group join
/// by starting the join over: they are left out.
pub fn commit_owned(consumer: &InputConsumer, offsets: &InputOffsets) {
    let assigned = consumer.assignment().unwrap_or_default();
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in offsets {
        if assigned.find_partition(topic, *partition).is_some() {
            let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
        }
    }
    if list.count() == 0 {
        return;
    }
    if let Err(error) = consumer.commit(&list, CommitMode::Async) {
        tracing::warn!(%error, "Could not commit offsets to the group; the snapshot holds them.");
    }
}
