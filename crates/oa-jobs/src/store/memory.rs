//! The in-memory store: fast, for tests and the quick demo. Nothing survives the process.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use hashbrown::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::types::{
    ClaimRequest, HeartbeatOutcome, HeldJob, JobFilter, JobPage, JobUpdate, Page, StatusCounts,
    WorkerRecord, WorkerState,
};
use super::{JobStore, LogEvents, check_update, claim_order, first_duplicate_id, holds_attempt};
use crate::error::{Error, Result};
use crate::job::{Job, LostOutcome};
use crate::status::JobStatus;

/// The order of the ready queue: highest priority, then oldest `queued_at`, then id.
type ReadyKey = (Reverse<i64>, DateTime<Utc>, String);

/// Jobs and workers in memory, behind one mutex held only for the few map operations of a
/// call (never across an `.await`).
///
/// Claims are O(log n): queued jobs are indexed per name in a set ordered as claims take them.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Boxed so that growing the map moves pointers, not whole jobs.
    jobs: HashMap<String, Box<Job>>,
    /// Queued jobs by name, in claim order (only those claimable from their `queued_at`).
    ready: HashMap<String, BTreeSet<ReadyKey>>,
    counts: StatusCounts,
    /// Ids of the jobs each worker holds.
    held: HashMap<String, BTreeSet<String>>,
    workers: HashMap<String, WorkerRecord>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way later
        // calls depend on (each call re-checks what it reads), so a poisoned lock is reused.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn ready_key(job: &Job) -> Option<ReadyKey> {
    (job.status == JobStatus::Queued).then(|| {
        let (priority, queued_at, id) = claim_order(job);
        (priority, queued_at, id.to_owned())
    })
}

impl Inner {
    /// Removes `job_id` from the indexes before its record changes.
    fn unindex(&mut self, job: &Job) {
        if let Some(key) = ready_key(job)
            && let Some(queue) = self.ready.get_mut(&job.name)
        {
            queue.remove(&key);
        }
        self.unindex_held(job);
    }

    /// [`unindex`](Self::unindex) for a job whose ready entry was already removed.
    fn unindex_held(&mut self, job: &Job) {
        self.counts.add(job.status, -1);
        if let Some(worker_id) = &job.worker_id
            && let Some(held) = self.held.get_mut(worker_id)
        {
            held.remove(&job.id);
            if held.is_empty() {
                self.held.remove(worker_id);
            }
        }
    }

    /// Adds a record to the indexes.
    fn index(&mut self, job: &Job) {
        self.counts.add(job.status, 1);
        // `entry_ref`: the key is copied only when the name or worker is new to the map.
        if let Some(key) = ready_key(job) {
            self.ready
                .entry_ref(job.name.as_str())
                .or_default()
                .insert(key);
        }
        if let Some(worker_id) = &job.worker_id {
            self.held
                .entry_ref(worker_id.as_str())
                .or_default()
                .insert(job.id.clone());
        }
    }

    fn put(&mut self, job: Job) {
        // A replaced record keeps its key and its box (no allocation).
        if let Some((id, mut old)) = self.jobs.remove_entry(&job.id) {
            self.unindex(&old);
            self.index(&job);
            *old = job;
            self.jobs.insert(id, old);
        } else {
            self.index(&job);
            self.jobs.insert(job.id.clone(), Box::new(job));
        }
    }

    fn apply(&mut self, update: &JobUpdate) -> Result<()> {
        let (stored, attempt) = self
            .jobs
            .get(&update.job.id)
            .map(|job| (job.status, job.attempt))
            .ok_or_else(|| Error::JobNotFound {
                job_id: update.job.id.clone(),
            })?;
        check_update(update, stored)?;
        if holds_attempt(update.expected) && attempt != update.job.attempt {
            return Err(Error::StaleAttempt {
                job_id: update.job.id.clone(),
                attempt: update.job.attempt,
            });
        }
        self.put(update.job.clone());
        Ok(())
    }

