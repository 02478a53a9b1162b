//! The Kafka edge: client settings, the embedded broker, the consumer that resumes from snapshot
//! offsets, connection errors that end start-up, and dead-letter records. Nothing here knows how customers are scored.

pub mod co_partitioning;
pub mod connection_error;
pub mod consumer;
pub mod dead_letter;
pub mod embedded;
pub mod input_head;
pub mod offset_commit;
pub mod partition_offsets;
pub mod transaction;

use rdkafka::ClientConfig;

use crate::config::service::KafkaConfig;

/// Which kind of client a config is for: each gets `kafka.client` plus its own properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientRole {
    /// The input consumer (`kafka.consumer`).
    Consumer,
    /// A producer: outputs, dead letters, the demo generator (`kafka.producer`).
    Producer,
}

/// librdkafka properties the service changes from librdkafka's defaults for the input consumer;
/// `kafka.client` and `kafka.consumer` may set them otherwise.
///
/// `fetch.queue.backoff.ms`: once the prefetch queue is full, librdkafka postpones the next fetch
/// by this much (1 s by default), so a consumer catching up on a backlog drains its queue and then
/// sits idle for most of a second, again and again. 20 ms keeps it fed.
pub const CONSUMER_DEFAULTS: [(&str, &str); 1] = [("fetch.queue.backoff.ms", "20")];

/// librdkafka properties the service changes from librdkafka's defaults for its producers;
/// `kafka.client` and `kafka.producer` may set them otherwise.
///
/// `linger.ms`: how long the producer gathers outputs into a batch before sending it. 5 ms (as
/// librdkafka's own default since 1.7) keeps alerts prompt; a larger value makes fewer, larger
/// requests, which costs less CPU per output at high rates.
pub const PRODUCER_DEFAULTS: [(&str, &str); 1] = [("linger.ms", "5")];

/// A librdkafka client config for `bootstrap_servers` with the deployment's extra properties for
/// every client and for this role (over the service's own defaults).
pub fn client_config(
    kafka: &KafkaConfig,
    bootstrap_servers: &str,
    role: ClientRole,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap_servers);
    let defaults: &[(&str, &str)] = match role {
        ClientRole::Consumer => &CONSUMER_DEFAULTS,
        ClientRole::Producer => &PRODUCER_DEFAULTS,
    };
    for (key, value) in defaults {
        config.set(*key, *value);
    }
    let specific = match role {
        ClientRole::Consumer => &kafka.consumer,
        ClientRole::Producer => &kafka.producer,
    };
    for (key, value) in kafka.client.iter().chain(specific) {
        config.set(key, value);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_gets_the_service_defaults_and_the_deployment_overrides_them() {
        let mut kafka = KafkaConfig::default();
        let consumer = client_config(&kafka, "broker:9092", ClientRole::Consumer);
        assert_eq!(consumer.get("fetch.queue.backoff.ms"), Some("20"));
        assert_eq!(consumer.get("bootstrap.servers"), Some("broker:9092"));
        let producer = client_config(&kafka, "broker:9092", ClientRole::Producer);
        assert_eq!(producer.get("fetch.queue.backoff.ms"), None);

        assert_eq!(producer.get("linger.ms"), Some("5"));

        kafka
            .consumer
            .insert("fetch.queue.backoff.ms".into(), "100".into());
        kafka.producer.insert("linger.ms".into(), "50".into());
        let consumer = client_config(&kafka, "broker:9092", ClientRole::Consumer);
        assert_eq!(consumer.get("fetch.queue.backoff.ms"), Some("100"));
        let producer = client_config(&kafka, "broker:9092", ClientRole::Producer);
        assert_eq!(producer.get("linger.ms"), Some("50"));
    }
}
