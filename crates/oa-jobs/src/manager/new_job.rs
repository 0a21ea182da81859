//! What a caller gives to create a job.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::job::{Job, validate_name};
use crate::retry::RetryPolicy;
use crate::status::Priority;

/// The description of a job to create; every field but the name has a default.
///
/// ```
/// use std::time::Duration;
/// use oa_jobs::{NewJob, Priority};
///
/// let job = NewJob::new("send_email")
///     .payload(serde_json::json!({"to": "ada@example.com"}))
///     .priority(Priority::High)
///     .tag("email")
///     .max_retries(5)
///     .timeout(Duration::from_secs(30));
/// assert_eq!(job.name(), "send_email");
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct NewJob {
    name: String,
    description: Option<String>,
    payload: Value,
    priority: Priority,
    tags: Vec<String>,
    metadata: Map<String, Value>,
    max_retries: u32,
    retry_policy: RetryPolicy,
    timeout: Option<Duration>,
    run_at: Option<DateTime<Utc>>,
    enqueue: bool,
}

impl NewJob {
    /// A job named `name` (the handler a worker runs), with a `null` payload, medium priority,
    /// 3 retries with exponential backoff, no timeout, queued at once.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: None,
            payload: Value::Null,
            priority: Priority::Medium,
            tags: Vec::new(),
            metadata: Map::new(),
            max_retries: 3,
            retry_policy: RetryPolicy::default(),
            timeout: None,
            run_at: None,
            enqueue: true,
        }
    }

    /// The job's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The handler's input.
    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = payload;
        self
    }

    /// A human-readable description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The priority (claims take higher priorities first).
    pub const fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Adds tags.
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Sets one metadata entry (kept, never read by the engine).
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// How many retries after the first attempt.
    pub const fn max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// The delay before each retry.
    pub fn retry_policy(mut self, retry_policy: RetryPolicy) -> Self {
        self.retry_policy = retry_policy;
        self
    }

    /// The longest one attempt may run (paused time excluded).
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Not claimable before `run_at` (the job is queued, and `job.queued` is emitted when due).
    pub const fn run_at(mut self, run_at: DateTime<Utc>) -> Self {
        self.run_at = Some(run_at);
        self
    }

    /// Whether to queue the job at once (the default) or leave it `created` until
    /// [`JobManager::enqueue`](crate::JobManager::enqueue).
    pub const fn enqueue(mut self, enqueue: bool) -> Self {
        self.enqueue = enqueue;
        self
    }

    pub(crate) const fn wants_enqueue(&self) -> bool {
        self.enqueue
    }

    pub(crate) const fn scheduled_for(&self) -> Option<DateTime<Utc>> {
        self.run_at
    }

    /// Checks every field and builds the job record in status `created` at `now`.
    pub(crate) fn into_job(self, now: DateTime<Utc>) -> Result<Job> {
        validate_name(&self.name)?;
        self.retry_policy.validate()?;
        if self.tags.len() > 64 {
            return Err(Error::InvalidArgument {
                field: "tags",
                message: format!("at most 64 tags, got {}", self.tags.len()),
            });
        }
        if let Some(tag) = self.tags.iter().find(|t| t.is_empty() || t.len() > 100) {
            return Err(Error::InvalidArgument {
                field: "tags",
                message: format!("each tag must be 1 to 100 bytes long, got `{tag}`"),
            });
        }
        if self.timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::InvalidArgument {
                field: "timeout",
                message: "must be longer than zero".to_owned(),
            });
        }
        let mut job = Job::new(self.name, self.payload, now)?;
        job.description = self.description;
        job.priority = self.priority;
        job.tags = self.tags;
        job.metadata = self.metadata;
        job.max_retries = self.max_retries;
        job.retry_policy = self.retry_policy;
        job.timeout = self.timeout;
        Ok(job)
    }
}
