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
    assert_eq!(applied, 3);
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
