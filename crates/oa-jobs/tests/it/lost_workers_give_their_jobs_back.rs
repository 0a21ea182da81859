//! Liveness: a worker whose heartbeats stop is declared offline and exactly its jobs go back
//! to the queue; a worker shutting down gracefully finishes or returns its jobs.

use std::sync::Arc;
use std::time::Duration;

use oa_events::EventType::{
    JobCompleted, JobCreated, JobQueued, JobRetrying, JobStarted, WorkerClaimedJob, WorkerOffline,
};
use oa_events::keys;
use oa_jobs::{JobContext, JobError, JobStatus, NewJob};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::support::{engine, wait_event, wait_status};

/// A handler that blocks until the test adds a permit (or forever).
fn gated(gate: &Arc<Semaphore>) -> impl oa_jobs::JobHandler {
    let gate = Arc::clone(gate);
    move |_ctx: JobContext| {
        let gate = Arc::clone(&gate);
        async move {
            let permit = gate
                .acquire()
                .await
                .map_err(|_| JobError::new("closed", "gate closed"))?;
            permit.forget();
            Ok(Value::from("passed"))
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_killed_workers_job_is_requeued_and_finished_by_another() {
    let (manager, recorder) = engine();
    let never = Arc::new(Semaphore::new(0));
    let doomed = manager
        .worker()
        .id("doomed")
        .heartbeat_interval(Duration::from_secs(1))
        .handler("work", gated(&never))
        .start()
        .await
        .unwrap();
    let job = manager.create(NewJob::new("work")).await.unwrap();
    let other = manager.create(NewJob::new("other")).await.unwrap();
    wait_event(&recorder, &job.id, JobStarted).await;

    doomed.kill().await;
    let heir = manager
        .worker()
        .id("heir")
        .handler("work", |_ctx: JobContext| async {
            Ok::<_, JobError>(json!("done"))
        })
        .start()
        .await
        .unwrap();
    wait_event(&recorder, &job.id, JobCompleted).await;

    recorder.assert_job_types(
        &job.id,
        &[
            JobCreated,
            JobQueued,
            WorkerClaimedJob,
            JobStarted,
            JobRetrying,
            JobQueued,
            WorkerClaimedJob,
            JobStarted,
            JobCompleted,
        ],
    );
    let events = recorder.events();
    let retrying = events.iter().find(|e| e.event_type == JobRetrying).unwrap();
    assert_eq!(retrying.data_str(keys::REASON), Some("worker_lost"));
    assert_eq!(retrying.worker_id.as_deref(), Some("doomed"));
    let offline = events
        .iter()
        .find(|e| e.event_type == WorkerOffline)
        .unwrap();
    assert_eq!(offline.worker_id.as_deref(), Some("doomed"));
    assert_eq!(offline.data_str(keys::REASON), Some("heartbeat_timeout"));
    assert_eq!(
        offline.data.get(keys::REQUEUED_JOB_IDS),
        Some(&json!([job.id]))
    );
    // Declared offline three heartbeat intervals after its last heartbeat, not before.
    let last_beat = events
        .iter()
        .filter(|e| {
            e.worker_id.as_deref() == Some("doomed")
                && e.event_type == oa_events::EventType::WorkerHeartbeat
        })
        .map(|e| e.timestamp)
        .max()
        .unwrap_or(events[0].timestamp);
    assert!(offline.timestamp - last_beat >= chrono::TimeDelta::seconds(3));
    let completed = events
        .iter()
        .find(|e| e.event_type == JobCompleted)
        .unwrap();
    assert_eq!(completed.worker_id.as_deref(), Some("heir"));
    let stored = manager.get(&job.id).await.unwrap();
    assert_eq!((stored.status, stored.attempt), (JobStatus::Completed, 2));
    // Only the lost worker's job moved: the job nobody handles is still queued, untouched.
    assert_eq!(
        manager.get(&other.id).await.unwrap().status,
        JobStatus::Queued
    );
    recorder.assert_job_types(&other.id, &[JobCreated, JobQueued]);
    let workers = manager.workers().await.unwrap();
    let doomed_record = workers.iter().find(|w| w.id == "doomed").unwrap();
    assert_eq!(
        doomed_record.offline_reason.as_deref(),
        Some("heartbeat_timeout")
    );
    heir.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_lost_job_without_retries_left_fails() {
    let (manager, recorder) = engine();
    let never = Arc::new(Semaphore::new(0));
    let doomed = manager
        .worker()
        .heartbeat_interval(Duration::from_secs(1))
        .handler("work", gated(&never))
        .start()
        .await
        .unwrap();
    let job = manager
        .create(NewJob::new("work").max_retries(0))
        .await
        .unwrap();
    wait_event(&recorder, &job.id, JobStarted).await;
    doomed.kill().await;
    wait_status(&manager, &job.id, JobStatus::Failed).await;
    let stored = manager.get(&job.id).await.unwrap();
    assert_eq!(stored.error.unwrap().kind, "worker_lost");
}

#[tokio::test(start_paused = true)]
async fn a_healthy_worker_is_never_reaped() {
    let (manager, recorder) = engine();
    let gate = Arc::new(Semaphore::new(0));
    let worker = manager
        .worker()
        .heartbeat_interval(Duration::from_secs(1))
        .handler("work", gated(&gate))
        .start()
        .await
        .unwrap();
    let job = manager.create(NewJob::new("work")).await.unwrap();
    wait_event(&recorder, &job.id, JobStarted).await;
    // Ten minutes of heartbeats: the lease keeps being renewed and nobody steals the job.
    tokio::time::sleep(Duration::from_secs(600)).await;
    let stored = manager.get(&job.id).await.unwrap();
    assert_eq!((stored.status, stored.attempt), (JobStatus::Running, 1));
    assert!(
        recorder
            .types()
            .iter()
            .all(|t| *t != WorkerOffline && *t != JobRetrying)
    );
    gate.add_permits(1);
    wait_status(&manager, &job.id, JobStatus::Completed).await;
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_graceful_shutdown_finishes_short_jobs_and_requeues_long_ones() {
    let (manager, recorder) = engine();
    let worker = manager
        .worker()
        .id("leaving")
        .max_concurrent_jobs(2)
        .shutdown_grace(Duration::from_secs(10))
        .cancel_grace(Duration::from_secs(1))
        .handler("sleep", |ctx: JobContext| async move {
            let secs = ctx.payload().as_u64().unwrap_or_default();
            tokio::time::sleep(Duration::from_secs(secs)).await;
            Ok::<_, JobError>(Value::from(secs))
        })
        .start()
        .await
        .unwrap();
    let short = manager
        .create(NewJob::new("sleep").payload(json!(5)))
        .await
        .unwrap();
    let long = manager
        .create(NewJob::new("sleep").payload(json!(3600)))
        .await
        .unwrap();
    wait_event(&recorder, &long.id, JobStarted).await;
    wait_event(&recorder, &short.id, JobStarted).await;

    let started = tokio::time::Instant::now();
    worker.shutdown().await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(10) && took <= Duration::from_secs(12),
        "{took:?}"
    );

    assert_eq!(
        manager.get(&short.id).await.unwrap().status,
        JobStatus::Completed
    );
    let long_job = manager.get(&long.id).await.unwrap();
    assert_eq!(long_job.status, JobStatus::Queued);
    assert!(long_job.worker_id.is_none());
    let events = recorder.events();
    let retrying = events.iter().find(|e| e.event_type == JobRetrying).unwrap();
    assert_eq!(retrying.job_id.as_deref(), Some(long.id.as_str()));
    assert_eq!(retrying.data_str(keys::REASON), Some("shutdown"));
    let offline = events.last().unwrap();
    assert_eq!(offline.event_type, WorkerOffline);
    assert_eq!(offline.data_str(keys::REASON), Some("shutdown"));
    assert_eq!(
        offline.data.get(keys::REQUEUED_JOB_IDS),
        Some(&json!([long.id]))
    );
}

#[tokio::test(start_paused = true)]
async fn workers_claim_only_the_names_they_handle() {
    let (manager, recorder) = engine();
    let emails = manager
        .worker()
        .id("emails")
        .handler("email", |_ctx: JobContext| async {
            Ok::<_, JobError>(json!("sent"))
        })
        .start()
        .await
        .unwrap();
    let reports = manager
        .worker()
        .id("reports")
        .handler("report", |_ctx: JobContext| async {
            Ok::<_, JobError>(json!("built"))
        })
        .start()
        .await
        .unwrap();
    let mut jobs = Vec::new();
    for i in 0..20 {
        let name = if i % 2 == 0 { "email" } else { "report" };
        jobs.push(manager.create(NewJob::new(name)).await.unwrap());
    }
    let orphan = manager.create(NewJob::new("unknown")).await.unwrap();
    for job in &jobs {
        wait_status(&manager, &job.id, JobStatus::Completed).await;
    }
    for event in recorder
        .events()
        .iter()
        .filter(|e| e.event_type == JobCompleted)
    {
        let expected = if event.data_str(keys::NAME) == Some("email") {
            "emails"
        } else {
            "reports"
        };
        assert_eq!(event.worker_id.as_deref(), Some(expected));
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        manager.get(&orphan.id).await.unwrap().status,
        JobStatus::Queued
    );
    assert_eq!(manager.counts().await.unwrap().get(JobStatus::Queued), 1);
    emails.shutdown().await;
    reports.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_pause_made_by_another_process_reaches_the_handler_through_the_heartbeat() {
    // Two managers over one store stand for two processes: the worker's process never sees
    // the pause call; its heartbeat finds the job paused in the store.
    let store: Arc<dyn oa_jobs::JobStore> = Arc::new(oa_jobs::MemoryStore::new());
    let emitter = oa_events::EventEmitter::new();
    let recorder = oa_events::testing::RecordingSubscriber::attach(&emitter);
    let worker_side = oa_jobs::JobManager::builder(Arc::clone(&store))
        .emitter(emitter)
        .build()
        .unwrap();
    let api_side = oa_jobs::JobManager::builder(store).build().unwrap();
    let steps = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = Arc::clone(&steps);
    let worker = worker_side
        .worker()
        .heartbeat_interval(Duration::from_secs(1))
        .handler("steps", move |ctx: JobContext| {
            let counter = Arc::clone(&counter);
            async move {
                for _ in 0..100 {
                    ctx.checkpoint().await?;
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok::<_, JobError>(Value::Null)
            }
        })
        .start()
        .await
        .unwrap();
    let job = api_side.create(NewJob::new("steps")).await.unwrap();
    wait_event(&recorder, &job.id, JobStarted).await;
    api_side.pause(&job.id).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let paused_at = steps.load(std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(steps.load(std::sync::atomic::Ordering::SeqCst), paused_at);
    api_side.resume(&job.id).await.unwrap();
    wait_status(&api_side, &job.id, JobStatus::Completed).await;
    assert_eq!(steps.load(std::sync::atomic::Ordering::SeqCst), 100);
    worker.shutdown().await;
}
