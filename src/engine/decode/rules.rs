//! The field rules of SPEC section 2: required fields, types and ranges per event type.
//!
//! Types not listed here (a deployment's own) only need the common fields.

use std::borrow::Cow;

use super::super::event::{Event, FieldValue};
use super::DecodeError;

/// The longest accepted `customer_id`, in bytes.
pub const MAX_CUSTOMER_ID_BYTES: usize = 128;

/// Checks the common `customer_id` rule: 1 to 128 bytes.
pub fn check_customer_id(customer_id: &str) -> Result<(), DecodeError> {
    if customer_id.is_empty() || customer_id.len() > MAX_CUSTOMER_ID_BYTES {
        return Err(DecodeError::InvalidCustomerId(customer_id.len()));
    }
    Ok(())
}

/// Checks the common `type` rule: not empty (found by fuzzing: `"type": ""` was taken as a type
/// no signal uses, while Protobuf, which cannot tell empty from absent, refused it).
pub fn check_event_type(event_type: &str) -> Result<(), DecodeError> {
    if event_type.is_empty() {
        return Err(DecodeError::OutOfRange {
            field: "type".into(),
            rule: "a non-empty string",
            value: "\"\"".into(),
        });
    }
    Ok(())
}

/// What one field must look like.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A string.
    Text,
    /// A string or an integer (identifiers).
    Identifier,
    /// A string or a non-negative number (company size may be a band or a head count).
    TextOrCount,
    /// A number within `min..=max`, optionally whole.
    Number {
        min: f64,
        max: f64,
        whole: bool,
        rule: &'static str,
    },
    /// One of the listed strings.
    OneOf(&'static [&'static str], &'static str),
}

/// Whether a field must be present.
#[derive(Debug, Clone, Copy)]
enum Presence {
    Required,
    Optional,
    /// Absent means this number.
    Default(f64),
}

/// One field rule of one event type.
#[derive(Debug, Clone, Copy)]
struct FieldRule {
    name: &'static str,
    kind: Kind,
    presence: Presence,
}

const NON_NEGATIVE: Kind = Kind::Number {
    min: 0.0,
    max: f64::MAX,
    whole: false,
    rule: "a number >= 0",
};
const WHOLE_NON_NEGATIVE: Kind = Kind::Number {
    min: 0.0,
    max: f64::MAX,
    whole: true,
    rule: "an integer >= 0",
};

const fn required(name: &'static str, kind: Kind) -> FieldRule {
    FieldRule {
        name,
        kind,
        presence: Presence::Required,
    }
}

const fn optional(name: &'static str, kind: Kind) -> FieldRule {
    FieldRule {
        name,
        kind,
        presence: Presence::Optional,
    }
}

const FEATURE_USED: &[FieldRule] = &[required("feature", Kind::Text)];
const SESSION: &[FieldRule] = &[required("duration_s", NON_NEGATIVE)];
const PAGE_VIEW: &[FieldRule] = &[required("page", Kind::Text)];
const EMAIL: &[FieldRule] = &[optional("campaign", Kind::Text)];
const TICKET_OPENED: &[FieldRule] = &[
    required("ticket_id", Kind::Identifier),
    required(
        "priority",
        Kind::OneOf(
            &["low", "normal", "high", "urgent"],
            "one of low, normal, high, urgent",
        ),
    ),
];
const TICKET_UPDATE: &[FieldRule] = &[required("ticket_id", Kind::Identifier)];
const CSAT: &[FieldRule] = &[required(
    "score",
    Kind::Number {
        min: 1.0,
        max: 5.0,
        whole: false,
        rule: "a number from 1 to 5",
    },
)];
const NPS: &[FieldRule] = &[required(
    "score",
    Kind::Number {
        min: 0.0,
        max: 10.0,
        whole: false,
        rule: "a number from 0 to 10",
    },
)];
const INVOICE_PAID: &[FieldRule] = &[
    required("amount", NON_NEGATIVE),
    FieldRule {
        name: "days_late",
        kind: WHOLE_NON_NEGATIVE,
        presence: Presence::Default(0.0),
    },
];
const INVOICE_OVERDUE: &[FieldRule] = &[
    required("amount", NON_NEGATIVE),
    required("days_overdue", WHOLE_NON_NEGATIVE),
];
const AMOUNT_ONLY: &[FieldRule] = &[required("amount", NON_NEGATIVE)];
const PLAN_CHANGED: &[FieldRule] = &[
    required("mrr", NON_NEGATIVE),
    required("previous_mrr", NON_NEGATIVE),
];
const PROFILE: &[FieldRule] = &[
    optional("plan", Kind::Text),
    optional("mrr", NON_NEGATIVE),
    optional("seats", WHOLE_NON_NEGATIVE),
    optional("company_size", Kind::TextOrCount),
    optional("industry", Kind::Text),
    optional(
        "fit",
        Kind::OneOf(&["A", "B", "C", "D", "E"], "one of A, B, C, D, E"),
    ),
];
const NO_FIELDS: &[FieldRule] = &[];

