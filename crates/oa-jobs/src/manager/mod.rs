//! The [`JobManager`]: the engine's front door.

mod events;
mod log;
mod new_job;
pub(crate) mod reaper;
pub(crate) mod scheduler;

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use oa_events::{Event, EventEmitter, EventLog, EventType, LogRetention};
use serde_json::Map;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub(crate) use events::Events;
pub use new_job::NewJob;

use crate::clock::{SharedClock, TokioClock};
use crate::error::{Error, Result};
use crate::job::Job;
use crate::status::JobStatus;
use crate::store::{JobFilter, JobPage, JobStore, JobUpdate, Page, StatusCounts, WorkerRecord};
use crate::worker::control::JobControl;

/// How many times a manager operation re-reads a job that moved under it before giving up.
const CONFLICT_RETRIES: usize = 8;

/// Settings of a [`JobManager`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ManagerConfig {
    /// The longest the reaper sleeps between passes (default 5 s).
    pub reap_interval: Duration,
    /// How long after its last heartbeat a worker is declared offline; by default three times
    /// the heartbeat interval the worker registered with.
    pub offline_after: Option<Duration>,
    /// Finished jobs older than this are purged automatically (default: kept forever).
    pub retention: Option<Duration>,
    /// How often the automatic purge runs when a retention is set, and how often the event
    /// log is trimmed (default 1 min).
    pub purge_interval: Duration,
    /// Whether events are written to the store's durable event log, when the store keeps one
    /// (SQLite, PostgreSQL; default `true`). See [`JobManager::event_log`].
    pub log_events: bool,
    /// How long the event log keeps events (default: 24 h, one million events).
    pub log_retention: LogRetention,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            reap_interval: Duration::from_secs(5),
            offline_after: None,
            retention: None,
            purge_interval: Duration::from_secs(60),
            log_events: true,
            log_retention: LogRetention::default(),
        }
    }
}

/// What the manager and the workers of one process share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Arc<dyn JobStore>,
    pub(crate) events: Events,
    pub(crate) config: ManagerConfig,
    /// The jobs running in this process, to signal pause, resume and cancel to their handlers.
    pub(crate) controls: DashMap<String, Arc<JobControl>>,
    /// Woken when a job becomes claimable (created, resumed, due, released).
    pub(crate) work_available: Notify,
    pub(crate) reaper_wake: Notify,
    pub(crate) schedule: scheduler::Schedule,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// Creates, queues, pauses, resumes, cancels, retries, deletes and purges jobs, and emits the
/// event of every transition (ARCHITECTURE.md, "oa-jobs: the engine"). Cheap to clone.
///
/// A manager runs two background tasks on the Tokio runtime it is built in: the scheduler
/// (emits `job.queued` when a scheduled job or a retry becomes due) and the reaper (declares
/// silent workers offline and re-queues their jobs). [`JobManager::shutdown`] stops them.
#[derive(Debug, Clone)]
pub struct JobManager {
    pub(crate) shared: Arc<Shared>,
}

/// Builds a [`JobManager`].
#[derive(Debug)]
#[must_use]
pub struct JobManagerBuilder {
    store: Arc<dyn JobStore>,
    emitter: Option<EventEmitter>,
    clock: Option<SharedClock>,
    config: ManagerConfig,
}

impl JobManagerBuilder {
    /// The emitter that receives every event (default: a new one, see
    /// [`JobManager::emitter`]).
    pub fn emitter(mut self, emitter: EventEmitter) -> Self {
        self.emitter = Some(emitter);
        self
    }

    /// The clock of every timestamp (default: [`TokioClock`]).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The settings.
    pub fn config(mut self, config: ManagerConfig) -> Self {
        self.config = config;
        self
    }

    /// The reaper's longest sleep.
    pub const fn reap_interval(mut self, interval: Duration) -> Self {
        self.config.reap_interval = interval;
        self
    }

    /// How long a worker may stay silent before it is declared offline.
    pub const fn offline_after(mut self, after: Duration) -> Self {
        self.config.offline_after = Some(after);
        self
    }

