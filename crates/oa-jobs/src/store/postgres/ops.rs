//! The steps the store's operations are made of, each on a connection (usually inside a
//! transaction the caller holds).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::{PgConnection, PgRow};

use super::rows::{EncodedJob, JobColumns, decode_job, decode_status};
use super::sql;
use crate::error::{Error, Result};
use crate::job::{Job, LostOutcome};
use crate::status::JobStatus;
use crate::store::types::JobUpdate;
use crate::store::{BatchPlan, batch_results, check_update, first_duplicate_id, plan_batch};

pub(super) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

pub(super) fn decode_jobs(rows: &[PgRow]) -> Result<Vec<Job>> {
    rows.iter().map(decode_job).collect()
}

/// Runs a batch statement that writes all of its updates or none (it fails with SQLSTATE
/// [`sql::NOT_ALL_APPLIED`] when some did not apply); whether it wrote them.
pub(super) async fn all_applied(
    query: super::rows::Query,
    pool: &sqlx::PgPool,
    operation: &'static str,
) -> Result<bool> {
    match query.execute(pool).await {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(sql::NOT_ALL_APPLIED) => {
            Ok(false)
        }
        Err(e) => Err(Error::database(operation)(e)),
    }
}

/// Writes `job` over the stored row if its status is still `expected`; whether it did.
pub(super) async fn write_job(
    conn: &mut PgConnection,
    job: EncodedJob,
    expected: JobStatus,
    operation: &'static str,
) -> Result<bool> {
    let written: i64 = job
        .bind(sqlx::query(sql::UPDATE_JOB))
        .bind(expected.as_str())
        .fetch_one(conn)
        .await
        .and_then(|row| row.try_get(0))
        .map_err(Error::database(operation))?;
    Ok(written == 1)
}

/// Applies one update as [`MemoryStore`](crate::MemoryStore) does, inside the caller's
/// transaction: the stored status is locked first, so the answer holds until the commit. The
/// outer error is the database's, the inner one the update's own (nothing written).
pub(super) async fn apply_update(
    conn: &mut PgConnection,
    update: &JobUpdate,
    operation: &'static str,
) -> Result<Result<()>> {
    let row = sqlx::query(sql::LOCK_STATUS)
        .bind(update.job.id.clone())
        .fetch_optional(&mut *conn)
        .await
        .map_err(Error::database(operation))?;
    let Some(row) = row else {
        return Ok(Err(Error::JobNotFound {
            job_id: update.job.id.clone(),
        }));
    };
    let stored = decode_status(&row, &update.job.id, 0)?;
    if let Err(e) = check_update(update, stored) {
        return Ok(Err(e));
    }
    let job = match EncodedJob::new(&update.job) {
        Ok(job) => job,
        Err(e) => return Ok(Err(e)),
    };
    // The status matched; nothing written means the attempt did not.
    if !write_job(conn, job, update.expected, operation).await? {
        return Ok(Err(Error::StaleAttempt {
            job_id: update.job.id.clone(),
            attempt: update.job.attempt,
        }));
    }
    Ok(Ok(()))
}

/// Releases ([`Job::release_lost`]) each held job of `rows` (locked by the caller) and writes
/// the changed ones back in one statement; returns them sorted by id.
pub(super) async fn release_all(
    conn: &mut PgConnection,
    rows: &[PgRow],
    now: DateTime<Utc>,
    operation: &'static str,
) -> Result<Vec<Job>> {
    let mut changed = Vec::with_capacity(rows.len());
    let mut columns = JobColumns::with_capacity(rows.len());
    for row in rows {
        let mut job = decode_job(row)?;
        let expected = job.status;
        if job.release_lost(now) == LostOutcome::NotHeld {
            continue;
        }
        columns.push_update(EncodedJob::new(&job)?, expected);
        changed.push(job);
    }
    if !columns.is_empty() {
        columns
            .bind_update(sqlx::query(sql::UPDATE_JOBS))
            .execute(&mut *conn)
            .await
            .map_err(Error::database(operation))?;
    }
    changed.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(changed)
}

/// The first job of `jobs` (in order) whose id is taken or repeated, as the memory store
/// reports it. Called after an insert failed on a unique id, once its transaction is gone.
pub(super) async fn first_duplicate(conn: &mut PgConnection, jobs: &[Job]) -> Result<Error> {
    let ids: Vec<String> = jobs.iter().map(|job| job.id.clone()).collect();
    let rows = sqlx::query(sql::SELECT_TAKEN_IDS)
        .bind(ids)
        .fetch_all(conn)
        .await
        .map_err(Error::database("insert_many"))?;
    let taken: HashSet<String> = rows
        .iter()
        .filter_map(|row| row.try_get::<String, _>(0).ok())
        .collect();
    let duplicate = first_duplicate_id(jobs, |id| taken.contains(id))
        // Another process removed the clashing job in between: name the first id.
        .or_else(|| jobs.first().map(|job| job.id.as_str()))
        .unwrap_or_default();
    Ok(Error::DuplicateJob {
        job_id: duplicate.to_owned(),
    })
}

/// `update_many` of updates with distinct ids, inside the caller's transaction: one set-based
/// statement per batch for the updates the state machine allows. `None` when some of them did
/// not apply (a conflict or a missing job): the caller rolls back and applies them one by one.
pub(super) async fn update_distinct(
    conn: &mut PgConnection,
    updates: &[JobUpdate],
) -> Result<Option<Vec<Result<()>>>> {
    const OPERATION: &str = "update_many";
    let BatchPlan {
        outcomes,
        pending,
        forbidden,
    } = plan_batch(updates, EncodedJob::new);
    let expected_rows = pending.len() as u64;
    let mut changed_rows = 0;
    // Rows are locked in id order (as a heartbeat's lease renewal locks them), so that two
    // transactions over the same jobs wait for each other instead of deadlocking: each
    // statement locks its own rows in that order (`lock_in_id_order!`), and the statements of
    // a large batch take the ids in that order too.
    let mut pending = pending;
    pending.sort_unstable_by(|a, b| a.0.id().cmp(b.0.id()));
    let mut pending = pending.into_iter().peekable();
    while pending.peek().is_some() {
        let written: i64 = JobColumns::of_updates(pending.by_ref().take(sql::MAX_BATCH))
            .bind_update(sqlx::query(sql::UPDATE_JOBS))
            .fetch_one(&mut *conn)
            .await
            .and_then(|row| row.try_get(0))
            .map_err(Error::database(OPERATION))?;
        changed_rows += written.unsigned_abs();
    }
    if changed_rows != expected_rows {
        return Ok(None);
    }
    let mut stored: HashMap<String, JobStatus> = HashMap::with_capacity(forbidden.len());
    if !forbidden.is_empty() {
        let forbidden: Vec<String> = forbidden.into_iter().map(str::to_owned).collect();
        let rows = sqlx::query(sql::SELECT_STATUSES)
            .bind(forbidden)
            .fetch_all(&mut *conn)
            .await
            .map_err(Error::database(OPERATION))?;
        for row in &rows {
            let id: String = row.try_get(0).map_err(Error::database(OPERATION))?;
            let status = decode_status(row, &id, 1)?;
            stored.insert(id, status);
        }
    }
    Ok(Some(batch_results(updates, outcomes, &stored)))
}
