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
}

async fn memory() -> Harness {
    Harness {
        store: Arc::new(MemoryStore::new()),
        _dir: None,
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
    }
}

async fn sqlite_memory() -> Harness {
    Harness {
        store: Arc::new(SqliteStore::in_memory().await.unwrap()),
        _dir: None,
    }
}

/// Instantiates every test of the suite for one backend: `store_suite!(module => open_fn);`.
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
            );
        }
    };
    (@tests $open:path; $($test:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                let harness = $open().await;
                super::$test(Arc::clone(&harness.store)).await;
            }
        )+
        use std::sync::Arc;
    };
}

store_suite!(memory_store => super::memory);
store_suite!(sqlite_file_store => super::sqlite_file);
store_suite!(sqlite_memory_store => super::sqlite_memory);

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

// ---------------------------------------------------------------------------------------------
// Jobs: insert, get, update, delete.

async fn insert_and_get_round_trip_every_field(store: Store) {
    let mut full = Job::new(
        "report.render",
        json!({
            "pages": [1, 2, 3],
            "ratio": 0.1 + 0.2,
            "tiny": 1e-300,
            "big": u64::MAX,
            "negative": -5,
            "nested": { "none": null, "yes": true, "text": "ünïcode ✓ \"quoted\"" },
        }),
        at(0),
    )
    .unwrap();
    full.id = "0190a5c4-0000-7000-8000-000000000001".to_owned();
    full.description = Some("Render the monthly report".to_owned());
    full.status = JobStatus::Running;
    full.priority = Priority::Critical;
    full.tags = vec![
        "billing".to_owned(),
        "eu-west".to_owned(),
        "with space".to_owned(),
    ];
    full.metadata = json!({ "owner": "ops", "weight": 3.5, "list": [1, "two"] })
        .as_object()
        .unwrap()
        .clone();
    full.max_retries = 7;
    full.retry_policy =
        RetryPolicy::exponential(Duration::from_millis(1500), 2.5, Duration::from_secs(600))
            .unwrap()
            .with_jitter(0.25)
            .unwrap();
    full.timeout = Some(Duration::new(90, 123_456_789));
    full.progress = 0.375_123_456_789;
    full.attempt = 3;
    full.result = Some(json!({ "rows": 42 }));
    full.error = Some(JobError::new("http_502", "upstream said no"));
    full.worker_id = Some("worker-a".to_owned());
    full.queued_at = Some(at(1) + TimeDelta::nanoseconds(1));
    full.started_at = Some(at(2) + TimeDelta::nanoseconds(7));
    full.finished_at = Some(at(3));
    full.updated_at = at(4) + TimeDelta::nanoseconds(999);
    full.lease_expires_at = Some(at(30) + TimeDelta::nanoseconds(3));

    // Every optional field empty.
    let mut bare = Job::new("x", Value::Null, at(-86_400 * 365 * 30)).unwrap();
    bare.retry_policy = RetryPolicy::fixed(Duration::from_millis(250));
    bare.max_retries = 0;
    bare.priority = Priority::Low;

    // A JSON null result is a result, not its absence.
    let mut null_result = created("null-result", "x");
    null_result.status = JobStatus::Completed;
    null_result.result = Some(Value::Null);
    null_result.payload = json!([]);
    null_result.progress = 1.0;

    for job in [&full, &bare, &null_result] {
        store.insert(job).await.unwrap();
        assert_eq!(&get(&store, &job.id).await, job);
    }
    assert_eq!(store.get("missing").await.unwrap(), None);

    // The listing reads the same records back.
    let listed = scan(&store).await;
    for job in [&full, &bare, &null_result] {
        assert_eq!(listed.iter().find(|j| j.id == job.id), Some(job));
    }
}

async fn duplicate_ids_are_rejected_and_nothing_is_written(store: Store) {
    let original = queued("a", "original", Priority::High, at(1));
    store.insert(&original).await.unwrap();
    let impostor = created("a", "impostor");
    assert_duplicate(store.insert(&impostor).await, "a");
    assert_eq!(get(&store, "a").await, original);

    // A clash with a stored job: none of the batch is saved.
    let batch = [created("b", "x"), impostor.clone()];
    assert_duplicate(store.insert_many(&batch).await, "a");
    assert_eq!(store.get("b").await.unwrap(), None);

    // A clash inside the batch.
    let batch = [created("c", "x"), created("d", "x"), created("c", "y")];
    assert_duplicate(store.insert_many(&batch).await, "c");
    assert_eq!(store.get("c").await.unwrap(), None);
    assert_eq!(store.get("d").await.unwrap(), None);

    // The first offender in batch order is named.
    let batch = [created("e", "x"), created("e", "x"), impostor.clone()];
    assert_duplicate(store.insert_many(&batch).await, "e");

    store.insert_many(&[]).await.unwrap();
    assert_eq!(store.count_by_status().await.unwrap().total(), 1);

    // A large batch whose clash comes late: the earlier jobs are not saved either.
    let mut large: Vec<Job> = (0..600)
        .map(|i| created(&format!("n{i:04}"), "x"))
        .collect();
    large[599] = created("a", "late impostor");
    assert_duplicate(store.insert_many(&large).await, "a");
    assert_eq!(store.get("n0000").await.unwrap(), None);
    assert_eq!(store.count_by_status().await.unwrap().total(), 1);

    large[599] = created("n0599", "x");
    store.insert_many(&large).await.unwrap();
    assert_eq!(store.count_by_status().await.unwrap().total(), 601);
    assert_eq!(get(&store, "n0599").await, large[599]);
    assert_counts_match_scan(&store).await;
}

