//! The output events of SPEC section 5, serialized as the JSON downstream systems subscribe to.

use std::fmt;
use std::sync::Arc;

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use xxhash_rust::xxh3::Xxh3;

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
    pub event_id: EventId,
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
    pub grade: Arc<str>,
    /// The grade last sent.
    pub previous_grade: Option<Arc<str>>,
    /// `green`, `yellow` or `red`.
    pub health: Arc<str>,
    /// The health last sent.
    pub previous_health: Option<Arc<str>>,
    /// The value tier.
    pub value_tier: Arc<str>,
    /// The tier last sent.
    pub previous_value_tier: Option<Arc<str>>,
    /// The churn risk, 0..1.
    pub churn_risk: f64,
    /// `low`, `medium`, `high` or `critical`.
    pub risk_level: Arc<str>,
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
    pub event_id: EventId,
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
    pub level: Arc<str>,
    /// The level before.
    pub previous_level: Arc<str>,
    /// The score at the time.
    pub score: f64,
    /// The factors behind the risk.
    pub reasons: Vec<Reason>,
    /// Its event time is more than `alerting.max_age` behind the head of the input: history
    /// (a backfill), not news. Written only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// `expansion_signal`: the customer became expansion-ready.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpansionSignal {
    /// Deterministic id for deduplication downstream.
    pub event_id: EventId,
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
    pub fn event_id(&self) -> EventId {
        match self {
            OutputEvent::ScoreChanged(event) => event.event_id,
            OutputEvent::ChurnRiskAlert(event) => event.event_id,
            OutputEvent::ExpansionSignal(event) => event.event_id,
        }
    }
}

/// Why a customer was evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// An input event.
    Event,
    /// Time passing alone (decay, inactivity).
    Time,
    /// A model change.
    Model,
}

impl Cause {
    /// The label used in outputs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Event => "event",
            Cause::Time => "time",
            Cause::Model => "model",
        }
    }
}

/// A deterministic output event id, written as 16 hexadecimal digits: the same change of the same
/// customer always gets the same id, so outputs re-sent after a restart can be dropped
/// downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId(pub u64);

impl EventId {
    /// The id as its 16 lowercase hexadecimal digits.
    pub(crate) fn digits(self) -> [u8; 16] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [0u8; 16];
        for (place, digit) in digits.iter_mut().enumerate() {
            *digit = HEX[((self.0 >> (60 - 4 * place)) & 0xf) as usize];
        }
        digits
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.digits();
        formatter.write_str(std::str::from_utf8(&digits).map_err(|_| fmt::Error)?)
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let digits = self.digits();
        // Hexadecimal digits are ASCII.
        serializer.serialize_str(std::str::from_utf8(&digits).unwrap_or_default())
    }
}

/// Feeds formatted text straight into a hash, without building the string.
struct HashWriter<'a>(&'a mut Xxh3);

impl fmt::Write for HashWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.update(text.as_bytes());
        Ok(())
    }
}

/// The event id of an output: the XXH3 hash of its kind, customer, time (epoch milliseconds),
/// model version, cause and `detail` (such as the new score or level), separated by the unit
/// separator U+001F. `detail` is formatted straight into the hash.
pub fn output_event_id(
    kind: &str,
    customer_id: &str,
    at: EventTime,
    model_version: &str,
    cause: Cause,
    detail: impl fmt::Display,
) -> EventId {
    use std::fmt::Write;
    let mut hasher = Xxh3::new();
    // Writing into a hash cannot fail.
    let _ = write!(
        HashWriter(&mut hasher),
        "{kind}\u{1f}{customer_id}\u{1f}{}\u{1f}{model_version}\u{1f}{}\u{1f}{detail}",
        at.millis(),
        cause.as_str()
    );
    EventId(hasher.digest())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_is_the_hash_of_its_parts_joined_by_unit_separators_in_16_hex_digits() {
        let at = EventTime::from_millis(1_772_366_400_000).unwrap();
        let id = output_event_id("score_changed", "acme", at, "v1", Cause::Event, 71.5);
        let joined = "score_changed\u{1f}acme\u{1f}1772366400000\u{1f}v1\u{1f}event\u{1f}71.5";
        let expected = xxhash_rust::xxh3::xxh3_64(joined.as_bytes());
        assert_eq!(id, EventId(expected));
        assert_eq!(id.to_string(), format!("{expected:016x}"));
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            format!("\"{expected:016x}\"")
        );
        assert_eq!(EventId(0xab).to_string(), "00000000000000ab");
    }
}
