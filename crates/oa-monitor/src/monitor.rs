//! [`Monitor`] and its builder.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use oa_events::{Event, EventEmitter, EventType, SubscriptionId};
use oa_metrics::{
    Collectors, CompleteStatus, EntryCounts, JobGroupMetrics, JobMetrics, JobQuery, JobSummary,
    MetricsConfig, MetricsControl, MetricsError, MetricsQuery, Priority, RecentJob, RunningJob,
    SystemMetrics, SystemQuery, SystemSnapshot, WorkerMetrics, WorkerQuery, WorkerStatus,
    WorkersSnapshot,
};

use crate::error::MonitorError;
use crate::sampler::{self, QueueDepthSample, Sampler};

/// The monitor: the job, worker and system collectors, attached to an emitter, with an
/// optional queue-depth sampler. It answers every query of the HTTP API ([`MetricsQuery`]) and
/// takes its control calls ([`MetricsControl`]).
///
/// It sees every event its emitter delivers (one synchronous handler, so it never loses an
/// event it was given), costs no task unless a queue-depth source is set, and detaches from
/// the emitter and stops its sampler when dropped. Share it with `Arc`: an `Arc<Monitor>`
/// coerces to `Arc<dyn MetricsQuery>` and `Arc<dyn MetricsControl>`.
///
/// ```
/// use oa_events::{Event, EventEmitter, EventType};
/// use oa_monitor::Monitor;
///
/// let emitter = EventEmitter::new();
/// let monitor = Monitor::new(&emitter);
/// emitter.emit(Event::for_worker(EventType::WorkerRegistered, "worker-1").with_data("host", "box-1"));
/// monitor.update_queue_depth(3);
///
/// let status = monitor.get_complete_status();
/// assert_eq!(status.workers.active_count, 1);
/// assert_eq!(status.system.queue_depth, 3);
/// assert_eq!(monitor.worker_metrics().worker_status("worker-1").unwrap().host.as_deref(), Some("box-1"));
/// ```
pub struct Monitor {
    collectors: Collectors,
    /// The emitter the handler is registered on, and the handler's id.
    attachment: Mutex<Option<(EventEmitter, SubscriptionId)>>,
    sampler: Mutex<Option<Sampler>>,
    sampling_errors: Arc<AtomicU64>,
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("attached", &lock(&self.attachment).is_some())
            .field("enabled", &self.is_enabled())
            .field("entries", &self.entry_counts())
            .finish_non_exhaustive()
    }
}

/// Starts the sampler of a built monitor.
type StartSampler = Box<dyn FnOnce(&Monitor) -> Result<(), MonitorError> + Send>;

/// Configures a [`Monitor`]; made by [`Monitor::builder`].
#[must_use]
pub struct MonitorBuilder {
    config: MetricsConfig,
    sampler: Option<StartSampler>,
}

impl fmt::Debug for MonitorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitorBuilder")
            .field("config", &self.config)
            .field("queue_depth_source", &self.sampler.is_some())
            .finish()
    }
}

impl MonitorBuilder {
    /// The collectors' configuration (default [`MetricsConfig::default`]).
    pub fn config(mut self, config: MetricsConfig) -> Self {
        self.config = config;
        self
    }

