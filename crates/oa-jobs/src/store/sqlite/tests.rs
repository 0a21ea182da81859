//! The query plans the store relies on: claims and counts read indexes, never every job.

use sqlx::{AssertSqlSafe, Row};

use super::{SqliteStore, sql};

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
