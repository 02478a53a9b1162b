//! `HEALTHSCORE_<SECTION>__<KEY>` environment variables that override config keys.
//!
//! `HEALTHSCORE_KAFKA__BOOTSTRAP_SERVERS=broker:9092` sets `kafka.bootstrap_servers`; deeper keys
//! chain with `__` (`HEALTHSCORE_SIGNALS__USAGE_7D__HALF_LIFE=10d`). The value takes the type of the
//! key it replaces, so `HEALTHSCORE_KAFKA__GROUP_ID=2024` stays text.

use super::ConfigError;

const PREFIX: &str = "HEALTHSCORE_";

/// Applies every override variable to the parsed config table.
pub fn apply(
    table: &mut toml::Table,
    variables: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let mut overrides: Vec<(String, String)> = variables
        .into_iter()
        .filter(|(name, _)| name.starts_with(PREFIX) && name.contains("__"))
        .collect();
    // Sorted so that the result never depends on the environment's order.
    overrides.sort();
    for (variable, text) in overrides {
        let path: Vec<String> = variable[PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::Environment {
                variable,
                message: "an empty key segment (use one `__` between keys)".into(),
            });
        }
        set(table, &path, &text).map_err(|message| ConfigError::Environment {
            variable: variable.clone(),
            message,
        })?;
    }
    Ok(())
}

fn set(table: &mut toml::Table, path: &[String], text: &str) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("no key named")?;
    let mut current = table;
    for segment in parents {
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        current = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{segment}` is not a table in the config"))?;
    }
    let value = match current.get(last) {
        Some(existing) => typed_like(existing, text)?,
        None => parse_literal(text).unwrap_or_else(|| toml::Value::String(text.to_string())),
    };
    current.insert(last.clone(), value);
    Ok(())
}

/// Parses `text` as a value of the same TOML type as `existing`.
fn typed_like(existing: &toml::Value, text: &str) -> Result<toml::Value, String> {
    match existing {
        toml::Value::String(_) => Ok(toml::Value::String(text.to_string())),
        toml::Value::Integer(_) => text
            .trim()
            .parse()
            .map(toml::Value::Integer)
            .map_err(|_| format!("`{text}` is not an integer")),
        toml::Value::Float(_) => text
            .trim()
            .parse()
            .map(toml::Value::Float)
            .map_err(|_| format!("`{text}` is not a number")),
        toml::Value::Boolean(_) => text
            .trim()
            .parse()
            .map(toml::Value::Boolean)
            .map_err(|_| format!("`{text}` is not true or false")),
        _ => parse_literal(text).ok_or_else(|| format!("`{text}` is not a TOML value")),
    }
}

/// Reads `text` as a TOML literal such as `5`, `true`, `["a", "b"]` or `{ a = 1 }`.
fn parse_literal(text: &str) -> Option<toml::Value> {
    let document: toml::Table = format!("value = {text}").parse().ok()?;
    document.get("value").cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variables(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn overrides_keep_the_type_of_the_key_they_replace() {
        let mut table: toml::Table =
            "[kafka]\ngroup_id = \"a\"\n[alerting]\nmin_score_change = 5.0\n"
                .parse()
                .unwrap();
        apply(
            &mut table,
            variables(&[
                ("HEALTHSCORE_KAFKA__GROUP_ID", "2024"),
                ("HEALTHSCORE_ALERTING__MIN_SCORE_CHANGE", "7"),
                ("HEALTHSCORE_HTTP__LISTEN", "0.0.0.0:80"),
                ("HEALTHSCORE_CONFIG", "ignored.toml"),
                ("OTHER__THING", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(table["kafka"]["group_id"].as_str(), Some("2024"));
        assert_eq!(table["alerting"]["min_score_change"].as_float(), Some(7.0));
        assert_eq!(table["http"]["listen"].as_str(), Some("0.0.0.0:80"));
        assert!(!table.contains_key("config"));
    }

    #[test]
    fn a_bad_value_names_the_variable() {
        let mut table: toml::Table = "[alerting]\nmin_score_change = 5.0\n".parse().unwrap();
        let error = apply(
            &mut table,
            variables(&[("HEALTHSCORE_ALERTING__MIN_SCORE_CHANGE", "lots")]),
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "environment variable HEALTHSCORE_ALERTING__MIN_SCORE_CHANGE: `lots` is not a number"
        );
    }
}
