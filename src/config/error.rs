//! Config errors: each names the file, key or variable at fault and says what was expected.

use std::path::PathBuf;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("config file {origin} is not valid TOML: {message}")]
    Syntax {
        /// The file, or "built-in defaults".
        origin: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A key has a value the service cannot use.
    #[error("config key `{key}`: {message}")]
    Invalid {
        /// The dotted path of the key, such as `signals.usage_7d.half_life`.
        key: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// An override variable could not be applied.
    #[error("environment variable {variable}: {message}")]
    Environment {
        /// The variable's name.
        variable: String,
        /// What is wrong.
        message: String,
    },
}

impl ConfigError {
    /// An error about one key.
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }
}
