//! What only the PostgreSQL store has: a server shared by processes (migrations and reapers
//! racing), rows that can be damaged by hand, counters kept per session, and the wake-up hint.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use oa_events::EventEmitter;
use oa_events::EventType::JobCompleted;
use oa_events::testing::RecordingSubscriber;
use oa_jobs::store::{ClaimRequest, JobFilter, Page, WorkerRecord};
use oa_jobs::{
    Error, Job, JobContext, JobError, JobManager, JobStatus, JobStore, NewJob, PgStoreOptions,
};
use serde_json::json;
use sqlx::Row;

use crate::postgres_support::PgSchema;
use crate::support::read_whole_log;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00.5Z")
        .unwrap()
        .to_utc()
        + TimeDelta::seconds(secs)
}

fn queued(id: &str, name: &str) -> Job {
    let mut job = Job::new(name, json!({ "id": id }), at(0)).unwrap();
    job.id = id.to_owned();
    job.enqueue(at(0), at(0)).unwrap();
    job
}

fn claim(worker: &str, name: &str, limit: u32) -> ClaimRequest {
    ClaimRequest {
        worker_id: worker.to_owned(),
        names: vec![name.to_owned()],
        limit,
        now: at(1),
        lease_until: at(31),
        log: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stores_opening_at_once_migrate_once_and_a_newer_schema_is_refused() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let opened = futures_util::future::join_all((0..4).map(|_| {
        let options = schema.options();
        async move { options.open().await }
    }))
    .await;
    let stores: Vec<_> = opened.into_iter().map(Result::unwrap).collect();
    stores[0].insert(&queued("a", "x")).await.unwrap();
    assert_eq!(stores[3].get("a").await.unwrap().unwrap().id, "a");

    let mut conn = schema.connect().await;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM oa_jobs_migrations")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(applied, [1, 2, 3, 4, 5]);

    // A database written by a newer version is refused, not used.
    sqlx::query(
        "INSERT INTO oa_jobs_migrations (version, description, success, checksum, execution_time) \
         VALUES (999, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert!(matches!(
        schema.options().open().await,
        Err(Error::Migration { .. })
    ));
}

#[tokio::test]
async fn a_bad_url_or_an_unreachable_server_is_an_error() {
    assert!(matches!(
        PgStoreOptions::new("mysql://nope"),
        Err(Error::InvalidArgument { field: "url", .. })
    ));
    assert!(matches!(
        PgStoreOptions::new("postgres://u@127.0.0.1:1/db")
            .unwrap()
            .schema("Bad-Name")
            .open()
            .await,
        Err(Error::InvalidArgument {
            field: "schema",
            ..
        })
    ));
    // Port 1 refuses connections at once.
    let error = PgStoreOptions::new("postgres://u@127.0.0.1:1/db")
        .unwrap()
        .open()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Database {
                operation: "open",
                ..
            }
        ),
        "{error}"
    );
    assert!(!error.to_string().contains('\n'), "one line: {error}");
}

#[tokio::test]
async fn unreadable_rows_are_corrupt_records() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let store = schema.open().await;
    for id in ["policy", "attempt", "tags"] {
        store.insert(&queued(id, "x")).await.unwrap();
    }
    store
        .register_worker(&WorkerRecord::new("w", at(0)))
        .await
        .unwrap();
    let mut conn = schema.connect().await;
    for damage in [
        "UPDATE jobs SET retry_policy = '\"nonsense\"' WHERE id = 'policy'",
        "UPDATE jobs SET attempt = -1 WHERE id = 'attempt'",
        "UPDATE jobs SET tags = '{\"not\": \"a list\"}' WHERE id = 'tags'",
        "UPDATE workers SET job_names = '7' WHERE id = 'w'",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(damage))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    for id in ["policy", "attempt", "tags"] {
        match store.get(id).await {
            Err(Error::CorruptRecord { id: bad, message }) => {
                assert_eq!(bad, id, "{message}");
            }
            other => panic!("{id}: expected a corrupt record, got {other:?}"),
        }
    }
    assert!(matches!(
        store.list(&JobFilter::all(), Page::first(10)).await,
        Err(Error::CorruptRecord { .. })
    ));
    assert!(matches!(
        store.get_worker("w").await,
        Err(Error::CorruptRecord { id, .. }) if id == "w"
    ));
}

