//! The SQLite store: the embedded default. A process crash loses no acknowledged job.
//!
//! The design (one writer connection and a pool of readers, `BEGIN IMMEDIATE`, claims that
//! walk a partial index, counts kept by triggers, set-based batches) is documented on
//! [`SqliteStore`], where users of the crate see it. `rows` maps jobs and workers to columns,
//! `sql` holds the statements.

mod rows;
mod sql;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow,
};
use sqlx::{QueryBuilder, Row, SqlSafeStr, Sqlite, Transaction};

use self::rows::{
    EncodedJob, Query, bound_time, decode_job, decode_time, decode_worker, decode_worker_state,
    encode_time,
};
use super::types::{
    ClaimRequest, HeartbeatOutcome, HeldJob, JobFilter, JobPage, JobUpdate, Page, StatusCounts,
    WorkerRecord, WorkerState,
};
use super::{JobStore, check_update};
use crate::error::{Error, Result};
use crate::job::{Job, LostOutcome};
use crate::status::JobStatus;

/// How many prepared statements each connection keeps (the batched statements take about 20).
const STATEMENT_CACHE_CAPACITY: usize = 128;

/// The embedded migrations, in order.
fn migrator() -> &'static Migrator {
    static MIGRATOR: OnceLock<Migrator> = OnceLock::new();
    MIGRATOR.get_or_init(|| {
        Migrator::with_migrations(vec![Migration::new(
            1,
            "init".into(),
            MigrationType::Simple,
            include_str!("../../../migrations/sqlite/0001_init.sql").into_sql_str(),
            false,
        )])
    })
}

/// How hard SQLite pushes each commit to disk (`PRAGMA synchronous`).
///
/// With WAL, [`Normal`](Self::Normal) (the default) loses no commit when the process crashes
/// and may lose the last commits when the machine loses power; [`Full`](Self::Full) loses none
/// in either case and syncs the log at every commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqliteSynchronous {
    /// No syncs at all: a power loss may corrupt the database.
    Off,
    /// Syncs at checkpoints only (the default, and the usual choice with WAL).
    #[default]
    Normal,
    /// Syncs the log at every commit.
    Full,
    /// As `Full`, and also syncs the directory after deleting a journal.
    Extra,
}

impl From<SqliteSynchronous> for sqlx::sqlite::SqliteSynchronous {
    fn from(mode: SqliteSynchronous) -> Self {
        match mode {
            SqliteSynchronous::Off => Self::Off,
            SqliteSynchronous::Normal => Self::Normal,
            SqliteSynchronous::Full => Self::Full,
            SqliteSynchronous::Extra => Self::Extra,
        }
    }
}

#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    Memory,
}

/// How to open a [`SqliteStore`]: a builder.
///
/// ```no_run
/// # async fn example() -> oa_jobs::Result<()> {
/// use std::time::Duration;
/// use oa_jobs::SqliteStoreOptions;
///
/// let store = SqliteStoreOptions::file("jobs.db")
///     .max_read_connections(8)
///     .busy_timeout(Duration::from_secs(10))
///     .open()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SqliteStoreOptions {
    location: Location,
    max_read_connections: u32,
    busy_timeout: Duration,
    synchronous: SqliteSynchronous,
    create_if_missing: bool,
}

impl SqliteStoreOptions {
    /// A database in the file at `path` (created if missing, unless
    /// [`create_if_missing(false)`](Self::create_if_missing)), in WAL mode.
    pub fn file(path: impl AsRef<Path>) -> Self {
        Self {
            location: Location::File(path.as_ref().to_owned()),
            max_read_connections: 4,
            busy_timeout: Duration::from_secs(5),
            synchronous: SqliteSynchronous::Normal,
            create_if_missing: true,
        }
    }

    /// A private in-memory database, gone when the store is dropped (tests and demos). It lives
    /// in a single connection, used for reads and writes alike.
    pub fn in_memory() -> Self {
        Self {
            location: Location::Memory,
            ..Self::file(":memory:")
        }
    }

    /// How many connections serve reads at once (at least 1; default 4). Writes always use one
    /// dedicated connection. Ignored in memory.
    pub fn max_read_connections(mut self, max: u32) -> Self {
        self.max_read_connections = max.max(1);
        self
    }

