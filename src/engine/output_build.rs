//! The output events of one evaluation: `score_changed`, `churn_risk_alert` and
//! `expansion_signal` built from what the alert decision asks for.

use std::sync::Arc;

use super::alerts::{Decision, Levels};
use super::customer::CustomerState;
use super::expansion;
use super::model::Model;
use super::output::{
    output_event_id, Cause, ChurnRiskAlert, EventId, ExpansionSignal, NamedValues, OutputEvent,
    ScoreChanged,
};
use super::score::{self, round_to, Evaluation};
use super::time::EventTime;

/// The components' values as published, rounded to one decimal.
pub fn component_values(model: &Model, evaluation: &Evaluation) -> NamedValues {
    NamedValues(
        model
            .components
            .iter()
            .zip(&evaluation.components)
            .map(|(component, value)| (Arc::clone(&component.name), round_to(*value, 1)))
            .collect(),
    )
}

/// Everything needed to build the output events of one evaluation.
pub struct OutputContext<'a> {
    /// The model that evaluated.
    pub model: &'a Model,
    /// The customer.
    pub customer_id: &'a str,
    /// Its state.
    pub state: &'a CustomerState,
    /// The evaluation.
    pub evaluation: &'a Evaluation,
    /// Its levels.
    pub levels: Levels,
    /// Why it was evaluated.
    pub cause: Cause,
    /// A churn alert with an event time before this is stale (the head of the input less
    /// `alerting.max_age`).
    pub stale_before: EventTime,
}

impl OutputContext<'_> {
    fn event_id(&self, kind: &str, detail: impl std::fmt::Display) -> EventId {
        output_event_id(
            kind,
            self.customer_id,
            self.evaluation.at,
            &self.model.version,
            self.cause,
            detail,
        )
    }

    /// Appends the output events that `decision` asks for to `out`.
    pub fn build(&self, decision: Decision, out: &mut Vec<OutputEvent>) {
        let model = self.model;
        let evaluation = self.evaluation;
        let levels = self.levels;
        let score = round_to(evaluation.score, 1);
        let risk = round_to(evaluation.risk, 2);
        if let Some(previous) = decision.score_changed {
            out.push(OutputEvent::ScoreChanged(ScoreChanged {
                event_id: self.event_id("score_changed", score),
                customer_id: self.customer_id.to_string(),
                at: evaluation.at,
                model_version: Arc::clone(&model.version),
                cause: self.cause,
                score,
                previous_score: previous.map(|previous| round_to(previous.score, 1)),
                grade: model.grades.shared_name(levels.grade),
                previous_grade: previous.map(|previous| model.grades.shared_name(previous.grade)),
                health: model.health.shared_name(levels.health),
                previous_health: previous.map(|previous| model.health.shared_name(previous.health)),
                value_tier: model.tiers.bands.shared_name(levels.tier),
                previous_value_tier: previous
                    .map(|previous| model.tiers.bands.shared_name(previous.tier)),
                churn_risk: risk,
                risk_level: model.risk_levels.shared_name(levels.risk),
                fit_engagement: expansion::fit_engagement(evaluation),
                components: component_values(model, evaluation),
                top_factors: score::top_factors(model, self.state, evaluation.at),
            }));
        }
        if let Some(previous_level) = decision.churn_alert {
            let level = model.risk_levels.shared_name(levels.risk);
            out.push(OutputEvent::ChurnRiskAlert(ChurnRiskAlert {
                event_id: self.event_id("churn_risk_alert", &level),
                customer_id: self.customer_id.to_string(),
                at: evaluation.at,
                model_version: Arc::clone(&model.version),
                cause: self.cause,
                risk,
                level,
                previous_level: model.risk_levels.shared_name(previous_level),
                score,
                reasons: score::churn_reasons(model, self.state, evaluation.at),
                stale: evaluation.at < self.stale_before,
            }));
        }
        if decision.expansion {
            out.push(OutputEvent::ExpansionSignal(ExpansionSignal {
                event_id: self.event_id("expansion_signal", ""),
                customer_id: self.customer_id.to_string(),
                at: evaluation.at,
                model_version: Arc::clone(&model.version),
                cause: self.cause,
                fit_engagement: expansion::fit_engagement(evaluation),
                score,
                reasons: expansion::reasons(model, evaluation),
            }));
        }
    }
}
