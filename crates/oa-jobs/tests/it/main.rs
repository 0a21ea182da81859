//! Integration tests of oa-jobs: one binary, one module per behaviour.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on purpose"
)]

mod job_lifecycles_emit_the_table;
mod store_suite;
mod support;
