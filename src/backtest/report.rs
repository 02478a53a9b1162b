//! The figures of one backtest: how well the churn risk ranks and how well it is calibrated,
//! beside the baselines; as text for people or one JSON object.

use std::collections::BTreeMap;

use serde::Serialize;

use super::metrics::{calibration, roc_auc, top_decile, CalibrationBin};
use super::{AlertPrecision, Scored, BASELINES};

/// Risk groups in the calibration table.
const CALIBRATION_BINS: usize = 10;

/// The backtest report (`--json` prints it as one object).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The model evaluated.
    pub model_version: String,
    /// The scoring time.
    pub at: String,
    /// The end of the outcome window.
    pub horizon_end: String,
    /// Customers scored (those with events before `at`).
    pub customers: usize,
    /// Customers that churned within the window.
    pub positives: usize,
    /// AUC of churn risk for predicting churn.
    pub auc_churn_risk: Option<f64>,
    /// AUC of the score (lower score, more churn).
    pub auc_score: Option<f64>,
    /// Share of churners among the riskiest 10%.
    pub top_decile_precision: f64,
    /// That share over the base churn rate.
    pub top_decile_lift: f64,
    /// AUC of simple baselines, by name.
    pub baselines: BTreeMap<String, Option<f64>>,
    /// The churn risk by risk decile: mean predicted against observed churn.
    pub calibration: Vec<CalibrationBin>,
    /// What the churn alerts raised before the scoring time were worth.
    pub alerts: AlertPrecision,
}

impl Report {
    /// The report of `scored` (by `model_version`) against `labels` (churned in the window
    /// ending at `horizon_end`).
    pub fn new(model_version: &str, scored: &Scored, labels: &[bool], horizon_end: &str) -> Report {
        let inverse_scores: Vec<f64> = scored.scores.iter().map(|score| -score).collect();
        let (top_decile_precision, top_decile_lift) = top_decile(&scored.risks, labels);
        Report {
            model_version: model_version.to_string(),
            at: scored.at.to_string(),
            horizon_end: horizon_end.to_string(),
            customers: labels.len(),
            positives: labels.iter().filter(|label| **label).count(),
            auc_churn_risk: roc_auc(&scored.risks, labels),
            auc_score: roc_auc(&inverse_scores, labels),
            top_decile_precision,
            top_decile_lift,
            baselines: BASELINES
                .iter()
                .zip(&scored.baselines)
                .map(|(name, predictions)| (name.to_string(), roc_auc(predictions, labels)))
                .collect(),
            calibration: calibration(&scored.risks, labels, CALIBRATION_BINS),
            alerts: scored.alerts.precision(&scored.ids, labels),
        }
    }

    /// The report as text for people.
    pub fn to_text(&self) -> String {
        let auc =
            |value: Option<f64>| value.map_or("n/a".to_string(), |value| format!("{value:.3}"));
        let mut text = format!(
            "model {} scored at {}; churn counted until {}\n\
             customers: {}  churned: {} ({:.1}%)\n\
             ROC AUC churn_risk: {}\n\
             ROC AUC score:      {}\n\
             riskiest decile: precision {:.3}, lift {:.2}\n\
             baselines (ROC AUC):\n",
            self.model_version,
            self.at,
            self.horizon_end,
            self.customers,
            self.positives,
            if self.customers > 0 {
                100.0 * self.positives as f64 / self.customers as f64
            } else {
                0.0
            },
            auc(self.auc_churn_risk),
            auc(self.auc_score),
            self.top_decile_precision,
            self.top_decile_lift,
        );
        for (name, value) in &self.baselines {
            text.push_str(&format!("  {name:<24} {}\n", auc(*value)));
        }
        text.push_str("calibration (churn risk by decile):\n  risk from   to     predicted  churned  customers\n");
        for bin in &self.calibration {
            text.push_str(&format!(
                "  {:<10.3} {:<6.3} {:<10.3} {:<8.3} {}\n",
                bin.lowest, bin.highest, bin.predicted, bin.observed, bin.customers
            ));
        }
        text.push_str(&format!(
            "churn alerts: {} before {}, {:.2} per customer per month; customers alerted in \
             the {} days before it:\n  level or above  customers  churned  precision  lift\n",
            self.alerts.alerts,
            self.at,
            self.alerts.alerts_per_customer_month,
            self.alerts.window_days
        ));
        for level in &self.alerts.levels {
            text.push_str(&format!(
                "  {:<15} {:<10} {:<8} {:<10.3} {:.2}\n",
                level.level, level.customers, level.churned, level.precision, level.lift
            ));
        }
        text
    }
}
