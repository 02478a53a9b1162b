//! The input consumer: a consumer group member that, whenever it is assigned partitions, first
//! lets the service take on their state (a [`PartitionOwner`]), then resumes each from the offset
//! that state reflects, or from the earliest retained offset when there is no state: never from
//! the group's committed offset, which is progress reporting only.

use std::collections::{BTreeSet, HashMap};
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use rdkafka::consumer::{
    BaseConsumer, Consumer, ConsumerContext, ConsumerGroupMetadata, StreamConsumer,
};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::connection_error::FatalConnectionSlot;
use super::partition_offsets::{PartitionEnd, PartitionEnds, PartitionOffsets};

/// Next offsets to read, by topic and partition, shared between the processing loop and the
/// rebalance callback.
pub type Positions = Arc<Mutex<HashMap<(String, i32), i64>>>;

/// Under exactly-once, the offset per input partition below which messages are applied without
/// publishing what they cause: the last committed transaction published it. Set when a partition
/// is taken on (with the positions locked), and emptied as the messages are applied.
pub type SilentUntil = Arc<Mutex<HashMap<(String, i32), i64>>>;

/// What the service does when the group gives this member its partitions.
pub trait PartitionOwner: Send + Sync {
    /// Called with the partition numbers now assigned (partition `p` of every input topic),
    /// before any is read: let go of the state of partitions no longer held, take on the state
    /// of new ones, and leave in `positions` exactly the next offset to read for every input
    /// partition with state (others are read from the earliest retained offset). Called with the
    /// positions locked, so that whoever updates them under that lock sees the assignment change
    /// atomically.
    ///
    /// `committed` holds the group's committed offsets of the assigned input partitions under
    /// exactly-once (where they mark what committed transactions published), else nothing.
    fn take_partitions(
        &self,
        partitions: &BTreeSet<i32>,
        positions: &mut HashMap<(String, i32), i64>,
        committed: &HashMap<(String, i32), i64>,
    );

    /// Called when the group takes this member's partitions away, before it lets go of them,
    /// with the positions locked and the group's metadata of the generation ending (under
    /// exactly-once, the open transaction commits here, as in Kafka Streams). `group` is `None`
    /// when the partitions were lost rather than handed over (this member's session ended, so
    /// another member may already read them): under exactly-once the open transaction must then
    /// be aborted, not committed.
    fn before_revoke(
        &self,
        positions: &HashMap<(String, i32), i64>,
        group: Option<ConsumerGroupMetadata>,
    ) {
        let _ = (positions, group);
    }
}

/// A consumer context that, on assignment, lets a [`PartitionOwner`] take on the partitions and
/// then reads them from the offsets in [`Positions`]; it also tracks whether any broker is
/// reachable (from librdkafka's errors and statistics), and keeps the first error that retrying
/// cannot mend (rejected credentials, an untrusted certificate).
pub struct ResumeContext {
    positions: Positions,
    owner: Arc<dyn PartitionOwner>,
    broker_reachable: Arc<AtomicBool>,
    partition_offsets: Arc<PartitionOffsets>,
    fatal_errors: Arc<FatalConnectionSlot>,
    /// Whether to read the group's committed offsets on assignment (exactly-once).
    read_committed_offsets: bool,
    /// Why an assignment could not be taken on, if one could not (exactly-once only: the
    /// group's committed offsets could not be read).
    assignment_failure: Mutex<Option<String>>,
}

impl ResumeContext {
    /// A context handing assignments to `owner` and resuming from `positions`, setting
    /// `broker_reachable` from errors and statistics, keeping `partition_offsets` current and
    /// reporting errors to `fatal_errors`.
    pub fn new(
        positions: Positions,
        owner: Arc<dyn PartitionOwner>,
        broker_reachable: Arc<AtomicBool>,
        partition_offsets: Arc<PartitionOffsets>,
        fatal_errors: Arc<FatalConnectionSlot>,
    ) -> ResumeContext {
        ResumeContext {
            positions,
            owner,
            broker_reachable,
            partition_offsets,
            fatal_errors,
            read_committed_offsets: false,
            assignment_failure: Mutex::new(None),
        }
    }

    /// Also hands the owner the group's committed offsets of each assignment (exactly-once).
    pub fn reading_committed_offsets(mut self) -> ResumeContext {
        self.read_committed_offsets = true;
        self
    }

    /// The group's committed offsets of `assigned`, if asked for.
    fn committed_offsets(
        &self,
        consumer: &BaseConsumer<Self>,
        assigned: &TopicPartitionList,
    ) -> Result<HashMap<(String, i32), i64>, KafkaError> {
        if !self.read_committed_offsets {
            return Ok(HashMap::new());
        }
        committed_offsets(consumer, assigned)
    }

