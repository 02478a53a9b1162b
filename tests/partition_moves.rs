//! A customer's state follows its partition: when a second instance joins the consumer group,
//! the partitions it takes over are restored from the snapshots the first instance wrote to the
//! shared snapshot folder, so across the move nothing is lost and nothing is counted twice; with a
//! folder per instance, they are rebuilt (from the earliest offset, or from the instance's own
//! older snapshot when a partition returns), re-sending outputs unchanged. Over the standard
//! layout: five input topics of four partitions, merged in event time per partition number.
//! Over the real Kafka protocol (a MockCluster, or `HEALTHSCORE_TEST_BOOTSTRAP`).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::message::Message;
use tokio::sync::watch;

use healthscore::config::{Config, ConfigDuration};
use support::kafka::{broker, reader, replayed};
use support::layout::{offsets_of, produce_lines, standard_layout, PARTITIONS};
use support::{assert_same_customers, free_port, healthy_days, newest_snapshot, try_http_get};

/// (Topic, partition) to the offset after its last message.
type Offsets = BTreeMap<(String, i32), i64>;
const CUSTOMERS: [&str; 8] = [
    "acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka",
];

/// Every customer's lines for days `from..to`, each with the partition it is produced to, in
/// time order (each topic then gets its events in time order, as from a live source).
fn lines(from: u32, to: u32) -> Vec<(i32, String)> {
    let mut lines: Vec<(i32, String)> = CUSTOMERS
        .iter()
        .enumerate()
        .flat_map(|(index, customer)| {
            let partition = index as i32 % PARTITIONS;
            healthy_days(customer, from, to)
                .into_iter()
                .map(move |line| (partition, line))
        })
        .collect();
    lines.sort_by_key(|(_, line)| {
        serde_json::from_str::<serde_json::Value>(line).expect("JSON")["timestamp"]
            .as_i64()
            .expect("a timestamp")
    });
    lines
}

/// The offsets after `lines` of partition `partition`, over the input topics.
fn partition_offsets(
    inputs: &[(String, String)],
    lines: &[(i32, String)],
    partition: i32,
) -> Offsets {
    offsets_of(inputs, lines)
        .into_iter()
        .filter(|((_, of), _)| *of == partition)
        .collect()
}

/// The lines of each partition, in the order they were produced.
fn by_partition(lines: &[(i32, String)]) -> BTreeMap<i32, Vec<String>> {
    let mut partitions: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (partition, line) in lines {
        partitions.entry(*partition).or_default().push(line.clone());
    }
    partitions
}

/// What one engine per partition publishes: `replay` of each partition's lines.
fn expected_outputs(partitions: &BTreeMap<i32, Vec<String>>) -> Vec<String> {
    let mut outputs: Vec<String> = partitions
        .values()
        .flat_map(|lines| replayed(lines).0)
        .collect();
    outputs.sort();
    outputs
}

/// Reads `topic` from the start into a shared list until `stop` is set.
fn collect(bootstrap: &str, topic: &str) -> (Arc<Mutex<Vec<String>>>, Arc<Mutex<bool>>) {
    let consumer = reader(bootstrap, topic);
    let collected = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(Mutex::new(false));
    let (into, stopped) = (Arc::clone(&collected), Arc::clone(&stop));
    std::thread::spawn(move || {
        while !*stopped.lock().unwrap() {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                let payload = String::from_utf8_lossy(message.payload().unwrap_or_default());
                into.lock().unwrap().push(payload.into_owned());
            }
        }
    });
    (collected, stop)
}

async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The customers an instance holds, from its `/readyz` (0 while it does not answer).
fn customers_held(address: &str) -> u64 {
    try_http_get(address, "/readyz")
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|body| body["customers"].as_u64())
        .unwrap_or(0)
}

fn start(
    config: &Config,
) -> (
    watch::Sender<bool>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let (stop, stopped) = watch::channel(false);
    let service = tokio::spawn(healthscore::service::run(config.clone(), stopped));
    (stop, service)
}

/// Stops a running instance, if any, and checks that it stopped cleanly.
async fn stop(
    instance: Option<(
        watch::Sender<bool>,
        tokio::task::JoinHandle<anyhow::Result<()>>,
    )>,
) {
    if let Some((stop, service)) = instance {
        stop.send(true).unwrap();
        service.await.unwrap().unwrap();
    }
}

