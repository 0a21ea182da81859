//! A worker whose store is down retries its claims with a growing backoff (poll interval,
//! doubled, capped at 5 s) instead of every poll interval, announces each outage with one
//! `system.error` per operation (not one per retry), and claims again once the store is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oa_events::EventType;
use oa_jobs::store::{
    ClaimRequest, HeartbeatOutcome, JobFilter, JobPage, JobUpdate, Page, StatusCounts, WorkerRecord,
};
use oa_jobs::{
    Error, Job, JobContext, JobError, JobManager, JobStore, MemoryStore, NewJob, Result,
};
use serde_json::Value;

use crate::support::wait_event;

/// A memory store whose claims and heartbeats fail while it is `down`.
#[derive(Debug, Default)]
struct FlakyStore {
    inner: MemoryStore,
    down: AtomicBool,
    claims: AtomicU64,
}

impl FlakyStore {
    fn check(&self, operation: &'static str) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::Database {
                operation,
                source: sqlx::Error::PoolTimedOut,
            });
        }
        Ok(())
    }
}

#[async_trait]
impl JobStore for FlakyStore {
    async fn insert(&self, job: &Job) -> Result<()> {
        self.inner.insert(job).await
    }
    async fn insert_many(&self, jobs: &[Job]) -> Result<()> {
        self.inner.insert_many(jobs).await
    }
    async fn get(&self, job_id: &str) -> Result<Option<Job>> {
        self.inner.get(job_id).await
    }
    async fn update(&self, update: &JobUpdate) -> Result<()> {
        self.inner.update(update).await
    }
    async fn update_many(&self, updates: &[JobUpdate]) -> Result<Vec<Result<()>>> {
        self.inner.update_many(updates).await
    }
    async fn delete(&self, job_id: &str) -> Result<bool> {
        self.inner.delete(job_id).await
    }
    async fn list(&self, filter: &JobFilter, page: Page) -> Result<JobPage> {
        self.inner.list(filter, page).await
    }
    async fn count_by_status(&self) -> Result<StatusCounts> {
        self.inner.count_by_status().await
    }
    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<Job>> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        self.check("claim")?;
        self.inner.claim(request).await
    }
    async fn register_worker(&self, record: &WorkerRecord) -> Result<()> {
        self.inner.register_worker(record).await
    }
    async fn heartbeat(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<HeartbeatOutcome> {
        self.check("heartbeat")?;
        self.inner.heartbeat(worker_id, now, lease_until).await
    }
    async fn list_workers(&self) -> Result<Vec<WorkerRecord>> {
        self.inner.list_workers().await
    }
    async fn get_worker(&self, worker_id: &str) -> Result<Option<WorkerRecord>> {
        self.inner.get_worker(worker_id).await
    }
    async fn mark_worker_offline_logged(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        reason: &str,
        before: Option<DateTime<Utc>>,
        log: Option<&oa_jobs::store::LogEvents>,
    ) -> Result<Option<Vec<Job>>> {
        self.inner
            .mark_worker_offline_logged(worker_id, now, reason, before, log)
            .await
    }
    async fn requeue_expired_logged(
        &self,
        now: DateTime<Utc>,
        log: Option<&oa_jobs::store::LogEvents>,
    ) -> Result<Vec<Job>> {
        self.inner.requeue_expired_logged(now, log).await
    }
    async fn scheduled_after(&self, after: DateTime<Utc>, limit: u32) -> Result<Vec<Job>> {
        self.inner.scheduled_after(after, limit).await
    }
    async fn purge_finished(&self, finished_before: DateTime<Utc>) -> Result<u64> {
        self.inner.purge_finished(finished_before).await
    }
    fn process_local(&self) -> bool {
        self.inner.process_local()
    }
}

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
    let emitter = oa_events::EventEmitter::new();
    let recorder = oa_events::testing::RecordingSubscriber::attach(&emitter);
    let manager = JobManager::builder(store.clone())
        .emitter(emitter)
        .build()
        .unwrap();
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
