//! The parts of the config file that say how the service runs: Kafka, HTTP, snapshots, logs.

use serde::{Deserialize, Serialize};

/// Everything about running the service, as opposed to scoring.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Kafka connection and topics.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// The HTTP server for metrics, probes and customer look-ups.
    #[serde(default)]
    pub http: HttpConfig,
    /// Where and how often state is saved.
    #[serde(default)]
    pub snapshot: SnapshotConfig,
    /// Log output.
    #[serde(default)]
    pub logging: LoggingConfig,
    /// The demo generator for the embedded broker.
    #[serde(default)]
    pub generator: GeneratorConfig,
    /// What moves time forward for silent customers.
    #[serde(default)]
    pub clock: ClockConfig,
    /// The delivery guarantee of the outputs.
    #[serde(default)]
    pub processing: ProcessingConfig,
}

/// Whether a librdkafka property holds a secret (passwords, JAAS configs, keys, tokens).
fn is_secret(property: &str) -> bool {
    let property = property.to_ascii_lowercase();
    [
        "password",
        "secret",
        "jaas",
        "token",
        "ssl.key",
        "credentials",
    ]
    .iter()
    .any(|marker| property.contains(marker))
}

impl ServiceConfig {
    /// The effective settings as one line of JSON for the start-up log, with secret client
    /// properties masked.
    pub fn to_masked_json(&self) -> String {
        let mut masked = self.clone();
        let kafka = &mut masked.kafka;
        for properties in [&mut kafka.client, &mut kafka.consumer, &mut kafka.producer] {
            for (property, value) in properties.iter_mut() {
                if is_secret(property) {
                    *value = "***".into();
                }
            }
        }
        serde_json::to_string(&masked).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_the_logged_config() {
        let mut config = ServiceConfig::default();
        for (property, value) in [
            ("security.protocol", "SASL_SSL"),
            ("sasl.username", "healthscore"),
            ("sasl.password", "hunter2"),
            ("sasl.oauthbearer.client.secret", "s3cret"),
            ("ssl.key.password", "k3y"),
        ] {
            config.kafka.client.insert(property.into(), value.into());
        }
        let logged = config.to_masked_json();
        for secret in ["hunter2", "s3cret", "k3y"] {
            assert!(!logged.contains(secret), "{secret} leaked: {logged}");
        }
        assert!(
            logged.contains("SASL_SSL") && logged.contains("\"sasl.username\":\"healthscore\"")
        );
    }
}

/// What drives the re-evaluation of customers who send no events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockSource {
    /// The event-time watermark over the input partitions (the default): results depend only
    /// on the events, and a replay of the same events gives the same outputs.
    #[default]
    Event,
    /// The later of the watermark and the wall clock, checked every second: silence is noticed
    /// even when no partition receives anything, at the cost of results that depend on when
    /// the events were processed.
    Wall,
}

/// Clock settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockConfig {
    /// `event` or `wall`.
    pub source: ClockSource,
}

/// Kafka connection settings and topics.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `embedded` (a local in-process broker plus a demo generator) or a broker list `host:port,...`.
    pub bootstrap_servers: String,
    /// The consumer group; instances with the same group share the input partitions.
    pub group_id: String,
    /// Static group membership (`group.instance.id`), such as the pod name of a StatefulSet: a
    /// restarted instance takes its partitions back at once instead of waiting out a rebalance.
    pub group_instance_id: Option<String>,
    /// Input topics: one per source (`usage`, `email`, `support`, `payment`, `profile`, ...).
    pub inputs: Vec<InputTopicConfig>,
    /// Where output events go.
    pub output_topic: String,
    /// Where malformed messages go, unchanged, with the reason in headers.
    pub dead_letter_topic: String,
    /// How long the event-time merge of a partition number's input topics waits for one of
    /// them that has nothing buffered before it applies the others' events without it (Kafka
    /// Streams' `max.task.idle.ms`). Default 2 s.
    pub max_idle: crate::config::ConfigDuration,
    /// Partitions of each topic the embedded broker creates.
    pub embedded_partitions: i32,
    /// The largest input message decoded, in bytes; a larger one is a dead letter with reason
    /// `too_large`. Also the most a dead letter may take: a larger one is sent cut to fit, with
    /// a `truncated` header. Keep it at or below the dead-letter topic's `max.message.bytes`
    /// and the producer's `message.max.bytes` (librdkafka's default, 1,000,000, is this one's).
    pub max_message_bytes: usize,
    /// Extra librdkafka properties for every client (such as `security.protocol`).
    pub client: std::collections::BTreeMap<String, String>,
    /// Extra librdkafka properties for the input consumer only (such as `session.timeout.ms`).
    pub consumer: std::collections::BTreeMap<String, String>,
    /// Extra librdkafka properties for the producers only (such as `linger.ms`).
    pub producer: std::collections::BTreeMap<String, String>,
}

