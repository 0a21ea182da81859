//! What PostgreSQL alone costs per job with the PostgreSQL store's schema and statements: the
//! floor under the engine's PostgreSQL figures (issue 7).
//!
//! Creates a fresh schema with the store's own migrations (by opening a `PgStore` on it), then
//! runs the store's hot-path statements, the very texts the store prepares
//! (`oa_jobs::store::pg_statements`), from several connections at once, with no engine, no
//! worker, no event emitter and no metrics:
//!
//! 1. inserts: `INSERT_JOBS[_LOGGED]` of `--jobs` jobs, 1,000 per statement (with `job.created`
//!    and `job.queued` when logged);
//! 2. claims and ends: `CLAIM_ONE_NAME[_LOGGED]` (`CLAIM_ONE_JOB_LOGGED` for one job) of
//!    `--claim-batch` jobs at a time until a connection holds `--finish-batch`, then one
//!    `FINISH_JOBS[_LOGGED]` of those (with `job.completed` when logged), each statement in its
//!    own transaction, as a worker's claims and its commit batch; until every job has ended.
//!
//! Each part is measured alone, with the server's two cores to itself, so the floor
//! (`1 / (1/inserts + 1/claims-and-ends)`) is what the database does per job when nothing else
//! runs on the machine: an upper bound for `oa bench jobs --store postgres://...`, whose engine
//! shares the cores. The connections use the store's settings (`enable_seqscan = off`,
//! `jit = off`). The schema is dropped at the end.
//!
//!     cargo run --release -p oa-jobs --example pg_floor -- [URL] [--claim-batch N (10)]
//!         [--finish-batch N (10)] [--connections N (8)] [--jobs N (40000)]
//!         [--only logged|unlogged]
//!
//! URL defaults to `OA_TEST_DATABASE_URL`.

#![allow(clippy::print_stdout, reason = "printing the figures is the point")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails loudly"
)]
#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    clippy::cast_possible_truncation,
    reason = "figures and small counts"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use oa_jobs::PgStoreOptions;
use oa_jobs::store::pg_statements as sql;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use uuid::Uuid;

/// Jobs per insert statement (the bench submits in batches of 1,000).
const INSERT_BATCH: usize = 1000;

struct Args {
    url: String,
    claim_batch: usize,
    finish_batch: usize,
    connections: usize,
    jobs: usize,
    modes: Vec<bool>,
}

fn args() -> Args {
    let mut args = Args {
        url: std::env::var("OA_TEST_DATABASE_URL").unwrap_or_default(),
        claim_batch: 10,
        finish_batch: 10,
        connections: 8,
        jobs: 40_000,
        modes: vec![false, true],
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--claim-batch" => args.claim_batch = it.next().unwrap().parse().unwrap(),
            "--finish-batch" => args.finish_batch = it.next().unwrap().parse().unwrap(),
            "--connections" => args.connections = it.next().unwrap().parse().unwrap(),
            "--jobs" => args.jobs = it.next().unwrap().parse().unwrap(),
            "--only" => args.modes = vec![it.next().unwrap() == "logged"],
            url => args.url = url.to_owned(),
        }
    }
    assert!(
        !args.url.is_empty(),
        "give a postgres:// URL or set OA_TEST_DATABASE_URL"
    );
    args
}

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap()
}

