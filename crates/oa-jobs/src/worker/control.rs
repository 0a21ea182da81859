//! The link between a running job's handler and the engine: pause, resume, cancel, progress.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use oa_events::EventType;
use serde_json::Map;
use tokio::sync::Notify;
use tokio::sync::futures::Notified;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::job::Job;
use crate::manager::Events;

/// At most one `job.progress.updated` per job per this interval (the last value is always
/// emitted, at the latest one interval after it was reported).
pub(crate) const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
struct Progress {
    last_emit: Option<Instant>,
    pending: Option<f64>,
}

/// The shared state of one running job.
#[derive(Debug)]
pub(crate) struct JobControl {
    cancel: CancellationToken,
    /// Whether the job is paused; every change wakes the waiters of `pause_changed`.
    paused: AtomicBool,
    pause_changed: Notify,
    progress: Mutex<Progress>,
    /// Woken when a progress value was held back, so the runner emits it later.
    pub(crate) progress_held: Notify,
    /// The job as claimed (events of progress carry its keys).
    job: Job,
    events: Events,
}

impl JobControl {
    pub(crate) fn new(job: Job, events: Events) -> Self {
        Self {
            cancel: CancellationToken::new(),
            paused: AtomicBool::new(false),
            pause_changed: Notify::new(),
            progress: Mutex::new(Progress::default()),
            progress_held: Notify::new(),
            job,
            events,
        }
    }

    pub(crate) const fn job(&self) -> &Job {
        &self.job
    }

    /// The job as claimed, once nothing else shares this control.
    pub(crate) fn into_job(self) -> Job {
        self.job
    }

    pub(crate) const fn token(&self) -> &CancellationToken {
        &self.cancel
    }

    pub(crate) fn cancel(&self) {
        self.cancel.cancel();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    pub(crate) fn set_paused(&self, paused: bool) {
        if self.paused.swap(paused, Ordering::AcqRel) != paused {
            self.pause_changed.notify_waiters();
        }
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// A future that completes at the next pause or resume after it was enabled. To wait for a
    /// change without missing one: pin it, [`enable`](Notified::enable) it, read
    /// [`is_paused`](Self::is_paused), then await it.
    pub(crate) fn pause_changed(&self) -> Notified<'_> {
        self.pause_changed.notified()
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        // Two plain fields; any state left by a panic is valid.
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a progress value; emits it now unless one was emitted less than
    /// [`PROGRESS_INTERVAL`] ago, in which case it is held for the runner to emit.
    pub(crate) fn report_progress(&self, fraction: f64) {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        let now = Instant::now();
        let emit_now = {
            let mut progress = self.lock();
            if progress
                .last_emit
                .is_none_or(|at| now.duration_since(at) >= PROGRESS_INTERVAL)
            {
                progress.last_emit = Some(now);
                progress.pending = None;
                true
            } else {
                progress.pending = Some(fraction);
                false
            }
        };
        if emit_now {
            self.emit_progress(fraction);
        } else {
            self.progress_held.notify_one();
        }
    }

    /// When the held value may be emitted, if one is held.
    pub(crate) fn held_until(&self) -> Option<Instant> {
        let progress = self.lock();
        progress
            .pending
            .and(progress.last_emit.map(|at| at + PROGRESS_INTERVAL))
    }

    /// Emits the held value, if any.
    pub(crate) fn flush_progress(&self) {
        let pending = {
            let mut progress = self.lock();
            let pending = progress.pending.take();
            if pending.is_some() {
                progress.last_emit = Some(Instant::now());
            }
            pending
        };
        if let Some(fraction) = pending {
            self.emit_progress(fraction);
        }
    }

    fn emit_progress(&self, fraction: f64) {
        let mut job = self.job.clone();
        job.progress = fraction;
        self.events
            .job(EventType::JobProgressUpdated, &job, Map::new());
    }
}
