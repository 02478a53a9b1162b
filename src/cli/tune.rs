//! `healthscore tune`: fits the model to real outcomes (see [`crate::tuning`]) on what is known
//! at `--at`, writes the tuned model as a complete config file, and reports how it does against
//! the untuned model and the baselines: at `--validate-at` when given (out of sample), else
//! in sample, and says which.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;

use super::evaluate::{read_churned, write_plot};
use super::{parse_time, CliError};
use crate::backtest::plot;
use crate::backtest::{labels, score_at, Report, Scored};
use crate::config::{Config, ConfigDuration, ConfigError};
use crate::engine::{Event, EventTime, Model};
use crate::input::{InputItem, MergedInput};
use crate::tuning::model_file::tuned_model_file;
use crate::tuning::{tune, Tuned};

/// Arguments of `healthscore tune`.
#[derive(Debug, Args)]
pub struct TuneArgs {
    /// The config file whose model is tuned (read as written: no environment overrides).
    #[arg(long)]
    pub config: PathBuf,
    /// JSON-lines event files: those before `--at` are fitted on (and, with `--validate-at`,
    /// those before it are scored there).
    #[arg(long, required = true, num_args = 1..)]
    pub input: Vec<PathBuf>,
    /// When the fit is made: only what is known then is used (RFC 3339 or epoch ms).
    #[arg(long, value_parser = parse_time)]
    pub at: EventTime,
    /// Outcome events: a `churned` outcome in (`--at`, `--at` + `--horizon`] is a churn.
    #[arg(
        long,
        conflicts_with = "inactive_for",
        required_unless_present = "inactive_for"
    )]
    pub outcomes: Option<PathBuf>,
    /// For data without explicit churn: a customer with no event in the input for this long
    /// after `--at` (such as "100d") churned.
    #[arg(long)]
    pub inactive_for: Option<ConfigDuration>,
    /// How long after the time a churn counts (default: to the last outcome).
    #[arg(long)]
    pub horizon: Option<ConfigDuration>,
    /// A later time to check the tuned model at, out of sample.
    #[arg(long, value_parser = parse_time, requires = "validate_outcomes")]
    pub validate_at: Option<EventTime>,
    /// The outcomes after `--validate-at`.
    #[arg(long, requires = "validate_at")]
    pub validate_outcomes: Option<PathBuf>,
    /// Where the tuned config file is written.
    #[arg(long)]
    pub output: PathBuf,
    /// Also draw the check (ROC curves of the tuned and untuned model and the baselines, and
    /// the tuned model's calibration) here, as SVG.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: &TuneArgs) -> Result<(), CliError> {
    let original = std::fs::read_to_string(&args.config).map_err(|source| {
        CliError::Config(ConfigError::Read {
            path: args.config.clone(),
            source,
        })
    })?;
    let base = Config::from_toml_str(&original, &args.config.display().to_string())?.model;
    let (events, malformed) = read_events(&args.input)?;
    let base_model = Arc::new(Model::compile(&base)?);
    let fitted_on = score_at(Arc::clone(&base_model), &events, args.at);
    let (churned, label_text, training_end) = training_labels(args, &fitted_on.ids, &events)?;

    let Tuned {
        config: mut tuned,
        fit,
        changes,
        candidates,
        start_log_likelihood,
    } = tune(&base, &events, args.at, &churned)
        .map_err(|error| CliError::Data(error.to_string()))?;
    tuned.model_version = format!("{}-tuned-{}", base.model_version, date(args.at));
    let tuned_model = Arc::new(Model::compile(&tuned)?);

    // The check: out of sample at --validate-at, else in sample at --at.
    let (untuned_scored, check_labels, horizon_end, in_sample) =
        match (&args.validate_at, &args.validate_outcomes) {
            (Some(at), Some(outcomes)) => {
                let scored = score_at(Arc::clone(&base_model), &events, *at);
                let (churned, last) = read_churned(outcomes)?;
                let end = labels::horizon_end(*at, args.horizon, last);
                let labels = labels::from_outcomes(&scored.ids, &churned, *at, end);
                (scored, labels, end, false)
            }
            _ => (fitted_on, churned.clone(), training_end, true),
        };
    let check_at = untuned_scored.at;
    let tuned_scored = score_at(tuned_model, &events, check_at);
    let end = horizon_end.to_string();
    let untuned = Report::new(&base.model_version, &untuned_scored, &check_labels, &end);
    let report = Report::new(&tuned.model_version, &tuned_scored, &check_labels, &end);
    let auc = |value: Option<f64>| value.map_or("n/a".to_string(), |value| format!("{value:.3}"));
    let sample = if in_sample {
        format!(
            "in sample, at {} (no --validate-at: these figures flatter)",
            args.at
        )
    } else {
        format!("out of sample, at {check_at}")
    };

    let mut header = vec![
        format!(
            "Tuned by `healthscore tune` from {} (model {}).",
            args.config.display(),
            base.model_version
        ),
        format!(
            "Fitted at {} on {} customers from {} ({malformed} malformed lines skipped); \
             churn: {label_text}.",
            args.at,
            churned.len(),
            args.input
                .iter()
                .map(|path| path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        format!(
            "{candidates} settings scored; mean log-likelihood per customer {:.4} with the \
             starting settings, {:.4} tuned.",
            start_log_likelihood, fit.mean_log_likelihood
        ),
        format!(
            "Churn-risk ROC AUC {} tuned, {} untuned; riskiest-decile lift {:.2} tuned, {:.2} \
             untuned ({sample}).",
            auc(report.auc_churn_risk),
            auc(untuned.auc_churn_risk),
            report.top_decile_lift,
            untuned.top_decile_lift
        ),
        format!(
            "Calibrated with {} knots (isotonic, on the fit's outcomes).",
            tuned.churn.calibration.len()
        ),
    ];
    if changes.is_empty() {
        header.push("Nothing changed but the calibration.".into());
    } else {
        header.push("Changed:".into());
        header.extend(changes.iter().map(|change| format!("  {change}")));
    }
    let text = tuned_model_file(&original, &tuned, &header)
        .map_err(|error| CliError::Data(error.to_string()))?;
    std::fs::write(&args.output, text).map_err(|source| CliError::Output {
        path: args.output.clone(),
        source,
    })?;
    if let Some(path) = &args.report {
        write_report_plot(
            path,
            &report,
            &untuned,
            &tuned_scored,
            &untuned_scored,
            &check_labels,
        )?;
    }
    for line in &header {
        println!("{line}");
    }
    println!("\nThe tuned model, {sample}:\n{}", report.to_text());
    println!("The untuned model, {sample}:\n{}", untuned.to_text());
    println!("Written to {}.", args.output.display());
    Ok(())
}

/// Every valid event of `paths`, and how many malformed lines were skipped (`replay` would
/// dead-letter them).
fn read_events(paths: &[PathBuf]) -> Result<(Vec<Event<'static>>, usize), CliError> {
    let mut input = MergedInput::open(paths)?;
    let (mut events, mut malformed) = (Vec::new(), 0);
    while let Some(item) = input.next_item()? {
        match item {
            InputItem::Event(event) => events.push(event),
            InputItem::DeadLetter(_) => malformed += 1,
        }
    }
    Ok((events, malformed))
}

/// Who churned after `--at`, for `ids`, how that was decided (for the file's header), and when
/// the window that decided it ends.
fn training_labels(
    args: &TuneArgs,
    ids: &[String],
    events: &[Event<'static>],
) -> Result<(Vec<bool>, String, EventTime), CliError> {
    match (&args.outcomes, args.inactive_for) {
        (Some(path), _) => {
            let (churned, last) = read_churned(path)?;
            let end = labels::horizon_end(args.at, args.horizon, last);
            Ok((
                labels::from_outcomes(ids, &churned, args.at, end),
                format!("a churned outcome in {} until {end}", path.display()),
                end,
            ))
        }
        (None, Some(inactive_for)) => {
            let activity = events
                .iter()
                .map(|event| (event.customer_id.as_ref(), event.time));
            let churned = labels::from_inactivity(ids, activity, args.at, inactive_for.millis())
                .map_err(|error| CliError::Data(error.to_string()))?;
            Ok((
                churned,
                format!("no event for {inactive_for} after it"),
                args.at.plus_millis(inactive_for.millis()),
            ))
        }
        (None, None) => Err(CliError::Usage(
            "one of --outcomes and --inactive-for is needed".into(),
        )),
    }
}

/// The date of `at`, as a model version suffix (`2011-05-24`).
fn date(at: EventTime) -> String {
    at.to_string().chars().take(10).collect()
}

/// The check drawn: the tuned model's ROC curve first, then the untuned one's and the
/// baselines', beside the tuned model's calibration.
fn write_report_plot(
    path: &Path,
    report: &Report,
    untuned: &Report,
    tuned_scored: &Scored,
    untuned_scored: &Scored,
    labels: &[bool],
) -> Result<(), CliError> {
    let mut curves = plot::model_and_baseline_curves(report, tuned_scored, labels);
    curves.insert(1, plot::model_curve(untuned, untuned_scored, labels));
    write_plot(path, report, &curves)
}
