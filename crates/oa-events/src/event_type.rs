//! The 17 event types, their wire names and their categories.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::EventError;

/// The kind of an [`Event`](crate::Event).
///
/// Every variant has a **wire name** (`job.failed`, `worker.heartbeat`, ...): the string used in
/// every JSON body, count map and SSE frame. [`Display`](fmt::Display), [`FromStr`] and serde
/// all use the wire name, and an unknown wire name is a typed error
/// ([`EventError::UnknownEventType`]).
///
/// The set is the seed's vocabulary and is a wire contract, so the enum is deliberately
/// exhaustive: downstream code (collectors, count maps) matches on it exhaustively, and adding a
/// type is a breaking change that must be made on purpose.
///
/// ```
/// use oa_events::{EventCategory, EventType};
///
/// let t: EventType = "job.failed".parse()?;
/// assert_eq!(t, EventType::JobFailed);
/// assert_eq!(t.to_string(), "job.failed");
/// assert_eq!(t.category(), EventCategory::Job);
/// assert!("job.exploded".parse::<EventType>().is_err());
/// # Ok::<(), oa_events::EventError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A job has been created (`job.created`).
    JobCreated,
    /// A job has been queued for execution (`job.queued`).
    JobQueued,
    /// A job's execution has started (`job.started`).
    JobStarted,
    /// A job has been paused (`job.paused`).
    JobPaused,
    /// A job has been resumed (`job.resumed`).
    JobResumed,
    /// A job has completed successfully (`job.completed`).
    JobCompleted,
    /// A job has failed for good: no retry is left (`job.failed`).
    JobFailed,
    /// A job has been cancelled (`job.cancelled`).
    JobCancelled,
    /// An attempt of a job failed and the job will be retried (`job.retrying`).
    JobRetrying,
    /// A running job reported progress (`job.progress.updated`).
    JobProgressUpdated,
    /// A worker has registered with the system (`worker.registered`).
    WorkerRegistered,
    /// A worker has sent a heartbeat (`worker.heartbeat`).
    WorkerHeartbeat,
    /// A worker has claimed a job (`worker.claimed_job`).
    WorkerClaimedJob,
    /// A worker has gone offline (`worker.offline`).
    WorkerOffline,
    /// The system has started (`system.startup`).
    SystemStartup,
    /// The system is shutting down (`system.shutdown`).
    SystemShutdown,
    /// A system error has occurred (`system.error`).
    SystemError,
}

/// The group an [`EventType`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventCategory {
    /// Job lifecycle events (`job.*`).
    Job,
    /// Worker events (`worker.*`).
    Worker,
    /// System events (`system.*`).
    System,
}

impl EventCategory {
    /// The three categories, in the order of the seed's documentation.
    pub const ALL: [EventCategory; 3] = [
        EventCategory::Job,
        EventCategory::Worker,
        EventCategory::System,
    ];

    /// The category's name: `job`, `worker` or `system` (the wire names' prefix).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EventCategory::Job => "job",
            EventCategory::Worker => "worker",
            EventCategory::System => "system",
        }
    }
}

impl fmt::Display for EventCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EventType {
    /// The number of event types (17).
    pub const COUNT: usize = 17;

    /// Every event type, in declaration order: `EventType::ALL[t.index()] == t` for every `t`.
    pub const ALL: [EventType; EventType::COUNT] = [
        EventType::JobCreated,
        EventType::JobQueued,
        EventType::JobStarted,
        EventType::JobPaused,
        EventType::JobResumed,
        EventType::JobCompleted,
        EventType::JobFailed,
        EventType::JobCancelled,
        EventType::JobRetrying,
        EventType::JobProgressUpdated,
        EventType::WorkerRegistered,
        EventType::WorkerHeartbeat,
        EventType::WorkerClaimedJob,
        EventType::WorkerOffline,
        EventType::SystemStartup,
        EventType::SystemShutdown,
        EventType::SystemError,
    ];

