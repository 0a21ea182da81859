//! Workers: claim jobs, run their handlers, heartbeat, and shut down gracefully.

pub(crate) mod context;
pub(crate) mod control;
pub(crate) mod handler;
mod heartbeat;
mod outage;
mod runner;
mod writer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use oa_events::{EventType, keys};
use serde_json::{Map, Value};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use context::JobContext;
pub use handler::{HandlerFuture, JobHandler};

use crate::error::{Error, Result};
use crate::manager::reaper::announce_offline;
use crate::manager::{JobManager, Shared};
use crate::store::{ClaimRequest, WorkerRecord};
use control::JobControl;

/// The `reason` of `worker.offline` and of the `job.retrying` of released jobs when a worker
/// stops gracefully.
pub const SHUTDOWN_REASON: &str = "shutdown";

/// Settings of a worker (see [`WorkerBuilder`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerConfig {
    /// The worker's id (default: `<host>-<pid>-<random>`).
    pub id: Option<String>,
    /// The host name reported (default: the machine's).
    pub host: String,
    /// Free labels reported with the worker.
    pub tags: Vec<String>,
    /// How many jobs run at once (default 10).
    pub max_concurrent_jobs: u32,
    /// How often the worker heartbeats (default 5 s).
    pub heartbeat_interval: Duration,
    /// How long a claim or heartbeat holds the worker's jobs (default 3× the heartbeat
    /// interval): a job whose lease expires goes back to the queue.
    pub lease: Duration,
    /// How often an idle worker looks for jobs created by other processes (default 1 s; jobs
    /// created or due in this process wake it at once).
    pub poll_interval: Duration,
    /// How many jobs one claim takes at most (default: `max_concurrent_jobs`).
    pub claim_batch: u32,
    /// How many claims the worker has in flight at once (default 1, at most
    /// `max_concurrent_jobs`). With small claim batches (one job per claim), several claims in
    /// flight fill the worker's slots as fast as the store answers them, as the fetchers of a
    /// Sidekiq process do. Each claim reserves the slots it may fill before it asks, so the
    /// worker never holds more jobs than it runs. Only the first claimer polls when idle; the
    /// others wait for a wake-up (jobs created in this process, or the store's hint).
    pub claim_concurrency: u32,
    /// How many finished attempts one store transaction records at most (default 512).
    pub commit_batch: usize,
    /// How long a graceful shutdown lets running jobs finish before cancelling them (30 s).
    pub shutdown_grace: Duration,
    /// How long a cancelled handler may take to return before it is dropped (default 5 s).
    pub cancel_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            id: None,
            host: host_name(),
            tags: Vec::new(),
            max_concurrent_jobs: 10,
            heartbeat_interval: Duration::from_secs(5),
            lease: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
            claim_batch: 10,
            claim_concurrency: 1,
            commit_batch: 512,
            shutdown_grace: Duration::from_secs(30),
            cancel_grace: Duration::from_secs(5),
        }
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Builds and starts a worker: register handlers by job name, then [`WorkerBuilder::start`].
///
/// A worker claims only jobs whose name it has a handler for, so several kinds of workers can
/// share one store; a job no worker handles stays queued (visible as such).
#[must_use]
pub struct WorkerBuilder {
    manager: JobManager,
    config: WorkerConfig,
    claim_batch_set: bool,
    lease_set: bool,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    duplicate: Option<String>,
    shutdown: Option<CancellationToken>,
}

