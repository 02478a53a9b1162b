//! Crash safety: `healthscore run` as a child process, killed with SIGKILL mid-stream while events
//! are produced, then restarted, over the standard layout (five input topics of four partitions,
//! merged in event time). At the end each partition's state must equal `replay` of its events
//! (nothing lost, nothing counted twice) and every output `replay` gives must have been published
//! (re-sent ones carry the same `event_id`), and nothing else; every malformed message must be
//! dead-lettered. Under exactly-once, a `read_committed` reader must also get no output and no
//! dead letter twice.
//!
//! Every run joins the same consumer group, as a restarted pod would; the killed member's
//! session expires (6 s here, the least Apache Kafka accepts by default) before the next run gets
//! the partition. The kill moments are drawn
//! from a seed printed on failure; set `HEALTHSCORE_CRASH_SEED` to repeat a run. Each run's log
//! is in the temporary folder's `service.log`, copied to /tmp/crash-service.log.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::ClientConfig;

use healthscore::config::DEFAULT_CONFIG_TOML;
use healthscore::engine::Engine;
use support::layout::{generated_stream, partition_of, produce, PARTITIONS};
use support::{
    assert_same_customers, default_model, feed, free_port, newest_snapshot, stop_with_sigterm,
    try_http_get,
};

/// How many times the service is killed mid-stream.
const KILLS: usize = 8;

fn start(config: &std::path::Path, directory: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_healthscore"))
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
        .expect("the service starts")
}

/// The output `event_id`s read, and those read more than once.
#[derive(Default)]
struct Seen {
    ids: BTreeSet<String>,
    again: Vec<String>,
}

fn output_ids(consumer: &BaseConsumer, seen: &mut Seen, wait: Duration) {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) {
            let payload: serde_json::Value =
                serde_json::from_slice(message.payload().unwrap_or_default()).unwrap();
            let id = payload["event_id"].as_str().unwrap().to_string();
            if !seen.ids.insert(id.clone()) {
                seen.again.push(id);
            }
        }
    }
}

