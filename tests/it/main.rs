//! End-to-end tests of the workspace as a whole (one binary; modules named after what they pin).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in tests a panic is a failed assertion, with its location"
)]

mod crate_dependencies_follow_the_architecture;
mod dashboard_renders_in_a_browser;
mod engine_feeds_the_monitor;
mod oa_command;
mod oa_commands_work_on_a_store;
mod oa_demo_serves_the_seed_api;
mod oa_processes;
mod postgres_outage;
mod processes_share_one_store;
