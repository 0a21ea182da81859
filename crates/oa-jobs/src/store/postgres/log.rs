//! The durable event log of the PostgreSQL store: the table `events`, written in the
//! transactions of the changes the events describe ([`write_events`]) or on its own
//! ([`EventLog::append`]), read in a contiguous order despite out-of-order commits
//! ([`contiguous_prefix`]).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long after a commit that logged events the other processes are notified: the commits
/// of a burst share one notification.
const NOTIFY_COALESCE: Duration = Duration::from_millis(5);

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oa_events::{Event, EventLog, LogBounds, LogError, LogRetention};
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};
use tokio::sync::Notify;

use super::rows::{Query, bound_time};
use super::{PgStore, sql};
use crate::error::{Error, Result};
use crate::store::JobUpdate;
use crate::store::shared::{EncodedEvent, StoredEvent, log_unavailable, trim_cutoff};

/// A batch of events as one array per column, bound to [`sql::INSERT_EVENTS`].
#[derive(Debug, Default)]
pub(super) struct EventColumns {
    ids: Vec<uuid::Uuid>,
    event_types: Vec<&'static str>,
    timestamps: Vec<i64>,
    job_ids: Vec<Option<String>>,
    worker_ids: Vec<Option<String>>,
    data: Vec<String>,
}

impl EventColumns {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            ids: Vec::with_capacity(capacity),
            event_types: Vec::with_capacity(capacity),
            timestamps: Vec::with_capacity(capacity),
            job_ids: Vec::with_capacity(capacity),
            worker_ids: Vec::with_capacity(capacity),
            data: Vec::with_capacity(capacity),
        }
    }

    fn push(&mut self, event: EncodedEvent) {
        self.ids.push(event.id);
        self.event_types.push(event.event_type);
        self.timestamps.push(event.timestamp);
        self.job_ids.push(event.job_id);
        self.worker_ids.push(event.worker_id);
        self.data.push(event.data);
    }

    /// The columns of `events`, in order.
    pub(super) fn of(events: impl IntoIterator<Item = EncodedEvent>) -> Self {
        let events = events.into_iter();
        let mut columns = Self::with_capacity(events.size_hint().0);
        for event in events {
            columns.push(event);
        }
        columns
    }

    /// Binds the arrays, then `channel`.
    pub(super) fn bind(self, query: Query) -> Query {
        query
            .bind(self.ids)
            .bind(self.event_types)
            .bind(self.timestamps)
            .bind(self.job_ids)
            .bind(self.worker_ids)
            .bind(self.data)
    }
}

/// Appends `events` to the log on `conn`, inside the caller's transaction: one statement per
/// [`sql::MAX_BATCH`] events (`unnest` of one array per column). Nothing at all when `events`
/// is empty. After the commit, the caller calls [`PgStore::logged`].
pub(super) async fn write_events(
    conn: &mut PgConnection,
    events: Vec<EncodedEvent>,
    operation: &'static str,
) -> Result<()> {
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        EventColumns::of(events.by_ref().take(sql::MAX_BATCH))
            .bind(sqlx::query(sql::INSERT_EVENTS))
            .execute(&mut *conn)
            .await
            .map_err(Error::database(operation))?;
    }
    Ok(())
}

/// The events of every update of `updates`, in order, ready to insert.
pub(super) fn events_of(updates: &[JobUpdate]) -> Result<Vec<EncodedEvent>> {
    updates
        .iter()
        .flat_map(|update| &update.events)
        .map(EncodedEvent::new)
        .collect()
}

/// The events of the applied updates of a batch (those whose result is `Ok`), in the order of
/// the updates.
///
/// # Errors
/// [`Error::InvalidArgument`] for an event that cannot be stored.
pub(super) fn applied_events(
    updates: &[JobUpdate],
    results: &[Result<()>],
) -> Result<Vec<EncodedEvent>> {
    updates
        .iter()
        .zip(results)
        .filter(|(_, result)| result.is_ok())
        .flat_map(|(update, _)| &update.events)
        .map(EncodedEvent::new)
        .collect()
}

/// A row of the log as [`sql::SELECT_EVENTS_AFTER`] reads it, and its number.
struct ReadRow<'a> {
    seq: u64,
    row: &'a PgRow,
}

