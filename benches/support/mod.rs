//! What the Kafka benches share: arguments, unique names, producing generated events, and the
//! CPU time of processes read from `/proc`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryFuture, FutureProducer, FutureRecord, Producer,
};
use rdkafka::ClientConfig;

use healthscore::engine::EventTime;
use healthscore::generator::{GeneratedEvent, Generator, GeneratorSettings};

/// The benches' error type: anything, with its message.
pub type Error = Box<dyn std::error::Error>;

/// The number after `name` on the command line, or `default`.
pub fn argument(name: &str, default: usize) -> usize {
    given_argument(name).unwrap_or(default)
}

/// The number given after `name` on the command line, if one is.
pub fn given_argument(name: &str) -> Option<usize> {
    let arguments: Vec<String> = std::env::args().collect();
    arguments
        .iter()
        .position(|argument| argument == name)
        .and_then(|at| arguments.get(at + 1))
        .and_then(|value| value.parse().ok())
}

/// `name` with the time in nanoseconds appended: a topic or group name no earlier run used.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("{name}.{nanos}")
}

/// The producer of the input events, lingering `linger_ms` to fill its batches: 5 to fill the
/// topics before a throughput pass, 0 in a latency pass (every event sent at once).
///
/// At most 5 requests in flight (the Java producer's default; healthscore's idempotent producer
/// has the same cap). librdkafka's own default, 1,000,000, sends every event of a latency pass
/// as a request of its own while the broker is slow; the broker reads a connection's requests
/// one at a time, so they queued in the socket, where nothing batches them, and the input fell
/// seconds behind for a whole pass.
pub fn producer(bootstrap: &str, linger_ms: &str) -> Result<BaseProducer, Error> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", linger_ms)
        .set("queue.buffering.max.messages", "1000000")
        .set("max.in.flight.requests.per.connection", "5")
        .create()?)
}

/// Sends one generated event, keyed by its customer, waiting while the queue is full.
pub fn send(producer: &BaseProducer, topic: &str, event: &GeneratedEvent) {
    let mut record = BaseRecord::to(topic)
        .key(event.customer_id.as_str())
        .payload(event.json.as_str());
    loop {
        match producer.send(record) {
            Ok(()) => return,
            Err((_, returned)) => {
                record = returned;
                producer.poll(Duration::from_millis(10));
            }
        }
    }
}

/// The CPU time (user and system) in a `/proc/.../stat` line, in clock ticks of 10 ms, and the
/// thread or process name it gives.
pub fn stat_cpu(stat: &str) -> Option<(String, Duration)> {
    let (head, fields) = stat.rsplit_once(')')?;
    let (_, name) = head.split_once('(')?;
    let ticks: u64 = fields
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|field| field.parse::<u64>().ok())
        .sum();
    Some((name.to_string(), Duration::from_millis(ticks * 10)))
}

/// CPU time this process has used so far (every thread: the clients, the service, and on the
/// MockCluster the broker); zero where `/proc` is not available.
pub fn process_cpu() -> Duration {
    cpu_in("/proc/self/stat")
}

/// CPU time the broker process named by `HEALTHSCORE_TEST_BROKER_PID` (which
/// `tests/kafka/broker.sh` exports) has used so far; zero without one.
pub fn broker_cpu() -> Duration {
    std::env::var("HEALTHSCORE_TEST_BROKER_PID")
        .map_or(Duration::ZERO, |pid| cpu_in(&format!("/proc/{pid}/stat")))
}

/// The CPU time (user and system) of the process or thread whose `stat` file this is.
pub fn cpu_in(stat_path: &str) -> Duration {
    std::fs::read_to_string(stat_path)
        .ok()
        .and_then(|stat| stat_cpu(&stat))
        .map_or(Duration::ZERO, |(_, cpu)| cpu)
}

/// Microseconds of CPU per event.
pub fn cpu_per_event(cpu: Duration, events: usize) -> f64 {
    cpu.as_secs_f64() * 1e6 / events as f64
}

/// The `share` percentile of sorted durations, in milliseconds (NaN for none).
fn percentile(sorted: &[Duration], share: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() - 1) as f64 * share).round() as usize;
    sorted[at].as_secs_f64() * 1000.0
}