    /// How long a write waits for another process to release the database before failing with
    /// [`Error::Database`] (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How hard each commit is pushed to disk (default [`SqliteSynchronous::Normal`]).
    pub fn synchronous(mut self, mode: SqliteSynchronous) -> Self {
        self.synchronous = mode;
        self
    }

    /// Whether opening creates a missing database file (default `true`).
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// Opens the database and brings its schema up to date.
    ///
    /// # Errors
    /// [`Error::Database`] when the file cannot be opened (missing without
    /// `create_if_missing`, not a database, no permission), [`Error::Migration`] when the schema
    /// cannot be brought up to date (for example, written by a newer version).
    pub async fn open(&self) -> Result<SqliteStore> {
        let base = SqliteConnectOptions::new()
            .busy_timeout(self.busy_timeout)
            .foreign_keys(true)
            .synchronous(self.synchronous.into())
            .statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        let open = Error::database("open");
        match &self.location {
            Location::Memory => {
                let writer = pool_options(1)
                    .min_connections(1)
                    .connect_with(base)
                    .await
                    .map_err(open)?;
                migrate(&writer).await?;
                Ok(SqliteStore {
                    reader: writer.clone(),
                    writer,
                })
            }
            Location::File(path) => {
                let file = base.filename(path);
                let writer = pool_options(1)
                    .connect_with(
                        file.clone()
                            .create_if_missing(self.create_if_missing)
                            .journal_mode(SqliteJournalMode::Wal),
                    )
                    .await
                    .map_err(open)?;
                migrate(&writer).await?;
                // The writer created the file and switched it to WAL (a lasting setting).
                let reader = pool_options(self.max_read_connections)
                    .connect_with(file.create_if_missing(false))
                    .await
                    .map_err(Error::database("open"))?;
                Ok(SqliteStore { writer, reader })
            }
        }
    }
}

fn pool_options(max: u32) -> SqlitePoolOptions {
    // A local database needs no liveness check before each use, and its connections are kept
    // open (an in-memory database would vanish with its connection).
    SqlitePoolOptions::new()
        .max_connections(max)
        .test_before_acquire(false)
        .idle_timeout(None)
        .max_lifetime(None)
}

/// Applies the missing migrations inside one `BEGIN IMMEDIATE` transaction.
async fn migrate(writer: &SqlitePool) -> Result<()> {
    let mut tx = writer
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(Error::database("migrate"))?;
    migrator()
        .run(&mut *tx)
        .await
        .map_err(|source| Error::Migration { source })?;
    tx.commit().await.map_err(Error::database("migrate"))
}

/// Jobs and workers in a SQLite database: the embedded default store.
///
/// Cheap to clone (the clones share the connections). Open it with [`SqliteStore::open`] or
/// [`SqliteStoreOptions`].
///
/// # Design
///
/// - **One writer, many readers.** Every write goes through a pool of exactly one connection,
///   so writes of one process are serialized in the process (a queue of tasks waiting for the
///   connection) instead of in SQLite's lock (a busy loop that sleeps). Reads (`get`, `list`,
///   counts, workers, schedules) use a separate pool of read connections, which WAL lets run
///   while the writer writes. Another process on the same file has its own writer; the two meet
///   at SQLite's write lock, which they wait for up to the busy timeout. An in-memory database
///   exists only inside its one connection, so it uses that connection for reads too.
/// - **No read-then-write upgrades.** A write that must read first (heartbeats, lost workers,
///   expired leases, batched updates) runs in a `BEGIN IMMEDIATE` transaction, which takes the
///   write lock before reading: two processes never deadlock on an upgrade from a read lock.
///   A claim is a single `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …` statement: SQLite
///   takes the write lock when such a statement starts, so it is one write transaction with no
///   upgrade either, and it costs one round trip to the connection's thread. Single-job inserts,
///   updates and deletes are single statements too.
/// - **Claims walk an index.** The partial index `jobs_ready (name, priority DESC, ready_at, id)
///   WHERE status = 'queued'` holds exactly the claimable order, so claiming `n` jobs of one name
///   reads `n` index entries (plus the not-yet-due ones it skips). For several names, each name's
///   first `n` are taken from the index and the best `n` of those are kept.
/// - **Counting reads 7 rows.** Triggers on insert, delete and status change keep the table
///   `job_counts` exact, in the same transaction as the change.
/// - **Batches are set-based.** `insert_many` and `update_many` bind up to 512 jobs per statement
///   (an `INSERT … VALUES (…), (…)` and an `UPDATE … FROM (VALUES …)`), cut in power-of-two chunks
///   so that a few statement texts, prepared once per connection, serve every batch size.
/// - **Exact values.** Timestamps are INTEGER nanoseconds since the epoch (exact round trips and
///   comparisons; the years 1677 to 2262 are storable), JSON values are TEXT. Every job field
///   reads back equal to what was written, except what the job's own serde form leaves out
///   ([`JobError::retryable`](crate::JobError::retryable), which is never stored, and
///   sub-millisecond parts of retry delays, which are stored in milliseconds).
/// - **Migrations are embedded** (`migrations/sqlite/*.sql`, compiled into the binary) and run
///   on open inside one `BEGIN IMMEDIATE` transaction, so two processes opening a new file at
///   once do not both apply them.
///
/// The state changes themselves (a claim starting an attempt, a lost worker's job going back to
/// the queue) follow [`Job::start`](crate::Job::start) and [`Job::release_lost`]: the claim
/// statement sets exactly the fields `start` sets (the shared store suite compares the two), and
/// lost or expired jobs are read, changed by `release_lost`, and written back in one transaction.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path` with the default options.
    ///
    /// # Errors
    /// As [`SqliteStoreOptions::open`].
    pub async fn open(path: impl AsRef<Path>) -> Result<Self> {
        SqliteStoreOptions::file(path).open().await
    }

    /// A new private in-memory database.
    ///
    /// # Errors
    /// As [`SqliteStoreOptions::open`].
    pub async fn in_memory() -> Result<Self> {
        SqliteStoreOptions::in_memory().open().await
    }

    /// Closes the connections, waiting for the calls in progress; later calls fail with
    /// [`Error::Database`]. Dropping every clone of the store also closes it.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    async fn begin_write(&self, operation: &'static str) -> Result<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(Error::database(operation))
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

