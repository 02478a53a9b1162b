//! Alerting thresholds (`alerting`).

use super::bands::Bands;
use super::measure::Measure;
use crate::config::model::{AlertingConfig, DEFAULT_WARM_UP_EXEMPT};
use crate::config::ConfigError;

/// Alerting thresholds.
#[derive(Debug, Clone)]
pub struct Alerting {
    /// Smallest score move worth a `score_changed`.
    pub min_score_change: f64,
    /// Hysteresis for grade, health and tier, in score points.
    pub score_hysteresis: f64,
    /// Hysteresis for the risk level.
    pub risk_hysteresis: f64,
    /// Lowest risk level that alerts.
    pub churn_alert_level: u8,
    /// Churn alert cooldown in milliseconds.
    pub churn_cooldown_millis: i64,
    /// Expansion signal cooldown in milliseconds.
    pub expansion_cooldown_millis: i64,
    /// Tenure under which churn alerts are held, in milliseconds.
    pub warm_up_millis: i64,
    /// The churn factors (indices) that raise an alert during the warm-up all the same.
    pub warm_up_exempt: Vec<usize>,
    /// How far behind the head of the input a churn alert is stale, in milliseconds.
    pub max_age_millis: i64,
}

/// Compiles `alerting`: an alert level above `low`, thresholds that are numbers >= 0, and
/// warm-up exemptions that name churn factors (`churn_factors`, in order).
pub fn compile_alerting(
    alerting: &AlertingConfig,
    risk_levels: &Bands,
    churn_factors: &[Measure],
) -> Result<Alerting, ConfigError> {
    let churn_alert_level = risk_levels
        .level_of(&alerting.churn_alert_level)
        .filter(|level| *level > 0)
        .ok_or_else(|| {
            ConfigError::invalid(
                "alerting.churn_alert_level",
                "must be one of medium, high, critical",
            )
        })?;
    for (key, value) in [
        ("alerting.min_score_change", alerting.min_score_change),
        ("alerting.score_hysteresis", alerting.score_hysteresis),
        ("alerting.risk_hysteresis", alerting.risk_hysteresis),
    ] {
        if !value.is_finite() || value < 0.0 {
            return Err(ConfigError::invalid(key, "must be a number >= 0"));
        }
    }
    let position = |name: &str| {
        churn_factors
            .iter()
            .position(|factor| factor.name.as_ref() == name)
    };
    let warm_up_exempt = match &alerting.warm_up_exempt {
        None => DEFAULT_WARM_UP_EXEMPT
            .iter()
            .filter_map(|name| position(name))
            .collect(),
        Some(names) => names
            .iter()
            .enumerate()
            .map(|(index, name)| {
                position(name).ok_or_else(|| {
                    ConfigError::invalid(
                        format!("alerting.warm_up_exempt[{index}]"),
                        format!("no churn factor named `{name}` in churn.factors"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(Alerting {
        warm_up_millis: alerting.warm_up.millis(),
        max_age_millis: alerting.max_age.millis(),
        warm_up_exempt,
        min_score_change: alerting.min_score_change,
        score_hysteresis: alerting.score_hysteresis,
        risk_hysteresis: alerting.risk_hysteresis,
        churn_alert_level,
        churn_cooldown_millis: alerting.churn_cooldown.millis(),
        expansion_cooldown_millis: alerting.expansion_cooldown.millis(),
    })
}
