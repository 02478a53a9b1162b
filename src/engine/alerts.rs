//! Deciding which output events an evaluation is worth: minimum change, hysteresis, cooldown, clearing.

use super::customer::AlertState;
use super::expansion;
use super::model::Model;
use super::score::Evaluation;
use super::time::{EventTime, TimeCode};

/// The levels of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    /// Grade level.
    pub grade: u8,
    /// Health level (0 red, 1 yellow, 2 green).
    pub health: u8,
    /// Value tier level.
    pub tier: u8,
    /// Risk level (0 low .. 3 critical).
    pub risk: u8,
}

/// What the last `score_changed` said (score, and grade, health and tier levels), for the
/// `previous_*` fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Previous {
    pub score: f64,
    pub grade: u8,
    pub health: u8,
    pub tier: u8,
}

/// The output events one evaluation is worth.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Decision {
    /// `Some(previous)` for a `score_changed` (`previous` is `None` for a first score).
    pub score_changed: Option<Option<Previous>>,
    /// `Some(previous level)` for a `churn_risk_alert` to the current risk level.
    pub churn_alert: Option<u8>,
    /// Whether to send an `expansion_signal`.
    pub expansion: bool,
}

impl Decision {
    /// Whether anything is to be sent.
    pub fn is_empty(&self) -> bool {
        self.score_changed.is_none() && self.churn_alert.is_none() && !self.expansion
    }
}

fn cooled_down(last: TimeCode, at: EventTime, cooldown_millis: i64) -> bool {
    last.time()
        .is_none_or(|last| at.millis_since(last) >= cooldown_millis)
}

/// The levels of an evaluation, given the state's previous levels (for hysteresis).
/// `tier_value` is the basis value, or its percentile in percentile mode.
pub fn levels(
    model: &Model,
    state: &AlertState,
    evaluation: &Evaluation,
    tier_value: f64,
) -> Levels {
    let margin = model.alerting.score_hysteresis;
    let sent = state.sent_score.is_some();
    let previous = |level: u8| sent.then_some(level);
    Levels {
        grade: model
            .grades
            .level_with_hysteresis(evaluation.score, previous(state.grade), margin),
        health: model.health.level_with_hysteresis(
            evaluation.score,
            previous(state.health),
            margin,
        ),
        tier: model
            .tiers
            .bands
            .level_with_hysteresis(tier_value, previous(state.tier), margin),
        risk: model.risk_levels.level_with_hysteresis(
            evaluation.risk,
            Some(state.risk_level),
            model.alerting.risk_hysteresis,
        ),
    }
}

