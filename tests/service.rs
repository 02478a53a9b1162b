//! The Kafka service over the real Kafka protocol: librdkafka's MockCluster by default, or an
//! external broker when `HEALTHSCORE_TEST_BOOTSTRAP=host:port` is set.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::message::Message;
use tokio::sync::watch;

use healthscore::engine::Engine;
use support::kafka::{
    broker, consume, consume_async, header, payloads, private_broker, produce, replayed,
    run_service_reading, run_service_until, setup, unique,
};
use support::{
    default_model, event, feed, healthy_days, http_get, http_get_authorized, newest_snapshot,
    try_http_get,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_in_give_the_replay_outputs_and_dead_letters_with_headers() {
    let broker = broker();
    let mut setup = setup(&broker).await;
    // The customer API with a token, as deployed: look-ups need it, probes do not.
    let token = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token.path(), "t0ken-for-tests\n").unwrap();
    setup.config.service.http.token_file = Some(token.path().display().to_string());
    let mut lines = healthy_days("acme", 0, 20);
    lines.extend(healthy_days("globex", 5, 12));
    lines.insert(10, "not json at all".to_string());
    lines.insert(20, event("acme", "csat", 3.0, r#""score": 11"#));
    produce(&broker.bootstrap, &setup.input, &lines);
    let (expected, _) = replayed(&lines);

    let (bootstrap, output, dead) = (
        broker.bootstrap.clone(),
        setup.output.clone(),
        setup.dead_letters.clone(),
    );
    let expected_count = expected.len();
    let address = setup.config.service.http.listen.clone();
    let (sender, receiver) = std::sync::mpsc::channel();
    run_service_until(&setup.config, move || {
        let outputs = consume(&bootstrap, &output, expected_count);
        let dead_letters = consume(&bootstrap, &dead, 2);
        let bearer = "Bearer t0ken-for-tests";
        let http = (
            http_get(&address, "/healthz"),
            http_get(&address, "/readyz"),
            http_get_authorized(&address, "/customers/acme", bearer),
            http_get_authorized(&address, "/customers/nobody", bearer),
            [
                http_get(&address, "/customers/acme"),
                http_get_authorized(&address, "/customers/acme", "Bearer wrong"),
                http_get_authorized(&address, "/customers/nobody", "Bearer wrong"),
            ],
            http_get(&address, "/metrics").0,
        );
        sender.send((outputs, dead_letters, http)).unwrap();
    })
    .await
    .unwrap();
    let (outputs, dead_letters, (health, ready, acme, nobody, refused, metrics)) =
        receiver.recv().unwrap();
    assert_eq!(health, (200, "ok\n".to_string()));
    assert_eq!(metrics, 200);
    for (status, body) in refused {
        assert_eq!(status, 401, "{body}");
        assert!(!body.contains("acme") && !body.contains("score"), "{body}");
    }
    assert_eq!(ready.0, 200);
    let ready: serde_json::Value = serde_json::from_str(&ready.1).unwrap();
    assert_eq!(ready["bootstrap_servers"], broker.bootstrap.as_str());
    assert_eq!(ready["customers"], 2);
    assert_eq!(acme.0, 200);
    let acme: serde_json::Value = serde_json::from_str(&acme.1).unwrap();
    let (_, replay_engine) = replayed(&lines);
    let expected_view =
        serde_json::to_value(replay_engine.view("acme", None, true).unwrap()).unwrap();
    assert_eq!(acme, expected_view);
    assert!(acme["explanation"]["top_factors"].is_array());
    assert_eq!(nobody.0, 404);

    assert_eq!(payloads(&outputs), expected);
    assert!(outputs.iter().all(|message| message.key().is_some()));
    assert_eq!(dead_letters.len(), 2);
    assert_eq!(payloads(&dead_letters)[0], "not json at all");
    assert_eq!(
        header(&dead_letters[0], "reason").as_deref(),
        Some("invalid_json")
    );
    assert_eq!(
        header(&dead_letters[0], "source_topic"),
        Some(setup.input.clone())
    );
    assert_eq!(
        header(&dead_letters[0], "source_partition").as_deref(),
        Some("0")
    );
    assert_eq!(
        header(&dead_letters[0], "source_offset").as_deref(),
        Some("10")
    );
    assert_eq!(
        header(&dead_letters[1], "reason").as_deref(),
        Some("out_of_range")
    );
    assert!(header(&dead_letters[1], "detail")
        .unwrap()
        .contains("score"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_a_dead_letter_cut_to_fit_the_topic_and_blocks_nothing() {
    const LIMIT: usize = 2048;
    let broker = broker();
    let mut setup = setup(&broker).await;
    // On Apache Kafka the dead-letter topic itself refuses records over the limit.
    broker.limit_message_bytes(&setup.dead_letters, LIMIT).await;
    setup.config.service.kafka.max_message_bytes = LIMIT;
    let padding = "x".repeat(5000);
    let too_large = event("acme", "login", 3.5, &format!(r#""note": "{padding}""#));
    // Under the limit as input, over it once the dead-letter headers are added.
    let malformed = format!("not json {}", "y".repeat(LIMIT - 100));
    let valid = healthy_days("acme", 0, 10);
    let mut lines = valid.clone();
    lines.insert(5, too_large.clone());
    lines.insert(8, malformed.clone());
    produce(&broker.bootstrap, &setup.input, &lines);
    let (expected, _) = replayed(&valid);

    let (bootstrap, output, dead) = (
        broker.bootstrap.clone(),
        setup.output.clone(),
        setup.dead_letters.clone(),
    );
    let expected_count = expected.len();
    let (sender, receiver) = std::sync::mpsc::channel();
    run_service_until(&setup.config, move || {
        let outputs = consume(&bootstrap, &output, expected_count);
        let dead_letters = consume(&bootstrap, &dead, 2);
        sender.send((outputs, dead_letters)).unwrap();
    })
    .await
    .unwrap();
    let (outputs, dead_letters) = receiver.recv().unwrap();
    // Every valid event behind them was scored.
    assert_eq!(payloads(&outputs), expected);
    assert_eq!(dead_letters.len(), 2);
    let cases = [
        (&dead_letters[0], "too_large", too_large.len(), "5"),
        (&dead_letters[1], "invalid_json", malformed.len(), "8"),
    ];
    for (dead, reason, size, offset) in cases {
        assert_eq!(header(dead, "reason").as_deref(), Some(reason));
        assert_eq!(header(dead, "source_offset").as_deref(), Some(offset));
        assert_eq!(header(dead, "truncated"), Some(size.to_string()));
        let payload = dead.payload().unwrap_or_default();
        assert!(payload.len() < LIMIT, "{} bytes", payload.len());
        let original = if reason == "too_large" {
            &too_large
        } else {
            &malformed
        };
        assert!(original.as_bytes().starts_with(payload));
    }
    assert!(header(&dead_letters[0], "detail")
        .unwrap()
        .contains("kafka.max_message_bytes"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_from_the_snapshot_with_nothing_lost_or_counted_twice() {
    let broker = broker();
    let setup = setup(&broker).await;
    let mut lines = healthy_days("acme", 0, 30);
    lines.extend(healthy_days("initech", 0, 15));
    let (first, second) = lines.split_at(lines.len() / 2);
    let (first, second) = (first.to_vec(), second.to_vec());

    produce(&broker.bootstrap, &setup.input, &first);
    let (expected_first, _) = replayed(&first);
    run_service_reading(
        &setup.config,
        &broker.bootstrap,
        &setup.output,
        expected_first.len(),
    )
    .await;

    produce(&broker.bootstrap, &setup.input, &second);
    let (expected_all, replay_engine) = replayed(&lines);
    let published = run_service_reading(
        &setup.config,
        &broker.bootstrap,
        &setup.output,
        expected_all.len(),
    )
    .await;

    // Every output exactly once, in order, across the restart.
    assert_eq!(payloads(&published), expected_all);
    // The final snapshot holds the same state as a replay of every event.
    let (engine, offsets) = newest_snapshot(Path::new(&setup.config.service.snapshot.dir), 0)
        .expect("a snapshot was written");
    assert_eq!(
        offsets,
        BTreeMap::from([((setup.input.clone(), 0), lines.len() as i64)])
    );
    for id in ["acme", "initech"] {
        assert_eq!(
            engine.view(id, None, true),
            replay_engine.view(id, None, true),
            "{id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_taken_against_another_cluster_is_not_restored() {
    let first_broker = private_broker();
    let first = setup(&first_broker).await;
    let first_lines = healthy_days("acme", 0, 10);
    produce(&first_broker.bootstrap, &first.input, &first_lines);
    let (expected, _) = replayed(&first_lines);
    run_service_reading(
        &first.config,
        &first_broker.bootstrap,
        &first.output,
        expected.len(),
    )
    .await;

    // Like a restart of the embedded demo: a new, empty cluster, the same snapshot folder.
    let second_broker = private_broker();
    let mut second = setup(&second_broker).await;
    second.config.service.snapshot.dir = first.config.service.snapshot.dir.clone();
    let second_lines = healthy_days("globex", 0, 5);
    produce(&second_broker.bootstrap, &second.input, &second_lines);
    let (expected, _) = replayed(&second_lines);
    let published = run_service_reading(
        &second.config,
        &second_broker.bootstrap,
        &second.output,
        expected.len(),
    )
    .await;
    assert_eq!(payloads(&published), expected);
}

/// Polls `/readyz` until it answers `status`; false after 30 seconds.
async fn readiness_becomes(address: &str, status: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let address = address.to_string();
        let answer = tokio::task::spawn_blocking(move || try_http_get(&address, "/readyz"))
            .await
            .unwrap();
        if answer.is_some_and(|(answered, _)| answered == status) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_reports_not_ready_and_the_service_resumes_with_nothing_lost() {
    let broker = private_broker();
    let setup = setup(&broker).await;
    let mut lines = healthy_days("acme", 0, 30);
    lines.extend(healthy_days("initech", 0, 15));
    let (first, second) = lines.split_at(lines.len() / 2);
    let (first, second) = (first.to_vec(), second.to_vec());
    produce(&broker.bootstrap, &setup.input, &first);
    let address = setup.config.service.http.listen.clone();
    let (stop, stopped) = watch::channel(false);
    let service = tokio::spawn(healthscore::service::run(setup.config.clone(), stopped));
    assert!(readiness_becomes(&address, 200).await, "ready at start");
    consume_async(&broker.bootstrap, &setup.output, replayed(&first).0.len()).await;

    broker.go_down();
    assert!(
        readiness_becomes(&address, 503).await,
        "not ready while down"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!service.is_finished(), "the service keeps running");
    broker.come_back();
    assert!(readiness_becomes(&address, 200).await, "ready once back");

    produce(&broker.bootstrap, &setup.input, &second);
    let (expected, _) = replayed(&lines);
    let outputs = consume_async(&broker.bootstrap, &setup.output, expected.len()).await;
    stop.send(true).unwrap();
    service.await.unwrap().unwrap();
    assert_eq!(payloads(&outputs), expected, "every output once, in order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_wall_clock_silent_customers_are_rescored_without_new_events() {
    let broker = broker();
    let mut setup = setup(&broker).await;
    setup.config.service.clock.source = healthscore::config::service::ClockSource::Wall;
    // Thirty healthy days that ended twenty days ago, then nothing.
    let now_millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let today = ((now_millis - support::START_MILLIS) / support::DAY_MILLIS) as u32;
    let lines = healthy_days("acme", today - 50, today - 20);
    // What the silence since then causes, up to now: time-caused churn alerts.
    let mut engine = Engine::new(default_model());
    let mut outputs = feed(&mut engine, &lines);
    let from_events = outputs.len();
    engine.advance_to(
        healthscore::engine::EventTime::from_millis(now_millis).unwrap(),
        &mut outputs,
    );
    let expected: Vec<String> = outputs[from_events..]
        .iter()
        .filter(|output| output.to_json().contains(r#""type":"churn_risk_alert""#))
        .map(|output| output.event_id().to_string())
        .collect();
    assert!(!expected.is_empty(), "the silence raises a churn alert");

    produce(&broker.bootstrap, &setup.input, &lines);
    let published = run_service_reading(
        &setup.config,
        &broker.bootstrap,
        &setup.output,
        outputs.len(),
    )
    .await;
    let published: Vec<serde_json::Value> = payloads(&published)
        .iter()
        .map(|payload| serde_json::from_str(payload).unwrap())
        .collect();
    for id in &expected {
        let alert = published
            .iter()
            .find(|output| output["event_id"] == id.as_str())
            .unwrap_or_else(|| panic!("churn alert {id} published"));
        assert_eq!(alert["cause"], "time");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_topics_that_are_not_co_partitioned_are_refused_at_start() {
    let broker = broker();
    let mut setup = setup(&broker).await;
    let (usage, payment) = (unique("customer.usage"), unique("customer.payment"));
    broker.create_partitioned_topics(&[&usage], 2).await;
    broker.create_partitioned_topics(&[&payment], 3).await;
    let inputs = &mut setup.config.service.kafka.inputs;
    inputs[0].topic = usage.clone();
    let mut second = inputs[0].clone();
    second.topic = payment.clone();
    second.source = "payment".into();
    inputs.push(second);

    let (_stop, stopped) = watch::channel(false);
    let error = healthscore::service::run(setup.config.clone(), stopped)
        .await
        .expect_err("refused");
    let message = format!("{error:#}");
    assert!(message.contains("checking kafka.inputs"), "{message}");
    assert!(message.contains(&format!("{usage}: 2")), "{message}");
    assert!(message.contains(&format!("{payment}: 3")), "{message}");
}
