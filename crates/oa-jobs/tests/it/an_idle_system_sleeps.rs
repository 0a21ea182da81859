//! Timers, not polling: an idle engine over the memory store makes no claim at all, and a job
//! created after an hour of idleness still starts at once.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use oa_events::EventType;
use oa_jobs::{JobContext, JobError, NewJob};
use serde_json::Value;

use crate::flaky_store::FlakyStore;
use crate::support::wait_event;

#[tokio::test(start_paused = true)]
async fn an_idle_worker_does_not_poll_and_still_starts_new_jobs_at_once() {
    let store = Arc::new(FlakyStore::default());
    let (manager, recorder) = FlakyStore::engine(&store);
    let worker = manager
        .worker()
        .handler("echo", |_ctx: JobContext| async {
            Ok::<_, JobError>(Value::Null)
        })
        .start()
        .await
        .unwrap();
    // Let the worker settle into its idle wait, then an hour of nothing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let claims_when_idle = store.claims.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(
        store.claims.load(Ordering::SeqCst),
        claims_when_idle,
        "an idle worker polled"
    );

    let created_at = tokio::time::Instant::now();
    let job = manager.create(NewJob::new("echo")).await.unwrap();
    wait_event(&recorder, &job.id, EventType::JobCompleted).await;
    assert_eq!(
        created_at.elapsed(),
        Duration::ZERO,
        "the new job waited for a timer"
    );

    // A job due in five minutes wakes the worker through the scheduler's timer, not a poll.
    let later = manager.clock().now() + chrono::TimeDelta::minutes(5);
    let scheduled = manager
        .create(NewJob::new("echo").run_at(later))
        .await
        .unwrap();
    let before = store.claims.load(Ordering::SeqCst);
    wait_event(&recorder, &scheduled.id, EventType::JobCompleted).await;
    assert!(store.claims.load(Ordering::SeqCst) - before <= 2);
    let started = recorder
        .events()
        .into_iter()
        .find(|e| {
            e.event_type == EventType::JobStarted
                && e.job_id.as_deref() == Some(scheduled.id.as_str())
        })
        .unwrap();
    assert_eq!(started.timestamp, later);
    worker.shutdown().await;
}
