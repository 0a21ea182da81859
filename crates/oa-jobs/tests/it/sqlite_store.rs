//! What only the SQLite store has: a file that outlives the process, a schema, rows that can be
//! damaged by hand, and values a database column cannot hold.

use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};
use oa_jobs::store::{ClaimRequest, JobFilter, JobUpdate, Page, WorkerRecord};
use oa_jobs::{Error, Job, JobStatus, JobStore, SqliteStore, SqliteStoreOptions};
use serde_json::json;
use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00.5Z")
        .unwrap()
        .to_utc()
        + TimeDelta::seconds(secs)
}

fn queued(id: &str) -> Job {
    let mut job = Job::new("x", json!({ "id": id }), at(0)).unwrap();
    job.id = id.to_owned();
    job.enqueue(at(0), at(0)).unwrap();
    job
}

fn claim(worker: &str, limit: u32) -> ClaimRequest {
    ClaimRequest {
        worker_id: worker.to_owned(),
        names: vec!["x".to_owned()],
        limit,
        now: at(1),
        lease_until: at(31),
        log: None,
    }
}

/// A raw connection to the database file, bypassing the store.
async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

#[tokio::test]
async fn a_reopened_database_has_every_job_worker_and_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let jobs: Vec<Job> = (0..50).map(|i| queued(&format!("j{i:02}"))).collect();
    store.insert_many(&jobs).await.unwrap();
    store.claim(&claim("w", 10)).await.unwrap();
    let mut worker = WorkerRecord::new("w", at(0));
    worker.host = "box".to_owned();
    store.register_worker(&worker).await.unwrap();
    let before = store
        .list(&JobFilter::all(), Page::first(100))
        .await
        .unwrap();
    let counts = store.count_by_status().await.unwrap();
    store.close().await;
    drop(store);

    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        reopened
            .list(&JobFilter::all(), Page::first(100))
            .await
            .unwrap(),
        before
    );
    assert_eq!(reopened.count_by_status().await.unwrap(), counts);
    assert_eq!(counts.get(JobStatus::Running), 10);
    assert_eq!(counts.get(JobStatus::Queued), 40);
    assert_eq!(reopened.get_worker("w").await.unwrap(), Some(worker));
}

#[tokio::test]
async fn migrations_run_once_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    // Two stores opening a new file at once: one applies the schema, the other finds it.
    let (first, second) = tokio::join!(SqliteStore::open(&path), SqliteStore::open(&path));
    first.unwrap().close().await;
    second.unwrap().close().await;
    SqliteStore::open(&path).await.unwrap().close().await;

    let mut conn = raw(&path).await;
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // One row per file in migrations/sqlite, each applied once.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count();
    assert_eq!(applied, i64::try_from(files).unwrap());
    assert_eq!(applied, 4);
    // A database migrated by a newer version of the engine.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (999, 'from the future', 1, x'00', 0)",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
    assert!(matches!(
        SqliteStore::open(&path).await,
        Err(Error::Migration { .. })
    ));
}

#[tokio::test]
async fn a_missing_file_is_not_created_when_asked_not_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.db");
    let opened = SqliteStoreOptions::file(&path)
        .create_if_missing(false)
        .open()
        .await;
    assert!(matches!(opened, Err(Error::Database { .. })), "{opened:?}");
    assert!(!path.exists());
}

#[tokio::test]
async fn an_unreadable_row_is_a_corrupt_record_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let store = SqliteStore::open(&path).await.unwrap();
    store
        .insert_many(&[queued("bad-json"), queued("bad-type"), queued("fine")])
        .await
        .unwrap();
    let mut conn = raw(&path).await;
    sqlx::query("UPDATE jobs SET payload = '{not json' WHERE id = 'bad-json'")
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("UPDATE jobs SET attempt = 'many' WHERE id = 'bad-type'")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    for (id, column) in [("bad-json", "payload"), ("bad-type", "attempt")] {
        match store.get(id).await {
            Err(Error::CorruptRecord { id: got, message }) => {
                assert_eq!(got, id);
                assert!(message.contains(column), "{message}");
            }
            other => panic!("expected a corrupt record, got {other:?}"),
        }
    }
    assert!(matches!(
        store.list(&JobFilter::all(), Page::first(10)).await,
        Err(Error::CorruptRecord { .. })
    ));
    // The other rows still read.
    assert_eq!(store.get("fine").await.unwrap().unwrap(), queued("fine"));
    assert_eq!(
        store
            .list(&JobFilter::all().status(JobStatus::Queued), Page::first(1))
            .await
            .unwrap()
            .jobs[0]
            .id,
        "fine"
    );
    // A claim that takes an unreadable row reports it (the claim itself is made, as any
    // committed change: the rows are read back after it).
    match store.claim(&claim("w", 3)).await {
        Err(Error::CorruptRecord { id, .. }) => assert_eq!(id, "bad-json"),
        other => panic!("expected a corrupt record, got {other:?}"),
    }
    assert_eq!(
        store
            .count_by_status()
            .await
            .unwrap()
            .get(JobStatus::Running),
        3
    );
}

