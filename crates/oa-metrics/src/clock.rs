//! [`Clock`]: where the collectors read "now", so that tests can fix it.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// The source of "now" for the figures that depend on the reading time: uptimes, "seconds
/// ago", worker staleness, the throughput windows, running jobs' ETAs and the eviction horizon.
///
/// Every other figure comes from event timestamps. The default is [`SystemClock`]; tests use
/// [`ManualClock`] so that snapshots are deterministic.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock ([`Utc::now`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to, for tests and replays.
///
/// It has microsecond resolution and is shared by reference (wrap it in an `Arc` and give a
/// clone to [`MetricsConfigBuilder::clock`](crate::MetricsConfigBuilder::clock)).
///
/// ```
/// use chrono::{Duration, TimeZone, Utc};
/// use oa_metrics::{Clock, ManualClock};
///
/// let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let clock = ManualClock::new(start);
/// clock.advance(Duration::seconds(90));
/// assert_eq!(clock.now(), start + Duration::seconds(90));
/// ```
#[derive(Debug)]
pub struct ManualClock {
    micros: AtomicI64,
}

impl ManualClock {
    /// A clock that reads `now` until it is set or advanced.
    #[must_use]
    pub fn new(now: DateTime<Utc>) -> Self {
        ManualClock {
            micros: AtomicI64::new(now.timestamp_micros()),
        }
    }

    /// Sets the time.
    pub fn set(&self, now: DateTime<Utc>) {
        self.micros.store(now.timestamp_micros(), Ordering::Relaxed);
    }

    /// Moves the time by `by` (which may be negative).
    pub fn advance(&self, by: Duration) {
        let step = by.num_microseconds().unwrap_or(i64::MAX);
        self.micros.fetch_add(step, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.micros.load(Ordering::Relaxed)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn manual_clock_sets_and_advances() {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::milliseconds(1500));
        assert_eq!(clock.now(), start + Duration::milliseconds(1500));
        clock.advance(Duration::seconds(-2));
        assert_eq!(clock.now(), start - Duration::milliseconds(500));
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn system_clock_is_the_wall_clock() {
        let before = Utc::now();
        let now = SystemClock.now();
        assert!(before <= now && now <= Utc::now());
    }
}
