//! The compiled scoring model: config checked once, turned into indices and numbers ready to score.

mod bands;
pub mod fit;
mod measure;
mod signals;

use std::sync::Arc;

use hashbrown::HashMap;
use smallvec::SmallVec;

pub use bands::Bands;
pub use fit::{fit_letter, FitCode, FitRules};
pub use measure::{steady_ratio, DetailTemplate, Measure, MeasureInput};
pub use signals::{Decay, Signal, SignalId, SignalKind, MAX_DISTINCT_VALUES};

use crate::config::model::{BandConfig, TierMode};
use crate::config::{ConfigError, ModelConfig};

/// A component of the score (such as engagement) with its measures.
#[derive(Debug, Clone)]
pub struct Component {
    /// The component's name in `components`.
    pub name: Arc<str>,
    /// Its share of the score (weights are relative).
    pub weight: f64,
    /// Its measures.
    pub measures: Vec<Measure>,
    /// Sum of the positive measures' weights: the component's full marks.
    pub positive_weight: f64,
}

/// What a value tier is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TierBasis {
    /// The overall score.
    Score,
    /// One component's score (index into [`Model::components`]).
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

/// A compiled, validated scoring model.
#[derive(Debug, Clone)]
pub struct Model {
    /// `model_version` from config.
    pub version: Arc<str>,
    /// All signals, laid out in customer state.
    pub signals: Vec<Signal>,
    /// Event type to the signals it feeds.
    routes: HashMap<Box<str>, SmallVec<[SignalId; 4]>>,
    /// Distinct half-lives, in milliseconds.
    pub half_lives_millis: Vec<f64>,
    /// The shortest half-life (bounds the decay landmark's drift).
    pub shortest_half_life_millis: f64,
    /// Words of signal state per customer.
    pub signal_words: usize,
    /// Remembered `event_id`s per customer.
    pub dedupe_capacity: usize,
    /// Score components.
    pub components: Vec<Component>,
    /// Sum of component weights.
    pub component_weight: f64,
    /// Letter grades.
    pub grades: Bands,
    /// Health colours (`red`, `yellow`, `green`).
    pub health: Bands,
    /// Value tiers.
    pub tiers: ValueTiers,
    /// How many `top_factors` to list.
    pub top_factors: usize,
    /// Churn risk levels (`low` to `critical`).
    pub risk_levels: Bands,
    /// Churn factors.
    pub churn_factors: Vec<Measure>,
    /// How many churn reasons to list.
    pub max_reasons: usize,
    /// Fit rules.
    pub fit: FitRules,
    /// Expansion readiness.
    pub expansion: Expansion,
    /// Alerting thresholds.
    pub alerting: Alerting,
    /// Event-time interval between checks of a silent customer, in milliseconds.
    pub recheck_interval_millis: i64,
    /// Event-time inactivity after which a customer is dropped, in milliseconds.
    pub expire_after_millis: i64,
}

fn band_pairs(bands: &[BandConfig]) -> Vec<(String, f64)> {
    bands
        .iter()
        .map(|band| (band.name.clone(), band.min))
        .collect()
}

impl Model {
    /// Checks and compiles the model part of the config; errors name the key at fault.
    pub fn compile(config: &ModelConfig) -> Result<Model, ConfigError> {
        if config.model_version.trim().is_empty() {
            return Err(ConfigError::invalid("model_version", "must not be empty"));
        }
        let (signals, half_lives_millis, signal_words) = signals::compile_signals(&config.signals)?;
        let mut routes: HashMap<Box<str>, SmallVec<[SignalId; 4]>> = HashMap::new();
        for (id, (name, signal_config)) in config.signals.iter().enumerate() {
            for event_type in &signal_config.types {
                let targets = routes.entry(event_type.as_str().into()).or_default();
                if targets.contains(&(id as SignalId)) {
                    return Err(ConfigError::invalid(
                        format!("signals.{name}.types"),
                        format!("lists `{event_type}` twice"),
                    ));
                }
                targets.push(id as SignalId);
            }
        }
        let shortest_half_life_millis = half_lives_millis
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);

