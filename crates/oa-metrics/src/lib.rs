//! # oa-metrics: collectors, snapshots and query traits
//!
//! The collectors turn [`oa_events::Event`]s into numbers with exact, documented meanings:
//! [`JobMetrics`] (job summary, per-tag and per-priority figures, recent and running jobs),
//! [`WorkerMetrics`] (liveness and job counts per worker) and [`SystemMetrics`] (event counts,
//! errors, queue depth, uptime). [`Collectors`] bundles the three behind one handler. Reads
//! return serde snapshot types whose JSON keys are the seed's (then ours); the read-only
//! [`MetricsQuery`] traits and the [`MetricsControl`] trait are object-safe, so the HTTP API
//! holds an `Arc<dyn MetricsQuery>` and an `Arc<dyn MetricsControl>`; [`MetricsQuery`] also
//! renders the Prometheus text exposition.
//!
//! **Who should depend on it**: the HTTP API (traits and snapshot types only), the monitor
//! (`oa-monitor`, which wires the collectors to an emitter and a queue-depth source), and
//! anyone who wants figures from an event stream. It depends on oa-events only: it never
//! talks to a database or the network, and knows nothing of the job engine.
//!
//! ## Example
//!
//! ```
//! use chrono::{Duration, TimeZone, Utc};
//! use oa_events::{Event, EventEmitter, EventType};
//! use oa_metrics::{Collectors, MetricsConfig, MetricsQuery, JobQuery};
//!
//! let emitter = EventEmitter::new();
//! let collectors = Collectors::new(MetricsConfig::default());
//! collectors.attach(&emitter);
//!
//! let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
//! let job = |event_type, seconds| {
//!     Event::for_job(event_type, "job-1")
//!         .with_timestamp(t0 + Duration::seconds(seconds))
//!         .with_data("name", "resize")
//!         .with_data("priority", "high")
//!         .with_data("tags", serde_json::json!(["images"]))
//! };
//! emitter.emit(job(EventType::JobQueued, 0));
//! emitter.emit(job(EventType::JobStarted, 2));
//! emitter.emit(job(EventType::JobCompleted, 5));
//!
//! let summary = collectors.summary();
//! assert_eq!(summary.total_jobs, 1);
//! assert_eq!(summary.success_rate, 100.0);
//! assert_eq!(summary.avg_execution_time, 3.0); // started → completed
//! assert_eq!(summary.avg_wait_time, 2.0); // queued → started
//! assert_eq!(collectors.tag_metrics()["images"].completed_jobs, 1);
//! assert!(collectors.prometheus_text().contains("oa_jobs_finished_total{outcome=\"completed\",priority=\"high\"} 1"));
//! ```
//!
//! ## Guarantees
//! - Times come from event timestamps, never from the handler's wall clock; "now" (uptimes,
//!   "seconds ago", staleness, throughput windows, ETAs) comes from the configured [`Clock`].
//! - Memory is bounded by [`MetricsConfig`], never by the number of events or jobs:
//!   the recent-jobs ring, the tag rows (overflow folded into `other`, counted), the
//!   unfinished jobs (evicted after a horizon or over a bound, counted), the workers and the
//!   remembered offline workers. [`Collectors::entry_counts`] reports the entries held.
//! - A malformed event (missing or mistyped data, a terminal event for a job never seen
//!   started, a time running backwards) is counted in `malformed_events`, never panics, never
//!   corrupts another figure; every rate stays within 0–100.
//! - Recording takes one short mutex per collector and never calls out while holding it; reads
//!   take the same mutexes one at a time, so a query calling another cannot deadlock.
//! - Reads cost O(workers + tags), or O(requested items), never O(jobs ever recorded).
//!
//! ## Feature flags
//!
//! None.
//!
//! See `docs/metrics.md` for every key, the bounds and the Prometheus names.

mod clock;
mod collectors;
mod config;
mod error;
mod histogram;
mod jobs;
mod parse;
mod prometheus;
mod query;
mod shared_str;
mod snapshot;
mod sync;
mod system;
mod throughput;
mod types;
mod workers;

pub use clock::{Clock, ManualClock, SystemClock};
pub use collectors::{Collectors, EntryCounts};
pub use config::{
    DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_IN_FLIGHT_HORIZON, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MAX_OFFLINE_WORKERS, DEFAULT_MAX_TAGS, DEFAULT_MAX_WORKERS,
    DEFAULT_OFFLINE_AFTER_MISSED_HEARTBEATS, DEFAULT_RECENT_JOBS_CAPACITY,
    DEFAULT_STATUS_RECENT_JOBS, MetricsConfig, MetricsConfigBuilder,
};
pub use error::MetricsError;
pub use jobs::{JobEntryCounts, JobMetrics};
pub use prometheus::PROMETHEUS_CONTENT_TYPE;
pub use query::{JobQuery, MetricsControl, MetricsQuery, SystemQuery, WorkerQuery};
pub use shared_str::SharedStr;
pub use snapshot::{
    CompleteStatus, JobErrorInfo, JobGroupMetrics, JobSummary, RecentJob, RunningJob,
    SystemSnapshot, Throughput, WorkerStatus, WorkersSnapshot,
};
pub use system::{SystemMetrics, format_uptime};
pub use types::{JobOutcome, Priority, RunState, WorkerState};
pub use workers::{WorkerEntryCounts, WorkerMetrics};
