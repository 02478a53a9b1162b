//! Taking on partitions: when the group assigns this instance partition `p`, its state comes
//! from the newest usable snapshot in `snapshot.dir/partition-<p>` (written by whichever instance
//! held it last, when the folder is shared), together with the offsets it reflects; partitions
//! no longer assigned are let go of.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use rdkafka::consumer::ConsumerGroupMetadata;

use super::publisher::Committer;
use super::transaction_offsets::offsets_to_commit;
use super::Shared;
use crate::engine::{Engine, Model};
use crate::kafka::consumer::{PartitionOwner, SilentUntil};
use crate::kafka::input_head::InputHead;
use crate::snapshot::{InputOffsets, SnapshotStore};
use crate::telemetry;

/// Restores assigned partitions from their snapshots.
pub struct SnapshotRestorer {
    shared: Arc<Shared>,
    /// The configured `snapshot.dir`.
    root: PathBuf,
    keep: usize,
    /// The Kafka cluster's id, known once the broker has answered: a snapshot taken against
    /// another cluster is not used (its offsets mean nothing here).
    cluster_id: OnceLock<String>,
    /// Where a partition taken on learns up to which offsets its outputs are committed already.
    silent_until: SilentUntil,
    /// Under exactly-once, commits the open transaction when partitions are revoked.
    committer: OnceLock<Committer>,
    input_head: OnceLock<InputHead>,
}

impl SnapshotRestorer {
    /// A restorer putting engines into `shared`, reading `root/partition-<p>`, and marking in
    /// `silent_until` the input a committed transaction published already.
    pub fn new(
        shared: Arc<Shared>,
        root: impl Into<PathBuf>,
        keep: usize,
        silent_until: SilentUntil,
    ) -> SnapshotRestorer {
        let root = root.into();
        // Snapshots from before state was kept per partition sit in the folder itself.
        if SnapshotStore::new(&root, keep)
            .list()
            .is_ok_and(|found| !found.is_empty())
        {
            tracing::warn!(
                directory = %root.display(),
                "Snapshots from a version that kept one state for all partitions are not used: \
                 each partition's state is read from its earliest retained offset once."
            );
        }
        SnapshotRestorer {
            shared,
            root,
            keep,
            cluster_id: OnceLock::new(),
            silent_until,
            committer: OnceLock::new(),
            input_head: OnceLock::new(),
        }
    }

    /// Commits the output transaction through `committer` whenever partitions are revoked
    /// (exactly-once).
    pub fn set_committer(&self, committer: Committer) {
        let _ = self.committer.set(committer);
    }

    /// Reads the head of the input with `input_head` whenever partitions are taken on (and now),
    /// so that the engines know how far behind it their churn alerts are.
    pub fn set_input_head(&self, input_head: InputHead) {
        self.note_input_head(&input_head);
        let _ = self.input_head.set(input_head);
    }

    fn note_input_head(&self, input_head: &InputHead) {
        if let Some(head) = input_head.read() {
            tracing::info!(%head, "Read the head of the input (the latest event time in it).");
            self.shared.with_engines(|engines| engines.note_head(head));
        }
    }

    /// Has the next [`PartitionOwner::take_partitions`] take every partition on afresh: the state
    /// held is ahead of the last commit ([`Shared::request_rebuild`]).
    pub fn rebuild_next(&self) {
        self.shared.request_rebuild();
    }

    /// Records the id of the cluster the service talks to (before any assignment).
    pub fn set_cluster_id(&self, cluster_id: &str) {
        let _ = self.cluster_id.set(cluster_id.to_string());
    }

