//! The Kafka edge: client settings, the embedded broker, the consumer that resumes from snapshot
//! offsets, and dead-letter records. Nothing here knows how customers are scored.

pub mod consumer;
pub mod dead_letter;
pub mod embedded;
pub mod partition_offsets;

use rdkafka::ClientConfig;

use crate::config::service::KafkaConfig;

/// A librdkafka client config for `bootstrap_servers` with the deployment's extra properties.
pub fn client_config(kafka: &KafkaConfig, bootstrap_servers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap_servers);
    for (key, value) in &kafka.client {
        config.set(key, value);
    }
    config
}
