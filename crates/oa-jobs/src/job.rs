//! The job record and the failure a handler reports.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use oa_events::{JobEventSource, keys};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;
use crate::status::{JobStatus, Priority};

/// Why an attempt failed: what a handler returns as its error, and what a job records.
///
/// Serialized as `{"kind": "...", "message": "..."}`. `kind` is a short machine-readable
/// category (`timeout`, `panic`, `worker_lost`, or the handler's own, e.g. `http_502`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    /// A short machine-readable category.
    pub kind: String,
    /// A human-readable explanation.
    pub message: String,
    /// Whether a retry may help; a handler returns [`JobError::fatal`] to fail for good at
    /// once. Not stored.
    #[serde(skip, default = "retryable_default")]
    pub retryable: bool,
}

const fn retryable_default() -> bool {
    true
}

impl JobError {
    /// An error of `kind` that may be retried (if the job has retries left).
    #[must_use]
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
            retryable: true,
        }
    }

    /// An error that fails the job for good, whatever retries it has left.
    #[must_use]
    pub fn fatal(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
            retryable: false,
        }
    }

    /// A retryable error of kind `error` carrying any error's message.
    #[must_use]
    pub fn from_error(error: &(dyn std::error::Error + '_)) -> Self {
        Self::new("error", error.to_string())
    }

    /// The error as the JSON object events carry.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut map = Map::with_capacity(2);
        map.insert("kind".to_owned(), Value::String(self.kind.clone()));
        map.insert("message".to_owned(), Value::String(self.message.clone()));
        Value::Object(map)
    }
}

impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for JobError {}

/// A job: a named unit of work with its payload, its state and its history.
///
/// Invariants kept by the engine: `id` is a UUID v7 string (time-ordered); `progress` is in
/// `[0, 1]`; `attempt` counts the attempts started so far (0 before the first); `worker_id` and
/// `lease_expires_at` are set exactly while a worker holds the job (running, or paused while
/// running); `finished_at` is set exactly when the status is final.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Job {
    /// The id (UUID v7 string).
    pub id: String,
    /// The job's name; it selects the handler a worker runs.
    pub name: String,
    /// A free human-readable description.
    pub description: Option<String>,
    /// The input given to the handler.
    pub payload: Value,
    /// Where the job is in its life.
    pub status: JobStatus,
    /// Claims take higher priorities first.
    pub priority: Priority,
    /// Free labels (filters, per-tag metrics).
    pub tags: Vec<String>,
    /// Free key-value data that the engine keeps but never reads.
    pub metadata: Map<String, Value>,
    /// How many retries after the first attempt (so at most `max_retries + 1` attempts).
    pub max_retries: u32,
    /// The delay before each retry.
    pub retry_policy: RetryPolicy,
    /// The longest an attempt may run (paused time excluded); none means no limit.
    #[serde(rename = "timeout_ms", with = "crate::serde_ms::option")]
    pub timeout: Option<Duration>,
    /// The handler's last reported progress, in `[0, 1]`.
    pub progress: f64,
    /// Attempts started so far (1-based once started).
    pub attempt: u32,
    /// The handler's result, once completed.
    pub result: Option<Value>,
    /// The last attempt's error (kept while retrying, final when failed).
    pub error: Option<JobError>,
    /// The worker holding the job.
    pub worker_id: Option<String>,
    /// When the job was created.
    pub created_at: DateTime<Utc>,
    /// When the job entered (or will enter) the queue: claims skip a job whose `queued_at` is
    /// in the future (scheduled jobs and retries waiting for their delay).
    pub queued_at: Option<DateTime<Utc>>,
    /// When the current (or last) attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When the job reached a final status.
    pub finished_at: Option<DateTime<Utc>>,
    /// When the record last changed.
    pub updated_at: DateTime<Utc>,
    /// Until when the worker's hold is valid; heartbeats extend it, and a job whose lease
    /// expired goes back to the queue.
    pub lease_expires_at: Option<DateTime<Utc>>,
}

impl Job {
    /// A new job in status `created` at `now`, with a fresh UUID v7 id and the defaults:
    /// medium priority, 3 retries with the default [`RetryPolicy`], no timeout.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `name` is empty or longer than 200 bytes.
    pub fn new(name: impl Into<String>, payload: Value, now: DateTime<Utc>) -> Result<Self> {
        let name = name.into();
        validate_name(&name)?;
        Ok(Self {
            id: uuid::Uuid::now_v7().to_string(),
            name,
            description: None,
            payload,
            status: JobStatus::Created,
            priority: Priority::Medium,
            tags: Vec::new(),
            metadata: Map::new(),
            max_retries: 3,
            retry_policy: RetryPolicy::default(),
            timeout: None,
            progress: 0.0,
            attempt: 0,
            result: None,
            error: None,
            worker_id: None,
            created_at: now,
            queued_at: None,
            started_at: None,
            finished_at: None,
            updated_at: now,
            lease_expires_at: None,
        })
    }

