//! A snapshot of the engine's state taken in steps, so that processing never waits for a whole
//! encode. Customers are encoded a chunk at a time between events, and a customer about to change
//! or leave is encoded just before (copy on write). The bytes are exactly the state at the moment
//! the capture began, whatever the engine did in between.

use super::binary::Writer;
use super::customer::CustomerEntry;
use super::state_bytes::write_customer;

/// A capture in progress: the bytes so far and which slots are done.
#[derive(Debug, Clone)]
pub struct Capture {
    writer: Writer,
    /// Slots at or above this were empty when the capture began.
    end: u32,
    /// The next slot the sweep visits.
    cursor: u32,
    /// One bit per slot below `end`: written already, or known to hold nothing to write.
    settled: Vec<u64>,
    /// Customers still to write.
    remaining: usize,
}

impl Capture {
    /// A capture of `customers` customers in slots below `end`, after the header in `writer`.
    pub fn new(writer: Writer, end: u32, customers: usize) -> Capture {
        Capture {
            writer,
            end,
            cursor: 0,
            settled: vec![0; (end as usize).div_ceil(64)],
            remaining: customers,
        }
    }

    fn is_settled(&self, slot: u32) -> bool {
        slot >= self.end || self.settled[slot as usize / 64] & (1 << (slot % 64)) != 0
    }

    /// Marks a slot as needing nothing more.
    pub fn settle(&mut self, slot: u32) {
        if slot < self.end {
            self.settled[slot as usize / 64] |= 1 << (slot % 64);
        }
    }

    /// Writes a slot's customer as it is now, if the capture still needs it: called before the
    /// customer changes or leaves.
    pub fn preserve(&mut self, slot: u32, entry: Option<&CustomerEntry>) {
        if self.is_settled(slot) {
            return;
        }
        self.settle(slot);
        if let Some(entry) = entry {
            write_customer(&mut self.writer, slot, entry);
            self.remaining = self.remaining.saturating_sub(1);
        }
    }

    /// Sweeps on through `slots`, writing at most `budget` customers. Returns true when every
    /// customer is written.
    pub fn sweep(&mut self, slots: &[Option<CustomerEntry>], budget: usize) -> bool {
        let mut written = 0;
        while self.cursor < self.end && written < budget && self.remaining > 0 {
            let slot = self.cursor;
            self.cursor += 1;
            if self.is_settled(slot) {
                continue;
            }
            if let Some(entry) = slots.get(slot as usize).and_then(Option::as_ref) {
                self.preserve(slot, Some(entry));
                written += 1;
            }
        }
        self.is_complete()
    }

    /// Whether every customer is written.
    pub fn is_complete(&self) -> bool {
        self.remaining == 0 || self.cursor >= self.end
    }

    /// The finished bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.writer.bytes
    }
}
