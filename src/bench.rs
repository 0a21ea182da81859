//! `oa bench`: end-to-end figures of a release build, one line (or one JSON object) per
//! scenario.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use oa_events::{Event, EventEmitter, EventType};
use oa_jobs::store::{
    ClaimRequest, HeartbeatOutcome, JobFilter, JobPage, JobUpdate, LogEvents, Page, StatusCounts,
    WorkerRecord,
};
use oa_jobs::{Job, JobContext, JobError, JobManager, JobStore, NewJob};
use oa_monitor::Monitor;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::store_url::StoreUrl;

/// `oa bench events`: the seed's two workloads through one emitter with the monitor attached.
pub(crate) fn events(json_output: bool) -> anyhow::Result<()> {
    let emitter = EventEmitter::new();
    let monitor = Monitor::new(&emitter);
    let progress_events = 200_000_u32;
    let start = Instant::now();
    for i in 0..progress_events {
        emitter.emit(
            Event::for_job(EventType::JobProgressUpdated, "job-progress")
                .with_data("progress", f64::from(i % 100) / 100.0),
        );
    }
    let progress_rate = f64::from(progress_events) / start.elapsed().as_secs_f64();

    let jobs = 100_000_u32;
    let start = Instant::now();
    for i in 0..jobs {
        let id = format!("job-{i}");
        let data = |event: Event| {
            event
                .with_data("name", "bench")
                .with_data("priority", "high")
                .with_data("tags", json!(["a", "b"]))
        };
        emitter.emit(data(Event::for_job(EventType::JobStarted, id.clone())));
        emitter.emit(data(Event::for_job(EventType::JobCompleted, id)));
    }
    let lifecycle_rate = f64::from(jobs * 2) / start.elapsed().as_secs_f64();
    let completed = oa_metrics::JobQuery::summary(&monitor).completed_jobs;
    anyhow::ensure!(
        completed == u64::from(jobs),
        "the monitor counted {completed} completions"
    );
    if json_output {
        println!(
            "{}",
            json!({
                "scenario": "events",
                "progress_events_per_sec": progress_rate.round(),
                "lifecycle_events_per_sec": lifecycle_rate.round(),
            })
        );
    } else {
        println!(
            "events: {:.0} progress events/s, {:.0} lifecycle events/s ({:.0} ns per lifecycle event) with the monitor attached",
            progress_rate,
            lifecycle_rate,
            1e9 / lifecycle_rate
        );
    }
    Ok(())
}

/// The parameters of `oa bench jobs`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct JobsBench {
    /// The store (`memory`, `sqlite://PATH`, `postgres://...`).
    #[arg(long, default_value = "memory")]
    pub(crate) store: StoreUrl,
    /// How many jobs.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) jobs: u64,
    /// How many workers.
    #[arg(long, default_value_t = 1)]
    pub(crate) workers: u32,
    /// Jobs each worker runs at once.
    #[arg(long, default_value_t = 256)]
    pub(crate) concurrency: u32,
    /// Jobs one claim takes at most.
    #[arg(long, default_value_t = 256)]
    pub(crate) claim_batch: u32,
    /// Claims each worker has in flight at once (at most --concurrency).
    #[arg(long, default_value_t = 1)]
    pub(crate) claim_concurrency: u32,
    /// Tags per job.
    #[arg(long, default_value_t = 0)]
    pub(crate) tags: u32,
    /// The fraction of jobs that fail (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) fail_rate: f64,
    /// Bytes of payload per job.
    #[arg(long, default_value_t = 0)]
    pub(crate) payload_bytes: usize,
    /// Create jobs at this many per second (paced load, e.g. half of the peak, to measure
    /// claim latency below saturation); default: as fast as possible.
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// Do not write events to the store's event log (to measure what logging costs).
    #[arg(long)]
    pub(crate) no_event_log: bool,
    /// One JSON object on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `oa bench jobs`: create → claim → run → complete through a store.
