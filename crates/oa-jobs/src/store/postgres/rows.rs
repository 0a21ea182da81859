//! How a [`Job`] and a [`WorkerRecord`] map to PostgreSQL columns and back.
//!
//! Timestamps are BIGINT nanoseconds since the Unix epoch, so every `DateTime<Utc>` the engine
//! writes comes back equal and compares exactly in SQL (TIMESTAMPTZ keeps only microseconds).
//! JSON values are JSONB, sent as text that the statements cast. A row that cannot be read back
//! gives [`Error::CorruptRecord`], never a panic.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::types::Json;
use sqlx::{Decode, Postgres, Row, Type};

use crate::error::{Error, Result};
use crate::job::{Job, JobError};
use crate::retry::RetryPolicy;
use crate::status::{JobStatus, Priority};
use crate::store::types::{WorkerRecord, WorkerState};

/// The columns of a job, in the order [`EncodedJob::bind`] binds them and [`decode_job`] reads
/// them.
macro_rules! job_columns {
    () => {
        "id, name, description, payload, status, priority, tags, metadata, max_retries, \
         retry_policy, timeout_ns, progress, attempt, result, error, worker_id, created_at, \
         queued_at, started_at, finished_at, updated_at, lease_expires_at"
    };
}
pub(super) use job_columns;

/// The columns of a worker record, in the order [`bind_worker`] binds them.
macro_rules! worker_columns {
    () => {
        "id, host, pid, tags, job_names, max_concurrent_jobs, heartbeat_interval_ms, state, \
         registered_at, last_heartbeat_at, offline_at, offline_reason"
    };
}
pub(super) use worker_columns;

/// The query type every statement of the store is built as.
pub(super) type Query = sqlx::query::Query<'static, Postgres, PgArguments>;

/// A stored timestamp: nanoseconds since the Unix epoch.
///
/// # Errors
/// [`Error::InvalidArgument`] outside the years 1677 to 2262 (what 64 bits of nanoseconds hold).
pub(super) fn encode_time(field: &'static str, time: DateTime<Utc>) -> Result<i64> {
    time.timestamp_nanos_opt()
        .ok_or_else(|| Error::InvalidArgument {
            field,
            message: format!(
                "{time} cannot be stored by the PostgreSQL store (years 1677 to 2262 only)"
            ),
        })
}

/// [`encode_time`] of an optional timestamp.
fn encode_opt_time(field: &'static str, time: Option<DateTime<Utc>>) -> Result<Option<i64>> {
    time.map(|t| encode_time(field, t)).transpose()
}

/// A timestamp used only as a bound in a comparison, saturated to the storable range (every
/// stored value lies inside it, so comparisons keep their meaning).
pub(super) fn bound_time(time: DateTime<Utc>) -> i64 {
    time.timestamp_nanos_opt()
        .unwrap_or(if time.timestamp() < 0 {
            i64::MIN
        } else {
            i64::MAX
        })
}

/// A timestamp read back.
pub(super) const fn decode_time(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

/// `value` as JSON text.
pub(super) fn to_json<T: serde::Serialize + ?Sized>(
    field: &'static str,
    value: &T,
) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::InvalidArgument {
        field,
        message: format!("cannot be serialized as JSON: {e}"),
    })
}

/// The values of the columns an attempt's end changes (and the id), ready to bind: what
/// [`finish_attempts`](crate::JobStore::finish_attempts) writes, in the order of
/// [`OutcomeColumns::bind`].
#[derive(Debug)]
pub(super) struct EncodedOutcome {
    id: String,
    status: &'static str,
    progress: f64,
    attempt: i64,
    result: Option<String>,
    error: Option<String>,
    worker_id: Option<String>,
    queued_at: Option<i64>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    updated_at: i64,
    lease_expires_at: Option<i64>,
}

