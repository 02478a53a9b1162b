//! Live model reload over Kafka: a valid change re-scores every customer and publishes the
//! changes with `cause: model` and the new `model_version`, exactly as the engine computes them;
//! an invalid change, or one that redefines a signal, is rejected and scoring goes on unchanged.

mod support;

use std::time::Duration;

use healthscore::config::DEFAULT_CONFIG_TOML;
use healthscore::engine::Engine;
use support::kafka::{broker, consume_async, payloads, produce, setup};
use support::{default_model, feed, healthy_days, model_from};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_reload_rescores_and_an_invalid_one_changes_nothing() {
    let broker = broker();
    let setup = setup(&broker).await;
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("healthscore.toml");
    std::fs::write(&path, DEFAULT_CONFIG_TOML).unwrap();
    let renamed = DEFAULT_CONFIG_TOML.replace(
        "model_version = \"default-2\"",
        "model_version = \"default-3\"",
    );
    let stricter = renamed.replace(
        "health = { green = 70, yellow = 45 }",
        "health = { green = 90, yellow = 60 }",
    );

    let mut before = healthy_days("acme", 0, 20);
    before.extend(healthy_days("globex", 5, 12));
    let after = healthy_days("acme", 20, 25);
    // The expected outputs: the events, the re-scoring by the stricter model, more events.
    let mut engine = Engine::new(default_model());
    let mut expected = feed(&mut engine, &before);
    let from_before = expected.len();
    engine
        .replace_model(model_from(&stricter), &mut expected)
        .unwrap();
    let rescored = expected.len() - from_before;
    assert!(
        rescored > 0,
        "the stricter model changes some health colours"
    );
    expected.extend(feed(&mut engine, &after));
    let expected: Vec<String> = expected.iter().map(|output| output.to_json()).collect();

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (reload, requests) = tokio::sync::mpsc::channel(4);
    let service = tokio::spawn(healthscore::service::run_with_reloads(
        setup.config.clone(),
        stopped,
        healthscore::service::Reloads {
            requests,
            config_path: Some(path.clone()),
        },
    ));
    produce(&broker.bootstrap, &setup.input, &before);
    consume_async(&broker.bootstrap, &setup.output, from_before).await;

    // Rejected: a broken file, the same version, a redefined signal.
    for rejected in [
        renamed.replace(
            "health = { green = 70, yellow = 45 }",
            "health = { green = \"high\" }",
        ),
        DEFAULT_CONFIG_TOML.replace(
            "health = { green = 70, yellow = 45 }",
            "health = { green = 90, yellow = 60 }",
        ),
        renamed.replacen("half_life = \"7d\"", "half_life = \"5d\"", 1),
    ] {
        std::fs::write(&path, rejected).unwrap();
        reload.send(()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Accepted.
    std::fs::write(&path, &stricter).unwrap();
    reload.send(()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    produce(&broker.bootstrap, &setup.input, &after);

    let published = consume_async(&broker.bootstrap, &setup.output, expected.len()).await;
    stop.send(true).unwrap();
    service.await.unwrap().unwrap();
    let published = payloads(&published);
    assert_eq!(published, expected);
    let by_model: Vec<&String> = published
        .iter()
        .filter(|output| output.contains(r#""cause":"model""#))
        .collect();
    assert_eq!(by_model.len(), rescored);
    assert!(by_model
        .iter()
        .all(|output| output.contains(r#""model_version":"default-3""#)));
}
