//! The hand-written JSON against serde_json's, for every kind of output, escape and number.

use std::sync::Arc;

use proptest::prelude::*;

use super::*;

fn by_hand(output: &OutputEvent) -> String {
    let mut out = Vec::new();
    write_output(output, &mut out);
    String::from_utf8(out).unwrap()
}

fn by_serde(output: &OutputEvent) -> String {
    serde_json::to_string(output).unwrap()
}

fn reason(factor: &str, detail: &str, impact: f64) -> Reason {
    Reason {
        factor: factor.into(),
        detail: detail.into(),
        impact,
    }
}

/// One output of each kind, with `text` in every string and `number` in every number.
fn outputs(text: &str, number: f64, millis: i64) -> Vec<OutputEvent> {
    let at = EventTime::from_millis(millis).unwrap();
    let shared: Arc<str> = text.into();
    vec![
        OutputEvent::ScoreChanged(ScoreChanged {
            event_id: EventId(millis as u64),
            customer_id: text.into(),
            at,
            model_version: Arc::clone(&shared),
            cause: Cause::Event,
            score: number,
            previous_score: Some(-number),
            grade: Arc::clone(&shared),
            previous_grade: None,
            health: Arc::clone(&shared),
            previous_health: Some(Arc::clone(&shared)),
            value_tier: Arc::clone(&shared),
            previous_value_tier: None,
            churn_risk: number / 3.0,
            risk_level: Arc::clone(&shared),
            fit_engagement: text.into(),
            components: NamedValues(vec![(Arc::clone(&shared), number), ("x".into(), f64::NAN)]),
            top_factors: vec![
                ScoreFactor {
                    factor: Arc::clone(&shared),
                    impact: number,
                },
                ScoreFactor {
                    factor: "y".into(),
                    impact: -0.0,
                },
            ],
        }),
        OutputEvent::ChurnRiskAlert(ChurnRiskAlert {
            event_id: EventId(u64::MAX),
            customer_id: text.into(),
            at,
            model_version: Arc::clone(&shared),
            cause: Cause::Time,
            risk: number,
            level: Arc::clone(&shared),
            previous_level: "low".into(),
            score: f64::INFINITY,
            reasons: vec![reason(text, text, number), reason("b", "", 0.25)],
            // Both forms: the field written, and left out.
            stale: number.is_sign_negative(),
        }),
        OutputEvent::ExpansionSignal(ExpansionSignal {
            event_id: EventId(0),
            customer_id: text.into(),
            at,
            model_version: Arc::clone(&shared),
            cause: Cause::Model,
            fit_engagement: text.into(),
            score: number,
            reasons: Vec::new(),
        }),
    ]
}

#[test]
fn plain_outputs_are_written_as_serde_json_writes_them() {
    for output in outputs("cust-000017", 71.5, 1_772_366_400_250) {
        assert_eq!(by_hand(&output), by_serde(&output));
    }
}

#[test]
fn every_character_serde_json_escapes_is_escaped_the_same_way() {
    let every_control: String = (0u8..0x20).map(char::from).collect();
    let text = format!("a\"b\\c/d é 😀 {every_control}\u{7f}");
    for output in outputs(&text, 0.1, 0) {
        assert_eq!(by_hand(&output), by_serde(&output));
    }
}

#[test]
fn short_decimals_are_written_as_serde_json_writes_them() {
    for value in [
        0.0,
        -0.0,
        1.0,
        23.3,
        71.5,
        0.29,
        0.01,
        -11.3,
        100.0,
        0.1,
        0.07,
        9_999_999.99,
        10_000_000.0,
        1e-7,
        0.125,
        2.675,
        1e21,
        5e-324,
    ] {
        let mut out = Vec::new();
        number(value, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
    }
}

proptest! {
    #[test]
    fn any_number_is_written_as_serde_json_writes_it(
        value in prop_oneof![
            any::<f64>(),
            (-1_000_000_000i64..1_000_000_000).prop_map(|cents| cents as f64 / 100.0),
            (-100_000i64..100_000).prop_map(|tenths| tenths as f64 / 10.0),
        ],
    ) {
        let mut out = Vec::new();
        number(value, &mut out);
        let expected = if value.is_finite() {
            serde_json::to_string(&value).unwrap()
        } else {
            "null".to_string()
        };
        prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn any_output_is_written_as_serde_json_writes_it(
        text in "\\PC{0,16}",
        number in any::<f64>(),
        millis in 0i64..=u32::MAX as i64 * 1000,
    ) {
        for output in outputs(&text, number, millis) {
            prop_assert_eq!(by_hand(&output), by_serde(&output));
        }
    }
}
