//! Integration tests of oa-monitor: one binary, one module per behaviour.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed assertion with its location"
)]

mod complete_status_snapshots;
mod monitor_wiring;
mod queue_depth_sampling;
/// The scripted sequence shared with oa-metrics' tests, so that both pin the same story.
#[path = "../../../oa-metrics/tests/it/support.rs"]
#[allow(dead_code, reason = "not every helper is used here")]
mod support;