#[tokio::test]
async fn counts_of_ended_sessions_are_folded_and_stay_exact() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let store = schema.open().await;
    let jobs: Vec<Job> = (0..10).map(|i| queued(&format!("j{i}"), "x")).collect();
    store.insert_many(&jobs).await.unwrap();
    store.claim(&claim("w", "x", 4)).await.unwrap();
    let before = store.count_by_status().await.unwrap();
    assert_eq!(
        (
            before.get(JobStatus::Queued),
            before.get(JobStatus::Running)
        ),
        (6, 4)
    );

    // Six hundred sessions that ended, each having moved one job from queued to running and
    // back (no pid is negative, so none of them is alive).
    let mut conn = schema.connect().await;
    sqlx::query(
        "INSERT INTO job_counts (status, slot, count) \
         SELECT status, -s, CASE status WHEN 'queued' THEN 1 ELSE -1 END \
         FROM generate_series(1, 300) AS s, unnest(ARRAY['queued', 'running']) AS status",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO job_counts (status, slot, count) \
         SELECT status, -s, CASE status WHEN 'queued' THEN -1 ELSE 1 END \
         FROM generate_series(301, 600) AS s, unnest(ARRAY['queued', 'running']) AS status",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert!(counter_rows(&mut conn).await > 1200);
    // Counting sees the same numbers, and folds the rows of the ended sessions.
    assert_eq!(store.count_by_status().await.unwrap(), before);
    assert!(counter_rows(&mut conn).await < 100);
    assert_eq!(store.count_by_status().await.unwrap(), before);
}

