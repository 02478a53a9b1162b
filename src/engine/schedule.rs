//! When each customer is next checked for changes caused by time alone.
//!
//! A min-heap of `(due time, customer slot)`, one entry per customer: advancing time pops only the
//! customers that are due, never scanning the rest. A customer evicted to make room
//! (`state.max_customers`) leaves its entry behind; the engine drops or merges such entries
//! when they come due, and [`Schedule::rebuild`] clears them out when they pile up.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::time::TimeCode;

/// Due times of customer slots.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    heap: BinaryHeap<Reverse<(TimeCode, u32)>>,
}

impl Schedule {
    /// Schedules a slot at a time code.
    pub fn push(&mut self, due: TimeCode, slot: u32) {
        self.heap.push(Reverse((due, slot)));
    }

    /// Takes the earliest entry if it is due at or before `now`, with any equal entries (so an
    /// entry left behind by an evicted customer merges into its slot's new one).
    pub fn pop_due(&mut self, now: TimeCode) -> Option<(TimeCode, u32)> {
        let entry = match self.heap.peek() {
            Some(Reverse((due, _))) if *due <= now => self.heap.pop().map(|Reverse(entry)| entry),
            _ => None,
        }?;
        while self.heap.peek() == Some(&Reverse(entry)) {
            self.heap.pop();
        }
        Some(entry)
    }

    /// How many entries are queued.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Replaces every entry with `entries` (one per customer).
    pub fn rebuild(&mut self, entries: impl Iterator<Item = (TimeCode, u32)>) {
        self.heap = entries.map(Reverse).collect();
    }
}