/// Inserts `n` queued jobs named `bench`, with their two events when `logged`.
async fn insert(pool: &PgPool, n: usize, logged: bool) {
    let now = now_ns();
    let ids: Vec<String> = (0..n).map(|_| Uuid::now_v7().to_string()).collect();
    let texts = |value: &str| vec![value.to_owned(); n];
    let none_text: Vec<Option<String>> = vec![None; n];
    let none_int: Vec<Option<i64>> = vec![None; n];
    let times = vec![now; n];
    let query = sqlx::query(if logged {
        sql::INSERT_JOBS_LOGGED
    } else {
        sql::INSERT_JOBS
    })
    .bind(&ids)
    .bind(texts("bench"))
    .bind(&none_text)
    .bind(texts(r#"{"blob":""}"#))
    .bind(texts("queued"))
    .bind(vec![1_i16; n])
    .bind(texts("[]"))
    .bind(texts("{}"))
    .bind(vec![0_i64; n])
    .bind(texts(
        r#"{"kind":"exponential","base_ms":1000,"max_ms":60000,"jitter":true}"#,
    ))
    .bind(&none_int)
    .bind(vec![0.0_f64; n])
    .bind(vec![0_i64; n])
    .bind(&none_text)
    .bind(&none_text)
    .bind(&none_text)
    .bind(&times)
    .bind(&times)
    .bind(&none_int)
    .bind(&none_int)
    .bind(&times)
    .bind(&none_int);
    let query = if logged {
        let data = r#"{"created_at":"2026-11-29T01:00:00.000000Z","max_retries":0,"name":"bench","priority":"medium","status":"queued","tags":[]}"#;
        let mut event_ids = Vec::with_capacity(2 * n);
        let mut kinds = Vec::with_capacity(2 * n);
        let mut job_ids = Vec::with_capacity(2 * n);
        for id in &ids {
            for kind in ["job.created", "job.queued"] {
                event_ids.push(Uuid::now_v7());
                kinds.push(kind);
                job_ids.push(id.as_str());
            }
        }
        query
            .bind(event_ids)
            .bind(kinds)
            .bind(vec![now; 2 * n])
            .bind(job_ids)
            .bind(vec![None::<String>; 2 * n])
            .bind(vec![data; 2 * n])
    } else {
        query
    };
    query.execute(pool).await.unwrap();
}

/// Claims `claim_batch` jobs at a time for `worker` until it holds `finish_batch` (or none is
/// left), then ends their attempts in one statement, as a worker's claim loop and its commit
/// batch do; returns how many jobs went through.
async fn claim_and_finish(
    pool: &PgPool,
    worker: &str,
    args: (usize, usize),
    logged: bool,
) -> usize {
    let (claim_batch, finish_batch) = args;
    let mut ids: Vec<String> = Vec::with_capacity(finish_batch);
    let mut attempts: Vec<i64> = Vec::with_capacity(finish_batch);
    let mut started: Vec<i64> = Vec::with_capacity(finish_batch);
    while ids.len() < finish_batch {
        let now = now_ns();
        let lease = now + 30_000_000_000;
        let claim = sqlx::query(match (logged, claim_batch) {
            (true, 1) => sql::CLAIM_ONE_JOB_LOGGED,
            (true, _) => sql::CLAIM_ONE_NAME_LOGGED,
            (false, _) => sql::CLAIM_ONE_NAME,
        })
        .bind(now)
        .bind(worker)
        .bind(lease)
        .bind("bench")
        .bind(claim_batch as i64);
        let claim = if logged {
            claim.bind(
                (0..2 * claim_batch)
                    .map(|_| Uuid::now_v7())
                    .collect::<Vec<_>>(),
            )
        } else {
            claim
        };
        let rows = claim.fetch_all(pool).await.unwrap();
        if rows.is_empty() {
            break;
        }
        for row in &rows {
            ids.push(row.get::<String, _>(0));
            attempts.push(row.get::<i64, _>(12));
            started.push(now);
        }
    }
    let n = ids.len();
    if n == 0 {
        return 0;
    }
    let done = now_ns();
    let texts = |value: &str| vec![value.to_owned(); n];
    let none_text: Vec<Option<String>> = vec![None; n];
    let finish = sqlx::query(if logged {
        sql::FINISH_JOBS_LOGGED
    } else {
        sql::FINISH_JOBS
    })
    .bind(&ids)
    .bind(texts("completed"))
    .bind(vec![1.0_f64; n])
    .bind(&attempts)
    .bind(texts("null"))
    .bind(&none_text)
    .bind(&none_text)
    .bind(vec![None::<i64>; n])
    .bind(&started)
    .bind(vec![done; n])
    .bind(vec![done; n])
    .bind(vec![None::<i64>; n])
    .bind(texts("running"));
    let finish = if logged {
        let data = format!(
            r#"{{"attempt":1,"duration_ms":0.12,"name":"bench","priority":"medium","result":null,"status":"completed","tags":[],"worker_id":"{worker}"}}"#
        );
        finish
            .bind((0..n).map(|_| Uuid::now_v7()).collect::<Vec<_>>())
            .bind(vec!["job.completed"; n])
            .bind(vec![done; n])
            .bind(&ids)
            .bind(vec![worker; n])
            .bind(vec![data; n])
    } else {
        finish
    };
    finish.bind(n as i64).fetch_one(pool).await.unwrap();
    n
}

/// Runs `connections` loops of `step` until each has done nothing in a step; returns jobs per
/// second.
async fn measure<F, Fut>(connections: usize, step: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = usize> + Send,
{
    let step = Arc::new(step);
    let jobs = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|k| {
            let (step, jobs) = (Arc::clone(&step), Arc::clone(&jobs));
            tokio::spawn(async move {
                loop {
                    let n = step(k).await;
                    if n == 0 {
                        break;
                    }
                    jobs.fetch_add(n as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    jobs.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn floor(args: &Args, logged: bool) {
    let schema = format!("oa_floor_{}", Uuid::now_v7().simple());
    let store = PgStoreOptions::new(&args.url)
        .unwrap()
        .schema(&schema)
        .open()
        .await
        .unwrap();
    store.close().await;
    let connect: PgConnectOptions = args.url.parse::<PgConnectOptions>().unwrap().options([
        ("search_path", schema.as_str()),
        ("enable_seqscan", "off"),
        ("jit", "off"),
    ]);
    let pool = PgPoolOptions::new()
        .max_connections(u32::try_from(args.connections).unwrap())
        .connect_with(connect)
        .await
        .unwrap();

    // The jobs, 1,000 per statement, shared out between the connections.
    let statements = Arc::new(AtomicU64::new(args.jobs.div_ceil(INSERT_BATCH) as u64));
    let inserted = {
        let pool = pool.clone();
        measure(args.connections, move |_| {
            let (pool, statements) = (pool.clone(), Arc::clone(&statements));
            async move {
                if statements
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                    .is_err()
                {
                    return 0;
                }
                insert(&pool, INSERT_BATCH, logged).await;
                INSERT_BATCH
            }
        })
        .await
    };
    // Fresh statistics, as autovacuum keeps them.
    sqlx::query("ANALYZE jobs").execute(&pool).await.unwrap();

    let batches = (args.claim_batch, args.finish_batch);
    let claimed = {
        let pool = pool.clone();
        measure(args.connections, move |k| {
            let pool = pool.clone();
            async move { claim_and_finish(&pool, &format!("floor-{k}"), batches, logged).await }
        })
        .await
    };
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    println!(
        "{}: inserts {inserted:.0} jobs/s, claims of {} and ends of {} {claimed:.0} jobs/s, \
         floor {:.0} jobs/s ({} connections)",
        if logged {
            "events logged"
        } else {
            "no event log "
        },
        args.claim_batch,
        args.finish_batch,
        1.0 / (1.0 / inserted + 1.0 / claimed),
        args.connections,
    );
}

#[tokio::main]
async fn main() {
    let args = args();
    for &logged in &args.modes {
        floor(&args, logged).await;
    }
}
