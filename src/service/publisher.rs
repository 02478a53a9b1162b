//! The output path: the processing thread serializes its output events ([`OutputBatch`]), and a
//! publishing thread of its own hands them and dead letters to the producer in the order they
//! were made, and keeps their deliveries, so that a snapshot can wait for every output made
//! before it began.

use std::time::Duration;

use anyhow::{anyhow, Context};
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::sync::{mpsc, oneshot};

use super::output_batch::{OutputBatch, OutputSerializer};
use super::output_sink::{DeliveriesSoFar, OutputSink};
use crate::config::service::ProcessingGuarantee;
use crate::engine::OutputEvent;
use crate::kafka::transaction::{self, TransactionError};
use crate::snapshot::InputOffsets;

/// Outputs awaiting broker acknowledgement beyond which publishing waits for some.
const MAX_PENDING_DELIVERIES: usize = 20_000;

/// Publications queued for the publisher beyond which the processing loop waits (each is up to
/// one batch of messages' outputs).
const QUEUED_PUBLICATIONS: usize = 64;

/// Something to publish, in order.
enum Publication {
    /// Serialized output events, to the output topic, keyed by customer.
    Outputs(OutputBatch),
    /// A malformed input message, unchanged, to the dead-letter topic.
    DeadLetter {
        payload: Vec<u8>,
        key: Option<Vec<u8>>,
        headers: OwnedHeaders,
    },
    /// Answers with the deliveries of everything published before it.
    Barrier(oneshot::Sender<Vec<DeliveryFuture>>),
    /// Commits the open transaction (everything published since the last commit) with the
    /// input offsets it ends at, and begins the next.
    Commit {
        offsets: InputOffsets,
        group: ConsumerGroupMetadata,
        answer: oneshot::Sender<Result<(), TransactionError>>,
    },
    /// Aborts the open transaction (everything published since the last commit) and begins
    /// the next.
    Abort {
        answer: oneshot::Sender<Result<(), TransactionError>>,
    },
}

/// The handle the processing loop publishes through. Outputs are serialized on the caller's
/// thread, where the engine allocated them.
pub struct Publisher {
    queue: mpsc::Sender<Publication>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    serializer: OutputSerializer,
}

/// Commits the publisher's open transaction from a thread that may block (see
/// [`Publisher::committer`]).
#[derive(Clone)]
pub struct Committer {
    queue: mpsc::Sender<Publication>,
}

impl Committer {
    /// Commits everything queued so far with `offsets` under `group`'s metadata, and waits for
    /// the answer. Blocks the calling thread: callable from a Tokio worker (the wait happens on
    /// a helper thread).
    pub fn commit_blocking(
        &self,
        offsets: InputOffsets,
        group: ConsumerGroupMetadata,
    ) -> Result<(), TransactionError> {
        self.blocking(|answer| Publication::Commit {
            offsets,
            group,
            answer,
        })
    }

    /// Aborts everything queued since the last commit, and waits for the answer. Blocks the
    /// calling thread, as [`Committer::commit_blocking`] does.
    pub fn abort_blocking(&self) -> Result<(), TransactionError> {
        self.blocking(|answer| Publication::Abort { answer })
    }

    /// Queues the publication `make` builds around an answer channel, and waits for the answer
    /// on a helper thread.
    fn blocking(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<(), TransactionError>>) -> Publication + Send,
    ) -> Result<(), TransactionError> {
        let queue = self.queue.clone();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    let (answer, answered) = oneshot::channel();
                    let stopped = || TransactionError::Failed("the publisher stopped".into());
                    queue.blocking_send(make(answer)).map_err(|_| stopped())?;
                    answered.blocking_recv().map_err(|_| stopped())?
                })
                .join()
                .unwrap_or_else(|_| {
                    Err(TransactionError::Failed(
                        "the transaction call panicked".into(),
                    ))
                })
        })
    }
}

/// A commit queued on the publishing thread ([`Publisher::queue_commit`]).
pub struct PendingCommit(oneshot::Receiver<Result<(), TransactionError>>);