    /// Partition `partition`'s newest usable snapshot: its engine and offsets.
    fn load(&self, partition: i32, model: &Arc<Model>) -> Option<(Engine, InputOffsets)> {
        let store = SnapshotStore::of_partition(&self.root, partition, self.keep);
        let cluster_id = self.cluster_id.get().map_or("", String::as_str);
        let loaded = store.load_latest(|snapshot| {
            if snapshot.cluster_id != cluster_id {
                return Err(format!(
                    "taken against Kafka cluster {}, not this one ({cluster_id})",
                    snapshot.cluster_id
                ));
            }
            Engine::decode_state(Arc::clone(model), &snapshot.engine_state)
                .map(|engine| (engine, snapshot.offsets))
                .map_err(|error| error.to_string())
        });
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                tracing::error!(
                    partition,
                    directory = %store.directory().display(),
                    %error,
                    "Could not read the partition's snapshots; building its state from the earliest retained input."
                );
                return None;
            }
        };
        let Some(loaded) = loaded else {
            tracing::info!(
                partition,
                "No usable snapshot of the partition: building its state from the earliest retained input."
            );
            return None;
        };
        for (path, reason) in &loaded.skipped {
            tracing::warn!(partition, path = %path.display(), %reason, "Skipped an unusable snapshot.");
        }
        let (engine, offsets) = loaded.value;
        tracing::info!(
            partition,
            path = %loaded.path.display(),
            customers = engine.customer_count(),
            "Restored the partition's state from its snapshot."
        );
        Some((engine, offsets))
    }
}

impl PartitionOwner for SnapshotRestorer {
    fn take_partitions(
        &self,
        partitions: &BTreeSet<i32>,
        positions: &mut HashMap<(String, i32), i64>,
        committed: &HashMap<(String, i32), i64>,
    ) {
        self.shared.partitions_taken.store(false, Ordering::Relaxed);
        if let Some(input_head) = self.input_head.get() {
            self.note_input_head(input_head);
        }
        let mut silent_until = self
            .silent_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Under the positions lock, as the processing thread checks it: batches fetched before
        // this assignment are dropped, and read again from the offsets it resumes at.
        self.shared.next_assignment_generation();
        if self.shared.take_rebuild_request() {
            // What is held is ahead of the last commit: let go of it all, and take it on again.
            let held = self.shared.with_engines(|engines| engines.partitions());
            for partition in held {
                self.shared
                    .with_engines(|engines| engines.remove(partition));
            }
            for (topic, partition) in positions.keys() {
                if !partitions.contains(partition) {
                    // Another instance reports this partition's lag now.
                    telemetry::clear_consumer_lag(topic, *partition);
                }
            }
            positions.clear();
            silent_until.clear();
        }
        let (held, model) = self
            .shared
            .with_engines(|engines| (engines.partitions(), Arc::clone(engines.model())));
        for partition in held.iter().filter(|held| !partitions.contains(held)) {
            self.shared
                .with_engines(|engines| engines.remove(*partition));
            silent_until.retain(|(_, of), _| of != partition);
            positions.retain(|(topic, of), _| {
                if of == partition {
                    // Another instance reports this partition's lag now.
                    telemetry::clear_consumer_lag(topic, *of);
                }
                of != partition
            });
            tracing::info!(
                partition,
                "Let go of the partition's state: another instance holds it now."
            );
        }
        for partition in partitions.iter().filter(|new| !held.contains(new)) {
            // Whatever this instance once knew of the partition is older than its snapshots.
            positions.retain(|(_, of), _| of != partition);
            let engine = match self.load(*partition, &model) {
                Some((engine, offsets)) => {
                    positions.extend(offsets.into_iter().filter(|((_, of), _)| of == partition));
                    engine
                }
                None => Engine::new(Arc::clone(&model)),
            };
            self.shared
                .with_engines(|engines| engines.insert(*partition, engine));
            // Under exactly-once: what lies between the snapshot and the last committed
            // transaction is applied again without publishing (the engine is deterministic, so
            // this rebuilds exactly the state whose outputs were committed).
            silent_until.retain(|(_, of), _| of != partition);
            for (key, until) in committed.iter().filter(|((_, of), _)| of == partition) {
                let from = positions.get(key).copied();
                if from.is_none_or(|from| from < *until) {
                    tracing::info!(
                        topic = %key.0,
                        partition,
                        from = from.unwrap_or(0),
                        until,
                        "Applying the input a committed transaction covers without publishing."
                    );
                    silent_until.insert(key.clone(), *until);
                }
            }
        }
        self.shared.partitions_taken.store(true, Ordering::Relaxed);
    }

