//! The durable event log of the SQL stores: one set of tests run against the SQLite store (a
//! file, and in memory) and the PostgreSQL store, then the behaviours of one backend (two
//! processes on one SQLite file; notifications, concurrent writers and holes on PostgreSQL).
//!
//! The PostgreSQL tests print `skipped: OA_TEST_DATABASE_URL is not set` and pass without it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::FutureExt;
use oa_events::{Event, EventLog, EventType, LogBounds, LogRetention};
use oa_jobs::store::{ClaimRequest, JobUpdate, LogEvents, WorkerRecord};
use oa_jobs::{Error, Job, JobStatus, JobStore, SqliteStore, SqliteStoreOptions};
use serde_json::json;

use crate::postgres_support::PgSchema;

/// A store with a log under test, and what must live as long as it.
pub(crate) struct Harness {
    store: Arc<dyn JobStore>,
    log: Arc<dyn EventLog>,
    _dir: Option<tempfile::TempDir>,
    _schema: Option<PgSchema>,
}

impl Harness {
    fn new(store: Arc<dyn JobStore>) -> Self {
        let log = store.event_log().expect("a SQL store keeps a log");
        Self {
            store,
            log,
            _dir: None,
            _schema: None,
        }
    }
}

async fn sqlite_file() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("jobs.db")).await.unwrap();
    Harness {
        _dir: Some(dir),
        ..Harness::new(Arc::new(store))
    }
}

async fn sqlite_memory() -> Harness {
    Harness::new(Arc::new(SqliteStore::in_memory().await.unwrap()))
}

/// A PostgreSQL store in a schema of its own, or `None` when no test server is configured.
async fn postgres() -> Option<Harness> {
    let schema = PgSchema::new()?;
    let store = schema.open().await;
    Some(Harness {
        _schema: Some(schema),
        ..Harness::new(Arc::new(store))
    })
}

/// Instantiates every test of the suite for one backend: `log_suite!(module => open_fn);`.
macro_rules! log_suite {
    ($backend:ident => $open:path) => {
        mod $backend {
            log_suite!(@tests $open;
                appended_events_read_back_in_order_with_their_numbers,
                an_applied_update_logs_its_events_and_a_refused_one_does_not,
                update_many_logs_only_the_applied_updates,
                finish_attempts_logs_only_the_applied_ends,
                insert_logged_saves_and_logs_all_or_nothing,
                a_logged_claim_writes_exactly_the_built_events,
                a_worker_declared_offline_logs_its_release,
                requeue_expired_logs_only_when_jobs_were_released,
                trim_by_count_deletes_the_oldest_in_batches,
                trim_by_age_deletes_old_events_in_batches_and_numbers_are_never_reused,
                the_appended_signal_fires_on_a_local_commit,
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
                super::$test(&harness).await;
            }
        )+
    };
}

log_suite!(sqlite_file_log => super::sqlite_file);
log_suite!(sqlite_memory_log => super::sqlite_memory);
log_suite!(postgres_log => super::postgres);

// ---------------------------------------------------------------------------------------------
// Helpers.

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

/// An event of `event_type` about job `job_id`, at [`base`], with some data.
fn event(event_type: EventType, job_id: &str) -> Event {
    Event::for_job(event_type, job_id)
        .with_timestamp(base())
        .with_data("label", job_id)
}

fn created(id: &str) -> Job {
    let mut job = Job::new("x", json!({ "id": id }), at(0)).unwrap();
    job.id = id.to_owned();
    job
}

fn queued(id: &str) -> Job {
    let mut job = created(id);
    job.enqueue(at(0), at(0)).unwrap();
    job
}

fn claim_request(worker: &str, limit: u32, log: Option<LogEvents>) -> ClaimRequest {
    ClaimRequest {
        worker_id: worker.to_owned(),
        names: vec!["x".to_owned()],
        limit,
        now: at(1),
        lease_until: at(31),
        log,
    }
}

/// Every retained event, in order.
async fn all_events(log: &Arc<dyn EventLog>) -> Vec<Event> {
    log.read_after(0, 10_000).await.unwrap()
}