async fn counter_rows(conn: &mut sqlx::PgConnection) -> i64 {
    sqlx::query("SELECT count(*) FROM job_counts")
        .fetch_one(conn)
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reapers_in_two_processes_release_each_lost_job_once() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let stores = [Arc::new(schema.open().await), Arc::new(schema.open().await)];
    let workers: Vec<String> = (0..20).map(|w| format!("w{w:02}")).collect();
    for (w, worker) in workers.iter().enumerate() {
        stores[0]
            .register_worker(&WorkerRecord::new(worker.clone(), at(0)))
            .await
            .unwrap();
        let jobs: Vec<Job> = (0..5)
            .map(|j| queued(&format!("{worker}-{j}"), worker))
            .collect();
        stores[0].insert_many(&jobs).await.unwrap();
        // Half the workers' leases end early: those jobs are released by the lease reaper.
        let mut request = claim(worker, worker, 5);
        if w % 2 == 1 {
            request.lease_until = at(2);
        }
        assert_eq!(stores[0].claim(&request).await.unwrap().len(), 5);
    }

    // Both processes' reapers run at once: each declares every silent worker offline and
    // re-queues expired leases.
    let reap = |store: Arc<oa_jobs::PgStore>| {
        let workers = workers.clone();
        tokio::spawn(async move {
            let mut released = Vec::new();
            let mut declared = Vec::new();
            for (w, worker) in workers.iter().enumerate() {
                if w % 2 == 1 {
                    released.extend(store.requeue_expired(at(10)).await.unwrap());
                } else if let Some(jobs) = store
                    .mark_worker_offline(worker, at(10), "heartbeat_timeout", Some(at(5)))
                    .await
                    .unwrap()
                {
                    declared.push(worker.clone());
                    released.extend(jobs);
                }
            }
            (declared, released)
        })
    };
    let (first, second) = tokio::join!(reap(Arc::clone(&stores[0])), reap(Arc::clone(&stores[1])));
    let (first, second) = (first.unwrap(), second.unwrap());

    let declared: Vec<&String> = first.0.iter().chain(&second.0).collect();
    let unique: HashSet<&&String> = declared.iter().collect();
    assert_eq!(
        declared.len(),
        10,
        "each silent worker declared once: {declared:?}"
    );
    assert_eq!(unique.len(), 10);
    let mut released = HashSet::new();
    for job in first.1.iter().chain(&second.1) {
        assert!(released.insert(job.id.clone()), "{} released twice", job.id);
        assert_eq!(job.status, JobStatus::Queued);
        assert_eq!(job.worker_id, None);
    }
    assert_eq!(released.len(), 100, "every held job released");
    let counts = stores[1].count_by_status().await.unwrap();
    assert_eq!(counts.get(JobStatus::Queued), 100);
    assert_eq!(counts.get(JobStatus::Running), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_queued_by_another_process_wakes_an_idle_worker() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let emitter = EventEmitter::new();
    let recorder = RecordingSubscriber::attach(&emitter);
    let manager = JobManager::builder(Arc::new(schema.open().await))
        .emitter(emitter)
        .build()
        .unwrap();
    // The worker polls once an hour: only the notification can make it claim in time.
    let worker = manager
        .worker()
        .poll_interval(Duration::from_secs(3600))
        .handler("remote", |_ctx: JobContext| async {
            Ok::<_, JobError>(json!("done"))
        })
        .start()
        .await
        .unwrap();
    // A job of this process first: once it is done, the worker has claimed and waits.
    let local = manager.create(NewJob::new("remote")).await.unwrap();
    recorder
        .wait_for(Duration::from_secs(120), |events| {
            events
                .iter()
                .any(|e| e.event_type == JobCompleted && e.job_id.as_deref() == Some(&local.id))
        })
        .await;

    // Another process queues a job.
    let other = schema.open().await;
    // Due a minute ago by the wall clock, so that it is due by the manager's clock too.
    let due = Utc::now() - TimeDelta::seconds(60);
    let mut job = Job::new("remote", json!(1), due).unwrap();
    job.enqueue(due, due).unwrap();
    other.insert(&job).await.unwrap();

    // The bound only keeps a broken build from hanging: without the wake-up, the worker
    // would claim in an hour.
    recorder
        .wait_for(Duration::from_secs(120), |events| {
            events
                .iter()
                .any(|e| e.event_type == JobCompleted && e.job_id.as_deref() == Some(&job.id))
        })
        .await;
    assert_eq!(
        other.get(&job.id).await.unwrap().unwrap().status,
        JobStatus::Completed
    );
    worker.shutdown().await;
    manager.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_claimable_signal_fires_when_another_process_queues_a_job() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let listening = schema.open().await;
    let signal = listening
        .claimable_signal()
        .expect("PostgreSQL has the signal");
    let other = schema.open().await;
    let mut inserted = 0;
    // The listener starts in the background and wakes everyone once it listens (it may have
    // missed something). Insert until a first wake: from then on, it listens.
    loop {
        let notified = signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        inserted += 1;
        other
            .insert(&queued(&format!("j{inserted}"), "x"))
            .await
            .unwrap();
        if tokio::time::timeout(Duration::from_millis(100), notified)
            .await
            .is_ok()
        {
            break;
        }
        assert!(inserted < 1200, "the listener never started");
    }
    // Now every queued job wakes it (the bound keeps a broken build from hanging).
    for _ in 0..3 {
        let notified = signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        inserted += 1;
        other
            .insert(&queued(&format!("j{inserted}"), "x"))
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(120), notified)
            .await
            .expect("no notification for a queued job");
    }
    // A job queued again by an update (a retry, a release, a resume) wakes it too: the trigger
    // of migration 0005, which fires only for that move.
    let claimed = other.claim(&claim("w1", "x", 1)).await.unwrap();
    let mut job = claimed.into_iter().next().expect("a queued job to claim");
    let expected = job.status;
    job.status = JobStatus::Queued;
    job.worker_id = None;
    job.lease_expires_at = None;
    let notified = signal.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    other
        .update(&oa_jobs::store::JobUpdate::new(job, expected))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(120), notified)
        .await
        .expect("no notification for a job queued again by an update");
    let counts = other.count_by_status().await.unwrap();
    assert_eq!(
        counts.get(JobStatus::Queued),
        u64::try_from(inserted).unwrap()
    );
    assert_eq!(counts.get(JobStatus::Running), 0);
    listening.close().await;
}

