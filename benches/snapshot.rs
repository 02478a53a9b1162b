//! Snapshot and restore time at 1,000,000 customers with the default model: encoding the engine's
//! state, writing it atomically (fsync and rename), and reading, checking and decoding it back.
//!
//! `cargo bench --bench snapshot`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use healthscore::config::{Config, DEFAULT_CONFIG_TOML};
use healthscore::engine::codec::Writer;
use healthscore::engine::decode::decode_json;
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
        engine.advance_to(decoded.time, &mut outputs);
        engine.apply(&decoded, &mut outputs);
        outputs.clear();
    }
    let directory = tempfile::tempdir()?;
    let store = SnapshotStore::new(directory.path(), 2);

    let started = Instant::now();
    let mut writer = Writer::default();
    engine.encode_state(&mut writer);
    let encoded = started.elapsed();
    let snapshot = Snapshot {
        cluster_id: "bench".into(),
        offsets: BTreeMap::from([(("customer.usage".to_string(), 0), 1)]),
        engine_state: writer.bytes,
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
    assert_eq!(loaded.value.customer_count(), engine.customer_count());
    println!(
        "{} customers: snapshot {:.1} MiB; encode {} ms, write (fsync, rename) {} ms, restore (read, check, decode) {} ms",
        engine.customer_count(),
        size as f64 / (1024.0 * 1024.0),
        encoded.as_millis(),
        written.as_millis(),
        restored.as_millis(),
    );
    Ok(())
}
