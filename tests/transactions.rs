//! The output path in transactions (the base of `processing.guarantee = "exactly_once"`): what a
//! `read_committed` consumer sees, the input offsets committed with the outputs, and fencing.
//!
//! Apache Kafka only (the MockCluster does not implement transactions): the broker named by
//! `HEALTHSCORE_TEST_BOOTSTRAP`, or else one these tests start for themselves with
//! `tests/kafka/broker.sh` (Java and Maven; the jars are cached).

mod support;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::FutureProducer;
use rdkafka::{ClientConfig, Message};
use tokio::sync::watch;

use healthscore::config::service::ProcessingGuarantee;
use healthscore::config::ConfigDuration;
use healthscore::engine::{Engine, OutputEvent};
use healthscore::kafka::transaction::TransactionError;
use healthscore::service::output_sink::OutputSink;
use healthscore::service::Publisher;
use support::kafka::{
    consume_async, create_topics_on_broker, payloads, produce, replayed, setup, unique,
};
use support::own_broker::OwnBroker;
use support::{default_model, feed, healthy_days};

/// The PLAINTEXT address of a real broker, shared by these tests.
fn real_broker() -> &'static str {
    static BROKER: OnceLock<(Option<OwnBroker>, String)> = OnceLock::new();
    let (_, bootstrap) = BROKER.get_or_init(|| match std::env::var("HEALTHSCORE_TEST_BOOTSTRAP") {
        Ok(bootstrap) if !bootstrap.is_empty() => (None, bootstrap),
        _ => {
            let own = OwnBroker::start();
            let bootstrap = own.bootstrap.clone();
            (Some(own), bootstrap)
        }
    });
    bootstrap
}

/// Fresh input, output and dead-letter topics of one partition each.
async fn topics(bootstrap: &str) -> (String, String, String) {
    let names = (
        unique("tx.input"),
        unique("tx.output"),
        unique("tx.deadletter"),
    );
    create_topics_on_broker(bootstrap, &[&names.0, &names.1, &names.2], 1).await;
    names
}

/// A member of `group` reading `topic`, once it holds its assignment (its metadata then has a
/// generation).
fn member(bootstrap: &str, group: &str, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while consumer.assignment().unwrap().count() == 0 {
        assert!(Instant::now() < deadline, "no assignment within 30 s");
        let _ = consumer.poll(Duration::from_millis(100));
    }
    consumer
}

/// A transactional publisher with `transactional_id`.
fn publisher(bootstrap: &str, transactional_id: &str, output: &str, dead: &str) -> Publisher {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("transactional.id", transactional_id)
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    Publisher::spawn(
        producer,
        output,
        dead,
        false,
        ProcessingGuarantee::ExactlyOnce,
    )
    .unwrap()
}

/// The payloads a reader with `isolation_level` finds on `topic` within `wait`.
fn read(bootstrap: &str, topic: &str, isolation_level: &str, wait: Duration) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("tx.reader"))
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", isolation_level)
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + wait;
    let mut payloads = Vec::new();
    while Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            let payload = message.payload().unwrap_or_default();
            payloads.push(String::from_utf8_lossy(payload).into_owned());
        }
    }
    payloads
}