impl EncodedOutcome {
    /// Encodes the fields of `job` an attempt's end changes.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a timestamp outside the storable range or a result or
    /// error that cannot be serialized.
    pub(super) fn new(job: &Job) -> Result<Self> {
        Ok(Self {
            id: job.id.clone(),
            status: job.status.as_str(),
            progress: job.progress,
            attempt: i64::from(job.attempt),
            result: job
                .result
                .as_ref()
                .map(|r| to_json("result", r))
                .transpose()?,
            error: job
                .error
                .as_ref()
                .map(|e| to_json("error", e))
                .transpose()?,
            worker_id: job.worker_id.clone(),
            queued_at: encode_opt_time("queued_at", job.queued_at)?,
            started_at: encode_opt_time("started_at", job.started_at)?,
            finished_at: encode_opt_time("finished_at", job.finished_at)?,
            updated_at: encode_time("updated_at", job.updated_at)?,
            lease_expires_at: encode_opt_time("lease_expires_at", job.lease_expires_at)?,
        })
    }

    /// Binds the 12 values of [`FINISH_JOB`](super::sql::FINISH_JOB): the id, then the
    /// columns an attempt's end changes.
    pub(super) fn bind(self, query: Query) -> Query {
        query
            .bind(self.id)
            .bind(self.status)
            .bind(self.progress)
            .bind(self.attempt)
            .bind(self.result)
            .bind(self.error)
            .bind(self.worker_id)
            .bind(self.queued_at)
            .bind(self.started_at)
            .bind(self.finished_at)
            .bind(self.updated_at)
            .bind(self.lease_expires_at)
    }
}

/// Many [`EncodedOutcome`]s, column by column (one array per column, bound to `unnest(...)`),
/// each with the status its job must still have.
#[derive(Debug, Default)]
pub(super) struct OutcomeColumns {
    id: Vec<String>,
    status: Vec<&'static str>,
    progress: Vec<f64>,
    attempt: Vec<i64>,
    result: Vec<Option<String>>,
    error: Vec<Option<String>>,
    worker_id: Vec<Option<String>>,
    queued_at: Vec<Option<i64>>,
    started_at: Vec<Option<i64>>,
    finished_at: Vec<Option<i64>>,
    updated_at: Vec<i64>,
    lease_expires_at: Vec<Option<i64>>,
    expected: Vec<&'static str>,
}

impl OutcomeColumns {
    /// The columns of `outcomes` (each with the status its job must still have), in order.
    pub(super) fn of(outcomes: impl IntoIterator<Item = (EncodedOutcome, JobStatus)>) -> Self {
        let mut columns = Self::default();
        for (outcome, expected) in outcomes {
            columns.id.push(outcome.id);
            columns.status.push(outcome.status);
            columns.progress.push(outcome.progress);
            columns.attempt.push(outcome.attempt);
            columns.result.push(outcome.result);
            columns.error.push(outcome.error);
            columns.worker_id.push(outcome.worker_id);
            columns.queued_at.push(outcome.queued_at);
            columns.started_at.push(outcome.started_at);
            columns.finished_at.push(outcome.finished_at);
            columns.updated_at.push(outcome.updated_at);
            columns.lease_expires_at.push(outcome.lease_expires_at);
            columns.expected.push(expected.as_str());
        }
        columns
    }

    /// Binds the 13 arrays of [`FINISH_JOBS`](super::sql::FINISH_JOBS), in the order of
    /// [`EncodedOutcome::bind`], then the expected statuses.
    pub(super) fn bind(self, query: Query) -> Query {
        query
            .bind(self.id)
            .bind(self.status)
            .bind(self.progress)
            .bind(self.attempt)
            .bind(self.result)
            .bind(self.error)
            .bind(self.worker_id)
            .bind(self.queued_at)
            .bind(self.started_at)
            .bind(self.finished_at)
            .bind(self.updated_at)
            .bind(self.lease_expires_at)
            .bind(self.expected)
    }
}

