//! Refining the model from real outcomes (`healthscore tune`): pure fitting code, no I/O.
//!
//! - [`tune`](mod@tune): the whole fit, from a model, events and outcomes to a tuned model.
//! - [`grid`]: the settings it may change besides weights (normalization, half-lives).
//! - [`churn_weights`]: the churn-risk factor weights (maximum likelihood).
//! - [`calibration`]: the calibration of the risk (isotonic).
//! - [`model_file`]: the tuned model written into the original file, comments kept.

pub mod calibration;
pub mod churn_weights;
pub mod grid;
pub mod model_file;
pub mod tune;

pub use calibration::fit_calibration;
pub use churn_weights::{fit_churn_weights, FitError, WeightFit};
pub use tune::{tune, TuneError, Tuned};
