//! How a [`Job`] and a [`WorkerRecord`] map to SQLite columns and back.
//!
//! Timestamps are INTEGER nanoseconds since the Unix epoch, so every `DateTime<Utc>` the engine
//! writes comes back equal and compares exactly in SQL. JSON values are TEXT written by
//! serde_json. A row that cannot be read back gives [`Error::CorruptRecord`], never a panic.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Row, Sqlite};

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

/// How many values [`EncodedJob::bind`] binds.
pub(super) const JOB_COLUMN_COUNT: usize = 22;

/// The column names of a job, in binding order (used to generate batched statements).
pub(super) const JOB_COLUMN_NAMES: [&str; JOB_COLUMN_COUNT] = [
    "id",
    "name",
    "description",
    "payload",
    "status",
    "priority",
    "tags",
    "metadata",
    "max_retries",
    "retry_policy",
    "timeout_ns",
    "progress",
    "attempt",
    "result",
    "error",
    "worker_id",
    "created_at",
    "queued_at",
    "started_at",
    "finished_at",
    "updated_at",
    "lease_expires_at",
];

/// The columns of a worker record, in the order [`bind_worker`] binds them.
macro_rules! worker_columns {
    () => {
        "id, host, pid, tags, job_names, max_concurrent_jobs, heartbeat_interval_ms, state, \
         registered_at, last_heartbeat_at, offline_at, offline_reason"
    };
}
pub(super) use worker_columns;

/// The query type every statement of the store is built as.
pub(super) type Query = sqlx::query::Query<'static, Sqlite, SqliteArguments>;

/// A stored timestamp: nanoseconds since the Unix epoch.
///
/// # Errors
/// [`Error::InvalidArgument`] outside the years 1677 to 2262 (what 64 bits of nanoseconds hold).
pub(super) fn encode_time(field: &'static str, time: DateTime<Utc>) -> Result<i64> {
    time.timestamp_nanos_opt()
        .ok_or_else(|| Error::InvalidArgument {
            field,
            message: format!(
                "{time} cannot be stored by the SQLite store (years 1677 to 2262 only)"
            ),
        })
}

/// [`encode_time`] of an optional timestamp.
pub(super) fn encode_opt_time(
    field: &'static str,
    time: Option<DateTime<Utc>>,
) -> Result<Option<i64>> {
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

fn to_json<T: serde::Serialize>(field: &'static str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::InvalidArgument {
        field,
        message: format!("cannot be serialized as JSON: {e}"),
    })
}

/// The column values of a job, ready to bind (encoding can fail, binding cannot): those an
/// attempt's end changes ([`EncodedOutcome`]) and the others.
#[derive(Debug)]
pub(super) struct EncodedJob {
    outcome: EncodedOutcome,
    name: String,
    description: Option<String>,
    payload: String,
    priority: i64,
    tags: String,
    metadata: String,
    max_retries: i64,
    retry_policy: String,
    timeout_ns: Option<i64>,
    created_at: i64,
}

impl EncodedJob {
    /// Encodes `job`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a value SQLite cannot hold exactly: a timestamp outside
    /// the storable range, a timeout beyond 292 years, or a NaN progress.
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
            outcome: EncodedOutcome::new(job)?,
            name: job.name.clone(),
            description: job.description.clone(),
            payload: to_json("payload", &job.payload)?,
            priority: job.priority.rank(),
            tags: to_json("tags", &job.tags)?,
            metadata: to_json("metadata", &job.metadata)?,
            max_retries: i64::from(job.max_retries),
            retry_policy: to_json("retry_policy", &job.retry_policy)?,
            timeout_ns,
            created_at: encode_time("created_at", job.created_at)?,
        })
    }

    /// Binds the [`JOB_COLUMN_COUNT`] values, in the order of [`job_columns!`].
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

    /// The job's status.
    pub(super) const fn status(&self) -> JobStatus {
        self.outcome.status()
    }

    /// The [`JOB_COLUMN_COUNT`] values for a rusqlite statement, in the order of
    /// [`job_columns!`] (as [`bind`](Self::bind) binds them for sqlx).
    pub(super) fn values(&self) -> [&dyn rusqlite::ToSql; JOB_COLUMN_COUNT] {
        let o = &self.outcome;
        [
            &o.id,
            &self.name,
            &self.description,
            &self.payload,
            &o.status,
            &self.priority,
            &self.tags,
            &self.metadata,
            &self.max_retries,
            &self.retry_policy,
            &self.timeout_ns,
            &o.progress,
            &o.attempt,
            &o.result,
            &o.error,
            &o.worker_id,
            &self.created_at,
            &o.queued_at,
            &o.started_at,
            &o.finished_at,
            &o.updated_at,
            &o.lease_expires_at,
        ]
    }
}

