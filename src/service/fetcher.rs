//! The fetcher: reads input messages from the consumer and hands them, copied into batches and
//! decoded, to the processing thread, so that reading from librdkafka and decoding run on one
//! core and scoring on the other.
//!
//! Rebalances happen inside the consumer's `recv`, on the fetcher's thread. Every batch carries
//! the assignment generation it was fetched under ([`Shared::assignment_generation`]); a batch
//! fetched before the latest assignment is dropped (by the fetcher, or by the processing thread
//! under the positions lock), because the assignment resumes every partition from the offset
//! its applied state reflects, so those messages are read again.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::message::{BorrowedMessage, Message};
use tokio::sync::mpsc;

use super::input_decoder::{Decoded, InputDecoder};
use super::Shared;
use crate::kafka::consumer::InputConsumer;

/// The most messages in one batch: the processing thread looks at timers and snapshot steps
/// between batches.
pub const MESSAGES_PER_BATCH: usize = 512;

/// The payload and key bytes beyond which a batch takes no more messages, so that a few large
/// messages do not make batches large (with the queue below, about 6 MiB in flight at most,
/// plus one message).
pub const BYTES_PER_BATCH: usize = 1 << 20;

/// Batches fetched but not yet processed beyond which the fetcher waits (backpressure: the
/// consumer's prefetch queue then fills, and librdkafka stops fetching).
pub const QUEUED_BATCHES: usize = 4;

/// One input message of a batch: where it came from, and where its bytes are in the batch.
#[derive(Debug)]
pub struct InputMessage {
    /// The topic it was read from.
    pub topic: Arc<str>,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    key: Option<Range<usize>>,
    payload: Range<usize>,
}

/// Input messages read together, with their keys and payloads copied into one buffer, and what
/// the first of them decoded to once [`InputBatch::decode`] ran.
#[derive(Debug)]
pub struct InputBatch {
    /// The assignment generation the messages were fetched under.
    pub generation: u64,
    messages: Vec<InputMessage>,
    bytes: Vec<u8>,
    decoded: Vec<Decoded>,
}

impl InputBatch {
    /// An empty batch fetched under assignment `generation`.
    pub fn new(generation: u64) -> InputBatch {
        InputBatch {
            generation,
            messages: Vec::with_capacity(MESSAGES_PER_BATCH),
            bytes: Vec::with_capacity(MESSAGES_PER_BATCH * 256),
            decoded: Vec::new(),
        }
    }

    /// Adds a message (its topic shared with the previous message's when it is the same).
    pub fn push(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        payload: &[u8],
    ) {
        let topic = match self.messages.last() {
            Some(last) if &*last.topic == topic => Arc::clone(&last.topic),
            _ => Arc::from(topic),
        };
        let key = key.map(|key| self.append(key));
        let payload = self.append(payload);
        self.messages.push(InputMessage {
            topic,
            partition,
            offset,
            key,
            payload,
        });
    }

    fn append(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        start..self.bytes.len()
    }

    /// Empties the batch and gives it a new generation.
    pub fn restart(&mut self, generation: u64) {
        self.generation = generation;
        self.messages.clear();
        self.bytes.clear();
        self.decoded.clear();
    }

    /// Decodes the messages not decoded yet (the fetcher does, before handing the batch over).
    pub fn decode(&mut self, decoder: &InputDecoder) {
        for message in &self.messages[self.decoded.len()..] {
            let key = message.key.clone().map(|key| &self.bytes[key]);
            let payload = &self.bytes[message.payload.clone()];
            self.decoded
                .push(decoder.decode(&message.topic, key, payload));
        }
    }

    /// Each message with what it decoded to (decoding what is not decoded yet).
    pub fn into_decoded(
        mut self,
        decoder: &InputDecoder,
    ) -> impl Iterator<Item = (InputMessage, Decoded)> {
        self.decode(decoder);
        self.messages.into_iter().zip(self.decoded)
    }

    /// Whether it takes no more messages: it holds `MESSAGES_PER_BATCH` (512) of them, or
    /// `BYTES_PER_BATCH` (1 MiB) of keys and payloads.
    pub fn is_full(&self) -> bool {
        self.messages.len() >= MESSAGES_PER_BATCH || self.bytes.len() >= BYTES_PER_BATCH
    }

    /// How many messages it holds.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether it holds no message.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The messages in the order they were read, each with its key and payload.
    pub fn iter(&self) -> impl Iterator<Item = (&InputMessage, Option<&[u8]>, &[u8])> {
        self.messages.iter().map(|message| {
            let key = message
                .key
                .as_ref()
                .and_then(|range| self.bytes.get(range.clone()));
            let payload = self.bytes.get(message.payload.clone()).unwrap_or_default();
            (message, key, payload)
        })
    }
}

