//! The whole service over a local broker (librdkafka's MockCluster, or `HEALTHSCORE_TEST_BOOTSTRAP`):
//!
//! 1. Throughput: a realistic generated stream is produced into the input partitions first (24 on
//!    the MockCluster, which keeps only about 5 MB per partition; 6 on a real broker); then, in
//!    the same run, a consumer that
//!    only reads (and touches every payload) drains it, and `healthscore run` processes it
//!    (decode, score, publish every output). The consumer is timed from its first message to its
//!    last; the service from its first output to its last, by the times the service's producer
//!    stamped on them (read back from the output topic after the pass), so group joins do not
//!    count and nothing polls the service while it runs but a look at its `/metrics` every
//!    100 ms to see that it is done. The ratio service / read-only is the figure. A third pass
//!    reads as the service does and produces the same outputs, with no engine: the most the
//!    service could reach on this machine if decoding and scoring cost nothing.
//! 2. Latency at a moderate rate: events are produced at a steady rate while the service runs,
//!    and each output is matched to the event that caused it (customer and event time); p50 and
//!    p99 of send-to-receive time are reported for all outputs and for churn alerts.
//!
//! Each pass also reports the CPU time per event of this process (on the MockCluster the broker
//! is in it) and, against a broker started by `tests/kafka/broker.sh` (which exports
//! `HEALTHSCORE_TEST_BROKER_PID`), of the broker process.
//!
//! `cargo bench --bench pipeline` (`-- --events N --rate R --rounds K` to change the sizes; the
//! throughput comparison runs K rounds, 3 by default, and reports the median ratio);
//! `eval "$(tests/kafka/broker.sh start)"` first to run it against Apache Kafka.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tokio::sync::watch;

use healthscore::config::service::ProcessingGuarantee;
use healthscore::config::{Config, DEFAULT_CONFIG_TOML};
use healthscore::engine::decode::decode_json;
use healthscore::engine::{Engine, Model};
use healthscore::generator::{GeneratedEvent, Generator, GeneratorSettings};

mod support;

use support::{
    argument, broker_cpu, cpu_per_event, create_topics, events_processed, latencies_at_rate,
    process_cpu, producer, send, send_output, service_clients, stat_cpu, unique, Error,
};

/// The default config's input sources, in `kafka.inputs` order.
const SOURCES: [&str; 5] = ["usage", "email", "support", "payment", "profile"];

/// The input topic of `event` in `topics`: its source's, or the only one.
fn input_of<'a>(topics: &'a Topics, event: &GeneratedEvent) -> &'a str {
    let index = SOURCES
        .iter()
        .position(|source| *source == event.source)
        .filter(|index| *index < topics.inputs.len())
        .unwrap_or(0);
    &topics.inputs[index]
}

/// How long a fetch may wait at the broker for data, on the MockCluster only. It holds a fetch
/// for this long even when data arrives meanwhile, so librdkafka's default of 500 ms would
/// dominate the latency figures there. A real broker answers as soon as there is data, so it
/// keeps the default.
const MOCK_FETCH_WAIT: &str = "10";

/// Whether the bench runs on the MockCluster (no `HEALTHSCORE_TEST_BOOTSTRAP`).
fn on_mock() -> bool {
    std::env::var("HEALTHSCORE_TEST_BOOTSTRAP").map_or(true, |bootstrap| bootstrap.is_empty())
}

/// Partitions of the throughput test's topics: 24 on the MockCluster, which keeps only about
/// 5 MB per partition, 6 on a real broker (which keeps what its retention says).
fn throughput_partitions() -> i32 {
    if on_mock() {
        24
    } else {
        6
    }
}

fn reader_config(bootstrap: &str) -> ClientConfig {
    let mut config = support::reader_config(bootstrap, "bench-reader");
    config
        // Only committed outputs, as a consumer of exactly-once output must read.
        .set("isolation.level", "read_committed");
    if on_mock() {
        config.set("fetch.wait.max.ms", MOCK_FETCH_WAIT);
    }
    config
}

fn reader(bootstrap: &str, topic: &str) -> Result<BaseConsumer, Error> {
    let consumer: BaseConsumer = reader_config(bootstrap).create()?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// Each partition's end offset (high watermark) of `topic`.
fn end_offsets(bootstrap: &str, topic: &str, partitions: i32) -> Result<Vec<i64>, Error> {
    let consumer: BaseConsumer = reader_config(bootstrap).create()?;
    (0..partitions)
        .map(|partition| {
            let (_, high) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(10))?;
            Ok(high)
        })
        .collect()
}

