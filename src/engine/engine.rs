//! The engine: applies events to customers, advances time, and returns the output events.
//!
//! Pure and single-threaded: no I/O, no clock, no locks. The edges (replay files, Kafka) feed it
//! events and an event-time watermark, and decide what to do with the outputs.

use std::sync::Arc;

use super::aggregate::{decode_time, encode_time, SignalValue};
use super::alerts::{self, Cause, Decision, Levels};
use super::customer::{ApplyOutcome, CustomerState};
use super::customers::{CustomerTable, NO_BIN};
use super::event::Event;
use super::expansion;
use super::model::{Model, TierBasis};
use super::output::{
    output_event_id, ChurnRiskAlert, EventId, ExpansionSignal, NamedValues, OutputEvent,
    ScoreChanged,
};
use super::population::{bin_of, Population};
use super::schedule::Schedule;
use super::score::{self, round_to, Evaluation};
use super::state_codec::{layout_fingerprint, StateError};
use super::time::EventTime;
use super::view::{CustomerView, Explanation};
use crate::config::model::TierMode;

/// Customer state for every customer, the schedule of time-caused checks, and the model.
#[derive(Debug, Clone)]
pub struct Engine {
    model: Arc<Model>,
    customers: CustomerTable,
    schedule: Schedule,
    population: Population,
    clock: EventTime,
    expired: u64,
    /// Customers by the health level last sent for them (index: level), for metrics.
    health_counts: Vec<u64>,
}

impl Engine {
    /// An empty engine scoring with `model`.
    pub fn new(model: Arc<Model>) -> Engine {
        Engine {
            model,
            customers: CustomerTable::default(),
            schedule: Schedule::default(),
            population: Population::default(),
            clock: EventTime::EPOCH,
            expired: 0,
            health_counts: Vec::new(),
        }
    }

    /// The model in use.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The event-time watermark: everything due up to here has been evaluated.
    pub fn clock(&self) -> EventTime {
        self.clock
    }

    /// How many customers are in memory.
    pub fn customer_count(&self) -> usize {
        self.customers.len()
    }

    /// How many customers have been dropped for inactivity.
    pub fn expired_count(&self) -> u64 {
        self.expired
    }

    /// The customer table, for the state codec.
    pub(crate) fn customers(&self) -> &CustomerTable {
        &self.customers
    }

    /// The customer table, for the snapshot capture.
    pub(crate) fn customers_mut(&mut self) -> &mut CustomerTable {
        &mut self.customers
    }

    /// Adds a customer restored from saved state, scheduling its next check.
    /// Returns false if the slot is already taken (damaged state).
    pub(crate) fn restore_customer(
        &mut self,
        slot: u32,
        id: &str,
        state: CustomerState,
        population_bin: Option<u16>,
    ) -> bool {
        let next_check = state.next_check;
        let health = sent_health(&state);
        if !self.customers.insert_at(slot, id, state) {
            return false;
        }
        self.count_health(None, health);
        if let Some(bin) = population_bin {
            if let Some(entry) = self.customers.get_mut(slot) {
                entry.population_bin = bin;
            }
            self.population.update(None, Some(bin));
        }
        if next_check != 0 {
            self.schedule.push(next_check, slot);
        }
        true
    }

    /// Sets the clock and expiry count of a restored engine.
    pub(crate) fn restore_clock(&mut self, clock: EventTime, expired: u64) {
        self.clock = clock;
        self.expired = expired;
    }

    /// Every customer id in memory, in no particular order.
    pub fn customer_ids(&self) -> impl Iterator<Item = &str> {
        self.customers.iter().map(|(_, entry)| entry.id.as_ref())
    }

    /// Applies one event and appends the output events it causes to `out`.
    ///
    /// The customer is scored at the later of the watermark and its latest event. Time is not
    /// advanced here: call [`Engine::advance_to`] with the watermark first.
    pub fn apply(&mut self, event: &Event<'_>, out: &mut Vec<OutputEvent>) -> ApplyOutcome {
        let model = Arc::clone(&self.model);
        if model.signals_for(&event.event_type).is_empty() && event.event_type != "profile" {
            return ApplyOutcome::Ignored;
        }
        let slot = match self.customers.find(&event.customer_id) {
            Some(slot) => slot,
            None => self
                .customers
                .insert(&event.customer_id, CustomerState::new(&model, event.time)),
        };
        let Some(entry) = self.customers.get_mut(slot) else {
            return ApplyOutcome::Ignored;
        };
        let outcome = entry.state.apply(&model, event);
        if outcome != ApplyOutcome::Applied {
            return outcome;
        }
        let at = self.clock.max(entry.state.last_event());
        self.evaluate(slot, at, Cause::Event, out);
        if let Some(entry) = self.customers.get_mut(slot) {
            let due = encode_time(at.plus_millis(model.recheck_interval_millis));
            let first = entry.state.next_check == 0;
            entry.state.next_check = due;
            if first {
                self.schedule.push(due, slot);
            }
        }
        outcome
    }