    /// The best claimable job among `names` at `now`: its name and its key.
    fn best_ready<'n>(
        &self,
        names: &'n [String],
        now: DateTime<Utc>,
    ) -> Option<(&'n String, ReadyKey)> {
        let mut best: Option<(&'n String, &ReadyKey)> = None;
        for name in names {
            let Some(queue) = self.ready.get(name) else {
                continue;
            };
            // Within a priority, keys are ordered by `queued_at`: the first due key of each
            // priority is the candidate; future keys of a higher priority are skipped.
            for key in queue {
                if key.1 > now {
                    // Later keys of this priority are not due either: jump to the next one.
                    continue;
                }
                if best.is_none_or(|(_, b)| key < b) {
                    best = Some((name, key));
                }
                break;
            }
        }
        best.map(|(name, key)| (name, key.clone()))
    }

    fn held_jobs(&self, worker_id: &str) -> Vec<Job> {
        self.held
            .get(worker_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.jobs.get(id).map(|job| Job::clone(job)))
            .collect()
    }

    fn release(&mut self, mut job: Job, now: DateTime<Utc>) -> Option<Job> {
        let before = job.clone();
        match job.release_lost(now) {
            LostOutcome::NotHeld => None,
            LostOutcome::Requeued | LostOutcome::Failed | LostOutcome::Released => {
                self.unindex(&before);
                self.index(&job);
                self.jobs.insert(job.id.clone(), Box::new(job.clone()));
                Some(job)
            }
        }
    }
}

#[async_trait]
impl JobStore for MemoryStore {
    async fn insert(&self, job: &Job) -> Result<()> {
        let mut inner = self.lock();
        if inner.jobs.contains_key(&job.id) {
            return Err(Error::DuplicateJob {
                job_id: job.id.clone(),
            });
        }
        inner.put(job.clone());
        Ok(())
    }

    async fn insert_many(&self, jobs: &[Job]) -> Result<()> {
        let mut inner = self.lock();
        if let Some(id) = first_duplicate_id(jobs, |id| inner.jobs.contains_key(id)) {
            return Err(Error::DuplicateJob {
                job_id: id.to_owned(),
            });
        }
        for job in jobs {
            inner.put(job.clone());
        }
        Ok(())
    }

    async fn get(&self, job_id: &str) -> Result<Option<Job>> {
        Ok(self.lock().jobs.get(job_id).map(|job| Job::clone(job)))
    }

    async fn update(&self, update: &JobUpdate) -> Result<()> {
        self.lock().apply(update)
    }

    async fn update_many(&self, updates: &[JobUpdate]) -> Result<Vec<Result<()>>> {
        let mut inner = self.lock();
        Ok(updates.iter().map(|update| inner.apply(update)).collect())
    }

    async fn delete(&self, job_id: &str) -> Result<bool> {
        let mut inner = self.lock();
        let Some(job) = inner.jobs.remove(job_id) else {
            return Ok(false);
        };
        inner.unindex(&job);
        Ok(true)
    }

    async fn list(&self, filter: &JobFilter, page: Page) -> Result<JobPage> {
        let inner = self.lock();
        let mut matching: Vec<&Job> = inner
            .jobs
            .values()
            .map(|job| &**job)
            .filter(|j| filter.matches(j))
            .collect();
        matching.sort_unstable_by(|a, b| b.id.cmp(&a.id));
        let offset = usize::try_from(page.offset).unwrap_or(usize::MAX);
        let limit = page.limit as usize;
        let jobs: Vec<Job> = matching
            .iter()
            .skip(offset)
            .take(limit)
            .map(|j| (*j).clone())
            .collect();
        let next_offset = (matching.len() > offset.saturating_add(limit))
            .then(|| page.offset + u64::from(page.limit));
        Ok(JobPage { jobs, next_offset })
    }

