//! Job statuses and the state machine between them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Where a job is in its life.
///
/// The legal moves between statuses are exactly those of [`JobStatus::can_transition_to`]
/// (the table of ARCHITECTURE.md, "oa-jobs: the engine"); the final statuses are
/// [`Completed`](JobStatus::Completed), [`Failed`](JobStatus::Failed) and
/// [`Cancelled`](JobStatus::Cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Created and not yet queued.
    Created,
    /// Waiting for a worker (possibly not before its `queued_at`, for scheduled jobs and retries).
    Queued,
    /// Held by a worker that runs its handler.
    Running,
    /// Paused: a queued job that must not be claimed, or a running job whose handler is
    /// suspended at its checkpoint.
    Paused,
    /// The handler returned a result (final).
    Completed,
    /// The last attempt failed and no retry is left (final).
    Failed,
    /// Cancelled by a user (final).
    Cancelled,
}

impl JobStatus {
    /// Every status, in life order.
    pub const ALL: [Self; 7] = [
        Self::Created,
        Self::Queued,
        Self::Running,
        Self::Paused,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The wire name (`created`, `queued`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// A dense index in `0..7`, the position in [`JobStatus::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Whether the job is finished for good.
    #[must_use]
    pub const fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// Whether the state machine allows moving from `self` to `to`.
    ///
    /// | from | to |
    /// |---|---|
    /// | created | queued, cancelled |
    /// | queued | running, paused, cancelled |
    /// | running | running (progress), paused, queued (retry), completed, failed, cancelled |
    /// | paused | queued (never started), running (started), cancelled |
    /// | completed, failed, cancelled | nothing |
    #[must_use]
    pub const fn can_transition_to(self, to: Self) -> bool {
        use JobStatus::{Cancelled, Completed, Created, Failed, Paused, Queued, Running};
        matches!(
            (self, to),
            (Created, Queued | Cancelled)
                | (Queued, Running | Paused | Cancelled)
                | (
                    Running,
                    Running | Paused | Queued | Completed | Failed | Cancelled
                )
                | (Paused, Queued | Running | Cancelled)
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad` honours width and alignment (`{:<9}` in tables).
        f.pad(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| Error::InvalidArgument {
                field: "status",
                message: format!(
                    "unknown job status `{s}`; expected one of created, queued, running, paused, \
                     completed, failed, cancelled"
                ),
            })
    }
}

/// How urgent a job is: claims take higher priorities first, then the oldest `queued_at`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Runs when nothing more urgent waits.
    Low,
    /// The default.
    #[default]
    Medium,
    /// Ahead of `low` and `medium`.
    High,
    /// Ahead of everything else.
    Critical,
}

impl Priority {
    /// Every priority, from the least to the most urgent.
    pub const ALL: [Self; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The wire name (`low`, `medium`, `high`, `critical`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// The rank stored in databases: 0 (low) to 3 (critical); higher is claimed first.
    #[must_use]
    pub const fn rank(self) -> i64 {
        self as i64
    }

    /// The priority of a stored rank.
    #[must_use]
    pub const fn from_rank(rank: i64) -> Option<Self> {
        match rank {
            0 => Some(Self::Low),
            1 => Some(Self::Medium),
            2 => Some(Self::High),
            3 => Some(Self::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|priority| priority.as_str() == s)
            .ok_or_else(|| Error::InvalidArgument {
                field: "priority",
                message: format!(
                    "unknown priority `{s}`; expected one of low, medium, high, critical"
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for status in JobStatus::ALL {
            assert_eq!(status.as_str().parse::<JobStatus>().unwrap(), status);
            assert_eq!(JobStatus::ALL[status.index()], status);
        }
        for priority in Priority::ALL {
            assert_eq!(priority.as_str().parse::<Priority>().unwrap(), priority);
            assert_eq!(Priority::from_rank(priority.rank()), Some(priority));
        }
        assert!("done".parse::<JobStatus>().is_err());
        assert!("urgent".parse::<Priority>().is_err());
        assert_eq!(Priority::from_rank(4), None);
    }

    #[test]
    fn display_honours_width() {
        assert_eq!(format!("[{:<9}]", JobStatus::Queued), "[queued   ]");
        assert_eq!(format!("[{:>8}]", Priority::High), "[    high]");
    }

    #[test]
    fn final_statuses_go_nowhere() {
        for from in JobStatus::ALL.into_iter().filter(|s| s.is_final()) {
            for to in JobStatus::ALL {
                assert!(!from.can_transition_to(to), "{from} -> {to}");
            }
        }
    }
}
