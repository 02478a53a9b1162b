//! The aggregates of SPEC section 3, folded into a customer's state words and read back at a time.
//!
//! Decayed values use a landmark: a decayed slot holds `sum(v * 2^((t_event - landmark) / half_life))`,
//! so the value at time `T` is that times `2^(-(T - landmark) / half_life)`: exactly the spec's
//! `sum(v * 2^(-(T - t_event) / half_life))`, whatever order the events came in. Adding an event
//! touches only the signals it feeds; the landmark moves forward (rescaling every decayed slot)
//! only when the newest event is far enough ahead that the stored numbers would grow too large.
//! Values are stored as `f32` (about 7 significant digits) to keep state small; arithmetic is `f64`.

use smallvec::SmallVec;
use xxhash_rust::xxh3::xxh3_64;

use super::event::{Event, FieldValue};
use super::model::{Model, Signal, SignalKind};
use super::time::{EventTime, TimeCode};

/// How far (in shortest half-lives) an event may lead the landmark before the landmark moves.
/// 2^24 keeps stored values well inside `f32` range for any realistic amount.
pub const LANDMARK_MAX_LEAD_HALF_LIVES: f64 = 24.0;

/// A signal's value at a point in time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SignalValue {
    /// A number (counts, sums, means, last values, distinct counts).
    Number(f64),
    /// A time (`last_seen`).
    Time(EventTime),
    /// No data yet (a mean or last value with no events, a `last_seen` never seen).
    Missing,
}

impl SignalValue {
    /// The value as a number, if it is one.
    pub fn number(self) -> Option<f64> {
        match self {
            SignalValue::Number(number) => Some(number),
            _ => None,
        }
    }
}

fn load(words: &[u32], index: usize) -> f64 {
    f64::from(f32::from_bits(words[index]))
}

fn store(words: &mut [u32], index: usize, value: f64) {
    words[index] = (value as f32).to_bits();
}

/// The weight of an event at `time` relative to the landmark.
fn landmark_weight(time: EventTime, landmark_millis: i64, half_life_millis: f64) -> f64 {
    ((time.millis() - landmark_millis) as f64 / half_life_millis).exp2()
}

/// The 32-bit fingerprint of a distinct value (never 0, which marks an empty slot).
fn value_fingerprint(value: &FieldValue<'_>) -> u32 {
    let hash = match value {
        FieldValue::Text(text) => xxh3_64(text.as_bytes()),
        FieldValue::Number(number) => xxh3_64(&number.to_bits().to_le_bytes()),
        FieldValue::Bool(flag) => u64::from(*flag),
    };
    (hash as u32).max(1)
}

/// Folds one event into one signal. The caller has checked the signal's filter.
pub fn apply(signal: &Signal, words: &mut [u32], landmark_millis: i64, event: &Event<'_>) {
    let offset = signal.offset;
    let field = signal.field.as_deref().and_then(|name| event.field(name));
    let number = field.and_then(FieldValue::as_number);
    match signal.kind {
        SignalKind::Count(decay) => {
            let weight = landmark_weight(event.time, landmark_millis, decay.half_life_millis);
            store(words, offset, load(words, offset) + weight);
        }
        SignalKind::Sum(decay) => {
            if let Some(value) = number {
                let weight = landmark_weight(event.time, landmark_millis, decay.half_life_millis);
                store(words, offset, load(words, offset) + value * weight);
            }
        }
        SignalKind::Mean(decay) => {
            if let Some(value) = number {
                let weight = landmark_weight(event.time, landmark_millis, decay.half_life_millis);
                store(words, offset, load(words, offset) + value * weight);
                store(words, offset + 1, load(words, offset + 1) + weight);
            }
        }
        SignalKind::Last => {
            if let Some(value) = number {
                let time = TimeCode::of(event.time).word();
                let stored = (words[offset], f32::from_bits(words[offset + 1]));
                // Latest time wins; equal times keep the larger value, so order never matters.
                let newer = time > stored.0
                    || (time == stored.0 && (value as f32).total_cmp(&stored.1).is_gt());
                if newer {
                    words[offset] = time;
                    words[offset + 1] = (value as f32).to_bits();
                }
            }
        }
        SignalKind::LastSeen => {
            words[offset] = words[offset].max(TimeCode::of(event.time).word());
        }
        SignalKind::Distinct { max_values, .. } => {
            if let Some(value) = field {
                let entry = (TimeCode::of(event.time).word(), value_fingerprint(value));
                remember_distinct(&mut words[offset..offset + 2 * max_values], entry);
            }
        }
    }
}