/// The column values of a job, ready to bind (encoding can fail, binding cannot).
#[derive(Debug)]
pub(super) struct EncodedJob {
    name: String,
    description: Option<String>,
    payload: String,
    priority: i16,
    tags: String,
    metadata: String,
    max_retries: i64,
    retry_policy: String,
    timeout_ns: Option<i64>,
    created_at: i64,
    /// The id and the columns an attempt's end changes.
    outcome: EncodedOutcome,
}

impl EncodedJob {
    /// Encodes `job`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a value the store cannot hold exactly: a timestamp
    /// outside the storable range or a timeout beyond 292 years.
    pub(super) fn new(job: &Job) -> Result<Self> {
        let timeout_ns = job
            .timeout
            .map(|timeout| {
                i64::try_from(timeout.as_nanos()).map_err(|_| Error::InvalidArgument {
                    field: "timeout",
                    message: format!("{timeout:?} cannot be stored (at most 292 years)"),
                })
            })
            .transpose()?;
        Ok(Self {
            name: job.name.clone(),
            description: job.description.clone(),
            payload: to_json("payload", &job.payload)?,
            // A rank is 0 to 3.
            priority: i16::try_from(job.priority.rank()).unwrap_or(i16::MAX),
            tags: to_json("tags", &job.tags)?,
            metadata: to_json("metadata", &job.metadata)?,
            max_retries: i64::from(job.max_retries),
            retry_policy: to_json("retry_policy", &job.retry_policy)?,
            timeout_ns,
            created_at: encode_time("created_at", job.created_at)?,
            outcome: EncodedOutcome::new(job)?,
        })
    }

    /// The job's id.
    pub(super) fn id(&self) -> &str {
        &self.outcome.id
    }

    /// Binds the 22 values, in the order of [`job_columns!`].
    pub(super) fn bind(self, query: Query) -> Query {
        let o = self.outcome;
        query
            .bind(o.id)
            .bind(self.name)
            .bind(self.description)
            .bind(self.payload)
            .bind(o.status)
            .bind(self.priority)
            .bind(self.tags)
            .bind(self.metadata)
            .bind(self.max_retries)
            .bind(self.retry_policy)
            .bind(self.timeout_ns)
            .bind(o.progress)
            .bind(o.attempt)
            .bind(o.result)
            .bind(o.error)
            .bind(o.worker_id)
            .bind(self.created_at)
            .bind(o.queued_at)
            .bind(o.started_at)
            .bind(o.finished_at)
            .bind(o.updated_at)
            .bind(o.lease_expires_at)
    }
}

/// Many encoded jobs, column by column: one array per column, bound to `unnest(...)`, so that
/// one statement text serves every batch size.
#[derive(Debug, Default)]
pub(super) struct JobColumns {
    id: Vec<String>,
    name: Vec<String>,
    description: Vec<Option<String>>,
    payload: Vec<String>,
    status: Vec<&'static str>,
    priority: Vec<i16>,
    tags: Vec<String>,
    metadata: Vec<String>,
    max_retries: Vec<i64>,
    retry_policy: Vec<String>,
    timeout_ns: Vec<Option<i64>>,
    progress: Vec<f64>,
    attempt: Vec<i64>,
    result: Vec<Option<String>>,
    error: Vec<Option<String>>,
    worker_id: Vec<Option<String>>,
    created_at: Vec<i64>,
    queued_at: Vec<Option<i64>>,
    started_at: Vec<Option<i64>>,
    finished_at: Vec<Option<i64>>,
    updated_at: Vec<i64>,
    lease_expires_at: Vec<Option<i64>>,
    /// The expected stored statuses, for updates.
    expected: Vec<&'static str>,
}

