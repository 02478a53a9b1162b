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

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::child_service::{
    applied_to_the_end, assignments, forty_days, metric, random_waits, replayed_by_partition, seed,
    signal, start, ChildTopics, RunningService, Seen, PAUSE_PAST_SESSION,
};
use support::layout::PARTITIONS;
use support::{assert_same_customers, free_port, newest_snapshot, stop_with_sigterm};

/// How many times the service is killed mid-stream.
const KILLS: usize = 8;

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
/// resumes: its event-time merges wait afresh (what it knew of its topics' ends is as old as the
/// pause), its commit is refused, and it rebuilds from its snapshots and the committed offsets
/// instead of publishing twice.
#[cfg(unix)]
#[test]
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

fn interrupted_at_random_moments(
    broker: support::kafka::Broker,
    guarantee: Guarantee,
    interruption: Interruption,
) {
    let interruptions = match interruption {
        Interruption::Kill => KILLS,
        Interruption::PausePastSession => 4,
    };
    let topics = ChildTopics::create(&broker, "crash");
    let suffix = &topics.suffix;
    let directory = tempfile::tempdir().unwrap();
    let address = format!("127.0.0.1:{}", free_port());
    let transactional_id = format!("crash-{suffix}");
    let config = topics.config(
        &format!("crash-{suffix}"),
        &address,
        (guarantee == Guarantee::ExactlyOnce).then_some(transactional_id.as_str()),
    );
    let path = directory.path().join("healthscore.toml");
    std::fs::write(&path, config).unwrap();
    let start_run = || start(&path, directory.path());

    // Produce in the background, in bursts, while the service is being interrupted.
    let events = forty_days();
    let bursts = topics.produce_in_bursts(&events);
    let reader = topics.output_reader();
    let mut seen = Seen::default();

    // Interrupt the service at several moments mid-stream, restarting it after each kill.
    let mut progress = Vec::new();
    let mut kills = Vec::new();
    let seed = seed();
    let mut running: Option<RunningService> = None;
    for (run, wait) in random_waits(seed, interruptions).into_iter().enumerate() {
        let child = running.get_or_insert_with(start_run);
        // Interrupt only once this run owns its partition: the pause then lands mid-processing.
        let deadline = Instant::now() + Duration::from_secs(30);
        while assignments(directory.path()) <= run && Instant::now() < deadline {
            seen.read(&reader, Duration::from_millis(100));
        }
        seen.read(&reader, Duration::from_millis(wait));
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
    let produced = bursts.producing.join().unwrap();
    let (expected, replays) = replayed_by_partition(&events);

    // The interruptions landed while events were still coming, and some run published
    // something new after the first.
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
    while assignments(directory.path()) <= interruptions && Instant::now() < deadline {
        seen.read(&reader, Duration::from_millis(100));
    }
    while !expected.is_subset(&seen.ids) && Instant::now() < deadline {
        seen.read(&reader, Duration::from_millis(500));
    }
    // The last events may cause no output, and wait in the merge for up to `max_idle`: stop
    // only once every input partition is applied to its end (what is not applied at shutdown is
    // read again at the next start, so the final snapshot would not hold it).
    while !applied_to_the_end(&address, topics.inputs.len() * PARTITIONS as usize)
        && Instant::now() < deadline
    {
        seen.read(&reader, Duration::from_millis(200));
    }
    if interruption == Interruption::PausePastSession {
        // The paused instance's late commits failed, and it rebuilt instead of publishing.
        let aborted = metric(
            &address,
            "healthscore_transactions_total{outcome=\"aborted\"}",
        );
        assert!(
            aborted.is_some_and(|aborted| aborted >= 1.0),
            "seed {seed}: aborted transactions: {aborted:?}"
        );
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
        "seed {seed}: {} outputs never published",
        missing.len()
    );
    let unexpected: Vec<&String> = seen.ids.difference(&expected).collect();
    assert!(
        unexpected.is_empty(),
        "seed {seed}: {} outputs replay does not give",
        unexpected.len()
    );
    // Every malformed message is dead-lettered; under exactly-once, once.
    let dead = topics.dead_letter_origins(bursts.malformed);
    let distinct: BTreeSet<&String> = dead.iter().collect();
    assert_eq!(
        distinct.len(),
        bursts.malformed,
        "seed {seed}: dead letters {dead:?}"
    );
    if guarantee == Guarantee::ExactlyOnce {
        assert_eq!(
            dead.len(),
            bursts.malformed,
            "seed {seed}: a dead letter read twice: {dead:?}"
        );
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
