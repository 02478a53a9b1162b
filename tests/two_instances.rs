//! Two instances of `healthscore run` in one consumer group under exactly-once, each with its
//! own snapshot folder (as pods with a volume each), while events are produced: partitions move
//! between them as one joins, one is stopped, one is started again, and one is paused with
//! SIGSTOP past its session timeout and then resumed. A `read_committed` reader of the output
//! must receive every output `replay` gives exactly once, and every dead letter once; the paused
//! instance's open transaction must not commit (it finds its partitions lost and aborts it,
//! counted as aborted); and each partition's final snapshot must equal `replay` of its events.
//!
//! An instance taking on a partition it has no snapshot of rebuilds it from the earliest offset
//! (one it held before, from its own older snapshot), silently up to the committed offsets.
//! Apache Kafka only (the MockCluster has no transactions). Moments are drawn from a seed
//! printed on failure; `HEALTHSCORE_CRASH_SEED` repeats a run. The instances' logs are copied to
//! /tmp/two-instances-<seed>-{a,b}.log, so that a rerun does not overwrite a failed run's.

mod support;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use support::child_service::{
    assignments, consumer_lags, forty_days, metric, random_waits, replayed_by_partition, seed,
    signal, start, ChildTopics, RunningService, Seen, PAUSE_PAST_SESSION,
};
use support::{assert_same_customers, free_port, newest_snapshot, stop_with_sigterm};

/// One instance: its folder, config and HTTP address, and its process while it runs (killed
/// when dropped, so a test that fails leaves no instance running).
struct Instance {
    name: &'static str,
    directory: tempfile::TempDir,
    config: PathBuf,
    address: String,
    child: Option<RunningService>,
}

impl Instance {
    fn new(name: &'static str, topics: &ChildTopics) -> Instance {
        let directory = tempfile::tempdir().expect("a folder");
        let address = format!("127.0.0.1:{}", free_port());
        let suffix = &topics.suffix;
        let config = topics.config(
            &format!("two-{suffix}"),
            &address,
            Some(&format!("two-{suffix}-{name}")),
        );
        let path = directory.path().join("healthscore.toml");
        std::fs::write(&path, config).expect("the config is written");
        Instance {
            name,
            directory,
            config: path,
            address,
            child: None,
        }
    }

    fn start(&mut self) {
        self.child = Some(start(&self.config, self.directory.path()));
    }

    fn stop(&mut self) {
        let mut child = self.child.take().expect("a running instance");
        let code = stop_with_sigterm(&mut child);
        assert_eq!(code, Some(0), "{}: {:#?}", self.name, self.log_tail());
    }

    fn child(&self) -> &Child {
        self.child.as_ref().expect("a running instance")
    }

    fn assignments(&self) -> usize {
        assignments(self.directory.path())
    }

    fn log_tail(&self) -> Vec<String> {
        let log =
            std::fs::read_to_string(self.directory.path().join("service.log")).unwrap_or_default();
        log.lines().rev().take(15).map(str::to_string).collect()
    }

    fn snapshots(&self) -> PathBuf {
        self.directory.path().join("data/snapshots")
    }

    fn keep_log(&self, seed: u64) {
        let _ = std::fs::copy(
            self.directory.path().join("service.log"),
            Path::new("/tmp").join(format!("two-instances-{seed}-{}.log", self.name)),
        );
    }
}

/// Reads outputs until `instance` logged more than `assignments` assignments (or 60 s passed),
/// then for `wait` more.
fn after_assignment(
    instance: &Instance,
    assignments: usize,
    wait: u64,
    seen: &mut Seen,
    reader: &rdkafka::consumer::BaseConsumer,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while instance.assignments() <= assignments && Instant::now() < deadline {
        seen.read(reader, Duration::from_millis(100));
    }
    assert!(
        instance.assignments() > assignments,
        "{} was never assigned partitions: {:#?}",
        instance.name,
        instance.log_tail()
    );
    seen.read(reader, Duration::from_millis(wait));
}

