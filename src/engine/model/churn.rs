//! The churn risk's levels and factors (`churn`).

use super::bands::Bands;
use super::calibration::RiskCalibration;
use super::measure::{compile_measure, Measure};
use super::signals::Signal;
use crate::config::model::ChurnConfig;
use crate::config::ConfigError;

/// What `churn` compiles to.
pub struct CompiledChurn {
    /// The levels, `critical` first.
    pub levels: Bands,
    /// The factors.
    pub factors: Vec<Measure>,
    /// The map from the factors' combined risk to the calibrated risk.
    pub calibration: RiskCalibration,
}

/// Compiles `churn.levels` (`low` to `critical`), `churn.factors` (factors only ever add risk,
/// each at most its weight, from 0 to below 1) and `churn.calibration`.
pub fn compile_churn(
    churn: &ChurnConfig,
    signals: &[Signal],
) -> Result<CompiledChurn, ConfigError> {
    let levels = &churn.levels;
    let risk_levels = Bands::from_best_first(&[
        ("critical".into(), levels.critical),
        ("high".into(), levels.high),
        ("medium".into(), levels.medium),
        ("low".into(), f64::NEG_INFINITY),
    ])
    .map_err(|message| ConfigError::invalid("churn.levels", message))?;
    let factors = churn
        .factors
        .iter()
        .enumerate()
        .map(|(index, factor)| {
            let key = format!("churn.factors[{index}]");
            if factor.negative {
                return Err(ConfigError::invalid(
                    format!("{key}.negative"),
                    "churn factors always add risk; remove `negative`",
                ));
            }
            if factor.weight >= 1.0 {
                return Err(ConfigError::invalid(
                    format!("{key}.weight"),
                    "is the most risk the factor can cause: a number from 0 (the factor is \
                     off; tuning sets it so when the outcomes speak against it) to below 1",
                ));
            }
            compile_measure(factor, &key, signals)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CompiledChurn {
        levels: risk_levels,
        factors,
        calibration: RiskCalibration::compile(&churn.calibration)?,
    })
}