/// The events without their durable numbers (what was given to the log).
fn unnumbered(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .cloned()
        .map(|mut event| {
            event.seq = 0;
            event
        })
        .collect()
}

/// Asserts that `events` are numbered in strictly increasing order.
fn assert_increasing(events: &[Event]) {
    assert!(
        events.windows(2).all(|w| w[0].seq < w[1].seq),
        "{:?}",
        events.iter().map(|e| e.seq).collect::<Vec<_>>()
    );
}

/// A [`LogEvents`] that builds one `worker.claimed_job` event per job (and a `worker.offline`
/// one when `offline`), and records every call.
fn recording_builder(offline: bool) -> (LogEvents, Arc<Mutex<Vec<Vec<Event>>>>) {
    let calls: Arc<Mutex<Vec<Vec<Event>>>> = Arc::default();
    let recorded = Arc::clone(&calls);
    let log = LogEvents::new(move |jobs: &[Job]| {
        let mut events: Vec<Event> = jobs
            .iter()
            .map(|job| {
                event(EventType::WorkerClaimedJob, &job.id)
                    .with_worker_id(job.worker_id.clone().unwrap_or_default())
                    .with_data("status", job.status.as_str())
            })
            .collect();
        if offline {
            events.push(
                Event::for_worker(EventType::WorkerOffline, "w").with_data("requeued", jobs.len()),
            );
        }
        recorded.lock().unwrap().push(events.clone());
        events
    });
    (log, calls)
}

// ---------------------------------------------------------------------------------------------
// The suite.

async fn appended_events_read_back_in_order_with_their_numbers(h: &Harness) {
    assert_eq!(h.log.bounds().await.unwrap(), LogBounds::default());
    assert!(all_events(&h.log).await.is_empty());
    h.log.append(&[]).await.unwrap();
    assert_eq!(h.log.bounds().await.unwrap().last, 0);

    // Every field must come back: nanoseconds, nulls, nested and awkward JSON.
    let rich = Event::new(EventType::JobFailed)
        .with_timestamp(base())
        .with_job_id("j-ü")
        .with_worker_id("w1")
        .with_data(
            "error",
            json!({"kind": "boom", "message": "nul \u{0} and ünïcode ✓"}),
        )
        .with_data("attempt", 3)
        .with_data("progress", 0.25)
        .with_data("tags", json!(["a", "b"]));
    let first = vec![
        rich,
        Event::new(EventType::SystemStartup).with_timestamp(at(1)),
        event(EventType::JobProgressUpdated, "j2"),
    ];
    let mut second = vec![
        event(EventType::JobQueued, "j3"),
        event(EventType::JobStarted, "j4"),
    ];
    second[0].seq = 77; // Ignored: the log numbers the events.
    h.log.append(&first).await.unwrap();
    h.log.append(&second).await.unwrap();

    let read = all_events(&h.log).await;
    assert_eq!(read.len(), 5);
    assert_increasing(&read);
    let mut given = first.clone();
    given.extend(second.iter().cloned().map(|mut e| {
        e.seq = 0;
        e
    }));
    assert_eq!(unnumbered(&read), given);
    assert!(read[0].seq >= 1);
    assert_eq!(
        h.log.bounds().await.unwrap(),
        LogBounds {
            first: read[0].seq,
            last: read[4].seq,
            count: 5
        }
    );
    // Paging: after a number, at most `limit`.
    let page = h.log.read_after(read[1].seq, 2).await.unwrap();
    assert_eq!(page, read[2..4]);
    assert!(h.log.read_after(read[4].seq, 10).await.unwrap().is_empty());
    assert!(h.log.read_after(0, 0).await.unwrap().is_empty());
}