fn to_json_array(ids: &[&str]) -> String {
    // A list of strings always serializes.
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".to_owned())
}

/// The status stored in column 0 of `row`.
fn decode_status(row: &SqliteRow, id: &str, index: usize) -> Result<JobStatus> {
    let text: &str = row.try_get(index).map_err(|e| Error::CorruptRecord {
        id: id.to_owned(),
        message: format!("column `status`: {e}"),
    })?;
    text.parse().map_err(|_| Error::CorruptRecord {
        id: id.to_owned(),
        message: format!("column `status`: unknown status `{text}`"),
    })
}

/// The stored status of a job, if it exists.
async fn stored_status(
    conn: &mut SqliteConnection,
    job_id: &str,
    operation: &'static str,
) -> Result<Option<JobStatus>> {
    let row = sqlx::query(sql::SELECT_STATUS)
        .bind(job_id.to_owned())
        .fetch_optional(conn)
        .await
        .map_err(Error::database(operation))?;
    row.map(|row| decode_status(&row, job_id, 0)).transpose()
}

/// Writes `job` over the stored row if its status is still `expected`; whether it did.
async fn write_job(
    conn: &mut SqliteConnection,
    job: EncodedJob,
    expected: JobStatus,
    operation: &'static str,
) -> Result<bool> {
    let done = job
        .bind(sqlx::query(sql::UPDATE_JOB))
        .bind(expected.as_str())
        .execute(conn)
        .await
        .map_err(Error::database(operation))?;
    Ok(done.rows_affected() == 1)
}

/// Applies one update inside a transaction, as [`MemoryStore`](super::MemoryStore) does: the
/// outer error is the database's, the inner one the update's own.
async fn apply_update(conn: &mut SqliteConnection, update: &JobUpdate) -> Result<Result<()>> {
    let Some(stored) = stored_status(conn, &update.job.id, "update_many").await? else {
        return Ok(Err(Error::JobNotFound {
            job_id: update.job.id.clone(),
        }));
    };
    if let Err(e) = check_update(update, stored) {
        return Ok(Err(e));
    }
    let job = match EncodedJob::new(&update.job) {
        Ok(job) => job,
        Err(e) => return Ok(Err(e)),
    };
    write_job(conn, job, update.expected, "update_many").await?;
    Ok(Ok(()))
}