#[tokio::test]
async fn values_a_column_cannot_hold_exactly_are_refused() {
    let store = SqliteStore::in_memory().await.unwrap();
    let mut far = queued("far");
    far.queued_at = Some(
        DateTime::parse_from_rfc3339("2300-01-01T00:00:00Z")
            .unwrap()
            .to_utc(),
    );
    let mut nan = queued("nan");
    nan.progress = f64::NAN;
    for job in [&far, &nan] {
        assert!(matches!(
            store.insert(job).await,
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            store.insert_many(&[queued("ok"), job.clone()]).await,
            Err(Error::InvalidArgument { .. })
        ));
    }
    assert_eq!(store.count_by_status().await.unwrap().total(), 0);

    // In a batch of updates, such a value fails alone.
    store
        .insert_many(&[queued("a"), queued("b")])
        .await
        .unwrap();
    let mut a = queued("a");
    a.start("w", at(1), at(31)).unwrap();
    let mut b = queued("b");
    b.start("w", at(1), at(31)).unwrap();
    b.progress = f64::NAN;
    let results = store
        .update_many(&[
            JobUpdate::new(a.clone(), JobStatus::Queued),
            JobUpdate::new(b, JobStatus::Queued),
        ])
        .await
        .unwrap();
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(Error::InvalidArgument { .. })));
    assert_eq!(store.get("a").await.unwrap(), Some(a));
    assert_eq!(store.get("b").await.unwrap(), Some(queued("b")));

    // Bounds of queries are not stored: any instant works.
    let scheduled = store
        .scheduled_after(DateTime::<Utc>::MIN_UTC, 10)
        .await
        .unwrap();
    assert_eq!(scheduled, [queued("b")]);
    assert_eq!(
        store
            .purge_finished(DateTime::<Utc>::MAX_UTC)
            .await
            .unwrap(),
        0
    );
}