impl std::fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("config", &self.config)
            .field("handlers", &self.handlers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl WorkerBuilder {
    /// Runs `handler` for jobs named `name`.
    pub fn handler(mut self, name: impl Into<String>, handler: impl JobHandler) -> Self {
        let name = name.into();
        if self
            .handlers
            .insert(name.clone(), Arc::new(handler))
            .is_some()
        {
            self.duplicate.get_or_insert(name);
        }
        self
    }

    /// The worker's id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.config.id = Some(id.into());
        self
    }

    /// The host name reported.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.config.host = host.into();
        self
    }

    /// Adds a label.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.config.tags.push(tag.into());
        self
    }

    /// How many jobs run at once.
    pub const fn max_concurrent_jobs(mut self, max: u32) -> Self {
        self.config.max_concurrent_jobs = max;
        self
    }

    /// How often to heartbeat (the lease follows at 3× unless set).
    pub const fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = interval;
        self
    }

    /// How long claims and heartbeats hold jobs.
    pub const fn lease(mut self, lease: Duration) -> Self {
        self.config.lease = lease;
        self.lease_set = true;
        self
    }

    /// How often an idle worker polls for jobs of other processes.
    pub const fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval;
        self
    }

    /// How many jobs one claim takes at most (1 claims one job per transaction).
    pub const fn claim_batch(mut self, batch: u32) -> Self {
        self.config.claim_batch = batch;
        self.claim_batch_set = true;
        self
    }

    /// How many claims are in flight at once (see [`WorkerConfig::claim_concurrency`]).
    pub const fn claim_concurrency(mut self, claims: u32) -> Self {
        self.config.claim_concurrency = claims;
        self
    }

    /// How many outcomes one commit records at most (1 commits each alone).
    pub const fn commit_batch(mut self, batch: usize) -> Self {
        self.config.commit_batch = batch;
        self
    }

    /// How long a graceful shutdown waits for running jobs.
    pub const fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.config.shutdown_grace = grace;
        self
    }

    /// How long a cancelled handler may take to return.
    pub const fn cancel_grace(mut self, grace: Duration) -> Self {
        self.config.cancel_grace = grace;
        self
    }

    /// Shut down gracefully when `token` is cancelled (besides [`WorkerHandle::shutdown`]).
    pub fn shutdown_on(mut self, token: CancellationToken) -> Self {
        self.shutdown = Some(token);
        self
    }

    fn validate(&self) -> Result<()> {
        let invalid = |field, message: &str| {
            Err(Error::InvalidArgument {
                field,
                message: message.to_owned(),
            })
        };
        if let Some(name) = &self.duplicate {
            return Err(Error::DuplicateHandler { name: name.clone() });
        }
        if self.handlers.is_empty() {
            return invalid("handlers", "a worker needs at least one handler");
        }
        if self.config.max_concurrent_jobs == 0 {
            return invalid("max_concurrent_jobs", "must be at least 1");
        }
        if self.config.claim_batch == 0 || self.config.commit_batch == 0 {
            return invalid("claim_batch", "batches must hold at least 1");
        }
        if self.config.claim_concurrency == 0
            || self.config.claim_concurrency > self.config.max_concurrent_jobs
        {
            return invalid(
                "claim_concurrency",
                "must be at least 1 and at most max_concurrent_jobs",
            );
        }
        if self.config.heartbeat_interval.is_zero() || self.config.poll_interval.is_zero() {
            return invalid("heartbeat_interval", "intervals must be longer than zero");
        }
        if self.config.lease <= self.config.heartbeat_interval {
            return invalid("lease", "must be longer than the heartbeat interval");
        }
        Ok(())
    }

    /// Registers the worker (`worker.registered`) and starts claiming.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] or [`Error::DuplicateHandler`] for a bad setup,
    /// [`Error::NoRuntime`] outside a Tokio runtime, store errors from the registration.
    pub async fn start(mut self) -> Result<WorkerHandle> {
        if !self.lease_set {
            self.config.lease = self.config.heartbeat_interval.saturating_mul(3);
        }
        if !self.claim_batch_set {
            self.config.claim_batch = self.config.max_concurrent_jobs;
        }
        self.validate()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let id = self.config.id.clone().unwrap_or_else(|| {
            let random = uuid::Uuid::now_v7().simple().to_string();
            format!(
                "{}-{}-{}",
                self.config.host,
                std::process::id(),
                &random[random.len() - 8..]
            )
        });
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        let (commits, commit_queue) =
            mpsc::channel(self.config.max_concurrent_jobs as usize + self.config.commit_batch);
        let claim_log = self.manager.shared.events.claim_log(&id);
        let worker = Arc::new(WorkerShared {
            id,
            claim_log,
            manager: Arc::clone(&self.manager.shared),
            slots: Arc::new(Semaphore::new(self.config.max_concurrent_jobs as usize)),
            names,
            handlers: self.handlers,
            running: DashMap::new(),
            commits,
            stopped: CancellationToken::new(),
            killed: CancellationToken::new(),
            writer_close: CancellationToken::new(),
            finished: CancellationToken::new(),
            runners: TaskTracker::new(),
            config: self.config,
        });
        register(&worker).await?;

        let writer = runtime.spawn(writer::run(
            Arc::clone(&worker.manager),
            commit_queue,
            worker.config.commit_batch,
            worker.writer_close.clone(),
            worker.killed.clone(),
        ));
        let heartbeat = runtime.spawn(heartbeat::run(Arc::clone(&worker)));
        let claims = runtime.spawn(claimers(Arc::clone(&worker)));
        let external = self.shutdown.unwrap_or_default();
        runtime.spawn(supervise(
            Arc::clone(&worker),
            external,
            claims,
            heartbeat,
            writer,
        ));
        Ok(WorkerHandle { worker })
    }
}