        let mut components = Vec::new();
        for (name, component) in &config.score.components {
            let key = format!("score.components.{name}");
            if !component.weight.is_finite() || component.weight <= 0.0 {
                return Err(ConfigError::invalid(
                    format!("{key}.weight"),
                    "must be a number above zero",
                ));
            }
            let measures = component
                .measures
                .iter()
                .enumerate()
                .map(|(index, measure)| {
                    measure::compile_measure(measure, &format!("{key}.measures[{index}]"), &signals)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let positive_weight: f64 = measures
                .iter()
                .filter(|measure| !measure.negative)
                .map(|measure| measure.weight)
                .sum();
            if positive_weight <= 0.0 {
                return Err(ConfigError::invalid(
                    format!("{key}.measures"),
                    "needs at least one positive measure",
                ));
            }
            components.push(Component {
                name: name.as_str().into(),
                weight: component.weight,
                measures,
                positive_weight,
            });
        }
        if components.is_empty() {
            return Err(ConfigError::invalid(
                "score.components",
                "needs at least one component",
            ));
        }
        let component_weight = components.iter().map(|component| component.weight).sum();

        let grades = Bands::from_best_first(&band_pairs(&config.score.grades))
            .map_err(|message| ConfigError::invalid("score.grades", message))?;
        let health_config = &config.score.health;
        let health = Bands::from_best_first(&[
            ("green".into(), health_config.green),
            ("yellow".into(), health_config.yellow),
            ("red".into(), f64::NEG_INFINITY),
        ])
        .map_err(|message| ConfigError::invalid("score.health", message))?;
        let tier_config = &config.score.value_tiers;
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

        let levels = &config.churn.levels;
        let risk_levels = Bands::from_best_first(&[
            ("critical".into(), levels.critical),
            ("high".into(), levels.high),
            ("medium".into(), levels.medium),
            ("low".into(), f64::NEG_INFINITY),
        ])
        .map_err(|message| ConfigError::invalid("churn.levels", message))?;
        let churn_factors = config
            .churn
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
                measure::compile_measure(factor, &key, &signals)
            })
            .collect::<Result<Vec<_>, _>>()?;

