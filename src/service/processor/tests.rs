//! The processor's batch handling without a broker: a sink that records what it is handed, and
//! input partitions that hold nothing beyond what was fetched.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use rdkafka::message::{Headers, OwnedHeaders};

use super::*;
use crate::config::service::ProcessingGuarantee;
use crate::config::ConfigDuration;
use crate::config::{Config, DEFAULT_CONFIG_TOML};
use crate::engine::decode::decode_json;
use crate::engine::{Engine, Model};
use crate::kafka::consumer::SilentUntil;
use crate::kafka::partition_offsets::PartitionEnd;
use crate::service::output_sink::DeliveriesSoFar;

/// What the processor handed over, in order.
#[derive(Debug, Clone, PartialEq)]
enum Handed {
    Output(String),
    DeadLetter {
        payload: Vec<u8>,
        key: Option<Vec<u8>>,
        headers: Vec<(String, String)>,
    },
    Barrier,
}

/// A sink that records everything it is handed.
#[derive(Default, Clone)]
struct RecordingSink(Arc<Mutex<Vec<Handed>>>);

impl RecordingSink {
    fn handed(&self) -> Vec<Handed> {
        self.0.lock().unwrap().clone()
    }
}

impl OutputSink for RecordingSink {
    async fn outputs(&mut self, outputs: &mut Vec<OutputEvent>) -> anyhow::Result<()> {
        let mut handed = self.0.lock().unwrap();
        handed.extend(
            outputs
                .drain(..)
                .map(|output| Handed::Output(output.to_json())),
        );
        Ok(())
    }

    async fn dead_letter(
        &mut self,
        payload: &[u8],
        key: Option<&[u8]>,
        headers: OwnedHeaders,
    ) -> anyhow::Result<()> {
        let headers = headers
            .iter()
            .map(|header| {
                let value = String::from_utf8_lossy(header.value.unwrap_or_default());
                (header.key.to_string(), value.into_owned())
            })
            .collect();
        self.0.lock().unwrap().push(Handed::DeadLetter {
            payload: payload.to_vec(),
            key: key.map(<[u8]>::to_vec),
            headers,
        });
        Ok(())
    }

    async fn deliveries(&mut self) -> anyhow::Result<DeliveriesSoFar> {
        self.0.lock().unwrap().push(Handed::Barrier);
        Ok(DeliveriesSoFar::acknowledged_already())
    }
}

/// Input partitions whose every message has been fetched: nothing to wait for on the broker.
struct NothingMoreFetched;

impl PartitionEnds for NothingMoreFetched {
    fn end_of(&self, _topic: &str, _partition: i32) -> Option<PartitionEnd> {
        Some(PartitionEnd {
            low: Some(0),
            high: 0,
        })
    }
}

/// A processor of the default config's input topics with `max_idle = 0s`, its sink, and the
/// input positions it records.
fn processor() -> (
    Processor<RecordingSink>,
    RecordingSink,
    Positions,
    Arc<Model>,
) {
    let (processor, sink, positions, model, _) = processor_with_silent();
    (processor, sink, positions, model)
}

/// Like [`processor`], also giving the offsets below which it publishes nothing.
fn processor_with_silent() -> (
    Processor<RecordingSink>,
    RecordingSink,
    Positions,
    Arc<Model>,
    SilentUntil,
) {
    let silent_until = SilentUntil::default();
    let mut config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "test").unwrap();
    config.service.kafka.max_idle = ConfigDuration::from_millis(0);
    let model = Arc::new(Model::compile(&config.model).unwrap());
    let shared = Arc::new(Shared::new(
        Arc::clone(&model),
        Arc::new(AtomicBool::new(true)),
        String::new(),
    ));
    let sink = RecordingSink::default();
    let positions: Positions = Arc::new(Mutex::new(HashMap::new()));
    let processor = Processor::new(
        shared,
        &config.service.kafka,
        sink.clone(),
        InputProgress {
            positions: Arc::clone(&positions),
            partition_offsets: Arc::new(PartitionOffsets::default()),
            ends: Arc::new(NothingMoreFetched),
            silent_until: Arc::clone(&silent_until),
        },
        ProcessingGuarantee::AtLeastOnce,
    );
    (processor, sink, positions, model, silent_until)
}

