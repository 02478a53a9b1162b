//! The score's components (`score.components`), each with its measures.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::measure::{compile_measure, Measure};
use super::signals::Signal;
use crate::config::model::ComponentConfig;
use crate::config::ConfigError;

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

/// Compiles `score.components`: at least one, each with a weight above zero and at least one
/// positive measure.
pub fn compile_components(
    components: &BTreeMap<String, ComponentConfig>,
    signals: &[Signal],
) -> Result<Vec<Component>, ConfigError> {
    let mut compiled = Vec::new();
    for (name, component) in components {
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
                let key = format!("{key}.measures[{index}]");
                if measure.weight == 0.0 {
                    return Err(ConfigError::invalid(
                        format!("{key}.weight"),
                        "must be a number above zero (remove a measure that should not count)",
                    ));
                }
                compile_measure(measure, &key, signals)
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
        compiled.push(Component {
            name: name.as_str().into(),
            weight: component.weight,
            measures,
            positive_weight,
        });
    }
    if compiled.is_empty() {
        return Err(ConfigError::invalid(
            "score.components",
            "needs at least one component",
        ));
    }
    Ok(compiled)
}
