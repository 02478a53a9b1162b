//! The weight fit on synthetic customers whose churn follows known weights.

use super::*;

/// A repeatable stream of numbers in 0..1 (xorshift).
struct Numbers(u64);

impl Numbers {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `customers` customers with random factor values, each churned with the noisy-OR chance
/// under `weights` and `leak`.
fn synthetic(
    weights: &[f64],
    leak: f64,
    customers: usize,
    seed: u64,
) -> (Vec<Vec<f64>>, Vec<bool>) {
    let mut numbers = Numbers(seed);
    let mut rows = Vec::with_capacity(customers);
    let mut churned = Vec::with_capacity(customers);
    for _ in 0..customers {
        let row: Vec<f64> = weights.iter().map(|_| numbers.next()).collect();
        let stays: f64 = weights
            .iter()
            .zip(&row)
            .map(|(weight, value)| 1.0 - weight * value)
            .product::<f64>()
            * (1.0 - leak);
        churned.push(numbers.next() >= stays);
        rows.push(row);
    }
    (rows, churned)
}

#[test]
fn known_weights_are_recovered() {
    let truth = [0.6, 0.3, 0.0, 0.8];
    let (rows, churned) = synthetic(&truth, 0.05, 40_000, 0x9e37_79b9_7f4a_7c15);
    let fit = fit_churn_weights(&rows, &churned, &[0.1; 4], 0.99).unwrap();
    for (fitted, true_weight) in fit.weights.iter().zip(truth) {
        assert!(
            (fitted - true_weight).abs() < 0.05,
            "fitted {:?}, true {truth:?}",
            fit.weights
        );
    }
    assert!((fit.leak - 0.05).abs() < 0.03, "leak {}", fit.leak);
    assert!(
        fit.iterations < MAX_ITERATIONS,
        "converged: {}",
        fit.iterations
    );
}

#[test]
fn the_fit_is_more_likely_than_the_truth_s_neighbours() {
    let truth = [0.5, 0.2];
    let (rows, churned) = synthetic(&truth, 0.1, 5_000, 42);
    let fit = fit_churn_weights(&rows, &churned, &[0.1, 0.1], 0.99).unwrap();
    let samples = Samples {
        rows: &rows,
        churned: &churned,
    };
    let mut best = fit.weights.clone();
    best.push(fit.leak);
    let at_fit = samples.mean_log_likelihood(&best);
    assert!((at_fit - fit.mean_log_likelihood).abs() < 1e-12);
    for index in 0..best.len() {
        for nudge in [-0.02, 0.02] {
            let mut moved = best.clone();
            moved[index] = (moved[index] + nudge).clamp(0.0, 0.99);
            assert!(samples.mean_log_likelihood(&moved) <= at_fit + 1e-9);
        }
    }
}

#[test]
fn weights_stay_within_the_bound() {
    // A factor that decides churn outright: its weight would be 1, and stops at the bound.
    let rows: Vec<Vec<f64>> = (0..200).map(|index| vec![(index % 2) as f64]).collect();
    let churned: Vec<bool> = (0..200).map(|index| index % 2 == 1).collect();
    let fit = fit_churn_weights(&rows, &churned, &[0.5], 0.9).unwrap();
    assert!((fit.weights[0] - 0.9).abs() < 1e-9, "{:?}", fit.weights);
    assert!(fit.leak < 1e-6, "{}", fit.leak);
}

#[test]
fn bad_input_is_named() {
    assert_eq!(
        fit_churn_weights(&[vec![0.5], vec![0.2]], &[false, false], &[0.5], 0.99),
        Err(FitError::OneSidedOutcomes {
            churned: 0,
            customers: 2
        })
    );
    assert_eq!(
        fit_churn_weights(&[vec![0.5], vec![0.2, 0.1]], &[true, false], &[0.5], 0.99),
        Err(FitError::RowWidth {
            row: 1,
            found: 2,
            expected: 1
        })
    );
    assert_eq!(
        fit_churn_weights(&[vec![0.5], vec![1.5]], &[true, false], &[0.5], 0.99),
        Err(FitError::ValueOutOfRange {
            row: 1,
            factor: 0,
            value: 1.5
        })
    );
}

#[test]
fn a_factor_no_customer_had_keeps_its_starting_weight() {
    let (mut rows, churned) = synthetic(&[0.6], 0.05, 5_000, 7);
    for row in &mut rows {
        row.push(0.0);
    }
    let fit = fit_churn_weights(&rows, &churned, &[0.2, 0.35], 0.99).unwrap();
    assert_eq!(fit.unfitted, [1]);
    assert_eq!(fit.weights[1], 0.35);
    assert!((fit.weights[0] - 0.6).abs() < 0.08, "{:?}", fit.weights);
}
