//! Expansion readiness and the engagement number (`expansion`).

use super::bands::Bands;
use super::components::Component;
use super::fit::{fit_code, FitCode};
use super::signals::{Signal, SignalId};
use crate::config::model::ExpansionConfig;
use crate::config::ConfigError;

/// The expansion-readiness bars and the engagement-number rule.
#[derive(Debug, Clone)]
pub struct Expansion {
    /// The component that decides the engagement number.
    pub engagement_component: usize,
    /// Lowest component score for engagement 1, 2, 3, 4.
    pub engagement_levels: [f64; 4],
    /// The signal that measures adoption.
    pub adoption_signal: SignalId,
    /// Worst qualifying fit code (1 = A).
    pub max_fit: FitCode,
    /// Worst qualifying engagement number.
    pub max_engagement: u8,
    /// Least qualifying adoption.
    pub min_adoption: f64,
    /// Lowest qualifying score.
    pub min_score: f64,
    /// Highest qualifying risk level.
    pub max_risk_level: u8,
}

/// Compiles `expansion`, naming components, signals and risk levels that exist.
pub fn compile_expansion(
    expansion: &ExpansionConfig,
    components: &[Component],
    signals: &[Signal],
    risk_levels: &Bands,
) -> Result<Expansion, ConfigError> {
    let engagement_component = components
        .iter()
        .position(|component| component.name.as_ref() == expansion.engagement_component)
        .ok_or_else(|| {
            ConfigError::invalid(
                "expansion.engagement_component",
                format!("no component named `{}`", expansion.engagement_component),
            )
        })?;
    if expansion
        .engagement_levels
        .windows(2)
        .any(|pair| pair[0] <= pair[1])
    {
        return Err(ConfigError::invalid(
            "expansion.engagement_levels",
            "must fall from engagement 1 to 4",
        ));
    }
    let adoption_signal = signals
        .iter()
        .position(|signal| signal.name.as_ref() == expansion.adoption_signal)
        .ok_or_else(|| {
            ConfigError::invalid(
                "expansion.adoption_signal",
                format!("no signal named `{}`", expansion.adoption_signal),
            )
        })? as SignalId;
    let ready = &expansion.ready;
    let max_risk_level = risk_levels.level_of(&ready.max_risk_level).ok_or_else(|| {
        ConfigError::invalid(
            "expansion.ready.max_risk_level",
            "must be one of low, medium, high, critical",
        )
    })?;
    if !(1..=5).contains(&ready.max_engagement) {
        return Err(ConfigError::invalid(
            "expansion.ready.max_engagement",
            "must be from 1 to 5",
        ));
    }
    Ok(Expansion {
        engagement_component,
        engagement_levels: expansion.engagement_levels,
        adoption_signal,
        max_fit: fit_code(ready.max_fit),
        max_engagement: ready.max_engagement,
        min_adoption: ready.min_adoption,
        min_score: ready.min_score,
        max_risk_level,
    })
}
