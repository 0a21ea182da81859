//! The events of every job lifecycle, exactly as the table of ARCHITECTURE.md orders them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use oa_events::EventType::{
    JobCancelled, JobCompleted, JobCreated, JobFailed, JobPaused, JobProgressUpdated, JobQueued,
    JobResumed, JobRetrying, JobStarted, WorkerClaimedJob,
};
use oa_events::{EventType, keys};
use oa_jobs::{JobContext, JobError, JobStatus, NewJob};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::support::{WAIT, engine, one_second, wait_event, wait_status};

async fn echo(ctx: JobContext) -> Result<Value, JobError> {
    Ok(ctx.payload().clone())
}

#[tokio::test(start_paused = true)]
async fn a_successful_job() {
    let (manager, recorder) = engine();
    let worker = manager
        .worker()
        .handler("echo", echo)
        .start()
        .await
        .unwrap();
    let job = manager
        .create(NewJob::new("echo").payload(json!({"n": 1})))
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
            JobCompleted,
        ],
    );
    let stored = manager.get(&job.id).await.unwrap();
    assert_eq!(stored.status, JobStatus::Completed);
    assert_eq!(stored.result, Some(json!({"n": 1})));
    assert_eq!(stored.attempt, 1);
    assert!(stored.worker_id.is_none() && stored.finished_at.is_some());

    let completed = recorder
        .events()
        .into_iter()
        .find(|e| e.event_type == JobCompleted)
        .unwrap();
    assert_eq!(completed.worker_id.as_deref(), Some(worker.id()));
    assert_eq!(completed.data.get(keys::RESULT), Some(&json!({"n": 1})));
    assert_eq!(completed.data_str(keys::STATUS), Some("completed"));
    assert_eq!(completed.data_u64(keys::ATTEMPT), Some(1));
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_failing_then_succeeding_on_retry() {
    let (manager, recorder) = engine();
    let worker = manager
        .worker()
        .handler("flaky", |ctx: JobContext| async move {
            if ctx.attempt() == 1 {
                Err(JobError::new("http_502", "bad gateway"))
            } else {
                Ok(json!("ok"))
            }
        })
        .start()
        .await
        .unwrap();
    let job = manager
        .create(NewJob::new("flaky").retry_policy(one_second()))
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
    assert_eq!(retrying.data_str(keys::REASON), Some("error"));
    assert_eq!(
        retrying.data.get(keys::ERROR),
        Some(&json!({"kind": "http_502", "message": "bad gateway"}))
    );
    assert_eq!(retrying.data_u64(keys::ATTEMPT), Some(1));
    // The second attempt is queued one second (the fixed policy) after the failure.
    let next_run_at = retrying.data_str(keys::NEXT_RUN_AT).unwrap();
    let next_run_at = chrono::DateTime::parse_from_rfc3339(next_run_at)
        .unwrap()
        .to_utc();
    assert_eq!(
        next_run_at - retrying.timestamp,
        chrono::TimeDelta::seconds(1)
    );
    let requeued = events
        .iter()
        .filter(|e| e.event_type == JobQueued)
        .nth(1)
        .unwrap();
    assert!(requeued.timestamp >= next_run_at);
    let stored = manager.get(&job.id).await.unwrap();
    assert_eq!(
        (stored.status, stored.attempt, stored.error),
        (JobStatus::Completed, 2, None)
    );
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_failing_for_good() {
    let (manager, recorder) = engine();
    let worker = manager
        .worker()
        .handler("doomed", |_ctx: JobContext| async {
            Err::<Value, _>(JobError::new("boom", "always"))
        })
        .start()
        .await
        .unwrap();
    let job = manager
        .create(
            NewJob::new("doomed")
                .max_retries(1)
                .retry_policy(one_second()),
        )
        .await
        .unwrap();
    wait_event(&recorder, &job.id, JobFailed).await;

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
            JobFailed,
        ],
    );
    let stored = manager.get(&job.id).await.unwrap();
    assert_eq!(stored.status, JobStatus::Failed);
    assert_eq!(stored.attempt, 2);
    assert_eq!(stored.error.unwrap().kind, "boom");
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_fatal_error_skips_the_retries() {
    let (manager, recorder) = engine();
    let worker = manager
        .worker()
        .handler("bad_input", |_ctx: JobContext| async {
            Err::<Value, _>(JobError::fatal("invalid", "no"))
        })
        .start()
        .await
        .unwrap();
    let job = manager
        .create(NewJob::new("bad_input").max_retries(5))
        .await
        .unwrap();
    wait_event(&recorder, &job.id, JobFailed).await;
    recorder.assert_job_types(
        &job.id,
        &[
            JobCreated,
            JobQueued,
            WorkerClaimedJob,
            JobStarted,
            JobFailed,
        ],
    );
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_cancelled_while_queued() {
    let (manager, recorder) = engine();
    // No worker handles it, so it stays queued (and visible as such) until cancelled.
    let job = manager
        .create(NewJob::new("nobody_handles_this"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(
        manager.get(&job.id).await.unwrap().status,
        JobStatus::Queued
    );
    manager.cancel(&job.id).await.unwrap();
    recorder.assert_job_types(&job.id, &[JobCreated, JobQueued, JobCancelled]);
    // Final is final: a second cancel is a typed error and changes nothing.
    let again = manager.cancel(&job.id).await.unwrap_err();
    assert!(
        matches!(again, oa_jobs::Error::InvalidTransition { .. }),
        "{again}"
    );
    assert_eq!(
        manager.get(&job.id).await.unwrap().status,
        JobStatus::Cancelled
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_cancelled_while_running() {
    let (manager, recorder) = engine();
    let saw_cancel = Arc::new(Notify::new());
    let seen = Arc::clone(&saw_cancel);
    let worker = manager
        .worker()
        .handler("long", move |ctx: JobContext| {
            let seen = Arc::clone(&seen);
            async move {
                ctx.cancellation().cancelled().await;
                seen.notify_one();
                // Returning after the cancellation must not complete the job.
                Ok(json!("too late"))
            }
        })
        .start()
        .await
        .unwrap();
    let job = manager.create(NewJob::new("long")).await.unwrap();
    wait_event(&recorder, &job.id, JobStarted).await;
    manager.cancel(&job.id).await.unwrap();
    tokio::time::timeout(WAIT, saw_cancel.notified())
        .await
        .unwrap();
    worker.shutdown().await;

    recorder.assert_job_types(
        &job.id,
        &[
            JobCreated,
            JobQueued,
            WorkerClaimedJob,
            JobStarted,
            JobCancelled,
        ],
    );
    let stored = manager.get(&job.id).await.unwrap();
    assert_eq!((stored.status, stored.result), (JobStatus::Cancelled, None));
}

#[tokio::test(start_paused = true)]
async fn a_handler_ignoring_cancellation_is_dropped_after_the_grace_period() {
    let (manager, recorder) = engine();
    let worker = manager
        .worker()
        .cancel_grace(Duration::from_secs(2))
        .handler("stubborn", |_ctx: JobContext| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Value::Null)
        })
        .start()
        .await
        .unwrap();
    let job = manager.create(NewJob::new("stubborn")).await.unwrap();
    wait_event(&recorder, &job.id, JobStarted).await;
    manager.cancel(&job.id).await.unwrap();
    let before = tokio::time::Instant::now();
    while !worker.running_jobs().is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = before.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(3),
        "{took:?}"
    );
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_paused_and_resumed_while_running() {
    let (manager, recorder) = engine();
    let steps = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&steps);
    let worker = manager
        .worker()
        .handler("steps", move |ctx: JobContext| {
            let counter = Arc::clone(&counter);
            async move {
                for step in 1..=20_u32 {
                    ctx.checkpoint().await?;
                    counter.store(step, Ordering::SeqCst);
                    ctx.progress(f64::from(step) / 20.0);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Ok(json!(counter.load(Ordering::SeqCst)))
            }
        })
        .start()
        .await
        .unwrap();
    let job = manager
        .create(NewJob::new("steps").timeout(Duration::from_secs(30)))
        .await
        .unwrap();
    wait_event(&recorder, &job.id, JobStarted).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    manager.pause(&job.id).await.unwrap();
    // The handler stops at its next checkpoint and stays there: a minute later (twice the
    // timeout, which paused time does not count against) it has not moved.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let at_pause = steps.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(steps.load(Ordering::SeqCst), at_pause);
    assert_eq!(
        manager.get(&job.id).await.unwrap().status,
        JobStatus::Paused
    );
    assert!(at_pause < 20);

    manager.resume(&job.id).await.unwrap();
    wait_event(&recorder, &job.id, JobCompleted).await;
    assert_eq!(manager.get(&job.id).await.unwrap().result, Some(json!(20)));

    let types: Vec<EventType> = recorder
        .job_types(&job.id)
        .into_iter()
        .filter(|t| *t != JobProgressUpdated)
        .collect();
    assert_eq!(
        types,
        [
            JobCreated,
            JobQueued,
            WorkerClaimedJob,
            JobStarted,
            JobPaused,
            JobResumed,
            JobCompleted
        ]
    );
    // Progress arrived, increasing, and its last value is 1.0.
    let progress: Vec<f64> = recorder
        .events()
        .iter()
        .filter(|e| e.event_type == JobProgressUpdated)
        .map(|e| e.data_f64(keys::PROGRESS).unwrap())
        .collect();
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");
    assert_eq!(progress.last(), Some(&1.0));
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_paused_while_queued_is_queued_again_on_resume() {
    let (manager, recorder) = engine();
    let job = manager.create(NewJob::new("echo")).await.unwrap();
    manager.pause(&job.id).await.unwrap();
    let worker = manager
        .worker()
        .handler("echo", echo)
        .start()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        manager.get(&job.id).await.unwrap().status,
        JobStatus::Paused
    );
    manager.resume(&job.id).await.unwrap();
    wait_event(&recorder, &job.id, JobCompleted).await;
    recorder.assert_job_types(
        &job.id,
        &[
            JobCreated,
            JobQueued,
            JobPaused,
            JobResumed,
            JobQueued,
            WorkerClaimedJob,
            JobStarted,
            JobCompleted,
        ],
    );
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_timeout() {
    let (manager, recorder) = engine();
    let worker = manager
        .worker()
        .handler("slow", |_ctx: JobContext| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(Value::Null)
        })
        .start()
        .await
        .unwrap();
    let job = manager
        .create(
            NewJob::new("slow")
                .timeout(Duration::from_secs(2))
                .max_retries(1)
                .retry_policy(one_second()),
        )
        .await
        .unwrap();
    wait_event(&recorder, &job.id, JobFailed).await;
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
            JobFailed,
        ],
    );
    let events = recorder.events();
    let retrying = events.iter().find(|e| e.event_type == JobRetrying).unwrap();
    assert_eq!(retrying.data_str(keys::REASON), Some("timeout"));
    let started = events.iter().find(|e| e.event_type == JobStarted).unwrap();
    assert_eq!(
        retrying.timestamp - started.timestamp,
        chrono::TimeDelta::seconds(2)
    );
    assert_eq!(
        manager.get(&job.id).await.unwrap().error.unwrap().kind,
        "timeout"
    );
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_handler_fails_the_attempt_not_the_worker() {
    let (manager, recorder) = engine();
    let worker = manager
        .worker()
        .handler("panics", |_ctx: JobContext| async { panic!("kaboom") })
        .handler("echo", echo)
        .start()
        .await
        .unwrap();
    let bad = manager
        .create(NewJob::new("panics").max_retries(0))
        .await
        .unwrap();
    wait_event(&recorder, &bad.id, JobFailed).await;
    let error = manager.get(&bad.id).await.unwrap().error.unwrap();
    assert_eq!(error.kind, "panic");
    assert!(error.message.contains("kaboom"), "{}", error.message);
    // The same worker still runs jobs.
    let good = manager.create(NewJob::new("echo")).await.unwrap();
    wait_event(&recorder, &good.id, JobCompleted).await;
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_job_scheduled_for_later_is_queued_when_due() {
    let (manager, recorder) = engine();
    let worker = manager
        .worker()
        .handler("echo", echo)
        .start()
        .await
        .unwrap();
    let due = manager.clock().now() + chrono::TimeDelta::seconds(90);
    let job = manager
        .create(NewJob::new("echo").run_at(due))
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Queued);
    assert_eq!(manager.scheduled_count(), 1);
    tokio::time::sleep(Duration::from_secs(89)).await;
    recorder.assert_job_types(&job.id, &[JobCreated]);
    wait_event(&recorder, &job.id, JobCompleted).await;
    recorder.assert_job_types(
        &job.id,
        &[
            JobCreated,
            JobQueued,
            WorkerClaimedJob,
            JobStarted,
            JobCompleted,
        ],
    );
    let queued = recorder
        .events()
        .into_iter()
        .find(|e| e.event_type == JobQueued)
        .unwrap();
    assert_eq!(queued.timestamp, due);
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_created_job_waits_for_enqueue() {
    let (manager, recorder) = engine();
    let worker = manager
        .worker()
        .handler("echo", echo)
        .start()
        .await
        .unwrap();
    let job = manager
        .create(NewJob::new("echo").enqueue(false))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(
        manager.get(&job.id).await.unwrap().status,
        JobStatus::Created
    );
    manager.enqueue(&job.id).await.unwrap();
    wait_status(&manager, &job.id, JobStatus::Completed).await;
    recorder.assert_job_types(
        &job.id,
        &[
            JobCreated,
            JobQueued,
            WorkerClaimedJob,
            JobStarted,
            JobCompleted,
        ],
    );
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn progress_is_coalesced_and_the_last_value_always_arrives() {
    let (manager, recorder) = engine();
    let worker = manager
        .worker()
        .handler("chatty", |ctx: JobContext| async move {
            for i in 1..=1000 {
                ctx.progress(f64::from(i) / 1000.0 * 0.9);
            }
            // Nothing else happens for a while: the held value must still arrive.
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(Value::Null)
        })
        .start()
        .await
        .unwrap();
    let job = manager.create(NewJob::new("chatty")).await.unwrap();
    wait_event(&recorder, &job.id, JobCompleted).await;
    let progress: Vec<(chrono::DateTime<chrono::Utc>, f64)> = recorder
        .events()
        .iter()
        .filter(|e| e.event_type == JobProgressUpdated)
        .map(|e| (e.timestamp, e.data_f64(keys::PROGRESS).unwrap()))
        .collect();
    assert_eq!(progress.len(), 2, "{progress:?}");
    assert!((progress[0].1 - 0.0009).abs() < 1e-9);
    assert!((progress[1].1 - 0.9).abs() < 1e-9);
    // The held value came 100 ms after the first, not at the end of the handler.
    assert_eq!(
        progress[1].0 - progress[0].0,
        chrono::TimeDelta::milliseconds(100)
    );
    worker.shutdown().await;
}
