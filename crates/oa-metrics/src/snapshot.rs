//! The snapshot types the collectors answer with. They serialize to the JSON keys of
//! ARCHITECTURE.md (the seed's keys first, then ours); every time is in seconds unless the key
//! ends in `_at` (an RFC 3339 UTC time) or `_ms`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use oa_events::EventType;
use serde::{Deserialize, Serialize};

use crate::shared_str::SharedStr;
use crate::types::{JobOutcome, Priority, RunState, WorkerState};

/// Completions per second over the last 1, 5 and 15 minutes, counted by the `job.completed`
/// events' timestamps, in windows that end at the clock's "now".
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Throughput {
    /// Completions in the last 60 s, divided by 60.
    #[serde(rename = "1m")]
    pub last_1m: f64,
    /// Completions in the last 300 s, divided by 300.
    #[serde(rename = "5m")]
    pub last_5m: f64,
    /// Completions in the last 900 s, divided by 900.
    #[serde(rename = "15m")]
    pub last_15m: f64,
}

/// The job figures of the whole system: [`JobMetrics::summary`](crate::JobMetrics::summary),
/// `GET /jobs/summary`, the `jobs` key of the complete status.
///
/// Invariants: every rate is within 0–100; `success_rate + failure_rate + cancel_rate` is 100
/// (up to rounding) when a job finished and 0 otherwise; `min <= p50 <= p90 <= p95 <= p99 <=
/// max` execution times when a job completed, all 0 otherwise.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobSummary {
    /// Jobs started at least once (their first `job.started`); a retry or a resume is not a new
    /// job.
    pub total_jobs: u64,
    /// `job.completed` of tracked jobs.
    pub completed_jobs: u64,
    /// `job.failed` of tracked jobs: final failures only (an attempt that will be retried emits
    /// `job.retrying`).
    pub failed_jobs: u64,
    /// `job.cancelled`, including jobs cancelled before they started (which are not in
    /// `total_jobs`).
    pub cancelled_jobs: u64,
    /// `completed / finished * 100`, where finished = completed + failed + cancelled; 0 when
    /// nothing finished.
    pub success_rate: f64,
    /// `failed / finished * 100`; 0 when nothing finished.
    pub failure_rate: f64,
    /// `cancelled / finished * 100`; 0 when nothing finished.
    pub cancel_rate: f64,
    /// Mean seconds from the `job.started` of the attempt that completed to `job.completed`,
    /// over completed jobs (event timestamps); 0 when none.
    pub avg_execution_time: f64,
    /// Shortest such time; 0 when none.
    pub min_execution_time: f64,
    /// Longest such time; 0 when none.
    pub max_execution_time: f64,
    /// Jobs whose current attempt has started and not ended: running or paused (a job waiting
    /// for its retry is not running).
    pub currently_running: u64,
    /// Median execution time (HDR histogram; reported to its significant digits and within
    /// min–max).
    pub p50_execution_time: f64,
    /// 90th percentile of the execution time.
    pub p90_execution_time: f64,
    /// 95th percentile of the execution time.
    pub p95_execution_time: f64,
    /// 99th percentile of the execution time.
    pub p99_execution_time: f64,
    /// Mean seconds from `job.queued` to `job.started`, over every started attempt; 0 when none.
    pub avg_wait_time: f64,
    /// 95th percentile of the wait time.
    pub p95_wait_time: f64,
    /// `job.retrying` events.
    pub retries: u64,
    /// Completions per second over the last 1, 5 and 15 minutes.
    pub throughput: Throughput,
    /// Job events that could not be used: no `job_id`, a missing or mistyped data key, a
    /// terminal or progress event for a job not being tracked, a time that runs backwards.
    pub malformed_events: u64,
    /// Unfinished jobs forgotten because they had no news for the horizon, or because more
    /// than `max_in_flight` were tracked.
    pub evicted_jobs: u64,
    /// Tag occurrences folded into the `other` row because `max_tags` tags were already known.
    pub overflowed_tags: u64,
}