/// Releases ([`Job::release_lost`]) each held job and writes the changed ones back; returns
/// them sorted by id.
async fn release_all(
    conn: &mut SqliteConnection,
    rows: &[SqliteRow],
    now: DateTime<Utc>,
    operation: &'static str,
) -> Result<Vec<Job>> {
    let mut changed = Vec::with_capacity(rows.len());
    for row in rows {
        let mut job = decode_job(row)?;
        let expected = job.status;
        if job.release_lost(now) == LostOutcome::NotHeld {
            continue;
        }
        write_job(conn, EncodedJob::new(&job)?, expected, operation).await?;
        changed.push(job);
    }
    changed.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(changed)
}

fn decode_jobs(rows: &[SqliteRow]) -> Result<Vec<Job>> {
    rows.iter().map(decode_job).collect()
}

impl SqliteStore {
    /// The first job of `jobs` (in order) whose id is taken or repeated, as the memory store
    /// reports it. Called after an insert failed on a unique id, once the transaction is gone.
    async fn first_duplicate(&self, jobs: &[Job]) -> Result<Error> {
        let ids: Vec<&str> = jobs.iter().map(|job| job.id.as_str()).collect();
        let rows = sqlx::query(sql::SELECT_TAKEN_IDS)
            .bind(to_json_array(&ids))
            .fetch_all(&self.writer)
            .await
            .map_err(Error::database("insert_many"))?;
        let taken: HashSet<String> = rows
            .iter()
            .filter_map(|row| row.try_get::<String, _>(0).ok())
            .collect();
        let mut seen = HashSet::with_capacity(jobs.len());
        let duplicate = ids
            .iter()
            .find(|id| taken.contains(**id) || !seen.insert(**id))
            // Another process removed the clashing job in between: name the first id.
            .or_else(|| ids.first())
            .map_or_else(String::new, |id| (*id).to_owned());
        Ok(Error::DuplicateJob { job_id: duplicate })
    }

    /// [`JobStore::update_many`] of updates with distinct ids: one set-based statement per
    /// chunk, then the reasons of the updates that did not apply.
    async fn update_distinct(
        &self,
        tx: &mut SqliteConnection,
        updates: &[JobUpdate],
    ) -> Result<Vec<Result<()>>> {
        let mut results: Vec<Option<Result<()>>> = Vec::with_capacity(updates.len());
        let mut pending: Vec<(usize, EncodedJob)> = Vec::with_capacity(updates.len());
        for (i, update) in updates.iter().enumerate() {
            // A move the state machine forbids is reported from the stored status below.
            let encoded = check_update(update, update.expected)
                .ok()
                .map(|()| EncodedJob::new(&update.job));
            match encoded {
                Some(Ok(job)) => {
                    pending.push((i, job));
                    results.push(None);
                }
                Some(Err(e)) => results.push(Some(Err(e))),
                None => results.push(None),
            }
        }
        let mut applied: HashSet<String> = HashSet::with_capacity(pending.len());
        let mut pending = pending.into_iter();
        for size in sql::chunks(pending.len()) {
            let mut query: Query = sqlx::query(sql::update_jobs(size));
            for (i, job) in pending.by_ref().take(size) {
                query = job.bind(query).bind(updates[i].expected.as_str());
            }
            let rows = query
                .fetch_all(&mut *tx)
                .await
                .map_err(Error::database("update_many"))?;
            for row in &rows {
                let id: String = row.try_get(0).map_err(Error::database("update_many"))?;
                applied.insert(id);
            }
        }
        let missing: Vec<&str> = updates
            .iter()
            .zip(&results)
            .filter(|(update, result)| result.is_none() && !applied.contains(&update.job.id))
            .map(|(update, _)| update.job.id.as_str())
            .collect();
        let mut stored: HashMap<String, JobStatus> = HashMap::with_capacity(missing.len());
        if !missing.is_empty() {
            let rows = sqlx::query(sql::SELECT_STATUSES)
                .bind(to_json_array(&missing))
                .fetch_all(&mut *tx)
                .await
                .map_err(Error::database("update_many"))?;
            for row in &rows {
                let id: String = row.try_get(0).map_err(Error::database("update_many"))?;
                let status = decode_status(row, &id, 1)?;
                stored.insert(id, status);
            }
        }
        let mut out = Vec::with_capacity(updates.len());
        for (update, result) in updates.iter().zip(results) {
            let result = match result {
                Some(result) => result,
                None if applied.contains(&update.job.id) => Ok(()),
                None => match stored.get(&update.job.id) {
                    None => Err(Error::JobNotFound {
                        job_id: update.job.id.clone(),
                    }),
                    // Inside the transaction a legal update whose status matched was applied,
                    // so this reports a conflict or a forbidden move; should the two ever
                    // disagree, the update is applied on its own.
                    Some(&status) => match check_update(update, status) {
                        Ok(()) => apply_update(tx, update).await?,
                        Err(e) => Err(e),
                    },
                },
            };
            out.push(result);
        }
        Ok(out)
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn insert(&self, job: &Job) -> Result<()> {
        let query = EncodedJob::new(job)?.bind(sqlx::query(sql::insert_jobs(1)));
        match query.execute(&self.writer).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(Error::DuplicateJob {
                job_id: job.id.clone(),
            }),
            Err(e) => Err(Error::database("insert")(e)),
        }
    }

