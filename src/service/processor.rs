//! The processing loop's state: decode each input message, apply it, publish what it causes, and
//! take snapshots that only ever reflect acknowledged outputs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::{CommitMode, Consumer};

use rdkafka::{Offset, TopicPartitionList};
use tokio::task::JoinHandle;

use super::fetcher::InputBatch;
use super::input_merge::{Decoded, InputMerges, PendingMessage};
use super::publisher::{DeliveriesSoFar, Publisher};
use crate::config::service::{KafkaConfig, SnapshotConfig};
use crate::engine::partitioned::PartitionedCapture;
use crate::engine::{decode, DecodeError, Encoding, EventTime, OutputEvent};
use crate::http::Shared;
use crate::kafka::consumer::{InputConsumer, Positions};
use crate::kafka::dead_letter::{dead_letter_headers, Origin};
use crate::kafka::partition_offsets::{PartitionEnds, PartitionOffsets};
use crate::snapshot::{InputOffsets, Snapshot, SnapshotStore};
use crate::telemetry;

/// What the processing loop knows of one input topic.
struct InputTopic {
    name: String,
    encoding: Encoding,
    counters: telemetry::EventCounters,
}

/// Everything the processing loop owns.
pub struct Processor {
    shared: Arc<Shared>,
    /// The input topics (and any other topic a message came from).
    topics: Vec<InputTopic>,
    /// The topic of the latest message: consecutive messages mostly share one.
    current_topic: usize,
    /// Fetched messages waiting for their turn in event time, per partition number.
    merges: InputMerges,
    /// The origin of the merges' clock.
    merge_origin: Instant,
    /// Messages applied that did not decode, waiting to be published.
    dead_letters: Vec<DeadLetter>,
    /// Whether the last application stopped at [`MESSAGES_PER_APPLY`] with more ready.
    more_ready: bool,
    /// Where outputs and dead letters go, on a task of its own.
    publisher: Publisher,
    positions: Positions,
    /// The input partitions' offset ranges, from librdkafka's statistics.
    partition_offsets: Arc<PartitionOffsets>,
    /// Where the input partitions end: an empty one not at its end is waited for.
    ends: Arc<dyn PartitionEnds>,
    /// Outputs made since they were last handed to the publisher.
    outputs: Vec<OutputEvent>,
    /// The configured `snapshot.dir`: each partition's snapshots go to `partition-<p>` in it.
    snapshot_root: std::path::PathBuf,
    /// Snapshots kept per partition.
    snapshot_keep: usize,
    cluster_id: String,
    counts: Counts,
    /// The snapshot being encoded, if any.
    capture: Option<CaptureStart>,
    /// The snapshot waiting for acknowledgements and being written, if any.
    writing: Option<JoinHandle<anyhow::Result<SnapshotOutcome>>>,
    /// When the newest snapshot was written (the start, before the first).
    last_snapshot: Instant,
}

/// An input message that did not decode, for the dead-letter topic.
struct DeadLetter {
    /// Its topic, by index in the processor's topics.
    input: usize,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    error: DecodeError,
}

/// The most messages applied in one go: the processing thread looks at its timers, and HTTP
/// look-ups get the engines, between.
const MESSAGES_PER_APPLY: usize = 4096;

/// How often the merges look again at an empty input partition that has data on the broker.
const BEHIND_RECHECK_MILLIS: u64 = 20;

/// Customers encoded per step of a snapshot: about a millisecond of work.
const CAPTURE_STEP_CUSTOMERS: usize = 2048;

/// What a snapshot in progress holds besides the engines' captures.
struct CaptureStart {
    /// The input offsets the captured state reflects.
    offsets: InputOffsets,
    /// The engines' state, being encoded.
    engines: PartitionedCapture,
    /// The outputs made before it began, all acknowledged before the snapshot counts.
    deliveries: DeliveriesSoFar,
    customers: usize,
    counts: Counts,
    started: Instant,
    longest_step: Duration,
}

/// Figures about one snapshot, for its log line.
#[derive(Debug)]
pub struct SnapshotSummary {
    customers: usize,
    counts: Counts,
    encode: Duration,
    longest_step: Duration,
    started: Instant,
}

/// How a snapshot's write ended.
#[derive(Debug)]
pub enum SnapshotOutcome {
    /// Safely on disk.
    Written(WrittenSnapshot),
    /// Not written; the service goes on and the next snapshot tries again.
    Failed(anyhow::Error),
}

