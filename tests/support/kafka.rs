//! Kafka helpers for the integration tests: a broker per test (a MockCluster, or the external one
//! named by `HEALTHSCORE_TEST_BOOTSTRAP`), topics, producing and reading, and a service config.

use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, BaseRecord, DefaultProducerContext, Producer};
use rdkafka::ClientConfig;
use tokio::sync::watch;

use healthscore::config::{Config, DEFAULT_CONFIG_TOML};
use healthscore::engine::Engine;

use super::own_broker::OwnBroker;
use super::{default_model, feed, free_port};

/// A broker for one test: the external one, a fresh MockCluster, or a broker process of the
/// test's own.
pub struct Broker {
    pub bootstrap: String,
    kind: BrokerKind,
}

enum BrokerKind {
    /// The broker named by `HEALTHSCORE_TEST_BOOTSTRAP`, shared by every test.
    External,
    Mock(MockCluster<'static, DefaultProducerContext>),
    Own(OwnBroker),
}

/// The broker most tests use: the external one if `HEALTHSCORE_TEST_BOOTSTRAP` names it, else a
/// fresh MockCluster.
pub fn broker() -> Broker {
    if uses_external_broker() {
        Broker::external(&std::env::var("HEALTHSCORE_TEST_BOOTSTRAP").unwrap_or_default())
    } else {
        mock_broker()
    }
}

/// A broker no other test uses, for tests that stop it or need a cluster of their own: a
/// MockCluster, or against a real broker an Apache Kafka process started for this test
/// (`tests/kafka/broker.sh`).
pub fn private_broker() -> Broker {
    if uses_external_broker() {
        let own = OwnBroker::start();
        Broker {
            bootstrap: own.bootstrap.clone(),
            kind: BrokerKind::Own(own),
        }
    } else {
        mock_broker()
    }
}

/// A broker that implements transactions: the external one if `HEALTHSCORE_TEST_BOOTSTRAP` names
/// it, else an Apache Kafka process of the test's own (the MockCluster has no transactions).
pub fn transactional_broker() -> Broker {
    if uses_external_broker() {
        broker()
    } else {
        own_apache_broker()
    }
}

/// An Apache Kafka process of the test's own, which it may stop and start again.
pub fn own_apache_broker() -> Broker {
    let own = OwnBroker::start();
    Broker {
        bootstrap: own.bootstrap.clone(),
        kind: BrokerKind::Own(own),
    }
}

impl Broker {
    /// A broker that is already running at `bootstrap` and shared with other tests.
    pub fn external(bootstrap: &str) -> Broker {
        Broker {
            bootstrap: bootstrap.to_string(),
            kind: BrokerKind::External,
        }
    }
}

fn mock_broker() -> Broker {
    let mock = MockCluster::new(1).expect("mock cluster starts");
    Broker {
        bootstrap: mock.bootstrap_servers(),
        kind: BrokerKind::Mock(mock),
    }
}

/// Whether the tests run against an external broker rather than MockClusters.
pub fn uses_external_broker() -> bool {
    std::env::var("HEALTHSCORE_TEST_BOOTSTRAP").is_ok_and(|value| !value.is_empty())
}

/// Names unique to this run, so tests can share an external broker.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}.{}.{nanos}", std::process::id())
}

impl Broker {
    /// Creates single-partition topics.
    pub async fn create_topics(&self, topics: &[&str]) {
        self.create_partitioned_topics(topics, 1).await;
    }

    /// Creates topics of `partitions` partitions: through the mock's own API (it has no
    /// CreateTopics), or the admin API of a real broker.
    pub async fn create_partitioned_topics(&self, topics: &[&str], partitions: i32) {
        match &self.kind {
            BrokerKind::Mock(mock) => {
                for topic in topics {
                    mock.create_topic(topic, partitions, 1)
                        .expect("mock topic created");
                }
            }
            BrokerKind::External | BrokerKind::Own(_) => {
                create_topics_on_broker(&self.bootstrap, topics, partitions).await
            }
        }
    }

    /// Sets a topic's `max.message.bytes` on a real broker, which then refuses larger records;
    /// the MockCluster has no topic configs, so there it does nothing.
    pub async fn limit_message_bytes(&self, topic: &str, bytes: usize) {
        if matches!(self.kind, BrokerKind::Mock(_)) {
            return;
        }
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .unwrap();
        let limit = bytes.to_string();
        let change =
            AlterConfig::new(ResourceSpecifier::Topic(topic)).set("max.message.bytes", &limit);
        let results = admin
            .alter_configs(&[change], &AdminOptions::new())
            .await
            .expect("the broker answers");
        assert!(results.iter().all(Result::is_ok), "{results:?}");
    }

    /// Takes the broker down: the mock's broker stops answering, a broker process stops.
    pub fn go_down(&self) {
        match &self.kind {
            BrokerKind::Mock(mock) => mock.broker_down(1).expect("mock broker down"),
            BrokerKind::Own(own) => own.stop(),
            BrokerKind::External => panic!("the shared external broker is not stopped by a test"),
        }
    }

    /// Brings the broker back after [`Broker::go_down`], with its data.
    pub fn come_back(&self) {
        match &self.kind {
            BrokerKind::Mock(mock) => mock.broker_up(1).expect("mock broker up"),
            BrokerKind::Own(own) => own.restart(),
            BrokerKind::External => panic!("the shared external broker is not stopped by a test"),
        }
    }
}