/// The outputs of ten healthy days of one customer, as JSON lines.
fn some_outputs(customer: &str) -> Vec<OutputEvent> {
    let mut engine = Engine::new(default_model());
    let outputs = feed(&mut engine, &healthy_days(customer, 0, 10));
    assert!(!outputs.is_empty());
    outputs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_are_read_committed_only_once_committed_with_the_input_offsets() {
    let bootstrap = real_broker();
    let (input, output, dead) = topics(bootstrap).await;
    let group = unique("tx.group");
    let consumer = member(bootstrap, &group, &input);
    let mut publisher = publisher(bootstrap, &unique("tx.id"), &output, &dead);
    let mut outputs = some_outputs("acme");
    let expected: Vec<String> = outputs.iter().map(OutputEvent::to_json).collect();
    publisher.outputs(&mut outputs).await.unwrap();
    publisher
        .dead_letter(
            b"{not json",
            Some(b"acme"),
            rdkafka::message::OwnedHeaders::new(),
        )
        .await
        .unwrap();

    // Sent, but in an open transaction: a read_committed reader sees none of it.
    let uncommitted = read(
        bootstrap,
        &output,
        "read_uncommitted",
        Duration::from_secs(3),
    );
    assert_eq!(uncommitted, expected, "the records are on the broker");
    let committed = read(bootstrap, &output, "read_committed", Duration::from_secs(2));
    assert!(committed.is_empty(), "{committed:?}");

    let offsets: BTreeMap<(String, i32), i64> = [((input.clone(), 0), 17)].into_iter().collect();
    let group_metadata = consumer.group_metadata().unwrap();
    publisher
        .commit(offsets, group_metadata)
        .await
        .unwrap()
        .unwrap();
    let committed = read(bootstrap, &output, "read_committed", Duration::from_secs(3));
    assert_eq!(committed, expected, "every output once, in order");
    let dead_letters = read(bootstrap, &dead, "read_committed", Duration::from_secs(2));
    assert_eq!(dead_letters, vec!["{not json".to_string()]);
    let offsets = consumer.committed(Duration::from_secs(10)).unwrap();
    let offset = offsets.find_partition(&input, 0).unwrap().offset();
    assert_eq!(offset, rdkafka::Offset::Offset(17), "the group's offset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_producer_with_the_same_transactional_id_fences_the_old_and_aborts_its_outputs() {
    let bootstrap = real_broker();
    let (input, output, dead) = topics(bootstrap).await;
    let consumer = member(bootstrap, &unique("tx.group"), &input);
    let transactional_id = unique("tx.id");
    let mut old = publisher(bootstrap, &transactional_id, &output, &dead);
    let mut stale = some_outputs("stale");
    old.outputs(&mut stale).await.unwrap();
    // The old publisher's records reached the broker before the new one starts.
    let sent = read(
        bootstrap,
        &output,
        "read_uncommitted",
        Duration::from_secs(3),
    );
    assert!(!sent.is_empty());

    let mut new = publisher(bootstrap, &transactional_id, &output, &dead);
    let mut fresh = some_outputs("fresh");
    let expected: Vec<String> = fresh.iter().map(OutputEvent::to_json).collect();
    new.outputs(&mut fresh).await.unwrap();
    let offsets: BTreeMap<(String, i32), i64> = [((input.clone(), 0), 3)].into_iter().collect();
    new.commit(offsets.clone(), consumer.group_metadata().unwrap())
        .await
        .unwrap()
        .unwrap();

    let refused = old
        .commit(offsets, consumer.group_metadata().unwrap())
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(TransactionError::Fenced(_))),
        "{refused:?}"
    );
    let committed = read(bootstrap, &output, "read_committed", Duration::from_secs(3));
    assert_eq!(committed, expected, "only the new producer's outputs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_under_a_generation_the_group_has_left_behind_is_refused_and_aborted() {
    let bootstrap = real_broker();
    let input = unique("tx.input");
    let (output, dead) = (unique("tx.output"), unique("tx.deadletter"));
    create_topics_on_broker(bootstrap, &[&input], 2).await;
    create_topics_on_broker(bootstrap, &[&output, &dead], 1).await;
    let group = unique("tx.group");
    let first = member(bootstrap, &group, &input);
    let before_rebalance = first.group_metadata().unwrap();
    // A second member joins: the group moves to a new generation (the first takes part in the
    // rebalance by polling meanwhile).
    let second = std::thread::scope(|scope| {
        let polling = scope.spawn(|| {
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until {
                let _ = first.poll(Duration::from_millis(50));
            }
        });
        let second = member(bootstrap, &group, &input);
        polling.join().unwrap();
        second
    });
    assert_eq!(first.assignment().unwrap().count(), 1);
    assert_eq!(second.assignment().unwrap().count(), 1);

    let mut publisher = publisher(bootstrap, &unique("tx.id"), &output, &dead);
    let mut stale = some_outputs("stale");
    publisher.outputs(&mut stale).await.unwrap();
    let offsets: BTreeMap<(String, i32), i64> = [((input.clone(), 0), 5)].into_iter().collect();
    let refused = publisher
        .commit(offsets.clone(), before_rebalance)
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(TransactionError::Aborted(_))),
        "{refused:?}"
    );
    // The producer goes on in a new transaction, under the current generation.
    let mut fresh = some_outputs("fresh");
    let expected: Vec<String> = fresh.iter().map(OutputEvent::to_json).collect();
    publisher.outputs(&mut fresh).await.unwrap();
    publisher
        .commit(offsets, first.group_metadata().unwrap())
        .await
        .unwrap()
        .unwrap();
    let committed = read(bootstrap, &output, "read_committed", Duration::from_secs(3));
    assert_eq!(
        committed, expected,
        "the refused transaction's outputs are never read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_under_exactly_once_rides_out_a_broker_restart_mid_transaction() {
    let broker = support::kafka::own_apache_broker();
    let setup = setup(&broker).await;
    let mut config = setup.config.clone();
    config.service.processing.guarantee = ProcessingGuarantee::ExactlyOnce;
    config.service.processing.transactional_id = Some(unique("tx.id"));
    // Transactions stay open for a second: the outage comes while one holds outputs.
    config.service.processing.commit_interval = ConfigDuration::seconds(1);
    let mut lines = healthy_days("acme", 0, 30);
    lines.extend(healthy_days("initech", 0, 15));
    let (first, second) = lines.split_at(lines.len() / 2);
    let (first, second) = (first.to_vec(), second.to_vec());
    produce(&broker.bootstrap, &setup.input, &first);
    let (stop, stopped) = watch::channel(false);
    let service = tokio::spawn(healthscore::service::run(config, stopped));
    let (after_first, _) = replayed(&first);
    consume_async(&broker.bootstrap, &setup.output, after_first.len()).await;
    // The second half is applied and its outputs sent, in a transaction not yet committed,
    // when the broker goes away.
    produce(&broker.bootstrap, &setup.input, &second);
    tokio::time::sleep(Duration::from_millis(300)).await;
    broker.go_down();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!service.is_finished(), "the service keeps running");
    broker.come_back();

    let (expected, _) = replayed(&lines);
    let outputs = consume_async(&broker.bootstrap, &setup.output, expected.len()).await;
    stop.send(true).unwrap();
    service.await.unwrap().unwrap();
    assert_eq!(payloads(&outputs), expected, "every output once, in order");
}
