//! The service's Prometheus metrics: every name in one place with its help text, the process-wide
//! recorder, and small helpers that record what the processing loop sees.
//!
//! Names follow Prometheus conventions: a `healthscore_` prefix, base units in the name
//! (`_seconds`, `_bytes`), `_total` for counters. `deploy/prometheus/alerts.yml` and the Grafana
//! dashboard use these names; a test checks them against a live `/metrics`.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Counter, Unit,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::engine::decode::DecodeReason;
use crate::engine::{ApplyOutcome, EventTime, Model, OutputEvent};
use crate::snapshot::InputOffsets;

/// Input messages by source and outcome: applied, ignored, duplicate, dead_lettered.
pub const EVENTS: &str = "healthscore_events_total";
/// Input events applied with an event time before one already applied on their partition
/// number, by source: they arrived more than `kafka.max_idle` after later-stamped events of
/// another topic (or out of order within their own topic), so their outputs can differ from
/// `replay`'s.
pub const EVENTS_OUT_OF_ORDER: &str = "healthscore_events_out_of_order_total";
/// Input messages dead-lettered, by reason.
pub const DECODE_ERRORS: &str = "healthscore_decode_errors_total";
/// Output events published, by type and level.
pub const OUTPUT_EVENTS: &str = "healthscore_output_events_total";
/// Customers in memory.
pub const CUSTOMERS: &str = "healthscore_customers";
/// Customers evicted to keep under `state.max_customers` (the longest-inactive first).
pub const CUSTOMERS_EVICTED: &str = "healthscore_customers_evicted_total";
/// Customers by the health colour last published for them.
pub const CUSTOMERS_BY_HEALTH: &str = "healthscore_customers_by_health";
/// Time to process one input message: decode, score, and hand outputs to the publishing thread (the
/// average over the batch of messages it was read with: reading the clock per message would cost
/// more than some messages take).
pub const PROCESSING: &str = "healthscore_processing_duration_seconds";
/// The event-time watermark of the input partition furthest behind, as a Unix timestamp.
pub const WATERMARK: &str = "healthscore_watermark_timestamp_seconds";
/// How far the watermark is behind the wall clock.
pub const EVENT_TIME_LAG: &str = "healthscore_event_time_lag_seconds";
/// Messages not yet processed, per input topic and partition.
pub const CONSUMER_LAG: &str = "healthscore_consumer_lag_messages";
/// Time from a snapshot's start to its file being safely written.
pub const SNAPSHOT_DURATION: &str = "healthscore_snapshot_duration_seconds";
/// The newest snapshot's size.
pub const SNAPSHOT_SIZE: &str = "healthscore_snapshot_size_bytes";
/// Time since the newest snapshot was written (since start if none was).
pub const SNAPSHOT_AGE: &str = "healthscore_snapshot_age_seconds";
/// Snapshots that could not be written.
pub const SNAPSHOT_FAILURES: &str = "healthscore_snapshot_failures_total";
/// 1, labelled with the model version in use.
pub const MODEL_INFO: &str = "healthscore_model_info";
/// Model reloads by result: applied, rejected.
pub const MODEL_RELOADS: &str = "healthscore_model_reloads_total";
/// 1 while a broker is reachable and state is restored, else 0.
pub const READY: &str = "healthscore_ready";
/// Output transactions (exactly-once) by outcome: committed, aborted, fenced, failed.
pub const TRANSACTIONS: &str = "healthscore_transactions_total";

/// Churn alerts published (raised or cleared) by freshness: `fresh`, or `stale` (more than
/// `alerting.max_age` behind the head of the input: history, such as a backfill's).
pub const CHURN_ALERTS: &str = "healthscore_churn_alerts_total";

/// The `freshness` labels of [`CHURN_ALERTS`], indexed by whether the alert is stale.
const FRESHNESS: [&str; 2] = ["fresh", "stale"];

