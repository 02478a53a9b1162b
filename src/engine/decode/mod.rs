//! Turns message bytes (JSON or Protobuf) into validated [`Event`]s, or a [`DecodeError`] with the reason.
//!
//! Both encodings produce the same [`Event`] and then pass the same rules ([`rules`]), so a message is
//! judged the same whichever way it was sent.

mod error;
mod flat_json;
mod json;
mod protobuf;
mod raw_object;
pub mod rules;

pub use error::{DecodeError, DecodeReason};
pub use json::decode_json;
pub use protobuf::{decode_protobuf, encode_protobuf};

use super::event::Event;

/// How the messages of one input topic or file are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// One JSON object per message (the default).
    #[default]
    Json,
    /// One `healthscore.v1.Event` (see `proto/healthscore.proto`) per message.
    Protobuf,
}

/// Decodes and validates one message in the given encoding; a message over `max_bytes` is
/// refused as [`DecodeError::TooLarge`] without being parsed.
pub fn decode(
    encoding: Encoding,
    bytes: &[u8],
    max_bytes: usize,
) -> Result<Event<'_>, DecodeError> {
    if bytes.len() > max_bytes {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit: max_bytes,
        });
    }
    match encoding {
        Encoding::Json => decode_json(bytes),
        Encoding::Protobuf => decode_protobuf(bytes),
    }
}
