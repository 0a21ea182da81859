//! The error type of the engine.

use crate::status::JobStatus;

/// Everything that can go wrong in the engine, with the context needed to act on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No job has this id (it never existed, or it was deleted or purged).
    #[error("job `{job_id}` not found")]
    JobNotFound {
        /// The id that was looked up.
        job_id: String,
    },

    /// A job with this id already exists; nothing was written.
    #[error("job `{job_id}` already exists")]
    DuplicateJob {
        /// The id that is taken.
        job_id: String,
    },

    /// The state machine forbids this move; the job was not changed.
    #[error("job `{job_id}` cannot go from `{from}` to `{to}`")]
    InvalidTransition {
        /// The job.
        job_id: String,
        /// Its status when the move was asked for.
        from: JobStatus,
        /// The status that was asked for.
        to: JobStatus,
    },

    /// An update expected the job in one status but someone else moved it first (optimistic
    /// concurrency); the job was not changed.
    #[error("job `{job_id}` is `{actual}`, not `{expected}` as the update expected")]
    StatusConflict {
        /// The job.
        job_id: String,
        /// The status the update was based on.
        expected: JobStatus,
        /// The status found in the store.
        actual: JobStatus,
    },

    /// A worker holds the job, so it cannot be deleted (cancel it first).
    #[error("job `{job_id}` is held by worker `{worker_id}`; cancel it first")]
    JobHeld {
        /// The job.
        job_id: String,
        /// The worker holding it.
        worker_id: String,
    },

    /// An update was computed from an earlier attempt of the job: the job went back to the queue
    /// (its worker was thought lost) and was claimed again since. The update was refused, so a
    /// late outcome never overwrites the current attempt.
    #[error("job `{job_id}` has moved past attempt {attempt}; the late update was refused")]
    StaleAttempt {
        /// The job.
        job_id: String,
        /// The attempt the update was computed from.
        attempt: u32,
    },

    /// No worker has this id in the store.
    #[error("worker `{worker_id}` not found")]
    WorkerNotFound {
        /// The id that was looked up.
        worker_id: String,
    },

    /// A value given by the caller is out of range or malformed; nothing was changed.
    #[error("invalid {field}: {message}")]
    InvalidArgument {
        /// Which argument or field.
        field: &'static str,
        /// What is wrong with it, in words.
        message: String,
    },

    /// A handler is already registered for this job name on this worker.
    #[error("a handler for job name `{name}` is already registered")]
    DuplicateHandler {
        /// The job name.
        name: String,
    },

    /// The store holds a record it cannot read back (edited by hand, or written by a newer
    /// version); the record was left as it is.
    #[error("stored record `{id}` is unreadable: {message}")]
    CorruptRecord {
        /// The job or worker id of the record.
        id: String,
        /// What could not be read.
        message: String,
    },

    /// The database refused or failed an operation.
    #[error("database error during {operation}: {source}")]
    Database {
        /// What the store was doing (`insert`, `claim`, ...).
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// The database schema could not be brought up to date on open.
    #[error("database migration failed: {source}")]
    Migration {
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// The manager or a worker was built outside a Tokio runtime.
    #[error(
        "the job engine needs a Tokio runtime: build it from async code or inside `Runtime::enter`"
    )]
    NoRuntime,

    /// The engine is shutting down and takes no new work.
    #[error("the engine is shutting down")]
    ShuttingDown,
}

impl Error {
    /// A short machine-readable code for the error, stable across versions (for APIs and logs).
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::JobNotFound { .. } => "job_not_found",
            Self::DuplicateJob { .. } => "duplicate_job",
            Self::InvalidTransition { .. } => "invalid_transition",
            Self::StatusConflict { .. } => "status_conflict",
            Self::JobHeld { .. } => "job_held",
            Self::StaleAttempt { .. } => "stale_attempt",
            Self::WorkerNotFound { .. } => "worker_not_found",
            Self::InvalidArgument { .. } => "invalid_argument",
            Self::DuplicateHandler { .. } => "duplicate_handler",
            Self::CorruptRecord { .. } => "corrupt_record",
            Self::Database { .. } => "database_error",
            Self::Migration { .. } => "migration_error",
            Self::NoRuntime => "no_runtime",
            Self::ShuttingDown => "shutting_down",
        }
    }

    #[allow(dead_code, reason = "used by the SQL stores only")]
    pub(crate) fn database(operation: &'static str) -> impl FnOnce(sqlx::Error) -> Self {
        move |source| Self::Database { operation, source }
    }
}

/// The engine's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
