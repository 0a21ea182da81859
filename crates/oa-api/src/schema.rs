//! The OpenAPI schemas of the response bodies.
//!
//! The bodies themselves are oa-metrics' snapshot types (and oa-events' `Event`), which do not
//! depend on utoipa; these types describe the same JSON keys for the document. The test
//! `openapi_schemas_describe_the_real_responses` validates real responses against them, so
//! they cannot drift apart unnoticed.

#![allow(
    dead_code,
    reason = "these types exist for their OpenAPI schema; they are never built"
)]

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

/// `GET /`: what this API is.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ApiInfo {
    /// The API's name.
    pub(crate) name: &'static str,
    /// The API's version (the crate's).
    pub(crate) version: &'static str,
    /// What it is for.
    pub(crate) description: &'static str,
    /// Where the interactive API documentation is.
    pub(crate) docs: &'static str,
    /// Where the OpenAPI document is.
    pub(crate) openapi: &'static str,
    /// Where the live dashboard is.
    pub(crate) dashboard: &'static str,
}

/// The answer of the control routes (the seed's shape).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ControlResponse {
    /// Always `success`.
    #[schema(example = "success")]
    pub(crate) status: &'static str,
    /// What was done, e.g. `All metrics have been reset`.
    #[schema(example = "All metrics have been reset")]
    pub(crate) message: &'static str,
}

/// `GET /health` and `GET /ready` when they succeed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ProbeResponse {
    /// `ok` for `/health`, `ready` for `/ready`.
    #[schema(example = "ok")]
    pub(crate) status: &'static str,
}

/// `GET /system/event-log`: where this server's events come from.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub(crate) struct EventLogStatus {
    /// Whether the server's metrics and event stream follow a durable event log (every
    /// process's events, replayed on start). `false`: only this process's own events; the
    /// other fields are then `null`.
    pub(crate) following: bool,
    /// The sequence number of the last event the server took from the log (the `id` of the
    /// newest `GET /events` frame).
    pub(crate) position: Option<u64>,
    /// How many events it took from the log since it started (the replay included).
    pub(crate) followed: Option<u64>,
    /// Sequence numbers it skipped: events trimmed before it read them, or numbers of
    /// transactions that never committed.
    pub(crate) skipped: Option<u64>,
    /// Whether the replay of the history present at start is done.
    pub(crate) caught_up: Option<bool>,
    /// The oldest retained sequence number (`null` when the log cannot be read).
    pub(crate) first: Option<u64>,
    /// The newest sequence number written by any process.
    pub(crate) last: Option<u64>,
    /// How many events the log retains.
    pub(crate) retained: Option<u64>,
    /// `last - position`: how far the server is behind the log.
    pub(crate) behind: Option<u64>,
}

/// Completions per second over the last 1, 5 and 15 minutes.
#[derive(ToSchema)]
pub(crate) struct Throughput {
    /// Completions in the last 60 s, divided by 60.
    #[schema(rename = "1m")]
    last_1m: f64,
    /// Completions in the last 300 s, divided by 300.
    #[schema(rename = "5m")]
    last_5m: f64,
    /// Completions in the last 900 s, divided by 900.
    #[schema(rename = "15m")]
    last_15m: f64,
}

/// The job figures of the whole system (`GET /jobs/summary`). Rates are percents of finished
/// jobs; times are seconds.
#[derive(ToSchema)]
pub(crate) struct JobSummary {
    /// Jobs started at least once.
    total_jobs: u64,
    /// Completed jobs.
    completed_jobs: u64,
    /// Final failures.
    failed_jobs: u64,
    /// Cancelled jobs (also those cancelled before they started).
    cancelled_jobs: u64,
    /// Completed / finished × 100.
    success_rate: f64,
    /// Failed / finished × 100.
    failure_rate: f64,
    /// Cancelled / finished × 100.
    cancel_rate: f64,
    /// Mean execution time of completed jobs.
    avg_execution_time: f64,
    /// Shortest execution time.
    min_execution_time: f64,
    /// Longest execution time.
    max_execution_time: f64,
    /// Jobs running or paused now.
    currently_running: u64,
    /// Median execution time.
    p50_execution_time: f64,
    /// 90th percentile of the execution time.
    p90_execution_time: f64,
    /// 95th percentile of the execution time.
    p95_execution_time: f64,
    /// 99th percentile of the execution time.
    p99_execution_time: f64,
    /// Mean time from queued to started.
    avg_wait_time: f64,
    /// 95th percentile of the wait time.
    p95_wait_time: f64,
    /// `job.retrying` events.
    retries: u64,
    /// Completions per second.
    throughput: Throughput,
    /// Job events that could not be used.
    malformed_events: u64,
    /// Unfinished jobs forgotten (bounds).
    evicted_jobs: u64,
    /// Tag occurrences folded into `other`.
    overflowed_tags: u64,
}

