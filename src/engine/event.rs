//! A decoded, validated input event, borrowed from the message bytes where possible.

use std::borrow::Cow;

use smallvec::SmallVec;

use super::time::EventTime;

/// A scalar field value of an event (nested arrays and objects are not kept).
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// A JSON string or Protobuf string field.
    Text(Cow<'a, str>),
    /// Any number; integers are exact up to 2^53.
    Number(f64),
    /// A JSON boolean.
    Bool(bool),
}

impl FieldValue<'_> {
    /// The value as a number, if it is one.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            FieldValue::Number(number) => Some(*number),
            _ => None,
        }
    }

    /// The value as text, if it is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            FieldValue::Text(text) => Some(text),
            _ => None,
        }
    }

    /// Converts borrowed text into owned text so the value outlives its buffer.
    pub fn into_owned(self) -> FieldValue<'static> {
        match self {
            FieldValue::Text(text) => FieldValue::Text(Cow::Owned(text.into_owned())),
            FieldValue::Number(number) => FieldValue::Number(number),
            FieldValue::Bool(flag) => FieldValue::Bool(flag),
        }
    }
}

/// The named extra fields of an event, in message order (most events have four or fewer).
pub type Fields<'a> = SmallVec<[(Cow<'a, str>, FieldValue<'a>); 4]>;

/// One input event that passed every rule of SPEC section 2.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    /// The customer the event belongs to (1 to 128 bytes).
    pub customer_id: Cow<'a, str>,
    /// The event type, such as `login` or `invoice_paid`.
    pub event_type: Cow<'a, str>,
    /// When the event happened (event time).
    pub time: EventTime,
    /// The producer's id for the event; a repeat for the same customer is applied once.
    pub event_id: Option<Cow<'a, str>>,
    /// Every other scalar field.
    pub fields: Fields<'a>,
}

impl<'a> Event<'a> {
    /// The value of the named field, if present.
    pub fn field(&self, name: &str) -> Option<&FieldValue<'a>> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// The named field as a number, if present and numeric.
    pub fn number(&self, name: &str) -> Option<f64> {
        self.field(name).and_then(FieldValue::as_number)
    }

    /// The named field as text, if present and textual.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(FieldValue::as_text)
    }

    /// Copies every borrowed string so the event no longer borrows its message.
    pub fn into_owned(self) -> Event<'static> {
        Event {
            customer_id: Cow::Owned(self.customer_id.into_owned()),
            event_type: Cow::Owned(self.event_type.into_owned()),
            time: self.time,
            event_id: self.event_id.map(|id| Cow::Owned(id.into_owned())),
            fields: self
                .fields
                .into_iter()
                .map(|(key, value)| (Cow::Owned(key.into_owned()), value.into_owned()))
                .collect(),
        }
    }
}
