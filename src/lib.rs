//! # healthscore
//!
//! Streams customer activity into live, explainable customer health scores, churn-risk alerts and
//! expansion signals (see `SPEC.md` and the README).
//!
//! # Layout
//!
//! - [`engine`]: the pure core, no I/O and no async; each concept in `src/engine/` has the file
//!   named after it.
//!   - Input: [`engine::decode`](mod@engine::decode) (JSON, Protobuf, the field rules),
//!     `event.rs`, `time.rs` (event time, and the `TimeCode` kept in state).
//!   - State: `aggregate.rs` (aggregates with exact time decay), `customer.rs` (one customer),
//!     `customer_table.rs` (all of them), `schedule.rs` (time-caused checks), `eviction.rs`
//!     (the longest-inactive customer, for `state.max_customers`), `population.rs` (percentile
//!     tiers).
//!   - The model and what it decides: [`engine::model`] (compiled from config), `score.rs`,
//!     `alerts.rs`, `expansion.rs`.
//!   - Outputs: `output.rs` (the events and their ids), `output_build.rs` (the outputs of one
//!     evaluation), `output_json.rs` (their JSON), `view.rs` (a customer's present state).
//!   - [`engine::Engine`] (`engine.rs`) ties them together; [`engine::PartitionedEngines`]
//!     (`partitioned.rs`) keeps one per input partition number; [`engine::EventTimeMerge`]
//!     (`merge.rs`) merges several inputs in event time.
//!   - State as bytes, for snapshots: `binary.rs`, `state_bytes.rs`, `capture.rs` (taken in
//!     steps).
//! - [`config`]: the TOML config file and its environment overrides, typed and validated.
//! - [`snapshot`]: snapshot files (state plus input offsets): atomic, checksummed, with fallback;
//!   its page points to every other piece of a snapshot's life.
//! - [`kafka`]: the Kafka edge: client settings, the embedded broker, the resuming consumer,
//!   offset commits, output transactions, dead letters (headers, cut to fit), partition offsets
//!   and ends, the head of the input (`input_head.rs`), the co-partitioning check, connection
//!   errors.
//! - [`service`]: `healthscore run`: the fetcher, the processing thread and its processor, the
//!   output sink and publisher, snapshots, restores, model reloads, evictions counted and logged,
//!   the shared state.
//! - [`http`]: `/healthz`, `/readyz`, `/metrics` and customer look-ups (`access.rs`: the bearer
//!   token they need).
//! - [`telemetry`]: every Prometheus metric name, the recorder, the gauges.
//! - [`backtest`]: a model scored at a time against who churned after it, beside simple
//!   baselines: labels, metrics (ROC AUC and curve, top-decile lift, calibration), the report
//!   and its plot; pure.
//! - [`tuning`]: fitting the model to outcomes (churn factor weights, risk calibration), pure.
//! - [`generator`]: deterministic realistic customer activity for benches, load and the demo.
//! - [`input`]: reading JSON-lines files (plain or gzip) merged in event-time order.
//! - [`cli`]: the `healthscore` commands (`run`, `replay`, `evaluate`, `tune`, `generate`).

#![warn(missing_docs)]

pub mod backtest;
pub mod cli;
pub mod config;
pub mod engine;
pub mod generator;
pub mod http;
pub mod input;
pub mod kafka;
pub mod service;
pub mod snapshot;
pub mod telemetry;
pub mod tuning;
