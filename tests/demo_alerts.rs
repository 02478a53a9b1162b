//! The demo's stream (the generator with the embedded default's settings) through the default
//! model: in its first two simulated weeks no customer's churn alert flips back, that is, goes
//! low -> medium (or higher) and back to low within a day, as six of 300 young customers once did
//! in the demo's first minute. (With the current model the pattern no longer appears in this
//! stream even without the warm-up; the test keeps it from coming back.)

mod support;

use std::collections::HashMap;

use healthscore::config::{Config, DEFAULT_CONFIG_TOML};
use healthscore::engine::decode::decode_json;
use healthscore::engine::{Engine, EventTime, Model, OutputEvent};
use healthscore::generator::{Generator, GeneratorSettings};

const DAY_MILLIS: i64 = 86_400_000;

/// The (customer, raised at, cleared at) of every churn alert cleared within a day of being
/// raised, over the first `days` of the demo stream.
fn flips_back(days: i64) -> Vec<(String, EventTime, EventTime)> {
    let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "demo").unwrap();
    let model = std::sync::Arc::new(Model::compile(&config.model).unwrap());
    let settings = &config.service.generator;
    let mut generator = Generator::new(&GeneratorSettings {
        customers: settings.customers,
        seed: settings.seed,
        events_per_customer_day: settings.events_per_customer_day,
        ..GeneratorSettings::default()
    });
    let mut engine = Engine::new(model);
    let mut outputs = Vec::new();
    let mut raised: HashMap<String, EventTime> = HashMap::new();
    let mut flips = Vec::new();
    let mut start = None;
    loop {
        let generated = generator.next_event();
        let first = *start.get_or_insert(generated.time_millis);
        if generated.time_millis >= first + days * DAY_MILLIS {
            break;
        }
        let event = decode_json(generated.json.as_bytes()).unwrap();
        engine.ingest(&event, &mut outputs);
        for output in outputs.drain(..) {
            let OutputEvent::ChurnRiskAlert(alert) = output else {
                continue;
            };
            if &*alert.level == "low" {
                if let Some(at) = raised.remove(&alert.customer_id) {
                    if alert.at.millis_since(at) < DAY_MILLIS {
                        flips.push((alert.customer_id.clone(), at, alert.at));
                    }
                }
            } else {
                raised.entry(alert.customer_id.clone()).or_insert(alert.at);
            }
        }
    }
    flips
}

#[test]
fn no_churn_alert_flips_back_in_the_demo_s_first_two_weeks() {
    let flips = flips_back(14);
    assert!(
        flips.is_empty(),
        "raised and cleared within a day: {flips:?}"
    );
}