/// The columns an attempt's end changes ([`JobStore::finish_attempts`]), in the order
/// [`EncodedOutcome::values`] gives them, the id first.
///
/// [`JobStore::finish_attempts`]: crate::JobStore::finish_attempts
pub(super) const OUTCOME_COLUMN_NAMES: [&str; 12] = [
    "id",
    "status",
    "progress",
    "attempt",
    "result",
    "error",
    "worker_id",
    "queued_at",
    "started_at",
    "finished_at",
    "updated_at",
    "lease_expires_at",
];

/// The values of [`OUTCOME_COLUMN_NAMES`] for one job, ready to bind.
#[derive(Debug)]
pub(super) struct EncodedOutcome {
    id: String,
    status: &'static str,
    job_status: JobStatus,
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
    /// As [`EncodedJob::new`] for these fields.
    pub(super) fn new(job: &Job) -> Result<Self> {
        if job.progress.is_nan() {
            // SQLite stores NaN as NULL, which would not read back.
            return Err(Error::InvalidArgument {
                field: "progress",
                message: "NaN cannot be stored".to_owned(),
            });
        }
        Ok(Self {
            id: job.id.clone(),
            status: job.status.as_str(),
            job_status: job.status,
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

    /// The job's new status.
    pub(super) const fn status(&self) -> JobStatus {
        self.job_status
    }

    /// The values, in the order of [`OUTCOME_COLUMN_NAMES`].
    pub(super) fn values(&self) -> [&dyn rusqlite::ToSql; 12] {
        [
            &self.id,
            &self.status,
            &self.progress,
            &self.attempt,
            &self.result,
            &self.error,
            &self.worker_id,
            &self.queued_at,
            &self.started_at,
            &self.finished_at,
            &self.updated_at,
            &self.lease_expires_at,
        ]
    }
}

/// Typed access to the columns of one row, for the two kinds of rows the store reads: sqlx's
/// (every read) and rusqlite's (the writes made on the calling task, see `inline`). `None` is
/// SQL NULL; an error is a value of another type.
pub(super) trait Columns {
    fn text(&self, index: usize) -> std::result::Result<Option<&str>, String>;
    fn integer(&self, index: usize) -> std::result::Result<Option<i64>, String>;
    fn real(&self, index: usize) -> std::result::Result<Option<f64>, String>;
}

impl Columns for SqliteRow {
    fn text(&self, index: usize) -> std::result::Result<Option<&str>, String> {
        self.try_get::<Option<&str>, _>(index)
            .map_err(|e| e.to_string())
    }

    fn integer(&self, index: usize) -> std::result::Result<Option<i64>, String> {
        self.try_get::<Option<i64>, _>(index)
            .map_err(|e| e.to_string())
    }

    fn real(&self, index: usize) -> std::result::Result<Option<f64>, String> {
        self.try_get::<Option<f64>, _>(index)
            .map_err(|e| e.to_string())
    }
}

fn unreadable_id(message: &str) -> Error {
    Error::CorruptRecord {
        id: "<unreadable id>".to_owned(),
        message: format!("column `id`: {message}"),
    }
}

/// Reads the columns of one row, turning every failure into [`Error::CorruptRecord`].
struct Reader<'r, R: Columns + ?Sized> {
    row: &'r R,
    id: String,
}

impl<'r, R: Columns + ?Sized> Reader<'r, R> {
    fn new(row: &'r R) -> Result<Self> {
        let id = match row.text(0) {
            Ok(Some(id)) => id.to_owned(),
            Ok(None) => return Err(unreadable_id("unexpected NULL")),
            Err(e) => return Err(unreadable_id(&e)),
        };
        Ok(Self { row, id })
    }

    fn corrupt(&self, column: &str, message: impl std::fmt::Display) -> Error {
        Error::CorruptRecord {
            id: self.id.clone(),
            message: format!("column `{column}`: {message}"),
        }
    }

    fn required<T>(&self, value: Option<T>, column: &str) -> Result<T> {
        value.ok_or_else(|| self.corrupt(column, "unexpected NULL"))
    }

    fn opt_str(&self, index: usize, column: &str) -> Result<Option<&'r str>> {
        self.row.text(index).map_err(|e| self.corrupt(column, e))
    }

    fn str(&self, index: usize, column: &str) -> Result<&'r str> {
        self.required(self.opt_str(index, column)?, column)
    }

