//! Scoring a customer at a time: components, score, churn risk, engagement, adoption, and the
//! explanations (top factors, reasons) that make every number traceable to its inputs.

use std::sync::Arc;

use smallvec::SmallVec;

use super::aggregate::{self, DecayFactors, SignalValue};
use super::customer::CustomerState;
use super::model::{
    steady_rate, steady_ratio, Evidence, FitCode, Measure, MeasureInput, Model, SignalId,
};
use super::time::EventTime;

/// A customer's numbers at one time (before levels and alerting).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// When the evaluation applies.
    pub at: EventTime,
    /// The health score, 0-100.
    pub score: f64,
    /// Each component's score, 0-100, in model order.
    pub components: SmallVec<[f64; 4]>,
    /// The churn risk, 0..1.
    pub risk: f64,
    /// The engagement number, 1 (most engaged) to 5.
    pub engagement: u8,
    /// The fit code, 1 (A) to 5 (E).
    pub fit: FitCode,
    /// The adoption signal's value.
    pub adoption: f64,
    /// Whether a churn alert would be held: the customer is in its warm-up and no exempt
    /// (hard) factor has a value (`alerting.warm_up`).
    pub churn_alert_held: bool,
}

/// A measure's pull on the score, in points, for `top_factors`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScoreFactor {
    /// The measure's name.
    pub factor: Arc<str>,
    /// Points it moves the score away from 50 (see the README).
    pub impact: f64,
}

/// A reason behind a churn risk or an expansion signal.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Reason {
    /// The factor's name.
    pub factor: Arc<str>,
    /// A sentence with the number behind it.
    pub detail: String,
    /// The factor's share of the risk (churn), or its margin over the bar (expansion).
    pub impact: f64,
}

/// Reads a customer's signals at one time.
pub struct SignalReader<'a> {
    model: &'a Model,
    state: &'a CustomerState,
    factors: DecayFactors,
    at: EventTime,
}

impl<'a> SignalReader<'a> {
    /// A reader of `state` at `at`.
    pub fn new(model: &'a Model, state: &'a CustomerState, at: EventTime) -> SignalReader<'a> {
        SignalReader {
            model,
            state,
            factors: DecayFactors::new(model, state.landmark_millis(), at),
            at,
        }
    }

    /// One signal's value.
    pub fn signal(&self, id: SignalId) -> SignalValue {
        aggregate::read(
            &self.model.signals[usize::from(id)],
            self.state.signal_words(),
            &self.factors,
            self.at,
        )
    }

    fn number(&self, id: SignalId) -> Option<f64> {
        self.signal(id).number()
    }

    /// A measure's raw input, `None` when undefined.
    pub fn input(&self, input: MeasureInput) -> Option<f64> {
        match input {
            MeasureInput::Signal(id) => self.number(id),
            MeasureInput::Ratio(numerator, denominator) => {
                let denominator = self.number(denominator)?;
                (denominator.abs() > 1e-9)
                    .then(|| self.number(numerator).unwrap_or(0.0) / denominator)
            }
            MeasureInput::Trend {
                short,
                long,
                short_half_life_millis,
                long_half_life_millis,
            } => {
                let long = self.number(long)?;
                let tenure = self.at.millis_since(self.state.first_event()) as f64;
                let steady = steady_ratio(short_half_life_millis, long_half_life_millis, tenure);
                (long > 1e-6).then(|| self.number(short).unwrap_or(0.0) / long / steady)
            }
            MeasureInput::DaysSince(id) => match self.signal(id) {
                SignalValue::Time(time) => Some(self.at.days_since(time).max(0.0)),
                _ => None,
            },
        }
    }

    /// A measure's normalized value, 0..1, weighed by its evidence and ramped for new customers.
    pub fn normalized(&self, measure: &Measure) -> f64 {
        self.value_of(measure, self.input(measure.input))
    }

    /// [`Self::normalized`] for an input already read.
    pub fn value_of(&self, measure: &Measure, raw: Option<f64>) -> f64 {
        let value = measure.normalized(raw);
        let value = match measure.evidence {
            Some(evidence) => measure.with_confidence(value, self.confidence(measure, evidence)),
            None => value,
        };
        value * self.ramp(measure)
    }

    /// How far a trend's drop is evidence, 0..1: the events the customer's baseline rate
    /// predicts in its silence since `evidence.last_seen`, over `evidence.events`.
    fn confidence(&self, measure: &Measure, evidence: Evidence) -> f64 {
        let MeasureInput::Trend {
            long,
            long_half_life_millis,
            ..
        } = measure.input
        else {
            return 1.0;
        };
        let SignalValue::Time(last_seen) = self.signal(evidence.last_seen) else {
            return 0.0;
        };
        let tenure = self.at.millis_since(self.state.first_event()) as f64;
        let rate = steady_rate(
            self.number(long).unwrap_or(0.0),
            long_half_life_millis,
            tenure,
        );
        let silence = self.at.millis_since(last_seen).max(0) as f64;
        rate * silence / evidence.events
    }

    /// The measure's ramp-up factor for the customer's tenure (1 once established).
    pub fn ramp(&self, measure: &Measure) -> f64 {
        if measure.ramp_up_millis <= 0 {
            return 1.0;
        }
        let tenure = self.at.millis_since(self.state.first_event()) as f64;
        (tenure / measure.ramp_up_millis as f64).clamp(0.0, 1.0)
    }
}

