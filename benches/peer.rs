//! healthscore against a Kafka Streams peer on Apache Kafka: the same job, the same broker, the
//! same topic and events, in one run.
//!
//! The job is the benchmark model, `benches/bench-model.toml`: healthscore runs it as it is
//! (`healthscore run`, a separate process), and `benches/peers/kafka-streams` implements exactly
//! that model as a Kafka Streams application (a separate JVM), once with Kafka Streams' default
//! persistent store (RocksDB) and once with its in-memory store. Beside them, in this process,
//! two baselines read the same topic: a read-only consumer, and a consumer that reads as the
//! service does and produces the outputs the model causes, with no engine.
//!
//! The workload is generated activity for `--customers` customers: `--warm-days` days of history
//! (backfill: every customer new), then `--days` more (steady state: every customer warm). Each
//! pass reads the whole topic from the start; its progress (events processed, read from the
//! process's own count) and CPU time (from `/proc`, for that process alone, and for the broker)
//! are sampled every 10 ms, so each section is timed on its own: the steady state is the span
//! from the last warm-up event to the end. Then the outputs of healthscore and of each peer are
//! compared: the same outputs, with scores within rounding, or the bench fails.
//!
//! Last, the latency passes, one per system after the machine settles: events at `--rate` per
//! second (2,000 by default; 0 skips them) for 300 customers, and the time from sending each
//! event to reading the output it caused, split at the broker's append of the event (the input
//! topic stamps `LogAppendTime`) and at the output's producer timestamp; with each process's
//! CPU over the pass.
//!
//! `eval "$(tests/kafka/broker.sh start)" && cargo bench --bench peer`
//! (`-- --customers N --warm-days D --days D --rate R --threads T --linger-ms L` to change the
//! sizes; `--threads` is the peer's `num.stream.threads`, 2 by default, one per core;
//! `--linger-ms` both systems' producer `linger.ms`, 5 by default, healthscore's default;
//! `--fetch-min-bytes B --fetch-wait-max-ms W` set healthscore's consumer's `fetch.min.bytes` and
//! `fetch.wait.max.ms`, librdkafka's defaults unless given).

mod support;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, Producer};

use healthscore::config::Config;
use healthscore::engine::decode::decode_json;
use healthscore::engine::{Engine, EventTime, Model};
use healthscore::generator::{GeneratedEvent, Generator, GeneratorSettings};

use support::{
    argument, broker_cpu, cpu_in, cpu_per_event, create_topics, events_processed, given_argument,
    latencies_at_rate, process_cpu, producer, reader_config, send, send_output, service_clients,
    unique, Error,
};

const DAY_MILLIS: i64 = 86_400_000;
const BENCH_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/bench-model.toml");
const PEER_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peers/kafka-streams");

/// The generated input: warm-up events first, then the steady-state ones.
struct Workload {
    events: Vec<GeneratedEvent>,
    /// How many of `events` are the warm-up.
    warm: usize,
    /// The time the steady state starts.
    warm_end_millis: i64,
}

/// Generates `customers` customers' activity over `warm_days` then `days`.
fn workload(customers: usize, warm_days: i64, days: i64) -> Workload {
    let settings = GeneratorSettings {
        customers,
        ..GeneratorSettings::default()
    };
    let warm_end_millis = settings.start_millis + warm_days * DAY_MILLIS;
    let end_millis = warm_end_millis + days * DAY_MILLIS;
    let mut generator = Generator::new(&settings);
    let mut events = Vec::new();
    loop {
        let event = generator.next_event();
        if event.time_millis >= end_millis {
            break;
        }
        events.push(event);
    }
    let warm = events
        .iter()
        .position(|event| event.time_millis >= warm_end_millis)
        .unwrap_or(events.len());
    Workload {
        events,
        warm,
        warm_end_millis,
    }
}

/// One reading of a pass's progress.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    processed: u64,
    cpu: Duration,
    broker: Duration,
}

