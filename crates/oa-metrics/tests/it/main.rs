//! Integration tests of oa-metrics: one binary, one module per behaviour.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a panic in a test is a failed assertion with its location"
)]

mod malformed_events_are_counted;
mod memory_bounds_are_enforced;
mod scripted_sequence_pins_every_key;
mod support;
mod ten_million_events_keep_memory_flat;
