//! The service's state shared between its threads, the consumer's rebalance callbacks and the
//! HTTP handlers: the engines of the partitions held, readiness, the assignment generation, and
//! whether every partition waits to be taken on again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::engine::{Model, PartitionedEngines};

/// What the service's threads, callbacks and HTTP handlers share.
pub struct Shared {
    /// The engines of the partitions held, locked briefly by the processing loop, by the
    /// consumer's rebalances, and by look-ups.
    pub engines: Mutex<PartitionedEngines>,
    /// True once the broker answered; false while it is unreachable.
    pub ready: Arc<AtomicBool>,
    /// True once the group's assignment has been taken on (the assigned partitions' state
    /// restored); false again while a new assignment is being taken on.
    pub partitions_taken: AtomicBool,
    /// Counts the assignments taken on. Messages fetched under an older one are not processed:
    /// each assignment resumes its partitions from the offsets their state reflects.
    pub assignment_generation: AtomicU64,
    /// Set under exactly-once when the partitions were lost, or their commit at revocation
    /// failed: the state held is ahead of the last commit until the next assignment takes every
    /// partition on again. Set and cleared with the positions locked.
    rebuild_pending: AtomicBool,
    /// The broker list in use (the embedded broker's address in embedded mode).
    pub bootstrap_servers: String,
}

impl Shared {
    /// The state of a service scoring with `model` that holds no partition yet; `ready` turns
    /// true once a broker answers.
    pub fn new(model: Arc<Model>, ready: Arc<AtomicBool>, bootstrap_servers: String) -> Shared {
        Shared {
            engines: Mutex::new(PartitionedEngines::new(model)),
            ready,
            partitions_taken: AtomicBool::new(false),
            assignment_generation: AtomicU64::new(0),
            rebuild_pending: AtomicBool::new(false),
            bootstrap_servers,
        }
    }

    /// Whether the service is ready: a broker is reachable and the assigned partitions' state is
    /// in memory.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed) && self.partitions_taken.load(Ordering::Relaxed)
    }

    /// The current assignment generation.
    pub fn assignment_generation(&self) -> u64 {
        self.assignment_generation.load(Ordering::Acquire)
    }

    /// Starts a new assignment generation: messages fetched before it will not be processed.
    pub fn next_assignment_generation(&self) {
        self.assignment_generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Has the next assignment take every partition on afresh: until then the state held is
    /// ahead of the last commit, and nothing it makes is published or committed.
    pub fn request_rebuild(&self) {
        self.rebuild_pending.store(true, Ordering::Release);
    }

    /// Whether every partition waits to be taken on again ([`Shared::request_rebuild`]).
    pub fn rebuild_pending(&self) -> bool {
        self.rebuild_pending.load(Ordering::Acquire)
    }

    /// Clears the rebuild request, returning whether there was one (the assignment taking the
    /// partitions on again).
    pub fn take_rebuild_request(&self) -> bool {
        self.rebuild_pending.swap(false, Ordering::AcqRel)
    }

    /// Runs `read` with the engines locked (a poisoned lock still holds the last good state).
    pub fn with_engines<T>(&self, read: impl FnOnce(&mut PartitionedEngines) -> T) -> T {
        let mut engines = self
            .engines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        read(&mut engines)
    }
}
