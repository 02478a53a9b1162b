//! The churn risk's calibration (`churn.calibration`): a non-decreasing piecewise-linear map
//! from the factors' combined risk to the share of such customers that churned, fitted by
//! `healthscore tune`, so that the level thresholds mean what they say.

use crate::config::ConfigError;

/// The compiled map: knots `[raw, calibrated]` with the raw risk strictly rising and the
/// calibrated one never falling, running through (0, 0) and (1, 1) beyond the first and last
/// knots, so no factor means no risk and the order of customers is kept. No knots: the identity.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RiskCalibration {
    knots: Vec<[f64; 2]>,
}

impl RiskCalibration {
    /// Checks and compiles `knots` (the key `churn.calibration`).
    pub fn compile(knots: &[[f64; 2]]) -> Result<RiskCalibration, ConfigError> {
        let key = "churn.calibration";
        for (index, [raw, calibrated]) in knots.iter().enumerate() {
            let in_range = |value: &f64| (0.0..=1.0).contains(value);
            if !in_range(raw) || !in_range(calibrated) {
                return Err(ConfigError::invalid(
                    format!("{key}[{index}]"),
                    "both numbers of a knot are risks, from 0 to 1",
                ));
            }
        }
        for (index, pair) in knots.windows(2).enumerate() {
            if pair[1][0] <= pair[0][0] || pair[1][1] < pair[0][1] {
                return Err(ConfigError::invalid(
                    format!("{key}[{}]", index + 1),
                    "knots rise: each raw risk above the one before, its calibrated risk not below",
                ));
            }
        }
        let mut path = Vec::with_capacity(knots.len() + 2);
        if knots.first().is_some_and(|first| first[0] > 0.0) {
            path.push([0.0, 0.0]);
        }
        path.extend_from_slice(knots);
        if knots.last().is_some_and(|last| last[0] < 1.0) {
            path.push([1.0, 1.0]);
        }
        Ok(RiskCalibration { knots: path })
    }

    /// The calibrated risk of a raw risk in 0..1.
    pub fn apply(&self, raw: f64) -> f64 {
        if self.knots.is_empty() {
            return raw;
        }
        let after = self.knots.partition_point(|knot| knot[0] < raw);
        match (after.checked_sub(1), self.knots.get(after)) {
            (Some(before), Some(next)) => {
                let [x0, y0] = self.knots[before];
                let [x1, y1] = *next;
                y0 + (y1 - y0) * (raw - x0) / (x1 - x0)
            }
            (None, Some(first)) => first[1],
            (_, None) => self.knots[self.knots.len() - 1][1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_interpolates_between_knots_and_runs_through_the_corners() {
        let calibration = RiskCalibration::compile(&[[0.2, 0.1], [0.6, 0.5]]).unwrap();
        assert_eq!(calibration.apply(0.0), 0.0);
        assert!((calibration.apply(0.1) - 0.05).abs() < 1e-12);
        assert!((calibration.apply(0.2) - 0.1).abs() < 1e-12);
        assert!((calibration.apply(0.4) - 0.3).abs() < 1e-12);
        assert!((calibration.apply(0.8) - 0.75).abs() < 1e-12);
        assert_eq!(calibration.apply(1.0), 1.0);
        assert_eq!(RiskCalibration::default().apply(0.37), 0.37);
    }

    #[test]
    fn knots_that_fall_or_leave_0_to_1_are_refused_with_their_key() {
        let falling = RiskCalibration::compile(&[[0.2, 0.3], [0.5, 0.1]]).unwrap_err();
        assert!(
            falling.to_string().contains("churn.calibration[1]"),
            "{falling}"
        );
        let repeated = RiskCalibration::compile(&[[0.2, 0.3], [0.2, 0.4]]).unwrap_err();
        assert!(
            repeated.to_string().contains("churn.calibration[1]"),
            "{repeated}"
        );
        let outside = RiskCalibration::compile(&[[0.2, 1.3]]).unwrap_err();
        assert!(
            outside.to_string().contains("churn.calibration[0]"),
            "{outside}"
        );
    }
}
