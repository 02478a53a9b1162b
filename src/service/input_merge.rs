//! The order in which the service applies its input: for each partition number held, one
//! [`EventTimeMerge`] over that partition of every input topic (inputs numbered in
//! `kafka.inputs` order), holding what was fetched but is not applied yet; and, per input
//! partition, the offset after the last message applied, which is what snapshots record and a
//! new assignment resumes from. A new assignment drops everything queued: it is read again.
//!
//! It also decides which input partitions to pause (queue above [`PAUSE_ABOVE`]) and resume (at
//! or below [`RESUME_AT`]), as Kafka Streams does with `buffered.records.per.partition`, so that a
//! topic consumed slower than it is fetched does not fill memory. No I/O: the caller pauses.

use std::collections::BTreeMap;

use super::input_decoder::Decoded;
use crate::engine::{EventTimeMerge, Merged};

/// Messages queued on one input partition above which it is paused.
pub const PAUSE_ABOVE: usize = 4096;

/// Messages queued on a paused input partition at or below which it is resumed.
pub const RESUME_AT: usize = 1024;

/// A fetched message waiting for its turn.
#[derive(Debug)]
pub struct PendingMessage {
    /// Its offset in its input partition.
    pub offset: i64,
    /// What it decoded to.
    pub content: Decoded,
}

/// One input partition: an input (by its number) and a partition number.
pub type InputPartition = (usize, i32);

/// Input partitions to pause and to resume.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FlowChanges {
    /// To pause: their queues are full.
    pub pause: Vec<InputPartition>,
    /// To resume: their queues have room again, or a new assignment dropped them.
    pub resume: Vec<InputPartition>,
}

impl FlowChanges {
    /// Whether there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.pause.is_empty() && self.resume.is_empty()
    }
}

/// One partition number's merge, with what has been applied and paused of each input.
#[derive(Debug)]
struct PartitionMerge {
    merge: EventTimeMerge<PendingMessage>,
    /// Per input, whether it is paused.
    paused: Vec<bool>,
    /// Per input, the offset after the last message queued, if any was since the assignment.
    fetched: Vec<Option<i64>>,
}

/// The merges of every partition number held; see the module documentation.
#[derive(Debug)]
pub struct InputMerges {
    inputs: usize,
    max_idle_millis: u64,
    generation: u64,
    partitions: BTreeMap<i32, PartitionMerge>,
    /// The offset after the last message applied, per input partition, since last taken.
    applied: BTreeMap<InputPartition, i64>,
    /// Input partitions to resume because a new assignment dropped their queues.
    dropped_paused: Vec<InputPartition>,
}

impl InputMerges {
    /// Merges of `inputs` inputs that wait at most `max_idle_millis` for an empty one.
    pub fn new(inputs: usize, max_idle_millis: u64) -> InputMerges {
        InputMerges {
            inputs,
            max_idle_millis,
            generation: 0,
            partitions: BTreeMap::new(),
            applied: BTreeMap::new(),
            dropped_paused: Vec::new(),
        }
    }

    /// The assignment generation the queued messages were fetched under.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Drops everything queued for a new assignment `generation` (its messages are read again
    /// from the applied offsets); input partitions it had paused are resumed with the next
    /// [`InputMerges::flow_changes`].
    pub fn restart(&mut self, generation: u64) {
        self.generation = generation;
        for (partition, merge) in std::mem::take(&mut self.partitions) {
            for (input, paused) in merge.paused.iter().enumerate() {
                if *paused {
                    self.dropped_paused.push((input, partition));
                }
            }
        }
        self.applied.clear();
    }

    /// Adds an input (a topic not in `kafka.inputs`), numbered after the others.
    pub fn add_input(&mut self, now: u64) {
        self.inputs += 1;
        for merge in self.partitions.values_mut() {
            merge.merge.add_input(now);
            merge.paused.push(false);
            merge.fetched.push(None);
        }
    }

