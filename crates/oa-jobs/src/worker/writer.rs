//! The commit writer: one task per worker that writes the outcomes of finished attempts to the
//! store, many per transaction when many are waiting (group commit), and emits their events
//! once they are durable.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use oa_events::EventType;
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

/// How many times a failed transaction is tried again before its outcomes are given up (the
/// jobs then return to the queue when their leases expire).
const ATTEMPTS: u32 = 4;

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
        let mut updates = Vec::with_capacity(buffer.len());
        let mut announcements = Vec::with_capacity(buffer.len());
        for commit in buffer.drain(..) {
            updates.push(JobUpdate::new(commit.job, JobStatus::Running));
            announcements.push((commit.worker_id, commit.outcome));
        }
        let results = match write(&shared, &updates).await {
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
        for ((update, (worker_id, outcome)), result) in
            updates.iter().zip(announcements).zip(results)
        {
            match result {
                Ok(()) => announce(&shared, &update.job, &worker_id, outcome, &mut ready),
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

async fn write(shared: &Shared, updates: &[JobUpdate]) -> Result<Vec<Result<()>>> {
    let mut delay = Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        let result = match updates {
            [single] => Ok(vec![shared.store.update(single).await]),
            many => shared.store.update_many(many).await,
        };
        match result {
            Err(error) if attempt < ATTEMPTS => {
                tracing::warn!(%error, attempt, "retrying a failed commit");
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn announce(shared: &Shared, job: &Job, worker_id: &str, outcome: Outcome, ready: &mut bool) {
    let events = &shared.events;
    match outcome {
        Outcome::Completed => {
            let event = oa_events::Event::from_job(EventType::JobCompleted, job, Map::new())
                .with_worker_id(worker_id)
                .with_timestamp(events.clock.now());
            events.emitter.emit(event);
        }
        Outcome::Failed => events.failed(job, Some(worker_id)),
        Outcome::Retrying {
            reason,
            next_run_at,
        } => {
            events.retrying(job, Some(worker_id), next_run_at, reason);
            if next_run_at <= events.clock.now() {
                events.job(EventType::JobQueued, job, Map::new());
                *ready = true;
            } else {
                shared.schedule.add(next_run_at, &job.id);
            }
        }
    }
}
