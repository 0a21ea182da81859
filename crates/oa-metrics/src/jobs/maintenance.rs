//! Keeping the job state within its bounds (evicting unfinished jobs) and resetting it.

use crate::types::Priority;

use super::group::GroupStats;
use super::in_flight::InFlight;
use super::state::{JobState, for_each_group};
use crate::throughput::ThroughputRing;

impl JobState {
    /// Evicts the jobs without news for the horizon, measured from the newest event timestamp
    /// (but never from a time later than the clock's now, so that one event stamped in the
    /// future cannot evict everything).
    pub(crate) fn sweep_horizon(&mut self) {
        self.inserts_since_sweep = 0;
        let now = self.clock.now().timestamp_micros();
        let cutoff = self
            .newest_micros
            .min(now)
            .saturating_sub(self.limits.horizon_micros);
        self.evict_where(|entry| entry.last_seen < cutoff, usize::MAX);
    }

    /// Makes room: the horizon sweep first, then the least recently active jobs, so that an
    /// eighth of the table (at least one entry) is free.
    pub(super) fn evict_over_capacity(&mut self) {
        self.sweep_horizon();
        let max = self.limits.max_in_flight;
        let keep = max - (max / 8).max(1);
        let Some(excess) = self.in_flight.len().checked_sub(keep).filter(|&n| n > 0) else {
            return;
        };
        let mut last_seen: Vec<i64> = self.in_flight.values().map(|e| e.last_seen).collect();
        let (_, &mut cutoff, _) = last_seen.select_nth_unstable(excess - 1);
        self.evict_where(|entry| entry.last_seen <= cutoff, excess);
    }

    /// Removes up to `limit` entries matching `doomed`, with their running counts.
    fn evict_where(&mut self, doomed: impl Fn(&InFlight) -> bool, limit: usize) {
        let JobState {
            in_flight,
            all,
            priorities,
            tags,
            evicted,
            ..
        } = self;
        let mut removed = 0;
        in_flight.retain(|_, entry| {
            if removed >= limit || !doomed(entry) {
                return true;
            }
            removed += 1;
            if entry.phase.is_running() {
                for_each_group(
                    all,
                    priorities,
                    tags,
                    entry.priority,
                    &entry.tags,
                    |group| {
                        group.stop_running();
                    },
                );
            }
            false
        });
        *evicted += removed as u64;
    }

    /// Zeroes every figure. Jobs in flight stay tracked (they are still running) and are
    /// counted again as the new period's started and running jobs, so that their end is
    /// counted consistently.
    pub(crate) fn reset(&mut self) {
        let digits = self.limits.significant_digits;
        self.all = GroupStats::new(digits);
        self.priorities = Priority::ALL.map(|_| GroupStats::new(digits));
        self.tags.clear();
        self.throughput = ThroughputRing::new();
        self.recent.clear();
        self.malformed = 0;
        self.evicted = 0;
        let JobState {
            in_flight,
            all,
            priorities,
            tags,
            ..
        } = self;
        for entry in in_flight.values_mut() {
            entry.tags = entry
                .tags
                .iter()
                .map(|tag| tags.resolve(&tag.name))
                .collect();
            if entry.started_once {
                let running = entry.phase.is_running();
                for_each_group(
                    all,
                    priorities,
                    tags,
                    entry.priority,
                    &entry.tags,
                    |group| {
                        group.started += 1;
                        if running {
                            group.running += 1;
                        }
                    },
                );
            }
        }
    }
}
