//! `/metrics` after a known stream: counters and gauges read the expected values, `promtool check
//! metrics` accepts the output, and every metric the alerting rules and the dashboard in
//! `deploy/` use is one the service exports. Runs in its own test binary: the Prometheus recorder
//! is process-wide.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use healthscore::engine::decode::decode_json;
use healthscore::engine::{ApplyOutcome, Engine};
use support::kafka::{broker, consume_async, produce, setup};
use support::{default_model, event, healthy_days, http_get};

/// Every sample in Prometheus text: `name{labels}` to value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Every metric family name in Prometheus text (histogram series folded into their family).
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Every `healthscore_*` name in a file, with histogram suffixes folded into the family.
fn names_used_in(path: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{path}: {error}"));
    let mut names = BTreeSet::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("healthscore_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|character| character.is_ascii_alphanumeric() || *character == '_')
            .collect();
        rest = &rest[at + name.len()..];
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name)
            .to_string();
        names.insert(family);
    }
    names
}

fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("{series} missing from /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_known_stream() {
    let broker = broker();
    let mut setup = setup(&broker).await;
    setup.config.service.snapshot.interval = healthscore::config::ConfigDuration::seconds(1);
    let mut lines = healthy_days("acme", 0, 20);
    lines.extend(healthy_days("globex", 5, 12));
    lines.insert(10, "not json at all".to_string());
    lines.insert(20, event("acme", "csat", 3.0, r#""score": 11"#));
    lines.push(event("acme", "webinar_attended", 20.0, ""));
    let repeated =
        r#"{"event_id":"e-1","customer_id":"globex","type":"login","timestamp":1768000000000}"#;
    lines.push(repeated.to_string());
    lines.push(repeated.to_string());

    // What the service must count, from the engine itself.
    let mut engine = Engine::new(default_model());
    let mut outcomes: BTreeMap<&str, f64> = BTreeMap::new();
    let mut outputs = Vec::new();
    for line in &lines {
        let Ok(event) = decode_json(line.as_bytes()) else {
            *outcomes.entry("dead_lettered").or_default() += 1.0;
            continue;
        };
        let outcome = engine.ingest(&event, &mut outputs);
        *outcomes.entry(outcome.as_str()).or_default() += 1.0;
    }
    assert_eq!(outcomes[ApplyOutcome::Duplicate.as_str()], 1.0);
    assert_eq!(outcomes[ApplyOutcome::Ignored.as_str()], 1.0);
    let mut by_type: BTreeMap<&str, f64> = BTreeMap::new();
    for output in &outputs {
        let json: serde_json::Value = serde_json::from_str(&output.to_json()).unwrap();
        let kind = match json["type"].as_str().unwrap() {
            "score_changed" => "score_changed",
            "churn_risk_alert" => "churn_risk_alert",
            _ => "expansion_signal",
        };
        *by_type.entry(kind).or_default() += 1.0;
    }

    produce(&broker.bootstrap, &setup.input, &lines);
    let address = setup.config.service.http.listen.clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let service = tokio::spawn(healthscore::service::run(setup.config.clone(), stopped));
    consume_async(&broker.bootstrap, &setup.output, outputs.len()).await;
    // Gauges refresh every second, consumer lag from statistics every second.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (text, samples) = loop {
        let address = address.clone();
        let (status, text) = tokio::task::spawn_blocking(move || http_get(&address, "/metrics"))
            .await
            .unwrap();
        assert_eq!(status, 200);
        let samples = samples(&text);
        let lag_series = format!(
            "healthscore_consumer_lag_messages{{topic=\"{}\",partition=\"0\"}}",
            setup.input
        );
        let settled = samples.get(&lag_series) == Some(&0.0)
            && samples.get("healthscore_customers") == Some(&2.0)
            // A snapshot taken before the partitions were assigned holds nothing (0 bytes).
            && samples
                .get("healthscore_snapshot_size_bytes")
                .is_some_and(|bytes| *bytes > 0.0);
        if settled || Instant::now() > deadline {
            break (text, samples);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    stop.send(true).unwrap();
    service.await.unwrap().unwrap();

    for (outcome, expected) in &outcomes {
        let series = format!("healthscore_events_total{{source=\"usage\",outcome=\"{outcome}\"}}");
        assert_eq!(value(&samples, &series), *expected, "{series}");
    }
    // Every reason is exported, at zero until it happens.
    for reason in healthscore::engine::decode::DecodeReason::ALL {
        let reason = reason.as_str();
        let series = format!("healthscore_decode_errors_total{{reason=\"{reason}\"}}");
        let expected = if ["invalid_json", "out_of_range"].contains(&reason) {
            1.0
        } else {
            0.0
        };
        assert_eq!(value(&samples, &series), expected, "{series}");
    }
    // Output events by every type and level the model can give, at zero until they happen.
    for (kind, level) in [
        ("score_changed", "green"),
        ("score_changed", "red"),
        ("churn_risk_alert", "critical"),
        ("expansion_signal", "E5"),
    ] {
        let series =
            format!("healthscore_output_events_total{{type=\"{kind}\",level=\"{level}\"}}");
        assert!(samples.contains_key(&series), "{series} is not exported");
    }
    for (kind, expected) in &by_type {
        let published: f64 = samples
            .iter()
            .filter(|(series, _)| {
                series.starts_with(&format!("healthscore_output_events_total{{type=\"{kind}\""))
            })
            .map(|(_, value)| value)
            .sum();
        assert_eq!(published, *expected, "{kind}");
    }
    assert_eq!(value(&samples, "healthscore_customers"), 2.0);
    for (health, expected) in engine.health_distribution() {
        let series = format!("healthscore_customers_by_health{{health=\"{health}\"}}");
        assert_eq!(value(&samples, &series), expected as f64, "{series}");
    }
    assert_eq!(
        value(&samples, "healthscore_watermark_timestamp_seconds"),
        engine.clock().millis() as f64 / 1000.0
    );
    assert_eq!(
        value(
            &samples,
            &format!(
                "healthscore_consumer_lag_messages{{topic=\"{}\",partition=\"0\"}}",
                setup.input
            )
        ),
        0.0
    );
    assert_eq!(
        value(&samples, "healthscore_processing_duration_seconds_count"),
        lines.len() as f64
    );
    assert_eq!(
        value(
            &samples,
            "healthscore_model_info{model_version=\"default-2\"}"
        ),
        1.0
    );
    assert_eq!(value(&samples, "healthscore_ready"), 1.0);
    assert!(value(&samples, "healthscore_snapshot_size_bytes") > 0.0);
    assert_eq!(value(&samples, "healthscore_snapshot_failures_total"), 0.0);

    // Every family the service declares is in the catalogue, and `promtool` accepts the text.
    let exported = families(&text);
    for name in &exported {
        assert!(
            healthscore::telemetry::ALL.contains(&name.as_str()),
            "{name} is not catalogued"
        );
    }
    check_with_promtool(&text);

    // The alerting rules and the dashboard use only metrics the service exports.
    let catalogue: BTreeSet<String> = healthscore::telemetry::ALL
        .iter()
        .map(|name| name.to_string())
        .collect();
    for path in [
        "deploy/prometheus/alerts.yml",
        "deploy/grafana/healthscore-dashboard.json",
    ] {
        let used = names_used_in(path);
        assert!(!used.is_empty(), "{path} uses no healthscore metric");
        for name in &used {
            assert!(
                catalogue.contains(name),
                "{path} uses {name}, which the service does not export"
            );
            assert!(
                exported.contains(name),
                "{path} uses {name}, which /metrics did not show after this stream"
            );
        }
    }
}

/// `promtool check metrics` on the text; skipped (with a note) where promtool is not installed,
/// unless `HEALTHSCORE_REQUIRE_PROMTOOL` is set, as CI does.
fn check_with_promtool(text: &str) {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        assert!(
            std::env::var_os("HEALTHSCORE_REQUIRE_PROMTOOL").is_none(),
            "promtool is required but not installed (apt-get install prometheus)"
        );
        eprintln!("promtool not installed: skipping `promtool check metrics`");
        return;
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