/// How many messages `topic` holds between the offsets `from` and `to` (per partition), and the
/// earliest and latest time their producer stamped on them. Read to the offsets, not counted: under
/// exactly-once, transaction markers take offsets too.
fn produce_times(
    bootstrap: &str,
    topic: &str,
    from: &[i64],
    to: &[i64],
) -> Result<(usize, Duration), Error> {
    let consumer: BaseConsumer = reader_config(bootstrap).create()?;
    let mut assignment = TopicPartitionList::new();
    for (partition, offset) in from.iter().enumerate() {
        assignment.add_partition_offset(topic, partition as i32, Offset::Offset(*offset))?;
    }
    consumer.assign(&assignment)?;
    let reached = |consumer: &BaseConsumer| {
        consumer.position().is_ok_and(|positions| {
            to.iter()
                .zip(from)
                .enumerate()
                .all(|(partition, (end, start))| {
                    end <= start
                    || positions
                    .find_partition(topic, partition as i32)
                    .is_some_and(
                        |element| matches!(element.offset(), Offset::Offset(at) if at >= *end),
                    )
                })
        })
    };
    let (mut count, mut earliest, mut latest) = (0, i64::MAX, i64::MIN);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !reached(&consumer) && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            if let Timestamp::CreateTime(millis) = message?.timestamp() {
                earliest = earliest.min(millis);
                latest = latest.max(millis);
            }
            count += 1;
        }
    }
    assert!(reached(&consumer), "read every output back");
    let span = u64::try_from(latest.saturating_sub(earliest)).unwrap_or(0);
    Ok((count, Duration::from_millis(span)))
}

/// Reads `count` messages with the async consumer the service itself uses; returns the time
/// from the first to the last.
async fn read_async(bootstrap: &str, topic: &str, count: usize) -> Result<Duration, Error> {
    let consumer: StreamConsumer = reader_config(bootstrap).create()?;
    consumer.subscribe(&[topic])?;
    let mut first = None;
    let mut touched = 0usize;
    for _ in 0..count {
        let message = consumer.recv().await?;
        first.get_or_insert_with(Instant::now);
        let payload = message.payload().unwrap_or_default();
        touched = touched.wrapping_add(payload.iter().map(|byte| usize::from(*byte)).sum());
    }
    std::hint::black_box(touched);
    Ok(first.map_or(Duration::ZERO, |first| first.elapsed()))
}

/// The service's Kafka work without its engine: reads `count` messages as the service does and,
/// spread evenly over them, produces `outputs` to `topic` as the service's publisher does (one
/// delivery future each, all awaited at the end). Returns the time from the first message read
/// to the last output handed to the producer.
async fn read_and_produce(
    bootstrap: &str,
    input: &str,
    topic: &str,
    count: usize,
    outputs: &[(String, Vec<u8>)],
) -> Result<Duration, Error> {
    // The service's consumer settings: this consumer, slower than the broker, fills its
    // prefetch queue, and librdkafka's default backoff would then stall it for a second.
    let config = reader_config(bootstrap);
    let (consumer, producer) = service_clients(config, bootstrap, input)?;
    let mut deliveries = Vec::with_capacity(outputs.len());
    let mut first = None;
    let mut sent = 0;
    for read in 1..=count {
        let message = consumer.recv().await?;
        first.get_or_insert_with(Instant::now);
        std::hint::black_box(message.payload());
        // Outputs due by this message, so that they are spread evenly over the input.
        while sent < outputs.len() && sent * count < read * outputs.len() {
            let (key, payload) = &outputs[sent];
            deliveries.push(send_output(&producer, topic, key, payload).await);
            sent += 1;
        }
    }
    let elapsed = first.map_or(Duration::ZERO, |first| first.elapsed());
    for delivery in deliveries {
        delivery.await?.map_err(|(error, _)| error)?;
    }
    Ok(elapsed)
}

