//! The distribution of the value-tier basis across customers, for percentile tiers.

/// Bins of 0.1 over 0..=100.
const BINS: usize = 1001;

/// A histogram of every customer's current tier basis value.
#[derive(Debug, Clone)]
pub struct Population {
    counts: Vec<u32>,
    total: u64,
}

impl Default for Population {
    fn default() -> Self {
        Population {
            counts: vec![0; BINS],
            total: 0,
        }
    }
}

/// The bin of a 0-100 value.
pub fn bin_of(value: f64) -> u16 {
    (value.clamp(0.0, 100.0) * 10.0).round() as u16
}

impl Population {
    /// Moves a customer from its old bin (if any) to a new one.
    pub fn update(&mut self, old: Option<u16>, new: Option<u16>) {
        if let Some(old) = old {
            if let Some(count) = self.counts.get_mut(usize::from(old)) {
                if *count > 0 {
                    *count -= 1;
                    self.total -= 1;
                }
            }
        }
        if let Some(new) = new {
            if let Some(count) = self.counts.get_mut(usize::from(new)) {
                *count += 1;
                self.total += 1;
            }
        }
    }

    /// The percentile (0-100) of a value: the share of customers below it, counting ties half.
    pub fn percentile(&self, value: f64) -> f64 {
        if self.total == 0 {
            return 50.0;
        }
        let bin = usize::from(bin_of(value));
        let below: u64 = self.counts[..bin]
            .iter()
            .map(|count| u64::from(*count))
            .sum();
        let same = f64::from(self.counts[bin]);
        100.0 * (below as f64 + same / 2.0) / self.total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_rank_values() {
        let mut population = Population::default();
        for value in [10.0, 20.0, 30.0, 40.0] {
            population.update(None, Some(bin_of(value)));
        }
        assert_eq!(population.percentile(5.0), 0.0);
        assert_eq!(population.percentile(30.0), 62.5);
        assert_eq!(population.percentile(99.0), 100.0);
        population.update(Some(bin_of(40.0)), Some(bin_of(5.0)));
        assert_eq!(population.percentile(30.0), 87.5);
    }
}
