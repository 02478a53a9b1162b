//! Fitting the churn-risk factor weights to outcomes. The model's risk is a noisy-OR of its
//! factors: `risk = 1 - Π (1 - w_j · v_j)`, where `v_j` in 0..1 is factor `j`'s value for a
//! customer (normalized and ramped) and `w_j` its weight, the most risk it can cause alone. The
//! fit finds the weights that make the observed churn most likely (maximum likelihood), with a
//! leak term that stands for churn no factor explains (`1 - leak` multiplies every customer's
//! survival, so it changes no ranking and is not part of the model). Weights stay in
//! `0..=max_weight`, so the model keeps its explainable form: factors only add risk, and each
//! reason's share of it still adds up to the risk.
//!
//! Projected gradient ascent with a backtracking step; pure, no I/O.

/// Why the weights could not be fitted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    /// Every customer churned, or none did: nothing tells the factors apart.
    #[error("the outcomes need churned and retained customers ({churned} of {customers} churned)")]
    OneSidedOutcomes {
        /// Customers that churned.
        churned: usize,
        /// Customers in all.
        customers: usize,
    },
    /// Not one outcome per customer.
    #[error("{customers} customers but {outcomes} outcomes")]
    OutcomeCount {
        /// Rows of factor values.
        customers: usize,
        /// Outcomes.
        outcomes: usize,
    },
    /// A customer's row does not have one value per factor.
    #[error("customer {row} has {found} factor values, not {expected}")]
    RowWidth {
        /// The row's index.
        row: usize,
        /// Values in it.
        found: usize,
        /// Factors in the fit.
        expected: usize,
    },
    /// A value is outside 0..1 or not a number.
    #[error("customer {row}'s value of factor {factor} is {value}, not in 0..1")]
    ValueOutOfRange {
        /// The row's index.
        row: usize,
        /// The factor's index.
        factor: usize,
        /// The value.
        value: f64,
    },
}

/// The fitted weights.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightFit {
    /// One weight per factor, in `0..=max_weight`.
    pub weights: Vec<f64>,
    /// The factors no customer had (value 0 throughout): nothing in the outcomes speaks for
    /// or against them, so they keep their starting weight.
    pub unfitted: Vec<usize>,
    /// The churn no factor explains, in `0..=max_weight`.
    pub leak: f64,
    /// The mean log-likelihood per customer at the fit.
    pub mean_log_likelihood: f64,
    /// Gradient steps taken.
    pub iterations: usize,
}

/// Most gradient steps before the fit stops where it is.
const MAX_ITERATIONS: usize = 5_000;

/// The fit stops once a step improves the mean log-likelihood by less than this.
const TOLERANCE: f64 = 1e-10;

/// Probabilities are kept at least this far from 0 and 1, so logarithms stay finite.
const EPSILON: f64 = 1e-12;

/// Fits one weight per factor to `rows` (each customer's factor values, one per weight in
/// `start`) and `churned` (their outcomes), from the weights `start` (the model's own), each
/// weight at most `max_weight` (below 1).
pub fn fit_churn_weights(
    rows: &[Vec<f64>],
    churned: &[bool],
    start: &[f64],
    max_weight: f64,
) -> Result<WeightFit, FitError> {
    check(rows, churned, start.len())?;
    let samples = Samples { rows, churned };
    let unfitted: Vec<usize> = (0..start.len())
        .filter(|factor| rows.iter().all(|row| row[*factor] == 0.0))
        .collect();
    // Parameters: the factor weights, then the leak.
    let mut parameters: Vec<f64> = start
        .iter()
        .map(|weight| weight.clamp(0.0, max_weight))
        .chain([0.01_f64.min(max_weight)])
        .collect();
    let mut value = samples.mean_log_likelihood(&parameters);
    let mut step = 1.0;
    let mut iterations = 0;
    while iterations < MAX_ITERATIONS {
        iterations += 1;
        let gradient = samples.gradient(&parameters);
        let mut improved = None;
        while step > 1e-12 {
            let candidate: Vec<f64> = parameters
                .iter()
                .zip(&gradient)
                .map(|(parameter, slope)| (parameter + step * slope).clamp(0.0, max_weight))
                .collect();
            let candidate_value = samples.mean_log_likelihood(&candidate);
            // Armijo: the gain must be a fair share of what the slope promises.
            let promised: f64 = candidate
                .iter()
                .zip(&parameters)
                .zip(&gradient)
                .map(|((new, old), slope)| (new - old) * slope)
                .sum();
            if candidate_value >= value + 1e-4 * promised && promised > 0.0 {
                improved = Some((candidate, candidate_value));
                break;
            }
            step /= 2.0;
        }
        let Some((candidate, candidate_value)) = improved else {
            break;
        };
        let gain = candidate_value - value;
        parameters = candidate;
        value = candidate_value;
        step *= 2.0;
        if gain < TOLERANCE {
            break;
        }
    }
    let leak = parameters.pop().unwrap_or(0.0);
    Ok(WeightFit {
        weights: parameters,
        unfitted,
        leak,
        mean_log_likelihood: value,
        iterations,
    })
}