/// Decides what to send and updates the state to remember it.
///
/// Churn alerts: a rise to the alert level or above is sent unless it repeats the last alerted
/// level within the cooldown; a rise above the last alerted level is always sent; when the risk
/// falls below the alert level, one clearing alert is sent for the raised one.
pub fn decide(
    model: &Model,
    state: &mut AlertState,
    evaluation: &Evaluation,
    levels: Levels,
) -> Decision {
    let alerting = &model.alerting;
    let at = evaluation.at;
    let mut decision = Decision::default();

    let previous = state.sent_score.map(|score| Previous {
        score: f64::from(score),
        grade: state.grade,
        health: state.health,
        tier: state.tier,
    });
    let changed = match previous {
        None => true,
        Some(previous) => {
            (evaluation.score - previous.score).abs() >= alerting.min_score_change
                || levels.grade != previous.grade
                || levels.health != previous.health
                || levels.tier != previous.tier
        }
    };
    if changed {
        decision.score_changed = Some(previous);
        state.sent_score = Some(evaluation.score as f32);
        state.grade = levels.grade;
        state.health = levels.health;
        state.tier = levels.tier;
    }

    let alert_level = alerting.churn_alert_level;
    let cooled = cooled_down(state.last_churn_alert, at, alerting.churn_cooldown_millis);
    if levels.risk >= alert_level {
        // Escalations above the last alerted level always go out; a repeat of an alerted level
        // waits for the cooldown, and is then sent even if the level did not move again. In
        // the warm-up nothing goes out (no hard signal): the first evaluation after it sends
        // the alert if the risk is still there.
        let due = levels.risk > state.alerted_level || (!state.churn_alert_active && cooled);
        if due && !evaluation.churn_alert_held {
            decision.churn_alert = Some(state.risk_level);
            state.churn_alert_active = true;
            state.alerted_level = levels.risk;
            state.last_churn_alert = TimeCode::of(at);
        }
    } else if state.churn_alert_active {
        decision.churn_alert = Some(state.risk_level);
        state.churn_alert_active = false;
        state.last_churn_alert = TimeCode::of(at);
    } else if cooled {
        state.alerted_level = 0;
    }
    state.risk_level = levels.risk;

    let ready = expansion::is_ready(model, evaluation, levels.risk);
    if ready
        && !state.expansion_ready
        && cooled_down(state.last_expansion, at, alerting.expansion_cooldown_millis)
    {
        decision.expansion = true;
        state.last_expansion = TimeCode::of(at);
    }
    state.expansion_ready = ready;
    decision
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, DEFAULT_CONFIG_TOML};
    use smallvec::smallvec;

    const DAY: i64 = 86_400_000;

    fn model() -> Model {
        Model::compile(
            &Config::from_toml_str(DEFAULT_CONFIG_TOML, "default")
                .unwrap()
                .model,
        )
        .unwrap()
    }

    fn evaluation(day: i64, score: f64, risk: f64) -> Evaluation {
        Evaluation {
            at: EventTime::from_millis(1_000 * DAY + day * DAY).unwrap(),
            score,
            components: smallvec![score, score, score],
            risk,
            engagement: 3,
            fit: 3,
            adoption: 0.0,
            churn_alert_held: false,
        }
    }

    /// Runs evaluations through `decide` and returns (score_changed?, churn alert level name).
    fn run(model: &Model, steps: &[(i64, f64, f64)]) -> Vec<(bool, Option<String>)> {
        let mut state = AlertState::default();
        steps
            .iter()
            .map(|&(day, score, risk)| {
                let evaluation = evaluation(day, score, risk);
                let levels = levels(model, &state, &evaluation, score);
                let decision = decide(model, &mut state, &evaluation, levels);
                (
                    decision.score_changed.is_some(),
                    decision
                        .churn_alert
                        .map(|_| model.risk_levels.name(levels.risk).to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn score_changes_need_the_minimum_move_or_a_level_change() {
        let model = model();
        let sent: Vec<bool> = run(
            &model,
            &[
                (0, 80.0, 0.0),
                (1, 83.0, 0.0),
                (2, 84.9, 0.0),
                (3, 87.5, 0.0),
                (4, 76.0, 0.0),
            ],
        )
        .into_iter()
        .map(|(changed, _)| changed)
        .collect();
        // First score; +3 is too small; 84.9 is under 5 points and within the hysteresis of grade A;
        // 87.5 passes it (grade B to A); 76 moves 11.5 points.
        assert_eq!(sent, vec![true, false, false, true, true]);
    }

    #[test]
    fn churn_alerts_rise_escalate_clear_and_respect_the_cooldown() {
        let model = model();
        let alerts: Vec<Option<String>> = run(
            &model,
            &[
                (0, 50.0, 0.10),  // low: nothing
                (1, 50.0, 0.30),  // medium: alert
                (2, 50.0, 0.27),  // within hysteresis: still medium, nothing
                (3, 50.0, 0.45),  // high: escalation, alert
                (4, 50.0, 0.10),  // low: clears
                (5, 50.0, 0.45),  // high again within 7 days of the last alert: suppressed
                (6, 50.0, 0.10),  // low again: nothing to clear
                (20, 50.0, 0.45), // after the cooldown: alert
                (21, 50.0, 0.65), // critical: escalation
            ],
        )
        .into_iter()
        .map(|(_, alert)| alert)
        .collect();
        let expected: Vec<Option<String>> = [
            None,
            Some("medium"),
            None,
            Some("high"),
            Some("low"),
            None,
            None,
            Some("high"),
            Some("critical"),
        ]
        .into_iter()
        .map(|level| level.map(String::from))
        .collect();
        assert_eq!(alerts, expected);
    }

    #[test]
    fn a_suppressed_rise_is_sent_once_the_cooldown_passes() {
        let model = model();
        let alerts: Vec<Option<String>> = run(
            &model,
            &[
                (0, 50.0, 0.45),
                (1, 50.0, 0.10),
                (2, 50.0, 0.45),
                (12, 50.0, 0.45),
            ],
        )
        .into_iter()
        .map(|(_, alert)| alert)
        .collect();
        assert_eq!(
            alerts,
            vec![
                Some("high".into()),
                Some("low".into()),
                None,
                Some("high".into())
            ]
        );
    }
}
