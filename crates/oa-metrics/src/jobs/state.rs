//! [`JobState`]: everything the job collector knows, and how each job event changes it.

use std::collections::VecDeque;
use std::sync::Arc;

use hashbrown::HashMap;
use hashbrown::hash_map::EntryRef;

use oa_events::{Event, EventType, keys};

use crate::clock::Clock;
use crate::config::MetricsConfig;
use crate::parse::{self, Malformed, Parsed};
use crate::throughput::ThroughputRing;
use crate::types::{JobOutcome, Priority};

use super::group::GroupStats;
use super::in_flight::{FinishedJob, InFlight, Phase};
use super::tags::{TagRef, TagTable, for_each_distinct_slot};

/// The bounds the state keeps to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) recent_capacity: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) horizon_micros: i64,
    pub(crate) sweep_every: usize,
    pub(crate) significant_digits: u8,
}

impl Limits {
    pub(crate) fn new(config: &MetricsConfig) -> Self {
        Limits {
            recent_capacity: config.recent_jobs_capacity,
            max_in_flight: config.max_in_flight,
            horizon_micros: i64::try_from(config.in_flight_horizon.as_micros()).unwrap_or(i64::MAX),
            sweep_every: (config.max_in_flight / 4).max(1024),
            significant_digits: config.histogram_significant_digits,
        }
    }
}

/// The job collector's state, behind one mutex.
#[derive(Debug)]
pub(crate) struct JobState {
    pub(crate) in_flight: HashMap<Box<str>, InFlight>,
    pub(crate) all: GroupStats,
    pub(crate) priorities: [GroupStats; 4],
    pub(crate) tags: TagTable,
    pub(crate) throughput: ThroughputRing,
    /// Finished jobs, oldest first.
    pub(crate) recent: VecDeque<FinishedJob>,
    pub(crate) malformed: u64,
    pub(crate) evicted: u64,
    /// Whether the last start's wait was not negative.
    last_wait_ok: bool,
    /// The newest event timestamp seen, in microseconds: the eviction horizon's "now".
    pub(super) newest_micros: i64,
    pub(super) inserts_since_sweep: usize,
    pub(super) limits: Limits,
    pub(super) clock: Arc<dyn Clock>,
}

/// The groups a job counts in: all jobs, its priority, each of its tags.
pub(super) fn for_each_group(
    all: &mut GroupStats,
    priorities: &mut [GroupStats; 4],
    table: &mut TagTable,
    priority: Priority,
    tags: &[TagRef],
    mut f: impl FnMut(&mut GroupStats),
) {
    f(all);
    f(&mut priorities[priority.index()]);
    for_each_distinct_slot(tags, |slot| f(table.stats_mut(slot)));
}

/// The record of `job_id`, created from the event's data if the job is new; and whether it
/// was.
fn tracked<'a>(
    in_flight: &'a mut HashMap<Box<str>, InFlight>,
    tags: &mut TagTable,
    job_id: &str,
    event: &Event,
    at: i64,
) -> Parsed<(&'a mut InFlight, bool)> {
    match in_flight.entry_ref(job_id) {
        EntryRef::Occupied(entry) => Ok((entry.into_mut(), false)),
        EntryRef::Vacant(vacant) => Ok((vacant.insert(new_entry(tags, event, at)?), true)),
    }
}

/// A new record from a job event's data: `name` and `priority` are required, `tags` and
/// `created_at` optional.
fn new_entry(tags: &mut TagTable, event: &Event, at: i64) -> Parsed<InFlight> {
    let name = parse::required_str(event, keys::NAME)?;
    let priority = parse::priority(event)?;
    let job_tags = parse::tags(event)?;
    let created_at = parse::optional_time_micros(event, keys::CREATED_AT)?;
    Ok(InFlight {
        name: name.into(),
        priority,
        tags: resolve_tags(tags, job_tags),
        created_at,
        phase: Phase::Queued,
        started_once: false,
        attempt: 0,
        queued_at: None,
        attempt_started_at: None,
        last_wait: None,
        worker_id: None,
        progress: 0.0,
        progress_at: None,
        last_seen: at,
    })
}

fn resolve_tags(table: &mut TagTable, tags: &[serde_json::Value]) -> Box<[TagRef]> {
    tags.iter()
        .filter_map(serde_json::Value::as_str)
        .map(|tag| table.resolve(tag))
        .collect()
}