    /// Purge finished jobs older than `retention` automatically.
    pub const fn retention(mut self, retention: Duration) -> Self {
        self.config.retention = Some(retention);
        self
    }

    /// Whether to write events to the store's event log, when it keeps one (default `true`).
    pub const fn event_log(mut self, enabled: bool) -> Self {
        self.config.log_events = enabled;
        self
    }

    /// How long the event log keeps events.
    pub const fn event_log_retention(mut self, retention: LogRetention) -> Self {
        self.config.log_retention = retention;
        self
    }

    /// Builds the manager and starts its scheduler and reaper.
    ///
    /// # Errors
    /// [`Error::NoRuntime`] when called outside a Tokio runtime.
    pub fn build(self) -> Result<JobManager> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let log = self
            .config
            .log_events
            .then(|| self.store.event_log())
            .flatten()
            .map(|log| {
                let (appender, drain) = log::Appender::start(log, shutdown.clone());
                tasks.spawn_on(drain, &runtime);
                appender
            });
        let shared = Arc::new(Shared {
            store: self.store,
            events: Events {
                emitter: self.emitter.unwrap_or_default(),
                clock: self.clock.unwrap_or_else(|| Arc::new(TokioClock::new())),
                log,
            },
            config: self.config,
            controls: DashMap::new(),
            work_available: Notify::new(),
            reaper_wake: Notify::new(),
            schedule: scheduler::Schedule::default(),
            shutdown,
            tasks,
        });
        let token = shared.shutdown.clone();
        shared
            .tasks
            .spawn_on(scheduler::run(Arc::clone(&shared), token.clone()), &runtime);
        shared
            .tasks
            .spawn_on(reaper::run(Arc::clone(&shared), token), &runtime);
        shared.tasks.close();
        Ok(JobManager { shared })
    }
}

impl JobManager {
    /// A builder over `store`.
    pub fn builder(store: Arc<dyn JobStore>) -> JobManagerBuilder {
        JobManagerBuilder {
            store,
            emitter: None,
            clock: None,
            config: ManagerConfig::default(),
        }
    }

    /// A manager over `store` emitting to `emitter`, with the default settings.
    ///
    /// # Errors
    /// [`Error::NoRuntime`] when called outside a Tokio runtime.
    pub fn new(store: Arc<dyn JobStore>, emitter: EventEmitter) -> Result<Self> {
        Self::builder(store).emitter(emitter).build()
    }

