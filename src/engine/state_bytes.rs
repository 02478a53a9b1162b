//! The engine's state as bytes, for snapshots: clock, and every customer with its state.
//!
//! The layout of signal words depends on the model, so the bytes carry a fingerprint of the
//! model's state layout and are refused by an engine whose model lays state out differently.

use xxhash_rust::xxh3::xxh3_64;

use super::binary::{BinaryError, Reader, Writer};
use super::customer::{AlertState, CustomerEntry, CustomerState};
use super::model::Model;
use super::time::{EventTime, TimeCode};

/// Why saved state could not be loaded into an engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    /// The bytes are damaged.
    #[error("state bytes are damaged: {0}")]
    Damaged(#[from] BinaryError),
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
    writer.u32(alerts.last_churn_alert.word());
    writer.u8(u8::from(alerts.expansion_ready));
    writer.u32(alerts.last_expansion.word());
}

fn read_alerts(reader: &mut Reader<'_>) -> Result<AlertState, BinaryError> {
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
        last_churn_alert: TimeCode::from_word(reader.u32()?),
        expansion_ready: reader.u8()? != 0,
        last_expansion: TimeCode::from_word(reader.u32()?),
    })
}

/// The bytes of a customer's entry besides its id text and state words.
const ENTRY_FIXED_BYTES: usize = 4 + 4 + 2 + 4 + 8 * 3 + 1 + 4 + 1 + 20 + 4;

/// About how many bytes the state of `customers` customers takes under `model`: room reserved
/// up front, so that a buffer of hundreds of megabytes is not copied as it grows.
pub fn estimated_bytes(model: &Model, customers: usize) -> usize {
    let words = model.signal_words + 2 * model.dedupe_capacity;
    customers.saturating_mul(ENTRY_FIXED_BYTES + 4 * words + 24)
}

/// Everything in the state bytes but the customers.
#[derive(Debug, Clone, PartialEq)]
pub struct StateHeader {
    /// The engine's clock.
    pub clock: EventTime,
    /// How many customers were dropped for inactivity.
    pub expired: u64,
    /// How many customers follow.
    pub customers: u64,
    /// The customer table's slot count.
    pub slot_count: u32,
    /// Its free slots, in the order they are reused.
    pub free: Vec<u32>,
}

/// Appends the header: layout fingerprint, model version, clock, counts and slot layout.
pub fn write_header(writer: &mut Writer, model: &Model, header: &StateHeader) {
    writer.u64(layout_fingerprint(model));
    writer.text(&model.version);
    writer.i64(header.clock.millis());
    writer.u64(header.expired);
    writer.u64(header.customers);
    writer.u32(header.slot_count);
    writer.words(&header.free);
}

/// The fewest bytes one customer takes in state bytes ([`write_customer`]): a count of customers
/// is checked against the bytes that follow before anything is allocated for them.
const MIN_CUSTOMER_BYTES: usize = 48;

/// Reads a header written by [`write_header`], refusing state laid out for another model, and a
/// layout the bytes cannot hold: more customers than the bytes that follow could carry, or a
/// slot count other than the customers plus the free slots (every slot is one or the other).
/// So a damaged header never makes the reader allocate beyond what its bytes justify.
pub fn read_header(reader: &mut Reader<'_>, model: &Model) -> Result<StateHeader, StateError> {
    let fingerprint = reader.u64()?;
    let saved_version = reader.text()?.to_string();
    if fingerprint != layout_fingerprint(model) {
        return Err(StateError::LayoutChanged {
            saved: saved_version,
            current: model.version.to_string(),
        });
    }
    let header = StateHeader {
        clock: read_time(reader, "clock")?,
        expired: reader.u64()?,
        customers: reader.u64()?,
        slot_count: reader.u32()?,
        free: reader.words()?,
    };
    let at = reader.position();
    let most_customers = (reader.remaining() / MIN_CUSTOMER_BYTES) as u64;
    let slots = header.customers.checked_add(header.free.len() as u64);
    if header.customers > most_customers || slots != Some(u64::from(header.slot_count)) {
        return Err(BinaryError::Invalid {
            what: "customer count or slot layout",
            at,
        }
        .into());
    }
    Ok(header)
}

/// Appends one customer's slot, id, population bin and state.
pub fn write_customer(writer: &mut Writer, slot: u32, entry: &CustomerEntry) {
    let state = &entry.state;
    writer.u32(slot);
    writer.text(&entry.id);
    writer.u16(entry.population_bin);
    writer.words(&state.words);
    writer.i64(state.landmark_millis);
    writer.i64(state.last_event.millis());
    writer.i64(state.first_event.millis());
    writer.u8(state.fit);
    writer.u32(state.fit_time.word());
    writer.u8(state.dedupe_cursor);
    write_alerts(writer, &state.alerts);
    writer.u32(state.next_check.word());
}

