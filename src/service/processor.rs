//! The processing loop's state: decode each input message, queue it on its partition number's
//! event-time merge, apply what is ready, and hand what it causes to the output sink. What a
//! snapshot begins with comes from here; the snapshots themselves are [`super::snapshots`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rdkafka::consumer::Consumer;

use super::dead_letters::DeadLetter;
use super::evictions::Evictions;
use super::fetcher::InputBatch;
use super::input_decoder::{Decoded, InputDecoder};
use super::input_merge::{InputMerges, PendingMessage};
use super::input_topics::InputTopics;
use super::merge_clock::MergeClock;
use super::output_sink::{DeliveriesSoFar, OutputSink};
use super::publisher::Publisher;
use super::restore::SnapshotRestorer;
use super::snapshots::{Counts, SnapshotStart};
use super::transaction_offsets::offsets_to_commit;
use super::Shared;
use crate::config::service::{KafkaConfig, ProcessingGuarantee};
use crate::engine::{EventTime, OutputEvent};
use crate::kafka::consumer::{
    committed_offsets, group_membership, partition_numbers, pause_and_resume, resume_from,
    InputConsumer, PartitionOwner, Positions, SilentUntil,
};
use crate::kafka::dead_letter::fit_dead_letter;
use crate::kafka::partition_offsets::{PartitionEnds, PartitionOffsets};
use crate::kafka::transaction::TransactionError;
use crate::snapshot::InputOffsets;
use crate::telemetry::{self, GaugeReadings};

/// Everything the processing loop owns; `S` is where its outputs go (the [`Publisher`] in the
/// service).
pub struct Processor<S: OutputSink = Publisher> {
    shared: Arc<Shared>,
    /// The input topics (and any other topic a message came from).
    topics: InputTopics,
    /// Fetched messages waiting for their turn in event time, per partition number.
    merges: InputMerges,
    /// The merges' clock.
    clock: MergeClock,
    /// Messages applied that did not decode, waiting to be published.
    dead_letters: Vec<DeadLetter>,
    /// Whether the last application stopped at [`MESSAGES_PER_APPLY`] with more ready.
    more_ready: bool,
    /// Where outputs and dead letters go.
    sink: S,
    positions: Positions,
    /// The input partitions' offset ranges, from librdkafka's statistics.
    partition_offsets: Arc<PartitionOffsets>,
    /// Where the input partitions end: an empty one not at its end is waited for.
    ends: Arc<dyn PartitionEnds>,
    /// Outputs made since they were last handed to the sink.
    outputs: Vec<OutputEvent>,
    counts: Counts,
    /// The totals at the last transaction commit (exactly-once only).
    committed_counts: Counts,
    /// Under exactly-once, the positions stay locked until what was applied is handed to the
    /// sink, so that a rebalance commits a transaction only at a point where the outputs and
    /// the offsets agree.
    exactly_once: bool,
    /// Input offsets below which messages are applied without publishing what they cause: a
    /// committed transaction published it already (set when a partition is taken on).
    silent_until: SilentUntil,
    /// The largest message decoded, and the most a dead letter may take
    /// (`kafka.max_message_bytes`).
    max_message_bytes: usize,
    /// Customers evicted under `state.max_customers`, for the metric and the log.
    evictions: Evictions,
    /// Decodes what a batch holds, if the fetcher has not (shared with the fetcher).
    decoder: Arc<InputDecoder>,
}

/// The most messages applied in one go: the processing thread looks at its timers, and HTTP
/// look-ups get the engines, between.
const MESSAGES_PER_APPLY: usize = 4096;

/// Outputs and dead letters in an open transaction (exactly-once) at which it is committed
/// before `processing.commit_interval` is up: a backlog then commits every few thousand
/// records, which keeps each commit's flush short and the producer's queue (100,000 messages
/// by default) far from full.
pub const LARGE_TRANSACTION_RECORDS: u64 = 10_000;

/// How often the merges look again at an empty input partition that has data on the broker.
const BEHIND_RECHECK_MILLIS: u64 = 20;

