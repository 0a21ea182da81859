//! [`GroupStats`]: the counters and histograms of one group of jobs (all jobs, one priority,
//! one tag), and their snapshot.

use crate::histogram::TimeHistogram;
use crate::snapshot::JobGroupMetrics;
use crate::types::JobOutcome;

/// The figures of one group of jobs.
#[derive(Debug)]
pub(crate) struct GroupStats {
    pub(crate) started: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) cancelled: u64,
    pub(crate) retries: u64,
    pub(crate) running: u64,
    pub(crate) execution: TimeHistogram,
    pub(crate) wait: TimeHistogram,
}

impl GroupStats {
    pub(crate) fn new(significant_digits: u8) -> Self {
        GroupStats {
            started: 0,
            completed: 0,
            failed: 0,
            cancelled: 0,
            retries: 0,
            running: 0,
            execution: TimeHistogram::new(significant_digits),
            wait: TimeHistogram::new(significant_digits),
        }
    }

    pub(crate) fn finished(&mut self, outcome: JobOutcome) {
        match outcome {
            JobOutcome::Completed => self.completed += 1,
            JobOutcome::Failed => self.failed += 1,
            JobOutcome::Cancelled => self.cancelled += 1,
        }
    }

    pub(crate) fn stop_running(&mut self) {
        self.running = self.running.saturating_sub(1);
    }

    /// The finished jobs of the group and the three rates, in percent of them.
    fn rates(&self) -> [f64; 3] {
        let finished = self.completed + self.failed + self.cancelled;
        if finished == 0 {
            return [0.0; 3];
        }
        let percent = |part: u64| (part as f64 * 100.0 / finished as f64).clamp(0.0, 100.0);
        [
            percent(self.completed),
            percent(self.failed),
            percent(self.cancelled),
        ]
    }

    pub(crate) fn snapshot(&mut self) -> JobGroupMetrics {
        let [success_rate, failure_rate, cancel_rate] = self.rates();
        let [p50, p90, p95, p99] = self.execution.percentiles();
        JobGroupMetrics {
            total_jobs: self.started,
            completed_jobs: self.completed,
            failed_jobs: self.failed,
            cancelled_jobs: self.cancelled,
            success_rate,
            failure_rate,
            cancel_rate,
            avg_execution_time: self.execution.mean_seconds(),
            min_execution_time: self.execution.min_seconds(),
            max_execution_time: self.execution.max_seconds(),
            currently_running: self.running,
            p50_execution_time: p50,
            p90_execution_time: p90,
            p95_execution_time: p95,
            p99_execution_time: p99,
            avg_wait_time: self.wait.mean_seconds(),
            p95_wait_time: self.wait.p95_seconds(),
            retries: self.retries,
        }
    }

    /// Counters of HDR histograms held, for the memory bounds' tests.
    pub(crate) fn histogram_counters(&self) -> usize {
        self.execution.counter_slots() + self.wait.counter_slots()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_percent_of_finished_jobs() {
        let mut group = GroupStats::new(3);
        assert_eq!(group.snapshot().success_rate, 0.0);
        group.finished(JobOutcome::Completed);
        group.finished(JobOutcome::Completed);
        group.finished(JobOutcome::Completed);
        group.finished(JobOutcome::Failed);
        let snapshot = group.snapshot();
        assert_eq!(snapshot.success_rate, 75.0);
        assert_eq!(snapshot.failure_rate, 25.0);
        assert_eq!(snapshot.cancel_rate, 0.0);
        group.stop_running();
        assert_eq!(group.running, 0, "saturates");
    }
}
