//! Exact decayed values against numbers computed by hand from SPEC section 3's formula
//! `sum(v * 2^(-(T - t_event) / half_life))`.

mod support;

use healthscore::engine::Engine;
use support::{day, default_model, event, feed, model_from};

fn signal(engine: &Engine, customer: &str, name: &str, at: f64) -> serde_json::Value {
    let view = engine
        .view(customer, Some(day(at)), false)
        .expect("customer exists");
    view.signals[name].clone()
}

fn close(value: &serde_json::Value, expected: f64) {
    let actual = value.as_f64().expect("a number");
    assert!(
        (actual - expected).abs() <= 1e-5 * expected.abs().max(1.0),
        "got {actual}, expected {expected}"
    );
}

#[test]
fn decayed_count_halves_every_half_life() {
    let mut engine = Engine::new(default_model());
    feed(
        &mut engine,
        &[
            event("acme", "login", 0.0, ""),
            event("acme", "login", 7.0, ""),
        ],
    );
    // usage_7d at day 14: 2^-2 + 2^-1 = 0.75; usage_30d: 2^(-14/30) + 2^(-7/30).
    close(&signal(&engine, "acme", "usage_7d", 14.0), 0.75);
    close(
        &signal(&engine, "acme", "usage_30d", 14.0),
        2f64.powf(-14.0 / 30.0) + 2f64.powf(-7.0 / 30.0),
    );
    // At the time of the last event, the older one weighs 1/2.
    close(&signal(&engine, "acme", "usage_7d", 7.0), 1.5);
}

#[test]
fn decayed_sum_and_mean_weigh_values() {
    let mut engine = Engine::new(default_model());
    feed(
        &mut engine,
        &[
            event("acme", "session", 0.0, r#""duration_s": 600"#),
            event("acme", "session", 30.0, r#""duration_s": 60"#),
            event("acme", "csat", 0.0, r#""score": 1"#),
            event("acme", "csat", 90.0, r#""score": 4"#),
        ],
    );
    // session_seconds_30d at day 60: 600/4 + 60/2 = 180.
    close(&signal(&engine, "acme", "session_seconds_30d", 60.0), 180.0);
    // csat_90d at any time: (1 * 1/2 + 4 * 1) / (1/2 + 1) = 3.
    close(&signal(&engine, "acme", "csat_90d", 90.0), 3.0);
    close(&signal(&engine, "acme", "csat_90d", 400.0), 3.0);
}

#[test]
fn last_value_last_seen_and_distinct() {
    let mut engine = Engine::new(default_model());
    feed(
        &mut engine,
        &[
            event("acme", "nps", 5.0, r#""score": 3"#),
            event("acme", "nps", 2.0, r#""score": 10"#),
            event("acme", "feature_used", 1.0, r#""feature": "a""#),
            event("acme", "feature_used", 20.0, r#""feature": "b""#),
            event("acme", "feature_used", 25.0, r#""feature": "b""#),
            event("acme", "feature_used", 40.0, r#""feature": "c""#),
        ],
    );
    // The latest NPS by event time wins, even though it arrived first.
    close(&signal(&engine, "acme", "nps_last", 40.0), 3.0);
    // features_30d at day 40 counts b (day 25) and c (day 40); a (day 1) is out of the window.
    close(&signal(&engine, "acme", "features_30d", 40.0), 2.0);
    close(&signal(&engine, "acme", "features_30d", 60.0), 1.0);
    assert_eq!(
        signal(&engine, "acme", "last_usage", 40.0),
        serde_json::json!(day(40.0).to_string())
    );
    assert_eq!(
        signal(&engine, "acme", "mrr", 40.0),
        serde_json::Value::Null
    );
}

#[test]
fn late_and_far_apart_events_stay_exact() {
    let mut engine = Engine::new(default_model());
    // Day 300 is more than 24 half-lives of 7 days after day 0, so the decay landmark moves;
    // the day-150 event then arrives late. (Day 300 stays inside the 400-day expiry.)
    feed(
        &mut engine,
        &[
            event("acme", "login", 0.0, ""),
            event("acme", "login", 300.0, ""),
            event("acme", "login", 150.0, ""),
        ],
    );
    let expected = |half_life: f64| {
        [0.0, 300.0, 150.0]
            .iter()
            .map(|at: &f64| 2f64.powf(-(310.0 - at) / half_life))
            .sum::<f64>()
    };
    close(&signal(&engine, "acme", "usage_7d", 310.0), expected(7.0));
    close(&signal(&engine, "acme", "usage_90d", 310.0), expected(90.0));
    close(
        &signal(&engine, "acme", "usage_365d", 310.0),
        expected(365.0),
    );
}

#[test]
fn customers_silent_past_the_horizon_are_expired() {
    let mut engine = Engine::new(default_model());
    feed(
        &mut engine,
        &[
            event("acme", "login", 0.0, ""),
            event("globex", "login", 399.0, ""),
        ],
    );
    assert!(engine.view("acme", None, false).is_some());
    let mut outputs = Vec::new();
    engine.advance_to(day(401.0), &mut outputs);
    assert!(engine.view("acme", None, false).is_none());
    assert!(engine.view("globex", None, false).is_some());
    assert_eq!(engine.expired_count(), 1);
}

#[test]
fn where_filters_pick_events_by_field_value() {
    let mut engine = Engine::new(default_model());
    feed(
        &mut engine,
        &[
            event("acme", "page_view", 0.0, r#""page": "cancel""#),
            event("acme", "page_view", 0.0, r#""page": "pricing""#),
            event("acme", "page_view", 0.0, r#""page": "billing/downgrade""#),
            event(
                "acme",
                "ticket_opened",
                0.0,
                r#""ticket_id": "t1", "priority": "urgent""#,
            ),
            event(
                "acme",
                "ticket_opened",
                0.0,
                r#""ticket_id": "t2", "priority": "low""#,
            ),
        ],
    );
    close(&signal(&engine, "acme", "cancel_pages_14d", 14.0), 1.0);
    close(&signal(&engine, "acme", "urgent_tickets_30d", 0.0), 1.0);
    close(&signal(&engine, "acme", "tickets_30d", 0.0), 2.0);
}

#[test]
fn custom_types_feed_custom_signals() {
    let config = healthscore::config::DEFAULT_CONFIG_TOML.replace(
        "[signals.usage_7d]",
        "[signals.webinars_30d]\ntypes = [\"webinar_attended\"]\naggregate = \"sum\"\nfield = \"minutes\"\nhalf_life = \"30d\"\n\n[signals.usage_7d]",
    );
    let mut engine = Engine::new(model_from(&config));
    feed(
        &mut engine,
        &[event("acme", "webinar_attended", 0.0, r#""minutes": 40"#)],
    );
    close(&signal(&engine, "acme", "webinars_30d", 30.0), 20.0);
}
