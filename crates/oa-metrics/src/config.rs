//! [`MetricsConfig`]: the bounds and knobs of the collectors, made with a builder.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::error::MetricsError;

/// Default [`MetricsConfigBuilder::recent_jobs_capacity`].
pub const DEFAULT_RECENT_JOBS_CAPACITY: usize = 1000;
/// Default [`MetricsConfigBuilder::max_tags`].
pub const DEFAULT_MAX_TAGS: usize = 256;
/// Default [`MetricsConfigBuilder::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 100_000;
/// Default [`MetricsConfigBuilder::in_flight_horizon`]: 24 hours.
pub const DEFAULT_IN_FLIGHT_HORIZON: Duration = Duration::from_secs(24 * 3600);
/// Default [`MetricsConfigBuilder::max_workers`].
pub const DEFAULT_MAX_WORKERS: usize = 10_000;
/// Default [`MetricsConfigBuilder::max_offline_workers`].
pub const DEFAULT_MAX_OFFLINE_WORKERS: usize = 100;
/// Default [`MetricsConfigBuilder::default_heartbeat_interval`]: 5 seconds, the engine's.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// Default [`MetricsConfigBuilder::offline_after_missed_heartbeats`]: 3, as the engine's reaper.
pub const DEFAULT_OFFLINE_AFTER_MISSED_HEARTBEATS: u32 = 3;
/// Default [`MetricsConfigBuilder::status_recent_jobs`]: 10, the API's default page.
pub const DEFAULT_STATUS_RECENT_JOBS: usize = 10;

/// The bounds and knobs of the collectors. Every collection the collectors keep is limited by
/// one of these numbers, never by the number of events or jobs processed.
///
/// ```
/// use std::time::Duration;
/// use oa_metrics::MetricsConfig;
///
/// let config = MetricsConfig::builder()
///     .recent_jobs_capacity(500)
///     .max_tags(64)
///     .in_flight_horizon(Duration::from_secs(3600))
///     .prometheus_tags(["billing", "reports"])
///     .build()?;
/// assert_eq!(config.recent_jobs_capacity(), 500);
/// assert!(MetricsConfig::builder().max_tags(0).build().is_err());
/// # Ok::<(), oa_metrics::MetricsError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MetricsConfig {
    pub(crate) recent_jobs_capacity: usize,
    pub(crate) max_tags: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) in_flight_horizon: Duration,
    pub(crate) max_workers: usize,
    pub(crate) max_offline_workers: usize,
    pub(crate) default_heartbeat_interval: Duration,
    pub(crate) offline_after_missed_heartbeats: u32,
    pub(crate) histogram_significant_digits: u8,
    pub(crate) tag_histogram_significant_digits: u8,
    pub(crate) prometheus_tags: Vec<String>,
    pub(crate) status_recent_jobs: usize,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            recent_jobs_capacity: DEFAULT_RECENT_JOBS_CAPACITY,
            max_tags: DEFAULT_MAX_TAGS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            in_flight_horizon: DEFAULT_IN_FLIGHT_HORIZON,
            max_workers: DEFAULT_MAX_WORKERS,
            max_offline_workers: DEFAULT_MAX_OFFLINE_WORKERS,
            default_heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            offline_after_missed_heartbeats: DEFAULT_OFFLINE_AFTER_MISSED_HEARTBEATS,
            histogram_significant_digits: 3,
            tag_histogram_significant_digits: 2,
            prometheus_tags: Vec::new(),
            status_recent_jobs: DEFAULT_STATUS_RECENT_JOBS,
            clock: Arc::new(SystemClock),
        }
    }
}

impl MetricsConfig {
    /// A builder that starts from the defaults.
    pub fn builder() -> MetricsConfigBuilder {
        MetricsConfigBuilder {
            config: MetricsConfig::default(),
        }
    }

    /// How many finished jobs [`recent_jobs`](crate::JobMetrics::recent_jobs) remembers.
    #[must_use]
    pub fn recent_jobs_capacity(&self) -> usize {
        self.recent_jobs_capacity
    }

    /// How many distinct tags get their own row; later tags are folded into `other`.
    #[must_use]
    pub fn max_tags(&self) -> usize {
        self.max_tags
    }

    /// How many unfinished jobs are tracked at most.
    #[must_use]
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// How long an unfinished job is tracked without news before it is evicted.
    #[must_use]
    pub fn in_flight_horizon(&self) -> Duration {
        self.in_flight_horizon
    }

    /// How many workers are tracked at most, offline ones included.
    #[must_use]
    pub fn max_workers(&self) -> usize {
        self.max_workers
    }

    /// How many workers that sent `worker.offline` are remembered.
    #[must_use]
    pub fn max_offline_workers(&self) -> usize {
        self.max_offline_workers
    }

