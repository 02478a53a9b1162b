//! Protobuf input: `healthscore.v1.Event` from `proto/healthscore.proto`, checked by the same rules as JSON.

use std::borrow::Cow;

use prost::Message;

use super::super::event::{Event, FieldValue, Fields};
use super::super::time::EventTime;
use super::{rules, DecodeError};

/// The types generated from `proto/healthscore.proto`.
pub mod schema {
    #![allow(missing_docs, clippy::doc_markdown)]
    include!(concat!(env!("OUT_DIR"), "/healthscore.v1.rs"));
}

/// Decodes and validates one Protobuf event.
pub fn decode_protobuf<'a>(bytes: &[u8]) -> Result<Event<'a>, DecodeError> {
    let message = schema::Event::decode(bytes)
        .map_err(|error| DecodeError::InvalidProtobuf(error.to_string()))?;
    into_event(message)
}

fn into_event<'a>(message: schema::Event) -> Result<Event<'a>, DecodeError> {
    if message.customer_id.is_empty() {
        return Err(DecodeError::MissingField("customer_id".into()));
    }
    rules::check_customer_id(&message.customer_id)?;
    if message.r#type.is_empty() {
        return Err(DecodeError::MissingField("type".into()));
    }
    let time = match &message.time {
        None => return Err(DecodeError::MissingField("timestamp".into())),
        Some(schema::event::Time::Timestamp(text)) => EventTime::parse_rfc3339(text),
        Some(schema::event::Time::TimestampMs(millis)) => EventTime::from_millis(*millis),
    }
    .map_err(DecodeError::InvalidTimestamp)?;

    let mut fields = Fields::new();
    let mut text = |name: &'static str, value: Option<String>| {
        if let Some(value) = value {
            fields.push((Cow::Borrowed(name), FieldValue::Text(Cow::Owned(value))));
        }
    };
    text("feature", message.feature);
    text("page", message.page);
    text("campaign", message.campaign);
    text("ticket_id", message.ticket_id);
    text("priority", message.priority);
    text("plan", message.plan);
    text("company_size", message.company_size);
    text("industry", message.industry);
    text("fit", message.fit);
    let numbers = [
        ("duration_s", message.duration_s),
        ("score", message.score),
        ("amount", message.amount),
        ("days_late", message.days_late.map(|days| days as f64)),
        ("days_overdue", message.days_overdue.map(|days| days as f64)),
        ("mrr", message.mrr),
        ("previous_mrr", message.previous_mrr),
        ("seats", message.seats.map(|seats| seats as f64)),
    ];
    for (name, value) in numbers {
        if let Some(value) = value {
            fields.push((Cow::Borrowed(name), FieldValue::Number(value)));
        }
    }
    let mut extra: Vec<_> = message.extra.into_iter().collect();
    // Map order on the wire is unspecified; sorting keeps decoding deterministic.
    extra.sort_by(|left, right| left.0.cmp(&right.0));
    for (name, value) in extra {
        if fields
            .iter()
            .any(|(existing, _)| *existing == name.as_str())
        {
            return Err(DecodeError::DuplicateField(name));
        }
        let value = match value.value {
            Some(schema::field_value::Value::Text(text)) => FieldValue::Text(Cow::Owned(text)),
            Some(schema::field_value::Value::Number(number)) => FieldValue::Number(number),
            Some(schema::field_value::Value::Flag(flag)) => FieldValue::Bool(flag),
            None => continue,
        };
        fields.push((Cow::Owned(name), value));
    }

    let mut event = Event {
        customer_id: Cow::Owned(message.customer_id),
        event_type: Cow::Owned(message.r#type),
        time,
        event_id: message.event_id.map(Cow::Owned),
        fields,
    };
    rules::apply_type_rules(&mut event)?;
    Ok(event)
}

