//! When each customer is next checked for changes caused by time alone.
//!
//! A min-heap of `(due time, customer slot)`, one entry per customer: advancing time pops only the
//! customers that are due, never scanning the rest.

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

    /// Takes the earliest entry if it is due at or before `now`.
    pub fn pop_due(&mut self, now: TimeCode) -> Option<(TimeCode, u32)> {
        match self.heap.peek() {
            Some(Reverse((due, _))) if *due <= now => self.heap.pop().map(|Reverse(entry)| entry),
            _ => None,
        }
    }
}
