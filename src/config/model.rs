//! The scoring model as written in the config file (SPEC section 4). [`crate::engine::Model`]
//! compiles and validates it; these types only describe its shape.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfigDuration;

/// Every part of the config file that defines how customers are scored.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Names this model in every output event; change it whenever the model changes.
    pub model_version: String,
    /// Per-customer state: re-evaluation, expiry, duplicate detection.
    #[serde(default)]
    pub state: StateConfig,
    /// Aggregates kept per customer, by name.
    pub signals: BTreeMap<String, SignalConfig>,
    /// The 0-100 health score and its grade, colour and value tier.
    pub score: ScoreConfig,
    /// The 0..1 churn risk and its levels.
    pub churn: ChurnConfig,
    /// Fit, engagement and adoption, and when a customer is ready for expansion.
    pub expansion: ExpansionConfig,
    /// When output events are worth sending.
    #[serde(default)]
    pub alerting: AlertingConfig,
}

/// Per-customer state settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// How often, in event time, a customer with no new events is scored again, so that silence
    /// and decay show up as `cause: time` changes.
    pub recheck_interval: ConfigDuration,
    /// A customer with no event for this long is dropped from memory.
    pub expire_after: ConfigDuration,
    /// How many recent `event_id`s per customer are remembered to drop repeats (0 turns it off).
    pub dedupe_capacity: usize,
    /// The most customers one instance keeps; past it, the longest-inactive are evicted to make
    /// room. `None`: no cap (only `expire_after` removes customers).
    pub max_customers: Option<usize>,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            recheck_interval: ConfigDuration::days(1),
            expire_after: ConfigDuration::days(400),
            dedupe_capacity: 8,
            max_customers: None,
        }
    }
}

/// How a signal folds its events together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateKind {
    /// Decayed number of events.
    Count,
    /// Decayed sum of a numeric field.
    Sum,
    /// Decayed mean of a numeric field.
    Mean,
    /// The field's value in the latest event.
    Last,
    /// The time of the latest event.
    LastSeen,
    /// How many distinct values of a text field were seen within `window` (at most `max_values`).
    Distinct,
}

/// One signal: which events feed it and how they are aggregated.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignalConfig {
    /// Event types that feed the signal.
    pub types: Vec<String>,
    /// How the events are aggregated.
    pub aggregate: AggregateKind,
    /// The event field aggregated (for `sum`, `mean`, `last` and `distinct`).
    pub field: Option<String>,
    /// Only events whose text fields take one of the listed values, such as `{ page = ["cancel"] }`.
    #[serde(rename = "where", default)]
    pub filter: BTreeMap<String, Vec<String>>,
    /// Time for an event's weight to halve (for `count`, `sum` and `mean`).
    pub half_life: Option<ConfigDuration>,
    /// For `distinct`: how many values are remembered.
    pub max_values: Option<usize>,
    /// For `distinct`: how far back a value still counts.
    pub window: Option<ConfigDuration>,
    /// A sentence for people reading the config or a customer's explanation.
    pub description: Option<String>,
}

/// A lower bound and the name of the band that starts there.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BandConfig {
    /// The band's name, such as "A" or "Strategic".
    pub name: String,
    /// The smallest value in the band.
    pub min: f64,
}

/// Score thresholds for the health colour.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// The lowest green score.
    pub green: f64,
    /// The lowest yellow score; below is red.
    pub yellow: f64,
}

/// Whether tier bounds are scores or population percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TierMode {
    /// `min` is a value of the basis (0-100).
    Absolute,
    /// `min` is a percentile (0-100) of the basis across all customers.
    Percentile,
}

/// Value tiers such as Strategic / Growth / Maintain / Evaluate.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ValueTierConfig {
    /// `score`, or the name of a component.
    pub basis: String,
    /// Absolute thresholds or population percentiles.
    pub mode: TierMode,
    /// The tiers, best first.
    pub tiers: Vec<BandConfig>,
}

