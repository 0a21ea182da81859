//! The Rust counterpart of the seed's `examples/job_monitoring.py`: jobs with various
//! characteristics (successful, failing, retrying, slow with progress), event handlers set up
//! with `on`, `on_any` and an async handler, metrics read through the monitor, and the
//! monitoring API serving it all.
//!
//! Run with: `cargo run --example job_monitoring` (then open the printed dashboard URL; the
//! example stops by itself after the jobs are done and 30 more seconds, or on Ctrl-C).

#![allow(
    clippy::print_stdout,
    reason = "printing what happens is the point of an example"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use oa_api::{ApiConfig, ApiState};
use oa_events::{Event, EventEmitter, EventType};
use oa_jobs::{JobContext, JobError, JobManager, MemoryStore, NewJob, Priority, RetryPolicy};
use oa_metrics::{JobQuery, SystemQuery, WorkerQuery};
use oa_monitor::Monitor;
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One emitter for the whole system; the monitor attaches its collectors to it.
    let emitter = EventEmitter::new();
    let monitor = Arc::new(Monitor::new(&emitter));

    // Subscribe to one event type (the seed's `event_emitter.on(EventType.JOB_COMPLETED, …)`).
    emitter.on(EventType::JobCompleted, |event: &Event| {
        println!(
            "✓ job {} completed with result {}",
            short(event),
            event.data.get("result").unwrap_or(&json!(null))
        );
    });
    emitter.on(EventType::JobRetrying, |event: &Event| {
        println!(
            "↻ job {} will retry: {}",
            short(event),
            event.data.get("error").unwrap_or(&json!(null))
        );
    });
    emitter.on(EventType::JobFailed, |event: &Event| {
        println!(
            "✗ job {} failed: {}",
            short(event),
            event.data.get("error").unwrap_or(&json!(null))
        );
    });
    // Subscribe to every event.
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    emitter.on_any(move |_event: &Event| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    // An async handler: it runs on its own task, fed by its own queue.
    emitter.on_async(
        EventType::JobProgressUpdated,
        |event: Arc<Event>| async move {
            if let Some(progress) = event.data_f64("progress") {
                println!("… job {} at {:.0} %", short(&event), progress * 100.0);
            }
        },
    )?;

    // The engine: a store, a manager and two workers.
    let manager = JobManager::new(Arc::new(MemoryStore::new()), emitter.clone())?;
    let mut workers = Vec::new();
    for id in ["worker-1", "worker-2"] {
        let worker = manager
            .worker()
            .id(id)
            .max_concurrent_jobs(3)
            .handler("successful", |ctx: JobContext| async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok::<_, JobError>(json!({ "echo": ctx.payload() }))
            })
            .handler("failing", |_ctx: JobContext| async {
                Err::<serde_json::Value, _>(JobError::new("value_error", "this job always fails"))
            })
            .handler("retrying", |ctx: JobContext| async move {
                if ctx.attempt() < 3 {
                    Err(JobError::new(
                        "timeout",
                        format!("attempt {} timed out", ctx.attempt()),
                    ))
                } else {
                    Ok(json!({ "succeeded_on_attempt": ctx.attempt() }))
                }
            })
            .handler("slow", |ctx: JobContext| async move {
                for step in 1..=5 {
                    ctx.checkpoint().await?;
                    tokio::time::sleep(Duration::from_millis(400)).await;
                    ctx.progress(f64::from(step) / 5.0);
                }
                Ok(json!("done"))
            })
            .start()
            .await?;
        workers.push(worker);
    }

    // The monitoring API and dashboard on a free port.
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let config = ApiConfig::builder().bind_address(address).build()?;
    let state = ApiState::new(monitor.clone(), monitor.clone(), emitter.clone(), config);
    let server = tokio::spawn(oa_api::serve(listener, state, shutdown.clone()));
    println!("dashboard: http://{address}/dashboard  (try: curl http://{address}/jobs/summary)");

    // Jobs of every kind, with tags and priorities.
    let retry = RetryPolicy::fixed(Duration::from_millis(300));
    let mut ids = Vec::new();
    for i in 0..5 {
        let job = NewJob::new("successful")
            .payload(json!({ "n": i }))
            .tag("demo")
            .priority(Priority::Medium);
        ids.push(manager.create(job).await?.id);
    }
    ids.push(
        manager
            .create(
                NewJob::new("failing")
                    .tag("demo")
                    .max_retries(1)
                    .retry_policy(retry.clone()),
            )
            .await?
            .id,
    );
    ids.push(
        manager
            .create(
                NewJob::new("retrying")
                    .tag("flaky")
                    .priority(Priority::High)
                    .retry_policy(retry),
            )
            .await?
            .id,
    );
    ids.push(
        manager
            .create(NewJob::new("slow").tag("long").priority(Priority::Low))
            .await?
            .id,
    );
    for id in &ids {
        while !manager.get(id).await?.status.is_final() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Metrics, through the monitor (the seed's `monitor.job_metrics.get_summary()` and friends).
    let summary = monitor.summary();
    println!(
        "\nsuccess rate {:.1} %, average execution time {:.3} s, p95 {:.3} s",
        summary.success_rate, summary.avg_execution_time, summary.p95_execution_time
    );
    println!(
        "jobs started {}, completed {}, failed {}, retries {}",
        summary.total_jobs, summary.completed_jobs, summary.failed_jobs, summary.retries
    );
    let worker = monitor.worker("worker-1")?;
    println!(
        "worker-1 is {:?} and claimed {} jobs",
        worker.status, worker.jobs_claimed
    );
    for job in monitor.recent_jobs(3) {
        println!(
            "recent: {} {:?} in {:?} s",
            job.job_id, job.status, job.execution_time
        );
    }
    println!(
        "failed jobs by event count: {}",
        monitor.event_counts()[&EventType::JobFailed]
    );
    println!(
        "{} events seen by the on_any handler",
        seen.load(Ordering::Relaxed)
    );

    println!("\nthe API stays up for 30 s (Ctrl-C to stop now)");
    tokio::select! {
        () = tokio::time::sleep(Duration::from_secs(30)) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    for worker in &workers {
        worker.shutdown().await;
    }
    shutdown.cancel();
    server.await??;
    manager.shutdown().await;
    Ok(())
}

fn short(event: &Event) -> &str {
    event
        .job_id
        .as_deref()
        .map_or("-", |id| &id[id.len().saturating_sub(8)..])
}