/// `1 - weight * value` of a churn factor, kept above zero so shares stay finite.
fn survival(measure: &Measure, value: f64) -> f64 {
    (1.0 - measure.weight * value).max(1e-9)
}

/// Whether the customer is younger than the alerting warm-up at `at`.
fn in_warm_up(model: &Model, state: &CustomerState, at: EventTime) -> bool {
    at.millis_since(state.first_event()) < model.alerting.warm_up_millis
}

/// Scores a customer at `at`.
pub fn evaluate(model: &Model, state: &CustomerState, at: EventTime) -> Evaluation {
    let reader = SignalReader::new(model, state, at);
    let components: SmallVec<[f64; 4]> = model
        .components
        .iter()
        .map(|component| {
            let net: f64 = component
                .measures
                .iter()
                .map(|measure| {
                    let signed = measure.weight * reader.normalized(measure);
                    if measure.negative {
                        -signed
                    } else {
                        signed
                    }
                })
                .sum();
            100.0 * (net / component.positive_weight).clamp(0.0, 1.0)
        })
        .collect();
    let score = model
        .components
        .iter()
        .zip(&components)
        .map(|(component, value)| component.weight * value)
        .sum::<f64>()
        / model.component_weight;
    let no_churn: f64 = model
        .churn_factors
        .iter()
        .map(|factor| survival(factor, reader.normalized(factor)))
        .product();
    let engagement = model.engagement_number(components[model.expansion.engagement_component]);
    Evaluation {
        at,
        score,
        components,
        risk: model
            .risk_calibration
            .apply((1.0 - no_churn).clamp(0.0, 1.0)),
        engagement,
        fit: state.fit(model),
        adoption: reader
            .number(model.expansion.adoption_signal)
            .unwrap_or(0.0),
        churn_alert_held: in_warm_up(model, state, at)
            && !model
                .alerting
                .warm_up_exempt
                .iter()
                .filter_map(|index| model.churn_factors.get(*index))
                .any(|factor| reader.normalized(factor) > 0.0),
    }
}

/// Each churn factor's value for a customer at `at`, 0..1 (normalized and ramped), in
/// `churn.factors` order: what the factor's weight multiplies in the risk,
/// `1 - Π (1 - weight · value)`, and what tuning fits the weights to.
pub fn churn_factor_values(model: &Model, state: &CustomerState, at: EventTime) -> Vec<f64> {
    let reader = SignalReader::new(model, state, at);
    model
        .churn_factors
        .iter()
        .map(|factor| reader.normalized(factor))
        .collect()
}

/// The measures that pull the score furthest from 50, strongest first.
///
/// A positive measure's impact is `(value - 0.5) * points` and a negative one's is
/// `-value * points`, where `points` is the most the measure can move the score; so when no
/// component is clamped, the score is exactly 50 plus the sum of all impacts.
pub fn top_factors(model: &Model, state: &CustomerState, at: EventTime) -> Vec<ScoreFactor> {
    let reader = SignalReader::new(model, state, at);
    let measures = model
        .components
        .iter()
        .map(|component| component.measures.len())
        .sum();
    // Sized up front: a filtered iterator's collect would grow the vector step by step.
    let mut factors: Vec<ScoreFactor> = Vec::with_capacity(measures);
    for component in &model.components {
        let share = 100.0 * component.weight / model.component_weight / component.positive_weight;
        for measure in &component.measures {
            let value = reader.normalized(measure);
            let points = share * measure.weight;
            let impact = if measure.negative {
                -value * points
            } else {
                (value - 0.5) * points
            };
            let impact = round_to(impact, 1);
            if impact != 0.0 {
                factors.push(ScoreFactor {
                    factor: measure.name.clone(),
                    impact,
                });
            }
        }
    }
    factors.sort_by(|left, right| right.impact.abs().total_cmp(&left.impact.abs()));
    factors.truncate(model.top_factors);
    factors
}

/// The churn factors behind the risk, largest share first; the shares add up to the risk.
pub fn churn_reasons(model: &Model, state: &CustomerState, at: EventTime) -> Vec<Reason> {
    let reader = SignalReader::new(model, state, at);
    let contributions: Vec<(&Measure, Option<f64>, f64)> = model
        .churn_factors
        .iter()
        .map(|factor| {
            let raw = reader.input(factor.input);
            let value = reader.value_of(factor, raw);
            let log_survival = survival(factor, value).ln();
            (factor, raw, log_survival)
        })
        .collect();
    let total_log: f64 = contributions.iter().map(|(_, _, log)| log).sum();
    let risk = model
        .risk_calibration
        .apply((1.0 - total_log.exp()).clamp(0.0, 1.0));
    if total_log >= 0.0 {
        return Vec::new();
    }
    let mut reasons: Vec<Reason> = contributions
        .into_iter()
        .map(|(factor, raw, log)| Reason {
            factor: factor.name.clone(),
            detail: factor.detail.render(raw),
            impact: round_to(risk * log / total_log, 2),
        })
        .filter(|reason| reason.impact > 0.0)
        .collect();
    reasons.sort_by(|left, right| right.impact.total_cmp(&left.impact));
    reasons.truncate(model.max_reasons);
    reasons
}

/// Rounds to a number of decimals, for output.
pub fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}