/// Reads `count` messages; returns the time from the first to the last, and every payload when
/// `keep` is set.
fn read(consumer: &BaseConsumer, count: usize, keep: bool) -> (Duration, Vec<(Instant, Vec<u8>)>) {
    let mut first = None;
    let mut seen = 0;
    let mut touched = 0usize;
    let mut kept = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while seen < count && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            let now = Instant::now();
            first.get_or_insert(now);
            let payload = message.payload().unwrap_or_default();
            touched = touched.wrapping_add(payload.iter().map(|byte| usize::from(*byte)).sum());
            if keep {
                kept.push((now, payload.to_vec()));
            }
            seen += 1;
        }
    }
    assert_eq!(seen, count, "read every message in time ({touched})");
    (first.map_or(Duration::ZERO, |first| first.elapsed()), kept)
}

struct Topics {
    /// The input topics: one with every source, or one per source in `kafka.inputs` order.
    inputs: Vec<String>,
    output: String,
    dead_letters: String,
    /// Where the pass that only reads and produces sends its copies of the outputs.
    scratch: String,
}

fn service_config(
    bootstrap: &str,
    topics: &Topics,
    snapshots: &std::path::Path,
    guarantee: ProcessingGuarantee,
) -> Result<Config, Error> {
    let mut config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "bench")?;
    config.service.processing.guarantee = guarantee;
    config.service.processing.transactional_id = Some(unique("bench-transactions"));
    let kafka = &mut config.service.kafka;
    kafka.bootstrap_servers = bootstrap.to_string();
    kafka.group_id = unique("bench-healthscore");
    kafka.inputs.truncate(topics.inputs.len());
    for (input, topic) in kafka.inputs.iter_mut().zip(&topics.inputs) {
        input.topic = topic.clone();
    }
    kafka.output_topic = topics.output.clone();
    kafka.dead_letter_topic = topics.dead_letters.clone();
    // `--max-idle-ms 0`: the merge never waits for a topic at its end, so a pass over a finite
    // backlog measures the merge's own cost, without the bounded waits at the backlog's start
    // and end (see BENCHMARKS.md).
    kafka.max_idle =
        healthscore::config::ConfigDuration::from_millis(argument("--max-idle-ms", 2_000) as i64);
    config.service.generator.enabled = false;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    config.service.http.listen = format!("127.0.0.1:{port}");
    config.service.snapshot.dir = snapshots.display().to_string();
    if on_mock() {
        config
            .service
            .kafka
            .consumer
            .insert("fetch.wait.max.ms".into(), MOCK_FETCH_WAIT.into());
    }
    Ok(config)
}

/// Creates the topics of a pass, with `sources` input topics (1: one for every source; 5: one
/// per source of the default config): through the mock's own API, or the admin API of a real
/// broker (on `runtime`).
fn topics(
    mock: Option<&MockCluster<'static, rdkafka::producer::DefaultProducerContext>>,
    bootstrap: &str,
    runtime: &tokio::runtime::Runtime,
    partitions: i32,
    sources: usize,
) -> Result<Topics, Error> {
    let topics = Topics {
        inputs: SOURCES
            .iter()
            .take(sources)
            .map(|source| unique(&format!("bench.{source}")))
            .collect(),
        output: unique("bench.health"),
        dead_letters: unique("bench.dead"),
        scratch: unique("bench.scratch"),
    };
    let mut names: Vec<&String> = topics.inputs.iter().collect();
    names.extend([&topics.output, &topics.dead_letters, &topics.scratch]);
    match mock {
        Some(mock) => {
            for topic in names {
                mock.create_topic(topic, partitions, 1)?;
            }
        }
        None => {
            let names: Vec<&str> = names.iter().map(|name| name.as_str()).collect();
            create_topics(runtime, bootstrap, partitions, &names, &[])?;
        }
    }
    Ok(topics)
}

/// What one service pass measured.
struct ServicePass {
    /// Events over the time from its first output to its last.
    rate: f64,
    /// Outputs it published.
    outputs: usize,
    /// CPU per event in this process, and in the broker's, in µs.
    cpu: f64,
    broker_cpu: f64,
    /// CPU per event by thread name.
    by_thread: String,
}

