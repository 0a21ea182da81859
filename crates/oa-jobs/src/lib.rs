//! # oa-jobs: the job engine
//!
//! Jobs, their statuses and priorities, retry policies, the [`JobStore`] trait with its stores
//! ([`MemoryStore`] for tests and demos, [`SqliteStore`] as the durable embedded default), the
//! [`JobManager`] and the workers. The engine **emits** an [`oa_events::Event`] for every
//! transition and knows nothing of metrics or HTTP: attach collectors (oa-metrics) or your own
//! handlers to the emitter you give it.
//!
//! **Who should depend on it**: the process that creates jobs and the processes that run them
//! (often the same one). Observability layers depend on oa-events only.
//!
//! ## The pieces
//! - [`Job`], [`JobStatus`] (the state machine of ARCHITECTURE.md: every illegal move is an
//!   [`Error::InvalidTransition`] that changes nothing), [`Priority`], [`RetryPolicy`] (fixed
//!   or exponential with cap and jitter), [`JobError`] (what a handler returns).
//! - [`JobStore`]: insert, get, optimistic update, delete, filtered listing, counts by status,
//!   atomic claims (priority first, then oldest), leases renewed by heartbeats, re-queueing of
//!   expired leases, worker records, purge. [`SqliteStore`] runs in WAL mode with embedded
//!   migrations; a killed process loses no acknowledged job.
//! - [`JobManager`]: create (at once, later with `run_at`, or `created` until enqueued),
//!   enqueue, pause, resume, cancel, retry by hand, delete, purge. It runs a timer for due jobs
//!   and a reaper that declares silent workers offline and re-queues exactly their jobs.
//! - Workers ([`JobManager::worker`] → [`WorkerBuilder`] → [`WorkerHandle`], or several in a
//!   [`WorkerPool`]): handlers by job name receive a [`JobContext`] (payload, attempt,
//!   coalesced `progress`, `checkpoint().await` for cooperative pause, a cancellation token);
//!   concurrency limit, per-job timeout, panics fail the attempt not the worker, heartbeats,
//!   graceful shutdown driven by a `CancellationToken`.
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use oa_events::{EventEmitter, EventType, testing::RecordingSubscriber};
//! use oa_jobs::{JobContext, JobError, JobManager, JobStatus, MemoryStore, NewJob, Priority};
//! use serde_json::json;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), oa_jobs::Error> {
//! let emitter = EventEmitter::new();
//! # let recorder = RecordingSubscriber::attach(&emitter);
//! let manager = JobManager::new(Arc::new(MemoryStore::new()), emitter)?;
//!
//! let worker = manager
//!     .worker()
//!     .max_concurrent_jobs(4)
//!     .handler("resize", |ctx: JobContext| async move {
//!         let width = ctx.payload()["width"].as_u64().unwrap_or(100);
//!         for step in 1..=4 {
//!             ctx.checkpoint().await?; // waits here while the job is paused
//!             ctx.progress(f64::from(step) / 4.0);
//!         }
//!         Ok::<_, JobError>(json!({ "width": width / 2 }))
//!     })
//!     .start()
//!     .await?;
//!
//! let job = manager
//!     .create(NewJob::new("resize").payload(json!({"width": 640})).priority(Priority::High))
//!     .await?;
//! # recorder.wait_for(std::time::Duration::from_secs(60), |events| {
//! #     events.iter().any(|e| e.event_type == EventType::JobCompleted)
//! # }).await;
//! let done = manager.get(&job.id).await?;
//! assert_eq!(done.status, JobStatus::Completed);
//! assert_eq!(done.result, Some(json!({"width": 320})));
//!
//! worker.shutdown().await;
//! manager.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! For durability, open a [`SqliteStore`] instead: `SqliteStore::open("jobs.db").await?`.
//!
//! ## Features
//! This crate has no cargo features. Its dev-dependencies enable oa-events' `test-util` for the
//! recording subscriber used in tests.

mod clock;
mod error;
mod job;
mod manager;
mod retry;
mod serde_ms;
mod status;
pub mod store;
mod worker;

pub use clock::{Clock, SharedClock, SystemClock, TokioClock};
pub use error::{Error, Result};
pub use job::{Job, JobError, LOST_KIND, LostOutcome};
pub use manager::{JobManager, JobManagerBuilder, ManagerConfig, NewJob};
pub use retry::RetryPolicy;
pub use status::{JobStatus, Priority};
pub use store::{JobStore, MemoryStore, PgStore, PgStoreOptions, SqliteStore, SqliteStoreOptions};
pub use worker::{
    HandlerFuture, JobContext, JobHandler, SHUTDOWN_REASON, WorkerBuilder, WorkerConfig,
    WorkerHandle, WorkerPool,
};