/// Every metric name the service exports.
pub const ALL: [&str; 20] = [
    EVENTS,
    EVENTS_OUT_OF_ORDER,
    DECODE_ERRORS,
    OUTPUT_EVENTS,
    CUSTOMERS,
    CUSTOMERS_BY_HEALTH,
    CUSTOMERS_EVICTED,
    PROCESSING,
    WATERMARK,
    EVENT_TIME_LAG,
    CONSUMER_LAG,
    SNAPSHOT_DURATION,
    SNAPSHOT_SIZE,
    SNAPSHOT_AGE,
    SNAPSHOT_FAILURES,
    MODEL_INFO,
    MODEL_RELOADS,
    READY,
    TRANSACTIONS,
    CHURN_ALERTS,
];

/// Bucket bounds for the processing time, in seconds: 5 µs to 1 s.
const PROCESSING_BUCKETS: [f64; 12] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025, 0.1,
    1.0,
];

/// Bucket bounds for snapshot durations, in seconds.
const SNAPSHOT_BUCKETS: [f64; 9] = [0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus recorder's handle, installing the recorder on first use. If
/// another recorder was installed first, the handle renders only what this one sees (nothing).
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(PROCESSING.into()), &PROCESSING_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full(SNAPSHOT_DURATION.into()),
                    &SNAPSHOT_BUCKETS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if ::metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("Another metrics recorder was installed first; /metrics will be empty.");
        }
        describe();
        handle
    })
}

fn describe() {
    describe_counter!(
        EVENTS,
        "Input messages by source and outcome (applied, ignored, duplicate, dead_lettered)."
    );
    describe_counter!(
        EVENTS_OUT_OF_ORDER,
        "Input events applied after a later-stamped event of their partition, by source."
    );
    describe_counter!(DECODE_ERRORS, "Input messages dead-lettered, by reason.");
    describe_counter!(OUTPUT_EVENTS, "Output events published, by type and level.");
    describe_counter!(
        CHURN_ALERTS,
        "Churn alerts published (raised or cleared), by freshness: fresh, or stale (history)."
    );
    describe_gauge!(CUSTOMERS, "Customers in memory.");
    describe_gauge!(
        CUSTOMERS_BY_HEALTH,
        "Customers by the health colour last published for them."
    );
    describe_histogram!(
        PROCESSING,
        Unit::Seconds,
        "Time to process one input message: decode, score, hand outputs to the publishing thread."
    );
    describe_gauge!(
        WATERMARK,
        Unit::Seconds,
        "The event-time watermark of the input partition furthest behind, as a Unix timestamp."
    );
    describe_gauge!(
        EVENT_TIME_LAG,
        Unit::Seconds,
        "How far the event-time watermark is behind the wall clock."
    );
    describe_gauge!(
        CONSUMER_LAG,
        "Input messages not yet processed, per topic and partition."
    );
    describe_histogram!(
        SNAPSHOT_DURATION,
        Unit::Seconds,
        "Time from a snapshot's start to its file being safely written."
    );
    describe_gauge!(SNAPSHOT_SIZE, Unit::Bytes, "Size of the newest snapshot.");
    describe_gauge!(
        SNAPSHOT_AGE,
        Unit::Seconds,
        "Time since the newest snapshot was written (since start if none was)."
    );
    describe_counter!(SNAPSHOT_FAILURES, "Snapshots that could not be written.");
    describe_counter!(
        CUSTOMERS_EVICTED,
        "Customers evicted to keep under state.max_customers (the longest-inactive first)."
    );
    describe_gauge!(MODEL_INFO, "1, labelled with the model version in use.");
    describe_counter!(
        MODEL_RELOADS,
        "Model reloads by result (applied, rejected)."
    );
    describe_counter!(
        TRANSACTIONS,
        "Output transactions (exactly-once) by outcome (committed, aborted, fenced, failed)."
    );
    describe_gauge!(
        READY,
        "1 while a Kafka broker is reachable and state is restored, else 0."
    );
}