/// Whether the service's consumer lag is zero on each of `partitions` input partitions.
fn applied_to_the_end(address: &str, partitions: usize) -> bool {
    let Some((_, metrics)) = try_http_get(address, "/metrics") else {
        return false;
    };
    let lags: Vec<f64> = metrics
        .lines()
        .filter(|line| line.starts_with("healthscore_consumer_lag_messages{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
        .collect();
    lags.len() == partitions && lags.iter().all(|lag| *lag == 0.0)
}

#[cfg(unix)]
#[test]
fn killed_at_random_moments_it_loses_nothing_and_counts_nothing_twice() {
    interrupted_at_random_moments(
        support::kafka::broker(),
        Guarantee::AtLeastOnce,
        Interruption::Kill,
    );
}

/// Under exactly-once (Apache Kafka only: the MockCluster has no transactions), a
/// `read_committed` reader also receives no output twice.
#[cfg(unix)]
#[test]
fn killed_at_random_moments_under_exactly_once_every_output_is_read_once() {
    interrupted_at_random_moments(
        support::kafka::transactional_broker(),
        Guarantee::ExactlyOnce,
        Interruption::Kill,
    );
}

/// Paused with SIGSTOP past its session timeout, the instance's generation is over when it
/// resumes: its commit is refused, and it rebuilds from its snapshots and the committed offsets
/// instead of publishing twice.
#[cfg(unix)]
#[test]
#[ignore = "issue 13: after a pause the merge forces its waits, and the rebuild does not yet \
            replay those forced decisions (outputs go missing); see the issue's note"]
fn paused_past_its_session_under_exactly_once_it_rebuilds_and_every_output_is_read_once() {
    interrupted_at_random_moments(
        support::kafka::transactional_broker(),
        Guarantee::ExactlyOnce,
        Interruption::PausePastSession,
    );
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Guarantee {
    AtLeastOnce,
    ExactlyOnce,
}

/// What happens to the service at the random moments.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Interruption {
    /// SIGKILL, then a new process.
    Kill,
    /// SIGSTOP for longer than the session timeout, then SIGCONT: the same process goes on.
    PausePastSession,
}

/// The origins (`topic/partition/offset` headers) of the dead letters a `read_committed` reader
/// finds on `topic`: reads until `expected` distinct ones are in, then a little longer.
fn dead_letter_origins(bootstrap: &str, topic: &str, suffix: &str, expected: usize) -> Vec<String> {
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("dead-reader-{suffix}"))
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    reader.subscribe(&[topic]).unwrap();
    let mut origins = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut settle: Option<Instant> = None;
    while Instant::now() < deadline && settle.is_none_or(|until| Instant::now() < until) {
        if let Some(Ok(message)) = reader.poll(Duration::from_millis(100)) {
            let message = message.detach();
            let origin = ["source_topic", "source_partition", "source_offset"]
                .map(|name| support::kafka::header(&message, name).unwrap_or_default())
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

/// How long a paused service stays stopped: past its 6 s session timeout.
const PAUSE_PAST_SESSION: Duration = Duration::from_secs(9);

/// Sends `signal` (`STOP`, `CONT`) to `child`.
fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {}", child.id());
}

fn interrupted_at_random_moments(
    broker: support::kafka::Broker,
    guarantee: Guarantee,
    interruption: Interruption,
) {
    let interruptions = match interruption {
        Interruption::Kill => KILLS,
        Interruption::PausePastSession => 4,
    };
    let bootstrap = broker.bootstrap.clone();
    let suffix = format!(
        "{}.{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    let sources = ["usage", "email", "support", "payment", "profile"];
    let inputs: Vec<(String, String)> = sources
        .iter()
        .map(|source| (source.to_string(), format!("crash.{source}.{suffix}")))
        .collect();
    let output = format!("crash.health.{suffix}");
    let dead_letters = format!("{output}.dead");
    let mut topics: Vec<&str> = inputs.iter().map(|(_, topic)| topic.as_str()).collect();
    topics.extend([output.as_str(), dead_letters.as_str()]);
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(broker.create_partitioned_topics(&topics, PARTITIONS));
    let directory = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let mut config = DEFAULT_CONFIG_TOML
        .replace(
            "bootstrap_servers = \"embedded\"",
            &format!("bootstrap_servers = \"{bootstrap}\""),
        )
        .replace("group_id = \"healthscore\"", "group_id = \"GROUP\"")
        .replace(
            "output_topic = \"customer.health\"",
            &format!("output_topic = \"{output}\""),
        )
        .replace(
            "dead_letter_topic = \"customer.health.deadletter\"",
            &format!("dead_letter_topic = \"{dead_letters}\""),
        )
        .replace(
            "[kafka.consumer]\n",
            "[kafka.consumer]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n",
        )
        // A burst's events arrive within a second of each other: each waits that long for the
        // other topics' (and every restart waits that long for the quiet ones).
        .replace("max_idle = \"2s\"", "max_idle = \"1s\"")
        .replace(
            "listen = \"127.0.0.1:9898\"",
            &format!("listen = \"{address}\""),
        )
        .replace("interval = \"30s\"", "interval = \"1s\"");
    if guarantee == Guarantee::ExactlyOnce {
        config = config
            .replace(
                "guarantee = \"at_least_once\"",
                "guarantee = \"exactly_once\"",
            )
            .replace(
                "# transactional_id = \"healthscore-0\"",
                &format!("transactional_id = \"crash-{suffix}\""),
            );
    }
    for (source, topic) in &inputs {
        config = config.replace(
            &format!("topic = \"customer.{source}\""),
            &format!("topic = \"{topic}\""),
        );
    }
    let path = directory.path().join("healthscore.toml");
    std::fs::write(&path, config.replace("GROUP", &format!("crash-{suffix}"))).unwrap();
    let start_run = || start(&path, directory.path());

    // Forty days of generated activity: fading and churning customers keep changing throughout.
    let events = generated_stream(30, 40, 7);

    // Produce in the background, in bursts, while the service is being killed and restarted.
    let producer_events = events.clone();
    let producer_bootstrap = bootstrap.clone();
    let producer_inputs = inputs.clone();
    // Every tenth burst also brings a malformed message, for the dead-letter topic.
    let usage_topic = inputs[0].1.clone();
    let malformed = producer_events.chunks(100).count().div_ceil(10);
    let producing = std::thread::spawn(move || {
        for (burst, chunk) in producer_events.chunks(100).enumerate() {
            produce(&producer_bootstrap, &producer_inputs, chunk, |_| true);
            if burst % 10 == 0 {
                let line = format!("not json {burst}");
                support::kafka::produce(&producer_bootstrap, &usage_topic, &[line]);
            }
            std::thread::sleep(Duration::from_millis(900));
        }
        Instant::now()
    });

    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", format!("reader-{suffix}"))
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    reader.subscribe(&[&output]).unwrap();
    let mut seen = Seen::default();

    // Kill the service at several moments mid-stream, restarting it each time.
    let mut progress = Vec::new();
    let mut kills = Vec::new();
    let log_path = directory.path().join("service.log");
    let assignments = || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .matches("Input partitions assigned")
            .count()
    };
    let seed = std::env::var("HEALTHSCORE_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |elapsed| elapsed.as_nanos() as u64 | 1)
        });
    let mut random = seed;
    let pauses: Vec<u64> = (0..interruptions)
        .map(|_| {
            // xorshift: enough spread for kill moments, repeatable from the seed.
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            // Past the first second, which every run spends waiting for its quiet topics.
            1_500 + random % 2_500
        })
        .collect();
    let mut running: Option<Child> = None;
    for (run, pause) in pauses.iter().copied().enumerate() {
        let child = running.get_or_insert_with(start_run);
        // Interrupt only once this run owns its partition: the pause then lands mid-processing.
        let deadline = Instant::now() + Duration::from_secs(30);
        while assignments() <= run && Instant::now() < deadline {
            output_ids(&reader, &mut seen, Duration::from_millis(100));
        }
        output_ids(&reader, &mut seen, Duration::from_millis(pause));
        kills.push(Instant::now());
        match interruption {
            Interruption::Kill => {
                child.kill().unwrap();
                child.wait().unwrap();
                running = None;
            }
            Interruption::PausePastSession => {
                signal(child, "STOP");
                std::thread::sleep(PAUSE_PAST_SESSION);
                signal(child, "CONT");
            }
        }
        progress.push(seen.ids.len());
    }
    let produced = producing.join().unwrap();

    // One engine per partition: `replay` of each partition's events.
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
    // The kills landed while events were still coming, and some run published something new
    // after the first kill.
    let log = std::fs::read_to_string(directory.path().join("service.log")).unwrap_or_default();
    let _ = std::fs::write("/tmp/crash-service.log", &log);
    let mid_stream = kills.iter().filter(|kill| **kill < produced).count();
    assert!(
        mid_stream >= interruptions / 2,
        "seed {seed}: only {mid_stream} of {interruptions} interruptions came before the last \
         event was produced"
    );
    assert!(
        progress.last() > progress.first(),
        "seed {seed}: {progress:?}"
    );
    let mut child = running.unwrap_or_else(start_run);
    // The last run too must own its partition before it is stopped: if every output was seen
    // already, SIGTERM would otherwise reach it before it listens for signals.
    let deadline = Instant::now() + Duration::from_secs(90);
    while assignments() <= interruptions && Instant::now() < deadline {
        output_ids(&reader, &mut seen, Duration::from_millis(100));
    }
    while !expected.is_subset(&seen.ids) && Instant::now() < deadline {
        output_ids(&reader, &mut seen, Duration::from_millis(500));
    }
    // The last events may cause no output, and wait in the merge for up to `max_idle`: stop
    // only once every input partition is applied to its end (what is not applied at shutdown is
    // read again at the next start, so the final snapshot would not hold it).
    while !applied_to_the_end(&address, inputs.len() * PARTITIONS as usize)
        && Instant::now() < deadline
    {
        output_ids(&reader, &mut seen, Duration::from_millis(200));
    }
    let code = stop_with_sigterm(&mut child);
    let log = std::fs::read_to_string(directory.path().join("service.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    assert_eq!(
        code,
        Some(0),
        "the last lines of the log, newest first: {tail:#?}"
    );

    let missing: Vec<&String> = expected.difference(&seen.ids).collect();
    assert!(
        missing.is_empty(),
        "{} outputs never published",
        missing.len()
    );
    let unexpected: Vec<&String> = seen.ids.difference(&expected).collect();
    assert!(
        unexpected.is_empty(),
        "{} outputs replay does not give",
        unexpected.len()
    );
    // Every malformed message is dead-lettered; under exactly-once, once.
    let dead = dead_letter_origins(&bootstrap, &dead_letters, &suffix, malformed);
    let distinct: BTreeSet<&String> = dead.iter().collect();
    assert_eq!(
        distinct.len(),
        malformed,
        "seed {seed}: dead letters {dead:?}"
    );
    if guarantee == Guarantee::ExactlyOnce {
        assert_eq!(
            dead.len(),
            malformed,
            "seed {seed}: a dead letter read twice: {dead:?}"
        );
    }
    if interruption == Interruption::PausePastSession {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let rebuilt = log.matches("Rebuilt every partition held").count()
            + log.matches("taken on again from its snapshot").count();
        assert!(
            rebuilt > 0,
            "seed {seed}: no rebuild after a pause past the session"
        );
    }
    if guarantee == Guarantee::ExactlyOnce {
        assert!(
            seen.again.is_empty(),
            "seed {seed}: {} outputs read twice by a read_committed reader, such as {:?}",
            seen.again.len(),
            seen.again.first()
        );
    }

    for (partition, engine) in &replays {
        let (restored, _) = newest_snapshot(&directory.path().join("data/snapshots"), *partition)
            .expect("a final snapshot of every partition");
        assert_same_customers(
            &restored,
            engine,
            &format!("partition {partition}'s final snapshot"),
        );
    }
}
