//! The SQLite store: the embedded default. A process crash loses no acknowledged job.
//!
//! The design (one writer connection and a pool of readers, `BEGIN IMMEDIATE`, claims that
//! walk a partial index, counts kept by triggers, set-based batches) is documented on
//! [`SqliteStore`], where users of the crate see it. `options` opens a store, `connection` holds
//! the writer and the readers, `rows` maps jobs and workers to columns, `sql` holds the
//! statements, `ops` the steps the operations are made of and `log` the event log.

mod connection;
mod inline;
mod log;
mod ops;
mod options;
mod rows;
mod sql;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteConnection;
use sqlx::{QueryBuilder, Row, Sqlite};
use tokio::sync::Notify;

use self::connection::{ReadConnection, Readers, Writer};
use self::log::{write_applied_events, write_events};
use self::ops::{
    apply_update, decode_jobs, decode_status, first_duplicate, is_unique_violation, release_all,
    to_json_array, update_distinct, worker_state, write_job,
};
pub use self::options::{SqliteStoreOptions, SqliteSynchronous};
use self::rows::{
    EncodedJob, EncodedOutcome, bound_time, decode_job, decode_time, decode_worker, encode_time,
};
use super::shared::{EncodedEvent, finish_by_updates, whole_batch};
use super::types::{
    ClaimRequest, HeartbeatOutcome, HeldJob, JobFilter, JobPage, JobUpdate, Page, StatusCounts,
    WorkerRecord, WorkerState,
};
use super::{JobStore, LogEvents};
use super::{check_update, sort_in_claim_order};
use crate::error::{Error, Result};
use crate::job::Job;

