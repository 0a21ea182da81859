//! The store's hot writes made on the calling task, through a synchronous connection to the
//! same file, instead of through sqlx's connection thread.
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement is a round trip to
//! that thread, about 45 µs on a 2-core machine, twice per job when jobs are claimed and
//! completed one at a time (SQLite's own work for both is about 66 µs). The writes the engine
//! makes for every job (claims, inserts, and updates without events) are therefore made here,
//! on a rusqlite connection, under the store's writer lock (so one write of the process runs at
//! a time, whichever connection makes it).
//!
//! An inline write never blocks the calling thread: the connection has no busy timeout. While
//! another process holds the write lock, the store tries again every millisecond (sleeping,
//! not blocking) for up to its busy timeout: SQLite's own busy handler would wait up to 100 ms
//! between tries, and a process writing back to back (which inline writes let it do) would
//! then hardly ever leave it a gap. If a write cannot be made whole for any other reason (a
//! batch would apply only in part, a constraint fails, anything), whatever it began is rolled
//! back and the caller makes the same write through sqlx, which reports each case as before.
//! So the outcome of a write does not depend on which connection made it.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, ErrorCode, OpenFlags, Row, ToSql, TransactionBehavior};
use sqlx::SqlitePool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::rows::{
    Columns, EncodedJob, EncodedOutcome, JOB_COLUMN_COUNT, OUTCOME_COLUMN_NAMES, decode_job,
};
use super::sql;
use crate::error::Result;
use crate::job::Job;
use crate::status::JobStatus;

/// Why an inline write was not made (nothing of it is left in the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotMade {
    /// Another connection holds the write lock.
    Busy,
    /// Anything else: the same write through sqlx reports it.
    Other,
}

/// The synchronous connection (see the module's documentation).
#[derive(Debug)]
pub(super) struct Inline {
    conn: Mutex<Connection>,
    /// Woken after each commit that wrote something (a claim that found nothing did not):
    /// the checkpointer copies the log into the database then.
    committed: Arc<Notify>,
}

impl Inline {
    /// Opens the connection to the database at `path` (already created and migrated), with the
    /// writer's settings; `None` when it cannot be opened (every write then goes through sqlx).
    pub(super) fn open(path: &Path, synchronous: &'static str, cache_kib: i64) -> Option<Self> {
        let open = || -> rusqlite::Result<Connection> {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(Duration::ZERO)?;
            conn.pragma_update(None, "synchronous", synchronous)?;
            conn.pragma_update(None, "cache_size", -cache_kib)?;
            conn.pragma_update(None, "temp_store", "memory")?;
            // Its commits never checkpoint: the checkpointer does, on another thread (see
            // `checkpoint`). A checkpoint copies the log into the database and syncs it; made
            // by the commit that crosses the threshold, it stalled the writes of the process
            // for its whole length (a third of the time of a run of one-job claims).
            conn.pragma_update(None, "wal_autocheckpoint", 0)?;
            conn.pragma_update(None, "foreign_keys", true)?;
            conn.set_prepared_statement_cache_capacity(64);
            Ok(conn)
        };
        match open() {
            Ok(conn) => Some(Self {
                conn: Mutex::new(conn),
                committed: Arc::new(Notify::new()),
            }),
            Err(error) => {
                tracing::warn!(%error, "SQLite store: writes go through sqlx only");
                None
            }
        }
    }