/// The figures of one tag or one priority: the summary's counts, rates and times.
#[derive(ToSchema)]
pub(crate) struct JobGroupMetrics {
    /// Jobs started at least once.
    total_jobs: u64,
    /// Completed jobs.
    completed_jobs: u64,
    /// Final failures.
    failed_jobs: u64,
    /// Cancelled jobs.
    cancelled_jobs: u64,
    /// Completed / finished × 100.
    success_rate: f64,
    /// Failed / finished × 100.
    failure_rate: f64,
    /// Cancelled / finished × 100.
    cancel_rate: f64,
    /// Mean execution time.
    avg_execution_time: f64,
    /// Shortest execution time.
    min_execution_time: f64,
    /// Longest execution time.
    max_execution_time: f64,
    /// Jobs running or paused now.
    currently_running: u64,
    /// Median execution time.
    p50_execution_time: f64,
    /// 90th percentile of the execution time.
    p90_execution_time: f64,
    /// 95th percentile of the execution time.
    p95_execution_time: f64,
    /// 99th percentile of the execution time.
    p99_execution_time: f64,
    /// Mean wait time.
    avg_wait_time: f64,
    /// 95th percentile of the wait time.
    p95_wait_time: f64,
    /// `job.retrying` events.
    retries: u64,
}

/// An error as failed jobs carry it.
#[derive(ToSchema)]
pub(crate) struct JobErrorInfo {
    /// A machine-readable kind, e.g. `timeout`.
    kind: String,
    /// A human-readable message.
    message: String,
}

/// How a job finished.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum JobOutcome {
    /// `job.completed`.
    Completed,
    /// `job.failed`.
    Failed,
    /// `job.cancelled`.
    Cancelled,
}

/// A job's priority.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum Priority {
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
    /// `critical`.
    Critical,
}

/// Whether a job in flight runs or is paused.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum RunState {
    /// Executing.
    Running,
    /// Paused after it started.
    Paused,
}

/// A worker's liveness.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum WorkerState {
    /// Heard from within one heartbeat interval.
    Online,
    /// Missed at least one heartbeat window.
    Stale,
    /// Gone (it said so, or it was silent too long).
    Offline,
}

/// One finished job (`GET /jobs/recent`), newest first.
#[derive(ToSchema)]
pub(crate) struct RecentJob {
    /// The job's id.
    job_id: String,
    /// The job's name.
    name: String,
    /// How it finished.
    status: JobOutcome,
    /// Seconds from the last start to the end; null for a job cancelled before it started.
    #[schema(required = true)]
    execution_time: Option<f64>,
    /// Seconds the last attempt waited in the queue.
    #[schema(required = true)]
    wait_time: Option<f64>,
    /// The job's tags.
    tags: Vec<String>,
    /// The job's priority.
    priority: Priority,
    /// The number of attempts.
    attempts: u32,
    /// The worker of the last attempt.
    #[schema(required = true)]
    worker_id: Option<String>,
    /// When the job was created.
    #[schema(required = true)]
    created_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the last attempt started.
    #[schema(required = true)]
    started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the job finished.
    finished_at: chrono::DateTime<chrono::Utc>,
    /// The error of a failed job; absent for the others.
    error: Option<JobErrorInfo>,
}