/// A snapshot safely on disk: one file per partition held.
#[derive(Debug)]
pub struct WrittenSnapshot {
    /// Each partition's file.
    files: Vec<PartitionFile>,
    bytes: u64,
    offsets: InputOffsets,
    summary: SnapshotSummary,
}

/// Running totals, for the snapshot log line.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    events: u64,
    dead_letters: u64,
    outputs: u64,
}

/// How far the input has been read: shared with the consumer's callbacks.
pub struct InputProgress {
    /// The next offset to read per partition (the rebalance callback resumes from them).
    pub positions: Positions,
    /// The partitions' offset ranges, from librdkafka's statistics.
    pub partition_offsets: Arc<PartitionOffsets>,
    /// Where the input partitions end, as fresh as the consumer knows (the consumer itself).
    pub ends: Arc<dyn PartitionEnds>,
}

impl Processor {
    /// A processor publishing through `publisher` and snapshotting each partition under
    /// `snapshots.dir`.
    pub fn new(
        shared: Arc<Shared>,
        kafka: &KafkaConfig,
        publisher: Publisher,
        progress: InputProgress,
        snapshots: &SnapshotConfig,
        cluster_id: String,
    ) -> Processor {
        let InputProgress {
            positions,
            partition_offsets,
            ends,
        } = progress;
        Processor {
            shared,
            topics: kafka
                .inputs
                .iter()
                .map(|input| InputTopic {
                    name: input.topic.clone(),
                    encoding: input.encoding,
                    counters: telemetry::EventCounters::new(&input.source),
                })
                .collect(),
            current_topic: 0,
            merges: InputMerges::new(kafka.inputs.len(), kafka.max_idle.millis().max(0) as u64),
            merge_origin: Instant::now(),
            dead_letters: Vec::new(),
            more_ready: false,
            publisher,
            positions,
            partition_offsets,
            ends,
            outputs: Vec::new(),
            snapshot_root: std::path::PathBuf::from(&snapshots.dir),
            snapshot_keep: snapshots.keep,
            cluster_id,
            counts: Counts::default(),
            capture: None,
            writing: None,
            last_snapshot: Instant::now(),
        }
    }

    /// Processes a batch of input messages: decodes them, queues them on their partition
    /// number's event-time merge, applies every message whose turn has come (dead letters for
    /// those that do not decode), records how far each input partition has been applied, and
    /// hands what they cause to the publisher. A batch fetched under an older assignment is
    /// dropped: the new assignment resumes its partitions from the applied offsets, so its
    /// messages are read again.
    pub async fn handle_batch(&mut self, batch: InputBatch) -> anyhow::Result<()> {
        let started = Instant::now();
        let now = self.merge_clock();
        {
            // The positions lock first, as the rebalance callback takes it: the state and the
            // positions then change together, between assignments.
            let positions = Arc::clone(&self.positions);
            let mut positions = lock(&positions);
            let generation = self.shared.assignment_generation();
            if batch.generation != generation {
                tracing::debug!(
                    messages = batch.len(),
                    "Dropped a batch fetched before the latest assignment; it is read again."
                );
                return Ok(());
            }
            self.follow_assignment(generation);
            for (message, key, payload) in batch.iter() {
                if self
                    .topics
                    .get(self.current_topic)
                    .is_none_or(|current| *current.name != *message.topic)
                {
                    self.current_topic =
                        topic_index(&mut self.topics, &mut self.merges, &message.topic, now);
                }
                let content = match decode(self.topics[self.current_topic].encoding, payload) {
                    Ok(event) => Decoded::Event(event.into_owned()),
                    Err(error) => Decoded::Undecodable {
                        key: key.map(<[u8]>::to_vec),
                        payload: payload.to_vec(),
                        error,
                    },
                };
                let pending = PendingMessage {
                    offset: message.offset,
                    content,
                };
                self.merges
                    .push((self.current_topic, message.partition), pending, now);
            }
            self.apply_ready(&mut positions, now);
        }
        self.publish_applied().await?;
        telemetry::record_processing(started.elapsed(), batch.len() as u64);
        Ok(())
    }

    /// Applies what the event-time merges held back once its wait is over, or what was left
    /// ready (called when [`Processor::release_at`] comes or [`Processor::has_ready`], and every
    /// second). Drops what they hold if a new assignment began meanwhile.
    pub async fn release_waiting(&mut self) -> anyhow::Result<()> {
        let now = self.merge_clock();
        {
            let positions = Arc::clone(&self.positions);
            let mut positions = lock(&positions);
            if self.follow_assignment(self.shared.assignment_generation()) {
                return Ok(());
            }
            self.apply_ready(&mut positions, now);
        }
        self.publish_applied().await
    }

