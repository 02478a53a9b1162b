//! `healthscore tune` as a user runs it: on customers whose churn was drawn from known factor
//! weights, it recovers the weights, calibrates the risk to the churn drawn, and writes a model
//! file that `evaluate` and `replay` load and that says the same weights when read back.

mod support;

use std::path::Path;
use std::process::Output;

use support::{day, event, healthscore};

/// Runs `tune` on `start.toml`, `events.jsonl` and `outcomes.jsonl` in `directory` at `at`,
/// writing `tuned.toml`, with `extra` arguments.
fn tune(directory: &Path, at: &str, extra: &[&str]) -> Output {
    let mut arguments = vec![
        "tune",
        "--config",
        "start.toml",
        "--input",
        "events.jsonl",
        "--outcomes",
        "outcomes.jsonl",
        "--at",
        at,
        "--output",
        "tuned.toml",
    ];
    arguments.extend_from_slice(extra);
    healthscore(directory, &arguments)
}

/// The default model with two churn factors only: an escalated ticket and a refund, each
/// counting fully from one recent event, at the weights `escalation` and `refund`.
fn two_factor_config(escalation: f64, refund: f64) -> String {
    let default = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/healthscore.toml"),
    )
    .unwrap();
    let start = default.find("factors = [").unwrap();
    let end = start + default[start..].find("\n]\n").unwrap() + 3;
    let factors = format!(
        "factors = [\n  \
         {{ name = \"escalations\", signal = \"escalations_30d\", normalize = {{ linear = [0, 1] }}, weight = {escalation}, detail = \"escalations {{value}}\" }},\n  \
         {{ name = \"refunds\", signal = \"refunds_60d\", normalize = {{ linear = [0, 1] }}, weight = {refund}, detail = \"refunds {{value}}\" }},\n]\n"
    );
    format!("{}{factors}{}", &default[..start], &default[end..])
}

/// A deterministic stream of numbers in 0..1 (xorshift).
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn tune_recovers_known_factor_weights_and_writes_a_model_that_loads() {
    let (escalation, refund, leak) = (0.6, 0.3, 0.1);
    let directory = tempfile::tempdir().unwrap();
    let mut draws = Draws(0x9e37_79b9_7f4a_7c15);
    let (mut events, mut outcomes) = (Vec::new(), Vec::new());
    let at = 30.0;
    for index in 0..4000 {
        let customer = format!("c{index:05}");
        events.push(event(&customer, "login", 10.0, ""));
        let escalated = draws.next() < 0.5;
        let refunded = draws.next() < 0.5;
        let mut survival = 1.0 - leak;
        // One hour before the fit: the decayed counts are 0.999 and 0.9995.
        if escalated {
            events.push(event(
                &customer,
                "ticket_escalated",
                at - 1.0 / 24.0,
                "\"ticket_id\": \"t1\"",
            ));
            survival *= 1.0 - escalation * 0.999;
        }
        if refunded {
            events.push(event(
                &customer,
                "refund",
                at - 1.0 / 24.0,
                "\"amount\": 10",
            ));
            survival *= 1.0 - refund * 0.9995;
        }
        if draws.next() >= survival {
            outcomes.push(event(&customer, "churned", at + 10.0, ""));
        } else {
            outcomes.push(event(&customer, "renewed", at + 10.0, ""));
        }
    }
    std::fs::write(directory.path().join("events.jsonl"), events.join("\n")).unwrap();
    std::fs::write(directory.path().join("outcomes.jsonl"), outcomes.join("\n")).unwrap();
    // Start far from the truth.
    std::fs::write(
        directory.path().join("start.toml"),
        two_factor_config(0.1, 0.1),
    )
    .unwrap();
    let at_text = day(at).millis().to_string();

    let output = tune(directory.path(), &at_text, &["--report", "tuned.svg"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // No validation window: the report says its figures are in sample.
    assert!(stdout.contains("in sample"), "{stdout}");
    let svg = std::fs::read_to_string(directory.path().join("tuned.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("share that churned"));

    let tuned = std::fs::read_to_string(directory.path().join("tuned.toml")).unwrap();
    assert!(
        tuned.starts_with("# Tuned by `healthscore tune`"),
        "{tuned}"
    );
    let config: toml::Table = tuned.parse().unwrap();
    let factors = config["churn"]["factors"].as_array().unwrap();
    let weight = |index: usize| factors[index]["weight"].as_float().unwrap();
    assert!(
        (weight(0) - escalation).abs() < 0.05 && (weight(1) - refund).abs() < 0.05,
        "fitted {} and {}, drawn with {escalation} and {refund}\n{stdout}",
        weight(0),
        weight(1)
    );
    assert!(config["model_version"]
        .as_str()
        .unwrap()
        .contains("-tuned-"));

    // Calibrated: the four kinds of customer churned at 10%, 37%, 64% and 75%; the tuned risk
    // of each group is its churn share, within sampling error.
    let evaluated = healthscore(
        directory.path(),
        &[
            "evaluate",
            "--config",
            "tuned.toml",
            "--input",
            "events.jsonl",
            "--outcomes",
            "outcomes.jsonl",
            "--at",
            &at_text,
            "--json",
        ],
    );
    assert!(
        evaluated.status.success(),
        "{}",
        String::from_utf8_lossy(&evaluated.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&evaluated.stdout).unwrap();
    for bin in report["calibration"].as_array().unwrap() {
        let (predicted, observed) = (
            bin["predicted"].as_f64().unwrap(),
            bin["observed"].as_f64().unwrap(),
        );
        assert!(
            (predicted - observed).abs() < 0.06,
            "predicted {predicted}, observed {observed}: {report}"
        );
    }
    assert!(
        stdout.contains(&format!(
            "Churn-risk ROC AUC {:.3} tuned",
            report["auc_churn_risk"].as_f64().unwrap()
        )),
        "{stdout}"
    );

    // `replay` runs the tuned file as it runs any model.
    let replayed = healthscore(
        directory.path(),
        &[
            "replay",
            "--config",
            "tuned.toml",
            "--input",
            "events.jsonl",
            "--output",
            "outputs.jsonl",
        ],
    );
    assert!(
        replayed.status.success(),
        "{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let outputs = std::fs::read_to_string(directory.path().join("outputs.jsonl")).unwrap();
    let version = config["model_version"].as_str().unwrap();
    assert!(
        outputs.lines().all(|line| line.contains(version)),
        "{version}"
    );
}

#[test]
fn tune_refuses_outcomes_that_all_go_one_way() {
    let directory = tempfile::tempdir().unwrap();
    let events: Vec<String> = (0..20)
        .map(|index| event(&format!("c{index}"), "login", 1.0, ""))
        .collect();
    std::fs::write(directory.path().join("events.jsonl"), events.join("\n")).unwrap();
    std::fs::write(directory.path().join("outcomes.jsonl"), "").unwrap();
    std::fs::write(
        directory.path().join("start.toml"),
        two_factor_config(0.2, 0.2),
    )
    .unwrap();
    let output = tune(directory.path(), &day(5.0).millis().to_string(), &[]);
    assert_eq!(output.status.code(), Some(65));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("churned and retained customers"),
        "{stderr}"
    );
    assert!(!directory.path().join("tuned.toml").exists());
}