    /// Why the latest assignment could not be taken on, if it could not: under exactly-once,
    /// its committed offsets could not be read, so what was published is not known. The
    /// service then ends (a restart takes the partitions on again) rather than publish twice.
    pub fn assignment_failure(&self) -> Option<String> {
        self.assignment_failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// The group's metadata to commit a transaction's offsets under, if this instance is a member of
/// the group's current generation as far as its client knows (a member id and a generation).
///
/// A transactional offset commit without them is taken by the broker as coming from outside the
/// group and accepted (KIP-447 keeps that for older producers); so an instance whose session
/// ended, and whose client has reset its membership, could otherwise still commit outputs that
/// the member now holding its partitions publishes as well. With them, the group coordinator
/// refuses a commit from a generation that is over.
pub fn group_membership<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
) -> Option<ConsumerGroupMetadata> {
    // Membership read before and after the metadata, so that the metadata handed back is the
    // one of that membership (a member id, once reset, is never given back).
    let before = member_and_generation(consumer)?;
    let group = consumer.group_metadata()?;
    let after = member_and_generation(consumer)?;
    (before == after).then_some(group)
}

/// This client's member id and generation in its group, if it has both.
fn member_and_generation<C: ConsumerContext>(consumer: &impl Consumer<C>) -> Option<(String, i32)> {
    // SAFETY: the client handle lives as long as `consumer`. The metadata librdkafka returns is
    // a copy owned here: its member id (a NUL-terminated string it owns, checked for NULL) is
    // copied before it is destroyed, exactly once.
    unsafe {
        let metadata =
            rdkafka::bindings::rd_kafka_consumer_group_metadata(consumer.client().native_ptr());
        if metadata.is_null() {
            return None;
        }
        let member_id = rdkafka::bindings::rd_kafka_consumer_group_metadata_member_id(metadata);
        let member = if member_id.is_null() {
            String::new()
        } else {
            CStr::from_ptr(member_id).to_string_lossy().into_owned()
        };
        let generation =
            rdkafka::bindings::rd_kafka_consumer_group_metadata_generation_id(metadata);
        rdkafka::bindings::rd_kafka_consumer_group_metadata_destroy(metadata);
        (generation >= 0 && !member.is_empty()).then_some((member, generation))
    }
}

/// The partition numbers in `partitions` (partition `p` of every input topic).
pub fn partition_numbers(partitions: &TopicPartitionList) -> BTreeSet<i32> {
    partitions
        .elements()
        .iter()
        .map(|element| element.partition())
        .collect()
}

/// `assigned` with each input partition's offset to read from: its position, else the earliest
/// retained offset.
pub fn resume_from(
    assigned: &TopicPartitionList,
    positions: &HashMap<(String, i32), i64>,
) -> TopicPartitionList {
    let mut resume = assigned.clone();
    for element in assigned.elements() {
        let key = (element.topic().to_string(), element.partition());
        let offset = positions
            .get(&key)
            .map_or(Offset::Beginning, |offset| Offset::Offset(*offset));
        let _ = resume.set_partition_offset(element.topic(), element.partition(), offset);
    }
    resume
}

/// The group's committed offsets of `partitions` (none where nothing is committed), or why they
/// could not be read within 30 s.
pub fn committed_offsets<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    partitions: &TopicPartitionList,
) -> Result<HashMap<(String, i32), i64>, KafkaError> {
    let list =
        consumer.committed_offsets(partitions.clone(), std::time::Duration::from_secs(30))?;
    let mut committed = HashMap::new();
    for element in list.elements() {
        // A partition with an error has no offset to trust: with a transaction still open on
        // it (`UNSTABLE_OFFSET_COMMIT`, still so when librdkafka's retries run out), its
        // offset is about to move, and reading it as "none committed" would publish again.
        element.error()?;
        if let Offset::Offset(offset) = element.offset() {
            committed.insert((element.topic().to_string(), element.partition()), offset);
        }
    }
    Ok(committed)
}