async fn update_checks_the_expected_status_and_the_state_machine(store: Store) {
    let job = queued("u", "x", Priority::Medium, at(1));
    store.insert(&job).await.unwrap();

    let mut running = job.clone();
    running.start("w", at(2), at(32)).unwrap();
    store
        .update(&JobUpdate::new(running.clone(), JobStatus::Queued))
        .await
        .unwrap();
    assert_eq!(get(&store, "u").await, running);

    // Progress keeps the status.
    let mut progressed = running.clone();
    progressed.set_progress(0.5, at(3));
    store
        .update(&JobUpdate::new(progressed.clone(), JobStatus::Running))
        .await
        .unwrap();
    assert_eq!(get(&store, "u").await, progressed);

    // Someone moved it first.
    let mut stale = job.clone();
    stale.cancel(at(4)).unwrap();
    assert_conflict(
        store
            .update(&JobUpdate::new(stale.clone(), JobStatus::Queued))
            .await,
        JobStatus::Queued,
        JobStatus::Running,
    );
    // A conflict is reported before a forbidden move.
    let mut requeued = stale.clone();
    requeued.status = JobStatus::Queued;
    assert_conflict(
        store
            .update(&JobUpdate::new(requeued, JobStatus::Completed))
            .await,
        JobStatus::Completed,
        JobStatus::Running,
    );
    // The move itself is forbidden.
    let mut back = progressed.clone();
    back.status = JobStatus::Created;
    assert_invalid(
        store
            .update(&JobUpdate::new(back, JobStatus::Running))
            .await,
        JobStatus::Running,
        JobStatus::Created,
    );
    // Unknown job, whatever the move.
    let ghost = created("ghost", "x");
    assert_not_found(
        store
            .update(&JobUpdate::new(ghost.clone(), JobStatus::Created))
            .await,
        "ghost",
    );
    let mut ghost_final = ghost;
    ghost_final.status = JobStatus::Completed;
    assert_not_found(
        store
            .update(&JobUpdate::new(ghost_final, JobStatus::Created))
            .await,
        "ghost",
    );
    assert_eq!(
        get(&store, "u").await,
        progressed,
        "an error changed the job"
    );
    assert_eq!(store.get("ghost").await.unwrap(), None);

    // Queued to queued is not a progress report.
    let other = queued("v", "x", Priority::Medium, at(1));
    store.insert(&other).await.unwrap();
    let mut touched = other.clone();
    touched.updated_at = at(5);
    assert_invalid(
        store
            .update(&JobUpdate::new(touched, JobStatus::Queued))
            .await,
        JobStatus::Queued,
        JobStatus::Queued,
    );
    assert_eq!(get(&store, "v").await, other);

    // A final job goes nowhere.
    let mut done = progressed.clone();
    done.complete(json!("ok"), at(6)).unwrap();
    store
        .update(&JobUpdate::new(done.clone(), JobStatus::Running))
        .await
        .unwrap();
    let mut revived = done.clone();
    revived.status = JobStatus::Running;
    assert_invalid(
        store
            .update(&JobUpdate::new(revived, JobStatus::Completed))
            .await,
        JobStatus::Completed,
        JobStatus::Running,
    );
    assert_eq!(get(&store, "u").await, done);
    assert_counts_match_scan(&store).await;
}

