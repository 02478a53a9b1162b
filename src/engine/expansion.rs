//! Expansion readiness (the seeds' Breadcrumbs model): fit, engagement, adoption and health bars.

use super::model::{fit_letter, Model};
use super::score::{round_to, Evaluation, Reason};

/// The `fit_engagement` label, such as `B2`.
pub fn fit_engagement(evaluation: &Evaluation) -> String {
    format!("{}{}", fit_letter(evaluation.fit), evaluation.engagement)
}

/// Whether every expansion bar is passed.
pub fn is_ready(model: &Model, evaluation: &Evaluation, risk_level: u8) -> bool {
    let bars = &model.expansion;
    evaluation.fit <= bars.max_fit
        && evaluation.engagement <= bars.max_engagement
        && evaluation.adoption >= bars.min_adoption
        && evaluation.score >= bars.min_score
        && risk_level <= bars.max_risk_level
}

/// The passed bars as reasons; `impact` is the margin over each bar in its own unit.
pub fn reasons(model: &Model, evaluation: &Evaluation) -> Vec<Reason> {
    let bars = &model.expansion;
    vec![
        Reason {
            factor: "fit".into(),
            detail: format!(
                "fit {} (bar: {} or better)",
                fit_letter(evaluation.fit),
                fit_letter(bars.max_fit)
            ),
            impact: f64::from(bars.max_fit) - f64::from(evaluation.fit),
        },
        Reason {
            factor: "engagement".into(),
            detail: format!(
                "engagement {} (bar: {} or better)",
                evaluation.engagement, bars.max_engagement
            ),
            impact: f64::from(bars.max_engagement) - f64::from(evaluation.engagement),
        },
        Reason {
            factor: "adoption".into(),
            detail: format!(
                "{} features used recently (bar: {})",
                evaluation.adoption, bars.min_adoption
            ),
            impact: round_to(evaluation.adoption - bars.min_adoption, 1),
        },
        Reason {
            factor: "health".into(),
            detail: format!("score {:.1} (bar: {})", evaluation.score, bars.min_score),
            impact: round_to(evaluation.score - bars.min_score, 1),
        },
    ]
}
