//! The fit letter (A best to E) from a customer's profile: explicit, by plan, by seats, by size.

use crate::config::model::{ExpansionConfig, FitLetter, FitThreshold};
use crate::engine::event::{Event, FieldValue};

/// Fit letters as stored in state: 1 = A ... 5 = E.
pub type FitCode = u8;

/// The letter for a stored code.
pub fn fit_letter(code: FitCode) -> char {
    match code {
        1 => 'A',
        2 => 'B',
        3 => 'C',
        4 => 'D',
        _ => 'E',
    }
}

/// The stored code of a letter.
pub fn fit_code(letter: FitLetter) -> FitCode {
    match letter {
        FitLetter::A => 1,
        FitLetter::B => 2,
        FitLetter::C => 3,
        FitLetter::D => 4,
        FitLetter::E => 5,
    }
}

/// The compiled fit rules.
#[derive(Debug, Clone)]
pub struct FitRules {
    plan: Vec<(Box<str>, FitCode)>,
    seats: Vec<(f64, FitCode)>,
    company_size: Vec<(f64, FitCode)>,
    /// The fit of a customer whose profile decides none.
    pub default_fit: FitCode,
}

impl FitRules {
    /// Compiles the `[expansion]` fit tables.
    pub fn new(config: &ExpansionConfig) -> FitRules {
        let thresholds = |list: &[FitThreshold]| {
            let mut compiled: Vec<(f64, FitCode)> = list
                .iter()
                .map(|threshold| (threshold.min, fit_code(threshold.fit)))
                .collect();
            compiled.sort_by(|left, right| right.0.total_cmp(&left.0));
            compiled
        };
        FitRules {
            plan: config
                .plan_fit
                .iter()
                .map(|(plan, letter)| (plan.to_ascii_lowercase().into(), fit_code(*letter)))
                .collect(),
            seats: thresholds(&config.seats_fit),
            company_size: thresholds(&config.company_size_fit),
            default_fit: fit_code(config.default_fit),
        }
    }

    /// The fit a profile event decides, if it decides one.
    pub fn fit_of(&self, event: &Event<'_>) -> Option<FitCode> {
        if let Some(letter) = event.text("fit") {
            return match letter {
                "A" => Some(1),
                "B" => Some(2),
                "C" => Some(3),
                "D" => Some(4),
                "E" => Some(5),
                _ => None,
            };
        }
        let by_plan = event.text("plan").and_then(|plan| {
            let plan = plan.to_ascii_lowercase();
            self.plan
                .iter()
                .find(|(name, _)| name.as_ref() == plan)
                .map(|(_, code)| *code)
        });
        let by_seats = event
            .number("seats")
            .and_then(|seats| first_at_least(&self.seats, seats));
        let by_size = event
            .field("company_size")
            .and_then(company_size_number)
            .and_then(|size| first_at_least(&self.company_size, size));
        [by_plan, by_seats, by_size].into_iter().flatten().min()
    }
}

fn first_at_least(thresholds: &[(f64, FitCode)], value: f64) -> Option<FitCode> {
    thresholds
        .iter()
        .find(|(min, _)| value >= *min)
        .map(|(_, code)| *code)
}

/// A company size as a number: the number itself, or the first number in text like "51-200".
fn company_size_number(value: &FieldValue<'_>) -> Option<f64> {
    match value {
        FieldValue::Number(number) => Some(*number),
        FieldValue::Text(text) => {
            let digits: String = text
                .chars()
                .skip_while(|character| !character.is_ascii_digit())
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        }
        FieldValue::Bool(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::decode::decode_json;

    fn rules() -> FitRules {
        let config =
            crate::config::Config::from_toml_str(crate::config::DEFAULT_CONFIG_TOML, "default")
                .unwrap();
        FitRules::new(&config.model.expansion)
    }

    fn fit(json: &str) -> Option<char> {
        let event = decode_json(json.as_bytes()).unwrap();
        rules().fit_of(&event).map(fit_letter)
    }

    #[test]
    fn explicit_fit_wins() {
        assert_eq!(
            fit(
                r#"{"customer_id":"a","type":"profile","timestamp":0,"fit":"D","plan":"enterprise"}"#
            ),
            Some('D')
        );
    }

    #[test]
    fn best_of_plan_seats_and_size() {
        assert_eq!(
            fit(r#"{"customer_id":"a","type":"profile","timestamp":0,"plan":"Team","seats":60}"#),
            Some('B')
        );
        assert_eq!(
            fit(r#"{"customer_id":"a","type":"profile","timestamp":0,"company_size":"201-1000"}"#),
            Some('B')
        );
        assert_eq!(
            fit(r#"{"customer_id":"a","type":"profile","timestamp":0,"industry":"retail"}"#),
            None
        );
    }
}
