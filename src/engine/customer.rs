//! One customer's state: signal words, decay landmark, fit, recent event ids and alert memory.

use xxhash_rust::xxh3::xxh3_64;

use super::aggregate;
use super::event::Event;
use super::model::{FitCode, Model};
use super::time::{EventTime, TimeCode};

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The event changed the customer's aggregates.
    Applied,
    /// The event repeated a remembered `event_id` and was dropped.
    Duplicate,
    /// No signal uses the event's type (and it is not a profile); counted and dropped.
    Ignored,
}

impl ApplyOutcome {
    /// The label used in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyOutcome::Applied => "applied",
            ApplyOutcome::Duplicate => "duplicate",
            ApplyOutcome::Ignored => "ignored",
        }
    }
}

/// What was last sent about a customer, so the next evaluation knows what is news.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertState {
    /// The score in the last `score_changed` (`None` before the first).
    pub sent_score: Option<f32>,
    /// Grade level as last sent.
    pub grade: u8,
    /// Health level as last sent.
    pub health: u8,
    /// Value tier level as last sent.
    pub tier: u8,
    /// The current risk level (with hysteresis).
    pub risk_level: u8,
    /// The level of the last rise alert; forgotten once the risk is below the alert level and
    /// the cooldown has passed (0 = none).
    pub alerted_level: u8,
    /// Whether a churn alert is raised and not yet cleared.
    pub churn_alert_active: bool,
    /// When the last churn alert was sent.
    pub last_churn_alert: TimeCode,
    /// Whether the customer was expansion-ready at the last evaluation.
    pub expansion_ready: bool,
    /// When the last expansion signal was sent.
    pub last_expansion: TimeCode,
}

/// Everything the engine keeps about one customer (see the README for its size).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerState {
    /// Signal words (laid out by the model), then two words per remembered event id.
    pub(crate) words: Box<[u32]>,
    /// The decay landmark, in epoch milliseconds.
    pub(crate) landmark_millis: i64,
    /// The latest event time seen for the customer.
    pub(crate) last_event: EventTime,
    /// The earliest event time seen for the customer (its tenure starts here).
    pub(crate) first_event: EventTime,
    /// The fit decided by the latest deciding profile event (0 = none yet).
    pub(crate) fit: FitCode,
    /// When that profile event happened.
    pub(crate) fit_time: TimeCode,
    /// The next slot of the event-id ring.
    pub(crate) dedupe_cursor: u8,
    /// What was last sent about the customer.
    pub(crate) alerts: AlertState,
    /// When the customer is next checked for time-caused changes (never: not scheduled).
    pub(crate) next_check: TimeCode,
}

impl CustomerState {
    /// An empty state for a customer first seen at `first_event`.
    pub fn new(model: &Model, first_event: EventTime) -> CustomerState {
        CustomerState {
            words: vec![0; model.signal_words + 2 * model.dedupe_capacity].into_boxed_slice(),
            landmark_millis: first_event.millis(),
            last_event: first_event,
            first_event,
            fit: 0,
            fit_time: TimeCode::NEVER,
            dedupe_cursor: 0,
            alerts: AlertState::default(),
            next_check: TimeCode::NEVER,
        }
    }

    /// The latest event time seen.
    pub fn last_event(&self) -> EventTime {
        self.last_event
    }

    /// The earliest event time seen.
    pub fn first_event(&self) -> EventTime {
        self.first_event
    }

    /// The customer's fit code, or the model's default.
    pub fn fit(&self, model: &Model) -> FitCode {
        if self.fit == 0 {
            model.fit.default_fit
        } else {
            self.fit
        }
    }

    /// The signal words.
    pub fn signal_words(&self) -> &[u32] {
        &self.words
    }

    /// The decay landmark.
    pub fn landmark_millis(&self) -> i64 {
        self.landmark_millis
    }

    /// Records the event id; true if it was already remembered (a repeat to drop).
    fn seen_before(&mut self, model: &Model, event_id: &str) -> bool {
        if model.dedupe_capacity == 0 {
            return false;
        }
        let fingerprint = xxh3_64(event_id.as_bytes()).max(1);
        let high = (fingerprint >> 32) as u32;
        let low = fingerprint as u32;
        let ring = &mut self.words[model.signal_words..];
        if ring
            .chunks_exact(2)
            .any(|slot| slot[0] == high && slot[1] == low)
        {
            return true;
        }
        let slot = usize::from(self.dedupe_cursor) * 2;
        ring[slot] = high;
        ring[slot + 1] = low;
        self.dedupe_cursor = ((usize::from(self.dedupe_cursor) + 1) % model.dedupe_capacity) as u8;
        false
    }

    /// Folds an event into the customer's aggregates.
    pub fn apply(&mut self, model: &Model, event: &Event<'_>) -> ApplyOutcome {
        if let Some(event_id) = &event.event_id {
            if self.seen_before(model, event_id) {
                return ApplyOutcome::Duplicate;
            }
        }
        let lead = (event.time.millis() - self.landmark_millis) as f64;
        if lead > aggregate::LANDMARK_MAX_LEAD_HALF_LIVES * model.shortest_half_life_millis {
            aggregate::move_landmark(
                model,
                &mut self.words,
                self.landmark_millis,
                event.time.millis(),
            );
            self.landmark_millis = event.time.millis();
        }
        for &signal_id in model.signals_for(&event.event_type) {
            let signal = &model.signals[usize::from(signal_id)];
            if signal.accepts(event) {
                aggregate::apply(signal, &mut self.words, self.landmark_millis, event);
            }
        }
        if event.event_type == "profile" {
            if let Some(fit) = model.fit.fit_of(event) {
                let time = TimeCode::of(event.time);
                if time > self.fit_time || (time == self.fit_time && fit < self.fit) {
                    self.fit = fit;
                    self.fit_time = time;
                }
            }
        }
        self.last_event = self.last_event.max(event.time);
        self.first_event = self.first_event.min(event.time);
        ApplyOutcome::Applied
    }
}

/// Marks a customer not counted in the population histogram.
pub const NO_BIN: u16 = u16::MAX;

/// One customer: id, state, and its bin in the population histogram.
#[derive(Debug, Clone)]
pub struct CustomerEntry {
    /// The customer id.
    pub id: Box<str>,
    /// The customer's state.
    pub state: CustomerState,
    /// The population bin of its tier basis ([`NO_BIN`] if none).
    pub population_bin: u16,
}
