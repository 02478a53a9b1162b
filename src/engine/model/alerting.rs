//! Alerting thresholds (`alerting`).

use super::bands::Bands;
use crate::config::model::AlertingConfig;
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
}

/// Compiles `alerting`: an alert level above `low`, and thresholds that are numbers >= 0.
pub fn compile_alerting(
    alerting: &AlertingConfig,
    risk_levels: &Bands,
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
    Ok(Alerting {
        min_score_change: alerting.min_score_change,
        score_hysteresis: alerting.score_hysteresis,
        risk_hysteresis: alerting.risk_hysteresis,
        churn_alert_level,
        churn_cooldown_millis: alerting.churn_cooldown.millis(),
        expansion_cooldown_millis: alerting.expansion_cooldown.millis(),
    })
}
