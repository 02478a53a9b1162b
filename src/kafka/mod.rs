//! The Kafka edge: client settings, the embedded broker, the consumer that resumes from snapshot
//! offsets, and dead-letter records. Nothing here knows how customers are scored.

pub mod consumer;
pub mod dead_letter;
pub mod embedded;
pub mod partition_offsets;

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

/// A librdkafka client config for `bootstrap_servers` with the deployment's extra properties for
/// every client and for this role.
pub fn client_config(
    kafka: &KafkaConfig,
    bootstrap_servers: &str,
    role: ClientRole,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap_servers);
    let specific = match role {
        ClientRole::Consumer => &kafka.consumer,
        ClientRole::Producer => &kafka.producer,
    };
    for (key, value) in kafka.client.iter().chain(specific) {
        config.set(key, value);
    }
    config
}
