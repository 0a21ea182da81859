//! [`WorkerMetrics`]: the worker collector.

mod state;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use oa_events::{Event, EventCategory, EventEmitter, EventType, SubscriptionId};

use crate::config::MetricsConfig;
use crate::snapshot::{WorkerStatus, WorkersSnapshot};
use crate::sync::lock;

pub use self::state::WorkerEntryCounts;
use self::state::WorkerTable;

/// The worker collector: each worker's liveness, registration details and job counts.
///
/// Liveness is computed when read, from the clock: a worker is `online` while its last
/// heartbeat (its registration counts as one) is at most one heartbeat interval old, `stale`
/// after one missed window, and `offline` after `worker.offline` or after
/// [`offline_after_missed_heartbeats`](crate::MetricsConfig::offline_after_missed_heartbeats)
/// missed windows (reason `heartbeat_timeout`), whichever comes first.
///
/// A worker first seen through a heartbeat or a claim (e.g. registered before the collector
/// was attached) is tracked with what is known. `job.completed` and `job.failed` events that
/// name a worker count in its `jobs_completed` and `jobs_failed`; they and `job.cancelled` /
/// `job.retrying` end a running job on it.
///
/// ```
/// use oa_events::{Event, EventType};
/// use oa_metrics::{WorkerMetrics, WorkerState};
///
/// let workers = WorkerMetrics::default();
/// workers.record(&Event::for_worker(EventType::WorkerRegistered, "w-1").with_data("host", "box-1"));
/// let status = workers.worker_status("w-1").expect("registered");
/// assert_eq!(status.status, WorkerState::Online);
/// assert_eq!(status.host.as_deref(), Some("box-1"));
/// assert_eq!(workers.workers().active_count, 1);
/// ```
#[derive(Clone)]
pub struct WorkerMetrics {
    shared: Arc<Shared>,
}

struct Shared {
    table: Mutex<WorkerTable>,
    enabled: AtomicBool,
    config: MetricsConfig,
}

impl fmt::Debug for WorkerMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerMetrics")
            .field("enabled", &self.is_enabled())
            .field("entries", &self.entry_counts())
            .finish_non_exhaustive()
    }
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        WorkerMetrics::new(&MetricsConfig::default())
    }
}

/// Whether the worker collector needs `event_type`.
fn wanted(event_type: EventType) -> bool {
    event_type.category() == EventCategory::Worker
        || matches!(
            event_type,
            EventType::JobCompleted
                | EventType::JobFailed
                | EventType::JobCancelled
                | EventType::JobRetrying
        )
}

impl WorkerMetrics {
    /// A collector with the bounds and the clock of `config`.
    #[must_use]
    pub fn new(config: &MetricsConfig) -> Self {
        WorkerMetrics {
            shared: Arc::new(Shared {
                table: Mutex::new(WorkerTable::new(config)),
                enabled: AtomicBool::new(true),
                config: config.clone(),
            }),
        }
    }

    /// Applies one event (worker events, and job events that name a worker).
    pub fn record(&self, event: &Event) {
        if !wanted(event.event_type)
            || (event.event_type.category() == EventCategory::Job && event.worker_id.is_none())
            || !self.shared.enabled.load(Ordering::Relaxed)
        {
            return;
        }
        lock(&self.shared.table).record(event);
    }

    /// Registers a sync handler on `emitter` that records every event; remove it with
    /// [`EventEmitter::off`].
    pub fn attach(&self, emitter: &EventEmitter) -> SubscriptionId {
        let workers = self.clone();
        emitter.on_any(move |event: &Event| workers.record(event))
    }

    /// Every tracked worker and the number of active (not offline) ones.
    #[must_use]
    pub fn workers(&self) -> WorkersSnapshot {
        let now = self.shared.config.clock.now();
        lock(&self.shared.table).snapshot(now)
    }

    /// One worker, if tracked.
    #[must_use]
    pub fn worker_status(&self, worker_id: &str) -> Option<WorkerStatus> {
        let now = self.shared.config.clock.now();
        lock(&self.shared.table).worker(worker_id, now)
    }

    /// The number of workers online, stale and offline, without building their statuses.
    #[must_use]
    pub fn counts_by_state(&self) -> [u64; 3] {
        let now = self.shared.config.clock.now();
        lock(&self.shared.table).counts_by_state(now)
    }

    /// Events that could not be used: no `worker_id`, a mistyped data key, a new worker while
    /// `max_workers` are tracked.
    #[must_use]
    pub fn malformed_events(&self) -> u64 {
        lock(&self.shared.table).malformed
    }

    /// The counts of entries held, to check the memory bounds.
    #[must_use]
    pub fn entry_counts(&self) -> WorkerEntryCounts {
        lock(&self.shared.table).entry_counts()
    }

    /// Zeroes the workers' job counts and the malformed count, and forgets the workers that
    /// went offline; the live ones stay known.
    pub fn reset(&self) {
        lock(&self.shared.table).reset();
    }

    /// Resumes collection.
    pub fn enable(&self) {
        self.shared.enabled.store(true, Ordering::Relaxed);
    }

    /// Stops collection: events are ignored, reads answer with the frozen figures (liveness
    /// still follows the clock).
    pub fn disable(&self) {
        self.shared.enabled.store(false, Ordering::Relaxed);
    }

    /// Whether collection is on.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled.load(Ordering::Relaxed)
    }
}
