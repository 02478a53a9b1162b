//! Snapshot and restore time at 1,000,000 customers with the default model: encoding the engine's
//! state in one go and in the service's steps (with events applied between steps, as the service
//! does, and the longest step being the longest pause in processing), writing it atomically
//! (fsync and rename, off the processing loop in the service), and reading, checking and decoding
//! it back.
//!
//! `cargo bench --bench snapshot`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use healthscore::config::{Config, DEFAULT_CONFIG_TOML};
use healthscore::engine::decode::decode_json;
use healthscore::engine::Writer;
use healthscore::engine::{Engine, Model};
use healthscore::generator::{Generator, GeneratorSettings};
use healthscore::snapshot::{Snapshot, SnapshotStore};

const CUSTOMERS: usize = 1_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "default")?;
    let model = Arc::new(Model::compile(&config.model)?);
    let mut generator = Generator::new(&GeneratorSettings {
        customers: CUSTOMERS,
        ..GeneratorSettings::default()
    });
    let mut engine = Engine::new(Arc::clone(&model));
    let mut outputs = Vec::new();
    for _ in 0..CUSTOMERS * 4 {
        let event = generator.next_event();
        let decoded = decode_json(event.json.as_bytes())?;
        engine.ingest(&decoded, &mut outputs);
        outputs.clear();
    }
    let directory = tempfile::tempdir()?;
    let store = SnapshotStore::new(directory.path(), 2);

    let started = Instant::now();
    let mut writer = Writer::default();
    engine.encode_state(&mut writer);
    let encoded = started.elapsed();

    // The service's way: a step of 2048 customers every few milliseconds, events in between.
    let started = Instant::now();
    let mut longest_step = std::time::Duration::ZERO;
    let mut steps = 0;
    let mut events_between = 0;
    let customers_at_begin = engine.customer_count();
    engine.begin_snapshot();
    let stepped = loop {
        let step_started = Instant::now();
        let finished = engine.snapshot_step(2048);
        longest_step = longest_step.max(step_started.elapsed());
        steps += 1;
        if let Some(bytes) = finished {
            break bytes;
        }
        for _ in 0..200 {
            let event = generator.next_event();
            let decoded = decode_json(event.json.as_bytes())?;
            engine.ingest(&decoded, &mut outputs);
            outputs.clear();
            events_between += 1;
        }
    };
    let stepped_total = started.elapsed();
    assert_eq!(stepped.len(), writer.bytes.len());
    let snapshot = Snapshot {
        cluster_id: "bench".into(),
        offsets: BTreeMap::from([(("customer.usage".to_string(), 0), 1)]),
        engine_state: stepped,
    };
    let started = Instant::now();
    let (_, _, size) = store.write(&snapshot)?;
    let written = started.elapsed();
    drop(snapshot);

    let started = Instant::now();
    let loaded = store
        .load_latest(|snapshot| Engine::decode_state(Arc::clone(&model), &snapshot.engine_state))?
        .ok_or("no snapshot")?;
    let restored = started.elapsed();
    assert_eq!(loaded.value.customer_count(), customers_at_begin);
    println!(
        "{} customers: snapshot {:.1} MiB; encode at once {} ms; in steps: {steps} steps over {} ms \
         with {events_between} events applied between them, longest step (processing pause) {:.2} ms; \
         write (fsync, rename) {} ms, restore (read, check, decode) {} ms",
        loaded.value.customer_count(),
        size as f64 / (1024.0 * 1024.0),
        encoded.as_millis(),
        stepped_total.as_millis(),
        longest_step.as_secs_f64() * 1000.0,
        written.as_millis(),
        restored.as_millis(),
    );
    Ok(())
}
