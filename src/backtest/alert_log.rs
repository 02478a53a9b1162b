//! What the churn alerts of a backtest were worth: which customers were alerted at each level
//! or above in a window before the scoring time (the alerts a team would be acting on then),
//! the share of them that churned afterwards and its lift over the base rate, and how many
//! alerts each customer got per month over the whole history.

use std::collections::HashMap;

use serde::Serialize;

use crate::engine::model::Bands;
use crate::engine::{EventTime, Model, OutputEvent};

/// The alerts of the model a backtest ran, as they were raised.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertLog {
    at: EventTime,
    window_start: EventTime,
    window_millis: i64,
    /// The model's risk levels.
    levels: Bands,
    /// The lowest level that raises an alert (`alerting.churn_alert_level`).
    alert_level: u8,
    /// Per customer, the highest level alerted within the window.
    highest: HashMap<String, u8>,
    /// Alerts raised (not clears) before the scoring time.
    raised: u64,
    first_event: Option<EventTime>,
}

/// The customers alerted at one level or above within the window, and how many churned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LevelPrecision {
    /// The level (`medium`, `high`, `critical`).
    pub level: String,
    /// Customers alerted at this level or above within the window.
    pub customers: usize,
    /// How many of them churned.
    pub churned: usize,
    /// The share of them that churned (0 when none were alerted).
    pub precision: f64,
    /// That share over the base churn rate of every customer scored.
    pub lift: f64,
}

/// The worth of a backtest's churn alerts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertPrecision {
    /// The window before the scoring time whose alerts count, in days.
    pub window_days: f64,
    /// By level, lowest alerting level first.
    pub levels: Vec<LevelPrecision>,
    /// Churn alerts raised (clears not counted) before the scoring time.
    pub alerts: u64,
    /// Those alerts per customer scored per month of history (from the first event).
    pub alerts_per_customer_month: f64,
}

/// A month, in milliseconds (365.25 / 12 days).
const MONTH_MILLIS: f64 = 30.4375 * 86_400_000.0;

impl AlertLog {
    /// A log of `model`'s alerts for a backtest at `at`, counting those in the `window_millis`
    /// before it.
    pub fn new(model: &Model, at: EventTime, window_millis: i64) -> AlertLog {
        AlertLog {
            at,
            window_start: at.plus_millis(-window_millis),
            window_millis,
            levels: model.risk_levels.clone(),
            alert_level: model.alerting.churn_alert_level,
            highest: HashMap::new(),
            raised: 0,
            first_event: None,
        }
    }

    /// Notes an event applied at `time` (for the months of history).
    pub fn saw_event(&mut self, time: EventTime) {
        self.first_event = Some(self.first_event.map_or(time, |first| first.min(time)));
    }

    /// Notes an output: a churn alert raised before the scoring time counts, and within the
    /// window it marks its customer as alerted at its level.
    pub fn record(&mut self, output: &OutputEvent) {
        let OutputEvent::ChurnRiskAlert(alert) = output else {
            return;
        };
        let Some(level) = self.levels.level_of(&alert.level) else {
            return;
        };
        if level < self.alert_level || alert.at >= self.at {
            return;
        }
        self.raised += 1;
        if alert.at >= self.window_start {
            let highest = self
                .highest
                .entry(alert.customer_id.clone())
                .or_insert(level);
            *highest = (*highest).max(level);
        }
    }

    /// The alerts' worth against `labels` (churned or not) of the customers `ids`.
    pub fn precision(&self, ids: &[String], labels: &[bool]) -> AlertPrecision {
        let customers = labels.len();
        let base_rate = if customers == 0 {
            0.0
        } else {
            labels.iter().filter(|label| **label).count() as f64 / customers as f64
        };
        let levels = (self.alert_level..)
            .take(
                self.levels
                    .len()
                    .saturating_sub(usize::from(self.alert_level)),
            )
            .map(|level| {
                let (mut alerted, mut churned) = (0, 0);
                for (id, label) in ids.iter().zip(labels) {
                    if self
                        .highest
                        .get(id)
                        .is_some_and(|highest| *highest >= level)
                    {
                        alerted += 1;
                        churned += usize::from(*label);
                    }
                }
                let precision = if alerted == 0 {
                    0.0
                } else {
                    churned as f64 / alerted as f64
                };
                LevelPrecision {
                    level: self.levels.name(level).to_string(),
                    customers: alerted,
                    churned,
                    precision,
                    lift: if base_rate > 0.0 {
                        precision / base_rate
                    } else {
                        0.0
                    },
                }
            })
            .collect();
        let months = self.first_event.map_or(0.0, |first| {
            self.at.millis_since(first) as f64 / MONTH_MILLIS
        });
        AlertPrecision {
            window_days: self.window_millis as f64 / 86_400_000.0,
            levels,
            alerts: self.raised,
            alerts_per_customer_month: if customers == 0 || months <= 0.0 {
                0.0
            } else {
                self.raised as f64 / customers as f64 / months
            },
        }
    }
}

#[cfg(test)]
mod tests;