    /// Whether queued messages are ready to be applied now ([`Processor::release_waiting`]).
    pub fn has_ready(&self) -> bool {
        self.more_ready
    }

    /// Drops what the merges hold if assignment `generation` began after it was fetched (the
    /// new assignment reads it again); returns whether it did. Called with the positions
    /// locked.
    fn follow_assignment(&mut self, generation: u64) -> bool {
        if self.merges.generation() == generation {
            return false;
        }
        self.merges.restart(generation);
        self.more_ready = false;
        true
    }

    /// When the event-time merges stop waiting for an empty input, if one is waited for.
    pub fn release_at(&self) -> Option<tokio::time::Instant> {
        let mut millis = self.merges.wait_until()?;
        let now = self.merge_clock();
        if self.merges.waits_on_behind(now) {
            // Its end may move with a fetch response that brings no message: look again soon.
            millis = millis.min(now + BEHIND_RECHECK_MILLIS);
        }
        Some(tokio::time::Instant::from_std(
            self.merge_origin + Duration::from_millis(millis),
        ))
    }

    /// Pauses the input partitions whose merge queues are full and resumes those with room
    /// again, so that a topic consumed slower than it is fetched does not fill memory.
    pub fn control_flow(&mut self, consumer: &InputConsumer) {
        let changes = self.merges.flow_changes();
        if changes.is_empty() {
            return;
        }
        let list = |partitions: &[(usize, i32)]| {
            let mut list = TopicPartitionList::new();
            for (input, partition) in partitions {
                if let Some(topic) = self.topics.get(*input) {
                    list.add_partition(&topic.name, *partition);
                }
            }
            list
        };
        if !changes.pause.is_empty() {
            if let Err(error) = consumer.pause(&list(&changes.pause)) {
                tracing::warn!(%error, "Could not pause input partitions with full queues.");
            }
        }
        if !changes.resume.is_empty() {
            // A partition no longer assigned cannot be resumed, and need not be.
            let _ = consumer.resume(&list(&changes.resume));
        }
        tracing::debug!(
            paused = ?changes.pause,
            resumed = ?changes.resume,
            queued = self.merges.queued(),
            "Input flow control."
        );
    }

    /// The event-time merges' clock: milliseconds since the processor began.
    fn merge_clock(&self) -> u64 {
        self.merge_origin.elapsed().as_millis() as u64
    }

    /// Applies every queued message whose turn has come and records the offsets applied.
    fn apply_ready(&mut self, positions: &mut HashMap<(String, i32), i64>, now: u64) {
        let made_before = self.outputs.len();
        let topics = &mut self.topics;
        let outputs = &mut self.outputs;
        let counts = &mut self.counts;
        let merges = &mut self.merges;
        let dead_letters = &mut self.dead_letters;
        let more_ready = &mut self.more_ready;
        let ends = &self.ends;
        merges.refresh_behind(|(input, partition), fetched| {
            let name = &topics[input].name;
            let position = fetched.or_else(|| positions.get(&(name.clone(), partition)).copied());
            // An end not known yet (no fetch response so far) counts as data to wait for.
            ends.end_of(name, partition)
                .is_none_or(|end| end.has_messages_from(position))
        });
        self.shared.with_engines(|engines| {
            *more_ready = merges.drain(now, MESSAGES_PER_APPLY, |partition, merged| {
                let topic = &mut topics[merged.input];
                match merged.item.content {
                    Decoded::Event(event) => {
                        let engine = engines.engine_mut(partition);
                        topic.counters.event(engine.ingest(&event, outputs));
                        if merged.late {
                            topic.counters.out_of_order();
                        }
                        counts.events += 1;
                    }
                    Decoded::Undecodable {
                        key,
                        payload,
                        error,
                    } => dead_letters.push(DeadLetter {
                        input: merged.input,
                        partition,
                        offset: merged.item.offset,
                        key,
                        payload,
                        error,
                    }),
                }
            });
        });
        for ((input, partition), next) in merges.take_applied() {
            positions.insert((topics[input].name.clone(), partition), next);
        }
        self.counts.outputs += (self.outputs.len() - made_before) as u64;
    }

