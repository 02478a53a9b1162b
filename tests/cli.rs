//! The commands as a user runs them: files in, files and exit codes out, and the errors `run`
//! gives before it starts.

mod support;

use std::path::Path;
use std::process::Command;

use support::{day, event, healthscore, healthy_days};

fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn replay_writes_outputs_dead_letters_and_final_state() {
    let directory = tempfile::tempdir().unwrap();
    let mut lines = healthy_days("zeta", 0, 40);
    lines.extend(healthy_days("alpha", 0, 20));
    lines.insert(5, "this is not json".to_string());
    lines.insert(
        9,
        r#"{"customer_id":"alpha","type":"csat","timestamp":0,"score":9}"#.to_string(),
    );
    lines.insert(12, r#"{"type":"login","timestamp":0}"#.to_string());
    std::fs::write(
        directory.path().join("events.jsonl"),
        lines.join("\n") + "\n",
    )
    .unwrap();

    let output = healthscore(
        directory.path(),
        &[
            "replay",
            "--input",
            "events.jsonl",
            "--output",
            "out.jsonl",
            "--dead-letter",
            "dead.jsonl",
            "--until",
            &day(70.0).to_string(),
            "--state-out",
            "state.jsonl",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = String::from_utf8_lossy(&output.stderr);
    assert!(summary.contains("3 dead letters"), "{summary}");

    let dead = json_lines(&directory.path().join("dead.jsonl"));
    let reasons: Vec<&str> = dead
        .iter()
        .map(|line| line["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        vec!["invalid_json", "out_of_range", "missing_field"]
    );
    assert_eq!(dead[0]["payload"], "this is not json");
    assert_eq!(dead[0]["line"], 6);
    assert_eq!(dead[2]["detail"], "missing required field `customer_id`");

    let outputs = json_lines(&directory.path().join("out.jsonl"));
    assert!(outputs
        .iter()
        .all(|line| line["type"].is_string() && line["event_id"].is_string()));
    let times: Vec<&str> = outputs
        .iter()
        .map(|line| line["at"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "outputs are written in event-time order");
    assert!(
        outputs
            .iter()
            .any(|line| line["cause"] == "time" && line["customer_id"] == "alpha"),
        "silence after day 20 causes time-caused changes before --until"
    );

    let state = json_lines(&directory.path().join("state.jsonl"));
    let ids: Vec<&str> = state
        .iter()
        .map(|line| line["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["alpha", "zeta"]);
    for line in &state {
        assert_eq!(line["at"], day(70.0).to_string());
        for key in [
            "model_version",
            "score",
            "grade",
            "health",
            "value_tier",
            "churn_risk",
            "risk_level",
            "fit_engagement",
            "components",
            "signals",
        ] {
            assert!(line.get(key).is_some(), "missing {key}");
        }
        assert!(line["signals"]["usage_7d"].is_number());
    }
}

#[test]
fn replay_with_unreadable_input_or_bad_config_fails_clearly() {
    let directory = tempfile::tempdir().unwrap();
    let missing = healthscore(
        directory.path(),
        &["replay", "--input", "nope.jsonl", "--output", "out.jsonl"],
    );
    assert_eq!(missing.status.code(), Some(66));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.jsonl"));

    std::fs::write(directory.path().join("events.jsonl"), "").unwrap();
    let config = healthscore::config::DEFAULT_CONFIG_TOML
        .replace("min_score_change = 5.0", "min_score_change = -1.0");
    std::fs::write(directory.path().join("bad.toml"), config).unwrap();
    let bad = healthscore(
        directory.path(),
        &[
            "replay",
            "--config",
            "bad.toml",
            "--input",
            "events.jsonl",
            "--output",
            "out.jsonl",
        ],
    );
    assert_eq!(bad.status.code(), Some(64));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("alerting.min_score_change"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn evaluate_reports_auc_against_outcomes() {
    let directory = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    let mut outcomes = Vec::new();
    for index in 0..6 {
        let stays = format!("stays-{index}");
        let leaves = format!("leaves-{index}");
        events.extend(healthy_days(&stays, 0, 100));
        events.extend(healthy_days(&leaves, 0, 40 + index * 5));
        outcomes.push(event(&stays, "renewed", 120.0, ""));
        outcomes.push(event(&leaves, "churned", 130.0, ""));
    }
    // Outcomes outside the horizon do not count.
    outcomes.push(event("stays-0", "churned", 300.0, ""));
    std::fs::write(directory.path().join("events.jsonl"), events.join("\n")).unwrap();
    std::fs::write(directory.path().join("outcomes.jsonl"), outcomes.join("\n")).unwrap();

    let output = healthscore(
        directory.path(),
        &[
            "evaluate",
            "--input",
            "events.jsonl",
            "--outcomes",
            "outcomes.jsonl",
            "--at",
            &day(100.0).to_string(),
            "--horizon",
            "90d",
            "--json",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["customers"], 12);
    assert_eq!(report["positives"], 6);
    assert_eq!(report["auc_churn_risk"], 1.0);
    assert_eq!(report["auc_score"], 1.0);
    assert_eq!(report["top_decile_precision"], 1.0);
    assert_eq!(report["top_decile_lift"], 2.0);
    assert_eq!(report["baselines"]["days_since_last_event"], 1.0);
    assert!(report["baselines"]["event_count"].is_number());
    assert!(report["baselines"]["events_decayed_30d"].is_number());

    let text = healthscore(
        directory.path(),
        &[
            "evaluate",
            "--input",
            "events.jsonl",
            "--outcomes",
            "outcomes.jsonl",
            "--at",
            &day(100.0).to_string(),
        ],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    // Without --horizon the window runs to the last outcome, so stays-0 counts as churned too,
    // and the ranking is no longer perfect.
    assert!(text.contains("churned: 7"), "{text}");
    assert!(text.contains("ROC AUC churn_risk: 0.9"), "{text}");
}

#[test]
fn run_refuses_exactly_once_on_the_embedded_broker_and_says_why() {
    let directory = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_healthscore"))
        .arg("run")
        .current_dir(directory.path())
        .env_remove("HEALTHSCORE_CONFIG")
        .env("HEALTHSCORE_PROCESSING__GUARANTEE", "exactly_once")
        .env("HEALTHSCORE_HTTP__LISTEN", "127.0.0.1:0")
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("processing.guarantee") && stderr.contains("embedded broker"),
        "{stderr}"
    );
}

#[test]
fn run_refuses_an_open_customer_api_beyond_loopback_and_an_empty_token_file() {
    let directory = tempfile::tempdir().unwrap();
    let run = |variables: &[(&str, &str)]| {
        let output = Command::new(env!("CARGO_BIN_EXE_healthscore"))
            .arg("run")
            .current_dir(directory.path())
            .env_remove("HEALTHSCORE_CONFIG")
            .envs(variables.iter().copied())
            .output()
            .expect("the binary runs");
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = run(&[("HEALTHSCORE_HTTP__LISTEN", "0.0.0.0:0")]);
    assert!(
        stderr.contains("http.token_file") && stderr.contains("http.allow_unauthenticated"),
        "{stderr}"
    );
    let empty = directory.path().join("token");
    std::fs::write(&empty, "\n").unwrap();
    let stderr = run(&[
        ("HEALTHSCORE_HTTP__LISTEN", "0.0.0.0:0"),
        ("HEALTHSCORE_HTTP__TOKEN_FILE", empty.to_str().unwrap()),
    ]);
    assert!(
        stderr.contains("http.token_file") && stderr.contains("holds no token"),
        "{stderr}"
    );
}

#[test]
fn replay_marks_churn_alerts_older_than_a_day_before_the_end_of_its_input_stale() {
    let directory = tempfile::tempdir().unwrap();
    let generated = healthscore(
        directory.path(),
        &[
            "generate",
            "--output",
            "events.jsonl",
            "--customers",
            "200",
            "--days",
            "90",
        ],
    );
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let events = json_lines(&directory.path().join("events.jsonl"));
    let end = events
        .iter()
        .map(|event| event["timestamp"].as_str().unwrap().to_string())
        .max()
        .unwrap();
    let replayed = healthscore(
        directory.path(),
        &[
            "replay",
            "--input",
            "events.jsonl",
            "--output",
            "outputs.jsonl",
            "--until",
            &end,
        ],
    );
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let end = healthscore::engine::EventTime::parse_rfc3339(&end).unwrap();
    let day_before = end.plus_millis(-86_400_000);
    let (mut fresh, mut stale) = (0, 0);
    for output in json_lines(&directory.path().join("outputs.jsonl")) {
        let is_stale = output.get("stale") == Some(&serde_json::Value::Bool(true));
        if output["type"] != "churn_risk_alert" {
            assert!(output.get("stale").is_none(), "{output}");
            continue;
        }
        let at =
            healthscore::engine::EventTime::parse_rfc3339(output["at"].as_str().unwrap()).unwrap();
        // Stale exactly when more than a day (alerting.max_age) behind the end.
        assert_eq!(is_stale, at < day_before, "{output}");
        if is_stale {
            stale += 1;
        } else {
            fresh += 1;
        }
    }
    // A backfill of 90 days is mostly history: what is news is the last day's.
    assert!(
        stale > 10 * fresh.max(1),
        "{stale} stale and {fresh} fresh alerts"
    );
}
