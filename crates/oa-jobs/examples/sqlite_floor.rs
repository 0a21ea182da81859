//! What SQLite alone costs per job with the SQLite store's schema: the floor under the engine's
//! SQLite figures (issue 3).
//!
//! Creates a database from the store's own migrations (`migrations/sqlite/*.sql`, in order),
//! with the store's settings (WAL, `synchronous=NORMAL`, a 32 MiB cache, 4,000-page
//! autocheckpoints), then runs the store's statements for N jobs through rusqlite on one thread:
//! inserts in transactions of 1,000, claims of CLAIM jobs per transaction (the store's claim
//! statement, every column read back), completions (the store's full-row update, every column
//! bound) in one transaction per claim, each transaction also adjusting the counts by status as
//! the store does. No engine, no events, no async runtime, no sqlx: what is left is SQLite's own
//! work with this schema.
//!
//!     cargo run --release -p oa-jobs --example sqlite_floor [claim-batch (512)] [jobs (60000)]
//!         [--schema-version N]
//!
//! `--schema-version 2` stops before migration 0003 (the status CHECK with an IN list) and
//! `--schema-version 3` before 0004 (counts kept by row triggers of the schema), to show what
//! each changed. The statements are copies of `store/sqlite/sql.rs` (private to the store).

#![allow(clippy::print_stdout, reason = "printing the figures is the point")]
#![allow(clippy::unwrap_used, reason = "a benchmark fails loudly")]
#![allow(clippy::cast_precision_loss, reason = "figures")]

use std::time::Instant;

use rusqlite::{Connection, Transaction, TransactionBehavior, params};

const COLUMNS: &str = "id, name, description, payload, status, priority, tags, metadata, \
    max_retries, retry_policy, timeout_ns, progress, attempt, result, error, worker_id, \
    created_at, queued_at, started_at, finished_at, updated_at, lease_expires_at";

const MIGRATIONS: [&str; 4] = [
    include_str!("../migrations/sqlite/0001_init.sql"),
    include_str!("../migrations/sqlite/0002_event_log.sql"),
    include_str!("../migrations/sqlite/0003_status_check_without_in_list.sql"),
    include_str!("../migrations/sqlite/0004_counts_kept_by_the_store.sql"),
];

fn claim_statement(batch: usize) -> String {
    // `claim_set!` + `next_of_one_name!` + the columns, as the store writes them.
    format!(
        "UPDATE jobs SET status = 'running', attempt = min(attempt + 1, 4294967295), \
         started_at = ?1, progress = 0.0, worker_id = ?2, lease_expires_at = ?3, \
         updated_at = ?1 WHERE id {} (SELECT c.id FROM jobs AS c INDEXED BY jobs_ready \
         WHERE c.status = 'queued' AND c.name = ?4 AND c.ready_at <= ?1 \
         ORDER BY c.priority DESC, c.ready_at, c.id LIMIT ?5) RETURNING {COLUMNS}",
        if batch == 1 { "=" } else { "IN" }
    )
}

/// `UPDATE_JOB` of the store.
const COMPLETE: &str = "UPDATE jobs SET name = ?2, description = ?3, payload = ?4, \
     status = ?5, priority = ?6, tags = ?7, metadata = ?8, max_retries = ?9, \
     retry_policy = ?10, timeout_ns = ?11, progress = ?12, attempt = ?13, result = ?14, \
     error = ?15, worker_id = ?16, created_at = ?17, queued_at = ?18, started_at = ?19, \
     finished_at = ?20, updated_at = ?21, lease_expires_at = ?22 \
     WHERE id = ?1 AND status = ?23 AND (?23 NOT IN ('running', 'paused') OR attempt = ?13)";

/// `ADJUST_COUNTS` of the store: from schema version 4 on, the store adjusts the counts of the
/// 7 statuses once per transaction (before, row triggers did, twice per changed job).
const ADJUST_COUNTS: &str = "UPDATE job_counts SET count = count + CASE status \
     WHEN 'created' THEN ?1 WHEN 'queued' THEN ?2 WHEN 'running' THEN ?3 WHEN 'paused' THEN ?4 \
     WHEN 'completed' THEN ?5 WHEN 'failed' THEN ?6 WHEN 'cancelled' THEN ?7 ELSE 0 END \
     WHERE CASE status \
     WHEN 'created' THEN ?1 WHEN 'queued' THEN ?2 WHEN 'running' THEN ?3 WHEN 'paused' THEN ?4 \
     WHEN 'completed' THEN ?5 WHEN 'failed' THEN ?6 WHEN 'cancelled' THEN ?7 ELSE 0 END <> 0";

const POLICY: &str =
    r#"{"kind":"exponential","base_ms":1000,"factor":2.0,"max_delay_ms":300000,"jitter":0.1}"#;