    /// Publishes the dead letters and outputs of what was applied.
    async fn publish_applied(&mut self) -> anyhow::Result<()> {
        for dead in std::mem::take(&mut self.dead_letters) {
            let topic = &mut self.topics[dead.input];
            topic.counters.dead_letter();
            telemetry::record_decode_error(dead.error.reason().as_str());
            let headers = dead_letter_headers(
                &dead.error,
                Origin {
                    topic: &topic.name,
                    partition: dead.partition,
                    offset: dead.offset,
                },
            );
            tracing::debug!(
                topic = %topic.name,
                partition = dead.partition,
                offset = dead.offset,
                reason = dead.error.reason().as_str(),
                "Dead-lettered a message."
            );
            self.publisher
                .dead_letter(&dead.payload, dead.key.as_deref(), headers)
                .await?;
            self.counts.dead_letters += 1;
        }
        self.publish_outputs().await
    }

    /// Switches the engine to a new model, re-scoring every customer, and publishes the changes
    /// (cause `model`). Returns how many outputs it caused.
    pub async fn apply_model(&mut self, model: Arc<crate::engine::Model>) -> anyhow::Result<usize> {
        let outputs = &mut self.outputs;
        let (previous, replaced) = self.shared.with_engines(|engines| {
            let previous = engines.model().version.to_string();
            (previous, engines.replace_model(Arc::clone(&model), outputs))
        });
        replaced.context("replacing the model")?;
        telemetry::record_model(&model.version, Some(&previous));
        let caused = self.outputs.len();
        self.counts.outputs += caused as u64;
        self.publish_outputs().await?;
        Ok(caused)
    }

    /// Unprocessed messages per input partition being fetched.
    pub fn lag(&self) -> InputOffsets {
        self.partition_offsets.lag(&lock(&self.positions))
    }

    /// Moves time to the wall clock (never backwards), publishing what silent customers' checks
    /// cause: `[clock] source = "wall"`. Only once every input partition is caught up: a backlog
    /// being read (after a restart, say) is scored at its own event time, not at today's.
    pub async fn follow_wall_clock(&mut self) -> anyhow::Result<()> {
        let lag = self.lag();
        if lag.is_empty() || lag.values().any(|messages| *messages > 0) {
            return Ok(());
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|elapsed| i64::try_from(elapsed.as_millis()).ok())
            .and_then(|millis| EventTime::from_millis(millis).ok());
        let Some(now) = now else {
            return Ok(());
        };
        let outputs = &mut self.outputs;
        self.shared
            .with_engines(|engines| engines.advance_all_to(now, outputs));
        self.counts.outputs += self.outputs.len() as u64;
        self.publish_outputs().await
    }

    /// Hands the outputs made so far to the publisher.
    async fn publish_outputs(&mut self) -> anyhow::Result<()> {
        self.publisher.outputs(&mut self.outputs).await
    }

    /// Whether a snapshot is being encoded.
    pub fn is_capturing(&self) -> bool {
        self.capture.is_some()
    }

    /// Whether a finished snapshot is waiting for its outputs' acknowledgements or being written.
    pub fn is_writing(&self) -> bool {
        self.writing.is_some()
    }

    /// Begins a snapshot of the state as it is now, with the offsets it reflects and the outputs
    /// it must wait for. Encoding then proceeds in short steps ([`Processor::capture_step`])
    /// between messages. Skipped while the previous snapshot is still in progress.
    pub async fn begin_snapshot(&mut self) -> anyhow::Result<()> {
        if self.capture.is_some() || self.writing.is_some() {
            tracing::debug!("The previous snapshot is still in progress; skipping this one.");
            return Ok(());
        }
        self.publish_outputs().await?;
        let deliveries = self.publisher.deliveries().await?;
        let offsets = lock(&self.positions)
            .iter()
            .map(|(key, offset)| (key.clone(), *offset))
            .collect();
        let (customers, engines) = self
            .shared
            .with_engines(|engines| (engines.customer_count(), engines.begin_snapshot()));
        self.capture = Some(CaptureStart {
            offsets,
            engines,
            deliveries,
            customers,
            counts: self.counts,
            started: Instant::now(),
            longest_step: Duration::ZERO,
        });
        Ok(())
    }

    /// Encodes the next few thousand customers of the snapshot in progress (about a
    /// millisecond); once all are encoded, hands the snapshot to a background task that waits for
    /// its outputs' acknowledgements and writes it.
    pub fn capture_step(&mut self) {
        self.capture_step_of(CAPTURE_STEP_CUSTOMERS);
    }