    /// The emitter events go to.
    #[must_use]
    pub fn emitter(&self) -> &EventEmitter {
        &self.shared.events.emitter
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn JobStore> {
        &self.shared.store
    }

    /// The durable event log this manager writes its events to: the store's
    /// ([`JobStore::event_log`]) unless logging was turned off
    /// ([`JobManagerBuilder::event_log`]). Events that describe a stored change are written in
    /// the change's transaction; the others are appended in batches shortly after they are
    /// emitted. Follow it with [`oa_events::LogFollower`] to see the events of every process.
    #[must_use]
    pub fn event_log(&self) -> Option<&Arc<dyn EventLog>> {
        self.shared
            .events
            .log
            .as_ref()
            .map(|appender| appender.log())
    }

    /// Emits an event that describes no stored change (a process's `system.startup`, an
    /// application event) to the manager's emitter and, when the manager logs events, appends
    /// it to the event log, so that other processes and later replays see it too.
    pub fn publish(&self, event: Event) {
        self.shared.events.publish(event);
    }

    /// How many events could not be queued for the event log (its queue was full, e.g. during
    /// a long database outage).
    #[must_use]
    pub fn events_not_logged(&self) -> u64 {
        self.shared
            .events
            .log
            .as_ref()
            .map_or(0, |appender| appender.dropped())
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &SharedClock {
        &self.shared.events.clock
    }

    /// Creates a job: `job.created`, then `job.queued` unless it was created with
    /// `enqueue(false)` or for later (`run_at`), in which case `job.queued` comes when due.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad field; store errors.
    pub async fn create(&self, new_job: NewJob) -> Result<Job> {
        let mut jobs = self.create_many(vec![new_job]).await?;
        jobs.pop().ok_or(Error::ShuttingDown)
    }

    /// Creates many jobs in one store transaction (all or none), then emits their events.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad field of any job (none is created); store errors.
    pub async fn create_many(&self, new_jobs: Vec<NewJob>) -> Result<Vec<Job>> {
        self.ensure_running()?;
        let now = self.shared.events.clock.now();
        // The `job.created` events are built before the jobs are queued (they describe the
        // created job) and emitted once the store has them.
        let mut events = Vec::with_capacity(new_jobs.len() * 2);
        let mut jobs = Vec::with_capacity(new_jobs.len());
        for new_job in new_jobs {
            let enqueue = new_job.wants_enqueue();
            let run_at = new_job.scheduled_for();
            let mut job = new_job.into_job(now)?;
            events.push(Event::from_job_at(
                EventType::JobCreated,
                &job,
                Map::new(),
                now,
            ));
            if enqueue {
                job.enqueue(now, run_at.unwrap_or(now).max(now))?;
                events.extend(Self::queued_event(&job, now));
            }
            jobs.push(job);
        }
        let store = &self.shared.store;
        match jobs.as_slice() {
            _ if self.shared.events.logging() => store.insert_logged(&jobs, &events).await?,
            // One statement instead of a transaction around one.
            [job] => store.insert(job).await?,
            many => store.insert_many(many).await?,
        }
        self.shared.events.committed(events);
        let mut any_ready = false;
        for job in &jobs {
            self.after_queued(job, now, &mut any_ready);
        }
        if any_ready {
            self.shared.work_available.notify_waiters();
        }
        Ok(jobs)
    }

    /// `job.queued` for a job queued at `now` (the event's time); `None` for a job queued for
    /// later (the scheduler announces it when it is due) or not queued.
    fn queued_event(job: &Job, now: chrono::DateTime<chrono::Utc>) -> Option<Event> {
        (job.status == JobStatus::Queued && job.queued_at.is_none_or(|at| at <= now))
            .then(|| Event::from_job_at(EventType::JobQueued, job, Map::new(), now))
    }

    /// After a job was queued: wakes idle workers for it, or schedules its `job.queued`.
    fn after_queued(&self, job: &Job, now: chrono::DateTime<chrono::Utc>, ready: &mut bool) {
        if job.status != JobStatus::Queued {
            return;
        }
        match job.queued_at {
            Some(at) if at > now => self.shared.schedule.add(at, &job.id),
            _ => *ready = true,
        }
    }

    /// Queues a `created` job (`job.queued`).
    ///
    /// # Errors
    /// [`Error::JobNotFound`], [`Error::InvalidTransition`] unless the job is created.
    pub async fn enqueue(&self, job_id: &str) -> Result<Job> {
        let now = self.shared.events.clock.now();
        let job = self
            .apply(
                job_id,
                |job| {
                    if job.status != JobStatus::Created {
                        return Err(Error::InvalidTransition {
                            job_id: job.id.clone(),
                            from: job.status,
                            to: JobStatus::Queued,
                        });
                    }
                    job.enqueue(now, now)
                },
                |job, _| Self::queued_event(job, now).into_iter().collect(),
            )
            .await?;
        let mut ready = false;
        self.after_queued(&job, now, &mut ready);
        self.shared.work_available.notify_waiters();
        Ok(job)
    }

    /// The job with this id.
    ///
    /// # Errors
    /// [`Error::JobNotFound`].
    pub async fn get(&self, job_id: &str) -> Result<Job> {
        self.shared
            .store
            .get(job_id)
            .await?
            .ok_or_else(|| Error::JobNotFound {
                job_id: job_id.to_owned(),
            })
    }

    /// Jobs matching `filter`, newest first.
    ///
    /// # Errors
    /// Store errors.
    pub async fn list(&self, filter: &JobFilter, page: Page) -> Result<JobPage> {
        self.shared.store.list(filter, page).await
    }

    /// How many jobs are in each status.
    ///
    /// # Errors
    /// Store errors.
    pub async fn counts(&self) -> Result<StatusCounts> {
        self.shared.store.count_by_status().await
    }

    /// The workers the store knows.
    ///
    /// # Errors
    /// Store errors.
    pub async fn workers(&self) -> Result<Vec<WorkerRecord>> {
        self.shared.store.list_workers().await
    }

    /// Pauses a queued job (not claimed until resumed) or a running one (its handler suspends
    /// at its next checkpoint): `job.paused`.
    ///
    /// # Errors
    /// [`Error::JobNotFound`], [`Error::InvalidTransition`] unless queued or running.
    pub async fn pause(&self, job_id: &str) -> Result<Job> {
        let now = self.shared.events.clock.now();
        let job = self
            .apply(
                job_id,
                |job| job.pause(now),
                |job, _| {
                    let events = &self.shared.events;
                    vec![events.job_event(EventType::JobPaused, job, Map::new())]
                },
            )
            .await?;
        if let Some(control) = self.shared.controls.get(job_id).map(|c| Arc::clone(&c)) {
            control.set_paused(true);
        }
        Ok(job)
    }

    /// Resumes a paused job: `job.resumed`, then back to running (its handler continues) or,
    /// if it was paused while queued, `job.queued`.
    ///
    /// # Errors
    /// [`Error::JobNotFound`], [`Error::InvalidTransition`] unless paused.
    pub async fn resume(&self, job_id: &str) -> Result<Job> {
        let now = self.shared.events.clock.now();
        let job = self
            .apply(
                job_id,
                |job| job.resume(now).map(|_| ()),
                |job, _| {
                    let events = &self.shared.events;
                    let mut out = vec![events.job_event(EventType::JobResumed, job, Map::new())];
                    if job.status == JobStatus::Queued {
                        out.push(events.job_event(EventType::JobQueued, job, Map::new()));
                    }
                    out
                },
            )
            .await?;
        if job.status == JobStatus::Queued {
            self.shared.work_available.notify_waiters();
        } else if let Some(control) = self.shared.controls.get(job_id).map(|c| Arc::clone(&c)) {
            control.set_paused(false);
        }
        Ok(job)
    }

    /// Cancels a job that is not finished: `job.cancelled`. A running handler sees its
    /// cancellation token and is dropped after its worker's grace period.
    ///
    /// # Errors
    /// [`Error::JobNotFound`], [`Error::InvalidTransition`] when already final.
    pub async fn cancel(&self, job_id: &str) -> Result<Job> {
        let now = self.shared.events.clock.now();
        let job = self
            .apply(
                job_id,
                |job| job.cancel(now),
                // The cancelled job no longer names its worker; the event does, when it had one.
                |job, before| {
                    vec![self.shared.events.job_event_of_worker(
                        EventType::JobCancelled,
                        job,
                        before.worker_id.as_deref(),
                    )]
                },
            )
            .await?;
        if let Some(control) = self.shared.controls.get(job_id).map(|c| Arc::clone(&c)) {
            control.cancel();
        }
        Ok(job)
    }

    /// Runs a failed (or cancelled) job again, by hand: a **new** job with the same name,
    /// payload and settings is created and queued, with `retry_of` in its metadata naming the
    /// original, which stays as it was. (Final statuses are final; the new job has its own
    /// attempts and events.)
    ///
    /// # Errors
    /// [`Error::JobNotFound`], [`Error::InvalidTransition`] unless failed or cancelled.
    pub async fn retry(&self, job_id: &str) -> Result<Job> {
        let original = self.get(job_id).await?;
        if !matches!(original.status, JobStatus::Failed | JobStatus::Cancelled) {
            return Err(Error::InvalidTransition {
                job_id: original.id,
                from: original.status,
                to: JobStatus::Queued,
            });
        }
        let mut new_job = NewJob::new(original.name)
            .payload(original.payload)
            .priority(original.priority)
            .tags(original.tags)
            .max_retries(original.max_retries)
            .retry_policy(original.retry_policy);
        for (key, value) in original.metadata {
            new_job = new_job.metadata(key, value);
        }
        new_job = new_job.metadata("retry_of", original.id);
        if let Some(description) = original.description {
            new_job = new_job.description(description);
        }
        if let Some(timeout) = original.timeout {
            new_job = new_job.timeout(timeout);
        }
        self.create(new_job).await
    }

    /// Deletes a job that no worker holds (cancel a running job first).
    ///
    /// # Errors
    /// [`Error::JobNotFound`]; [`Error::JobHeld`] while a worker holds it.
    pub async fn delete(&self, job_id: &str) -> Result<()> {
        let job = self.get(job_id).await?;
        if let Some(worker_id) = job.worker_id {
            return Err(Error::JobHeld {
                job_id: job.id,
                worker_id,
            });
        }
        if self.shared.store.delete(job_id).await? {
            Ok(())
        } else {
            Err(Error::JobNotFound {
                job_id: job_id.to_owned(),
            })
        }
    }

    /// Deletes the jobs that finished more than `older_than` ago; returns how many.
    ///
    /// # Errors
    /// Store errors.
    pub async fn purge(&self, older_than: Duration) -> Result<u64> {
        let cutoff = self.shared.events.clock.now() - crate::clock::delta(older_than);
        self.shared.store.purge_finished(cutoff).await
    }

    /// How many jobs wait for their scheduled time in this manager's timer.
    #[must_use]
    pub fn scheduled_count(&self) -> usize {
        self.shared.schedule.len()
    }

    /// Runs one reaper pass now (declare silent workers offline, release expired leases).
    pub async fn reap(&self) {
        reaper::reap_once(&self.shared).await;
    }

    /// Stops the scheduler and the reaper and waits for them. Workers are stopped through
    /// their own handles.
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        self.shared.tasks.wait().await;
    }

    fn ensure_running(&self) -> Result<()> {
        if self.shared.shutdown.is_cancelled() {
            Err(Error::ShuttingDown)
        } else {
            Ok(())
        }
    }

    /// Reads the job, applies `change`, and writes it back if nobody moved it meanwhile
    /// (re-reading and re-checking on a conflict). The events `describe` builds from the
    /// changed job and the job before the change are logged with the change and emitted once
    /// it is committed.
    async fn apply<F, D>(&self, job_id: &str, mut change: F, describe: D) -> Result<Job>
    where
        F: FnMut(&mut Job) -> Result<()> + Send,
        D: Fn(&Job, &Job) -> Vec<Event> + Send,
    {
        let mut last = None;
        for _ in 0..CONFLICT_RETRIES {
            let before = self.get(job_id).await?;
            let mut job = before.clone();
            change(&mut job)?;
            let events = describe(&job, &before);
            if let Some(appender) = &self.shared.events.log {
                // Events appended before this change (a running job's progress) go first.
                appender.flushed().await;
            }
            let (update, kept) = self
                .shared
                .events
                .attach(JobUpdate::new(job, before.status), events);
            match self.shared.store.update(&update).await {
                Ok(()) => {
                    let JobUpdate { job, events, .. } = update;
                    self.shared.events.committed(events.into_iter().chain(kept));
                    return Ok(job);
                }
                Err(error @ (Error::StatusConflict { .. } | Error::StaleAttempt { .. })) => {
                    last = Some(error);
                }
                Err(error) => return Err(error),
            }
        }
        Err(last.unwrap_or_else(|| Error::JobNotFound {
            job_id: job_id.to_owned(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn building_outside_a_runtime_is_a_typed_error() {
        let store: Arc<dyn JobStore> = Arc::new(crate::MemoryStore::new());
        assert!(matches!(
            JobManager::builder(store).build(),
            Err(Error::NoRuntime)
        ));
    }
}
