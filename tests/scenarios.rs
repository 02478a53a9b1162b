//! Whole-customer stories through the default model: what a customer-success team relies on.

mod support;

use healthscore::engine::{Engine, OutputEvent};
use std::sync::Arc;

use healthscore::config::DEFAULT_CONFIG_TOML;
use healthscore::engine::model::Model;
use support::{day, default_model, event, feed, healthy_days, model_from, outputs_of};

fn reasons_of(output: &OutputEvent) -> Vec<String> {
    match output {
        OutputEvent::ChurnRiskAlert(alert) => alert
            .reasons
            .iter()
            .map(|reason| reason.factor.to_string())
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn a_healthy_customer_stays_green_with_low_risk_and_no_churn_alert() {
    let mut engine = Engine::new(default_model());
    let mut lines = vec![event(
        "acme",
        "profile",
        0.0,
        r#""plan": "business", "seats": 80, "mrr": 2500"#,
    )];
    lines.extend(healthy_days("acme", 0, 120));
    let outputs = feed(&mut engine, &lines);
    let view = engine.view("acme", None, true).unwrap();
    assert_eq!(view.health, "green", "{view:?}");
    assert_eq!(view.risk_level, "low", "{view:?}");
    assert!(view.score >= 75.0, "{view:?}");
    assert!(outputs_of(&outputs, "acme", "churn_risk_alert").is_empty());
    // Business plan is fit B; engaged with five features: expansion-ready, signalled once.
    assert!(view.fit_engagement.starts_with('B'), "{view:?}");
    let expansions = outputs_of(&outputs, "acme", "expansion_signal");
    assert_eq!(expansions.len(), 1, "{expansions:?}");
}

#[test]
fn a_fading_customer_with_cancel_visits_failed_payment_and_escalation_goes_red_with_reasons() {
    let mut engine = Engine::new(default_model());
    let mut lines = healthy_days("globex", 0, 90);
    for day_number in (90..120).step_by(6) {
        lines.push(event("globex", "login", f64::from(day_number), ""));
    }
    lines.push(event(
        "globex",
        "ticket_escalated",
        112.0,
        r#""ticket_id": "T-9""#,
    ));
    lines.push(event(
        "globex",
        "payment_failed",
        114.0,
        r#""amount": 2500"#,
    ));
    lines.push(event("globex", "page_view", 116.0, r#""page": "cancel""#));
    lines.push(event("globex", "page_view", 118.0, r#""page": "refund""#));
    let outputs = feed(&mut engine, &lines);

    let view = engine.view("globex", None, true).unwrap();
    assert_eq!(view.health, "red", "{view:?}");
    assert_eq!(view.risk_level, "critical", "{view:?}");
    // Alerts go out as the risk crosses each level, naming the causes present at that moment.
    let alerts: Vec<_> = outputs_of(&outputs, "globex", "churn_risk_alert")
        .into_iter()
        .map(|output| match output {
            OutputEvent::ChurnRiskAlert(alert) => alert.clone(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(alerts.first().map(|alert| &*alert.level), Some("medium"));
    assert_eq!(alerts.last().map(|alert| &*alert.level), Some("critical"));
    let mut named: Vec<String> = alerts
        .iter()
        .flat_map(|alert| alert.reasons.iter().map(|reason| reason.factor.to_string()))
        .collect();
    named.sort();
    named.dedup();
    for cause in ["usage_drop", "support_escalations"] {
        assert!(
            named.contains(&cause.to_string()),
            "{cause} missing from {named:?}"
        );
    }
    for alert in &alerts {
        assert!(alert.reasons.iter().all(|reason| !reason.detail.is_empty()));
        let total: f64 = alert.reasons.iter().map(|reason| reason.impact).sum();
        assert!(total <= alert.risk + 0.02, "impacts are shares of the risk");
    }
    // The red customer's explanation names every cause, the cancellation visits first.
    let explanation = view.explanation.unwrap();
    let reasons: Vec<&str> = explanation
        .churn_reasons
        .iter()
        .map(|reason| reason.factor.as_ref())
        .collect();
    assert_eq!(reasons[0], "cancellation_intent", "{reasons:?}");
    for cause in ["usage_drop", "payment_trouble", "support_escalations"] {
        assert!(reasons.contains(&cause), "{cause} missing from {reasons:?}");
    }
    assert!(explanation.churn_reasons[0]
        .detail
        .contains("cancellation, refund or downgrade"));
}

#[test]
fn a_healthy_customer_who_goes_silent_gets_a_time_caused_drop_and_alert() {
    let mut engine = Engine::new(default_model());
    let outputs = feed(&mut engine, &healthy_days("initech", 0, 90));
    assert!(outputs_of(&outputs, "initech", "churn_risk_alert").is_empty());
    let mut later = Vec::new();
    engine.advance_to(day(180.0), &mut later);

    let drops: Vec<_> = outputs_of(&later, "initech", "score_changed");
    assert!(!drops.is_empty());
    for output in &drops {
        let OutputEvent::ScoreChanged(change) = output else {
            unreachable!()
        };
        assert_eq!(change.cause.as_str(), "time");
        assert!(change.score < change.previous_score.unwrap());
    }
    let alerts = outputs_of(&later, "initech", "churn_risk_alert");
    let OutputEvent::ChurnRiskAlert(first) = alerts.first().expect("silence raises an alert")
    else {
        unreachable!()
    };
    assert_eq!(first.cause.as_str(), "time");
    assert_eq!(&*first.previous_level, "low");
    // Medium risk within two weeks of silence, then higher levels as it goes on.
    assert!(
        first.at > day(95.0) && first.at < day(105.0),
        "{}",
        first.at
    );
    let last = alerts.last().unwrap();
    let OutputEvent::ChurnRiskAlert(last) = last else {
        unreachable!()
    };
    assert!(
        &*last.level == "high" || &*last.level == "critical",
        "{}",
        last.level
    );
    assert!(reasons_of(alerts[0]).contains(&"usage_drop".to_string()));
}

#[test]
fn repeated_event_ids_ignored_types_and_outputs_ids_are_deterministic() {
    let model = default_model();
    let lines = vec![
        event("acme", "login", 0.0, r#""event_id": "e1""#),
        event("acme", "login", 0.1, r#""event_id": "e1""#),
        event("acme", "webinar_attended", 0.2, ""),
        event("acme", "login", 0.3, r#""event_id": "e2""#),
    ];
    let mut first = Engine::new(model.clone());
    let first_outputs = feed(&mut first, &lines);
    let mut second = Engine::new(model);
    let second_outputs = feed(&mut second, &lines);
    assert_eq!(first_outputs, second_outputs);
    let usage = first.view("acme", Some(day(0.3)), false).unwrap().signals["usage_7d"]
        .as_f64()
        .unwrap();
    assert!(
        (usage - (2f64.powf(-0.3 / 7.0) + 1.0)).abs() < 1e-5,
        "{usage}"
    );

    let mut engine = Engine::new(default_model());
    let mut sink = Vec::new();
    let line = event("hooli", "webinar_attended", 0.0, "");
    let ignored = healthscore::engine::decode::decode_json(line.as_bytes()).unwrap();
    assert_eq!(
        engine.ingest(&ignored, &mut sink),
        healthscore::engine::ApplyOutcome::Ignored
    );
    assert_eq!(engine.customer_count(), 0);
}

#[test]
fn a_first_event_emits_a_first_score_without_previous_values() {
    let mut engine = Engine::new(default_model());
    let outputs = feed(&mut engine, &[event("acme", "login", 0.0, "")]);
    let OutputEvent::ScoreChanged(first) = &outputs[0] else {
        panic!("expected score_changed, got {outputs:?}")
    };
    assert_eq!(first.previous_score, None);
    assert_eq!(first.cause.as_str(), "event");
    assert_eq!(first.at, day(0.0));
    assert_eq!(first.model_version.as_ref(), "default-2");
    let json: serde_json::Value = serde_json::from_str(&outputs[0].to_json()).unwrap();
    for key in [
        "type",
        "event_id",
        "customer_id",
        "at",
        "model_version",
        "cause",
        "score",
        "previous_score",
        "grade",
        "previous_grade",
        "health",
        "previous_health",
        "value_tier",
        "churn_risk",
        "risk_level",
        "components",
        "top_factors",
        "fit_engagement",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    assert_eq!(json["type"], "score_changed");
    assert_eq!(json["previous_score"], serde_json::Value::Null);
}

#[test]
fn percentile_tiers_rank_customers_against_each_other() {
    let config = healthscore::config::DEFAULT_CONFIG_TOML.replace(
        "mode = \"absolute\"\ntiers = [\n  { name = \"Strategic\", min = 80 },\n  { name = \"Growth\", min = 65 },\n  { name = \"Maintain\", min = 45 },",
        "mode = \"percentile\"\ntiers = [\n  { name = \"Strategic\", min = 75 },\n  { name = \"Growth\", min = 50 },\n  { name = \"Maintain\", min = 25 },",
    );
    assert!(config.contains("mode = \"percentile\""));
    let mut engine = Engine::new(support::model_from(&config));
    let mut lines = healthy_days("best", 0, 60);
    lines.extend(healthy_days("good", 30, 60));
    lines.push(event("weak", "login", 59.0, ""));
    lines.push(event("weaker", "page_view", 59.5, r#""page": "cancel""#));
    feed(&mut engine, &lines);
    let tier = |customer: &str| engine.view(customer, None, false).unwrap().value_tier;
    assert_eq!(tier("best"), "Strategic");
    assert_eq!(tier("weaker"), "Evaluate");
}

/// What tuning fits weights to: the risk is exactly `1 - Π (1 - weight · value)` over the churn
/// factor values the engine reports, for a fading customer whose factors are all in play.
#[test]
fn the_churn_risk_is_the_noisy_or_of_the_churn_factor_values() {
    let model = default_model();
    let mut engine = Engine::new(model.clone());
    let mut lines = healthy_days("fader", 0, 60);
    lines.push(event(
        "fader",
        "ticket_escalated",
        70.0,
        r#""ticket_id": "T-1""#,
    ));
    lines.push(event("fader", "payment_failed", 75.0, r#""amount": 2500"#));
    lines.push(event("fader", "page_view", 80.0, r#""page": "cancel""#));
    feed(&mut engine, &lines);
    let at = day(90.0);
    let values = engine.churn_factor_values("fader", at).unwrap();
    assert_eq!(values.len(), model.churn_factors.len());
    assert!(values.iter().all(|value| (0.0..=1.0).contains(value)));
    assert!(
        values.iter().filter(|value| **value > 0.0).count() >= 2,
        "{values:?}"
    );
    let survival: f64 = model
        .churn_factors
        .iter()
        .zip(&values)
        .map(|(factor, value)| 1.0 - factor.weight * value)
        .product();
    let risk = engine.evaluation("fader", Some(at)).unwrap().risk;
    assert!(
        (risk - (1.0 - survival)).abs() < 1e-12,
        "{risk} against {}",
        1.0 - survival
    );
    assert_eq!(engine.churn_factor_values("nobody", at), None);
}

#[test]
fn a_new_customer_gets_no_churn_alert_in_its_warm_up_unless_it_asks_to_cancel() {
    let mut engine = Engine::new(default_model());
    // Two light days, then silence: the kind of short, noisy start whose risk means little.
    let mut lines = Vec::new();
    for customer in ["newco", "leaving"] {
        lines.push(event(customer, "login", 0.0, ""));
        lines.push(event(customer, "login", 1.0, ""));
    }
    lines.push(event(
        "leaving",
        "cancellation_requested",
        3.0,
        r#""reason": "budget""#,
    ));
    let mut outputs = feed(&mut engine, &lines);
    let mut more = Vec::new();
    engine.advance_to(day(30.0), &mut more);
    outputs.extend(more);

    let first_alert = |customer: &str| {
        outputs_of(&outputs, customer, "churn_risk_alert")
            .first()
            .map(|output| match output {
                OutputEvent::ChurnRiskAlert(alert) => alert.at,
                _ => unreachable!(),
            })
    };
    // Held through the 14-day warm-up, sent at the first evaluation after it (daily).
    let held = first_alert("newco").expect("an alert once the warm-up is over");
    assert!(
        held >= day(14.0) && held <= day(15.0),
        "first alert at {held}"
    );
    // A cancellation request is a hard signal: the alert goes out at once.
    assert_eq!(first_alert("leaving"), Some(day(3.0)));
}

/// The `usage_drop` factor's value for a customer at `at_day`, under `model`.
fn usage_drop_at(model: Arc<Model>, lines: &[String], customer: &str, at_day: f64) -> f64 {
    let index = model
        .churn_factors
        .iter()
        .position(|factor| factor.name.as_ref() == "usage_drop")
        .expect("the default model has usage_drop");
    let mut engine = Engine::new(model);
    feed(&mut engine, lines);
    engine
        .churn_factor_values(customer, day(at_day))
        .expect("the customer is in memory")[index]
}

#[test]
fn a_usage_drop_counts_once_the_silence_is_long_for_the_customers_own_rhythm() {
    let without_evidence = || {
        model_from(&DEFAULT_CONFIG_TOML.replace(
            "evidence = { last_seen = \"last_counted_use\", events = 5 }, ",
            "",
        ))
    };
    // An order every three weeks for half a year: 18 days after the last one, the 7-day signal
    // has fallen, but at about 1/21 events a day the customer's own rate predicts under one
    // event in 18 days, so the drop counts about a sixth (18 / 21 / 5) of what it would.
    let sparse: Vec<String> = (0..9)
        .map(|order| event("initech", "login", f64::from(order * 21), ""))
        .collect();
    let last = 8.0 * 21.0;
    let full = usage_drop_at(without_evidence(), &sparse, "initech", last + 18.0);
    let weighed = usage_drop_at(default_model(), &sparse, "initech", last + 18.0);
    assert!(full > 0.3, "the 7-day signal alone reads a drop: {full}");
    let share = weighed / full;
    assert!((0.12..0.22).contains(&share), "counted {share} of the drop");
    // Silent for 110 days (five of its gaps), the drop is evidence: it counts several times as
    // much (not in full, as the 90-day baseline itself fades in a silence that long).
    let long_silence = usage_drop_at(default_model(), &sparse, "initech", last + 110.0);
    let full_then = usage_drop_at(without_evidence(), &sparse, "initech", last + 110.0);
    let long_share = long_silence / full_then;
    assert!(long_share > 2.0 * share, "{long_share} against {share}");
    // A daily user silent for a week has missed far more than 5 expected uses: in full at once.
    let daily = healthy_days("acme", 0, 120);
    let daily_drop = usage_drop_at(default_model(), &daily, "acme", 127.0);
    assert!(daily_drop > 0.0);
    assert_eq!(
        daily_drop,
        usage_drop_at(without_evidence(), &daily, "acme", 127.0)
    );
}
