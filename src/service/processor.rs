//! The processing loop's state: decode each input message, apply it, publish what it causes, and
//! take snapshots that only ever reflect acknowledged outputs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::service::KafkaConfig;
use crate::engine::codec::Writer;
use crate::engine::{decode, Encoding, EventTime, OutputEvent};
use crate::http::Shared;
use crate::kafka::consumer::{InputConsumer, Positions};
use crate::kafka::dead_letter::{dead_letter_headers, Origin};
use crate::snapshot::{Snapshot, SnapshotStore};

/// A partition with no message for this long no longer holds the watermark back.
const IDLE_PARTITION: Duration = Duration::from_secs(10);

/// Outputs awaiting broker acknowledgement beyond which processing waits for some.
const MAX_PENDING_DELIVERIES: usize = 20_000;

/// The latest event time read from one partition, and when (wall clock) it was read.
struct PartitionTime {
    latest: EventTime,
    seen: Instant,
}

/// Enqueues a record, waiting while the producer's queue is full (backpressure: consumption slows,
/// nothing is dropped). The delivery is tracked in `pending`.
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

/// Logs a churn alert or expansion signal in one line (no payload): at info level in the demo,
/// at debug level otherwise, where the output topic is the record.
fn announce(output: &OutputEvent, at_info: bool) {
    let line = match output {
        OutputEvent::ChurnRiskAlert(alert) => format!(
            "churn_risk_alert {}: {} -> {} (risk {:.2}, score {:.1}) at {}",
            alert.customer_id, alert.previous_level, alert.level, alert.risk, alert.score, alert.at
        ),
        OutputEvent::ExpansionSignal(signal) => format!(
            "expansion_signal {}: {} (score {:.1}) at {}",
            signal.customer_id, signal.fit_engagement, signal.score, signal.at
        ),
        OutputEvent::ScoreChanged(_) => return,
    };
    if at_info {
        tracing::info!("{line}");
    } else {
        tracing::debug!("{line}");
    }
}

/// Everything the processing loop owns.
pub struct Processor {
    shared: Arc<Shared>,
    encodings: HashMap<String, Encoding>,
    output_topic: String,
    dead_letter_topic: String,
    producer: FutureProducer,
    positions: Positions,
    partition_times: HashMap<(String, i32), PartitionTime>,
    pending: Vec<DeliveryFuture>,
    outputs: Vec<OutputEvent>,
    store: SnapshotStore,
    cluster_id: String,
    counts: Counts,
    /// Whether alerts are logged at info level (the demo), rather than debug.
    announce_alerts: bool,
}

/// Running totals, for the snapshot log line.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    events: u64,
    dead_letters: u64,
    outputs: u64,
}

impl Processor {
    /// A processor publishing with `producer` and snapshotting to `store`.
    pub fn new(
        shared: Arc<Shared>,
        kafka: &KafkaConfig,
        producer: FutureProducer,
        positions: Positions,
        store: SnapshotStore,
        cluster_id: String,
        announce_alerts: bool,
    ) -> Processor {
        Processor {
            shared,
            encodings: kafka
                .inputs
                .iter()
                .map(|input| (input.topic.clone(), input.encoding))
                .collect(),
            output_topic: kafka.output_topic.clone(),
            dead_letter_topic: kafka.dead_letter_topic.clone(),
            producer,
            positions,
            partition_times: HashMap::new(),
            pending: Vec::new(),
            outputs: Vec::new(),
            store,
            cluster_id,
            counts: Counts::default(),
            announce_alerts,
        }
    }

    /// The minimum latest event time over partitions that are not idle.
    fn watermark(&self) -> Option<EventTime> {
        let active = self
            .partition_times
            .values()
            .filter(|time| time.seen.elapsed() < IDLE_PARTITION)
            .map(|time| time.latest)
            .min();
        active.or_else(|| self.partition_times.values().map(|time| time.latest).max())
    }