/// The store builds a claim's events in its claim statement (SQL functions of the fourth
/// migration), and writes updates with their events in one statement; what it logs must be
/// what the engine builds in Rust and emits locally, key for key and value for value:
/// priorities, tags, a retried job that carries the error of its first attempt, results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_logged_in_one_statement_equal_the_engines() {
    // Claims of up to 2,048 jobs build their events in SQL (claims of one job with a statement
    // of their own); claims that may take more build them in Rust, inside the claim's
    // transaction: all log the same.
    for claim_batch in [1, 3, 4_096] {
        claims_log_the_engines_events(claim_batch).await;
    }
}

async fn claims_log_the_engines_events(claim_batch: u32) {
    use oa_events::EventType::{JobStarted, WorkerClaimedJob};
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let emitter = EventEmitter::new();
    let recorder = RecordingSubscriber::attach(&emitter);
    let manager = JobManager::builder(Arc::new(schema.open().await))
        .emitter(emitter)
        .build()
        .unwrap();
    let log = Arc::clone(manager.event_log().expect("PostgreSQL keeps a log"));
    let worker = manager
        .worker()
        .id("w-1")
        .max_concurrent_jobs(claim_batch)
        .claim_batch(claim_batch)
        .handler("flaky", |ctx: JobContext| async move {
            if ctx.attempt() == 1 {
                Err(JobError::new("http_502", "upstream \"down\" ✗"))
            } else {
                Ok(json!({"attempt": ctx.attempt(), "ratio": 0.1, "list": [1, 2.5, null]}))
            }
        })
        .start()
        .await
        .unwrap();
    let mut ids = Vec::new();
    for (i, priority) in oa_jobs::Priority::ALL.into_iter().enumerate() {
        let job = NewJob::new("flaky")
            .priority(priority)
            .tags([format!("t{i}"), "shared".to_owned()])
            .max_retries(u32::try_from(i).unwrap() + 1)
            .retry_policy(oa_jobs::RetryPolicy::fixed(Duration::from_millis(1)));
        ids.push(manager.create(job).await.unwrap().id);
    }
    ids.push(
        manager
            .create(NewJob::new("flaky").max_retries(5))
            .await
            .unwrap()
            .id,
    );
    recorder
        .wait_for(Duration::from_secs(60), |events| {
            events
                .iter()
                .filter(|e| e.event_type == JobCompleted)
                .count()
                == ids.len()
        })
        .await;
    worker.shutdown().await;
    manager.shutdown().await;

    let local = recorder.events();
    let logged = read_whole_log(&*log).await;
    assert_eq!(logged.len(), local.len());
    let of = |events: &[oa_events::Event], job_id: &str, t| -> Vec<_> {
        events
            .iter()
            .filter(|e| e.event_type == t && e.job_id.as_deref() == Some(job_id))
            .map(|e| (e.job_id.clone(), e.worker_id.clone(), e.data.clone()))
            .collect()
    };
    for id in &ids {
        for t in [WorkerClaimedJob, JobStarted, JobCompleted] {
            let (mine, theirs) = (of(&local, id, t), of(&logged, id, t));
            assert_eq!(theirs, mine, "{t} of {id}");
            let claims = if t == JobCompleted { 1 } else { 2 };
            assert_eq!(mine.len(), claims, "{t} of {id}: two attempts");
        }
        // The second start carries the first attempt's error.
        let started = of(&logged, id, JobStarted);
        assert_eq!(started[1].2["error"]["kind"], "http_502");
        assert_eq!(started[1].2["attempt"], 2);
    }
    // Every event in the order of the commits. (Compared with a fixed sequence, not with the
    // local one: locally, a worker of this process may emit a claim a moment before the
    // creating call emits `job.created`, both after their commits. And `job.queued` is left
    // out: when a worker claims a retry before this process's scheduler announced it due, the
    // announcement reaches the log after the claim's events; the monitor ignores it there as
    // stale, see docs/operations.md.)
    use oa_events::EventType::{JobCreated, JobRetrying};
    for id in &ids {
        let kinds: Vec<_> = logged
            .iter()
            .filter(|e| e.job_id.as_deref() == Some(id.as_str()))
            .filter(|e| e.event_type != oa_events::EventType::JobQueued)
            .map(|e| e.event_type)
            .collect();
        assert_eq!(
            kinds,
            [
                JobCreated,
                WorkerClaimedJob,
                JobStarted,
                JobRetrying,
                WorkerClaimedJob,
                JobStarted,
                JobCompleted
            ],
            "job {id}"
        );
    }
    assert!(logged.windows(2).all(|pair| pair[0].seq < pair[1].seq));
}

