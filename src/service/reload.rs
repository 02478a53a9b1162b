//! Live model reload: which changes a running service accepts, and why it refuses the others.
//!
//! The rule for signals: a running service keeps only aggregates, not the events behind them, so
//! it cannot rebuild a signal whose definition changed. A reload may change everything that reads
//! signals (components, factors, weights, bands, churn and expansion rules, alerting, tiers), and
//! every customer is re-scored from its aggregates at once. A reload that adds, removes or
//! redefines a signal, or changes `[state]` (but `state.max_customers`, which may change live), is
//! refused with the signals named; such a model
//! needs a restart that rebuilds state from the input (an empty snapshot folder and the input
//! topics' retention), or a `replay` to check it first.

use std::path::Path;
use std::sync::Arc;

use crate::config::model::ModelConfig;
use crate::config::Config;
use crate::engine::Model;

/// Why a reload was refused; the old model keeps running.
#[derive(Debug, thiserror::Error)]
pub enum ReloadRejected {
    /// The file could not be read or is not a valid config.
    #[error("{0}")]
    Invalid(#[from] crate::config::ConfigError),
    /// The model is the same version as the running one.
    #[error("model_version is still `{0}`: a changed model needs a new model_version, so that its outputs can be told apart")]
    SameVersion(String),
    /// Signals or per-customer state settings changed.
    #[error("the reload changes signals or [state] ({0}); their aggregates cannot be rebuilt without the events: restart with an empty snapshot folder to rebuild state from the input")]
    StateChanged(String),
}

/// Reads the config at `path` (or the same default place as at start-up) and checks its model
/// against the running one. Returns the new model config and compiled model.
pub fn load_candidate(
    path: Option<&Path>,
    running: &ModelConfig,
) -> Result<(ModelConfig, Arc<Model>), ReloadRejected> {
    let config = Config::load(path)?;
    let model = check(running, &config.model)?;
    Ok((config.model, model))
}

/// Checks a candidate model against the running one and compiles it.
pub fn check(running: &ModelConfig, candidate: &ModelConfig) -> Result<Arc<Model>, ReloadRejected> {
    let model = Model::compile(candidate)?;
    if candidate.model_version == running.model_version {
        return Err(ReloadRejected::SameVersion(candidate.model_version.clone()));
    }
    let changed = changed_state(running, candidate);
    if !changed.is_empty() {
        return Err(ReloadRejected::StateChanged(changed.join(", ")));
    }
    Ok(Arc::new(model))
}

/// The signals (and `state`) whose definitions differ between two models.
fn changed_state(running: &ModelConfig, candidate: &ModelConfig) -> Vec<String> {
    let definition = |value: Option<&crate::config::model::SignalConfig>| {
        value.and_then(|signal| serde_json::to_string(signal).ok())
    };
    let mut changed: Vec<String> = running
        .signals
        .keys()
        .chain(candidate.signals.keys())
        .filter(|name| {
            definition(running.signals.get(*name)) != definition(candidate.signals.get(*name))
        })
        .map(|name| format!("signals.{name}"))
        .collect();
    changed.sort();
    changed.dedup();
    // The cap on customers changes no customer's state: it may change live.
    let state = |model: &ModelConfig| {
        let mut state = model.state.clone();
        state.max_customers = None;
        serde_json::to_string(&state).ok()
    };
    if state(running) != state(candidate) {
        changed.push("state".to_string());
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_CONFIG_TOML;

    fn model(text: &str) -> ModelConfig {
        Config::from_toml_str(text, "test").unwrap().model
    }

    #[test]
    fn scoring_changes_with_a_new_version_are_accepted() {
        let running = model(DEFAULT_CONFIG_TOML);
        let candidate = model(&DEFAULT_CONFIG_TOML.replace(
            "model_version = \"default-2\"",
            "model_version = \"default-3\"",
        ));
        let compiled = check(&running, &candidate).unwrap();
        assert_eq!(compiled.version.as_ref(), "default-3");
    }

    #[test]
    fn the_cap_on_customers_may_change_live_other_state_settings_not() {
        let running = model(DEFAULT_CONFIG_TOML);
        let versioned = DEFAULT_CONFIG_TOML.replace("default-2", "default-2-capped");
        let capped = model(&versioned.replace("# max_customers = 1000000", "max_customers = 5"));
        assert!(check(&running, &capped).is_ok());
        let deduped = model(&versioned.replace("dedupe_capacity = 8", "dedupe_capacity = 4"));
        assert!(matches!(
            check(&running, &deduped),
            Err(ReloadRejected::StateChanged(_))
        ));
    }

    #[test]
    fn an_unchanged_version_is_refused() {
        let running = model(DEFAULT_CONFIG_TOML);
        assert!(matches!(
            check(&running, &running.clone()),
            Err(ReloadRejected::SameVersion(version)) if version == "default-2"
        ));
    }

    #[test]
    fn a_redefined_signal_is_refused_by_name() {
        let running = model(DEFAULT_CONFIG_TOML);
        let candidate = model(
            &DEFAULT_CONFIG_TOML
                .replace(
                    "model_version = \"default-2\"",
                    "model_version = \"default-3\"",
                )
                .replacen("half_life = \"7d\"", "half_life = \"5d\"", 1),
        );
        let Err(ReloadRejected::StateChanged(names)) = check(&running, &candidate) else {
            panic!("a changed half-life must be refused");
        };
        assert_eq!(names, "signals.usage_7d");
    }
}