pub async fn create_topics_on_broker(bootstrap: &str, topics: &[&str], partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|topic| NewTopic::new(topic, partitions, TopicReplication::Fixed(1)))
        .collect();
    admin
        .create_topics(&new_topics, &AdminOptions::new())
        .await
        .expect("topics created");
}

pub fn produce(bootstrap: &str, topic: &str, lines: &[String]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for line in lines {
        let key = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|value| value["customer_id"].as_str().map(String::from))
            .unwrap_or_default();
        let record = BaseRecord::to(topic).key(&key).payload(line.as_str());
        producer.send(record).map_err(|(error, _)| error).unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

/// Produces each line to its given partition, keyed by its customer id.
pub fn produce_to_partitions(bootstrap: &str, topic: &str, lines: &[(i32, String)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for (partition, line) in lines {
        let key = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|value| value["customer_id"].as_str().map(String::from))
            .unwrap_or_default();
        let record = BaseRecord::to(topic)
            .partition(*partition)
            .key(&key)
            .payload(line.as_str());
        producer.send(record).map_err(|(error, _)| error).unwrap();
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

/// A consumer of its own group reading `topic` from the start.
pub fn reader(bootstrap: &str, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

/// Reads `count` messages from `topic` (or fails after 30 seconds).
pub fn consume(bootstrap: &str, topic: &str, count: usize) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer = reader(bootstrap, topic);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut messages = Vec::new();
    while messages.len() < count && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            messages.push(message.detach());
        }
    }
    // A short extra wait catches anything beyond the expected count (duplicates).
    let settle = Instant::now() + Duration::from_millis(500);
    while Instant::now() < settle {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            messages.push(message.detach());
        }
    }
    messages
}

pub struct Setup {
    pub config: Config,
    pub input: String,
    pub output: String,
    pub dead_letters: String,
    pub _snapshots: tempfile::TempDir,
}

pub async fn setup(broker: &Broker) -> Setup {
    let bootstrap = broker.bootstrap.as_str();
    let input = unique("customer.usage");
    let output = unique("customer.health");
    let dead_letters = unique("customer.health.deadletter");
    broker
        .create_topics(&[&input, &output, &dead_letters])
        .await;
    let snapshots = tempfile::tempdir().unwrap();
    let mut config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "test").unwrap();
    let kafka = &mut config.service.kafka;
    kafka.bootstrap_servers = bootstrap.to_string();
    kafka.group_id = unique("healthscore");
    kafka.inputs.truncate(1);
    kafka.inputs[0].topic = input.clone();
    kafka.output_topic = output.clone();
    kafka.dead_letter_topic = dead_letters.clone();
    for_tests(&mut config, &snapshots);
    Setup {
        config,
        input,
        output,
        dead_letters,
        _snapshots: snapshots,
    }
}

/// What every test's service config has: a short consumer session (a restarted member should
/// not wait out the old one's), no generator, a free HTTP port, snapshots in `snapshots`.
pub fn for_tests(config: &mut Config, snapshots: &tempfile::TempDir) {
    let consumer = &mut config.service.kafka.consumer;
    consumer.insert("session.timeout.ms".into(), "6000".into());
    consumer.insert("heartbeat.interval.ms".into(), "500".into());
    config.service.generator.enabled = false;
    config.service.http.listen = format!("127.0.0.1:{}", free_port());
    config.service.snapshot.dir = snapshots.path().display().to_string();
}

/// Runs the service until `done` says its work is visible, then stops it and returns its result.
pub async fn run_service_until(
    config: &Config,
    done: impl FnOnce() + Send + 'static,
) -> anyhow::Result<()> {
    let (stop, stopped) = watch::channel(false);
    let service = tokio::spawn(healthscore::service::run(config.clone(), stopped));
    tokio::task::spawn_blocking(done).await.unwrap();
    stop.send(true).unwrap();
    service.await.unwrap()
}

/// [`consume`] from async code, on a blocking thread.
pub async fn consume_async(
    bootstrap: &str,
    topic: &str,
    count: usize,
) -> Vec<rdkafka::message::OwnedMessage> {
    let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
    tokio::task::spawn_blocking(move || consume(&bootstrap, &topic, count))
        .await
        .expect("the reader thread finishes")
}

/// Runs the service until `count` messages were read from `topic`, stops it (it must stop
/// cleanly), and returns them.
pub async fn run_service_reading(
    config: &Config,
    bootstrap: &str,
    topic: &str,
    count: usize,
) -> Vec<rdkafka::message::OwnedMessage> {
    let (stop, stopped) = watch::channel(false);
    let service = tokio::spawn(healthscore::service::run(config.clone(), stopped));
    let messages = consume_async(bootstrap, topic, count).await;
    stop.send(true).unwrap();
    service.await.unwrap().unwrap();
    messages
}

/// What `replay` produces for the same events: the expected outputs and final state.
pub fn replayed(lines: &[String]) -> (Vec<String>, Engine) {
    let mut engine = Engine::new(default_model());
    let valid: Vec<String> = lines
        .iter()
        .filter(|line| healthscore::engine::decode::decode_json(line.as_bytes()).is_ok())
        .cloned()
        .collect();
    let outputs = feed(&mut engine, &valid)
        .iter()
        .map(|output| output.to_json())
        .collect();
    (outputs, engine)
}

pub fn payloads(messages: &[rdkafka::message::OwnedMessage]) -> Vec<String> {
    messages
        .iter()
        .map(|message| String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned())
        .collect()
}

pub fn header(message: &rdkafka::message::OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|header| header.key == name)
        .and_then(|header| header.value)
        .map(|value| String::from_utf8_lossy(value).into_owned())
}
