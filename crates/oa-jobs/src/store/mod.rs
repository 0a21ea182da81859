//! The [`JobStore`] trait and its implementations.
//!
//! A store keeps jobs and worker records and performs the few operations that must be atomic
//! (claiming, lease renewal, re-queueing a lost worker's jobs). It knows nothing of events: the
//! [`JobManager`](crate::JobManager) and the workers emit those after a store call succeeded.
//! Every implementation passes the same test suite (`tests/it/store_suite.rs`).

mod memory;
mod postgres;
mod shared;
mod sqlite;
mod types;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use memory::MemoryStore;
#[doc(hidden)]
pub use postgres::statements as pg_statements;
pub use postgres::{PgStore, PgStoreOptions};
pub use sqlite::{SqliteStore, SqliteStoreOptions, SqliteSynchronous};
pub use types::{
    ClaimRequest, HeartbeatOutcome, HeldJob, JobFilter, JobPage, JobUpdate, LogEvents, Page,
    StatusCounts, WorkerRecord, WorkerState,
};

pub(crate) use shared::{
    BatchPlan, batch_results, claim_order, first_duplicate_id, plan_batch, sort_in_claim_order,
};

use crate::error::Result;
use crate::job::Job;
use crate::status::JobStatus;

/// Where jobs and workers are kept. Async, object-safe (`Arc<dyn JobStore>`), `Send + Sync`.
///
/// Times are always passed in by the caller (from the engine's [`Clock`](crate::Clock)), so a
/// store never reads the wall clock itself.
#[async_trait]
pub trait JobStore: Send + Sync + std::fmt::Debug {
    /// Saves a new job.
    ///
    /// # Errors
    /// [`Error::DuplicateJob`](crate::Error::DuplicateJob) when the id is taken.
    async fn insert(&self, job: &Job) -> Result<()>;

    /// Saves many new jobs in one transaction: all or none.
    ///
    /// # Errors
    /// [`Error::DuplicateJob`](crate::Error::DuplicateJob) when an id is taken (none saved).
    async fn insert_many(&self, jobs: &[Job]) -> Result<()>;

    /// Saves new jobs as [`insert_many`](Self::insert_many) does and, in a store with an event
    /// log, appends `events` (their `job.created`/`job.queued`) in the same transaction. Stores
    /// without a log ignore `events` (the default).
    ///
    /// # Errors
    /// As [`insert_many`](Self::insert_many); nothing is saved or logged.
    async fn insert_logged(&self, jobs: &[Job], events: &[oa_events::Event]) -> Result<()> {
        let _ = events;
        self.insert_many(jobs).await
    }

    /// The job with this id, if any.
    async fn get(&self, job_id: &str) -> Result<Option<Job>>;

    /// Replaces the stored job by `update.job` if its stored status is still `update.expected`
    /// (optimistic concurrency) and, when `expected` is running or paused, its stored attempt is
    /// still `update.job.attempt` (a worker that lost its job to a newer claim can never
    /// overwrite that attempt), and the move from `expected` to the new status is legal.
    ///
    /// # Errors
    /// [`Error::JobNotFound`](crate::Error::JobNotFound),
    /// [`Error::StatusConflict`](crate::Error::StatusConflict) (someone moved it first),
    /// [`Error::StaleAttempt`](crate::Error::StaleAttempt) (it was claimed again since), or
    /// [`Error::InvalidTransition`](crate::Error::InvalidTransition); nothing is written.
    async fn update(&self, update: &JobUpdate) -> Result<()>;

    /// Applies many updates in one transaction; each succeeds or fails on its own (the result
    /// for each, in order). The outer error is for the transaction itself.
    async fn update_many(&self, updates: &[JobUpdate]) -> Result<Vec<Result<()>>>;

    /// [`update_many`](Self::update_many) for the ends of attempts, as a worker's commit writer
    /// records them: each job differs from the stored one only in the fields an attempt's end
    /// changes (`status`, `progress`, `attempt`, `result`, `error`, `worker_id`, `queued_at`,
    /// `started_at`, `finished_at`, `updated_at`, `lease_expires_at`), so a store may write
    /// only those. The default writes whole jobs: one with [`update`](Self::update), several
    /// with [`update_many`](Self::update_many).
    ///
    /// # Errors
    /// The outer error is for the transaction itself (for one update, a failure of the
    /// database), and nothing was written; each update's own failure is in its result.
    async fn finish_attempts(&self, updates: &[JobUpdate]) -> Result<Vec<Result<()>>> {
        shared::finish_by_updates(self, updates).await
    }

    /// Deletes a job whatever its status; `false` when there was none.
    async fn delete(&self, job_id: &str) -> Result<bool>;

    /// Jobs matching `filter`, newest first (by id, which is time-ordered), one page.
    async fn list(&self, filter: &JobFilter, page: Page) -> Result<JobPage>;

    /// How many jobs are in each status, without scanning the jobs.
    async fn count_by_status(&self) -> Result<StatusCounts>;

    /// Atomically claims up to `request.limit` queued jobs whose name is in `request.names` and
    /// whose `queued_at` is not after `request.now`: highest priority first, then the oldest
    /// `queued_at`. Each claimed job is running, held by `request.worker_id` until
    /// `request.lease_until`, with its attempt incremented. Two claimers never get the same job.
    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<Job>>;

