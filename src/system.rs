//! Assembles the system a command runs: store, emitter, monitor, manager, workers.

use std::sync::Arc;
use std::time::Duration;

use oa_events::{Event, EventEmitter, EventType};
use oa_jobs::{JobManager, JobStatus, JobStore, WorkerPool};
use oa_monitor::Monitor;

use crate::handlers;
use crate::store_url::StoreUrl;

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
}

/// A running system.
#[derive(Debug)]
pub(crate) struct System {
    pub(crate) store: Arc<dyn JobStore>,
    pub(crate) emitter: EventEmitter,
    pub(crate) monitor: Arc<Monitor>,
    pub(crate) manager: JobManager,
    pub(crate) workers: WorkerPool,
}

impl System {
    /// Opens the store, attaches the monitor, starts the manager and the workers, and emits
    /// `system.startup`.
    pub(crate) async fn start(options: &SystemOptions) -> anyhow::Result<Self> {
        let store = options.store.open().await?;
        let emitter = EventEmitter::new();
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
        emitter.emit(
            Event::new(EventType::SystemStartup)
                .with_data("version", env!("CARGO_PKG_VERSION"))
                .with_data("store", options.store.to_string())
                .with_data("pid", std::process::id()),
        );
        let mut manager = JobManager::builder(Arc::clone(&store)).emitter(emitter.clone());
        if let Some(retention) = options.retention {
            manager = manager.retention(retention);
        }
        let manager = manager.build()?;
        let mut workers = WorkerPool::new();
        for index in 0..options.workers {
            let mut builder = handlers::register(manager.worker())
                .max_concurrent_jobs(options.concurrency)
                .shutdown_grace(options.shutdown_grace);
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
        })
    }

    /// Graceful shutdown: workers finish or return their jobs, `system.shutdown` is emitted,
    /// the manager stops.
    pub(crate) async fn stop(&self) {
        self.workers.shutdown().await;
        self.emitter
            .emit(Event::new(EventType::SystemShutdown).with_data("pid", std::process::id()));
        self.manager.shutdown().await;
    }
}
