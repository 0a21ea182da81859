//! The records of unfinished jobs ([`InFlight`]) and of finished ones ([`FinishedJob`]).

use crate::snapshot::JobErrorInfo;
use crate::types::{JobOutcome, Priority};

use super::tags::TagRef;

/// Where an unfinished job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting in the queue (`job.queued`).
    Queued,
    /// Its attempt is executing (`job.started`, `job.resumed` after a pause).
    Running,
    /// Paused after its attempt started; still counted as running.
    Paused,
    /// Paused before it ever started.
    PausedBeforeStart,
    /// Its attempt failed and it waits for the next one (`job.retrying`).
    RetryWait,
}

impl Phase {
    /// Whether an attempt has started and not ended.
    pub(crate) fn is_running(self) -> bool {
        matches!(self, Phase::Running | Phase::Paused)
    }
}

/// An unfinished job.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) name: Box<str>,
    pub(crate) priority: Priority,
    pub(crate) tags: Box<[TagRef]>,
    /// The `created_at` data key, in microseconds.
    pub(crate) created_at: Option<i64>,
    pub(crate) phase: Phase,
    /// Whether the job was counted in `total_jobs`.
    pub(crate) started_once: bool,
    /// The current (or last) attempt, 1-based; 0 before the first start.
    pub(crate) attempt: u32,
    /// The timestamp of the last `job.queued`, in microseconds.
    pub(crate) queued_at: Option<i64>,
    /// The timestamp of the current (or last) attempt's `job.started`.
    pub(crate) attempt_started_at: Option<i64>,
    /// The wait of the current (or last) attempt, in microseconds.
    pub(crate) last_wait: Option<u64>,
    pub(crate) worker_id: Option<Box<str>>,
    pub(crate) progress: f64,
    pub(crate) progress_at: Option<i64>,
    /// The timestamp of the last event about the job, for the eviction horizon.
    pub(crate) last_seen: i64,
}

/// A finished job in the recent-jobs ring.
#[derive(Debug)]
pub(crate) struct FinishedJob {
    pub(crate) job_id: Box<str>,
    pub(crate) name: Box<str>,
    pub(crate) outcome: JobOutcome,
    pub(crate) execution_micros: Option<u64>,
    pub(crate) wait_micros: Option<u64>,
    pub(crate) tags: Box<[TagRef]>,
    pub(crate) priority: Priority,
    pub(crate) attempts: u32,
    pub(crate) worker_id: Option<Box<str>>,
    pub(crate) created_at: Option<i64>,
    pub(crate) started_at: Option<i64>,
    pub(crate) finished_at: i64,
    pub(crate) error: Option<JobErrorInfo>,
}