    /// Moves the job to `to` at `now`, checking the state machine; on error nothing changed.
    ///
    /// # Errors
    /// [`Error::InvalidTransition`] when [`JobStatus::can_transition_to`] forbids it.
    pub fn transition(&mut self, to: JobStatus, now: DateTime<Utc>) -> Result<()> {
        if !self.status.can_transition_to(to) {
            return Err(Error::InvalidTransition {
                job_id: self.id.clone(),
                from: self.status,
                to,
            });
        }
        self.status = to;
        self.updated_at = now;
        if to.is_final() {
            self.finished_at = Some(now);
            self.worker_id = None;
            self.lease_expires_at = None;
        }
        Ok(())
    }

    /// Queues the job (from `created`, or from `paused` before it ran), claimable from `at`.
    ///
    /// # Errors
    /// [`Error::InvalidTransition`] from any other status, or from `paused` while a worker
    /// holds the job.
    pub fn enqueue(&mut self, now: DateTime<Utc>, at: DateTime<Utc>) -> Result<()> {
        if self.status == JobStatus::Paused && self.worker_id.is_some() {
            return Err(self.invalid(JobStatus::Queued));
        }
        if self.status == JobStatus::Running {
            return Err(self.invalid(JobStatus::Queued));
        }
        self.transition(JobStatus::Queued, now)?;
        self.queued_at = Some(at);
        Ok(())
    }

