//! Customers evicted to keep under `state.max_customers`: counted in
//! `healthscore_customers_evicted_total` as they go, and logged at most once a minute, so a flood
//! of new customer ids is seen without flooding the log.

use std::time::{Duration, Instant};

use crate::telemetry;

/// How often evictions are logged at most.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Evictions not yet logged, and when they were last logged.
#[derive(Debug, Default)]
pub struct Evictions {
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl Evictions {
    /// Counts `count` evictions at `now`; logs them with those not yet logged if the last log
    /// is a minute old (or there was none), given the cap `max_customers`.
    pub fn record(&mut self, count: u64, max_customers: Option<usize>, now: Instant) {
        if count == 0 {
            return;
        }
        telemetry::record_evictions(count);
        self.unlogged += count;
        if self
            .logged_at
            .is_some_and(|logged_at| now.duration_since(logged_at) < LOG_EVERY)
        {
            return;
        }
        tracing::warn!(
            evicted = self.unlogged,
            max_customers,
            "Customers over state.max_customers: the longest-inactive were evicted from memory \
             (a flood of new customer ids, or a cap too low for this instance's share)."
        );
        self.unlogged = 0;
        self.logged_at = Some(now);
    }
}