/// Runs the service over `topics` from the start (a new group with no snapshot) until it has
/// processed the `events` there, then stops it. `processed_before` is the process's event
/// counter before the pass, and after it on return.
fn service_pass(
    runtime: &tokio::runtime::Runtime,
    bootstrap: &str,
    topics: &Topics,
    partitions: i32,
    events: usize,
    processed_before: &mut f64,
    guarantee: ProcessingGuarantee,
) -> Result<ServicePass, Error> {
    let already = *processed_before;
    let snapshots = tempfile::tempdir()?;
    let config = service_config(bootstrap, topics, snapshots.path(), guarantee)?;
    let address = config.service.http.listen.clone();
    let (stop, stopped) = watch::channel(false);
    let outputs_before = end_offsets(bootstrap, &topics.output, partitions)?;
    let (cpu_before, broker_before) = (process_cpu(), broker_cpu());
    let threads_before = thread_cpu();
    let service = runtime.spawn(healthscore::service::run(config, stopped));
    let started = Instant::now();
    let mut processed = 0.0;
    while processed < already + events as f64 && started.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(100));
        processed = events_processed(&address);
    }
    let cpu = cpu_per_event(process_cpu().saturating_sub(cpu_before), events);
    let broker_cpu = cpu_per_event(broker_cpu().saturating_sub(broker_before), events);
    let by_thread = thread_cpu_per_event(&threads_before, &thread_cpu(), events);
    stop.send(true)?;
    runtime.block_on(service)??;
    assert_eq!(processed, already + events as f64, "every event processed");
    *processed_before = processed;
    let outputs_after = end_offsets(bootstrap, &topics.output, partitions)?;
    let (outputs, service_time) =
        produce_times(bootstrap, &topics.output, &outputs_before, &outputs_after)?;
    Ok(ServicePass {
        rate: events as f64 / service_time.as_secs_f64(),
        outputs,
        cpu,
        broker_cpu,
        by_thread,
    })
}

/// CPU time used so far by the threads alive now, summed by thread name.
fn thread_cpu() -> BTreeMap<String, Duration> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return by_name;
    };
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        if let Some((name, cpu)) = stat_cpu(&stat) {
            *by_name.entry(name).or_insert(Duration::ZERO) += cpu;
        }
    }
    by_name
}