/// What a worker's tasks share.
pub(crate) struct WorkerShared {
    pub(crate) id: String,
    pub(crate) manager: Arc<Shared>,
    pub(crate) config: WorkerConfig,
    /// What the store logs with this worker's claims (when the manager logs events).
    claim_log: Option<crate::store::LogEvents>,
    names: Vec<String>,
    handlers: HashMap<String, Arc<dyn JobHandler>>,
    slots: Arc<Semaphore>,
    /// The jobs this worker runs.
    pub(crate) running: DashMap<String, Arc<JobControl>>,
    pub(crate) commits: mpsc::Sender<writer::Commit>,
    /// Stop claiming (graceful shutdown began).
    pub(crate) stopped: CancellationToken,
    /// Stop everything at once, writing nothing (a simulated crash).
    pub(crate) killed: CancellationToken,
    writer_close: CancellationToken,
    finished: CancellationToken,
    runners: TaskTracker,
}

impl std::fmt::Debug for WorkerShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerShared")
            .field("id", &self.id)
            .field("names", &self.names)
            .field("running", &self.running.len())
            .finish_non_exhaustive()
    }
}

/// Records the worker in the store and emits `worker.registered`.
pub(crate) async fn register(worker: &WorkerShared) -> Result<()> {
    let events = &worker.manager.events;
    let now = events.clock.now();
    let mut record = WorkerRecord::new(worker.id.clone(), now);
    record.host.clone_from(&worker.config.host);
    record.pid = std::process::id();
    record.tags.clone_from(&worker.config.tags);
    record.job_names.clone_from(&worker.names);
    record.max_concurrent_jobs = worker.config.max_concurrent_jobs;
    record.heartbeat_interval_ms =
        u64::try_from(worker.config.heartbeat_interval.as_millis()).unwrap_or(u64::MAX);
    worker.manager.store.register_worker(&record).await?;
    let mut data = Map::with_capacity(6);
    data.insert(keys::HOST.to_owned(), Value::String(record.host));
    data.insert(keys::PID.to_owned(), Value::from(record.pid));
    data.insert(
        keys::TAGS.to_owned(),
        Value::Array(record.tags.into_iter().map(Value::String).collect()),
    );
    data.insert(
        keys::MAX_CONCURRENT_JOBS.to_owned(),
        Value::from(record.max_concurrent_jobs),
    );
    data.insert(
        keys::HEARTBEAT_INTERVAL_MS.to_owned(),
        Value::from(record.heartbeat_interval_ms),
    );
    data.insert(
        "job_names".to_owned(),
        Value::Array(record.job_names.into_iter().map(Value::String).collect()),
    );
    events.worker(EventType::WorkerRegistered, &worker.id, data);
    worker.manager.reaper_wake.notify_one();
    Ok(())
}

/// Runs the worker's claim loops (`claim_concurrency` of them) until they stop.
async fn claimers(worker: Arc<WorkerShared>) {
    // One streak of failures for all the loops: an outage is announced once, and every loop
    // backs off.
    let failures = Arc::new(std::sync::Mutex::new(outage::FailureStreak::new(
        "claim jobs",
    )));
    let loops: Vec<_> = (0..worker.config.claim_concurrency)
        .map(|index| {
            tokio::spawn(claim_loop(
                Arc::clone(&worker),
                index == 0,
                Arc::clone(&failures),
            ))
        })
        .collect();
    for claims in loops {
        let _ = claims.await;
    }
}

