//! Output events written as JSON by hand: the same bytes serde_json writes for them (a test
//! compares the two on every kind of output), in about half the time, because the keys are
//! written as fixed text and only the values are formatted and escaped.

use serde_json::ser::{CompactFormatter, Formatter};

use super::output::{
    Cause, ChurnRiskAlert, EventId, ExpansionSignal, NamedValues, OutputEvent, ScoreChanged,
};
use super::rfc3339;
use super::score::{Reason, ScoreFactor};
use super::time::EventTime;

impl OutputEvent {
    /// The event as one line of JSON.
    pub fn to_json(&self) -> String {
        let mut json = Vec::new();
        self.write_json(&mut json);
        String::from_utf8(json).unwrap_or_default()
    }

    /// Appends the event as one line of JSON (no newline) to `out` (a buffer reused from event
    /// to event): the same bytes as its `Serialize` implementation gives serde_json, written
    /// faster.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        write_output(self, out);
    }
}

/// Appends `output` as one line of JSON (no newline) to `out`.
fn write_output(output: &OutputEvent, out: &mut Vec<u8>) {
    let kind = output.kind();
    match output {
        OutputEvent::ScoreChanged(change) => {
            let header = (change.event_id, &*change.customer_id, change.at);
            write_header(kind, header, &change.model_version, change.cause, out);
            write_score_changed(change, out);
        }
        OutputEvent::ChurnRiskAlert(alert) => {
            let header = (alert.event_id, &*alert.customer_id, alert.at);
            write_header(kind, header, &alert.model_version, alert.cause, out);
            write_churn_risk_alert(alert, out);
        }
        OutputEvent::ExpansionSignal(signal) => {
            let header = (signal.event_id, &*signal.customer_id, signal.at);
            write_header(kind, header, &signal.model_version, signal.cause, out);
            write_expansion_signal(signal, out);
        }
    }
}

/// The fields every output starts with: type, event id, customer, time, model and cause.
fn write_header(
    kind: &str,
    (event_id, customer_id, at): (EventId, &str, EventTime),
    model_version: &str,
    cause: Cause,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"event_id\":\"");
    out.extend_from_slice(&event_id.digits());
    out.extend_from_slice(b"\",\"customer_id\":");
    string(customer_id, out);
    out.extend_from_slice(b",\"at\":\"");
    let (at, length) = rfc3339::format_utc(at.millis());
    out.extend_from_slice(&at[..length]);
    out.extend_from_slice(b"\",\"model_version\":");
    string(model_version, out);
    out.extend_from_slice(b",\"cause\":\"");
    out.extend_from_slice(cause.as_str().as_bytes());
    out.push(b'"');
}

fn write_score_changed(change: &ScoreChanged, out: &mut Vec<u8>) {
    number_field("score", change.score, out);
    optional_number_field("previous_score", change.previous_score, out);
    string_field("grade", &change.grade, out);
    optional_string_field("previous_grade", change.previous_grade.as_deref(), out);
    string_field("health", &change.health, out);
    optional_string_field("previous_health", change.previous_health.as_deref(), out);
    string_field("value_tier", &change.value_tier, out);
    optional_string_field(
        "previous_value_tier",
        change.previous_value_tier.as_deref(),
        out,
    );
    number_field("churn_risk", change.churn_risk, out);
    string_field("risk_level", &change.risk_level, out);
    string_field("fit_engagement", &change.fit_engagement, out);
    out.extend_from_slice(b",\"components\":");
    named_values(&change.components, out);
    out.extend_from_slice(b",\"top_factors\":[");
    separated(&change.top_factors, out, score_factor);
    out.extend_from_slice(b"]}");
}

fn write_churn_risk_alert(alert: &ChurnRiskAlert, out: &mut Vec<u8>) {
    number_field("risk", alert.risk, out);
    string_field("level", &alert.level, out);
    string_field("previous_level", &alert.previous_level, out);
    number_field("score", alert.score, out);
    reasons(&alert.reasons, out);
    if alert.stale {
        out.extend_from_slice(b",\"stale\":true");
    }
    out.push(b'}');
}

