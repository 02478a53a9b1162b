//! The compiled scoring model: config checked once, turned into indices and numbers ready to score.

mod alerting;
mod bands;
mod calibration;
mod churn;
mod components;
mod expansion;
pub mod fit;
mod measure;
mod signals;
mod tiers;

use std::sync::Arc;

use hashbrown::HashMap;
use smallvec::SmallVec;

pub use alerting::Alerting;
pub use bands::Bands;
pub use calibration::RiskCalibration;
pub use components::Component;
pub use expansion::Expansion;
pub use fit::{fit_letter, FitCode, FitRules};
pub use measure::{steady_rate, steady_ratio, DetailTemplate, Evidence, Measure, MeasureInput};
pub use signals::{Decay, Signal, SignalId, SignalKind, MAX_DISTINCT_VALUES};
pub use tiers::{TierBasis, ValueTiers};

use alerting::compile_alerting;
use churn::{compile_churn, CompiledChurn};
use components::compile_components;
use expansion::compile_expansion;
use tiers::{compile_score_bands, ScoreBands};

use crate::config::{ConfigError, ModelConfig};

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
    /// The most customers an instance keeps (`state.max_customers`); `None`: no cap.
    pub max_customers: Option<usize>,
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
    /// Maps the factors' combined risk to the calibrated churn risk (`churn.calibration`).
    pub risk_calibration: RiskCalibration,
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

impl Model {
    /// Checks and compiles the model part of the config; errors name the key at fault.
    pub fn compile(config: &ModelConfig) -> Result<Model, ConfigError> {
        if config.model_version.trim().is_empty() {
            return Err(ConfigError::invalid("model_version", "must not be empty"));
        }
        let (signals, half_lives_millis, signal_words) = signals::compile_signals(&config.signals)?;
        let routes = signals::compile_routes(&config.signals)?;
        let shortest_half_life_millis = half_lives_millis
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let components = compile_components(&config.score.components, &signals)?;
        let component_weight = components.iter().map(|component| component.weight).sum();
        let ScoreBands {
            grades,
            health,
            tiers,
        } = compile_score_bands(&config.score, &components)?;
        let CompiledChurn {
            levels: risk_levels,
            factors: churn_factors,
            calibration: risk_calibration,
        } = compile_churn(&config.churn, &signals)?;
        let expansion = compile_expansion(&config.expansion, &components, &signals, &risk_levels)?;
        let alerting = compile_alerting(&config.alerting, &risk_levels, &churn_factors)?;
        let state = &config.state;
        if state.recheck_interval.millis() < 1000 {
            return Err(ConfigError::invalid(
                "state.recheck_interval",
                "must be at least one second",
            ));
        }
        if state.max_customers == Some(0) {
            return Err(ConfigError::invalid(
                "state.max_customers",
                "must be at least 1 (leave it out for no cap)",
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
            max_customers: state.max_customers,
            components,
            component_weight,
            grades,
            health,
            tiers,
            top_factors: config.score.top_factors,
            risk_levels,
            churn_factors,
            risk_calibration,
            max_reasons: config.churn.max_reasons,
            fit: FitRules::new(&config.expansion),
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
        assert_eq!(model.version.as_ref(), "default-2");
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
    fn warm_up_exemptions_default_to_the_hard_signals_the_model_has_and_named_ones_must_exist() {
        let model = compile(DEFAULT_CONFIG_TOML).unwrap();
        let exempt: Vec<&str> = model
            .alerting
            .warm_up_exempt
            .iter()
            .map(|index| model.churn_factors[*index].name.as_ref())
            .collect();
        assert_eq!(
            exempt,
            [
                "cancellation_requested",
                "payment_trouble",
                "support_escalations"
            ]
        );
        // A model without one of them still loads, without it.
        let renamed =
            DEFAULT_CONFIG_TOML.replace("name = \"payment_trouble\"", "name = \"billing_trouble\"");
        assert_eq!(compile(&renamed).unwrap().alerting.warm_up_exempt.len(), 2);
        // Named on purpose, each must be a churn factor.
        let named = DEFAULT_CONFIG_TOML.replace(
            "# warm_up_exempt = [",
            "warm_up_exempt = [\"refunds\", \"no_such_factor\"]\n# [",
        );
        let error = compile(&named).unwrap_err().to_string();
        assert!(error.contains("alerting.warm_up_exempt[1]"), "{error}");
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

    #[test]
    fn trend_evidence_is_checked_by_key() {
        let evidence = "evidence = { last_seen = \"last_counted_use\", events = 5 }";
        let not_last_seen = DEFAULT_CONFIG_TOML.replace(
            evidence,
            "evidence = { last_seen = \"usage_7d\", events = 5 }",
        );
        let error = compile(&not_last_seen).unwrap_err().to_string();
        assert!(
            error.contains("churn.factors[0].evidence.last_seen"),
            "{error}"
        );
        let no_events = DEFAULT_CONFIG_TOML.replace(evidence, &evidence.replace("5", "0"));
        let error = compile(&no_events).unwrap_err().to_string();
        assert!(
            error.contains("churn.factors[0].evidence.events"),
            "{error}"
        );
        let not_a_trend = DEFAULT_CONFIG_TOML.replace(
            "days_since = \"last_usage\", normalize",
            &format!("days_since = \"last_usage\", {evidence}, normalize"),
        );
        let error = compile(&not_a_trend).unwrap_err().to_string();
        assert!(error.contains("churn.factors[1].evidence"), "{error}");
        assert!(error.contains("`trend` measures only"), "{error}");
    }
}