/// Microseconds from `from` to `to`, `None` when time runs backwards.
fn elapsed(from: i64, to: i64) -> Option<u64> {
    u64::try_from(to.checked_sub(from)?).ok()
}

impl JobState {
    pub(crate) fn new(config: &MetricsConfig) -> Self {
        let limits = Limits::new(config);
        let digits = limits.significant_digits;
        JobState {
            in_flight: HashMap::new(),
            all: GroupStats::new(digits),
            priorities: Priority::ALL.map(|_| GroupStats::new(digits)),
            tags: TagTable::new(config.max_tags, config.tag_histogram_significant_digits),
            throughput: ThroughputRing::new(),
            recent: VecDeque::with_capacity(limits.recent_capacity.min(4096)),
            malformed: 0,
            evicted: 0,
            last_wait_ok: true,
            newest_micros: i64::MIN,
            inserts_since_sweep: 0,
            limits,
            clock: Arc::clone(&config.clock),
        }
    }

    /// Applies one job event; a malformed one is counted.
    pub(crate) fn record(&mut self, event: &Event) {
        let Some(job_id) = event.job_id.as_deref() else {
            self.malformed += 1;
            return;
        };
        let at = event.timestamp.timestamp_micros();
        self.newest_micros = self.newest_micros.max(at);
        let outcome = match event.event_type {
            EventType::JobQueued => self.on_queued(job_id, event, at),
            EventType::JobStarted => self.on_started(job_id, event, at),
            EventType::JobProgressUpdated => self.on_progress(job_id, event, at),
            EventType::JobPaused => self.on_paused(job_id, at),
            EventType::JobResumed => self.on_resumed(job_id, at),
            EventType::JobRetrying => self.on_retrying(job_id, event, at),
            EventType::JobCompleted => self.on_finished(job_id, event, at, JobOutcome::Completed),
            EventType::JobFailed => self.on_finished(job_id, event, at, JobOutcome::Failed),
            EventType::JobCancelled => self.on_finished(job_id, event, at, JobOutcome::Cancelled),
            _ => Ok(()),
        };
        if outcome.is_err() {
            self.malformed += 1;
        }
    }

    fn resolve_tags(&mut self, tags: &[serde_json::Value]) -> Box<[TagRef]> {
        resolve_tags(&mut self.tags, tags)
    }

    /// Makes room for `job_id` if it is new and the table is full.
    fn make_room_for(&mut self, job_id: &str) {
        if self.in_flight.len() >= self.limits.max_in_flight && !self.in_flight.contains_key(job_id)
        {
            self.evict_over_capacity();
        }
    }

    /// Counts an insertion, and sweeps the horizon every `sweep_every` insertions.
    fn inserted(&mut self) {
        self.inserts_since_sweep += 1;
        if self.inserts_since_sweep >= self.limits.sweep_every {
            self.sweep_horizon();
        }
    }

    fn on_queued(&mut self, job_id: &str, event: &Event, at: i64) -> Parsed<()> {
        self.make_room_for(job_id);
        let (entry, inserted) = tracked(&mut self.in_flight, &mut self.tags, job_id, event, at)?;
        let outcome = if entry.phase.is_running() {
            match parse::attempt(event) {
                // The announcement that a scheduled job (a retry, a `run_at`) became due, of
                // an attempt before the one running: a worker claimed the job before the
                // engine announced it, and a durable event log holds the announcement after
                // the start. Stale: the start already ended that wait (its wait time is read
                // from the job's `queued_at`). Nothing to count.
                Ok(Some(attempt)) if attempt < entry.attempt => Ok(()),
                // Otherwise the engine ends an attempt (`job.retrying`) before it queues the
                // job again.
                _ => Err(Malformed),
            }
        } else {
            entry.phase = Phase::Queued;
            entry.queued_at = Some(at);
            entry.last_seen = at;
            Ok(())
        };
        if inserted {
            self.inserted();
        }
        outcome
    }

    fn on_started(&mut self, job_id: &str, event: &Event, at: i64) -> Parsed<()> {
        let attempt = parse::attempt(event)?;
        self.make_room_for(job_id);
        let outcome = self.start(job_id, event, at, attempt);
        if let Ok(true) = outcome {
            self.inserted();
        }
        outcome.and_then(|_| {
            // A queue time after the start is a clock problem of the emitter: counted.
            self.last_wait_ok.then_some(()).ok_or(Malformed)
        })
    }

