//! The processing thread: takes the fetcher's batches and, between them, runs the timers (snapshot
//! start and steps, gauges, wall clock, the end of an event-time merge's wait) and model
//! reloads, until shutdown; then takes the final snapshot. It runs on an OS thread of its own so
//! that it never shares a core's turn with the fetcher (a Tokio task woken by the fetcher would
//! mostly run on the fetcher's worker).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rdkafka::consumer::Consumer;
use tokio::sync::{mpsc, oneshot, watch};

use super::fetcher::InputBatch;
use super::processor::CommitOutcome;
use super::restore::SnapshotRestorer;
use super::snapshots::{SnapshotOutcome, Snapshots};
use super::{reload, Processor, Reloads};
use crate::config::model::ModelConfig;
use crate::kafka::consumer::InputConsumer;
use crate::kafka::offset_commit;
use crate::kafka::transaction::TransactionError;

/// How often a snapshot in progress encodes its next step. Between steps, batches are processed;
/// a step (2048 customers) pauses processing for about a millisecond, under 3 ms at a million
/// customers (`cargo bench --bench snapshot`, in BENCHMARKS.md).
const CAPTURE_STEP_EVERY: Duration = Duration::from_millis(4);

/// Everything the processing thread owns.
pub struct ProcessingLoop {
    /// The processing state.
    pub processor: Processor,
    /// The snapshots of the processor's state.
    pub snapshots: Snapshots,
    /// The consumer, for committing snapshots' offsets.
    pub consumer: Arc<InputConsumer>,
    /// The fetcher's batches.
    pub batches: mpsc::Receiver<InputBatch>,
    /// Turns true on shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// Model reload requests.
    pub reloads: Reloads,
    /// The model configuration in use (a reload is compared against it).
    pub running_model: ModelConfig,
    /// How often a snapshot begins.
    pub snapshot_interval: Duration,
    /// Whether time also follows the wall clock (`[clock] source = "wall"`).
    pub follow_wall_clock: bool,
    /// Under exactly-once, how often the output transaction commits (`None`: at-least-once).
    pub commit_interval: Option<Duration>,
    /// Takes partitions on from their snapshots: again, after an aborted transaction.
    pub restorer: Arc<SnapshotRestorer>,
}

impl ProcessingLoop {
    /// Runs the loop on a new OS thread (using the current Tokio runtime's timers and I/O);
    /// the receiver gets its result once the final snapshot is written.
    pub fn spawn(self) -> anyhow::Result<oneshot::Receiver<anyhow::Result<()>>> {
        let (done, finished) = oneshot::channel();
        let runtime = tokio::runtime::Handle::current();
        std::thread::Builder::new()
            .name("processor".into())
            .spawn(move || {
                let _ = done.send(runtime.block_on(self.run()));
            })
            .context("starting the processing thread")?;
        Ok(finished)
    }

    async fn run(mut self) -> anyhow::Result<()> {
        let processor = &mut self.processor;
        let snapshots = &mut self.snapshots;
        let consumer = &*self.consumer;
        let restorer = &*self.restorer;
        let mut snapshot_timer = tokio::time::interval(self.snapshot_interval);
        snapshot_timer.tick().await;
        let mut capture_timer = tokio::time::interval(CAPTURE_STEP_EVERY);
        capture_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut wall_clock_timer = tokio::time::interval(Duration::from_secs(1));
        wall_clock_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        wall_clock_timer.tick().await;
        let mut gauge_timer = tokio::time::interval(Duration::from_secs(1));
        gauge_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let exactly_once = self.commit_interval.is_some();
        let mut commit_timer =
            tokio::time::interval(self.commit_interval.unwrap_or(Duration::from_secs(3600)));
        commit_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Under exactly-once a snapshot holds the state as of a commit: one is due at the next.
        let mut snapshot_due = false;
        loop {
            if exactly_once && processor.transaction_is_large() {
                commit(processor, snapshots, consumer, restorer, &mut snapshot_due).await?;
            }
            let release_at = processor.release_at();
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => break,
                outcome = snapshots.written(), if snapshots.is_writing() => {
                    record_snapshot(snapshots, outcome?, consumer, exactly_once);
                }
                _ = gauge_timer.tick() => {
                    if let Some(failure) = consumer.context().assignment_failure() {
                        anyhow::bail!(failure);
                    }
                    processor.update_gauges(snapshots.age());
                    // Also notices a new assignment while every input partition is paused.
                    processor.release_waiting().await?;
                    processor.control_flow(consumer);
                }
                Some(()) = self.reloads.requests.recv() => {
                    reload_model(processor, &self.reloads, &mut self.running_model).await?;
                }
                _ = capture_timer.tick(), if snapshots.is_capturing() => snapshots.step(),
                _ = commit_timer.tick(), if exactly_once => {
                    commit(processor, snapshots, consumer, restorer, &mut snapshot_due).await?;
                }
                _ = snapshot_timer.tick() => {
                    if exactly_once {
                        snapshot_due = true;
                    } else {
                        begin_snapshot(processor, snapshots).await?;
                    }
                }
                _ = wall_clock_timer.tick(), if self.follow_wall_clock => {
                    processor.follow_wall_clock().await?;
                }
                _ = std::future::ready(()), if processor.has_ready() => {
                    processor.release_waiting().await?;
                    processor.control_flow(consumer);
                }
                _ = sleep_until_some(release_at), if release_at.is_some() => {
                    processor.release_waiting().await?;
                    processor.control_flow(consumer);
                }
                batch = self.batches.recv() => match batch {
                    Some(batch) => {
                        processor.handle_batch(batch).await?;
                        processor.control_flow(consumer);
                    }
                    // The fetcher only stops when it is aborted, after this loop has ended.
                    None => anyhow::bail!("the fetcher stopped"),
                },
            }
        }
        tracing::info!("Shutting down: flushing outputs and taking a final snapshot.");
        final_snapshot(processor, snapshots, consumer, exactly_once).await
    }
}

