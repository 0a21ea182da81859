//! [`Collectors`]: the three collectors together, answering every query.

use std::collections::BTreeMap;

use oa_events::{Event, EventEmitter, EventType, SubscriptionId};

use crate::config::MetricsConfig;
use crate::error::MetricsError;
use crate::jobs::{JobEntryCounts, JobMetrics};
use crate::prometheus;
use crate::query::{JobQuery, MetricsControl, MetricsQuery, SystemQuery, WorkerQuery};
use crate::snapshot::{
    CompleteStatus, JobGroupMetrics, JobSummary, RecentJob, RunningJob, SystemSnapshot,
    WorkerStatus, WorkersSnapshot,
};
use crate::system::SystemMetrics;
use crate::types::Priority;
use crate::workers::{WorkerEntryCounts, WorkerMetrics};

/// The counts of entries all the collectors hold: what their memory grows with, each bounded
/// by the configuration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryCounts {
    /// The job collector's entries.
    pub jobs: JobEntryCounts,
    /// The worker collector's entries.
    pub workers: WorkerEntryCounts,
}

/// The job, worker and system collectors with one configuration, fed by one handler: it
/// implements [`MetricsQuery`] and [`MetricsControl`], so the HTTP API can be built and tested
/// on it alone (the monitor wraps it).
///
/// ```
/// use oa_events::{Event, EventEmitter, EventType};
/// use oa_metrics::{Collectors, MetricsConfig, MetricsControl};
///
/// let emitter = EventEmitter::new();
/// let collectors = Collectors::new(MetricsConfig::default());
/// collectors.attach(&emitter);
/// emitter.emit(Event::for_worker(EventType::WorkerRegistered, "w-1"));
///
/// let status = collectors.complete_status();
/// assert_eq!(status.workers.active_count, 1);
/// assert_eq!(status.system.events_total, 1);
///
/// collectors.disable();
/// emitter.emit(Event::for_worker(EventType::WorkerHeartbeat, "w-1"));
/// assert_eq!(collectors.complete_status().system.events_ignored, 1);
/// ```
#[derive(Debug, Clone)]
pub struct Collectors {
    jobs: JobMetrics,
    workers: WorkerMetrics,
    system: SystemMetrics,
    config: MetricsConfig,
}

impl Default for Collectors {
    fn default() -> Self {
        Collectors::new(MetricsConfig::default())
    }
}

impl Collectors {
    /// The three collectors with `config`.
    #[must_use]
    pub fn new(config: MetricsConfig) -> Self {
        Collectors {
            jobs: JobMetrics::new(&config),
            workers: WorkerMetrics::new(&config),
            system: SystemMetrics::new(&config),
            config,
        }
    }

    /// Applies one event to the three collectors.
    pub fn record(&self, event: &Event) {
        self.system.record(event);
        self.jobs.record(event);
        self.workers.record(event);
    }

    /// Registers one sync handler on `emitter` that records every event, and reports that
    /// emitter's drop and failure counts; remove the handler with [`EventEmitter::off`].
    pub fn attach(&self, emitter: &EventEmitter) -> SubscriptionId {
        self.system.watch_emitter(emitter);
        // The handler holds the figures only, not the watched emitter (no reference cycle).
        let recorder = Collectors {
            jobs: self.jobs.clone(),
            workers: self.workers.clone(),
            system: self.system.recorder(),
            config: self.config.clone(),
        };
        emitter.on_any(move |event: &Event| recorder.record(event))
    }

    /// The job collector (the seed's `job_metrics`).
    #[must_use]
    pub fn job_metrics(&self) -> &JobMetrics {
        &self.jobs
    }

    /// The worker collector (the seed's `worker_metrics`).
    #[must_use]
    pub fn worker_metrics(&self) -> &WorkerMetrics {
        &self.workers
    }