/// The figures of one tag or one priority ([`JobMetrics::tag_metrics`],
/// [`JobMetrics::priority_metrics`]): the summary's count, rate and time keys, with the same
/// meanings, restricted to the jobs of that group.
///
/// [`JobMetrics::tag_metrics`]: crate::JobMetrics::tag_metrics
/// [`JobMetrics::priority_metrics`]: crate::JobMetrics::priority_metrics
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobGroupMetrics {
    /// See [`JobSummary::total_jobs`].
    pub total_jobs: u64,
    /// See [`JobSummary::completed_jobs`].
    pub completed_jobs: u64,
    /// See [`JobSummary::failed_jobs`].
    pub failed_jobs: u64,
    /// See [`JobSummary::cancelled_jobs`].
    pub cancelled_jobs: u64,
    /// See [`JobSummary::success_rate`].
    pub success_rate: f64,
    /// See [`JobSummary::failure_rate`].
    pub failure_rate: f64,
    /// See [`JobSummary::cancel_rate`].
    pub cancel_rate: f64,
    /// See [`JobSummary::avg_execution_time`].
    pub avg_execution_time: f64,
    /// See [`JobSummary::min_execution_time`].
    pub min_execution_time: f64,
    /// See [`JobSummary::max_execution_time`].
    pub max_execution_time: f64,
    /// See [`JobSummary::currently_running`].
    pub currently_running: u64,
    /// See [`JobSummary::p50_execution_time`].
    pub p50_execution_time: f64,
    /// See [`JobSummary::p90_execution_time`].
    pub p90_execution_time: f64,
    /// See [`JobSummary::p95_execution_time`].
    pub p95_execution_time: f64,
    /// See [`JobSummary::p99_execution_time`].
    pub p99_execution_time: f64,
    /// See [`JobSummary::avg_wait_time`].
    pub avg_wait_time: f64,
    /// See [`JobSummary::p95_wait_time`].
    pub p95_wait_time: f64,
    /// See [`JobSummary::retries`].
    pub retries: u64,
}

/// An error as `job.failed` and `job.retrying` carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobErrorInfo {
    /// A machine-readable kind, e.g. `timeout`.
    pub kind: String,
    /// A human-readable message.
    pub message: String,
}

/// One finished job of [`JobMetrics::recent_jobs`](crate::JobMetrics::recent_jobs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecentJob {
    /// The job's id.
    pub job_id: String,
    /// The job's name.
    pub name: String,
    /// `completed`, `failed` or `cancelled`.
    pub status: JobOutcome,
    /// Seconds from the last attempt's `job.started` to the terminal event; `null` for a job
    /// cancelled before it started (or a time that ran backwards).
    pub execution_time: Option<f64>,
    /// Seconds the last attempt waited from `job.queued` to `job.started`; `null` when unknown.
    pub wait_time: Option<f64>,
    /// The job's tags, as given (not folded into `other`).
    pub tags: Vec<String>,
    /// The job's priority.
    pub priority: Priority,
    /// The number of attempts (the last `attempt`); 0 for a job that never started.
    pub attempts: u32,
    /// The worker that ran the last attempt.
    pub worker_id: Option<String>,
    /// When the job was created (the `created_at` data key).
    pub created_at: Option<DateTime<Utc>>,
    /// When the last attempt started (its `job.started` timestamp).
    pub started_at: Option<DateTime<Utc>>,
    /// When the job finished (the terminal event's timestamp).
    pub finished_at: DateTime<Utc>,
    /// The error of a failed job; absent for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobErrorInfo>,
}

/// One job in flight of [`JobMetrics::running_jobs`](crate::JobMetrics::running_jobs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunningJob {
    /// The job's id.
    pub job_id: String,
    /// The job's name.
    pub name: String,
    /// `running` or `paused`.
    pub status: RunState,
    /// The job's priority.
    pub priority: Priority,
    /// The job's tags.
    pub tags: Vec<String>,
    /// The worker running it.
    pub worker_id: Option<String>,
    /// The current attempt, 1-based.
    pub attempt: u32,
    /// The last reported progress, 0.0–1.0.
    pub progress: f64,
    /// When the current attempt started.
    pub started_at: DateTime<Utc>,
    /// Seconds since `started_at`, by the clock.
    pub elapsed: f64,
    /// When the last progress was reported.
    pub progress_updated_at: Option<DateTime<Utc>>,
    /// Seconds left until `eta_at`, by the clock (0 when it is past); `null` without progress.
    pub eta_seconds: Option<f64>,
    /// The estimated end: the progress rate between `started_at` and the last report,
    /// extrapolated to 1.0; `null` while progress is 0.
    pub eta_at: Option<DateTime<Utc>>,
}