impl JobColumns {
    /// Room for `capacity` jobs.
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Self {
            id: Vec::with_capacity(capacity),
            name: Vec::with_capacity(capacity),
            description: Vec::with_capacity(capacity),
            payload: Vec::with_capacity(capacity),
            status: Vec::with_capacity(capacity),
            priority: Vec::with_capacity(capacity),
            tags: Vec::with_capacity(capacity),
            metadata: Vec::with_capacity(capacity),
            max_retries: Vec::with_capacity(capacity),
            retry_policy: Vec::with_capacity(capacity),
            timeout_ns: Vec::with_capacity(capacity),
            progress: Vec::with_capacity(capacity),
            attempt: Vec::with_capacity(capacity),
            result: Vec::with_capacity(capacity),
            error: Vec::with_capacity(capacity),
            worker_id: Vec::with_capacity(capacity),
            created_at: Vec::with_capacity(capacity),
            queued_at: Vec::with_capacity(capacity),
            started_at: Vec::with_capacity(capacity),
            finished_at: Vec::with_capacity(capacity),
            updated_at: Vec::with_capacity(capacity),
            lease_expires_at: Vec::with_capacity(capacity),
            expected: Vec::new(),
        }
    }

    /// Whether there is no job.
    pub(super) fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// The columns of `jobs` (for an insert), in order.
    pub(super) fn of(jobs: impl IntoIterator<Item = EncodedJob>) -> Self {
        let jobs = jobs.into_iter();
        let mut columns = Self::with_capacity(jobs.size_hint().0);
        for job in jobs {
            columns.push(job);
        }
        columns
    }

    /// The columns of `updates` (each job with the status it must still have), in order.
    pub(super) fn of_updates(updates: impl IntoIterator<Item = (EncodedJob, JobStatus)>) -> Self {
        let updates = updates.into_iter();
        let mut columns = Self::with_capacity(updates.size_hint().0);
        for (job, expected) in updates {
            columns.push_update(job, expected);
        }
        columns
    }

    /// Adds a job (for an insert).
    pub(super) fn push(&mut self, job: EncodedJob) {
        let o = job.outcome;
        self.id.push(o.id);
        self.name.push(job.name);
        self.description.push(job.description);
        self.payload.push(job.payload);
        self.status.push(o.status);
        self.priority.push(job.priority);
        self.tags.push(job.tags);
        self.metadata.push(job.metadata);
        self.max_retries.push(job.max_retries);
        self.retry_policy.push(job.retry_policy);
        self.timeout_ns.push(job.timeout_ns);
        self.progress.push(o.progress);
        self.attempt.push(o.attempt);
        self.result.push(o.result);
        self.error.push(o.error);
        self.worker_id.push(o.worker_id);
        self.created_at.push(job.created_at);
        self.queued_at.push(o.queued_at);
        self.started_at.push(o.started_at);
        self.finished_at.push(o.finished_at);
        self.updated_at.push(o.updated_at);
        self.lease_expires_at.push(o.lease_expires_at);
    }

    /// Adds a job to write over the stored one if its status is still `expected` (an update).
    pub(super) fn push_update(&mut self, job: EncodedJob, expected: JobStatus) {
        self.push(job);
        self.expected.push(expected.as_str());
    }

    /// Binds the 22 arrays of an insert, in the order of [`job_columns!`].
    pub(super) fn bind(self, query: Query) -> Query {
        query
            .bind(self.id)
            .bind(self.name)
            .bind(self.description)
            .bind(self.payload)
            .bind(self.status)
            .bind(self.priority)
            .bind(self.tags)
            .bind(self.metadata)
            .bind(self.max_retries)
            .bind(self.retry_policy)
            .bind(self.timeout_ns)
            .bind(self.progress)
            .bind(self.attempt)
            .bind(self.result)
            .bind(self.error)
            .bind(self.worker_id)
            .bind(self.created_at)
            .bind(self.queued_at)
            .bind(self.started_at)
            .bind(self.finished_at)
            .bind(self.updated_at)
            .bind(self.lease_expires_at)
    }

    /// Binds the 23 arrays of an update: the job's, then the expected statuses.
    pub(super) fn bind_update(mut self, query: Query) -> Query {
        let expected = std::mem::take(&mut self.expected);
        self.bind(query).bind(expected)
    }
}

