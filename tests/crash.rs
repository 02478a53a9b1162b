//! Crash safety: `healthscore run` as a child process, killed with SIGKILL mid-stream while events
//! are produced, then restarted. At the end its state must equal `replay` of the same events
//! (nothing lost, nothing counted twice) and every output `replay` gives must have been published
//! (re-sent ones carry the same `event_id`), and nothing else.
//!
//! Every run joins the same consumer group, as a restarted pod would; the killed member's
//! session expires (6 s here, the least Apache Kafka accepts by default) before the next run gets
//! the partition. The kill moments are drawn
//! from a seed printed on failure; set `HEALTHSCORE_CRASH_SEED` to repeat a run. Each run's log
//! is in the temporary folder's `service.log`, copied to /tmp/crash-service.log.

mod support;

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

use healthscore::config::DEFAULT_CONFIG_TOML;
use healthscore::engine::Engine;
use healthscore::generator::{Generator, GeneratorSettings};
use support::{
    assert_same_customers, default_model, feed, free_port, newest_snapshot, stop_with_sigterm,
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

fn output_ids(consumer: &BaseConsumer, seen: &mut BTreeSet<String>, wait: Duration) {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) {
            let payload: serde_json::Value =
                serde_json::from_slice(message.payload().unwrap_or_default()).unwrap();
            seen.insert(payload["event_id"].as_str().unwrap().to_string());
        }
    }
}