    /// The heartbeat interval assumed for a worker whose registration did not give one.
    #[must_use]
    pub fn default_heartbeat_interval(&self) -> Duration {
        self.default_heartbeat_interval
    }

    /// After how many missed heartbeat windows a silent worker is reported `offline`.
    #[must_use]
    pub fn offline_after_missed_heartbeats(&self) -> u32 {
        self.offline_after_missed_heartbeats
    }

    /// The precision of the summary's and the priorities' time histograms.
    #[must_use]
    pub fn histogram_significant_digits(&self) -> u8 {
        self.histogram_significant_digits
    }

    /// The precision of the tags' time histograms.
    #[must_use]
    pub fn tag_histogram_significant_digits(&self) -> u8 {
        self.tag_histogram_significant_digits
    }

    /// The tags that may become Prometheus label values.
    #[must_use]
    pub fn prometheus_tags(&self) -> &[String] {
        &self.prometheus_tags
    }

    /// How many recent jobs a complete status includes.
    #[must_use]
    pub fn status_recent_jobs(&self) -> usize {
        self.status_recent_jobs
    }

    /// The clock the collectors read "now" from.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
}

/// Builds a [`MetricsConfig`]; every setting has a default (the `DEFAULT_*` constants).
#[derive(Debug, Clone)]
#[must_use]
pub struct MetricsConfigBuilder {
    config: MetricsConfig,
}

impl MetricsConfigBuilder {
    /// How many finished jobs the recent-jobs ring keeps (default 1000; at least 1).
    pub fn recent_jobs_capacity(mut self, capacity: usize) -> Self {
        self.config.recent_jobs_capacity = capacity;
        self
    }

    /// How many distinct tags get their own row (default 256; at least 1). The tags seen after
    /// that are folded into one `other` row and counted in
    /// [`JobSummary::overflowed_tags`](crate::JobSummary::overflowed_tags).
    pub fn max_tags(mut self, max: usize) -> Self {
        self.config.max_tags = max;
        self
    }