/// One worker of [`WorkerMetrics::workers`](crate::WorkerMetrics::workers).
///
/// Its strings are [`SharedStr`]s (shared with the collector, so that a status of thousands of
/// workers copies no text); they compare with `&str` and serialize as JSON strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkerStatus {
    /// The worker's id.
    pub worker_id: SharedStr,
    /// `online`, `stale` or `offline`.
    pub status: WorkerState,
    /// The host it runs on; `null` when it was first seen without a registration.
    pub host: Option<SharedStr>,
    /// Its process id, when registered.
    pub pid: Option<u32>,
    /// Its tags.
    pub tags: Vec<SharedStr>,
    /// How many jobs it runs at once, when registered.
    pub max_concurrent_jobs: Option<u32>,
    /// Its heartbeat interval in milliseconds (the default when it did not give one).
    pub heartbeat_interval_ms: u64,
    /// Jobs it runs now: the last heartbeat's count, plus claims since, minus its jobs that
    /// ended since.
    pub running_jobs: u64,
    /// `worker.claimed_job` events.
    pub jobs_claimed: u64,
    /// `job.completed` events of its jobs.
    pub jobs_completed: u64,
    /// `job.failed` events of its jobs (final failures).
    pub jobs_failed: u64,
    /// When it registered (`null` when first seen through another event).
    pub registered_at: Option<DateTime<Utc>>,
    /// When it went offline (`worker.offline`, or the end of its last heartbeat window when it
    /// timed out); `null` while not offline.
    pub offline_at: Option<DateTime<Utc>>,
    /// Why it went offline: the `reason` of `worker.offline`, or `heartbeat_timeout` when the
    /// collector declared it offline.
    pub offline_reason: Option<SharedStr>,
    /// Seconds from its registration (or first sighting) to its going offline, or to now.
    pub uptime: f64,
    /// Seconds since its last heartbeat (its registration counts as one), by the clock.
    pub last_heartbeat: f64,
    /// When its last heartbeat was sent.
    pub last_heartbeat_at: DateTime<Utc>,
}

/// All workers: `GET /workers`, the `workers` key of the complete status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkersSnapshot {
    /// Workers that are not offline (`online` or `stale`).
    pub active_count: u64,
    /// Every tracked worker, by id.
    pub workers: BTreeMap<SharedStr, WorkerStatus>,
}

/// The system figures: [`SystemMetrics::snapshot`](crate::SystemMetrics::snapshot),
/// `GET /system`, the `system` key of the complete status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SystemSnapshot {
    /// Seconds since the collector was created or last reset, by the clock.
    pub uptime: f64,
    /// `uptime` as `1d 2h 3m 4s` (days, hours, minutes, whole seconds; all four parts).
    pub uptime_formatted: String,
    /// The last queue depth given (`update_queue_depth` or the monitor's sampler).
    pub queue_depth: u64,
    /// The largest queue depth given since the creation or last reset.
    pub max_queue_depth: u64,
    /// `system.error` events.
    pub error_count: u64,
    /// Events counted per type: all 17 wire names, zeros included.
    pub event_counts: BTreeMap<EventType, u64>,
    /// The sum of `event_counts`.
    pub events_total: u64,
    /// `events_total / uptime`; 0 when the uptime is 0.
    pub events_per_second: f64,
    /// Deliveries the emitter dropped (its `dropped_deliveries`: lagging streams and full async
    /// queues); 0 when no emitter is known. Never reset by the collectors.
    pub dropped_events: u64,
    /// Handler failures the emitter counted (errors and panics); 0 when no emitter is known.
    /// Never reset by the collectors.
    pub handler_errors: u64,
    /// Whether collection is on.
    pub enabled: bool,
    /// Events that arrived while collection was off.
    pub events_ignored: u64,
    /// Malformed events (the monitor adds up its three collectors; alone, the system
    /// collector's own: `system.error` without a `message`).
    pub malformed_events: u64,
}

/// Everything at once: `get_complete_status()`, `GET /status`, with the seed's shape
/// `{jobs, workers: {active_count, workers}, system, tags, priorities, recent_jobs}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CompleteStatus {
    /// The job summary.
    pub jobs: JobSummary,
    /// The workers.
    pub workers: WorkersSnapshot,
    /// The system figures.
    pub system: SystemSnapshot,
    /// Per tag (and `other`), sorted by tag.
    pub tags: BTreeMap<String, JobGroupMetrics>,
    /// Per priority: all four, zeros included.
    pub priorities: BTreeMap<Priority, JobGroupMetrics>,
    /// The newest finished jobs, newest first
    /// ([`status_recent_jobs`](crate::MetricsConfig::status_recent_jobs) of them).
    pub recent_jobs: Vec<RecentJob>,
}