/// What one section of a pass measured.
#[derive(Debug, Clone, Copy, Default)]
struct Section {
    events: u64,
    seconds: f64,
    /// CPU per event in µs: the pass's process, and the broker.
    cpu: f64,
    broker: f64,
    outputs: usize,
}

impl Section {
    fn between(from: &Sample, to: &Sample) -> Section {
        let events = to.processed.saturating_sub(from.processed).max(1);
        let micros = |cpu: Duration| cpu_per_event(cpu, events as usize);
        Section {
            events,
            seconds: to.at.duration_since(from.at).as_secs_f64(),
            cpu: micros(to.cpu.saturating_sub(from.cpu)),
            broker: micros(to.broker.saturating_sub(from.broker)),
            outputs: 0,
        }
    }

    fn rate(&self) -> f64 {
        self.events as f64 / self.seconds.max(1e-9)
    }
}

/// A pass's two sections: backfill (the warm-up, every customer new) and steady state.
#[derive(Debug, Clone, Copy, Default)]
struct Pass {
    backfill: Section,
    steady: Section,
}

/// Samples `progress` (events processed so far) and `cpu` every 10 ms until `total` events are
/// processed (or 15 minutes pass), and splits the samples at `warm`.
fn time_pass(
    total: u64,
    warm: u64,
    mut progress: impl FnMut() -> u64,
    cpu: impl Fn() -> Duration,
) -> Result<Pass, Error> {
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut samples: Vec<Sample> = Vec::new();
    loop {
        let sample = Sample {
            at: Instant::now(),
            processed: progress(),
            cpu: cpu(),
            broker: broker_cpu(),
        };
        samples.push(sample);
        if sample.processed >= total {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {} of {total} events processed", sample.processed).into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let first_at = |count: u64| samples.iter().find(|sample| sample.processed >= count);
    let (Some(start), Some(warmed), Some(end)) = (first_at(1), first_at(warm), first_at(total))
    else {
        return Err("no progress recorded".into());
    };
    Ok(Pass {
        backfill: Section::between(start, warmed),
        steady: Section::between(warmed, end),
    })
}

/// Topics of one pass of one system.
struct PassTopics {
    output: String,
    dead_letters: String,
}

impl PassTopics {
    fn new(
        runtime: &tokio::runtime::Runtime,
        bootstrap: &str,
        partitions: i32,
    ) -> Result<PassTopics, Error> {
        let topics = PassTopics {
            output: unique("peer-bench.output"),
            dead_letters: unique("peer-bench.dead"),
        };
        create_topics(
            runtime,
            bootstrap,
            partitions,
            &[&topics.output, &topics.dead_letters],
            &[],
        )?;
        Ok(topics)
    }
}

/// The systems raced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum System {
    Healthscore,
    StreamsRocksDb,
    StreamsInMemory,
}

impl System {
    const ALL: [System; 3] = [
        System::Healthscore,
        System::StreamsRocksDb,
        System::StreamsInMemory,
    ];

    fn name(self) -> &'static str {
        match self {
            System::Healthscore => "healthscore run",
            System::StreamsRocksDb => "Kafka Streams, RocksDB store",
            System::StreamsInMemory => "Kafka Streams, in-memory store",
        }
    }
}

/// A system running as a child process, and how to read its progress.
struct Running {
    child: Child,
    processed: Arc<AtomicU64>,
    /// healthscore's HTTP address, whose `/metrics` gives its progress.
    metrics_address: Option<String>,
    _scratch: tempfile::TempDir,
}

impl Running {
    fn progress(&self) -> u64 {
        match &self.metrics_address {
            Some(address) => events_processed(address) as u64,
            None => self.processed.load(Ordering::Relaxed),
        }
    }

    fn cpu(&self) -> Duration {
        cpu_in(&format!("/proc/{}/stat", self.child.id()))
    }

