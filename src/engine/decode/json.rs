//! JSON input: one object per message, decoded in one pass with strings borrowed from the bytes.
//!
//! Every value is first read as a loose `JsonValue` (`raw_object.rs`), so a field of the wrong type is reported by
//! name (`wrong_type`) instead of as a generic parse failure. Most messages are flat objects
//! without escapes, read by the fast path in [`flat_json`]; anything else goes to serde_json.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::super::event::Event;
use super::flat_json;
use super::raw_object::{JsonValue, RawObject};
use super::DecodeError;

/// Decodes and validates one JSON event.
pub fn decode_json(bytes: &[u8]) -> Result<Event<'_>, DecodeError> {
    // Checked once for the whole message, so that each string need not be checked again.
    let text = std::str::from_utf8(bytes)
        .map_err(|error| DecodeError::InvalidJson(format!("not UTF-8: {error}")))?;
    match flat_json::read_flat_object(text) {
        Some(raw) => raw.into_event(),
        None => read_with_serde(text)?.into_event(),
    }
}

/// Reads any JSON text with serde_json: the general path, and the one that explains errors.
pub(super) fn read_with_serde(text: &str) -> Result<RawObject<'_>, DecodeError> {
    serde_json::from_str(text).map_err(|error| DecodeError::InvalidJson(error.to_string()))
}

impl<'de> de::Deserialize<'de> for JsonValue<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonValueVisitor)
    }
}

struct JsonValueVisitor;

impl<'de> Visitor<'de> for JsonValueVisitor {
    type Value = JsonValue<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(JsonValue::Text(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(JsonValue::Text(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
        Ok(JsonValue::Text(Cow::Owned(text)))
    }

    fn visit_i64<E>(self, number: i64) -> Result<Self::Value, E> {
        Ok(JsonValue::Integer(number))
    }

    fn visit_u64<E>(self, number: u64) -> Result<Self::Value, E> {
        Ok(match i64::try_from(number) {
            Ok(number) => JsonValue::Integer(number),
            Err(_) => JsonValue::Number(number as f64),
        })
    }

    fn visit_f64<E>(self, number: f64) -> Result<Self::Value, E> {
        Ok(JsonValue::Number(number))
    }

    fn visit_bool<E>(self, flag: bool) -> Result<Self::Value, E> {
        Ok(JsonValue::Bool(flag))
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(JsonValue::Null)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(JsonValue::Nested)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(JsonValue::Nested)
    }
}

/// An object key, borrowed when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(text)))
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(text.to_owned())))
    }
}

impl<'de> de::Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RawObjectVisitor)
    }
}

struct RawObjectVisitor;

impl<'de> Visitor<'de> for RawObjectVisitor {
    type Value = RawObject<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut raw = RawObject::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let value: JsonValue<'de> = map.next_value()?;
            raw.insert(key, value);
        }
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::decode::DecodeReason;

    fn reason(json: &str) -> DecodeReason {
        decode_json(json.as_bytes()).unwrap_err().reason()
    }

    #[test]
    fn decodes_a_login_with_rfc3339_time() {
        let event = decode_json(
            br#"{"customer_id":"acme","type":"login","timestamp":"2026-03-01T12:00:00Z","event_id":"e1"}"#,
        )
        .unwrap();
        assert_eq!(event.customer_id, "acme");
        assert_eq!(event.event_type, "login");
        assert_eq!(event.time.millis(), 1_772_366_400_000);
        assert_eq!(event.event_id.as_deref(), Some("e1"));
        assert!(event.fields.is_empty());
    }

    #[test]
    fn decodes_epoch_millis_and_extra_fields() {
        let event = decode_json(
            br#"{"customer_id":"acme","type":"session","timestamp":1772366400000,"duration_s":12.5,"nested":{"a":1}}"#,
        )
        .unwrap();
        assert_eq!(event.time.millis(), 1_772_366_400_000);
        assert_eq!(event.number("duration_s"), Some(12.5));
        assert!(event.field("nested").is_none());
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let event = decode_json(
            br#"{"customer_id":"ac\u006de","type":"page_view","timestamp":0,"page":"billing\/downgrade"}"#,
        )
        .unwrap();
        assert_eq!(event.customer_id, "acme");
        assert_eq!(event.text("page"), Some("billing/downgrade"));
    }

    #[test]
    fn a_message_that_is_not_utf8_is_invalid_json() {
        let error =
            decode_json(b"{\"customer_id\":\"ac\xffme\",\"type\":\"login\",\"timestamp\":0}")
                .unwrap_err();
        assert_eq!(error.reason(), DecodeReason::InvalidJson);
        assert!(error.to_string().contains("UTF-8"), "{error}");
    }

    #[test]
    fn an_empty_type_is_refused_on_both_json_paths() {
        // The flat fast path and the escaped one (serde_json) fill the same object.
        for json in [
            r#"{"customer_id":"acme","type":"","timestamp":0}"#,
            r#"{"customer_id":"ac\u006de","type":"","timestamp":0}"#,
        ] {
            let error = decode_json(json.as_bytes()).unwrap_err();
            assert_eq!(error.reason(), DecodeReason::OutOfRange, "{json}");
            assert!(error.to_string().contains("`type`"), "{error}");
        }
    }

    #[test]
    fn every_common_rule_has_its_reason() {
        assert_eq!(reason("not json"), DecodeReason::InvalidJson);
        assert_eq!(reason("[1,2]"), DecodeReason::InvalidJson);
        assert_eq!(
            reason(r#"{"type":"login","timestamp":0}"#),
            DecodeReason::MissingField
        );
        assert_eq!(
            reason(r#"{"customer_id":7,"type":"login","timestamp":0}"#),
            DecodeReason::WrongType
        );
        assert_eq!(
            reason(r#"{"customer_id":"","type":"login","timestamp":0}"#),
            DecodeReason::InvalidCustomerId
        );
        let long_id = "x".repeat(129);
        assert_eq!(
            reason(&format!(
                r#"{{"customer_id":"{long_id}","type":"login","timestamp":0}}"#
            )),
            DecodeReason::InvalidCustomerId
        );
        assert_eq!(
            reason(r#"{"customer_id":"a","type":"login","timestamp":"soon"}"#),
            DecodeReason::InvalidTimestamp
        );
        assert_eq!(
            reason(r#"{"customer_id":"a","type":"login","timestamp":-5}"#),
            DecodeReason::InvalidTimestamp
        );
        assert_eq!(
            reason(r#"{"customer_id":"a","type":"login","timestamp":1.5}"#),
            DecodeReason::WrongType
        );
        assert_eq!(
            reason(r#"{"customer_id":"a","type":"login","timestamp":0,"event_id":3}"#),
            DecodeReason::WrongType
        );
        assert_eq!(
            reason(r#"{"customer_id":"a","customer_id":"b","type":"login","timestamp":0}"#),
            DecodeReason::DuplicateField
        );
        assert_eq!(
            reason(r#"{"customer_id":"a","type":"csat","timestamp":0,"score":9}"#),
            DecodeReason::OutOfRange
        );
    }

    #[test]
    fn a_128_byte_customer_id_is_accepted() {
        let id = "é".repeat(64);
        let json = format!(r#"{{"customer_id":"{id}","type":"login","timestamp":0}}"#);
        assert_eq!(decode_json(json.as_bytes()).unwrap().customer_id, id);
    }
}