    /// Queues `message` of input `input`, partition `partition`, fetched at `now`.
    ///
    /// # Panics
    /// If `input` is not below the number of inputs.
    pub fn push(&mut self, (input, partition): InputPartition, message: PendingMessage, now: u64) {
        let (inputs, max_idle) = (self.inputs, self.max_idle_millis);
        let merge = self
            .partitions
            .entry(partition)
            .or_insert_with(|| PartitionMerge {
                merge: EventTimeMerge::new(inputs, max_idle, now),
                paused: vec![false; inputs],
                fetched: vec![None; inputs],
            });
        if let Some(fetched) = merge.fetched.get_mut(input) {
            *fetched = Some(message.offset + 1);
        }
        let time = match &message.content {
            Decoded::Event(event) => Some(event.time.millis()),
            Decoded::Undecodable { .. } => None,
        };
        merge.merge.push(input, time, message, now);
    }

    /// Counts every merge's waits afresh from `now` (after a stall: what is known of where
    /// the input partitions end is old).
    pub fn restart_waits(&mut self, now: u64) {
        for merge in self.partitions.values_mut() {
            merge.merge.restart_waits(now);
        }
    }

    /// Marks each input partition of a merge that holds something as behind (the broker holds
    /// messages of it not fetched yet) or not: `is_behind` is given the input partition and the
    /// offset after its last message fetched since the assignment, if any.
    pub fn refresh_behind(
        &mut self,
        mut is_behind: impl FnMut(InputPartition, Option<i64>) -> bool,
    ) {
        for (partition, merge) in &mut self.partitions {
            if merge.merge.is_empty() {
                continue;
            }
            for input in 0..merge.merge.inputs() {
                let fetched = merge.fetched.get(input).copied().flatten();
                let behind = is_behind((input, *partition), fetched);
                merge.merge.set_behind(input, behind);
            }
        }
    }

    /// Whether a merge waits at `now` for an empty input partition that is behind (whose end
    /// may move without anything being fetched, so look again soon).
    pub fn waits_on_behind(&self, now: u64) -> bool {
        self.partitions
            .values()
            .any(|merge| merge.merge.waits_on_behind(now))
    }

    /// Hands messages whose turn has come at `now` to `apply`, with their partition number,
    /// and records them as applied: at most `budget` of them, so that the caller can look at
    /// its timers between. Returns whether it stopped at the budget (more may be ready).
    pub fn drain(
        &mut self,
        now: u64,
        budget: usize,
        mut apply: impl FnMut(i32, Merged<PendingMessage>),
    ) -> bool {
        let mut left = budget;
        for (partition, merge) in &mut self.partitions {
            while left > 0 {
                let Some(merged) = merge.merge.pop(now) else {
                    break;
                };
                left -= 1;
                self.applied
                    .insert((merged.input, *partition), merged.item.offset + 1);
                apply(*partition, merged);
            }
        }
        left == 0
    }

    /// The offset after the last message applied, per input partition that applied any since
    /// the last call.
    pub fn take_applied(&mut self) -> BTreeMap<InputPartition, i64> {
        std::mem::take(&mut self.applied)
    }

    /// When the next message's turn comes if nothing more is fetched (the caller's clock), if a
    /// merge is waiting for an empty input.
    pub fn wait_until(&self) -> Option<u64> {
        self.partitions
            .values()
            .filter_map(|merge| merge.merge.wait_until())
            .min()
    }

    /// Messages queued over every partition.
    pub fn queued(&self) -> usize {
        self.partitions
            .values()
            .map(|merge| {
                (0..merge.merge.inputs())
                    .map(|input| merge.merge.queued(input))
                    .sum::<usize>()
            })
            .sum()
    }

