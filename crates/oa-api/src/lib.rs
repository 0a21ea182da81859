//! # oa-api: the HTTP face
//!
//! This crate will own the axum REST API with the seed's routes, the live event stream (SSE with
//! resume), the Prometheus endpoint, the OpenAPI document and the dashboard.
//!
//! **Status: not built yet.** This library compiles and is empty on purpose: it is the subject
//! of its own issue ("The monitoring API, live event stream and dashboard: oa-api").
//!
//! ## Invariants
//! - oa-api depends only on oa-events and oa-metrics (the read-only query traits, a small
//!   control trait and the snapshot types), never on oa-jobs or oa-monitor; the workspace's
//!   architecture test reads `cargo metadata` and fails on a forbidden edge.
//! - Every read it serves is O(1) or O(requested items) in the number of jobs ever run.
