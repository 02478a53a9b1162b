use super::*;
use crate::config::{Config, DEFAULT_CONFIG_TOML};
use crate::engine::{Cause, ChurnRiskAlert, EventId};

fn day(day: i64) -> EventTime {
    EventTime::from_millis(day * 86_400_000).unwrap()
}

fn alert(customer: &str, at: i64, level: &str) -> OutputEvent {
    OutputEvent::ChurnRiskAlert(ChurnRiskAlert {
        event_id: EventId(0),
        customer_id: customer.into(),
        at: day(at),
        model_version: "test".into(),
        cause: Cause::Event,
        risk: 0.5,
        level: level.into(),
        previous_level: "low".into(),
        score: 50.0,
        reasons: Vec::new(),
        stale: false,
    })
}

#[test]
fn precision_by_level_and_alert_rate_match_a_hand_count() {
    let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "default").unwrap();
    let model = Model::compile(&config.model).unwrap();
    let mut log = AlertLog::new(&model, day(100), 30 * 86_400_000);
    log.saw_event(day(10));
    log.saw_event(day(99));
    for output in [
        alert("a", 80, "medium"),   // in the window; churned
        alert("b", 75, "high"),     // in the window; stayed
        alert("c", 50, "medium"),   // before the window: counted as raised only; churned
        alert("d", 90, "critical"), // in the window; churned
        alert("d", 95, "low"),      // a clear: not an alert raised
        alert("f", 100, "high"),    // at the scoring time: not before it
    ] {
        log.record(&output);
    }
    let ids: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).to_vec();
    let labels = [true, false, true, true, false];
    let precision = log.precision(&ids, &labels);

    let summary: Vec<(&str, usize, usize)> = precision
        .levels
        .iter()
        .map(|level| (level.level.as_str(), level.customers, level.churned))
        .collect();
    // medium or above: a, b, d; high or above: b, d; critical: d.
    assert_eq!(
        summary,
        [("medium", 3, 2), ("high", 2, 1), ("critical", 1, 1)]
    );
    // The base rate is 3 of 5.
    assert!((precision.levels[0].precision - 2.0 / 3.0).abs() < 1e-12);
    assert!((precision.levels[0].lift - (2.0 / 3.0) / 0.6).abs() < 1e-12);
    assert!((precision.levels[1].lift - 0.5 / 0.6).abs() < 1e-12);
    // a, b, c and d's critical: four alerts for five customers over 90 days of history.
    assert_eq!(precision.alerts, 4);
    let months = 90.0 / 30.4375;
    assert!((precision.alerts_per_customer_month - 4.0 / 5.0 / months).abs() < 1e-12);
    assert_eq!(precision.window_days, 30.0);
}
