//! How a worker's loops (claims, heartbeats) live through an outage of the store: the first
//! failure of a streak is announced (a warning and one `system.error`, which reaches the
//! durable log once the database is back), later ones are logged only at attempts 2, 4, 8, …,
//! and the end of the streak is one info line. Failed claims are retried with an exponential
//! backoff ([`claim_backoff`]) instead of every poll interval.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::Error;
use crate::manager::Shared;

/// The longest wait between two failed claims (unless the poll interval is longer).
pub(crate) const MAX_CLAIM_BACKOFF: Duration = Duration::from_secs(5);

/// The consecutive failures of one kind of store call of one worker.
#[derive(Debug)]
pub(crate) struct FailureStreak {
    /// What failed, as the `system.error` message starts (`claim jobs`).
    operation: &'static str,
    /// Failures in a row (0: the last call succeeded).
    failures: u32,
    /// When the first failure of the streak happened.
    since: Option<Instant>,
}

impl FailureStreak {
    /// No failure yet.
    pub(crate) const fn new(operation: &'static str) -> Self {
        Self {
            operation,
            failures: 0,
            since: None,
        }
    }

    /// How many calls failed in a row (0 after a success).
    pub(crate) const fn count(&self) -> u32 {
        self.failures
    }

    /// Records a failure.
    ///
    /// The first of a streak logs a warning and emits `system.error`; the later ones log a
    /// warning at attempts 2, 4, 8, … only, so that a long outage does not flood the log.
    pub(crate) fn failed(&mut self, shared: &Shared, worker_id: &str, error: &Error) {
        self.failures = self.failures.saturating_add(1);
        let attempt = self.failures;
        let operation = self.operation;
        match self.since {
            None => {
                self.since = Some(Instant::now());
                tracing::warn!(%error, worker_id, operation, "store call failed; retrying");
                shared.events.system_error(operation, error);
            }
            Some(since) if attempt.is_power_of_two() => {
                let failing_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
                tracing::warn!(
                    %error,
                    worker_id,
                    operation,
                    attempt,
                    failing_ms,
                    "store call still failing; retrying"
                );
            }
            Some(_) => {}
        }
    }

    /// Records a success: ends the streak (one info line when there was one).
    pub(crate) fn succeeded(&mut self, worker_id: &str) {
        if let Some(since) = self.since.take() {
            let failing_ms = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(
                worker_id,
                operation = self.operation,
                attempts = self.failures,
                failing_ms,
                "store reachable again"
            );
        }
        self.failures = 0;
    }
}

/// How long to wait before claiming again after `failures` failed claims in a row: the poll
/// interval, doubled at each failure, at most [`MAX_CLAIM_BACKOFF`] (or the poll interval when
/// that is longer).
pub(crate) fn claim_backoff(poll_interval: Duration, failures: u32) -> Duration {
    let cap = MAX_CLAIM_BACKOFF.max(poll_interval);
    let doublings = failures.saturating_sub(1).min(16);
    poll_interval.saturating_mul(1 << doublings).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claim_backoff_doubles_from_the_poll_interval_up_to_its_cap() {
        let second = Duration::from_secs(1);
        let waits: Vec<u128> = (1..=6)
            .map(|n| claim_backoff(second, n).as_millis())
            .collect();
        assert_eq!(waits, [1000, 2000, 4000, 5000, 5000, 5000]);
        assert_eq!(claim_backoff(second, u32::MAX), MAX_CLAIM_BACKOFF);
        let fast = Duration::from_millis(10);
        assert_eq!(claim_backoff(fast, 1), fast);
        assert_eq!(claim_backoff(fast, 4), Duration::from_millis(80));
        // A poll interval longer than the cap is kept as it is.
        let slow = Duration::from_secs(30);
        assert_eq!(claim_backoff(slow, 1), slow);
        assert_eq!(claim_backoff(slow, 9), slow);
    }
}
