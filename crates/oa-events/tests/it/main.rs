//! Integration tests of oa-events, one binary (modules named after the behaviour they pin).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in tests a panic is a failed assertion, with its location"
)]

mod a_follower_replays_and_follows_the_log;
mod async_handlers_have_their_own_queues;
mod concurrent_emits_keep_seq_order;
mod events_round_trip_through_serde;
mod global_emitter;
mod handler_failures_are_isolated;
mod recording_subscriber;
mod reentrant_emits_are_queued_in_order;
mod streams_report_lag;
mod sync_handlers_run_in_registration_order;
mod types_are_thread_safe_and_stats_serialize;
