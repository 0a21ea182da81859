#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]
//! Integration tests of oa-metrics.