    /// A worker claims the queued job: a new attempt starts at `now`.
    ///
    /// # Errors
    /// [`Error::InvalidTransition`] unless the job is queued.
    pub fn start(
        &mut self,
        worker_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<()> {
        if self.status != JobStatus::Queued {
            return Err(self.invalid(JobStatus::Running));
        }
        self.transition(JobStatus::Running, now)?;
        self.attempt = self.attempt.saturating_add(1);
        self.started_at = Some(now);
        self.progress = 0.0;
        self.worker_id = Some(worker_id.to_owned());
        self.lease_expires_at = Some(lease_until);
        Ok(())
    }

    /// The handler returned `result`.
    ///
    /// # Errors
    /// [`Error::InvalidTransition`] unless the job is running.
    pub fn complete(&mut self, result: Value, now: DateTime<Utc>) -> Result<()> {
        self.require(JobStatus::Running, JobStatus::Completed)?;
        self.transition(JobStatus::Completed, now)?;
        self.result = Some(result);
        self.error = None;
        self.progress = 1.0;
        Ok(())
    }

    /// The attempt failed: returns the time of the next attempt when the job goes back to the
    /// queue (a retryable error and retries left), or `None` when it failed for good.
    ///
    /// # Errors
    /// [`Error::InvalidTransition`] unless the job is running.
    pub fn fail_attempt(
        &mut self,
        error: JobError,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        self.require(JobStatus::Running, JobStatus::Failed)?;
        if error.retryable && self.retries_left() > 0 {
            let delay = self.retry_policy.delay(self.attempt.max(1));
            let at = now + crate::clock::delta(delay);
            self.transition(JobStatus::Queued, now)?;
            self.queued_at = Some(at);
            self.worker_id = None;
            self.lease_expires_at = None;
            self.error = Some(error);
            Ok(Some(at))
        } else {
            self.transition(JobStatus::Failed, now)?;
            self.error = Some(error);
            Ok(None)
        }
    }

    /// Pauses a queued job (it will not be claimed) or a running one (its handler suspends at
    /// its next checkpoint; the worker keeps holding it).
    ///
    /// # Errors
    /// [`Error::InvalidTransition`] unless the job is queued or running.
    pub fn pause(&mut self, now: DateTime<Utc>) -> Result<()> {
        if !matches!(self.status, JobStatus::Queued | JobStatus::Running) {
            return Err(self.invalid(JobStatus::Paused));
        }
        self.transition(JobStatus::Paused, now)
    }

    /// Resumes a paused job: back to `running` when a worker holds it, otherwise back to the
    /// queue (claimable at once). Returns the new status.
    ///
    /// # Errors
    /// [`Error::InvalidTransition`] unless the job is paused.
    pub fn resume(&mut self, now: DateTime<Utc>) -> Result<JobStatus> {
        if self.status != JobStatus::Paused {
            return Err(self.invalid(if self.is_held() {
                JobStatus::Running
            } else {
                JobStatus::Queued
            }));
        }
        if self.is_held() {
            self.transition(JobStatus::Running, now)?;
        } else {
            self.transition(JobStatus::Queued, now)?;
            self.queued_at = Some(now);
        }
        Ok(self.status)
    }

    /// Cancels the job from any non-final status.
    ///
    /// # Errors
    /// [`Error::InvalidTransition`] when the job is already final.
    pub fn cancel(&mut self, now: DateTime<Utc>) -> Result<()> {
        self.transition(JobStatus::Cancelled, now)
    }

    /// The worker holding the job was lost (heartbeats stopped or lease expired). A running job
    /// goes back to the queue at once if it has retries left, and fails for good with kind
    /// `worker_lost` otherwise; a job paused while held stays paused and is released (resuming
    /// it queues it). Jobs not held are not touched.
    pub fn release_lost(&mut self, now: DateTime<Utc>) -> LostOutcome {
        if !self.is_held() {
            return LostOutcome::NotHeld;
        }
        let error = JobError::new(
            LOST_KIND,
            format!(
                "worker `{}` stopped sending heartbeats while running attempt {}",
                self.worker_id.as_deref().unwrap_or_default(),
                self.attempt
            ),
        );
        match self.status {
            JobStatus::Running if self.retries_left() > 0 => {
                self.status = JobStatus::Queued;
                self.queued_at = Some(now);
                self.worker_id = None;
                self.lease_expires_at = None;
                self.updated_at = now;
                self.error = Some(error);
                LostOutcome::Requeued
            }
            JobStatus::Running => {
                self.status = JobStatus::Failed;
                self.finished_at = Some(now);
                self.worker_id = None;
                self.lease_expires_at = None;
                self.updated_at = now;
                self.error = Some(error);
                LostOutcome::Failed
            }
            _ => {
                self.worker_id = None;
                self.lease_expires_at = None;
                self.updated_at = now;
                LostOutcome::Released
            }
        }
    }

    /// How many retries remain after the attempts already started.
    #[must_use]
    pub fn retries_left(&self) -> u32 {
        (self.max_retries.saturating_add(1)).saturating_sub(self.attempt)
    }

    /// Whether a worker holds the job (running, or paused while running).
    #[must_use]
    pub fn is_held(&self) -> bool {
        self.worker_id.is_some()
    }

    /// Sets the progress, clamped to `[0, 1]` (NaN counts as 0).
    pub fn set_progress(&mut self, progress: f64, now: DateTime<Utc>) {
        self.progress = if progress.is_nan() {
            0.0
        } else {
            progress.clamp(0.0, 1.0)
        };
        self.updated_at = now;
    }

    fn require(&self, from: JobStatus, to: JobStatus) -> Result<()> {
        if self.status == from {
            Ok(())
        } else {
            Err(self.invalid(to))
        }
    }

    fn invalid(&self, to: JobStatus) -> Error {
        Error::InvalidTransition {
            job_id: self.id.clone(),
            from: self.status,
            to,
        }
    }
}

/// The error kind of an attempt whose worker was lost.
pub const LOST_KIND: &str = "worker_lost";

/// What [`Job::release_lost`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostOutcome {
    /// The job was not held by a worker; nothing changed.
    NotHeld,
    /// Back in the queue, claimable at once (`job.retrying` with `reason=worker_lost`).
    Requeued,
    /// No retries left: failed for good (`job.failed`).
    Failed,
    /// Paused while held: released, still paused.
    Released,
}

/// Checks a job name: non-empty and at most 200 bytes.
pub(crate) fn validate_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 200 {
        return Err(Error::InvalidArgument {
            field: "name",
            message: format!("must be 1 to 200 bytes long, got {} bytes", name.len()),
        });
    }
    Ok(())
}

fn timestamp(value: Option<DateTime<Utc>>) -> Value {
    value.map_or(Value::Null, |t| Value::String(rfc3339_micros(t)))
}

