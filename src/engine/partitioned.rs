//! One engine per input partition number: the customers keyed to partition `p` of the input
//! topics live in engine `p`, with their own clock and their own snapshot, so that when the
//! consumer group moves partition `p` to another instance, its customers' state can follow it.
//!
//! This relies on the input topics being co-partitioned, as Kafka Streams requires of joined
//! topics: the same number of partitions, and every producer keying by customer id with the same
//! partitioner, so that a customer's events all arrive on the same partition number.
//!
//! Each engine's clock is the latest event time applied to it: the service applies a partition
//! number's input topics merged in event time (see [`super::merge`]), as `replay` does its files.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::state_bytes::StateError;
use super::{CustomerView, Engine, EventTime, Model, OutputEvent};

/// The engines of the partitions an instance holds, by partition number.
pub struct PartitionedEngines {
    model: Arc<Model>,
    engines: BTreeMap<i32, Engine>,
    /// The head of the input (see [`Engine::note_head`]), given to every engine held or taken on.
    head: EventTime,
}

/// A snapshot of every partition held, encoded in steps between messages (each partition's
/// engine copies on write, see [`Engine::begin_snapshot`]).
#[derive(Debug, Default)]
pub struct PartitionedCapture {
    /// The partitions still being encoded, in order.
    remaining: VecDeque<i32>,
    /// The partitions encoded, with their state.
    encoded: Vec<(i32, Vec<u8>)>,
}

impl PartitionedCapture {
    /// Whether every partition is encoded (or was let go of).
    pub fn is_finished(&self) -> bool {
        self.remaining.is_empty()
    }

    /// Each partition's encoded state, by partition number.
    pub fn into_encoded(self) -> Vec<(i32, Vec<u8>)> {
        self.encoded
    }
}

impl PartitionedEngines {
    /// No partitions yet; engines created later run `model`.
    pub fn new(model: Arc<Model>) -> PartitionedEngines {
        PartitionedEngines {
            model,
            engines: BTreeMap::new(),
            head: EventTime::EPOCH,
        }
    }

    /// Notes the head of the input (the latest event time in it) for every partition's engine,
    /// those held now and those taken on later.
    pub fn note_head(&mut self, head: EventTime) {
        self.head = self.head.max(head);
        for engine in self.engines.values_mut() {
            engine.note_head(head);
        }
    }

    /// The model every engine runs.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Partition `partition`'s engine, created empty if this instance holds no state for it.
    pub fn engine_mut(&mut self, partition: i32) -> &mut Engine {
        let (model, head) = (&self.model, self.head);
        self.engines.entry(partition).or_insert_with(|| {
            let mut engine = Engine::new(Arc::clone(model));
            engine.note_head(head);
            engine
        })
    }

    /// Partition `partition`'s engine, if this instance holds it.
    pub fn get_mut(&mut self, partition: i32) -> Option<&mut Engine> {
        self.engines.get_mut(&partition)
    }

    /// Whether this instance holds partition `partition`'s state.
    pub fn contains(&self, partition: i32) -> bool {
        self.engines.contains_key(&partition)
    }

    /// Takes on `engine` as partition `partition`'s state (restored from a snapshot, say).
    pub fn insert(&mut self, partition: i32, mut engine: Engine) {
        engine.note_head(self.head);
        self.engines.insert(partition, engine);
    }

    /// Lets go of partition `partition`'s state, returning it.
    pub fn remove(&mut self, partition: i32) -> Option<Engine> {
        self.engines.remove(&partition)
    }

    /// The partition numbers held, in order.
    pub fn partitions(&self) -> Vec<i32> {
        self.engines.keys().copied().collect()
    }

    /// Customers in memory, over all partitions.
    pub fn customer_count(&self) -> usize {
        self.engines.values().map(Engine::customer_count).sum()
    }

    /// Evicts the longest-inactive customers, over all partitions held, until at most the
    /// model's `state.max_customers` remain (the cap is per instance). Returns how many were
    /// evicted; 0 without a cap.
    pub fn evict_beyond_cap(&mut self) -> u64 {
        let Some(limit) = self.model.max_customers else {
            return 0;
        };
        let mut count = self.customer_count();
        let mut evicted = 0;
        while count > limit {
            let oldest = self
                .engines
                .iter_mut()
                .filter_map(|(partition, engine)| Some((engine.least_recent()?, *partition)))
                .min();
            let Some((_, partition)) = oldest else {
                break;
            };
            let engine = self.engines.get_mut(&partition);
            if !engine.is_some_and(Engine::evict_least_recent) {
                break;
            }
            count -= 1;
            evicted += 1;
        }
        evicted
    }