fn event(customer: &str, kind: &str, day: u32, extra: &str) -> String {
    format!(
        r#"{{"customer_id":"{customer}","type":"{kind}","timestamp":"2026-03-{day:02}T12:00:00Z"{extra}}}"#
    )
}

#[tokio::test]
async fn a_batch_of_two_topics_is_applied_in_event_time_order_and_its_outputs_handed_over() {
    let (mut processor, sink, positions, model) = processor();
    // The payment topic's events were fetched first, though usage's came earlier in event time.
    let usage: Vec<String> = (1..=6)
        .map(|day| event("acme", "login", day, r#","user_id":"u1""#))
        .collect();
    let payment: Vec<String> = [3, 5]
        .iter()
        .map(|day| event("acme", "payment_failed", *day, r#","amount":100"#))
        .collect();
    let mut batch = InputBatch::new(0);
    for (offset, line) in payment.iter().enumerate() {
        batch.push(
            "customer.payment",
            0,
            offset as i64,
            Some(b"acme"),
            line.as_bytes(),
        );
    }
    for (offset, line) in usage.iter().enumerate() {
        batch.push(
            "customer.usage",
            0,
            offset as i64,
            Some(b"acme"),
            line.as_bytes(),
        );
    }
    processor.handle_batch(batch).await.unwrap();

    let mut in_time_order: Vec<&String> = usage.iter().chain(&payment).collect();
    in_time_order.sort_by_key(|line| decode_json(line.as_bytes()).unwrap().time);
    let mut engine = Engine::new(model);
    let mut expected = Vec::new();
    for line in in_time_order {
        engine.ingest(&decode_json(line.as_bytes()).unwrap(), &mut expected);
    }
    let expected: Vec<Handed> = expected
        .iter()
        .map(|output| Handed::Output(output.to_json()))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(sink.handed(), expected);
    let applied = lock(&positions).clone();
    assert_eq!(applied[&("customer.usage".to_string(), 0)], 6);
    assert_eq!(applied[&("customer.payment".to_string(), 0)], 2);
}

#[tokio::test]
async fn a_message_that_does_not_decode_is_dead_lettered_unchanged_with_its_reason_and_origin() {
    let (mut processor, sink, positions, _) = processor();
    let mut batch = InputBatch::new(0);
    batch.push("customer.support", 2, 40, Some(b"k"), b"{not json");
    processor.handle_batch(batch).await.unwrap();
    let handed = sink.handed();
    let [Handed::DeadLetter {
        payload,
        key,
        headers,
    }] = handed.as_slice()
    else {
        panic!("one dead letter expected, got {handed:?}");
    };
    assert_eq!(payload, b"{not json");
    assert_eq!(key.as_deref(), Some(&b"k"[..]));
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    assert_eq!(header("reason"), Some("invalid_json"));
    assert_eq!(header("source_topic"), Some("customer.support"));
    assert_eq!(header("source_partition"), Some("2"));
    assert_eq!(header("source_offset"), Some("40"));
    // Its offset counts as applied: a restart does not dead-letter it again.
    assert_eq!(lock(&positions)[&("customer.support".to_string(), 2)], 41);
}

#[tokio::test]
async fn a_snapshot_starts_after_every_output_made_and_holds_the_applied_offsets() {
    let (mut processor, sink, _, _) = processor();
    let mut batch = InputBatch::new(0);
    let line = event("acme", "login", 1, r#","user_id":"u1""#);
    batch.push("customer.usage", 1, 7, None, line.as_bytes());
    processor.handle_batch(batch).await.unwrap();
    let start = processor.snapshot_start().await.unwrap();
    let handed = sink.handed();
    assert!(
        matches!(handed.first(), Some(Handed::Output(_))),
        "{handed:?}"
    );
    assert_eq!(handed.last(), Some(&Handed::Barrier));
    assert_eq!(
        start.offsets.into_iter().collect::<Vec<_>>(),
        vec![(("customer.usage".to_string(), 1), 8)]
    );
    assert_eq!(start.counts.events, 1);
}

#[tokio::test]
async fn messages_below_the_committed_offsets_are_applied_without_publishing_what_they_cause() {
    let (mut processor, sink, _, model, silent_until) = processor_with_silent();
    // A committed transaction published the outputs of usage offsets 0 to 2 already.
    silent_until
        .lock()
        .unwrap()
        .insert(("customer.usage".to_string(), 0), 3);
    let mut lines: Vec<String> = (1..=3)
        .map(|day| event("acme", "login", day, r#","user_id":"u1""#))
        .collect();
    lines.push(event("acme", "payment_failed", 4, r#","amount":100"#));
    lines.push(event(
        "acme",
        "ticket_escalated",
        5,
        r#","ticket_id":"T-1""#,
    ));
    lines.push(event("acme", "payment_failed", 6, r#","amount":100"#));
    let mut batch = InputBatch::new(0);
    for (offset, line) in lines.iter().enumerate() {
        batch.push("customer.usage", 0, offset as i64, None, line.as_bytes());
    }
    processor.handle_batch(batch).await.unwrap();

    let mut engine = Engine::new(model);
    let mut expected = Vec::new();
    for (offset, line) in lines.iter().enumerate() {
        let made_before = expected.len();
        engine.ingest(&decode_json(line.as_bytes()).unwrap(), &mut expected);
        if offset < 3 {
            expected.truncate(made_before);
        }
    }
    let expected: Vec<Handed> = expected
        .iter()
        .map(|output| Handed::Output(output.to_json()))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        sink.handed(),
        expected,
        "only what the later messages cause"
    );
    assert!(
        silent_until.lock().unwrap().is_empty(),
        "forgotten once passed"
    );
}

#[tokio::test]
async fn nothing_is_handed_over_while_every_partition_waits_to_be_taken_on_again() {
    let (mut processor, sink, _, _) = processor();
    // The partitions were lost under exactly-once: the state held is ahead of the last commit.
    processor.shared.request_rebuild();
    let mut batch = InputBatch::new(0);
    let line = event("acme", "login", 1, r#","user_id":"u1""#);
    batch.push("customer.usage", 0, 0, None, line.as_bytes());
    batch.push("customer.usage", 0, 1, None, b"not json");
    processor.handle_batch(batch).await.unwrap();
    assert_eq!(sink.handed(), Vec::new(), "no output and no dead letter");

    // Taken on again: what is made from then on is handed over.
    assert!(processor.shared.take_rebuild_request());
    let mut batch = InputBatch::new(0);
    let line = event("globex", "login", 2, r#","user_id":"u2""#);
    batch.push("customer.usage", 0, 2, None, line.as_bytes());
    batch.push("customer.usage", 0, 3, None, b"not json");
    processor.handle_batch(batch).await.unwrap();
    let handed = sink.handed();
    assert!(
        matches!(handed.first(), Some(Handed::DeadLetter { .. }))
            && handed.iter().any(
                |handed| matches!(handed, Handed::Output(output) if output.contains("globex"))
            ),
        "{handed:?}"
    );
}

#[tokio::test]
async fn a_transaction_is_large_at_ten_thousand_records() {
    let (mut processor, sink, _, _) = processor();
    let mut batch = InputBatch::new(0);
    let count = LARGE_TRANSACTION_RECORDS as i64;
    for offset in 0..count - 1 {
        batch.push("customer.support", 0, offset, None, b"{not json");
    }
    processor.handle_batch(batch).await.unwrap();
    // At most 4,096 messages are applied in one go.
    while processor.has_ready() {
        processor.release_waiting().await.unwrap();
    }
    assert!(!processor.transaction_is_large());
    let mut batch = InputBatch::new(0);
    batch.push("customer.support", 0, count - 1, None, b"{not json");
    processor.handle_batch(batch).await.unwrap();
    assert!(processor.transaction_is_large());
    let dead_letters = sink
        .handed()
        .iter()
        .filter(|handed| matches!(handed, Handed::DeadLetter { .. }))
        .count();
    assert_eq!(dead_letters, LARGE_TRANSACTION_RECORDS as usize);
}
