//! The commit writer: one task per worker that writes the outcomes of finished attempts to the
//! store, many per transaction when many are waiting (group commit), and emits their events
//! once they are durable (when the manager logs events, they are written in the same
//! transaction).
//!
//! When the database cannot be reached, the batch is tried again with backoff until it can
//! (or the worker is killed): results of jobs that finished during an outage are written when
//! it ends, instead of being run again after their leases expire.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use oa_events::{Event, EventType};
use serde_json::Map;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::job::Job;
use crate::manager::Shared;
use crate::status::JobStatus;
use crate::store::JobUpdate;

/// What an attempt ended with, to announce after the commit.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    /// `job.completed`.
    Completed,
    /// `job.retrying` with this reason, then `job.queued` when due.
    Retrying {
        reason: &'static str,
        next_run_at: DateTime<Utc>,
    },
    /// `job.failed`.
    Failed,
}

/// One finished attempt: the job as it must be stored (it was `running`).
#[derive(Debug)]
pub(crate) struct Commit {
    pub(crate) job: Job,
    pub(crate) worker_id: String,
    pub(crate) outcome: Outcome,
}

/// How many times a transaction that failed for another reason than an unreachable database
/// is tried before its outcomes are given up (the jobs then return to the queue when their
/// leases expire).
const ATTEMPTS: u32 = 4;
/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Runs until `close` is cancelled and the queue is drained, or until `killed`.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut commits: mpsc::Receiver<Commit>,
    batch: usize,
    close: CancellationToken,
    killed: CancellationToken,
) {
    let mut buffer = Vec::with_capacity(batch);
    loop {
        let received = tokio::select! {
            biased;
            () = killed.cancelled() => return,
            received = commits.recv_many(&mut buffer, batch) => received,
            () = close.cancelled() => {
                // No runner is left: take what is queued, then stop.
                commits.close();
                continue;
            }
        };
        if received == 0 {
            return;
        }
        let now = shared.events.clock.now();
        let mut updates = Vec::with_capacity(buffer.len());
        let mut announcements = Vec::with_capacity(buffer.len());
        for commit in buffer.drain(..) {
            let events = describe(&shared, &commit.job, &commit.worker_id, commit.outcome, now);
            let (update, kept) = shared
                .events
                .attach(JobUpdate::new(commit.job, JobStatus::Running), events);
            updates.push(update);
            announcements.push((kept, commit.outcome));
        }
        if let Some(appender) = &shared.events.log {
            // The attempts' progress events go to the log before their outcomes.
            tokio::select! {
                () = appender.flushed() => {}
                () = killed.cancelled() => return,
            }
        }
        let results = match write(&shared, &updates, &killed).await {
            Ok(results) => results,
            Err(error) => {
                tracing::error!(%error, jobs = updates.len(), "could not record finished attempts");
                shared
                    .events
                    .system_error("record finished attempts", &error);
                continue;
            }
        };
        let mut ready = false;
        for ((update, (kept, outcome)), result) in
            updates.into_iter().zip(announcements).zip(results)
        {
            match result {
                Ok(()) => {
                    let JobUpdate { job, events, .. } = update;
                    shared.events.committed(events.into_iter().chain(kept));
                    after_commit(&shared, &job, outcome, now, &mut ready);
                }
                // Cancelled or released meanwhile: the other side already announced it.
                Err(
                    Error::StatusConflict { .. }
                    | Error::JobNotFound { .. }
                    | Error::StaleAttempt { .. },
                ) => {
                    tracing::debug!(job_id = %update.job.id, "attempt outcome superseded");
                }
                Err(error) => shared
                    .events
                    .system_error("record a finished attempt", &error),
            }
        }
        if ready {
            shared.work_available.notify_waiters();
        }
    }
}

/// Writes the batch; tries again with backoff while the database is unreachable (until the
/// worker is killed), and a few times for other failures.
async fn write(
    shared: &Shared,
    updates: &[JobUpdate],
    killed: &CancellationToken,
) -> Result<Vec<Result<()>>> {
    let mut delay = Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        // A failure of the database fails the whole transaction: retried below.
        let result = shared.store.finish_attempts(updates).await;
        match result {
            Err(error) if matches!(error, Error::Database { .. }) || attempt < ATTEMPTS => {
                if attempt == 1 {
                    // Announced once per outage (reaches the log when the database is back).
                    shared
                        .events
                        .system_error("record finished attempts (retrying)", &error);
                }
                if attempt == 1 || attempt.is_power_of_two() {
                    tracing::warn!(%error, attempt, jobs = updates.len(), "retrying a failed commit");
                }
                tokio::select! {
                    () = tokio::time::sleep(delay) => {}
                    () = killed.cancelled() => return Err(error),
                }
                delay = (delay * 2).min(MAX_BACKOFF);
                attempt += 1;
            }
            other => {
                if attempt > 1 && other.is_ok() {
                    tracing::info!(
                        attempt,
                        jobs = updates.len(),
                        "finished attempts recorded after retrying"
                    );
                }
                return other;
            }
        }
    }
}

/// The events of one finished attempt, built before the commit (logged with it).
fn describe(
    shared: &Shared,
    job: &Job,
    worker_id: &str,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Vec<Event> {
    let events = &shared.events;
    match outcome {
        Outcome::Completed => {
            vec![events.job_event_of_worker(EventType::JobCompleted, job, Some(worker_id))]
        }
        Outcome::Failed => {
            vec![events.job_event_of_worker(EventType::JobFailed, job, Some(worker_id))]
        }
        Outcome::Retrying {
            reason,
            next_run_at,
        } => {
            let mut out = vec![events.retrying_event(job, Some(worker_id), next_run_at, reason)];
            if next_run_at <= now {
                out.push(events.job_event(EventType::JobQueued, job, Map::new()));
            }
            out
        }
    }
}

/// After a commit: wakes idle workers for a retry due now, or schedules its `job.queued`.
fn after_commit(
    shared: &Shared,
    job: &Job,
    outcome: Outcome,
    now: DateTime<Utc>,
    ready: &mut bool,
) {
    if let Outcome::Retrying { next_run_at, .. } = outcome {
        if next_run_at <= now {
            *ready = true;
        } else {
            shared.schedule.add(next_run_at, &job.id);
        }
    }
}