    fn capture_step_of(&mut self, customers: usize) {
        let Some(capture) = self.capture.as_mut() else {
            return;
        };
        let step_started = Instant::now();
        let finished = self
            .shared
            .with_engines(|engines| engines.snapshot_step(&mut capture.engines, customers));
        capture.longest_step = capture.longest_step.max(step_started.elapsed());
        if !finished {
            return;
        }
        let Some(capture) = self.capture.take() else {
            return;
        };
        let cluster_id = self.cluster_id.clone();
        let snapshots: Vec<(i32, Snapshot)> = capture
            .engines
            .into_encoded()
            .into_iter()
            .map(|(partition, engine_state)| {
                let offsets = capture
                    .offsets
                    .iter()
                    .filter(|((_, of), _)| *of == partition)
                    .map(|(key, offset)| (key.clone(), *offset))
                    .collect();
                let snapshot = Snapshot {
                    cluster_id: cluster_id.clone(),
                    offsets,
                    engine_state,
                };
                (partition, snapshot)
            })
            .collect();
        let offsets = capture.offsets;
        let (root, keep) = (self.snapshot_root.clone(), self.snapshot_keep);
        let shared = Arc::clone(&self.shared);
        let encoded = capture.started.elapsed();
        let deliveries = capture.deliveries;
        let summary = SnapshotSummary {
            customers: capture.customers,
            counts: capture.counts,
            encode: encoded,
            longest_step: capture.longest_step,
            started: capture.started,
        };
        self.writing = Some(tokio::spawn(async move {
            // An output that cannot be delivered is fatal: the snapshot must not count it.
            deliveries.acknowledged().await?;
            let written = tokio::task::spawn_blocking(move || {
                write_partitions(&root, keep, &shared, &snapshots)
            })
            .await
            .context("the snapshot writer stopped")?;
            // A failed write (a full disk, say) is not: the next snapshot tries again.
            Ok(match written {
                Ok((files, bytes)) => SnapshotOutcome::Written(WrittenSnapshot {
                    files,
                    bytes,
                    offsets,
                    summary,
                }),
                Err(error) => SnapshotOutcome::Failed(error),
            })
        }));
    }

    /// Waits for the snapshot being written (forever if there is none).
    pub async fn snapshot_written(&mut self) -> anyhow::Result<SnapshotOutcome> {
        let Some(writing) = self.writing.as_mut() else {
            return std::future::pending().await;
        };
        let result = writing.await;
        self.writing = None;
        result.context("the snapshot task stopped")?
    }