/// Commits the output transaction if anything happened since the last commit (exactly-once),
/// then begins a snapshot of the committed state if one is due. An aborted transaction (this
/// member's generation is over, say) rebuilds every partition held from its snapshot and the
/// committed offsets; a fenced or failed one ends the service.
async fn commit(
    processor: &mut Processor,
    snapshots: &mut Snapshots,
    consumer: &InputConsumer,
    restorer: &SnapshotRestorer,
    snapshot_due: &mut bool,
) -> anyhow::Result<()> {
    if !processor.has_uncommitted() && !*snapshot_due {
        return Ok(());
    }
    let committed = match processor.commit_transaction(consumer).await? {
        CommitOutcome::Committed(committed) => committed,
        // Not a member of the group's current generation (its session ended, say), or the
        // partitions were lost: the open transaction stays open until the revocation aborts
        // it, and the next assignment takes every partition on again.
        CommitOutcome::NotNow => return Ok(()),
        CommitOutcome::Failed(TransactionError::Aborted(reason)) => {
            tracing::warn!(%reason, "The output transaction was aborted; rebuilding the state.");
            processor.rebuild(consumer, restorer)?;
            return Ok(());
        }
        CommitOutcome::Failed(error) => {
            return Err(error).context("committing an output transaction")
        }
    };
    if *snapshot_due && !snapshots.in_progress() {
        snapshots.begin(committed);
        *snapshot_due = false;
    }
    Ok(())
}

/// Begins a snapshot of the processor's state as it is now, unless the previous one is still in
/// progress. It is then encoded in short steps between messages.
async fn begin_snapshot(
    processor: &mut Processor,
    snapshots: &mut Snapshots,
) -> anyhow::Result<()> {
    if snapshots.in_progress() {
        tracing::debug!("The previous snapshot is still in progress; skipping this one.");
        return Ok(());
    }
    snapshots.begin(processor.snapshot_start().await?);
    Ok(())
}

/// Records a written snapshot and, under at-least-once, commits its offsets to the group for
/// the partitions this member owns (progress reporting only: the snapshot is what a restart
/// resumes from). Under exactly-once the group's offsets are the transactions' alone: they say
/// what was published. Returns whether it was written.
fn record_snapshot(
    snapshots: &mut Snapshots,
    outcome: SnapshotOutcome,
    consumer: &InputConsumer,
    exactly_once: bool,
) -> bool {
    let Some(offsets) = snapshots.record(outcome) else {
        return false;
    };
    if !exactly_once {
        offset_commit::commit_owned(consumer, &offsets);
    }
    true
}

/// The snapshot at shutdown: finishes any snapshot in progress, then takes one of the final
/// state at once and waits until it is written.
async fn final_snapshot(
    processor: &mut Processor,
    snapshots: &mut Snapshots,
    consumer: &InputConsumer,
    exactly_once: bool,
) -> anyhow::Result<()> {
    // At most one snapshot is in progress: a capture, or (once encoded) its write.
    snapshots.finish_capture();
    if snapshots.is_writing() {
        let outcome = snapshots.written().await?;
        record_snapshot(snapshots, outcome, consumer, exactly_once);
    }
    let start = if exactly_once {
        match processor.commit_transaction(consumer).await? {
            CommitOutcome::Committed(committed) => committed,
            CommitOutcome::NotNow => {
                // Not in the group, or the partitions were lost: nothing can commit, and a
                // snapshot must not hold more than the last commit did. The next start
                // rebuilds from the newest snapshot.
                tracing::warn!(
                    "Not a member of the group, or its partitions lost, at shutdown: no final \
                     commit or snapshot."
                );
                return Ok(());
            }
            CommitOutcome::Failed(TransactionError::Aborted(reason)) => {
                // Its outputs will be made again: the next start rebuilds from the newest
                // snapshot and the committed offsets. A snapshot of this state must not be taken.
                tracing::warn!(%reason, "The last output transaction was aborted; no final snapshot.");
                return Ok(());
            }
            CommitOutcome::Failed(error) => {
                return Err(error).context("committing the last output transaction")
            }
        }
    } else {
        processor.snapshot_start().await?
    };
    snapshots.begin(start);
    snapshots.finish_capture();
    let outcome = snapshots.written().await?;
    if !record_snapshot(snapshots, outcome, consumer, exactly_once) {
        anyhow::bail!("the final snapshot could not be written");
    }
    Ok(())
}

/// Sleeps until `deadline`, or forever if there is none.
async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Reloads the model from the config file, re-scoring every customer; a rejected candidate is
/// logged and counted, and the running model stays.
async fn reload_model(
    processor: &mut Processor,
    reloads: &Reloads,
    running_model: &mut ModelConfig,
) -> anyhow::Result<()> {
    match reload::load_candidate(reloads.config_path.as_deref(), running_model) {
        Ok((model_config, model)) => {
            let version = model.version.to_string();
            let started = std::time::Instant::now();
            let outputs = processor.apply_model(model).await?;
            *running_model = model_config;
            ::metrics::counter!(crate::telemetry::MODEL_RELOADS, "result" => "applied")
                .increment(1);
            tracing::info!(
                model_version = %version,
                outputs,
                millis = started.elapsed().as_millis() as u64,
                "Model reloaded; every customer re-scored."
            );
        }
        Err(rejected) => {
            ::metrics::counter!(crate::telemetry::MODEL_RELOADS, "result" => "rejected")
                .increment(1);
            tracing::error!(reason = %rejected, "Model reload rejected; the running model stays.");
        }
    }
    Ok(())
}
