//! `healthscore evaluate`: backtests the model against real outcomes (churned, renewed, expanded).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::{load_model, parse_time, CliError, OutputFile};
use crate::config::ConfigDuration;
use crate::engine::{ApplyOutcome, Engine, EventTime};
use crate::evaluation::{roc_auc, top_decile, Report};
use crate::input::{InputItem, MergedInput};

/// Arguments of `healthscore evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// The config file (default: HEALTHSCORE_CONFIG, else config/healthscore.toml, else built-in).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// JSON-lines event files; only events before `--at` are scored.
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// JSON-lines outcome events (`churned`, `renewed`, `expanded`).
    #[arg(long)]
    pub outcomes: PathBuf,
    /// When customers are scored (RFC 3339 or epoch ms).
    #[arg(long, value_parser = parse_time)]
    pub at: EventTime,
    /// How long after `--at` a churn counts, such as "90d" (default: to the last outcome).
    #[arg(long)]
    pub horizon: Option<ConfigDuration>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also write each customer's prediction and label here, one JSON line per customer.
    #[arg(long)]
    pub predictions: Option<PathBuf>,
}

/// What the simple baselines need per customer.
#[derive(Debug, Default, Clone, Copy)]
struct Activity {
    last: EventTime,
    count: u64,
    /// Events weighted by 2^((t - at) / 30 days).
    decayed_30d: f64,
}

/// Half-life of the decayed-count baseline.
const BASELINE_HALF_LIFE_DAYS: f64 = 30.0;

/// Runs the command.
pub fn run(args: &EvaluateArgs) -> Result<(), CliError> {
    let model = load_model(args.config.as_deref())?;
    let model_version = model.version.to_string();
    let mut engine = Engine::new(Arc::new(model));
    let mut activity: HashMap<String, Activity> = HashMap::new();
    let mut input = MergedInput::open(&args.input)?;
    let mut sink = Vec::new();
    while let Some(item) = input.next_item()? {
        let InputItem::Event(event) = item else {
            continue;
        };
        if event.time >= args.at {
            continue;
        }
        if engine.ingest(&event, &mut sink) == ApplyOutcome::Applied {
            let entry = activity.entry(event.customer_id.to_string()).or_default();
            entry.last = entry.last.max(event.time);
            entry.count += 1;
            entry.decayed_30d += (-args.at.days_since(event.time) / BASELINE_HALF_LIFE_DAYS).exp2();
        }
        sink.clear();
    }
    engine.advance_to(args.at, &mut sink);

    let (churned, last_outcome) = read_churned(args)?;
    let horizon_end = match args.horizon {
        Some(horizon) => args.at.plus_millis(horizon.millis()),
        None => last_outcome.unwrap_or(args.at),
    };
    let churned: HashSet<String> = churned
        .into_iter()
        .filter(|(_, time)| *time > args.at && *time <= horizon_end)
        .map(|(id, _)| id)
        .collect();

    let mut ids: Vec<&str> = engine.customer_ids().collect();
    ids.sort_unstable();
    let mut labels = Vec::with_capacity(ids.len());
    let mut risks = Vec::with_capacity(ids.len());
    let mut inverse_scores = Vec::with_capacity(ids.len());
    let mut recency = Vec::with_capacity(ids.len());
    let mut inverse_counts = Vec::with_capacity(ids.len());
    let mut inverse_decayed = Vec::with_capacity(ids.len());
    for id in &ids {
        let Some(evaluation) = engine.evaluation(id, Some(args.at)) else {
            continue;
        };
        let seen = activity.get(*id).copied().unwrap_or_default();
        labels.push(churned.contains(*id));
        risks.push(evaluation.risk);
        inverse_scores.push(-evaluation.score);
        recency.push(args.at.days_since(seen.last));
        inverse_counts.push(-(seen.count as f64));
        inverse_decayed.push(-seen.decayed_30d);
    }
    if let Some(path) = &args.predictions {
        write_predictions(path, &ids, &risks, &inverse_scores, &labels)?;
    }
    let (top_decile_precision, top_decile_lift) = top_decile(&risks, &labels);
    let baselines = BTreeMap::from([
        (
            "days_since_last_event".to_string(),
            roc_auc(&recency, &labels),
        ),
        ("event_count".to_string(), roc_auc(&inverse_counts, &labels)),
        (
            "events_decayed_30d".to_string(),
            roc_auc(&inverse_decayed, &labels),
        ),
    ]);
    let report = Report {
        model_version,
        at: args.at.to_string(),
        horizon_end: horizon_end.to_string(),
        customers: labels.len(),
        positives: labels.iter().filter(|label| **label).count(),
        auc_churn_risk: roc_auc(&risks, &labels),
        auc_score: roc_auc(&inverse_scores, &labels),
        top_decile_precision,
        top_decile_lift,
        baselines,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

/// Churn outcomes as (customer, time).
type Churned = Vec<(String, EventTime)>;

/// Every `churned` outcome, and the time of the last outcome of any kind.
fn read_churned(args: &EvaluateArgs) -> Result<(Churned, Option<EventTime>), CliError> {
    let mut outcomes = MergedInput::open(std::slice::from_ref(&args.outcomes))?;
    let mut churned = Vec::new();
    let mut last = None;
    while let Some(item) = outcomes.next_item()? {
        if let InputItem::Event(event) = item {
            last = Some(last.map_or(event.time, |last: EventTime| last.max(event.time)));
            if event.event_type == "churned" {
                churned.push((event.customer_id.into_owned(), event.time));
            }
        }
    }
    Ok((churned, last))
}

/// Writes `{"customer_id", "churn_risk", "score", "churned"}` per customer.
fn write_predictions(
    path: &std::path::Path,
    ids: &[&str],
    risks: &[f64],
    inverse_scores: &[f64],
    labels: &[bool],
) -> Result<(), CliError> {
    let mut file = OutputFile::create(path)?;
    for (((id, risk), inverse_score), label) in
        ids.iter().zip(risks).zip(inverse_scores).zip(labels)
    {
        let line = serde_json::json!({
            "customer_id": id,
            "churn_risk": risk,
            "score": -inverse_score,
            "churned": label,
        });
        file.line(&line.to_string())?;
    }
    file.finish()
}
