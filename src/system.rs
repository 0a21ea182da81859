//! Assembles the system a command runs: store, emitter, monitor, manager, workers.

use std::sync::Arc;
use std::time::Duration;

use oa_events::{Event, EventEmitter, EventLog, EventType, FollowOptions, LogFollower};
use oa_jobs::{JobManager, JobStatus, JobStore, WorkerPool};
use oa_monitor::Monitor;

use crate::handlers;
use crate::store_url::StoreUrl;

/// How long a start waits for the replay of the event log before it serves anyway.
const REPLAY_WAIT: Duration = Duration::from_secs(60);

/// What to start.
#[derive(Debug, Clone)]
pub(crate) struct SystemOptions {
    pub(crate) store: StoreUrl,
    /// Worker count (0: none, a monitoring-only process).
    pub(crate) workers: u32,
    /// Jobs each worker runs at once.
    pub(crate) concurrency: u32,
    /// How long a graceful shutdown lets running jobs finish.
    pub(crate) shutdown_grace: Duration,
    /// The worker id prefix (default: the host name).
    pub(crate) worker_prefix: Option<String>,
    /// Finished jobs older than this are purged automatically.
    pub(crate) retention: Option<Duration>,
    /// Write events to the store's durable event log (when it keeps one).
    pub(crate) event_log: bool,
    /// Feed the monitor and the API from the event log (every process's events, replayed on
    /// start) rather than from this process's events only: for `serve` and `demo`.
    pub(crate) follow_log: bool,
    /// How often workers heartbeat (their leases last 3 intervals).
    pub(crate) heartbeat_interval: Duration,
    /// Jobs one claim takes at most (default: `concurrency`).
    pub(crate) claim_batch: Option<u32>,
    /// Claims each worker has in flight at once.
    pub(crate) claim_concurrency: u32,
}

/// A running system.
#[derive(Debug)]
pub(crate) struct System {
    pub(crate) store: Arc<dyn JobStore>,
    /// The events the monitor and the API see: this process's own, or, when following the
    /// event log, every process's, numbered by the log.
    pub(crate) emitter: EventEmitter,
    pub(crate) monitor: Arc<Monitor>,
    pub(crate) manager: JobManager,
    pub(crate) workers: WorkerPool,
    /// The log the emitter follows, when it does.
    pub(crate) followed_log: Option<Arc<dyn EventLog>>,
    follower: Option<LogFollower>,
}

impl System {
    /// Opens the store, attaches the monitor, starts the manager and the workers, and emits
    /// `system.startup`.
    pub(crate) async fn start(options: &SystemOptions) -> anyhow::Result<Self> {
        let store = options.store.open().await?;
        // The engine emits into its own emitter; the monitor watches either that one or, when
        // this process follows the event log, an emitter the log's follower feeds.
        let engine = EventEmitter::new();
        let log = options.event_log.then(|| store.event_log()).flatten();
        let followed_log = log.filter(|_| options.follow_log);
        let emitter = if followed_log.is_some() {
            EventEmitter::new()
        } else {
            engine.clone()
        };
        let depth_store = Arc::clone(&store);
        let monitor = Arc::new(
            Monitor::builder()
                .queue_depth_source(Duration::from_secs(1), move || {
                    let store = Arc::clone(&depth_store);
                    async move {
                        store
                            .count_by_status()
                            .await
                            .map(|counts| counts.get(JobStatus::Queued))
                            .map_err(|error| error.to_string())
                    }
                })
                .build(&emitter)?,
        );
        let follower = match &followed_log {
            Some(log) => {
                let follower =
                    LogFollower::start(Arc::clone(log), emitter.clone(), FollowOptions::default())?;
                tracing::info!("replaying the event log");
                // Serve the replayed numbers, not partial ones; but a log that cannot be read
                // (or is huge) must not keep the server from starting: the numbers then fill
                // in while it serves.
                if tokio::time::timeout(REPLAY_WAIT, follower.caught_up())
                    .await
                    .is_ok()
                {
                    tracing::info!(
                        replayed = follower.followed(),
                        position = follower.position(),
                        "event log replayed; following it"
                    );
                } else {
                    tracing::warn!(
                        replayed = follower.followed(),
                        position = follower.position(),
                        "the event log is still being replayed after {} s; serving meanwhile \
                         (the numbers fill in as it goes)",
                        REPLAY_WAIT.as_secs()
                    );
                }
                Some(follower)
            }
            None => None,
        };
        let mut manager = JobManager::builder(Arc::clone(&store))
            .emitter(engine)
            .event_log(options.event_log);
        if let Some(retention) = options.retention {
            manager = manager.retention(retention);
        }
        let manager = manager.build()?;
        manager.publish(
            Event::new(EventType::SystemStartup)
                .with_data("version", env!("CARGO_PKG_VERSION"))
                .with_data("store", options.store.to_string())
                .with_data("pid", std::process::id()),
        );
        let mut workers = WorkerPool::new();
        for index in 0..options.workers {
            let mut builder = handlers::register(manager.worker())
                .max_concurrent_jobs(options.concurrency)
                .claim_concurrency(options.claim_concurrency)
                .heartbeat_interval(options.heartbeat_interval)
                .shutdown_grace(options.shutdown_grace);
            if let Some(batch) = options.claim_batch {
                builder = builder.claim_batch(batch);
            }
            if let Some(prefix) = &options.worker_prefix {
                builder = builder.id(format!("{prefix}-{}", index + 1));
            }
            workers.push(builder.start().await?);
        }
        Ok(Self {
            store,
            emitter,
            monitor,
            manager,
            workers,
            followed_log,
            follower,
        })
    }

    /// The progress of the event log's follower, when this process follows the log.
    pub(crate) fn follow_progress(&self) -> Option<oa_events::FollowProgress> {
        self.follower.as_ref().map(LogFollower::progress)
    }

    /// Graceful shutdown: workers finish or return their jobs, `system.shutdown` is emitted,
    /// the manager stops.
    /// The manager's shutdown writes the events still queued for the log; a follower reads
    /// on until then, so that the monitor sees them too.
    pub(crate) async fn stop(&self) {
        self.workers.shutdown().await;
        self.manager
            .publish(Event::new(EventType::SystemShutdown).with_data("pid", std::process::id()));
        self.manager.shutdown().await;
        if let (Some(follower), Some(log)) = (&self.follower, &self.followed_log) {
            // Let the monitor see this process's last events (bounded: a stopped database
            // must not hold the shutdown).
            if let Ok(bounds) = log.bounds().await {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                while follower.position() < bounds.last && tokio::time::Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
}