    /// Applies a start; returns whether the job was new.
    fn start(
        &mut self,
        job_id: &str,
        event: &Event,
        at: i64,
        attempt: Option<u32>,
    ) -> Parsed<bool> {
        let progress = parse::progress(event).unwrap_or(0.0);
        let JobState {
            in_flight,
            all,
            priorities,
            tags,
            last_wait_ok,
            ..
        } = self;
        let (entry, inserted) = tracked(in_flight, tags, job_id, event, at)?;
        if entry.phase.is_running() {
            return Err(Malformed);
        }
        let queued_at = match entry.queued_at.take() {
            Some(queued_at) => Some(queued_at),
            None => parse::optional_time_micros(event, keys::QUEUED_AT).unwrap_or(None),
        };
        let wait = queued_at.map(|queued_at| elapsed(queued_at, at));
        let first_start = !entry.started_once;
        entry.started_once = true;
        entry.phase = Phase::Running;
        entry.attempt = attempt.unwrap_or(entry.attempt.saturating_add(1));
        entry.attempt_started_at = Some(at);
        entry.last_wait = wait.flatten();
        if entry.worker_id.as_deref() != event.worker_id.as_deref() {
            entry.worker_id = event.worker_id.as_deref().map(Into::into);
        }
        entry.progress = progress;
        entry.progress_at = None;
        entry.last_seen = at;
        let wait_micros = wait.flatten();
        for_each_group(
            all,
            priorities,
            tags,
            entry.priority,
            &entry.tags,
            |group| {
                if first_start {
                    group.started += 1;
                }
                group.running += 1;
                if let Some(wait) = wait_micros {
                    group.wait.record(wait);
                }
            },
        );
        *last_wait_ok = !matches!(wait, Some(None));
        Ok(inserted)
    }

    fn on_progress(&mut self, job_id: &str, event: &Event, at: i64) -> Parsed<()> {
        let progress = parse::progress(event)?;
        let entry = self.in_flight.get_mut(job_id).ok_or(Malformed)?;
        if !entry.phase.is_running() {
            return Err(Malformed);
        }
        entry.progress = progress;
        entry.progress_at = Some(at);
        entry.last_seen = entry.last_seen.max(at);
        Ok(())
    }

    fn on_paused(&mut self, job_id: &str, at: i64) -> Parsed<()> {
        // A pause of a job not tracked (e.g. one queued before the collector was attached)
        // changes no figure: it is ignored.
        if let Some(entry) = self.in_flight.get_mut(job_id) {
            entry.phase = match entry.phase {
                Phase::Running | Phase::Paused => Phase::Paused,
                Phase::Queued | Phase::PausedBeforeStart => Phase::PausedBeforeStart,
                Phase::RetryWait => Phase::RetryWait,
            };
            entry.last_seen = entry.last_seen.max(at);
        }
        Ok(())
    }

    fn on_resumed(&mut self, job_id: &str, at: i64) -> Parsed<()> {
        if let Some(entry) = self.in_flight.get_mut(job_id) {
            entry.phase = match entry.phase {
                Phase::Paused | Phase::Running => Phase::Running,
                // The engine queues a job that never started right after resuming it.
                Phase::PausedBeforeStart | Phase::Queued => Phase::Queued,
                Phase::RetryWait => Phase::RetryWait,
            };
            entry.last_seen = entry.last_seen.max(at);
        }
        Ok(())
    }

    fn on_retrying(&mut self, job_id: &str, event: &Event, at: i64) -> Parsed<()> {
        let JobState {
            in_flight,
            all,
            priorities,
            tags,
            ..
        } = self;
        if let Some(entry) = in_flight.get_mut(job_id) {
            let was_running = entry.phase.is_running();
            entry.phase = Phase::RetryWait;
            entry.worker_id = None;
            entry.progress = 0.0;
            entry.progress_at = None;
            entry.last_seen = entry.last_seen.max(at);
            for_each_group(
                all,
                priorities,
                tags,
                entry.priority,
                &entry.tags,
                |group| {
                    group.retries += 1;
                    if was_running {
                        group.stop_running();
                    }
                },
            );
            return Ok(());
        }
        // A retry of a job not tracked still is a retry: counted in its groups from the data.
        let priority = parse::priority(event)?;
        let job_tags = parse::tags(event)?;
        let job_tags = self.resolve_tags(job_tags);
        let JobState {
            all,
            priorities,
            tags,
            ..
        } = self;
        for_each_group(all, priorities, tags, priority, &job_tags, |group| {
            group.retries += 1;
        });
        Ok(())
    }