    /// How many unfinished jobs (queued, running, paused or waiting for a retry) are tracked at
    /// most (default 100 000; at least 1). Past it, the least recently active are evicted and
    /// counted in [`JobSummary::evicted_jobs`](crate::JobSummary::evicted_jobs).
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.config.max_in_flight = max;
        self
    }

    /// How long an unfinished job may go without an event before it is evicted (default 24 h;
    /// at least 1 s), measured on event timestamps.
    pub fn in_flight_horizon(mut self, horizon: Duration) -> Self {
        self.config.in_flight_horizon = horizon;
        self
    }

    /// How many workers are tracked at most, offline ones included (default 10 000; at
    /// least 1). A worker seen when the table is full is not tracked, and counted as malformed.
    pub fn max_workers(mut self, max: usize) -> Self {
        self.config.max_workers = max;
        self
    }

    /// How many workers that sent `worker.offline` are remembered (default 100); the oldest
    /// offline ones are forgotten first. 0 forgets them at once.
    pub fn max_offline_workers(mut self, max: usize) -> Self {
        self.config.max_offline_workers = max;
        self
    }

    /// The heartbeat interval assumed when `worker.registered` has no `heartbeat_interval_ms`
    /// (default 5 s; at least 1 ms).
    pub fn default_heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.default_heartbeat_interval = interval;
        self
    }

    /// After how many heartbeat windows without news a worker is reported `offline` even
    /// though no `worker.offline` arrived (default 3, as the engine's reaper; at least 2,
    /// since one missed window means `stale`).
    pub fn offline_after_missed_heartbeats(mut self, windows: u32) -> Self {
        self.config.offline_after_missed_heartbeats = windows;
        self
    }

    /// The precision of the summary's and the priorities' time histograms, in significant
    /// decimal digits (default 3; 1 to 5).
    pub fn histogram_significant_digits(mut self, digits: u8) -> Self {
        self.config.histogram_significant_digits = digits;
        self
    }

    /// The precision of each tag's time histograms (default 2, to keep 256 tags' histograms
    /// small; 1 to 5).
    pub fn tag_histogram_significant_digits(mut self, digits: u8) -> Self {
        self.config.tag_histogram_significant_digits = digits;
        self
    }

    /// The tags that may become Prometheus label values (default none; at most
    /// [`max_tags`](Self::max_tags) of them). Other tags never appear in the exposition.
    pub fn prometheus_tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.prometheus_tags = tags.into_iter().map(Into::into).collect();
        self.config.prometheus_tags.sort_unstable();
        self.config.prometheus_tags.dedup();
        self
    }

    /// How many recent jobs a complete status includes (default 10; at most the ring's
    /// capacity).
    pub fn status_recent_jobs(mut self, count: usize) -> Self {
        self.config.status_recent_jobs = count;
        self
    }

    /// The clock to read "now" from (default [`SystemClock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.config.clock = clock;
        self
    }

    /// Checks the settings and returns the configuration.
    ///
    /// # Errors
    /// [`MetricsError::InvalidConfig`] naming the first setting out of range.
    pub fn build(self) -> Result<MetricsConfig, MetricsError> {
        let config = self.config;
        let invalid = |setting: &'static str, reason: &str| {
            Err(MetricsError::InvalidConfig {
                setting,
                reason: reason.to_owned(),
            })
        };
        if config.recent_jobs_capacity == 0 {
            return invalid("recent_jobs_capacity", "must be at least 1");
        }
        if config.max_tags == 0 {
            return invalid("max_tags", "must be at least 1");
        }
        if config.max_in_flight == 0 {
            return invalid("max_in_flight", "must be at least 1");
        }
        if config.in_flight_horizon < Duration::from_secs(1) {
            return invalid("in_flight_horizon", "must be at least 1 second");
        }
        if config.max_workers == 0 {
            return invalid("max_workers", "must be at least 1");
        }
        if config.default_heartbeat_interval < Duration::from_millis(1) {
            return invalid("default_heartbeat_interval", "must be at least 1 ms");
        }
        if config.offline_after_missed_heartbeats < 2 {
            return invalid("offline_after_missed_heartbeats", "must be at least 2");
        }
        if !(1..=5).contains(&config.histogram_significant_digits) {
            return invalid("histogram_significant_digits", "must be between 1 and 5");
        }
        if !(1..=5).contains(&config.tag_histogram_significant_digits) {
            return invalid(
                "tag_histogram_significant_digits",
                "must be between 1 and 5",
            );
        }
        if config.prometheus_tags.len() > config.max_tags {
            return invalid("prometheus_tags", "must not list more tags than max_tags");
        }
        if config.status_recent_jobs > config.recent_jobs_capacity {
            return invalid("status_recent_jobs", "must not exceed recent_jobs_capacity");
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_build() {
        let config = MetricsConfig::builder().build().unwrap();
        assert_eq!(config.recent_jobs_capacity(), 1000);
        assert_eq!(config.max_tags(), 256);
        assert_eq!(config.max_in_flight(), 100_000);
        assert_eq!(config.in_flight_horizon(), Duration::from_secs(86_400));
        assert_eq!(config.max_workers(), 10_000);
        assert_eq!(config.max_offline_workers(), 100);
        assert_eq!(config.default_heartbeat_interval(), Duration::from_secs(5));
        assert_eq!(config.offline_after_missed_heartbeats(), 3);
        assert_eq!(config.histogram_significant_digits(), 3);
        assert_eq!(config.tag_histogram_significant_digits(), 2);
        assert!(config.prometheus_tags().is_empty());
        assert_eq!(config.status_recent_jobs(), 10);
    }

    #[test]
    fn every_bound_is_checked() {
        let cases: [(MetricsConfigBuilder, &str); 11] = [
            (
                MetricsConfig::builder().recent_jobs_capacity(0),
                "recent_jobs_capacity",
            ),
            (MetricsConfig::builder().max_tags(0), "max_tags"),
            (MetricsConfig::builder().max_in_flight(0), "max_in_flight"),
            (
                MetricsConfig::builder().in_flight_horizon(Duration::from_millis(999)),
                "in_flight_horizon",
            ),
            (MetricsConfig::builder().max_workers(0), "max_workers"),
            (
                MetricsConfig::builder().default_heartbeat_interval(Duration::ZERO),
                "default_heartbeat_interval",
            ),
            (
                MetricsConfig::builder().offline_after_missed_heartbeats(1),
                "offline_after_missed_heartbeats",
            ),
            (
                MetricsConfig::builder().histogram_significant_digits(6),
                "histogram_significant_digits",
            ),
            (
                MetricsConfig::builder().tag_histogram_significant_digits(0),
                "tag_histogram_significant_digits",
            ),
            (
                MetricsConfig::builder()
                    .max_tags(1)
                    .prometheus_tags(["a", "b"]),
                "prometheus_tags",
            ),
            (
                MetricsConfig::builder()
                    .recent_jobs_capacity(5)
                    .status_recent_jobs(6),
                "status_recent_jobs",
            ),
        ];
        for (builder, expected) in cases {
            match builder.build() {
                Err(MetricsError::InvalidConfig { setting, reason }) => {
                    assert_eq!(setting, expected);
                    assert!(!reason.is_empty());
                }
                other => panic!("{expected}: expected an error, got {other:?}"),
            }
        }
    }

    #[test]
    fn prometheus_tags_are_sorted_and_deduplicated() {
        let config = MetricsConfig::builder()
            .prometheus_tags(["b", "a", "b"])
            .build()
            .unwrap();
        assert_eq!(config.prometheus_tags(), ["a", "b"]);
    }
}
