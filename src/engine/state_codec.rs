//! The engine's state as bytes, for snapshots: clock, and every customer with its state.
//!
//! The layout of signal words depends on the model, so the bytes carry a fingerprint of the
//! model's state layout and are refused by an engine whose model lays state out differently.

use std::sync::Arc;

use xxhash_rust::xxh3::xxh3_64;

use super::alerts::AlertState;
use super::codec::{CodecError, Reader, Writer};
use super::customer::CustomerState;
use super::customers::{CustomerEntry, NO_BIN};
use super::engine::Engine;
use super::model::Model;
use super::time::EventTime;

/// Why saved state could not be loaded into an engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The bytes are damaged.
    #[error("state bytes are damaged: {0}")]
    Damaged(#[from] CodecError),
    /// The state was saved by a model whose signals are laid out differently.
    #[error("state was saved with a different signal layout (model {saved}); it cannot be read by model {current}")]
    LayoutChanged {
        /// The model version that saved it.
        saved: String,
        /// The model version now running.
        current: String,
    },
}

/// A fingerprint of everything that decides where state lives: signal names, kinds, offsets,
/// and the event-id ring size.
pub fn layout_fingerprint(model: &Model) -> u64 {
    // `format` names the layout of the state bytes themselves (2: slots and free list kept).
    let mut description = format!("format=2;dedupe={};", model.dedupe_capacity);
    for signal in &model.signals {
        description.push_str(&format!(
            "{}:{:?}@{};",
            signal.name, signal.kind, signal.offset
        ));
    }
    xxh3_64(description.as_bytes())
}

fn write_alerts(writer: &mut Writer, alerts: &AlertState) {
    writer.u32(alerts.sent_score.map_or(u32::MAX, f32::to_bits));
    writer.u8(u8::from(alerts.sent_score.is_some()));
    writer.u8(alerts.grade);
    writer.u8(alerts.health);
    writer.u8(alerts.tier);
    writer.u8(alerts.risk_level);
    writer.u8(alerts.alerted_level);
    writer.u8(u8::from(alerts.churn_alert_active));
    writer.u32(alerts.last_churn_alert);
    writer.u8(u8::from(alerts.expansion_ready));
    writer.u32(alerts.last_expansion);
}

fn read_alerts(reader: &mut Reader<'_>) -> Result<AlertState, CodecError> {
    let score_bits = reader.u32()?;
    let has_score = reader.u8()? != 0;
    Ok(AlertState {
        sent_score: has_score.then(|| f32::from_bits(score_bits)),
        grade: reader.u8()?,
        health: reader.u8()?,
        tier: reader.u8()?,
        risk_level: reader.u8()?,
        alerted_level: reader.u8()?,
        churn_alert_active: reader.u8()? != 0,
        last_churn_alert: reader.u32()?,
        expansion_ready: reader.u8()? != 0,
        last_expansion: reader.u32()?,
    })
}

/// The bytes of a customer's entry besides its id text and state words.
const ENTRY_FIXED_BYTES: usize = 4 + 4 + 2 + 4 + 8 * 3 + 1 + 4 + 1 + 20 + 4;

/// Appends one customer's slot, id, population bin and state.
pub(crate) fn write_customer(writer: &mut Writer, slot: u32, entry: &CustomerEntry) {
    let state = &entry.state;
    writer.u32(slot);
    writer.text(&entry.id);
    writer.u16(entry.population_bin);
    writer.words(&state.words);
    writer.i64(state.landmark_millis);
    writer.i64(state.last_event.millis());
    writer.i64(state.first_event.millis());
    writer.u8(state.fit);
    writer.u32(state.fit_time);
    writer.u8(state.dedupe_cursor);
    write_alerts(writer, &state.alerts);
    writer.u32(state.next_check);
}

impl Engine {
    /// Appends everything but the customers: layout, model version, clock, and customer count.
    fn write_header(&self, writer: &mut Writer) {
        writer.u64(layout_fingerprint(self.model()));
        writer.text(&self.model().version);
        writer.i64(self.clock().millis());
        writer.u64(self.expired_count());
        writer.u64(self.customer_count() as u64);
        let (slot_count, free) = self.customers().layout();
        writer.u32(slot_count);
        writer.words(free);
    }

    /// Appends the engine's state to `writer`, all at once.
    pub fn encode_state(&self, writer: &mut Writer) {
        self.write_header(writer);
        for (slot, entry) in self.customers().iter() {
            write_customer(writer, slot, entry);
        }
    }

    /// Starts a snapshot of the state as it is now, taken in steps by
    /// [`Engine::snapshot_step`] while events go on being applied. False if one is in progress.
    pub fn begin_snapshot(&mut self) -> bool {
        if self.customers().is_capturing() {
            return false;
        }
        let mut writer = Writer::default();
        self.write_header(&mut writer);
        // Room for every customer up front: growing a buffer of hundreds of megabytes would copy
        // it inside one step. The pages are only touched as the steps fill them.
        let words = self.model().signal_words + 2 * self.model().dedupe_capacity;
        let per_customer = ENTRY_FIXED_BYTES + 4 * words + 24;
        writer
            .bytes
            .reserve(self.customer_count().saturating_mul(per_customer));
        self.customers_mut().begin_capture(writer)
    }

    /// Whether a snapshot begun by [`Engine::begin_snapshot`] is still being taken.
    pub fn is_snapshotting(&self) -> bool {
        self.customers().is_capturing()
    }

    /// Encodes up to `customers` more customers of the snapshot in progress. Returns the
    /// snapshot's bytes (as [`Engine::encode_state`] would have given when it began) once done.
    pub fn snapshot_step(&mut self, customers: usize) -> Option<Vec<u8>> {
        self.customers_mut().capture_step(customers)
    }

