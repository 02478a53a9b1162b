//! The engine: applies events to customers, advances time, and returns the output events.
//!
//! Pure and single-threaded: no I/O, no clock, no locks. The edges (replay files, Kafka) feed it
//! events and an event-time watermark, and decide what to do with the outputs.

use std::sync::Arc;

use super::alerts;
use super::binary::{BinaryError, Reader, Writer};
use super::customer::{ApplyOutcome, CustomerEntry, CustomerState, NO_BIN};
use super::customer_table::CustomerTable;
use super::event::Event;
use super::eviction::EvictionQueue;
use super::model::{Model, TierBasis};
use super::output::{Cause, OutputEvent};
use super::output_build::OutputContext;
use super::population::{bin_of, Population};
use super::schedule::Schedule;
use super::score::{self, Evaluation};
use super::state_bytes::{self, layout_fingerprint, StateError, StateHeader};
use super::time::{EventTime, TimeCode};
use super::view::{self, CustomerView};
use crate::config::model::TierMode;

/// Customer state for every customer, the schedule of time-caused checks, and the model.
#[derive(Debug, Clone)]
pub struct Engine {
    model: Arc<Model>,
    customers: CustomerTable,
    schedule: Schedule,
    population: Population,
    clock: EventTime,
    /// The latest event time known to be in the input, ahead of the clock when the edge looked
    /// (the end of its partitions or files); churn alerts far behind it are stale.
    head: EventTime,
    expired: u64,
    /// Customers by their latest event, when the model caps them (`state.max_customers`).
    eviction: Option<EvictionQueue>,
    /// Customers evicted to keep under the cap, since this engine was made or restored.
    evicted: u64,
    /// Customers by the health level last sent for them (index: level), for metrics.
    health_counts: Vec<u64>,
}

impl Engine {
    /// An empty engine scoring with `model`.
    pub fn new(model: Arc<Model>) -> Engine {
        Engine {
            eviction: model.max_customers.map(|_| EvictionQueue::default()),
            evicted: 0,
            model,
            customers: CustomerTable::default(),
            schedule: Schedule::default(),
            population: Population::default(),
            clock: EventTime::EPOCH,
            head: EventTime::EPOCH,
            expired: 0,
            health_counts: Vec::new(),
        }
    }

