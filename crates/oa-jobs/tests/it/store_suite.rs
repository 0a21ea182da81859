//! The store suite: one set of tests, run against every `JobStore` backend.
//!
//! Each test is an async function taking the store; [`store_suite!`] instantiates all of them
//! for one backend. A new backend gets the whole suite with one line at the bottom of this file.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use oa_jobs::store::{
    ClaimRequest, HeldJob, JobFilter, JobPage, JobUpdate, Page, StatusCounts, WorkerRecord,
    WorkerState,
};
use oa_jobs::{
    Error, Job, JobError, JobStatus, JobStore, LOST_KIND, LostOutcome, MemoryStore, Priority,
    RetryPolicy, SqliteStore, SqliteStoreOptions,
};
use serde_json::{Value, json};

/// A store under test, and what must live as long as it (a temporary directory).
pub(crate) struct Harness {
    pub(crate) store: Arc<dyn JobStore>,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<crate::postgres_support::PgSchema>,
}

async fn memory() -> Harness {
    Harness {
        store: Arc::new(MemoryStore::new()),
        _dir: None,
        _schema: None,
    }
}

async fn sqlite_file() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStoreOptions::file(dir.path().join("jobs.db"))
        .open()
        .await
        .unwrap();
    Harness {
        store: Arc::new(store),
        _dir: Some(dir),
        _schema: None,
    }
}

async fn sqlite_memory() -> Harness {
    Harness {
        store: Arc::new(SqliteStore::in_memory().await.unwrap()),
        _dir: None,
        _schema: None,
    }
}

/// A PostgreSQL store in a schema of its own, or `None` when no test server is configured.
async fn postgres() -> Option<Harness> {
    let schema = crate::postgres_support::PgSchema::new()?;
    Some(Harness {
        store: Arc::new(schema.open().await),
        _dir: None,
        _schema: Some(schema),
    })
}

mod claims;
mod jobs;
mod listing;
mod liveness;
mod maintenance;

use self::claims::*;
use self::jobs::*;
use self::listing::*;
use self::liveness::*;
use self::maintenance::*;

/// Instantiates every test of the suite for one backend: `store_suite!(module => open_fn);`.
/// `open_fn` returns a [`Harness`], or an `Option<Harness>` that is `None` when the backend is
/// not available here (the tests then pass without running; the function says why).
macro_rules! store_suite {
    ($backend:ident => $open:path) => {
        mod $backend {
            store_suite!(@tests $open;
                insert_and_get_round_trip_every_field,
                duplicate_ids_are_rejected_and_nothing_is_written,
                update_checks_the_expected_status_and_the_state_machine,
                update_many_reports_each_update_on_its_own,
                delete_removes_a_job_whatever_its_status,
                list_filters_and_pages_like_the_reference,
                counts_match_a_scan_after_many_operations,
                claim_takes_priority_then_oldest_then_id,
                claim_skips_jobs_not_yet_due_and_other_names,
                concurrent_claims_never_share_a_job,
                heartbeat_renews_the_leases_of_held_jobs,
                mark_worker_offline_releases_exactly_the_workers_jobs,
                mark_worker_offline_respects_the_heartbeat_cutoff,
                requeue_expired_releases_only_expired_leases,
                scheduled_after_lists_future_queued_jobs_earliest_first,
                purge_finished_deletes_old_final_jobs,
                workers_are_recorded_and_listed,
                a_late_outcome_of_an_older_attempt_is_refused,
                finish_attempts_write_the_ends_and_report_each_refusal,
            );
        }
    };
    (@tests $open:path; $($test:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let Some(harness) = Option::<super::Harness>::from($open().await) else {
                    return;
                };
                super::$test(Arc::clone(&harness.store)).await;
            }
        )+
        use std::sync::Arc;
    };
}

store_suite!(memory_store => super::memory);
store_suite!(sqlite_file_store => super::sqlite_file);
store_suite!(sqlite_memory_store => super::sqlite_memory);
store_suite!(postgres_store => super::postgres);

// ---------------------------------------------------------------------------------------------
// Helpers.

type Store = Arc<dyn JobStore>;

/// A fixed instant with nanoseconds, so that stores must keep them.
fn base() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00.123456789Z")
        .unwrap()
        .to_utc()
}

/// `secs` seconds after [`base`].
fn at(secs: i64) -> DateTime<Utc> {
    base() + TimeDelta::seconds(secs)
}

/// A new job `id` named `name`, created at `at(0)`.
fn created(id: &str, name: &str) -> Job {
    let mut job = Job::new(name, json!({ "id": id }), at(0)).unwrap();
    job.id = id.to_owned();
    job
}

/// A job queued from `queued_at`, of `priority`.
fn queued(id: &str, name: &str, priority: Priority, queued_at: DateTime<Utc>) -> Job {
    let mut job = created(id, name);
    job.priority = priority;
    job.enqueue(at(0), queued_at).unwrap();
    job
}

fn claim_request(worker: &str, names: &[&str], limit: u32, now: DateTime<Utc>) -> ClaimRequest {
    ClaimRequest {
        worker_id: worker.to_owned(),
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        limit,
        now,
        lease_until: now + TimeDelta::seconds(30),
        log: None,
    }
}

fn ids(jobs: &[Job]) -> Vec<&str> {
    jobs.iter().map(|job| job.id.as_str()).collect()
}

async fn get(store: &Store, id: &str) -> Job {
    store
        .get(id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("job {id} missing"))
}

/// Every job, through the public listing.
async fn scan(store: &Store) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .list(
                &JobFilter::all(),
                Page::new(Page::MAX_LIMIT, offset).unwrap(),
            )
            .await
            .unwrap();
        jobs.extend(page.jobs);
        match page.next_offset {
            Some(next) => offset = next,
            None => return jobs,
        }
    }
}

async fn assert_counts_match_scan(store: &Store) {
    let mut expected = StatusCounts::default();
    for job in scan(store).await {
        expected.add(job.status, 1);
    }
    assert_eq!(store.count_by_status().await.unwrap(), expected);
}

/// Claims the job `id` (the only queued one named `name`) for `worker` at `now`.
async fn claim_one(store: &Store, worker: &str, name: &str, now: DateTime<Utc>) -> Job {
    let mut claimed = store
        .claim(&claim_request(worker, &[name], 1, now))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1, "nothing to claim named {name}");
    claimed.remove(0)
}

fn assert_conflict(result: oa_jobs::Result<()>, want_expected: JobStatus, want_actual: JobStatus) {
    match result {
        Err(Error::StatusConflict {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (want_expected, want_actual)),
        other => panic!("expected a status conflict, got {other:?}"),
    }
}

fn assert_invalid(result: oa_jobs::Result<()>, want_from: JobStatus, want_to: JobStatus) {
    match result {
        Err(Error::InvalidTransition { from, to, .. }) => {
            assert_eq!((from, to), (want_from, want_to));
        }
        other => panic!("expected an invalid transition, got {other:?}"),
    }
}

fn assert_not_found(result: oa_jobs::Result<()>, want_id: &str) {
    match result {
        Err(Error::JobNotFound { job_id }) => assert_eq!(job_id, want_id),
        other => panic!("expected job not found, got {other:?}"),
    }
}

fn assert_duplicate(result: oa_jobs::Result<()>, want_id: &str) {
    match result {
        Err(Error::DuplicateJob { job_id }) => assert_eq!(job_id, want_id),
        other => panic!("expected a duplicate job, got {other:?}"),
    }
}