    /// The system collector (the seed's `system_metrics`).
    #[must_use]
    pub fn system_metrics(&self) -> &SystemMetrics {
        &self.system
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// The system figures, with `malformed_events` summed over the three collectors.
    #[must_use]
    pub fn system_snapshot(&self) -> SystemSnapshot {
        let mut system = self.system.snapshot();
        system.malformed_events += self.jobs.malformed_events() + self.workers.malformed_events();
        system
    }

    /// `{jobs, workers: {active_count, workers}, system, tags, priorities, recent_jobs}`. Its
    /// cost depends on the number of workers and tags, never on the number of jobs recorded.
    #[must_use]
    pub fn complete_status(&self) -> CompleteStatus {
        let (jobs, tags, priorities, recent_jobs) =
            self.jobs.status_parts(self.config.status_recent_jobs);
        let workers = self.workers.workers();
        let mut system = self.system.snapshot();
        system.malformed_events += jobs.malformed_events + self.workers.malformed_events();
        CompleteStatus {
            jobs,
            workers,
            system,
            tags,
            priorities,
            recent_jobs,
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    #[must_use]
    pub fn render_prometheus(&self) -> String {
        let jobs = self.jobs.exposition();
        let workers = self.workers.counts_by_state();
        let system = self.system_snapshot();
        prometheus::render(&jobs, workers, &system)
    }

    /// The counts of entries held, to check the memory bounds.
    #[must_use]
    pub fn entry_counts(&self) -> EntryCounts {
        EntryCounts {
            jobs: self.jobs.entry_counts(),
            workers: self.workers.entry_counts(),
        }
    }
}

impl JobQuery for JobMetrics {
    fn summary(&self) -> JobSummary {
        JobMetrics::summary(self)
    }
    fn recent_jobs(&self, limit: usize) -> Vec<RecentJob> {
        JobMetrics::recent_jobs(self, limit)
    }
    fn tag_metrics(&self) -> BTreeMap<String, JobGroupMetrics> {
        JobMetrics::tag_metrics(self)
    }
    fn priority_metrics(&self) -> BTreeMap<Priority, JobGroupMetrics> {
        JobMetrics::priority_metrics(self)
    }
    fn running_jobs(&self) -> Vec<RunningJob> {
        JobMetrics::running_jobs(self)
    }
}

impl WorkerQuery for WorkerMetrics {
    fn workers(&self) -> WorkersSnapshot {
        WorkerMetrics::workers(self)
    }
    fn worker(&self, worker_id: &str) -> Result<WorkerStatus, MetricsError> {
        self.worker_status(worker_id)
            .ok_or_else(|| MetricsError::UnknownWorker {
                worker_id: worker_id.to_owned(),
            })
    }
}

impl SystemQuery for SystemMetrics {
    fn system(&self) -> SystemSnapshot {
        self.snapshot()
    }
    fn event_counts(&self) -> BTreeMap<EventType, u64> {
        SystemMetrics::event_counts(self)
    }
}

impl JobQuery for Collectors {
    fn summary(&self) -> JobSummary {
        self.jobs.summary()
    }
    fn recent_jobs(&self, limit: usize) -> Vec<RecentJob> {
        self.jobs.recent_jobs(limit)
    }
    fn tag_metrics(&self) -> BTreeMap<String, JobGroupMetrics> {
        self.jobs.tag_metrics()
    }
    fn priority_metrics(&self) -> BTreeMap<Priority, JobGroupMetrics> {
        self.jobs.priority_metrics()
    }
    fn running_jobs(&self) -> Vec<RunningJob> {
        self.jobs.running_jobs()
    }
}

impl WorkerQuery for Collectors {
    fn workers(&self) -> WorkersSnapshot {
        self.workers.workers()
    }
    fn worker(&self, worker_id: &str) -> Result<WorkerStatus, MetricsError> {
        WorkerQuery::worker(&self.workers, worker_id)
    }
}

impl SystemQuery for Collectors {
    fn system(&self) -> SystemSnapshot {
        self.system_snapshot()
    }
    fn event_counts(&self) -> BTreeMap<EventType, u64> {
        self.system.event_counts()
    }
}

impl MetricsQuery for Collectors {
    fn complete_status(&self) -> CompleteStatus {
        Collectors::complete_status(self)
    }
    fn prometheus_text(&self) -> String {
        self.render_prometheus()
    }
}

impl MetricsControl for Collectors {
    fn reset(&self) {
        self.jobs.reset();
        self.workers.reset();
        self.system.reset();
    }
    fn reset_jobs(&self) {
        self.jobs.reset();
    }
    fn reset_workers(&self) {
        self.workers.reset();
    }
    fn reset_system(&self) {
        self.system.reset();
    }
    fn enable(&self) {
        self.jobs.enable();
        self.workers.enable();
        self.system.enable();
    }
    fn disable(&self) {
        self.jobs.disable();
        self.workers.disable();
        self.system.disable();
    }
    fn is_enabled(&self) -> bool {
        self.jobs.is_enabled() && self.workers.is_enabled() && self.system.is_enabled()
    }
}