/// How far the input has been read: shared with the consumer's callbacks.
pub struct InputProgress {
    /// The next offset to read per partition (the rebalance callback resumes from them).
    pub positions: Positions,
    /// The partitions' offset ranges, from librdkafka's statistics.
    pub partition_offsets: Arc<PartitionOffsets>,
    /// Where the input partitions end, as fresh as the consumer knows (the consumer itself).
    pub ends: Arc<dyn PartitionEnds>,
    /// Offsets below which applied messages publish nothing (exactly-once recovery).
    pub silent_until: SilentUntil,
}

impl<S: OutputSink> Processor<S> {
    /// A processor of the input topics of `kafka`, handing its outputs to `sink`.
    pub fn new(
        shared: Arc<Shared>,
        kafka: &KafkaConfig,
        sink: S,
        progress: InputProgress,
        guarantee: ProcessingGuarantee,
    ) -> Processor<S> {
        let InputProgress {
            positions,
            partition_offsets,
            ends,
            silent_until,
        } = progress;
        Processor {
            shared,
            topics: InputTopics::new(&kafka.inputs),
            merges: InputMerges::new(kafka.inputs.len(), kafka.max_idle.millis().max(0) as u64),
            clock: MergeClock::new(),
            dead_letters: Vec::new(),
            more_ready: false,
            sink,
            positions,
            partition_offsets,
            ends,
            outputs: Vec::new(),
            counts: Counts::default(),
            committed_counts: Counts::default(),
            exactly_once: guarantee == ProcessingGuarantee::ExactlyOnce,
            silent_until,
            max_message_bytes: kafka.max_message_bytes,
            evictions: Evictions::default(),
            decoder: Arc::new(InputDecoder::new(&kafka.inputs, kafka.max_message_bytes)),
        }
    }

    /// The decoder of input messages, for the fetcher to decode batches before handing them over.
    pub fn decoder(&self) -> Arc<InputDecoder> {
        Arc::clone(&self.decoder)
    }

    /// Processes a batch of input messages: decodes them, queues them on their partition
    /// number's event-time merge, applies every message whose turn has come (dead letters for
    /// those that do not decode), records how far each input partition has been applied, and
    /// hands what they cause to the sink. A batch fetched under an older assignment is
    /// dropped: the new assignment resumes its partitions from the applied offsets, so its
    /// messages are read again.
    // The positions guard goes into `publish_applied`, which says when it is released.
    #[allow(clippy::await_holding_lock)]
    pub async fn handle_batch(&mut self, batch: InputBatch) -> anyhow::Result<()> {
        let started = Instant::now();
        let messages = batch.len() as u64;
        let now = self.merge_clock();
        // The positions lock first, as the rebalance callback takes it: the state and the
        // positions then change together, between assignments.
        let positions = Arc::clone(&self.positions);
        let mut positions = lock(&positions);
        {
            let generation = self.shared.assignment_generation();
            if batch.generation != generation {
                tracing::debug!(
                    messages = batch.len(),
                    "Dropped a batch fetched before the latest assignment; it is read again."
                );
                return Ok(());
            }
            self.follow_assignment(generation);
            for (message, content) in batch.into_decoded(&self.decoder) {
                let merges = &mut self.merges;
                let input = self
                    .topics
                    .index_of(&message.topic, || merges.add_input(now));
                let pending = PendingMessage {
                    offset: message.offset,
                    content,
                };
                self.merges.push((input, message.partition), pending, now);
            }
            self.apply_ready(&mut positions, now);
        }
        self.publish_applied(positions).await?;
        telemetry::record_processing(started.elapsed(), messages);
        Ok(())
    }

    /// Applies what the event-time merges held back once its wait is over, or what was left
    /// ready (called when [`Processor::release_at`] comes or [`Processor::has_ready`], and every
    /// second). Drops what they hold if a new assignment began meanwhile.
    // The positions guard goes into `publish_applied`, which says when it is released.
    #[allow(clippy::await_holding_lock)]
    pub async fn release_waiting(&mut self) -> anyhow::Result<()> {
        let now = self.merge_clock();
        let positions = Arc::clone(&self.positions);
        let mut positions = lock(&positions);
        if self.follow_assignment(self.shared.assignment_generation()) {
            return Ok(());
        }
        self.apply_ready(&mut positions, now);
        self.publish_applied(positions).await
    }

    /// Whether queued messages are ready to be applied now ([`Processor::release_waiting`]).
    pub fn has_ready(&self) -> bool {
        self.more_ready
    }