    /// Asks the process to stop (SIGTERM) and waits for it, killing it after 60 s.
    fn stop(mut self) -> Result<(), Error> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

/// healthscore's config for a pass: the bench model, reading `input` and writing `topics`.
fn healthscore_config(
    bootstrap: &str,
    input: &str,
    topics: &PassTopics,
    scratch: &std::path::Path,
    settings: Settings,
) -> Result<(std::path::PathBuf, String), Error> {
    let mut document: toml_edit::DocumentMut = std::fs::read_to_string(BENCH_MODEL)?.parse()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let address = format!("127.0.0.1:{port}");
    document["kafka"]["bootstrap_servers"] = toml_edit::value(bootstrap);
    document["kafka"]["group_id"] = toml_edit::value(unique("peer-bench-healthscore"));
    document["kafka"]["output_topic"] = toml_edit::value(topics.output.as_str());
    document["kafka"]["dead_letter_topic"] = toml_edit::value(topics.dead_letters.as_str());
    let inputs = document["kafka"]["inputs"]
        .as_array_mut()
        .and_then(|inputs| inputs.get_mut(0))
        .and_then(|input| input.as_inline_table_mut())
        .ok_or("benches/bench-model.toml: kafka.inputs[0] is missing")?;
    inputs.insert("topic", input.into());
    document["http"]["listen"] = toml_edit::value(address.as_str());
    document["snapshot"]["dir"] = toml_edit::value(scratch.join("snapshots").display().to_string());
    document["logging"]["level"] = toml_edit::value("warn");
    let mut producer = toml_edit::Table::new();
    producer.insert(
        "linger.ms",
        toml_edit::value(settings.linger_ms.to_string()),
    );
    document["kafka"]["producer"] = toml_edit::Item::Table(producer);
    let mut consumer = toml_edit::Table::new();
    for (property, value) in [
        ("fetch.min.bytes", settings.fetch_min_bytes),
        ("fetch.wait.max.ms", settings.fetch_wait_max_ms),
    ] {
        if let Some(value) = value {
            consumer.insert(property, toml_edit::value(value.to_string()));
        }
    }
    document["kafka"]["consumer"] = toml_edit::Item::Table(consumer);
    let path = scratch.join("healthscore.toml");
    std::fs::write(&path, document.to_string())?;
    Ok((path, address))
}

/// How the systems run: the peer's stream threads, every producer's `linger.ms`, and how long
/// healthscore's consumer lets the broker gather a fetch (librdkafka's defaults when `None`).
#[derive(Debug, Clone, Copy)]
struct Settings {
    threads: usize,
    linger_ms: usize,
    fetch_min_bytes: Option<usize>,
    fetch_wait_max_ms: Option<usize>,
}

/// Starts `system` over `input`, writing to `topics`.
fn start(
    system: System,
    peer_classpath: &str,
    bootstrap: &str,
    input: &str,
    topics: &PassTopics,
    settings: Settings,
) -> Result<Running, Error> {
    let scratch = tempfile::tempdir()?;
    let log = std::fs::File::create(scratch.path().join("log"))?;
    let processed = Arc::new(AtomicU64::new(0));
    if system == System::Healthscore {
        let (config, address) =
            healthscore_config(bootstrap, input, topics, scratch.path(), settings)?;
        let child = Command::new(env!("CARGO_BIN_EXE_healthscore"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        return Ok(Running {
            child,
            processed,
            metrics_address: Some(address),
            _scratch: scratch,
        });
    }
    let store = if system == System::StreamsRocksDb {
        "rocksdb"
    } else {
        "memory"
    };
    let mut child = Command::new("java")
        .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
        .arg("-cp")
        .arg(peer_classpath)
        .arg("dev.healthscore.peer.HealthPeer")
        .args(["--bootstrap", bootstrap, "--input", input])
        .args(["--output", &topics.output, "--store", store])
        .args(["--application-id", &unique("peer-bench-streams")])
        .arg("--state-dir")
        .arg(scratch.path().join("state"))
        .args(["--threads", &settings.threads.to_string()])
        .args(["--linger-ms", &settings.linger_ms.to_string()])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()?;
    let stdout = child.stdout.take().ok_or("the peer has no stdout")?;
    let counter = Arc::clone(&processed);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let count = line
                .strip_prefix("processed ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|count| count.parse().ok());
            if let Some(count) = count {
                counter.store(count, Ordering::Relaxed);
            }
        }
    });
    Ok(Running {
        child,
        processed,
        metrics_address: None,
        _scratch: scratch,
    })
}

/// Builds the peer with Maven (`build.sh`) and returns its class path.
fn build_peer() -> Result<String, Error> {
    let output = Command::new(format!("{PEER_DIR}/build.sh"))
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err("building the Kafka Streams peer failed (benches/peers/kafka-streams)".into());
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_string())
}