/// The rules for an event type; types the spec does not list have none.
fn rules_for(event_type: &str) -> &'static [FieldRule] {
    match event_type {
        "feature_used" => FEATURE_USED,
        "session" => SESSION,
        "page_view" => PAGE_VIEW,
        "email_sent" | "email_opened" | "email_clicked" | "email_replied" | "email_bounced"
        | "email_unsubscribed" => EMAIL,
        "ticket_opened" => TICKET_OPENED,
        "ticket_resolved" | "ticket_escalated" => TICKET_UPDATE,
        "csat" => CSAT,
        "nps" => NPS,
        "invoice_paid" => INVOICE_PAID,
        "invoice_overdue" => INVOICE_OVERDUE,
        "payment_failed" | "refund" => AMOUNT_ONLY,
        "plan_changed" => PLAN_CHANGED,
        "profile" => PROFILE,
        _ => NO_FIELDS,
    }
}

/// Checks the event's fields against its type's rules and fills in defaults (such as `days_late = 0`).
pub fn apply_type_rules(event: &mut Event<'_>) -> Result<(), DecodeError> {
    for rule in rules_for(&event.event_type) {
        match event.field(rule.name) {
            Some(value) => check_value(rule, value)?,
            None => match rule.presence {
                Presence::Required => return Err(DecodeError::MissingField(rule.name.into())),
                Presence::Optional => {}
                Presence::Default(number) => event
                    .fields
                    .push((Cow::Borrowed(rule.name), FieldValue::Number(number))),
            },
        }
    }
    Ok(())
}

fn check_value(rule: &FieldRule, value: &FieldValue<'_>) -> Result<(), DecodeError> {
    let wrong_type = |expected| DecodeError::WrongType {
        field: rule.name.into(),
        expected,
    };
    match (rule.kind, value) {
        (Kind::Text, FieldValue::Text(_)) => Ok(()),
        (Kind::Text, _) => Err(wrong_type("a string")),
        (Kind::Identifier, FieldValue::Text(_)) => Ok(()),
        (Kind::Identifier, FieldValue::Number(number)) if number.fract() == 0.0 => Ok(()),
        (Kind::Identifier, _) => Err(wrong_type("a string or an integer")),
        (Kind::TextOrCount, FieldValue::Text(_)) => Ok(()),
        (Kind::TextOrCount, FieldValue::Number(number)) if *number >= 0.0 => Ok(()),
        (Kind::TextOrCount, _) => Err(wrong_type("a string or a number >= 0")),
        (
            Kind::Number {
                min,
                max,
                whole,
                rule: text,
            },
            FieldValue::Number(number),
        ) => {
            if *number < min || *number > max || (whole && number.fract() != 0.0) {
                Err(DecodeError::OutOfRange {
                    field: rule.name.into(),
                    rule: text,
                    value: number.to_string(),
                })
            } else {
                Ok(())
            }
        }
        (Kind::Number { .. }, _) => Err(wrong_type("a number")),
        (Kind::OneOf(allowed, text), FieldValue::Text(given)) => {
            if allowed.contains(&given.as_ref()) {
                Ok(())
            } else {
                Err(DecodeError::OutOfRange {
                    field: rule.name.into(),
                    rule: text,
                    value: format!("{given:?}"),
                })
            }
        }
        (Kind::OneOf(..), _) => Err(wrong_type("a string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::time::EventTime;

    fn event(event_type: &str, fields: &[(&'static str, FieldValue<'static>)]) -> Event<'static> {
        Event {
            customer_id: "acme".into(),
            event_type: event_type.to_string().into(),
            time: EventTime::EPOCH,
            event_id: None,
            fields: fields
                .iter()
                .map(|(key, value)| (Cow::Borrowed(*key), value.clone()))
                .collect(),
        }
    }

    #[test]
    fn invoice_paid_gets_days_late_zero() {
        let mut paid = event("invoice_paid", &[("amount", FieldValue::Number(10.0))]);
        apply_type_rules(&mut paid).unwrap();
        assert_eq!(paid.number("days_late"), Some(0.0));
    }

    #[test]
    fn csat_out_of_range_is_refused() {
        let mut csat = event("csat", &[("score", FieldValue::Number(6.0))]);
        let error = apply_type_rules(&mut csat).unwrap_err();
        assert_eq!(
            error.to_string(),
            "field `score` must be a number from 1 to 5, got 6"
        );
    }

    #[test]
    fn ticket_priority_must_be_known() {
        let mut ticket = event(
            "ticket_opened",
            &[
                ("ticket_id", FieldValue::Number(17.0)),
                ("priority", FieldValue::Text("asap".into())),
            ],
        );
        let error = apply_type_rules(&mut ticket).unwrap_err();
        assert!(error
            .to_string()
            .contains("one of low, normal, high, urgent"));
    }

    #[test]
    fn missing_and_wrongly_typed_fields_are_named() {
        let mut session = event("session", &[]);
        assert_eq!(
            apply_type_rules(&mut session).unwrap_err(),
            DecodeError::MissingField("duration_s".into())
        );
        let mut feature = event("feature_used", &[("feature", FieldValue::Number(3.0))]);
        assert_eq!(
            apply_type_rules(&mut feature).unwrap_err().to_string(),
            "field `feature` must be a string"
        );
    }

    #[test]
    fn days_late_must_be_whole() {
        let mut paid = event(
            "invoice_paid",
            &[
                ("amount", FieldValue::Number(1.0)),
                ("days_late", FieldValue::Number(1.5)),
            ],
        );
        assert!(matches!(
            apply_type_rules(&mut paid),
            Err(DecodeError::OutOfRange { .. })
        ));
    }

    #[test]
    fn custom_types_need_only_common_fields() {
        let mut custom = event("webinar_attended", &[]);
        assert!(apply_type_rules(&mut custom).is_ok());
    }
}
