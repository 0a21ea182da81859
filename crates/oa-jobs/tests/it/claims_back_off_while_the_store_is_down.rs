//! A worker whose store is down retries its claims with a growing backoff (poll interval,
//! doubled, capped at 5 s) instead of every poll interval, announces each outage with one
//! `system.error` per operation (not one per retry), and claims again once the store is back.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use oa_events::EventType;
use oa_jobs::{JobContext, JobError, NewJob};
use serde_json::Value;

use crate::flaky_store::FlakyStore;
use crate::support::wait_event;

/// The `system.error` events so far whose message starts with `operation`.
fn system_errors(recorder: &oa_events::testing::RecordingSubscriber, operation: &str) -> usize {
    recorder
        .events()
        .iter()
        .filter(|e| {
            e.event_type == EventType::SystemError
                && e.data_str("message")
                    .is_some_and(|m| m.starts_with(&format!("{operation}:")))
        })
        .count()
}

#[tokio::test(start_paused = true)]
async fn failed_claims_back_off_and_each_outage_is_announced_once() {
    let store = Arc::new(FlakyStore::default());
    let (manager, recorder) = FlakyStore::engine(&store);
    // Heartbeats every 30 s: a minute of outage is not long enough to be declared offline.
    let worker = manager
        .worker()
        .heartbeat_interval(Duration::from_secs(30))
        .poll_interval(Duration::from_secs(1))
        .handler("echo", |_ctx: JobContext| async {
            Ok::<_, JobError>(Value::Null)
        })
        .start()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;

    for outage in 1..=2 {
        store.down.store(true, Ordering::SeqCst);
        let before = store.claims.load(Ordering::SeqCst);
        // A new job wakes the worker, whose claim fails; a minute of retries follows.
        let job = manager.create(NewJob::new("echo")).await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        let tries = store.claims.load(Ordering::SeqCst) - before;
        // At 0, 1, 3, 7, 12, 17, ... 57 s: 14 tries (60 when retried every poll interval).
        assert!(
            (12..=16).contains(&tries),
            "{tries} claims in a minute of outage"
        );
        assert_eq!(system_errors(&recorder, "claim jobs"), outage);
        assert_eq!(system_errors(&recorder, "worker heartbeat"), outage);

        // Back: the job is claimed at the next try, at most one capped backoff later.
        store.down.store(false, Ordering::SeqCst);
        let back = tokio::time::Instant::now();
        wait_event(&recorder, &job.id, EventType::JobCompleted).await;
        assert!(
            back.elapsed() <= Duration::from_secs(5),
            "{:?}",
            back.elapsed()
        );
        // Then an idle worker sleeps again, until woken.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = store.claims.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(
            store.claims.load(Ordering::SeqCst),
            idle,
            "an idle worker polled"
        );
    }
    assert!(
        recorder
            .events()
            .iter()
            .all(|e| e.event_type != EventType::WorkerOffline),
        "the worker was declared offline"
    );
    worker.shutdown().await;
}

/// With several claims in flight, an outage is still announced once: the worker's claim loops
/// share one streak of failures, and all of them back off.
#[tokio::test(start_paused = true)]
async fn an_outage_is_announced_once_whatever_the_claims_in_flight() {
    let store = Arc::new(FlakyStore::default());
    let (manager, recorder) = FlakyStore::engine(&store);
    let worker = manager
        .worker()
        .heartbeat_interval(Duration::from_secs(30))
        .poll_interval(Duration::from_secs(1))
        .max_concurrent_jobs(3)
        .claim_batch(1)
        .claim_concurrency(3)
        .handler("echo", |_ctx: JobContext| async {
            Ok::<_, JobError>(Value::Null)
        })
        .start()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    store.down.store(true, Ordering::SeqCst);
    let before = store.claims.load(Ordering::SeqCst);
    let job = manager.create(NewJob::new("echo")).await.unwrap();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let tries = store.claims.load(Ordering::SeqCst) - before;
    // Three loops backing off as one would (14 tries each), not every poll interval (180).
    assert!(
        (12..=48).contains(&tries),
        "{tries} claims in a minute of outage"
    );
    assert_eq!(system_errors(&recorder, "claim jobs"), 1);
    store.down.store(false, Ordering::SeqCst);
    wait_event(&recorder, &job.id, EventType::JobCompleted).await;
    worker.shutdown().await;
    manager.shutdown().await;
}
