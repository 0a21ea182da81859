//! The data keys of events: the contract between the engine that emits and the collectors
//! that consume.
//!
//! Use these constants instead of string literals, so that a misspelt key is a compile error.
//! Their meanings are those of ARCHITECTURE.md ("oa-events: the vocabulary").

/// Job events: the job's name, which selects its handler (string).
pub const NAME: &str = "name";
/// Job events: the job's status after the transition (string, e.g. `running`).
pub const STATUS: &str = "status";
/// Job events: `low`, `medium`, `high` or `critical` (string).
pub const PRIORITY: &str = "priority";
/// Job events: the job's tags (array of strings).
pub const TAGS: &str = "tags";
/// Job events: the attempt number, 1-based (integer).
pub const ATTEMPT: &str = "attempt";
/// Job events: how many retries the job may use (integer).
pub const MAX_RETRIES: &str = "max_retries";
/// Job events: progress between 0.0 and 1.0 (number).
pub const PROGRESS: &str = "progress";
/// Job events: when the job was created (RFC 3339 string).
pub const CREATED_AT: &str = "created_at";
/// Job events: when the job was last queued (RFC 3339 string or null).
pub const QUEUED_AT: &str = "queued_at";
/// Job events: when the current attempt started (RFC 3339 string or null).
pub const STARTED_AT: &str = "started_at";
/// Job events: when the job finished (RFC 3339 string or null).
pub const FINISHED_AT: &str = "finished_at";
/// `job.failed`, `job.retrying`: the error, an object `{kind, message}`.
pub const ERROR: &str = "error";
/// `job.completed`: the handler's result (any JSON).
pub const RESULT: &str = "result";
/// `job.retrying`: when the next attempt is due (RFC 3339 string).
pub const NEXT_RUN_AT: &str = "next_run_at";
/// `job.retrying`, `worker.offline`: why (string, e.g. `worker_lost`, `heartbeat_timeout`).
pub const REASON: &str = "reason";

/// `worker.registered`: the worker's host name (string).
pub const HOST: &str = "host";
/// `worker.registered`: the worker's process id (integer).
pub const PID: &str = "pid";
/// `worker.registered`: how many jobs the worker runs at once (integer).
pub const MAX_CONCURRENT_JOBS: &str = "max_concurrent_jobs";
/// `worker.registered`: the heartbeat interval in milliseconds (integer).
pub const HEARTBEAT_INTERVAL_MS: &str = "heartbeat_interval_ms";
/// `worker.heartbeat`: how many jobs the worker is running (integer).
pub const RUNNING_JOBS: &str = "running_jobs";
/// `worker.heartbeat`: the ids of the jobs the worker is running (array of strings).
pub const RUNNING_JOB_IDS: &str = "running_job_ids";
/// `worker.offline`: the ids of the jobs that went back to the queue (array of strings).
pub const REQUEUED_JOB_IDS: &str = "requeued_job_ids";

/// `system.error`: a human-readable message (string).
pub const MESSAGE: &str = "message";
