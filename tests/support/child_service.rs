//! `healthscore run` as a child process over fresh topics of the standard layout (five input
//! topics of four partitions, merged in event time, plus an output and a dead-letter topic): its
//! config, starting and signalling it, what its `/metrics` and log say, input produced in bursts
//! while it runs, and what a `read_committed` reader finds on its output topics.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;

use healthscore::config::DEFAULT_CONFIG_TOML;
use healthscore::engine::Engine;

use super::kafka::Broker;
use healthscore::generator::GeneratedEvent;

use super::layout::{generated_stream, partition_of, produce, PARTITIONS};
use super::{default_model, feed, try_http_get};

/// How long a paused service stays stopped: past its 6 s session timeout.
pub const PAUSE_PAST_SESSION: Duration = Duration::from_secs(9);

/// The topics of one test run on a broker.
pub struct ChildTopics {
    pub bootstrap: String,
    /// Unique to the run: topic, group and transactional ids end with it.
    pub suffix: String,
    /// (source, topic) per input, in `kafka.inputs` order.
    pub inputs: Vec<(String, String)>,
    pub output: String,
    pub dead_letters: String,
}

impl ChildTopics {
    /// Creates the standard layout's topics, named `{name}.{source}.{suffix}`, on `broker`.
    pub fn create(broker: &Broker, name: &str) -> ChildTopics {
        let suffix = format!(
            "{}.{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_nanos())
        );
        let sources = ["usage", "email", "support", "payment", "profile"];
        let inputs: Vec<(String, String)> = sources
            .iter()
            .map(|source| (source.to_string(), format!("{name}.{source}.{suffix}")))
            .collect();
        let output = format!("{name}.health.{suffix}");
        let dead_letters = format!("{output}.dead");
        let mut topics: Vec<&str> = inputs.iter().map(|(_, topic)| topic.as_str()).collect();
        topics.extend([output.as_str(), dead_letters.as_str()]);
        tokio::runtime::Runtime::new()
            .expect("a Tokio runtime")
            .block_on(broker.create_partitioned_topics(&topics, PARTITIONS));
        ChildTopics {
            bootstrap: broker.bootstrap.clone(),
            suffix,
            inputs,
            output,
            dead_letters,
        }
    }

    /// The config of an instance in group `group` serving HTTP on `address`, with a 6 s session
    /// timeout, `max_idle = 1s` and a snapshot every second; under exactly-once with
    /// `transactional_id` if one is given.
    pub fn config(&self, group: &str, address: &str, transactional_id: Option<&str>) -> String {
        let mut config = DEFAULT_CONFIG_TOML
            .replace(
                "bootstrap_servers = \"embedded\"",
                &format!("bootstrap_servers = \"{}\"", self.bootstrap),
            )
            .replace("group_id = \"healthscore\"", &format!("group_id = \"{group}\""))
            .replace(
                "output_topic = \"customer.health\"",
                &format!("output_topic = \"{}\"", self.output),
            )
            .replace(
                "dead_letter_topic = \"customer.health.deadletter\"",
                &format!("dead_letter_topic = \"{}\"", self.dead_letters),
            )
            .replace(
                "[kafka.consumer]\n",
                "[kafka.consumer]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n",
            )
            // A burst's events arrive within a second of each other: each waits that long for
            // the other topics' (and every restart waits that long for the quiet ones).
            .replace("max_idle = \"2s\"", "max_idle = \"1s\"")
            .replace(
                "listen = \"127.0.0.1:9898\"",
                &format!("listen = \"{address}\""),
            )
            .replace("interval = \"30s\"", "interval = \"1s\"");
        if let Some(transactional_id) = transactional_id {
            config = config
                .replace(
                    "guarantee = \"at_least_once\"",
                    "guarantee = \"exactly_once\"",
                )
                .replace(
                    "# transactional_id = \"healthscore-0\"",
                    &format!("transactional_id = \"{transactional_id}\""),
                );
        }
        for (source, topic) in &self.inputs {
            config = config.replace(
                &format!("topic = \"customer.{source}\""),
                &format!("topic = \"{topic}\""),
            );
        }
        config
    }

    /// Produces `events` in the background in bursts of 100, 900 ms apart, every tenth burst
    /// with a malformed message on the usage topic.
    pub fn produce_in_bursts(&self, events: &[GeneratedEvent]) -> Bursts {
        let (events, bootstrap, inputs) =
            (events.to_vec(), self.bootstrap.clone(), self.inputs.clone());
        let malformed = events.chunks(100).count().div_ceil(10);
        let producing = std::thread::spawn(move || {
            let usage_topic = &inputs[0].1;
            for (burst, chunk) in events.chunks(100).enumerate() {
                produce(&bootstrap, &inputs, chunk, |_| true);
                if burst % 10 == 0 {
                    let line = format!("not json {burst}");
                    super::kafka::produce(&bootstrap, usage_topic, &[line]);
                }
                std::thread::sleep(Duration::from_millis(900));
            }
            Instant::now()
        });
        Bursts {
            producing,
            malformed,
        }
    }

    /// A `read_committed` reader of the output topic, from its start.
    pub fn output_reader(&self) -> BaseConsumer {
        self.read_committed_reader("reader", &self.output)
    }

    /// A `read_committed` reader of `topic` from its start, in a group of its own named after
    /// `role`.
    fn read_committed_reader(&self, role: &str, topic: &str) -> BaseConsumer {
        let reader: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", format!("{role}-{}", self.suffix))
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .create()
            .expect("a reader");
        reader.subscribe(&[topic]).expect("subscribed");
        reader
    }

