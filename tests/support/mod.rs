//! Helpers shared by the integration tests: the default model, event lines, and a driver that
//! feeds events to an engine the way `replay` does.
#![allow(dead_code)]

pub mod child_service;
pub mod kafka;
pub mod layout;
pub mod own_broker;

use std::sync::Arc;

use healthscore::config::{Config, DEFAULT_CONFIG_TOML};
use healthscore::engine::decode::decode_json;
use healthscore::engine::{Engine, EventTime, Model, OutputEvent};
use healthscore::snapshot::{InputOffsets, SnapshotStore};

/// 2026-01-01T00:00:00Z, the start of every test timeline.
pub const START_MILLIS: i64 = 1_767_225_600_000;
/// One day in milliseconds.
pub const DAY_MILLIS: i64 = 86_400_000;

/// The shipped default model.
pub fn default_model() -> Arc<Model> {
    model_from(DEFAULT_CONFIG_TOML)
}

/// A model from config text.
pub fn model_from(text: &str) -> Arc<Model> {
    let config = Config::from_toml_str(text, "test").expect("test config parses");
    Arc::new(Model::compile(&config.model).expect("test model compiles"))
}

/// The time `day` days (may be fractional) after the start.
pub fn day(day: f64) -> EventTime {
    EventTime::from_millis(START_MILLIS + (day * DAY_MILLIS as f64) as i64).expect("in range")
}

/// One JSON event line; `extra` is more JSON fields without braces, such as `"amount": 5`.
pub fn event(customer: &str, event_type: &str, at_day: f64, extra: &str) -> String {
    let separator = if extra.is_empty() { "" } else { "," };
    format!(
        r#"{{"customer_id":"{customer}","type":"{event_type}","timestamp":{}{separator}{extra}}}"#,
        day(at_day).millis()
    )
}

/// Feeds lines to the engine in the given order, advancing time to the latest event seen,
/// and returns every output.
pub fn feed(engine: &mut Engine, lines: &[String]) -> Vec<OutputEvent> {
    let mut outputs = Vec::new();
    for line in lines {
        let event = decode_json(line.as_bytes()).expect("test events are valid");
        engine.ingest(&event, &mut outputs);
    }
    outputs
}

/// A steady, healthy customer's daily activity from `from` to `to` (days): logins, sessions,
/// five features, weekly emails opened, monthly invoices paid on time, good CSAT and NPS.
pub fn healthy_days(customer: &str, from: u32, to: u32) -> Vec<String> {
    let features = ["reports", "dashboards", "alerts", "exports", "integrations"];
    let mut lines = Vec::new();
    for day_number in from..to {
        let at = f64::from(day_number);
        lines.push(event(customer, "login", at + 0.35, ""));
        lines.push(event(
            customer,
            "session",
            at + 0.36,
            r#""duration_s": 1800"#,
        ));
        let feature = features[day_number as usize % features.len()];
        lines.push(event(
            customer,
            "feature_used",
            at + 0.4,
            &format!(r#""feature": "{feature}""#),
        ));
        if day_number % 7 == 0 {
            lines.push(event(customer, "email_sent", at + 0.5, ""));
            lines.push(event(customer, "email_opened", at + 0.6, ""));
        }
        if day_number % 30 == 0 {
            lines.push(event(
                customer,
                "invoice_paid",
                at + 0.7,
                r#""amount": 2500, "days_late": 0"#,
            ));
        }
        if day_number % 45 == 10 {
            lines.push(event(customer, "csat", at + 0.8, r#""score": 5"#));
            lines.push(event(customer, "nps", at + 0.8, r#""score": 9"#));
        }
    }
    lines
}

/// Outputs of one kind for one customer.
pub fn outputs_of<'a>(
    outputs: &'a [OutputEvent],
    customer: &str,
    kind: &str,
) -> Vec<&'a OutputEvent> {
    outputs
        .iter()
        .filter(|output| output.customer_id() == customer && output.kind() == kind)
        .collect()
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap()
}

/// A plain HTTP/1.0 GET: the status code and the body.
pub fn http_get(address: &str, path: &str) -> (u16, String) {
    try_http_get(address, path).expect("the HTTP server answers")
}

/// Like [`http_get`], but `None` while nothing listens or the answer is cut short.
pub fn try_http_get(address: &str, path: &str) -> Option<(u16, String)> {
    try_http_get_authorized(address, path, None)
}

/// Like [`http_get`], with `Authorization: <authorization>` when given.
pub fn http_get_authorized(address: &str, path: &str, authorization: &str) -> (u16, String) {
    try_http_get_authorized(address, path, Some(authorization)).expect("the HTTP server answers")
}

fn try_http_get_authorized(
    address: &str,
    path: &str,
    authorization: Option<&str>,
) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    let authorization = authorization
        .map(|value| format!("Authorization: {value}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: test\r\n{authorization}\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Some((status, body))
}

/// The newest usable snapshot of input partition `partition` under the snapshot folder `folder`,
/// decoded with the default model, with the offsets it holds; `None` when there is none.
pub fn newest_snapshot(folder: &std::path::Path, partition: i32) -> Option<(Engine, InputOffsets)> {
    let model = default_model();
    SnapshotStore::of_partition(folder, partition, 3)
        .load_latest(|snapshot| {
            Engine::decode_state(Arc::clone(&model), &snapshot.engine_state)
                .map(|engine| (engine, snapshot.offsets))
        })
        .ok()
        .flatten()
        .map(|loaded| loaded.value)
}

/// Sends SIGTERM to a child process (as an orchestrator stopping it does) and returns its exit
/// code (`None`: killed by a signal).
pub fn stop_with_sigterm(child: &mut std::process::Child) -> Option<i32> {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -TERM {}", child.id());
    child.wait().expect("the child is waited for").code()
}

/// Asserts that `engine` holds as many customers as `expected`, each of `expected`'s with the same
/// present state (`context` names the engine in a failure).
pub fn assert_same_customers(engine: &Engine, expected: &Engine, context: &str) {
    assert_eq!(
        engine.customer_count(),
        expected.customer_count(),
        "{context}"
    );
    for customer in expected.customer_ids() {
        assert_eq!(
            engine.view(customer, None, true),
            expected.view(customer, None, true),
            "{customer} in {context}"
        );
    }
}

/// Runs the `healthscore` binary with `arguments` in `directory`, ignoring HEALTHSCORE_CONFIG.
pub fn healthscore(directory: &std::path::Path, arguments: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_healthscore"))
        .args(arguments)
        .current_dir(directory)
        .env_remove("HEALTHSCORE_CONFIG")
        .output()
        .expect("the binary runs")
}
