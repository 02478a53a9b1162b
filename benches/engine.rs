//! Engine speed on realistic mixed events (about 200 bytes of JSON each), single thread:
//! decoding (JSON, Protobuf), applying and scoring, and the whole engine path per event, with a
//! baseline in the same run: parsing the same JSON into a generic `serde_json::Value`; and
//! writing the outputs as JSON, against serde_json writing the same structs; and the whole
//! engine path with the events merged by event time over five inputs first (owned copies queued
//! per source, as the service merges its input topics), against the same path without.
//!
//! `cargo bench --bench engine`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use healthscore::config::{Config, DEFAULT_CONFIG_TOML};
use healthscore::engine::decode::{decode_json, decode_protobuf, encode_protobuf};
use healthscore::engine::{Engine, EventTimeMerge, Model};
use healthscore::generator::{Generator, GeneratorSettings};

const EVENTS: usize = 100_000;
const CUSTOMERS: usize = 5_000;

fn model() -> Arc<Model> {
    let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "default").unwrap();
    Arc::new(Model::compile(&config.model).unwrap())
}

/// The generated events' JSON, and each one's input (its source's place among the five).
fn events() -> (Vec<String>, Vec<usize>) {
    let mut generator = Generator::new(&GeneratorSettings {
        customers: CUSTOMERS,
        ..GeneratorSettings::default()
    });
    let sources = ["usage", "email", "support", "payment", "profile"];
    (0..EVENTS)
        .map(|_| {
            let event = generator.next_event();
            let input = sources
                .iter()
                .position(|source| *source == event.source)
                .unwrap_or(0);
            (event.json, input)
        })
        .unzip()
}

fn benches(criterion: &mut Criterion) {
    let (lines, inputs) = events();
    let bytes: usize = lines.iter().map(String::len).sum();
    eprintln!(
        "{EVENTS} events for {CUSTOMERS} customers, {} bytes of JSON each on average",
        bytes / EVENTS
    );
    let protobuf: Vec<Vec<u8>> = lines
        .iter()
        .map(|line| encode_protobuf(&decode_json(line.as_bytes()).unwrap()))
        .collect();
    let model = model();

    let mut group = criterion.benchmark_group("engine");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);

    group.bench_function("baseline_json_to_value", |bencher| {
        bencher.iter(|| {
            for line in &lines {
                black_box(serde_json::from_str::<serde_json::Value>(line).unwrap());
            }
        })
    });
    group.bench_function("decode_json", |bencher| {
        bencher.iter(|| {
            for line in &lines {
                black_box(decode_json(line.as_bytes()).unwrap());
            }
        })
    });
    group.bench_function("decode_protobuf", |bencher| {
        bencher.iter(|| {
            for message in &protobuf {
                black_box(decode_protobuf(message).unwrap());
            }
        })
    });
    let decoded: Vec<_> = lines
        .iter()
        .map(|line| decode_json(line.as_bytes()).unwrap().into_owned())
        .collect();
    group.bench_function("apply_and_score", |bencher| {
        bencher.iter_batched(
            || Engine::new(Arc::clone(&model)),
            |mut engine| {
                let mut outputs = Vec::new();
                for event in &decoded {
                    engine.ingest(event, &mut outputs);
                    outputs.clear();
                }
                engine
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("end_to_end_json", |bencher| {
        bencher.iter_batched(
            || Engine::new(Arc::clone(&model)),
            |mut engine| {
                let mut outputs = Vec::new();
                for line in &lines {
                    let event = decode_json(line.as_bytes()).unwrap();
                    engine.ingest(&event, &mut outputs);
                    black_box(&outputs);
                    outputs.clear();
                }
                engine
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("end_to_end_json_merged_over_five_inputs", |bencher| {
        bencher.iter_batched(
            || Engine::new(Arc::clone(&model)),
            |mut engine| {
                let mut outputs = Vec::new();
                // Never waited out: a head goes once every input has one (profiles, sent once
                // per customer at the start, hold nothing back), so the sparse inputs make the
                // others queue, as in a backfill.
                let mut merge = EventTimeMerge::new(5, u64::MAX, 0);
                merge.set_caught_up(4, true);
                let mut apply = |merge: &mut EventTimeMerge<_>, engine: &mut Engine| {
                    while let Some(merged) = merge.pop(0) {
                        let event: healthscore::engine::Event<'static> = merged.item;
                        engine.ingest(&event, &mut outputs);
                        black_box(&outputs);
                        outputs.clear();
                    }
                };
                // Batches of 512 queued, then whatever is ready applied, as the service does.
                for (batch, batch_inputs) in lines.chunks(512).zip(inputs.chunks(512)) {
                    for (line, input) in batch.iter().zip(batch_inputs) {
                        let event = decode_json(line.as_bytes()).unwrap().into_owned();
                        merge.push(*input, Some(event.time.millis()), event, 0);
                    }
                    apply(&mut merge, &mut engine);
                }
                for input in 0..5 {
                    merge.set_caught_up(input, true);
                }
                apply(&mut merge, &mut engine);
                engine
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // Scoring alone: one evaluation of a customer with a realistic history.
    let mut engine = Engine::new(Arc::clone(&model));
    let mut outputs = Vec::new();
    for event in &decoded {
        engine.ingest(event, &mut outputs);
    }

    // Writing the outputs those events caused as JSON, against serde_json on the same structs.
    let mut writing = criterion.benchmark_group("outputs");
    writing.throughput(Throughput::Elements(outputs.len() as u64));
    writing.sample_size(10);
    let mut json = Vec::new();
    writing.bench_function("baseline_serde_json", |bencher| {
        bencher.iter(|| {
            for output in &outputs {
                json.clear();
                serde_json::to_writer(&mut json, output).unwrap();
                black_box(&json);
            }
        })
    });
    writing.bench_function("write_json", |bencher| {
        bencher.iter(|| {
            for output in &outputs {
                json.clear();
                output.write_json(&mut json);
                black_box(&json);
            }
        })
    });
    writing.finish();

    let customer = engine.customer_ids().next().unwrap().to_string();
    let at = engine.clock();
    let mut single = criterion.benchmark_group("score");
    single.throughput(Throughput::Elements(1));
    single.bench_function("evaluate_one_customer", |bencher| {
        bencher.iter(|| black_box(engine.evaluation(black_box(&customer), Some(at))))
    });
    single.finish();
}

criterion_group!(engine_benches, benches);
criterion_main!(engine_benches);
