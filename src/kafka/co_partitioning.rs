//! The input topics must be co-partitioned: a customer's state lives with the partition number
//! its events arrive on, so every input topic needs the same number of partitions (and every
//! producer the same key and partitioner), or one customer's events would land in two states.

use std::time::Duration;

use rdkafka::consumer::Consumer;

/// Input topics with different partition counts.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the input topics must have the same number of partitions, keyed by customer id, so that a \
     customer's events all arrive on one partition number; found {counts}"
)]
pub struct NotCoPartitioned {
    /// Each topic with its partition count, for the message.
    pub counts: String,
}

/// Checks that every topic in `counts` (topic, partitions) has the same number of partitions.
pub fn check_partition_counts(counts: &[(String, usize)]) -> Result<(), NotCoPartitioned> {
    let Some((_, first)) = counts.first() else {
        return Ok(());
    };
    if counts.iter().all(|(_, count)| count == first) {
        return Ok(());
    }
    Err(NotCoPartitioned {
        counts: counts
            .iter()
            .map(|(topic, count)| format!("{topic}: {count}"))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The partition counts of those of `topics` that exist, from the cluster's metadata.
pub fn partition_counts<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(
    consumer: &C,
    topics: &[&str],
) -> rdkafka::error::KafkaResult<Vec<(String, usize)>> {
    let metadata = consumer.fetch_metadata(None, Duration::from_secs(10))?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|topic| topics.contains(&topic.name()) && topic.error().is_none())
        .map(|topic| (topic.name().to_string(), topic.partitions().len()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_with_different_partition_counts_are_refused_with_every_count_named() {
        let equal = [("usage".to_string(), 6), ("payment".to_string(), 6)];
        assert_eq!(check_partition_counts(&equal), Ok(()));
        assert_eq!(check_partition_counts(&[]), Ok(()));
        let unequal = [("usage".to_string(), 6), ("payment".to_string(), 3)];
        let error = check_partition_counts(&unequal).unwrap_err();
        assert!(error.to_string().ends_with("found usage: 6, payment: 3"));
    }
}