impl PendingCommit {
    /// Waits for the commit: the outer error means the publisher stopped; the inner one says
    /// why the transaction did not commit.
    pub async fn answer(self) -> anyhow::Result<Result<(), TransactionError>> {
        self.0
            .await
            .context("the publisher stopped before the transaction was committed")
    }
}

/// What the publishing thread owns.
struct PublishingThread {
    producer: FutureProducer,
    output_topic: String,
    dead_letter_topic: String,
    pending: Vec<DeliveryFuture>,
    /// Whether every record goes out in a transaction (exactly-once).
    transactional: bool,
}

impl Publisher {
    /// Starts publishing to `output_topic` and `dead_letter_topic` with `producer`, on a thread
    /// of its own that uses the current Tokio runtime's timers, so that producing never waits
    /// for a turn on a Tokio worker (where the fetcher and the HTTP server run). Alerts are
    /// logged at info level when `announce_alerts` is set (the demo), else at debug level.
    ///
    /// Under exactly-once, `producer` has a `transactional.id`: the thread first makes it
    /// transactional (fencing earlier producers with the same id), and every record goes out in
    /// a transaction, committed by [`Publisher::queue_commit`].
    pub fn spawn(
        producer: FutureProducer,
        output_topic: &str,
        dead_letter_topic: &str,
        announce_alerts: bool,
        guarantee: ProcessingGuarantee,
    ) -> anyhow::Result<Publisher> {
        let (queue, publications) = mpsc::channel(QUEUED_PUBLICATIONS);
        let publishing = PublishingThread {
            producer,
            output_topic: output_topic.to_string(),
            dead_letter_topic: dead_letter_topic.to_string(),
            pending: Vec::new(),
            transactional: guarantee == ProcessingGuarantee::ExactlyOnce,
        };
        let runtime = tokio::runtime::Handle::current();
        let thread = std::thread::Builder::new()
            .name("publisher".into())
            .spawn(move || runtime.block_on(publishing.run(publications)))
            .context("starting the publisher thread")?;
        Ok(Publisher {
            queue,
            thread: Some(thread),
            serializer: OutputSerializer::new(announce_alerts),
        })
    }

    /// Queues the commit of the open transaction: everything queued so far, with the input
    /// `offsets` it ends at, under `group`'s metadata. The error means the publisher stopped;
    /// [`PendingCommit::answer`] says whether the transaction committed.
    pub async fn queue_commit(
        &mut self,
        offsets: InputOffsets,
        group: ConsumerGroupMetadata,
    ) -> anyhow::Result<PendingCommit> {
        let (answer, answered) = oneshot::channel();
        self.queue(Publication::Commit {
            offsets,
            group,
            answer,
        })
        .await?;
        Ok(PendingCommit(answered))
    }

    /// Commits the open transaction ([`Publisher::queue_commit`]) and waits for the answer: the
    /// outer error means the publisher stopped; the inner one says why the transaction did not
    /// commit.
    pub async fn commit(
        &mut self,
        offsets: InputOffsets,
        group: ConsumerGroupMetadata,
    ) -> anyhow::Result<Result<(), TransactionError>> {
        self.queue_commit(offsets, group).await?.answer().await
    }

    /// A handle that commits the open transaction from outside the processing thread (the
    /// rebalance callback).
    pub fn committer(&self) -> Committer {
        Committer {
            queue: self.queue.clone(),
        }
    }

    async fn queue(&mut self, publication: Publication) -> anyhow::Result<()> {
        if self.queue.send(publication).await.is_ok() {
            return Ok(());
        }
        // The thread has stopped: its error says why.
        let Some(thread) = self.thread.take() else {
            return Err(anyhow!("the publisher stopped"));
        };
        match tokio::task::spawn_blocking(move || thread.join()).await {
            Ok(Ok(Err(error))) => Err(error),
            _ => Err(anyhow!("the publisher stopped")),
        }
    }
}

impl OutputSink for Publisher {
    /// Serializes, counts and queues the output events of `outputs`, leaving it empty (its
    /// capacity kept); waits while the queue is full (backpressure).
    async fn outputs(&mut self, outputs: &mut Vec<OutputEvent>) -> anyhow::Result<()> {
        if outputs.is_empty() {
            return Ok(());
        }
        let batch = self.serializer.serialize(outputs);
        self.queue(Publication::Outputs(batch)).await
    }