    /// Moves the watermark to `now` (never backwards), evaluating every customer whose check is
    /// due, and dropping customers silent for longer than the model's expiry.
    pub fn advance_to(&mut self, now: EventTime, out: &mut Vec<OutputEvent>) {
        self.clock = self.clock.max(now);
        let now_code = encode_time(self.clock);
        let model = Arc::clone(&self.model);
        while let Some((due, slot)) = self.schedule.pop_due(now_code) {
            let Some(entry) = self.customers.get_mut(slot) else {
                continue;
            };
            if entry.state.next_check != due {
                // An event moved the check later; the entry waits for its new time.
                self.schedule.push(entry.state.next_check.max(due), slot);
                continue;
            }
            let Some(due_time) = decode_time(due) else {
                continue;
            };
            if due_time.millis_since(entry.state.last_event()) >= model.expire_after_millis {
                if let Some(removed) = self.customers.remove(slot) {
                    self.count_health(sent_health(&removed.state), None);
                    let old_bin =
                        (removed.population_bin != NO_BIN).then_some(removed.population_bin);
                    self.population.update(old_bin, None);
                }
                self.expired += 1;
                continue;
            }
            self.evaluate(slot, due_time, Cause::Time, out);
            if let Some(entry) = self.customers.get_mut(slot) {
                let next = encode_time(due_time.plus_millis(model.recheck_interval_millis));
                entry.state.next_check = next;
                self.schedule.push(next, slot);
            }
        }
    }

    /// The value a customer's tier is banded on, updating the population in percentile mode.
    fn tier_value(&mut self, slot: u32, evaluation: &Evaluation) -> f64 {
        let basis = tier_basis(&self.model, evaluation);
        if self.model.tiers.mode == TierMode::Absolute {
            return basis;
        }
        if let Some(entry) = self.customers.get_mut(slot) {
            let old = (entry.population_bin != NO_BIN).then_some(entry.population_bin);
            let new = bin_of(basis);
            entry.population_bin = new;
            self.population.update(old, Some(new));
        }
        self.population.percentile(basis)
    }

    /// Scores one customer, updates what was sent, and appends the outputs worth sending.
    fn evaluate(&mut self, slot: u32, at: EventTime, cause: Cause, out: &mut Vec<OutputEvent>) {
        let model = Arc::clone(&self.model);
        let Some(entry) = self.customers.get(slot) else {
            return;
        };
        let evaluation = score::evaluate(&model, &entry.state, at);
        let tier_value = self.tier_value(slot, &evaluation);
        let Some(entry) = self.customers.get_mut(slot) else {
            return;
        };
        let levels = alerts::levels(&model, &entry.state.alerts, &evaluation, tier_value);
        let health_before = sent_health(&entry.state);
        let decision = alerts::decide(&model, &mut entry.state.alerts, &evaluation, levels);
        let health_after = sent_health(&entry.state);
        if !decision.is_empty() {
            let context = OutputContext {
                model: &model,
                customer_id: &entry.id,
                state: &entry.state,
                evaluation: &evaluation,
                levels,
                cause,
            };
            context.build(decision, out);
        }
        if health_before != health_after {
            self.count_health(health_before, health_after);
        }
    }

