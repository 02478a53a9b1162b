//! The output events of SPEC section 5, serialized as the JSON downstream systems subscribe to.

use std::sync::Arc;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use super::alerts::Cause;
use super::score::{Reason, ScoreFactor};
use super::time::EventTime;

/// Named numbers serialized as a JSON object in their given order (components).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NamedValues(pub Vec<(Arc<str>, f64)>);

impl Serialize for NamedValues {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name.as_ref(), value)?;
        }
        map.end()
    }
}

/// `score_changed`: the score moved enough, or its grade, health or tier changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreChanged {
    /// Deterministic id for deduplication downstream.
    pub event_id: String,
    /// The customer.
    pub customer_id: String,
    /// The event time of the change.
    pub at: EventTime,
    /// The model that scored it.
    pub model_version: Arc<str>,
    /// What caused the change.
    pub cause: Cause,
    /// The new score, 0-100.
    pub score: f64,
    /// The score last sent (null for a first score).
    pub previous_score: Option<f64>,
    /// The letter grade.
    pub grade: String,
    /// The grade last sent.
    pub previous_grade: Option<String>,
    /// `green`, `yellow` or `red`.
    pub health: String,
    /// The health last sent.
    pub previous_health: Option<String>,
    /// The value tier.
    pub value_tier: String,
    /// The tier last sent.
    pub previous_value_tier: Option<String>,
    /// The churn risk, 0..1.
    pub churn_risk: f64,
    /// `low`, `medium`, `high` or `critical`.
    pub risk_level: String,
    /// Fit letter and engagement number, such as `B2`.
    pub fit_engagement: String,
    /// Each component's score.
    pub components: NamedValues,
    /// The measures moving the score most.
    pub top_factors: Vec<ScoreFactor>,
}

/// `churn_risk_alert`: the risk level rose, or cleared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChurnRiskAlert {
    /// Deterministic id for deduplication downstream.
    pub event_id: String,
    /// The customer.
    pub customer_id: String,
    /// The event time of the change.
    pub at: EventTime,
    /// The model that scored it.
    pub model_version: Arc<str>,
    /// What caused the change.
    pub cause: Cause,
    /// The churn risk, 0..1.
    pub risk: f64,
    /// The new level.
    pub level: String,
    /// The level before.
    pub previous_level: String,
    /// The score at the time.
    pub score: f64,
    /// The factors behind the risk.
    pub reasons: Vec<Reason>,
}

/// `expansion_signal`: the customer became expansion-ready.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpansionSignal {
    /// Deterministic id for deduplication downstream.
    pub event_id: String,
    /// The customer.
    pub customer_id: String,
    /// The event time of the change.
    pub at: EventTime,
    /// The model that scored it.
    pub model_version: Arc<str>,
    /// What caused the change.
    pub cause: Cause,
    /// Fit letter and engagement number, such as `A1`.
    pub fit_engagement: String,
    /// The score at the time.
    pub score: f64,
    /// The bars passed.
    pub reasons: Vec<Reason>,
}

/// One output event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputEvent {
    /// See [`ScoreChanged`].
    ScoreChanged(ScoreChanged),
    /// See [`ChurnRiskAlert`].
    ChurnRiskAlert(ChurnRiskAlert),
    /// See [`ExpansionSignal`].
    ExpansionSignal(ExpansionSignal),
}

impl OutputEvent {
    /// The `type` label.
    pub fn kind(&self) -> &'static str {
        match self {
            OutputEvent::ScoreChanged(_) => "score_changed",
            OutputEvent::ChurnRiskAlert(_) => "churn_risk_alert",
            OutputEvent::ExpansionSignal(_) => "expansion_signal",
        }
    }

    /// The customer, which is also the message key.
    pub fn customer_id(&self) -> &str {
        match self {
            OutputEvent::ScoreChanged(event) => &event.customer_id,
            OutputEvent::ChurnRiskAlert(event) => &event.customer_id,
            OutputEvent::ExpansionSignal(event) => &event.customer_id,
        }
    }

    /// The deterministic event id.
    pub fn event_id(&self) -> &str {
        match self {
            OutputEvent::ScoreChanged(event) => &event.event_id,
            OutputEvent::ChurnRiskAlert(event) => &event.event_id,
            OutputEvent::ExpansionSignal(event) => &event.event_id,
        }
    }

    /// The event as one line of JSON.
    pub fn to_json(&self) -> String {
        let mut json = Vec::new();
        self.write_json(&mut json);
        String::from_utf8(json).unwrap_or_default()
    }

    /// Appends the event as one line of JSON to `out` (a buffer reused from event to event).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Serializing these plain structs into memory cannot fail: every map key is a string.
        let _ = serde_json::to_writer(out, self);
    }
}

/// A deterministic event id: the same change of the same customer always gets the same id, so
/// outputs re-sent after a restart can be dropped downstream.
pub fn output_event_id(
    kind: &str,
    customer_id: &str,
    at: EventTime,
    model_version: &str,
    cause: Cause,
    detail: &str,
) -> String {
    let key = format!(
        "{kind}\u{1f}{customer_id}\u{1f}{}\u{1f}{model_version}\u{1f}{}\u{1f}{detail}",
        at.millis(),
        cause.as_str()
    );
    format!("{:016x}", xxh3_64(key.as_bytes()))
}
