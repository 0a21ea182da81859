//! Integration tests of oa-metrics: one binary, one module per behaviour.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed assertion with its location"
)]

mod a_late_due_announcement_is_stale;
mod arbitrary_event_sequences;
mod concurrent_queries_do_not_deadlock;
mod late_progress_after_the_end_is_ignored;
mod malformed_events_are_counted;
mod memory_bounds_are_enforced;
mod prometheus_exposition_parses;
mod query_traits_are_object_safe;
mod reset_and_disable_follow_the_design;
mod scripted_sequence_pins_every_key;
mod support;
mod ten_million_events_keep_memory_flat;