/// The rows a reader may return after `after`: in order, up to the first hole (a number
/// missing between two rows, or between `after` and the first row), unless the row after the
/// hole is settled (logged longer than the settle time ago), in which case the hole is
/// permanent (a rolled-back transaction, or events trimmed by retention) and is skipped. A
/// hole whose transaction is still committing stops the read: the reader asks again later and
/// finds the event in its place, so it never sees a number below one it has already seen.
fn contiguous_prefix<T>(after: u64, rows: impl IntoIterator<Item = (u64, bool, T)>) -> Vec<T> {
    let mut next = after.saturating_add(1);
    let mut prefix = Vec::new();
    for (seq, settled, row) in rows {
        if seq != next && !settled {
            break;
        }
        next = seq.saturating_add(1);
        prefix.push(row);
    }
    prefix
}

/// The event of a row of [`sql::SELECT_EVENTS_AFTER`].
fn decode_event(read: &ReadRow<'_>) -> Result<Event, LogError> {
    let row = read.row;
    let corrupt = |column: &str, e: sqlx::Error| LogError::Corrupt {
        seq: read.seq,
        message: format!("column `{column}`: {e}"),
    };
    StoredEvent {
        seq: row.try_get(0).map_err(|e| corrupt("seq", e))?,
        id: row.try_get::<uuid::Uuid, _>(1).map_err(|e| format!("{e}")),
        event_type: row.try_get(2).map_err(|e| corrupt("event_type", e))?,
        timestamp: row.try_get(3).map_err(|e| corrupt("timestamp", e))?,
        job_id: row.try_get(4).map_err(|e| corrupt("job_id", e))?,
        worker_id: row.try_get(5).map_err(|e| corrupt("worker_id", e))?,
        data: row.try_get(6).map_err(|e| corrupt("data", e))?,
    }
    .decode()
}

impl PgStore {
    /// After a commit that logged events: wakes the followers of this process at once, and
    /// those of other processes with one `NOTIFY` sent shortly after (the commits of a burst
    /// share one notification; a lost one only delays followers until their next poll).
    pub(super) fn logged(&self) {
        self.shared.channels.appended.1.notify_waiters();
        if self.shared.notify_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.shared.notify_pending.store(false, Ordering::Release);
            return;
        };
        let store = self.clone();
        runtime.spawn(async move {
            tokio::time::sleep(NOTIFY_COALESCE).await;
            store.shared.notify_pending.store(false, Ordering::Release);
            let channel = store.shared.channels.appended.0.clone();
            if let Err(error) = sqlx::query(sql::NOTIFY)
                .bind(channel)
                .execute(store.pool())
                .await
            {
                tracing::debug!(%error, "could not notify the event log's followers");
            }
        });
    }

    async fn append_events(&self, events: &[Event]) -> Result<()> {
        const OPERATION: &str = "append_events";
        if events.is_empty() {
            return Ok(());
        }
        let encoded = EncodedEvent::all(events)?;
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(Error::database(OPERATION))?;
        if encoded.len() <= sql::MAX_BATCH {
            // One statement: its own transaction.
            write_events(&mut conn, encoded, OPERATION).await?;
        } else {
            let mut tx = sqlx::Connection::begin(&mut *conn)
                .await
                .map_err(Error::database(OPERATION))?;
            write_events(&mut tx, encoded, OPERATION).await?;
            tx.commit().await.map_err(Error::database(OPERATION))?;
        }
        self.logged();
        Ok(())
    }

    async fn events_after(&self, after: u64, limit: u32) -> Result<Vec<Event>, LogError> {
        const OPERATION: &str = "read_events";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let settle = i64::try_from(self.shared.settle.as_micros()).unwrap_or(i64::MAX);
        let rows = sqlx::query(sql::SELECT_EVENTS_AFTER)
            .bind(i64::try_from(after).unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .bind(settle)
            .fetch_all(self.pool())
            .await
            .map_err(|e| log_unavailable(Error::database(OPERATION)(e)))?;
        let mut read = Vec::with_capacity(rows.len());
        for row in &rows {
            let seq: i64 = row.try_get(0).map_err(|e| LogError::Corrupt {
                seq: 0,
                message: format!("column `seq`: {e}"),
            })?;
            let seq = u64::try_from(seq).map_err(|_| LogError::Corrupt {
                seq: 0,
                message: format!("negative sequence number {seq}"),
            })?;
            let settled: bool = row.try_get(7).map_err(|e| LogError::Corrupt {
                seq,
                message: format!("column `logged_at`: {e}"),
            })?;
            read.push((seq, settled, ReadRow { seq, row }));
        }
        contiguous_prefix(after, read)
            .iter()
            .map(decode_event)
            .collect()
    }

    async fn event_bounds(&self) -> Result<LogBounds> {
        const OPERATION: &str = "event_bounds";
        let row = sqlx::query(sql::SELECT_EVENT_BOUNDS)
            .fetch_one(self.pool())
            .await
            .map_err(Error::database(OPERATION))?;
        let column = |index: usize| -> Result<u64> {
            let value: i64 = row.try_get(index).map_err(Error::database(OPERATION))?;
            u64::try_from(value).map_err(|_| Error::CorruptRecord {
                id: "events".to_owned(),
                message: format!("negative bound {value}"),
            })
        };
        Ok(LogBounds {
            first: column(0)?,
            count: column(1)?,
            last: column(2)?,
        })
    }

    async fn trim_events(&self, retention: &LogRetention, now: DateTime<Utc>) -> Result<u64> {
        const OPERATION: &str = "trim_events";
        let batch = i64::from(retention.batch);
        if batch == 0 {
            return Ok(0);
        }
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(Error::database(OPERATION))?;
        let by_count = sqlx::query(sql::TRIM_EVENTS_BY_COUNT)
            .bind(i64::try_from(retention.max_count).unwrap_or(i64::MAX))
            .bind(batch)
            .execute(&mut *tx)
            .await
            .map_err(Error::database(OPERATION))?
            .rows_affected();
        let left = batch - i64::try_from(by_count).unwrap_or(batch);
        let by_age = match trim_cutoff(retention, now) {
            Some(cutoff) if left > 0 => sqlx::query(sql::TRIM_EVENTS_BY_AGE)
                .bind(bound_time(cutoff))
                .bind(left)
                .execute(&mut *tx)
                .await
                .map_err(Error::database(OPERATION))?
                .rows_affected(),
            _ => 0,
        };
        tx.commit().await.map_err(Error::database(OPERATION))?;
        Ok(by_count + by_age)
    }
}

