//! The head of the input: the latest event time among the last messages of every partition of
//! every input topic, read by a consumer of its own (no group, nothing committed) when the
//! service starts and whenever partitions are assigned. Churn alerts far behind it are history
//! (a backfill, a long outage), published marked stale.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use crate::engine::decode::decode;
use crate::engine::{Encoding, EventTime};

/// How long reading the last messages may take before the head is taken from those read.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads the head of the input topics.
pub struct InputHead {
    consumer: BaseConsumer,
    topics: Vec<(String, Encoding)>,
    max_message_bytes: usize,
}

impl InputHead {
    /// A reader of `topics` (name and encoding) with `config` (the service's consumer settings)
    /// under `group_id`: librdkafka needs a group id even to assign partitions, but this reader
    /// never joins the group (nothing is subscribed) and commits nothing. Named after the
    /// service's group, so prefixed group ACLs cover it. A message over `max_message_bytes` is
    /// not an event (the service dead-letters it), so it does not count.
    pub fn new(
        mut config: ClientConfig,
        group_id: &str,
        topics: Vec<(String, Encoding)>,
        max_message_bytes: usize,
    ) -> Result<InputHead, rdkafka::error::KafkaError> {
        let consumer = config
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .create()?;
        Ok(InputHead {
            consumer,
            topics,
            max_message_bytes,
        })
    }

    /// The latest event time among the last message of each input partition that has one and
    /// decodes; `None` when none does (empty topics) or the broker did not answer in time.
    pub fn read(&self) -> Option<EventTime> {
        let deadline = Instant::now() + READ_TIMEOUT;
        let mut last_messages = TopicPartitionList::new();
        for (topic, _) in &self.topics {
            let metadata = self
                .consumer
                .fetch_metadata(Some(topic), READ_TIMEOUT)
                .ok()?;
            let partitions = metadata
                .topics()
                .iter()
                .flat_map(|topic| topic.partitions().iter().map(|partition| partition.id()))
                .collect::<Vec<_>>();
            for partition in partitions {
                let Ok((low, high)) =
                    self.consumer
                        .fetch_watermarks(topic, partition, READ_TIMEOUT)
                else {
                    continue;
                };
                if high > low {
                    let _ = last_messages.add_partition_offset(
                        topic,
                        partition,
                        Offset::Offset(high - 1),
                    );
                }
            }
        }
        let wanted = last_messages.count();
        if wanted == 0 || self.consumer.assign(&last_messages).is_err() {
            return None;
        }
        let mut head: Option<EventTime> = None;
        let mut seen = 0;
        while seen < wanted && Instant::now() < deadline {
            let Some(Ok(message)) = self.consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            seen += 1;
            let encoding = self
                .topics
                .iter()
                .find(|(topic, _)| topic == message.topic())
                .map_or(Encoding::Json, |(_, encoding)| *encoding);
            if let Some(time) = message
                .payload()
                .and_then(|payload| decode(encoding, payload, self.max_message_bytes).ok())
                .map(|event| event.time)
            {
                head = Some(head.map_or(time, |head| head.max(time)));
            }
        }
        let _ = self.consumer.unassign();
        head
    }
}
