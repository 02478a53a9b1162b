//! Calibrating the churn risk to outcomes: isotonic regression (pool adjacent violators) of
//! churn on the model's raw risk, so that a calibrated risk of 0.4 means about 40% of such
//! customers churned on the data it was fitted on. The result is a short list of knots, a
//! non-decreasing piecewise-linear map that the model file keeps as `churn.calibration`.
//! Pure, no I/O.

/// How many equal-count groups the raw risks are first cut into; the knots are at most this
/// many, so the model file stays short and each knot rests on enough customers.
pub const CALIBRATION_GROUPS: usize = 20;

/// Fits the knots `[raw risk, churn share]` of a non-decreasing map from `risks` (the model's
/// raw risks) to `churned`. Empty when there are no customers.
///
/// The customers are sorted by risk and cut into [`CALIBRATION_GROUPS`] groups of about equal
/// size (a tied risk never split); adjacent groups whose churn shares fall as risk rises are
/// pooled until the shares only rise. Each knot is a pooled group's mean risk and churn share.
pub fn fit_calibration(risks: &[f64], churned: &[bool]) -> Vec<[f64; 2]> {
    let mut pairs: Vec<(f64, bool)> = risks.iter().copied().zip(churned.iter().copied()).collect();
    pairs.sort_by(|left, right| left.0.total_cmp(&right.0));
    if pairs.is_empty() {
        return Vec::new();
    }
    let target = pairs.len().div_ceil(CALIBRATION_GROUPS);
    // (sum of risks, churned, customers) per block.
    let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
    let mut current = (0.0, 0.0, 0.0);
    for (index, (risk, label)) in pairs.iter().enumerate() {
        current.0 += risk;
        current.1 += f64::from(u8::from(*label));
        current.2 += 1.0;
        let tie_continues = pairs.get(index + 1).is_some_and(|next| next.0 == *risk);
        if (current.2 as usize >= target && !tie_continues) || index + 1 == pairs.len() {
            push_pooled(&mut blocks, current);
            current = (0.0, 0.0, 0.0);
        }
    }
    blocks
        .into_iter()
        .map(|(risk_sum, churned, customers)| [risk_sum / customers, churned / customers])
        .collect()
}

/// Appends `block`, pooling it with the blocks before it while their churn share is not
/// below its own (pool adjacent violators; equal shares pool too, so knots strictly rise).
fn push_pooled(blocks: &mut Vec<(f64, f64, f64)>, mut block: (f64, f64, f64)) {
    while let Some(last) = blocks.last() {
        if last.1 / last.2 < block.1 / block.2 {
            break;
        }
        block = (last.0 + block.0, last.1 + block.1, last.2 + block.2);
        blocks.pop();
    }
    blocks.push(block);
}

#[cfg(test)]
mod tests;
