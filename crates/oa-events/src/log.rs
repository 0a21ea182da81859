//! The durable event log: where a store keeps every event of every process, in one global
//! order, so that processes on other hosts can follow them and a restarted monitor can replay
//! them.
//!
//! A store that keeps a log (the SQLite and PostgreSQL stores of oa-jobs) implements
//! [`EventLog`]. Events that describe a stored change are written in the same transaction as
//! the change (so an event is never lost nor invented for a committed change); the others
//! (progress, heartbeats, system events) are appended with [`EventLog::append`].
//! [`LogFollower`](crate::LogFollower) reads the log in order and emits its events into an
//! [`EventEmitter`](crate::EventEmitter), keeping their durable `seq`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::Event;

/// Why a log operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// The log's database could not be reached or the statement failed; try again later.
    #[error("event log unavailable: {message}")]
    Unavailable {
        /// What the database said.
        message: String,
    },
    /// A stored event could not be decoded (written by an incompatible version).
    #[error("event log entry {seq} is unreadable: {message}")]
    Corrupt {
        /// The entry's sequence number.
        seq: u64,
        /// What was wrong with it.
        message: String,
    },
}

/// The sequence numbers a log holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogBounds {
    /// The oldest retained sequence number (0 when the log is empty).
    pub first: u64,
    /// The newest sequence number ever written (0 when nothing was ever written). Survives
    /// trimming: a log whose events were all trimmed still reports the last one's number.
    pub last: u64,
    /// How many events are retained.
    pub count: u64,
}

/// How long the log keeps events. Both limits apply: an event is trimmed when it is older
/// than `max_age` or when more than `max_count` newer events are retained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRetention {
    /// Events older than this are trimmed. An event's age is taken from its `timestamp` (set
    /// when the engine creates it, just before it is logged), compared with the `now` given to
    /// [`EventLog::trim`].
    pub max_age: Duration,
    /// At most this many events are kept.
    pub max_count: u64,
    /// At most this many events are deleted per [`EventLog::trim`] call (one short
    /// transaction), so trimming never holds locks for long.
    pub batch: u32,
}

impl Default for LogRetention {
    /// 24 hours, one million events, batches of 5,000.
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(24 * 3600),
            max_count: 1_000_000,
            batch: 5_000,
        }
    }
}

/// A durable, ordered log of events shared by every process that uses the same store.
///
/// Sequence numbers are global, strictly increasing and assigned at commit order: a reader
/// that has seen `seq = n` never later finds a committed event below `n`, except that a store
/// may wait a short settle time before it returns events that follow a hole (an entry whose
/// transaction is still committing or was rolled back); see the implementation's docs.
#[async_trait]
pub trait EventLog: Send + Sync + std::fmt::Debug {
    /// Appends events that describe no stored change (progress, heartbeats, system events), in
    /// one transaction, in the given order. Their `seq` fields are ignored: the log assigns
    /// the durable ones.
    ///
    /// # Errors
    /// [`LogError::Unavailable`] when the database cannot be written; nothing was appended.
    async fn append(&self, events: &[Event]) -> Result<(), LogError>;

    /// Up to `limit` events whose sequence number is above `after`, in order, each with its
    /// durable `seq`. Events trimmed by retention are skipped (the caller sees the jump in
    /// `seq`).
    ///
    /// # Errors
    /// [`LogError::Unavailable`], or [`LogError::Corrupt`] for an entry that cannot be decoded.
    async fn read_after(&self, after: u64, limit: u32) -> Result<Vec<Event>, LogError>;

    /// The retained range.
    ///
    /// # Errors
    /// [`LogError::Unavailable`].
    async fn bounds(&self) -> Result<LogBounds, LogError>;

    /// Deletes at most `retention.batch` of the oldest events that `retention` no longer
    /// keeps (timestamped before `now - max_age`, or beyond `max_count`), in one short
    /// transaction. A store may count `max_count` in sequence numbers (it keeps the events
    /// numbered within `max_count` of the newest), which keeps fewer when numbers were skipped.
    /// Returns how many were deleted; call again while it returns `retention.batch`.
    ///
    /// # Errors
    /// [`LogError::Unavailable`].
    async fn trim(&self, retention: &LogRetention, now: DateTime<Utc>) -> Result<u64, LogError>;

    /// Fires when events may have been appended: by this process (at once) or by another one
    /// (PostgreSQL's `LISTEN/NOTIFY`). Only a hint: followers also poll.
    fn appended_signal(&self) -> Arc<Notify>;
}

/// An [`EventLog`] in memory, for one process: tests, and setups whose job store keeps no log
/// but that want the same follow-and-resume behaviour within a process. Bounded only by
/// [`trim`](EventLog::trim). Clones share the log.
#[derive(Debug, Clone, Default)]
pub struct MemoryEventLog {
    inner: Arc<MemoryLogInner>,
}

#[derive(Debug, Default)]
struct MemoryLogInner {
    state: std::sync::Mutex<MemoryLogState>,
    appended: Arc<Notify>,
}

#[derive(Debug, Default)]
struct MemoryLogState {
    events: std::collections::VecDeque<Event>,
    last: u64,
}

impl MemoryEventLog {
    /// An empty log.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryLogState> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl EventLog for MemoryEventLog {
    async fn append(&self, events: &[Event]) -> Result<(), LogError> {
        {
            let mut state = self.lock();
            for event in events {
                state.last += 1;
                let mut event = event.clone();
                event.seq = state.last;
                state.events.push_back(event);
            }
        }
        if !events.is_empty() {
            self.inner.appended.notify_waiters();
        }
        Ok(())
    }

    async fn read_after(&self, after: u64, limit: u32) -> Result<Vec<Event>, LogError> {
        let state = self.lock();
        let start = state.events.partition_point(|event| event.seq <= after);
        Ok(state
            .events
            .iter()
            .skip(start)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn bounds(&self) -> Result<LogBounds, LogError> {
        let state = self.lock();
        Ok(LogBounds {
            first: state.events.front().map_or(0, |event| event.seq),
            last: state.last,
            count: state.events.len() as u64,
        })
    }

    async fn trim(&self, retention: &LogRetention, now: DateTime<Utc>) -> Result<u64, LogError> {
        let mut state = self.lock();
        let cutoff = chrono::TimeDelta::from_std(retention.max_age)
            .ok()
            .and_then(|age| now.checked_sub_signed(age));
        let mut deleted = 0;
        while deleted < u64::from(retention.batch) {
            let too_many = state.events.len() as u64 > retention.max_count;
            let too_old = match (state.events.front(), cutoff) {
                (Some(event), Some(cutoff)) => event.timestamp < cutoff,
                _ => false,
            };
            if !(too_many || too_old) {
                break;
            }
            state.events.pop_front();
            deleted += 1;
        }
        Ok(deleted)
    }

    fn appended_signal(&self) -> Arc<Notify> {
        Arc::clone(&self.inner.appended)
    }
}
