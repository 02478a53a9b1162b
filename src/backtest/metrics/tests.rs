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
fn the_roc_curve_steps_through_each_distinct_prediction_and_its_area_is_the_auc() {
    let predictions = [0.1, 0.5, 0.5, 0.9];
    let labels = [false, false, true, true];
    let curve = roc_curve(&predictions, &labels);
    // 0.9 (a positive), then the tie at 0.5 (one of each), then 0.1 (a negative).
    assert_eq!(curve, [(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
    let area: f64 = curve
        .windows(2)
        .map(|step| (step[1].0 - step[0].0) * (step[0].1 + step[1].1) / 2.0)
        .sum();
    assert_eq!(Some(area), roc_auc(&predictions, &labels));
    assert!(roc_curve(&[0.3], &[true]).is_empty());
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

#[test]
fn calibration_groups_by_prediction_without_splitting_ties() {
    // Ten customers in five bins of two; the three at 0.4 stay together.
    let predictions = [0.0, 0.1, 0.4, 0.4, 0.4, 0.5, 0.8, 0.9, 0.2, 0.6];
    let labels = [
        false, false, true, false, false, true, true, true, false, false,
    ];
    let bins = calibration(&predictions, &labels, 5);
    let summary: Vec<(f64, f64, usize)> = bins
        .iter()
        .map(|bin| (bin.lowest, bin.highest, bin.customers))
        .collect();
    assert_eq!(
        summary,
        [(0.0, 0.1, 2), (0.2, 0.4, 4), (0.5, 0.6, 2), (0.8, 0.9, 2)]
    );
    assert!((bins[1].predicted - 1.4 / 4.0).abs() < 1e-12);
    assert_eq!(bins[1].observed, 0.25);
    assert_eq!(bins[3].observed, 1.0);
    assert!(calibration(&[], &[], 10).is_empty());
}
