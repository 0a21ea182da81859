//! The events the engine emits, built in one place so that every emitter of a type sends the
//! same data keys (ARCHITECTURE.md, "oa-events: the vocabulary").
//!
//! Two ways out:
//! - [`Events::committed`]: the events of a change the store committed. When the manager logs
//!   events, the same events were handed to the store with the change ([`JobUpdate::events`],
//!   [`ClaimRequest::log`](crate::store::ClaimRequest::log), ...) and written in its
//!   transaction; here they are only emitted to this process's emitter.
//! - [`Events::publish`]: an event that describes no stored change (progress, heartbeats,
//!   registrations, system errors, a due job): emitted here and, when logging, handed to the
//!   [`Appender`] that appends it to the log in batches.
//!
//! [`JobUpdate::events`]: crate::store::JobUpdate::events

use std::sync::Arc;

use chrono::{DateTime, Utc};
use oa_events::{Event, EventEmitter, EventType, keys};
use serde_json::{Map, Value};

use super::log::Appender;
use crate::clock::SharedClock;
use crate::job::Job;
use crate::store::{JobUpdate, LogEvents};

/// Builds and delivers engine events, with timestamps from the engine's clock.
#[derive(Debug, Clone)]
pub(crate) struct Events {
    pub(crate) emitter: EventEmitter,
    pub(crate) clock: SharedClock,
    /// Set when the manager writes its events to the store's log.
    pub(crate) log: Option<Arc<Appender>>,
}

impl Events {
    /// Whether events are written to the store's log.
    pub(crate) const fn logging(&self) -> bool {
        self.log.is_some()
    }

    /// Hands `events` to the store with `update` when logging (it writes them in the change's
    /// transaction); otherwise keeps them aside, returned. Once the change is committed, emit
    /// the update's events followed by the ones kept aside (one of the two is empty): no
    /// event is copied either way.
    pub(crate) fn attach(&self, update: JobUpdate, events: Vec<Event>) -> (JobUpdate, Vec<Event>) {
        if self.logging() {
            (update.with_events(events), Vec::new())
        } else {
            (update, events)
        }
    }

    /// Emits the events of a committed change (already in the log when logging).
    pub(crate) fn committed(&self, events: impl IntoIterator<Item = Event>) {
        for event in events {
            self.emitter.emit(event);
        }
    }

    /// Emits an event that describes no stored change, and appends it to the log when
    /// logging.
    pub(crate) fn publish(&self, event: Event) {
        if let Some(log) = &self.log {
            log.append(event.clone());
        }
        self.emitter.emit(event);
    }

    /// A job event carrying the job's data keys plus `extra`.
    pub(crate) fn job_event(
        &self,
        event_type: EventType,
        job: &Job,
        extra: Map<String, Value>,
    ) -> Event {
        Event::from_job_at(event_type, job, extra, self.clock.now())
    }

    /// Publishes a job event that describes no stored change (progress, a due job).
    pub(crate) fn job(&self, event_type: EventType, job: &Job, extra: Map<String, Value>) {
        self.publish(self.job_event(event_type, job, extra));
    }

    /// `job.retrying`: the attempt failed or its worker was lost, and the job goes back to the
    /// queue at `next_run_at`.
    pub(crate) fn retrying_event(
        &self,
        job: &Job,
        worker_id: Option<&str>,
        next_run_at: DateTime<Utc>,
        reason: &str,
    ) -> Event {
        let mut extra = Map::with_capacity(2);
        extra.insert(
            keys::NEXT_RUN_AT.to_owned(),
            Value::String(next_run_at.to_rfc3339()),
        );
        extra.insert(keys::REASON.to_owned(), Value::String(reason.to_owned()));
        let mut event = Event::from_job_at(EventType::JobRetrying, job, extra, self.clock.now());
        if let Some(worker_id) = worker_id {
            event = event.with_worker_id(worker_id);
        }
        event
    }

    /// A job event naming the worker the job's last attempt ran on (`job.completed`,
    /// `job.failed`, `job.cancelled`: the stored job no longer names it).
    pub(crate) fn job_event_of_worker(
        &self,
        event_type: EventType,
        job: &Job,
        worker_id: Option<&str>,
    ) -> Event {
        let mut event = Event::from_job_at(event_type, job, Map::new(), self.clock.now());
        if let Some(worker_id) = worker_id {
            event = event.with_worker_id(worker_id);
        }
        event
    }

