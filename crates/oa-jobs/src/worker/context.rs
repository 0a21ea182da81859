//! What a handler receives: [`JobContext`].

use std::sync::Arc;

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;

use super::control::JobControl;
use crate::job::JobError;
use crate::status::Priority;

/// The running job as its handler sees it: the payload, the attempt, progress reporting,
/// cooperative pause and cancellation.
#[derive(Debug, Clone)]
pub struct JobContext {
    control: Arc<JobControl>,
}

impl JobContext {
    pub(crate) const fn new(control: Arc<JobControl>) -> Self {
        Self { control }
    }

    /// The job's id.
    #[must_use]
    pub fn job_id(&self) -> &str {
        &self.control.job().id
    }

    /// The job's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.control.job().name
    }

    /// The job's payload.
    #[must_use]
    pub fn payload(&self) -> &Value {
        &self.control.job().payload
    }

    /// The job's metadata.
    #[must_use]
    pub fn metadata(&self) -> &Map<String, Value> {
        &self.control.job().metadata
    }

    /// The job's tags.
    #[must_use]
    pub fn tags(&self) -> &[String] {
        &self.control.job().tags
    }

    /// The job's priority.
    #[must_use]
    pub fn priority(&self) -> Priority {
        self.control.job().priority
    }

    /// This attempt's number (1 for the first).
    #[must_use]
    pub fn attempt(&self) -> u32 {
        self.control.job().attempt
    }

    /// The worker running the job.
    #[must_use]
    pub fn worker_id(&self) -> &str {
        self.control.job().worker_id.as_deref().unwrap_or_default()
    }

    /// Reports progress (a fraction in `[0, 1]`, clamped). Cheap to call often: at most one
    /// `job.progress.updated` per job per 100 ms is emitted, and the last value always is.
    pub fn progress(&self, fraction: f64) {
        self.control.report_progress(fraction);
    }

    /// A point where the job may be paused: while the job is paused, this waits until it is
    /// resumed. Returns an error of kind `cancelled` once the job is cancelled (or its worker
    /// stops), so a handler can write `ctx.checkpoint().await?`.
    ///
    /// # Errors
    /// A [`JobError`] of kind `cancelled` when the job was cancelled.
    pub async fn checkpoint(&self) -> Result<(), JobError> {
        loop {
            let changed = self.control.pause_changed();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.control.is_cancelled() {
                return Err(JobError::fatal("cancelled", "the job was cancelled"));
            }
            if !self.control.is_paused() {
                return Ok(());
            }
            tokio::select! {
                () = self.control.token().cancelled() => {}
                () = &mut changed => {}
            }
        }
    }

    /// Whether the job is paused right now (a handler may also just call
    /// [`checkpoint`](Self::checkpoint)).
    #[must_use]
    pub fn is_paused(&self) -> bool {
        self.control.is_paused()
    }

    /// The token cancelled when the job is cancelled, times out, or its worker stops; a handler
    /// doing long work selects on it. The handler is dropped after the grace period anyway.
    #[must_use]
    pub fn cancellation(&self) -> &CancellationToken {
        self.control.token()
    }

    /// Whether the job was cancelled.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.control.is_cancelled()
    }
}
