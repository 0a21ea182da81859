//! [`WorkerState`]: the tracked workers, and how each event changes them.

use std::collections::VecDeque;

use hashbrown::HashMap;
use hashbrown::hash_map::EntryRef;

use chrono::{DateTime, Utc};
use oa_events::{Event, EventType, keys};
use serde_json::Value;

use crate::config::MetricsConfig;
use crate::histogram::micros_to_seconds;
use crate::parse::{self, Malformed, Parsed};
use crate::shared_str::SharedStr;
use crate::snapshot::{WorkerStatus, WorkersSnapshot};
use crate::types::WorkerState as Liveness;

/// The reason reported for a worker the collector declared offline itself.
const HEARTBEAT_TIMEOUT: &str = "heartbeat_timeout";

/// An event time, kept both ways: microseconds for arithmetic, and the time itself so that
/// reads need no conversion.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    micros: i64,
    time: DateTime<Utc>,
}

impl Stamp {
    fn of(time: DateTime<Utc>) -> Self {
        Stamp {
            micros: time.timestamp_micros(),
            time,
        }
    }

    fn plus_micros(self, micros: i64) -> Self {
        let micros = self.micros.saturating_add(micros);
        Stamp {
            micros,
            time: DateTime::from_timestamp_micros(micros).unwrap_or(self.time),
        }
    }
}

/// One worker.
#[derive(Debug)]
struct Worker {
    host: Option<SharedStr>,
    pid: Option<u32>,
    tags: Box<[SharedStr]>,
    max_concurrent_jobs: Option<u32>,
    heartbeat_interval_ms: u64,
    running_jobs: u64,
    jobs_claimed: u64,
    jobs_completed: u64,
    jobs_failed: u64,
    registered_at: Option<Stamp>,
    first_seen: Stamp,
    last_heartbeat_at: Stamp,
    offline_at: Option<Stamp>,
    offline_reason: Option<SharedStr>,
}

impl Worker {
    fn unregistered(at: Stamp, heartbeat_interval_ms: u64) -> Self {
        Worker {
            host: None,
            pid: None,
            tags: Box::new([]),
            max_concurrent_jobs: None,
            heartbeat_interval_ms,
            running_jobs: 0,
            jobs_claimed: 0,
            jobs_completed: 0,
            jobs_failed: 0,
            registered_at: None,
            first_seen: at,
            last_heartbeat_at: at,
            offline_at: None,
            offline_reason: None,
        }
    }

    /// The liveness at `now` (microseconds); for a timeout, when it happened.
    fn liveness(&self, now: i64, offline_after: u32) -> (Liveness, Option<Stamp>) {
        if let Some(offline_at) = self.offline_at {
            return (Liveness::Offline, Some(offline_at));
        }
        let window = i64::try_from(self.heartbeat_interval_ms)
            .unwrap_or(i64::MAX)
            .saturating_mul(1000);
        let silent = now.saturating_sub(self.last_heartbeat_at.micros);
        let timeout = window.saturating_mul(i64::from(offline_after));
        if silent > timeout {
            let at = self.last_heartbeat_at.plus_micros(timeout);
            (Liveness::Offline, Some(at))
        } else if silent > window {
            (Liveness::Stale, None)
        } else {
            (Liveness::Online, None)
        }
    }
}

fn seconds_between(from: i64, to: i64) -> f64 {
    micros_to_seconds(u64::try_from(to.saturating_sub(from)).unwrap_or(0))
}

/// The counts of entries the worker collector holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerEntryCounts {
    /// Workers tracked, offline ones included (at most `max_workers`).
    pub workers: usize,
    /// Workers remembered after their `worker.offline` (at most `max_offline_workers`).
    pub offline_workers: usize,
}

/// The worker collector's state, behind one mutex.
#[derive(Debug)]
pub(crate) struct WorkerTable {
    workers: HashMap<SharedStr, Worker>,
    /// The ids of `workers`, sorted, so that reads need not sort.
    order: Vec<SharedStr>,
    /// Workers that sent `worker.offline`, oldest first, with the time they did.
    offline: VecDeque<(SharedStr, i64)>,
    /// The reason given to workers that timed out.
    timeout_reason: SharedStr,
    pub(crate) malformed: u64,
    max_workers: usize,
    max_offline: usize,
    default_interval_ms: u64,
    offline_after: u32,
}

impl WorkerTable {
    pub(crate) fn new(config: &MetricsConfig) -> Self {
        WorkerTable {
            workers: HashMap::new(),
            order: Vec::new(),
            offline: VecDeque::new(),
            timeout_reason: SharedStr::from(HEARTBEAT_TIMEOUT),
            malformed: 0,
            max_workers: config.max_workers,
            max_offline: config.max_offline_workers,
            default_interval_ms: u64::try_from(config.default_heartbeat_interval.as_millis())
                .unwrap_or(u64::MAX),
            offline_after: config.offline_after_missed_heartbeats,
        }
    }