    /// `worker.claimed_job` then `job.started`, for a job a worker just claimed.
    pub(crate) fn claimed_events(&self, worker_id: &str, job: &Job) -> [Event; 2] {
        // One moment for both: they describe the same claim.
        let now = self.clock.now();
        let claimed = Event::new_at(EventType::WorkerClaimedJob, now)
            .with_worker_id(worker_id)
            .with_job_id(job.id.clone())
            .with_data(keys::NAME, job.name.clone())
            .with_data(keys::PRIORITY, job.priority.as_str())
            .with_data(keys::ATTEMPT, job.attempt);
        [
            claimed,
            Event::from_job_at(EventType::JobStarted, job, Map::new(), now),
        ]
    }

    /// What a store logs with a claim by `worker_id` (when logging).
    pub(crate) fn claim_log(&self, worker_id: &str) -> Option<LogEvents> {
        self.logging().then(|| {
            let events = self.clone();
            let worker_id = worker_id.to_owned();
            LogEvents::claim(move |jobs| {
                jobs.iter()
                    .flat_map(|job| events.claimed_events(&worker_id, job))
                    .collect()
            })
        })
    }

    /// Any worker event with its data.
    pub(crate) fn worker_event(
        &self,
        event_type: EventType,
        worker_id: &str,
        data: Map<String, Value>,
    ) -> Event {
        Event::new_at(event_type, self.clock.now())
            .with_worker_id(worker_id)
            .with_data_map(data)
    }

    /// Publishes a worker event that describes no stored change (registration, heartbeat).
    pub(crate) fn worker(&self, event_type: EventType, worker_id: &str, data: Map<String, Value>) {
        self.publish(self.worker_event(event_type, worker_id, data));
    }

    /// `system.error` with a message and the operation that failed.
    pub(crate) fn system_error(&self, operation: &str, error: &crate::Error) {
        let event = Event::new_at(EventType::SystemError, self.clock.now())
            .with_data(keys::MESSAGE, format!("{operation}: {error}"))
            .with_data("code", error.code());
        self.publish(event);
    }

    /// The events for jobs a lost or stopping worker released ([`Job::release_lost`]):
    /// `job.retrying` (`reason`) then `job.queued` for re-queued jobs, `job.failed` for jobs
    /// without retries left; nothing for paused jobs, which stay paused.
    pub(crate) fn released_events(
        &self,
        jobs: &[Job],
        worker_id: Option<&str>,
        reason: &str,
    ) -> Vec<Event> {
        let mut events = Vec::with_capacity(jobs.len() * 2);
        for job in jobs {
            match job.status {
                crate::JobStatus::Queued => {
                    let at = job.queued_at.unwrap_or(job.updated_at);
                    events.push(self.retrying_event(job, worker_id, at, reason));
                    events.push(self.job_event(EventType::JobQueued, job, Map::new()));
                }
                crate::JobStatus::Failed => {
                    events.push(self.job_event_of_worker(EventType::JobFailed, job, worker_id));
                }
                _ => {}
            }
        }
        events
    }

    /// The events of a worker that went offline (`reason`) after its jobs were released: those
    /// of the released jobs (`job.retrying` with `retry_reason`, `job.queued`, or
    /// `job.failed`), then `worker.offline` with the ids of the re-queued jobs.
    pub(crate) fn offline_events(
        &self,
        worker_id: &str,
        reason: &str,
        retry_reason: &str,
        jobs: &[Job],
    ) -> Vec<Event> {
        let mut events = self.released_events(jobs, Some(worker_id), retry_reason);
        let requeued = jobs
            .iter()
            .filter(|job| job.status == crate::JobStatus::Queued)
            .map(|job| Value::String(job.id.clone()))
            .collect();
        let mut data = Map::with_capacity(2);
        data.insert(keys::REASON.to_owned(), Value::String(reason.to_owned()));
        data.insert(keys::REQUEUED_JOB_IDS.to_owned(), Value::Array(requeued));
        events.push(self.worker_event(EventType::WorkerOffline, worker_id, data));
        events
    }

    /// What a store logs when it declares `worker_id` offline (when logging).
    pub(crate) fn offline_log(
        &self,
        worker_id: &str,
        reason: &str,
        retry_reason: &str,
    ) -> Option<LogEvents> {
        self.logging().then(|| {
            let events = self.clone();
            let (worker_id, reason, retry_reason) = (
                worker_id.to_owned(),
                reason.to_owned(),
                retry_reason.to_owned(),
            );
            LogEvents::new(move |jobs| {
                events.offline_events(&worker_id, &reason, &retry_reason, jobs)
            })
        })
    }

    /// What a store logs when it releases jobs whose lease expired (when logging).
    pub(crate) fn expired_log(&self, reason: &str) -> Option<LogEvents> {
        self.logging().then(|| {
            let events = self.clone();
            let reason = reason.to_owned();
            LogEvents::new(move |jobs| events.released_events(jobs, None, &reason))
        })
    }
}
