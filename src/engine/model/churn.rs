//! The churn risk's levels and factors (`churn`).

use super::bands::Bands;
use super::measure::{compile_measure, Measure};
use super::signals::Signal;
use crate::config::model::ChurnConfig;
use crate::config::ConfigError;

/// Compiles `churn.levels` (`low` to `critical`) and `churn.factors`: factors only ever add
/// risk, each at most its weight, below 1.
pub fn compile_churn(
    churn: &ChurnConfig,
    signals: &[Signal],
) -> Result<(Bands, Vec<Measure>), ConfigError> {
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
                    "is the most risk the factor can cause: a number above 0 and below 1",
                ));
            }
            compile_measure(factor, &key, signals)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((risk_levels, factors))
}
