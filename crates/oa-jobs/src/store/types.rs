//! The values exchanged with a [`JobStore`](super::JobStore).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::job::Job;
use crate::status::{JobStatus, Priority};

/// A full replacement of a stored job, applied only if its stored status is still `expected`.
#[derive(Debug, Clone)]
pub struct JobUpdate {
    /// The job as it must be stored.
    pub job: Job,
    /// The status the change was computed from.
    pub expected: JobStatus,
    /// The events that describe the change: a store with an event log
    /// ([`JobStore::event_log`](super::JobStore::event_log)) appends them in the same
    /// transaction, if and only if the update is applied. Other stores ignore them.
    pub events: Vec<oa_events::Event>,
}

impl JobUpdate {
    /// An update of `job`, computed from a copy whose status was `expected`.
    #[must_use]
    pub const fn new(job: Job, expected: JobStatus) -> Self {
        Self {
            job,
            expected,
            events: Vec::new(),
        }
    }

    /// The same update, logging `events` with it.
    #[must_use]
    pub fn with_events(mut self, events: Vec<oa_events::Event>) -> Self {
        self.events = events;
        self
    }
}

/// Builds the events that describe a batch of jobs a store just changed (claimed, or released
/// from a lost worker), so that a store with an event log writes them in the same transaction.
/// The engine passes one; stores without a log never call it.
#[derive(Clone)]
pub struct LogEvents {
    build: std::sync::Arc<BuildEvents>,
    /// The events are the engine's own for a claim (`worker.claimed_job` then `job.started`
    /// per job, in claim order), which a store may build itself inside its claim statement.
    claim_events: bool,
}

/// The function behind [`LogEvents`].
type BuildEvents = dyn Fn(&[Job]) -> Vec<oa_events::Event> + Send + Sync;

impl LogEvents {
    /// Wraps the builder.
    pub fn new(build: impl Fn(&[Job]) -> Vec<oa_events::Event> + Send + Sync + 'static) -> Self {
        Self {
            build: std::sync::Arc::new(build),
            claim_events: false,
        }
    }

    /// Wraps the engine's builder of the events of a claim: for each job, in claim order,
    /// `worker.claimed_job` and `job.started` as [`Job::event_data`] describes the claimed job.
    /// A store may write these without calling `build` (the PostgreSQL store builds them in
    /// its claim statement, saving three round trips); its tests show the two are equal.
    ///
    /// [`Job::event_data`]: oa_events::JobEventSource::event_data
    pub(crate) fn claim(
        build: impl Fn(&[Job]) -> Vec<oa_events::Event> + Send + Sync + 'static,
    ) -> Self {
        Self {
            claim_events: true,
            ..Self::new(build)
        }
    }

    /// Whether these are the engine's claim events (see [`claim`](Self::claim)).
    pub(crate) const fn is_claim(&self) -> bool {
        self.claim_events
    }

    /// The events for `jobs` (the jobs as they are stored after the change).
    #[must_use]
    pub fn build(&self, jobs: &[Job]) -> Vec<oa_events::Event> {
        (self.build)(jobs)
    }
}

impl std::fmt::Debug for LogEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogEvents(..)")
    }
}

/// Which jobs a [`list`](super::JobStore::list) returns; empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct JobFilter {
    /// Any of these statuses (all when empty).
    pub statuses: Vec<JobStatus>,
    /// Exactly this name.
    pub name: Option<String>,
    /// Carrying this tag.
    pub tag: Option<String>,
    /// Exactly this priority.
    pub priority: Option<Priority>,
    /// Held by this worker.
    pub worker_id: Option<String>,
}

impl JobFilter {
    /// Matches every job.
    #[must_use]
    pub fn all() -> Self {
        Self::default()
    }

    /// Only jobs in `status` (added to the statuses already selected).
    #[must_use]
    pub fn status(mut self, status: JobStatus) -> Self {
        self.statuses.push(status);
        self
    }

    /// Only jobs named `name`.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Only jobs carrying `tag`.
    #[must_use]
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Only jobs of `priority`.
    #[must_use]
    pub const fn priority(mut self, priority: Priority) -> Self {
        self.priority = Some(priority);
        self
    }

    /// Only jobs held by `worker_id`.
    #[must_use]
    pub fn worker(mut self, worker_id: impl Into<String>) -> Self {
        self.worker_id = Some(worker_id.into());
        self
    }

    /// Whether `job` matches (the reference semantics every store follows).
    #[must_use]
    pub fn matches(&self, job: &Job) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&job.status))
            && self.name.as_ref().is_none_or(|name| *name == job.name)
            && self.tag.as_ref().is_none_or(|tag| job.tags.contains(tag))
            && self
                .priority
                .is_none_or(|priority| priority == job.priority)
            && self
                .worker_id
                .as_ref()
                .is_none_or(|w| job.worker_id.as_ref() == Some(w))
    }
}

