//! Backtest metrics for `healthscore evaluate`: ROC AUC with ties, and top-decile precision and lift.
//! Pure functions over predictions and labels.

use std::collections::BTreeMap;

use serde::Serialize;

/// The area under the ROC curve of `predictions` (higher means more likely positive) for `labels`:
/// the chance that a random positive ranks above a random negative, ties counting half.
/// `None` when there are no positives or no negatives.
pub fn roc_auc(predictions: &[f64], labels: &[bool]) -> Option<f64> {
    let mut ranked: Vec<(f64, bool)> = predictions
        .iter()
        .copied()
        .zip(labels.iter().copied())
        .collect();
    ranked.sort_by(|left, right| left.0.total_cmp(&right.0));
    let positives = labels.iter().filter(|label| **label).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Mann-Whitney U: sum of positive ranks, with tied groups sharing their mean rank.
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < ranked.len() {
        let mut end = start;
        while end + 1 < ranked.len() && ranked[end + 1].0 == ranked[start].0 {
            end += 1;
        }
        let mean_rank = (start + end) as f64 / 2.0 + 1.0;
        let tied_positives = ranked[start..=end]
            .iter()
            .filter(|(_, label)| *label)
            .count();
        positive_rank_sum += mean_rank * tied_positives as f64;
        start = end + 1;
    }
    let positives = positives as f64;
    let u = positive_rank_sum - positives * (positives + 1.0) / 2.0;
    Some(u / (positives * negatives as f64))
}

/// Precision of the riskiest tenth (rounded up) and its lift over the base rate.
/// Ties at the cut are broken by input order, so callers should pass a stable order.
pub fn top_decile(predictions: &[f64], labels: &[bool]) -> (f64, f64) {
    if predictions.is_empty() {
        return (0.0, 0.0);
    }
    let mut order: Vec<usize> = (0..predictions.len()).collect();
    order.sort_by(|left, right| predictions[*right].total_cmp(&predictions[*left]));
    let size = predictions.len().div_ceil(10);
    let hits = order[..size].iter().filter(|index| labels[**index]).count();
    let precision = hits as f64 / size as f64;
    let base_rate = labels.iter().filter(|label| **label).count() as f64 / labels.len() as f64;
    let lift = if base_rate > 0.0 {
        precision / base_rate
    } else {
        0.0
    };
    (precision, lift)
}

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
}

impl Report {
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
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_inverse_and_tied_rankings() {
        let labels = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &labels), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &labels), Some(0.0));
        assert_eq!(roc_auc(&[0.5, 0.5, 0.5, 0.5], &labels), Some(0.5));
        // One positive above both negatives, one tied with one negative: (2 + 1.5) / 4.
        assert_eq!(roc_auc(&[0.1, 0.5, 0.5, 0.9], &labels), Some(0.875));
        assert_eq!(roc_auc(&[0.1, 0.2], &[false, false]), None);
    }

    #[test]
    fn top_decile_precision_and_lift() {
        let predictions: Vec<f64> = (0..20).map(f64::from).collect();
        let labels: Vec<bool> = (0..20).map(|index| index >= 19 || index % 4 == 0).collect();
        // The riskiest 2 are 19 (positive) and 18 (negative); the base rate is 6/20.
        let (precision, lift) = top_decile(&predictions, &labels);
        assert_eq!(precision, 0.5);
        assert!((lift - 0.5 / 0.3).abs() < 1e-12);
    }
}