/// Reads the columns of one row, turning every failure into [`Error::CorruptRecord`].
struct Reader<'r> {
    row: &'r PgRow,
    id: String,
}

impl<'r> Reader<'r> {
    fn new(row: &'r PgRow) -> Result<Self> {
        let id = row
            .try_get::<String, _>(0)
            .map_err(|e| Error::CorruptRecord {
                id: "<unreadable id>".to_owned(),
                message: format!("column `id`: {e}"),
            })?;
        Ok(Self { row, id })
    }

    fn corrupt(&self, column: &str, message: impl std::fmt::Display) -> Error {
        Error::CorruptRecord {
            id: self.id.clone(),
            message: format!("column `{column}`: {message}"),
        }
    }

    fn get<T>(&self, index: usize, column: &str) -> Result<T>
    where
        T: Decode<'r, Postgres> + Type<Postgres>,
    {
        self.row
            .try_get::<T, _>(index)
            .map_err(|e| self.corrupt(column, e))
    }

    fn json<T: DeserializeOwned>(&self, index: usize, column: &str) -> Result<T> {
        self.get::<Json<T>>(index, column).map(|json| json.0)
    }

    fn opt_json<T: DeserializeOwned>(&self, index: usize, column: &str) -> Result<Option<T>> {
        Ok(self
            .get::<Option<Json<T>>>(index, column)?
            .map(|json| json.0))
    }

    fn u32(&self, index: usize, column: &str) -> Result<u32> {
        let value: i64 = self.get(index, column)?;
        u32::try_from(value).map_err(|e| self.corrupt(column, e))
    }

    fn time(&self, index: usize, column: &str) -> Result<DateTime<Utc>> {
        self.get(index, column).map(decode_time)
    }

    fn opt_time(&self, index: usize, column: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(self.get::<Option<i64>>(index, column)?.map(decode_time))
    }
}

/// The job status in column `index` of `row`, the row of job `id`.
pub(super) fn decode_status(row: &PgRow, id: &str, index: usize) -> Result<JobStatus> {
    let text: &str = row.try_get(index).map_err(|e| Error::CorruptRecord {
        id: id.to_owned(),
        message: format!("column `status`: {e}"),
    })?;
    text.parse().map_err(|_| Error::CorruptRecord {
        id: id.to_owned(),
        message: format!("column `status`: unknown status `{text}`"),
    })
}

/// A job read from a row selected with [`job_columns!`].
///
/// # Errors
/// [`Error::CorruptRecord`] when a column holds something a job cannot have.
pub(super) fn decode_job(row: &PgRow) -> Result<Job> {
    let r = Reader::new(row)?;
    let status = decode_status(row, &r.id, 4)?;
    let rank: i16 = r.get(5, "priority")?;
    let priority = Priority::from_rank(i64::from(rank))
        .ok_or_else(|| r.corrupt("priority", format!("unknown rank {rank}")))?;
    let timeout = r
        .get::<Option<i64>>(10, "timeout_ns")?
        .map(|ns| {
            u64::try_from(ns)
                .map(Duration::from_nanos)
                .map_err(|e| r.corrupt("timeout_ns", e))
        })
        .transpose()?;
    // A struct literal (rather than field assignments) makes the compiler point here when a
    // field is added to `Job`.
    Ok(Job {
        name: r.get(1, "name")?,
        description: r.get(2, "description")?,
        payload: r.json(3, "payload")?,
        status,
        priority,
        tags: r.json(6, "tags")?,
        metadata: r.json::<Map<String, Value>>(7, "metadata")?,
        max_retries: r.u32(8, "max_retries")?,
        retry_policy: r.json::<RetryPolicy>(9, "retry_policy")?,
        timeout,
        progress: r.get(11, "progress")?,
        attempt: r.u32(12, "attempt")?,
        result: r.opt_json(13, "result")?,
        error: r.opt_json::<JobError>(14, "error")?,
        worker_id: r.get(15, "worker_id")?,
        created_at: r.time(16, "created_at")?,
        queued_at: r.opt_time(17, "queued_at")?,
        started_at: r.opt_time(18, "started_at")?,
        finished_at: r.opt_time(19, "finished_at")?,
        updated_at: r.time(20, "updated_at")?,
        lease_expires_at: r.opt_time(21, "lease_expires_at")?,
        id: r.id,
    })
}