/// The log of a [`PgStore`]: the table `events` of its schema, shared by every process that
/// uses the database.
///
/// Numbers come from an identity sequence and are given at insert time, while transactions
/// commit in another order, so [`read_after`](EventLog::read_after) returns only a contiguous
/// prefix: it stops before the first missing number unless the event after it was logged
/// longer than [`PgStoreOptions::settle`](super::PgStoreOptions::settle) ago (then the hole is
/// a rolled-back transaction or trimmed events, and is skipped). Commits that logged events
/// are announced by a notification (no payload; one per burst of commits, sent a few
/// milliseconds after them, outside their transactions) that the stores of other processes
/// turn into their [`appended_signal`](EventLog::appended_signal).
#[async_trait]
impl EventLog for PgStore {
    async fn append(&self, events: &[Event]) -> Result<(), LogError> {
        self.append_events(events).await.map_err(log_unavailable)
    }

    async fn read_after(&self, after: u64, limit: u32) -> Result<Vec<Event>, LogError> {
        self.events_after(after, limit).await
    }

    async fn bounds(&self) -> Result<LogBounds, LogError> {
        self.event_bounds().await.map_err(log_unavailable)
    }

    async fn trim(&self, retention: &LogRetention, now: DateTime<Utc>) -> Result<u64, LogError> {
        self.trim_events(retention, now)
            .await
            .map_err(log_unavailable)
    }

    fn appended_signal(&self) -> Arc<Notify> {
        self.start_listening();
        Arc::clone(&self.shared.channels.appended.1)
    }
}

#[cfg(test)]
mod tests {
    use super::contiguous_prefix;

    fn prefix(after: u64, rows: &[(u64, bool)]) -> Vec<u64> {
        contiguous_prefix(
            after,
            rows.iter().map(|&(seq, settled)| (seq, settled, seq)),
        )
    }

    #[test]
    fn a_fresh_hole_stops_the_read() {
        assert_eq!(
            prefix(10, &[(11, false), (12, false), (14, false)]),
            [11, 12]
        );
        assert_eq!(prefix(10, &[(12, false), (13, false)]), Vec::<u64>::new());
    }

    #[test]
    fn a_settled_hole_is_skipped() {
        assert_eq!(
            prefix(10, &[(11, true), (13, true), (14, false)]),
            [11, 13, 14]
        );
        // Trimmed events before the first row: the first row is old, so it is settled.
        assert_eq!(prefix(0, &[(500, true), (501, false)]), [500, 501]);
    }

    #[test]
    fn rows_without_holes_need_not_be_settled() {
        assert_eq!(prefix(0, &[(1, false), (2, false), (3, false)]), [1, 2, 3]);
    }
}
