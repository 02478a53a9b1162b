//! Bytes of state per customer with the default model at 1,000,000 customers, counted by a global
//! allocator (every heap byte the engine holds: index, slots, state words, ids, schedule).
//!
//! `cargo bench --bench memory`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use healthscore::config::{Config, DEFAULT_CONFIG_TOML};
use healthscore::engine::decode::decode_json;
use healthscore::engine::{Engine, Model};
use healthscore::generator::{Generator, GeneratorSettings};

/// Counts live heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CUSTOMERS: usize = 1_000_000;

fn main() {
    let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "default").expect("default config");
    let model = Arc::new(Model::compile(&config.model).expect("default model"));
    let mut generator = Generator::new(&GeneratorSettings {
        customers: CUSTOMERS,
        ..GeneratorSettings::default()
    });
    let before = LIVE.load(Ordering::Relaxed);
    let mut engine = Engine::new(model);
    let mut outputs = Vec::new();
    // Every customer's profile, then three events per customer on average.
    for _ in 0..CUSTOMERS * 4 {
        let event = generator.next_event();
        let decoded = decode_json(event.json.as_bytes()).expect("generated events are valid");
        engine.ingest(&decoded, &mut outputs);
        outputs.clear();
    }
    outputs.shrink_to_fit();
    let after = LIVE.load(Ordering::Relaxed);
    let customers = engine.customer_count();
    println!(
        "{customers} customers: {:.1} MiB of engine state, {} bytes per customer (default model, {} signal words + {} event-id words per customer)",
        (after - before) as f64 / (1024.0 * 1024.0),
        (after - before) / customers,
        engine.model().signal_words,
        2 * engine.model().dedupe_capacity,
    );
    drop(generator);
}
