//! Reading the job state: the summary, the groups, recent and running jobs, and the figures
//! of the Prometheus exposition.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::histogram::{BUCKET_BOUNDS_MICROS, TimeHistogram, micros_to_seconds};
use crate::snapshot::{JobGroupMetrics, JobSummary, RecentJob, RunningJob, Throughput};
use crate::types::{Priority, RunState};

use super::group::GroupStats;
use super::in_flight::{FinishedJob, InFlight, Phase};
use super::state::JobState;
use super::tags::OTHER_TAG;

fn time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// The counts of entries the job collector holds: what its memory grows with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobEntryCounts {
    /// Unfinished jobs tracked (at most `max_in_flight`).
    pub in_flight: usize,
    /// Finished jobs in the recent ring (at most `recent_jobs_capacity`).
    pub recent_jobs: usize,
    /// Tags with their own row (at most `max_tags`).
    pub tags: usize,
    /// Counters held by all the HDR histograms (bounded by the number of groups and the
    /// 7-day cap of recorded values).
    pub histogram_counters: usize,
}

/// One histogram's figures for the exposition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HistogramFigures {
    /// Non-cumulative counts per bucket, `+Inf` last.
    pub(crate) buckets: [u64; BUCKET_BOUNDS_MICROS.len() + 1],
    pub(crate) count: u64,
    pub(crate) sum_seconds: f64,
}

impl HistogramFigures {
    fn of(histogram: &TimeHistogram) -> Self {
        HistogramFigures {
            buckets: *histogram.buckets(),
            count: histogram.count(),
            sum_seconds: histogram.sum_seconds(),
        }
    }
}

/// One group's counts for the exposition.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupFigures {
    pub(crate) started: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) cancelled: u64,
    pub(crate) retries: u64,
    pub(crate) running: u64,
    pub(crate) execution: HistogramFigures,
    pub(crate) wait: HistogramFigures,
}

impl GroupFigures {
    fn of(group: &GroupStats) -> Self {
        GroupFigures {
            started: group.started,
            completed: group.completed,
            failed: group.failed,
            cancelled: group.cancelled,
            retries: group.retries,
            running: group.running,
            execution: HistogramFigures::of(&group.execution),
            wait: HistogramFigures::of(&group.wait),
        }
    }
}

/// The job figures of the Prometheus exposition, copied out of the lock.
#[derive(Debug, Clone)]
pub(crate) struct JobExposition {
    pub(crate) priorities: [(Priority, GroupFigures); 4],
    /// The allow-listed tags that have a row.
    pub(crate) tags: Vec<(String, GroupFigures)>,
    pub(crate) throughput: Throughput,
    pub(crate) evicted: u64,
    pub(crate) overflowed_tags: u64,
    pub(crate) in_flight: usize,
}

impl JobState {
    pub(crate) fn summary(&mut self, now: DateTime<Utc>) -> JobSummary {
        let group = self.all.snapshot();
        JobSummary {
            total_jobs: group.total_jobs,
            completed_jobs: group.completed_jobs,
            failed_jobs: group.failed_jobs,
            cancelled_jobs: group.cancelled_jobs,
            success_rate: group.success_rate,
            failure_rate: group.failure_rate,
            cancel_rate: group.cancel_rate,
            avg_execution_time: group.avg_execution_time,
            min_execution_time: group.min_execution_time,
            max_execution_time: group.max_execution_time,
            currently_running: group.currently_running,
            p50_execution_time: group.p50_execution_time,
            p90_execution_time: group.p90_execution_time,
            p95_execution_time: group.p95_execution_time,
            p99_execution_time: group.p99_execution_time,
            avg_wait_time: group.avg_wait_time,
            p95_wait_time: group.p95_wait_time,
            retries: group.retries,
            throughput: self.throughput.rates(now.timestamp()),
            malformed_events: self.malformed,
            evicted_jobs: self.evicted,
            overflowed_tags: self.tags.overflowed,
        }
    }

    pub(crate) fn tag_metrics(&mut self) -> BTreeMap<String, JobGroupMetrics> {
        let mut tags: BTreeMap<String, JobGroupMetrics> = self
            .tags
            .rows
            .iter_mut()
            .map(|row| (row.name.to_string(), row.stats.snapshot()))
            .collect();
        if self.tags.other_used {
            tags.insert(OTHER_TAG.to_owned(), self.tags.other.snapshot());
        }
        tags
    }