/// Adjusts the counts as the store does, when the schema leaves counting to it.
fn count(tx: &Transaction<'_>, store_counts: bool, changes: [i64; 7]) {
    if store_counts {
        tx.prepare_cached(ADJUST_COUNTS)
            .unwrap()
            .execute(changes)
            .unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let schema_version = args
        .iter()
        .position(|a| a == "--schema-version")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(MIGRATIONS.len())
        .clamp(1, MIGRATIONS.len());
    let store_counts = schema_version >= 4;
    let numbers: Vec<usize> = args
        .iter()
        .take_while(|a| !a.starts_with("--"))
        .filter_map(|a| a.parse().ok())
        .collect();
    let batch = numbers.first().copied().unwrap_or(512).max(1);
    let jobs = numbers.get(1).copied().unwrap_or(60_000);

    let dir = tempfile::tempdir().unwrap();
    let mut db = Connection::open(dir.path().join("floor.db")).unwrap();
    db.pragma_update(None, "journal_mode", "WAL").unwrap();
    db.pragma_update(None, "synchronous", "NORMAL").unwrap();
    db.pragma_update(None, "temp_store", "memory").unwrap();
    db.pragma_update(None, "cache_size", -32 * 1024).unwrap();
    db.pragma_update(None, "wal_autocheckpoint", 4000).unwrap();
    for migration in &MIGRATIONS[..schema_version] {
        db.execute_batch(migration).unwrap();
    }

    // Ids and times as the engine makes them: UUID v7 text, nanoseconds, increasing.
    let ids: Vec<String> = (0..jobs)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let base: i64 = 1_764_000_000_000_000_000;
    let insert = format!(
        "INSERT INTO jobs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, \
         ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)"
    );
    let started = Instant::now();
    for (chunk_index, chunk) in ids.chunks(1000).enumerate() {
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        {
            let mut statement = tx.prepare_cached(&insert).unwrap();
            for (i, id) in chunk.iter().enumerate() {
                let at = base + (chunk_index * 1000 + i) as i64 * 1000;
                let job = params![
                    id,
                    "noop",
                    None::<String>,
                    "null",
                    "queued",
                    1,
                    "[]",
                    "{}",
                    3,
                    POLICY,
                    None::<i64>,
                    0.0,
                    0,
                    None::<String>,
                    None::<String>,
                    None::<String>,
                    at,
                    at,
                    None::<i64>,
                    None::<i64>,
                    at,
                    None::<i64>
                ];
                statement.execute(job).unwrap();
            }
        }
        let n = chunk.len() as i64;
        count(&tx, store_counts, [0, n, 0, 0, 0, 0, 0]);
        tx.commit().unwrap();
    }
    let inserted = started.elapsed();

    let claim = claim_statement(batch);
    let now = base + jobs as i64 * 1000 + 1;
    let lease = now + 30_000_000_000;
    let (mut claiming, mut completing) = (0.0, 0.0);
    let mut done = 0;
    loop {
        let at = Instant::now();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let claimed: Vec<(String, i64, i64, i64)> = {
            let mut statement = tx.prepare_cached(&claim).unwrap();
            let request = params![now, "worker-1", lease, "noop", batch as i64];
            statement
                .query_map(request, |row| {
                    // Every column read, as the store decodes a claimed job.
                    for column in 1..22 {
                        let _: rusqlite::types::Value = row.get(column)?;
                    }
                    Ok((row.get(0)?, row.get(12)?, row.get(16)?, row.get(17)?))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        let n = claimed.len() as i64;
        count(&tx, store_counts, [0, -n, n, 0, 0, 0, 0]);
        tx.commit().unwrap();
        let claimed_at = Instant::now();
        claiming += (claimed_at - at).as_secs_f64();
        if claimed.is_empty() {
            break;
        }
        done += claimed.len();
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        {
            let mut statement = tx.prepare_cached(COMPLETE).unwrap();
            for (id, attempt, created, queued) in &claimed {
                let job = params![
                    id,
                    "noop",
                    None::<String>,
                    "null",
                    "completed",
                    1,
                    "[]",
                    "{}",
                    3,
                    POLICY,
                    None::<i64>,
                    1.0,
                    attempt,
                    "null",
                    None::<String>,
                    None::<String>,
                    created,
                    queued,
                    now,
                    now + 1,
                    now + 1,
                    None::<i64>,
                    "running"
                ];
                statement.execute(job).unwrap();
            }
        }
        count(&tx, store_counts, [0, 0, -n, 0, n, 0, 0]);
        tx.commit().unwrap();
        completing += claimed_at.elapsed().as_secs_f64();
    }
    let total = started.elapsed().as_secs_f64();
    assert_eq!(done, jobs, "every job claimed and completed once");
    let completed: i64 = db
        .query_row(
            "SELECT count FROM job_counts WHERE status = 'completed'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(completed, jobs as i64, "the counts follow the jobs");
    let per_job = |seconds: f64| seconds * 1e6 / jobs as f64;
    println!(
        "SQLite {} (schema version {schema_version}), claims of {batch}: insert {:.1} µs/job, \
         claim {:.1}, complete {:.1}, total {:.1} µs/job = {:.0} jobs/s",
        rusqlite::version(),
        per_job(inserted.as_secs_f64()),
        per_job(claiming),
        per_job(completing),
        per_job(total),
        jobs as f64 / total
    );
}
