//! A JSON object as read, before the rules: its fields as loose values, so that a field of the
//! wrong type is reported by name. Both JSON readers (the fast path in `flat_json.rs` and
//! serde_json in `json.rs`) fill one, field by field; [`RawObject::into_event`] then applies the
//! rules of `rules.rs`.

use std::borrow::Cow;

use super::super::event::{Event, FieldValue, Fields};
use super::super::time::EventTime;
use super::{rules, DecodeError};

/// Any JSON value, with nested containers skipped.
pub(super) enum JsonValue<'a> {
    Text(Cow<'a, str>),
    Number(f64),
    /// An integer too large for `f64` to hold exactly is still an integer here.
    Integer(i64),
    Bool(bool),
    Null,
    Nested,
}

/// The object's fields, before the common rules are applied.
#[derive(Default)]
pub(super) struct RawObject<'a> {
    customer_id: Option<JsonValue<'a>>,
    event_type: Option<JsonValue<'a>>,
    timestamp: Option<JsonValue<'a>>,
    event_id: Option<JsonValue<'a>>,
    fields: Fields<'a>,
    duplicate: Option<String>,
}

impl<'a> RawObject<'a> {
    /// Takes the next field of the object, in message order.
    pub(super) fn insert(&mut self, key: Cow<'a, str>, value: JsonValue<'a>) {
        let slot = match key.as_ref() {
            "customer_id" => &mut self.customer_id,
            "type" => &mut self.event_type,
            "timestamp" => &mut self.timestamp,
            "event_id" => &mut self.event_id,
            _ => {
                let field = match value {
                    JsonValue::Text(text) => FieldValue::Text(text),
                    JsonValue::Number(number) => FieldValue::Number(number),
                    JsonValue::Integer(number) => FieldValue::Number(number as f64),
                    JsonValue::Bool(flag) => FieldValue::Bool(flag),
                    // Null means absent; nested values are not used by any aggregate.
                    JsonValue::Null | JsonValue::Nested => return,
                };
                if self.fields.iter().any(|(existing, _)| *existing == key) {
                    self.duplicate.get_or_insert_with(|| key.into_owned());
                } else {
                    self.fields.push((key, field));
                }
                return;
            }
        };
        if slot.is_some() {
            self.duplicate.get_or_insert_with(|| key.into_owned());
        }
        *slot = Some(value);
    }

    /// Applies the common rules and the type's rules.
    pub(super) fn into_event(self) -> Result<Event<'a>, DecodeError> {
        if let Some(name) = self.duplicate {
            return Err(DecodeError::DuplicateField(name));
        }
        let customer_id = required_text("customer_id", self.customer_id)?;
        rules::check_customer_id(&customer_id)?;
        let event_type = required_text("type", self.event_type)?;
        rules::check_event_type(&event_type)?;
        let time = match self.timestamp {
            None | Some(JsonValue::Null) => {
                return Err(DecodeError::MissingField("timestamp".into()))
            }
            Some(JsonValue::Text(text)) => {
                EventTime::parse_rfc3339(&text).map_err(DecodeError::InvalidTimestamp)?
            }
            Some(JsonValue::Integer(millis)) => {
                EventTime::from_millis(millis).map_err(DecodeError::InvalidTimestamp)?
            }
            Some(_) => {
                return Err(DecodeError::WrongType {
                    field: "timestamp".into(),
                    expected: "an RFC 3339 string or integer epoch milliseconds",
                })
            }
        };
        let event_id = match self.event_id {
            None | Some(JsonValue::Null) => None,
            Some(JsonValue::Text(text)) => Some(text),
            Some(_) => {
                return Err(DecodeError::WrongType {
                    field: "event_id".into(),
                    expected: "a string",
                })
            }
        };
        let mut event = Event {
            customer_id,
            event_type,
            time,
            event_id,
            fields: self.fields,
        };
        rules::apply_type_rules(&mut event)?;
        Ok(event)
    }
}

fn required_text<'a>(
    name: &'static str,
    value: Option<JsonValue<'a>>,
) -> Result<Cow<'a, str>, DecodeError> {
    match value {
        None | Some(JsonValue::Null) => Err(DecodeError::MissingField(name.into())),
        Some(JsonValue::Text(text)) => Ok(text),
        Some(_) => Err(DecodeError::WrongType {
            field: name.into(),
            expected: "a string",
        }),
    }
}