/// Reads one customer written by [`write_customer`]: its slot (below `slot_count`) and entry.
pub fn read_customer(
    reader: &mut Reader<'_>,
    model: &Model,
    slot_count: u32,
) -> Result<(u32, CustomerEntry), StateError> {
    let at = reader.position();
    let slot = reader.u32()?;
    if slot >= slot_count {
        return Err(BinaryError::Invalid {
            what: "customer slot",
            at,
        }
        .into());
    }
    let id = reader.text()?.into();
    let population_bin = reader.u16()?;
    let at = reader.position();
    let words = reader.words()?;
    if words.len() != model.signal_words + 2 * model.dedupe_capacity {
        return Err(BinaryError::Invalid {
            what: "state words",
            at,
        }
        .into());
    }
    let state = CustomerState {
        words: words.into_boxed_slice(),
        landmark_millis: reader.i64()?,
        last_event: read_time(reader, "event time")?,
        first_event: read_time(reader, "event time")?,
        fit: reader.u8()?,
        fit_time: TimeCode::from_word(reader.u32()?),
        dedupe_cursor: reader.u8()?,
        alerts: read_alerts(reader)?,
        next_check: TimeCode::from_word(reader.u32()?),
    };
    let entry = CustomerEntry {
        id,
        state,
        population_bin,
    };
    Ok((slot, entry))
}

/// Reads an event time in epoch milliseconds, refusing one out of range.
fn read_time(reader: &mut Reader<'_>, what: &'static str) -> Result<EventTime, BinaryError> {
    let at = reader.position();
    EventTime::from_millis(reader.i64()?).map_err(|_| BinaryError::Invalid { what, at })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::{Config, DEFAULT_CONFIG_TOML};
    use crate::engine::decode::decode_json;
    use crate::engine::Engine;
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
            engine.ingest(&event, &mut sink);
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
            original.ingest(&event, &mut from_original);
            restored.ingest(&event, &mut from_restored);
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
        // A damaged part is named with where it starts.
        let mut trailing = writer.bytes.clone();
        trailing.extend_from_slice(&[1, 2, 3]);
        assert_eq!(
            Engine::decode_state(Arc::clone(&default), &trailing).err(),
            Some(StateError::Damaged(BinaryError::Invalid {
                what: "trailing bytes",
                at: writer.bytes.len(),
            }))
        );
        let other =
            model(&DEFAULT_CONFIG_TOML.replace("dedupe_capacity = 8", "dedupe_capacity = 4"));
        assert!(matches!(
            Engine::decode_state(other, &writer.bytes),
            Err(StateError::LayoutChanged { .. })
        ));
    }

    /// State bytes with `header` and `customers`' bytes after it.
    fn state_with(model: &Model, header: &StateHeader, customers: &[u8]) -> Vec<u8> {
        let mut writer = Writer::default();
        write_header(&mut writer, model, header);
        writer.bytes.extend_from_slice(customers);
        writer.bytes
    }

    #[test]
    fn a_layout_the_bytes_cannot_hold_is_refused_before_anything_is_allocated() {
        // Found by the snapshot fuzzer: a slot count of four billion made the reader reserve
        // hundreds of gigabytes for the customer table.
        let default = model(DEFAULT_CONFIG_TOML);
        let header = |customers: u64, slot_count: u32, free: Vec<u32>| StateHeader {
            clock: EventTime::EPOCH,
            expired: 0,
            customers,
            slot_count,
            free,
        };
        let refused = [
            state_with(&default, &header(0, u32::MAX, vec![]), &[]),
            state_with(&default, &header(u64::MAX, u32::MAX, vec![]), &[0; 4096]),
            state_with(&default, &header(1, 2, vec![]), &[0; 4096]),
        ];
        for bytes in refused {
            assert!(matches!(
                Engine::decode_state(Arc::clone(&default), &bytes),
                Err(StateError::Damaged(BinaryError::Invalid {
                    what: "customer count or slot layout",
                    ..
                }))
            ));
        }
        // A free list that names a slot twice, or one out of range, would hand a slot out twice.
        let (engine, _) = fed(&default, 500);
        let mut writer = Writer::default();
        engine.encode_state(&mut writer);
        let mut reader = Reader::new(&writer.bytes);
        let saved = read_header(&mut reader, &default).unwrap();
        let customers = &writer.bytes[reader.position()..];
        assert!(saved.free.is_empty(), "{:?}", saved.free);
        for free in [vec![0, 0], vec![saved.slot_count, saved.slot_count + 2]] {
            let layout = header(saved.customers, saved.slot_count + 2, free);
            let bytes = state_with(&default, &layout, customers);
            assert!(matches!(
                Engine::decode_state(Arc::clone(&default), &bytes),
                Err(StateError::Damaged(BinaryError::Invalid {
                    what: "free slots",
                    ..
                }))
            ));
        }
    }
}
