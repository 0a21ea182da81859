//! Run with: `cargo run --release -p oa-api --example load [-- --jobs 1000000 --workers 100 --addr 127.0.0.1:0 --threads 2 --cache-ttl-ms 100]`
//!
//! The load benchmark's server: records `--jobs` finished jobs (queued, claimed, started,
//! completed or failed; ten tags, four priorities) and `--workers` workers into the collectors,
//! feeding the events to them directly, then serves the API and prints
//! `listening on http://<address>`. Drive it with `wrk` (Debian's package), as
//! `crates/oa-api/examples/load.sh` does:
//!
//! ```text
//! wrk -t2 -c64 -d10s --latency http://127.0.0.1:<port>/status
//! wrk -t2 -c64 -d10s --latency http://127.0.0.1:<port>/jobs/summary
//! ```
//!
//! The figures must not depend on `--jobs` (1,000 or 1,000,000): every read costs O(workers +
//! tags), never O(jobs recorded). Stop it with Ctrl-C.

#![allow(clippy::print_stdout, reason = "an example reports to its terminal")]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, Utc};
use oa_api::{ApiConfig, ApiState, serve};
use oa_events::{Event, EventEmitter, EventType};
use oa_metrics::Collectors;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

// The `oa` binary serves the API with mimalloc as its allocator: measure the same.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Options {
    jobs: u64,
    workers: u64,
    address: SocketAddr,
    /// The server's worker threads (tokio's default: one per core).
    threads: Option<usize>,
    /// The response cache's TTL (`--cache-ttl-ms 0` measures every read rendered anew).
    cache_ttl: Option<std::time::Duration>,
}

fn options() -> Result<Options, Box<dyn std::error::Error>> {
    let mut options = Options {
        jobs: 1_000_000,
        workers: 100,
        address: "127.0.0.1:0".parse()?,
        threads: None,
        cache_ttl: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--jobs" => options.jobs = value.parse()?,
            "--workers" => options.workers = value.parse()?,
            "--addr" => options.address = value.parse()?,
            "--threads" => options.threads = Some(value.parse()?),
            "--cache-ttl-ms" => {
                options.cache_ttl = Some(std::time::Duration::from_millis(value.parse()?));
            }
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(options)
}

/// Records the workers and the jobs, spread over the last hour (so the throughput windows
/// hold some of them).
fn record(collectors: &Collectors, jobs: u64, workers: u64) {
    let start = Utc::now() - Duration::hours(1);
    let worker_id = |n: u64| format!("worker-{n:03}");
    for n in 0..workers {
        collectors.record(
            &Event::for_worker(EventType::WorkerRegistered, worker_id(n))
                .with_timestamp(start)
                .with_data("host", format!("host-{}", n % 10))
                .with_data("pid", 10_000 + n)
                .with_data("tags", json!(["bench"]))
                .with_data("max_concurrent_jobs", 8)
                .with_data("heartbeat_interval_ms", 3_600_000),
        );
    }
    let tags = [
        "images", "reports", "billing", "email", "video", "etl", "search", "ml", "backup", "sync",
    ];
    let priorities = ["low", "medium", "high", "critical"];
    let step_us = (3_600_000_000 / jobs.max(1)).max(1);
    for n in 0..jobs {
        let id = format!("job-{n}");
        let worker = worker_id(n % workers.max(1));
        let at = start + Duration::microseconds(i64::try_from(n * step_us).unwrap_or(i64::MAX));
        let tag = tags[usize::try_from(n % 10).unwrap_or(0)];
        let priority = priorities[usize::try_from(n % 4).unwrap_or(0)];
        let job = |event_type, offset_ms: i64| {
            Event::for_job(event_type, id.as_str())
                .with_timestamp(at + Duration::milliseconds(offset_ms))
                .with_data("name", "bench")
                .with_data("priority", priority)
                .with_data("tags", json!([tag]))
                .with_data("attempt", 1)
        };
        collectors.record(&job(EventType::JobQueued, 0));
        collectors.record(
            &Event::for_worker(EventType::WorkerClaimedJob, worker.as_str())
                .with_job_id(id.as_str())
                .with_timestamp(at + Duration::milliseconds(5)),
        );
        collectors.record(&job(EventType::JobStarted, 5).with_worker_id(worker.as_str()));
        let duration_ms = 20 + i64::try_from(n % 500).unwrap_or(0);
        let end = if n % 20 == 0 {
            job(EventType::JobFailed, 5 + duration_ms)
                .with_data("error", json!({"kind": "handler_error", "message": "boom"}))
        } else {
            job(EventType::JobCompleted, 5 + duration_ms)
        };
        collectors.record(&end.with_worker_id(worker.as_str()));
    }
    let now = Utc::now();
    for n in 0..workers {
        collectors.record(
            &Event::for_worker(EventType::WorkerHeartbeat, worker_id(n))
                .with_timestamp(now)
                .with_data("running_jobs", 0),
        );
    }
    collectors.system_metrics().update_queue_depth(42);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = options.threads {
        runtime.worker_threads(threads);
    }
    runtime.enable_all().build()?.block_on(run(options))
}

async fn run(options: Options) -> Result<(), Box<dyn std::error::Error>> {
    let collectors = Arc::new(Collectors::default());
    let began = Instant::now();
    record(&collectors, options.jobs, options.workers);
    println!(
        "recorded {} jobs and {} workers in {:.1?}",
        options.jobs,
        options.workers,
        began.elapsed()
    );

    let mut config = ApiConfig::builder();
    if let Some(ttl) = options.cache_ttl {
        config = config.response_cache_ttl(ttl);
    }
    let state = ApiState::new(
        collectors.clone(),
        collectors,
        EventEmitter::new(),
        config.build()?,
    );
    let listener = TcpListener::bind(options.address).await?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;

    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(listener, state, shutdown.clone()));
    tokio::signal::ctrl_c().await?;
    shutdown.cancel();
    server.await??;
    Ok(())
}