/// Exports every counter with a known label set at zero, so that rules and panels on them have
/// a series from the start (as Prometheus advises): snapshot failures, evictions, reloads, transactions,
/// decode errors by reason, and output events by type and each level `model` can give them
/// (its health colours, its risk levels, every fit and engagement cell). Events by source and
/// outcome are exported as each source's counters are made ([`EventCounters::new`]).
pub fn initialize_counters(model: &Model) {
    counter!(SNAPSHOT_FAILURES).increment(0);
    counter!(CUSTOMERS_EVICTED).increment(0);
    for reason in DecodeReason::ALL {
        counter!(DECODE_ERRORS, "reason" => reason.as_str()).increment(0);
    }
    let levels = |bands: &crate::engine::model::Bands| -> Vec<String> {
        (0..bands.len())
            .filter_map(|level| u8::try_from(level).ok())
            .map(|level| bands.name(level).to_string())
            .collect()
    };
    for health in levels(&model.health) {
        counter!(OUTPUT_EVENTS, "type" => "score_changed", "level" => health).increment(0);
    }
    for risk in levels(&model.risk_levels) {
        counter!(OUTPUT_EVENTS, "type" => "churn_risk_alert", "level" => risk).increment(0);
    }
    for freshness in FRESHNESS {
        counter!(CHURN_ALERTS, "freshness" => freshness).increment(0);
    }
    for fit in ['A', 'B', 'C', 'D', 'E'] {
        for engagement in 1..=5 {
            let cell = format!("{fit}{engagement}");
            counter!(OUTPUT_EVENTS, "type" => "expansion_signal", "level" => cell).increment(0);
        }
    }
    for result in ["applied", "rejected"] {
        counter!(MODEL_RELOADS, "result" => result).increment(0);
    }
    for outcome in TRANSACTION_OUTCOMES {
        counter!(TRANSACTIONS, "outcome" => outcome).increment(0);
    }
}

/// The outcomes an output transaction is counted under.
pub const TRANSACTION_OUTCOMES: [&str; 4] = ["committed", "aborted", "fenced", "failed"];

/// Counts one output transaction's commit by its outcome (one of [`TRANSACTION_OUTCOMES`]).
pub fn record_transaction(outcome: &'static str) {
    counter!(TRANSACTIONS, "outcome" => outcome).increment(1);
}

/// Counts customers evicted to keep under `state.max_customers`.
pub fn record_evictions(count: u64) {
    counter!(CUSTOMERS_EVICTED).increment(count);
}

/// Counts one dead letter's reason.
pub fn record_decode_error(reason: &'static str) {
    counter!(DECODE_ERRORS, "reason" => reason).increment(1);
}

/// One input source's `healthscore_events_total` counters by outcome, exported at zero when made
/// and then kept: counting is one atomic add.
pub struct EventCounters {
    by_outcome: [Counter; 4],
    out_of_order: Counter,
}

/// The outcome labels, in the order of [`EventCounters`]' slots.
const OUTCOMES: [&str; 4] = ["applied", "duplicate", "ignored", "dead_lettered"];

impl EventCounters {
    /// The counters of input source `source`, every outcome and its out-of-order count
    /// exported at zero.
    pub fn new(source: &str) -> EventCounters {
        let out_of_order = counter!(EVENTS_OUT_OF_ORDER, "source" => source.to_string());
        out_of_order.increment(0);
        let by_outcome = OUTCOMES.map(|outcome| {
            let counter = counter!(EVENTS, "source" => source.to_string(), "outcome" => outcome);
            counter.increment(0);
            counter
        });
        EventCounters {
            by_outcome,
            out_of_order,
        }
    }

    /// Counts an event applied after a later-stamped one of its partition.
    pub fn out_of_order(&mut self) {
        self.out_of_order.increment(1);
    }

    /// Counts an event the engine took, by what it did with it.
    pub fn event(&mut self, outcome: ApplyOutcome) {
        self.count(match outcome {
            ApplyOutcome::Applied => 0,
            ApplyOutcome::Duplicate => 1,
            ApplyOutcome::Ignored => 2,
        });
    }

    /// Counts a message sent to the dead-letter topic.
    pub fn dead_letter(&mut self) {
        self.count(3);
    }

    fn count(&mut self, slot: usize) {
        if let Some(counter) = self.by_outcome.get(slot) {
            counter.increment(1);
        }
    }
}

/// `healthscore_output_events_total` by type and level, each handle resolved on first use and
/// then kept rather than looked up by name and labels for every output.
#[derive(Default)]
pub struct OutputCounters {
    by_type_and_level: HashMap<&'static str, HashMap<String, Counter>>,
    /// `healthscore_churn_alerts_total`, fresh and stale.
    churn_alerts: [Option<Counter>; 2],
}

