//! # oa-monitor: the Monitor
//!
//! [`Monitor`] wires the oa-metrics collectors ([`JobMetrics`](oa_metrics::JobMetrics),
//! [`WorkerMetrics`](oa_metrics::WorkerMetrics), [`SystemMetrics`](oa_metrics::SystemMetrics))
//! to an [`EventEmitter`](oa_events::EventEmitter) with one synchronous handler, samples the
//! queue depth from a source it is given (a closure returning a future, on a Tokio task that
//! stops with the monitor), answers `get_complete_status()` with the seed's shape, and
//! implements the read-only [`MetricsQuery`](oa_metrics::MetricsQuery) and the
//! [`MetricsControl`](oa_metrics::MetricsControl) traits that the HTTP API holds. [`monitor()`]
//! is a global one on the global emitter, as the seed's `monitor`.
//!
//! **Who should depend on it**: the composition root (the `oa` binary) and scripts. The HTTP
//! API does not: it depends on the oa-metrics traits only, and is handed an `Arc<Monitor>` as
//! an `Arc<dyn MetricsQuery>`.
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use oa_events::{Event, EventEmitter, EventType};
//! use oa_metrics::{MetricsConfig, MetricsQuery};
//! use oa_monitor::Monitor;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), oa_monitor::MonitorError> {
//! let emitter = EventEmitter::new();
//! let monitor = Arc::new(
//!     Monitor::builder()
//!         .config(MetricsConfig::default())
//!         // e.g. `store.count_by_status(JobStatus::Queued)`; errors are logged and counted
//!         .queue_depth_source(Duration::from_secs(5), || async { Ok::<u64, String>(12) })
//!         .build(&emitter)?,
//! );
//!
//! let started = Event::for_job(EventType::JobStarted, "job-1")
//!     .with_data("name", "send-email")
//!     .with_data("priority", "medium");
//! emitter.emit(started.clone());
//! emitter.emit(Event::for_job(EventType::JobCompleted, "job-1")
//!     .with_timestamp(started.timestamp + chrono::Duration::milliseconds(250)));
//! // The sampler takes its first sample at once, on its own task.
//! while monitor.system_metrics().snapshot().queue_depth != 12 {
//!     tokio::task::yield_now().await;
//! }
//!
//! let status = monitor.get_complete_status();
//! assert_eq!(status.jobs.completed_jobs, 1);
//! assert_eq!(status.jobs.avg_execution_time, 0.25);
//! assert_eq!(status.system.queue_depth, 12);
//!
//! // What the HTTP API is given:
//! let api_view: Arc<dyn MetricsQuery> = monitor.clone();
//! assert!(api_view.prometheus_text().contains("oa_queue_depth 12"));
//! # Ok(())
//! # }
//! ```
//!
//! ## Semantics
//! - **Disable** stops collection: events arriving meanwhile are counted in `events_ignored`
//!   and otherwise ignored; reads answer with the frozen figures and `enabled: false`.
//! - **Reset** zeroes the collectors, never the emitter's own counters (`dropped_events`,
//!   `handler_errors` come from the emitter and keep counting).
//! - The monitor never loses an event its emitter delivers: its handler is synchronous.
//!
//! ## Feature flags
//!
//! None.

mod error;
mod global;
mod monitor;
mod sampler;

pub use error::MonitorError;
pub use global::monitor;
pub use monitor::{Monitor, MonitorBuilder};
pub use sampler::QueueDepthSample;