    async fn count_by_status(&self) -> Result<StatusCounts> {
        Ok(self.lock().counts)
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<Job>> {
        let mut inner = self.lock();
        let mut claimed = Vec::with_capacity((request.limit as usize).min(1024));
        while claimed.len() < request.limit as usize {
            let Some((name, key)) = inner.best_ready(&request.names, request.now) else {
                break;
            };
            // The key is the job's entry in the ready index: removed here, so that unindexing
            // the job does not build it again.
            if let Some(queue) = inner.ready.get_mut(name) {
                queue.remove(&key);
            }
            let Some((id, mut job)) = inner.jobs.remove_entry(&key.2) else {
                // An index entry without a record cannot happen (both change under the lock);
                // it is dropped rather than looped on.
                continue;
            };
            inner.unindex_held(&job);
            let started = job.start(&request.worker_id, request.now, request.lease_until);
            inner.index(&job);
            let copy = Job::clone(&job);
            inner.jobs.insert(id, job);
            started?;
            claimed.push(copy);
        }
        Ok(claimed)
    }

    async fn register_worker(&self, record: &WorkerRecord) -> Result<()> {
        self.lock()
            .workers
            .insert(record.id.clone(), record.clone());
        Ok(())
    }

    async fn heartbeat(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<HeartbeatOutcome> {
        let mut inner = self.lock();
        let Some(worker) = inner.workers.get_mut(worker_id) else {
            return Err(Error::WorkerNotFound {
                worker_id: worker_id.to_owned(),
            });
        };
        let revived = worker.state == WorkerState::Offline;
        worker.state = WorkerState::Online;
        worker.last_heartbeat_at = now;
        worker.offline_at = None;
        worker.offline_reason = None;
        let ids: Vec<String> = inner
            .held
            .get(worker_id)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        let mut held = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(job) = inner.jobs.get_mut(&id) {
                job.lease_expires_at = Some(lease_until);
                held.push(HeldJob {
                    job_id: id,
                    status: job.status,
                });
            }
        }
        Ok(HeartbeatOutcome { held, revived })
    }

    async fn list_workers(&self) -> Result<Vec<WorkerRecord>> {
        let mut workers: Vec<WorkerRecord> = self.lock().workers.values().cloned().collect();
        workers.sort_by(|a, b| {
            (
                a.state == WorkerState::Offline,
                Reverse(a.registered_at),
                &a.id,
            )
                .cmp(&(
                    b.state == WorkerState::Offline,
                    Reverse(b.registered_at),
                    &b.id,
                ))
        });
        Ok(workers)
    }

    async fn get_worker(&self, worker_id: &str) -> Result<Option<WorkerRecord>> {
        Ok(self.lock().workers.get(worker_id).cloned())
    }

    async fn mark_worker_offline_logged(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        reason: &str,
        heartbeat_before: Option<DateTime<Utc>>,
        _log: Option<&LogEvents>,
    ) -> Result<Option<Vec<Job>>> {
        let mut inner = self.lock();
        let Some(worker) = inner.workers.get_mut(worker_id) else {
            return Ok(None);
        };
        if worker.state == WorkerState::Offline
            || heartbeat_before.is_some_and(|cutoff| worker.last_heartbeat_at >= cutoff)
        {
            return Ok(None);
        }
        worker.state = WorkerState::Offline;
        worker.offline_at = Some(now);
        worker.offline_reason = Some(reason.to_owned());
        let held = inner.held_jobs(worker_id);
        let mut changed: Vec<Job> = held
            .into_iter()
            .filter_map(|job| inner.release(job, now))
            .collect();
        changed.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Some(changed))
    }

    async fn requeue_expired_logged(
        &self,
        now: DateTime<Utc>,
        _log: Option<&LogEvents>,
    ) -> Result<Vec<Job>> {
        let mut inner = self.lock();
        let expired: Vec<Job> = inner
            .held
            .values()
            .flatten()
            .filter_map(|id| inner.jobs.get(id))
            .filter(|job| job.lease_expires_at.is_some_and(|lease| lease < now))
            .map(|job| Job::clone(job))
            .collect();
        let mut changed: Vec<Job> = expired
            .into_iter()
            .filter_map(|job| inner.release(job, now))
            .collect();
        changed.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(changed)
    }

    async fn scheduled_after(&self, after: DateTime<Utc>, limit: u32) -> Result<Vec<Job>> {
        let inner = self.lock();
        let mut jobs: Vec<&Job> = inner
            .jobs
            .values()
            .map(|job| &**job)
            .filter(|job| {
                job.status == JobStatus::Queued && job.queued_at.is_some_and(|t| t > after)
            })
            .collect();
        jobs.sort_by_key(|job| (job.queued_at, job.id.clone()));
        Ok(jobs.into_iter().take(limit as usize).cloned().collect())
    }

    fn process_local(&self) -> bool {
        true
    }

    async fn purge_finished(&self, finished_before: DateTime<Utc>) -> Result<u64> {
        let mut inner = self.lock();
        let old: Vec<String> = inner
            .jobs
            .values()
            .filter(|job| {
                job.status.is_final() && job.finished_at.is_some_and(|t| t < finished_before)
            })
            .map(|job| job.id.clone())
            .collect();
        for id in &old {
            if let Some(job) = inner.jobs.remove(id) {
                inner.unindex(&job);
            }
        }
        Ok(old.len() as u64)
    }
}
