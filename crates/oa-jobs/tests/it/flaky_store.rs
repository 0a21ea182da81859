//! A memory store to watch and break from tests: it counts claims (and how many were in flight
//! at once), can make them slow, and fails its claims and heartbeats while it is `down`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oa_events::testing::RecordingSubscriber;
use oa_jobs::store::{
    ClaimRequest, HeartbeatOutcome, JobFilter, JobPage, JobUpdate, Page, StatusCounts, WorkerRecord,
};
use oa_jobs::{Error, Job, JobManager, JobStore, MemoryStore, Result};

/// A memory store that counts claims, and whose claims and heartbeats fail while it is `down`.
#[derive(Debug, Default)]
pub(crate) struct FlakyStore {
    inner: MemoryStore,
    /// The store is unreachable.
    pub(crate) down: AtomicBool,
    /// Claims asked so far (failed ones too).
    pub(crate) claims: AtomicU64,
    /// How long each claim takes, in milliseconds (0: as long as the memory store's).
    pub(crate) claim_delay_ms: AtomicU64,
    /// Claims in flight now, and the most there ever were at once.
    pub(crate) in_flight: AtomicU64,
    pub(crate) most_in_flight: AtomicU64,
}

impl FlakyStore {
    /// A manager over `store`, and a recorder of its events.
    pub(crate) fn engine(store: &Arc<Self>) -> (JobManager, RecordingSubscriber) {
        let emitter = oa_events::EventEmitter::new();
        let recorder = RecordingSubscriber::attach(&emitter);
        let manager = JobManager::builder(Arc::clone(store) as Arc<dyn JobStore>)
            .emitter(emitter)
            .build()
            .unwrap();
        (manager, recorder)
    }

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
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let delay = self.claim_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        let claimed = match self.check("claim") {
            Ok(()) => self.inner.claim(request).await,
            Err(error) => Err(error),
        };
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        claimed
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
