//! The steps the store's operations are made of, each on a connection (usually inside a
//! transaction the caller holds).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnection, SqliteRow};

use super::connection::Writer;
use super::rows::{EncodedJob, Query, decode_job, decode_worker_state};
use super::sql;
use crate::error::{Error, Result};
use crate::job::{Job, LostOutcome};
use crate::status::JobStatus;
use crate::store::types::{JobUpdate, WorkerState};
use crate::store::{BatchPlan, batch_results, check_update, first_duplicate_id, plan_batch};

pub(super) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

pub(super) fn to_json_array(items: &[&str]) -> String {
    // A list of strings always serializes.
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

/// The job status in column `index` of `row`, the row of job `id`.
pub(super) fn decode_status(row: &SqliteRow, id: &str, index: usize) -> Result<JobStatus> {
    let text: &str = row.try_get(index).map_err(|e| Error::CorruptRecord {
        id: id.to_owned(),
        message: format!("column `status`: {e}"),
    })?;
    text.parse().map_err(|_| Error::CorruptRecord {
        id: id.to_owned(),
        message: format!("column `status`: unknown status `{text}`"),
    })
}

/// The worker state in column 0 of `row`, the row of worker `worker_id`.
pub(super) fn worker_state(row: &SqliteRow, worker_id: &str) -> Result<WorkerState> {
    let text: &str = row.try_get(0).map_err(|e| Error::CorruptRecord {
        id: worker_id.to_owned(),
        message: format!("column `state`: {e}"),
    })?;
    decode_worker_state(text).ok_or_else(|| Error::CorruptRecord {
        id: worker_id.to_owned(),
        message: format!("column `state`: unknown state `{text}`"),
    })
}

pub(super) fn decode_jobs(rows: &[SqliteRow]) -> Result<Vec<Job>> {
    rows.iter().map(decode_job).collect()
}

/// The stored status of a job, if it exists.
pub(super) async fn stored_status(
    writer: &Writer,
    conn: &mut SqliteConnection,
    job_id: &str,
    operation: &'static str,
) -> Result<Option<JobStatus>> {
    let row = sqlx::query(sql::SELECT_STATUS)
        .bind(job_id.to_owned())
        .fetch_optional(conn)
        .await
        .map_err(writer.error(operation))?;
    row.map(|row| decode_status(&row, job_id, 0)).transpose()
}

/// Writes `job` over the stored row if its status is still `expected`; whether it did.
pub(super) async fn write_job(
    writer: &Writer,
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
        .map_err(writer.error(operation))?;
    Ok(done.rows_affected() == 1)
}

/// Applies one update as [`MemoryStore`](crate::MemoryStore) does: the outer error is the
/// database's, the inner one the update's own (nothing written).
pub(super) async fn apply_update(
    writer: &Writer,
    conn: &mut SqliteConnection,
    update: &JobUpdate,
    operation: &'static str,
) -> Result<Result<()>> {
    let Some(stored) = stored_status(writer, conn, &update.job.id, operation).await? else {
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
    // The status matched; nothing written means the attempt did not.
    if !write_job(writer, conn, job, update.expected, operation).await? {
        return Ok(Err(Error::StaleAttempt {
            job_id: update.job.id.clone(),
            attempt: update.job.attempt,
        }));
    }
    Ok(Ok(()))
}

/// Releases ([`Job::release_lost`]) each held job of `rows` and writes the changed ones back;
/// returns them sorted by id.
pub(super) async fn release_all(
    writer: &Writer,
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
        write_job(writer, conn, EncodedJob::new(&job)?, expected, operation).await?;
        changed.push(job);
    }
    changed.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(changed)
}

/// The first job of `jobs` (in order) whose id is taken or repeated, as the memory store
/// reports it. Called after an insert failed on a unique id, once its transaction is gone.
pub(super) async fn first_duplicate(
    writer: &Writer,
    conn: &mut SqliteConnection,
    jobs: &[Job],
) -> Result<Error> {
    let ids: Vec<&str> = jobs.iter().map(|job| job.id.as_str()).collect();
    let rows = sqlx::query(sql::SELECT_TAKEN_IDS)
        .bind(to_json_array(&ids))
        .fetch_all(conn)
        .await
        .map_err(writer.error("insert_many"))?;
    let taken: HashSet<String> = rows
        .iter()
        .filter_map(|row| row.try_get::<String, _>(0).ok())
        .collect();
    let duplicate = first_duplicate_id(jobs, |id| taken.contains(id))
        // Another process removed the clashing job in between: name the first id.
        .or_else(|| ids.first().copied())
        .unwrap_or_default();
    Ok(Error::DuplicateJob {
        job_id: duplicate.to_owned(),
    })
}

/// `update_many` of updates with distinct ids, inside the caller's transaction: one set-based
/// statement per chunk for the updates the state machine allows. `None` when some of them did
/// not apply (a conflict or a missing job): the caller rolls back and applies them one by one.
pub(super) async fn update_distinct(
    writer: &Writer,
    conn: &mut SqliteConnection,
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
    let mut pending = pending.into_iter();
    for size in sql::chunks(pending.len()) {
        let mut query: Query = sqlx::query(sql::update_jobs(size));
        for (job, expected) in pending.by_ref().take(size) {
            query = job.bind(query).bind(expected.as_str());
        }
        let done = query
            .execute(&mut *conn)
            .await
            .map_err(writer.error(OPERATION))?;
        changed_rows += done.rows_affected();
    }
    if changed_rows != expected_rows {
        return Ok(None);
    }
    let mut stored: HashMap<String, JobStatus> = HashMap::with_capacity(forbidden.len());
    if !forbidden.is_empty() {
        let rows = sqlx::query(sql::SELECT_STATUSES)
            .bind(to_json_array(&forbidden))
            .fetch_all(&mut *conn)
            .await
            .map_err(writer.error(OPERATION))?;
        for row in &rows {
            let id: String = row.try_get(0).map_err(writer.error(OPERATION))?;
            let status = decode_status(row, &id, 1)?;
            stored.insert(id, status);
        }
    }
    Ok(Some(batch_results(updates, outcomes, &stored)))
}
