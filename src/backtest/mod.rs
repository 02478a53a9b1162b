//! Backtesting a model against real outcomes (`healthscore evaluate`, `healthscore tune`): every
//! customer scored at a time from the events before it, with three simple baselines beside the
//! model, then compared with who churned. Pure: the caller reads the files.
//!
//! - [`Backtest`] (this file): applies events and scores every customer at the time.
//! - [`AlertLog`] (`alert_log.rs`): the churn alerts raised on the way, and what they were worth.
//! - [`labels`]: who churned, from outcome events or from inactivity after the time.
//! - [`metrics`]: ROC AUC and curve, top-decile precision and lift, calibration by decile.
//! - [`report`](Report): the figures of one backtest, as text or JSON.
//! - [`plot`]: the ROC curves and calibration diagram as SVG.

mod alert_log;
pub mod labels;
pub mod metrics;
pub mod plot;
mod report;

use std::collections::HashMap;
use std::sync::Arc;

pub use alert_log::{AlertLog, AlertPrecision, LevelPrecision};
pub use report::Report;

use crate::engine::{ApplyOutcome, Engine, Event, EventTime, Model};

/// The window before the scoring time whose churn alerts count, by default (30 days).
pub const DEFAULT_ALERT_WINDOW_MILLIS: i64 = 30 * 86_400_000;

/// Half-life of the decayed-count baseline.
const BASELINE_HALF_LIFE_DAYS: f64 = 30.0;

/// The baselines, by name: what a data team would try first.
pub const BASELINES: [&str; 3] = ["days_since_last_event", "event_count", "events_decayed_30d"];

/// What the baselines need per customer.
#[derive(Debug, Default, Clone, Copy)]
struct Activity {
    last: EventTime,
    count: u64,
    /// Events weighted by 2^((t - at) / 30 days).
    decayed_30d: f64,
}

/// A model fed the events before a time, and the baselines' counts beside it.
pub struct Backtest {
    engine: Engine,
    at: EventTime,
    activity: HashMap<String, Activity>,
    alerts: AlertLog,
}

/// Every customer with events before the time, scored at it; all vectors in `ids` order.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The time scored at.
    pub at: EventTime,
    /// Customer ids, sorted.
    pub ids: Vec<String>,
    /// The model's churn risk.
    pub risks: Vec<f64>,
    /// The model's score.
    pub scores: Vec<f64>,
    /// Each churn factor's value (in `churn.factors` order), what tuning fits weights to.
    pub factor_values: Vec<Vec<f64>>,
    /// Each baseline's prediction (higher: more likely to churn), in [`BASELINES`] order.
    pub baselines: [Vec<f64>; 3],
    /// The churn alerts raised before the time.
    pub alerts: AlertLog,
}

impl Backtest {
    /// A backtest of `model` at `at`, counting the churn alerts of the 30 days before it.
    pub fn new(model: Arc<Model>, at: EventTime) -> Backtest {
        Backtest::with_alert_window(model, at, DEFAULT_ALERT_WINDOW_MILLIS)
    }

    /// A backtest of `model` at `at`, counting the churn alerts of the `window_millis` before it.
    pub fn with_alert_window(model: Arc<Model>, at: EventTime, window_millis: i64) -> Backtest {
        Backtest {
            alerts: AlertLog::new(&model, at, window_millis),
            engine: Engine::new(model),
            at,
            activity: HashMap::new(),
        }
    }

    /// Applies `event` if it is before the time (later ones are what the outcome is).
    pub fn apply(&mut self, event: &Event<'_>, outputs: &mut Vec<crate::engine::OutputEvent>) {
        if event.time >= self.at {
            return;
        }
        if self.engine.ingest(event, outputs) == ApplyOutcome::Applied {
            let entry = self
                .activity
                .entry(event.customer_id.to_string())
                .or_default();
            entry.last = entry.last.max(event.time);
            entry.count += 1;
            entry.decayed_30d += (-self.at.days_since(event.time) / BASELINE_HALF_LIFE_DAYS).exp2();
            self.alerts.saw_event(event.time);
        }
        self.record(outputs);
    }

    /// Logs the alerts among `outputs`, leaving it empty.
    fn record(&mut self, outputs: &mut Vec<crate::engine::OutputEvent>) {
        for output in outputs.iter() {
            self.alerts.record(output);
        }
        outputs.clear();
    }

    /// Scores every customer at the time.
    pub fn finish(mut self) -> Scored {
        let mut outputs = Vec::new();
        self.engine.advance_to(self.at, &mut outputs);
        self.record(&mut outputs);
        let mut ids: Vec<String> = self.engine.customer_ids().map(str::to_string).collect();
        ids.sort_unstable();
        let mut scored = Scored {
            at: self.at,
            ids: Vec::with_capacity(ids.len()),
            risks: Vec::with_capacity(ids.len()),
            scores: Vec::with_capacity(ids.len()),
            factor_values: Vec::with_capacity(ids.len()),
            baselines: Default::default(),
            alerts: self.alerts,
        };
        for id in ids {
            let (Some(evaluation), Some(values)) = (
                self.engine.evaluation(&id, Some(self.at)),
                self.engine.churn_factor_values(&id, self.at),
            ) else {
                continue;
            };
            let seen = self.activity.get(&id).copied().unwrap_or_default();
            scored.risks.push(evaluation.risk);
            scored.scores.push(evaluation.score);
            scored.factor_values.push(values);
            scored.baselines[0].push(self.at.days_since(seen.last));
            scored.baselines[1].push(-(seen.count as f64));
            scored.baselines[2].push(-seen.decayed_30d);
            scored.ids.push(id);
        }
        scored
    }
}

/// Scores `model` at `at` from `events` (in any order; those at or after `at` are skipped).
pub fn score_at<'e, 'd: 'e>(
    model: Arc<Model>,
    events: impl IntoIterator<Item = &'e Event<'d>>,
    at: EventTime,
) -> Scored {
    let mut backtest = Backtest::new(model, at);
    let mut outputs = Vec::new();
    for event in events {
        backtest.apply(event, &mut outputs);
    }
    backtest.finish()
}
