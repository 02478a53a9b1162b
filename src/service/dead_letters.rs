//! Input messages that did not decode, on their way to the dead-letter topic: unchanged, with
//! headers saying why and where they came from.

use rdkafka::message::OwnedHeaders;

use crate::engine::DecodeError;
use crate::kafka::dead_letter::{dead_letter_headers, Origin};

/// An input message that did not decode, applied in its turn (its offset counts as applied).
pub struct DeadLetter {
    /// Its topic, by index in the processor's topics.
    pub input: usize,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key, unchanged.
    pub key: Option<Vec<u8>>,
    /// Its payload, unchanged (only its first `kafka.max_message_bytes` when it is larger).
    pub payload: Vec<u8>,
    /// Why it did not decode.
    pub error: DecodeError,
}

impl DeadLetter {
    /// The size of the message as it was read: more than the payload kept when it was too
    /// large to keep whole.
    pub fn payload_size(&self) -> usize {
        match self.error {
            DecodeError::TooLarge { size, .. } => size,
            _ => self.payload.len(),
        }
    }

    /// Its headers, given the name of its topic; logged at debug level.
    pub fn headers(&self, topic: &str) -> OwnedHeaders {
        tracing::debug!(
            topic,
            partition = self.partition,
            offset = self.offset,
            reason = self.error.reason().as_str(),
            "Dead-lettered a message."
        );
        let origin = Origin {
            topic,
            partition: self.partition,
            offset: self.offset,
        };
        dead_letter_headers(&self.error, origin)
    }
}