/// One output event, as the comparison reads it.
#[derive(Debug, Clone, PartialEq)]
struct Output {
    kind: String,
    customer: String,
    at_millis: i64,
    score: f64,
    level: String,
}

impl Output {
    fn parse(payload: &[u8]) -> Result<Output, Error> {
        let json: serde_json::Value = serde_json::from_slice(payload)?;
        let text = |key: &str| json[key].as_str().unwrap_or_default().to_string();
        let kind = text("type");
        // score_changed carries the risk level as `risk_level`, a churn alert as `level`.
        let level = if kind == "churn_risk_alert" {
            text("level")
        } else {
            text("risk_level")
        };
        Ok(Output {
            at_millis: EventTime::parse_rfc3339(&text("at"))
                .map_err(|error| format!("{error:?}"))?
                .millis(),
            customer: text("customer_id"),
            score: json["score"].as_f64().unwrap_or(f64::NAN),
            kind,
            level,
        })
    }
}

/// Every message in `topic` (read to its end offsets).
fn read_topic(bootstrap: &str, topic: &str) -> Result<Vec<Output>, Error> {
    let consumer: BaseConsumer = reader_config(bootstrap, "peer-bench-reader").create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .first()
        .map_or(0, |topic| topic.partitions().len()) as i32;
    let mut remaining: u64 = 0;
    for partition in 0..partitions {
        let (low, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        remaining += u64::try_from(high - low).unwrap_or(0);
    }
    consumer.subscribe(&[topic])?;
    let mut outputs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while remaining > 0 && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            outputs.push(Output::parse(message?.payload().unwrap_or_default())?);
            remaining -= 1;
        }
    }
    if remaining > 0 {
        return Err(format!("{remaining} outputs of {topic} not read in time").into());
    }
    Ok(outputs)
}

/// How far two systems' outputs agree: the same outputs (type, customer, time), the same risk
/// levels, and scores within rounding (both publish one decimal; healthscore keeps signals as
/// `f32`).
#[derive(Debug, Default)]
struct Agreement {
    matched: usize,
    differing: usize,
    only_left: usize,
    only_right: usize,
}

impl Agreement {
    fn of(left: &[Output], right: &[Output]) -> Agreement {
        let key = |output: &Output| {
            (
                output.customer.clone(),
                output.at_millis,
                output.kind.clone(),
            )
        };
        let left: BTreeMap<_, _> = left.iter().map(|output| (key(output), output)).collect();
        let right: BTreeMap<_, _> = right.iter().map(|output| (key(output), output)).collect();
        let mut agreement = Agreement::default();
        for (key, output) in &left {
            match right.get(key) {
                Some(other)
                    if output.level == other.level
                        && (output.score - other.score).abs() <= 0.1 + 1e-9 =>
                {
                    agreement.matched += 1
                }
                Some(_) => agreement.differing += 1,
                None => agreement.only_left += 1,
            }
        }
        agreement.only_right = right.keys().filter(|key| !left.contains_key(*key)).count();
        agreement
    }

    fn disagreeing(&self) -> usize {
        self.differing + self.only_left + self.only_right
    }
}

