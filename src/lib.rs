//! # healthscore
//!
//! Streams customer activity into live, explainable customer health scores, churn-risk alerts and
//! expansion signals (see `SPEC.md` and the README).
//!
//! # Layout
//!
//! - [`engine`]: the pure core. Decoding ([`engine::decode`](mod@engine::decode)), events ([`engine::event`]),
//!   aggregates with exact time decay ([`engine::aggregate`]), per-customer state
//!   ([`engine::customer`]), the compiled model ([`engine::model`]), scoring and explanations
//!   ([`engine::score`]), alert decisions ([`engine::alerts`]), output events
//!   ([`engine::output`]), the time-caused check schedule ([`engine::schedule`]), the
//!   [`engine::Engine`] that ties them together, and one engine per input partition
//!   ([`engine::partitioned`]). No I/O, no async.
//! - [`config`]: the TOML config file and its environment overrides, typed and validated.
//! - [`evaluation`]: backtest metrics (ROC AUC, top-decile precision and lift), pure.
//! - [`generator`]: deterministic realistic customer activity for benches, load and the demo.
//! - [`input`]: reading JSON-lines files (plain or gzip) merged in event-time order.
//! - [`snapshot`]: snapshot files (state plus input offsets): atomic, checksummed, with fallback.
//! - [`kafka`]: the Kafka edge: client settings, the embedded broker, the resuming consumer,
//!   dead-letter headers, partition offsets from librdkafka's statistics, the co-partitioning
//!   check.
//! - [`service`]: `healthscore run`, the streaming service: the fetcher, the processing thread,
//!   the publishing thread, per-partition snapshots and restores.
//! - [`http`]: `/healthz`, `/readyz`, `/metrics` and customer look-ups.
//! - [`telemetry`]: every Prometheus metric name, and the recorder.
//! - [`cli`]: the `healthscore` commands (`run`, `replay`, `evaluate`, `generate`).

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod engine;
pub mod evaluation;
pub mod generator;
pub mod http;
pub mod input;
pub mod kafka;
pub mod service;
pub mod snapshot;
pub mod telemetry;
