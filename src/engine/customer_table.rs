//! Every customer in memory: a slab of states addressed by slot, and a compact hash index by id.
//!
//! The index stores only 4-byte slot numbers (hashing ids through the slab), which keeps the
//! per-customer overhead small at millions of customers; slots let the schedule refer to
//! customers without copying their ids.

use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

use super::binary::Writer;
use super::capture::Capture;
use super::customer::{CustomerEntry, CustomerState, NO_BIN};

/// All customers.
#[derive(Debug, Clone, Default)]
pub struct CustomerTable {
    index: HashTable<u32>,
    slots: Vec<Option<CustomerEntry>>,
    free: Vec<u32>,
    hasher: DefaultHashBuilder,
    /// A snapshot being taken: every change first preserves the customer's old state in it.
    capture: Option<Box<Capture>>,
}

impl CustomerTable {
    /// The slot of a customer, if known.
    pub fn find(&self, id: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        self.index
            .find(hash, |slot| self.id_at(*slot) == Some(id))
            .copied()
    }

    fn id_at(&self, slot: u32) -> Option<&str> {
        self.slots
            .get(slot as usize)
            .and_then(Option::as_ref)
            .map(|entry| entry.id.as_ref())
    }

    /// The customer in a slot.
    pub fn get(&self, slot: u32) -> Option<&CustomerEntry> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    /// The customer in a slot, to change (a capture in progress keeps its state as it was).
    pub fn get_mut(&mut self, slot: u32) -> Option<&mut CustomerEntry> {
        if let Some(capture) = self.capture.as_deref_mut() {
            capture.preserve(slot, self.slots.get(slot as usize).and_then(Option::as_ref));
        }
        self.slots.get_mut(slot as usize).and_then(Option::as_mut)
    }

    /// Adds a customer that is not yet known and returns its slot.
    pub fn insert(&mut self, id: &str, state: CustomerState) -> u32 {
        let entry = CustomerEntry {
            id: id.into(),
            state,
            population_bin: NO_BIN,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                // A freed slot was empty when a capture began, or its old customer is written.
                if let Some(capture) = self.capture.as_deref_mut() {
                    capture.settle(slot);
                }
                self.slots[slot as usize] = Some(entry);
                slot
            }
            None => {
                self.slots.push(Some(entry));
                (self.slots.len() - 1) as u32
            }
        };
        self.index_slot(id, slot);
        slot
    }

    /// Adds a slot to the id index.
    fn index_slot(&mut self, id: &str, slot: u32) {
        let hash = self.hasher.hash_one(id);
        let slots = &self.slots;
        let hasher = &self.hasher;
        self.index.insert_unique(hash, slot, |existing| {
            let id = slots[*existing as usize]
                .as_ref()
                .map(|entry| entry.id.as_ref())
                .unwrap_or_default();
            hasher.hash_one(id)
        });
    }

    /// Adds a restored customer in the slot it had when saved, so that a restored table lays
    /// customers out exactly as the saved one did. False if the slot is taken.
    pub fn insert_at(&mut self, slot: u32, entry: CustomerEntry) -> bool {
        let index = slot as usize;
        if self.slots.len() <= index {
            self.slots.resize_with(index + 1, || None);
        }
        if self.slots[index].is_some() {
            return false;
        }
        let id = Box::clone(&entry.id);
        self.slots[index] = Some(entry);
        self.index_slot(&id, slot);
        true
    }

    /// The slot count and the free slots in reuse order, which a snapshot keeps.
    pub fn layout(&self) -> (u32, &[u32]) {
        (self.slots.len() as u32, &self.free)
    }

    /// Restores the slot count and free slots saved by [`CustomerTable::layout`], after the
    /// customers. False, changing nothing, if the free slots are not exactly the empty slots
    /// below `slot_count` (damaged state: a slot given out twice would hold two customers).
    pub fn restore_layout(&mut self, slot_count: u32, free: Vec<u32>) -> bool {
        let slot_count = slot_count as usize;
        if self.slots.len() > slot_count {
            return false;
        }
        let mut seen = vec![false; slot_count];
        for &slot in &free {
            let slot = slot as usize;
            let empty = self.slots.get(slot).is_none_or(Option::is_none);
            if slot >= slot_count || seen[slot] || !empty {
                return false;
            }
            seen[slot] = true;
        }
        let occupied = self.slots.iter().filter(|entry| entry.is_some()).count();
        if occupied + free.len() != slot_count {
            return false;
        }
        self.slots.resize_with(slot_count, || None);
        self.free = free;
        true
    }

    /// Removes the customer in a slot, returning it.
    pub fn remove(&mut self, slot: u32) -> Option<CustomerEntry> {
        let id = self.id_at(slot)?.to_owned();
        if let Some(capture) = self.capture.as_deref_mut() {
            capture.preserve(slot, self.slots.get(slot as usize).and_then(Option::as_ref));
        }
        let hash = self.hasher.hash_one(id.as_str());
        if let Ok(found) = self.index.find_entry(hash, |candidate| *candidate == slot) {
            found.remove();
        }
        self.free.push(slot);
        self.slots.get_mut(slot as usize).and_then(Option::take)
    }

    /// How many customers there are.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Every customer with its slot, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &CustomerEntry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(slot, entry)| entry.as_ref().map(|entry| (slot as u32, entry)))
    }

    /// Starts capturing every customer after the header in `writer`; false if a capture is
    /// already in progress.
    pub fn begin_capture(&mut self, writer: Writer) -> bool {
        if self.capture.is_some() {
            return false;
        }
        let end = self.slots.len() as u32;
        self.capture = Some(Box::new(Capture::new(writer, end, self.len())));
        true
    }

    /// Whether a capture is in progress.
    pub fn is_capturing(&self) -> bool {
        self.capture.is_some()
    }

    /// Writes up to `budget` more customers into the capture; returns its bytes once complete.
    pub fn capture_step(&mut self, budget: usize) -> Option<Vec<u8>> {
        let capture = self.capture.as_deref_mut()?;
        if !capture.sweep(&self.slots, budget) {
            return None;
        }
        self.capture.take().map(|capture| capture.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DEFAULT_CONFIG_TOML};
    use crate::engine::model::Model;
    use crate::engine::time::EventTime;

    #[test]
    fn insert_find_remove_and_reuse_slots() {
        let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "default").unwrap();
        let model = Model::compile(&config.model).unwrap();
        let mut table = CustomerTable::default();
        let state = CustomerState::new(&model, EventTime::EPOCH);
        let acme = table.insert("acme", state.clone());
        let globex = table.insert("globex", state.clone());
        assert_eq!(table.find("acme"), Some(acme));
        assert_eq!(table.find("globex"), Some(globex));
        assert_eq!(table.find("initech"), None);
        assert_eq!(
            table.remove(acme).map(|entry| entry.id),
            Some("acme".into())
        );
        assert_eq!(table.find("acme"), None);
        assert_eq!(table.len(), 1);
        let initech = table.insert("initech", state);
        assert_eq!(initech, acme, "freed slots are reused");
        assert_eq!(table.find("initech"), Some(initech));
        assert_eq!(table.find("globex"), Some(globex));
    }
}