    /// Notes that the input holds events up to `head` (the edge read its end): churn alerts more
    /// than `alerting.max_age` behind it are marked stale. The head never moves back, and moves
    /// on with the clock.
    pub fn note_head(&mut self, head: EventTime) {
        self.head = self.head.max(head);
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

    /// Every customer id in memory, in no particular order.
    pub fn customer_ids(&self) -> impl Iterator<Item = &str> {
        self.customers.iter().map(|(_, entry)| entry.id.as_ref())
    }

    /// Moves time to the event's time (never backwards, [`Engine::advance_to`]), then applies
    /// it: the one step for each input event. Appends the outputs both cause to `out`.
    pub fn ingest(&mut self, event: &Event<'_>, out: &mut Vec<OutputEvent>) -> ApplyOutcome {
        self.advance_to(event.time, out);
        self.apply(event, out)
    }

    /// Applies one event without moving time, and appends the output events it causes to `out`.
    /// The customer is scored at the later of the watermark and its latest event.
    fn apply(&mut self, event: &Event<'_>, out: &mut Vec<OutputEvent>) -> ApplyOutcome {
        let model = Arc::clone(&self.model);
        if model.signals_for(&event.event_type).is_empty() && event.event_type != "profile" {
            return ApplyOutcome::Ignored;
        }
        let slot = match self.customers.find(&event.customer_id) {
            Some(slot) => slot,
            None => {
                let slot = self
                    .customers
                    .insert(&event.customer_id, CustomerState::new(&model, event.time));
                if let Some(eviction) = &mut self.eviction {
                    eviction.push(TimeCode::of(event.time), slot);
                }
                slot
            }
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
            let due = TimeCode::of(at.plus_millis(model.recheck_interval_millis));
            let first = entry.state.next_check.is_never();
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
        let now_code = TimeCode::of(self.clock);
        let model = Arc::clone(&self.model);
        while let Some((due, slot)) = self.schedule.pop_due(now_code) {
            let Some(entry) = self.customers.get_mut(slot) else {
                continue;
            };
            let next_check = entry.state.next_check;
            if next_check.is_never() {
                // A customer never scored has no check yet.
                continue;
            }
            if next_check > due {
                // An event moved the check later: the entry waits for its new time (if it
                // stands for a customer evicted from this slot, it merges with the new
                // customer's own entry there).
                self.schedule.push(next_check, slot);
                continue;
            }
            // Due now. A check earlier than its entry (the heap pops in order, so the customer
            // has no entry of its own: the recheck interval shrank across a restart) is done
            // now, late, rather than lost.
            let Some(due_time) = due.time() else {
                continue;
            };
            if due_time.millis_since(entry.state.last_event()) >= model.expire_after_millis {
                self.remove_customer(slot);
                self.expired += 1;
                continue;
            }
            self.evaluate(slot, due_time, Cause::Time, out);
            if let Some(entry) = self.customers.get_mut(slot) {
                let next = TimeCode::of(due_time.plus_millis(model.recheck_interval_millis));
                entry.state.next_check = next;
                self.schedule.push(next, slot);
            }
        }
    }

    /// Drops the customer in `slot` from memory, and from the health counts and population.
    fn remove_customer(&mut self, slot: u32) {
        if let Some(removed) = self.customers.remove(slot) {
            self.count_health(sent_health(&removed.state), None);
            let old_bin = (removed.population_bin != NO_BIN).then_some(removed.population_bin);
            self.population.update(old_bin, None);
        }
    }

    /// The latest event time of the customer inactive longest, when the model caps customers
    /// (`state.max_customers`); `None` without a cap or customers.
    pub(crate) fn least_recent(&mut self) -> Option<TimeCode> {
        let eviction = self.eviction.as_mut()?;
        eviction
            .least_recent(&self.customers)
            .map(|(last_event, _)| last_event)
    }

    /// Evicts the customer inactive longest (see [`Engine::least_recent`]); false when there
    /// is none to evict. Its state is gone: if it comes back, it starts afresh.
    pub(crate) fn evict_least_recent(&mut self) -> bool {
        let Some(eviction) = self.eviction.as_mut() else {
            return false;
        };
        let Some((_, slot)) = eviction.least_recent(&self.customers) else {
            return false;
        };
        eviction.pop();
        self.remove_customer(slot);
        self.evicted += 1;
        // The evicted customers' schedule entries wait for their time; past a customer each
        // beyond the customers held, they are cleared out at once.
        if self.schedule.len() > 2 * self.customers.len() + 1024 {
            let entries: Vec<(TimeCode, u32)> = self
                .customers
                .iter()
                .map(|(slot, entry)| (entry.state.next_check, slot))
                .filter(|(next_check, _)| !next_check.is_never())
                .collect();
            self.schedule.rebuild(entries.into_iter());
        }
        true
    }

    /// Evicts the longest-inactive customers until at most the model's `state.max_customers`
    /// remain (a lone engine; [`super::PartitionedEngines`] caps all its engines together).
    /// Returns how many were evicted; 0 without a cap.
    pub fn evict_beyond_cap(&mut self) -> u64 {
        let Some(limit) = self.model.max_customers else {
            return 0;
        };
        let mut evicted = 0;
        while self.customer_count() > limit && self.evict_least_recent() {
            evicted += 1;
        }
        evicted
    }

    /// Customers evicted to keep under `state.max_customers`, since this engine was made or
    /// restored.
    pub fn evicted_count(&self) -> u64 {
        self.evicted
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
                stale_before: self
                    .head
                    .max(self.clock)
                    .plus_millis(-model.alerting.max_age_millis),
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
        if model.max_customers.is_some() != self.eviction.is_some() {
            self.eviction = model.max_customers.map(|_| {
                let mut eviction = EvictionQueue::default();
                for (slot, entry) in self.customers.iter() {
                    eviction.push(TimeCode::of(entry.state.last_event()), slot);
                }
                eviction
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

    /// A customer's churn factor values at `at`, in `churn.factors` order (see
    /// `score::churn_factor_values`); `None` for a customer not in memory.
    pub fn churn_factor_values(&self, customer_id: &str, at: EventTime) -> Option<Vec<f64>> {
        let entry = self.customers.get(self.customers.find(customer_id)?)?;
        Some(score::churn_factor_values(&self.model, &entry.state, at))
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
        let at = at.unwrap_or_else(|| self.clock.max(entry.state.last_event()));
        let evaluation = score::evaluate(model, &entry.state, at);
        let basis = tier_basis(model, &evaluation);
        let tier_value = match model.tiers.mode {
            TierMode::Absolute => basis,
            TierMode::Percentile => self.population.percentile(basis),
        };
        Some(view::build(model, entry, &evaluation, tier_value, explain))
    }

    /// Appends the engine's state to `writer`, all at once.
    pub fn encode_state(&self, writer: &mut Writer) {
        state_bytes::write_header(writer, &self.model, &self.state_header());
        for (slot, entry) in self.customers.iter() {
            state_bytes::write_customer(writer, slot, entry);
        }
    }

    /// Starts a snapshot of the state as it is now, taken in steps by
    /// [`Engine::snapshot_step`] while events go on being applied. False if one is in progress.
    pub fn begin_snapshot(&mut self) -> bool {
        if self.customers.is_capturing() {
            return false;
        }
        let mut writer = Writer::default();
        state_bytes::write_header(&mut writer, &self.model, &self.state_header());
        // Room for every customer up front: growing a buffer of hundreds of megabytes would copy
        // it inside one step. The pages are only touched as the steps fill them.
        let room = state_bytes::estimated_bytes(&self.model, self.customer_count());
        writer.bytes.reserve(room);
        self.customers.begin_capture(writer)
    }

    /// Whether a snapshot begun by [`Engine::begin_snapshot`] is still being taken.
    pub fn is_snapshotting(&self) -> bool {
        self.customers.is_capturing()
    }

    /// Encodes up to `customers` more customers of the snapshot in progress. Returns the
    /// snapshot's bytes (as [`Engine::encode_state`] would have given when it began) once done.
    pub fn snapshot_step(&mut self, customers: usize) -> Option<Vec<u8>> {
        self.customers.capture_step(customers)
    }

    /// Rebuilds an engine from bytes written by [`Engine::encode_state`].
    pub fn decode_state(model: Arc<Model>, bytes: &[u8]) -> Result<Engine, StateError> {
        let mut reader = Reader::new(bytes);
        let header = state_bytes::read_header(&mut reader, &model)?;
        let mut engine = Engine::new(Arc::clone(&model));
        for _ in 0..header.customers {
            let at = reader.position();
            let (slot, entry) = state_bytes::read_customer(&mut reader, &model, header.slot_count)?;
            if !engine.restore_customer(slot, entry) {
                let what = "repeated customer slot";
                return Err(BinaryError::Invalid { what, at }.into());
            }
        }
        if !reader.is_done() {
            let at = reader.position();
            return Err(BinaryError::Invalid {
                what: "trailing bytes",
                at,
            }
            .into());
        }
        engine.clock = header.clock;
        engine.expired = header.expired;
        if !engine
            .customers
            .restore_layout(header.slot_count, header.free)
        {
            let what = "free slots";
            let at = reader.position();
            return Err(BinaryError::Invalid { what, at }.into());
        }
        Ok(engine)
    }

    /// What the state bytes hold besides the customers.
    fn state_header(&self) -> StateHeader {
        let (slot_count, free) = self.customers.layout();
        StateHeader {
            clock: self.clock,
            expired: self.expired,
            customers: self.customer_count() as u64,
            slot_count,
            free: free.to_vec(),
        }
    }

    /// Adds a customer read from saved state, scheduling its next check. False if its slot is
    /// taken already (damaged state).
    fn restore_customer(&mut self, slot: u32, entry: CustomerEntry) -> bool {
        let next_check = entry.state.next_check;
        let health = sent_health(&entry.state);
        let bin = (entry.population_bin != NO_BIN).then_some(entry.population_bin);
        let last_event = TimeCode::of(entry.state.last_event());
        if !self.customers.insert_at(slot, entry) {
            return false;
        }
        if let Some(eviction) = &mut self.eviction {
            eviction.push(last_event, slot);
        }
        self.count_health(None, health);
        if bin.is_some() {
            self.population.update(None, bin);
        }
        if !next_check.is_never() {
            self.schedule.push(next_check, slot);
        }
        true
    }
}

/// The health level last published for a customer, if any was.
fn sent_health(state: &CustomerState) -> Option<u8> {
    state.alerts.sent_score.map(|_| state.alerts.health)
}

/// The number a customer's value tier is banded on: the score or one component.
fn tier_basis(model: &Model, evaluation: &Evaluation) -> f64 {
    match model.tiers.basis {
        TierBasis::Score => evaluation.score,
        TierBasis::Component(index) => evaluation.components[index],
    }
}
