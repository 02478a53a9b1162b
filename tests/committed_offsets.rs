//! Under exactly-once the consumer group's committed offsets say up to where the outputs are
//! published. An instance restored from a snapshot older than them applies the input between
//! again without publishing; the transactions it commits meanwhile must not move the group's
//! offsets back, or whichever instance takes a partition on next publishes that span again.
//!
//! `healthscore run` as a child process over the standard layout. Apache Kafka only (the
//! MockCluster has no transactions). The log is copied to /tmp/committed-offsets-service.log.

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use rdkafka::{ClientConfig, TopicPartitionList};

use healthscore::kafka::consumer::committed_offsets;

use support::child_service::{
    applied_to_the_end, consumer_lags, replayed_by_partition, start, ChildTopics, Seen,
};
use support::layout::{generated_stream, produce, PARTITIONS};
use support::{free_port, stop_with_sigterm};

/// Input partition (topic, partition) → offset.
type Offsets = HashMap<(String, i32), i64>;

/// Reads group `group`'s committed offsets of every input partition without joining it.
struct GroupOffsets {
    client: BaseConsumer,
    partitions: TopicPartitionList,
}

impl GroupOffsets {
    fn new(topics: &ChildTopics, group: &str) -> GroupOffsets {
        let client: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &topics.bootstrap)
            .set("group.id", group)
            // Waits for offsets a transaction still has open (KIP-447's stable offsets).
            .set("isolation.level", "read_committed")
            .create()
            .expect("an offsets reader");
        let mut partitions = TopicPartitionList::new();
        for (_, topic) in &topics.inputs {
            for partition in 0..PARTITIONS {
                partitions.add_partition(topic, partition);
            }
        }
        GroupOffsets { client, partitions }
    }

    fn read(&self) -> Offsets {
        committed_offsets(&self.client, &self.partitions).expect("the group's committed offsets")
    }
}

#[cfg(unix)]
#[test]
fn re_applying_the_input_past_an_old_snapshot_never_moves_the_group_offsets_back() {
    let broker = support::kafka::transactional_broker();
    let topics = ChildTopics::create(&broker, "offsets");
    let suffix = topics.suffix.clone();
    let directory = tempfile::tempdir().expect("a folder");
    let address = format!("127.0.0.1:{}", free_port());
    let group = format!("offsets-{suffix}");
    // Only the snapshot at shutdown: after the kill below, the instance restores the one taken
    // before the second part of the input.
    let config = topics
        .config(&group, &address, Some(&format!("offsets-{suffix}")))
        .replace("[snapshot]\n", "[snapshot]\ninterval = \"1h\"\n")
        .replacen("interval = \"1s\"\n", "", 1);
    assert!(config.contains("interval = \"1h\"") && !config.contains("interval = \"1s\""));
    let path = directory.path().join("healthscore.toml");
    std::fs::write(&path, config).expect("the config is written");
    let input_partitions = topics.inputs.len() * PARTITIONS as usize;
    let group_offsets = GroupOffsets::new(&topics, &group);
    let reader = topics.output_reader();
    let mut seen = Seen::default();

    // Enough input after the snapshot that applying it again takes many commit intervals.
    let events = generated_stream(400, 60, 11);
    let cut = events
        .iter()
        .position(|event| event.time_millis >= events[0].time_millis + 10 * 86_400_000)
        .expect("events after day 10");
    let (before, after) = events.split_at(cut);
    let run_to_the_end = |seen: &mut Seen| {
        let deadline = Instant::now() + Duration::from_secs(180);
        while !applied_to_the_end(&address, input_partitions) && Instant::now() < deadline {
            seen.read(&reader, Duration::from_millis(200));
        }
        assert!(
            applied_to_the_end(&address, input_partitions),
            "lags: {:?}",
            consumer_lags(&address)
        );
    };

    // The first part, then a stop: the snapshot at shutdown holds it.
    produce(&topics.bootstrap, &topics.inputs, before, |_| true);
    let mut service = start(&path, directory.path());
    run_to_the_end(&mut seen);
    assert_eq!(stop_with_sigterm(&mut service), Some(0));
    let at_snapshot = group_offsets.read();

    // The second part, then a kill: its outputs and offsets are committed, and no snapshot
    // holds them.
    produce(&topics.bootstrap, &topics.inputs, after, |_| true);
    let mut service = start(&path, directory.path());
    run_to_the_end(&mut seen);
    let published = group_offsets.read();
    service.kill().expect("the service is killed");
    service.wait().expect("the service ends");
    let moved: usize = published
        .iter()
        .filter(|(key, offset)| at_snapshot.get(*key).is_none_or(|before| before < *offset))
        .count();
    assert!(
        moved >= PARTITIONS as usize,
        "the second part moved the offsets of {moved} partitions: {at_snapshot:?} → {published:?}"
    );

    // Restored from the older snapshot, it applies the second part again without publishing,
    // committing as it goes: the group's offsets never go below where the outputs reach.
    let mut service = start(&path, directory.path());
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut readings = 0;
    while !applied_to_the_end(&address, input_partitions) && Instant::now() < deadline {
        let now = group_offsets.read();
        readings += 1;
        let behind: Vec<_> = published
            .iter()
            .filter(|(key, offset)| now.get(*key).is_none_or(|now| now < *offset))
            .collect();
        let log = std::fs::read_to_string(directory.path().join("service.log")).unwrap_or_default();
        let _ = std::fs::write("/tmp/committed-offsets-service.log", &log);
        assert!(
            behind.is_empty(),
            "after {readings} readings the group's offsets went back below what is published: \
             {behind:?} now at {now:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(applied_to_the_end(&address, input_partitions));
    let log = std::fs::read_to_string(directory.path().join("service.log")).unwrap_or_default();
    assert!(
        log.contains("Applying the input a committed transaction covers without publishing"),
        "the restart did not re-apply input silently"
    );
    assert_eq!(stop_with_sigterm(&mut service), Some(0));

    // And nothing was published twice, nor left out.
    let (expected, _) = replayed_by_partition(&events);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !expected.is_subset(&seen.ids) && Instant::now() < deadline {
        seen.read(&reader, Duration::from_millis(500));
    }
    seen.read(&reader, Duration::from_secs(1));
    assert_eq!(
        expected.difference(&seen.ids).count(),
        0,
        "outputs never published"
    );
    assert_eq!(
        seen.ids.difference(&expected).count(),
        0,
        "outputs replay does not give"
    );
    assert!(
        seen.again.is_empty(),
        "{} outputs read twice",
        seen.again.len()
    );
}