    fn before_revoke(
        &self,
        positions: &HashMap<(String, i32), i64>,
        group: Option<ConsumerGroupMetadata>,
    ) {
        // Nothing fetched before the revocation is applied after it: the processing thread,
        // which waits on the positions locked here, drops what its merges hold. Else it would
        // apply messages of partitions being handed on after their offsets were committed
        // here, and publish (and later commit) outputs that the next owner publishes too. The
        // next assignment reads every partition kept again from its position.
        self.shared.next_assignment_generation();
        let Some(committer) = self.committer.get() else {
            return;
        };
        let outcome = match group {
            Some(_) if self.shared.rebuild_pending() => {
                // Partitions were lost, or their last commit failed, since the last
                // assignment: what is held is ahead of the last commit, and is not committed.
                committer.abort_blocking()
            }
            Some(group) => {
                let offsets = offsets_to_commit(
                    positions,
                    &self
                        .silent_until
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner()),
                );
                committer.commit_blocking(offsets, group)
            }
            None => {
                tracing::warn!(
                    "Input partitions were lost (this member's session in the group ended): \
                     the open output transaction is aborted, and every partition is taken on \
                     again from its snapshot."
                );
                self.rebuild_next();
                committer.abort_blocking()
            }
        };
        if let Err(error) = outcome {
            tracing::warn!(
                %error,
                "The output transaction did not commit as partitions were revoked; every \
                 partition is taken on again from its snapshot."
            );
            self.rebuild_next();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::config::{Config, DEFAULT_CONFIG_TOML};

    #[test]
    fn a_partition_let_go_of_is_dropped_with_its_positions_and_reports_lag_zero() {
        let metrics = telemetry::handle();
        let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "default").unwrap();
        let model = Arc::new(Model::compile(&config.model).unwrap());
        let shared = Arc::new(Shared::new(
            Arc::clone(&model),
            Arc::new(AtomicBool::new(true)),
            String::new(),
        ));
        let folder = tempfile::tempdir().unwrap();
        let silent_until = SilentUntil::default();
        let restorer = SnapshotRestorer::new(
            Arc::clone(&shared),
            folder.path(),
            3,
            Arc::clone(&silent_until),
        );
        let mut positions = HashMap::new();

        let committed = HashMap::from([(("customer.usage".to_string(), 1), 7)]);
        restorer.take_partitions(&BTreeSet::from([0, 1]), &mut positions, &committed);
        // No snapshot of partition 1: its first 7 messages were published by a committed
        // transaction (exactly-once), so they are applied again without publishing.
        assert_eq!(
            *silent_until.lock().unwrap(),
            HashMap::from([(("customer.usage".to_string(), 1), 7)])
        );
        assert_eq!(shared.with_engines(|engines| engines.partitions()), [0, 1]);
        assert_eq!(shared.assignment_generation(), 1);
        assert!(shared.is_ready());
        // Partition 1 has been read up to offset 42, with 17 messages still behind.
        positions.insert(("let-go.usage".to_string(), 1), 42);
        positions.insert(("let-go.usage".to_string(), 0), 7);
        telemetry::set_consumer_lag("let-go.usage", 1, 17);

        restorer.take_partitions(&BTreeSet::from([0]), &mut positions, &HashMap::new());
        assert!(
            silent_until.lock().unwrap().is_empty(),
            "let go of with its partition"
        );
        assert_eq!(shared.with_engines(|engines| engines.partitions()), [0]);
        assert_eq!(shared.assignment_generation(), 2);
        assert_eq!(
            positions,
            HashMap::from([(("let-go.usage".to_string(), 0), 7)])
        );
        let text = metrics.render();
        let lag = text
            .lines()
            .find(|line| {
                line.starts_with(telemetry::CONSUMER_LAG)
                    && line.contains("let-go.usage")
                    && line.contains("partition=\"1\"")
            })
            .and_then(|line| line.rsplit_once(' '))
            .map(|(_, value)| value.to_string());
        assert_eq!(lag.as_deref(), Some("0"), "{text}");
    }
}