    /// Switches to `model` and re-scores every customer from its aggregates at the later of the
    /// watermark and its latest event, appending what changed (cause `model`, the new
    /// `model_version`) to `out`. Refused if the new model lays state out differently: its
    /// aggregates would be read as something else.
    pub fn replace_model(
        &mut self,
        model: Arc<Model>,
        out: &mut Vec<OutputEvent>,
    ) -> Result<(), StateError> {
        if layout_fingerprint(&model) != layout_fingerprint(&self.model) {
            return Err(StateError::LayoutChanged {
                saved: self.model.version.to_string(),
                current: model.version.to_string(),
            });
        }
        self.model = model;
        let slots: Vec<u32> = self.customers.iter().map(|(slot, _)| slot).collect();
        for slot in slots {
            let Some(entry) = self.customers.get(slot) else {
                continue;
            };
            let at = self.clock.max(entry.state.last_event());
            self.evaluate(slot, at, Cause::Model, out);
        }
        Ok(())
    }

    /// Moves one customer between health levels in the counts.
    fn count_health(&mut self, from: Option<u8>, to: Option<u8>) {
        if let Some(count) = from.and_then(|level| self.health_counts.get_mut(usize::from(level))) {
            *count = count.saturating_sub(1);
        }
        if let Some(level) = to {
            let level = usize::from(level);
            if self.health_counts.len() <= level {
                self.health_counts.resize(level + 1, 0);
            }
            self.health_counts[level] += 1;
        }
    }

    /// How many customers are at each health level (by name, best first), as last published.
    pub fn health_distribution(&self) -> Vec<(&str, u64)> {
        let health = &self.model.health;
        (0..health.len())
            .rev()
            .map(|level| {
                let level = level as u8;
                let count = self
                    .health_counts
                    .get(usize::from(level))
                    .copied()
                    .unwrap_or(0);
                (health.name(level), count)
            })
            .collect()
    }

    /// A customer's numbers at `at` (default: the later of the watermark and its latest event),
    /// unrounded, without changing anything.
    pub fn evaluation(&self, customer_id: &str, at: Option<EventTime>) -> Option<Evaluation> {
        let entry = self.customers.get(self.customers.find(customer_id)?)?;
        let at = at.unwrap_or_else(|| self.clock.max(entry.state.last_event()));
        Some(score::evaluate(&self.model, &entry.state, at))
    }

    /// A customer's present state at `at` (default: the later of the watermark and its latest
    /// event), without changing anything; `explain` adds factors and reasons.
    pub fn view(
        &self,
        customer_id: &str,
        at: Option<EventTime>,
        explain: bool,
    ) -> Option<CustomerView> {
        let model = &*self.model;
        let entry = self.customers.get(self.customers.find(customer_id)?)?;
        let state = &entry.state;
        let at = at.unwrap_or_else(|| self.clock.max(state.last_event()));
        let evaluation = score::evaluate(model, state, at);
        let basis = tier_basis(model, &evaluation);
        let tier_value = match model.tiers.mode {
            TierMode::Absolute => basis,
            TierMode::Percentile => self.population.percentile(basis),
        };
        let levels = alerts::levels(model, &state.alerts, &evaluation, tier_value);
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
            expansion_ready: expansion::is_ready(model, &evaluation, levels.risk),
            expansion_reasons: expansion::reasons(model, &evaluation),
        });
        Some(CustomerView {
            customer_id: entry.id.to_string(),
            at,
            model_version: Arc::clone(&model.version),
            score: round_to(evaluation.score, 1),
            grade: model.grades.name(levels.grade).to_string(),
            health: model.health.name(levels.health).to_string(),
            value_tier: model.tiers.bands.name(levels.tier).to_string(),
            churn_risk: round_to(evaluation.risk, 2),
            risk_level: model.risk_levels.name(levels.risk).to_string(),
            fit_engagement: expansion::fit_engagement(&evaluation),
            components: component_values(model, &evaluation),
            signals,
            explanation,
        })
    }
}

/// The number a customer's value tier is banded on: the score or one component.
/// The health level last published for a customer, if any was.
fn sent_health(state: &CustomerState) -> Option<u8> {
    state.alerts.sent_score.map(|_| state.alerts.health)
}

fn tier_basis(model: &Model, evaluation: &Evaluation) -> f64 {
    match model.tiers.basis {
        TierBasis::Score => evaluation.score,
        TierBasis::Component(index) => evaluation.components[index],
    }
}

fn component_values(model: &Model, evaluation: &Evaluation) -> NamedValues {
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
struct OutputContext<'a> {
    model: &'a Model,
    customer_id: &'a str,
    state: &'a CustomerState,
    evaluation: &'a Evaluation,
    levels: Levels,
    cause: Cause,
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

    fn build(&self, decision: Decision, out: &mut Vec<OutputEvent>) {
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