/// The 0-100 health score.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreConfig {
    /// Letter grades, best first; the last band takes every lower score.
    pub grades: Vec<BandConfig>,
    /// Health colour thresholds.
    pub health: HealthConfig,
    /// Value tiers.
    pub value_tiers: ValueTierConfig,
    /// How many factors `top_factors` lists.
    #[serde(default = "default_top_factors")]
    pub top_factors: usize,
    /// The components, by name, each a weighted set of measures.
    pub components: BTreeMap<String, ComponentConfig>,
}

fn default_top_factors() -> usize {
    3
}

/// One component of the score (such as engagement).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    /// The component's share of the score, relative to the other components.
    pub weight: f64,
    /// The measures that make up the component.
    pub measures: Vec<MeasureConfig>,
}

/// How a raw input becomes a number from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Normalize {
    /// `[low, high]`: 0 at `low`, 1 at `high`, linear between, clamped (`low > high` inverts).
    Linear([f64; 2]),
    /// `half`: x / (x + half), so 0 at 0, 0.5 at `half`, approaching 1.
    Saturating(f64),
    /// `half`: half / (x + half), so 1 at 0, 0.5 at `half`, approaching 0 (for "too little of").
    InverseSaturating(f64),
}

/// A measure (score) or a factor (churn risk): one input, normalized, weighted.
///
/// Exactly one of `signal`, `ratio`, `trend` and `days_since` names the input.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureConfig {
    /// The name shown in `top_factors` and `reasons`.
    pub name: String,
    /// A signal's value.
    pub signal: Option<String>,
    /// One signal's value divided by another's.
    pub ratio: Option<[String; 2]>,
    /// `[short, long]`: the recent rate against the long baseline, 1.0 when steady, 0 when stopped.
    /// Both signals must be decayed counts or sums of the same events with different half-lives.
    pub trend: Option<[String; 2]>,
    /// Days since a `last_seen` signal's time.
    pub days_since: Option<String>,
    /// How the input maps to 0..1.
    pub normalize: Normalize,
    /// Score measures: the share within the component. Churn factors: the most risk (0..1) the
    /// factor alone can cause.
    pub weight: f64,
    /// Score measures only: a negative indicator subtracts instead of adding.
    #[serde(default)]
    pub negative: bool,
    /// The normalized value when the input is undefined (no data yet); 0 unless set.
    pub missing: Option<f64>,
    /// For a new customer the measure ramps up linearly over this long from its first event, so a
    /// customer a few days old is not judged on what only a long history can show.
    pub ramp_up: Option<ConfigDuration>,
    /// Trend measures: how much silence it takes before a drop counts (see [`TrendEvidence`]).
    pub evidence: Option<TrendEvidence>,
    /// Churn factors: the reason's text; `{value}`, `{percent}`, `{drop_percent}` and `{days}` are
    /// replaced by the input (decimal, as a percentage, as a drop from 1.0 in percent, in days).
    pub detail: Option<String>,
}

/// When a trend's drop is evidence: the customer's own baseline rate must predict `events`
/// events in the time since `last_seen` for the trend to count fully; before that it moves
/// towards its `missing` value in proportion. A customer whose rhythm is sparser than the short
/// signal (an order every three weeks against a 7-day signal) is then not read as dropping
/// between two events, while a daily user silent for a few days is.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrendEvidence {
    /// The `last_seen` signal of the trend's events.
    pub last_seen: String,
    /// The events the baseline rate must predict in the silence, above zero.
    pub events: f64,
}

/// Churn risk levels' lower bounds; below `medium` is `low`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RiskLevelsConfig {
    /// The lowest `medium` risk.
    pub medium: f64,
    /// The lowest `high` risk.
    pub high: f64,
    /// The lowest `critical` risk.
    pub critical: f64,
}

/// The churn-risk model.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChurnConfig {
    /// Level thresholds.
    pub levels: RiskLevelsConfig,
    /// How many reasons an alert lists.
    #[serde(default = "default_top_factors")]
    pub max_reasons: usize,
    /// The factors; risk = 1 - product of (1 - weight * factor).
    pub factors: Vec<MeasureConfig>,
    /// Knots `[raw, calibrated]` of a rising map from that risk to the churn share observed
    /// (written by `healthscore tune`); none means the risk is used as it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calibration: Vec<[f64; 2]>,
}

