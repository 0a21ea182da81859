//! The query plans the store relies on (claims and counts read indexes, never every job), and
//! the migrations that rebuild a table.

use chrono::{TimeDelta, Utc};
use serde_json::json;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode};
use sqlx::{AssertSqlSafe, Connection, Row};

use super::rows::EncodedJob;
use super::{SqliteStore, options, sql};
use crate::store::{ClaimRequest, JobStore};
use crate::{Job, JobStatus};

/// The plan SQLite chooses for `statement` with `params` placeholders bound to 0.
async fn plan(store: &SqliteStore, statement: &str, params: usize) -> Vec<String> {
    let text = format!("EXPLAIN QUERY PLAN {statement}");
    let mut query = sqlx::query(AssertSqlSafe(text));
    for _ in 0..params {
        query = query.bind(0_i64);
    }
    let mut conn = store.writer().lock("plan").await.unwrap();
    let rows = query.fetch_all(&mut *conn).await.unwrap();
    rows.iter()
        .map(|row| row.try_get::<String, _>(3).unwrap())
        .collect()
}

fn uses(plan: &[String], needle: &str) -> bool {
    plan.iter().any(|line| line.contains(needle))
}

/// Whether the plan reads the whole jobs table (a scan through an index is not that).
fn scans_jobs(plan: &[String]) -> bool {
    plan.iter()
        .any(|line| line.starts_with("SCAN jobs") && !line.contains("INDEX"))
}

#[tokio::test]
async fn claiming_one_name_walks_the_ready_index_in_order() {
    let store = SqliteStore::in_memory().await.unwrap();
    for statement in [sql::CLAIM_ONE_NAME, sql::CLAIM_ONE_NAME_ONE_JOB] {
        let plan = plan(&store, statement, 5).await;
        assert!(uses(&plan, "USING INDEX jobs_ready"), "{plan:?}");
        assert!(!uses(&plan, "TEMP B-TREE"), "{plan:?}");
        assert!(!scans_jobs(&plan), "{plan:?}");
    }
    // One job: no list of ids to materialize.
    let plan = plan(&store, sql::CLAIM_ONE_NAME_ONE_JOB, 5).await;
    assert!(uses(&plan, "SCALAR SUBQUERY"), "{plan:?}");
    assert!(!uses(&plan, "LIST SUBQUERY"), "{plan:?}");
}

#[tokio::test]
async fn claiming_several_names_reads_each_name_from_the_ready_index() {
    let store = SqliteStore::in_memory().await.unwrap();
    for statement in [sql::CLAIM_MANY_NAMES, sql::CLAIM_MANY_NAMES_ONE_JOB] {
        let plan = plan(&store, statement, 5).await;
        assert!(uses(&plan, "CORRELATED LIST SUBQUERY"), "{plan:?}");
        assert!(uses(&plan, "USING INDEX jobs_ready"), "{plan:?}");
        assert!(!scans_jobs(&plan), "{plan:?}");
        assert!(!uses(&plan, "SCAN c"), "{plan:?}");
    }
}

#[tokio::test]
async fn counting_reads_the_counts_table_only() {
    let store = SqliteStore::in_memory().await.unwrap();
    let plan = plan(&store, sql::SELECT_COUNTS, 0).await;
    assert_eq!(plan.len(), 1, "{plan:?}");
    assert!(uses(&plan, "job_counts"), "{plan:?}");
}

#[tokio::test]
async fn maintenance_queries_use_their_partial_indexes() {
    let store = SqliteStore::in_memory().await.unwrap();
    for (statement, params, index) in [
        (sql::PURGE_FINISHED, 1, "jobs_finished"),
        (sql::SELECT_EXPIRED, 1, "jobs_held"),
        (sql::ANY_EXPIRED, 1, "jobs_held"),
        (sql::SELECT_HELD, 1, "jobs_held (worker_id=?)"),
        (sql::RENEW_LEASES, 2, "jobs_held (worker_id=?)"),
        (sql::SELECT_SCHEDULED, 2, "jobs_ready"),
    ] {
        let plan = plan(&store, statement, params).await;
        assert!(uses(&plan, index), "{statement}: {plan:?}");
        assert!(!scans_jobs(&plan), "{statement}: {plan:?}");
    }
}

#[tokio::test]
async fn trimming_the_log_walks_an_index_from_its_oldest_end() {
    let store = SqliteStore::in_memory().await.unwrap();
    for (statement, index) in [
        (
            sql::TRIM_EVENTS_BY_AGE,
            "INDEX events_timestamp (timestamp<?)",
        ),
        (
            sql::TRIM_EVENTS_BY_COUNT,
            "USING INTEGER PRIMARY KEY (rowid<?)",
        ),
    ] {
        let plan = plan(&store, statement, 2).await;
        assert!(uses(&plan, index), "{statement}: {plan:?}");
        assert!(!uses(&plan, "TEMP B-TREE"), "{statement}: {plan:?}");
        assert!(
            !plan.iter().any(|line| line.starts_with("SCAN events")),
            "{statement}: {plan:?}"
        );
    }
}

