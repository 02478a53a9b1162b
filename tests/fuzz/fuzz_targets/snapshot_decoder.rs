//! The snapshot decoder on arbitrary bytes, as a damaged or foreign file on the shared volume
//! would give it: the file format (magic, version, length, checksum), then the engine state it
//! carries, read with the default model. Never a panic, never an allocation the bytes do not
//! justify (libFuzzer's -malloc_limit_mb catches those): a corrupt snapshot is refused with a
//! reason. The state bytes are also decoded directly, since a checksum guards only against
//! damage, not against a writer's bug.
#![no_main]

use std::sync::{Arc, OnceLock};

use healthscore::config::{Config, DEFAULT_CONFIG_TOML};
use healthscore::engine::{Engine, Model};
use healthscore::snapshot::decode_snapshot;
use libfuzzer_sys::fuzz_target;

fn model() -> Arc<Model> {
    static MODEL: OnceLock<Arc<Model>> = OnceLock::new();
    Arc::clone(MODEL.get_or_init(|| {
        let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "default").expect("default config");
        Arc::new(Model::compile(&config.model).expect("default model"))
    }))
}

fuzz_target!(|bytes: &[u8]| {
    if let Ok(snapshot) = decode_snapshot(bytes) {
        let _ = Engine::decode_state(model(), &snapshot.engine_state);
    }
    let _ = Engine::decode_state(model(), bytes);
});
