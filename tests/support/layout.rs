//! The standard topic layout of a deployment: the five input topics of the default config
//! (usage, email, support, payment, profile), each with four partitions, co-partitioned by
//! customer; a generated stream spread over them; and `replay` of the same stream from files,
//! which is what the service's outputs must equal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

use healthscore::config::{Config, DEFAULT_CONFIG_TOML};
use healthscore::generator::{GeneratedEvent, Generator, GeneratorSettings};

use super::kafka::{for_tests, unique, Broker};

/// Partitions of every topic in the layout.
pub const PARTITIONS: i32 = 4;

/// The topics and a service config reading them.
pub struct StandardLayout {
    /// The service's config: the default one on these topics.
    pub config: Config,
    /// The input topics, in `kafka.inputs` order, with their source names.
    pub inputs: Vec<(String, String)>,
    /// The output topic.
    pub output: String,
    /// The dead-letter topic.
    pub dead_letters: String,
    /// Where snapshots go.
    pub snapshots: tempfile::TempDir,
}

/// Creates the layout's topics (unique names) and a config for them.
pub async fn standard_layout(broker: &Broker) -> StandardLayout {
    let mut config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "test").unwrap();
    let kafka = &mut config.service.kafka;
    let inputs: Vec<(String, String)> = kafka
        .inputs
        .iter_mut()
        .map(|input| {
            input.topic = unique(&input.topic);
            (input.source.clone(), input.topic.clone())
        })
        .collect();
    assert_eq!(inputs.len(), 5, "the default config has five input topics");
    let output = unique("customer.health");
    let dead_letters = unique("customer.health.deadletter");
    let mut topics: Vec<&str> = inputs.iter().map(|(_, topic)| topic.as_str()).collect();
    topics.extend([output.as_str(), dead_letters.as_str()]);
    broker.create_partitioned_topics(&topics, PARTITIONS).await;
    kafka.bootstrap_servers = broker.bootstrap.clone();
    kafka.group_id = unique("healthscore");
    kafka.output_topic = output.clone();
    kafka.dead_letter_topic = dead_letters.clone();
    let snapshots = tempfile::tempdir().unwrap();
    for_tests(&mut config, &snapshots);
    StandardLayout {
        config,
        inputs,
        output,
        dead_letters,
        snapshots,
    }
}

/// The generator's stream for `customers` customers over `days` days (profiles first).
pub fn generated_stream(customers: usize, days: i64, seed: u64) -> Vec<GeneratedEvent> {
    let settings = GeneratorSettings {
        customers,
        seed,
        ..GeneratorSettings::default()
    };
    let end = settings.start_millis + days * 86_400_000;
    let mut generator = Generator::new(&settings);
    std::iter::from_fn(|| Some(generator.next_event()))
        .take_while(|event| event.time_millis < end)
        .collect()
}

/// The partition a customer's events go to on every input topic (a fixed hash of the id, so
/// that the test knows it; any partitioner shared by all producers would do).
pub fn partition_of(customer_id: &str) -> i32 {
    let hash = customer_id.bytes().fold(0u32, |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(byte as u32)
    });
    (hash % PARTITIONS as u32) as i32
}

impl StandardLayout {
    /// Produces the events of the sources `only` accepts to their topics; see [`produce`].
    pub fn produce(&self, bootstrap: &str, events: &[GeneratedEvent], only: impl Fn(&str) -> bool) {
        produce(bootstrap, &self.inputs, events, only);
    }

    /// Writes the stream as one JSON-lines file per input topic (as a topic dump would be), in
    /// `kafka.inputs` order.
    pub fn write_files(&self, directory: &Path, events: &[GeneratedEvent]) -> Vec<PathBuf> {
        self.inputs
            .iter()
            .map(|(source, _)| {
                let path = directory.join(format!("{source}.jsonl"));
                let lines: String = events
                    .iter()
                    .filter(|event| event.source == source)
                    .map(|event| format!("{}\n", event.json))
                    .collect();
                std::fs::write(&path, lines).unwrap();
                path
            })
            .collect()
    }
}

/// Produces the events of the sources `only` accepts to their topics in `inputs` (source,
/// topic), in stream order, keyed and partitioned by customer.
pub fn produce(
    bootstrap: &str,
    inputs: &[(String, String)],
    events: &[GeneratedEvent],
    only: impl Fn(&str) -> bool,
) {
    send_in_order(
        bootstrap,
        events
            .iter()
            .filter(|event| only(event.source))
            .map(|event| {
                (
                    topic_of(inputs, event.source),
                    partition_of(&event.customer_id),
                    event.customer_id.as_str(),
                    event.json.as_str(),
                )
            }),
    );
}

