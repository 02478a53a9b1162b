//! The processing thread and rebalances: a batch fetched before the group's latest assignment is
//! not applied (that assignment resumes each partition at the offset its applied state reflects,
//! so those messages are read again), and one fetched under it is. Without the check, a member
//! that keeps a partition across a rebalance would count the messages in flight twice.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rdkafka::producer::FutureProducer;
use rdkafka::ClientConfig;

use healthscore::config::service::ProcessingGuarantee;
use healthscore::engine::Engine;
use healthscore::kafka::consumer::Positions;
use healthscore::kafka::partition_offsets::PartitionOffsets;
use healthscore::service::Shared;
use healthscore::service::{InputBatch, InputProgress, Processor, Publisher};
use support::kafka::{broker, replayed, setup};
use support::{default_model, healthy_days};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_fetched_before_the_latest_assignment_is_dropped_and_a_current_one_applied() {
    let broker = broker();
    let setup = setup(&broker).await;
    let kafka = &setup.config.service.kafka;
    let model = default_model();
    let shared = Arc::new(Shared::new(
        Arc::clone(&model),
        Arc::new(AtomicBool::new(true)),
        broker.bootstrap.clone(),
    ));
    shared.partitions_taken.store(true, Ordering::Relaxed);
    shared.with_engines(|engines| engines.insert(0, Engine::new(Arc::clone(&model))));
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &broker.bootstrap)
        .create()
        .unwrap();
    let publisher = Publisher::spawn(
        producer,
        &kafka.output_topic,
        &kafka.dead_letter_topic,
        false,
        ProcessingGuarantee::AtLeastOnce,
    )
    .unwrap();
    let positions: Positions = Arc::new(Mutex::new(HashMap::new()));
    let mut processor = Processor::new(
        Arc::clone(&shared),
        kafka,
        publisher,
        InputProgress {
            positions: Arc::clone(&positions),
            partition_offsets: Arc::new(PartitionOffsets::default()),
            ends: Arc::new(PartitionOffsets::default()),
            silent_until: Default::default(),
        },
        ProcessingGuarantee::AtLeastOnce,
    );
    let lines = healthy_days("c-1", 0, 10);
    let batch = |generation: u64| {
        let mut batch = InputBatch::new(generation);
        for (offset, line) in lines.iter().enumerate() {
            batch.push(
                &setup.input,
                0,
                offset as i64,
                Some(b"c-1"),
                line.as_bytes(),
            );
        }
        batch
    };

    // Fetched; then the group reassigns partition 0 to this member before it is processed.
    let stale = batch(shared.assignment_generation());
    shared.next_assignment_generation();
    processor.handle_batch(stale).await.unwrap();
    assert_eq!(shared.with_engines(|engines| engines.customer_count()), 0);
    assert!(positions.lock().unwrap().is_empty());

    // Read again under the new assignment: applied once, exactly as replay applies it.
    processor
        .handle_batch(batch(shared.assignment_generation()))
        .await
        .unwrap();
    let (_, replay) = replayed(&lines);
    assert_eq!(
        shared.with_engines(|engines| engines.view("c-1", None, true)),
        replay.view("c-1", None, true)
    );
    assert_eq!(
        positions
            .lock()
            .unwrap()
            .get(&(setup.input.clone(), 0))
            .copied(),
        Some(lines.len() as i64)
    );
}