async fn an_applied_update_logs_its_events_and_a_refused_one_does_not(h: &Harness) {
    let store = &h.store;
    store.insert(&created("a")).await.unwrap();
    // Changes without events log nothing.
    let mut quiet = created("quiet");
    quiet.name = "other".to_owned();
    store.insert(&quiet).await.unwrap();
    quiet.enqueue(at(0), at(0)).unwrap();
    store
        .update(&JobUpdate::new(quiet, JobStatus::Created))
        .await
        .unwrap();
    assert_eq!(h.log.bounds().await.unwrap().last, 0);

    let logged = vec![event(EventType::JobQueued, "a")];
    store
        .update(&JobUpdate::new(queued("a"), JobStatus::Created).with_events(logged.clone()))
        .await
        .unwrap();
    assert_eq!(unnumbered(&all_events(&h.log).await), logged);

    // A conflict: the job is queued, not created.
    let stale = JobUpdate::new(queued("a"), JobStatus::Created)
        .with_events(vec![event(EventType::JobQueued, "conflict")]);
    assert!(matches!(
        store.update(&stale).await,
        Err(Error::StatusConflict { .. })
    ));
    // A forbidden move, and a missing job.
    let mut done = queued("a");
    done.status = JobStatus::Completed;
    let forbidden = JobUpdate::new(done, JobStatus::Queued)
        .with_events(vec![event(EventType::JobCompleted, "forbidden")]);
    assert!(matches!(
        store.update(&forbidden).await,
        Err(Error::InvalidTransition { .. })
    ));
    let missing = JobUpdate::new(queued("nobody"), JobStatus::Created)
        .with_events(vec![event(EventType::JobQueued, "missing")]);
    assert!(matches!(
        store.update(&missing).await,
        Err(Error::JobNotFound { .. })
    ));
    // A stale attempt: the job was claimed (attempt 1); an update from another attempt.
    let claimed = store
        .claim(&claim_request("w", 1, None))
        .await
        .unwrap()
        .remove(0);
    let mut late = claimed.clone();
    late.attempt = 7;
    late.complete(json!(null), at(2)).unwrap();
    let late = JobUpdate::new(late, JobStatus::Running)
        .with_events(vec![event(EventType::JobCompleted, "stale")]);
    assert!(matches!(
        store.update(&late).await,
        Err(Error::StaleAttempt { .. })
    ));
    assert_eq!(unnumbered(&all_events(&h.log).await), logged);
    assert_eq!(store.get("a").await.unwrap().unwrap(), claimed);

    // The owner's update is applied, with its events.
    let mut finished = claimed;
    finished.complete(json!({"ok": true}), at(3)).unwrap();
    let completed = vec![
        event(EventType::JobCompleted, "a"),
        event(EventType::JobProgressUpdated, "a"),
    ];
    store
        .update(&JobUpdate::new(finished, JobStatus::Running).with_events(completed.clone()))
        .await
        .unwrap();
    let read = all_events(&h.log).await;
    assert_increasing(&read);
    assert_eq!(unnumbered(&read), [logged, completed].concat());
}

async fn update_many_logs_only_the_applied_updates(h: &Harness) {
    let store = &h.store;
    store
        .insert_many(&[created("a"), created("b"), created("c"), created("d")])
        .await
        .unwrap();
    // Every update applies: the set-based path.
    let both = [
        JobUpdate::new(queued("a"), JobStatus::Created)
            .with_events(vec![event(EventType::JobQueued, "a")]),
        JobUpdate::new(queued("b"), JobStatus::Created).with_events(vec![
            event(EventType::JobResumed, "b"),
            event(EventType::JobQueued, "b"),
        ]),
    ];
    let results = store.update_many(&both).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut expected: Vec<Event> = both.iter().flat_map(|u| u.events.clone()).collect();
    assert_eq!(unnumbered(&all_events(&h.log).await), expected);

    // A conflict in the middle: each update on its own, only the applied ones logged.
    let mixed = [
        JobUpdate::new(queued("c"), JobStatus::Created)
            .with_events(vec![event(EventType::JobQueued, "c")]),
        JobUpdate::new(queued("a"), JobStatus::Created)
            .with_events(vec![event(EventType::JobQueued, "a-again")]),
        JobUpdate::new(queued("d"), JobStatus::Created)
            .with_events(vec![event(EventType::JobQueued, "d")]),
        JobUpdate::new(queued("zz"), JobStatus::Created)
            .with_events(vec![event(EventType::JobQueued, "zz")]),
    ];
    let results = store.update_many(&mixed).await.unwrap();
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(matches!(results[1], Err(Error::StatusConflict { .. })));
    assert!(matches!(results[3], Err(Error::JobNotFound { .. })));
    expected.extend(mixed[0].events.clone());
    expected.extend(mixed[2].events.clone());
    let read = all_events(&h.log).await;
    assert_increasing(&read);
    assert_eq!(unnumbered(&read), expected);

    // A forbidden move beside an applied update (the set-based path with a refusal).
    let mut done = queued("c");
    done.status = JobStatus::Completed;
    let mut paused = queued("d");
    paused.pause(at(2)).unwrap();
    let third = [
        JobUpdate::new(done, JobStatus::Queued)
            .with_events(vec![event(EventType::JobCompleted, "c")]),
        JobUpdate::new(paused, JobStatus::Queued)
            .with_events(vec![event(EventType::JobPaused, "d")]),
    ];
    let results = store.update_many(&third).await.unwrap();
    assert!(matches!(results[0], Err(Error::InvalidTransition { .. })));
    assert!(results[1].is_ok());
    expected.extend(third[1].events.clone());
    assert_eq!(unnumbered(&all_events(&h.log).await), expected);
}

