//! The binary as an operator runs it: `healthscore run` on its embedded default (or, with
//! `HEALTHSCORE_TEST_BOOTSTRAP`, against that broker), stopped with SIGTERM, flushes, writes a
//! final snapshot and exits 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;

use support::child_service::RunningService;
use support::kafka::{
    create_topics_on_broker, produce_to_partitions, unique, uses_external_broker,
};
use support::{free_port, healthy_days, http_get, stop_with_sigterm};

/// Whether `/readyz` answers 200 (false while nothing listens yet).
fn ready(address: &str) -> bool {
    std::net::TcpStream::connect(address).is_ok() && http_get(address, "/readyz").0 == 200
}

#[cfg(unix)]
#[test]
fn sigterm_takes_a_final_snapshot_and_exits_zero() {
    let directory = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let mut command = Command::new(env!("CARGO_BIN_EXE_healthscore"));
    command
        .arg("run")
        .current_dir(directory.path())
        .env_remove("HEALTHSCORE_CONFIG")
        .env("HEALTHSCORE_HTTP__LISTEN", &address)
        .env("HEALTHSCORE_SNAPSHOT__INTERVAL", "1h")
        .env("HEALTHSCORE_GENERATOR__CUSTOMERS", "50")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if uses_external_broker() {
        // The embedded default has three partitions per topic and the generator; against a real
        // broker, one input topic of three partitions with a few customers on each.
        let bootstrap = std::env::var("HEALTHSCORE_TEST_BOOTSTRAP").unwrap();
        let (input, output) = (unique("shutdown.usage"), unique("shutdown.health"));
        let dead_letters = format!("{output}.dead");
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(create_topics_on_broker(
                &bootstrap,
                &[&input, &output, &dead_letters],
                3,
            ));
        let lines: Vec<(i32, String)> = (0..3)
            .flat_map(|partition| {
                healthy_days(&format!("customer-{partition}"), 0, 10)
                    .into_iter()
                    .map(move |line| (partition, line))
            })
            .collect();
        produce_to_partitions(&bootstrap, &input, &lines);
        command
            .env("HEALTHSCORE_KAFKA__BOOTSTRAP_SERVERS", &bootstrap)
            .env("HEALTHSCORE_KAFKA__GROUP_ID", unique("shutdown"))
            .env(
                "HEALTHSCORE_KAFKA__INPUTS",
                format!("[{{ topic = \"{input}\", source = \"usage\" }}]"),
            )
            .env("HEALTHSCORE_KAFKA__OUTPUT_TOPIC", &output)
            .env("HEALTHSCORE_KAFKA__DEAD_LETTER_TOPIC", &dead_letters);
    }
    // Killed if an assertion fails before it is stopped.
    let mut child = RunningService(command.spawn().unwrap());
    let mut stderr = child.stderr.take().unwrap();
    let log_reader = std::thread::spawn(move || {
        let mut log = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut log);
        log
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready(&address) {
        assert!(Instant::now() < deadline, "the service never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the events flow for a moment.
    std::thread::sleep(Duration::from_secs(2));
    let snapshots = directory.path().join("data/snapshots");
    assert!(!snapshots.exists() || std::fs::read_dir(&snapshots).unwrap().next().is_none());

    let code = stop_with_sigterm(&mut child);
    let log = log_reader.join().unwrap();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("Snapshot written"), "{log}");
    assert!(log.contains("stopped cleanly"), "{log}");
    // One snapshot per input partition, each in its own folder.
    let mut folders: Vec<String> = std::fs::read_dir(&snapshots)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert_eq!(folders, ["partition-0", "partition-1", "partition-2"]);
    for folder in &folders {
        let files: Vec<_> = std::fs::read_dir(snapshots.join(folder)).unwrap().collect();
        assert_eq!(files.len(), 1, "{folder}");
    }
}

#[cfg(unix)]
#[test]
fn sigterm_while_kafka_is_unreachable_still_exits_zero() {
    let directory = tempfile::tempdir().unwrap();
    // A port nothing listens on: the service waits for Kafka.
    let nobody = format!("127.0.0.1:{}", free_port());
    let mut child = RunningService(
        Command::new(env!("CARGO_BIN_EXE_healthscore"))
            .arg("run")
            .current_dir(directory.path())
            .env_remove("HEALTHSCORE_CONFIG")
            .env("HEALTHSCORE_KAFKA__BOOTSTRAP_SERVERS", &nobody)
            .env(
                "HEALTHSCORE_HTTP__LISTEN",
                format!("127.0.0.1:{}", free_port()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = child.stderr.take().unwrap();
    let (lines, log_lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    // Stop it while it waits for Kafka (each attempt gives up after 2 s).
    let mut log = String::new();
    while !log.contains("Kafka is not reachable yet") {
        match log_lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => log.push_str(&(line + "\n")),
            Err(_) => panic!("the service never said it was waiting for Kafka: {log}"),
        }
    }
    let code = stop_with_sigterm(&mut child);
    log.extend(log_lines.iter().map(|line| line + "\n"));
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("Stopped before Kafka answered"), "{log}");
    assert!(log.contains("stopped cleanly"), "{log}");
}