/// The service's `healthscore_events_total`, summed over its series (0 while unreachable).
pub fn events_processed(address: &str) -> f64 {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(address) else {
        return 0.0;
    };
    let mut response = String::new();
    if write!(stream, "GET /metrics HTTP/1.0\r\n\r\n").is_err()
        || stream.read_to_string(&mut response).is_err()
    {
        return 0.0;
    }
    response
        .lines()
        .filter(|line| line.starts_with("healthscore_events_total{"))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// Event-to-output latencies at a steady rate (see [`latencies_at_rate`]), each list sorted.
#[derive(Debug, Default)]
pub struct Latencies {
    /// Every output an event caused.
    pub all: Vec<Duration>,
    /// Churn alerts.
    pub alerts: Vec<Duration>,
    /// Churn alerts, from sending the event to the output's producer timestamp (the moment the
    /// service handed it to its producer): fetching, batching and processing.
    pub alerts_to_producer: Vec<Duration>,
    /// Churn alerts, from sending the event to the broker appending it to the input (its
    /// `LogAppendTime`; only when the input topic stamps that and the reader reads the input
    /// too): the input producer and the broker.
    pub alerts_to_append: Vec<Duration>,
    /// Every event sent after the warm-up, from sending it to the broker appending it (as
    /// [`Self::alerts_to_append`]): the input's own way into the broker under the pass's load.
    pub events_to_append: Vec<Duration>,
    /// Churn alerts, from the broker appending the event to the output's producer timestamp:
    /// the service's fetch wait, batching and processing (as [`Self::alerts_to_append`]).
    pub alerts_append_to_producer: Vec<Duration>,
    /// Churn alerts, from that timestamp to reading the output: the producer's linger, the
    /// broker and the reader's fetch.
    pub alerts_from_producer: Vec<Duration>,
}

impl Latencies {
    /// One line: p50 and p99 of each list.
    pub fn summary(&self) -> String {
        let pair = |list: &[Duration]| {
            format!(
                "p50 {:.1} ms, p99 {:.1} ms",
                percentile(list, 0.5),
                percentile(list, 0.99)
            )
        };
        let appended = if self.alerts_to_append.is_empty() {
            String::new()
        } else {
            format!(
                " (event to the broker's append {}, append to the service's producer {}; every event to the broker's append {})",
                pair(&self.alerts_to_append),
                pair(&self.alerts_append_to_producer),
                pair(&self.events_to_append),
            )
        };
        format!(
            "event to output {} ({} outputs); event to churn alert {} ({} alerts), of which event to the service's producer {}{appended}, producer to reader {}{}",
            pair(&self.all),
            self.all.len(),
            pair(&self.alerts),
            self.alerts.len(),
            pair(&self.alerts_to_producer),
            pair(&self.alerts_from_producer),
            self.slow_input_warning(),
        )
    }

    /// A warning when the pass's events took long to reach the broker (median over
    /// [`SLOW_APPEND_MILLIS`]; 0 to 6 ms in a sound pass): that wait runs neither system's
    /// code, so the pass's end-to-end figures then say little of the system. Empty otherwise.
    fn slow_input_warning(&self) -> String {
        let median = percentile(&self.events_to_append, 0.5);
        if median > SLOW_APPEND_MILLIS {
            format!(
                ". SLOW INPUT: the events took p50 {median:.0} ms to be appended to the input; \
                 the end-to-end figures of this pass measure the bench's producer and the \
                 machine, not the system: run it again"
            )
        } else {
            String::new()
        }
    }
}

/// The median wait of the events' way into the broker above which a latency pass is flagged.
const SLOW_APPEND_MILLIS: f64 = 20.0;

/// Milliseconds since the Unix epoch on the wall clock (what producer timestamps use).
fn wall_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// A message as the latency reader saw it: when, its topic, its timestamp (the producer's for
/// an output, the broker's append time for an input topic that stamps it), and its payload.
struct Received {
    at: Instant,
    wall_millis: i64,
    input: bool,
    timestamp: Timestamp,
    payload: Vec<u8>,
}

/// Sends 31 s of generated events for 300 customers (one simulated day every second at 2,000
/// events/s) to `input` at `rate` per second, reading outputs with `output_reader` meanwhile and
/// 3 s after, and matches each output an event caused (`cause: event`) to when that event was
/// sent, by its customer and event time (in whole seconds, as outputs give `at`). When the
/// reader is subscribed to `input` as well and the input topic stamps `LogAppendTime`, each
/// churn alert's time to the service's producer is split at the broker's append. The first
/// second is a warm-up, not measured: partitions that get their first events after the group
/// join take up to a few hundred milliseconds to start flowing (on either system).
pub fn latencies_at_rate(
    producing: &BaseProducer,
    input: &str,
    output_reader: BaseConsumer,
    rate: usize,
) -> Result<Latencies, Error> {
    let warm_up = Duration::from_secs(1);
    let duration = Duration::from_secs(31);
    let count = rate * duration.as_secs() as usize;
    let mut generator = Generator::new(&GeneratorSettings {
        customers: 300,
        seed: 5,
        ..GeneratorSettings::default()
    });
    let mut sent: HashMap<(String, i64), (Instant, i64)> = HashMap::new();
    let (done, done_receiver) = std::sync::mpsc::channel::<()>();
    let input_topic = input.to_string();
    let reading = std::thread::spawn(move || {
        let mut received = Vec::new();
        while done_receiver.try_recv().is_err() {
            if let Some(Ok(message)) = output_reader.poll(Duration::from_millis(50)) {
                received.push(Received {
                    at: Instant::now(),
                    wall_millis: wall_millis(),
                    input: message.topic() == input_topic,
                    timestamp: message.timestamp(),
                    payload: message.payload().unwrap_or_default().to_vec(),
                });
            }
        }
        received
    });
    let started = Instant::now();
    for number in 0..count {
        let due = started + duration.mul_f64(number as f64 / count as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let event = generator.next_event();
        if started.elapsed() >= warm_up {
            sent.insert(
                (event.customer_id.clone(), event.time_millis / 1000),
                (Instant::now(), wall_millis()),
            );
        }
        send(producing, input, &event);
        producing.poll(Duration::ZERO);
    }
    producing.flush(Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_secs(3));
    done.send(())?;
    let received = reading.join().map_err(|_| "the reader panicked")?;
    let mut latencies = Latencies::default();
    let millis = |from: i64, to: i64| Duration::from_millis(u64::try_from(to - from).unwrap_or(0));
    let key = |json: &serde_json::Value, field: &str| -> Result<(String, i64), Error> {
        let time = EventTime::parse_rfc3339(json[field].as_str().unwrap_or_default())
            .map_err(|error| format!("{error:?}"))?;
        let customer = json["customer_id"].as_str().unwrap_or_default().to_string();
        Ok((customer, time.millis() / 1000))
    };
    let mut appended: HashMap<(String, i64), i64> = HashMap::new();
    for message in received.iter().filter(|message| message.input) {
        if let Timestamp::LogAppendTime(append_millis) = message.timestamp {
            let json: serde_json::Value = serde_json::from_slice(&message.payload)?;
            let event = key(&json, "timestamp")?;
            if let Some((_, sent_millis)) = sent.get(&event) {
                latencies
                    .events_to_append
                    .push(millis(*sent_millis, append_millis));
            }
            appended.insert(event, append_millis);
        }
    }
    for output in received.iter().filter(|message| !message.input) {
        let json: serde_json::Value = serde_json::from_slice(&output.payload)?;
        if json["cause"] != "event" {
            continue;
        }
        let event = key(&json, "at")?;
        let Some((sent_at, sent_millis)) = sent.get(&event) else {
            continue;
        };
        let latency = output.at.saturating_duration_since(*sent_at);
        latencies.all.push(latency);
        if json["type"] == "churn_risk_alert" {
            latencies.alerts.push(latency);
            if let Some(produced) = output.timestamp.to_millis() {
                latencies
                    .alerts_to_producer
                    .push(millis(*sent_millis, produced));
                latencies
                    .alerts_from_producer
                    .push(millis(produced, output.wall_millis));
                if let Some(append) = appended.get(&event) {
                    latencies
                        .alerts_to_append
                        .push(millis(*sent_millis, *append));
                    latencies
                        .alerts_append_to_producer
                        .push(millis(*append, produced));
                }
            }
        }
    }
    for list in [
        &mut latencies.all,
        &mut latencies.alerts,
        &mut latencies.alerts_to_producer,
        &mut latencies.alerts_from_producer,
        &mut latencies.alerts_to_append,
        &mut latencies.alerts_append_to_producer,
        &mut latencies.events_to_append,
    ] {
        list.sort();
    }
    Ok(latencies)
}

/// Hands one output to `producer` as the service's publisher does (one delivery future each),
/// waiting while its queue is full.
pub async fn send_output(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    payload: &[u8],
) -> DeliveryFuture {
    let mut record = FutureRecord::to(topic).key(key).payload(payload);
    loop {
        match producer.send_result(record) {
            Ok(delivery) => return delivery,
            Err((_, returned)) => {
                record = returned;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
}

/// A consumer of `input` made from `config` with the service's consumer defaults, and a producer
/// set up as the service's publisher is: the Kafka clients of the baseline that reads and
/// produces as the service does, with no engine.
pub fn service_clients(
    mut config: ClientConfig,
    bootstrap: &str,
    input: &str,
) -> Result<(StreamConsumer, FutureProducer), Error> {
    for (key, value) in healthscore::kafka::CONSUMER_DEFAULTS {
        config.set(key, value);
    }
    let consumer: StreamConsumer = config.create()?;
    consumer.subscribe(&[input])?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()?;
    Ok((consumer, producer))
}

/// Creates `topics` with `partitions` partitions each, and the topic `configs` given.
pub fn create_topics(
    runtime: &tokio::runtime::Runtime,
    bootstrap: &str,
    partitions: i32,
    topics: &[&str],
    configs: &[(&str, &str)],
) -> Result<(), Error> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|topic| {
            configs.iter().fold(
                NewTopic::new(topic, partitions, TopicReplication::Fixed(1)),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    for result in runtime.block_on(admin.create_topics(&new_topics, &AdminOptions::new()))? {
        result.map_err(|(topic, code)| format!("creating {topic}: {code}"))?;
    }
    Ok(())
}

/// A consumer's config that reads from the start in a new group named after `group`, committing
/// nothing.
pub fn reader_config(bootstrap: &str, group: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", unique(group))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false");
    config
}