/// A file written before migration 0003 (schema version 2, status CHECK with an IN list, counts
/// kept by triggers of the schema) keeps every job and every count when a newer store opens it,
/// rebuilds the jobs table (0003) and leaves the counting to the store (0004); the rebuilt table
/// has its indexes again, the counts follow the store's writes, and the CHECK still refuses a
/// status outside the seven.
#[tokio::test]
async fn rebuilding_the_jobs_table_keeps_every_job_count_index_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("version-2.db");
    let now = Utc::now();
    let statuses = [
        JobStatus::Queued,
        JobStatus::Queued,
        JobStatus::Running,
        JobStatus::Paused,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
        JobStatus::Created,
    ];
    let jobs: Vec<Job> = statuses
        .iter()
        .enumerate()
        .map(|(i, &status)| {
            let mut job = Job::new("mail", json!({ "n": i }), now).unwrap();
            job.tags = vec![format!("t{i}")];
            job.status = status;
            if status == JobStatus::Queued {
                job.queued_at = Some(now);
            }
            if status == JobStatus::Running {
                job.attempt = 1;
                job.started_at = Some(now);
                job.worker_id = Some("w-old".to_owned());
                job.lease_expires_at = Some(now + TimeDelta::hours(1));
            }
            if status.is_final() {
                job.finished_at = Some(now);
            }
            job
        })
        .collect();
    {
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        let up_to_2: Vec<_> = options::migrations().into_iter().take(2).collect();
        Migrator::with_migrations(up_to_2)
            .run(&mut conn)
            .await
            .unwrap();
        for job in &jobs {
            EncodedJob::new(job)
                .unwrap()
                .bind(sqlx::query(sql::insert_jobs(1)))
                .execute(&mut conn)
                .await
                .unwrap();
        }
        conn.close().await.unwrap();
    }

    let store = SqliteStore::open(&path).await.unwrap();
    for job in &jobs {
        assert_eq!(store.get(&job.id).await.unwrap().as_ref(), Some(job));
    }
    let counts = store.count_by_status().await.unwrap();
    for status in JobStatus::ALL {
        let expected = statuses.iter().filter(|&&s| s == status).count() as u64;
        assert_eq!(counts.get(status), expected, "{status:?}");
    }
    // No counting trigger is left in the schema (the store counts), the claim index is back:
    // the two queued jobs are claimed and the counts follow.
    let triggers: i64 = {
        let mut conn = store.writer().lock("test").await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")
            .fetch_one(&mut *conn)
            .await
            .unwrap()
    };
    assert_eq!(triggers, 0);
    let claimed = store
        .claim(&ClaimRequest {
            worker_id: "w-new".to_owned(),
            names: vec!["mail".to_owned()],
            limit: 10,
            now: now + TimeDelta::seconds(1),
            lease_until: now + TimeDelta::minutes(5),
            log: None,
        })
        .await
        .unwrap();
    let mut claimed_ids: Vec<&str> = claimed.iter().map(|job| job.id.as_str()).collect();
    claimed_ids.sort_unstable();
    let mut queued_ids: Vec<&str> = jobs[..2].iter().map(|job| job.id.as_str()).collect();
    queued_ids.sort_unstable();
    assert_eq!(claimed_ids, queued_ids);
    let counts = store.count_by_status().await.unwrap();
    assert_eq!(counts.get(JobStatus::Queued), 0);
    assert_eq!(counts.get(JobStatus::Running), 3);
    assert_eq!(counts.total(), jobs.len() as u64);
    for (index, statement) in [
        ("jobs_ready", sql::CLAIM_ONE_NAME),
        ("jobs_held", sql::SELECT_HELD),
        ("jobs_finished", sql::PURGE_FINISHED),
    ] {
        let params = statement.matches('?').count();
        let plan = plan(&store, statement, params).await;
        assert!(uses(&plan, index), "{index}: {plan:?}");
    }
    // The rule is the same, written without the IN list: a status outside the seven is refused,
    // and nothing changes.
    let refused = {
        let mut conn = store.writer().lock("test").await.unwrap();
        let table: String = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'jobs'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert!(!table.contains("status IN"), "{table}");
        assert!(table.contains("OR status = 'cancelled'"), "{table}");
        sqlx::query("UPDATE jobs SET status = 'lost' WHERE id = ?1")
            .bind(jobs[4].id.clone())
            .execute(&mut *conn)
            .await
            .unwrap_err()
    };
    assert!(
        refused.to_string().contains("CHECK constraint failed"),
        "{refused}"
    );
    assert_eq!(
        store.get(&jobs[4].id).await.unwrap().as_ref(),
        Some(&jobs[4])
    );
}
