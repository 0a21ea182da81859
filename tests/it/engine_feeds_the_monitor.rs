//! The engine and the collectors agree on the event contract: real jobs run by real workers
//! produce exactly the numbers ARCHITECTURE.md defines.

use std::sync::Arc;
use std::time::Duration;

use oa_events::EventEmitter;
use oa_jobs::{
    JobContext, JobError, JobManager, JobStatus, MemoryStore, NewJob, Priority, RetryPolicy,
};
use oa_metrics::{JobQuery, SystemQuery, WorkerQuery};
use oa_monitor::Monitor;
use serde_json::{Value, json};

async fn settle(manager: &JobManager, ids: &[String]) {
    for id in ids {
        loop {
            let status = manager.get(id).await.unwrap().status;
            if status.is_final() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn jobs_run_by_workers_give_the_documented_numbers() {
    let emitter = EventEmitter::new();
    let monitor = Arc::new(Monitor::new(&emitter));
    let manager = JobManager::builder(Arc::new(MemoryStore::new()))
        .emitter(emitter.clone())
        .build()
        .unwrap();
    let worker = manager
        .worker()
        .id("w1")
        .max_concurrent_jobs(4)
        .handler("work", |ctx: JobContext| async move {
            // Each job works for the number of seconds in its payload, in paused time.
            let secs = ctx.payload()["secs"].as_u64().unwrap_or(1);
            ctx.progress(0.5);
            tokio::time::sleep(Duration::from_secs(secs)).await;
            match ctx.payload()["fail"].as_str() {
                Some("always") => Err(JobError::new("boom", "scripted")),
                Some("once") if ctx.attempt() == 1 => Err(JobError::new("flaky", "first attempt")),
                _ => Ok(Value::Null),
            }
        })
        .handler("forever", |ctx: JobContext| async move {
            ctx.cancellation().cancelled().await;
            Ok::<_, JobError>(Value::Null)
        })
        .start()
        .await
        .unwrap();

    let retry = RetryPolicy::fixed(Duration::from_secs(1));
    let mut ids = Vec::new();
    for (secs, tag, priority) in [
        (1, "a", Priority::High),
        (2, "a", Priority::Low),
        (3, "b", Priority::High),
    ] {
        let job = NewJob::new("work")
            .payload(json!({ "secs": secs }))
            .tag(tag)
            .priority(priority);
        ids.push(manager.create(job).await.unwrap().id);
    }
    let flaky = NewJob::new("work")
        .payload(json!({ "secs": 1, "fail": "once" }))
        .tag("b")
        .retry_policy(retry.clone());
    ids.push(manager.create(flaky).await.unwrap().id);
    let doomed = NewJob::new("work")
        .payload(json!({ "secs": 1, "fail": "always" }))
        .max_retries(0);
    ids.push(manager.create(doomed).await.unwrap().id);
    settle(&manager, &ids).await;
    let never_started = manager.create(NewJob::new("nobody")).await.unwrap();
    manager.cancel(&never_started.id).await.unwrap();
    let running = manager
        .create(NewJob::new("forever").tag("long"))
        .await
        .unwrap();
    while manager.get(&running.id).await.unwrap().status != JobStatus::Running {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let summary = monitor.summary();
    // Five jobs started (the retry of the flaky one is not a new job), plus the running one.
    assert_eq!(summary.total_jobs, 6);
    assert_eq!(summary.completed_jobs, 4);
    assert_eq!(summary.failed_jobs, 1, "only the final failure counts");
    assert_eq!(summary.cancelled_jobs, 1);
    assert_eq!(summary.retries, 1);
    assert_eq!(summary.currently_running, 1);
    // Rates over the six finished jobs.
    assert!(
        (summary.success_rate - 400.0 / 6.0).abs() < 1e-9,
        "{}",
        summary.success_rate
    );
    assert!((summary.failure_rate - 100.0 / 6.0).abs() < 1e-9);
    // Execution times from event timestamps (paused time makes them exact): 1, 2, 3 and the
    // flaky job's successful second attempt, 1.
    assert_eq!(summary.min_execution_time, 1.0);
    assert_eq!(summary.max_execution_time, 3.0);
    assert!((summary.avg_execution_time - 7.0 / 4.0).abs() < 1e-9);

    let tags = monitor.tag_metrics();
    assert_eq!(tags["a"].completed_jobs, 2);
    assert_eq!(tags["b"].completed_jobs, 2);
    let priorities = monitor.priority_metrics();
    assert_eq!(priorities[&oa_metrics::Priority::High].completed_jobs, 2);
    assert_eq!(priorities[&oa_metrics::Priority::Low].completed_jobs, 1);

    let recent = monitor.recent_jobs(10);
    assert_eq!(recent.len(), 6);
    let failed = recent.iter().find(|job| job.error.is_some()).unwrap();
    assert_eq!(failed.error.as_ref().unwrap().kind, "boom");

    let in_flight = monitor.running_jobs();
    assert_eq!(in_flight.len(), 1);
    assert_eq!(in_flight[0].job_id, running.id);
    assert_eq!(in_flight[0].worker_id.as_deref(), Some("w1"));

    let workers = monitor.workers();
    assert_eq!(workers.active_count, 1);
    let w1 = monitor.worker("w1").unwrap();
    assert_eq!(w1.jobs_completed, 4);
    assert_eq!(w1.jobs_failed, 1);
    assert_eq!(w1.max_concurrent_jobs, Some(4));

    let counts = monitor.event_counts();
    assert_eq!(counts[&oa_events::EventType::JobCreated], 7);
    assert_eq!(counts[&oa_events::EventType::JobRetrying], 1);
    assert_eq!(monitor.system().error_count, 0);

    manager.cancel(&running.id).await.unwrap();
    worker.shutdown().await;
    let after = monitor.summary();
    assert_eq!((after.cancelled_jobs, after.currently_running), (2, 0));
    assert_eq!(
        monitor.workers().active_count,
        0,
        "a worker that shut down is offline"
    );
    manager.shutdown().await;
}
