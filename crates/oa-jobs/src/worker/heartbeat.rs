//! The heartbeat: every interval, renew the leases of the jobs this worker holds, emit
//! `worker.heartbeat`, and reconcile with the store (a job cancelled, paused or resumed by
//! another process, or released because this worker was thought lost).
//!
//! While the store cannot be reached, heartbeats keep their interval (the leases are renewed
//! by the first one that succeeds); the outage is announced once, not at every beat.

use std::collections::HashMap;
use std::sync::Arc;

use oa_events::{EventType, keys};
use serde_json::{Map, Value};
use tokio::time::MissedTickBehavior;

use super::WorkerShared;
use super::outage::FailureStreak;
use crate::error::Error;
use crate::status::JobStatus;

/// Runs until the worker stops (gracefully or killed).
pub(crate) async fn run(worker: Arc<WorkerShared>) {
    let mut ticks = tokio::time::interval(worker.config.heartbeat_interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The first tick is immediate; registration counted as the first heartbeat.
    ticks.tick().await;
    let mut failures = FailureStreak::new("worker heartbeat");
    loop {
        tokio::select! {
            () = worker.stopped.cancelled() => return,
            () = worker.killed.cancelled() => return,
            _ = ticks.tick() => beat(&worker, &mut failures).await,
        }
    }
}

/// One heartbeat; `failures` are the beats that failed just before.
pub(crate) async fn beat(worker: &WorkerShared, failures: &mut FailureStreak) {
    let events = &worker.manager.events;
    // The jobs running before the store is asked: each was claimed (committed) before, so it
    // is in the store's answer unless it was cancelled or released meanwhile. A job claimed
    // after this snapshot is left alone until the next beat.
    let running: Vec<_> = worker
        .running
        .iter()
        .map(|entry| (entry.key().clone(), Arc::clone(entry.value())))
        .collect();
    let now = events.clock.now();
    let lease_until = now + crate::clock::delta(worker.config.lease);
    let outcome = match worker
        .manager
        .store
        .heartbeat(&worker.id, now, lease_until)
        .await
    {
        Ok(outcome) => {
            failures.succeeded(&worker.id);
            outcome
        }
        Err(Error::WorkerNotFound { .. }) => {
            failures.succeeded(&worker.id);
            // The record was deleted behind our back: register again.
            if let Err(error) = super::register(worker).await {
                events.system_error("re-register a worker", &error);
            }
            return;
        }
        Err(error) => {
            failures.failed(&worker.manager, &worker.id, &error);
            return;
        }
    };
    if outcome.revived {
        tracing::warn!(worker_id = %worker.id, "worker was declared offline; registering again");
        if let Err(error) = super::register(worker).await {
            events.system_error("re-register a worker", &error);
        }
    }
    let held: HashMap<&str, JobStatus> = outcome
        .held
        .iter()
        .map(|h| (h.job_id.as_str(), h.status))
        .collect();
    let mut running_ids = Vec::with_capacity(running.len());
    for (job_id, control) in running {
        match held.get(job_id.as_str()) {
            // Cancelled or released elsewhere: stop the handler.
            None => control.cancel(),
            Some(JobStatus::Paused) => control.set_paused(true),
            Some(_) => control.set_paused(false),
        }
        running_ids.push(Value::String(job_id));
    }
    let mut data = Map::with_capacity(2);
    data.insert(
        keys::RUNNING_JOBS.to_owned(),
        Value::from(running_ids.len()),
    );
    data.insert(keys::RUNNING_JOB_IDS.to_owned(), Value::Array(running_ids));
    events.worker(EventType::WorkerHeartbeat, &worker.id, data);
}