    /// The wire name, e.g. `job.progress.updated`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EventType::JobCreated => "job.created",
            EventType::JobQueued => "job.queued",
            EventType::JobStarted => "job.started",
            EventType::JobPaused => "job.paused",
            EventType::JobResumed => "job.resumed",
            EventType::JobCompleted => "job.completed",
            EventType::JobFailed => "job.failed",
            EventType::JobCancelled => "job.cancelled",
            EventType::JobRetrying => "job.retrying",
            EventType::JobProgressUpdated => "job.progress.updated",
            EventType::WorkerRegistered => "worker.registered",
            EventType::WorkerHeartbeat => "worker.heartbeat",
            EventType::WorkerClaimedJob => "worker.claimed_job",
            EventType::WorkerOffline => "worker.offline",
            EventType::SystemStartup => "system.startup",
            EventType::SystemShutdown => "system.shutdown",
            EventType::SystemError => "system.error",
        }
    }

    /// The seed's constant name, e.g. `JOB_PROGRESS_UPDATED` (for messages and docs).
    #[must_use]
    pub const fn seed_name(self) -> &'static str {
        match self {
            EventType::JobCreated => "JOB_CREATED",
            EventType::JobQueued => "JOB_QUEUED",
            EventType::JobStarted => "JOB_STARTED",
            EventType::JobPaused => "JOB_PAUSED",
            EventType::JobResumed => "JOB_RESUMED",
            EventType::JobCompleted => "JOB_COMPLETED",
            EventType::JobFailed => "JOB_FAILED",
            EventType::JobCancelled => "JOB_CANCELLED",
            EventType::JobRetrying => "JOB_RETRYING",
            EventType::JobProgressUpdated => "JOB_PROGRESS_UPDATED",
            EventType::WorkerRegistered => "WORKER_REGISTERED",
            EventType::WorkerHeartbeat => "WORKER_HEARTBEAT",
            EventType::WorkerClaimedJob => "WORKER_CLAIMED_JOB",
            EventType::WorkerOffline => "WORKER_OFFLINE",
            EventType::SystemStartup => "SYSTEM_STARTUP",
            EventType::SystemShutdown => "SYSTEM_SHUTDOWN",
            EventType::SystemError => "SYSTEM_ERROR",
        }
    }

    /// The group the type belongs to.
    #[must_use]
    pub const fn category(self) -> EventCategory {
        match self {
            EventType::JobCreated
            | EventType::JobQueued
            | EventType::JobStarted
            | EventType::JobPaused
            | EventType::JobResumed
            | EventType::JobCompleted
            | EventType::JobFailed
            | EventType::JobCancelled
            | EventType::JobRetrying
            | EventType::JobProgressUpdated => EventCategory::Job,
            EventType::WorkerRegistered
            | EventType::WorkerHeartbeat
            | EventType::WorkerClaimedJob
            | EventType::WorkerOffline => EventCategory::Worker,
            EventType::SystemStartup | EventType::SystemShutdown | EventType::SystemError => {
                EventCategory::System
            }
        }
    }

    /// A dense index in `0..EventType::COUNT`, for per-type arrays of counters.
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The type whose [`index`](Self::index) is `index`, if any.
    #[must_use]
    pub const fn from_index(index: usize) -> Option<EventType> {
        if index < EventType::COUNT {
            Some(EventType::ALL[index])
        } else {
            None
        }
    }

    /// Whether this type ends a job for good (`job.completed`, `job.failed`, `job.cancelled`).
    #[must_use]
    pub const fn is_job_terminal(self) -> bool {
        matches!(
            self,
            EventType::JobCompleted | EventType::JobFailed | EventType::JobCancelled
        )
    }

    /// The type whose wire name is `name`, or `None`. [`FromStr`] is the same with a typed error.
    #[must_use]
    pub fn from_wire_name(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = EventError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::from_wire_name(s).ok_or_else(|| EventError::UnknownEventType { name: s.into() })
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct WireName;

        impl serde::de::Visitor<'_> for WireName {
            type Value = EventType;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event type wire name such as \"job.completed\"")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<EventType, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(WireName)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_variant_once_in_index_order() {
        assert_eq!(EventType::ALL.len(), 17);
        for (i, t) in EventType::ALL.into_iter().enumerate() {
            assert_eq!(t.index(), i);
            assert_eq!(EventType::from_index(i), Some(t));
        }
        assert_eq!(EventType::from_index(17), None);
        let mut names: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 17, "wire names are unique");
    }

    #[test]
    fn wire_names_match_the_seed() {
        let expected = [
            "job.created",
            "job.queued",
            "job.started",
            "job.paused",
            "job.resumed",
            "job.completed",
            "job.failed",
            "job.cancelled",
            "job.retrying",
            "job.progress.updated",
            "worker.registered",
            "worker.heartbeat",
            "worker.claimed_job",
            "worker.offline",
            "system.startup",
            "system.shutdown",
            "system.error",
        ];
        let names: Vec<_> = EventType::ALL.iter().map(|t| t.to_string()).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn display_and_from_str_round_trip_and_match_category_prefix() {
        for t in EventType::ALL {
            assert_eq!(t.to_string().parse::<EventType>().unwrap(), t);
            let prefix = t.as_str().split('.').next().unwrap();
            assert_eq!(prefix, t.category().as_str());
            let seed_prefix = t.seed_name().split('_').next().unwrap().to_lowercase();
            assert_eq!(seed_prefix, t.category().as_str());
        }
    }

    #[test]
    fn unknown_wire_names_are_typed_errors() {
        for bad in [
            "",
            "job",
            "JOB_FAILED",
            "job.Failed",
            "job.failed ",
            "worker.claimed",
        ] {
            let err = bad.parse::<EventType>().unwrap_err();
            assert_eq!(
                err,
                EventError::UnknownEventType {
                    name: bad.to_owned()
                }
            );
            assert!(err.to_string().contains("unknown event type"), "{err}");
        }
    }

    #[test]
    fn serde_uses_the_wire_name() {
        let json = serde_json::to_string(&EventType::JobProgressUpdated).unwrap();
        assert_eq!(json, "\"job.progress.updated\"");
        let back: EventType = serde_json::from_str(&json).unwrap();
        assert_eq!(back, EventType::JobProgressUpdated);
        let err = serde_json::from_str::<EventType>("\"job.nope\"").unwrap_err();
        assert!(
            err.to_string().contains("unknown event type \"job.nope\""),
            "{err}"
        );
        assert!(serde_json::from_str::<EventType>("3").is_err());
    }

    #[test]
    fn categories_split_10_4_3_and_terminal_types_are_the_three_final_ones() {
        let count = |c| EventType::ALL.iter().filter(|t| t.category() == c).count();
        assert_eq!(count(EventCategory::Job), 10);
        assert_eq!(count(EventCategory::Worker), 4);
        assert_eq!(count(EventCategory::System), 3);
        let terminal: Vec<_> = EventType::ALL
            .into_iter()
            .filter(|t| t.is_job_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                EventType::JobCompleted,
                EventType::JobFailed,
                EventType::JobCancelled
            ]
        );
    }
}
