//! The clock of the event-time merges: milliseconds since the processor began, read at each
//! batch and timer of the processing thread (at least every second). A gap between two
//! readings longer than [`STALL_AFTER`] is a stall: the process was stopped (SIGSTOP, a frozen
//! VM) or could not run. What the merges know of where their input partitions end is then as
//! old as the stall, so the caller counts their waits afresh instead of letting the stall use
//! them up (which would apply events before older ones still on the broker).

use std::time::{Duration, Instant};

/// A gap between readings longer than this is a stall: the processing thread reads the clock
/// at least every second when it runs.
pub const STALL_AFTER: Duration = Duration::from_secs(2);

/// One reading of the [`MergeClock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Milliseconds since the clock began.
    pub millis: u64,
    /// How long the reader did not run before this reading, if that was a stall.
    pub stalled_for: Option<Duration>,
}

/// See the module documentation.
#[derive(Debug)]
pub struct MergeClock {
    origin: Instant,
    last_read: Instant,
}

impl MergeClock {
    /// A clock beginning now.
    pub fn new() -> MergeClock {
        let now = Instant::now();
        MergeClock {
            origin: now,
            last_read: now,
        }
    }

    /// Reads the clock, telling whether the reader stalled since the last reading.
    pub fn read(&mut self) -> Reading {
        let now = Instant::now();
        let gap = now.saturating_duration_since(self.last_read);
        self.last_read = now;
        Reading {
            millis: self.millis_at(now),
            stalled_for: (gap > STALL_AFTER).then_some(gap),
        }
    }

    /// The time now, without counting it as a reading.
    pub fn peek(&self) -> u64 {
        self.millis_at(Instant::now())
    }

    /// The instant at `millis` on this clock.
    pub fn instant_at(&self, millis: u64) -> Instant {
        self.origin + Duration::from_millis(millis)
    }

    fn millis_at(&self, instant: Instant) -> u64 {
        instant.saturating_duration_since(self.origin).as_millis() as u64
    }
}

impl Default for MergeClock {
    fn default() -> Self {
        MergeClock::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_close_together_are_no_stall_and_a_long_gap_is_one() {
        let mut clock = MergeClock::new();
        assert_eq!(clock.read().stalled_for, None);
        // As if the process had been stopped for 5 s since the last reading.
        clock.last_read -= Duration::from_secs(5);
        let stalled = clock.read().stalled_for.expect("a stall");
        assert!(stalled >= Duration::from_secs(5), "{stalled:?}");
        assert_eq!(clock.read().stalled_for, None, "a stall is reported once");
    }

    #[test]
    fn instants_and_millis_agree() {
        let clock = MergeClock::new();
        assert_eq!(
            clock.instant_at(1500) - clock.origin,
            Duration::from_millis(1500)
        );
        assert!(clock.peek() < 1000);
    }
}
