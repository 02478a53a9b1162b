//! `healthscore replay`: the engine over JSON-lines files, no Kafka.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::{parse_time, CliError, OutputFile};
use crate::config::Config;
use crate::engine::{ApplyOutcome, Engine, EventTime, Model, OutputEvent};
use crate::input::{InputItem, MergedInput};

/// Arguments of `healthscore replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The config file (default: HEALTHSCORE_CONFIG, else config/healthscore.toml, else built-in).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// JSON-lines event files (`.gz` is read compressed), merged in event-time order.
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// Where output events are written, one JSON object per line, in order.
    #[arg(long)]
    pub output: PathBuf,
    /// Where malformed lines are written, with the reason.
    #[arg(long)]
    pub dead_letter: Option<PathBuf>,
    /// Advance time to here at the end (RFC 3339 or epoch ms; default: the last event time).
    #[arg(long, value_parser = parse_time)]
    pub until: Option<EventTime>,
    /// Write every customer's final state here, one JSON line per customer, sorted by id.
    #[arg(long)]
    pub state_out: Option<PathBuf>,
}

/// Counts for the closing summary line.
#[derive(Debug, Default)]
struct Counts {
    events: u64,
    outcomes: BTreeMap<&'static str, u64>,
    dead_letters: u64,
    outputs: BTreeMap<&'static str, u64>,
    evicted: u64,
}

fn write_outputs(
    outputs: &mut Vec<OutputEvent>,
    file: &mut OutputFile,
    counts: &mut Counts,
) -> Result<(), CliError> {
    for output in outputs.drain(..) {
        *counts.outputs.entry(output.kind()).or_default() += 1;
        file.line(&output.to_json())?;
    }
    Ok(())
}

/// The latest event time in `paths`, read through once.
fn input_head(paths: &[PathBuf], max_line_bytes: usize) -> Result<Option<EventTime>, CliError> {
    let mut input = MergedInput::open_limited(paths, max_line_bytes)?;
    let mut head = None;
    while let Some(item) = input.next_item()? {
        if let InputItem::Event(event) = item {
            head = Some(head.map_or(event.time, |head: EventTime| head.max(event.time)));
        }
    }
    Ok(head)
}

/// Runs the command.
pub fn run(args: &ReplayArgs) -> Result<(), CliError> {
    let config = Config::load(args.config.as_deref())?;
    let mut engine = Engine::new(Arc::new(Model::compile(&config.model)?));
    // Lines are messages: over the service's limit they are dead letters, as in the service.
    let max_line_bytes = config.service.kafka.max_message_bytes;
    // The head of the input is its last event: alerts far behind it are history (stale), as the
    // service finds them from the end of its partitions.
    if let Some(head) = input_head(&args.input, max_line_bytes)? {
        engine.note_head(head);
    }
    let mut input = MergedInput::open_limited(&args.input, max_line_bytes)?;
    let mut output = OutputFile::create(&args.output)?;
    let mut dead_letters = args
        .dead_letter
        .as_deref()
        .map(OutputFile::create)
        .transpose()?;
    let mut counts = Counts::default();
    let mut outputs = Vec::new();
    while let Some(item) = input.next_item()? {
        match item {
            InputItem::DeadLetter(dead_letter) => {
                counts.dead_letters += 1;
                if let Some(file) = dead_letters.as_mut() {
                    file.line(&dead_letter.to_json())?;
                }
            }
            InputItem::Event(event) => {
                counts.events += 1;
                // Replay's watermark is the latest event time read; the clock never goes back.
                let outcome: ApplyOutcome = engine.ingest(&event, &mut outputs);
                counts.evicted += engine.evict_beyond_cap();
                *counts.outcomes.entry(outcome.as_str()).or_default() += 1;
                write_outputs(&mut outputs, &mut output, &mut counts)?;
            }
        }
    }
    engine.advance_to(args.until.unwrap_or(engine.clock()), &mut outputs);
    write_outputs(&mut outputs, &mut output, &mut counts)?;
    output.finish()?;
    if let Some(file) = dead_letters {
        file.finish()?;
    }
    if let Some(path) = &args.state_out {
        write_state(&engine, path)?;
    }
    eprintln!(
        "replay: {} events ({}), {} dead letters; {} output events ({}); {} customers ({} evicted)",
        counts.events,
        summary(&counts.outcomes),
        counts.dead_letters,
        counts.outputs.values().sum::<u64>(),
        summary(&counts.outputs),
        engine.customer_count(),
        counts.evicted,
    );
    Ok(())
}

fn summary(counts: &BTreeMap<&'static str, u64>) -> String {
    counts
        .iter()
        .map(|(name, count)| format!("{count} {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes one JSON line per customer, sorted by id.
fn write_state(engine: &Engine, path: &Path) -> Result<(), CliError> {
    let mut file = OutputFile::create(path)?;
    let mut ids: Vec<&str> = engine.customer_ids().collect();
    ids.sort_unstable();
    for id in ids {
        if let Some(view) = engine.view(id, None, false) {
            let line = serde_json::to_string(&view).unwrap_or_default();
            file.line(&line)?;
        }
    }
    file.finish()
}
