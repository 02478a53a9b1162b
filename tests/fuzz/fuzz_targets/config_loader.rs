//! The config loader on arbitrary text: parsing, then compiling the model. Never a panic: a bad
//! config is an error that names its key.
#![no_main]

use healthscore::config::Config;
use healthscore::engine::Model;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    if let Ok(config) = Config::from_toml_str(text, "fuzz") {
        let _ = Model::compile(&config.model);
    }
});