        let expansion_config = &config.expansion;
        let engagement_component = components
            .iter()
            .position(|component| component.name.as_ref() == expansion_config.engagement_component)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "expansion.engagement_component",
                    format!(
                        "no component named `{}`",
                        expansion_config.engagement_component
                    ),
                )
            })?;
        if expansion_config
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
            .position(|signal| signal.name.as_ref() == expansion_config.adoption_signal)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "expansion.adoption_signal",
                    format!("no signal named `{}`", expansion_config.adoption_signal),
                )
            })? as SignalId;
        let ready = &expansion_config.ready;
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
        let expansion = Expansion {
            engagement_component,
            engagement_levels: expansion_config.engagement_levels,
            adoption_signal,
            max_fit: fit::fit_code(ready.max_fit),
            max_engagement: ready.max_engagement,
            min_adoption: ready.min_adoption,
            min_score: ready.min_score,
            max_risk_level,
        };

        let alerting_config = &config.alerting;
        let churn_alert_level = risk_levels
            .level_of(&alerting_config.churn_alert_level)
            .filter(|level| *level > 0)
            .ok_or_else(|| {
                ConfigError::invalid(
                    "alerting.churn_alert_level",
                    "must be one of medium, high, critical",
                )
            })?;
        for (key, value) in [
            (
                "alerting.min_score_change",
                alerting_config.min_score_change,
            ),
            (
                "alerting.score_hysteresis",
                alerting_config.score_hysteresis,
            ),
            ("alerting.risk_hysteresis", alerting_config.risk_hysteresis),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(ConfigError::invalid(key, "must be a number >= 0"));
            }
        }
        let alerting = Alerting {
            min_score_change: alerting_config.min_score_change,
            score_hysteresis: alerting_config.score_hysteresis,
            risk_hysteresis: alerting_config.risk_hysteresis,
            churn_alert_level,
            churn_cooldown_millis: alerting_config.churn_cooldown.millis(),
            expansion_cooldown_millis: alerting_config.expansion_cooldown.millis(),
        };
        let state = &config.state;
        if state.recheck_interval.millis() < 1000 {
            return Err(ConfigError::invalid(
                "state.recheck_interval",
                "must be at least one second",
            ));
        }
        if state.dedupe_capacity > 255 {
            return Err(ConfigError::invalid(
                "state.dedupe_capacity",
                "must be from 0 to 255",
            ));
        }
        Ok(Model {
            version: config.model_version.as_str().into(),
            signals,
            routes,
            half_lives_millis,
            shortest_half_life_millis,
            signal_words,
            dedupe_capacity: state.dedupe_capacity,
            components,
            component_weight,
            grades,
            health,
            tiers,
            top_factors: config.score.top_factors,
            risk_levels,
            churn_factors,
            max_reasons: config.churn.max_reasons,
            fit: FitRules::new(expansion_config),
            expansion,
            alerting,
            recheck_interval_millis: state.recheck_interval.millis(),
            expire_after_millis: state.expire_after.millis(),
        })
    }

    /// The signals an event type feeds (empty for types no signal uses).
    pub fn signals_for(&self, event_type: &str) -> &[SignalId] {
        self.routes
            .get(event_type)
            .map(|targets| targets.as_slice())
            .unwrap_or(&[])
    }

    /// The engagement number (1 most engaged to 5) for an engagement component score.
    pub fn engagement_number(&self, component_score: f64) -> u8 {
        let below = self
            .expansion
            .engagement_levels
            .iter()
            .take_while(|bound| component_score < **bound)
            .count();
        1 + below as u8
    }

    /// A signal's id by name.
    pub fn signal_id(&self, name: &str) -> Option<SignalId> {
        self.signals
            .iter()
            .position(|signal| signal.name.as_ref() == name)
            .map(|index| index as SignalId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DEFAULT_CONFIG_TOML};

    fn compile(text: &str) -> Result<Model, ConfigError> {
        Model::compile(&Config::from_toml_str(text, "test")?.model)
    }

    #[test]
    fn the_default_model_compiles() {
        let model = compile(DEFAULT_CONFIG_TOML).unwrap();
        assert_eq!(model.version.as_ref(), "default-1");
        assert_eq!(model.components.len(), 3);
        assert!(!model.signals_for("login").is_empty());
        assert!(model.signals_for("webinar").is_empty());
        assert_eq!(model.engagement_number(90.0), 1);
        assert_eq!(model.engagement_number(64.9), 3);
        assert_eq!(model.engagement_number(0.0), 5);
    }

    #[test]
    fn a_measure_naming_an_unknown_signal_names_the_key() {
        let text = DEFAULT_CONFIG_TOML.replace(
            "signal = \"usage_30d\", normalize = { saturating = 15 }",
            "signal = \"usage_31d\", normalize = { saturating = 15 }",
        );
        let error = compile(&text).unwrap_err().to_string();
        assert_eq!(
            error,
            "config key `score.components.engagement.measures[0].signal`: no signal named `usage_31d` in [signals]"
        );
    }

    #[test]
    fn a_factor_weight_of_one_is_refused() {
        let text = DEFAULT_CONFIG_TOML.replace("weight = 0.9,", "weight = 1.0,");
        let error = compile(&text).unwrap_err().to_string();
        assert!(error.contains("churn.factors[4].weight"), "{error}");
    }

    #[test]
    fn a_count_without_half_life_is_refused() {
        let text = DEFAULT_CONFIG_TOML.replacen("half_life = \"7d\"\n", "", 1);
        let error = compile(&text).unwrap_err().to_string();
        assert_eq!(
            error,
            "config key `signals.usage_7d.half_life`: is required for count, sum and mean"
        );
    }
}