    /// Processes one input message.
    pub async fn handle(&mut self, message: &BorrowedMessage<'_>) -> anyhow::Result<()> {
        let topic = message.topic();
        let partition = message.partition();
        let offset = message.offset();
        let encoding = self.encodings.get(topic).copied().unwrap_or_default();
        let payload = message.payload().unwrap_or_default();
        match decode(encoding, payload) {
            Err(error) => {
                let headers = dead_letter_headers(
                    &error,
                    Origin {
                        topic,
                        partition,
                        offset,
                    },
                );
                let mut record = FutureRecord::to(&self.dead_letter_topic)
                    .payload(payload)
                    .headers(headers);
                if let Some(key) = message.key() {
                    record = record.key(key);
                }
                tracing::debug!(
                    topic,
                    partition,
                    offset,
                    reason = error.reason().as_str(),
                    "Dead-lettered a message."
                );
                send(&self.producer, &mut self.pending, record).await?;
                self.counts.dead_letters += 1;
                self.bound_pending().await?;
            }
            Ok(event) => {
                let entry = self
                    .partition_times
                    .entry((topic.to_string(), partition))
                    .or_insert(PartitionTime {
                        latest: event.time,
                        seen: Instant::now(),
                    });
                entry.latest = entry.latest.max(event.time);
                entry.seen = Instant::now();
                let watermark = self.watermark();
                let outputs = &mut self.outputs;
                self.shared.with_engine(|engine| {
                    if let Some(watermark) = watermark {
                        engine.advance_to(watermark, outputs);
                    }
                    engine.apply(&event, outputs);
                });
                self.shared
                    .ready
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                self.counts.events += 1;
                self.counts.outputs += self.outputs.len() as u64;
                self.publish_outputs().await?;
            }
        }
        self.positions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert((topic.to_string(), partition), offset + 1);
        Ok(())
    }

    async fn publish_outputs(&mut self) -> anyhow::Result<()> {
        for output in self.outputs.drain(..) {
            announce(&output, self.announce_alerts);
            let json = output.to_json();
            let record = FutureRecord::to(&self.output_topic)
                .key(output.customer_id().as_bytes())
                .payload(json.as_bytes());
            send(&self.producer, &mut self.pending, record).await?;
        }
        self.bound_pending().await
    }

    /// Waits for acknowledgements when too many outputs are in flight.
    async fn bound_pending(&mut self) -> anyhow::Result<()> {
        if self.pending.len() >= MAX_PENDING_DELIVERIES {
            self.await_deliveries().await?;
        }
        Ok(())
    }

    /// Waits until every output sent so far is acknowledged by the broker.
    async fn await_deliveries(&mut self) -> anyhow::Result<()> {
        for delivery in self.pending.drain(..) {
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

    /// Takes a snapshot: waits for every output to be acknowledged, saves the state with the
    /// offsets it reflects, then commits those offsets to the group (progress reporting only).
    pub async fn snapshot(&mut self, consumer: &InputConsumer) -> anyhow::Result<()> {
        self.await_deliveries().await?;
        let offsets: Vec<((String, i32), i64)> = self
            .positions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .iter()
            .map(|(key, offset)| (key.clone(), *offset))
            .collect();
        let started = Instant::now();
        let mut writer = Writer::default();
        let customers = self.shared.with_engine(|engine| {
            engine.encode_state(&mut writer);
            engine.customer_count()
        });
        let snapshot = Snapshot {
            cluster_id: self.cluster_id.clone(),
            offsets: offsets.iter().cloned().collect(),
            engine_state: writer.bytes,
        };
        let (sequence, path, bytes) = self.store.write(&snapshot).with_context(|| {
            format!("writing a snapshot in {}", self.store.directory().display())
        })?;
        tracing::info!(
            sequence,
            path = %path.display(),
            bytes,
            customers,
            events = self.counts.events,
            dead_letters = self.counts.dead_letters,
            outputs = self.counts.outputs,
            millis = started.elapsed().as_millis() as u64,
            "Snapshot written."
        );
        let assigned = consumer.assignment().unwrap_or_default();
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in &offsets {
            if assigned.find_partition(topic, *partition).is_some() {
                let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
            }
        }
        if list.count() > 0 {
            if let Err(error) = consumer.commit(&list, CommitMode::Async) {
                tracing::warn!(%error, "Could not commit offsets to the group; the snapshot holds them.");
            }
        }
        Ok(())
    }
}
