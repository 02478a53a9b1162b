//! A customer's present state as one JSON object: a `--state-out` line and `GET /customers/{id}`.

use std::sync::Arc;

use serde::Serialize;

use super::aggregate::SignalValue;
use super::alerts;
use super::customer::CustomerEntry;
use super::expansion;
use super::model::Model;
use super::output::NamedValues;
use super::output_build::component_values;
use super::score::{self, round_to, Evaluation, Reason, ScoreFactor};
use super::time::EventTime;

/// The present state of one customer (the fields of `score_changed` that describe the present,
/// plus every signal by name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerView {
    /// The customer.
    pub customer_id: String,
    /// The time the view describes.
    pub at: EventTime,
    /// The model that scored it.
    pub model_version: Arc<str>,
    /// The score, 0-100.
    pub score: f64,
    /// The letter grade.
    pub grade: String,
    /// `green`, `yellow` or `red`.
    pub health: String,
    /// The value tier.
    pub value_tier: String,
    /// The churn risk, 0..1.
    pub churn_risk: f64,
    /// The risk level.
    pub risk_level: String,
    /// Fit letter and engagement number.
    pub fit_engagement: String,
    /// Each component's score.
    pub components: NamedValues,
    /// Every signal's value as of `at` (numbers, RFC 3339 times, or null for no data).
    pub signals: serde_json::Map<String, serde_json::Value>,
    /// What the service adds to explain the numbers (HTTP only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Explanation>,
}

/// Why the customer scores as it does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The latest event seen for the customer.
    pub last_event: EventTime,
    /// The measures moving the score most.
    pub top_factors: Vec<ScoreFactor>,
    /// The factors behind the churn risk.
    pub churn_reasons: Vec<Reason>,
    /// Whether every expansion bar is passed.
    pub expansion_ready: bool,
    /// The expansion bars and how the customer stands against them.
    pub expansion_reasons: Vec<Reason>,
}

/// The view of `entry` at `evaluation.at`, given its tier basis value (or that value's
/// percentile, in percentile mode).
pub fn build(
    model: &Model,
    entry: &CustomerEntry,
    evaluation: &Evaluation,
    tier_value: f64,
    explain: bool,
) -> CustomerView {
    let state = &entry.state;
    let at = evaluation.at;
    let levels = alerts::levels(model, &state.alerts, evaluation, tier_value);
    let reader = score::SignalReader::new(model, state, at);
    let signals = model
        .signals
        .iter()
        .enumerate()
        .map(|(id, signal)| {
            let value = match reader.signal(id as u16) {
                SignalValue::Number(number) => serde_json::json!(round_to(number, 6)),
                SignalValue::Time(time) => serde_json::json!(time.to_string()),
                SignalValue::Missing => serde_json::Value::Null,
            };
            (signal.name.to_string(), value)
        })
        .collect();
    let explanation = explain.then(|| Explanation {
        last_event: state.last_event(),
        top_factors: score::top_factors(model, state, at),
        churn_reasons: score::churn_reasons(model, state, at),
        expansion_ready: expansion::is_ready(model, evaluation, levels.risk),
        expansion_reasons: expansion::reasons(model, evaluation),
    });
    CustomerView {
        customer_id: entry.id.to_string(),
        at,
        model_version: Arc::clone(&model.version),
        score: round_to(evaluation.score, 1),
        grade: model.grades.name(levels.grade).to_string(),
        health: model.health.name(levels.health).to_string(),
        value_tier: model.tiers.bands.name(levels.tier).to_string(),
        churn_risk: round_to(evaluation.risk, 2),
        risk_level: model.risk_levels.name(levels.risk).to_string(),
        fit_engagement: expansion::fit_engagement(evaluation),
        components: component_values(model, evaluation),
        signals,
        explanation,
    }
}
