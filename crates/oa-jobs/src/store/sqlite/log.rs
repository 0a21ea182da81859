//! The durable event log of the SQLite store: the table `events`, written in the transactions
//! of the changes the events describe ([`write_events`]) or on its own ([`EventLog::append`]).
//!
//! SQLite lets one connection write at a time, across processes: a number is given to an event
//! inside the write transaction that inserts it, so numbers are given in commit order and a
//! reader never finds a committed event below one it has seen. `AUTOINCREMENT` never reuses a
//! number, even after trimming. There is no settle time to wait for, unlike PostgreSQL.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oa_events::{Event, EventLog, LogBounds, LogError, LogRetention};
use sqlx::Row;
use sqlx::sqlite::SqliteConnection;
use tokio::sync::Notify;

use super::SqliteStore;
use super::connection::Writer;
use super::rows::{Query, bound_time};
use super::sql;
use crate::error::{Error, Result};
use crate::store::JobUpdate;
use crate::store::shared::{EncodedEvent, StoredEvent, log_unavailable, trim_cutoff};

/// Binds the values of one event as [`sql::insert_events`] expects them.
fn bind_event(query: Query, event: EncodedEvent) -> Query {
    query
        .bind(event.id.hyphenated().to_string())
        .bind(event.event_type)
        .bind(event.timestamp)
        .bind(event.job_id)
        .bind(event.worker_id)
        .bind(event.data)
}

/// Appends `events` to the log on `conn`, inside the caller's transaction when there is more
/// than one chunk: one multi-row insert per chunk of up to [`sql::MAX_CHUNK`] events, each
/// statement prepared once per connection. Nothing at all when `events` is empty.
pub(super) async fn write_events(
    writer: &Writer,
    conn: &mut SqliteConnection,
    events: Vec<EncodedEvent>,
    operation: &'static str,
) -> Result<()> {
    let mut events = events.into_iter();
    for size in sql::chunks(events.len()) {
        let query = events
            .by_ref()
            .take(size)
            .fold(sqlx::query(sql::insert_events(size)), bind_event);
        query
            .execute(&mut *conn)
            .await
            .map_err(writer.error(operation))?;
    }
    Ok(())
}

/// Appends the events of the applied updates of a batch (those whose result is `Ok`), in the
/// order of the updates, inside the caller's transaction. Whether any event was written.
///
/// # Errors
/// The database's, or [`Error::InvalidArgument`] for an event that cannot be stored (the caller
/// then drops the transaction: nothing of the batch is written).
pub(super) async fn write_applied_events(
    writer: &Writer,
    conn: &mut SqliteConnection,
    updates: &[JobUpdate],
    results: &[Result<()>],
    operation: &'static str,
) -> Result<bool> {
    let mut events = Vec::new();
    for (update, _) in updates
        .iter()
        .zip(results)
        .filter(|(_, result)| result.is_ok())
    {
        for event in &update.events {
            events.push(EncodedEvent::new(event)?);
        }
    }
    let logs = !events.is_empty();
    write_events(writer, conn, events, operation).await?;
    Ok(logs)
}

impl SqliteStore {
    /// Wakes the followers of this process after a commit that logged events.
    pub(super) fn logged(&self) {
        self.shared.appended.notify_waiters();
    }

    async fn append_events(&self, events: &[Event]) -> Result<()> {
        const OPERATION: &str = "append_events";
        if events.is_empty() {
            return Ok(());
        }
        let encoded = EncodedEvent::all(events)?;
        let w = self.writer();
        let mut conn = w.lock(OPERATION).await?;
        let conn: &mut SqliteConnection = &mut conn;
        if encoded.len() <= sql::MAX_CHUNK {
            // One statement: its own transaction.
            write_events(w, conn, encoded, OPERATION).await?;
        } else {
            let mut tx = w.begin(&mut *conn, OPERATION).await?;
            write_events(w, &mut tx, encoded, OPERATION).await?;
            tx.commit().await.map_err(w.error(OPERATION))?;
        }
        self.logged();
        Ok(())
    }

    async fn events_after(&self, after: u64, limit: u32) -> Result<Vec<Event>, LogError> {
        const OPERATION: &str = "read_events";
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = {
            let mut conn = self.reader(OPERATION).await.map_err(log_unavailable)?;
            sqlx::query(sql::SELECT_EVENTS_AFTER)
                .bind(i64::try_from(after).unwrap_or(i64::MAX))
                .bind(i64::from(limit))
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| log_unavailable(self.writer().error(OPERATION)(e)))?
        };
        rows.iter()
            .map(|row| {
                let seq: i64 = row.try_get(0).map_err(|e| LogError::Corrupt {
                    seq: 0,
                    message: format!("column `seq`: {e}"),
                })?;
                let corrupt = |column: &str, e: sqlx::Error| LogError::Corrupt {
                    seq: seq.unsigned_abs(),
                    message: format!("column `{column}`: {e}"),
                };
                let id: &str = row.try_get(1).map_err(|e| corrupt("id", e))?;
                StoredEvent {
                    seq,
                    id: uuid::Uuid::parse_str(id).map_err(|e| e.to_string()),
                    event_type: row.try_get(2).map_err(|e| corrupt("event_type", e))?,
                    timestamp: row.try_get(3).map_err(|e| corrupt("timestamp", e))?,
                    job_id: row.try_get(4).map_err(|e| corrupt("job_id", e))?,
                    worker_id: row.try_get(5).map_err(|e| corrupt("worker_id", e))?,
                    data: row.try_get(6).map_err(|e| corrupt("data", e))?,
                }
                .decode()
            })
            .collect()
    }

    async fn event_bounds(&self) -> Result<LogBounds> {
        const OPERATION: &str = "event_bounds";
        let mut conn = self.reader(OPERATION).await?;
        let row = sqlx::query(sql::SELECT_EVENT_BOUNDS)
            .fetch_one(&mut *conn)
            .await
            .map_err(self.writer().error(OPERATION))?;
        let column = |index: usize| -> Result<u64> {
            let value: i64 = row.try_get(index).map_err(self.writer().error(OPERATION))?;
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
        let cutoff = trim_cutoff(retention, now);
        let w = self.writer();
        let mut conn = w.lock(OPERATION).await?;
        let conn: &mut SqliteConnection = &mut conn;
        let mut tx = w.begin(&mut *conn, OPERATION).await?;
        let by_count = sqlx::query(sql::TRIM_EVENTS_BY_COUNT)
            .bind(i64::try_from(retention.max_count).unwrap_or(i64::MAX))
            .bind(batch)
            .execute(&mut *tx)
            .await
            .map_err(w.error(OPERATION))?
            .rows_affected();
        let left = batch - i64::try_from(by_count).unwrap_or(batch);
        let by_age = match cutoff {
            Some(cutoff) if left > 0 => sqlx::query(sql::TRIM_EVENTS_BY_AGE)
                .bind(bound_time(cutoff))
                .bind(left)
                .execute(&mut *tx)
                .await
                .map_err(w.error(OPERATION))?
                .rows_affected(),
            _ => 0,
        };
        tx.commit().await.map_err(w.error(OPERATION))?;
        Ok(by_count + by_age)
    }
}

/// The log of a [`SqliteStore`]: the table `events` of its database, shared by every process
/// that opens the file. Numbers are given in commit order (SQLite has one writer at a time), so
/// [`read_after`](EventLog::read_after) never waits for a settle time. The appended signal
/// fires on this process's commits only: followers in other processes find the events by
/// polling.
#[async_trait]
impl EventLog for SqliteStore {
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
        Arc::clone(&self.shared.appended)
    }
}
