//! The events the engine emits, built in one place so that every emitter of a type sends the
//! same data keys (ARCHITECTURE.md, "oa-events: the vocabulary").

use chrono::{DateTime, Utc};
use oa_events::{Event, EventEmitter, EventType, keys};
use serde_json::{Map, Value};

use crate::clock::SharedClock;
use crate::job::Job;

/// Emits engine events with timestamps from the engine's clock.
#[derive(Debug, Clone)]
pub(crate) struct Events {
    pub(crate) emitter: EventEmitter,
    pub(crate) clock: SharedClock,
}

impl Events {
    fn stamp(&self, event: Event) -> Event {
        event.with_timestamp(self.clock.now())
    }

    /// A job event carrying the job's data keys plus `extra`.
    pub(crate) fn job(&self, event_type: EventType, job: &Job, extra: Map<String, Value>) {
        self.emitter
            .emit(self.stamp(Event::from_job(event_type, job, extra)));
    }

    /// `job.retrying`: the attempt failed or its worker was lost, and the job goes back to the
    /// queue at `next_run_at`.
    pub(crate) fn retrying(
        &self,
        job: &Job,
        worker_id: Option<&str>,
        next_run_at: DateTime<Utc>,
        reason: &str,
    ) {
        let mut extra = Map::with_capacity(2);
        extra.insert(
            keys::NEXT_RUN_AT.to_owned(),
            Value::String(next_run_at.to_rfc3339()),
        );
        extra.insert(keys::REASON.to_owned(), Value::String(reason.to_owned()));
        let mut event = Event::from_job(EventType::JobRetrying, job, extra);
        if let Some(worker_id) = worker_id {
            event = event.with_worker_id(worker_id);
        }
        self.emitter.emit(self.stamp(event));
    }

    /// `job.failed` for a job whose last attempt ran on `worker_id`.
    pub(crate) fn failed(&self, job: &Job, worker_id: Option<&str>) {
        let mut event = Event::from_job(EventType::JobFailed, job, Map::new());
        if let Some(worker_id) = worker_id {
            event = event.with_worker_id(worker_id);
        }
        self.emitter.emit(self.stamp(event));
    }

    /// `worker.claimed_job` then `job.started`, for a job a worker just claimed.
    pub(crate) fn claimed(&self, worker_id: &str, job: &Job) {
        let claimed = Event::for_worker(EventType::WorkerClaimedJob, worker_id)
            .with_job_id(job.id.clone())
            .with_data(keys::NAME, job.name.clone())
            .with_data(keys::PRIORITY, job.priority.as_str())
            .with_data(keys::ATTEMPT, job.attempt);
        self.emitter.emit(self.stamp(claimed));
        self.job(EventType::JobStarted, job, Map::new());
    }

    /// Any worker event with its data.
    pub(crate) fn worker(&self, event_type: EventType, worker_id: &str, data: Map<String, Value>) {
        let event = Event::for_worker(event_type, worker_id).with_data_map(data);
        self.emitter.emit(self.stamp(event));
    }

    /// `system.error` with a message and the operation that failed.
    pub(crate) fn system_error(&self, operation: &str, error: &crate::Error) {
        let event = Event::new(EventType::SystemError)
            .with_data(keys::MESSAGE, format!("{operation}: {error}"))
            .with_data("code", error.code());
        self.emitter.emit(self.stamp(event));
    }

    /// The events for jobs a lost or stopping worker released ([`Job::release_lost`]):
    /// `job.retrying` (`reason`) then `job.queued` for re-queued jobs, `job.failed` for jobs
    /// without retries left; nothing for paused jobs, which stay paused.
    pub(crate) fn released(&self, jobs: &[Job], worker_id: Option<&str>, reason: &str) {
        for job in jobs {
            match job.status {
                crate::JobStatus::Queued => {
                    let at = job.queued_at.unwrap_or(job.updated_at);
                    self.retrying(job, worker_id, at, reason);
                    self.job(EventType::JobQueued, job, Map::new());
                }
                crate::JobStatus::Failed => self.failed(job, worker_id),
                _ => {}
            }
        }
    }
}