    pub(crate) fn record(&mut self, event: &Event) {
        let outcome = match event.event_type {
            EventType::WorkerRegistered => self.on_registered(event),
            EventType::WorkerHeartbeat => self.on_heartbeat(event),
            EventType::WorkerClaimedJob => self.on_claimed(event),
            EventType::WorkerOffline => self.on_offline(event),
            EventType::JobCompleted
            | EventType::JobFailed
            | EventType::JobCancelled
            | EventType::JobRetrying => {
                self.on_job_ended(event);
                Ok(())
            }
            _ => Ok(()),
        };
        if outcome.is_err() {
            self.malformed += 1;
        }
    }

    fn worker_id(event: &Event) -> Parsed<&str> {
        event.worker_id.as_deref().ok_or(Malformed)
    }

    /// The worker `id`, tracked from now on if it is new and there is room.
    fn worker_mut(&mut self, id: &str, at: Stamp) -> Parsed<&mut Worker> {
        if self.workers.len() >= self.max_workers && !self.workers.contains_key(id) {
            self.forget_oldest_offline();
            if self.workers.len() >= self.max_workers {
                return Err(Malformed);
            }
        }
        Ok(match self.workers.entry_ref(id) {
            EntryRef::Occupied(worker) => worker.into_mut(),
            EntryRef::Vacant(vacant) => {
                let worker = vacant.insert(Worker::unregistered(at, self.default_interval_ms));
                if let Err(position) = self.order.binary_search_by(|known| known.as_str().cmp(id)) {
                    self.order.insert(position, SharedStr::from(id));
                }
                worker
            }
        })
    }

    /// Forgets a worker.
    fn remove(&mut self, id: &str) {
        self.workers.remove(id);
        if let Ok(position) = self.order.binary_search_by(|known| known.as_str().cmp(id)) {
            self.order.remove(position);
        }
    }

    fn on_registered(&mut self, event: &Event) -> Parsed<()> {
        let id = Self::worker_id(event)?;
        let host = parse::optional_str(event, keys::HOST)?;
        let pid = parse::optional_uint::<u32>(event, keys::PID)?;
        let tags = parse::tags(event)?;
        let max_jobs = parse::optional_uint::<u32>(event, keys::MAX_CONCURRENT_JOBS)?;
        let interval = parse::optional_uint::<u64>(event, keys::HEARTBEAT_INTERVAL_MS)?;
        if interval == Some(0) {
            return Err(Malformed);
        }
        let default_interval = self.default_interval_ms;
        let at = Stamp::of(event.timestamp);
        let worker = self.worker_mut(id, at)?;
        worker.host = host.map(SharedStr::from);
        worker.pid = pid;
        worker.tags = tags
            .iter()
            .filter_map(Value::as_str)
            .map(SharedStr::from)
            .collect();
        worker.max_concurrent_jobs = max_jobs;
        worker.heartbeat_interval_ms = interval.unwrap_or(default_interval);
        worker.running_jobs = 0;
        worker.registered_at = Some(at);
        worker.last_heartbeat_at = at;
        worker.offline_at = None;
        worker.offline_reason = None;
        Ok(())
    }

    fn on_heartbeat(&mut self, event: &Event) -> Parsed<()> {
        let id = Self::worker_id(event)?;
        let running = parse::optional_uint::<u64>(event, keys::RUNNING_JOBS)?;
        let at = Stamp::of(event.timestamp);
        let worker = self.worker_mut(id, at)?;
        if worker
            .offline_at
            .is_some_and(|offline_at| at.micros <= offline_at.micros)
        {
            // A heartbeat sent before the worker went offline, delivered late.
            return Ok(());
        }
        worker.offline_at = None;
        worker.offline_reason = None;
        if at.micros >= worker.last_heartbeat_at.micros {
            worker.last_heartbeat_at = at;
            if let Some(running) = running {
                worker.running_jobs = running;
            }
        }
        Ok(())
    }

    fn on_claimed(&mut self, event: &Event) -> Parsed<()> {
        let id = Self::worker_id(event)?;
        let worker = self.worker_mut(id, Stamp::of(event.timestamp))?;
        worker.jobs_claimed += 1;
        worker.running_jobs += 1;
        Ok(())
    }

    fn on_offline(&mut self, event: &Event) -> Parsed<()> {
        let id = Self::worker_id(event)?;
        let reason = parse::optional_str(event, keys::REASON)?;
        let at = Stamp::of(event.timestamp);
        let worker = self.worker_mut(id, at)?;
        worker.offline_at = Some(at);
        worker.offline_reason = reason.map(SharedStr::from);
        worker.running_jobs = 0;
        self.offline.push_back((id.into(), at.micros));
        while self.offline.len() > self.max_offline {
            self.forget_oldest_offline();
        }
        Ok(())
    }