pub(crate) async fn jobs(bench: JobsBench) -> anyhow::Result<()> {
    let inner = bench.store.open().await?;
    let store = Arc::new(TimedStore::new(inner)?);
    let emitter = EventEmitter::new();
    let _monitor = Monitor::new(&emitter);
    let finished = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let wake = Arc::new(Notify::new());
    for event_type in [EventType::JobCompleted, EventType::JobFailed] {
        let (finished, wake) = (Arc::clone(&finished), Arc::clone(&wake));
        emitter.on(event_type, move |_event: &Event| {
            finished.fetch_add(1, std::sync::atomic::Ordering::Release);
            wake.notify_one();
        });
    }
    let manager = JobManager::builder(store.clone() as Arc<dyn JobStore>)
        .emitter(emitter.clone())
        .event_log(!bench.no_event_log)
        .build()?;
    let events_logged = manager.event_log().is_some();
    if let Some(rate) = bench.rate {
        anyhow::ensure!(
            rate.is_finite() && rate > 0.0,
            "--rate must be a positive number of jobs per second"
        );
    }
    let fail_rate = bench.fail_rate.clamp(0.0, 1.0);
    let mut workers = Vec::new();
    for _ in 0..bench.workers.max(1) {
        let worker = manager
            .worker()
            .max_concurrent_jobs(bench.concurrency.max(1))
            .claim_batch(bench.claim_batch.max(1))
            .claim_concurrency(bench.claim_concurrency.clamp(1, bench.concurrency.max(1)))
            .handler("bench", move |_ctx: JobContext| async move {
                if fastrand::f64() < fail_rate {
                    Err(JobError::fatal("bench", "scripted failure"))
                } else {
                    Ok(Value::Null)
                }
            })
            .start()
            .await?;
        workers.push(worker);
    }
    let payload = json!({ "blob": "x".repeat(bench.payload_bytes) });
    let tags: Vec<String> = (0..bench.tags).map(|t| format!("tag{t}")).collect();
    let start = Instant::now();
    let mut left = bench.jobs;
    // Paced: one batch every 10 ms (at least one job), at the rate's average.
    let pace = bench.rate.map(|rate| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a positive, finite rate"
        )]
        let per_tick = ((rate / 100.0).round() as u64).max(1);
        #[allow(clippy::cast_precision_loss, reason = "small batch sizes")]
        let tick = Duration::from_secs_f64(per_tick as f64 / rate);
        (per_tick, tick)
    });
    let mut ticks = pace.map(|(_, tick)| {
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        interval
    });
    while left > 0 {
        let n = match (&mut ticks, pace) {
            (Some(ticks), Some((per_tick, _))) => {
                ticks.tick().await;
                left.min(per_tick)
            }
            _ => left.min(1000),
        };
        let batch = (0..n)
            .map(|_| {
                NewJob::new("bench")
                    .payload(payload.clone())
                    .tags(tags.iter().cloned())
                    .max_retries(0)
            })
            .collect();
        manager.create_many(batch).await?;
        left -= n;
    }
    while finished.load(std::sync::atomic::Ordering::Acquire) < bench.jobs {
        let notified = wake.notified();
        if finished.load(std::sync::atomic::Ordering::Acquire) >= bench.jobs {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
    }
    let elapsed = start.elapsed();
    for worker in &workers {
        worker.shutdown().await;
    }
    manager.shutdown().await;
    #[allow(clippy::cast_precision_loss, reason = "job counts are far below 2^52")]
    let rate = bench.jobs as f64 / elapsed.as_secs_f64();
    let (p50, p99) = store.claim_percentiles_us();
    let emitted = emitter.stats().emitted;
    if bench.json {
        println!(
            "{}",
            json!({
                "scenario": "jobs",
                "store": bench.store.to_string(),
                "jobs": bench.jobs,
                "jobs_per_sec": rate.round(),
                "claim_p50_us": p50,
                "claim_p99_us": p99,
                "events_emitted": emitted,
                "events_logged": events_logged,
                "paced_rate": bench.rate,
            })
        );
    } else {
        println!(
            "jobs: {} through {}: {:.0} jobs/s{}, claim p50 {p50} µs / p99 {p99} µs, {emitted} events ({})",
            bench.jobs,
            bench.store,
            rate,
            bench
                .rate
                .map(|r| format!(" (paced at {r:.0}/s)"))
                .unwrap_or_default(),
            if events_logged {
                "logged to the store's event log"
            } else {
                "not logged"
            }
        );
    }
    Ok(())
}

/// A store that times its claims.
#[derive(Debug)]
struct TimedStore {
    inner: Arc<dyn JobStore>,
    claims: Mutex<Histogram<u64>>,
}