/// Reads messages until the processing thread stops taking batches (or the task is aborted,
/// once the processing thread has finished: the fetcher does not watch for shutdown itself, so
/// that the processing thread never sees it gone while it still runs).
pub async fn fetch(
    consumer: Arc<InputConsumer>,
    shared: Arc<Shared>,
    decoder: Arc<InputDecoder>,
    batches: mpsc::Sender<InputBatch>,
) {
    loop {
        let first = consumer.recv().await;
        let mut batch = match first {
            Ok(message) => {
                let mut batch = InputBatch::new(shared.assignment_generation());
                add(&mut batch, &message);
                batch
            }
            Err(error) => {
                tracing::warn!(%error, "Kafka consumer error; retrying.");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        // Whatever else is already fetched, without another round through the select.
        while !batch.is_full() {
            match ready_now(consumer.recv()) {
                Some(Ok(message)) => {
                    let generation = shared.assignment_generation();
                    if generation != batch.generation {
                        // A rebalance ran inside that `recv`: what was fetched before it will
                        // be read again from the offsets the new assignment resumes at.
                        batch.restart(generation);
                    }
                    add(&mut batch, &message);
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "Kafka consumer error; retrying.");
                    break;
                }
                None => break,
            }
        }
        batch.decode(&decoder);
        if batches.send(batch).await.is_err() {
            return;
        }
    }
}

fn add(batch: &mut InputBatch, message: &BorrowedMessage<'_>) {
    batch.push(
        message.topic(),
        message.partition(),
        message.offset(),
        message.key(),
        message.payload().unwrap_or_default(),
    );
}

/// Polls `future` once: its output if it is ready now, else `None` (the future is dropped). For
/// draining messages already fetched without a timer or a clock read per message, as
/// `tokio::time::timeout(Duration::ZERO, ..)` would cost.
fn ready_now<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => Some(output),
        std::task::Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_gives_back_each_message_with_its_own_key_and_payload() {
        let mut batch = InputBatch::new(3);
        batch.push("usage", 1, 10, Some(b"c-1"), b"{\"a\":1}");
        batch.push("usage", 2, 11, None, b"");
        batch.push("billing", 1, 7, Some(b""), b"xyz");
        let read: Vec<_> = batch
            .iter()
            .map(|(message, key, payload)| {
                (
                    message.topic.to_string(),
                    message.partition,
                    message.offset,
                    key.map(<[u8]>::to_vec),
                    payload.to_vec(),
                )
            })
            .collect();
        assert_eq!(
            read,
            vec![
                (
                    "usage".into(),
                    1,
                    10,
                    Some(b"c-1".to_vec()),
                    b"{\"a\":1}".to_vec()
                ),
                ("usage".into(), 2, 11, None, Vec::new()),
                ("billing".into(), 1, 7, Some(Vec::new()), b"xyz".to_vec()),
            ]
        );
        assert_eq!(batch.generation, 3);
    }

    #[test]
    fn a_batch_is_full_at_its_message_count_or_its_byte_size() {
        let mut by_count = InputBatch::new(0);
        for offset in 0..MESSAGES_PER_BATCH {
            assert!(!by_count.is_full());
            by_count.push("usage", 0, offset as i64, None, b"{}");
        }
        assert!(by_count.is_full());

        let mut by_size = InputBatch::new(0);
        let large = vec![b'x'; BYTES_PER_BATCH / 2];
        by_size.push("usage", 0, 0, None, &large);
        assert!(!by_size.is_full());
        by_size.push("usage", 0, 1, Some(b"k"), &large);
        assert!(by_size.is_full());
        assert_eq!(by_size.len(), 2);
    }

    #[test]
    fn a_batch_decoded_by_the_fetcher_keeps_each_message_with_what_it_decoded_to() {
        let decoder = InputDecoder::new(&[], 1_000);
        let event = |customer: &str| {
            format!(
                r#"{{"customer_id":"{customer}","type":"login","timestamp":"2026-01-01T00:00:00Z"}}"#
            )
        };
        let mut batch = InputBatch::new(0);
        batch.push("usage", 0, 1, None, event("a").as_bytes());
        batch.push("usage", 0, 2, Some(b"k"), b"{broken");
        batch.decode(&decoder);
        // One more after decoding, as a rebalance-free refill would add: decoded on the way out.
        batch.push("usage", 1, 3, None, event("b").as_bytes());
        let read: Vec<(i64, String)> = batch
            .into_decoded(&decoder)
            .map(|(message, decoded)| {
                let what = match decoded {
                    Decoded::Event(event) => event.customer_id.to_string(),
                    Decoded::Undecodable { error, .. } => error.reason().as_str().to_string(),
                };
                (message.offset, what)
            })
            .collect();
        assert_eq!(
            read,
            vec![
                (1, "a".to_string()),
                (2, "invalid_json".to_string()),
                (3, "b".to_string())
            ]
        );
    }

    #[test]
    fn restarting_a_batch_forgets_what_was_fetched_under_the_old_generation() {
        let mut batch = InputBatch::new(1);
        batch.push("usage", 0, 5, None, b"old");
        batch.decode(&InputDecoder::new(&[], 1_000));
        batch.restart(2);
        batch.push("usage", 0, 5, None, b"new");
        assert!(
            batch.decoded.is_empty(),
            "what the old messages decoded to is gone"
        );
        assert_eq!(batch.generation, 2);
        let payloads: Vec<&[u8]> = batch.iter().map(|(_, _, payload)| payload).collect();
        assert_eq!(payloads, vec![b"new".as_slice()]);
    }
}
