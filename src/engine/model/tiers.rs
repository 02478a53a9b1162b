//! The score's bands (`score.grades`, `score.health`) and the value tiers
//! (`score.value_tiers`).

use super::bands::Bands;
use super::components::Component;
use crate::config::model::{BandConfig, ScoreConfig, TierMode};
use crate::config::ConfigError;

/// What a value tier is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierBasis {
    /// The overall score.
    Score,
    /// One component's score (index into [`super::Model::components`]).
    Component(usize),
}

/// Value tiers: a basis, a mode and the bands.
#[derive(Debug, Clone)]
pub struct ValueTiers {
    /// What the tier is computed from.
    pub basis: TierBasis,
    /// Absolute values or population percentiles.
    pub mode: TierMode,
    /// The tiers, lowest level first.
    pub bands: Bands,
}

/// The score's bands: letter grades, health colours and value tiers.
pub struct ScoreBands {
    /// Letter grades.
    pub grades: Bands,
    /// Health colours.
    pub health: Bands,
    /// Value tiers.
    pub tiers: ValueTiers,
}

/// Compiles the grades, health colours and value tiers of `score`.
pub fn compile_score_bands(
    score: &ScoreConfig,
    components: &[Component],
) -> Result<ScoreBands, ConfigError> {
    let grades = Bands::from_best_first(&band_pairs(&score.grades))
        .map_err(|message| ConfigError::invalid("score.grades", message))?;
    let health = Bands::from_best_first(&[
        ("green".into(), score.health.green),
        ("yellow".into(), score.health.yellow),
        ("red".into(), f64::NEG_INFINITY),
    ])
    .map_err(|message| ConfigError::invalid("score.health", message))?;
    let tier_config = &score.value_tiers;
    let basis = if tier_config.basis == "score" {
        TierBasis::Score
    } else {
        let index = components
            .iter()
            .position(|component| component.name.as_ref() == tier_config.basis)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "score.value_tiers.basis",
                    format!(
                        "`{}` is neither `score` nor a component name",
                        tier_config.basis
                    ),
                )
            })?;
        TierBasis::Component(index)
    };
    let tiers = ValueTiers {
        basis,
        mode: tier_config.mode,
        bands: Bands::from_best_first(&band_pairs(&tier_config.tiers))
            .map_err(|message| ConfigError::invalid("score.value_tiers.tiers", message))?,
    };
    Ok(ScoreBands {
        grades,
        health,
        tiers,
    })
}

fn band_pairs(bands: &[BandConfig]) -> Vec<(String, f64)> {
    bands
        .iter()
        .map(|band| (band.name.clone(), band.min))
        .collect()
}
