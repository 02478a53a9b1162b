//! The fast path of JSON decoding, for what nearly every message is: one flat object whose
//! strings have no escapes and whose values are strings, numbers, booleans or null.
//!
//! It reads such a message in one scan, borrowing every string. At the first thing outside that
//! shape (an escape, a nested value, a long or negative-zero number, a syntax error), it gives up
//! and the caller reads the message with serde_json, which also explains errors. Where it does
//! finish, the result is the same as serde_json's; a property test compares the two.

use std::borrow::Cow;

use super::raw_object::{JsonValue, RawObject};

/// Integers with more digits than this go to serde_json (18 digits always fit in an `i64`).
const MAX_FAST_DIGITS: usize = 18;

/// Reads `text` if it is a flat object without escapes; `None` sends it to serde_json.
pub(super) fn read_flat_object(text: &str) -> Option<RawObject<'_>> {
    let mut scanner = Scanner { text, at: 0 };
    let mut raw = RawObject::default();
    scanner.skip_whitespace();
    scanner.expect(b'{')?;
    scanner.skip_whitespace();
    if scanner.peek()? == b'}' {
        scanner.at += 1;
    } else {
        loop {
            let key = scanner.string()?;
            scanner.skip_whitespace();
            scanner.expect(b':')?;
            scanner.skip_whitespace();
            let value = scanner.value()?;
            raw.insert(Cow::Borrowed(key), value);
            scanner.skip_whitespace();
            match scanner.next()? {
                b',' => scanner.skip_whitespace(),
                b'}' => break,
                _ => return None,
            }
        }
    }
    scanner.skip_whitespace();
    (scanner.at == text.len()).then_some(raw)
}

/// How many bytes at the start of `bytes` are neither a quote, a backslash nor a control
/// character: eight at a time while none of them is one.
fn plain_run(bytes: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        // A byte of `x` is zero where the high bit of `(x - ONES) & !x` is set.
        let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH_BITS;
        let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
        let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
        // Bytes below 0x20 (ASCII ones: the high bit of `word` clears the rest).
        let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH_BITS;
        if quote | backslash | control != 0 {
            break;
        }
        at += 8;
    }
    at + bytes[at..]
        .iter()
        .position(|byte| matches!(byte, b'"' | b'\\' | 0..=0x1f))
        .unwrap_or(bytes.len() - at)
}

