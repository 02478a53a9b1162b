//! The service's snapshots from start to finish: one begins with the state and input offsets of
//! the moment (after its outputs were handed to the publisher), is encoded in short steps between
//! messages, waits in the background until every output made before it is acknowledged, and is
//! then written as one file per partition held. Only then does it count: a restart resumes from
//! it ([`super::restore`]), and its offsets are committed to the group for progress reporting.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::task::JoinHandle;

use super::output_sink::DeliveriesSoFar;
use super::Shared;
use crate::engine::partitioned::PartitionedCapture;
use crate::snapshot::{InputOffsets, Snapshot, SnapshotStore};
use crate::telemetry;

/// Customers encoded per step of a snapshot: about a millisecond of work.
const CAPTURE_STEP_CUSTOMERS: usize = 2048;

/// Running totals of the processing loop, for the snapshot log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Input events applied.
    pub events: u64,
    /// Input messages dead-lettered.
    pub dead_letters: u64,
    /// Output events made.
    pub outputs: u64,
}

/// What a snapshot's capture begins with, besides the engines' state.
pub struct SnapshotStart {
    /// The input offsets the state reflects (the next offset to apply per partition).
    pub offsets: InputOffsets,
    /// The outputs made before it, all acknowledged before the snapshot counts.
    pub deliveries: DeliveriesSoFar,
    /// The processing loop's totals.
    pub counts: Counts,
}

/// A snapshot being encoded.
struct Capture {
    start: SnapshotStart,
    customers: usize,
    engines: PartitionedCapture,
    started: Instant,
    longest_step: Duration,
}

/// Figures about one snapshot, for its log line.
#[derive(Debug)]
struct SnapshotSummary {
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
    files: Vec<PartitionFile>,
    bytes: u64,
    offsets: InputOffsets,
    summary: SnapshotSummary,
}

/// One partition's snapshot file: partition number, sequence, path.
type PartitionFile = (i32, u64, PathBuf);

/// The snapshots of one service instance: at most one in progress, encoded or being written.
pub struct Snapshots {
    shared: Arc<Shared>,
    /// The configured `snapshot.dir`: each partition's snapshots go to `partition-<p>` in it.
    root: PathBuf,
    /// Snapshots kept per partition.
    keep: usize,
    cluster_id: String,
    capture: Option<Capture>,
    writing: Option<JoinHandle<anyhow::Result<SnapshotOutcome>>>,
    /// When the newest snapshot was written (the start, before the first).
    last_written: Instant,
}

impl Snapshots {
    /// Snapshots of the engines in `shared`, kept `keep` per partition under `root`.
    pub fn new(shared: Arc<Shared>, root: &str, keep: usize, cluster_id: String) -> Snapshots {
        Snapshots {
            shared,
            root: PathBuf::from(root),
            keep,
            cluster_id,
            capture: None,
            writing: None,
            last_written: Instant::now(),
        }
    }

    /// Whether one is in progress: being encoded, or waiting for acknowledgements and written.
    pub fn in_progress(&self) -> bool {
        self.capture.is_some() || self.writing.is_some()
    }

    /// Whether one is being encoded.
    pub fn is_capturing(&self) -> bool {
        self.capture.is_some()
    }

    /// Whether a finished one is waiting for its outputs' acknowledgements or being written.
    pub fn is_writing(&self) -> bool {
        self.writing.is_some()
    }

    /// How long ago the newest snapshot was written (since the start, before the first).
    pub fn age(&self) -> Duration {
        self.last_written.elapsed()
    }

    /// Begins a snapshot of the engines as they are now. Call with the state matching `start`'s
    /// offsets, and only when none is [in progress](Snapshots::in_progress).
    pub fn begin(&mut self, start: SnapshotStart) {
        let (customers, engines) = self
            .shared
            .with_engines(|engines| (engines.customer_count(), engines.begin_snapshot()));
        self.capture = Some(Capture {
            start,
            customers,
            engines,
            started: Instant::now(),
            longest_step: Duration::ZERO,
        });
    }

