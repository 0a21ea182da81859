//! [`MetricsError`], the one error type of this crate.

use thiserror::Error;

/// What can go wrong when configuring or querying the collectors.
///
/// Recording an event never fails: a malformed event is counted (see
/// [`JobSummary::malformed_events`](crate::JobSummary::malformed_events)) and otherwise ignored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A [`MetricsConfigBuilder`](crate::MetricsConfigBuilder) setting is out of range; returned
    /// by [`build`](crate::MetricsConfigBuilder::build).
    #[error("invalid metrics setting `{setting}`: {reason}")]
    InvalidConfig {
        /// The builder method whose value was rejected, e.g. `recent_jobs_capacity`.
        setting: &'static str,
        /// Why it was rejected, e.g. `must be at least 1`.
        reason: String,
    },
    /// No worker with this id is known (it never sent an event, or it was forgotten because
    /// of the bounds of [`MetricsConfig`](crate::MetricsConfig)); returned by
    /// [`WorkerQuery::worker`](crate::WorkerQuery::worker). The HTTP API answers 404.
    #[error("unknown worker `{worker_id}`")]
    UnknownWorker {
        /// The id that was asked for.
        worker_id: String,
    },
}
