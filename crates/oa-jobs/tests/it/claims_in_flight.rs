//! A worker with several claims in flight (`claim_concurrency`, as the fetchers of a Sidekiq
//! process): its claims overlap, it never runs more jobs than its slots, every job runs once,
//! an outage is announced once, and a setting it cannot honour is refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use oa_events::EventType;
use oa_jobs::{Error, JobContext, JobError, JobManager, NewJob};
use serde_json::Value;

use crate::flaky_store::FlakyStore;
use crate::support::wait_event;

/// Runs 60 jobs on a worker of 4 slots that claims one job per claim, `claim_concurrency`
/// claims at once, each claim taking 5 ms; returns the most claims in flight at once.
async fn run_with_claims_in_flight(claim_concurrency: u32) -> u64 {
    let store = Arc::new(FlakyStore::default());
    store.claim_delay_ms.store(5, Ordering::SeqCst);
    let (manager, recorder) = FlakyStore::engine(&store);
    let running = Arc::new(AtomicU64::new(0));
    let most_running = Arc::new(AtomicU64::new(0));
    let (r, m) = (Arc::clone(&running), Arc::clone(&most_running));
    let worker = manager
        .worker()
        .max_concurrent_jobs(4)
        .claim_batch(1)
        .claim_concurrency(claim_concurrency)
        .handler("echo", move |_ctx: JobContext| {
            let (running, most) = (Arc::clone(&r), Arc::clone(&m));
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, JobError>(Value::Null)
            }
        })
        .start()
        .await
        .unwrap();
    let jobs = manager
        .create_many((0..60).map(|_| NewJob::new("echo")).collect())
        .await
        .unwrap();
    for job in &jobs {
        wait_event(&recorder, &job.id, EventType::JobCompleted).await;
    }
    worker.shutdown().await;
    manager.shutdown().await;

    // Every job ran once and completed once.
    let mut started: HashMap<String, usize> = HashMap::new();
    let mut completed: HashMap<String, usize> = HashMap::new();
    for event in recorder.events() {
        let seen = match event.event_type {
            EventType::JobStarted => &mut started,
            EventType::JobCompleted => &mut completed,
            _ => continue,
        };
        *seen
            .entry(event.job_id.clone().unwrap_or_default())
            .or_default() += 1;
    }
    for job in &jobs {
        assert_eq!(started.get(&job.id), Some(&1), "{} started", job.id);
        assert_eq!(completed.get(&job.id), Some(&1), "{} completed", job.id);
    }
    let most = most_running.load(Ordering::SeqCst);
    assert!(most <= 4, "{most} jobs ran at once on 4 slots");
    store.most_in_flight.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_in_flight_overlap_and_never_take_more_jobs_than_the_slots() {
    assert_eq!(run_with_claims_in_flight(1).await, 1);
    let overlapping = run_with_claims_in_flight(4).await;
    assert!(
        (2..=4).contains(&overlapping),
        "{overlapping} claims in flight at most, with 4 allowed"
    );
}

#[tokio::test]
async fn claims_in_flight_must_be_between_one_and_the_slots() {
    let manager = JobManager::builder(Arc::new(FlakyStore::default()))
        .build()
        .unwrap();
    for claims in [0, 5] {
        let refused = manager
            .worker()
            .max_concurrent_jobs(4)
            .claim_concurrency(claims)
            .handler("echo", |_ctx: JobContext| async {
                Ok::<_, JobError>(Value::Null)
            })
            .start()
            .await;
        assert!(
            matches!(
                refused,
                Err(Error::InvalidArgument {
                    field: "claim_concurrency",
                    ..
                })
            ),
            "{claims}: {:?}",
            refused.err()
        );
    }
    manager.shutdown().await;
}