/// Sends (topic, partition, key, payload) records in order and waits for them. Idempotent, as
/// a producer that needs its order kept must be: without it a retried batch (right after the
/// topics are made, say) can land after the next one.
fn send_in_order<'a>(
    bootstrap: &str,
    records: impl Iterator<Item = (&'a str, i32, &'a str, &'a str)>,
) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("enable.idempotence", "true")
        .create()
        .unwrap();
    for (topic, partition, key, payload) in records {
        let mut record = BaseRecord::to(topic)
            .partition(partition)
            .key(key)
            .payload(payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, returned)) => {
                    // The local queue is full: let deliveries drain it.
                    producer.poll(Duration::from_millis(10));
                    record = returned;
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// The topic of `source` in `inputs` (source, topic).
fn topic_of<'a>(inputs: &'a [(String, String)], source: &str) -> &'a str {
    inputs
        .iter()
        .find(|(name, _)| name == source)
        .map(|(_, topic)| topic.as_str())
        .expect("a source of the default config")
}

/// The source of an event line, by its type, as a deployment would route it.
pub fn source_of(line: &str) -> &'static str {
    let value: serde_json::Value = serde_json::from_str(line).expect("test events are JSON");
    let event_type = value["type"].as_str().unwrap_or_default();
    match event_type {
        _ if event_type.starts_with("email_") => "email",
        _ if event_type.starts_with("invoice_") || event_type.starts_with("payment_") => "payment",
        "csat" | "nps" | "ticket_opened" | "ticket_escalated" => "support",
        "profile" => "profile",
        _ => "usage",
    }
}

/// Produces event lines, each to its source's topic in `inputs` and its given partition, keyed
/// by customer, in order.
pub fn produce_lines(bootstrap: &str, inputs: &[(String, String)], lines: &[(i32, String)]) {
    let keyed: Vec<(&str, i32, String, &str)> = lines
        .iter()
        .map(|(partition, line)| {
            let value: serde_json::Value =
                serde_json::from_str(line).expect("test events are JSON");
            let customer = value["customer_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (
                topic_of(inputs, source_of(line)),
                *partition,
                customer,
                line.as_str(),
            )
        })
        .collect();
    send_in_order(
        bootstrap,
        keyed
            .iter()
            .map(|(topic, partition, key, line)| (*topic, *partition, key.as_str(), *line)),
    );
}

/// How many of `lines` each input partition holds: (topic, partition) to the offset after its
/// last, as a snapshot of all of them records.
pub fn offsets_of(
    inputs: &[(String, String)],
    lines: &[(i32, String)],
) -> BTreeMap<(String, i32), i64> {
    let mut offsets = BTreeMap::new();
    for (partition, line) in lines {
        let topic = topic_of(inputs, source_of(line)).to_string();
        *offsets.entry((topic, *partition)).or_insert(0) += 1;
    }
    offsets
}

/// Runs `healthscore replay` over `files` with the default config and returns its output lines.
pub fn replay(files: &[PathBuf], directory: &Path) -> Vec<String> {
    let output = directory.join("replay-outputs.jsonl");
    let status = Command::new(env!("CARGO_BIN_EXE_healthscore"))
        .arg("replay")
        .arg("--config")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/healthscore.toml"))
        .arg("--input")
        .args(files)
        .arg("--output")
        .arg(&output)
        .env_remove("HEALTHSCORE_CONFIG")
        .status()
        .expect("replay runs");
    assert!(status.success(), "replay failed: {status}");
    std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// Output lines grouped by customer, in order, keeping those `keep` accepts given the
/// customer and the output's event time (epoch milliseconds).
pub fn by_customer(
    lines: &[String],
    keep: impl Fn(&str, i64) -> bool,
) -> BTreeMap<String, Vec<String>> {
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(line).expect("outputs are JSON");
        let customer = value["customer_id"]
            .as_str()
            .expect("customer_id")
            .to_string();
        let at = chrono::DateTime::parse_from_rfc3339(value["at"].as_str().expect("at"))
            .expect("at is RFC 3339")
            .timestamp_millis();
        if keep(&customer, at) {
            grouped.entry(customer).or_default().push(line.clone());
        }
    }
    grouped
}

/// The latest event time on each partition: how far each partition's clock gets.
pub fn partition_ends(events: &[GeneratedEvent]) -> BTreeMap<i32, i64> {
    let mut ends = BTreeMap::new();
    for event in events {
        let end = ends
            .entry(partition_of(&event.customer_id))
            .or_insert(i64::MIN);
        *end = (*end).max(event.time_millis);
    }
    ends
}