/// The writes the store makes on the calling task never wait for another process's write lock:
/// they give way to the connection that does, so every write made while another connection
/// holds the lock is made once the lock is released, whole and exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_made_while_another_process_holds_the_lock_are_made_once_it_is_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let store = std::sync::Arc::new(SqliteStore::open(&path).await.unwrap());
    let first: Vec<Job> = (0..4).map(|i| queued(&format!("a{i}"))).collect();
    store.insert_many(&first).await.unwrap();

    // Another process takes the write lock and keeps it for a while.
    let mut other = raw(&path).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .unwrap();
    let writes = {
        let store = std::sync::Arc::clone(&store);
        tokio::spawn(async move {
            store.insert(&queued("b0")).await.unwrap();
            let more: Vec<Job> = (1..4).map(|i| queued(&format!("b{i}"))).collect();
            store.insert_many(&more).await.unwrap();
            let claimed = store.claim(&claim("w", 3)).await.unwrap();
            let one = store.claim(&claim("w", 1)).await.unwrap();
            let updates: Vec<JobUpdate> = claimed
                .iter()
                .map(|job| {
                    let mut done = job.clone();
                    done.complete(json!("ok"), at(2)).unwrap();
                    JobUpdate::new(done, JobStatus::Running)
                })
                .collect();
            let results = store.update_many(&updates).await.unwrap();
            let mut single = one[0].clone();
            single.complete(json!("ok"), at(2)).unwrap();
            store
                .update(&JobUpdate::new(single, JobStatus::Running))
                .await
                .unwrap();
            (claimed, one, results)
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!writes.is_finished(), "the writes waited for the lock");
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    other.close().await.unwrap();

    let (claimed, one, results) = writes.await.unwrap();
    assert_eq!(claimed.len(), 3);
    assert_eq!(one.len(), 1);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut ids: Vec<&str> = claimed.iter().chain(&one).map(|j| j.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "no job claimed twice");
    let counts = store.count_by_status().await.unwrap();
    assert_eq!(counts.get(JobStatus::Completed), 4);
    assert_eq!(counts.get(JobStatus::Queued), 4);
    assert_eq!(counts.total(), 8);
    for job in claimed.iter().chain(&one) {
        let stored = store.get(&job.id).await.unwrap().unwrap();
        assert_eq!(stored.status, JobStatus::Completed);
        assert_eq!(stored.result, Some(json!("ok")));
    }
    assert_counts_match_the_rows(&store, &path).await;
}

/// The counts the store keeps (`job_counts`) equal the rows, status by status.
async fn assert_counts_match_the_rows(store: &SqliteStore, path: &Path) {
    let counts = store.count_by_status().await.unwrap();
    let mut conn = raw(path).await;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM jobs GROUP BY status")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    conn.close().await.unwrap();
    for status in JobStatus::ALL {
        let in_rows = rows
            .iter()
            .find(|(name, _)| name == status.as_str())
            .map_or(0, |(_, n)| *n);
        assert_eq!(
            i64::try_from(counts.get(status)).unwrap(),
            in_rows,
            "{status:?}"
        );
    }
}

/// Every kind of write, through both of the store's connections (the hot writes on the calling
/// task, the others through sqlx) and through two stores on one file (as two processes), keeps
/// the counts equal to the rows.
#[tokio::test]
async fn the_counts_follow_every_kind_of_write_on_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let other = SqliteStore::open(&path).await.unwrap();
    let jobs: Vec<Job> = (0..40).map(|i| queued(&format!("d{i:02}"))).collect();
    store.insert_many(&jobs[..20]).await.unwrap();
    other.insert_many(&jobs[20..39]).await.unwrap();
    store.insert(&jobs[39]).await.unwrap();
    let mut created = Job::new("x", json!(null), at(0)).unwrap();
    created.id = "created".to_owned();
    other.insert(&created).await.unwrap();
    // A duplicate is refused and changes no count.
    assert!(matches!(
        store.insert_many(&jobs[..2]).await,
        Err(Error::DuplicateJob { .. })
    ));
    let claimed = store.claim(&claim("w1", 10)).await.unwrap();
    let claimed_too = other.claim(&claim("w2", 5)).await.unwrap();
    assert_eq!(claimed.len() + claimed_too.len(), 15);
    // Completions, a failure, a pause and a stale update, in one batch.
    let mut updates = Vec::new();
    for (i, job) in claimed.iter().enumerate() {
        let mut next = job.clone();
        match i {
            0 => next
                .fail_attempt(oa_jobs::JobError::fatal("boom", "no"), at(2))
                .map(drop)
                .unwrap(),
            1 => next.pause(at(2)).unwrap(),
            _ => next.complete(json!(i), at(2)).unwrap(),
        }
        updates.push(JobUpdate::new(next, JobStatus::Running));
    }
    store.update_many(&updates).await.unwrap();
    let mut stale = claimed_too[0].clone();
    stale.complete(json!(0), at(2)).unwrap();
    let results = other
        .update_many(&[
            JobUpdate::new(stale.clone(), JobStatus::Queued),
            JobUpdate::new(stale, JobStatus::Running),
        ])
        .await
        .unwrap();
    assert!(results[0].is_err() && results[1].is_ok(), "{results:?}");
    // Deletes, a purge, and the lost worker's jobs back to the queue.
    assert!(store.delete("d39").await.unwrap() || store.delete("d38").await.unwrap());
    store.purge_finished(at(3)).await.unwrap();
    other
        .register_worker(&WorkerRecord::new("w2", at(0)))
        .await
        .unwrap();
    let released = other
        .mark_worker_offline("w2", at(100), "lost", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(released.len(), 4);
    store.requeue_expired(at(1000)).await.unwrap();
    assert_counts_match_the_rows(&store, &path).await;
    assert_counts_match_the_rows(&other, &path).await;
    // In memory, where every write goes through the one sqlx connection.
    let memory = SqliteStore::in_memory().await.unwrap();
    memory.insert_many(&jobs).await.unwrap();
    let claimed = memory.claim(&claim("w", 7)).await.unwrap();
    let mut done = claimed[0].clone();
    done.complete(json!(1), at(2)).unwrap();
    memory
        .update(&JobUpdate::new(done, JobStatus::Running))
        .await
        .unwrap();
    memory.delete("d39").await.unwrap();
    let counts = memory.count_by_status().await.unwrap();
    assert_eq!(counts.get(JobStatus::Queued), 32);
    assert_eq!(counts.get(JobStatus::Running), 6);
    assert_eq!(counts.get(JobStatus::Completed), 1);
    assert_eq!(counts.total(), 39);
}

/// A batch of updates that does not apply whole is not half written by the writes made on the
/// calling task: each update is then reported on its own, as by every store.
#[tokio::test]
async fn a_batch_with_a_stale_update_reports_each_update_on_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("jobs.db")).await.unwrap();
    let jobs: Vec<Job> = (0..3).map(|i| queued(&format!("c{i}"))).collect();
    store.insert_many(&jobs).await.unwrap();
    let claimed = store.claim(&claim("w", 3)).await.unwrap();
    let mut updates: Vec<JobUpdate> = claimed
        .iter()
        .map(|job| {
            let mut done = job.clone();
            done.complete(json!(1), at(2)).unwrap();
            JobUpdate::new(done, JobStatus::Running)
        })
        .collect();
    // The second one expects a status its job no longer has.
    updates[1].expected = JobStatus::Queued;
    let results = store.update_many(&updates).await.unwrap();
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    assert!(
        matches!(results[1], Err(Error::StatusConflict { .. })),
        "{results:?}"
    );
    let counts = store.count_by_status().await.unwrap();
    assert_eq!(counts.get(JobStatus::Completed), 2);
    assert_eq!(counts.get(JobStatus::Running), 1);
}