/// Each thread name's CPU per event between two [`thread_cpu`] readings, largest first.
fn thread_cpu_per_event(
    before: &BTreeMap<String, Duration>,
    after: &BTreeMap<String, Duration>,
    events: usize,
) -> String {
    let mut used: Vec<(f64, &str)> = after
        .iter()
        .map(|(name, cpu)| {
            let earlier = before.get(name).copied().unwrap_or(Duration::ZERO);
            (
                cpu_per_event(cpu.saturating_sub(earlier), events),
                name.as_str(),
            )
        })
        .filter(|(micros, _)| *micros >= 0.05)
        .collect();
    used.sort_by(|left, right| right.0.total_cmp(&left.0));
    used.iter()
        .map(|(micros, name)| format!("{name} {micros:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() -> Result<(), Error> {
    if std::env::var("RUST_LOG").is_ok() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    let events = argument("--events", 300_000);
    let rate = argument("--rate", 2_000);
    let customers = argument("--customers", 10_000);
    let mock = match std::env::var("HEALTHSCORE_TEST_BOOTSTRAP") {
        Ok(bootstrap) if !bootstrap.is_empty() => None,
        _ => Some(MockCluster::new(1)?),
    };
    let bootstrap = match &mock {
        Some(mock) => mock.bootstrap_servers(),
        None => std::env::var("HEALTHSCORE_TEST_BOOTSTRAP")?,
    };
    let model = Arc::new(Model::compile(
        &Config::from_toml_str(DEFAULT_CONFIG_TOML, "bench")?.model,
    )?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    // 1. Throughput against a read-only consumer.
    let partitions = throughput_partitions();
    let topics_1 = topics(mock.as_ref(), &bootstrap, &runtime, partitions, 1)?;
    // The same stream over the five input topics of the default config, co-partitioned by key:
    // the service then merges each partition number's topics in event time.
    let topics_5 = topics(
        mock.as_ref(),
        &bootstrap,
        &runtime,
        partitions,
        SOURCES.len(),
    )?;
    let mut generator = Generator::new(&GeneratorSettings {
        customers,
        ..GeneratorSettings::default()
    });
    let stream: Vec<GeneratedEvent> = (0..events).map(|_| generator.next_event()).collect();
    let mut engine = Engine::new(Arc::clone(&model));
    let mut outputs = Vec::new();
    for event in &stream {
        let decoded = decode_json(event.json.as_bytes())?;
        engine.ingest(&decoded, &mut outputs);
    }
    let expected_outputs = outputs.len();
    // The outputs as the service sends them, for the pass that only reads and produces.
    let output_records: Vec<(String, Vec<u8>)> = outputs
        .iter()
        .map(|output| {
            (
                output.customer_id().to_string(),
                output.to_json().into_bytes(),
            )
        })
        .collect();
    let producing = producer(&bootstrap, "5")?;
    let live_producing = producer(&bootstrap, "0")?;
    for event in &stream {
        send(&producing, &topics_1.inputs[0], event);
        send(&producing, input_of(&topics_5, event), event);
        producing.poll(Duration::ZERO);
    }
    producing.flush(Duration::from_secs(120))?;
    let bytes: usize = stream.iter().map(|event| event.json.len()).sum();
    println!(
        "stream: {events} events, {customers} customers, {:.0} bytes per event on average, {expected_outputs} outputs",
        bytes as f64 / events as f64
    );

    // Several rounds, each a read-only pass and a service pass over the same topic, because
    // single runs on this shared machine vary by a third; the median ratio is the figure.
    let rounds = argument("--rounds", 3);
    let mut ratios = Vec::new();
    let mut merge_ratios = Vec::new();
    let mut exactly_once_ratios = Vec::new();
    // The process's event counter, which every service pass adds to.
    let mut processed_before = 0.0;
    for round in 0..rounds {
        let (read_only, _) = read(&reader(&bootstrap, &topics_1.inputs[0])?, events, false);
        let polling_rate = events as f64 / read_only.as_secs_f64();
        let (cpu_before, broker_before) = (process_cpu(), broker_cpu());
        let read_only = runtime.block_on(read_async(&bootstrap, &topics_1.inputs[0], events))?;
        let read_only_cpu = cpu_per_event(process_cpu().saturating_sub(cpu_before), events);
        let read_only_broker = cpu_per_event(broker_cpu().saturating_sub(broker_before), events);
        let read_only_rate = events as f64 / read_only.as_secs_f64();
        let (cpu_before, broker_before) = (process_cpu(), broker_cpu());
        let kafka_only = runtime.block_on(read_and_produce(
            &bootstrap,
            &topics_1.inputs[0],
            &topics_1.scratch,
            events,
            &output_records,
        ))?;
        let kafka_only_cpu = cpu_per_event(process_cpu().saturating_sub(cpu_before), events);
        let kafka_only_broker = cpu_per_event(broker_cpu().saturating_sub(broker_before), events);
        let kafka_only_rate = events as f64 / kafka_only.as_secs_f64();
        let mut pass_over = |topics: &Topics, guarantee| {
            let processed = &mut processed_before;
            service_pass(
                &runtime, &bootstrap, topics, partitions, events, processed, guarantee,
            )
        };
        let pass = pass_over(&topics_1, ProcessingGuarantee::AtLeastOnce)?;
        let merged = pass_over(&topics_5, ProcessingGuarantee::AtLeastOnce)?;
        if mock.is_none() {
            // Transactions need a real broker.
            let transactional = pass_over(&topics_1, ProcessingGuarantee::ExactlyOnce)?;
            exactly_once_ratios.push(transactional.rate / pass.rate);
            println!(
                "round {}: healthscore run under exactly_once {:.0} events/s ({} outputs, CPU {:.2} us per event here, {:.2} us in the broker) = {:.2} x under at_least_once",
                round + 1,
                transactional.rate,
                transactional.outputs,
                transactional.cpu,
                transactional.broker_cpu,
                transactional.rate / pass.rate
            );
        }
        merge_ratios.push(merged.rate / pass.rate);
        println!(
            "round {}: healthscore run over the five input topics (merged in event time) {:.0} events/s ({} outputs) = {:.2} x over one topic",
            round + 1,
            merged.rate,
            merged.outputs,
            merged.rate / pass.rate
        );
        let ServicePass {
            rate: service_rate,
            outputs,
            cpu: service_cpu,
            broker_cpu: service_broker,
            by_thread,
        } = pass;
        let ratio = service_rate / read_only_rate;
        ratios.push(ratio);
        println!(
            "round {}: read-only BaseConsumer::poll {polling_rate:.0} events/s, read-only StreamConsumer::recv (as the service reads) {read_only_rate:.0} events/s, healthscore run {service_rate:.0} events/s ({outputs} outputs) = {ratio:.2} x the async read-only consumer, {:.2} x the polling one",
            round + 1,
            service_rate / polling_rate
        );
        println!(
            "round {}: reading and producing the same outputs, no engine: {kafka_only_rate:.0} events/s = {:.2} x the async read-only consumer (the most the service could reach with an engine that cost nothing)",
            round + 1,
            kafka_only_rate / read_only_rate
        );
        let this_process = if mock.is_some() {
            "this process (the mock broker's threads included)"
        } else {
            "this process"
        };
        println!(
            "round {}: CPU per event in {this_process}: read-only StreamConsumer {read_only_cpu:.2} us, reading and producing {kafka_only_cpu:.2} us, healthscore run {service_cpu:.2} us ({:.1} x the reader's)",
            round + 1,
            service_cpu / read_only_cpu
        );
        if mock.is_none() && std::env::var("HEALTHSCORE_TEST_BROKER_PID").is_ok() {
            println!(
                "round {}: CPU per event in the broker process: read-only {read_only_broker:.2} us, reading and producing {kafka_only_broker:.2} us, healthscore run {service_broker:.2} us",
                round + 1
            );
        }
        println!(
            "round {}: the service pass's CPU per event by thread name, in us (the fetcher runs on the Tokio workers): {by_thread}",
            round + 1
        );
    }
    merge_ratios.sort_by(f64::total_cmp);
    if let Some(median) = merge_ratios.get(merge_ratios.len() / 2) {
        println!(
            "healthscore run over five topics / over one topic: median {median:.2} over {rounds} rounds (from {:.2} to {:.2})",
            merge_ratios.first().copied().unwrap_or_default(),
            merge_ratios.last().copied().unwrap_or_default()
        );
    }
    exactly_once_ratios.sort_by(f64::total_cmp);
    if let Some(median) = exactly_once_ratios.get(exactly_once_ratios.len() / 2) {
        println!(
            "healthscore run under exactly_once / under at_least_once: median {median:.2} over {rounds} rounds (from {:.2} to {:.2})",
            exactly_once_ratios.first().copied().unwrap_or_default(),
            exactly_once_ratios.last().copied().unwrap_or_default()
        );
    }
    ratios.sort_by(f64::total_cmp);
    if let Some(median) = ratios.get(ratios.len() / 2) {
        println!(
            "healthscore run / read-only consumer: median {median:.2} over {rounds} rounds (from {:.2} to {:.2})",
            ratios.first().copied().unwrap_or_default(),
            ratios.last().copied().unwrap_or_default()
        );
    }

    // 2. Event-to-output latency at a moderate, steady rate (`--rate 0` skips it).
    if rate == 0 {
        return Ok(());
    }
    latency_pass(
        &runtime,
        mock.as_ref(),
        &bootstrap,
        &live_producing,
        rate,
        ProcessingGuarantee::AtLeastOnce,
    )?;
    if mock.is_none() {
        latency_pass(
            &runtime,
            None,
            &bootstrap,
            &live_producing,
            rate,
            ProcessingGuarantee::ExactlyOnce,
        )?;
    }
    Ok(())
}

/// Event-to-output latency at `rate` events/s under `guarantee`, with a `read_committed` reader.
fn latency_pass(
    runtime: &tokio::runtime::Runtime,
    mock: Option<&MockCluster<'static, rdkafka::producer::DefaultProducerContext>>,
    bootstrap: &str,
    producing: &BaseProducer,
    rate: usize,
    guarantee: ProcessingGuarantee,
) -> Result<(), Error> {
    let topics_2 = topics(mock, bootstrap, runtime, 4, 1)?;
    let snapshots = tempfile::tempdir()?;
    let config = service_config(bootstrap, &topics_2, snapshots.path(), guarantee)?;
    let (stop, stopped) = watch::channel(false);
    let service = runtime.spawn(healthscore::service::run(config, stopped));
    let output_reader = reader(bootstrap, &topics_2.output)?;
    // Wait until the service is in the group: one probe event comes back as an output.
    let mut probe_generator = Generator::new(&GeneratorSettings {
        customers: 1,
        seed: 99,
        ..GeneratorSettings::default()
    });
    send(
        producing,
        &topics_2.inputs[0],
        &probe_generator.next_event(),
    );
    producing.flush(Duration::from_secs(10))?;
    read(&output_reader, 1, false);

    let latencies = latencies_at_rate(producing, &topics_2.inputs[0], output_reader, rate)?;
    stop.send(true)?;
    runtime.block_on(service)??;
    println!(
        "latency at {rate} events/s under {guarantee:?} (read_committed reader): {}",
        latencies.summary()
    );
    Ok(())
}
