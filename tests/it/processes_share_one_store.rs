//! Several `oa` processes on one store, as users run them on several machines: `oa worker`
//! processes run the jobs, an `oa serve` process shows them through the store's durable event
//! log, a worker killed with SIGKILL loses no job, and a restarted `oa serve` shows the same
//! numbers as before (it replays the log).
//!
//! The PostgreSQL test needs `OA_TEST_DATABASE_URL` (`.ci/run` sets it; without it the test
//! prints that it was skipped); the SQLite one always runs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oa_events::{Event, EventType};
use oa_jobs::{JobManager, JobStatus, JobStore, PgStoreOptions, SqliteStore};
use serde_json::Value;

use crate::oa_processes::{
    Process, get_json, logged_events, start_serve, start_worker, submit, summary_matching,
    wait_until_finished,
};

/// The summary without `throughput`, whose windows end at the time of the request.
fn without_throughput(mut summary: Value) -> Value {
    let throughput = summary.as_object_mut().unwrap().remove("throughput");
    assert!(throughput.is_some(), "a summary has a throughput");
    summary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_and_a_server_on_postgres_survive_a_killed_worker_and_a_restart() {
    let Ok(database) = std::env::var("OA_TEST_DATABASE_URL") else {
        println!("skipped: OA_TEST_DATABASE_URL is not set (see docs/operations.md)");
        return;
    };
    let schema = format!(
        "oa_mp_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let separator = if database.contains('?') { '&' } else { '?' };
    let store_url = format!("{database}{separator}schema={schema}");
    let store: Arc<dyn JobStore> = Arc::new(
        PgStoreOptions::new(&database)
            .unwrap()
            .schema(&schema)
            .open()
            .await
            .unwrap(),
    );
    let manager = JobManager::builder(Arc::clone(&store)).build().unwrap();
    assert!(
        manager.event_log().is_some(),
        "PostgreSQL keeps an event log"
    );

    let (serve, url) = start_serve(&store_url, None);
    let mut workers: Vec<Option<Process>> = ["mp1", "mp2", "mp3"]
        .into_iter()
        .map(|id| Some(start_worker(&store_url, id, 1, None)))
        .collect();
    let started = Instant::now();
    let (ok, failing) = (9_500_u64, 500_u64);
    let ids = submit(&manager, ok as usize, failing as usize, 10, "mp").await;
    assert_eq!(ids.len(), 10_000);

    // Midway, the second worker crashes.
    wait_until_finished(&*store, 3_000, Duration::from_secs(120)).await;
    workers[1].take().unwrap().kill();
    let killed_at = Instant::now();
    wait_until_finished(&*store, 10_000, Duration::from_secs(180)).await;
    println!(
        "10,000 jobs on 3 workers (one killed after {:.1} s) took {:.1} s",
        (killed_at - started).as_secs_f64(),
        started.elapsed().as_secs_f64()
    );

    // The store: every job final, as scripted.
    let counts = store.count_by_status().await.unwrap();
    assert_eq!(counts.get(JobStatus::Completed), ok, "{counts:?}");
    assert_eq!(counts.get(JobStatus::Failed), failing, "{counts:?}");
    assert_eq!(counts.total(), 10_000);

    // The log: each job finished exactly once; the killed worker was declared offline and the
    // jobs it held were run again by the others.
    let events = logged_events(&*store).await;
    let mut finishes: HashMap<&str, Vec<&Event>> = HashMap::new();
    for event in &events {
        if matches!(
            event.event_type,
            EventType::JobCompleted | EventType::JobFailed
        ) {
            finishes
                .entry(event.job_id.as_deref().unwrap())
                .or_default()
                .push(event);
        }
    }
    assert_eq!(finishes.len(), 10_000, "every job finished");
    let twice: Vec<_> = finishes.iter().filter(|(_, e)| e.len() != 1).collect();
    assert!(twice.is_empty(), "jobs finished more than once: {twice:?}");
    let killed = "mp2-1";
    let offline: Vec<&Event> = events
        .iter()
        .filter(|e| {
            e.event_type == EventType::WorkerOffline && e.worker_id.as_deref() == Some(killed)
        })
        .collect();
    assert_eq!(offline.len(), 1, "worker.offline for the killed worker");
    assert_eq!(offline[0].data_str("reason"), Some("heartbeat_timeout"));
    // The jobs the killed worker had claimed but not finished: released (by the reaper that
    // declared it offline, or by an expired lease, whichever came first: `job.retrying` with
    // `reason=worker_lost`) and finished by another worker.
    let claimed_by_killed: HashSet<&str> = events
        .iter()
        .filter(|e| {
            e.event_type == EventType::WorkerClaimedJob && e.worker_id.as_deref() == Some(killed)
        })
        .map(|e| e.job_id.as_deref().unwrap())
        .collect();
    let rerun: Vec<&str> = claimed_by_killed
        .iter()
        .copied()
        .filter(|job_id| finishes[job_id][0].worker_id.as_deref() != Some(killed))
        .collect();
    assert!(!rerun.is_empty(), "the killed worker held jobs");
    let released: HashSet<&str> = events
        .iter()
        .filter(|e| {
            e.event_type == EventType::JobRetrying && e.data_str("reason") == Some("worker_lost")
        })
        .map(|e| e.job_id.as_deref().unwrap())
        .collect();
    for job_id in &rerun {
        assert!(released.contains(job_id), "job {job_id} was released");
        assert!(
            finishes[job_id][0].worker_id.is_some(),
            "job {job_id} was finished by a worker"
        );
    }
    // Sequence numbers are unique and increasing.
    assert!(events.windows(2).all(|pair| pair[0].seq < pair[1].seq));

    // The server saw the events of every process: its totals are the store's.
    let before = summary_matching(&url, ok, failing).await;
    assert_eq!(before["total_jobs"], 10_000, "{before}");
    let status = get_json(&format!("{url}/status")).await;
    assert_eq!(status["jobs"]["completed_jobs"], ok);
    let workers_seen = get_json(&format!("{url}/workers")).await;
    let seen = workers_seen.to_string();
    for id in ["mp1-1", "mp2-1", "mp3-1"] {
        assert!(seen.contains(id), "{id} in {seen}");
    }

    // A restarted server replays the log: the same numbers.
    serve.stop();
    let (serve, url) = start_serve(&store_url, None);
    let after = summary_matching(&url, ok, failing).await;
    assert_eq!(without_throughput(after), without_throughput(before));
    let log = get_json(&format!("{url}/system/event-log")).await;
    assert_eq!(log["following"], true, "{log}");
    assert_eq!(log["caught_up"], true, "{log}");
    assert_eq!(log["first"], 1, "nothing trimmed: {log}");
    assert!(
        log["followed"].as_u64().unwrap() >= events.len() as u64,
        "{log}"
    );

    serve.stop();
    for worker in workers.into_iter().flatten() {
        worker.stop();
    }
    manager.shutdown().await;
    drop(manager);
    drop(store);
    // Leave the test database as it was.
    let pool = sqlx::PgPool::connect(&database).await.unwrap();
    // The name is ours: letters, digits and `_` only.
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_and_a_server_on_one_sqlite_file_and_a_restarted_server_keeps_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let store_url = format!("sqlite://{}", path.display());
    let store: Arc<dyn JobStore> = Arc::new(SqliteStore::open(&path).await.unwrap());
    let manager = JobManager::builder(Arc::clone(&store)).build().unwrap();
    assert!(manager.event_log().is_some(), "SQLite keeps an event log");

    let (serve, url) = start_serve(&store_url, None);
    let mut worker = start_worker(&store_url, "sq", 1, None);
    let (ok, failing) = (270_u64, 30_u64);
    submit(&manager, ok as usize, failing as usize, 10, "mp").await;
    wait_until_finished(&*store, ok + failing, Duration::from_secs(60)).await;
    assert!(worker.is_running());

    // Events of the worker process and of this (submitting) process reach the server.
    let before = summary_matching(&url, ok, failing).await;
    assert_eq!(before["total_jobs"], ok + failing);
    let counts = get_json(&format!("{url}/system")).await;
    assert_eq!(
        counts["event_counts"]["job.created"],
        ok + failing,
        "{counts}"
    );

    serve.stop();
    let (serve, url) = start_serve(&store_url, None);
    let after = summary_matching(&url, ok, failing).await;
    assert_eq!(without_throughput(after), without_throughput(before));
    serve.stop();
    worker.stop();
    manager.shutdown().await;
}
