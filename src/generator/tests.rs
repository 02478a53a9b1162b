//! The generator: deterministic, realistic, and valid input.

use super::*;
use crate::engine::decode::decode_json;

#[test]
fn events_are_valid_time_ordered_and_reproducible() {
    let settings = GeneratorSettings {
        customers: 50,
        ..GeneratorSettings::default()
    };
    let mut first = Generator::new(&settings);
    let mut second = Generator::new(&settings);
    let mut last_time = 0;
    let mut types = std::collections::BTreeSet::new();
    for _ in 0..20_000 {
        let event = first.next_event();
        assert_eq!(event, second.next_event());
        let decoded = decode_json(event.json.as_bytes()).expect("generated events are valid");
        assert!(event.time_millis >= last_time);
        last_time = event.time_millis;
        types.insert(decoded.event_type.to_string());
    }
    for expected in [
        "profile",
        "login",
        "feature_used",
        "invoice_paid",
        "payment_failed",
        "cancellation_requested",
        "ticket_escalated",
    ] {
        assert!(types.contains(expected), "no {expected} in {types:?}");
    }
}