/// Encodes an event as Protobuf; used by the generator and tests to produce Protobuf input.
pub fn encode_protobuf(event: &Event<'_>) -> Vec<u8> {
    let mut message = schema::Event {
        customer_id: event.customer_id.to_string(),
        r#type: event.event_type.to_string(),
        time: Some(schema::event::Time::TimestampMs(event.time.millis())),
        event_id: event.event_id.as_ref().map(|id| id.to_string()),
        ..Default::default()
    };
    for (name, value) in &event.fields {
        let text = value.as_text().map(str::to_string);
        let number = value.as_number();
        match name.as_ref() {
            "feature" if text.is_some() => message.feature = text,
            "page" if text.is_some() => message.page = text,
            "campaign" if text.is_some() => message.campaign = text,
            "ticket_id" if text.is_some() => message.ticket_id = text,
            "priority" if text.is_some() => message.priority = text,
            "plan" if text.is_some() => message.plan = text,
            "company_size" if text.is_some() => message.company_size = text,
            "industry" if text.is_some() => message.industry = text,
            "fit" if text.is_some() => message.fit = text,
            "duration_s" if number.is_some() => message.duration_s = number,
            "score" if number.is_some() => message.score = number,
            "amount" if number.is_some() => message.amount = number,
            "mrr" if number.is_some() => message.mrr = number,
            "previous_mrr" if number.is_some() => message.previous_mrr = number,
            "days_late" if number.is_some() => message.days_late = number.map(|n| n as i64),
            "days_overdue" if number.is_some() => message.days_overdue = number.map(|n| n as i64),
            "seats" if number.is_some() => message.seats = number.map(|n| n as i64),
            _ => {
                let value = match value {
                    FieldValue::Text(text) => schema::field_value::Value::Text(text.to_string()),
                    FieldValue::Number(number) => schema::field_value::Value::Number(*number),
                    FieldValue::Bool(flag) => schema::field_value::Value::Flag(*flag),
                };
                message
                    .extra
                    .insert(name.to_string(), schema::FieldValue { value: Some(value) });
            }
        }
    }
    message.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::decode::{decode_json, DecodeReason};

    #[test]
    fn round_trips_the_same_event_as_json() {
        let json = br#"{"customer_id":"acme","type":"invoice_paid","timestamp":"2026-03-01T12:00:00Z","event_id":"p1","amount":120.5,"days_late":3,"channel":"card"}"#;
        let from_json = decode_json(json).unwrap();
        let bytes = encode_protobuf(&from_json);
        let from_protobuf = decode_protobuf(&bytes).unwrap();
        assert_eq!(from_protobuf.customer_id, "acme");
        assert_eq!(from_protobuf.time, from_json.time);
        assert_eq!(from_protobuf.number("amount"), Some(120.5));
        assert_eq!(from_protobuf.number("days_late"), Some(3.0));
        assert_eq!(from_protobuf.text("channel"), Some("card"));
        assert_eq!(from_protobuf.event_id.as_deref(), Some("p1"));
    }

    #[test]
    fn garbage_and_rule_breaks_are_refused_with_reasons() {
        assert_eq!(
            decode_protobuf(&[0xff, 0xff, 0xff]).unwrap_err().reason(),
            DecodeReason::InvalidProtobuf
        );
        let no_time = schema::Event {
            customer_id: "acme".into(),
            r#type: "login".into(),
            ..Default::default()
        };
        assert_eq!(
            decode_protobuf(&no_time.encode_to_vec()).unwrap_err(),
            DecodeError::MissingField("timestamp".into())
        );
        let bad_csat = schema::Event {
            customer_id: "acme".into(),
            r#type: "csat".into(),
            time: Some(schema::event::Time::TimestampMs(0)),
            score: Some(0.0),
            ..Default::default()
        };
        assert_eq!(
            decode_protobuf(&bad_csat.encode_to_vec())
                .unwrap_err()
                .reason(),
            DecodeReason::OutOfRange
        );
    }
}
