//! # oa-metrics: collectors, snapshots and query traits
//!
//! This crate will own the metric collectors (`JobMetrics`, `WorkerMetrics`, `SystemMetrics`)
//! that consume [`oa_events::Event`]s, the snapshot types they answer with, the read-only query
//! traits and the small control trait that the HTTP API holds as `Arc<dyn ...>`.
//!
//! **Status: not built yet.** This library compiles and is empty on purpose: it is the subject
//! of its own issue ("Metrics and the monitor: oa-metrics and oa-monitor").
//!
//! ## Invariants
//! - oa-metrics never talks to a database or the network: it turns events into numbers.
//! - It never depends on oa-jobs or oa-api (checked by the workspace's architecture test).
//! - Memory is bounded by configuration, never by the number of jobs processed.
