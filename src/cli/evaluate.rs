//! `healthscore evaluate`: backtests the model against real outcomes (churned, renewed,
//! expanded): every customer scored at `--at` from the events before it, against who churned
//! after it, beside three simple baselines (see [`crate::backtest`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::{load_model, parse_time, CliError, OutputFile};
use crate::backtest::plot::{self, backtest_svg, NamedCurve};
use crate::backtest::{labels, Backtest, Report, Scored, DEFAULT_ALERT_WINDOW_MILLIS};
use crate::config::ConfigDuration;
use crate::engine::EventTime;
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
    /// The window before `--at` whose churn alerts count for alert precision (default 30d).
    #[arg(long)]
    pub alert_window: Option<ConfigDuration>,
    /// Also draw the ROC curves (model and baselines) and the calibration diagram here, as SVG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: &EvaluateArgs) -> Result<(), CliError> {
    let model = load_model(args.config.as_deref())?;
    let model_version = model.version.to_string();
    let window = args
        .alert_window
        .map_or(DEFAULT_ALERT_WINDOW_MILLIS, ConfigDuration::millis);
    let mut backtest = Backtest::with_alert_window(Arc::new(model), args.at, window);
    let mut input = MergedInput::open(&args.input)?;
    let mut outputs = Vec::new();
    while let Some(item) = input.next_item()? {
        if let InputItem::Event(event) = item {
            backtest.apply(&event, &mut outputs);
        }
    }
    let scored = backtest.finish();

    let (churned, last_outcome) = read_churned(&args.outcomes)?;
    let horizon_end = labels::horizon_end(args.at, args.horizon, last_outcome);
    let labels = labels::from_outcomes(&scored.ids, &churned, args.at, horizon_end);
    if let Some(path) = &args.predictions {
        write_predictions(path, &scored, &labels)?;
    }
    let report = Report::new(&model_version, &scored, &labels, &horizon_end.to_string());
    if let Some(path) = &args.plot {
        write_plot(
            path,
            &report,
            &plot::model_and_baseline_curves(&report, &scored, &labels),
        )?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        print!("{}", report.to_text());
    }
    Ok(())
}

/// Churn outcomes as (customer, time).
pub type Churned = Vec<(String, EventTime)>;

/// Every `churned` outcome in `path`, and the time of the last outcome of any kind.
pub fn read_churned(path: &Path) -> Result<(Churned, Option<EventTime>), CliError> {
    let mut outcomes = MergedInput::open(&[path.to_path_buf()])?;
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

/// Draws `curves` (the model's first) and `report`'s calibration diagram into `path`, as SVG.
pub fn write_plot(path: &Path, report: &Report, curves: &[NamedCurve]) -> Result<(), CliError> {
    let failed = |source: std::io::Error| CliError::Output {
        path: path.to_path_buf(),
        source,
    };
    let svg = backtest_svg(&plot::title(report), curves, &report.calibration)
        .map_err(|error| failed(std::io::Error::other(error)))?;
    std::fs::write(path, svg).map_err(failed)
}

/// Writes `{"customer_id", "churn_risk", "score", "churned"}` per customer.
fn write_predictions(path: &Path, scored: &Scored, labels: &[bool]) -> Result<(), CliError> {
    let mut file = OutputFile::create(path)?;
    for (((id, risk), score), label) in scored
        .ids
        .iter()
        .zip(&scored.risks)
        .zip(&scored.scores)
        .zip(labels)
    {
        let line = serde_json::json!({
            "customer_id": id,
            "churn_risk": risk,
            "score": score,
            "churned": label,
        });
        file.line(&line.to_string())?;
    }
    file.finish()
}
