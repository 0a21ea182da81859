//! The reaper: declares workers whose heartbeats stopped offline, releases exactly their jobs,
//! releases jobs whose lease expired, and purges old finished jobs when a retention is set.
//!
//! It sleeps until the earliest moment a known worker could be late (capped by the manager's
//! `reap_interval`), so it costs nothing while nothing can expire.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use oa_events::{EventType, keys};
use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::clock::delta;
use crate::job::LOST_KIND;
use crate::store::{WorkerRecord, WorkerState};

/// The `reason` of `worker.offline` when heartbeats stopped.
pub(crate) const HEARTBEAT_TIMEOUT: &str = "heartbeat_timeout";

/// Runs until `shutdown`.
pub(crate) async fn run(shared: Arc<Shared>, shutdown: CancellationToken) {
    let mut last_purge: Option<DateTime<Utc>> = None;
    loop {
        let woken = shared.reaper_wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let next = reap_once(&shared).await;
        if let Some(retention) = shared.config.retention {
            let now = shared.events.clock.now();
            if last_purge.is_none_or(|at| now - at >= delta(shared.config.purge_interval)) {
                last_purge = Some(now);
                match shared.store.purge_finished(now - delta(retention)).await {
                    Ok(purged) if purged > 0 => tracing::info!(purged, "purged finished jobs"),
                    Ok(_) => {}
                    Err(error) => shared.events.system_error("purge finished jobs", &error),
                }
            }
        }
        let wait = next
            .min(shared.config.reap_interval)
            .max(Duration::from_millis(10));
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = &mut woken => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

/// Announces a worker that went offline (`reason`) after its jobs were released: the events of
/// the released jobs (`job.retrying` with `retry_reason`, `job.queued`, or `job.failed`), then
/// `worker.offline` with the ids of the re-queued jobs; wakes idle workers for them.
pub(crate) fn announce_offline(
    shared: &Shared,
    worker_id: &str,
    reason: &str,
    retry_reason: &str,
    jobs: &[crate::Job],
) {
    shared.events.released(jobs, Some(worker_id), retry_reason);
    let requeued = jobs
        .iter()
        .filter(|job| job.status == crate::JobStatus::Queued)
        .map(|job| Value::String(job.id.clone()))
        .collect();
    let mut data = Map::with_capacity(2);
    data.insert(keys::REASON.to_owned(), Value::String(reason.to_owned()));
    data.insert(keys::REQUEUED_JOB_IDS.to_owned(), Value::Array(requeued));
    shared
        .events
        .worker(EventType::WorkerOffline, worker_id, data);
    if !jobs.is_empty() {
        shared.work_available.notify_waiters();
    }
}

/// How long after its last heartbeat a worker is declared offline.
pub(crate) fn offline_after(shared: &Shared, worker: &WorkerRecord) -> Duration {
    shared
        .config
        .offline_after
        .unwrap_or_else(|| Duration::from_millis(worker.heartbeat_interval_ms.saturating_mul(3)))
}

/// One pass; returns how long until the next worker could be late.
pub(crate) async fn reap_once(shared: &Shared) -> Duration {
    let mut next = shared.config.reap_interval;
    let workers = match shared.store.list_workers().await {
        Ok(workers) => workers,
        Err(error) => {
            shared.events.system_error("list workers", &error);
            return next;
        }
    };
    let now = shared.events.clock.now();
    for worker in workers.iter().filter(|w| w.state == WorkerState::Online) {
        let limit = delta(offline_after(shared, worker));
        let cutoff = now - limit;
        if worker.last_heartbeat_at >= cutoff {
            let late_in = (worker.last_heartbeat_at + limit - now)
                .max(TimeDelta::zero())
                .to_std()
                .unwrap_or_default();
            next = next.min(late_in + Duration::from_millis(1));
            continue;
        }
        match shared
            .store
            .mark_worker_offline(&worker.id, now, HEARTBEAT_TIMEOUT, Some(cutoff))
            .await
        {
            Ok(Some(jobs)) => {
                announce_offline(shared, &worker.id, HEARTBEAT_TIMEOUT, LOST_KIND, &jobs);
                tracing::warn!(worker_id = %worker.id, released = jobs.len(), "worker declared offline");
            }
            Ok(None) => {}
            Err(error) => shared
                .events
                .system_error("declare a worker offline", &error),
        }
    }
    match shared.store.requeue_expired(now).await {
        Ok(jobs) if !jobs.is_empty() => {
            // The record no longer names the worker; its error message does.
            shared.events.released(&jobs, None, LOST_KIND);
            shared.work_available.notify_waiters();
        }
        Ok(_) => {}
        Err(error) => shared.events.system_error("requeue expired leases", &error),
    }
    next
}
