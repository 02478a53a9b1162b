//! The tuned model written as a complete config file: the original file's text, comments and
//! all, with the tuned values put in place (`model_version`, factor weights and normalization,
//! signal half-lives, `churn.calibration`) and a header saying what was fitted, on which data,
//! with which result. `run`, `replay` and `evaluate` load it as any config. Pure: text in,
//! text out.

use toml_edit::{value, Array, DocumentMut, InlineTable, Item, Value};

use crate::config::model::{ModelConfig, Normalize};

/// Why the tuned file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    /// The original file is not TOML (it parsed once, so this means it changed).
    #[error("the original config is not valid TOML: {0}")]
    Parse(#[from] toml_edit::TomlError),
    /// A key the tuned model sets is missing from the original file.
    #[error("the original config has no `{0}` to tune")]
    Missing(String),
}

/// The text of `original` (the config file tuned) with `tuned`'s model values in place and
/// `header` (lines without `#`) as a comment on top.
pub fn tuned_model_file(
    original: &str,
    tuned: &ModelConfig,
    header: &[String],
) -> Result<String, ModelFileError> {
    let mut document: DocumentMut = original.parse()?;
    document["model_version"] = value(tuned.model_version.as_str());
    for (name, signal) in &tuned.signals {
        if let Some(half_life) = signal.half_life {
            let table = document
                .get_mut("signals")
                .and_then(|signals| signals.get_mut(name))
                .ok_or_else(|| ModelFileError::Missing(format!("signals.{name}")))?;
            table["half_life"] = value(half_life.to_string());
        }
    }
    let factors = document
        .get_mut("churn")
        .and_then(|churn| churn.get_mut("factors"))
        .and_then(Item::as_array_mut)
        .ok_or_else(|| ModelFileError::Missing("churn.factors".into()))?;
    for (index, factor) in tuned.churn.factors.iter().enumerate() {
        let table = factors
            .get_mut(index)
            .and_then(Value::as_inline_table_mut)
            .ok_or_else(|| ModelFileError::Missing(format!("churn.factors[{index}]")))?;
        set_keeping_spaces(table, "weight", Value::from(factor.weight));
        set_keeping_spaces(table, "normalize", normalize_value(&factor.normalize));
    }
    let mut knots = Array::new();
    for [raw, calibrated] in &tuned.churn.calibration {
        let mut knot = Array::new();
        knot.push(*raw);
        knot.push(*calibrated);
        knots.push(knot);
    }
    let churn = document
        .get_mut("churn")
        .and_then(Item::as_table_mut)
        .ok_or_else(|| ModelFileError::Missing("churn".into()))?;
    churn.insert("calibration", value(knots));
    if let Some(mut key) = churn.key_mut("calibration") {
        key.leaf_decor_mut().set_prefix(
            "# Calibration fitted by healthscore tune: knots [raw risk, share that churned].\n",
        );
    }
    let mut text = String::new();
    for line in header {
        text.push_str("# ");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("#\n");
    text.push_str(&document.to_string());
    Ok(text)
}

/// Sets `key` in an inline table to `new`, with the spacing the other values there have.
fn set_keeping_spaces(table: &mut InlineTable, key: &str, mut new: Value) {
    new.decor_mut().set_prefix(" ");
    new.decor_mut().set_suffix("");
    table.insert(key, new);
}

/// `normalize` as the inline table a model file writes.
fn normalize_value(normalize: &Normalize) -> Value {
    let mut table = InlineTable::new();
    match normalize {
        Normalize::Linear([low, high]) => {
            let mut bounds = Array::new();
            bounds.push(*low);
            bounds.push(*high);
            table.insert("linear", Value::Array(bounds));
        }
        Normalize::Saturating(half) => {
            table.insert("saturating", Value::from(*half));
        }
        Normalize::InverseSaturating(half) => {
            table.insert("inverse_saturating", Value::from(*half));
        }
    }
    table.fmt();
    Value::InlineTable(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigDuration, DEFAULT_CONFIG_TOML};

    #[test]
    fn the_tuned_values_are_written_in_place_and_read_back_the_same() {
        let mut tuned = Config::from_toml_str(DEFAULT_CONFIG_TOML, "default")
            .unwrap()
            .model;
        tuned.model_version = "default-2-tuned".into();
        tuned.churn.factors[2].weight = 0.437;
        tuned.churn.factors[2].normalize = Normalize::Linear([40.0, 0.0]);
        tuned.churn.factors[5].weight = 0.0;
        tuned.signals.get_mut("usage_365d").unwrap().half_life = Some(ConfigDuration::days(730));
        tuned.churn.calibration = vec![[0.2, 0.1], [0.6, 0.45]];
        let header = vec!["Tuned by healthscore tune.".to_string()];
        let text = tuned_model_file(DEFAULT_CONFIG_TOML, &tuned, &header).unwrap();

        assert!(
            text.starts_with("# Tuned by healthscore tune.\n#\n"),
            "{text}"
        );
        // The original comments are still there.
        assert!(
            text.contains("# Light use: 10 or more (decayed) uses"),
            "{text}"
        );
        let read = Config::from_toml_str(&text, "tuned").unwrap().model;
        assert_eq!(read.model_version, "default-2-tuned");
        assert_eq!(read.churn.factors[2].weight, 0.437);
        assert_eq!(
            read.churn.factors[2].normalize,
            Normalize::Linear([40.0, 0.0])
        );
        assert_eq!(read.churn.factors[5].weight, 0.0);
        assert_eq!(
            read.signals["usage_365d"].half_life,
            Some(ConfigDuration::days(730))
        );
        assert_eq!(read.churn.calibration, [[0.2, 0.1], [0.6, 0.45]]);
        // Everything else is as it was.
        let original = Config::from_toml_str(DEFAULT_CONFIG_TOML, "default")
            .unwrap()
            .model;
        assert_eq!(
            read.churn.factors[0].weight,
            original.churn.factors[0].weight
        );
        assert_eq!(
            serde_json::to_value(&read.score).unwrap(),
            serde_json::to_value(&original.score).unwrap()
        );
    }
}