/// Jobs and workers in a SQLite database: the embedded default store.
///
/// Cheap to clone (the clones share the connections). Open it with [`SqliteStore::open`] or
/// [`SqliteStoreOptions`].
///
/// # Design
///
/// - **One writer, many readers.** Every write goes through one dedicated connection behind an
///   async mutex, so the writes of one process are serialized in the process (tasks queue for
///   the connection) instead of in SQLite's lock (a busy loop that sleeps). It is not a pool of
///   one: a pool hands each connection back through a spawned task, a cost on every write for
///   nothing. Reads (`get`, `list`, counts, workers, schedules) use a pool of read connections,
///   which WAL lets run while the writer writes. Another process on the same file has its own
///   writer; the two meet at SQLite's write lock, which they wait for up to the busy timeout.
///   An in-memory database exists only inside its one connection, which serves reads too.
/// - **No read-then-write upgrades.** A write that must read first (heartbeats, lost workers,
///   expired leases, batched updates) runs in a `BEGIN IMMEDIATE` transaction, which takes the
///   write lock before reading: two processes never deadlock on an upgrade from a read lock.
///   A claim is a single `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …` statement: SQLite
///   takes the write lock when such a statement starts, so it is one write transaction with no
///   upgrade either, and it costs one round trip to the connection's thread. (A claim of one job
///   compares with `=` instead of `IN`: the temporary list `IN` builds, beside the one that
///   buffers `RETURNING` rows, made glibc hand memory back and fault it in again on every claim,
///   which quadrupled its cost.) Single-job inserts, updates and deletes are single statements
///   too; an update that does not apply is explained inside a `BEGIN IMMEDIATE` transaction.
/// - **The hot writes run on the calling task.** Claims, inserts and updates without events
///   (every write the engine makes per job when it does not log events) go through a second,
///   synchronous connection (rusqlite) to the same file, under the same writer lock, instead of
///   a round trip to sqlx's connection thread (about 45 µs each on a 2-core machine: the whole
///   cost of SQLite's work for a one-job claim). That connection never waits for the lock: when
///   another process holds it, or a batch would apply only in part, or anything fails, it rolls
///   back what it began and the same write is made through sqlx, which waits and reports each
///   case as before. Events, reads and the rarer writes stay on sqlx.
/// - **Claims walk an index.** The partial index `jobs_ready (name, priority DESC, ready_at, id)
///   WHERE status = 'queued'` holds exactly the claimable order, so claiming `n` jobs of one name
///   reads `n` index entries (plus the not-yet-due ones it skips). For several names, each name's
///   first `n` are taken from the index and the best `n` of those are kept.
/// - **Few indexes.** Each index costs every insert, claim and completion a page write, so there
///   are three, all partial: the queue (`jobs_ready`), the held jobs with their leases
///   (`jobs_held`) and the finished jobs by finish time (`jobs_finished`). Listing walks the
///   primary key newest first, filtering as it goes (as the memory store scans); the scheduled
///   jobs, asked for once at start-up, are read from the queue.
/// - **Counting reads 7 rows.** The table `job_counts` is kept exact in the same transaction as
///   each change, by the store itself (migration 0004): the hot writes on the calling task add
///   up a transaction's changes and apply them in one statement before committing; the sqlx
///   writer connection creates TEMP triggers on insert, delete and status change when it
///   connects. (Row triggers in the schema, as before, cost a third of SQLite's work per job.)
/// - **Batches are set-based.** `insert_many` and `update_many` bind up to 512 jobs per statement
///   (an `INSERT … VALUES (…), (…)` and an `UPDATE … FROM (VALUES …)`), cut in power-of-two chunks
///   so that a few statement texts, prepared once per connection, serve every batch size. A
///   batch update returns no rows: when fewer rows changed than updates were sent (a conflict, a
///   missing job), the transaction is rolled back and the updates are applied one by one, each
///   with its own result.
/// - **The ends of attempts write 11 columns.** [`JobStore::finish_attempts`] (a worker's
///   group commit) writes only the columns an attempt's end changes, so the unchanged payload,
///   tags, metadata and retry policy are neither encoded again nor bound: 5 – 10 % of the
///   batched throughput.
/// - **Checkpoints run in the background.** The hot writes' connection never checkpoints (a
///   checkpoint copies the log into the database and syncs it, stalling the write that makes
///   it: a third of the time of a run of one-job claims). After its commits, a task of the
///   store runs a PASSIVE checkpoint (which neither waits for writers nor makes them wait) on a
///   reader connection, so on that connection's thread, 20 ms after the first commit of a
///   burst; it sleeps while nothing is written. The sqlx writer still checkpoints every 4,000
///   pages of its own commits (SQLite's default is 1,000).
/// - **Exact values.** Timestamps are INTEGER nanoseconds since the epoch (exact round trips and
///   comparisons; the years 1677 to 2262 are storable), JSON values are TEXT. Every job field
///   reads back equal to what was written, except what the job's own serde form leaves out
///   ([`JobError::retryable`](crate::JobError::retryable), which is never stored, and
///   sub-millisecond parts of retry delays, which are stored in milliseconds).
/// - **A durable event log.** The table `events` holds the events of every process that uses
///   the file, numbered by `AUTOINCREMENT` (never reused, even after trimming). The events of a
///   change ([`JobUpdate::events`], [`ClaimRequest::log`], [`JobStore::insert_logged`], the
///   `_logged` releases) are inserted in the change's transaction, in one multi-row statement,
///   and only when the change is applied; a change without events costs no statement more. As
///   SQLite has one writer at a time, numbers are given in commit order: see
///   [`event_log`](JobStore::event_log).
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
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    writer: Writer,
    /// The hot writes' connection (a file only: an in-memory database has one connection).
    inline: Option<inline::Inline>,
    /// Stops the checkpointer of the inline connection's writes.
    checkpoints: tokio_util::sync::CancellationToken,
    /// How long a write waits for another process's write lock.
    busy_timeout: std::time::Duration,
    readers: Readers,
    /// Wakes the log's followers in this process after a commit that logged events.
    appended: Arc<Notify>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.checkpoints.cancel();
    }
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

    /// Closes the connections once the calls in progress are done; later calls fail with
    /// [`Error::Database`]. Dropping every clone of the store also closes it.
    pub async fn close(&self) {
        self.shared.checkpoints.cancel();
        self.shared.writer.close().await;
        if let Readers::Pool(pool) = &self.shared.readers {
            pool.close().await;
        }
    }

    fn writer(&self) -> &Writer {
        &self.shared.writer
    }

    /// Makes `write` on the inline connection (the caller holds the writer lock), trying again
    /// every millisecond while another process holds SQLite's write lock, for up to the busy
    /// timeout; `None` when the write is to be made through sqlx instead (no inline connection,
    /// another failure, or the lock stayed taken).
    async fn inline<T>(
        &self,
        mut write: impl FnMut(&inline::Inline) -> Result<T, inline::NotMade>,
    ) -> Option<T> {
        let inline = self.shared.inline.as_ref()?;
        let deadline = tokio::time::Instant::now() + self.shared.busy_timeout;
        loop {
            match write(inline) {
                Ok(value) => return Some(value),
                Err(inline::NotMade::Busy) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                Err(_) => return None,
            }
        }
    }

    /// Saves new jobs and logs `events` with them, in one transaction: all or nothing.
    async fn insert_jobs(&self, jobs: &[Job], events: &[oa_events::Event]) -> Result<()> {
        const OPERATION: &str = "insert_many";
        if jobs.is_empty() && events.is_empty() {
            return Ok(());
        }
        let encoded = jobs
            .iter()
            .map(EncodedJob::new)
            .collect::<Result<Vec<_>>>()?;
        let events = EncodedEvent::all(events)?;
        let logs = !events.is_empty();
        let w = self.writer();
        let mut conn = w.lock(OPERATION).await?;
        if !logs
            && self
                .inline(|inline| inline.insert(&encoded))
                .await
                .is_some()
        {
            return Ok(());
        }
        let conn: &mut SqliteConnection = &mut conn;
        let mut tx = w.begin(&mut *conn, OPERATION).await?;
        let mut encoded = encoded.into_iter();
        for size in sql::chunks(jobs.len()) {
            let query = encoded
                .by_ref()
                .take(size)
                .fold(sqlx::query(sql::insert_jobs(size)), |query, job| {
                    job.bind(query)
                });
            if let Err(e) = query.execute(&mut *tx).await {
                if !is_unique_violation(&e) {
                    return Err(w.error(OPERATION)(e));
                }
                tx.rollback().await.map_err(w.error(OPERATION))?;
                return Err(first_duplicate(w, conn, jobs).await?);
            }
        }
        write_events(w, &mut tx, events, OPERATION).await?;
        tx.commit().await.map_err(w.error(OPERATION))?;
        if logs {
            self.logged();
        }
        Ok(())
    }

    /// [`update`](JobStore::update) of an update with events: the job and its events are written
    /// in one transaction, the events only if the update applies.
    async fn update_logged(&self, update: &JobUpdate, encoded: EncodedJob) -> Result<()> {
        const OPERATION: &str = "update";
        let events = EncodedEvent::all(&update.events)?;
        let w = self.writer();
        let mut conn = w.lock(OPERATION).await?;
        let conn: &mut SqliteConnection = &mut conn;
        let mut tx = w.begin(&mut *conn, OPERATION).await?;
        let applied = if write_job(w, &mut tx, encoded, update.expected, OPERATION).await? {
            Ok(())
        } else {
            // Not written: the job is missing or in another status (the write lock is held, so
            // the answer holds).
            apply_update(w, &mut tx, update, OPERATION).await?
        };
        applied?;
        write_events(w, &mut tx, events, OPERATION).await?;
        tx.commit().await.map_err(w.error(OPERATION))?;
        self.logged();
        Ok(())
    }

    /// [`claim`](JobStore::claim) with the claim's events: the claim statement `query`, then the
    /// events `log` builds from the claimed jobs, in one transaction. Nothing is logged when no
    /// job was claimed.
    async fn claim_logged(&self, query: rows::Query, log: &LogEvents) -> Result<Vec<Job>> {
        const OPERATION: &str = "claim";
        let w = self.writer();
        let mut conn = w.lock(OPERATION).await?;
        let conn: &mut SqliteConnection = &mut conn;
        let mut tx = w.begin(&mut *conn, OPERATION).await?;
        let rows = query
            .fetch_all(&mut *tx)
            .await
            .map_err(w.error(OPERATION))?;
        let mut jobs = decode_jobs(&rows)?;
        sort_in_claim_order(&mut jobs);
        let events = if jobs.is_empty() {
            Vec::new()
        } else {
            EncodedEvent::all(&log.build(&jobs))?
        };
        let logs = !events.is_empty();
        write_events(w, &mut tx, events, OPERATION).await?;
        tx.commit().await.map_err(w.error(OPERATION))?;
        if logs {
            self.logged();
        }
        Ok(jobs)
    }

    /// A connection to read with.
    async fn reader(&self, operation: &'static str) -> Result<ReadConnection<'_>> {
        match &self.shared.readers {
            Readers::Pool(pool) => pool
                .acquire()
                .await
                .map(ReadConnection::Pooled)
                .map_err(self.writer().error(operation)),
            Readers::Writer => self
                .writer()
                .lock(operation)
                .await
                .map(ReadConnection::Writer),
        }
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn insert(&self, job: &Job) -> Result<()> {
        let encoded = EncodedJob::new(job)?;
        let mut conn = self.writer().lock("insert").await?;
        if self
            .inline(|inline| inline.insert(std::slice::from_ref(&encoded)))
            .await
            .is_some()
        {
            return Ok(());
        }
        let query = encoded.bind(sqlx::query(sql::insert_jobs(1)));
        match query.execute(&mut *conn).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(Error::DuplicateJob {
                job_id: job.id.clone(),
            }),
            Err(e) => Err(self.writer().error("insert")(e)),
        }
    }

    async fn insert_many(&self, jobs: &[Job]) -> Result<()> {
        self.insert_jobs(jobs, &[]).await
    }

    async fn insert_logged(&self, jobs: &[Job], events: &[oa_events::Event]) -> Result<()> {
        self.insert_jobs(jobs, events).await
    }

    async fn get(&self, job_id: &str) -> Result<Option<Job>> {
        let mut conn = self.reader("get").await?;
        let row = sqlx::query(sql::SELECT_JOB)
            .bind(job_id.to_owned())
            .fetch_optional(&mut *conn)
            .await
            .map_err(self.writer().error("get"))?;
        row.as_ref().map(decode_job).transpose()
    }

    async fn update(&self, update: &JobUpdate) -> Result<()> {
        const OPERATION: &str = "update";
        let w = self.writer();
        if check_update(update, update.expected).is_err() {
            // The move is forbidden whatever is stored; report it as the memory store does,
            // from the stored status (a conflict takes precedence). Nothing is written.
            let mut conn = self.reader(OPERATION).await?;
            let stored = ops::stored_status(w, &mut conn, &update.job.id, OPERATION)
                .await?
                .ok_or_else(|| Error::JobNotFound {
                    job_id: update.job.id.clone(),
                })?;
            return check_update(update, stored);
        }
        let encoded = EncodedJob::new(&update.job)?;
        if !update.events.is_empty() {
            return self.update_logged(update, encoded).await;
        }
        let mut conn = w.lock(OPERATION).await?;
        let one = [(encoded, update.expected)];
        if self.inline(|inline| inline.update(&one)).await.is_some() {
            return Ok(());
        }
        let [(encoded, _)] = one;
        let conn: &mut SqliteConnection = &mut conn;
        if write_job(w, conn, encoded, update.expected, OPERATION).await? {
            return Ok(());
        }
        // Not written: the job is missing or in another status. Find out which inside a write
        // transaction, so that the answer holds (another process may move the job meanwhile).
        let mut tx = w.begin(&mut *conn, OPERATION).await?;
        apply_update(w, &mut tx, update, OPERATION).await??;
        tx.commit().await.map_err(w.error(OPERATION))
    }

    async fn update_many(&self, updates: &[JobUpdate]) -> Result<Vec<Result<()>>> {
        const OPERATION: &str = "update_many";
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let w = self.writer();
        let mut conn = w.lock(OPERATION).await?;
        if self.shared.inline.is_some()
            && updates.iter().all(|update| update.events.is_empty())
            && let Some(pending) = whole_batch(updates, EncodedJob::new)
            && self
                .inline(|inline| inline.update(&pending))
                .await
                .is_some()
        {
            return Ok(updates.iter().map(|_| Ok(())).collect());
        }
        let conn: &mut SqliteConnection = &mut conn;
        let mut tx = w.begin(&mut *conn, OPERATION).await?;
        let mut ids = HashSet::with_capacity(updates.len());
        if updates.iter().all(|u| ids.insert(u.job.id.as_str())) {
            if let Some(results) = update_distinct(w, &mut tx, updates).await? {
                let logs = write_applied_events(w, &mut tx, updates, &results, OPERATION).await?;
                tx.commit().await.map_err(w.error(OPERATION))?;
                if logs {
                    self.logged();
                }
                return Ok(results);
            }
            // Some update did not apply: undo the batch and apply the updates one by one, each
            // succeeding or failing on its own.
            tx.rollback().await.map_err(w.error(OPERATION))?;
            tx = w.begin(&mut *conn, OPERATION).await?;
        }
        // In order: a job updated twice in one batch sees its first update.
        let mut results = Vec::with_capacity(updates.len());
        for update in updates {
            results.push(apply_update(w, &mut tx, update, OPERATION).await?);
        }
        let logs = write_applied_events(w, &mut tx, updates, &results, OPERATION).await?;
        tx.commit().await.map_err(w.error(OPERATION))?;
        if logs {
            self.logged();
        }
        Ok(results)
    }

    async fn finish_attempts(&self, updates: &[JobUpdate]) -> Result<Vec<Result<()>>> {
        if self.shared.inline.is_some()
            && updates.iter().all(|update| update.events.is_empty())
            && let Some(outcomes) = whole_batch(updates, EncodedOutcome::new)
        {
            let made = {
                let _writer = self.writer().lock("finish_attempts").await?;
                self.inline(|inline| inline.update(&outcomes)).await
            };
            if made.is_some() {
                return Ok(updates.iter().map(|_| Ok(())).collect());
            }
        }
        // Not made (nothing written): the same updates, whole, through `update` or
        // `update_many`, which report each one.
        finish_by_updates(self, updates).await
    }

    async fn delete(&self, job_id: &str) -> Result<bool> {
        let mut conn = self.writer().lock("delete").await?;
        let done = sqlx::query(sql::DELETE_JOB)
            .bind(job_id.to_owned())
            .execute(&mut *conn)
            .await
            .map_err(self.writer().error("delete"))?;
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
        let mut conn = self.reader("list").await?;
        let rows = query
            .build()
            .fetch_all(&mut *conn)
            .await
            .map_err(self.writer().error("list"))?;
        let limit = page.limit as usize;
        let more = rows.len() > limit;
        let jobs = decode_jobs(&rows[..rows.len().min(limit)])?;
        Ok(JobPage {
            jobs,
            next_offset: more.then(|| page.offset + u64::from(page.limit)),
        })
    }

    async fn count_by_status(&self) -> Result<StatusCounts> {
        const OPERATION: &str = "count_by_status";
        let mut conn = self.reader(OPERATION).await?;
        let rows = sqlx::query(sql::SELECT_COUNTS)
            .fetch_all(&mut *conn)
            .await
            .map_err(self.writer().error(OPERATION))?;
        let mut counts = StatusCounts::default();
        for row in &rows {
            let status = decode_status(row, "job_counts", 0)?;
            let count: i64 = row.try_get(1).map_err(self.writer().error(OPERATION))?;
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
        let one_job = request.limit == 1;
        let (statement, names) = match (names.as_slice(), one_job) {
            ([name], true) => (sql::CLAIM_ONE_NAME_ONE_JOB, (*name).to_owned()),
            ([name], false) => (sql::CLAIM_ONE_NAME, (*name).to_owned()),
            (_, true) => (sql::CLAIM_MANY_NAMES_ONE_JOB, to_json_array(&names)),
            (_, false) => (sql::CLAIM_MANY_NAMES, to_json_array(&names)),
        };
        let limit = i64::from(request.limit);
        let query = sqlx::query(statement)
            .bind(now)
            .bind(request.worker_id.clone())
            .bind(lease)
            .bind(names.clone())
            .bind(limit);
        if let Some(log) = &request.log {
            return self.claim_logged(query, log).await;
        }
        let rows = {
            let mut conn = self.writer().lock("claim").await?;
            if let Some(claimed) = self
                .inline(|inline| {
                    inline.claim(statement, now, &request.worker_id, lease, &names, limit)
                })
                .await
            {
                let mut jobs = claimed?;
                sort_in_claim_order(&mut jobs);
                return Ok(jobs);
            }
            query
                .fetch_all(&mut *conn)
                .await
                .map_err(self.writer().error("claim"))?
        };
        let mut jobs = decode_jobs(&rows)?;
        sort_in_claim_order(&mut jobs);
        Ok(jobs)
    }

    async fn register_worker(&self, record: &WorkerRecord) -> Result<()> {
        let query = rows::bind_worker(sqlx::query(sql::UPSERT_WORKER), record)?;
        let mut conn = self.writer().lock("register_worker").await?;
        query
            .execute(&mut *conn)
            .await
            .map_err(self.writer().error("register_worker"))?;
        Ok(())
    }

    async fn heartbeat(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<HeartbeatOutcome> {
        const OPERATION: &str = "heartbeat";
        let now = encode_time("now", now)?;
        let lease = encode_time("lease_until", lease_until)?;
        let w = self.writer();
        let mut conn = w.lock(OPERATION).await?;
        let conn: &mut SqliteConnection = &mut conn;
        let mut tx = w.begin(&mut *conn, OPERATION).await?;
        let row = sqlx::query(sql::SELECT_WORKER_STATE)
            .bind(worker_id.to_owned())
            .fetch_optional(&mut *tx)
            .await
            .map_err(w.error(OPERATION))?;
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
            .map_err(w.error(OPERATION))?;
        let rows = sqlx::query(sql::RENEW_LEASES)
            .bind(worker_id.to_owned())
            .bind(lease)
            .fetch_all(&mut *tx)
            .await
            .map_err(w.error(OPERATION))?;
        let mut held = Vec::with_capacity(rows.len());
        for row in &rows {
            let job_id: String = row.try_get(0).map_err(w.error(OPERATION))?;
            let status = decode_status(row, &job_id, 1)?;
            held.push(HeldJob { job_id, status });
        }
        held.sort_by(|a, b| a.job_id.cmp(&b.job_id));
        tx.commit().await.map_err(w.error(OPERATION))?;
        Ok(HeartbeatOutcome { held, revived })
    }

    async fn list_workers(&self) -> Result<Vec<WorkerRecord>> {
        let mut conn = self.reader("list_workers").await?;
        let rows = sqlx::query(sql::LIST_WORKERS)
            .fetch_all(&mut *conn)
            .await
            .map_err(self.writer().error("list_workers"))?;
        rows.iter().map(decode_worker).collect()
    }

    async fn get_worker(&self, worker_id: &str) -> Result<Option<WorkerRecord>> {
        let mut conn = self.reader("get_worker").await?;
        let row = sqlx::query(sql::SELECT_WORKER)
            .bind(worker_id.to_owned())
            .fetch_optional(&mut *conn)
            .await
            .map_err(self.writer().error("get_worker"))?;
        row.as_ref().map(decode_worker).transpose()
    }

    async fn mark_worker_offline_logged(
        &self,
        worker_id: &str,
        now: DateTime<Utc>,
        reason: &str,
        heartbeat_before: Option<DateTime<Utc>>,
        log: Option<&LogEvents>,
    ) -> Result<Option<Vec<Job>>> {
        const OPERATION: &str = "mark_worker_offline";
        let now_nanos = encode_time("now", now)?;
        let w = self.writer();
        let mut conn = w.lock(OPERATION).await?;
        let conn: &mut SqliteConnection = &mut conn;
        let mut tx = w.begin(&mut *conn, OPERATION).await?;
        let row = sqlx::query(sql::SELECT_WORKER_STATE)
            .bind(worker_id.to_owned())
            .fetch_optional(&mut *tx)
            .await
            .map_err(w.error(OPERATION))?;
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
            .map_err(w.error(OPERATION))?;
        let rows = sqlx::query(sql::SELECT_HELD)
            .bind(worker_id.to_owned())
            .fetch_all(&mut *tx)
            .await
            .map_err(w.error(OPERATION))?;
        let changed = release_all(w, &mut tx, &rows, now, OPERATION).await?;
        // The worker was declared offline: its events are logged even when it held no job (the
        // `worker.offline` event itself).
        let events = match log {
            Some(log) => EncodedEvent::all(&log.build(&changed))?,
            None => Vec::new(),
        };
        let logs = !events.is_empty();
        write_events(w, &mut tx, events, OPERATION).await?;
        tx.commit().await.map_err(w.error(OPERATION))?;
        if logs {
            self.logged();
        }
        Ok(Some(changed))
    }

    async fn requeue_expired_logged(
        &self,
        now: DateTime<Utc>,
        log: Option<&LogEvents>,
    ) -> Result<Vec<Job>> {
        const OPERATION: &str = "requeue_expired";
        // The reaper asks often and the answer is usually "none": find out without the write
        // lock first.
        let expired = {
            let mut conn = self.reader(OPERATION).await?;
            sqlx::query(sql::ANY_EXPIRED)
                .bind(bound_time(now))
                .fetch_optional(&mut *conn)
                .await
                .map_err(self.writer().error(OPERATION))?
        };
        if expired.is_none() {
            return Ok(Vec::new());
        }
        let w = self.writer();
        let mut conn = w.lock(OPERATION).await?;
        let conn: &mut SqliteConnection = &mut conn;
        let mut tx = w.begin(&mut *conn, OPERATION).await?;
        let rows = sqlx::query(sql::SELECT_EXPIRED)
            .bind(bound_time(now))
            .fetch_all(&mut *tx)
            .await
            .map_err(w.error(OPERATION))?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let changed = release_all(w, &mut tx, &rows, now, OPERATION).await?;
        let events = match log {
            Some(log) if !changed.is_empty() => EncodedEvent::all(&log.build(&changed))?,
            _ => Vec::new(),
        };
        let logs = !events.is_empty();
        write_events(w, &mut tx, events, OPERATION).await?;
        tx.commit().await.map_err(w.error(OPERATION))?;
        if logs {
            self.logged();
        }
        Ok(changed)
    }

    async fn scheduled_after(&self, after: DateTime<Utc>, limit: u32) -> Result<Vec<Job>> {
        let mut conn = self.reader("scheduled_after").await?;
        let rows = sqlx::query(sql::SELECT_SCHEDULED)
            .bind(bound_time(after))
            .bind(i64::from(limit))
            .fetch_all(&mut *conn)
            .await
            .map_err(self.writer().error("scheduled_after"))?;
        decode_jobs(&rows)
    }

    async fn purge_finished(&self, finished_before: DateTime<Utc>) -> Result<u64> {
        let mut conn = self.writer().lock("purge_finished").await?;
        let done = sqlx::query(sql::PURGE_FINISHED)
            .bind(bound_time(finished_before))
            .execute(&mut *conn)
            .await
            .map_err(self.writer().error("purge_finished"))?;
        Ok(done.rows_affected())
    }

    /// The store's log: see [`EventLog for SqliteStore`](#impl-EventLog-for-SqliteStore).
    fn event_log(&self) -> Option<Arc<dyn oa_events::EventLog>> {
        Some(Arc::new(self.clone()))
    }
}