    /// Records a worker (new or re-registering); it is online from `record.registered_at`.
    async fn register_worker(&self, record: &WorkerRecord) -> Result<()>;

    /// A worker's heartbeat at `now`: records it, renews the leases of the jobs it holds until
    /// `lease_until`, and returns those jobs with their statuses (a job missing from the list
    /// was cancelled or re-queued behind the worker's back).
    ///
    /// # Errors
    /// [`Error::WorkerNotFound`](crate::Error::WorkerNotFound) for an unknown worker.
    async fn heartbeat(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<HeartbeatOutcome>;

    /// Every known worker record (online first, then offline, newest first).
    async fn list_workers(&self) -> Result<Vec<WorkerRecord>>;

    /// The worker record with this id, if any.
    async fn get_worker(&self, worker_id: &str) -> Result<Option<WorkerRecord>>;

    /// Declares a worker offline if it is online and its last heartbeat is before
    /// `heartbeat_before` (pass `None` to force, for a graceful shutdown), and releases exactly
    /// the jobs it holds ([`Job::release_lost`]). Returns the changed jobs, or `None` when the
    /// worker was not declared offline (unknown, already offline, or it heartbeated since):
    /// of two reapers racing, one wins.
    async fn mark_worker_offline(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        reason: &str,
        heartbeat_before: Option<DateTime<Utc>>,
    ) -> Result<Option<Vec<Job>>> {
        self.mark_worker_offline_logged(worker_id, now, reason, heartbeat_before, None)
            .await
    }

    /// [`mark_worker_offline`](Self::mark_worker_offline) that, in a store with an event log,
    /// also appends `log`'s events for the released jobs in the same transaction (only when the
    /// worker was declared offline). Stores without a log ignore `log`.
    async fn mark_worker_offline_logged(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        reason: &str,
        heartbeat_before: Option<DateTime<Utc>>,
        log: Option<&LogEvents>,
    ) -> Result<Option<Vec<Job>>>;

    /// Releases ([`Job::release_lost`]) every held job whose lease expired before `now`, and
    /// returns the changed jobs.
    async fn requeue_expired(&self, now: DateTime<Utc>) -> Result<Vec<Job>> {
        self.requeue_expired_logged(now, None).await
    }

    /// [`requeue_expired`](Self::requeue_expired) that, in a store with an event log, also
    /// appends `log`'s events for the released jobs in the same transaction. Stores without a
    /// log ignore `log`.
    async fn requeue_expired_logged(
        &self,
        now: DateTime<Utc>,
        log: Option<&LogEvents>,
    ) -> Result<Vec<Job>>;

    /// Queued jobs not claimable before a time after `after` (scheduled jobs and retries
    /// waiting for their delay), the earliest first, at most `limit`.
    async fn scheduled_after(&self, after: DateTime<Utc>, limit: u32) -> Result<Vec<Job>>;

    /// Deletes final jobs that finished before `finished_before`; returns how many.
    async fn purge_finished(&self, finished_before: DateTime<Utc>) -> Result<u64>;

    /// A signal that fires when jobs may have become claimable through another process (the
    /// PostgreSQL store's `LISTEN/NOTIFY`), so that idle workers claim at once rather than at
    /// their next poll. Only a hint: a signal may come with nothing to claim, and one may be
    /// missed, so workers still poll. `None` (the default) when the store has no such signal;
    /// jobs created in this process wake its workers directly.
    fn claimable_signal(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }

    /// The store's durable event log, when it keeps one (the SQLite and PostgreSQL stores).
    /// When it does, the events in [`JobUpdate::events`], [`ClaimRequest::log`],
    /// [`insert_logged`](Self::insert_logged) and the `_logged` releases are written in the
    /// same transaction as the change they describe. `None` (the default): no log.
    fn event_log(&self) -> Option<std::sync::Arc<dyn oa_events::EventLog>> {
        None
    }

    /// Whether only this process can reach the store's jobs (the memory store). Idle workers
    /// over such a store never poll: every job that becomes claimable is created, released or
    /// scheduled in this process, which wakes them, so an idle system uses no CPU.
    fn process_local(&self) -> bool {
        false
    }
}

/// Whether an update from `expected` comes from the holder of one attempt (running, or paused
/// while held): such an update must carry the stored attempt, so that a worker that lost its
/// job to a newer claim can never overwrite it. Updates from other statuses may start a new
/// attempt themselves.
pub(crate) const fn holds_attempt(expected: JobStatus) -> bool {
    matches!(expected, JobStatus::Running | JobStatus::Paused)
}

/// Checks an update against the state machine (shared by the implementations).
pub(crate) fn check_update(update: &JobUpdate, stored: JobStatus) -> Result<()> {
    let job = &update.job;
    if stored != update.expected {
        return Err(crate::Error::StatusConflict {
            job_id: job.id.clone(),
            expected: update.expected,
            actual: stored,
        });
    }
    let same = update.expected == job.status;
    let progress_like = same && matches!(job.status, JobStatus::Running | JobStatus::Paused);
    if !(progress_like || update.expected.can_transition_to(job.status)) {
        return Err(crate::Error::InvalidTransition {
            job_id: job.id.clone(),
            from: update.expected,
            to: job.status,
        });
    }
    Ok(())
}
