//! A customer's present state as one JSON object: a `--state-out` line and `GET /customers/{id}`.

use std::sync::Arc;

use serde::Serialize;

use super::output::NamedValues;
use super::score::{Reason, ScoreFactor};
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
