//! Integration tests of oa-jobs: one binary, one module per behaviour.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on purpose"
)]

mod an_idle_system_sleeps;
mod claims_back_off_while_the_store_is_down;
mod claims_in_flight;
mod event_log_suite;
mod flaky_store;
mod job_lifecycles_emit_the_table;
mod lost_workers_give_their_jobs_back;
mod manager_operations;
mod postgres_claim_race;
mod postgres_store;
mod postgres_support;
mod sqlite_claim_race;
mod sqlite_durability;
mod sqlite_store;
mod state_machine_is_the_table;
mod store_suite;
mod support;
mod the_engine_logs_its_events;