/// Keeps the `max_values` distinct values with the latest times (ties broken by fingerprint).
/// Entries are `[fingerprint, time]` pairs; time 0 marks an empty slot. Keeping the latest by a
/// total order makes the kept set the same in any event order.
fn remember_distinct(slots: &mut [u32], (time, fingerprint): (u32, u32)) {
    let mut weakest: Option<(usize, (u32, u32))> = None;
    for index in (0..slots.len()).step_by(2) {
        let (slot_fingerprint, slot_time) = (slots[index], slots[index + 1]);
        if slot_time != 0 && slot_fingerprint == fingerprint {
            slots[index + 1] = slot_time.max(time);
            return;
        }
        let rank = (slot_time, slot_fingerprint);
        if weakest.is_none_or(|(_, weakest_rank)| rank < weakest_rank) {
            weakest = Some((index, rank));
        }
    }
    if let Some((index, rank)) = weakest {
        if (time, fingerprint) > rank {
            slots[index] = fingerprint;
            slots[index + 1] = time;
        }
    }
}

/// Moves the landmark of every decayed signal from `from` to `to`.
pub fn move_landmark(model: &Model, words: &mut [u32], from_millis: i64, to_millis: i64) {
    for signal in &model.signals {
        if let Some(decay) = signal.kind.decay() {
            let factor = (-((to_millis - from_millis) as f64) / decay.half_life_millis).exp2();
            let slots = if matches!(signal.kind, SignalKind::Mean(_)) {
                2
            } else {
                1
            };
            for index in signal.offset..signal.offset + slots {
                store(words, index, load(words, index) * factor);
            }
        }
    }
}

/// The factor `2^(-(at - landmark) / half_life)` for each of the model's half-lives.
#[derive(Debug, Clone)]
pub struct DecayFactors(SmallVec<[f64; 8]>);

impl DecayFactors {
    /// Computes the factors once per evaluation.
    pub fn new(model: &Model, landmark_millis: i64, at: EventTime) -> DecayFactors {
        let elapsed = (at.millis() - landmark_millis) as f64;
        DecayFactors(
            model
                .half_lives_millis
                .iter()
                .map(|half_life| (-elapsed / half_life).exp2())
                .collect(),
        )
    }
}

/// Reads one signal's value at `at`.
pub fn read(signal: &Signal, words: &[u32], factors: &DecayFactors, at: EventTime) -> SignalValue {
    let offset = signal.offset;
    match signal.kind {
        SignalKind::Count(decay) | SignalKind::Sum(decay) => {
            SignalValue::Number(load(words, offset) * factors.0[decay.slot])
        }
        SignalKind::Mean(_) => {
            let weight = load(words, offset + 1);
            if weight > 1e-30 {
                SignalValue::Number(load(words, offset) / weight)
            } else {
                SignalValue::Missing
            }
        }
        SignalKind::Last => match words[offset] {
            0 => SignalValue::Missing,
            _ => SignalValue::Number(f64::from(f32::from_bits(words[offset + 1]))),
        },
        SignalKind::LastSeen => TimeCode::from_word(words[offset])
            .time()
            .map_or(SignalValue::Missing, SignalValue::Time),
        SignalKind::Distinct {
            max_values,
            window_millis,
        } => {
            let since = TimeCode::of(at.plus_millis(-window_millis)).word();
            let count = words[offset..offset + 2 * max_values]
                .chunks_exact(2)
                .filter(|entry| entry[1] != 0 && entry[1] >= since)
                .count();
            SignalValue::Number(count as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keeps_the_latest_values_in_any_order() {
        let entries = [(5, 11), (3, 12), (9, 13), (1, 14), (9, 11), (7, 15)];
        let mut forward = vec![0u32; 6];
        let mut backward = vec![0u32; 6];
        for entry in entries {
            remember_distinct(&mut forward, entry);
        }
        for entry in entries.iter().rev() {
            remember_distinct(&mut backward, *entry);
        }
        let sorted = |slots: &[u32]| {
            let mut pairs: Vec<(u32, u32)> =
                slots.chunks(2).map(|pair| (pair[0], pair[1])).collect();
            pairs.sort();
            pairs
        };
        assert_eq!(sorted(&forward), sorted(&backward));
        assert_eq!(sorted(&forward), vec![(11, 9), (13, 9), (15, 7)]);
    }
}
