//! Timers, not polling: an idle engine over the memory store makes no claim at all, and a job
//! created after an hour of idleness still starts at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oa_events::EventType;
use oa_jobs::store::{
    ClaimRequest, HeartbeatOutcome, JobFilter, JobPage, JobUpdate, Page, StatusCounts, WorkerRecord,
};
use oa_jobs::{Job, JobContext, JobError, JobManager, JobStore, MemoryStore, NewJob, Result};
use serde_json::Value;

use crate::support::wait_event;

/// A memory store that counts claims.
#[derive(Debug, Default)]
struct CountingStore {
    inner: MemoryStore,
    claims: AtomicU64,
}

#[async_trait]
impl JobStore for CountingStore {
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

#[tokio::test(start_paused = true)]
async fn an_idle_worker_does_not_poll_and_still_starts_new_jobs_at_once() {
    let store = Arc::new(CountingStore::default());
    let emitter = oa_events::EventEmitter::new();
    let recorder = oa_events::testing::RecordingSubscriber::attach(&emitter);
    let manager = JobManager::builder(store.clone())
        .emitter(emitter)
        .build()
        .unwrap();
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