    /// Rebuilds an engine from bytes written by [`Engine::encode_state`].
    pub fn decode_state(model: Arc<Model>, bytes: &[u8]) -> Result<Engine, StateError> {
        let mut reader = Reader::new(bytes);
        let fingerprint = reader.u64()?;
        let saved_version = reader.text()?.to_string();
        if fingerprint != layout_fingerprint(&model) {
            return Err(StateError::LayoutChanged {
                saved: saved_version,
                current: model.version.to_string(),
            });
        }
        let clock = EventTime::from_millis(reader.i64()?).map_err(|_| CodecError::Invalid {
            what: "clock",
            at: 0,
        })?;
        let expired = reader.u64()?;
        let count = reader.u64()?;
        let words_per_customer = model.signal_words + 2 * model.dedupe_capacity;
        let mut engine = Engine::new(Arc::clone(&model));
        let slot_count = reader.u32()?;
        let free = reader.words()?;
        for _ in 0..count {
            let slot = reader.u32()?;
            if slot >= slot_count {
                return Err(CodecError::Invalid {
                    what: "customer slot",
                    at: 0,
                }
                .into());
            }
            let id = reader.text()?.to_string();
            let population_bin = reader.u16()?;
            let words = reader.words()?;
            if words.len() != words_per_customer {
                return Err(CodecError::Invalid {
                    what: "state words",
                    at: 0,
                }
                .into());
            }
            let time = |millis: i64| {
                EventTime::from_millis(millis).map_err(|_| CodecError::Invalid {
                    what: "event time",
                    at: 0,
                })
            };
            let landmark_millis = reader.i64()?;
            let last_event = time(reader.i64()?)?;
            let first_event = time(reader.i64()?)?;
            let state = CustomerState {
                words: words.into_boxed_slice(),
                landmark_millis,
                last_event,
                first_event,
                fit: reader.u8()?,
                fit_time: reader.u32()?,
                dedupe_cursor: reader.u8()?,
                alerts: read_alerts(&mut reader)?,
                next_check: reader.u32()?,
            };
            if !engine.restore_customer(
                slot,
                &id,
                state,
                (population_bin != NO_BIN).then_some(population_bin),
            ) {
                return Err(CodecError::Invalid {
                    what: "repeated customer slot",
                    at: 0,
                }
                .into());
            }
        }
        if !reader.is_done() {
            return Err(CodecError::Invalid {
                what: "trailing bytes",
                at: 0,
            }
            .into());
        }
        engine.restore_clock(clock, expired);
        engine.customers_mut().restore_layout(slot_count, free);
        Ok(engine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DEFAULT_CONFIG_TOML};
    use crate::engine::decode::decode_json;
    use crate::generator::{Generator, GeneratorSettings};

    fn model(text: &str) -> Arc<Model> {
        Arc::new(Model::compile(&Config::from_toml_str(text, "test").unwrap().model).unwrap())
    }

    /// An engine fed `events` generated events, and the generator to continue with.
    fn fed(model: &Arc<Model>, events: usize) -> (Engine, Generator) {
        let mut generator = Generator::new(&GeneratorSettings {
            customers: 40,
            ..GeneratorSettings::default()
        });
        let mut engine = Engine::new(Arc::clone(model));
        let mut sink = Vec::new();
        for _ in 0..events {
            let event = generator.next_event();
            let event = decode_json(event.json.as_bytes()).unwrap();
            engine.advance_to(event.time, &mut sink);
            engine.apply(&event, &mut sink);
        }
        (engine, generator)
    }

    #[test]
    fn a_restored_engine_continues_exactly_like_the_original() {
        let model = model(DEFAULT_CONFIG_TOML);
        let (mut original, mut generator) = fed(&model, 5_000);
        let mut writer = Writer::default();
        original.encode_state(&mut writer);
        let mut restored = Engine::decode_state(Arc::clone(&model), &writer.bytes).unwrap();
        assert_eq!(restored.customer_count(), original.customer_count());
        assert_eq!(restored.clock(), original.clock());
        // The same further events give the same outputs from both: nothing lost, nothing doubled,
        // alert memory and schedule intact.
        let (mut from_original, mut from_restored) = (Vec::new(), Vec::new());
        for _ in 0..5_000 {
            let event = generator.next_event();
            let event = decode_json(event.json.as_bytes()).unwrap();
            original.advance_to(event.time, &mut from_original);
            original.apply(&event, &mut from_original);
            restored.advance_to(event.time, &mut from_restored);
            restored.apply(&event, &mut from_restored);
        }
        assert!(!from_original.is_empty());
        assert_eq!(from_original, from_restored);
        let id = original.customer_ids().next().unwrap().to_string();
        assert_eq!(
            original.view(&id, None, true),
            restored.view(&id, None, true)
        );
    }

    #[test]
    fn damaged_or_foreign_state_is_refused() {
        let default = model(DEFAULT_CONFIG_TOML);
        let (engine, _) = fed(&default, 500);
        let mut writer = Writer::default();
        engine.encode_state(&mut writer);
        let truncated = &writer.bytes[..writer.bytes.len() - 3];
        assert!(matches!(
            Engine::decode_state(Arc::clone(&default), truncated),
            Err(StateError::Damaged(_))
        ));
        let other =
            model(&DEFAULT_CONFIG_TOML.replace("dedupe_capacity = 8", "dedupe_capacity = 4"));
        assert!(matches!(
            Engine::decode_state(other, &writer.bytes),
            Err(StateError::LayoutChanged { .. })
        ));
    }
}