    /// Forgets the worker that went offline first, if it is still offline since then.
    fn forget_oldest_offline(&mut self) {
        if let Some((id, at)) = self.offline.pop_front() {
            let still_offline = self
                .workers
                .get(id.as_str())
                .is_some_and(|worker| worker.offline_at.map(|t| t.micros) == Some(at));
            if still_offline {
                self.remove(&id);
            }
        }
    }

    /// A job event of a worker's job: its attempt ended on that worker.
    fn on_job_ended(&mut self, event: &Event) {
        let Some(worker) = event
            .worker_id
            .as_deref()
            .and_then(|id| self.workers.get_mut(id))
        else {
            return;
        };
        worker.running_jobs = worker.running_jobs.saturating_sub(1);
        match event.event_type {
            EventType::JobCompleted => worker.jobs_completed += 1,
            EventType::JobFailed => worker.jobs_failed += 1,
            _ => {}
        }
    }

    fn status(&self, id: &SharedStr, worker: &Worker, now: i64) -> WorkerStatus {
        let (status, offline_at) = worker.liveness(now, self.offline_after);
        let reason = match (worker.offline_at, offline_at) {
            (Some(_), _) => worker.offline_reason.clone(),
            (None, Some(_)) => Some(self.timeout_reason.clone()),
            (None, None) => None,
        };
        let since = worker.registered_at.unwrap_or(worker.first_seen);
        let until = offline_at.map_or(now, |at| at.micros);
        WorkerStatus {
            worker_id: id.clone(),
            status,
            host: worker.host.clone(),
            pid: worker.pid,
            tags: worker.tags.to_vec(),
            max_concurrent_jobs: worker.max_concurrent_jobs,
            heartbeat_interval_ms: worker.heartbeat_interval_ms,
            running_jobs: if status == Liveness::Offline {
                0
            } else {
                worker.running_jobs
            },
            jobs_claimed: worker.jobs_claimed,
            jobs_completed: worker.jobs_completed,
            jobs_failed: worker.jobs_failed,
            registered_at: worker.registered_at.map(|at| at.time),
            offline_at: offline_at.map(|at| at.time),
            offline_reason: reason,
            uptime: seconds_between(since.micros, until),
            last_heartbeat: seconds_between(worker.last_heartbeat_at.micros, now),
            last_heartbeat_at: worker.last_heartbeat_at.time,
        }
    }

    pub(crate) fn snapshot(&self, now: DateTime<Utc>) -> WorkersSnapshot {
        let now = now.timestamp_micros();
        let mut active_count = 0;
        // `order` is sorted: the map is built without sorting.
        let workers = self
            .order
            .iter()
            .filter_map(|id| {
                let status = self.status(id, self.workers.get(id.as_str())?, now);
                active_count += u64::from(status.status != Liveness::Offline);
                Some((id.clone(), status))
            })
            .collect();
        WorkersSnapshot {
            active_count,
            workers,
        }
    }

    pub(crate) fn worker(&self, id: &str, now: DateTime<Utc>) -> Option<WorkerStatus> {
        let (id, worker) = self.workers.get_key_value(id)?;
        Some(self.status(id, worker, now.timestamp_micros()))
    }

    /// The number of workers in each state: online, stale, offline.
    pub(crate) fn counts_by_state(&self, now: DateTime<Utc>) -> [u64; 3] {
        let now = now.timestamp_micros();
        let mut counts = [0; 3];
        for worker in self.workers.values() {
            let index = match worker.liveness(now, self.offline_after).0 {
                Liveness::Online => 0,
                Liveness::Stale => 1,
                Liveness::Offline => 2,
            };
            counts[index] += 1;
        }
        counts
    }

    pub(crate) fn entry_counts(&self) -> WorkerEntryCounts {
        WorkerEntryCounts {
            workers: self.workers.len(),
            offline_workers: self.offline.len(),
        }
    }

    /// Zeroes the job counts of every worker and forgets the workers that sent
    /// `worker.offline`; the others stay known (they are still alive).
    pub(crate) fn reset(&mut self) {
        let offline: Vec<SharedStr> = self.offline.drain(..).map(|(id, _)| id).collect();
        for id in offline {
            if self
                .workers
                .get(id.as_str())
                .is_some_and(|worker| worker.offline_at.is_some())
            {
                self.remove(&id);
            }
        }
        for worker in self.workers.values_mut() {
            worker.jobs_claimed = 0;
            worker.jobs_completed = 0;
            worker.jobs_failed = 0;
        }
        self.malformed = 0;
    }
}
