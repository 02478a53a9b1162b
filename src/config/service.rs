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
}

/// Kafka connection settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `embedded` (a local in-process broker plus a demo generator) or a broker list `host:port,...`.
    pub bootstrap_servers: String,
    /// The consumer group; instances with the same group share the input partitions.
    pub group_id: String,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: "embedded".into(),
            group_id: "healthscore".into(),
        }
    }
}

/// HTTP server settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// The address the server listens on.
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:9898".into(),
        }
    }
}

/// Snapshot settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// The folder snapshots are written to.
    pub dir: String,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            dir: "data/snapshots".into(),
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