/// Claims keep to the indexes when the table grows from empty: PostgreSQL caches a plan per
/// connection after five runs, and one made while the table was nearly empty would read the
/// whole table at every claim while it grows (the store's connections run without sequential
/// scans). Counted with PostgreSQL's own statistics of the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_keep_to_the_indexes_when_the_table_grows_from_empty() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    // One connection, so that every claim runs on the connection whose plan is cached.
    let store = schema.options().max_connections(1).open().await.unwrap();
    for _ in 0..10 {
        assert!(store.claim(&claim("w", "x", 1)).await.unwrap().is_empty());
    }
    let jobs: Vec<Job> = (0..2000)
        .map(|i| queued(&format!("j{i:05}"), "x"))
        .collect();
    store.insert_many(&jobs).await.unwrap();
    for _ in 0..100 {
        assert_eq!(store.claim(&claim("w", "x", 1)).await.unwrap().len(), 1);
    }
    // A session's statistics reach the shared ones when it ends.
    store.close().await;
    let mut conn = schema.connect().await;
    let scans = async {
        loop {
            let row = sqlx::query(
                "SELECT coalesce(seq_scan, 0), coalesce(idx_scan, 0) FROM pg_stat_user_tables \
                 WHERE schemaname = current_schema() AND relname = 'jobs'",
            )
            .fetch_one(&mut conn)
            .await
            .unwrap();
            let (seq, idx): (i64, i64) = (row.get(0), row.get(1));
            if seq + idx >= 100 {
                return (seq, idx);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (seq, idx) = tokio::time::timeout(Duration::from_secs(60), scans)
        .await
        .expect("the claims' statistics never arrived");
    assert!(
        seq < 10,
        "{seq} sequential scans of the jobs table ({idx} index scans)"
    );
}

/// A worker's heartbeat and its commit writer never deadlock, whatever the order of the rows
/// on disk: both lock the worker's jobs in id order. The heartbeat locks every job it holds
/// (`ORDER BY id FOR UPDATE`); a batch of ends of attempts used to lock its rows in the order
/// of the plan, which for batches of about 100 to 200 jobs reads them in their order on disk
/// (a bitmap heap scan). Here the jobs are stored in the reverse of their id order, and batches
/// of 150 ends race heartbeats; a deadlock fails one of the two statements after PostgreSQL's
/// `deadlock_timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_and_batches_of_ends_lock_in_one_order() {
    let Some(schema) = PgSchema::new() else {
        return;
    };
    let store = Arc::new(schema.open().await);
    let jobs: Vec<Job> = (0..3000)
        .rev()
        .map(|i| queued(&format!("j{i:05}"), "x"))
        .collect();
    store.insert_many(&jobs).await.unwrap();
    store
        .register_worker(&WorkerRecord::new("w", at(0)))
        .await
        .unwrap();
    let mut held = store.claim(&claim("w", "x", 3000)).await.unwrap();
    assert_eq!(held.len(), 3000);
    held.sort_by(|a, b| a.id.cmp(&b.id));
    let mut conn = schema.connect().await;
    sqlx::query("ANALYZE jobs")
        .execute(&mut conn)
        .await
        .unwrap();
    for round in 0..40_u32 {
        // 150 jobs spread over the whole table, in id order (as the writer sorts them).
        let ends: Vec<oa_jobs::store::JobUpdate> = held
            .iter()
            .skip(usize::try_from(round).unwrap() % 20)
            .step_by(20)
            .map(|job| {
                let mut job = job.clone();
                job.set_progress(f64::from(round) / 40.0, at(2));
                oa_jobs::store::JobUpdate::new(job, JobStatus::Running)
            })
            .collect();
        let (ended, beat) = tokio::join!(
            store.finish_attempts(&ends),
            store.heartbeat("w", at(2), at(60))
        );
        let ended = ended.unwrap();
        assert!(ended.iter().all(Result::is_ok), "round {round}: {ended:?}");
        assert_eq!(beat.unwrap().held.len(), 3000, "round {round}");
    }
}