    /// Samples the queue depth from `source` every `interval` once built (see
    /// [`Monitor::sample_queue_depth`]); building then needs a Tokio runtime.
    pub fn queue_depth_source<F, Fut>(mut self, interval: Duration, source: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: QueueDepthSample,
    {
        self.sampler = Some(Box::new(move |monitor: &Monitor| {
            monitor.sample_queue_depth(interval, source)
        }));
        self
    }

    /// Builds the monitor and attaches it to `emitter`.
    ///
    /// # Errors
    /// Those of [`Monitor::sample_queue_depth`] when a queue-depth source was given.
    pub fn build(self, emitter: &EventEmitter) -> Result<Monitor, MonitorError> {
        let collectors = Collectors::new(self.config);
        let subscription = collectors.attach(emitter);
        let monitor = Monitor::from_parts(collectors, Some((emitter.clone(), subscription)));
        if let Some(start) = self.sampler {
            start(&monitor)?;
        }
        Ok(monitor)
    }

    /// Builds a monitor attached to no emitter: feed it with [`Monitor::record`] (replays,
    /// tests).
    ///
    /// # Errors
    /// Those of [`Monitor::sample_queue_depth`] when a queue-depth source was given.
    pub fn build_detached(self) -> Result<Monitor, MonitorError> {
        let monitor = Monitor::from_parts(Collectors::new(self.config), None);
        if let Some(start) = self.sampler {
            start(&monitor)?;
        }
        Ok(monitor)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Monitor {
    /// A monitor with the default configuration, attached to `emitter`.
    #[must_use]
    pub fn new(emitter: &EventEmitter) -> Monitor {
        let collectors = Collectors::new(MetricsConfig::default());
        let subscription = collectors.attach(emitter);
        Monitor::from_parts(collectors, Some((emitter.clone(), subscription)))
    }

    /// A builder, to set the configuration and a queue-depth source.
    pub fn builder() -> MonitorBuilder {
        MonitorBuilder {
            config: MetricsConfig::default(),
            sampler: None,
        }
    }

    fn from_parts(
        collectors: Collectors,
        attachment: Option<(EventEmitter, SubscriptionId)>,
    ) -> Monitor {
        Monitor {
            collectors,
            attachment: Mutex::new(attachment),
            sampler: Mutex::new(None),
            sampling_errors: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Applies one event, as the emitter's handler does (for a detached monitor).
    pub fn record(&self, event: &Event) {
        self.collectors.record(event);
    }

    /// The three collectors.
    #[must_use]
    pub fn collectors(&self) -> &Collectors {
        &self.collectors
    }

    /// The job collector (the seed's `monitor.job_metrics`).
    #[must_use]
    pub fn job_metrics(&self) -> &JobMetrics {
        self.collectors.job_metrics()
    }

    /// The worker collector (the seed's `monitor.worker_metrics`).
    #[must_use]
    pub fn worker_metrics(&self) -> &WorkerMetrics {
        self.collectors.worker_metrics()
    }

    /// The system collector (the seed's `monitor.system_metrics`).
    #[must_use]
    pub fn system_metrics(&self) -> &SystemMetrics {
        self.collectors.system_metrics()
    }

    /// The emitter the monitor is attached to, if any.
    #[must_use]
    pub fn emitter(&self) -> Option<EventEmitter> {
        lock(&self.attachment)
            .as_ref()
            .map(|(emitter, _)| emitter.clone())
    }

    /// Attaches the monitor to `emitter` (one sync handler for the three collectors), detaching
    /// it from the emitter it was attached to, if any. The system figures then report this
    /// emitter's drop and failure counts.
    pub fn attach(&self, emitter: &EventEmitter) {
        let subscription = self.collectors.attach(emitter);
        let previous = lock(&self.attachment).replace((emitter.clone(), subscription));
        if let Some((previous, subscription)) = previous {
            previous.off(subscription);
        }
    }

    /// Detaches the monitor from its emitter; the figures stay. Returns whether it was
    /// attached.
    pub fn detach(&self) -> bool {
        let attachment = lock(&self.attachment).take();
        attachment.is_some_and(|(emitter, subscription)| emitter.off(subscription))
    }

    /// `{jobs, workers: {active_count, workers}, system, tags, priorities, recent_jobs}`, the
    /// seed's `get_complete_status()`. Its cost depends on the number of workers and tags,
    /// never on the number of jobs recorded.
    #[must_use]
    pub fn get_complete_status(&self) -> CompleteStatus {
        self.collectors.complete_status()
    }

    /// Sets the queue depth by hand, the seed's `update_queue_depth`. A sampler, if running,
    /// overwrites it at its next sample.
    pub fn update_queue_depth(&self, depth: u64) {
        self.system_metrics().update_queue_depth(depth);
    }

    /// Samples the queue depth from `source` now and then every `interval`, on a task of the
    /// current Tokio runtime, replacing a previous source. The task stops when the monitor is
    /// dropped or [`stop_queue_depth_sampling`](Self::stop_queue_depth_sampling) is called.
    /// The source returns a count or a `Result` of one; errors are logged, counted in
    /// [`queue_depth_errors`](Self::queue_depth_errors), and keep the last depth.
    ///
    /// # Errors
    /// [`MonitorError::NoRuntime`] outside a Tokio runtime; [`MonitorError::ZeroInterval`].
    pub fn sample_queue_depth<F, Fut>(
        &self,
        interval: Duration,
        source: F,
    ) -> Result<(), MonitorError>
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: QueueDepthSample,
    {
        let sampler = sampler::spawn(
            self.system_metrics().clone(),
            interval,
            source,
            Arc::clone(&self.sampling_errors),
        )?;
        // The previous sampler, if any, stops when dropped here (after the lock is released).
        let previous = lock(&self.sampler).replace(sampler);
        drop(previous);
        Ok(())
    }

    /// Stops the queue-depth sampler, if one runs; the last depth stays.
    pub fn stop_queue_depth_sampling(&self) {
        let sampler = lock(&self.sampler).take();
        drop(sampler);
    }

    /// How many times the queue-depth source failed.
    #[must_use]
    pub fn queue_depth_errors(&self) -> u64 {
        self.sampling_errors.load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition.
    #[must_use]
    pub fn prometheus_text(&self) -> String {
        self.collectors.render_prometheus()
    }

    /// The counts of entries the collectors hold (each bounded by the configuration).
    #[must_use]
    pub fn entry_counts(&self) -> EntryCounts {
        self.collectors.entry_counts()
    }

    /// Resets the three collectors (not the emitter's counters).
    pub fn reset(&self) {
        MetricsControl::reset(&self.collectors);
    }

    /// Resumes collection.
    pub fn enable(&self) {
        MetricsControl::enable(&self.collectors);
    }

    /// Stops collection: events are counted in `events_ignored` and otherwise ignored; reads
    /// answer with the frozen figures and `enabled: false`.
    pub fn disable(&self) {
        MetricsControl::disable(&self.collectors);
    }

    /// Whether collection is on.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        MetricsControl::is_enabled(&self.collectors)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.detach();
    }
}

impl JobQuery for Monitor {
    fn summary(&self) -> JobSummary {
        self.collectors.summary()
    }
    fn recent_jobs(&self, limit: usize) -> Vec<RecentJob> {
        self.collectors.recent_jobs(limit)
    }
    fn tag_metrics(&self) -> BTreeMap<String, JobGroupMetrics> {
        self.collectors.tag_metrics()
    }
    fn priority_metrics(&self) -> BTreeMap<Priority, JobGroupMetrics> {
        self.collectors.priority_metrics()
    }
    fn running_jobs(&self) -> Vec<RunningJob> {
        self.collectors.running_jobs()
    }
}

impl WorkerQuery for Monitor {
    fn workers(&self) -> WorkersSnapshot {
        self.collectors.workers()
    }
    fn worker(&self, worker_id: &str) -> Result<WorkerStatus, MetricsError> {
        self.collectors.worker(worker_id)
    }
}

impl SystemQuery for Monitor {
    fn system(&self) -> SystemSnapshot {
        self.collectors.system()
    }
    fn event_counts(&self) -> BTreeMap<EventType, u64> {
        self.collectors.event_counts()
    }
}

impl MetricsQuery for Monitor {
    fn complete_status(&self) -> CompleteStatus {
        self.get_complete_status()
    }
    fn prometheus_text(&self) -> String {
        Monitor::prometheus_text(self)
    }
}

impl MetricsControl for Monitor {
    fn reset(&self) {
        Monitor::reset(self);
    }
    fn reset_jobs(&self) {
        self.collectors.reset_jobs();
    }
    fn reset_workers(&self) {
        self.collectors.reset_workers();
    }
    fn reset_system(&self) {
        self.collectors.reset_system();
    }
    fn enable(&self) {
        Monitor::enable(self);
    }
    fn disable(&self) {
        Monitor::disable(self);
    }
    fn is_enabled(&self) -> bool {
        Monitor::is_enabled(self)
    }
}