    fn string(&self, index: usize, column: &str) -> Result<String> {
        self.str(index, column).map(str::to_owned)
    }

    fn opt_string(&self, index: usize, column: &str) -> Result<Option<String>> {
        Ok(self.opt_str(index, column)?.map(str::to_owned))
    }

    fn opt_i64(&self, index: usize, column: &str) -> Result<Option<i64>> {
        self.row.integer(index).map_err(|e| self.corrupt(column, e))
    }

    fn i64(&self, index: usize, column: &str) -> Result<i64> {
        self.required(self.opt_i64(index, column)?, column)
    }

    fn f64(&self, index: usize, column: &str) -> Result<f64> {
        let value = self.row.real(index).map_err(|e| self.corrupt(column, e))?;
        self.required(value, column)
    }

    fn json<T: DeserializeOwned>(&self, index: usize, column: &str) -> Result<T> {
        let text = self.str(index, column)?;
        serde_json::from_str(text).map_err(|e| self.corrupt(column, e))
    }

    fn opt_json<T: DeserializeOwned>(&self, index: usize, column: &str) -> Result<Option<T>> {
        self.opt_str(index, column)?
            .map(|t| serde_json::from_str(t).map_err(|e| self.corrupt(column, e)))
            .transpose()
    }

    fn u32(&self, index: usize, column: &str) -> Result<u32> {
        let value = self.i64(index, column)?;
        u32::try_from(value).map_err(|e| self.corrupt(column, e))
    }

    fn time(&self, index: usize, column: &str) -> Result<DateTime<Utc>> {
        self.i64(index, column).map(decode_time)
    }

    fn opt_time(&self, index: usize, column: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(self.opt_i64(index, column)?.map(decode_time))
    }
}

/// A job read from a row selected with [`job_columns!`].
///
/// # Errors
/// [`Error::CorruptRecord`] when a column holds something a job cannot have.
pub(super) fn decode_job<R: Columns + ?Sized>(row: &R) -> Result<Job> {
    let r = Reader::new(row)?;
    let status_text = r.str(4, "status")?;
    let status: JobStatus = status_text
        .parse()
        .map_err(|_| r.corrupt("status", format!("unknown status `{status_text}`")))?;
    let rank = r.i64(5, "priority")?;
    let priority = Priority::from_rank(rank)
        .ok_or_else(|| r.corrupt("priority", format!("unknown rank {rank}")))?;
    let timeout = r
        .opt_i64(10, "timeout_ns")?
        .map(|ns| {
            u64::try_from(ns)
                .map(Duration::from_nanos)
                .map_err(|e| r.corrupt("timeout_ns", e))
        })
        .transpose()?;
    // A struct literal (rather than field assignments) makes the compiler point here when a
    // field is added to `Job`.
    Ok(Job {
        name: r.string(1, "name")?,
        description: r.opt_string(2, "description")?,
        payload: r.json(3, "payload")?,
        status,
        priority,
        tags: r.json(6, "tags")?,
        metadata: r.json::<Map<String, Value>>(7, "metadata")?,
        max_retries: r.u32(8, "max_retries")?,
        retry_policy: r.json::<RetryPolicy>(9, "retry_policy")?,
        timeout,
        progress: r.f64(11, "progress")?,
        attempt: r.u32(12, "attempt")?,
        result: r.opt_json(13, "result")?,
        error: r.opt_json::<JobError>(14, "error")?,
        worker_id: r.opt_string(15, "worker_id")?,
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
pub(super) fn decode_worker_state(text: &str) -> Option<WorkerState> {
    match text {
        "online" => Some(WorkerState::Online),
        "offline" => Some(WorkerState::Offline),
        _ => None,
    }
}

/// A worker record read from a row selected with [`worker_columns!`].
///
/// # Errors
/// [`Error::CorruptRecord`] when a column holds something a record cannot have.
pub(super) fn decode_worker(row: &SqliteRow) -> Result<WorkerRecord> {
    let r = Reader::new(row)?;
    let state_text = r.str(7, "state")?;
    let state = decode_worker_state(state_text)
        .ok_or_else(|| r.corrupt("state", format!("unknown state `{state_text}`")))?;
    let interval = r.i64(6, "heartbeat_interval_ms")?;
    Ok(WorkerRecord {
        host: r.string(1, "host")?,
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
        offline_reason: r.opt_string(11, "offline_reason")?,
        id: r.id,
    })
}
