//! Store benchmarks: how long claiming one job takes (memory and SQLite), and SQLite's raw
//! batch throughput (1,000 inserts in one transaction, 256 claims in one statement, 256
//! completions in one transaction), plus the store's share of a job's life (insert, claim,
//! complete) one job at a time and in batches of 256.
//!
//! Run with `cargo bench -p oa-jobs --bench store`. Besides criterion's figures, it prints the
//! p50 and p99 of 20,000 single claims per store, timed one by one below saturation (one
//! claimer, jobs inserted beforehand). SQLite runs on a temporary file in WAL mode with
//! `synchronous = NORMAL`, the defaults of `SqliteStoreOptions`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails loudly on purpose"
)]
#![allow(
    clippy::print_stdout,
    reason = "the benchmark reports its latency percentiles on stdout"
)]
#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use oa_jobs::store::{ClaimRequest, JobUpdate};
use oa_jobs::{Job, JobStatus, JobStore, MemoryStore, SqliteStore, SqliteStoreOptions};
use serde_json::json;
use tempfile::TempDir;
use tokio::runtime::Runtime;

/// How many single claims the percentiles are computed over.
const LATENCY_SAMPLES: usize = 20_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
        .unwrap()
        .to_utc()
}

/// `n` queued jobs named `noop`, ready now.
fn queued_jobs(n: usize) -> Vec<Job> {
    let now = now();
    (0..n)
        .map(|i| {
            let mut job = Job::new("noop", json!({ "i": i }), now).unwrap();
            job.enqueue(now, now).unwrap();
            job
        })
        .collect()
}

fn claim_request(limit: u32) -> ClaimRequest {
    ClaimRequest {
        worker_id: "bench-worker".to_owned(),
        names: vec!["noop".to_owned()],
        limit,
        now: now(),
        lease_until: now() + TimeDelta::seconds(60),
        log: None,
    }
}

/// A fresh SQLite store on a temporary file (kept alive by the returned directory).
async fn sqlite() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStoreOptions::file(dir.path().join("bench.db"))
        .open()
        .await
        .unwrap();
    (store, dir)
}

async fn insert_all(store: &dyn JobStore, jobs: &[Job]) {
    for chunk in jobs.chunks(1000) {
        store.insert_many(chunk).await.unwrap();
    }
}

/// The completions of `claimed`, as a worker reports them.
fn completions(claimed: Vec<Job>) -> Vec<JobUpdate> {
    claimed
        .into_iter()
        .map(|mut job| {
            job.complete(json!(null), now()).unwrap();
            JobUpdate::new(job, JobStatus::Running)
        })
        .collect()
}

/// Inserts `n` jobs, then claims them one at a time, timing each claim.
async fn claim_latencies(store: &dyn JobStore, n: usize) -> Vec<Duration> {
    insert_all(store, &queued_jobs(n)).await;
    let request = claim_request(1);
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let claimed = store.claim(&request).await.unwrap();
        latencies.push(start.elapsed());
        assert_eq!(claimed.len(), 1);
    }
    latencies.sort_unstable();
    latencies
}

fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    sorted[(sorted.len() * pct / 100).min(sorted.len() - 1)]
}

/// Prints p50 and p99 of single claims for both stores.
fn claim_percentiles() {
    // `cargo test --benches` runs this binary without `--bench`: keep that run short.
    let samples = if std::env::args().any(|arg| arg == "--bench") {
        LATENCY_SAMPLES
    } else {
        100
    };
    let rt = runtime();
    let memory = rt.block_on(claim_latencies(&MemoryStore::new(), samples));
    let sqlite = rt.block_on(async {
        let (store, _dir) = sqlite().await;
        claim_latencies(&store, samples).await
    });
    for (name, sorted, target) in [
        ("memory", memory, Duration::from_micros(50)),
        ("sqlite", sqlite, Duration::from_millis(1)),
    ] {
        println!(
            "claim one job, {name}: p50 {:?}, p99 {:?}, max {:?} over {} claims (p99 target {target:?})",
            percentile(&sorted, 50),
            percentile(&sorted, 99),
            sorted[sorted.len() - 1],
            sorted.len(),
        );
    }
}

fn claim_one(c: &mut Criterion) {
    claim_percentiles();
    let rt = runtime();
    let mut group = c.benchmark_group("claim_one_job");
    group.throughput(Throughput::Elements(1));
    group.bench_function("memory", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let store = MemoryStore::new();
                insert_all(&store, &queued_jobs(iters as usize)).await;
                let request = claim_request(1);
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(store.claim(&request).await.unwrap());
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("sqlite", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let (store, _dir) = sqlite().await;
                insert_all(&store, &queued_jobs(iters as usize)).await;
                let request = claim_request(1);
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(store.claim(&request).await.unwrap());
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

fn sqlite_batches(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("sqlite_batch");
    group.sample_size(30);

    group.throughput(Throughput::Elements(1000));
    group.bench_function("insert_many_1000", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let (store, _dir) = sqlite().await;
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let jobs = queued_jobs(1000);
                    let start = Instant::now();
                    store.insert_many(&jobs).await.unwrap();
                    total += start.elapsed();
                }
                total
            })
        });
    });

    group.throughput(Throughput::Elements(256));
    group.bench_function("claim_256", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let (store, _dir) = sqlite().await;
                insert_all(&store, &queued_jobs(iters as usize * 256)).await;
                let request = claim_request(256);
                let start = Instant::now();
                for _ in 0..iters {
                    assert_eq!(store.claim(&request).await.unwrap().len(), 256);
                }
                start.elapsed()
            })
        });
    });

    group.bench_function("update_many_256_completions", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let (store, _dir) = sqlite().await;
                let request = claim_request(256);
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    store.insert_many(&queued_jobs(256)).await.unwrap();
                    let updates = completions(store.claim(&request).await.unwrap());
                    let start = Instant::now();
                    let results = store.update_many(&updates).await.unwrap();
                    total += start.elapsed();
                    assert!(results.iter().all(Result::is_ok));
                }
                total
            })
        });
    });
    group.finish();
}

/// The store's share of a job's life: insert, claim, complete.
fn job_cycles(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("store_cycle");
    group.sample_size(30);

    group.throughput(Throughput::Elements(1));
    group.bench_function("sqlite_one_job_per_call", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let (store, _dir) = sqlite().await;
                let jobs = queued_jobs(iters as usize);
                let request = claim_request(1);
                let start = Instant::now();
                for job in &jobs {
                    store.insert(job).await.unwrap();
                    let claimed = store.claim(&request).await.unwrap();
                    for update in completions(claimed) {
                        store.update(&update).await.unwrap();
                    }
                }
                start.elapsed()
            })
        });
    });

    group.throughput(Throughput::Elements(256));
    group.bench_function("sqlite_batches_of_256", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let (store, _dir) = sqlite().await;
                let request = claim_request(256);
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let jobs = queued_jobs(256);
                    let start = Instant::now();
                    store.insert_many(&jobs).await.unwrap();
                    let updates = completions(store.claim(&request).await.unwrap());
                    store.update_many(&updates).await.unwrap();
                    total += start.elapsed();
                }
                total
            })
        });
    });
    group.finish();
}

criterion_group!(benches, claim_one, sqlite_batches, job_cycles);
criterion_main!(benches);