/// One input topic.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputTopicConfig {
    /// The topic's name.
    pub topic: String,
    /// The source it carries, for metrics and logs (`usage`, `email`, ...).
    pub source: String,
    /// `json` (default) or `protobuf`.
    #[serde(default)]
    pub encoding: crate::engine::Encoding,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        let input = |source: &str| InputTopicConfig {
            topic: format!("customer.{source}"),
            source: source.into(),
            encoding: crate::engine::Encoding::Json,
        };
        KafkaConfig {
            bootstrap_servers: "embedded".into(),
            group_id: "healthscore".into(),
            group_instance_id: None,
            inputs: ["usage", "email", "support", "payment", "profile"]
                .into_iter()
                .map(input)
                .collect(),
            output_topic: "customer.health".into(),
            dead_letter_topic: "customer.health.deadletter".into(),
            max_idle: crate::config::ConfigDuration::seconds(2),
            embedded_partitions: 3,
            max_message_bytes: 1_000_000,
            client: Default::default(),
            consumer: Default::default(),
            producer: Default::default(),
        }
    }
}

/// The built-in demo generator, used with the embedded broker.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeneratorConfig {
    /// Whether the embedded broker gets generated activity (turn off to produce your own, e.g. with kcat).
    pub enabled: bool,
    /// Simulated customers.
    pub customers: usize,
    /// Events produced per second of wall time.
    pub events_per_second: u32,
    /// Average events per customer per simulated day (with the rate, sets how fast simulated time runs).
    pub events_per_customer_day: f64,
    /// The random seed.
    pub seed: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            enabled: true,
            customers: 300,
            events_per_second: 2000,
            events_per_customer_day: 6.0,
            seed: 7,
        }
    }
}

/// HTTP server settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// The address the server listens on.
    pub listen: String,
    /// A file holding the bearer token that `/customers/...` requires (a Kubernetes Secret
    /// volume, for example); `None`: the customer API is open to whoever reaches the port.
    pub token_file: Option<String>,
    /// Allows listening beyond loopback without `token_file`, on purpose.
    pub allow_unauthenticated: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:9898".into(),
            token_file: None,
            allow_unauthenticated: false,
        }
    }
}

/// Snapshot settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// The folder snapshots are written to.
    pub dir: String,
    /// How often a snapshot is taken (another is always taken at shutdown).
    pub interval: crate::config::ConfigDuration,
    /// How many snapshots are kept (at least 2, so a damaged newest one has a fallback).
    pub keep: usize,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            dir: "data/snapshots".into(),
            interval: crate::config::ConfigDuration::seconds(30),
            keep: 3,
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One readable line per event (the default).
    #[default]
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// Log settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// `text` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `healthscore=debug,rdkafka=warn`; `RUST_LOG` wins if set.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// What a consumer of the output topic can rely on after a crash or a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessingGuarantee {
    /// Every output is published at least once: after a crash, the outputs made since the
    /// newest snapshot are published again, with the same `event_id`s (the default, as in
    /// Kafka Streams).
    #[default]
    AtLeastOnce,
    /// Every output is published exactly once to `read_committed` consumers: outputs and the
    /// input offsets that caused them are committed together in Kafka transactions.
    ExactlyOnce,
}

/// Delivery guarantee settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessingConfig {
    /// `at_least_once` or `exactly_once`.
    pub guarantee: ProcessingGuarantee,
    /// Under `exactly_once`, how often a transaction is committed: the latency a
    /// `read_committed` consumer sees, at most.
    pub commit_interval: crate::config::ConfigDuration,
    /// Under `exactly_once`, the output producer's `transactional.id`: stable across restarts
    /// of one instance, unique among instances (default: `<group_id>-<group_instance_id>`, or
    /// `<group_id>-<host name>`).
    pub transactional_id: Option<String>,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        ProcessingConfig {
            guarantee: ProcessingGuarantee::AtLeastOnce,
            commit_interval: crate::config::ConfigDuration::from_millis(100),
            transactional_id: None,
        }
    }
}