impl OutputCounters {
    /// Counts one published output by type and level: the risk level of a churn alert, the
    /// health colour of a score change, the fit/engagement cell of an expansion signal.
    pub fn count(&mut self, output: &OutputEvent) {
        let (kind, level) = match output {
            OutputEvent::ScoreChanged(change) => ("score_changed", &*change.health),
            OutputEvent::ChurnRiskAlert(alert) => {
                let freshness = FRESHNESS[usize::from(alert.stale)];
                self.churn_alerts[usize::from(alert.stale)]
                    .get_or_insert_with(|| counter!(CHURN_ALERTS, "freshness" => freshness))
                    .increment(1);
                ("churn_risk_alert", &*alert.level)
            }
            OutputEvent::ExpansionSignal(signal) => {
                ("expansion_signal", signal.fit_engagement.as_str())
            }
        };
        if let Some(counter) = self
            .by_type_and_level
            .get(kind)
            .and_then(|levels| levels.get(level))
        {
            counter.increment(1);
            return;
        }
        let counter = counter!(OUTPUT_EVENTS, "type" => kind, "level" => level.to_string());
        counter.increment(1);
        self.by_type_and_level
            .entry(kind)
            .or_default()
            .insert(level.to_string(), counter);
    }
}

/// Records the time a batch of `messages` took in `healthscore_processing_duration_seconds`, as
/// that many messages of the average time.
pub fn record_processing(batch: std::time::Duration, messages: u64) {
    if messages > 0 {
        let average = batch.as_secs_f64() / messages as f64;
        histogram!(PROCESSING)
            .record_many(average, usize::try_from(messages).unwrap_or(usize::MAX));
    }
}

/// What the service's gauges show, read once a second.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeReadings {
    /// Customers in memory.
    pub customers: usize,
    /// Customers by the health colour last published.
    pub health: Vec<(String, u64)>,
    /// The event-time watermark of the partition furthest behind.
    pub watermark: EventTime,
    /// Messages not yet processed, per input partition being fetched.
    pub consumer_lag: InputOffsets,
    /// Time since the newest snapshot was written.
    pub snapshot_age: Duration,
    /// Whether the service is ready.
    pub ready: bool,
}

/// Sets every gauge from `readings`, and runs the recorder's upkeep (histogram pruning).
pub fn update_gauges(readings: &GaugeReadings) {
    handle().run_upkeep();
    gauge!(CUSTOMERS).set(readings.customers as f64);
    for (name, count) in &readings.health {
        gauge!(CUSTOMERS_BY_HEALTH, "health" => name.clone()).set(*count as f64);
    }
    if readings.watermark > EventTime::EPOCH {
        let watermark = readings.watermark.millis() as f64 / 1000.0;
        gauge!(WATERMARK).set(watermark);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |elapsed| elapsed.as_secs_f64());
        gauge!(EVENT_TIME_LAG).set((now - watermark).max(0.0));
    }
    for ((topic, partition), lag) in &readings.consumer_lag {
        set_consumer_lag(topic, *partition, *lag);
    }
    gauge!(SNAPSHOT_AGE).set(readings.snapshot_age.as_secs_f64());
    gauge!(READY).set(if readings.ready { 1.0 } else { 0.0 });
}

/// Sets an input partition's consumer lag, in messages.
pub fn set_consumer_lag(topic: &str, partition: i32, lag: i64) {
    gauge!(CONSUMER_LAG, "topic" => topic.to_string(), "partition" => partition.to_string())
        .set(lag as f64);
}

/// Sets an input partition's consumer lag to 0 once this instance no longer reads it (the
/// recorder cannot drop one series).
pub fn clear_consumer_lag(topic: &str, partition: i32) {
    set_consumer_lag(topic, partition, 0);
}

/// Sets the model-version info metric, clearing the previous version's series.
pub fn record_model(version: &str, previous: Option<&str>) {
    if let Some(previous) = previous {
        gauge!(MODEL_INFO, "model_version" => previous.to_string()).set(0.0);
    }
    gauge!(MODEL_INFO, "model_version" => version.to_string()).set(1.0);
}
