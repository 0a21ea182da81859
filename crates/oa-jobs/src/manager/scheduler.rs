//! The timer that emits `job.queued` when a scheduled job or a retry becomes due, and wakes the
//! workers then. It sleeps until the earliest due time: an idle system uses no CPU.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use oa_events::EventType;
use serde_json::Map;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::status::JobStatus;

/// How many scheduled jobs are loaded from the store when the manager starts.
const LOAD_ON_START: u32 = 100_000;

/// Due times of jobs queued for later, earliest first.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    due: Mutex<BTreeSet<(DateTime<Utc>, String)>>,
    changed: Notify,
}

impl Schedule {
    fn lock(&self) -> MutexGuard<'_, BTreeSet<(DateTime<Utc>, String)>> {
        // The set stays consistent whatever panicked while holding it (single inserts/removes).
        self.due
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Remembers that `job_id` becomes claimable at `at`.
    pub(crate) fn add(&self, at: DateTime<Utc>, job_id: &str) {
        let earliest = {
            let mut due = self.lock();
            due.insert((at, job_id.to_owned()));
            due.first()
                .is_some_and(|(first_at, first_id)| *first_at == at && first_id == job_id)
        };
        if earliest {
            self.changed.notify_one();
        }
    }

    /// Forgets `job_id` due at `at`; `true` when it was still waiting for its announcement.
    pub(crate) fn remove(&self, at: DateTime<Utc>, job_id: &str) -> bool {
        self.lock().remove(&(at, job_id.to_owned()))
    }

    /// How many jobs wait.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn next(&self) -> Option<DateTime<Utc>> {
        self.lock().first().map(|(at, _)| *at)
    }

    fn take_due(&self, now: DateTime<Utc>) -> Vec<(DateTime<Utc>, String)> {
        let mut due = self.lock();
        let mut taken = Vec::new();
        while let Some(first) = due.first() {
            if first.0 > now {
                break;
            }
            if let Some(entry) = due.pop_first() {
                taken.push(entry);
            }
        }
        taken
    }
}

/// Runs until `shutdown`: loads the scheduled jobs of the store, then emits `job.queued` for
/// each as it becomes due.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let now = shared.events.clock.now();
    match shared.store.scheduled_after(now, LOAD_ON_START).await {
        Ok(jobs) => {
            for job in jobs {
                if let Some(at) = job.queued_at {
                    shared.schedule.add(at, &job.id);
                }
            }
        }
        Err(error) => {
            tracing::warn!(%error, "could not load the scheduled jobs");
            shared.events.system_error("load scheduled jobs", &error);
        }
    }
    loop {
        let changed = shared.schedule.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let now = shared.events.clock.now();
        for (at, job_id) in shared.schedule.take_due(now) {
            queue_due(&shared, at, &job_id).await;
        }
        let wait = shared.schedule.next().map(|at| {
            (at - shared.events.clock.now())
                .to_std()
                .unwrap_or_default()
        });
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = &mut changed => {}
            () = sleep_for(wait) => {}
        }
    }
}

async fn sleep_for(wait: Option<std::time::Duration>) {
    match wait {
        Some(wait) => tokio::time::sleep(wait).await,
        None => std::future::pending().await,
    }
}

async fn queue_due(shared: &Shared, at: DateTime<Utc>, job_id: &str) {
    match shared.store.get(job_id).await {
        // Only a job still waiting for this due time is announced: it may have been cancelled,
        // paused or rescheduled since.
        Ok(Some(job)) if job.status == JobStatus::Queued && job.queued_at == Some(at) => {
            shared.events.job(EventType::JobQueued, &job, Map::new());
            shared.work_available.notify_waiters();
        }
        Ok(_) => {}
        Err(error) => {
            tracing::warn!(%error, job_id, "could not read a due job");
            shared.events.system_error("queue a due job", &error);
            // The job is claimable anyway; only its `job.queued` event is lost.
            shared.work_available.notify_waiters();
        }
    }
}