    /// Logs a written snapshot, records its metrics, and commits its offsets to the group for the
    /// partitions this member owns (progress reporting only: the snapshot is what a restart
    /// resumes from). A failed one is logged and counted. Returns whether it was written.
    pub fn record_snapshot(&mut self, outcome: SnapshotOutcome, consumer: &InputConsumer) -> bool {
        let written = match outcome {
            SnapshotOutcome::Written(written) => written,
            SnapshotOutcome::Failed(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "A snapshot could not be written; the next one will try again."
                );
                ::metrics::counter!(telemetry::SNAPSHOT_FAILURES).increment(1);
                return false;
            }
        };
        let summary = &written.summary;
        self.last_snapshot = Instant::now();
        ::metrics::histogram!(telemetry::SNAPSHOT_DURATION)
            .record(summary.started.elapsed().as_secs_f64());
        ::metrics::gauge!(telemetry::SNAPSHOT_SIZE).set(written.bytes as f64);
        let files: Vec<String> = written
            .files
            .iter()
            .map(|(partition, sequence, _)| format!("partition-{partition}/{sequence}"))
            .collect();
        tracing::info!(
            directory = %self.snapshot_root.display(),
            files = ?files,
            bytes = written.bytes,
            customers = summary.customers,
            events = summary.counts.events,
            dead_letters = summary.counts.dead_letters,
            outputs = summary.counts.outputs,
            encode_millis = summary.encode.as_millis() as u64,
            longest_pause_micros = summary.longest_step.as_micros() as u64,
            total_millis = summary.started.elapsed().as_millis() as u64,
            "Snapshot written."
        );
        // Committing partitions this member does not own fails, and librdkafka answers such a
        // failure during a group join by starting the join over: never commit them.
        let assigned = consumer.assignment().unwrap_or_default();
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in &written.offsets {
            if assigned.find_partition(topic, *partition).is_some() {
                let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
            }
        }
        if list.count() > 0 {
            if let Err(error) = consumer.commit(&list, CommitMode::Async) {
                tracing::warn!(%error, "Could not commit offsets to the group; the snapshot holds them.");
            }
        }
        true
    }

    /// The snapshot at shutdown: finishes any snapshot in progress, then takes one of the final
    /// state at once and waits until it is written.
    pub async fn final_snapshot(&mut self, consumer: &InputConsumer) -> anyhow::Result<()> {
        // At most one snapshot is in progress: a capture, or (once encoded) its write.
        self.capture_step_of(usize::MAX);
        if self.writing.is_some() {
            let outcome = self.snapshot_written().await?;
            self.record_snapshot(outcome, consumer);
        }
        self.begin_snapshot().await?;
        self.capture_step_of(usize::MAX);
        let outcome = self.snapshot_written().await?;
        if !self.record_snapshot(outcome, consumer) {
            anyhow::bail!("the final snapshot could not be written");
        }
        Ok(())
    }

    /// Refreshes the gauges: customers, health colours, watermark and event-time lag, consumer
    /// lag per partition, snapshot age, readiness. Called every second.
    pub fn update_gauges(&self) {
        telemetry::handle().run_upkeep();
        let (customers, health, clock) = self.shared.with_engines(|engines| {
            (
                engines.customer_count(),
                engines.health_distribution(),
                engines.clock(),
            )
        });
        ::metrics::gauge!(telemetry::CUSTOMERS).set(customers as f64);
        for (name, count) in health {
            ::metrics::gauge!(telemetry::CUSTOMERS_BY_HEALTH, "health" => name).set(count as f64);
        }
        if clock > EventTime::EPOCH {
            let watermark = clock.millis() as f64 / 1000.0;
            ::metrics::gauge!(telemetry::WATERMARK).set(watermark);
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |elapsed| elapsed.as_secs_f64());
            ::metrics::gauge!(telemetry::EVENT_TIME_LAG).set((now - watermark).max(0.0));
        }
        for ((topic, partition), lag) in self.lag() {
            telemetry::set_consumer_lag(&topic, partition, lag);
        }
        ::metrics::gauge!(telemetry::SNAPSHOT_AGE).set(self.last_snapshot.elapsed().as_secs_f64());
        let ready = self.shared.is_ready();
        ::metrics::gauge!(telemetry::READY).set(if ready { 1.0 } else { 0.0 });
    }
}

/// The positions, locked. A poisoned lock only means another thread panicked mid-update; the
/// map is still the best knowledge of positions.
fn lock(positions: &Positions) -> std::sync::MutexGuard<'_, HashMap<(String, i32), i64>> {
    positions
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The index of `topic` in `topics`, added (JSON, labelled by its name, merged after the input
/// topics) if it is not an input topic.
fn topic_index(
    topics: &mut Vec<InputTopic>,
    merges: &mut InputMerges,
    topic: &str,
    now: u64,
) -> usize {
    if let Some(index) = topics.iter().position(|known| *known.name == *topic) {
        return index;
    }
    merges.add_input(now);
    topics.push(InputTopic {
        name: topic.to_string(),
        encoding: Encoding::default(),
        counters: telemetry::EventCounters::new(topic),
    });
    topics.len() - 1
}

/// One partition's snapshot file: partition number, sequence, path.
type PartitionFile = (i32, u64, std::path::PathBuf);

/// Writes each partition's snapshot into `root/partition-<p>`, skipping partitions this instance
/// no longer holds (their new holder snapshots them). Returns each file written and the bytes.
fn write_partitions(
    root: &std::path::Path,
    keep: usize,
    shared: &Shared,
    snapshots: &[(i32, Snapshot)],
) -> anyhow::Result<(Vec<PartitionFile>, u64)> {
    let mut files = Vec::new();
    let mut total = 0;
    for (partition, snapshot) in snapshots {
        if !shared.with_engines(|engines| engines.contains(*partition)) {
            continue;
        }
        let store = SnapshotStore::of_partition(root, *partition, keep);
        let (sequence, path, bytes) = store
            .write(snapshot)
            .with_context(|| format!("writing a snapshot in {}", store.directory().display()))?;
        files.push((*partition, sequence, path));
        total += bytes;
    }
    Ok((files, total))
}