    /// Customers at each health level (by name, best first), over all partitions.
    pub fn health_distribution(&self) -> Vec<(String, u64)> {
        let mut totals: Vec<(String, u64)> = Vec::new();
        for engine in self.engines.values() {
            for (at, (name, count)) in engine.health_distribution().into_iter().enumerate() {
                match totals.get_mut(at) {
                    Some(total) => total.1 += count,
                    None => totals.push((name.to_string(), count)),
                }
            }
        }
        if totals.is_empty() {
            return Engine::new(Arc::clone(&self.model))
                .health_distribution()
                .into_iter()
                .map(|(name, count)| (name.to_string(), count))
                .collect();
        }
        totals
    }

    /// The watermark furthest behind over the partitions that have seen an event (the epoch if
    /// none has).
    pub fn clock(&self) -> EventTime {
        self.engines
            .values()
            .map(Engine::clock)
            .filter(|clock| *clock > EventTime::EPOCH)
            .min()
            .unwrap_or(EventTime::EPOCH)
    }

    /// A customer's present state, from whichever partition holds it.
    pub fn view(
        &self,
        customer_id: &str,
        at: Option<EventTime>,
        explain: bool,
    ) -> Option<CustomerView> {
        self.engines
            .values()
            .find_map(|engine| engine.view(customer_id, at, explain))
    }

    /// Begins a snapshot of every partition held, as it is now; encode it with
    /// [`PartitionedEngines::snapshot_step`].
    pub fn begin_snapshot(&mut self) -> PartitionedCapture {
        let mut capture = PartitionedCapture::default();
        for (partition, engine) in &mut self.engines {
            engine.begin_snapshot();
            capture.remaining.push_back(*partition);
        }
        capture
    }

    /// Encodes up to `customers` customers of the next partition of `capture` (all of them with
    /// `usize::MAX`). A partition let go of since the snapshot began is left out: its new holder
    /// snapshots it. Returns whether the capture is finished.
    pub fn snapshot_step(&mut self, capture: &mut PartitionedCapture, customers: usize) -> bool {
        while let Some(partition) = capture.remaining.front().copied() {
            // Not capturing: let go of, and maybe taken on again, since the snapshot began.
            let Some(engine) = self
                .engines
                .get_mut(&partition)
                .filter(|engine| engine.is_snapshotting())
            else {
                capture.remaining.pop_front();
                continue;
            };
            match engine.snapshot_step(customers) {
                Some(state) => {
                    capture.remaining.pop_front();
                    capture.encoded.push((partition, state));
                    if customers != usize::MAX {
                        break;
                    }
                }
                None => break,
            }
        }
        capture.is_finished()
    }

    /// Moves every partition's watermark to `now` (never backwards), appending what silent
    /// customers' checks cause.
    pub fn advance_all_to(&mut self, now: EventTime, out: &mut Vec<OutputEvent>) {
        for engine in self.engines.values_mut() {
            engine.advance_to(now, out);
        }
    }

    /// Switches every partition to `model`, re-scoring every customer (see
    /// [`Engine::replace_model`]). Nothing changes if the model lays state out differently.
    pub fn replace_model(
        &mut self,
        model: Arc<Model>,
        out: &mut Vec<OutputEvent>,
    ) -> Result<(), StateError> {
        // Refused for one engine means refused for all (the layout is the model's), so the
        // first refusal comes before any engine has changed.
        for engine in self.engines.values_mut() {
            engine.replace_model(Arc::clone(&model), out)?;
        }
        self.model = model;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DEFAULT_CONFIG_TOML};
    use crate::engine::decode::decode_json;

