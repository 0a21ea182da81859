//! [`JobMetrics`]: the job collector.

mod group;
mod in_flight;
mod maintenance;
mod read;
mod state;
mod tags;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use oa_events::{Event, EventCategory, EventEmitter, EventType, SubscriptionId};

use crate::config::MetricsConfig;
use crate::snapshot::{JobGroupMetrics, JobSummary, RecentJob, RunningJob};
use crate::sync::lock;
use crate::types::Priority;

pub use self::read::JobEntryCounts;
pub(crate) use self::read::{GroupFigures, HistogramFigures, JobExposition};
use self::state::JobState;

/// The job collector: turns job events into the job summary, the per-tag and per-priority
/// figures, the recent-jobs ring and the list of running jobs.
///
/// Feed it with [`record`](Self::record) or [`attach`](Self::attach) it to an emitter. It is
/// cheap to clone (clones share the figures), `Send + Sync`, and every method may be called
/// from any thread, including from inside an event handler. All its state sits behind one
/// short mutex that is never held while calling out.
///
/// The meaning of every figure is on [`JobSummary`]; how each event changes them:
///
/// | event | effect |
/// |---|---|
/// | `job.created` | none (a job counts from its first start) |
/// | `job.queued` | tracks the job; its timestamp starts the wait |
/// | `job.started` | `total_jobs` +1 on the first start only; running +1; the wait (from the `job.queued` timestamp, else the `queued_at` key) is recorded |
/// | `job.progress.updated` | the running job's progress and ETA |
/// | `job.paused` / `job.resumed` | a paused job still counts as running |
/// | `job.retrying` | `retries` +1; the attempt ends (running −1) |
/// | `job.completed` | `completed_jobs` +1, execution time recorded, throughput, recent ring |
/// | `job.failed` | `failed_jobs` +1 (final failure), recent ring |
/// | `job.cancelled` | `cancelled_jobs` +1, also for a job never started or never seen |
///
/// ```
/// use oa_events::{Event, EventType};
/// use oa_metrics::JobMetrics;
///
/// let jobs = JobMetrics::default();
/// let started = Event::for_job(EventType::JobStarted, "job-1")
///     .with_data("name", "resize")
///     .with_data("priority", "high");
/// let completed = Event::for_job(EventType::JobCompleted, "job-1")
///     .with_timestamp(started.timestamp + chrono::Duration::milliseconds(1500));
/// jobs.record(&started);
/// jobs.record(&completed);
///
/// let summary = jobs.summary();
/// assert_eq!(summary.total_jobs, 1);
/// assert_eq!(summary.success_rate, 100.0);
/// assert_eq!(summary.avg_execution_time, 1.5);
/// assert_eq!(jobs.recent_jobs(10)[0].job_id, "job-1");
/// ```
#[derive(Clone)]
pub struct JobMetrics {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<JobState>,
    enabled: AtomicBool,
    config: MetricsConfig,
}

impl fmt::Debug for JobMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobMetrics")
            .field("enabled", &self.is_enabled())
            .field("entries", &self.entry_counts())
            .finish_non_exhaustive()
    }
}

impl Default for JobMetrics {
    fn default() -> Self {
        JobMetrics::new(&MetricsConfig::default())
    }
}

impl JobMetrics {
    /// A collector with the bounds and the clock of `config`.
    #[must_use]
    pub fn new(config: &MetricsConfig) -> Self {
        JobMetrics {
            shared: Arc::new(Shared {
                state: Mutex::new(JobState::new(config)),
                enabled: AtomicBool::new(true),
                config: config.clone(),
            }),
        }
    }

    /// Applies one event. Events of other categories are ignored; malformed ones are counted
    /// in [`JobSummary::malformed_events`]; nothing is recorded while disabled.
    pub fn record(&self, event: &Event) {
        if event.event_type.category() != EventCategory::Job
            || event.event_type == EventType::JobCreated
            || !self.shared.enabled.load(Ordering::Relaxed)
        {
            return;
        }
        lock(&self.shared.state).record(event);
    }

    /// Registers a sync handler on `emitter` that records every event; remove it with
    /// [`EventEmitter::off`].
    pub fn attach(&self, emitter: &EventEmitter) -> SubscriptionId {
        let jobs = self.clone();
        emitter.on_any(move |event: &Event| jobs.record(event))
    }

    /// The figures of all jobs.
    #[must_use]
    pub fn summary(&self) -> JobSummary {
        let now = self.shared.config.clock.now();
        lock(&self.shared.state).summary(now)
    }

    /// The newest `limit` finished jobs, newest first (at most the ring's capacity).
    #[must_use]
    pub fn recent_jobs(&self, limit: usize) -> Vec<RecentJob> {
        lock(&self.shared.state).recent_jobs(limit)
    }

    /// The figures of each tag with a row, and of `other` once a tag was folded into it (or a
    /// job was tagged `other`), sorted by tag.
    #[must_use]
    pub fn tag_metrics(&self) -> BTreeMap<String, JobGroupMetrics> {
        lock(&self.shared.state).tag_metrics()
    }

    /// The figures of each of the four priorities, zeros included.
    #[must_use]
    pub fn priority_metrics(&self) -> BTreeMap<Priority, JobGroupMetrics> {
        lock(&self.shared.state).priority_metrics()
    }

    /// The jobs whose attempt is running or paused, oldest start first, with their progress
    /// and ETA. Its length is `currently_running`.
    #[must_use]
    pub fn running_jobs(&self) -> Vec<RunningJob> {
        let now = self.shared.config.clock.now();
        lock(&self.shared.state).running_jobs(now)
    }

    /// The summary, the tags, the priorities and the newest `recent` jobs, read at once (one
    /// consistent view).
    pub(crate) fn status_parts(
        &self,
        recent: usize,
    ) -> (
        JobSummary,
        BTreeMap<String, JobGroupMetrics>,
        BTreeMap<Priority, JobGroupMetrics>,
        Vec<RecentJob>,
    ) {
        let now = self.shared.config.clock.now();
        let mut state = lock(&self.shared.state);
        let summary = state.summary(now);
        let tags = state.tag_metrics();
        let priorities = state.priority_metrics();
        let recent = state.recent_jobs(recent);
        (summary, tags, priorities, recent)
    }

    pub(crate) fn exposition(&self) -> JobExposition {
        let now = self.shared.config.clock.now();
        lock(&self.shared.state).exposition(&self.shared.config.prometheus_tags, now)
    }

    /// Job events that could not be used (see [`JobSummary::malformed_events`]).
    #[must_use]
    pub fn malformed_events(&self) -> u64 {
        lock(&self.shared.state).malformed
    }

    /// The counts of entries held, to check the memory bounds.
    #[must_use]
    pub fn entry_counts(&self) -> JobEntryCounts {
        lock(&self.shared.state).entry_counts()
    }

    /// Evicts now the unfinished jobs without news for the horizon (this also happens on its
    /// own as new jobs arrive).
    pub fn evict_stale(&self) {
        lock(&self.shared.state).sweep_horizon();
    }

    /// Zeroes every figure; jobs in flight stay tracked and count as the new period's started
    /// (and running) jobs.
    pub fn reset(&self) {
        lock(&self.shared.state).reset();
    }

    /// Resumes collection.
    pub fn enable(&self) {
        self.shared.enabled.store(true, Ordering::Relaxed);
    }

    /// Stops collection: events are ignored, reads answer with the frozen figures.
    pub fn disable(&self) {
        self.shared.enabled.store(false, Ordering::Relaxed);
    }

    /// Whether collection is on.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled.load(Ordering::Relaxed)
    }
}
