use super::*;

#[test]
fn shares_that_fall_as_risk_rises_are_pooled_into_rising_knots() {
    // 40 customers in 20 groups of two; the churn share by group is
    // 0, 0, 1/2, 0 (a violation), then 1/2 up to 1.
    let mut risks = Vec::new();
    let mut churned = Vec::new();
    for group in 0..20 {
        for member in 0..2 {
            risks.push(f64::from(group) / 20.0 + f64::from(member) / 100.0);
            churned.push(match group {
                0 | 1 => false,
                2 => member == 0,
                3 => false,
                4..=9 => member == 0,
                _ => true,
            });
        }
    }
    let knots = fit_calibration(&risks, &churned);
    assert!(knots.windows(2).all(|pair| pair[0][0] < pair[1][0]));
    assert!(knots.windows(2).all(|pair| pair[0][1] < pair[1][1]));
    // The first knot pools groups 0 and 1 (both 0); groups 2 and 3 pool to 1/4; groups 4-9
    // (each 1/2) pool to 1/2; groups 10-19 (each 1) pool to 1.
    let shares: Vec<f64> = knots.iter().map(|knot| knot[1]).collect();
    assert_eq!(shares, [0.0, 0.25, 0.5, 1.0]);
    // Each knot's risk is its customers' mean risk: groups 0 and 1 are 0, 0.01, 0.05, 0.06.
    assert!((knots[0][0] - 0.03).abs() < 1e-12);
    // Pooling keeps every churn: the knots' shares weighted by their customers add up to them.
    let total: f64 = [4.0 * 0.0, 4.0 * 0.25, 12.0 * 0.5, 20.0 * 1.0].iter().sum();
    assert_eq!(total, churned.iter().filter(|label| **label).count() as f64);
}

#[test]
fn no_customers_no_knots_and_ties_stay_in_one_knot() {
    assert!(fit_calibration(&[], &[]).is_empty());
    let knots = fit_calibration(&[0.5; 100], &[true; 100]);
    assert_eq!(knots, [[0.5, 1.0]]);
}
