//! The connections of a store: one writer behind an async mutex, and the readers.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::Connection;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePool};
use sqlx::{Sqlite, Transaction};
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

use super::sql;
use crate::error::{Error, Result};

/// The one connection every write of the store goes through.
///
/// It is a plain connection behind a mutex rather than a pool of one: a pooled connection is
/// handed back through a spawned task after every use, which costs each write a task and a
/// wake-up for nothing here. A connection whose worker thread died is replaced by a new one at
/// the next use (never in memory, where the database lives and dies with its connection).
#[derive(Debug)]
pub(super) struct Writer {
    conn: Mutex<Option<SqliteConnection>>,
    options: SqliteConnectOptions,
    /// Whether a dead connection may be replaced (a file) or not (memory).
    reconnect: bool,
    /// The last operation found the connection's worker thread dead.
    crashed: AtomicBool,
    closed: AtomicBool,
    /// Whether the connection counts its changes with the TEMP triggers of
    /// [`sql::COUNTING_TRIGGERS`] (set once the schema is migrated; a replacement connection
    /// gets them too).
    counting: AtomicBool,
}

/// Exclusive use of the writer connection.
pub(super) type WriterGuard<'a> = MappedMutexGuard<'a, SqliteConnection>;

impl Writer {
    /// Opens the connection.
    pub(super) async fn connect(options: SqliteConnectOptions, reconnect: bool) -> Result<Self> {
        let conn = SqliteConnection::connect_with(&options)
            .await
            .map_err(Error::database("open"))?;
        Ok(Self {
            conn: Mutex::new(Some(conn)),
            options,
            reconnect,
            crashed: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            counting: AtomicBool::new(false),
        })
    }

    /// The connection, for as long as the guard lives; waits for the other writes of the
    /// process to finish.
    pub(super) async fn lock(&self, operation: &'static str) -> Result<WriterGuard<'_>> {
        let mut guard = self.conn.lock().await;
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::database(operation)(sqlx::Error::PoolClosed));
        }
        if self.crashed.swap(false, Ordering::AcqRel) && self.reconnect {
            *guard = None;
        }
        if guard.is_none() {
            let mut conn = SqliteConnection::connect_with(&self.options)
                .await
                .map_err(Error::database(operation))?;
            if self.counting.load(Ordering::Acquire) {
                install_counting(&mut conn, operation).await?;
            }
            *guard = Some(conn);
        }
        MutexGuard::try_map(guard, Option::as_mut)
            .map_err(|_| Error::database(operation)(sqlx::Error::WorkerCrashed))
    }

    /// From now on, the connection (and any that replaces it) keeps `job_counts` for the
    /// changes it makes (migration 0004): call once the schema is migrated.
    pub(super) async fn count_changes(&self) -> Result<()> {
        let mut conn = self.lock("open").await?;
        install_counting(&mut conn, "open").await?;
        self.counting.store(true, Ordering::Release);
        Ok(())
    }

    /// Starts a write transaction on `conn` (the writer's connection, locked by the caller):
    /// `BEGIN IMMEDIATE` takes the database's write lock at once, so that a transaction never
    /// fails halfway because another process writes.
    pub(super) async fn begin<'c>(
        &self,
        conn: &'c mut SqliteConnection,
        operation: &'static str,
    ) -> Result<Transaction<'c, Sqlite>> {
        conn.begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(self.error(operation))
    }

    /// Maps a database error of `operation`, noting a dead connection for replacement.
    pub(super) fn error(&self, operation: &'static str) -> impl FnOnce(sqlx::Error) -> Error + '_ {
        move |source| {
            if matches!(source, sqlx::Error::WorkerCrashed) {
                self.crashed.store(true, Ordering::Release);
            }
            Error::Database { operation, source }
        }
    }

    /// Closes the connection once the write in progress is done; later writes fail.
    pub(super) async fn close(&self) {
        let mut guard = self.conn.lock().await;
        self.closed.store(true, Ordering::Release);
        if let Some(conn) = guard.take() {
            // A connection that fails to close cleanly is dropped all the same.
            conn.close().await.ok();
        }
    }
}

async fn install_counting(conn: &mut SqliteConnection, operation: &'static str) -> Result<()> {
    sqlx::raw_sql(sql::COUNTING_TRIGGERS)
        .execute(conn)
        .await
        .map(drop)
        .map_err(Error::database(operation))
}

/// Where reads go: a pool of read connections, or the writer for an in-memory database.
#[derive(Debug)]
pub(super) enum Readers {
    /// Read connections to the database file (WAL lets them read while the writer writes).
    Pool(SqlitePool),
    /// The writer's connection, the only one that sees an in-memory database.
    Writer,
}

/// A connection to read with.
pub(super) enum ReadConnection<'a> {
    Pooled(PoolConnection<Sqlite>),
    Writer(WriterGuard<'a>),
}

impl Deref for ReadConnection<'_> {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self {
            Self::Pooled(conn) => conn,
            Self::Writer(conn) => conn,
        }
    }
}

impl DerefMut for ReadConnection<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            Self::Pooled(conn) => conn,
            Self::Writer(conn) => conn,
        }
    }
}
