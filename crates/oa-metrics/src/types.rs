//! Small enums shared by the snapshots: [`Priority`], [`JobOutcome`], [`RunState`],
//! [`WorkerState`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// A job's priority, as the engine names it in the `priority` data key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// `low`.
    Low,
    /// `medium`, the engine's default.
    Medium,
    /// `high`.
    High,
    /// `critical`.
    Critical,
}

impl Priority {
    /// The four priorities, lowest first.
    pub const ALL: [Priority; 4] = [
        Priority::Low,
        Priority::Medium,
        Priority::High,
        Priority::Critical,
    ];

    /// The wire name: `low`, `medium`, `high` or `critical`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }

    /// The priority whose wire name is `name`, if any.
    #[must_use]
    pub fn from_wire_name(name: &str) -> Option<Priority> {
        match name {
            "low" => Some(Priority::Low),
            "medium" => Some(Priority::Medium),
            "high" => Some(Priority::High),
            "critical" => Some(Priority::Critical),
            _ => None,
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a job finished: the `status` of a [`RecentJob`](crate::RecentJob).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobOutcome {
    /// `job.completed`.
    Completed,
    /// `job.failed`: a final failure.
    Failed,
    /// `job.cancelled`.
    Cancelled,
}

impl JobOutcome {
    /// The three outcomes, in the order of the summary's keys.
    pub const ALL: [JobOutcome; 3] = [
        JobOutcome::Completed,
        JobOutcome::Failed,
        JobOutcome::Cancelled,
    ];

    /// `completed`, `failed` or `cancelled`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            JobOutcome::Completed => "completed",
            JobOutcome::Failed => "failed",
            JobOutcome::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for JobOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a job in flight is executing or paused: the `status` of a
/// [`RunningJob`](crate::RunningJob).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Its attempt is executing.
    Running,
    /// It was paused after it started; it still counts in `currently_running`.
    Paused,
}

/// A worker's liveness: the `status` of a [`WorkerStatus`](crate::WorkerStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerState {
    /// Its last news (registration, heartbeat, claim) is at most one heartbeat interval old.
    Online,
    /// It missed at least one heartbeat window, but fewer than
    /// [`offline_after_missed_heartbeats`](crate::MetricsConfig::offline_after_missed_heartbeats).
    Stale,
    /// It sent `worker.offline`, or it has been silent for
    /// [`offline_after_missed_heartbeats`](crate::MetricsConfig::offline_after_missed_heartbeats)
    /// windows.
    Offline,
}

impl WorkerState {
    /// The three states.
    pub const ALL: [WorkerState; 3] = [
        WorkerState::Online,
        WorkerState::Stale,
        WorkerState::Offline,
    ];

    /// `online`, `stale` or `offline`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            WorkerState::Online => "online",
            WorkerState::Stale => "stale",
            WorkerState::Offline => "offline",
        }
    }
}

impl fmt::Display for WorkerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for priority in Priority::ALL {
            assert_eq!(Priority::from_wire_name(priority.as_str()), Some(priority));
            assert_eq!(
                serde_json::to_value(priority).unwrap(),
                serde_json::Value::from(priority.to_string())
            );
            assert_eq!(Priority::ALL[priority.index()], priority);
        }
        assert_eq!(Priority::from_wire_name("urgent"), None);
        assert_eq!(Priority::from_wire_name("HIGH"), None);
        let names: Vec<_> = JobOutcome::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["completed", "failed", "cancelled"]);
        let names: Vec<_> = WorkerState::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["online", "stale", "offline"]);
        assert_eq!(serde_json::to_value(RunState::Paused).unwrap(), "paused");
    }
}