/// Checks the shape and range of the input.
fn check(rows: &[Vec<f64>], churned: &[bool], factors: usize) -> Result<(), FitError> {
    if rows.len() != churned.len() {
        return Err(FitError::OutcomeCount {
            customers: rows.len(),
            outcomes: churned.len(),
        });
    }
    let positives = churned.iter().filter(|churned| **churned).count();
    if positives == 0 || positives == churned.len() {
        return Err(FitError::OneSidedOutcomes {
            churned: positives,
            customers: churned.len(),
        });
    }
    for (row, values) in rows.iter().enumerate() {
        if values.len() != factors {
            return Err(FitError::RowWidth {
                row,
                found: values.len(),
                expected: factors,
            });
        }
        if let Some((factor, value)) = values
            .iter()
            .enumerate()
            .find(|(_, value)| !(0.0..=1.0).contains(*value))
        {
            return Err(FitError::ValueOutOfRange {
                row,
                factor,
                value: *value,
            });
        }
    }
    Ok(())
}

/// The customers' factor values and outcomes.
struct Samples<'a> {
    rows: &'a [Vec<f64>],
    churned: &'a [bool],
}

impl Samples<'_> {
    /// The chance that customer `row` stays, under `parameters` (weights, then the leak).
    fn survival(&self, row: &[f64], parameters: &[f64]) -> f64 {
        let (weights, leak) = parameters.split_at(parameters.len() - 1);
        let factors: f64 = weights
            .iter()
            .zip(row)
            .map(|(weight, value)| 1.0 - weight * value)
            .product();
        (factors * (1.0 - leak[0])).clamp(EPSILON, 1.0 - EPSILON)
    }

    /// The mean log-likelihood of the outcomes.
    fn mean_log_likelihood(&self, parameters: &[f64]) -> f64 {
        let total: f64 = self
            .rows
            .iter()
            .zip(self.churned)
            .map(|(row, churned)| {
                let stays = self.survival(row, parameters);
                if *churned {
                    (1.0 - stays).ln()
                } else {
                    stays.ln()
                }
            })
            .sum();
        total / self.rows.len() as f64
    }

    /// The mean log-likelihood's gradient. With `S` the survival, `d ln S / d w_j` is
    /// `-v_j / (1 - w_j v_j)`; a churned customer's term is `ln(1 - S)`, whose derivative is
    /// `-S / (1 - S)` times that.
    fn gradient(&self, parameters: &[f64]) -> Vec<f64> {
        let mut gradient = vec![0.0; parameters.len()];
        let leak = parameters.len() - 1;
        for (row, churned) in self.rows.iter().zip(self.churned) {
            let stays = self.survival(row, parameters);
            let outcome = if *churned {
                -stays / (1.0 - stays)
            } else {
                1.0
            };
            for (index, slot) in gradient.iter_mut().enumerate() {
                let value = if index == leak { 1.0 } else { row[index] };
                let factor = (1.0 - parameters[index] * value).max(EPSILON);
                *slot += outcome * -value / factor;
            }
        }
        let customers = self.rows.len() as f64;
        gradient.iter_mut().for_each(|slope| *slope /= customers);
        gradient
    }
}

#[cfg(test)]
mod tests;
