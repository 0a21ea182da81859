//! Two claimers racing on one SQLite file, each with its own connections (as two processes
//! would be), never get the same job.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use oa_jobs::store::ClaimRequest;
use oa_jobs::{Job, JobStatus, JobStore, Priority, SqliteStore};
use serde_json::json;

const JOBS: usize = 2000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pools_claiming_from_one_file_never_share_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("race.db");
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
        .unwrap()
        .to_utc();
    let stores = [
        Arc::new(SqliteStore::open(&path).await.unwrap()),
        Arc::new(SqliteStore::open(&path).await.unwrap()),
    ];
    let jobs: Vec<Job> = (0..JOBS)
        .map(|i| {
            let mut job = Job::new("race", json!(i), now).unwrap();
            job.priority = Priority::ALL[i % 4];
            job.enqueue(now, now).unwrap();
            job
        })
        .collect();
    stores[0].insert_many(&jobs).await.unwrap();

    // Four claimers per store, each claiming small batches until the queue is empty. Every
    // claimer makes its first claim before any makes its second (the barrier): a store that
    // writes back to back can otherwise take the whole queue before the other store's first
    // claim finds SQLite's lock free, and then nothing would have raced.
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for (s, store) in stores.iter().enumerate() {
        for c in 0..4_u32 {
            let store = Arc::clone(store);
            let start = Arc::clone(&start);
            tasks.push(tokio::spawn(async move {
                let worker_id = format!("store{s}-claimer{c}");
                let mut claimed = Vec::new();
                for round in 0_u32.. {
                    if round == 1 {
                        start.wait().await;
                    }
                    let request = ClaimRequest {
                        worker_id: worker_id.clone(),
                        names: vec!["race".to_owned()],
                        limit: 1 + c,
                        now,
                        lease_until: now + TimeDelta::seconds(60),
                        log: None,
                    };
                    let batch = store.claim(&request).await.unwrap();
                    if batch.is_empty() && round > 0 {
                        break;
                    }
                    claimed.extend(batch.into_iter().map(|job| job.id));
                }
                (worker_id, claimed)
            }));
        }
    }
    let mut owner: HashMap<String, String> = HashMap::with_capacity(JOBS);
    let mut per_store = [0_usize; 2];
    for task in tasks {
        let (worker_id, claimed) = task.await.unwrap();
        per_store[usize::from(worker_id.starts_with("store1"))] += claimed.len();
        for id in claimed {
            if let Some(first) = owner.insert(id.clone(), worker_id.clone()) {
                panic!("job {id} claimed by {first} and by {worker_id}");
            }
        }
    }
    assert_eq!(owner.len(), JOBS, "every job claimed exactly once");
    // Both stores took part (otherwise nothing raced).
    assert!(per_store.iter().all(|n| *n > 0), "{per_store:?}");

    // The file agrees: each job is running, on its first attempt, held by its claimer.
    for job in &jobs {
        let stored = stores[1].get(&job.id).await.unwrap().unwrap();
        assert_eq!(stored.status, JobStatus::Running);
        assert_eq!(stored.attempt, 1);
        assert_eq!(stored.worker_id.as_ref(), owner.get(&job.id));
    }
    let counts = stores[0].count_by_status().await.unwrap();
    assert_eq!(counts.get(JobStatus::Running), JOBS as u64);
    assert_eq!(counts.total(), JOBS as u64);
}