/// The writes made on the calling task never checkpoint (a checkpoint would stall them): the
/// store's checkpointer copies the log into the database file in the background soon after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_copied_into_the_database_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let size = || std::fs::metadata(&path).map_or(0, |m| m.len());
    let before = size();
    let jobs: Vec<Job> = (0..5000).map(|i| queued(&format!("e{i:05}"))).collect();
    store.insert_many(&jobs).await.unwrap();
    let mut waited = std::time::Duration::ZERO;
    while size() < before + 1_000_000 && waited < std::time::Duration::from_secs(10) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        waited += std::time::Duration::from_millis(20);
    }
    assert!(
        size() >= before + 1_000_000,
        "the database file is still {} bytes after {waited:?}",
        size()
    );
    assert_eq!(
        store
            .count_by_status()
            .await
            .unwrap()
            .get(JobStatus::Queued),
        5000
    );
}

/// The ends of attempts written as a worker's commit writer writes them (`finish_attempts`:
/// only the columns an attempt's end changes) read back equal to the jobs given, whatever the
/// outcome; a batch with a stale update is reported update by update.
#[tokio::test]
async fn finished_attempts_read_back_whole_and_a_stale_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let mut jobs: Vec<Job> = (0..5).map(|i| queued(&format!("f{i}"))).collect();
    jobs[0].tags = vec!["kept".to_owned()];
    jobs[0].metadata.insert("k".to_owned(), json!("v"));
    jobs[1].max_retries = 0;
    store.insert_many(&jobs).await.unwrap();
    let claimed = store.claim(&claim("w", 5)).await.unwrap();
    let mut ended = Vec::new();
    for job in &claimed {
        let mut next = job.clone();
        match job.id.as_str() {
            "f0" | "f4" => next.complete(json!({"n": 1.5}), at(2)).unwrap(),
            "f1" => {
                // No retries left: failed for good.
                assert!(
                    next.fail_attempt(oa_jobs::JobError::new("boom", "x"), at(2))
                        .unwrap()
                        .is_none()
                );
            }
            "f2" => {
                // Back to the queue for a later attempt.
                assert!(
                    next.fail_attempt(oa_jobs::JobError::new("flaky", "y"), at(2))
                        .unwrap()
                        .is_some()
                );
            }
            _ => next.complete(json!(null), at(2)).unwrap(),
        }
        ended.push(next);
    }
    let updates: Vec<JobUpdate> = ended
        .iter()
        .map(|job| JobUpdate::new(job.clone(), JobStatus::Running))
        .collect();
    let results = store.finish_attempts(&updates).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    for job in &ended {
        assert_eq!(store.get(&job.id).await.unwrap().as_ref(), Some(job));
    }
    assert_counts_match_the_rows(&store, &path).await;

    // Again: the first is stale now (no longer running), the second applies.
    let later = ClaimRequest {
        now: at(1000),
        lease_until: at(1030),
        ..claim("w", 1)
    };
    let mut again = store.claim(&later).await.unwrap();
    let retried = again.pop().unwrap();
    assert_eq!(retried.id, "f2");
    let mut done = retried.clone();
    done.complete(json!(2), at(1001)).unwrap();
    let results = store
        .finish_attempts(&[
            JobUpdate::new(ended[0].clone(), JobStatus::Running),
            JobUpdate::new(done.clone(), JobStatus::Running),
        ])
        .await
        .unwrap();
    assert!(results[0].is_err() && results[1].is_ok(), "{results:?}");
    assert_eq!(store.get("f2").await.unwrap(), Some(done));
    assert_counts_match_the_rows(&store, &path).await;
}
