//! The reaper: declares workers whose heartbeats stopped offline, releases exactly their jobs,
//! releases jobs whose lease expired, and purges old finished jobs when a retention is set.
//!
//! It sleeps until the earliest moment a known worker could be late (capped by the manager's
//! `reap_interval`), so it costs nothing while nothing can expire.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
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
    let mut last_trim: Option<DateTime<Utc>> = None;
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
        if let Some(log) = shared.events.log.as_ref().map(|appender| appender.log()) {
            let now = shared.events.clock.now();
            if last_trim.is_none_or(|at| now - at >= delta(shared.config.purge_interval)) {
                last_trim = Some(now);
                trim_log(&**log, &shared.config.log_retention, now).await;
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
    shared.events.committed(
        shared
            .events
            .offline_events(worker_id, reason, retry_reason, jobs),
    );
    if !jobs.is_empty() {
        shared.work_available.notify_waiters();
    }
}

/// How many trim batches one reaper pass runs at most (the rest waits for the next pass).
const TRIM_BATCHES_PER_PASS: u32 = 20;

/// Trims the event log to its retention, in bounded batches.
async fn trim_log(
    log: &dyn oa_events::EventLog,
    retention: &oa_events::LogRetention,
    now: DateTime<Utc>,
) {
    let mut trimmed = 0;
    for _ in 0..TRIM_BATCHES_PER_PASS {
        match log.trim(retention, now).await {
            Ok(deleted) => {
                trimmed += deleted;
                if deleted < u64::from(retention.batch) {
                    break;
                }
            }
            Err(error) => {
                tracing::warn!(%error, "could not trim the event log");
                break;
            }
        }
    }
    if trimmed > 0 {
        tracing::info!(trimmed, "trimmed the event log");
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
        let log = shared
            .events
            .offline_log(&worker.id, HEARTBEAT_TIMEOUT, LOST_KIND);
        match shared
            .store
            .mark_worker_offline_logged(
                &worker.id,
                now,
                HEARTBEAT_TIMEOUT,
                Some(cutoff),
                log.as_ref(),
            )
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
    let log = shared.events.expired_log(LOST_KIND);
    match shared.store.requeue_expired_logged(now, log.as_ref()).await {
        Ok(jobs) if !jobs.is_empty() => {
            // The record no longer names the worker; its error message does.
            shared
                .events
                .committed(shared.events.released_events(&jobs, None, LOST_KIND));
            shared.work_available.notify_waiters();
        }
        Ok(_) => {}
        Err(error) => shared.events.system_error("requeue expired leases", &error),
    }
    next
}
