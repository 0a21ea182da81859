//! The PostgreSQL store: one queue shared by worker processes on many machines.
//!
//! The design (claims with `FOR UPDATE SKIP LOCKED`, row locks for the reapers, counts kept in
//! per-session rows, set-based batches, `LISTEN/NOTIFY` as a hint) is documented on
//! [`PgStore`], where users of the crate see it. `rows` maps jobs and workers to columns, `sql`
//! holds the statements, `ops` the steps the operations share, `listen` the wake-up hints and
//! `log` the event log.

mod listen;
mod log;
mod ops;
mod options;
mod rows;
mod sql;

/// The texts of the store's hot-path statements, for the `pg_floor` example, which runs them
/// without the engine (what PostgreSQL alone costs per job). Not a stable interface.
#[doc(hidden)]
pub mod statements {
    #![allow(
        missing_docs,
        reason = "copies of the store's statements, documented in sql.rs"
    )]
    pub const INSERT_JOBS: &str = super::sql::INSERT_JOBS;
    pub const INSERT_JOBS_LOGGED: &str = super::sql::INSERT_JOBS_LOGGED;
    pub const CLAIM_ONE_NAME: &str = super::sql::CLAIM_ONE_NAME;
    pub const CLAIM_ONE_NAME_LOGGED: &str = super::sql::CLAIM_ONE_NAME_LOGGED;
    pub const CLAIM_ONE_JOB_LOGGED: &str = super::sql::CLAIM_ONE_JOB_LOGGED;
    pub const FINISH_JOBS: &str = super::sql::FINISH_JOBS;
    pub const FINISH_JOBS_LOGGED: &str = super::sql::FINISH_JOBS_LOGGED;
}

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{Postgres, QueryBuilder, Row};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use self::listen::Channels;
use self::log::{EventColumns, applied_events, events_of, write_events};
use self::ops::{
    all_applied, apply_update, decode_jobs, first_duplicate, is_unique_violation, release_all,
    update_distinct, write_job,
};
pub use self::options::PgStoreOptions;
use self::rows::{
    EncodedJob, EncodedOutcome, JobColumns, OutcomeColumns, bound_time, decode_status, decode_time,
    decode_worker,
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

/// How many counter rows (of sessions past and present) make `count_by_status` fold the rows
/// of ended sessions into one per status.
const FOLD_COUNTS_ABOVE: i64 = 512;

/// Jobs and workers in a PostgreSQL database: the store for many machines.
///
/// Cheap to clone (the clones share the connection pool). Open it with [`PgStore::connect`] or
/// [`PgStoreOptions`].
///
/// # Design
///
/// - **Claims skip locked rows.** A claim is one statement: it picks the next jobs in claim
///   order with `FOR UPDATE SKIP LOCKED` and marks them running. Claimers in any number of
///   processes never wait for each other and never get the same job. The partial index
///   `jobs_ready (name, priority DESC, ready_at, id) WHERE status = 'queued'` holds exactly the
///   claimable order, so a claim of `n` jobs of one name reads about `n` index entries; for
///   several names, each name's first `n` are taken from the index and the best `n` kept.
/// - **Reapers lock rows, so each lost job is released once.** Declaring a worker offline
///   locks its record first (of two reapers, the second waits, then sees it offline and does
///   nothing; a heartbeat takes the same lock), then its jobs. Expired leases are selected with
///   `FOR UPDATE SKIP LOCKED`: a job another reaper (or the worker finishing it) holds is left
///   to it, and a job released meanwhile no longer matches. The changes follow
///   [`Job::release_lost`] exactly: the rows are read, changed in Rust and written back in the
///   same transaction.
/// - **One lock order.** Everything that locks several of a worker's jobs and may wait (a
///   heartbeat's lease renewal, a lost worker's release, batches of updates and of ends of
///   attempts) locks them in id order, in the statement itself (`ORDER BY id FOR UPDATE`), so
///   they wait for each other instead of deadlocking. A batch's plan alone did not keep that
///   order (a test races heartbeats with batches of jobs stored against their id order).
/// - **Optimistic updates.** An update is one conditional statement (`WHERE status =
///   expected`); only when it changes nothing does the store lock the row to tell a conflict,
///   a missing job and a forbidden move apart. Batches (`insert_many`, `update_many`) bind one
///   array per column and read them with `unnest`, one statement per 2,048 jobs.
/// - **Counting reads a few rows.** `job_counts` is kept exact in the same transaction as each
///   change: inserts and deletes by statement-level triggers, status changes by the statements
///   that make them (claims, updates, batches), in a data-modifying `WITH` that adds one row
///   per status per statement (migration 0005; a row trigger cost two upserts per changed job,
///   and made batches of ten about 20 % slower). Each database session writes rows of its own,
///   so that concurrent commits never queue on a counter; the rows of ended sessions are folded
///   together when they pile up.
/// - **A wake-up hint.** Triggers `NOTIFY oa_jobs_claimable` (with no payload) when a job
///   becomes queued (inserted queued, or moved to `queued` by an update).
///   [`claimable_signal`](JobStore::claimable_signal) starts one listening connection per store
///   and wakes the workers of this process; workers still poll, so a lost notification only
///   delays a claim by their poll interval.
/// - **A durable event log.** The table `events` holds the events of every process that uses
///   the schema, numbered by an identity sequence. The events of a change
///   ([`JobUpdate::events`], [`ClaimRequest::log`], [`JobStore::insert_logged`], the `_logged`
///   releases) are written with the change, only when it applies, and mostly in the change's
///   own statement (one round trip, not BEGIN, change, events, COMMIT): a claim builds the
///   engine's `worker.claimed_job` and `job.started` from the claimed rows with the SQL
///   functions of migration 0004 (a test compares them with the engine's); an update, a batch
///   of updates and new jobs insert the events they carry in a data-modifying `WITH` (a batch
///   that does not apply in full fails with SQLSTATE `OA001`, writes nothing, and is redone
///   update by update in a transaction); the releases of lost workers insert theirs in the
///   release's transaction. After commits that logged events, one `NOTIFY` on the schema's
///   channel (`oa_jobs_events_<schema>`, no payload) per burst wakes the followers of other
///   processes; it is sent outside the transactions (a notifying transaction holds a
///   database-wide lock through its commit). Numbers are given at insert time but commits
///   come in another order, so readers wait for a hole to fill for up to a settle time: see
///   [`event_log`](JobStore::event_log) and [`PgStoreOptions::settle`].
/// - **Plans that keep to the indexes.** The store's connections run with
///   `enable_seqscan = off`: every statement is built around an index, and PostgreSQL caches
///   one plan per connection and statement, made for the table as it was then; a plan made
///   while the table was nearly empty would read the whole table at every claim while it
///   grows, until autovacuum analyzes it (a test counts the table's sequential scans).
///   Listings, whose filters (any status, a tag, a worker) no index serves, turn them back on
///   for their own transaction. And `jit = off`: the store's statements are short, and a plan
///   with a sequential scan turned off costs more than `jit_above_cost`, so PostgreSQL compiled
///   the listing of the workers at every call (about 100 ms of CPU each; a test reads its plan).
/// - **Bounded purges.** Retention deletes at most 1,000 jobs per transaction, repeating until
///   none is left, so that a large purge never holds locks or bloats one transaction.
/// - **Exact values.** Timestamps are BIGINT nanoseconds since the epoch, as in the SQLite
///   store (TIMESTAMPTZ keeps microseconds, and the engine's clock has nanoseconds); JSON
///   values are JSONB; ids and names sort by bytes (`COLLATE "C"`). Every job field reads back
///   equal to what was written, except what the job's own serde form leaves out. Text and JSON
///   strings cannot hold the character U+0000 (PostgreSQL refuses it).
/// - **Migrations are embedded** (`migrations/postgres/*.sql`) and run on open under
///   PostgreSQL's advisory lock, so processes starting at once apply them once. They are
///   recorded in the table `oa_jobs_migrations`.
#[derive(Debug, Clone)]
pub struct PgStore {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    pool: PgPool,
    /// The settings of the pool's connections, for the listening one.
    connect: PgConnectOptions,
    /// The wake-up signals and the channels they listen to.
    channels: Channels,
    /// Set once the listening task was started (when a signal was first asked for).
    listening: OnceLock<()>,
    /// How long the event log waits for a hole in its numbering to fill.
    settle: Duration,
    /// A notification of the event log's channel is scheduled (see `PgStore::logged`).
    notify_pending: AtomicBool,
    /// Stops the listening task when the store closes or is dropped.
    stop: CancellationToken,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl PgStore {
    /// Connects to the database at `url` with the default options and brings its schema up to
    /// date.
    ///
    /// # Errors
    /// As [`PgStoreOptions::new`] and [`PgStoreOptions::open`].
    pub async fn connect(url: &str) -> Result<Self> {
        PgStoreOptions::new(url)?.open().await
    }

    /// Closes the connections once the calls in progress are done; later calls fail with
    /// [`Error::Database`]. Dropping every clone of the store also closes it.
    pub async fn close(&self) {
        self.shared.stop.cancel();
        self.shared.pool.close().await;
    }

    fn pool(&self) -> &PgPool {
        &self.shared.pool
    }

    /// Starts the task that listens for the notifications of other processes (once per store);
    /// `false` outside a Tokio runtime, where it cannot run.
    fn start_listening(&self) -> bool {
        if self.shared.listening.get().is_some() {
            return true;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        self.shared.listening.get_or_init(|| {
            runtime.spawn(listen::listen(
                self.shared.connect.clone(),
                self.shared.channels.clone(),
                self.shared.stop.clone(),
            ));
        });
        true
    }

    /// Saves new jobs and logs `events` with them, in one transaction: all or nothing.
    async fn insert_jobs(&self, jobs: &[Job], events: &[oa_events::Event]) -> Result<()> {
        const OPERATION: &str = "insert_many";
        if jobs.is_empty() && events.is_empty() {
            return Ok(());
        }
        let mut encoded = jobs
            .iter()
            .map(EncodedJob::new)
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .peekable();
        let events = EncodedEvent::all(events)?;
        let logs = !events.is_empty();
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(Error::database(OPERATION))?;
        if logs && encoded.len() <= sql::MAX_BATCH {
            // The jobs and their events in one statement, a transaction of its own.
            let query = JobColumns::of(encoded).bind(sqlx::query(sql::INSERT_JOBS_LOGGED));
            return match EventColumns::of(events)
                .bind(query)
                .execute(&mut *conn)
                .await
            {
                Ok(_) => {
                    self.logged();
                    Ok(())
                }
                Err(e) if is_unique_violation(&e) => Err(first_duplicate(&mut conn, jobs).await?),
                Err(e) => Err(Error::database(OPERATION)(e)),
            };
        }
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(Error::database(OPERATION))?;
        while encoded.peek().is_some() {
            if let Err(e) = JobColumns::of(encoded.by_ref().take(sql::MAX_BATCH))
                .bind(sqlx::query(sql::INSERT_JOBS))
                .execute(&mut *tx)
                .await
            {
                if !is_unique_violation(&e) {
                    return Err(Error::database(OPERATION)(e));
                }
                tx.rollback().await.map_err(Error::database(OPERATION))?;
                return Err(first_duplicate(&mut conn, jobs).await?);
            }
        }
        write_events(&mut tx, events, OPERATION).await?;
        tx.commit().await.map_err(Error::database(OPERATION))?;
        if logs {
            self.logged();
        }
        Ok(())
    }

    /// [`update`](JobStore::update) of an update with events: the job and its events are written
    /// together, the events only if the update applies. Usually one statement
    /// ([`sql::UPDATE_JOB_LOGGED`]); an update that does not apply as it is is explained (or
    /// applied) inside a transaction with the row locked, as without events.
    async fn update_logged(&self, update: &JobUpdate, encoded: EncodedJob) -> Result<()> {
        const OPERATION: &str = "update";
        let events = EventColumns::of(EncodedEvent::all(&update.events)?);
        let query = encoded
            .bind(sqlx::query(sql::UPDATE_JOB_LOGGED))
            .bind(update.expected.as_str());
        let row = events
            .bind(query)
            .fetch_one(self.pool())
            .await
            .map_err(Error::database(OPERATION))?;
        let written: i64 = row.try_get(0).map_err(Error::database(OPERATION))?;
        if written == 1 {
            self.logged();
            return Ok(());
        }
        // Not written: the job is missing, in another status, or the attempt moved on; find
        // out which with the row locked (and apply the update if it became possible).
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(Error::database(OPERATION))?;
        apply_update(&mut tx, update, OPERATION).await??;
        write_events(&mut tx, EncodedEvent::all(&update.events)?, OPERATION).await?;
        tx.commit().await.map_err(Error::database(OPERATION))?;
        self.logged();
        Ok(())
    }

    /// [`update_many`](JobStore::update_many) in one statement ([`sql::UPDATE_JOBS_LOGGED`]):
    /// every job and every event of the batch, or nothing when some update does not apply.
    /// `None` when the batch is not for this path (a move the state machine forbids, a value
    /// that cannot be stored, more than one statement's worth) or did not apply in full: the
    /// caller then takes the transaction's path, which sorts the updates out one by one.
    async fn update_all_at_once(&self, updates: &[JobUpdate]) -> Result<Option<Vec<Result<()>>>> {
        const OPERATION: &str = "update_many";
        let Some(pending) = whole_batch(updates, EncodedJob::new) else {
            return Ok(None);
        };
        if pending.len() > sql::MAX_BATCH {
            return Ok(None);
        }
        let expected_rows = i64::try_from(pending.len()).unwrap_or(i64::MAX);
        // In any order: the statement locks its rows in id order itself (`lock_in_id_order!`).
        let columns = JobColumns::of_updates(pending);
        let events = events_of(updates)?;
        let logs = !events.is_empty();
        let query = columns.bind_update(sqlx::query(sql::UPDATE_JOBS_LOGGED));
        let query = EventColumns::of(events).bind(query).bind(expected_rows);
        if !all_applied(query, self.pool(), OPERATION).await? {
            return Ok(None);
        }
        if logs {
            self.logged();
        }
        Ok(Some(updates.iter().map(|_| Ok(())).collect()))
    }

    /// [`finish_attempts`](JobStore::finish_attempts) in one statement that writes only the
    /// columns an attempt's end changes, with the events of the batch: [`sql::FINISH_JOB`] (or
    /// its `_LOGGED` form) for one job, [`sql::FINISH_JOBS`] for several, all or nothing. `None`
    /// when nothing was written because the batch is not for this path (a forbidden move, a
    /// value that cannot be stored, a job twice, more than one statement's worth) or did not
    /// apply in full: the caller then writes whole jobs, which reports each update.
    async fn finish_at_once(&self, updates: &[JobUpdate]) -> Result<Option<Vec<Result<()>>>> {
        const OPERATION: &str = "finish_attempts";
        let Some(mut pending) = whole_batch(updates, EncodedOutcome::new) else {
            return Ok(None);
        };
        if pending.is_empty() || pending.len() > sql::MAX_BATCH {
            return Ok(None);
        }
        let events = events_of(updates)?;
        let logs = !events.is_empty();
        let written = if pending.len() == 1
            && let Some((outcome, expected)) = pending.pop()
        {
            let statement = if logs {
                sql::FINISH_JOB_LOGGED
            } else {
                sql::FINISH_JOB
            };
            let mut query = outcome.bind(sqlx::query(statement)).bind(expected.as_str());
            if logs {
                query = EventColumns::of(events).bind(query);
            }
            let row = query
                .fetch_one(self.pool())
                .await
                .map_err(Error::database(OPERATION))?;
            let written: i64 = row.try_get(0).map_err(Error::database(OPERATION))?;
            written == 1
        } else {
            let expected_rows = i64::try_from(pending.len()).unwrap_or(i64::MAX);
            // In any order: the statement locks its rows in id order itself.
            let columns = OutcomeColumns::of(pending);
            let query = if logs {
                EventColumns::of(events).bind(columns.bind(sqlx::query(sql::FINISH_JOBS_LOGGED)))
            } else {
                columns.bind(sqlx::query(sql::FINISH_JOBS))
            };
            all_applied(query.bind(expected_rows), self.pool(), OPERATION).await?
        };
        if !written {
            return Ok(None);
        }
        if logs {
            self.logged();
        }
        Ok(Some(updates.iter().map(|_| Ok(())).collect()))
    }

    /// [`claim`](JobStore::claim) with the claim's events: the claim statement `query`, then the
    /// events `log` builds from the claimed jobs, in one transaction. Nothing is logged when no
    /// job was claimed.
    async fn claim_logged(&self, query: rows::Query, log: &LogEvents) -> Result<Vec<Job>> {
        const OPERATION: &str = "claim";
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(Error::database(OPERATION))?;
        let rows = query
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::database(OPERATION))?;
        let mut jobs = decode_jobs(&rows)?;
        sort_in_claim_order(&mut jobs);
        let events = if jobs.is_empty() {
            Vec::new()
        } else {
            EncodedEvent::all(&log.build(&jobs))?
        };
        let logs = !events.is_empty();
        write_events(&mut tx, events, OPERATION).await?;
        tx.commit().await.map_err(Error::database(OPERATION))?;
        if logs {
            self.logged();
        }
        Ok(jobs)
    }

    /// Counts by status, and how many counter rows there are.
    async fn read_counts(&self) -> Result<(StatusCounts, i64)> {
        const OPERATION: &str = "count_by_status";
        let rows = sqlx::query(sql::SELECT_COUNTS)
            .fetch_all(self.pool())
            .await
            .map_err(Error::database(OPERATION))?;
        let mut counts = StatusCounts::default();
        let mut slots = 0;
        for row in &rows {
            let status = decode_status(row, "job_counts", 0)?;
            let count: i64 = row.try_get(1).map_err(Error::database(OPERATION))?;
            let count = u64::try_from(count).map_err(|_| Error::CorruptRecord {
                id: "job_counts".to_owned(),
                message: format!("negative count {count} for status `{status}`"),
            })?;
            counts.set(status, count);
            slots += row
                .try_get::<i64, _>(2)
                .map_err(Error::database(OPERATION))?;
        }
        Ok((counts, slots))
    }

    /// Folds the counter rows of ended sessions into one row per status, unless another
    /// session is doing it.
    async fn fold_counts(&self) -> Result<()> {
        const OPERATION: &str = "count_by_status";
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(Error::database(OPERATION))?;
        let locked: bool = sqlx::query_scalar(sql::TRY_LOCK_FOLD)
            .fetch_one(&mut *tx)
            .await
            .map_err(Error::database(OPERATION))?;
        if locked {
            sqlx::query(sql::FOLD_COUNTS)
                .execute(&mut *tx)
                .await
                .map_err(Error::database(OPERATION))?;
        }
        tx.commit().await.map_err(Error::database(OPERATION))
    }
}

#[async_trait]
impl JobStore for PgStore {
    async fn insert(&self, job: &Job) -> Result<()> {
        let query = EncodedJob::new(job)?.bind(sqlx::query(sql::INSERT_JOB));
        match query.execute(self.pool()).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(Error::DuplicateJob {
                job_id: job.id.clone(),
            }),
            Err(e) => Err(Error::database("insert")(e)),
        }
    }

    async fn insert_many(&self, jobs: &[Job]) -> Result<()> {
        self.insert_jobs(jobs, &[]).await
    }

    async fn insert_logged(&self, jobs: &[Job], events: &[oa_events::Event]) -> Result<()> {
        self.insert_jobs(jobs, events).await
    }

    async fn get(&self, job_id: &str) -> Result<Option<Job>> {
        let row = sqlx::query(sql::SELECT_JOB)
            .bind(job_id.to_owned())
            .fetch_optional(self.pool())
            .await
            .map_err(Error::database("get"))?;
        row.as_ref().map(rows::decode_job).transpose()
    }

    async fn update(&self, update: &JobUpdate) -> Result<()> {
        const OPERATION: &str = "update";
        let encoded = if check_update(update, update.expected).is_ok() {
            Some(EncodedJob::new(&update.job)?)
        } else {
            // The move is forbidden whatever is stored: report it as the memory store does,
            // from the stored status (a conflict takes precedence), below. Nothing is written.
            None
        };
        let encoded = match encoded {
            Some(encoded) if !update.events.is_empty() => {
                return self.update_logged(update, encoded).await;
            }
            encoded => encoded,
        };
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(Error::database(OPERATION))?;
        if let Some(encoded) = encoded
            && write_job(&mut conn, encoded, update.expected, OPERATION).await?
        {
            return Ok(());
        }
        // Not written: the job is missing, in another status, or the move is forbidden. Find
        // out which with the row locked, so that the answer holds (and an update that became
        // possible meanwhile is applied).
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(Error::database(OPERATION))?;
        let result = apply_update(&mut tx, update, OPERATION).await?;
        tx.commit().await.map_err(Error::database(OPERATION))?;
        result
    }

    async fn update_many(&self, updates: &[JobUpdate]) -> Result<Vec<Result<()>>> {
        const OPERATION: &str = "update_many";
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = HashSet::with_capacity(updates.len());
        let distinct = updates.iter().all(|u| ids.insert(u.job.id.as_str()));
        // With events, one statement instead of a transaction of three. (Without events the
        // transaction is as fast: BEGIN and COMMIT cost less than planning the larger
        // statement, measured 6 % slower in one statement.)
        let logs = updates.iter().any(|update| !update.events.is_empty());
        if distinct
            && logs
            && let Some(results) = self.update_all_at_once(updates).await?
        {
            return Ok(results);
        }
        let mut conn = self
            .pool()
            .acquire()
            .await
            .map_err(Error::database(OPERATION))?;
        let mut tx = sqlx::Connection::begin(&mut *conn)
            .await
            .map_err(Error::database(OPERATION))?;
        if distinct {
            if let Some(results) = update_distinct(&mut tx, updates).await? {
                let events = applied_events(updates, &results)?;
                let logs = !events.is_empty();
                write_events(&mut tx, events, OPERATION).await?;
                tx.commit().await.map_err(Error::database(OPERATION))?;
                if logs {
                    self.logged();
                }
                return Ok(results);
            }
            // Some update did not apply: undo the batch and apply the updates one by one, each
            // succeeding or failing on its own.
            tx.rollback().await.map_err(Error::database(OPERATION))?;
            tx = sqlx::Connection::begin(&mut *conn)
                .await
                .map_err(Error::database(OPERATION))?;
        }
        // In order: a job updated twice in one batch sees its first update.
        let mut results = Vec::with_capacity(updates.len());
        for update in updates {
            results.push(apply_update(&mut tx, update, OPERATION).await?);
        }
        let events = applied_events(updates, &results)?;
        let logs = !events.is_empty();
        write_events(&mut tx, events, OPERATION).await?;
        tx.commit().await.map_err(Error::database(OPERATION))?;
        if logs {
            self.logged();
        }
        Ok(results)
    }

    async fn finish_attempts(&self, updates: &[JobUpdate]) -> Result<Vec<Result<()>>> {
        if let Some(results) = self.finish_at_once(updates).await? {
            return Ok(results);
        }
        // Nothing written: whole jobs, through `update` or `update_many`, which report each
        // update on its own.
        finish_by_updates(self, updates).await
    }

    async fn delete(&self, job_id: &str) -> Result<bool> {
        let done = sqlx::query(sql::DELETE_JOB)
            .bind(job_id.to_owned())
            .execute(self.pool())
            .await
            .map_err(Error::database("delete"))?;
        Ok(done.rows_affected() > 0)
    }

    async fn list(&self, filter: &JobFilter, page: Page) -> Result<JobPage> {
        let mut query = QueryBuilder::<Postgres>::new(sql::LIST_JOBS);
        if !filter.statuses.is_empty() {
            let statuses: Vec<&'static str> = filter.statuses.iter().map(|s| s.as_str()).collect();
            query
                .push(" AND status = ANY(")
                .push_bind(statuses)
                .push(")");
        }
        if let Some(name) = &filter.name {
            query.push(" AND name = ").push_bind(name.clone());
        }
        if let Some(tag) = &filter.tag {
            // `?` is JSONB's "contains this string as an element" (no placeholder: sqlx
            // numbers PostgreSQL's parameters `$n`).
            query.push(" AND tags ? ").push_bind(tag.clone());
        }
        if let Some(priority) = filter.priority {
            // A rank is 0 to 3.
            let rank = i16::try_from(priority.rank()).unwrap_or(i16::MAX);
            query.push(" AND priority = ").push_bind(rank);
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
        // Listings are the one kind of statement whose filters no index serves (any status,
        // a tag, a worker): the planner may read the table whole when that is cheaper, as it
        // could before the store's connections turned sequential scans off.
        let mut tx = self.pool().begin().await.map_err(Error::database("list"))?;
        sqlx::query(sql::ALLOW_SEQSCAN)
            .execute(&mut *tx)
            .await
            .map_err(Error::database("list"))?;
        let rows = query
            .build()
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::database("list"))?;
        tx.commit().await.map_err(Error::database("list"))?;
        let limit = page.limit as usize;
        let more = rows.len() > limit;
        let jobs = decode_jobs(&rows[..rows.len().min(limit)])?;
        Ok(JobPage {
            jobs,
            next_offset: more.then(|| page.offset + u64::from(page.limit)),
        })
    }

    async fn count_by_status(&self) -> Result<StatusCounts> {
        let (counts, slots) = self.read_counts().await?;
        if slots > FOLD_COUNTS_ABOVE {
            self.fold_counts().await?;
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
        let now = rows::encode_time("now", request.now)?;
        let lease = rows::encode_time("lease_until", request.lease_until)?;
        // The engine's claim events are built by the claim statement itself: one round trip
        // instead of four (BEGIN, claim, events, COMMIT). It is given two event ids per job it
        // may take, so larger claims build their events here instead.
        let in_statement = request.log.as_ref().is_some_and(LogEvents::is_claim)
            && request.limit as usize <= sql::MAX_BATCH;
        let statement = match (names.len() == 1, in_statement) {
            (true, false) => sql::CLAIM_ONE_NAME,
            (false, false) => sql::CLAIM_MANY_NAMES,
            (true, true) if request.limit == 1 => sql::CLAIM_ONE_JOB_LOGGED,
            (true, true) => sql::CLAIM_ONE_NAME_LOGGED,
            (false, true) => sql::CLAIM_MANY_NAMES_LOGGED,
        };
        let query = sqlx::query(statement)
            .bind(now)
            .bind(request.worker_id.clone())
            .bind(lease);
        let query = match names.as_slice() {
            [name] => query.bind((*name).to_owned()),
            many => query.bind(many.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()),
        };
        let query = query.bind(i64::from(request.limit));
        let query = if in_statement {
            // Two event ids per job the claim may take (`worker.claimed_job`, `job.started`).
            let ids: Vec<uuid::Uuid> = (0..request.limit.saturating_mul(2))
                .map(|_| uuid::Uuid::now_v7())
                .collect();
            query.bind(ids)
        } else if let Some(log) = &request.log {
            return self.claim_logged(query, log).await;
        } else {
            query
        };
        let rows = query
            .fetch_all(self.pool())
            .await
            .map_err(Error::database("claim"))?;
        if in_statement && !rows.is_empty() {
            self.logged();
        }
        let mut jobs = decode_jobs(&rows)?;
        sort_in_claim_order(&mut jobs);
        Ok(jobs)
    }

    async fn register_worker(&self, record: &WorkerRecord) -> Result<()> {
        rows::bind_worker(sqlx::query(sql::UPSERT_WORKER), record)?
            .execute(self.pool())
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
        const OPERATION: &str = "heartbeat";
        let now = rows::encode_time("now", now)?;
        let lease = rows::encode_time("lease_until", lease_until)?;
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(Error::database(OPERATION))?;
        let row = sqlx::query(sql::LOCK_WORKER_STATE)
            .bind(worker_id.to_owned())
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::database(OPERATION))?;
        let Some(row) = row else {
            return Err(Error::WorkerNotFound {
                worker_id: worker_id.to_owned(),
            });
        };
        let revived = rows::worker_state(&row, worker_id, 0)? == WorkerState::Offline;
        sqlx::query(sql::WORKER_HEARTBEAT)
            .bind(worker_id.to_owned())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(Error::database(OPERATION))?;
        let rows = sqlx::query(sql::RENEW_LEASES)
            .bind(worker_id.to_owned())
            .bind(lease)
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::database(OPERATION))?;
        let mut held = Vec::with_capacity(rows.len());
        for row in &rows {
            let job_id: String = row.try_get(0).map_err(Error::database(OPERATION))?;
            let status = decode_status(row, &job_id, 1)?;
            held.push(HeldJob { job_id, status });
        }
        held.sort_by(|a, b| a.job_id.cmp(&b.job_id));
        tx.commit().await.map_err(Error::database(OPERATION))?;
        Ok(HeartbeatOutcome { held, revived })
    }

    async fn list_workers(&self) -> Result<Vec<WorkerRecord>> {
        let rows = sqlx::query(sql::LIST_WORKERS)
            .fetch_all(self.pool())
            .await
            .map_err(Error::database("list_workers"))?;
        rows.iter().map(decode_worker).collect()
    }

    async fn get_worker(&self, worker_id: &str) -> Result<Option<WorkerRecord>> {
        let row = sqlx::query(sql::SELECT_WORKER)
            .bind(worker_id.to_owned())
            .fetch_optional(self.pool())
            .await
            .map_err(Error::database("get_worker"))?;
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
        let now_nanos = rows::encode_time("now", now)?;
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(Error::database(OPERATION))?;
        let row = sqlx::query(sql::LOCK_WORKER_STATE)
            .bind(worker_id.to_owned())
            .fetch_optional(&mut *tx)
            .await
            .map_err(Error::database(OPERATION))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let state = rows::worker_state(&row, worker_id, 0)?;
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
            .map_err(Error::database(OPERATION))?;
        let rows = sqlx::query(sql::LOCK_HELD)
            .bind(worker_id.to_owned())
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::database(OPERATION))?;
        let changed = release_all(&mut tx, &rows, now, OPERATION).await?;
        // The worker was declared offline: its events are logged even when it held no job (the
        // `worker.offline` event itself).
        let events = match log {
            Some(log) => EncodedEvent::all(&log.build(&changed))?,
            None => Vec::new(),
        };
        let logs = !events.is_empty();
        write_events(&mut tx, events, OPERATION).await?;
        tx.commit().await.map_err(Error::database(OPERATION))?;
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
        let mut tx = self
            .pool()
            .begin()
            .await
            .map_err(Error::database(OPERATION))?;
        let rows = sqlx::query(sql::LOCK_EXPIRED)
            .bind(bound_time(now))
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::database(OPERATION))?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let changed = release_all(&mut tx, &rows, now, OPERATION).await?;
        let events = match log {
            Some(log) if !changed.is_empty() => EncodedEvent::all(&log.build(&changed))?,
            _ => Vec::new(),
        };
        let logs = !events.is_empty();
        write_events(&mut tx, events, OPERATION).await?;
        tx.commit().await.map_err(Error::database(OPERATION))?;
        if logs {
            self.logged();
        }
        Ok(changed)
    }

    async fn scheduled_after(&self, after: DateTime<Utc>, limit: u32) -> Result<Vec<Job>> {
        let rows = sqlx::query(sql::SELECT_SCHEDULED)
            .bind(bound_time(after))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(Error::database("scheduled_after"))?;
        decode_jobs(&rows)
    }

    async fn purge_finished(&self, finished_before: DateTime<Utc>) -> Result<u64> {
        let mut purged = 0;
        loop {
            let done = sqlx::query(sql::PURGE_FINISHED)
                .bind(bound_time(finished_before))
                .bind(sql::PURGE_BATCH)
                .execute(self.pool())
                .await
                .map_err(Error::database("purge_finished"))?;
            purged += done.rows_affected();
            if done.rows_affected() < sql::PURGE_BATCH.unsigned_abs() {
                return Ok(purged);
            }
        }
    }

    fn claimable_signal(&self) -> Option<Arc<Notify>> {
        self.start_listening()
            .then(|| Arc::clone(&self.shared.channels.claimable))
    }

    /// The store's log: see [`EventLog for PgStore`](#impl-EventLog-for-PgStore).
    fn event_log(&self) -> Option<Arc<dyn oa_events::EventLog>> {
        Some(Arc::new(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::{PgStore, PgStoreOptions, sql};

    /// Opens a store of one connection in a fresh schema of the test server, runs `test` with
    /// it, drops the schema and closes the store; `None` (after saying so) when
    /// `OA_TEST_DATABASE_URL` is not set, as the integration tests.
    #[allow(clippy::print_stdout, reason = "a skipped test says why in its output")]
    async fn in_a_fresh_schema<T>(test: impl AsyncFnOnce(&PgStore) -> T) -> Option<T> {
        let Ok(url) = std::env::var("OA_TEST_DATABASE_URL") else {
            println!("skipped: OA_TEST_DATABASE_URL is not set");
            return None;
        };
        let schema = format!("oa_test_{}", uuid::Uuid::now_v7().simple());
        let store = PgStoreOptions::new(&url)
            .unwrap()
            .schema(&schema)
            .max_connections(1)
            .open()
            .await
            .unwrap();
        let outcome = test(&store).await;
        let dropped = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(store.pool())
            .await;
        store.close().await;
        dropped.unwrap();
        Some(outcome)
    }

    /// The plans of the store's connections: a read that no index serves (the workers) is
    /// neither planned as cheap nor compiled to machine code. With sequential scans off, its plan
    /// costs more than `jit_above_cost`, and PostgreSQL compiled it at every run (about 100 ms
    /// of CPU each).
    #[tokio::test]
    async fn no_statement_of_the_store_is_compiled_to_machine_code() {
        let Some(plan) = in_a_fresh_schema(async |store| {
            sqlx::query_scalar::<_, serde_json::Value>(sqlx::AssertSqlSafe(format!(
                "EXPLAIN (FORMAT JSON) {}",
                sql::LIST_WORKERS
            )))
            .fetch_one(store.pool())
            .await
        })
        .await
        else {
            return;
        };
        let plan = plan.unwrap();
        assert!(
            plan[0].get("JIT").is_none(),
            "the listing of the workers is compiled: {plan}"
        );
        let plan = &plan[0]["Plan"];
        assert!(
            plan["Total Cost"].as_f64().unwrap() > 100_000.0,
            "the plan no longer costs more than jit_above_cost, so this test shows nothing: {plan}"
        );
    }

    /// The data of a claim's events is built by expressions planned with the statement: no
    /// SQL function is left to run as a function (PostgreSQL plans the body of one it cannot
    /// inline again at every run of the statement; `oa_jobs_priority`, called by the fourth
    /// migration's functions, is one).
    #[tokio::test]
    async fn a_claims_events_call_no_sql_function() {
        let Some(plans) = in_a_fresh_schema(async |store| {
            let mut plans = Vec::new();
            for (statement, names) in [
                (sql::CLAIM_ONE_JOB_LOGGED, None),
                (sql::CLAIM_ONE_NAME_LOGGED, None),
                (sql::CLAIM_MANY_NAMES_LOGGED, Some(vec!["x", "y"])),
            ] {
                let query = sqlx::query_scalar::<_, serde_json::Value>(sqlx::AssertSqlSafe(
                    format!("EXPLAIN (VERBOSE, FORMAT JSON) {statement}"),
                ))
                .bind(0_i64)
                .bind("w")
                .bind(1_i64);
                let query = match names {
                    Some(names) => query.bind(names),
                    None => query.bind("x"),
                };
                plans.push(
                    query
                        .bind(2_i64)
                        .bind(vec![uuid::Uuid::now_v7(); 4])
                        .fetch_one(store.pool())
                        .await,
                );
            }
            plans
        })
        .await
        else {
            return;
        };
        for plan in plans {
            let plan = plan.unwrap().to_string();
            assert!(plan.contains("jsonb_build_object"), "{plan}");
            assert!(!plan.contains("oa_jobs_"), "a function is called: {plan}");
        }
    }
}