    fn model() -> Arc<Model> {
        let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "test").unwrap();
        Arc::new(Model::compile(&config.model).unwrap())
    }

    fn ids(engines: &PartitionedEngines) -> Vec<String> {
        let mut ids: Vec<String> = engines
            .engines
            .values()
            .flat_map(|engine| engine.customer_ids().map(String::from))
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn the_cap_evicts_the_longest_inactive_customers_over_all_partitions() {
        let mut engines = PartitionedEngines::new(capped_model(3));
        login(&mut engines, 0, "a", 1);
        login(&mut engines, 0, "b", 5);
        login(&mut engines, 1, "c", 3);
        assert_eq!(engines.evict_beyond_cap(), 0);
        login(&mut engines, 1, "d", 4);
        // "a" (day 1) is the longest inactive of the four, on either partition.
        assert_eq!(engines.evict_beyond_cap(), 1);
        assert_eq!(ids(&engines), ["b", "c", "d"]);
        // "c" logs in again: now "d" (day 4) is the longest inactive, on the same partition.
        login(&mut engines, 1, "c", 6);
        login(&mut engines, 0, "a", 7);
        assert_eq!(engines.evict_beyond_cap(), 1);
        assert_eq!(ids(&engines), ["a", "b", "c"]);
        let evicted: u64 = engines.engines.values().map(Engine::evicted_count).sum();
        assert_eq!(evicted, 2);
        // Without a cap nothing is evicted; a cap set by a model reload applies to the
        // customers already held.
        let mut uncapped = PartitionedEngines::new(model());
        for (index, customer) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            login(&mut uncapped, index as i32 % 2, customer, index as i64);
        }
        assert_eq!(uncapped.evict_beyond_cap(), 0);
        uncapped
            .replace_model(capped_model(3), &mut Vec::new())
            .unwrap();
        assert_eq!(uncapped.evict_beyond_cap(), 2);
        assert_eq!(ids(&uncapped), ["c", "d", "e"]);
    }

    fn capped_model(max_customers: usize) -> Arc<Model> {
        let text = DEFAULT_CONFIG_TOML.replace(
            "# max_customers = 1000000",
            &format!("max_customers = {max_customers}"),
        );
        let config = Config::from_toml_str(&text, "test").unwrap();
        Arc::new(Model::compile(&config.model).unwrap())
    }

    fn login(engines: &mut PartitionedEngines, partition: i32, customer: &str, day: i64) {
        let line = format!(
            r#"{{"customer_id": "{customer}", "type": "login", "timestamp": {}}}"#,
            day * 86_400_000
        );
        let event = decode_json(line.as_bytes()).unwrap();
        let engine = engines.engine_mut(partition);
        let mut outputs = Vec::new();
        engine.ingest(&event, &mut outputs);
    }

    #[test]
    fn each_partition_keeps_its_own_customers_and_clock() {
        let mut engines = PartitionedEngines::new(model());
        login(&mut engines, 0, "acme", 20_000);
        login(&mut engines, 2, "globex", 20_003);
        login(&mut engines, 2, "initech", 20_004);

        assert_eq!(engines.partitions(), vec![0, 2]);
        assert_eq!(engines.customer_count(), 3);
        assert_eq!(engines.get_mut(0).unwrap().customer_count(), 1);
        assert!(engines.view("globex", None, false).is_some());
        assert!(engines.view("nobody", None, false).is_none());
        // The laggiest partition's watermark.
        assert_eq!(engines.clock().millis(), 20_000 * 86_400_000);
        let green: u64 = engines
            .health_distribution()
            .iter()
            .map(|(_, count)| count)
            .sum();
        assert_eq!(green, 3);

        let moved = engines.remove(2).unwrap();
        assert_eq!(moved.customer_count(), 2);
        assert!(!engines.contains(2));
        assert!(engines.view("globex", None, false).is_none());
        engines.insert(5, moved);
        assert!(engines.view("globex", None, false).is_some());
    }

    #[test]
    fn a_snapshot_in_steps_holds_each_partition_as_it_was_and_leaves_out_those_let_go_of() {
        let mut engines = PartitionedEngines::new(model());
        for (index, customer) in ["a", "b", "c", "d", "e", "f"].iter().enumerate() {
            login(
                &mut engines,
                index as i32 % 3,
                customer,
                20_000 + index as i64,
            );
        }
        let at_start: BTreeMap<i32, Vec<u8>> = engines
            .engines
            .iter()
            .map(|(partition, engine)| {
                let mut writer = crate::engine::binary::Writer::default();
                engine.encode_state(&mut writer);
                (*partition, writer.bytes)
            })
            .collect();

        let mut capture = engines.begin_snapshot();
        assert!(!engines.snapshot_step(&mut capture, 1));
        // Changes after the start are not in the snapshot. Partition 1 is let go of and taken
        // on again from elsewhere: its new state is not this snapshot's to write.
        login(&mut engines, 0, "a", 20_010);
        login(&mut engines, 2, "z", 20_011);
        engines.remove(1).unwrap();
        engines.insert(1, Engine::new(model()));
        while !engines.snapshot_step(&mut capture, 1) {}

        let encoded = capture.into_encoded();
        let partitions: Vec<i32> = encoded.iter().map(|(partition, _)| *partition).collect();
        assert_eq!(partitions, vec![0, 2]);
        for (partition, state) in encoded {
            assert_eq!(
                Some(&state),
                at_start.get(&partition),
                "partition {partition}"
            );
        }
    }

    #[test]
    fn an_empty_instance_reports_every_health_level_at_zero() {
        let engines = PartitionedEngines::new(model());
        let distribution = engines.health_distribution();
        assert_eq!(distribution.len(), 3);
        assert!(distribution.iter().all(|(_, count)| *count == 0));
        assert_eq!(engines.clock(), EventTime::EPOCH);
    }
}