/// One claim loop; only the `first` polls the store when idle.
async fn claim_loop(
    worker: Arc<WorkerShared>,
    first: bool,
    failures: Arc<std::sync::Mutex<outage::FailureStreak>>,
) {
    let streak = || {
        failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    let shared = &worker.manager;
    // Jobs made claimable by other processes (a hint from stores that have one; never fires
    // otherwise).
    let store_wake = shared
        .store
        .claimable_signal()
        .unwrap_or_else(|| Arc::new(tokio::sync::Notify::new()));
    let poll = first && !shared.store.process_local();
    loop {
        if worker.stopped.is_cancelled() || worker.killed.is_cancelled() {
            return;
        }
        let notified = shared.work_available.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let store_notified = store_wake.notified();
        tokio::pin!(store_notified);
        store_notified.as_mut().enable();
        let limit = u32::try_from(worker.slots.available_permits())
            .unwrap_or(u32::MAX)
            .min(worker.config.claim_batch);
        // The slots this claim may fill, reserved before it asks (other claim loops of the
        // worker may be asking too); those it does not fill are given back when it returns.
        let reserved = match limit {
            0 => None,
            _ => Arc::clone(&worker.slots).try_acquire_many_owned(limit).ok(),
        };
        let Some(mut reserved) = reserved else {
            tokio::select! {
                () = worker.stopped.cancelled() => return,
                () = worker.killed.cancelled() => return,
                permit = Arc::clone(&worker.slots).acquire_owned() => drop(permit),
            }
            continue;
        };
        let now = shared.events.clock.now();
        let request = ClaimRequest {
            worker_id: worker.id.clone(),
            names: worker.names.clone(),
            limit,
            now,
            lease_until: now + crate::clock::delta(worker.config.lease),
            log: worker.claim_log.clone(),
        };
        match shared.store.claim(&request).await {
            Ok(jobs) => {
                streak().succeeded(&worker.id);
                let claimed = jobs.len();
                for job in jobs {
                    let slot = reserved.split(1);
                    start_job(&worker, job, slot);
                }
                if claimed as u32 == limit {
                    continue;
                }
            }
            Err(error) => streak().failed(shared, &worker.id, &error),
        }
        // The slots no claimed job took.
        drop(reserved);
        // After failed claims (an outage: announced once), wait out a growing backoff, not
        // woken early by new jobs, which could not be claimed anyway.
        let failed = streak().count();
        if failed > 0 {
            let backoff = outage::claim_backoff(worker.config.poll_interval, failed);
            tokio::select! {
                () = worker.stopped.cancelled() => return,
                () = worker.killed.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            continue;
        }
        // Poll again after the interval when other processes may add jobs; otherwise sleep
        // until woken.
        let poll_timer = async {
            if poll {
                tokio::time::sleep(worker.config.poll_interval).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = worker.stopped.cancelled() => return,
            () = worker.killed.cancelled() => return,
            () = &mut notified => {}
            () = &mut store_notified => {}
            () = poll_timer => {}
        }
    }
}

fn start_job(
    worker: &Arc<WorkerShared>,
    job: crate::job::Job,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) {
    // A job that became due a moment ago may be claimed before the scheduler announced it:
    // announce it here, so that `job.queued` always precedes `job.started`.
    if let Some(at) = job.queued_at
        && worker.manager.schedule.remove(at, &job.id)
    {
        let mut queued = job.clone();
        queued.status = crate::JobStatus::Queued;
        queued.worker_id = None;
        queued.lease_expires_at = None;
        queued.attempt = queued.attempt.saturating_sub(1);
        queued.started_at = None;
        worker
            .manager
            .events
            .job(EventType::JobQueued, &queued, Map::new());
    }
    let claimed = worker.manager.events.claimed_events(&worker.id, &job);
    worker.manager.events.committed(claimed);
    let handler = worker.handlers.get(&job.name).map(Arc::clone);
    match (handler, permit) {
        (Some(handler), Some(permit)) => {
            worker
                .runners
                .spawn(runner::run(Arc::clone(worker), job, handler, permit));
        }
        // A claim takes at most the slots it reserved, and only names the worker has handlers
        // for, so neither can be missing; if it were, the lease expiry would return the job
        // to the queue.
        _ => tracing::error!(job_id = %job.id, "claimed a job without a slot or handler"),
    }
}

async fn supervise(
    worker: Arc<WorkerShared>,
    external: CancellationToken,
    claims: tokio::task::JoinHandle<()>,
    heartbeat: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
) {
    tokio::select! {
        () = external.cancelled() => worker.stopped.cancel(),
        () = worker.stopped.cancelled() => {}
        () = worker.killed.cancelled() => {}
    }
    let _ = claims.await;
    worker.runners.close();
    if !worker.killed.is_cancelled() {
        let graceful = tokio::time::timeout(worker.config.shutdown_grace, worker.runners.wait());
        let in_time = tokio::select! {
            result = graceful => result.is_ok(),
            () = worker.killed.cancelled() => true,
        };
        if !in_time {
            for entry in &worker.running {
                entry.value().cancel();
            }
        }
    }
    tokio::select! {
        () = worker.runners.wait() => {}
        () = worker.killed.cancelled() => {}
    }
    worker.writer_close.cancel();
    let _ = writer.await;
    let _ = heartbeat.await;
    if !worker.killed.is_cancelled() {
        go_offline(&worker).await;
    }
    worker.finished.cancel();
}

/// The end of a graceful shutdown: the worker's record goes offline and the jobs it still
/// holds go back to the queue (`job.retrying` with `reason=shutdown`), then `worker.offline`.
async fn go_offline(worker: &WorkerShared) {
    let events = &worker.manager.events;
    let now = events.clock.now();
    let log = events.offline_log(&worker.id, SHUTDOWN_REASON, SHUTDOWN_REASON);
    match worker
        .manager
        .store
        .mark_worker_offline_logged(&worker.id, now, SHUTDOWN_REASON, None, log.as_ref())
        .await
    {
        Ok(Some(jobs)) => {
            announce_offline(
                &worker.manager,
                &worker.id,
                SHUTDOWN_REASON,
                SHUTDOWN_REASON,
                &jobs,
            );
        }
        // Declared offline by a reaper meanwhile: it already announced everything.
        Ok(None) => {}
        Err(error) => events.system_error("take a worker offline", &error),
    }
}

/// A running worker. Dropping the handle does not stop the worker; call
/// [`shutdown`](Self::shutdown).
#[derive(Debug, Clone)]
pub struct WorkerHandle {
    worker: Arc<WorkerShared>,
}

impl WorkerHandle {
    /// The worker's id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.worker.id
    }

    /// The ids of the jobs running now.
    #[must_use]
    pub fn running_jobs(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .worker
            .running
            .iter()
            .map(|e| e.key().clone())
            .collect();
        ids.sort();
        ids
    }

    /// Shuts down gracefully and waits: stop claiming, let running jobs finish within the
    /// shutdown grace period, cancel the rest, record every outcome, re-queue what is still
    /// held, and emit `worker.offline` with `reason=shutdown`.
    pub async fn shutdown(&self) {
        self.worker.stopped.cancel();
        self.stopped().await;
    }

    /// Waits until the worker has stopped (after a shutdown or a kill).
    pub async fn stopped(&self) {
        self.worker.finished.cancelled().await;
    }

    /// Stops the worker at once without writing anything, as if its process died: its
    /// heartbeats stop, its handlers are dropped, and its jobs stay held until the reaper
    /// declares it offline. For tests and chaos drills.
    pub async fn kill(&self) {
        self.worker.killed.cancel();
        self.stopped().await;
    }
}

/// Several workers started and stopped together.
#[derive(Debug, Default)]
pub struct WorkerPool {
    workers: Vec<WorkerHandle>,
}

impl WorkerPool {
    /// An empty pool.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a started worker.
    pub fn push(&mut self, worker: WorkerHandle) {
        self.workers.push(worker);
    }

    /// The workers.
    #[must_use]
    pub fn workers(&self) -> &[WorkerHandle] {
        &self.workers
    }

    /// Shuts every worker down gracefully, concurrently, and waits for all.
    pub async fn shutdown(&self) {
        for worker in &self.workers {
            worker.worker.stopped.cancel();
        }
        for worker in &self.workers {
            worker.stopped().await;
        }
    }
}

impl JobManager {
    /// A builder of a worker that claims from this manager's store and emits to its emitter.
    pub fn worker(&self) -> WorkerBuilder {
        WorkerBuilder {
            manager: self.clone(),
            config: WorkerConfig::default(),
            claim_batch_set: false,
            lease_set: false,
            handlers: HashMap::new(),
            duplicate: None,
            shutdown: None,
        }
    }
}