/// One job in flight (`GET /jobs/running`).
#[derive(ToSchema)]
pub(crate) struct RunningJob {
    /// The job's id.
    job_id: String,
    /// The job's name.
    name: String,
    /// Running or paused.
    status: RunState,
    /// The job's priority.
    priority: Priority,
    /// The job's tags.
    tags: Vec<String>,
    /// The worker running it.
    #[schema(required = true)]
    worker_id: Option<String>,
    /// The current attempt, 1-based.
    attempt: u32,
    /// The last reported progress, 0.0–1.0.
    progress: f64,
    /// When the current attempt started.
    started_at: chrono::DateTime<chrono::Utc>,
    /// Seconds since `started_at`.
    elapsed: f64,
    /// When progress was last reported.
    #[schema(required = true)]
    progress_updated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Seconds until the estimated end; null without progress.
    #[schema(required = true)]
    eta_seconds: Option<f64>,
    /// The estimated end; null without progress.
    #[schema(required = true)]
    eta_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// One worker (`GET /workers/{worker_id}`).
#[derive(ToSchema)]
pub(crate) struct WorkerStatus {
    /// The worker's id.
    worker_id: String,
    /// Its liveness.
    status: WorkerState,
    /// The host it runs on.
    #[schema(required = true)]
    host: Option<String>,
    /// Its process id.
    #[schema(required = true)]
    pid: Option<u32>,
    /// Its tags.
    tags: Vec<String>,
    /// How many jobs it runs at once.
    #[schema(required = true)]
    max_concurrent_jobs: Option<u32>,
    /// Its heartbeat interval, in milliseconds.
    heartbeat_interval_ms: u64,
    /// Jobs it runs now.
    running_jobs: u64,
    /// Jobs it claimed.
    jobs_claimed: u64,
    /// Its jobs that completed.
    jobs_completed: u64,
    /// Its jobs that failed (final failures).
    jobs_failed: u64,
    /// When it registered.
    #[schema(required = true)]
    registered_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it went offline.
    #[schema(required = true)]
    offline_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why it went offline.
    #[schema(required = true)]
    offline_reason: Option<String>,
    /// Seconds it has been (or was) up.
    uptime: f64,
    /// Seconds since its last heartbeat.
    last_heartbeat: f64,
    /// When its last heartbeat was sent.
    last_heartbeat_at: chrono::DateTime<chrono::Utc>,
}

/// All workers (`GET /workers`).
#[derive(ToSchema)]
pub(crate) struct WorkersSnapshot {
    /// Workers that are not offline.
    active_count: u64,
    /// Every tracked worker, by id.
    workers: BTreeMap<String, WorkerStatus>,
}

/// The system figures (`GET /system`).
#[derive(ToSchema)]
pub(crate) struct SystemSnapshot {
    /// Seconds since the collectors started or were reset.
    uptime: f64,
    /// `uptime` as `1d 2h 3m 4s`.
    uptime_formatted: String,
    /// The last queue depth sampled.
    queue_depth: u64,
    /// The largest queue depth sampled.
    max_queue_depth: u64,
    /// `system.error` events.
    error_count: u64,
    /// Events per wire name, all 17 (zeros included).
    event_counts: BTreeMap<String, u64>,
    /// The sum of `event_counts`.
    events_total: u64,
    /// `events_total / uptime`.
    events_per_second: f64,
    /// Deliveries the emitter dropped.
    dropped_events: u64,
    /// Handler failures the emitter counted.
    handler_errors: u64,
    /// Whether collection is on.
    enabled: bool,
    /// Events that arrived while collection was off.
    events_ignored: u64,
    /// Malformed events.
    malformed_events: u64,
}

/// Everything at once (`GET /status`).
#[derive(ToSchema)]
pub(crate) struct CompleteStatus {
    /// The job summary.
    jobs: JobSummary,
    /// The workers.
    workers: WorkersSnapshot,
    /// The system figures.
    system: SystemSnapshot,
    /// Per tag (and `other`).
    tags: BTreeMap<String, JobGroupMetrics>,
    /// Per priority, all four.
    priorities: BTreeMap<String, JobGroupMetrics>,
    /// The newest finished jobs.
    recent_jobs: Vec<RecentJob>,
}

/// One event, as the live stream's `data:` carries it.
#[derive(ToSchema)]
pub(crate) struct Event {
    /// A UUID v7.
    id: uuid::Uuid,
    /// The emitter's sequence number (the SSE `id:`).
    seq: u64,
    /// The wire name, e.g. `job.failed`.
    event_type: String,
    /// When the event was created (RFC 3339, UTC).
    timestamp: chrono::DateTime<chrono::Utc>,
    /// The job the event is about.
    #[schema(required = true)]
    job_id: Option<String>,
    /// The worker the event is about.
    #[schema(required = true)]
    worker_id: Option<String>,
    /// Details (see docs/events.md).
    data: BTreeMap<String, serde_json::Value>,
}