fn write_expansion_signal(signal: &ExpansionSignal, out: &mut Vec<u8>) {
    string_field("fit_engagement", &signal.fit_engagement, out);
    number_field("score", signal.score, out);
    reasons(&signal.reasons, out);
    out.push(b'}');
}

fn score_factor(factor: &ScoreFactor, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"factor\":");
    string(&factor.factor, out);
    number_field("impact", factor.impact, out);
    out.push(b'}');
}

fn reasons(reasons: &[Reason], out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"reasons\":[");
    separated(reasons, out, |reason, out| {
        out.extend_from_slice(b"{\"factor\":");
        string(&reason.factor, out);
        string_field("detail", &reason.detail, out);
        number_field("impact", reason.impact, out);
        out.push(b'}');
    });
    out.push(b']');
}

fn named_values(values: &NamedValues, out: &mut Vec<u8>) {
    out.push(b'{');
    separated(&values.0, out, |(name, value), out| {
        string(name, out);
        out.push(b':');
        number(*value, out);
    });
    out.push(b'}');
}

/// Writes each item with `write`, commas between them.
fn separated<T>(items: &[T], out: &mut Vec<u8>, write: impl Fn(&T, &mut Vec<u8>)) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write(item, out);
    }
}

/// `,"key":` for a key that needs no escaping.
fn key(name: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn number_field(name: &str, value: f64, out: &mut Vec<u8>) {
    key(name, out);
    number(value, out);
}

fn optional_number_field(name: &str, value: Option<f64>, out: &mut Vec<u8>) {
    key(name, out);
    match value {
        Some(value) => number(value, out),
        None => out.extend_from_slice(b"null"),
    }
}

fn string_field(name: &str, value: &str, out: &mut Vec<u8>) {
    key(name, out);
    string(value, out);
}

fn optional_string_field(name: &str, value: Option<&str>, out: &mut Vec<u8>) {
    key(name, out);
    match value {
        Some(value) => string(value, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// A number as serde_json writes it: its own shortest form, and `null` when not finite.
fn number(value: f64, out: &mut Vec<u8>) {
    if !value.is_finite() {
        out.extend_from_slice(b"null");
    } else if !short_decimal(value, out) {
        // Writing into memory cannot fail.
        let _ = CompactFormatter.write_f64(out, value);
    }
}

/// Writes a number of up to two decimals below ten million (what scores, risks and impacts
/// are rounded to) the way the shortest round-trip form does, as `23.0`, `71.5` or `0.29`,
/// without the general algorithm; false for any other number, which is left unwritten.
fn short_decimal(value: f64, out: &mut Vec<u8>) -> bool {
    const SCALES: [f64; 3] = [1.0, 10.0, 100.0];
    let magnitude = value.abs();
    if magnitude >= 1e7 {
        return false;
    }
    for (decimals, scale) in SCALES.iter().enumerate() {
        let scaled = (magnitude * scale).round();
        // The fewest decimals that read back as the same number give the shortest form. Below
        // ten million, numbers 0.01 apart are far more than one unit of precision apart, so no
        // other text with as many decimals reads back as this number.
        if scaled / scale != magnitude {
            continue;
        }
        if value.is_sign_negative() {
            out.push(b'-');
        }
        let scaled = scaled as u64;
        let divisor = [1, 10, 100][decimals];
        digits(scaled / divisor, out);
        out.push(b'.');
        match decimals {
            0 => out.push(b'0'),
            1 => out.push(b'0' + (scaled % 10) as u8),
            _ => {
                out.push(b'0' + (scaled / 10 % 10) as u8);
                out.push(b'0' + (scaled % 10) as u8);
            }
        }
        return true;
    }
    false
}

/// Writes a whole number in decimal.
fn digits(mut number: u64, out: &mut Vec<u8>) {
    let mut text = [0u8; 20];
    let mut at = text.len();
    loop {
        at -= 1;
        text[at] = b'0' + (number % 10) as u8;
        number /= 10;
        if number == 0 {
            break;
        }
    }
    out.extend_from_slice(&text[at..]);
}

/// A string with serde_json's escapes: quote, backslash and control characters only.
fn string(text: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (at, byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..at]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(byte >> 4)]);
            out.push(HEX[usize::from(byte & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests;