/// The outputs healthscore's model causes for the workload, each with the number of events
/// read before it (in generation order), for the baseline that produces them.
fn expected_outputs(
    model: Arc<Model>,
    workload: &Workload,
) -> Result<Vec<(usize, String, Vec<u8>)>, Error> {
    let mut engine = Engine::new(model);
    let mut outputs = Vec::new();
    let mut expected = Vec::new();
    for (index, event) in workload.events.iter().enumerate() {
        engine.ingest(&decode_json(event.json.as_bytes())?, &mut outputs);
        for output in outputs.drain(..) {
            expected.push((
                index + 1,
                output.customer_id().to_string(),
                output.to_json().into_bytes(),
            ));
        }
    }
    Ok(expected)
}

/// The baselines, in this process: reads the whole of `input` as the service does, counting
/// into `processed`, and when `outputs` is given produces each of them to `scratch` once as many
/// events are read as in generation order caused it (the service's Kafka work, no engine).
async fn baseline(
    bootstrap: &str,
    input: &str,
    scratch: &str,
    total: usize,
    outputs: Option<&[(usize, String, Vec<u8>)]>,
    processed: &AtomicU64,
) -> Result<(), Error> {
    let config = reader_config(bootstrap, "peer-bench-baseline");
    let (consumer, producer) = service_clients(config, bootstrap, input)?;
    let outputs = outputs.unwrap_or_default();
    let mut deliveries = Vec::with_capacity(outputs.len());
    let mut sent = 0;
    let mut touched = 0usize;
    for read in 1..=total {
        let message = consumer.recv().await?;
        let payload = message.payload().unwrap_or_default();
        touched = touched.wrapping_add(payload.iter().map(|byte| usize::from(*byte)).sum());
        while let Some((_, key, payload)) = outputs.get(sent).filter(|(due, _, _)| *due <= read) {
            deliveries.push(send_output(&producer, scratch, key, payload).await);
            sent += 1;
        }
        if read % 256 == 0 || read == total {
            processed.store(read as u64, Ordering::Relaxed);
        }
    }
    std::hint::black_box(touched);
    for delivery in deliveries {
        delivery.await?.map_err(|(error, _)| error)?;
    }
    Ok(())
}

/// Lets the machine settle after the passes before: writes the dirty pages they left (gigabytes
/// of topic data, changelogs and state) to disk, so that the broker's appends in the next
/// latency pass do not wait behind that writeback, and gives the broker a few seconds.
fn settle() -> Result<(), Error> {
    let status = Command::new("sync").status()?;
    if !status.success() {
        return Err(format!("sync failed: {status}").into());
    }
    std::thread::sleep(Duration::from_secs(5));
    Ok(())
}

