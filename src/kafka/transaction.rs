//! Kafka transactions on the output producer (exactly-once output): the outputs and dead letters
//! of a span of input, and the input offsets that span ends at, committed together with the
//! consumer group's metadata (KIP-447), so that an instance that lost its partitions in a
//! rebalance is fenced and cannot commit.
//!
//! librdkafka's transactional calls block; they are made on the publishing thread, in order with
//! the records they cover.

use std::time::Duration;

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::snapshot::InputOffsets;
use crate::telemetry;

/// How long one transactional call may take before it fails (librdkafka retries within it).
pub const TRANSACTION_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a transaction could not be committed, by what the caller must do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// Another producer with the same `transactional.id`, or a newer member of the group, took
    /// over: this instance must stop producing. Its open transaction is aborted by the broker.
    #[error("fenced: another instance took over ({0})")]
    Fenced(String),
    /// The transaction was aborted (or must be): its outputs will never be read by a
    /// `read_committed` consumer, and the state that made them must be rebuilt.
    #[error("the transaction was aborted ({0})")]
    Aborted(String),
    /// Anything else: the producer is in an unknown state.
    #[error("the transaction failed ({0})")]
    Failed(String),
}

impl TransactionError {
    /// The outcome a commit that failed so is counted under.
    pub fn outcome(&self) -> &'static str {
        match self {
            TransactionError::Fenced(_) => "fenced",
            TransactionError::Aborted(_) => "aborted",
            TransactionError::Failed(_) => "failed",
        }
    }

    /// Classifies a librdkafka error from a transactional call.
    pub fn of(error: &KafkaError) -> TransactionError {
        let text = error.to_string();
        let KafkaError::Transaction(detail) = error else {
            return TransactionError::Failed(text);
        };
        if detail.is_fatal() {
            TransactionError::Fenced(text)
        } else if detail.txn_requires_abort() {
            TransactionError::Aborted(text)
        } else {
            TransactionError::Failed(text)
        }
    }
}

/// Makes `producer` transactional (fencing any earlier producer with its `transactional.id`, and
/// aborting that one's open transaction) and begins the first transaction.
pub fn start(producer: &FutureProducer) -> Result<(), TransactionError> {
    producer
        .init_transactions(TRANSACTION_CALL_TIMEOUT)
        .map_err(|error| TransactionError::of(&error))?;
    producer
        .begin_transaction()
        .map_err(|error| TransactionError::of(&error))
}

/// Commits the open transaction together with the input `offsets` (the next offset to read per
/// input partition) under `group`'s metadata, then begins the next one. On an error that needs
/// it, the transaction is aborted and the next one begun, and the error says so. Each commit is
/// counted in `healthscore_transactions_total` by its outcome.
pub fn commit(
    producer: &FutureProducer,
    offsets: &InputOffsets,
    group: &ConsumerGroupMetadata,
) -> Result<(), TransactionError> {
    let outcome = commit_and_begin(producer, offsets, group);
    telemetry::record_transaction(
        outcome
            .as_ref()
            .map_or_else(|error| error.outcome(), |()| "committed"),
    );
    outcome
}

fn commit_and_begin(
    producer: &FutureProducer,
    offsets: &InputOffsets,
    group: &ConsumerGroupMetadata,
) -> Result<(), TransactionError> {
    let mut list = TopicPartitionList::new();
    for ((topic, partition), offset) in offsets {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
            .map_err(|error| TransactionError::Failed(error.to_string()))?;
    }
    let committed =
        retrying(|| producer.send_offsets_to_transaction(&list, group, TRANSACTION_CALL_TIMEOUT))
            .and_then(|()| retrying(|| producer.commit_transaction(TRANSACTION_CALL_TIMEOUT)));
    if let Err(error) = committed {
        let failure = TransactionError::of(&error);
        if let TransactionError::Aborted(_) = failure {
            // The records and offsets of this transaction are thrown away; the caller rebuilds.
            producer
                .abort_transaction(TRANSACTION_CALL_TIMEOUT)
                .and_then(|()| producer.begin_transaction())
                .map_err(|error| TransactionError::of(&error))?;
        }
        return Err(failure);
    }
    producer
        .begin_transaction()
        .map_err(|error| TransactionError::of(&error))
}

/// Aborts the open transaction (its records are never read by a `read_committed` consumer) and
/// begins the next one; counted in `healthscore_transactions_total` as aborted. For a member
/// that lost its partitions: what it published since the last commit is another member's to
/// publish now.
pub fn abort(producer: &FutureProducer) -> Result<(), TransactionError> {
    let aborted = producer
        .abort_transaction(TRANSACTION_CALL_TIMEOUT)
        .and_then(|()| producer.begin_transaction())
        .map_err(|error| TransactionError::of(&error));
    telemetry::record_transaction(
        aborted
            .as_ref()
            .map_or_else(|error| error.outcome(), |()| "aborted"),
    );
    aborted
}

/// How often a transactional call that failed in a way librdkafka calls retriable (a timeout
/// while a broker is away, say) is tried again before the failure counts.
const RETRIES: u32 = 10;

/// Runs `call`, again while it fails retriably (up to [`RETRIES`] more times, a second apart):
/// librdkafka keeps the transaction's state, so the same call may simply be repeated.
fn retrying(mut call: impl FnMut() -> Result<(), KafkaError>) -> Result<(), KafkaError> {
    let mut retries = 0;
    loop {
        match call() {
            Err(KafkaError::Transaction(error)) if error.is_retriable() && retries < RETRIES => {
                retries += 1;
                tracing::warn!(%error, retries, "A transactional call failed; trying it again.");
                std::thread::sleep(Duration::from_secs(1));
            }
            result => return result,
        }
    }
}