#[cfg(unix)]
#[test]
fn partitions_moving_between_two_instances_under_exactly_once_every_output_is_read_once() {
    let broker = support::kafka::transactional_broker();
    let topics = ChildTopics::create(&broker, "two");
    let mut a = Instance::new("a", &topics);
    let mut b = Instance::new("b", &topics);
    let events = forty_days();
    let bursts = topics.produce_in_bursts(&events);
    let reader = topics.output_reader();
    let mut seen = Seen::default();
    let seed = seed();
    let waits = random_waits(seed, 5);

    // A alone, then B joins: A hands half the partitions over.
    a.start();
    after_assignment(&a, 0, waits[0], &mut seen, &reader);
    let b_before = b.assignments();
    b.start();
    after_assignment(&b, b_before, waits[1], &mut seen, &reader);
    // A stops: B takes everything on, rebuilding A's partitions from their earliest offsets.
    let b_before = b.assignments();
    a.stop();
    after_assignment(&b, b_before, waits[2], &mut seen, &reader);
    // A starts again: partitions move back, rebuilt from A's own older snapshots.
    let a_before = a.assignments();
    a.start();
    after_assignment(&a, a_before, waits[3], &mut seen, &reader);
    // B is paused past its session: A takes everything on; B's late commit fails when it
    // resumes, and it rebuilds before it rejoins.
    let (a_before, b_before) = (a.assignments(), b.assignments());
    let paused = Instant::now();
    signal(b.child(), "STOP");
    std::thread::sleep(PAUSE_PAST_SESSION);
    signal(b.child(), "CONT");
    after_assignment(&a, a_before, 0, &mut seen, &reader);
    after_assignment(&b, b_before, waits[4], &mut seen, &reader);
    let produced = bursts.producing.join().expect("the producer ends");
    assert!(
        paused < produced,
        "seed {seed}: the last move came after the last event was produced"
    );

    // Both read to the end.
    let (expected, replays) = replayed_by_partition(&events);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !expected.is_subset(&seen.ids) && Instant::now() < deadline {
        seen.read(&reader, Duration::from_millis(500));
    }
    let applied_to_the_end = |instance: &Instance| {
        consumer_lags(&instance.address)
            .is_some_and(|lags| !lags.is_empty() && lags.iter().all(|(_, lag)| *lag == 0.0))
    };
    while !(applied_to_the_end(&a) && applied_to_the_end(&b)) && Instant::now() < deadline {
        seen.read(&reader, Duration::from_millis(200));
    }
    assert!(
        applied_to_the_end(&a) && applied_to_the_end(&b),
        "seed {seed}: lags: A {:?}, B {:?}",
        consumer_lags(&a.address),
        consumer_lags(&b.address)
    );
    let aborted = metric(
        &b.address,
        "healthscore_transactions_total{outcome=\"aborted\"}",
    );
    a.keep_log(seed);
    b.keep_log(seed);
    assert!(
        aborted.is_some_and(|aborted| aborted >= 1.0),
        "seed {seed}: B's late commit after its pause was not refused: aborted {aborted:?}"
    );

    // A stops first: B takes on A's partitions up to their committed offsets and writes the
    // final snapshot of every partition.
    let b_before = b.assignments();
    a.stop();
    after_assignment(&b, b_before, 0, &mut seen, &reader);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !applied_to_the_end(&b) && Instant::now() < deadline {
        seen.read(&reader, Duration::from_millis(200));
    }
    assert!(
        applied_to_the_end(&b),
        "seed {seed}: lags: B {:?}",
        consumer_lags(&b.address)
    );
    seen.read(&reader, Duration::from_secs(2));
    b.stop();
    a.keep_log(seed);
    b.keep_log(seed);

    let missing = expected.difference(&seen.ids).count();
    assert_eq!(missing, 0, "seed {seed}: outputs never published");
    let unexpected = seen.ids.difference(&expected).count();
    assert_eq!(unexpected, 0, "seed {seed}: outputs replay does not give");
    assert!(
        seen.again.is_empty(),
        "seed {seed}: {} outputs read twice by a read_committed reader, such as {:?}",
        seen.again.len(),
        seen.again.first()
    );
    let dead = topics.dead_letter_origins(bursts.malformed);
    let mut distinct = dead.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        (distinct.len(), dead.len()),
        (bursts.malformed, bursts.malformed),
        "seed {seed}: every dead letter once: {dead:?}"
    );
    for (partition, engine) in &replays {
        let (restored, _) = newest_snapshot(&b.snapshots(), *partition)
            .expect("B's final snapshot of every partition");
        assert_same_customers(
            &restored,
            engine,
            &format!("partition {partition}'s final snapshot"),
        );
    }
}
