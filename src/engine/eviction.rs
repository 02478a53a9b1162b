//! Which customer has been inactive longest, for `state.max_customers`: past the cap, the
//! longest-inactive customers make room for new ones.
//!
//! A min-heap of `(latest event time when queued, slot)`, one entry per customer queued when
//! it is added, and brought up to date lazily: an entry whose customer has had events since is
//! queued again at its new time when it reaches the top, and an entry whose slot was emptied
//! (expiry) is dropped there. So an event costs nothing here, and finding the customer to evict
//! costs a few heap operations.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::customer_table::CustomerTable;
use super::time::TimeCode;

/// Customers in order of their latest event, oldest first.
#[derive(Debug, Clone, Default)]
pub struct EvictionQueue {
    heap: BinaryHeap<Reverse<(TimeCode, u32)>>,
}

impl EvictionQueue {
    /// Queues the customer in `slot`, whose latest event is at `last_event`.
    pub fn push(&mut self, last_event: TimeCode, slot: u32) {
        self.heap.push(Reverse((last_event, slot)));
    }

    /// The slot of the customer whose latest event is the oldest, and that time; `None` when
    /// no customer is queued. Entries that are out of date are brought up to date first.
    pub fn least_recent(&mut self, customers: &CustomerTable) -> Option<(TimeCode, u32)> {
        while let Some(&Reverse((queued, slot))) = self.heap.peek() {
            let Some(entry) = customers.get(slot) else {
                self.heap.pop();
                continue;
            };
            let last_event = TimeCode::of(entry.state.last_event());
            if last_event > queued {
                self.heap.pop();
                self.heap.push(Reverse((last_event, slot)));
                continue;
            }
            return Some((queued, slot));
        }
        None
    }

    /// Removes the top entry (after [`EvictionQueue::least_recent`] named it).
    pub fn pop(&mut self) {
        self.heap.pop();
    }
}