/// The ends of attempts as a worker's commit writer writes them (`finish_attempts`): alone and
/// in a batch, each logs its events with it; an end that no longer applies logs nothing, and
/// the others of its batch apply and log theirs.
async fn finish_attempts_logs_only_the_applied_ends(h: &Harness) {
    let store = &h.store;
    store
        .insert_many(&[queued("a"), queued("b"), queued("c"), queued("d")])
        .await
        .unwrap();
    let claimed = store.claim(&claim_request("w", 4, None)).await.unwrap();
    assert_eq!(claimed.len(), 4);
    let ends: Vec<JobUpdate> = claimed
        .iter()
        .map(|job| {
            let mut ended = job.clone();
            ended.complete(json!({ "id": job.id }), at(5)).unwrap();
            JobUpdate::new(ended, JobStatus::Running)
                .with_events(vec![event(EventType::JobCompleted, &job.id)])
        })
        .collect();
    let results = store.finish_attempts(&ends[..1]).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let results = store.finish_attempts(&ends[1..3]).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut expected: Vec<Event> = ends[..3].iter().flat_map(|u| u.events.clone()).collect();
    assert_eq!(unnumbered(&all_events(&h.log).await), expected);

    // Written again: refused alone, and beside one that applies.
    let results = store.finish_attempts(&ends[..1]).await.unwrap();
    assert!(matches!(results[..], [Err(Error::StatusConflict { .. })]));
    let again = [ends[1].clone(), ends[3].clone()];
    let results = store.finish_attempts(&again).await.unwrap();
    assert!(matches!(results[0], Err(Error::StatusConflict { .. })));
    assert!(results[1].is_ok());
    expected.extend(ends[3].events.clone());
    let read = all_events(&h.log).await;
    assert_increasing(&read);
    assert_eq!(unnumbered(&read), expected);
    for end in &ends {
        assert_eq!(
            store.get(&end.job.id).await.unwrap().as_ref(),
            Some(&end.job)
        );
    }
}

async fn insert_logged_saves_and_logs_all_or_nothing(h: &Harness) {
    let store = &h.store;
    let events = vec![
        event(EventType::JobCreated, "a"),
        event(EventType::JobCreated, "b"),
        event(EventType::JobQueued, "b"),
    ];
    store
        .insert_logged(&[created("a"), queued("b")], &events)
        .await
        .unwrap();
    assert_eq!(unnumbered(&all_events(&h.log).await), events);

    // A duplicate id: nothing saved, nothing logged.
    let result = store
        .insert_logged(
            &[created("c"), created("a")],
            &[event(EventType::JobCreated, "c")],
        )
        .await;
    assert!(matches!(result, Err(Error::DuplicateJob { job_id }) if job_id == "a"));
    assert!(store.get("c").await.unwrap().is_none());
    assert_eq!(unnumbered(&all_events(&h.log).await), events);
    assert_eq!(h.log.bounds().await.unwrap().count, 3);

    // Without events: saved, nothing logged.
    store.insert_logged(&[created("d")], &[]).await.unwrap();
    assert!(store.get("d").await.unwrap().is_some());
    assert_eq!(h.log.bounds().await.unwrap().count, 3);
}

