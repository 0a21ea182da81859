//! The read-only query traits and the control trait that the HTTP API holds as
//! `Arc<dyn ...>`.

use std::collections::BTreeMap;

use oa_events::EventType;

use crate::error::MetricsError;
use crate::snapshot::{
    CompleteStatus, JobGroupMetrics, JobSummary, RecentJob, RunningJob, SystemSnapshot,
    WorkerStatus, WorkersSnapshot,
};
use crate::types::Priority;

/// Read-only job figures: `GET /jobs/summary`, `/jobs/recent`, `/jobs/tags`,
/// `/jobs/priorities`, `/jobs/running`.
///
/// Object-safe; implemented by [`JobMetrics`](crate::JobMetrics),
/// [`Collectors`](crate::Collectors) and the monitor.
pub trait JobQuery: Send + Sync {
    /// The figures of all jobs.
    fn summary(&self) -> JobSummary;
    /// The newest `limit` finished jobs, newest first.
    fn recent_jobs(&self, limit: usize) -> Vec<RecentJob>;
    /// The figures per tag (and `other`), sorted by tag.
    fn tag_metrics(&self) -> BTreeMap<String, JobGroupMetrics>;
    /// The figures of the four priorities.
    fn priority_metrics(&self) -> BTreeMap<Priority, JobGroupMetrics>;
    /// The jobs running or paused, oldest start first, with progress and ETA.
    fn running_jobs(&self) -> Vec<RunningJob>;
}

/// Read-only worker figures: `GET /workers`, `/workers/{worker_id}`.
pub trait WorkerQuery: Send + Sync {
    /// Every tracked worker and the active count.
    fn workers(&self) -> WorkersSnapshot;
    /// One worker.
    ///
    /// # Errors
    /// [`MetricsError::UnknownWorker`] when no worker has this id (the API answers 404).
    fn worker(&self, worker_id: &str) -> Result<WorkerStatus, MetricsError>;
}

/// Read-only system figures: `GET /system`, `/system/events`.
pub trait SystemQuery: Send + Sync {
    /// The system figures.
    fn system(&self) -> SystemSnapshot;
    /// Events counted per type, all 17 wire names.
    fn event_counts(&self) -> BTreeMap<EventType, u64>;
}

/// Everything the HTTP API reads: the three query traits, the complete status (`GET
/// /status`) and the Prometheus exposition (`GET /metrics`).
///
/// ```
/// use std::sync::Arc;
/// use oa_metrics::{Collectors, MetricsConfig, MetricsQuery, JobQuery};
///
/// let metrics: Arc<dyn MetricsQuery> = Arc::new(Collectors::new(MetricsConfig::default()));
/// assert_eq!(metrics.summary().total_jobs, 0);
/// assert_eq!(metrics.complete_status().system.event_counts.len(), 17);
/// assert!(metrics.prometheus_text().contains("# TYPE oa_events_total counter"));
/// // Trait upcasting gives the narrower views.
/// let jobs: Arc<dyn JobQuery> = metrics;
/// assert!(jobs.recent_jobs(10).is_empty());
/// ```
pub trait MetricsQuery: JobQuery + WorkerQuery + SystemQuery {
    /// `{jobs, workers: {active_count, workers}, system, tags, priorities, recent_jobs}`.
    fn complete_status(&self) -> CompleteStatus;
    /// The Prometheus text exposition (format 0.0.4; serve it with
    /// [`PROMETHEUS_CONTENT_TYPE`](crate::PROMETHEUS_CONTENT_TYPE)).
    fn prometheus_text(&self) -> String;
}

/// Control of collection: `POST /system/reset`, `/system/enable`, `/system/disable`.
///
/// Resets zero the collectors, never the emitter's own counters. Disabling stops collection:
/// events arriving meanwhile are counted in `events_ignored` and otherwise ignored, and reads
/// answer with the frozen figures and `enabled: false`.
pub trait MetricsControl: Send + Sync {
    /// Resets the three collectors.
    fn reset(&self);
    /// Resets the job collector.
    fn reset_jobs(&self);
    /// Resets the worker collector.
    fn reset_workers(&self);
    /// Resets the system collector.
    fn reset_system(&self);
    /// Resumes collection.
    fn enable(&self);
    /// Stops collection.
    fn disable(&self);
    /// Whether collection is on.
    fn is_enabled(&self) -> bool;
}