/// What two instances in one group published and kept, after the second joined mid-stream.
struct Moved {
    /// Every output published, sorted.
    published: Vec<String>,
    /// One engine per partition's outputs (`replay` of each partition), sorted.
    expected: Vec<String>,
    /// Each partition's lines.
    partitions: BTreeMap<i32, Vec<String>>,
    /// Every line, with its partition.
    lines: Vec<(i32, String)>,
    /// The input topics: (source, topic).
    inputs: Vec<(String, String)>,
    /// Each instance's snapshot folder (the same one twice when shared).
    folders: Vec<std::path::PathBuf>,
    _snapshots: Vec<tempfile::TempDir>,
}

/// How the second instance's stay ends.
#[derive(Clone, Copy, PartialEq)]
enum Then {
    /// Both instances are stopped together.
    BothStop,
    /// The second instance stops first; its partitions return to the first, which then reads a
    /// third part of the events alone.
    SecondLeaves,
}

/// Runs one instance on 4 partitions through the first part of the events (until each
/// partition's snapshot holds it), then a second instance in the same group (with the same
/// snapshot folder or its own), then the second part; then as `then` says.
async fn move_partitions(shared_folder: bool, then: Then) -> Moved {
    let broker = broker();
    let mut layout = standard_layout(&broker).await;
    layout.config.service.snapshot.interval = ConfigDuration::seconds(1);
    let inputs = layout.inputs.clone();
    let first_instance = layout.config.clone();
    let mut second_instance = layout.config.clone();
    second_instance.service.http.listen = format!("127.0.0.1:{}", free_port());
    let own_folder = tempfile::tempdir().unwrap();
    if !shared_folder {
        second_instance.service.snapshot.dir = own_folder.path().display().to_string();
    }
    let root = Path::new(&layout.config.service.snapshot.dir).to_path_buf();
    let folders = vec![
        root.clone(),
        Path::new(&second_instance.service.snapshot.dir).to_path_buf(),
    ];

    let first = lines(0, 10);
    let mut all: Vec<(i32, String)> = first.iter().cloned().chain(lines(10, 20)).collect();
    let first_partitions = by_partition(&first);
    let mut all_partitions = by_partition(&all);
    let (outputs, stop_reading) = collect(&broker.bootstrap, &layout.output);

    // One instance holds every partition and snapshots each one (and commits its offsets).
    produce_lines(&broker.bootstrap, &inputs, &first);
    let expected_first = expected_outputs(&first_partitions);
    let (stop_first, first_service) = start(&first_instance);
    wait_for("the first half's outputs", || {
        outputs.lock().unwrap().len() >= expected_first.len()
    })
    .await;
    wait_for("a snapshot of every partition after the first half", || {
        first_partitions.keys().all(|partition| {
            newest_snapshot(&root, *partition).map(|(_, offsets)| offsets)
                == Some(partition_offsets(&inputs, &first, *partition))
        })
    })
    .await;

    // A second instance joins: the group gives it some partitions, and the first lets go of
    // them.
    let mut second = Some(start(&second_instance));
    let (address_first, address_second) = (
        first_instance.service.http.listen.clone(),
        second_instance.service.http.listen.clone(),
    );
    wait_for("the partitions to be shared between the instances", || {
        let (held_first, held_second) = (
            customers_held(&address_first),
            customers_held(&address_second),
        );
        held_first > 0 && held_second > 0 && held_first + held_second == CUSTOMERS.len() as u64
    })
    .await;

    produce_lines(&broker.bootstrap, &inputs, &all[first.len()..]);
    let mut expected = expected_outputs(&all_partitions);
    wait_for("every output", || {
        let published = outputs.lock().unwrap();
        expected.iter().all(|output| published.contains(output))
    })
    .await;
    if then == Then::SecondLeaves {
        // Wait until the second instance's partitions are snapshotted, so that they return
        // to the first with more events behind them than its own snapshots of them hold.
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop(second.take()).await;
        wait_for("the first instance to hold every customer again", || {
            customers_held(&address_first) == CUSTOMERS.len() as u64
        })
        .await;
        let third = lines(20, 30);
        produce_lines(&broker.bootstrap, &inputs, &third);
        all.extend(third);
        all_partitions = by_partition(&all);
        expected = expected_outputs(&all_partitions);
        wait_for("every output of the third part", || {
            let published = outputs.lock().unwrap();
            expected.iter().all(|output| published.contains(output))
        })
        .await;
    }
    // The last events may cause no output and wait in the merge for `max_idle`: stop only once
    // each partition's newest snapshot holds everything (anything published twice arrives
    // meanwhile).
    wait_for("a snapshot of every partition at its end", || {
        all_partitions.keys().all(|partition| {
            newest_offsets(&folders, *partition)
                == Some(partition_offsets(&inputs, &all, *partition))
        })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop(Some((stop_first, first_service))).await;
    stop(second.take()).await;
    *stop_reading.lock().unwrap() = true;

    let mut published = outputs.lock().unwrap().clone();
    published.sort();
    Moved {
        published,
        expected,
        partitions: all_partitions,
        lines: all,
        inputs,
        folders,
        _snapshots: vec![layout.snapshots, own_folder],
    }
}

/// The outputs, each once (they are sorted).
fn distinct(published: &[String]) -> Vec<String> {
    let mut distinct = published.to_vec();
    distinct.dedup();
    distinct
}

/// The newest snapshot of `partition` over `folders` (the one furthest in its input).
fn newest_of(
    folders: &[std::path::PathBuf],
    partition: i32,
) -> Option<(healthscore::engine::Engine, Offsets)> {
    folders
        .iter()
        .filter_map(|folder| newest_snapshot(folder, partition))
        .max_by_key(|(_, offsets)| offsets.values().sum::<i64>())
}

/// The offsets of the newest snapshot of `partition` over `folders`.
fn newest_offsets(folders: &[std::path::PathBuf], partition: i32) -> Option<Offsets> {
    newest_of(folders, partition).map(|(_, offsets)| offsets)
}

/// Checks that each partition's newest snapshot (over every folder) is at the offsets after its
/// last events and holds exactly `replay` of its events.
fn assert_final_state_is_replay(moved: &Moved) {
    for (partition, lines) in &moved.partitions {
        let (engine, offsets) =
            newest_of(&moved.folders, *partition).expect("a snapshot of the partition");
        assert_eq!(
            offsets,
            partition_offsets(&moved.inputs, &moved.lines, *partition)
        );
        let (_, replay) = replayed(lines);
        assert_same_customers(&engine, &replay, &format!("partition {partition}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moved_to_another_instance_takes_its_customers_state_along() {
    let moved = move_partitions(true, Then::BothStop).await;
    // Restored from the shared folder: every output exactly once.
    let missing = moved
        .expected
        .iter()
        .filter(|output| !moved.published.contains(output))
        .count();
    assert!(
        moved.published == moved.expected,
        "{} published, {} expected, {missing} missing",
        moved.published.len(),
        moved.expected.len()
    );
    assert_final_state_is_replay(&moved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_moved_without_a_shared_folder_is_rebuilt_from_its_earliest_offset() {
    let moved = move_partitions(false, Then::BothStop).await;
    // The new holder has no snapshot of the partitions it took, and the group has the first
    // instance's committed offsets for them: it must read them from the start (a committed
    // offset without the state behind it would lose that state), re-sending their outputs with
    // the same ids and contents.
    assert_eq!(distinct(&moved.published), moved.expected);
    assert!(
        moved.published.len() > moved.expected.len(),
        "the rebuilt partitions' outputs are sent again"
    );
    assert_final_state_is_replay(&moved);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_returning_to_an_instance_with_its_own_older_snapshot_resumes_from_it() {
    let moved = move_partitions(false, Then::SecondLeaves).await;
    // The partitions come back to the first instance, whose own snapshots of them are older
    // than what the second processed (and committed): it restores those and reads on from their
    // offsets, re-sending what the second sent, unchanged. Resuming at the second's committed
    // offsets instead would lose the events in between from the state.
    assert_eq!(distinct(&moved.published), moved.expected);
    assert_final_state_is_replay(&moved);
}