    async fn insert_many(&self, jobs: &[Job]) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let encoded = jobs
            .iter()
            .map(EncodedJob::new)
            .collect::<Result<Vec<_>>>()?;
        let mut tx = self.begin_write("insert_many").await?;
        let mut encoded = encoded.into_iter();
        for size in sql::chunks(jobs.len()) {
            let query = encoded
                .by_ref()
                .take(size)
                .fold(sqlx::query(sql::insert_jobs(size)), |query, job| {
                    job.bind(query)
                });
            if let Err(e) = query.execute(&mut *tx).await {
                if is_unique_violation(&e) {
                    tx.rollback()
                        .await
                        .map_err(Error::database("insert_many"))?;
                    return Err(self.first_duplicate(jobs).await?);
                }
                return Err(Error::database("insert_many")(e));
            }
        }
        tx.commit().await.map_err(Error::database("insert_many"))
    }

    async fn get(&self, job_id: &str) -> Result<Option<Job>> {
        let row = sqlx::query(sql::SELECT_JOB)
            .bind(job_id.to_owned())
            .fetch_optional(&self.reader)
            .await
            .map_err(Error::database("get"))?;
        row.as_ref().map(decode_job).transpose()
    }

    async fn update(&self, update: &JobUpdate) -> Result<()> {
        let job_id = &update.job.id;
        if check_update(update, update.expected).is_err() {
            // The move is forbidden whatever is stored; report it as the memory store does,
            // from the stored status (a conflict takes precedence). Nothing is written.
            let mut conn = self
                .reader
                .acquire()
                .await
                .map_err(Error::database("update"))?;
            let stored = stored_status(&mut conn, job_id, "update")
                .await?
                .ok_or_else(|| Error::JobNotFound {
                    job_id: job_id.clone(),
                })?;
            return check_update(update, stored);
        }
        let encoded = EncodedJob::new(&update.job)?;
        let mut conn = self
            .writer
            .acquire()
            .await
            .map_err(Error::database("update"))?;
        if write_job(&mut conn, encoded, update.expected, "update").await? {
            return Ok(());
        }
        drop(conn);
        // Not written: the job is missing or in another status. Find out which inside a write
        // transaction, so that the answer holds (another process may move the job meanwhile).
        let mut tx = self.begin_write("update").await?;
        match apply_update(&mut tx, update).await? {
            Ok(()) => tx.commit().await.map_err(Error::database("update")),
            Err(e) => Err(e),
        }
    }

    async fn update_many(&self, updates: &[JobUpdate]) -> Result<Vec<Result<()>>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write("update_many").await?;
        let mut ids = HashSet::with_capacity(updates.len());
        let distinct = updates.iter().all(|u| ids.insert(u.job.id.as_str()));
        let results = if distinct {
            self.update_distinct(&mut tx, updates).await?
        } else {
            // A job updated twice in one batch sees its first update: apply them in order.
            let mut results = Vec::with_capacity(updates.len());
            for update in updates {
                results.push(apply_update(&mut tx, update).await?);
            }
            results
        };
        tx.commit().await.map_err(Error::database("update_many"))?;
        Ok(results)
    }

    async fn delete(&self, job_id: &str) -> Result<bool> {
        let done = sqlx::query(sql::DELETE_JOB)
            .bind(job_id.to_owned())
            .execute(&self.writer)
            .await
            .map_err(Error::database("delete"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn list(&self, filter: &JobFilter, page: Page) -> Result<JobPage> {
        let mut query = QueryBuilder::<Sqlite>::new(sql::LIST_JOBS);
        if !filter.statuses.is_empty() {
            query.push(" AND status IN (");
            let mut statuses = query.separated(", ");
            for status in &filter.statuses {
                statuses.push_bind(status.as_str());
            }
            query.push(")");
        }
        if let Some(name) = &filter.name {
            query.push(" AND name = ").push_bind(name.clone());
        }
        if let Some(tag) = &filter.tag {
            query
                .push(" AND EXISTS (SELECT 1 FROM json_each(jobs.tags) WHERE value = ")
                .push_bind(tag.clone())
                .push(")");
        }
        if let Some(priority) = filter.priority {
            query.push(" AND priority = ").push_bind(priority.rank());
        }
        if let Some(worker_id) = &filter.worker_id {
            query.push(" AND worker_id = ").push_bind(worker_id.clone());
        }
        // One row more than the page tells whether a next page exists.
        query
            .push(" ORDER BY id DESC LIMIT ")
            .push_bind(i64::from(page.limit) + 1)
            .push(" OFFSET ")
            .push_bind(i64::try_from(page.offset).unwrap_or(i64::MAX));
        let rows = query
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(Error::database("list"))?;
        let limit = page.limit as usize;
        let more = rows.len() > limit;
        let jobs = decode_jobs(&rows[..rows.len().min(limit)])?;
        Ok(JobPage {
            jobs,
            next_offset: more.then(|| page.offset + u64::from(page.limit)),
        })
    }

    async fn count_by_status(&self) -> Result<StatusCounts> {
        let rows = sqlx::query(sql::SELECT_COUNTS)
            .fetch_all(&self.reader)
            .await
            .map_err(Error::database("count_by_status"))?;
        let mut counts = StatusCounts::default();
        for row in &rows {
            let status = decode_status(row, "job_counts", 0)?;
            let count: i64 = row.try_get(1).map_err(Error::database("count_by_status"))?;
            let count = u64::try_from(count).map_err(|_| Error::CorruptRecord {
                id: "job_counts".to_owned(),
                message: format!("negative count {count} for status `{status}`"),
            })?;
            counts.set(status, count);
        }
        Ok(counts)
    }

    async fn claim(&self, request: &ClaimRequest) -> Result<Vec<Job>> {
        let mut names: Vec<&str> = request.names.iter().map(String::as_str).collect();
        names.sort_unstable();
        names.dedup();
        if request.limit == 0 || names.is_empty() {
            return Ok(Vec::new());
        }
        let now = encode_time("now", request.now)?;
        let lease = encode_time("lease_until", request.lease_until)?;
        let (statement, names) = match names.as_slice() {
            [name] => (sql::CLAIM_ONE_NAME, (*name).to_owned()),
            _ => (sql::CLAIM_MANY_NAMES, to_json_array(&names)),
        };
        let rows = sqlx::query(statement)
            .bind(now)
            .bind(request.worker_id.clone())
            .bind(lease)
            .bind(names)
            .bind(i64::from(request.limit))
            .fetch_all(&self.writer)
            .await
            .map_err(Error::database("claim"))?;
        let mut jobs = decode_jobs(&rows)?;
        // RETURNING gives no order: restore the claim order.
        jobs.sort_by(|a, b| {
            let key = |job: &Job| {
                (
                    std::cmp::Reverse(job.priority.rank()),
                    job.queued_at.unwrap_or(job.created_at),
                )
            };
            key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
        });
        Ok(jobs)
    }

    async fn register_worker(&self, record: &WorkerRecord) -> Result<()> {
        rows::bind_worker(sqlx::query(sql::UPSERT_WORKER), record)?
            .execute(&self.writer)
            .await
            .map_err(Error::database("register_worker"))?;
        Ok(())
    }

    async fn heartbeat(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<HeartbeatOutcome> {
        let now = encode_time("now", now)?;
        let lease = encode_time("lease_until", lease_until)?;
        let mut tx = self.begin_write("heartbeat").await?;
        let row = sqlx::query(sql::SELECT_WORKER_STATE)
            .bind(worker_id.to_owned())
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::database("heartbeat"))?;
        let Some(row) = row else {
            return Err(Error::WorkerNotFound {
                worker_id: worker_id.to_owned(),
            });
        };
        let revived = worker_state(&row, worker_id)? == WorkerState::Offline;
        sqlx::query(sql::WORKER_HEARTBEAT)
            .bind(worker_id.to_owned())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(Error::database("heartbeat"))?;
        let rows = sqlx::query(sql::RENEW_LEASES)
            .bind(worker_id.to_owned())
            .bind(lease)
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::database("heartbeat"))?;
        let mut held = Vec::with_capacity(rows.len());
        for row in &rows {
            let job_id: String = row.try_get(0).map_err(Error::database("heartbeat"))?;
            let status = decode_status(row, &job_id, 1)?;
            held.push(HeldJob { job_id, status });
        }
        held.sort_by(|a, b| a.job_id.cmp(&b.job_id));
        tx.commit().await.map_err(Error::database("heartbeat"))?;
        Ok(HeartbeatOutcome { held, revived })
    }

    async fn list_workers(&self) -> Result<Vec<WorkerRecord>> {
        let rows = sqlx::query(sql::LIST_WORKERS)
            .fetch_all(&self.reader)
            .await
            .map_err(Error::database("list_workers"))?;
        rows.iter().map(decode_worker).collect()
    }

    async fn get_worker(&self, worker_id: &str) -> Result<Option<WorkerRecord>> {
        let row = sqlx::query(sql::SELECT_WORKER)
            .bind(worker_id.to_owned())
            .fetch_optional(&self.reader)
            .await
            .map_err(Error::database("get_worker"))?;
        row.as_ref().map(decode_worker).transpose()
    }

    async fn mark_worker_offline(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        reason: &str,
        heartbeat_before: Option<DateTime<Utc>>,
    ) -> Result<Option<Vec<Job>>> {
        let now_nanos = encode_time("now", now)?;
        let mut tx = self.begin_write("mark_worker_offline").await?;
        let row = sqlx::query(sql::SELECT_WORKER_STATE)
            .bind(worker_id.to_owned())
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::database("mark_worker_offline"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let state = worker_state(&row, worker_id)?;
        let last_heartbeat: i64 = row.try_get(1).map_err(|e| Error::CorruptRecord {
            id: worker_id.to_owned(),
            message: format!("column `last_heartbeat_at`: {e}"),
        })?;
        if state == WorkerState::Offline
            || heartbeat_before.is_some_and(|cutoff| decode_time(last_heartbeat) >= cutoff)
        {
            return Ok(None);
        }
        sqlx::query(sql::WORKER_OFFLINE)
            .bind(worker_id.to_owned())
            .bind(now_nanos)
            .bind(reason.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(Error::database("mark_worker_offline"))?;
        let rows = sqlx::query(sql::SELECT_HELD)
            .bind(worker_id.to_owned())
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::database("mark_worker_offline"))?;
        let changed = release_all(&mut tx, &rows, now, "mark_worker_offline").await?;
        tx.commit()
            .await
            .map_err(Error::database("mark_worker_offline"))?;
        Ok(Some(changed))
    }

    async fn requeue_expired(&self, now: DateTime<Utc>) -> Result<Vec<Job>> {
        let mut tx = self.begin_write("requeue_expired").await?;
        let rows = sqlx::query(sql::SELECT_EXPIRED)
            .bind(bound_time(now))
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::database("requeue_expired"))?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let changed = release_all(&mut tx, &rows, now, "requeue_expired").await?;
        tx.commit()
            .await
            .map_err(Error::database("requeue_expired"))?;
        Ok(changed)
    }

    async fn scheduled_after(&self, after: DateTime<Utc>, limit: u32) -> Result<Vec<Job>> {
        let rows = sqlx::query(sql::SELECT_SCHEDULED)
            .bind(bound_time(after))
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(Error::database("scheduled_after"))?;
        decode_jobs(&rows)
    }

    async fn purge_finished(&self, finished_before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query(sql::PURGE_FINISHED)
            .bind(bound_time(finished_before))
            .execute(&self.writer)
            .await
            .map_err(Error::database("purge_finished"))?;
        Ok(done.rows_affected())
    }
}

/// The worker state in column 0 of `row`.
fn worker_state(row: &SqliteRow, worker_id: &str) -> Result<WorkerState> {
    let text: &str = row.try_get(0).map_err(|e| Error::CorruptRecord {
        id: worker_id.to_owned(),
        message: format!("column `state`: {e}"),
    })?;
    decode_worker_state(text).ok_or_else(|| Error::CorruptRecord {
        id: worker_id.to_owned(),
        message: format!("column `state`: unknown state `{text}`"),
    })
}
