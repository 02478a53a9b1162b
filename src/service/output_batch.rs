//! Output events serialized on the processing thread, where the engine made them, and handed to
//! the publisher as one buffer of keys and JSON payloads.
//!
//! The engine's output events hold a dozen small strings each. Serializing and dropping them on
//! the thread that allocated them keeps those allocations in that thread's allocator cache; the
//! publisher only hands finished bytes to the producer.

use std::ops::Range;

use crate::engine::OutputEvent;
use crate::telemetry;

/// Room reserved per output in a batch's buffer: a `score_changed` with the default model is
/// about 580 bytes of JSON plus its key, so most batches are written without growing it.
const BYTES_PER_OUTPUT: usize = 640;

/// One output's place in the batch's buffer.
#[derive(Debug)]
struct SerializedOutput {
    /// The customer id: the message key.
    key: Range<usize>,
    /// The output event as one line of JSON.
    payload: Range<usize>,
}

/// Output events serialized for the output topic, in the order they were made.
#[derive(Debug)]
pub struct OutputBatch {
    outputs: Vec<SerializedOutput>,
    bytes: Vec<u8>,
}

impl OutputBatch {
    /// Serializes `output` into the batch.
    fn push(&mut self, output: &OutputEvent) {
        let key_start = self.bytes.len();
        self.bytes
            .extend_from_slice(output.customer_id().as_bytes());
        let payload_start = self.bytes.len();
        output.write_json(&mut self.bytes);
        self.outputs.push(SerializedOutput {
            key: key_start..payload_start,
            payload: payload_start..self.bytes.len(),
        });
    }

    /// Each output's key and JSON payload, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.outputs.iter().map(|output| {
            (
                &self.bytes[output.key.clone()],
                &self.bytes[output.payload.clone()],
            )
        })
    }
}

/// Turns the engine's output events into [`OutputBatch`]es, counting and announcing each.
pub struct OutputSerializer {
    counters: telemetry::OutputCounters,
    /// Whether alerts are logged at info level (the demo), rather than debug.
    announce_alerts: bool,
}

impl OutputSerializer {
    /// A serializer that logs alerts at info level when `announce_alerts` is set.
    pub fn new(announce_alerts: bool) -> OutputSerializer {
        OutputSerializer {
            counters: telemetry::OutputCounters::default(),
            announce_alerts,
        }
    }

    /// Serializes, counts and announces every output of `outputs`, leaving it empty.
    pub fn serialize(&mut self, outputs: &mut Vec<OutputEvent>) -> OutputBatch {
        let mut batch = OutputBatch {
            outputs: Vec::with_capacity(outputs.len()),
            bytes: Vec::with_capacity(outputs.len() * BYTES_PER_OUTPUT),
        };
        for output in outputs.drain(..) {
            announce(&output, self.announce_alerts);
            self.counters.count(&output);
            batch.push(&output);
        }
        batch
    }
}

/// Logs a churn alert or expansion signal in one line (no payload): at info level in the demo,
/// at debug level otherwise, where the output topic is the record.
fn announce(output: &OutputEvent, at_info: bool) {
    if !at_info && !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let line = match output {
        OutputEvent::ChurnRiskAlert(alert) => format!(
            "churn_risk_alert {}: {} -> {} (risk {:.2}, score {:.1}) at {}",
            alert.customer_id, alert.previous_level, alert.level, alert.risk, alert.score, alert.at
        ),
        OutputEvent::ExpansionSignal(signal) => format!(
            "expansion_signal {}: {} (score {:.1}) at {}",
            signal.customer_id, signal.fit_engagement, signal.score, signal.at
        ),
        OutputEvent::ScoreChanged(_) => return,
    };
    if at_info {
        tracing::info!("{line}");
    } else {
        tracing::debug!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::{Config, DEFAULT_CONFIG_TOML};
    use crate::engine::decode::decode_json;
    use crate::engine::{Engine, Model};

    /// The outputs of a first event for each of two customers: a first score each.
    fn first_scores() -> Vec<OutputEvent> {
        let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "test").unwrap();
        let mut engine = Engine::new(Arc::new(Model::compile(&config.model).unwrap()));
        let mut outputs = Vec::new();
        for customer in ["acme", "globex"] {
            let line = format!(
                r#"{{"customer_id":"{customer}","type":"login","timestamp":"2026-03-01T12:00:00Z","user_id":"u1"}}"#
            );
            engine.ingest(&decode_json(line.as_bytes()).unwrap(), &mut outputs);
        }
        outputs
    }

    #[test]
    fn each_output_is_keyed_by_its_customer_with_its_json_in_order() {
        let mut outputs = first_scores();
        let expected: Vec<(Vec<u8>, Vec<u8>)> = outputs
            .iter()
            .map(|output| {
                (
                    output.customer_id().as_bytes().to_vec(),
                    output.to_json().into_bytes(),
                )
            })
            .collect();
        assert_eq!(expected.len(), 2);

        let batch = OutputSerializer::new(false).serialize(&mut outputs);

        let serialized: Vec<(Vec<u8>, Vec<u8>)> = batch
            .iter()
            .map(|(key, payload)| (key.to_vec(), payload.to_vec()))
            .collect();
        assert_eq!(serialized, expected);
        assert_eq!(serialized[0].0, b"acme");
        assert!(outputs.is_empty(), "the outputs are taken");
    }
}