    /// Whether the open transaction holds 10,000 outputs and dead letters or more
    /// (`LARGE_TRANSACTION_RECORDS`): it is then committed at once, before
    /// `processing.commit_interval` is up.
    pub fn transaction_is_large(&self) -> bool {
        let (now, then) = (self.counts, self.committed_counts);
        let records =
            (now.outputs + now.dead_letters).saturating_sub(then.outputs + then.dead_letters);
        records >= LARGE_TRANSACTION_RECORDS
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
        let now = self.clock.peek();
        if self.merges.waits_on_behind(now) {
            // Its end may move with a fetch response that brings no message: look again soon.
            millis = millis.min(now + BEHIND_RECHECK_MILLIS);
        }
        Some(tokio::time::Instant::from_std(
            self.clock.instant_at(millis),
        ))
    }

    /// Pauses the input partitions whose merge queues are full and resumes those with room
    /// again, so that a topic consumed slower than it is fetched does not fill memory.
    pub fn control_flow(&mut self, consumer: &InputConsumer) {
        let changes = self.merges.flow_changes();
        if changes.is_empty() {
            return;
        }
        let named = |partitions: &[(usize, i32)]| -> Vec<(&str, i32)> {
            partitions
                .iter()
                .filter_map(|(input, partition)| {
                    let topic = self.topics.get(*input)?;
                    Some((topic.name.as_str(), *partition))
                })
                .collect()
        };
        pause_and_resume(consumer, &named(&changes.pause), &named(&changes.resume));
        tracing::debug!(
            paused = ?changes.pause,
            resumed = ?changes.resume,
            queued = self.merges.queued(),
            "Input flow control."
        );
    }

    /// The event-time merges' clock; after a stall their waits are counted afresh (see
    /// [`super::merge_clock`]).
    fn merge_clock(&mut self) -> u64 {
        let reading = self.clock.read();
        if let Some(stalled_for) = reading.stalled_for {
            tracing::info!(
                ?stalled_for,
                "The processing thread did not run for a while: the event-time merges wait \
                 afresh for what the consumer fetches now."
            );
            self.merges.restart_waits(reading.millis);
        }
        reading.millis
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
        let mut silent_until = lock_silent(&self.silent_until);
        let (evicted, max_customers) = self.shared.with_engines(|engines| {
            *more_ready = merges.drain(now, MESSAGES_PER_APPLY, |partition, merged| {
                let topic = &mut topics[merged.input];
                let offset = merged.item.offset;
                let silent = is_silent(&mut silent_until, &topic.name, partition, offset);
                match merged.item.content {
                    Decoded::Event(event) => {
                        let engine = engines.engine_mut(partition);
                        let made_before = outputs.len();
                        topic.counters.event(engine.ingest(&event, outputs));
                        if silent {
                            // A committed transaction published these already.
                            outputs.truncate(made_before);
                        }
                        if merged.late {
                            topic.counters.out_of_order();
                        }
                        counts.events += 1;
                    }
                    Decoded::Undecodable { .. } if silent => {}
                    Decoded::Undecodable {
                        key,
                        payload,
                        error,
                    } => dead_letters.push(DeadLetter {
                        input: merged.input,
                        partition,
                        offset,
                        key,
                        payload,
                        error,
                    }),
                }
            });
            (engines.evict_beyond_cap(), engines.model().max_customers)
        });
        self.evictions
            .record(evicted, max_customers, Instant::now());
        for ((input, partition), next) in merges.take_applied() {
            positions.insert((topics[input].name.clone(), partition), next);
        }
        self.counts.outputs += (self.outputs.len() - made_before) as u64;
    }

    /// Publishes the dead letters and outputs of what was applied; the positions stay locked
    /// meanwhile under exactly-once (see [`Processor::exactly_once`]).
    // The lock is held across the publisher's bounded queue on purpose: the publishing thread
    // never takes it, and only the rebalance callback waits for it.
    #[allow(clippy::await_holding_lock)]
    async fn publish_applied(&mut self, positions: PositionsGuard<'_>) -> anyhow::Result<()> {
        if self.exactly_once {
            self.hand_over_applied().await?;
            drop(positions);
            return Ok(());
        }
        drop(positions);
        self.hand_over_applied().await
    }

