//! # oa-jobs: the job engine
//!
//! This crate will own jobs, their statuses and priorities, retry policies, the `JobStore`
//! trait with its stores (memory, SQLite as the embedded default, PostgreSQL for many
//! machines), the job manager and the workers.
//!
//! **Status: not built yet.** This library compiles and is empty on purpose: the workspace
//! foundation landed first, and the engine is the subject of its own issue ("The job engine:
//! oa-jobs with a durable embedded store, workers and liveness").
//!
//! ## Invariants
//! - oa-jobs **emits** events through an [`oa_events::EventEmitter`] it is given; that is its
//!   whole contract with observability. It never depends on oa-metrics, oa-monitor or oa-api
//!   (a test in the workspace's `tests/` reads `cargo metadata` and fails on such an edge).
//! - Only oa-jobs talks to the job database.
