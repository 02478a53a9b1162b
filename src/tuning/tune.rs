//! The whole fit of `healthscore tune`: from a model, the events known at a time and who
//! churned after it, a tuned model of the same form. A small grid over the settings of
//! [`grid`](super::grid) (coordinate ascent: one setting at a time, kept when the outcomes
//! become more likely), the factor weights fitted at every step (maximum likelihood), then the
//! risk calibrated (isotonic). Pure: the caller reads the files and labels the customers.

use std::sync::Arc;

use super::calibration::fit_calibration;
use super::churn_weights::{fit_churn_weights, FitError, WeightFit};
use super::grid::{round_to_3, scaled, settings, Setting, SCALES};
use crate::backtest::{score_at, Scored};
use crate::config::model::ModelConfig;
use crate::config::ConfigError;
use crate::engine::{Event, EventTime, Model};

/// The most risk one factor may cause after tuning.
pub const MAX_WEIGHT: f64 = 0.95;

/// Passes over the settings before the grid stops (it stops sooner when a pass changes
/// nothing).
const PASSES: usize = 2;

/// A step must raise the mean log-likelihood per customer by this much to be kept.
const MIN_GAIN: f64 = 1e-5;

/// Why tuning failed.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// The model to start from does not compile.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The weights could not be fitted to these outcomes.
    #[error(transparent)]
    Fit(#[from] FitError),
    /// The labels are not one per customer scored.
    #[error("{customers} customers scored but {labels} labels")]
    Labels {
        /// Customers with events before the time.
        customers: usize,
        /// Labels given.
        labels: usize,
    },
}

/// A tuned model and how it came about.
#[derive(Debug, Clone)]
pub struct Tuned {
    /// The tuned model: settings, weights and calibration (its `model_version` unchanged; the
    /// caller names it).
    pub config: ModelConfig,
    /// The weight fit of the chosen settings.
    pub fit: WeightFit,
    /// Each setting that changed, as "key: before -> after".
    pub changes: Vec<String>,
    /// Models scored in the grid.
    pub candidates: usize,
    /// Mean log-likelihood per customer of the starting settings with fitted weights.
    pub start_log_likelihood: f64,
}

/// Tunes `config` to `churned` (one label per customer with events before `at`, in the sorted
/// order of their ids, as [`score_at`] gives them), from `events` (any order; those at or after
/// `at` are not read).
pub fn tune(
    config: &ModelConfig,
    events: &[Event<'static>],
    at: EventTime,
    churned: &[bool],
) -> Result<Tuned, TuneError> {
    let fitted = |config: &ModelConfig| -> Result<(WeightFit, Scored), TuneError> {
        let scored = score_at(Arc::new(Model::compile(config)?), events, at);
        if scored.ids.len() != churned.len() {
            return Err(TuneError::Labels {
                customers: scored.ids.len(),
                labels: churned.len(),
            });
        }
        let start: Vec<f64> = config
            .churn
            .factors
            .iter()
            .map(|factor| factor.weight.min(MAX_WEIGHT))
            .collect();
        let fit = fit_churn_weights(&scored.factor_values, churned, &start, MAX_WEIGHT)?;
        Ok((fit, scored))
    };
    let (start_fit, start_scored) = fitted(config)?;
    let start_log_likelihood = start_fit.mean_log_likelihood;
    // A factor no customer has (no such events in the data) is left as it is: its settings
    // change nothing, and nothing in the outcomes speaks for or against them.
    let present: Vec<bool> = (0..config.churn.factors.len())
        .map(|factor| {
            start_scored
                .factor_values
                .iter()
                .any(|row| row[factor] > 0.0)
        })
        .collect();
    let worth_trying = |setting: &Setting, config: &ModelConfig| match setting {
        Setting::Normalize { factor } => present.get(*factor).copied().unwrap_or(false),
        Setting::HalfLife { signal } => config
            .churn
            .factors
            .iter()
            .zip(&present)
            .any(|(factor, present)| *present && factor.signal.as_deref() == Some(signal.as_str())),
    };
    let mut best = (config.clone(), start_fit);
    let mut candidates = 1;
    for _ in 0..PASSES {
        let mut improved = false;
        for setting in settings(&best.0) {
            if !worth_trying(&setting, &best.0) {
                continue;
            }
            for scale in SCALES {
                let Some(candidate) = scaled(&best.0, &setting, scale) else {
                    continue;
                };
                // A variant that does not compile (a bound scaled out of range) is skipped.
                let Ok((fit, _)) = fitted(&candidate) else {
                    continue;
                };
                candidates += 1;
                if fit.mean_log_likelihood > best.1.mean_log_likelihood + MIN_GAIN {
                    best = (candidate, fit);
                    improved = true;
                }
            }
        }
        if !improved {
            break;
        }
    }
    let (mut tuned, fit) = best;
    for (factor, weight) in tuned.churn.factors.iter_mut().zip(&fit.weights) {
        factor.weight = round_to_3(*weight);
    }
    tuned.churn.calibration.clear();
    let (_, scored) = fitted(&tuned)?;
    tuned.churn.calibration = rounded_knots(&fit_calibration(&scored.risks, churned));
    Ok(Tuned {
        changes: changes(config, &tuned),
        config: tuned,
        fit,
        candidates,
        start_log_likelihood,
    })
}

/// `knots` to 4 decimals, dropping a knot whose rounded raw risk is not above the one before.
fn rounded_knots(knots: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let round = |value: f64| (value * 10_000.0).round() / 10_000.0;
    let mut rounded: Vec<[f64; 2]> = Vec::with_capacity(knots.len());
    for [raw, calibrated] in knots {
        let knot = [round(*raw), round(*calibrated)];
        if rounded
            .last()
            .is_none_or(|last| knot[0] > last[0] && knot[1] >= last[1])
        {
            rounded.push(knot);
        }
    }
    rounded
}

/// What differs between `before` and `after`, setting by setting.
fn changes(before: &ModelConfig, after: &ModelConfig) -> Vec<String> {
    let mut changes = Vec::new();
    for (index, (old, new)) in before
        .churn
        .factors
        .iter()
        .zip(&after.churn.factors)
        .enumerate()
    {
        if old.normalize != new.normalize {
            changes.push(format!(
                "churn.factors[{index}] ({}) normalize: {:?} -> {:?}",
                old.name, old.normalize, new.normalize
            ));
        }
        if old.weight != new.weight {
            changes.push(format!(
                "churn.factors[{index}] ({}) weight: {} -> {}",
                old.name, old.weight, new.weight
            ));
        }
    }
    for (name, old) in &before.signals {
        if let Some(new) = after.signals.get(name) {
            if old.half_life != new.half_life {
                let show = |half_life: Option<crate::config::ConfigDuration>| {
                    half_life.map_or("none".to_string(), |half_life| half_life.to_string())
                };
                changes.push(format!(
                    "signals.{name}.half_life: {} -> {}",
                    show(old.half_life),
                    show(new.half_life)
                ));
            }
        }
    }
    changes
}