/// One page of a listing: `limit` items after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// How many items at most (1 to [`Page::MAX_LIMIT`]).
    pub limit: u32,
    /// How many items to skip.
    pub offset: u64,
}

impl Page {
    /// The largest page.
    pub const MAX_LIMIT: u32 = 1000;

    /// A checked page.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `limit` is 0 or above [`Page::MAX_LIMIT`].
    pub fn new(limit: u32, offset: u64) -> Result<Self> {
        if limit == 0 || limit > Self::MAX_LIMIT {
            return Err(Error::InvalidArgument {
                field: "limit",
                message: format!("must be between 1 and {}, got {limit}", Self::MAX_LIMIT),
            });
        }
        Ok(Self { limit, offset })
    }

    /// The first `limit` items (clamped to 1..=[`Page::MAX_LIMIT`]).
    #[must_use]
    pub const fn first(limit: u32) -> Self {
        let limit = if limit == 0 {
            1
        } else if limit > Self::MAX_LIMIT {
            Self::MAX_LIMIT
        } else {
            limit
        };
        Self { limit, offset: 0 }
    }
}

impl Default for Page {
    fn default() -> Self {
        Self {
            limit: 100,
            offset: 0,
        }
    }
}

/// One page of jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPage {
    /// The jobs, newest first.
    pub jobs: Vec<Job>,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<u64>,
}

/// How many jobs are in each status. Serialized as `{"created": 0, "queued": 3, ...}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts([u64; 7]);

impl StatusCounts {
    /// The count of `status`.
    #[must_use]
    pub const fn get(&self, status: JobStatus) -> u64 {
        self.0[status.index()]
    }

    /// Sets the count of `status`.
    pub const fn set(&mut self, status: JobStatus, count: u64) {
        self.0[status.index()] = count;
    }

    /// Adds `delta` (may be negative) to the count of `status`, saturating at 0.
    pub const fn add(&mut self, status: JobStatus, delta: i64) {
        let slot = &mut self.0[status.index()];
        *slot = slot.saturating_add_signed(delta);
    }

    /// All jobs.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

impl Serialize for StatusCounts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, u64> = JobStatus::ALL
            .iter()
            .map(|s| (s.as_str(), self.get(*s)))
            .collect();
        map.serialize(serializer)
    }
}

/// What a worker asks for when it claims jobs.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The claiming worker.
    pub worker_id: String,
    /// The job names it has handlers for (no job is claimed when empty).
    pub names: Vec<String>,
    /// How many jobs at most.
    pub limit: u32,
    /// The current time: jobs queued for later are skipped.
    pub now: DateTime<Utc>,
    /// Until when the claimed jobs are held without a heartbeat.
    pub lease_until: DateTime<Utc>,
    /// The events of the claim (built from the claimed jobs): a store with an event log writes
    /// them in the claim's transaction. `None`: nothing is logged.
    pub log: Option<LogEvents>,
}

/// Whether a worker is alive, as the store records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    /// Registered and heartbeating (or not yet declared lost).
    Online,
    /// Shut down, or declared lost by the reaper.
    Offline,
}

impl WorkerState {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Offline => "offline",
        }
    }
}

/// A worker as the store records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkerRecord {
    /// The worker's id.
    pub id: String,
    /// The host it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// Free labels.
    pub tags: Vec<String>,
    /// The job names it has handlers for.
    pub job_names: Vec<String>,
    /// How many jobs it runs at once.
    pub max_concurrent_jobs: u32,
    /// How often it heartbeats, in milliseconds.
    pub heartbeat_interval_ms: u64,
    /// Alive or not.
    pub state: WorkerState,
    /// When it (last) registered.
    pub registered_at: DateTime<Utc>,
    /// Its last heartbeat (the registration counts as one).
    pub last_heartbeat_at: DateTime<Utc>,
    /// When it went offline.
    pub offline_at: Option<DateTime<Utc>>,
    /// Why it went offline (`shutdown`, `heartbeat_timeout`).
    pub offline_reason: Option<String>,
}

impl WorkerRecord {
    /// A record of an online worker registered at `now`.
    #[must_use]
    pub fn new(id: impl Into<String>, now: DateTime<Utc>) -> Self {
        Self {
            id: id.into(),
            host: String::new(),
            pid: 0,
            tags: Vec::new(),
            job_names: Vec::new(),
            max_concurrent_jobs: 1,
            heartbeat_interval_ms: 5000,
            state: WorkerState::Online,
            registered_at: now,
            last_heartbeat_at: now,
            offline_at: None,
            offline_reason: None,
        }
    }
}

/// A job a worker holds, as a heartbeat reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldJob {
    /// The job.
    pub job_id: String,
    /// Its status (`running` or `paused`).
    pub status: JobStatus,
}

/// What a heartbeat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatOutcome {
    /// The jobs the worker holds, with renewed leases.
    pub held: Vec<HeldJob>,
    /// The worker had been declared offline (its jobs were released); it is online again and
    /// should register anew.
    pub revived: bool,
}