impl TimedStore {
    fn new(inner: Arc<dyn JobStore>) -> anyhow::Result<Self> {
        let histogram = Histogram::new_with_bounds(1, 60_000_000, 3)?;
        Ok(Self {
            inner,
            claims: Mutex::new(histogram),
        })
    }

    fn claim_percentiles_us(&self) -> (u64, u64) {
        let histogram = self
            .claims
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (
            histogram.value_at_quantile(0.5),
            histogram.value_at_quantile(0.99),
        )
    }
}

#[async_trait]
impl JobStore for TimedStore {
    async fn insert(&self, job: &Job) -> oa_jobs::Result<()> {
        self.inner.insert(job).await
    }
    async fn insert_many(&self, jobs: &[Job]) -> oa_jobs::Result<()> {
        self.inner.insert_many(jobs).await
    }
    async fn insert_logged(&self, jobs: &[Job], events: &[Event]) -> oa_jobs::Result<()> {
        self.inner.insert_logged(jobs, events).await
    }
    async fn get(&self, job_id: &str) -> oa_jobs::Result<Option<Job>> {
        self.inner.get(job_id).await
    }
    async fn update(&self, update: &JobUpdate) -> oa_jobs::Result<()> {
        self.inner.update(update).await
    }
    async fn update_many(
        &self,
        updates: &[JobUpdate],
    ) -> oa_jobs::Result<Vec<oa_jobs::Result<()>>> {
        self.inner.update_many(updates).await
    }
    async fn finish_attempts(
        &self,
        updates: &[JobUpdate],
    ) -> oa_jobs::Result<Vec<oa_jobs::Result<()>>> {
        self.inner.finish_attempts(updates).await
    }
    async fn delete(&self, job_id: &str) -> oa_jobs::Result<bool> {
        self.inner.delete(job_id).await
    }
    async fn list(&self, filter: &JobFilter, page: Page) -> oa_jobs::Result<JobPage> {
        self.inner.list(filter, page).await
    }
    async fn count_by_status(&self) -> oa_jobs::Result<StatusCounts> {
        self.inner.count_by_status().await
    }
    async fn claim(&self, request: &ClaimRequest) -> oa_jobs::Result<Vec<Job>> {
        let start = Instant::now();
        let result = self.inner.claim(request).await;
        let micros = u64::try_from(start.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut histogram = self
            .claims
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = histogram.record(micros.min(60_000_000));
        result
    }
    async fn register_worker(&self, record: &WorkerRecord) -> oa_jobs::Result<()> {
        self.inner.register_worker(record).await
    }
    async fn heartbeat(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> oa_jobs::Result<HeartbeatOutcome> {
        self.inner.heartbeat(worker_id, now, lease_until).await
    }
    async fn list_workers(&self) -> oa_jobs::Result<Vec<WorkerRecord>> {
        self.inner.list_workers().await
    }
    async fn get_worker(&self, worker_id: &str) -> oa_jobs::Result<Option<WorkerRecord>> {
        self.inner.get_worker(worker_id).await
    }
    async fn mark_worker_offline_logged(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        reason: &str,
        heartbeat_before: Option<DateTime<Utc>>,
        log: Option<&LogEvents>,
    ) -> oa_jobs::Result<Option<Vec<Job>>> {
        self.inner
            .mark_worker_offline_logged(worker_id, now, reason, heartbeat_before, log)
            .await
    }
    async fn requeue_expired_logged(
        &self,
        now: DateTime<Utc>,
        log: Option<&LogEvents>,
    ) -> oa_jobs::Result<Vec<Job>> {
        self.inner.requeue_expired_logged(now, log).await
    }
    async fn scheduled_after(&self, after: DateTime<Utc>, limit: u32) -> oa_jobs::Result<Vec<Job>> {
        self.inner.scheduled_after(after, limit).await
    }
    async fn purge_finished(&self, finished_before: DateTime<Utc>) -> oa_jobs::Result<u64> {
        self.inner.purge_finished(finished_before).await
    }

    fn claimable_signal(&self) -> Option<Arc<Notify>> {
        self.inner.claimable_signal()
    }

    fn process_local(&self) -> bool {
        self.inner.process_local()
    }

    fn event_log(&self) -> Option<Arc<dyn oa_events::EventLog>> {
        self.inner.event_log()
    }
}