async fn update_many_reports_each_update_on_its_own(store: Store) {
    let jobs: Vec<Job> = ["a", "b", "c", "d"]
        .iter()
        .map(|id| queued(id, "x", Priority::Medium, at(1)))
        .collect();
    store.insert_many(&jobs).await.unwrap();
    let mut e = queued("e", "x", Priority::Medium, at(1));
    e.cancel(at(2)).unwrap();
    store.insert(&e).await.unwrap();

    let mut a = jobs[0].clone();
    a.start("w", at(3), at(33)).unwrap();
    let mut b = jobs[1].clone();
    b.status = JobStatus::Completed;
    let mut c = jobs[2].clone();
    c.status = JobStatus::Completed;
    let mut d = jobs[3].clone();
    d.pause(at(3)).unwrap();
    let mut e_again = e.clone();
    e_again.status = JobStatus::Queued;
    let results = store
        .update_many(&[
            JobUpdate::new(a.clone(), JobStatus::Queued),
            JobUpdate::new(b, JobStatus::Running),
            JobUpdate::new(created("missing", "x"), JobStatus::Created),
            JobUpdate::new(c, JobStatus::Queued),
            JobUpdate::new(d.clone(), JobStatus::Queued),
            JobUpdate::new(e_again, JobStatus::Cancelled),
        ])
        .await
        .unwrap();
    let mut results = results.into_iter();
    results.next().unwrap().unwrap();
    assert_conflict(
        results.next().unwrap(),
        JobStatus::Running,
        JobStatus::Queued,
    );
    assert_not_found(results.next().unwrap(), "missing");
    assert_invalid(
        results.next().unwrap(),
        JobStatus::Queued,
        JobStatus::Completed,
    );
    results.next().unwrap().unwrap();
    assert_invalid(
        results.next().unwrap(),
        JobStatus::Cancelled,
        JobStatus::Queued,
    );
    assert!(results.next().is_none());
    assert_eq!(get(&store, "a").await, a);
    assert_eq!(get(&store, "b").await, jobs[1]);
    assert_eq!(get(&store, "c").await, jobs[2]);
    assert_eq!(get(&store, "d").await, d);
    assert_eq!(get(&store, "e").await, e);
    assert_eq!(store.get("missing").await.unwrap(), None);

    // Updates of one job in one batch apply in order, each seeing the previous one.
    let f = queued("f", "x", Priority::Medium, at(1));
    store.insert(&f).await.unwrap();
    let mut f_running = f.clone();
    f_running.start("w", at(4), at(34)).unwrap();
    let mut f_done = f_running.clone();
    f_done.complete(json!(1), at(5)).unwrap();
    let results = store
        .update_many(&[
            JobUpdate::new(f_running.clone(), JobStatus::Queued),
            JobUpdate::new(f_done.clone(), JobStatus::Running),
            JobUpdate::new(f_running, JobStatus::Queued),
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    let mut results = results.into_iter();
    results.next().unwrap().unwrap();
    results.next().unwrap().unwrap();
    assert_conflict(
        results.next().unwrap(),
        JobStatus::Queued,
        JobStatus::Completed,
    );
    assert_eq!(get(&store, "f").await, f_done);

    // A batch larger than any single statement.
    let many: Vec<Job> = (0..700)
        .map(|i| queued(&format!("m{i:04}"), "bulk", Priority::Low, at(1)))
        .collect();
    store.insert_many(&many).await.unwrap();
    let mut updates: Vec<JobUpdate> = many
        .iter()
        .map(|job| {
            let mut job = job.clone();
            job.start("bulk-worker", at(6), at(36)).unwrap();
            JobUpdate::new(job, JobStatus::Queued)
        })
        .collect();
    // One stale update in the middle fails alone.
    updates[350].expected = JobStatus::Paused;
    let results = store.update_many(&updates).await.unwrap();
    assert_eq!(results.len(), 700);
    for (i, result) in results.into_iter().enumerate() {
        if i == 350 {
            assert_conflict(result, JobStatus::Paused, JobStatus::Queued);
        } else {
            result.unwrap();
        }
    }
    assert_eq!(get(&store, "m0699").await, updates[699].job);
    assert_eq!(get(&store, "m0350").await, many[350]);
    assert_eq!(store.update_many(&[]).await.unwrap().len(), 0);
    assert_counts_match_scan(&store).await;
}

async fn delete_removes_a_job_whatever_its_status(store: Store) {
    let waiting = queued("q", "x", Priority::Medium, at(1));
    store.insert(&waiting).await.unwrap();
    store
        .insert(&queued("r", "x", Priority::Medium, at(1)))
        .await
        .unwrap();
    claim_one(&store, "w", "x", at(2)).await;
    let mut done = created("c", "x");
    done.cancel(at(3)).unwrap();
    store.insert(&done).await.unwrap();
    assert_eq!(store.count_by_status().await.unwrap().total(), 3);

    for id in ["q", "r", "c"] {
        assert!(store.delete(id).await.unwrap(), "{id}");
        assert_eq!(store.get(id).await.unwrap(), None);
        assert!(!store.delete(id).await.unwrap(), "{id} deleted twice");
    }
    assert!(!store.delete("never").await.unwrap());
    assert_eq!(
        store.count_by_status().await.unwrap(),
        StatusCounts::default()
    );
    // A deleted id can be used again.
    store.insert(&waiting).await.unwrap();
    assert_eq!(get(&store, "q").await, waiting);
}

// ---------------------------------------------------------------------------------------------
// Listing and counting.

/// Thirty jobs spread over every status, three names, tags, priorities and two workers.
fn varied_jobs() -> Vec<Job> {
    (0..30)
        .map(|i| {
            let mut job = created(&format!("job-{i:02}"), ["alpha", "beta", "gamma"][i % 3]);
            job.priority = Priority::ALL[i % 4];
            job.tags = match i % 5 {
                0 => vec![],
                1 => vec!["red".to_owned()],
                2 => vec!["red".to_owned(), "blue".to_owned()],
                3 => vec!["blue".to_owned()],
                _ => vec!["green".to_owned(), "reddish".to_owned()],
            };
            job.status = JobStatus::ALL[i % 7];
            if matches!(job.status, JobStatus::Running | JobStatus::Paused) {
                job.worker_id = Some(["w1", "w2"][i % 2].to_owned());
            }
            job
        })
        .collect()
}

async fn list_filters_and_pages_like_the_reference(store: Store) {
    let jobs = varied_jobs();
    // Inserted out of id order: listings order by id, not by insertion.
    let (first, second) = jobs.split_at(13);
    store.insert_many(second).await.unwrap();
    store.insert_many(first).await.unwrap();

    let filters = [
        JobFilter::all(),
        JobFilter::all().status(JobStatus::Queued),
        JobFilter::all()
            .status(JobStatus::Running)
            .status(JobStatus::Paused),
        JobFilter::all().name("beta"),
        JobFilter::all().name("delta"),
        JobFilter::all().tag("red"),
        JobFilter::all().tag("blue"),
        JobFilter::all().tag("re"),
        JobFilter::all().priority(Priority::Critical),
        JobFilter::all().worker("w1"),
        JobFilter::all().worker("w2").status(JobStatus::Running),
        JobFilter::all()
            .name("alpha")
            .tag("red")
            .priority(Priority::Low),
        JobFilter::all()
            .status(JobStatus::Completed)
            .status(JobStatus::Failed)
            .status(JobStatus::Cancelled)
            .name("gamma"),
    ];
    for filter in &filters {
        let mut expected: Vec<&Job> = jobs.iter().filter(|j| filter.matches(j)).collect();
        expected.sort_by(|a, b| b.id.cmp(&a.id));

        // One page holding everything.
        let all = store.list(filter, Page::first(100)).await.unwrap();
        assert_eq!(all.jobs.iter().collect::<Vec<_>>(), expected, "{filter:?}");
        assert_eq!(all.next_offset, None, "{filter:?}");

        // Pages of 4.
        let mut collected = Vec::new();
        let mut offset = 0;
        loop {
            let JobPage {
                jobs: page,
                next_offset,
            } = store
                .list(filter, Page::new(4, offset).unwrap())
                .await
                .unwrap();
            assert!(page.len() <= 4);
            let remaining = expected.len() as u64 - offset.min(expected.len() as u64);
            assert_eq!(page.len() as u64, remaining.min(4), "{filter:?} @ {offset}");
            collected.extend(page);
            match next_offset {
                Some(next) => {
                    assert_eq!(next, offset + 4);
                    assert!(next < expected.len() as u64, "{filter:?}: empty next page");
                    offset = next;
                }
                None => break,
            }
        }
        assert_eq!(collected.iter().collect::<Vec<_>>(), expected, "{filter:?}");
    }

    // A page that ends exactly at the last job has no next page; past the end is empty.
    let exact = store
        .list(&JobFilter::all(), Page::new(10, 20).unwrap())
        .await
        .unwrap();
    assert_eq!(exact.jobs.len(), 10);
    assert_eq!(exact.next_offset, None);
    let past = store
        .list(&JobFilter::all(), Page::new(10, 31).unwrap())
        .await
        .unwrap();
    assert_eq!(
        past,
        JobPage {
            jobs: vec![],
            next_offset: None
        }
    );
}

async fn counts_match_a_scan_after_many_operations(store: Store) {
    assert_eq!(
        store.count_by_status().await.unwrap(),
        StatusCounts::default()
    );
    let jobs: Vec<Job> = (0..40).map(|i| created(&format!("c{i:02}"), "x")).collect();
    store.insert_many(&jobs).await.unwrap();
    assert_eq!(
        store
            .count_by_status()
            .await
            .unwrap()
            .get(JobStatus::Created),
        40
    );

    // Queue thirty, cancel two of the others.
    let mut updates = Vec::new();
    for job in &jobs[..30] {
        let mut job = job.clone();
        job.enqueue(at(1), at(1)).unwrap();
        updates.push(JobUpdate::new(job, JobStatus::Created));
    }
    for job in &jobs[30..32] {
        let mut job = job.clone();
        job.cancel(at(1)).unwrap();
        updates.push(JobUpdate::new(job, JobStatus::Created));
    }
    assert!(
        store
            .update_many(&updates)
            .await
            .unwrap()
            .iter()
            .all(Result::is_ok)
    );
    assert_counts_match_scan(&store).await;

    // Two workers claim twenty; complete five, fail five for good, pause two.
    let mut claimed = store
        .claim(&claim_request("w1", &["x"], 10, at(2)))
        .await
        .unwrap();
    claimed.extend(
        store
            .claim(&claim_request("w2", &["x"], 10, at(2)))
            .await
            .unwrap(),
    );
    assert_eq!(claimed.len(), 20);
    assert_counts_match_scan(&store).await;
    for (i, job) in claimed.iter().enumerate().take(12) {
        let mut job = job.clone();
        match i {
            0..5 => job.complete(json!(i), at(3)).unwrap(),
            5..10 => {
                job.fail_attempt(JobError::fatal("bad", "input"), at(3))
                    .unwrap();
            }
            _ => job.pause(at(3)).unwrap(),
        }
        store
            .update(&JobUpdate::new(job, JobStatus::Running))
            .await
            .unwrap();
    }
    assert_counts_match_scan(&store).await;

    // Lose a worker, expire the other's leases, delete and purge some.
    store
        .register_worker(&WorkerRecord::new("w1", at(0)))
        .await
        .unwrap();
    store
        .mark_worker_offline("w1", at(4), "heartbeat_timeout", None)
        .await
        .unwrap()
        .unwrap();
    assert_counts_match_scan(&store).await;
    store.requeue_expired(at(100)).await.unwrap();
    assert_counts_match_scan(&store).await;
    assert!(store.delete("c35").await.unwrap());
    assert_eq!(store.purge_finished(at(200)).await.unwrap(), 12);
    assert_counts_match_scan(&store).await;
    let counts = store.count_by_status().await.unwrap();
    assert_eq!(counts.get(JobStatus::Running), 0);
    assert_eq!(counts.total(), 40 - 1 - 12);
}

// ---------------------------------------------------------------------------------------------
// Claims.

async fn claim_takes_priority_then_oldest_then_id(store: Store) {
    let jobs = [
        queued("low", "work", Priority::Low, at(1)),
        queued("medium", "work", Priority::Medium, at(2)),
        queued("high-late", "work", Priority::High, at(3)),
        queued("high-early-2", "work", Priority::High, at(1)),
        queued("high-early-1", "work", Priority::High, at(1)),
        queued("critical-future", "work", Priority::Critical, at(100)),
        queued("critical-other", "other", Priority::Critical, at(0)),
    ];
    store.insert_many(&jobs).await.unwrap();
    let mut paused = queued("critical-paused", "work", Priority::Critical, at(0));
    paused.pause(at(0)).unwrap();
    let mut not_queued = created("critical-created", "work");
    not_queued.priority = Priority::Critical;
    store.insert_many(&[paused, not_queued]).await.unwrap();

    let request = claim_request("w1", &["work"], 3, at(10));
    let first = store.claim(&request).await.unwrap();
    assert_eq!(ids(&first), ["high-early-1", "high-early-2", "high-late"]);
    // A claim changes a job exactly as `Job::start` does.
    for claimed in &first {
        let mut expected = jobs.iter().find(|j| j.id == claimed.id).unwrap().clone();
        expected
            .start("w1", request.now, request.lease_until)
            .unwrap();
        assert_eq!(claimed, &expected);
        assert_eq!(get(&store, &claimed.id).await, expected);
    }

    let second = store
        .claim(&claim_request("w2", &["work"], 10, at(10)))
        .await
        .unwrap();
    assert_eq!(ids(&second), ["medium", "low"]);
    assert!(second.iter().all(|j| j.worker_id.as_deref() == Some("w2")));
    assert!(
        store
            .claim(&claim_request("w2", &["work"], 10, at(10)))
            .await
            .unwrap()
            .is_empty()
    );

    // Several names: one order across them.
    let both = store
        .claim(&claim_request(
            "w3",
            &["work", "other", "work"],
            10,
            at(200),
        ))
        .await
        .unwrap();
    assert_eq!(ids(&both), ["critical-other", "critical-future"]);
    let counts = store.count_by_status().await.unwrap();
    assert_eq!(counts.get(JobStatus::Running), 7);
    assert_eq!(counts.get(JobStatus::Queued), 0);
    assert_counts_match_scan(&store).await;
}

async fn claim_skips_jobs_not_yet_due_and_other_names(store: Store) {
    let mut retried = queued("retried", "a", Priority::Medium, at(5));
    retried.attempt = 2;
    // A queued job without `queued_at` is due from its creation.
    let mut unscheduled = created("unscheduled", "a");
    unscheduled.created_at = at(7);
    unscheduled.status = JobStatus::Queued;
    let jobs = [
        retried,
        unscheduled,
        queued("b1", "b", Priority::Critical, at(0)),
        queued("b2", "b", Priority::Low, at(0)),
        queued("c1", "c", Priority::Low, at(0)),
    ];
    store.insert_many(&jobs).await.unwrap();

    let none = |names: &'static [&'static str], limit, now| {
        let store = Arc::clone(&store);
        async move {
            let claimed = store
                .claim(&claim_request("w", names, limit, now))
                .await
                .unwrap();
            assert!(claimed.is_empty(), "{names:?} @ {now}: {:?}", ids(&claimed));
        }
    };
    none(&["a"], 10, at(4)).await;
    none(&[], 10, at(100)).await;
    none(&["b"], 0, at(100)).await;
    none(&["zzz"], 10, at(100)).await;

    // Due exactly at `now`.
    let claimed = store
        .claim(&claim_request("w", &["a"], 10, at(5)))
        .await
        .unwrap();
    assert_eq!(ids(&claimed), ["retried"]);
    assert_eq!(claimed[0].attempt, 3);
    assert_eq!(claimed[0].progress, 0.0);
    let claimed = store
        .claim(&claim_request("w", &["a"], 10, at(7)))
        .await
        .unwrap();
    assert_eq!(ids(&claimed), ["unscheduled"]);

    // The limit holds across names, best first.
    let claimed = store
        .claim(&claim_request("w", &["c", "b"], 2, at(8)))
        .await
        .unwrap();
    assert_eq!(ids(&claimed), ["b1", "b2"]);
    let claimed = store
        .claim(&claim_request("w", &["b", "c"], 2, at(8)))
        .await
        .unwrap();
    assert_eq!(ids(&claimed), ["c1"]);
}

async fn concurrent_claims_never_share_a_job(store: Store) {
    let jobs: Vec<Job> = (0..300)
        .map(|i| {
            queued(
                &format!("r{i:03}"),
                ["p", "q"][i % 2],
                Priority::ALL[i % 4],
                at(i64::try_from(i % 7).unwrap()),
            )
        })
        .collect();
    store.insert_many(&jobs).await.unwrap();
    let mut tasks = Vec::new();
    for claimer in 0..6_u32 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let worker = format!("w{claimer}");
            let names: &[&str] = if claimer % 2 == 0 {
                &["p", "q"]
            } else {
                &["q"]
            };
            let mut mine = Vec::new();
            loop {
                let limit = 1 + claimer % 4;
                let claimed = store
                    .claim(&claim_request(&worker, names, limit, at(10)))
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return mine;
                }
                assert!(claimed.len() <= limit as usize);
                assert!(
                    claimed
                        .iter()
                        .all(|j| j.worker_id.as_deref() == Some(&*worker))
                );
                mine.extend(claimed.into_iter().map(|j| j.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    for task in tasks {
        for id in task.await.unwrap() {
            assert!(seen.insert(id.clone()), "{id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 300);
    let counts = store.count_by_status().await.unwrap();
    assert_eq!(counts.get(JobStatus::Running), 300);
}

// ---------------------------------------------------------------------------------------------
// Workers and liveness.

async fn heartbeat_renews_the_leases_of_held_jobs(store: Store) {
    assert!(matches!(
        store.heartbeat("nobody", at(1), at(31)).await,
        Err(Error::WorkerNotFound { worker_id }) if worker_id == "nobody"
    ));
    for worker in ["w1", "w2"] {
        store
            .register_worker(&WorkerRecord::new(worker, at(0)))
            .await
            .unwrap();
    }
    store
        .insert_many(&[
            queued("j2", "x", Priority::Medium, at(0)),
            queued("j1", "x", Priority::Medium, at(0)),
            queued("j3", "x", Priority::Medium, at(0)),
            queued("j4", "y", Priority::Medium, at(0)),
        ])
        .await
        .unwrap();
    let held = store
        .claim(&claim_request("w1", &["x"], 3, at(1)))
        .await
        .unwrap();
    assert_eq!(ids(&held), ["j1", "j2", "j3"]);
    let other = claim_one(&store, "w2", "y", at(1)).await;
    // One job paused while held, one finished: only held jobs are renewed.
    let mut paused = held[1].clone();
    paused.pause(at(2)).unwrap();
    let mut done = held[2].clone();
    done.complete(json!(null), at(2)).unwrap();
    for (job, expected) in [(paused, JobStatus::Running), (done, JobStatus::Running)] {
        store.update(&JobUpdate::new(job, expected)).await.unwrap();
    }

    let outcome = store.heartbeat("w1", at(20), at(60)).await.unwrap();
    assert!(!outcome.revived);
    assert_eq!(
        outcome.held,
        [
            HeldJob {
                job_id: "j1".to_owned(),
                status: JobStatus::Running
            },
            HeldJob {
                job_id: "j2".to_owned(),
                status: JobStatus::Paused
            },
        ]
    );
    for id in ["j1", "j2"] {
        assert_eq!(get(&store, id).await.lease_expires_at, Some(at(60)));
    }
    assert_eq!(get(&store, "j3").await.lease_expires_at, None);
    assert_eq!(get(&store, "j4").await, other);
    let record = store.get_worker("w1").await.unwrap().unwrap();
    assert_eq!(record.last_heartbeat_at, at(20));
    assert_eq!(record.state, WorkerState::Online);

    // Declared lost, it comes back: its jobs were released, it must register anew.
    store
        .mark_worker_offline("w1", at(70), "heartbeat_timeout", Some(at(65)))
        .await
        .unwrap()
        .unwrap();
    let outcome = store.heartbeat("w1", at(80), at(110)).await.unwrap();
    assert!(outcome.revived);
    assert!(outcome.held.is_empty());
    let record = store.get_worker("w1").await.unwrap().unwrap();
    assert_eq!(
        (
            record.state,
            record.last_heartbeat_at,
            record.offline_at,
            record.offline_reason
        ),
        (WorkerState::Online, at(80), None, None)
    );
    assert!(
        !store
            .heartbeat("w1", at(81), at(111))
            .await
            .unwrap()
            .revived
    );
}

async fn mark_worker_offline_releases_exactly_the_workers_jobs(store: Store) {
    for worker in ["w1", "w2"] {
        store
            .register_worker(&WorkerRecord::new(worker, at(0)))
            .await
            .unwrap();
    }
    let mut last_try = queued("r0", "last", Priority::Medium, at(0));
    last_try.max_retries = 0;
    store
        .insert_many(&[
            queued("r1", "retry", Priority::Medium, at(0)),
            last_try,
            queued("p", "pause", Priority::Medium, at(0)),
            queued("o", "other", Priority::Medium, at(0)),
            queued("q", "idle", Priority::Medium, at(0)),
        ])
        .await
        .unwrap();
    for name in ["retry", "last", "pause"] {
        claim_one(&store, "w1", name, at(1)).await;
    }
    claim_one(&store, "w2", "other", at(1)).await;
    let mut paused = get(&store, "p").await;
    paused.pause(at(2)).unwrap();
    store
        .update(&JobUpdate::new(paused, JobStatus::Running))
        .await
        .unwrap();
    let before: Vec<Job> = [
        get(&store, "p").await,
        get(&store, "r0").await,
        get(&store, "r1").await,
    ]
    .into();
    let untouched = [get(&store, "o").await, get(&store, "q").await];

    let changed = store
        .mark_worker_offline("w1", at(50), "heartbeat_timeout", Some(at(40)))
        .await
        .unwrap()
        .expect("w1 was online and silent");
    let mut expected = before.clone();
    let outcomes: Vec<LostOutcome> = expected
        .iter_mut()
        .map(|j| j.release_lost(at(50)))
        .collect();
    assert_eq!(
        outcomes,
        [
            LostOutcome::Released,
            LostOutcome::Failed,
            LostOutcome::Requeued
        ]
    );
    assert_eq!(changed, expected);
    for job in &expected {
        assert_eq!(&get(&store, &job.id).await, job);
    }
    assert_eq!(expected[2].status, JobStatus::Queued);
    assert_eq!(expected[2].queued_at, Some(at(50)));
    assert_eq!(expected[2].error.as_ref().unwrap().kind, LOST_KIND);
    for job in &untouched {
        assert_eq!(&get(&store, &job.id).await, job);
    }
    let record = store.get_worker("w1").await.unwrap().unwrap();
    assert_eq!(record.state, WorkerState::Offline);
    assert_eq!(record.offline_at, Some(at(50)));
    assert_eq!(record.offline_reason.as_deref(), Some("heartbeat_timeout"));

    // Of two reapers, one wins; an unknown worker is nobody's to declare.
    assert_eq!(
        store
            .mark_worker_offline("w1", at(51), "heartbeat_timeout", None)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .mark_worker_offline("ghost", at(51), "shutdown", None)
            .await
            .unwrap(),
        None
    );
    // The requeued job can be claimed again, as a new attempt.
    let again = claim_one(&store, "w2", "retry", at(52)).await;
    assert_eq!(again.attempt, 2);
    assert_counts_match_scan(&store).await;
}

async fn mark_worker_offline_respects_the_heartbeat_cutoff(store: Store) {
    store
        .register_worker(&WorkerRecord::new("w", at(0)))
        .await
        .unwrap();
    store.heartbeat("w", at(10), at(40)).await.unwrap();
    for cutoff in [at(9), at(10)] {
        assert_eq!(
            store
                .mark_worker_offline("w", at(11), "heartbeat_timeout", Some(cutoff))
                .await
                .unwrap(),
            None,
            "heartbeat at 10 is not before {cutoff}"
        );
    }
    assert_eq!(
        store.get_worker("w").await.unwrap().unwrap().state,
        WorkerState::Online
    );
    let cutoff = at(10) + TimeDelta::nanoseconds(1);
    assert_eq!(
        store
            .mark_worker_offline("w", at(11), "heartbeat_timeout", Some(cutoff))
            .await
            .unwrap(),
        Some(vec![])
    );

    // A graceful shutdown forces it, whatever the last heartbeat.
    store
        .register_worker(&WorkerRecord::new("v", at(20)))
        .await
        .unwrap();
    assert_eq!(
        store
            .mark_worker_offline("v", at(20), "shutdown", None)
            .await
            .unwrap(),
        Some(vec![])
    );
    let record = store.get_worker("v").await.unwrap().unwrap();
    assert_eq!(record.offline_reason.as_deref(), Some("shutdown"));
}

async fn requeue_expired_releases_only_expired_leases(store: Store) {
    let mut last_try = queued("j3", "c", Priority::Medium, at(0));
    last_try.max_retries = 0;
    store
        .insert_many(&[
            queued("j1", "a", Priority::Medium, at(0)),
            queued("j2", "b", Priority::Medium, at(0)),
            last_try,
            queued("j4", "d", Priority::Medium, at(0)),
            queued("j5", "e", Priority::Medium, at(0)),
        ])
        .await
        .unwrap();
    for (name, lease) in [("a", 10), ("b", 20), ("c", 30), ("d", 5)] {
        let mut request = claim_request("w", &[name], 1, at(1));
        request.lease_until = at(lease);
        assert_eq!(store.claim(&request).await.unwrap().len(), 1);
    }
    let mut paused = get(&store, "j4").await;
    paused.pause(at(2)).unwrap();
    store
        .update(&JobUpdate::new(paused, JobStatus::Running))
        .await
        .unwrap();
    let snapshot: Vec<Job> = [
        get(&store, "j1").await,
        get(&store, "j2").await,
        get(&store, "j3").await,
        get(&store, "j4").await,
    ]
    .into();

    // Strictly before `now`: the lease ending at 20 still holds at 20.
    let changed = store.requeue_expired(at(20)).await.unwrap();
    let mut expected = vec![snapshot[0].clone(), snapshot[3].clone()];
    for job in &mut expected {
        job.release_lost(at(20));
    }
    assert_eq!(changed, expected);
    assert_eq!(changed[0].status, JobStatus::Queued);
    assert_eq!(changed[1].status, JobStatus::Paused);
    assert_eq!(changed[1].worker_id, None);
    assert!(store.requeue_expired(at(20)).await.unwrap().is_empty());

    let changed = store.requeue_expired(at(31)).await.unwrap();
    assert_eq!(ids(&changed), ["j2", "j3"]);
    assert_eq!(changed[0].status, JobStatus::Queued);
    assert_eq!(changed[1].status, JobStatus::Failed);
    assert_eq!(changed[1].finished_at, Some(at(31)));
    for job in &changed {
        assert_eq!(&get(&store, &job.id).await, job);
    }
    assert_eq!(get(&store, "j5").await.status, JobStatus::Queued);

    // Back in the queue, claimable at once.
    let again = store
        .claim(&claim_request("w2", &["a", "b"], 10, at(31)))
        .await
        .unwrap();
    assert_eq!(ids(&again), ["j1", "j2"]);
    assert!(again.iter().all(|j| j.attempt == 2));
    assert_counts_match_scan(&store).await;
}

async fn scheduled_after_lists_future_queued_jobs_earliest_first(store: Store) {
    let mut paused = queued("paused", "x", Priority::Medium, at(15));
    paused.pause(at(0)).unwrap();
    store
        .insert_many(&[
            queued("t20", "x", Priority::Critical, at(20)),
            queued("t10-b", "x", Priority::Low, at(10)),
            queued("t10-a", "y", Priority::High, at(10)),
            queued("t05", "x", Priority::Medium, at(5)),
            queued("t01", "x", Priority::Medium, at(1)),
            paused,
            created("created", "x"),
        ])
        .await
        .unwrap();
    let later = store.scheduled_after(at(5), 10).await.unwrap();
    assert_eq!(ids(&later), ["t10-a", "t10-b", "t20"]);
    assert_eq!(later[2], get(&store, "t20").await);
    let first = store.scheduled_after(at(5), 2).await.unwrap();
    assert_eq!(ids(&first), ["t10-a", "t10-b"]);
    let all = store.scheduled_after(at(0), 100).await.unwrap();
    assert_eq!(ids(&all), ["t01", "t05", "t10-a", "t10-b", "t20"]);
    assert!(store.scheduled_after(at(20), 100).await.unwrap().is_empty());
    assert!(store.scheduled_after(at(0), 0).await.unwrap().is_empty());
}

async fn purge_finished_deletes_old_final_jobs(store: Store) {
    let finished = |id: &str, status: JobStatus, secs: i64| {
        let mut job = created(id, "x");
        job.status = status;
        job.finished_at = Some(at(secs));
        job
    };
    store
        .insert_many(&[
            finished("completed-10", JobStatus::Completed, 10),
            finished("failed-20", JobStatus::Failed, 20),
            finished("cancelled-30", JobStatus::Cancelled, 30),
            finished("completed-40", JobStatus::Completed, 40),
            queued("queued", "x", Priority::Medium, at(0)),
            queued("running", "y", Priority::Medium, at(0)),
            created("created", "x"),
        ])
        .await
        .unwrap();
    claim_one(&store, "w", "y", at(1)).await;

    assert_eq!(store.purge_finished(at(30)).await.unwrap(), 2);
    assert_eq!(store.get("completed-10").await.unwrap(), None);
    assert_eq!(store.get("failed-20").await.unwrap(), None);
    assert!(store.get("cancelled-30").await.unwrap().is_some());
    assert_eq!(store.purge_finished(at(1000)).await.unwrap(), 2);
    assert_eq!(store.purge_finished(at(1000)).await.unwrap(), 0);
    let left: HashSet<String> = scan(&store).await.into_iter().map(|j| j.id).collect();
    assert_eq!(
        left,
        HashSet::from(["queued", "running", "created"].map(str::to_owned))
    );
    assert_counts_match_scan(&store).await;
}

async fn workers_are_recorded_and_listed(store: Store) {
    let mut a = WorkerRecord::new("w-a", at(1));
    a.host = "host-1".to_owned();
    a.pid = 4242;
    a.tags = vec!["gpu".to_owned(), "eu".to_owned()];
    a.job_names = vec!["render".to_owned(), "email".to_owned()];
    a.max_concurrent_jobs = 16;
    a.heartbeat_interval_ms = 2500;
    let b = WorkerRecord::new("w-b", at(3));
    let c = WorkerRecord::new("w-c", at(2));
    for record in [&a, &b, &c] {
        store.register_worker(record).await.unwrap();
    }
    assert_eq!(store.get_worker("w-a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_worker("nobody").await.unwrap(), None);
    let order =
        |workers: Vec<WorkerRecord>| -> Vec<String> { workers.into_iter().map(|w| w.id).collect() };
    assert_eq!(
        order(store.list_workers().await.unwrap()),
        ["w-b", "w-c", "w-a"]
    );

    store
        .mark_worker_offline("w-b", at(4), "shutdown", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        order(store.list_workers().await.unwrap()),
        ["w-c", "w-a", "w-b"]
    );
    let offline = store.get_worker("w-b").await.unwrap().unwrap();
    assert_eq!(offline.state, WorkerState::Offline);
    assert_eq!(offline.offline_at, Some(at(4)));

    // Registering again replaces the record.
    let mut back = WorkerRecord::new("w-b", at(5));
    back.host = "host-2".to_owned();
    store.register_worker(&back).await.unwrap();
    assert_eq!(store.get_worker("w-b").await.unwrap(), Some(back));
    assert_eq!(
        order(store.list_workers().await.unwrap()),
        ["w-b", "w-c", "w-a"]
    );
}
