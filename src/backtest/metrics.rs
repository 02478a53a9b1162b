//! Backtest metrics over predictions (higher means more likely to churn) and labels (churned or
//! not): ROC AUC with ties, the ROC curve, top-decile precision and lift, and calibration by
//! risk decile. Pure functions.

use serde::Serialize;

/// The area under the ROC curve of `predictions` for `labels`: the chance that a random positive
/// ranks above a random negative, ties counting half. `None` when there are no positives or no
/// negatives.
pub fn roc_auc(predictions: &[f64], labels: &[bool]) -> Option<f64> {
    let ranked = ranked(predictions, labels);
    let positives = labels.iter().filter(|label| **label).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    // Mann-Whitney U: sum of positive ranks, with tied groups sharing their mean rank.
    let mut positive_rank_sum = 0.0;
    for (start, end) in tied_groups(&ranked) {
        let mean_rank = (start + end) as f64 / 2.0 + 1.0;
        let tied_positives = ranked[start..=end]
            .iter()
            .filter(|(_, label)| *label)
            .count();
        positive_rank_sum += mean_rank * tied_positives as f64;
    }
    let positives = positives as f64;
    let u = positive_rank_sum - positives * (positives + 1.0) / 2.0;
    Some(u / (positives * negatives as f64))
}

/// The ROC curve: (false positive rate, true positive rate) from (0, 0) to (1, 1), one point
/// per distinct prediction, riskiest first (a tied group is one straight step, so the area under
/// the points is [`roc_auc`]). Empty when there are no positives or no negatives.
pub fn roc_curve(predictions: &[f64], labels: &[bool]) -> Vec<(f64, f64)> {
    let mut ranked = ranked(predictions, labels);
    ranked.reverse();
    let positives = labels.iter().filter(|label| **label).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return Vec::new();
    }
    let mut curve = vec![(0.0, 0.0)];
    let (mut true_positives, mut false_positives) = (0usize, 0usize);
    for (start, end) in tied_groups(&ranked) {
        for (_, label) in &ranked[start..=end] {
            if *label {
                true_positives += 1;
            } else {
                false_positives += 1;
            }
        }
        curve.push((
            false_positives as f64 / negatives as f64,
            true_positives as f64 / positives as f64,
        ));
    }
    curve
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

/// One group of customers of similar predicted risk, and how many of them churned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationBin {
    /// The lowest prediction in the group.
    pub lowest: f64,
    /// The highest prediction in the group.
    pub highest: f64,
    /// The mean prediction in the group.
    pub predicted: f64,
    /// The share of the group that churned.
    pub observed: f64,
    /// Customers in the group.
    pub customers: usize,
}

/// Calibration by risk decile: the customers sorted by prediction, cut into `bins` groups of
/// (nearly) equal size, never splitting a tied prediction; each group's mean prediction against
/// the share that churned. A calibrated risk has the two about equal in every group.
pub fn calibration(predictions: &[f64], labels: &[bool], bins: usize) -> Vec<CalibrationBin> {
    let ranked = ranked(predictions, labels);
    if ranked.is_empty() || bins == 0 {
        return Vec::new();
    }
    let target = ranked.len().div_ceil(bins);
    let mut groups = Vec::new();
    let mut group_start = 0;
    for (_, end) in tied_groups(&ranked) {
        if end + 1 - group_start >= target || end + 1 == ranked.len() {
            groups.push(&ranked[group_start..=end]);
            group_start = end + 1;
        }
    }
    groups
        .into_iter()
        .map(|group| {
            let customers = group.len();
            let predicted = group.iter().map(|(value, _)| value).sum::<f64>() / customers as f64;
            let churned = group.iter().filter(|(_, label)| *label).count();
            CalibrationBin {
                lowest: group[0].0,
                highest: group[customers - 1].0,
                predicted,
                observed: churned as f64 / customers as f64,
                customers,
            }
        })
        .collect()
}

/// The (prediction, label) pairs, lowest prediction first.
fn ranked(predictions: &[f64], labels: &[bool]) -> Vec<(f64, bool)> {
    let mut ranked: Vec<(f64, bool)> = predictions
        .iter()
        .copied()
        .zip(labels.iter().copied())
        .collect();
    ranked.sort_by(|left, right| left.0.total_cmp(&right.0));
    ranked
}

/// The index ranges `(first, last)` of equal predictions in `ranked`, in order.
fn tied_groups(ranked: &[(f64, bool)]) -> Vec<(usize, usize)> {
    let mut groups = Vec::new();
    let mut start = 0;
    while start < ranked.len() {
        let mut end = start;
        while end + 1 < ranked.len() && ranked[end + 1].0 == ranked[start].0 {
            end += 1;
        }
        groups.push((start, end));
        start = end + 1;
    }
    groups
}

#[cfg(test)]
mod tests;