async fn a_logged_claim_writes_exactly_the_built_events(h: &Harness) {
    let store = &h.store;
    store
        .insert_many(&[queued("a"), queued("b"), queued("c")])
        .await
        .unwrap();
    let (log, calls) = recording_builder(false);
    let claimed = store
        .claim(&claim_request("w", 2, Some(log.clone())))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let built = calls.lock().unwrap().clone();
    assert_eq!(built.len(), 1, "built once, from the claimed jobs");
    assert_eq!(
        built[0]
            .iter()
            .map(|e| e.job_id.clone().unwrap())
            .collect::<Vec<_>>(),
        claimed.iter().map(|j| j.id.clone()).collect::<Vec<_>>()
    );
    // Built from the jobs as stored after the claim.
    assert!(
        built[0]
            .iter()
            .all(|e| e.data_str("status") == Some("running"))
    );
    assert_eq!(unnumbered(&all_events(&h.log).await), built[0]);

    // A claim of nothing logs nothing; a claim without a log logs nothing.
    store.claim(&claim_request("w", 5, None)).await.unwrap();
    let empty = store
        .claim(&claim_request("w", 5, Some(log)))
        .await
        .unwrap();
    assert!(empty.is_empty());
    assert_eq!(unnumbered(&all_events(&h.log).await), built[0]);
}

async fn a_worker_declared_offline_logs_its_release(h: &Harness) {
    let store = &h.store;
    for worker in ["w", "idle"] {
        store
            .register_worker(&WorkerRecord::new(worker, at(0)))
            .await
            .unwrap();
    }
    store
        .insert_many(&[queued("a"), queued("b")])
        .await
        .unwrap();
    store.claim(&claim_request("w", 2, None)).await.unwrap();

    let (log, calls) = recording_builder(true);
    let released = store
        .mark_worker_offline_logged("w", at(5), "heartbeat_timeout", None, Some(&log))
        .await
        .unwrap()
        .expect("declared offline");
    assert_eq!(released.len(), 2);
    let built = calls.lock().unwrap().clone();
    assert_eq!(built.len(), 1);
    assert_eq!(built[0].len(), 3);
    assert!(
        built[0][..2]
            .iter()
            .all(|e| e.data_str("status") == Some("queued"))
    );
    assert_eq!(unnumbered(&all_events(&h.log).await), built[0]);

    // Already offline: nothing built, nothing logged.
    let again = store
        .mark_worker_offline_logged("w", at(6), "heartbeat_timeout", None, Some(&log))
        .await
        .unwrap();
    assert!(again.is_none());
    // Heartbeated since the cutoff: not declared offline.
    let alive = store
        .mark_worker_offline_logged("idle", at(6), "heartbeat_timeout", Some(at(-1)), Some(&log))
        .await
        .unwrap();
    assert!(alive.is_none());
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(h.log.bounds().await.unwrap().count, 3);

    // Declared offline holding nothing: its own event is logged all the same.
    let idle = store
        .mark_worker_offline_logged("idle", at(7), "shutdown", None, Some(&log))
        .await
        .unwrap()
        .expect("declared offline");
    assert!(idle.is_empty());
    let built = calls.lock().unwrap().clone();
    assert_eq!(built.len(), 2);
    assert_eq!(built[1].len(), 1);
    assert_eq!(
        unnumbered(&all_events(&h.log).await),
        [built[0].clone(), built[1].clone()].concat()
    );
}

