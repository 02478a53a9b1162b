//! The settings tuning may change besides the factor weights, each with the few values it
//! tries: how a churn factor's input is normalized (its bounds or half-point, scaled), and the
//! half-life of a signal a factor reads directly (scaled). The model keeps its form: the same
//! factors on the same signals, only their scales move.

use crate::config::model::{MeasureConfig, ModelConfig, Normalize};
use crate::config::ConfigDuration;

/// The scales a setting is tried at, against its current value.
pub const SCALES: [f64; 4] = [0.5, 2.0, 0.25, 4.0];

/// One setting tuning may change.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// How churn factor `factor` (its index) normalizes its input: `linear` bounds or the
    /// `saturating` / `inverse_saturating` half-point.
    Normalize {
        /// Index in `churn.factors`.
        factor: usize,
    },
    /// The half-life of a decayed signal a churn factor reads.
    HalfLife {
        /// The signal's name.
        signal: String,
    },
}

impl Setting {
    /// Where the setting lives in the model file, for reports.
    pub fn key(&self, config: &ModelConfig) -> String {
        match self {
            Setting::Normalize { factor } => {
                let name = config
                    .churn
                    .factors
                    .get(*factor)
                    .map_or("?", |factor| factor.name.as_str());
                format!("churn.factors[{factor}].normalize ({name})")
            }
            Setting::HalfLife { signal } => format!("signals.{signal}.half_life"),
        }
    }
}

/// The settings of `config` worth trying: the normalization of every factor that reads a
/// signal or the days since one (a trend or a ratio is already relative), and the half-life of
/// every decayed signal such a factor reads.
pub fn settings(config: &ModelConfig) -> Vec<Setting> {
    let mut settings = Vec::new();
    let mut signals = Vec::new();
    for (index, factor) in config.churn.factors.iter().enumerate() {
        if factor.trend.is_some() || factor.ratio.is_some() {
            continue;
        }
        settings.push(Setting::Normalize { factor: index });
        if let Some(signal) = &factor.signal {
            let decayed = config
                .signals
                .get(signal)
                .is_some_and(|signal| signal.half_life.is_some());
            if decayed && !signals.contains(signal) {
                signals.push(signal.clone());
            }
        }
    }
    settings.extend(
        signals
            .into_iter()
            .map(|signal| Setting::HalfLife { signal }),
    );
    settings
}

/// `config` with `setting` scaled by `scale`, or `None` when the setting is not there or
/// cannot be scaled so (a half-life under a minute, say).
pub fn scaled(config: &ModelConfig, setting: &Setting, scale: f64) -> Option<ModelConfig> {
    let mut tuned = config.clone();
    match setting {
        Setting::Normalize { factor } => {
            let factor: &mut MeasureConfig = tuned.churn.factors.get_mut(*factor)?;
            factor.normalize = match factor.normalize {
                Normalize::Linear([low, high]) => {
                    Normalize::Linear([round_to_3(low * scale), round_to_3(high * scale)])
                }
                Normalize::Saturating(half) => Normalize::Saturating(round_to_3(half * scale)),
                Normalize::InverseSaturating(half) => {
                    Normalize::InverseSaturating(round_to_3(half * scale))
                }
            };
        }
        Setting::HalfLife { signal } => {
            let signal = tuned.signals.get_mut(signal)?;
            let half_life = signal.half_life?;
            // Whole days (whole hours under two days), so the model file says it plainly.
            let unit = if half_life.millis() as f64 * scale >= 2.0 * DAY {
                DAY
            } else {
                HOUR
            };
            let units = (half_life.millis() as f64 * scale / unit).round();
            if units < 1.0 {
                return None;
            }
            signal.half_life = Some(ConfigDuration::from_millis((units * unit) as i64));
        }
    }
    Some(tuned)
}

/// An hour and a day, in milliseconds.
const HOUR: f64 = 3_600_000.0;
const DAY: f64 = 86_400_000.0;

/// `value` to 3 decimals, as a model file would say it.
pub fn round_to_3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DEFAULT_CONFIG_TOML};

    #[test]
    fn the_default_model_offers_its_direct_factors_and_their_signals() {
        let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "default")
            .unwrap()
            .model;
        let settings = settings(&config);
        // usage_drop (a trend) is not among them; inactivity (days since) and light_usage are.
        assert!(!settings.contains(&Setting::Normalize { factor: 0 }));
        assert!(settings.contains(&Setting::Normalize { factor: 1 }));
        assert!(settings.contains(&Setting::Normalize { factor: 2 }));
        assert!(settings.contains(&Setting::HalfLife {
            signal: "usage_365d".into()
        }));
        // last_usage (read by days since) has no half-life.
        assert!(!settings.contains(&Setting::HalfLife {
            signal: "last_usage".into()
        }));
    }

    #[test]
    fn scaling_moves_bounds_half_points_and_half_lives() {
        let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "default")
            .unwrap()
            .model;
        let wider = scaled(&config, &Setting::Normalize { factor: 2 }, 2.0).unwrap();
        assert!(matches!(
            wider.churn.factors[2].normalize,
            Normalize::Linear([low, high]) if low == 20.0 && high == 0.0
        ));
        let longer = scaled(
            &config,
            &Setting::HalfLife {
                signal: "usage_365d".into(),
            },
            0.5,
        )
        .unwrap();
        assert_eq!(
            longer.signals["usage_365d"].half_life,
            Some(ConfigDuration::days(183))
        );
        assert!(scaled(&config, &Setting::Normalize { factor: 99 }, 2.0).is_none());
    }
}
