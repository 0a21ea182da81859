//! Where the engine reads the time.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

/// A source of the current UTC time. Every timestamp the engine writes (job timestamps, leases,
/// heartbeats, event timestamps) comes from one clock, so that tests can control time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock (`Utc::now()`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The wall time at creation plus the time elapsed since on Tokio's clock.
///
/// In production this is the wall clock made monotonic (it never jumps back when the system
/// clock is adjusted). In tests under `tokio::time::pause()`, it advances exactly as Tokio's
/// paused clock does, so leases, heartbeats and retry delays follow `tokio::time::advance`.
/// This is the engine's default clock.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    wall: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock anchored at the current wall time.
    #[must_use]
    pub fn new() -> Self {
        Self {
            wall: Utc::now(),
            start: tokio::time::Instant::now(),
        }
    }

    /// A clock anchored at `wall` (tests use a fixed date).
    #[must_use]
    pub fn starting_at(wall: DateTime<Utc>) -> Self {
        Self {
            wall,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.start.elapsed();
        // A clock that ran for more than 292 years saturates; nothing here lives that long.
        let delta = TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::MAX);
        self.wall
            .checked_add_signed(delta)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

/// A shared clock, as the engine's parts hold it.
pub type SharedClock = Arc<dyn Clock>;

/// Converts a std duration to a chrono one, saturating.
pub(crate) fn delta(duration: std::time::Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let clock = TokioClock::starting_at(start);
        assert_eq!(clock.now(), start);
        tokio::time::advance(std::time::Duration::from_secs(90)).await;
        assert_eq!(clock.now(), start + TimeDelta::seconds(90));
    }
}