    /// Encodes the next few thousand customers of the snapshot being encoded (about a
    /// millisecond); once all are, hands it to a background task that waits for its outputs'
    /// acknowledgements and writes it.
    pub fn step(&mut self) {
        self.step_of(CAPTURE_STEP_CUSTOMERS);
    }

    /// Encodes the rest of the snapshot being encoded at once (at shutdown).
    pub fn finish_capture(&mut self) {
        self.step_of(usize::MAX);
    }

    fn step_of(&mut self, customers: usize) {
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
        if let Some(capture) = self.capture.take() {
            self.writing = Some(self.spawn_write(capture));
        }
    }

    /// Starts the background task that waits for the outputs and writes the files.
    fn spawn_write(&self, capture: Capture) -> JoinHandle<anyhow::Result<SnapshotOutcome>> {
        let Capture {
            start,
            customers,
            engines,
            started,
            longest_step,
        } = capture;
        let snapshots = partition_snapshots(engines, &start.offsets, &self.cluster_id);
        let summary = SnapshotSummary {
            customers,
            counts: start.counts,
            encode: started.elapsed(),
            longest_step,
            started,
        };
        let (root, keep) = (self.root.clone(), self.keep);
        let shared = Arc::clone(&self.shared);
        let (offsets, deliveries) = (start.offsets, start.deliveries);
        tokio::spawn(async move {
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
        })
    }

    /// Waits for the snapshot being written (forever if there is none).
    pub async fn written(&mut self) -> anyhow::Result<SnapshotOutcome> {
        let Some(writing) = self.writing.as_mut() else {
            return std::future::pending().await;
        };
        let result = writing.await;
        self.writing = None;
        result.context("the snapshot task stopped")?
    }

    /// Logs a written snapshot and records its metrics, returning the offsets it holds; a failed
    /// one is logged and counted, and gives none.
    pub fn record(&mut self, outcome: SnapshotOutcome) -> Option<InputOffsets> {
        let written = match outcome {
            SnapshotOutcome::Written(written) => written,
            SnapshotOutcome::Failed(error) => {
                tracing::error!(
                    error = format!("{error:#}"),
                    "A snapshot could not be written; the next one will try again."
                );
                ::metrics::counter!(telemetry::SNAPSHOT_FAILURES).increment(1);
                return None;
            }
        };
        let summary = &written.summary;
        self.last_written = Instant::now();
        ::metrics::histogram!(telemetry::SNAPSHOT_DURATION)
            .record(summary.started.elapsed().as_secs_f64());
        ::metrics::gauge!(telemetry::SNAPSHOT_SIZE).set(written.bytes as f64);
        let files: Vec<String> = written
            .files
            .iter()
            .map(|(partition, sequence, _)| format!("partition-{partition}/{sequence}"))
            .collect();
        tracing::info!(
            directory = %self.root.display(),
            files = ?files,
            bytes = written.bytes,
            customers = summary.customers,
            events = summary.counts.events,
            dead_letters = summary.counts.dead_letters,
            outputs = summary.counts.outputs,
            encode_millis = summary.encode.as_millis() as u64,
            longest_step_micros = summary.longest_step.as_micros() as u64,
            total_millis = summary.started.elapsed().as_millis() as u64,
            "Snapshot written."
        );
        Some(written.offsets)
    }
}

/// Each partition's snapshot: its encoded engine with the offsets of its input partitions.
fn partition_snapshots(
    engines: PartitionedCapture,
    offsets: &InputOffsets,
    cluster_id: &str,
) -> Vec<(i32, Snapshot)> {
    engines
        .into_encoded()
        .into_iter()
        .map(|(partition, engine_state)| {
            let offsets = offsets
                .iter()
                .filter(|((_, of), _)| *of == partition)
                .map(|(key, offset)| (key.clone(), *offset))
                .collect();
            let snapshot = Snapshot {
                cluster_id: cluster_id.to_string(),
                offsets,
                engine_state,
            };
            (partition, snapshot)
        })
        .collect()
}

/// Writes each partition's snapshot into `root/partition-<p>`, skipping partitions this instance
/// no longer holds (their new holder snapshots them). Returns each file written and the bytes.
fn write_partitions(
    root: &Path,
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

#[cfg(test)]
mod tests;