    /// Runs `write`; on any failure rolls back what it began and says why it was not made.
    fn run<T>(&self, write: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, NotMade> {
        // The connection holds no state a panic could leave half-changed: an open transaction
        // is rolled back below or by the next failed write.
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        match write(&conn) {
            Ok(value) => Ok(value),
            Err(error) => {
                if !conn.is_autocommit() {
                    // A rollback that fails leaves nothing to undo: the connection is in
                    // autocommit again either way.
                    conn.execute_batch("ROLLBACK").ok();
                }
                let busy = matches!(
                    error.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                );
                tracing::trace!(%error, busy, "inline SQLite write not made");
                Err(if busy { NotMade::Busy } else { NotMade::Other })
            }
        }
    }

    /// Runs the claim `statement` (one of `sql::CLAIM_*`, in autocommit: the statement is its
    /// own transaction) and decodes the claimed jobs, in the order SQLite returned them.
    pub(super) fn claim(
        &self,
        statement: &str,
        now: i64,
        worker_id: &str,
        lease: i64,
        names: &str,
        limit: i64,
    ) -> Result<Result<Vec<Job>>, NotMade> {
        self.run(|conn| {
            let tx = begin(conn)?;
            let jobs = {
                let mut claim = tx.prepare_cached(statement)?;
                let mut rows = claim.query((now, worker_id, lease, names, limit))?;
                let mut jobs = Vec::new();
                while let Some(row) = rows.next()? {
                    jobs.push(decode_job(row));
                }
                jobs
            };
            // Every claimed job was queued (the statement takes them from the queue).
            let mut counts = Counts::default();
            counts.moved(JobStatus::Queued, JobStatus::Running, jobs.len());
            counts.apply(&tx)?;
            tx.commit()?;
            if !jobs.is_empty() {
                self.committed.notify_one();
            }
            Ok(jobs)
        })
        // Claimed and committed: a row that does not decode is reported, as through sqlx.
        .map(|jobs| jobs.into_iter().collect())
    }

    /// Inserts `jobs` in one transaction; nothing is inserted on any failure, a duplicate id
    /// included.
    pub(super) fn insert(&self, jobs: &[EncodedJob]) -> Result<(), NotMade> {
        self.run(|conn| {
            let tx = begin(conn)?;
            let mut counts = Counts::default();
            let mut rest = jobs;
            for size in sql::chunks(jobs.len()) {
                let (chunk, tail) = rest.split_at(size);
                rest = tail;
                let mut insert = tx.prepare_cached(sql::insert_jobs(size))?;
                let values: Vec<&dyn ToSql> = chunk.iter().flat_map(EncodedJob::values).collect();
                insert.execute(values.as_slice())?;
                for job in chunk {
                    counts.added(job.status(), 1);
                }
            }
            counts.apply(&tx)?;
            tx.commit()?;
            self.committed.notify_one();
            Ok(())
        })
    }

    /// Writes each row of `rows` (whole jobs, or the ends of attempts) over the stored job if
    /// that job still has the expected status (and, for a running or paused job, the same
    /// attempt), in one transaction, only if every one applies; nothing is written otherwise.
    pub(super) fn update<E: Batched>(&self, rows: &[(E, JobStatus)]) -> Result<(), NotMade> {
        self.run(|conn| {
            let tx = begin(conn)?;
            let mut counts = Counts::default();
            let mut rest = rows;
            for size in sql::chunks(rows.len()) {
                let (chunk, tail) = rest.split_at(size);
                rest = tail;
                let expected: Vec<&'static str> =
                    chunk.iter().map(|(_, status)| status.as_str()).collect();
                let mut values: Vec<&dyn ToSql> =
                    Vec::with_capacity(chunk.len() * (E::COLUMNS + 1));
                for ((row, from), expected) in chunk.iter().zip(&expected) {
                    row.push_values(&mut values);
                    values.push(expected);
                    counts.moved(*from, row.status(), 1);
                }
                let mut update = tx.prepare_cached(E::statement(size))?;
                all_applied(update.execute(values.as_slice())?, size)?;
            }
            counts.apply(&tx)?;
            tx.commit()?;
            self.committed.notify_one();
            Ok(())
        })
    }
}

/// What [`Inline::update`] writes per job: its values, the id first, as its statement binds
/// them (followed by the expected status), and its new status.
pub(super) trait Batched {
    /// How many values [`push_values`](Self::push_values) pushes.
    const COLUMNS: usize;
    /// The statement writing `size` rows.
    fn statement(size: usize) -> &'static str;
    fn push_values<'a>(&'a self, values: &mut Vec<&'a dyn ToSql>);
    fn status(&self) -> JobStatus;
}

impl Batched for EncodedJob {
    const COLUMNS: usize = JOB_COLUMN_COUNT;

    fn statement(size: usize) -> &'static str {
        // One job: the plain `UPDATE … WHERE id = ?1` (same values), without the `VALUES` table.
        if size == 1 {
            sql::UPDATE_JOB
        } else {
            sql::update_jobs(size)
        }
    }