/// A fit letter from `A` (best) to `E`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
pub enum FitLetter {
    /// Best fit.
    A,
    /// Good fit.
    B,
    /// Average fit.
    C,
    /// Weak fit.
    D,
    /// Poor fit.
    E,
}

/// A numeric lower bound that earns a fit letter.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FitThreshold {
    /// The smallest value that earns the letter.
    pub min: f64,
    /// The letter.
    pub fit: FitLetter,
}

/// The bars a customer must pass to be expansion-ready.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReadyConfig {
    /// The worst fit letter that qualifies.
    pub max_fit: FitLetter,
    /// The worst engagement number (1 best, 5 worst) that qualifies.
    pub max_engagement: u8,
    /// The least adoption (the adoption signal's value) that qualifies.
    pub min_adoption: f64,
    /// The lowest score that qualifies.
    pub min_score: f64,
    /// The highest churn risk level that qualifies.
    pub max_risk_level: String,
}

/// Fit, engagement and adoption (the seeds' "Breadcrumbs" model) and expansion readiness.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExpansionConfig {
    /// Fit letter by `plan` of the profile.
    #[serde(default)]
    pub plan_fit: BTreeMap<String, FitLetter>,
    /// Fit letter by `seats` of the profile, best first.
    #[serde(default)]
    pub seats_fit: Vec<FitThreshold>,
    /// Fit letter by `company_size` of the profile (a number, or text whose first number counts, so
    /// "51-200" is 51), best first.
    #[serde(default)]
    pub company_size_fit: Vec<FitThreshold>,
    /// The fit of a customer whose profile says nothing that decides one.
    pub default_fit: FitLetter,
    /// The component whose score decides the engagement number.
    pub engagement_component: String,
    /// The lowest component score for engagement 1, 2, 3 and 4; below the last is 5.
    pub engagement_levels: [f64; 4],
    /// The signal that measures adoption (such as distinct features used recently).
    pub adoption_signal: String,
    /// The bars for expansion readiness.
    pub ready: ReadyConfig,
}

/// The churn factors exempt from the warm-up when `alerting.warm_up_exempt` is not set: the
/// default model's hard signals (a cancellation request, a failed payment or an overdue invoice,
/// an escalation).
pub const DEFAULT_WARM_UP_EXEMPT: [&str; 3] = [
    "cancellation_requested",
    "payment_trouble",
    "support_escalations",
];

/// When changes are worth an output event.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// The smallest score move, in points, that is worth a `score_changed`.
    pub min_score_change: f64,
    /// Score points a score must pass a grade, colour or tier boundary by before the level changes.
    pub score_hysteresis: f64,
    /// Risk a risk must pass a level boundary by before the level changes.
    pub risk_hysteresis: f64,
    /// The lowest risk level that raises a `churn_risk_alert`.
    pub churn_alert_level: String,
    /// After a churn alert, a rise back to the same level within this time is not alerted again.
    pub churn_cooldown: ConfigDuration,
    /// At most one `expansion_signal` per customer within this time.
    pub expansion_cooldown: ConfigDuration,
    /// A customer younger than this (tenure: since its first event) gets no churn alert: its
    /// history is too short for the factors to mean much. The alert is held, and goes out at
    /// the first evaluation after the warm-up if the risk is still there.
    pub warm_up: ConfigDuration,
    /// The churn factors that raise an alert during the warm-up all the same when they have a
    /// value (hard signals). Unset: those of [`DEFAULT_WARM_UP_EXEMPT`] that the model has, so
    /// a model without them still loads; set: every name must be a churn factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_up_exempt: Option<Vec<String>>,
    /// A churn alert whose event time is more than this behind the head of the input (the
    /// latest event time in it) is published marked `"stale": true` (a backfill's history).
    pub max_age: ConfigDuration,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            min_score_change: 5.0,
            score_hysteresis: 2.0,
            risk_hysteresis: 0.05,
            churn_alert_level: "medium".into(),
            churn_cooldown: ConfigDuration::days(7),
            expansion_cooldown: ConfigDuration::days(30),
            warm_up: ConfigDuration::days(14),
            max_age: ConfigDuration::days(1),
            warm_up_exempt: None,
        }
    }
}