#[cfg(unix)]
#[test]
fn killed_at_random_moments_it_loses_nothing_and_counts_nothing_twice() {
    let broker = support::kafka::broker();
    let bootstrap = broker.bootstrap.clone();
    let suffix = format!(
        "{}.{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    let input = format!("crash.usage.{suffix}");
    let output = format!("crash.health.{suffix}");
    let dead_letters = format!("{output}.dead");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(broker.create_topics(&[&input, &output, &dead_letters]));
    let directory = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let config = DEFAULT_CONFIG_TOML
        .replace(
            "bootstrap_servers = \"embedded\"",
            &format!("bootstrap_servers = \"{bootstrap}\""),
        )
        .replace("group_id = \"healthscore\"", "group_id = \"GROUP\"")
        .replace(
            "{ topic = \"customer.usage\", source = \"usage\", encoding = \"json\" },",
            &format!("{{ topic = \"{input}\", source = \"usage\" }},"),
        )
        .replace(
            "  { topic = \"customer.email\", source = \"email\", encoding = \"json\" },\n",
            "",
        )
        .replace(
            "  { topic = \"customer.support\", source = \"support\", encoding = \"json\" },\n",
            "",
        )
        .replace(
            "  { topic = \"customer.payment\", source = \"payment\", encoding = \"json\" },\n",
            "",
        )
        .replace(
            "  { topic = \"customer.profile\", source = \"profile\", encoding = \"json\" },\n",
            "",
        )
        .replace(
            "output_topic = \"customer.health\"",
            &format!("output_topic = \"{output}\""),
        )
        .replace(
            "dead_letter_topic = \"customer.health.deadletter\"",
            &format!("dead_letter_topic = \"{output}.dead\""),
        )
        .replace(
            "[kafka.consumer]\n",
            "[kafka.consumer]\n\"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n",
        )
        .replace(
            "listen = \"127.0.0.1:9898\"",
            &format!("listen = \"{address}\""),
        )
        .replace("interval = \"30s\"", "interval = \"1s\"");
    let path = directory.path().join("healthscore.toml");
    std::fs::write(&path, config.replace("GROUP", &format!("crash-{suffix}"))).unwrap();
    let start_run = || start(&path, directory.path());

    // Forty days of generated activity: fading and churning customers keep changing throughout.
    let settings = GeneratorSettings {
        customers: 30,
        ..GeneratorSettings::default()
    };
    let end = settings.start_millis + 40 * support::DAY_MILLIS;
    let mut generator = Generator::new(&settings);
    let lines: Vec<String> = std::iter::from_fn(|| Some(generator.next_event()))
        .take_while(|event| event.time_millis <= end)
        .map(|event| event.json)
        .collect();

    // Produce in the background, in bursts, while the service is being killed and restarted.
    let producer_lines = lines.clone();
    let producer_bootstrap = bootstrap.clone();
    let producer_topic = input.clone();
    let producing = std::thread::spawn(move || {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", &producer_bootstrap)
            .create()
            .unwrap();
        for chunk in producer_lines.chunks(100) {
            for line in chunk {
                let key = serde_json::from_str::<serde_json::Value>(line).unwrap()["customer_id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                producer
                    .send(
                        BaseRecord::to(&producer_topic)
                            .key(&key)
                            .payload(line.as_str()),
                    )
                    .map_err(|(error, _)| error)
                    .unwrap();
            }
            producer.flush(Duration::from_secs(10)).unwrap();
            std::thread::sleep(Duration::from_millis(900));
        }
        Instant::now()
    });

    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", format!("reader-{suffix}"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    reader.subscribe(&[&output]).unwrap();
    let mut seen = BTreeSet::new();

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
    let pauses: Vec<u64> = (0..KILLS)
        .map(|_| {
            // xorshift: enough spread for kill moments, repeatable from the seed.
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            200 + random % 2300
        })
        .collect();
    for (run, pause) in pauses.iter().copied().enumerate() {
        let mut child = start_run();
        // Kill only once this run owns its partition: the pause then lands mid-processing.
        let deadline = Instant::now() + Duration::from_secs(30);
        while assignments() <= run && Instant::now() < deadline {
            output_ids(&reader, &mut seen, Duration::from_millis(100));
        }
        output_ids(&reader, &mut seen, Duration::from_millis(pause));
        child.kill().unwrap();
        kills.push(Instant::now());
        child.wait().unwrap();
        progress.push(seen.len());
    }
    let produced = producing.join().unwrap();

    let mut engine = Engine::new(default_model());
    let expected: BTreeSet<String> = feed(&mut engine, &lines)
        .iter()
        .map(|output| output.event_id().to_string())
        .collect();
    // The kills landed while events were still coming, and some run published something new
    // after the first kill.
    let log = std::fs::read_to_string(directory.path().join("service.log")).unwrap_or_default();
    let _ = std::fs::write("/tmp/crash-service.log", &log);
    let mid_stream = kills.iter().filter(|kill| **kill < produced).count();
    assert!(
        mid_stream >= KILLS / 2,
        "seed {seed}: only {mid_stream} of {KILLS} kills came before the last event was produced"
    );
    assert!(
        progress.last() > progress.first(),
        "seed {seed}: {progress:?}"
    );
    let mut child = start_run();
    // The last run too must own its partition before it is stopped: if every output was seen
    // already, SIGTERM would otherwise reach it before it listens for signals.
    let deadline = Instant::now() + Duration::from_secs(90);
    while assignments() <= KILLS && Instant::now() < deadline {
        output_ids(&reader, &mut seen, Duration::from_millis(100));
    }
    while !expected.is_subset(&seen) && Instant::now() < deadline {
        output_ids(&reader, &mut seen, Duration::from_millis(500));
    }
    let code = stop_with_sigterm(&mut child);
    let log = std::fs::read_to_string(directory.path().join("service.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    assert_eq!(
        code,
        Some(0),
        "the last lines of the log, newest first: {tail:#?}"
    );

    let missing: Vec<&String> = expected.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "{} outputs never published",
        missing.len()
    );
    let unexpected: Vec<&String> = seen.difference(&expected).collect();
    assert!(
        unexpected.is_empty(),
        "{} outputs replay does not give",
        unexpected.len()
    );

    let (restored, _) =
        newest_snapshot(&directory.path().join("data/snapshots"), 0).expect("a final snapshot");
    assert_same_customers(&restored, &engine, "the final snapshot");
}