    /// The input partitions to pause or resume now, recorded as paused or resumed.
    pub fn flow_changes(&mut self) -> FlowChanges {
        let mut changes = FlowChanges {
            pause: Vec::new(),
            resume: std::mem::take(&mut self.dropped_paused),
        };
        for (partition, merge) in &mut self.partitions {
            for (input, paused) in merge.paused.iter_mut().enumerate() {
                let queued = merge.merge.queued(input);
                if !*paused && queued > PAUSE_ABOVE {
                    *paused = true;
                    changes.pause.push((input, *partition));
                } else if *paused && queued <= RESUME_AT {
                    *paused = false;
                    changes.resume.push((input, *partition));
                }
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::decode::decode_json;

    fn message(offset: i64, day: i64) -> PendingMessage {
        let line = format!(
            r#"{{"customer_id":"c","type":"login","timestamp":{}}}"#,
            day * 86_400_000
        );
        let event = decode_json(line.as_bytes()).unwrap().into_owned();
        PendingMessage {
            offset,
            content: Decoded::Event(event),
        }
    }

    fn drained(merges: &mut InputMerges, now: u64) -> Vec<(i32, usize, i64)> {
        let mut order = Vec::new();
        while merges.drain(now, 2, |partition, merged| {
            order.push((partition, merged.input, merged.item.offset));
        }) {}
        order
    }

    #[test]
    fn each_partition_number_merges_its_own_inputs_and_records_what_was_applied() {
        let mut merges = InputMerges::new(2, 1_000);
        merges.push((0, 0), message(10, 5), 0);
        merges.push((1, 0), message(3, 2), 0);
        merges.push((1, 0), message(4, 9), 0);
        merges.push((0, 1), message(7, 1), 0);
        // Partition 1's second input has sent nothing: its first waits; partition 0 goes on
        // until its usage input is empty.
        assert_eq!(drained(&mut merges, 10), [(0, 1, 3), (0, 0, 10)]);
        assert_eq!(
            merges.take_applied(),
            BTreeMap::from([((0, 0), 11), ((1, 0), 4)])
        );
        // Each waits max_idle from its head's arrival.
        assert_eq!(merges.wait_until(), Some(1_000));
        assert_eq!(drained(&mut merges, 1_000), [(0, 1, 4), (1, 0, 7)]);
        assert_eq!(
            merges.take_applied(),
            BTreeMap::from([((1, 0), 5), ((0, 1), 8)])
        );
        assert!(merges.take_applied().is_empty());
        assert_eq!(merges.queued(), 0);
    }

    #[test]
    fn a_full_queue_pauses_its_input_partition_until_it_drains_and_a_restart_resumes_it() {
        let mut merges = InputMerges::new(2, 1_000);
        for offset in 0..=PAUSE_ABOVE as i64 {
            merges.push((1, 3), message(offset, 1), 0);
        }
        assert_eq!(
            merges.flow_changes(),
            FlowChanges {
                pause: vec![(1, 3)],
                resume: vec![]
            }
        );
        assert!(merges.flow_changes().is_empty(), "paused once");
        // Input 0 has been empty for max_idle: input 1 drains, and is resumed.
        assert_eq!(drained(&mut merges, 1_000).len(), PAUSE_ABOVE + 1);
        assert_eq!(merges.flow_changes().resume, vec![(1, 3)]);

        for offset in 0..=PAUSE_ABOVE as i64 {
            merges.push((0, 2), message(offset, 1), 2_000);
        }
        assert_eq!(merges.flow_changes().pause, vec![(0, 2)]);
        merges.restart(7);
        assert_eq!(merges.generation(), 7);
        assert_eq!(merges.queued(), 0, "a new assignment reads them again");
        assert_eq!(merges.flow_changes().resume, vec![(0, 2)]);
    }

    #[test]
    fn an_empty_input_partition_with_data_on_the_broker_is_waited_for_until_it_arrives() {
        let mut merges = InputMerges::new(2, 100);
        merges.push((0, 0), message(0, 4), 0);
        merges.push((1, 0), message(0, 1), 0);
        merges.push((1, 0), message(1, 2), 0);
        let mut asked = Vec::new();
        merges.refresh_behind(|input_partition, fetched| {
            asked.push((input_partition, fetched));
            true
        });
        assert_eq!(asked, [((0, 0), Some(1)), ((1, 0), Some(2))]);
        assert_eq!(drained(&mut merges, 0), [(0, 1, 0), (0, 1, 1)]);
        // Input 1 is empty now, with more on the broker after offset 2.
        assert!(merges.waits_on_behind(5_000));
        assert!(
            drained(&mut merges, 5_000).is_empty(),
            "max_idle does not end it"
        );
        merges.push((1, 0), message(2, 3), 5_000);
        assert_eq!(drained(&mut merges, 5_000), [(0, 1, 2)]);
    }

    #[test]
    fn an_input_added_later_is_merged_like_the_others() {
        let mut merges = InputMerges::new(1, 100);
        merges.push((0, 0), message(0, 4), 0);
        merges.add_input(0);
        merges.push((1, 0), message(0, 3), 0);
        assert_eq!(drained(&mut merges, 0), [(0, 1, 0)]);
        assert_eq!(drained(&mut merges, 100), [(0, 0, 0)]);
    }
}