    pub(crate) fn priority_metrics(&mut self) -> BTreeMap<Priority, JobGroupMetrics> {
        Priority::ALL
            .into_iter()
            .zip(self.priorities.iter_mut())
            .map(|(priority, group)| (priority, group.snapshot()))
            .collect()
    }

    /// The newest `limit` finished jobs, newest first.
    pub(crate) fn recent_jobs(&self, limit: usize) -> Vec<RecentJob> {
        self.recent
            .iter()
            .rev()
            .take(limit)
            .map(recent_job)
            .collect()
    }

    /// The jobs whose attempt is running or paused, oldest start first.
    pub(crate) fn running_jobs(&self, now: DateTime<Utc>) -> Vec<RunningJob> {
        let now = now.timestamp_micros();
        let mut running: Vec<RunningJob> = self
            .in_flight
            .iter()
            .filter(|(_, entry)| entry.phase.is_running())
            .map(|(job_id, entry)| running_job(job_id, entry, now))
            .collect();
        running.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then_with(|| a.job_id.cmp(&b.job_id))
        });
        running
    }

    pub(crate) fn entry_counts(&self) -> JobEntryCounts {
        JobEntryCounts {
            in_flight: self.in_flight.len(),
            recent_jobs: self.recent.len(),
            tags: self.tags.len(),
            histogram_counters: self.all.histogram_counters()
                + self
                    .priorities
                    .iter()
                    .map(GroupStats::histogram_counters)
                    .sum::<usize>()
                + self.tags.histogram_counters(),
        }
    }

    pub(crate) fn exposition(&self, tags: &[String], now: DateTime<Utc>) -> JobExposition {
        JobExposition {
            priorities: Priority::ALL.map(|p| (p, GroupFigures::of(&self.priorities[p.index()]))),
            tags: tags
                .iter()
                .filter_map(|tag| {
                    let row = self.tags.row(tag)?;
                    Some((tag.clone(), GroupFigures::of(&row.stats)))
                })
                .collect(),
            throughput: self.throughput.rates(now.timestamp()),
            evicted: self.evicted,
            overflowed_tags: self.tags.overflowed,
            in_flight: self.in_flight.len(),
        }
    }
}

fn recent_job(job: &FinishedJob) -> RecentJob {
    RecentJob {
        job_id: job.job_id.to_string(),
        name: job.name.to_string(),
        status: job.outcome,
        execution_time: job.execution_micros.map(micros_to_seconds),
        wait_time: job.wait_micros.map(micros_to_seconds),
        tags: job.tags.iter().map(|tag| tag.name.to_string()).collect(),
        priority: job.priority,
        attempts: job.attempts,
        worker_id: job.worker_id.as_deref().map(str::to_owned),
        created_at: job.created_at.map(time),
        started_at: job.started_at.map(time),
        finished_at: time(job.finished_at),
        error: job.error.clone(),
    }
}

fn running_job(job_id: &str, entry: &InFlight, now: i64) -> RunningJob {
    let started = entry.attempt_started_at.unwrap_or(entry.last_seen);
    let progress = entry.progress;
    let eta_at = match entry.progress_at {
        Some(reported) if progress > 0.0 && reported > started => {
            let per_micro = progress / reported.saturating_sub(started) as f64;
            let remaining = ((1.0 - progress) / per_micro).round();
            Some(reported.saturating_add(remaining as i64))
        }
        _ => None,
    };
    RunningJob {
        job_id: job_id.to_owned(),
        name: entry.name.to_string(),
        status: if entry.phase == Phase::Paused {
            RunState::Paused
        } else {
            RunState::Running
        },
        priority: entry.priority,
        tags: entry.tags.iter().map(|tag| tag.name.to_string()).collect(),
        worker_id: entry.worker_id.as_deref().map(str::to_owned),
        attempt: entry.attempt,
        progress,
        started_at: time(started),
        elapsed: micros_to_seconds(u64::try_from(now.saturating_sub(started)).unwrap_or(0)),
        progress_updated_at: entry.progress_at.map(time),
        eta_seconds: eta_at
            .map(|eta| micros_to_seconds(u64::try_from(eta.saturating_sub(now)).unwrap_or(0))),
        eta_at: eta_at.map(time),
    }
}