async fn requeue_expired_logs_only_when_jobs_were_released(h: &Harness) {
    let store = &h.store;
    store
        .insert_many(&[queued("a"), queued("b")])
        .await
        .unwrap();
    store.claim(&claim_request("w", 2, None)).await.unwrap();
    let (log, calls) = recording_builder(false);
    // The leases run until at(31): nothing expired, nothing built or logged.
    assert!(
        store
            .requeue_expired_logged(at(10), Some(&log))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(calls.lock().unwrap().is_empty());
    assert_eq!(h.log.bounds().await.unwrap().last, 0);

    let released = store
        .requeue_expired_logged(at(40), Some(&log))
        .await
        .unwrap();
    assert_eq!(released.len(), 2);
    let built = calls.lock().unwrap().clone();
    assert_eq!(built.len(), 1);
    assert_eq!(built[0].len(), 2);
    assert_eq!(unnumbered(&all_events(&h.log).await), built[0]);
}

async fn trim_by_count_deletes_the_oldest_in_batches(h: &Harness) {
    let events: Vec<Event> = (0..10)
        .map(|i| event(EventType::JobProgressUpdated, &format!("j{i}")))
        .collect();
    h.log.append(&events).await.unwrap();
    let read = all_events(&h.log).await;
    let last = read[9].seq;
    let retention = LogRetention {
        max_age: Duration::from_secs(3600),
        max_count: 3,
        batch: 4,
    };
    // The events are at `base()`: none is too old at `at(0)`.
    assert_eq!(h.log.trim(&retention, at(0)).await.unwrap(), 4);
    assert_eq!(h.log.trim(&retention, at(0)).await.unwrap(), 3);
    assert_eq!(h.log.trim(&retention, at(0)).await.unwrap(), 0);
    assert_eq!(
        h.log.bounds().await.unwrap(),
        LogBounds {
            first: read[7].seq,
            last,
            count: 3
        }
    );
    let kept = h.log.read_after(read[6].seq, 100).await.unwrap();
    assert_eq!(kept, read[7..]);
    assert_eq!(
        h.log
            .trim(
                &LogRetention {
                    batch: 0,
                    ..retention
                },
                at(0)
            )
            .await
            .unwrap(),
        0
    );
}

async fn trim_by_age_deletes_old_events_in_batches_and_numbers_are_never_reused(h: &Harness) {
    let events: Vec<Event> = (0..10)
        .map(|i| Event::new(EventType::WorkerHeartbeat).with_timestamp(at(i)))
        .collect();
    h.log.append(&events).await.unwrap();
    let read = all_events(&h.log).await;
    let last = read[9].seq;
    let retention = LogRetention {
        max_age: Duration::from_secs(5),
        max_count: 1_000,
        batch: 3,
    };
    // At `at(10)`, the events before `at(5)` are too old: five of them.
    assert_eq!(h.log.trim(&retention, at(10)).await.unwrap(), 3);
    assert_eq!(h.log.trim(&retention, at(10)).await.unwrap(), 2);
    assert_eq!(h.log.trim(&retention, at(10)).await.unwrap(), 0);
    assert_eq!(
        h.log.bounds().await.unwrap(),
        LogBounds {
            first: read[5].seq,
            last,
            count: 5
        }
    );
    assert_eq!(h.log.read_after(read[4].seq, 100).await.unwrap(), read[5..]);

    // Everything trimmed: the newest number survives, and is never given again.
    let everything = LogRetention {
        max_age: Duration::ZERO,
        max_count: 0,
        batch: 100,
    };
    assert_eq!(h.log.trim(&everything, at(100)).await.unwrap(), 5);
    assert_eq!(
        h.log.bounds().await.unwrap(),
        LogBounds {
            first: 0,
            last,
            count: 0
        }
    );
    let later = event(EventType::SystemShutdown, "after");
    h.log.append(std::slice::from_ref(&later)).await.unwrap();
    let bounds = h.log.bounds().await.unwrap();
    assert!(bounds.last > last, "{bounds:?} after {last}");
    assert_eq!(bounds.count, 1);
    let read = h.log.read_after(last, 10).await.unwrap();
    assert_eq!(unnumbered(&read), [later]);
    assert_eq!(read[0].seq, bounds.last);
}

async fn the_appended_signal_fires_on_a_local_commit(h: &Harness) {
    let signal = h.log.appended_signal();
    // An append wakes the waiters before it returns.
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    h.log
        .append(&[event(EventType::JobProgressUpdated, "a")])
        .await
        .unwrap();
    assert!(woken.now_or_never().is_some(), "an append woke nobody");

    // So does a change logged with its events.
    h.store.insert(&created("a")).await.unwrap();
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    h.store
        .update(
            &JobUpdate::new(queued("a"), JobStatus::Created)
                .with_events(vec![event(EventType::JobQueued, "a")]),
        )
        .await
        .unwrap();
    assert!(
        woken.now_or_never().is_some(),
        "a logged update woke nobody"
    );
}

// ---------------------------------------------------------------------------------------------
// SQLite: two processes on one file.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_stores_on_one_file_log_in_one_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let first = SqliteStoreOptions::file(&path).open().await.unwrap();
    let second = SqliteStoreOptions::file(&path).open().await.unwrap();
    const PER_STORE: usize = 100;
    let write = |store: SqliteStore, who: &'static str| {
        tokio::spawn(async move {
            for i in 0..PER_STORE {
                store
                    .append(&[event(EventType::JobProgressUpdated, &format!("{who}-{i}"))])
                    .await
                    .unwrap();
            }
        })
    };
    let (a, b) = tokio::join!(
        write(first.clone(), "first"),
        write(second.clone(), "second")
    );
    a.unwrap();
    b.unwrap();

    let from_first = first.read_after(0, 10_000).await.unwrap();
    let from_second = second.read_after(0, 10_000).await.unwrap();
    assert_eq!(from_first, from_second, "one log, one order");
    assert_eq!(from_first.len(), 2 * PER_STORE);
    // Numbered 1, 2, 3, ... without holes, and each store's events in the order it wrote them.
    assert!(from_first.iter().zip(1..).all(|(e, n)| e.seq == n));
    for who in ["first", "second"] {
        let mine: Vec<String> = from_first
            .iter()
            .filter_map(|e| e.job_id.clone())
            .filter(|id| id.starts_with(who))
            .collect();
        let written: Vec<String> = (0..PER_STORE).map(|i| format!("{who}-{i}")).collect();
        assert_eq!(mine, written);
    }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: notifications, concurrent writers, holes.