impl ClientContext for ResumeContext {
    /// librdkafka's periodic statistics: the broker connections decide readiness, so that it
    /// comes back as soon as a broker is reachable again; partition offsets give the lag.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let reachable = statistics
            .brokers
            .values()
            .filter(|broker| broker.source == "learned" || broker.source == "configured")
            .any(|broker| broker.state == "UP");
        self.partition_offsets.update(&statistics);
        let was = self.broker_reachable.swap(reachable, Ordering::Relaxed);
        if reachable && !was {
            tracing::info!("A Kafka broker is reachable; ready.");
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        if code == Some(RDKafkaErrorCode::AllBrokersDown) {
            if self.broker_reachable.swap(false, Ordering::Relaxed) {
                tracing::warn!(%reason, "Every Kafka broker is unreachable; pausing until one is back.");
            }
        } else if let Some(fatal) = self.fatal_errors.report(code, reason) {
            tracing::error!(error = %fatal, "Kafka connection refused.");
        } else {
            tracing::warn!(%error, %reason, "Kafka client error.");
        }
    }
}

impl ConsumerContext for ResumeContext {
    fn rebalance(
        &self,
        base_consumer: &BaseConsumer<Self>,
        error: rdkafka::types::RDKafkaRespErr,
        partitions: &mut TopicPartitionList,
    ) {
        match error {
            rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let assigned = &*partitions;
                let numbers = partition_numbers(assigned);
                let committed = match self.committed_offsets(base_consumer, assigned) {
                    Ok(committed) => committed,
                    Err(error) => {
                        // Without them, outputs already committed would be published again.
                        let failure = format!(
                            "could not read the group's committed offsets of the partitions \
                             assigned ({error}); a restart takes them on again"
                        );
                        tracing::error!(%failure, "Input partitions not taken on.");
                        *self
                            .assignment_failure
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(failure);
                        let _ = base_consumer.unassign();
                        return;
                    }
                };
                // A poisoned lock only means another thread panicked mid-update; the map is
                // still the best knowledge of positions.
                let mut positions = self
                    .positions
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                self.owner
                    .take_partitions(&numbers, &mut positions, &committed);
                let resume = resume_from(assigned, &positions);
                drop(positions);
                tracing::info!(
                    partitions = assigned.count(),
                    partition_numbers = ?numbers,
                    "Input partitions assigned."
                );
                if let Err(error) = base_consumer.assign(&resume) {
                    tracing::error!(%error, "Could not take the assigned partitions.");
                }
            }
            rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let lost = base_consumer.assignment_lost();
                tracing::info!(lost, "Input partitions revoked.");
                let group = if lost {
                    None
                } else {
                    group_membership(base_consumer)
                };
                let positions = self
                    .positions
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                self.owner.before_revoke(&positions, group);
                drop(positions);
                let _ = base_consumer.unassign();
            }
            _ => {
                tracing::error!(
                    ?error,
                    "Kafka rebalance failed; unassigning all partitions."
                );
                let _ = base_consumer.unassign();
            }
        }
    }
}

/// The consumer type the service uses.
pub type InputConsumer = StreamConsumer<ResumeContext>;

impl PartitionEnds for InputConsumer {
    /// The high watermark librdkafka cached from the latest fetch response for the partition
    /// (fresher than its statistics, which give the low one).
    fn end_of(&self, topic: &str, partition: i32) -> Option<PartitionEnd> {
        let name = CString::new(topic).ok()?;
        let (mut low, mut high) = (rdkafka::bindings::RD_KAFKA_OFFSET_INVALID as i64, 0i64);
        // SAFETY: the client handle lives as long as `self`; `name` is a NUL-terminated string
        // that outlives the call; `low` and `high` are valid for writes. The call only reads
        // librdkafka's cached offsets under its own lock.
        let error = unsafe {
            rdkafka::bindings::rd_kafka_get_watermark_offsets(
                self.client().native_ptr(),
                name.as_ptr(),
                partition,
                &mut low,
                &mut high,
            )
        };
        if error != rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || high < 0 {
            return None;
        }
        let low = if low >= 0 {
            Some(low)
        } else {
            self.context()
                .partition_offsets
                .end_of(topic, partition)
                .and_then(|end| end.low)
        };
        Some(PartitionEnd { low, high })
    }
}

/// Stops fetching the input partitions `pause` (their queues are full) and fetches `resume`
/// again (room again); librdkafka resumes each from the last offset it delivered.
pub fn pause_and_resume(consumer: &InputConsumer, pause: &[(&str, i32)], resume: &[(&str, i32)]) {
    let list = |partitions: &[(&str, i32)]| {
        let mut list = TopicPartitionList::new();
        for (topic, partition) in partitions {
            list.add_partition(topic, *partition);
        }
        list
    };
    if !pause.is_empty() {
        if let Err(error) = consumer.pause(&list(pause)) {
            tracing::warn!(%error, "Could not pause input partitions with full queues.");
        }
    }
    if !resume.is_empty() {
        // A partition no longer assigned cannot be resumed, and need not be.
        let _ = consumer.resume(&list(resume));
    }
}