    fn on_finished(
        &mut self,
        job_id: &str,
        event: &Event,
        at: i64,
        outcome: JobOutcome,
    ) -> Parsed<()> {
        let Some(phase) = self
            .in_flight
            .get(job_id)
            .map(|entry| (entry.phase, entry.started_once))
        else {
            return self.on_finished_untracked(job_id, event, at, outcome);
        };
        let acceptable = match outcome {
            JobOutcome::Completed => phase.0.is_running(),
            JobOutcome::Failed => phase.1,
            JobOutcome::Cancelled => true,
        };
        if !acceptable {
            // A completion without a start, or a final failure of a job that never ran.
            return Err(Malformed);
        }
        let (job_id, entry) = self.in_flight.remove_entry(job_id).ok_or(Malformed)?;
        let was_running = entry.phase.is_running();
        let execution = if was_running {
            entry.attempt_started_at.map(|started| elapsed(started, at))
        } else {
            None
        };
        let JobState {
            all,
            priorities,
            tags,
            throughput,
            ..
        } = self;
        for_each_group(
            all,
            priorities,
            tags,
            entry.priority,
            &entry.tags,
            |group| {
                group.finished(outcome);
                if was_running {
                    group.stop_running();
                }
                if let (JobOutcome::Completed, Some(Some(micros))) = (outcome, execution) {
                    group.execution.record(micros);
                }
            },
        );
        if outcome == JobOutcome::Completed {
            throughput.record(at.div_euclid(1_000_000));
        }
        let worker_id = match event.worker_id.as_deref() {
            Some(worker_id) if entry.worker_id.as_deref() != Some(worker_id) => {
                Some(worker_id.into())
            }
            _ => entry.worker_id,
        };
        self.push_recent(FinishedJob {
            job_id,
            name: entry.name,
            outcome,
            execution_micros: execution.flatten(),
            wait_micros: if entry.started_once {
                entry.last_wait
            } else {
                None
            },
            tags: entry.tags,
            priority: entry.priority,
            attempts: entry.attempt,
            worker_id,
            created_at: entry.created_at,
            started_at: if entry.started_once {
                entry.attempt_started_at
            } else {
                None
            },
            finished_at: at,
            error: if outcome == JobOutcome::Failed {
                parse::error(event)
            } else {
                None
            },
        });
        if matches!(execution, Some(None)) {
            return Err(Malformed);
        }
        Ok(())
    }

    /// A terminal event of a job not tracked: a cancellation is real (the job may have been
    /// cancelled before it was queued); a completion or failure is malformed.
    fn on_finished_untracked(
        &mut self,
        job_id: &str,
        event: &Event,
        at: i64,
        outcome: JobOutcome,
    ) -> Parsed<()> {
        if outcome != JobOutcome::Cancelled {
            return Err(Malformed);
        }
        let entry = new_entry(&mut self.tags, event, at)?;
        let JobState {
            all,
            priorities,
            tags,
            ..
        } = self;
        for_each_group(
            all,
            priorities,
            tags,
            entry.priority,
            &entry.tags,
            |group| {
                group.finished(outcome);
            },
        );
        self.push_recent(FinishedJob {
            job_id: job_id.into(),
            name: entry.name,
            outcome,
            execution_micros: None,
            wait_micros: None,
            tags: entry.tags,
            priority: entry.priority,
            attempts: 0,
            worker_id: event.worker_id.as_deref().map(Into::into),
            created_at: entry.created_at,
            started_at: None,
            finished_at: at,
            error: None,
        });
        Ok(())
    }

    fn push_recent(&mut self, job: FinishedJob) {
        if self.recent.len() >= self.limits.recent_capacity {
            self.recent.pop_front();
        }
        self.recent.push_back(job);
    }
}