/// Waits until `future` completes, at most `secs` seconds; whether it did.
async fn within<F: Future>(secs: u64, future: F) -> bool {
    tokio::time::timeout(Duration::from_secs(secs), future)
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_second_store_hears_the_commits_of_the_first() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let writer = schema.open().await;
    let follower = schema.open().await;
    let signal = follower.appended_signal();
    // The listener wakes the waiters once it listens; wait for that (if it listened before the
    // wait began, the wait times out, and it listens all the same).
    let listening = signal.notified();
    within(10, listening).await;

    let queued_event = event(EventType::JobQueued, "a");
    let woken = signal.notified();
    tokio::pin!(woken);
    woken.as_mut().enable();
    writer.insert(&created("a")).await.unwrap();
    writer
        .update(
            &JobUpdate::new(queued("a"), JobStatus::Created)
                .with_events(vec![queued_event.clone()]),
        )
        .await
        .unwrap();
    // The notification follows the commit. Had the listener not been listening yet (it starts
    // in the background), the commit's notification was missed: later commits are heard.
    let mut heard = within(3, &mut woken).await;
    let mut heartbeats = Vec::new();
    while !heard && heartbeats.len() < 10 {
        let woken = signal.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let heartbeat = event(EventType::WorkerHeartbeat, "w");
        writer
            .append(std::slice::from_ref(&heartbeat))
            .await
            .unwrap();
        heartbeats.push(heartbeat);
        heard = within(2, woken).await;
    }
    assert!(heard, "the follower's store never heard a commit");
    let read = follower.read_after(0, 20).await.unwrap();
    let mut expected = vec![queued_event];
    expected.extend(heartbeats);
    assert_eq!(unnumbered(&read), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_reader_sees_concurrent_writers_events_once_in_order() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    const WRITERS: usize = 4;
    const TRANSACTIONS: usize = 150;
    // Small enough to exercise the option; longer than any of these transactions takes.
    let store = schema
        .options()
        .max_connections(8)
        .settle(Duration::from_secs(1))
        .open()
        .await
        .unwrap();
    let mut written = HashSet::new();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = store.clone();
        let batch: Vec<Vec<Event>> = (0..TRANSACTIONS)
            .map(|t| {
                (0..=(t % 3))
                    .map(|i| event(EventType::JobProgressUpdated, &format!("w{w}-t{t}-{i}")))
                    .collect()
            })
            .collect();
        written.extend(batch.iter().flatten().map(|e| e.id));
        writers.push(tokio::spawn(async move {
            for (t, events) in batch.into_iter().enumerate() {
                if t % 2 == 0 {
                    store.append(&events).await.unwrap();
                } else {
                    // A logged change: the job and its events in one transaction.
                    let id = format!("w{w}-t{t}");
                    store.insert_logged(&[created(&id)], &events).await.unwrap();
                }
            }
        }));
    }
    let reader = {
        let store = store.clone();
        let total = written.len();
        tokio::spawn(async move {
            let mut seen = Vec::with_capacity(total);
            let mut after = 0;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while seen.len() < total {
                assert!(tokio::time::Instant::now() < deadline, "the reader stalled");
                let page = store.read_after(after, 7).await.unwrap();
                for event in &page {
                    assert!(event.seq > after, "{} after {after}", event.seq);
                    after = event.seq;
                }
                if page.is_empty() {
                    tokio::task::yield_now().await;
                }
                seen.extend(page);
            }
            seen
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    let seen = tokio::time::timeout(Duration::from_secs(150), reader)
        .await
        .expect("the reader never saw every event")
        .unwrap();
    assert_increasing(&seen);
    let ids: Vec<uuid::Uuid> = seen.iter().map(|e| e.id).collect();
    let distinct: HashSet<uuid::Uuid> = ids.iter().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "an event was seen twice");
    assert_eq!(distinct, written, "every event, exactly once");
    // Nothing more to read.
    let last = seen.last().unwrap().seq;
    assert!(store.read_after(last, 10).await.unwrap().is_empty());
}

/// Inserts one event row by hand on `conn` (inside whatever transaction it has open).
async fn insert_raw(conn: &mut sqlx::PgConnection, label: &str) -> Event {
    let event = event(EventType::JobProgressUpdated, label);
    sqlx::query(
        "INSERT INTO events (id, event_type, timestamp, job_id, data) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(event.id)
    .bind(event.event_type.as_str())
    .bind(event.timestamp.timestamp_nanos_opt().unwrap())
    .bind(label.to_owned())
    .bind(serde_json::to_string(&event.data).unwrap())
    .execute(conn)
    .await
    .unwrap();
    event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_after_waits_for_a_fresh_hole_and_skips_a_settled_one() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    // One reader that waits for holes to fill for an hour, one that never waits.
    let patient = schema
        .options()
        .settle(Duration::from_secs(3600))
        .open()
        .await
        .unwrap();
    let hasty = schema
        .options()
        .settle(Duration::ZERO)
        .open()
        .await
        .unwrap();

    // Event 1's transaction is still open when event 2 commits.
    let mut conn = schema.connect().await;
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    let first = insert_raw(&mut conn, "first").await;
    let second = event(EventType::JobProgressUpdated, "second");
    patient.append(std::slice::from_ref(&second)).await.unwrap();
    assert!(patient.read_after(0, 10).await.unwrap().is_empty());
    assert_eq!(
        unnumbered(&hasty.read_after(0, 10).await.unwrap()),
        std::slice::from_ref(&second)
    );
    sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
    let read = patient.read_after(0, 10).await.unwrap();
    assert_eq!(unnumbered(&read), [first, second]);
    assert_eq!(read.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);

    // Event 3 is rolled back: a hole for good, skipped once the next event is settled.
    sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
    insert_raw(&mut conn, "rolled back").await;
    sqlx::query("ROLLBACK").execute(&mut conn).await.unwrap();
    let fourth = event(EventType::JobProgressUpdated, "fourth");
    patient.append(std::slice::from_ref(&fourth)).await.unwrap();
    assert!(patient.read_after(2, 10).await.unwrap().is_empty());
    let read = hasty.read_after(2, 10).await.unwrap();
    assert_eq!(unnumbered(&read), [fourth]);
    assert_eq!(read[0].seq, 4);
    assert_eq!(patient.bounds().await.unwrap().last, 4);
}