/// RFC 3339 in UTC with microseconds (`2026-11-28T15:17:32.123456Z`), written by hand: job
/// events carry four timestamps each, and `chrono`'s general formatter costs several times
/// more. Years outside 0..=9999 fall back to `chrono`.
#[must_use]
pub(crate) fn rfc3339_micros(t: DateTime<Utc>) -> String {
    use chrono::{Datelike as _, Timelike as _};
    // The fields of the UTC date and time (each accessor of `DateTime<Utc>` would add the
    // zero offset again).
    let t = t.naive_utc();
    let year = t.year();
    if !(0..=9999).contains(&year) {
        return t
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    }
    let mut out = [0_u8; 27];
    let mut put = |at: usize, value: u32, width: usize| {
        let mut value = value;
        for i in (0..width).rev() {
            // `value % 10` is a single digit: the conversion cannot fail.
            out[at + i] = b'0' + u8::try_from(value % 10).unwrap_or(0);
            value /= 10;
        }
    };
    put(0, year.unsigned_abs(), 4);
    put(5, t.month(), 2);
    put(8, t.day(), 2);
    put(11, t.hour(), 2);
    put(14, t.minute(), 2);
    put(17, t.second(), 2);
    // Leap seconds are reported by chrono as nanosecond values >= 1e9: clamp into the second.
    put(20, (t.nanosecond() / 1000).min(999_999), 6);
    out[4] = b'-';
    out[7] = b'-';
    out[10] = b'T';
    out[13] = b':';
    out[16] = b':';
    out[19] = b'.';
    out[26] = b'Z';
    // Only ASCII digits and separators were written: always UTF-8.
    std::str::from_utf8(&out).map_or_else(
        |_| {
            t.and_utc()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        },
        str::to_owned,
    )
}

impl JobEventSource for Job {
    fn job_id(&self) -> &str {
        &self.id
    }

    fn worker_id(&self) -> Option<&str> {
        self.worker_id.as_deref()
    }

    /// The keys of ARCHITECTURE.md: `name`, `status`, `priority`, `tags`, `attempt`,
    /// `max_retries`, `progress`, the four timestamps, and `error` / `result` when set.
    fn event_data(&self) -> Map<String, Value> {
        // In key order: a map collected from sorted pairs is built in one pass, without the
        // comparisons and node splits of one insertion per key (events are built for every
        // transition, so this is the engine's hottest allocation site).
        let mut pairs: Vec<(String, Value)> = Vec::with_capacity(13);
        pairs.push((keys::ATTEMPT.to_owned(), Value::from(self.attempt)));
        pairs.push((
            keys::CREATED_AT.to_owned(),
            timestamp(Some(self.created_at)),
        ));
        if let Some(error) = &self.error {
            pairs.push((keys::ERROR.to_owned(), error.to_json()));
        }
        pairs.push((keys::FINISHED_AT.to_owned(), timestamp(self.finished_at)));
        pairs.push((keys::MAX_RETRIES.to_owned(), Value::from(self.max_retries)));
        pairs.push((keys::NAME.to_owned(), Value::String(self.name.clone())));
        pairs.push((
            keys::PRIORITY.to_owned(),
            Value::String(self.priority.as_str().to_owned()),
        ));
        pairs.push((keys::PROGRESS.to_owned(), Value::from(self.progress)));
        pairs.push((keys::QUEUED_AT.to_owned(), timestamp(self.queued_at)));
        if let Some(result) = &self.result {
            pairs.push((keys::RESULT.to_owned(), result.clone()));
        }
        pairs.push((keys::STARTED_AT.to_owned(), timestamp(self.started_at)));
        pairs.push((
            keys::STATUS.to_owned(),
            Value::String(self.status.as_str().to_owned()),
        ));
        pairs.push((
            keys::TAGS.to_owned(),
            Value::Array(self.tags.iter().cloned().map(Value::String).collect()),
        ));
        debug_assert!(pairs.windows(2).all(|pair| pair[0].0 < pair[1].0));
        pairs.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{SecondsFormat, TimeZone};

    use super::*;

    #[test]
    fn hand_written_timestamps_match_chrono() {
        let mut t = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap();
        for step in 0..5000_i64 {
            t += chrono::TimeDelta::microseconds(step * 7_919_000_003 + 17);
            assert_eq!(
                rfc3339_micros(t),
                t.to_rfc3339_opts(SecondsFormat::Micros, true)
            );
        }
        let far = Utc.with_ymd_and_hms(12_000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(
            rfc3339_micros(far),
            far.to_rfc3339_opts(SecondsFormat::Micros, true)
        );
    }

    #[test]
    fn event_data_carries_the_contract_keys() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        let mut job = Job::new("mail", Value::Null, now).unwrap();
        job.tags = vec!["a".to_owned()];
        job.enqueue(now, now).unwrap();
        let data = job.event_data();
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "attempt",
                "created_at",
                "finished_at",
                "max_retries",
                "name",
                "priority",
                "progress",
                "queued_at",
                "started_at",
                "status",
                "tags"
            ]
        );
        assert_eq!(data["status"], "queued");
        assert_eq!(data["queued_at"], "2026-11-28T12:00:00.000000Z");
        assert_eq!(data["started_at"], Value::Null);
        assert_eq!(data["tags"], serde_json::json!(["a"]));
    }
}