/// Binds the values of `record`, in the order of [`worker_columns!`].
///
/// # Errors
/// [`Error::InvalidArgument`] for a timestamp outside the storable range or a heartbeat
/// interval above `i64::MAX` milliseconds.
pub(super) fn bind_worker(query: Query, record: &WorkerRecord) -> Result<Query> {
    let interval =
        i64::try_from(record.heartbeat_interval_ms).map_err(|_| Error::InvalidArgument {
            field: "heartbeat_interval_ms",
            message: format!("{} is too large to store", record.heartbeat_interval_ms),
        })?;
    Ok(query
        .bind(record.id.clone())
        .bind(record.host.clone())
        .bind(i64::from(record.pid))
        .bind(to_json("tags", &record.tags)?)
        .bind(to_json("job_names", &record.job_names)?)
        .bind(i64::from(record.max_concurrent_jobs))
        .bind(interval)
        .bind(record.state.as_str())
        .bind(encode_time("registered_at", record.registered_at)?)
        .bind(encode_time("last_heartbeat_at", record.last_heartbeat_at)?)
        .bind(encode_opt_time("offline_at", record.offline_at)?)
        .bind(record.offline_reason.clone()))
}

/// The worker state stored as `text`.
fn decode_worker_state(text: &str) -> Option<WorkerState> {
    match text {
        "online" => Some(WorkerState::Online),
        "offline" => Some(WorkerState::Offline),
        _ => None,
    }
}

/// The worker state in column `index` of `row`, the row of worker `worker_id`.
pub(super) fn worker_state(row: &PgRow, worker_id: &str, index: usize) -> Result<WorkerState> {
    let text: &str = row.try_get(index).map_err(|e| Error::CorruptRecord {
        id: worker_id.to_owned(),
        message: format!("column `state`: {e}"),
    })?;
    decode_worker_state(text).ok_or_else(|| Error::CorruptRecord {
        id: worker_id.to_owned(),
        message: format!("column `state`: unknown state `{text}`"),
    })
}

/// A worker record read from a row selected with [`worker_columns!`].
///
/// # Errors
/// [`Error::CorruptRecord`] when a column holds something a record cannot have.
pub(super) fn decode_worker(row: &PgRow) -> Result<WorkerRecord> {
    let r = Reader::new(row)?;
    let state = worker_state(row, &r.id, 7)?;
    let interval: i64 = r.get(6, "heartbeat_interval_ms")?;
    Ok(WorkerRecord {
        host: r.get(1, "host")?,
        pid: r.u32(2, "pid")?,
        tags: r.json(3, "tags")?,
        job_names: r.json(4, "job_names")?,
        max_concurrent_jobs: r.u32(5, "max_concurrent_jobs")?,
        heartbeat_interval_ms: u64::try_from(interval)
            .map_err(|e| r.corrupt("heartbeat_interval_ms", e))?,
        state,
        registered_at: r.time(8, "registered_at")?,
        last_heartbeat_at: r.time(9, "last_heartbeat_at")?,
        offline_at: r.opt_time(10, "offline_at")?,
        offline_reason: r.get(11, "offline_reason")?,
        id: r.id,
    })
}
