//! A durable queue with a worker: jobs in SQLite, a flaky handler retried with backoff, every
//! event printed as it happens.
//!
//! Run with: `cargo run -p oa-jobs --example jobs`

#![allow(clippy::print_stdout, reason = "printing the events is the point")]

use std::sync::Arc;
use std::time::Duration;

use oa_events::{Event, EventEmitter, EventType};
use oa_jobs::{JobContext, JobError, JobManager, NewJob, RetryPolicy, SqliteStore};
use serde_json::json;
use tokio::sync::Notify;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = SqliteStore::open(dir.path().join("jobs.db")).await?;
    let emitter = EventEmitter::new();
    let done = Arc::new(Notify::new());
    let finished = Arc::clone(&done);
    emitter.on_any(move |event: &Event| {
        println!(
            "{:>4} {:<22} job={} worker={}",
            event.seq,
            event.wire_name(),
            event.job_id.as_deref().unwrap_or("-"),
            event.worker_id.as_deref().unwrap_or("-")
        );
        if event.event_type == EventType::JobCompleted {
            finished.notify_one();
        }
    });
    let manager = JobManager::new(Arc::new(store), emitter)?;

    let worker = manager
        .worker()
        .id("example-worker")
        .handler("fetch", |ctx: JobContext| async move {
            // Fails on the first attempt, as a flaky network call would.
            if ctx.attempt() == 1 {
                return Err(JobError::new("http_503", "service unavailable"));
            }
            ctx.progress(0.5);
            Ok(json!({ "url": ctx.payload()["url"], "bytes": 512 }))
        })
        .start()
        .await?;

    let job = manager
        .create(
            NewJob::new("fetch")
                .payload(json!({ "url": "https://example.com" }))
                .retry_policy(RetryPolicy::fixed(Duration::from_millis(200))),
        )
        .await?;
    done.notified().await;

    let job = manager.get(&job.id).await?;
    println!(
        "job {} is {} after {} attempts: {:?}",
        job.id, job.status, job.attempt, job.result
    );
    worker.shutdown().await;
    manager.shutdown().await;
    Ok(())
}
