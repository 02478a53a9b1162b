//! A snapshot taken in steps while events go on: written once its outputs are acknowledged,
//! holding the state and offsets of the moment it began, one file per partition held.

use std::sync::atomic::AtomicBool;

use super::*;
use crate::config::{Config, DEFAULT_CONFIG_TOML};
use crate::engine::decode::decode_json;
use crate::engine::{Engine, Model};
use crate::snapshot::SnapshotStore;

fn login(customer: usize, day: u32) -> String {
    format!(
        r#"{{"customer_id":"c-{customer}","type":"login","timestamp":"2026-03-{day:02}T12:00:00Z","user_id":"u1"}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_in_steps_holds_the_state_and_offsets_it_began_with() {
    let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "test").unwrap();
    let model = Arc::new(Model::compile(&config.model).unwrap());
    let shared = Arc::new(Shared::new(
        Arc::clone(&model),
        Arc::new(AtomicBool::new(true)),
        String::new(),
    ));
    // More customers than one step encodes, over two partitions.
    let customers = 3 * CAPTURE_STEP_CUSTOMERS;
    let mut outputs = Vec::new();
    shared.with_engines(|engines| {
        for customer in 0..customers {
            let line = login(customer, 1);
            let event = decode_json(line.as_bytes()).unwrap();
            engines
                .engine_mut((customer % 2) as i32)
                .ingest(&event, &mut outputs);
        }
    });
    let expected: Vec<Engine> = shared.with_engines(|engines| {
        (0..2)
            .map(|partition| engines.get_mut(partition).unwrap().clone())
            .collect()
    });
    let directory = tempfile::tempdir().unwrap();
    let root = directory.path().to_str().unwrap();
    let mut snapshots = Snapshots::new(Arc::clone(&shared), root, 2, "cluster".into());
    let offsets: InputOffsets = [
        (("customer.usage".to_string(), 0), 11),
        (("customer.usage".to_string(), 1), 22),
    ]
    .into_iter()
    .collect();
    snapshots.begin(SnapshotStart {
        offsets,
        deliveries: DeliveriesSoFar::acknowledged_already(),
        counts: Counts::default(),
    });
    let mut steps = 0;
    while snapshots.is_capturing() {
        // Events go on between steps: a second login of every customer, after the start.
        shared.with_engines(|engines| {
            let customer = steps % customers;
            let line = login(customer, 2);
            let event = decode_json(line.as_bytes()).unwrap();
            engines
                .engine_mut((customer % 2) as i32)
                .ingest(&event, &mut outputs);
        });
        snapshots.step();
        steps += 1;
    }
    assert!(
        steps > 1,
        "a snapshot of {customers} customers takes several steps"
    );
    let outcome = snapshots.written().await.unwrap();
    let offsets = snapshots.record(outcome).expect("the snapshot is written");
    assert_eq!(offsets.len(), 2);
    for (partition, expected) in expected.iter().enumerate() {
        let partition = partition as i32;
        let loaded = SnapshotStore::of_partition(directory.path(), partition, 2)
            .load_latest(|snapshot| {
                Engine::decode_state(Arc::clone(&model), &snapshot.engine_state)
                    .map(|engine| (engine, snapshot.offsets))
            })
            .unwrap()
            .expect("a snapshot of every partition")
            .value;
        let (engine, offsets) = loaded;
        assert_eq!(engine.customer_count(), expected.customer_count());
        let id = expected.customer_ids().next().unwrap();
        assert_eq!(engine.view(id, None, true), expected.view(id, None, true));
        let own: Vec<_> = offsets.into_iter().collect();
        let next = if partition == 0 { 11 } else { 22 };
        assert_eq!(own, vec![(("customer.usage".to_string(), partition), next)]);
    }
}
