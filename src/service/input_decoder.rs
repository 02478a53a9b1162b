//! Decoding fetched input messages by their topic's encoding. The fetcher decodes each batch
//! before handing it over, so that decoding runs beside the processing thread (on the fetcher's
//! core) instead of on it; what a message decodes to is owned, so it may wait in an event-time
//! merge after its batch is gone.

use crate::config::service::InputTopicConfig;
use crate::engine::decode::{decode, Encoding};
use crate::engine::{DecodeError, Event};

/// A message decoded, owning its data (the fetched batch is not kept).
#[derive(Debug)]
pub enum Decoded {
    /// A valid event.
    Event(Event<'static>),
    /// A message that is not a valid event, kept whole for the dead-letter topic.
    Undecodable {
        /// Its key.
        key: Option<Vec<u8>>,
        /// Its payload, unchanged (only its first `kafka.max_message_bytes` when it is larger).
        payload: Vec<u8>,
        /// Why it was refused.
        error: DecodeError,
    },
}

/// Decodes messages by their topic's encoding (`kafka.inputs`; JSON for a topic not listed),
/// refusing those over `kafka.max_message_bytes` unparsed.
#[derive(Debug, Clone)]
pub struct InputDecoder {
    encodings: Vec<(String, Encoding)>,
    max_message_bytes: usize,
}

impl InputDecoder {
    /// A decoder for `inputs`, with the message size limit.
    pub fn new(inputs: &[InputTopicConfig], max_message_bytes: usize) -> InputDecoder {
        InputDecoder {
            encodings: inputs
                .iter()
                .map(|input| (input.topic.clone(), input.encoding))
                .collect(),
            max_message_bytes,
        }
    }

    /// The encoding of `topic`'s messages.
    fn encoding(&self, topic: &str) -> Encoding {
        self.encodings
            .iter()
            .find(|(name, _)| name == topic)
            .map_or(Encoding::default(), |(_, encoding)| *encoding)
    }

    /// Decodes one message of `topic`.
    pub fn decode(&self, topic: &str, key: Option<&[u8]>, payload: &[u8]) -> Decoded {
        match decode(self.encoding(topic), payload, self.max_message_bytes) {
            Ok(event) => Decoded::Event(event.into_owned()),
            Err(error) => Decoded::Undecodable {
                key: key.map(<[u8]>::to_vec),
                // No more than a dead letter can carry: an oversized one is cut.
                payload: payload[..payload.len().min(self.max_message_bytes)].to_vec(),
                error,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Vec<InputTopicConfig> {
        let input = |topic: &str, encoding| InputTopicConfig {
            topic: topic.into(),
            source: topic.into(),
            encoding,
        };
        vec![
            input("usage", Encoding::Json),
            input("billing", Encoding::Protobuf),
        ]
    }

    #[test]
    fn each_topic_is_decoded_in_its_own_encoding_and_an_unlisted_one_as_json() {
        let decoder = InputDecoder::new(&inputs(), 1_000);
        let json = br#"{"customer_id":"c-1","type":"login","timestamp":"2026-01-01T00:00:00Z"}"#;
        assert!(matches!(
            decoder.decode("usage", None, json),
            Decoded::Event(event) if event.customer_id == "c-1"
        ));
        assert!(matches!(
            decoder.decode("elsewhere", None, json),
            Decoded::Event(_)
        ));
        // JSON is not a Protobuf event: refused, kept whole with its key.
        match decoder.decode("billing", Some(b"k"), json) {
            Decoded::Undecodable { key, payload, .. } => {
                assert_eq!(key.as_deref(), Some(b"k".as_slice()));
                assert_eq!(payload, json.to_vec());
            }
            Decoded::Event(event) => panic!("decoded JSON as Protobuf: {event:?}"),
        }
    }

    #[test]
    fn a_message_over_the_limit_is_refused_unparsed_and_cut_to_the_limit() {
        let decoder = InputDecoder::new(&inputs(), 16);
        let json = br#"{"customer_id":"c-1","type":"login","timestamp":"2026-01-01T00:00:00Z"}"#;
        match decoder.decode("usage", None, json) {
            Decoded::Undecodable { payload, error, .. } => {
                assert_eq!(payload, json[..16].to_vec());
                assert!(matches!(error, DecodeError::TooLarge { limit: 16, .. }));
            }
            Decoded::Event(event) => panic!("decoded a message over the limit: {event:?}"),
        }
    }
}