    /// The origins (`topic/partition/offset` headers) of the dead letters a `read_committed`
    /// reader finds: reads until `expected` distinct ones are in, then a little longer.
    pub fn dead_letter_origins(&self, expected: usize) -> Vec<String> {
        let reader = self.read_committed_reader("dead-reader", &self.dead_letters);
        let mut origins = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut settle: Option<Instant> = None;
        while Instant::now() < deadline && settle.is_none_or(|until| Instant::now() < until) {
            if let Some(Ok(message)) = reader.poll(Duration::from_millis(100)) {
                let message = message.detach();
                let origin = ["source_topic", "source_partition", "source_offset"]
                    .map(|name| super::kafka::header(&message, name).unwrap_or_default())
                    .join("/");
                origins.push(origin);
            }
            let distinct: BTreeSet<&String> = origins.iter().collect();
            if settle.is_none() && distinct.len() >= expected {
                settle = Some(Instant::now() + Duration::from_secs(2));
            }
        }
        origins
    }
}

/// Input being produced in the background.
pub struct Bursts {
    /// Ends when the last event is produced, with that moment.
    pub producing: JoinHandle<Instant>,
    /// How many malformed messages it produces.
    pub malformed: usize,
}

/// The events the tests produce: forty days of thirty generated customers, whose fading and
/// churning ones keep changing throughout.
pub fn forty_days() -> Vec<GeneratedEvent> {
    generated_stream(30, 40, 7)
}

/// What one engine per partition gives for `events`: every output `event_id`, and each
/// partition's engine at the end (`replay` of that partition's events).
pub fn replayed_by_partition(
    events: &[GeneratedEvent],
) -> (BTreeSet<String>, BTreeMap<i32, Engine>) {
    let mut expected = BTreeSet::new();
    let mut replays = BTreeMap::new();
    for partition in 0..PARTITIONS {
        let lines: Vec<String> = events
            .iter()
            .filter(|event| partition_of(&event.customer_id) == partition)
            .map(|event| event.json.clone())
            .collect();
        let mut engine = Engine::new(default_model());
        expected.extend(
            feed(&mut engine, &lines)
                .iter()
                .map(|output| output.event_id().to_string()),
        );
        replays.insert(partition, engine);
    }
    (expected, replays)
}

/// Starts `healthscore run --config config` in `directory`, its log appended to
/// `directory/service.log`; killed when dropped.
pub fn start(config: &Path, directory: &Path) -> RunningService {
    let child = Command::new(env!("CARGO_BIN_EXE_healthscore"))
        .args(["run", "--config"])
        .arg(config)
        .current_dir(directory)
        .env_remove("HEALTHSCORE_CONFIG")
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(directory.join("service.log"))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null()),
        )
        .spawn()
        .expect("the service starts");
    RunningService(child)
}

/// A started service, killed when dropped: a test that fails leaves no service running.
pub struct RunningService(pub Child);

impl std::ops::Deref for RunningService {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for RunningService {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `signal` (`STOP`, `CONT`) to `child`.
pub fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {}", child.id());
}

/// How many assignments the service logged in `directory/service.log`.
pub fn assignments(directory: &Path) -> usize {
    std::fs::read_to_string(directory.join("service.log"))
        .unwrap_or_default()
        .matches("Input partitions assigned")
        .count()
}

/// The output `event_id`s read, and those read more than once.
#[derive(Default)]
pub struct Seen {
    pub ids: BTreeSet<String>,
    pub again: Vec<String>,
}

impl Seen {
    /// Reads outputs from `reader` for `wait`.
    pub fn read(&mut self, reader: &BaseConsumer, wait: Duration) {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if let Some(Ok(message)) = reader.poll(Duration::from_millis(50)) {
                let payload: serde_json::Value =
                    serde_json::from_slice(message.payload().unwrap_or_default())
                        .expect("outputs are JSON");
                let id = payload["event_id"]
                    .as_str()
                    .expect("an event_id")
                    .to_string();
                if !self.ids.insert(id.clone()) {
                    self.again.push(id);
                }
            }
        }
    }
}

/// The consumer lag the service at `address` reports per input partition it knows of (0 for
/// one another instance took over), as (labels, messages); `None` if it does not answer.
pub fn consumer_lags(address: &str) -> Option<Vec<(String, f64)>> {
    let (_, metrics) = try_http_get(address, "/metrics")?;
    Some(
        metrics
            .lines()
            .filter_map(|line| line.strip_prefix("healthscore_consumer_lag_messages"))
            .filter_map(|line| {
                let (labels, value) = line.rsplit_once(' ')?;
                Some((labels.to_string(), value.parse().ok()?))
            })
            .collect(),
    )
}

/// Whether the service at `address` reports consumer lag zero on each of `partitions` input
/// partitions.
pub fn applied_to_the_end(address: &str, partitions: usize) -> bool {
    consumer_lags(address)
        .is_some_and(|lags| lags.len() == partitions && lags.iter().all(|(_, lag)| *lag == 0.0))
}

/// The value of the sample `series` (name and labels as exported) on the service's `/metrics`.
pub fn metric(address: &str, series: &str) -> Option<f64> {
    let (_, metrics) = try_http_get(address, "/metrics")?;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// The run's random seed: `HEALTHSCORE_CRASH_SEED` if set, else from the clock.
pub fn seed() -> u64 {
    std::env::var("HEALTHSCORE_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |elapsed| elapsed.as_nanos() as u64 | 1)
        })
}

/// `count` waits of 1.5 to 4 s drawn from `seed` (past the first second, which every run spends
/// waiting for its quiet topics), in milliseconds.
pub fn random_waits(seed: u64, count: usize) -> Vec<u64> {
    let mut random = seed;
    (0..count)
        .map(|_| {
            // xorshift: enough spread for interruption moments, repeatable from the seed.
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            1_500 + random % 2_500
        })
        .collect()
}
