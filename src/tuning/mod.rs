//! Refining the model from real outcomes (`healthscore tune`, issue 14): pure fitting code, no
//! I/O. So far: the churn-risk factor weights ([`churn_weights`]).

pub mod churn_weights;

pub use churn_weights::{fit_churn_weights, FitError, WeightFit};
