//! [`ThroughputRing`]: completions per second of event time, in a fixed ring of 900 one-second
//! buckets (15 minutes), so that memory does not grow with the number of completions.

use crate::snapshot::Throughput;

const WINDOW_SECONDS: usize = 900;

/// Counts per second of event time for the last 15 minutes.
#[derive(Debug)]
pub(crate) struct ThroughputRing {
    /// `(second, count)`; a slot is reused when a newer second maps to it.
    slots: Box<[(i64, u64)]>,
}

impl ThroughputRing {
    pub(crate) fn new() -> Self {
        ThroughputRing {
            slots: vec![(i64::MIN, 0); WINDOW_SECONDS].into_boxed_slice(),
        }
    }

    /// Counts one completion at `second` (Unix seconds). A second older than the one its slot
    /// now holds is more than 15 minutes older than a completion already counted: it can no
    /// longer be in any window, and is not counted.
    pub(crate) fn record(&mut self, second: i64) {
        let index = second.rem_euclid(WINDOW_SECONDS as i64) as usize;
        let slot = &mut self.slots[index];
        if slot.0 == second {
            slot.1 += 1;
        } else if slot.0 < second {
            *slot = (second, 1);
        }
    }

    /// Completions per second over the 60, 300 and 900 seconds that end at `now` (included).
    pub(crate) fn rates(&self, now: i64) -> Throughput {
        let mut sums = [0u64; 3];
        for &(second, count) in self.slots.iter() {
            let age = now.saturating_sub(second);
            if (0..900).contains(&age) {
                sums[2] += count;
                if age < 300 {
                    sums[1] += count;
                }
                if age < 60 {
                    sums[0] += count;
                }
            }
        }
        Throughput {
            last_1m: sums[0] as f64 / 60.0,
            last_5m: sums[1] as f64 / 300.0,
            last_15m: sums[2] as f64 / 900.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_by_age() {
        let mut ring = ThroughputRing::new();
        let now = 1_000_000;
        for _ in 0..6 {
            ring.record(now); // age 0
        }
        for _ in 0..30 {
            ring.record(now - 100); // age 100
        }
        for _ in 0..90 {
            ring.record(now - 600); // age 600
        }
        ring.record(now - 900); // too old for every window
        ring.record(now + 5); // in the future of `now`: not counted yet
        let rates = ring.rates(now);
        assert_eq!(rates.last_1m, 6.0 / 60.0);
        assert_eq!(rates.last_5m, 36.0 / 300.0);
        assert_eq!(rates.last_15m, 126.0 / 900.0);
        assert_eq!(ring.rates(now + 10_000), Throughput::default());
    }

    #[test]
    fn a_slot_is_reused_by_newer_seconds_only() {
        let mut ring = ThroughputRing::new();
        ring.record(900);
        ring.record(0); // same slot, older: ignored
        ring.record(1800); // same slot, newer: replaces
        assert_eq!(ring.rates(1800).last_1m, 1.0 / 60.0);
        assert_eq!(ring.rates(900).last_15m, 0.0);
        ring.record(-1); // negative seconds map to a valid slot
        assert_eq!(ring.rates(0).last_1m, 1.0 / 60.0);
    }
}