    /// Hands the dead letters and outputs of what was applied to the sink (none while every
    /// partition waits to be taken on again: see [`Processor::publish_outputs`]).
    async fn hand_over_applied(&mut self) -> anyhow::Result<()> {
        if self.shared.rebuild_pending() {
            self.dead_letters.clear();
        }
        for dead in std::mem::take(&mut self.dead_letters) {
            let topic = &mut self.topics[dead.input];
            topic.counters.dead_letter();
            telemetry::record_decode_error(dead.error.reason().as_str());
            let fitted = fit_dead_letter(
                &dead.payload,
                dead.payload_size(),
                dead.key.as_deref(),
                dead.headers(&topic.name),
                self.max_message_bytes,
            );
            self.sink
                .dead_letter(fitted.payload, dead.key.as_deref(), fitted.headers)
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
        self.lag_at(&lock(&self.positions))
    }

    /// The lag of the partition numbers held, at `positions` (locked by the caller).
    fn lag_at(&self, positions: &HashMap<(String, i32), i64>) -> InputOffsets {
        // Statistics can still list a partition just let go of: its lag is another
        // instance's to report (and, without a position, would read as its whole log).
        let held = self.shared.with_engines(|engines| engines.partitions());
        let mut lag = self.partition_offsets.lag(positions);
        lag.retain(|(_, partition), _| held.contains(partition));
        lag
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

    /// Hands the outputs made so far to the sink. While every partition waits to be taken on
    /// again (exactly-once, after the partitions were lost), they are dropped instead: the state
    /// that made them is ahead of the last commit, and the rebuild makes what counts again.
    async fn publish_outputs(&mut self) -> anyhow::Result<()> {
        if self.shared.rebuild_pending() {
            self.outputs.clear();
            return Ok(());
        }
        self.sink.outputs(&mut self.outputs).await
    }

    /// Hands every output made so far to the sink, and returns what a snapshot of the state as
    /// it is now begins with: the offsets it reflects and the outputs it must wait for.
    pub async fn snapshot_start(&mut self) -> anyhow::Result<SnapshotStart> {
        self.publish_outputs().await?;
        let deliveries = self.sink.deliveries().await?;
        let offsets = lock(&self.positions)
            .iter()
            .map(|(key, offset)| (key.clone(), *offset))
            .collect();
        Ok(SnapshotStart {
            offsets,
            deliveries,
            counts: self.counts,
        })
    }

    /// Refreshes the gauges ([`telemetry::update_gauges`]), given the newest snapshot's age.
    /// Called every second.
    pub fn update_gauges(&self, snapshot_age: Duration) {
        // Held while the gauges are set: a rebalance zeroes the lag of the partitions it takes
        // away under this lock, so it cannot be overwritten with an older reading.
        let positions = lock(&self.positions);
        let (customers, health, watermark) = self.shared.with_engines(|engines| {
            (
                engines.customer_count(),
                engines.health_distribution(),
                engines.clock(),
            )
        });
        telemetry::update_gauges(&GaugeReadings {
            customers,
            health,
            watermark,
            consumer_lag: self.lag_at(&positions),
            snapshot_age,
            ready: self.shared.is_ready(),
        });
    }
}

/// What [`Processor::commit_transaction`] came to.
pub enum CommitOutcome {
    /// Committed: what a snapshot of the state as committed begins with.
    Committed(SnapshotStart),
    /// Not attempted: this instance is not a member of the group's current generation, or its
    /// state waits to be taken on again at the next assignment.
    NotNow,
    /// The transaction did not commit, for this reason.
    Failed(TransactionError),
}

impl Processor<Publisher> {
    /// Whether anything was applied or made since the last transaction commit.
    pub fn has_uncommitted(&self) -> bool {
        self.counts != self.committed_counts
    }

    /// Commits the open transaction (exactly-once): everything handed to the publisher so far,
    /// with the input offsets applied (for a partition being re-applied silently, the offsets
    /// its committed outputs reach), under the group membership `consumer` has. Nothing is
    /// applied until the commit is answered. The outer error means the publisher stopped.
    ///
    /// No commit is made while this instance is not a member of the group's current
    /// generation, nor while every partition waits to be taken on again (its partitions were
    /// lost, or their commit at revocation failed: [`Shared::request_rebuild`]). The state held
    /// is then ahead of the last commit: committed under the next generation's membership, it
    /// would publish what another instance has published meanwhile, or move the group's offsets
    /// back.
    // The positions guard is held until the commit is queued: the rebalance callback, which
    // takes it, then sees the commit queued before its own, or this call sees what it decided.
    #[allow(clippy::await_holding_lock)]
    pub async fn commit_transaction(
        &mut self,
        consumer: &InputConsumer,
    ) -> anyhow::Result<CommitOutcome> {
        self.publish_outputs().await?;
        let positions = Arc::clone(&self.positions);
        let positions = lock(&positions);
        if self.shared.rebuild_pending() {
            return Ok(CommitOutcome::NotNow);
        }
        let Some(group) = group_membership(consumer) else {
            return Ok(CommitOutcome::NotNow);
        };
        let state_offsets: InputOffsets = positions
            .iter()
            .map(|(key, offset)| (key.clone(), *offset))
            .collect();
        let group_offsets = offsets_to_commit(&positions, &lock_silent(&self.silent_until));
        let pending = self.sink.queue_commit(group_offsets, group).await?;
        drop(positions);
        if let Err(error) = pending.answer().await? {
            return Ok(CommitOutcome::Failed(error));
        }
        self.committed_counts = self.counts;
        Ok(CommitOutcome::Committed(SnapshotStart {
            offsets: state_offsets,
            deliveries: DeliveriesSoFar::acknowledged_already(),
            counts: self.counts,
        }))
    }

    /// After a transaction was aborted: takes every partition held on again from its snapshot
    /// and the group's committed offsets (through `owner`, as a new assignment would), drops what
    /// was fetched, and has the consumer read each input partition again from there.
    pub fn rebuild(
        &mut self,
        consumer: &InputConsumer,
        owner: &SnapshotRestorer,
    ) -> anyhow::Result<()> {
        let assigned = consumer.assignment().unwrap_or_default();
        // Without them, outputs already committed would be published again: end instead (a
        // restart takes the partitions on again).
        let committed = committed_offsets(consumer, &assigned)
            .context("reading the group's committed offsets to rebuild from")?;
        let numbers = partition_numbers(&assigned);
        let positions = Arc::clone(&self.positions);
        let mut positions = lock(&positions);
        owner.rebuild_next();
        owner.take_partitions(&numbers, &mut positions, &committed);
        if assigned.count() > 0 {
            let resume = resume_from(&assigned, &positions);
            let failed = match consumer.seek_partitions(resume, Duration::from_secs(30)) {
                Ok(list) => list
                    .elements()
                    .iter()
                    .find_map(|element| element.error().err().map(|error| error.to_string())),
                Err(error) => Some(error.to_string()),
            };
            // Seen when the group is taking the partitions away at this moment (librdkafka's
            // erroneous-state error): the next assignment resumes from the rebuilt positions.
            if let Some(error) = failed {
                tracing::warn!(%error, "Could not read the input again from the rebuilt state.");
            }
        }
        self.follow_assignment(self.shared.assignment_generation());
        self.outputs.clear();
        self.dead_letters.clear();
        self.committed_counts = self.counts;
        tracing::warn!(
            partitions = ?numbers,
            "Rebuilt every partition held from its snapshot and the committed offsets."
        );
        Ok(())
    }
}

/// Whether the message at `offset` of `topic`'s `partition` is below the offset its committed
/// outputs reach (then it is applied without publishing); forgets the entry once passed.
fn is_silent(
    silent_until: &mut HashMap<(String, i32), i64>,
    topic: &str,
    partition: i32,
    offset: i64,
) -> bool {
    if silent_until.is_empty() {
        return false;
    }
    let key = (topic.to_string(), partition);
    let Some(until) = silent_until.get(&key).copied() else {
        return false;
    };
    if offset + 1 >= until {
        silent_until.remove(&key);
    }
    offset < until
}

/// The silent offsets, locked (a poisoned lock still holds the last good map).
fn lock_silent(
    silent_until: &SilentUntil,
) -> std::sync::MutexGuard<'_, HashMap<(String, i32), i64>> {
    silent_until
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The positions, locked.
type PositionsGuard<'a> = std::sync::MutexGuard<'a, HashMap<(String, i32), i64>>;

/// The positions, locked. A poisoned lock only means another thread panicked mid-update; the
/// map is still the best knowledge of positions.
fn lock(positions: &Positions) -> PositionsGuard<'_> {
    positions
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