/// Event-to-output latency of `system` at `rate` events/s ([`support::Latencies::summary`]).
fn latency_pass(
    runtime: &tokio::runtime::Runtime,
    system: System,
    peer_classpath: &str,
    bootstrap: &str,
    producing: &BaseProducer,
    rate: usize,
    settings: Settings,
) -> Result<String, Error> {
    let input = unique("peer-bench.live");
    // The broker stamps each input message with its append time, to split the latency there.
    create_topics(
        runtime,
        bootstrap,
        4,
        &[&input],
        &[("message.timestamp.type", "LogAppendTime")],
    )?;
    let topics = PassTopics::new(runtime, bootstrap, 4)?;
    let running = start(system, peer_classpath, bootstrap, &input, &topics, settings)?;
    let output_reader: BaseConsumer = reader_config(bootstrap, "peer-bench-latency").create()?;
    output_reader.subscribe(&[&topics.output, &input])?;
    // Wait until the system is in its group and publishing: a probe event comes back.
    let mut probe = Generator::new(&GeneratorSettings {
        customers: 1,
        seed: 99,
        ..GeneratorSettings::default()
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    'probing: loop {
        send(producing, &input, &probe.next_event());
        producing.flush(Duration::from_secs(10))?;
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            if let Some(Ok(message)) = output_reader.poll(Duration::from_millis(100)) {
                if message.topic() == topics.output {
                    break 'probing;
                }
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{} published nothing in 2 minutes", system.name()).into());
        }
    }
    let (started, cpu, broker) = (Instant::now(), running.cpu(), broker_cpu());
    let latencies = latencies_at_rate(producing, &input, output_reader, rate)?;
    let share = |cpu: Duration| 100.0 * cpu.as_secs_f64() / started.elapsed().as_secs_f64();
    let (cpu, broker) = (share(running.cpu() - cpu), share(broker_cpu() - broker));
    running.stop()?;
    Ok(format!(
        "{}; CPU over the pass: {cpu:.0}% of a core, the broker {broker:.0}%",
        latencies.summary()
    ))
}

fn print_pass(name: &str, pass: &Pass, broker: bool) {
    for (section, part) in [("backfill", &pass.backfill), ("steady state", &pass.steady)] {
        let broker = if broker {
            format!(", broker {:.2} us", part.broker)
        } else {
            String::new()
        };
        println!(
            "{name}, {section}: {} events in {:.2} s = {:.0} events/s; CPU per event {:.2} us{broker}; {} outputs ({:.4} per event)",
            part.events,
            part.seconds,
            part.rate(),
            part.cpu,
            part.outputs,
            part.outputs as f64 / part.events as f64,
        );
    }
}

fn main() -> Result<(), Error> {
    let Some(bootstrap) = std::env::var("HEALTHSCORE_TEST_BOOTSTRAP")
        .ok()
        .filter(|bootstrap| !bootstrap.is_empty())
    else {
        return Err(
            "the peer bench needs Apache Kafka: eval \"$(tests/kafka/broker.sh start)\" first"
                .into(),
        );
    };
    let customers = argument("--customers", 5_000);
    let warm_days = argument("--warm-days", 60) as i64;
    let days = argument("--days", 20) as i64;
    let rate = argument("--rate", 2_000);
    let settings = Settings {
        threads: argument("--threads", 2),
        linger_ms: argument("--linger-ms", 5),
        fetch_min_bytes: given_argument("--fetch-min-bytes"),
        fetch_wait_max_ms: given_argument("--fetch-wait-max-ms"),
    };
    let partitions = 6;
    let has_broker_pid = std::env::var("HEALTHSCORE_TEST_BROKER_PID").is_ok();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let peer_classpath = build_peer()?;

    let workload = workload(customers, warm_days, days);
    let total = workload.events.len();
    let model = Arc::new(Model::compile(
        &Config::from_toml_str(&std::fs::read_to_string(BENCH_MODEL)?, BENCH_MODEL)?.model,
    )?);
    let expected = expected_outputs(model, &workload)?;
    let input = unique("peer-bench.events");
    let scratch = unique("peer-bench.scratch");
    create_topics(&runtime, &bootstrap, partitions, &[&input, &scratch], &[])?;
    let producing = producer(&bootstrap, "5")?;
    let live_producing = producer(&bootstrap, "0")?;
    for event in &workload.events {
        send(&producing, &input, event);
        producing.poll(Duration::ZERO);
    }
    producing.flush(Duration::from_secs(300))?;
    let bytes: usize = workload.events.iter().map(|event| event.json.len()).sum();
    println!(
        "workload: {customers} customers, {total} events ({:.0} bytes each on average) in {partitions} partitions: {} over {warm_days} days of warm-up (backfill), {} over the {days} days after (steady state)",
        bytes as f64 / total as f64,
        workload.warm,
        total - workload.warm
    );

    // The baselines, in this process.
    let warm = workload.warm as u64;
    let mut results: Vec<(String, Pass)> = Vec::new();
    for (name, outputs) in [
        ("read-only consumer", None),
        (
            "reading and producing the same outputs, no engine",
            Some(expected.as_slice()),
        ),
    ] {
        let processed = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&processed);
        let (bootstrap, input, scratch) = (bootstrap.clone(), input.clone(), scratch.clone());
        let produces = outputs.is_some();
        let outputs = outputs.map(<[_]>::to_vec);
        let task = runtime.spawn(async move {
            baseline(
                &bootstrap,
                &input,
                &scratch,
                total,
                outputs.as_deref(),
                &counter,
            )
            .await
            .map_err(|error| error.to_string())
        });
        let mut pass = time_pass(
            total as u64,
            warm,
            || processed.load(Ordering::Relaxed),
            process_cpu,
        )?;
        runtime.block_on(task)??;
        if produces {
            let steady = expected.iter().filter(|(due, _, _)| *due > workload.warm);
            pass.steady.outputs = steady.count();
            pass.backfill.outputs = expected.len() - pass.steady.outputs;
        }
        print_pass(name, &pass, has_broker_pid);
        results.push((name.to_string(), pass));
    }

    // The systems, each a process of its own, one after another.
    let mut outputs_of: BTreeMap<System, Vec<Output>> = BTreeMap::new();
    for system in System::ALL {
        let topics = PassTopics::new(&runtime, &bootstrap, partitions)?;
        let running = start(
            system,
            &peer_classpath,
            &bootstrap,
            &input,
            &topics,
            settings,
        )?;
        let mut pass = time_pass(total as u64, warm, || running.progress(), || running.cpu())?;
        running.stop()?;
        let outputs = read_topic(&bootstrap, &topics.output)?;
        pass.steady.outputs = outputs
            .iter()
            .filter(|output| output.at_millis >= workload.warm_end_millis)
            .count();
        pass.backfill.outputs = outputs.len() - pass.steady.outputs;
        print_pass(system.name(), &pass, has_broker_pid);
        results.push((system.name().to_string(), pass));
        outputs_of.insert(system, outputs);
    }

    // The same job: healthscore's outputs against each peer's.
    let healthscore = outputs_of
        .get(&System::Healthscore)
        .ok_or("no healthscore outputs")?;
    for peer in [System::StreamsRocksDb, System::StreamsInMemory] {
        let agreement = Agreement::of(healthscore, outputs_of.get(&peer).ok_or("no outputs")?);
        println!(
            "agreement, healthscore and {}: {} outputs the same, {} differing, {} only healthscore's, {} only the peer's",
            peer.name(),
            agreement.matched,
            agreement.differing,
            agreement.only_left,
            agreement.only_right
        );
        if agreement.disagreeing() * 1000 > healthscore.len() {
            return Err(format!(
                "healthscore and {} disagree on more than 0.1% of the outputs: not the same job",
                peer.name()
            )
            .into());
        }
    }

    // The table, with ratios taken within this run.
    let reference = |name: &str| {
        results
            .iter()
            .find(|(candidate, _)| candidate == name)
            .map(|(_, pass)| *pass)
            .unwrap_or_default()
    };
    let healthscore = reference(System::Healthscore.name());
    let read_and_produce = reference("reading and producing the same outputs, no engine");
    println!();
    println!("| (same run) | backfill events/s | steady events/s | steady CPU per event | steady broker CPU per event | steady outputs per event | healthscore's steady events/s / this | this CPU per event / healthscore's |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, pass) in &results {
        println!(
            "| {name} | {:.0} | {:.0} | {:.2} µs | {:.2} µs | {:.4} | {:.2} | {:.2} |",
            pass.backfill.rate(),
            pass.steady.rate(),
            pass.steady.cpu,
            pass.steady.broker,
            pass.steady.outputs as f64 / pass.steady.events as f64,
            healthscore.steady.rate() / pass.steady.rate(),
            pass.steady.cpu / healthscore.steady.cpu,
        );
    }
    println!(
        "healthscore's steady CPU per event / reading and producing's: {:.2}",
        healthscore.steady.cpu / read_and_produce.steady.cpu
    );

    if rate > 0 {
        for system in System::ALL {
            settle()?;
            let line = latency_pass(
                &runtime,
                system,
                &peer_classpath,
                &bootstrap,
                &live_producing,
                rate,
                settings,
            )?;
            println!("latency at {rate} events/s, {}: {line}", system.name());
        }
    }
    Ok(())
}