    /// Queues a dead letter.
    async fn dead_letter(
        &mut self,
        payload: &[u8],
        key: Option<&[u8]>,
        headers: OwnedHeaders,
    ) -> anyhow::Result<()> {
        self.queue(Publication::DeadLetter {
            payload: payload.to_vec(),
            key: key.map(<[u8]>::to_vec),
            headers,
        })
        .await
    }

    /// The deliveries of everything queued so far, once it has all been handed to the producer.
    async fn deliveries(&mut self) -> anyhow::Result<DeliveriesSoFar> {
        let (answer, answered) = oneshot::channel();
        self.queue(Publication::Barrier(answer)).await?;
        Ok(DeliveriesSoFar::new(async move {
            let deliveries = answered
                .await
                .context("the publisher stopped before a snapshot's outputs were sent")?;
            await_all(deliveries).await
        }))
    }
}

impl PublishingThread {
    async fn run(mut self, mut publications: mpsc::Receiver<Publication>) -> anyhow::Result<()> {
        if self.transactional {
            transaction::start(&self.producer).context("starting output transactions")?;
        }
        while let Some(publication) = publications.recv().await {
            match publication {
                Publication::Outputs(outputs) => {
                    for (key, payload) in outputs.iter() {
                        let record = FutureRecord::to(&self.output_topic)
                            .key(key)
                            .payload(payload);
                        send(&self.producer, &mut self.pending, record).await?;
                    }
                }
                Publication::DeadLetter {
                    payload,
                    key,
                    headers,
                } => {
                    let mut record = FutureRecord::to(&self.dead_letter_topic)
                        .payload(payload.as_slice())
                        .headers(headers);
                    if let Some(key) = &key {
                        record = record.key(key.as_slice());
                    }
                    send(&self.producer, &mut self.pending, record).await?;
                }
                Publication::Barrier(answer) => {
                    let _ = answer.send(std::mem::take(&mut self.pending));
                }
                Publication::Commit {
                    offsets,
                    group,
                    answer,
                } => {
                    let committed = transaction::commit(&self.producer, &offsets, &group);
                    // Committing flushed every record: their deliveries are settled, and a
                    // record that failed failed the commit.
                    self.pending.clear();
                    let _ = answer.send(committed);
                }
                Publication::Abort { answer } => {
                    let aborted = transaction::abort(&self.producer);
                    // Aborting settles every record of the transaction: none will be read.
                    self.pending.clear();
                    let _ = answer.send(aborted);
                }
            }
            self.bound_pending().await?;
        }
        Ok(())
    }

    /// Waits for the oldest half of the outputs in flight when too many are unacknowledged.
    async fn bound_pending(&mut self) -> anyhow::Result<()> {
        if self.pending.len() >= MAX_PENDING_DELIVERIES {
            let oldest: Vec<DeliveryFuture> =
                self.pending.drain(..MAX_PENDING_DELIVERIES / 2).collect();
            await_all(oldest).await?;
        }
        Ok(())
    }
}

/// Enqueues a record, waiting while the producer's queue is full (backpressure: publishing, and
/// so consumption, slows; nothing is dropped). The delivery is kept in `pending`.
async fn send(
    producer: &FutureProducer,
    pending: &mut Vec<DeliveryFuture>,
    mut record: FutureRecord<'_, [u8], [u8]>,
) -> anyhow::Result<()> {
    loop {
        match producer.send_result(record) {
            Ok(delivery) => {
                pending.push(delivery);
                return Ok(());
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                record = returned;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((error, _)) => return Err(anyhow!(error).context("producing to Kafka")),
        }
    }
}

/// Waits until every delivery is acknowledged by the broker.
async fn await_all(deliveries: Vec<DeliveryFuture>) -> anyhow::Result<()> {
    for delivery in deliveries {
        match delivery.await {
            Ok(Ok(_)) => {}
            Ok(Err((error, _))) => {
                return Err(anyhow!(error).context("an output event was not delivered"))
            }
            Err(_) => {
                return Err(anyhow!(
                    "the producer was dropped before delivering an output"
                ))
            }
        }
    }
    Ok(())
}