    fn push_values<'a>(&'a self, values: &mut Vec<&'a dyn ToSql>) {
        values.extend(self.values());
    }

    fn status(&self) -> JobStatus {
        Self::status(self)
    }
}

impl Batched for EncodedOutcome {
    const COLUMNS: usize = OUTCOME_COLUMN_NAMES.len();

    fn statement(size: usize) -> &'static str {
        sql::finish_jobs(size)
    }

    fn push_values<'a>(&'a self, values: &mut Vec<&'a dyn ToSql>) {
        values.extend(self.values());
    }

    fn status(&self) -> JobStatus {
        Self::status(self)
    }
}

/// The changes of one transaction to the counts by status, applied with one statement before
/// it commits (migration 0004: no trigger counts the inline connection's writes).
#[derive(Debug, Default)]
struct Counts([i64; 7]);

impl Counts {
    fn added(&mut self, status: JobStatus, jobs: usize) {
        self.0[status.index()] += i64::try_from(jobs).unwrap_or(i64::MAX);
    }

    fn moved(&mut self, from: JobStatus, to: JobStatus, jobs: usize) {
        if from != to {
            let jobs = i64::try_from(jobs).unwrap_or(i64::MAX);
            self.0[from.index()] -= jobs;
            self.0[to.index()] += jobs;
        }
    }

    fn apply(&self, conn: &Connection) -> rusqlite::Result<()> {
        if self.0.iter().any(|&change| change != 0) {
            conn.prepare_cached(sql::ADJUST_COUNTS)?.execute(self.0)?;
        }
        Ok(())
    }
}

impl Inline {
    /// Starts the checkpointer of this connection's writes, which runs until `stop`.
    pub(super) fn start_checkpoints(&self, pool: SqlitePool, stop: CancellationToken) {
        tokio::spawn(checkpoint(pool, Arc::clone(&self.committed), stop));
    }
}

/// How long the checkpointer waits after a commit before it checkpoints, so that one
/// checkpoint copies the commits of a burst.
const CHECKPOINT_PAUSE: Duration = Duration::from_millis(20);

/// Copies the log into the database after the inline connection's commits: a PASSIVE
/// checkpoint (it never waits for the writers nor makes them wait) on a reader connection, so
/// on that connection's thread. Sleeps while nothing is written.
async fn checkpoint(pool: SqlitePool, committed: Arc<Notify>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = committed.notified() => {}
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(CHECKPOINT_PAUSE) => {}
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            // The next commit tries again; the log only grows meanwhile.
            tracing::warn!(%error, "SQLite store: checkpoint failed");
        }
    }
}

/// `BEGIN IMMEDIATE`: the write lock at once (or `SQLITE_BUSY` at once, without a timeout).
fn begin(conn: &Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
}

/// `Ok` when `changed` rows are all `expected`; otherwise an error, which rolls back.
fn all_applied(changed: usize, expected: usize) -> rusqlite::Result<()> {
    if changed == expected {
        Ok(())
    } else {
        Err(rusqlite::Error::StatementChangedRows(changed))
    }
}

impl Columns for Row<'_> {
    fn text(&self, index: usize) -> std::result::Result<Option<&str>, String> {
        match self.get_ref(index).map_err(|e| e.to_string())? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|e| e.to_string()),
            other => Err(format!("expected text, found {}", other.data_type())),
        }
    }

    fn integer(&self, index: usize) -> std::result::Result<Option<i64>, String> {
        match self.get_ref(index).map_err(|e| e.to_string())? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(value) => Ok(Some(value)),
            other => Err(format!("expected an integer, found {}", other.data_type())),
        }
    }

    fn real(&self, index: usize) -> std::result::Result<Option<f64>, String> {
        match self.get_ref(index).map_err(|e| e.to_string())? {
            ValueRef::Null => Ok(None),
            ValueRef::Real(value) => Ok(Some(value)),
            #[expect(clippy::cast_precision_loss, reason = "SQLite's own REAL conversion")]
            ValueRef::Integer(value) => Ok(Some(value as f64)),
            other => Err(format!("expected a number, found {}", other.data_type())),
        }
    }
}
