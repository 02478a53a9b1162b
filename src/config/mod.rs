//! Configuration: a TOML file, then `HEALTHSCORE_<SECTION>__<KEY>` environment overrides, validated once.
//!
//! Loading is pure apart from reading the one file; every error names the key or variable at fault.

mod duration;
mod error;
pub mod model;
mod overrides;
pub mod service;

use std::path::{Path, PathBuf};

pub use duration::ConfigDuration;
pub use error::ConfigError;
pub use model::ModelConfig;
pub use service::ServiceConfig;

/// Where the config file is looked for when neither `--config` nor `HEALTHSCORE_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "config/healthscore.toml";

/// The shipped default config, used when no file is given and none is at [`DEFAULT_CONFIG_PATH`].
pub const DEFAULT_CONFIG_TOML: &str = include_str!("../../config/healthscore.toml");

/// Top-level keys that belong to the service rather than the model.
const SERVICE_SECTIONS: [&str; 7] = [
    "kafka",
    "http",
    "snapshot",
    "logging",
    "generator",
    "clock",
    "processing",
];

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// How the service runs.
    pub service: ServiceConfig,
    /// How customers are scored.
    pub model: ModelConfig,
    /// Where the config came from, for the start-up log line.
    pub origin: String,
}

impl Config {
    /// Parses config text (no environment overrides); `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Self::from_toml_with_overrides(text, origin, std::iter::empty())
    }

    /// Parses config text and applies `HEALTHSCORE_*__*` overrides from `variables`.
    pub fn from_toml_with_overrides(
        text: &str,
        origin: &str,
        variables: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|error: toml::de::Error| ConfigError::Syntax {
                    origin: origin.to_string(),
                    message: error.to_string(),
                })?;
        overrides::apply(&mut table, variables)?;
        let (service_table, model_table): (toml::Table, toml::Table) = table
            .into_iter()
            .partition(|(key, _)| SERVICE_SECTIONS.contains(&key.as_str()));
        Ok(Config {
            service: deserialize(service_table)?,
            model: deserialize(model_table)?,
            origin: origin.to_string(),
        })
    }

    /// Loads the config the way the CLI does: `explicit` path, else `HEALTHSCORE_CONFIG`, else
    /// [`DEFAULT_CONFIG_PATH`] if it exists, else the shipped default; then environment overrides.
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let variables: Vec<(String, String)> = std::env::vars().collect();
        let from_env = variables
            .iter()
            .find(|(name, _)| name == "HEALTHSCORE_CONFIG")
            .map(|(_, value)| PathBuf::from(value));
        let path = explicit.map(Path::to_path_buf).or(from_env);
        match path {
            Some(path) => Self::load_file(&path, variables),
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
                Self::load_file(Path::new(DEFAULT_CONFIG_PATH), variables)
            }
            None => Self::from_toml_with_overrides(
                DEFAULT_CONFIG_TOML,
                "built-in default config",
                variables,
            ),
        }
    }

    fn load_file(path: &Path, variables: Vec<(String, String)>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_with_overrides(&text, &path.display().to_string(), variables)
    }
}

/// Deserializes a table, naming the full key path of the first error.
fn deserialize<T: serde::de::DeserializeOwned>(table: toml::Table) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|error| {
        let key = error.path().to_string();
        let key = if key == "." {
            "(top level)".into()
        } else {
            key
        };
        ConfigError::invalid(key, error.into_inner().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_default_parses() {
        let config = Config::from_toml_str(DEFAULT_CONFIG_TOML, "default").unwrap();
        assert_eq!(config.service.kafka.bootstrap_servers, "embedded");
        assert_eq!(config.service.http.listen, "127.0.0.1:9898");
        assert!(!config.model.signals.is_empty());
    }

    #[test]
    fn an_unknown_key_is_named_with_its_path() {
        let text = DEFAULT_CONFIG_TOML.replace("[alerting]", "[alerting]\nmin_score_chnage = 3");
        let error = Config::from_toml_str(&text, "test")
            .unwrap_err()
            .to_string();
        assert!(error.contains("alerting"), "{error}");
        assert!(error.contains("min_score_chnage"), "{error}");
    }

    #[test]
    fn a_bad_duration_is_named_with_its_path() {
        let text = DEFAULT_CONFIG_TOML.replacen("half_life = \"7d\"", "half_life = \"a week\"", 1);
        let error = Config::from_toml_str(&text, "test")
            .unwrap_err()
            .to_string();
        assert!(error.contains("half_life"), "{error}");
        assert!(error.contains("not a duration"), "{error}");
    }

    #[test]
    fn syntax_errors_name_the_origin() {
        let error = Config::from_toml_str("kafka = [", "my.toml")
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("config file my.toml is not valid TOML"),
            "{error}"
        );
    }
}