/// A position in the message.
struct Scanner<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scanner<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, expected: u8) -> Option<()> {
        (self.next()? == expected).then_some(())
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    /// A string without escapes or control characters, borrowed.
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        let end = start + plain_run(&self.bytes()[start..]);
        if self.bytes().get(end) != Some(&b'"') {
            return None;
        }
        self.at = end + 1;
        // Both ends are ASCII quotes, so they fall on character boundaries.
        self.text.get(start..end)
    }

    fn value(&mut self) -> Option<JsonValue<'a>> {
        match self.peek()? {
            b'"' => Some(JsonValue::Text(Cow::Borrowed(self.string()?))),
            b't' => self.literal("true", JsonValue::Bool(true)),
            b'f' => self.literal("false", JsonValue::Bool(false)),
            b'n' => self.literal("null", JsonValue::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str, value: JsonValue<'a>) -> Option<JsonValue<'a>> {
        if !self.bytes()[self.at..].starts_with(word.as_bytes()) {
            return None;
        }
        self.at += word.len();
        Some(value)
    }

    /// A number as serde_json reads it: an integer of up to 18 digits exactly, one with a
    /// fraction or exponent by serde_json's own float parser (so the result is the same to the
    /// bit); `-0` and anything longer go to serde_json.
    fn number(&mut self) -> Option<JsonValue<'a>> {
        let start = self.at;
        let negative = self.peek()? == b'-';
        if negative {
            self.at += 1;
        }
        let digits_start = self.at;
        self.skip_digits();
        let digits = self.at - digits_start;
        if digits == 0 || (digits > 1 && self.bytes()[digits_start] == b'0') {
            return None;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            if self.peek()? == b'.' {
                self.at += 1;
                self.expect_digits()?;
            }
            if matches!(self.peek(), Some(b'e' | b'E')) {
                self.at += 1;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.at += 1;
                }
                self.expect_digits()?;
            }
            let number: f64 = serde_json::from_str(&self.text[start..self.at]).ok()?;
            return Some(JsonValue::Number(number));
        }
        if digits > MAX_FAST_DIGITS {
            return None;
        }
        let magnitude = self.bytes()[digits_start..self.at]
            .iter()
            .fold(0i64, |total, digit| total * 10 + i64::from(digit - b'0'));
        match (negative, magnitude) {
            // serde_json reads `-0` as the float -0.0.
            (true, 0) => None,
            (true, magnitude) => Some(JsonValue::Integer(-magnitude)),
            (false, magnitude) => Some(JsonValue::Integer(magnitude)),
        }
    }

    fn skip_digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    fn expect_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.skip_digits();
        (self.at > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::json::read_with_serde;
    use super::*;
    use crate::engine::decode::DecodeError;
    use crate::engine::event::Event;

    fn fast(text: &str) -> Option<Result<Event<'_>, DecodeError>> {
        read_flat_object(text).map(RawObject::into_event)
    }

    fn general(text: &str) -> Result<Event<'_>, DecodeError> {
        read_with_serde(text).and_then(RawObject::into_event)
    }

    #[test]
    fn a_generated_event_takes_the_fast_path_and_borrows_its_strings() {
        let text = r#"{"event_id":"gen-1","customer_id":"cust-000001","type":"invoice_paid","timestamp":"2026-01-01T00:00:00Z","amount":120.5,"days_late":3,"channel":"card"}"#;
        let event = fast(text).expect("fast path").unwrap();
        assert_eq!(Ok(event.clone()), general(text));
        assert!(matches!(event.customer_id, Cow::Borrowed("cust-000001")));
        assert_eq!(event.number("amount"), Some(120.5));
        assert_eq!(event.number("days_late"), Some(3.0));
    }

    #[test]
    fn a_plain_run_ends_at_the_first_quote_backslash_or_control_character() {
        for stop in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for length in 0..20 {
                let mut bytes = vec![b'a'; length];
                bytes.extend_from_slice("é\x7f~ ".as_bytes());
                let run = bytes.len();
                bytes.push(stop);
                bytes.extend_from_slice(b"bbbbbbbbbbbb");
                assert_eq!(plain_run(&bytes), run, "stop {stop} after {length}");
            }
        }
        assert_eq!(plain_run(b"abcdefghijk"), 11);
        assert_eq!(plain_run(b""), 0);
    }

    #[test]
    fn anything_outside_the_flat_shape_goes_to_serde_json() {
        for text in [
            r#"{"customer_id":"ac\u006de","type":"login","timestamp":0}"#,
            r#"{"customer_id":"a","type":"login","timestamp":0,"nested":{"a":1}}"#,
            r#"{"customer_id":"a","type":"login","timestamp":0,"list":[1]}"#,
            r#"{"customer_id":"a","type":"login","timestamp":0,"n":-0}"#,
            r#"{"customer_id":"a","type":"login","timestamp":0,"n":1234567890123456789}"#,
            r#"{"customer_id":"a","type":"login","timestamp":0,"n":01}"#,
            r#"{"customer_id":"a","type":"login","timestamp":0,"n":1.}"#,
            r#"{"customer_id":"a","type":"login","timestamp":0,"n":1e400}"#,
            "{\"customer_id\":\"a\tb\",\"type\":\"login\",\"timestamp\":0}",
            r#"{"customer_id":"a","type":"login","timestamp":0,}"#,
            r#"{"customer_id":"a","type":"login","timestamp":0} x"#,
            r#"{"customer_id":"a","type":"login","timestamp":0"#,
            r#"{"customer_id":"a","type":"login","timestamp":tru}"#,
            r#"[1,2]"#,
            "",
        ] {
            assert!(read_flat_object(text).is_none(), "{text}");
        }
    }

    /// One value as JSON text: mostly the usual kinds, now and then one each path must agree on.
    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            6 => "[a-z0-9 /.-]{0,12}".prop_map(|text| format!("\"{text}\"")),
            4 => any::<i64>().prop_map(|number| number.to_string()),
            4 => (0u32..100_000).prop_map(|number| number.to_string()),
            3 => any::<f64>()
                .prop_filter("finite", |number| number.is_finite())
                .prop_map(|number| format!("{number:e}")),
            3 => (-1000i32..1000, 0u32..1000).prop_map(|(whole, part)| format!("{whole}.{part}")),
            1 => Just("true".to_string()),
            1 => Just("false".to_string()),
            1 => Just("null".to_string()),
            1 => Just("-0".to_string()),
            1 => Just("\"2026-03-01T12:00:00Z\"".to_string()),
            1 => Just("\"a\\\"b\"".to_string()),
            1 => Just("{\"x\":[1,{}]}".to_string()),
            1 => Just("1e400".to_string()),
            1 => Just("18446744073709551616".to_string()),
        ]
    }

    /// A key: mostly a name of its own, now and then a common field (so duplicates and wrong
    /// types happen).
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            1 => Just("customer_id".to_string()),
            1 => Just("type".to_string()),
            1 => Just("timestamp".to_string()),
            1 => Just("event_id".to_string()),
            1 => Just("amount".to_string()),
            1 => Just("days_late".to_string()),
            20 => "[a-z_]{3,10}",
        ]
    }

    fn whitespace() -> impl Strategy<Value = String> {
        prop_oneof![Just(""), Just(" "), Just("\n\t "), Just("\r\n")].prop_map(str::to_string)
    }

    /// A message: mostly a plausible event, sometimes with random fields, odd spacing, or cut.
    fn message() -> impl Strategy<Value = String> {
        (
            prop_oneof![6 => Just("login"), 1 => Just("invoice_paid"), 1 => Just("session")],
            0i64..2_000_000_000_000,
            proptest::collection::vec((key(), value()), 0..5),
            whitespace(),
            any::<bool>(),
            0usize..200,
        )
            .prop_map(|(event_type, millis, extra, space, quoted, cut)| {
                let timestamp = if quoted {
                    "\"2026-01-01T00:00:00Z\"".to_string()
                } else {
                    millis.to_string()
                };
                let mut fields = vec![
                    ("customer_id".to_string(), "\"c-1\"".to_string()),
                    ("type".to_string(), format!("\"{event_type}\"")),
                    ("timestamp".to_string(), timestamp),
                ];
                fields.extend(extra);
                let body: Vec<String> = fields
                    .iter()
                    .map(|(key, value)| format!("{space}\"{key}\"{space}:{space}{value}{space}"))
                    .collect();
                let text = format!("{space}{{{}}}{space}", body.join(","));
                // Now and then the message is cut short, at a character boundary.
                match text.char_indices().nth(cut) {
                    Some((at, _)) if cut % 13 == 0 => text[..at].to_string(),
                    _ => text,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn where_the_fast_path_finishes_it_decodes_exactly_as_serde_json_does(text in message()) {
            if let Some(result) = fast(&text) {
                prop_assert_eq!(result, general(&text), "{}", text);
            }
        }
    }
}
