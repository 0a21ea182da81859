//! The manager's operations besides the lifecycle: bad input, retry by hand, delete, purge,
//! listing and counting.

use std::time::Duration;

use oa_events::EventType::{JobCreated, JobQueued};
use oa_jobs::store::{JobFilter, Page};
use oa_jobs::{Error, JobContext, JobError, JobStatus, NewJob, Priority, RetryPolicy};
use serde_json::{Value, json};

use crate::support::{engine, wait_status};

#[tokio::test(start_paused = true)]
async fn bad_input_is_a_typed_error_and_creates_nothing() {
    let (manager, recorder) = engine();
    let cases = [
        NewJob::new(""),
        NewJob::new("x".repeat(201)),
        NewJob::new("ok").tag(""),
        NewJob::new("ok").timeout(Duration::ZERO),
        NewJob::new("ok").retry_policy(RetryPolicy::default().with_jitter(0.0).unwrap()),
    ];
    let [empty, long, tag, timeout, valid] = cases;
    for bad in [empty, long, tag, timeout] {
        let error = manager.create(bad).await.unwrap_err();
        assert!(matches!(error, Error::InvalidArgument { .. }), "{error}");
        assert_eq!(error.code(), "invalid_argument");
    }
    // A batch with one bad job creates none of them.
    let error = manager
        .create_many(vec![NewJob::new("fine"), NewJob::new("")])
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        Error::InvalidArgument { field: "name", .. }
    ));
    assert_eq!(manager.counts().await.unwrap().total(), 0);
    assert!(recorder.is_empty());
    manager.create(valid).await.unwrap();
    assert_eq!(manager.counts().await.unwrap().total(), 1);
}

#[tokio::test(start_paused = true)]
async fn unknown_ids_and_illegal_moves_change_nothing() {
    let (manager, _recorder) = engine();
    for result in [
        manager.pause("nope").await,
        manager.resume("nope").await,
        manager.cancel("nope").await,
        manager.enqueue("nope").await,
        manager.get("nope").await,
    ] {
        assert!(matches!(result, Err(Error::JobNotFound { ref job_id }) if job_id == "nope"));
    }
    let job = manager.create(NewJob::new("idle")).await.unwrap();
    let before = manager.get(&job.id).await.unwrap();
    for result in [
        manager.resume(&job.id).await,
        manager.enqueue(&job.id).await,
    ] {
        assert!(matches!(
            result,
            Err(Error::InvalidTransition {
                from: JobStatus::Queued,
                ..
            })
        ));
    }
    assert_eq!(manager.get(&job.id).await.unwrap(), before);
    assert!(matches!(
        manager.retry(&job.id).await,
        Err(Error::InvalidTransition { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn retrying_a_failed_job_by_hand_creates_a_linked_job() {
    let (manager, recorder) = engine();
    let worker = manager
        .worker()
        .handler("once", |ctx: JobContext| async move {
            if ctx.metadata().contains_key("retry_of") {
                Ok(json!("second time lucky"))
            } else {
                Err(JobError::fatal("broken", "first run fails"))
            }
        })
        .start()
        .await
        .unwrap();
    let failed = manager
        .create(
            NewJob::new("once")
                .priority(Priority::High)
                .tag("t")
                .payload(json!([1])),
        )
        .await
        .unwrap();
    wait_status(&manager, &failed.id, JobStatus::Failed).await;
    let again = manager.retry(&failed.id).await.unwrap();
    assert_ne!(again.id, failed.id);
    assert_eq!(
        again.metadata.get("retry_of"),
        Some(&Value::String(failed.id.clone()))
    );
    assert_eq!(
        (again.priority, again.tags.clone(), again.payload.clone()),
        (Priority::High, vec!["t".to_owned()], json!([1]))
    );
    wait_status(&manager, &again.id, JobStatus::Completed).await;
    // The original stays failed: final is final.
    assert_eq!(
        manager.get(&failed.id).await.unwrap().status,
        JobStatus::Failed
    );
    assert_eq!(recorder.job_types(&again.id)[..2], [JobCreated, JobQueued]);
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn delete_refuses_held_jobs_and_purge_removes_old_finished_ones() {
    let (manager, _recorder) = engine();
    let worker = manager
        .worker()
        .handler("hold", |ctx: JobContext| async move {
            ctx.cancellation().cancelled().await;
            Ok::<_, JobError>(Value::Null)
        })
        .handler("quick", |_ctx: JobContext| async {
            Ok::<_, JobError>(Value::Null)
        })
        .start()
        .await
        .unwrap();
    let held = manager.create(NewJob::new("hold")).await.unwrap();
    wait_status(&manager, &held.id, JobStatus::Running).await;
    let error = manager.delete(&held.id).await.unwrap_err();
    assert!(matches!(error, Error::JobHeld { .. }), "{error}");
    assert_eq!(
        manager.get(&held.id).await.unwrap().status,
        JobStatus::Running
    );

    let quick = manager.create(NewJob::new("quick")).await.unwrap();
    wait_status(&manager, &quick.id, JobStatus::Completed).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let fresh = manager.create(NewJob::new("quick")).await.unwrap();
    wait_status(&manager, &fresh.id, JobStatus::Completed).await;
    assert_eq!(manager.purge(Duration::from_secs(1800)).await.unwrap(), 1);
    assert!(matches!(
        manager.get(&quick.id).await,
        Err(Error::JobNotFound { .. })
    ));
    assert_eq!(
        manager.get(&fresh.id).await.unwrap().status,
        JobStatus::Completed
    );

    manager.cancel(&held.id).await.unwrap();
    manager.delete(&held.id).await.unwrap();
    assert!(matches!(
        manager.delete(&held.id).await,
        Err(Error::JobNotFound { .. })
    ));
    worker.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn listing_filters_and_counts() {
    let (manager, _recorder) = engine();
    for i in 0..30 {
        let priority = if i % 3 == 0 {
            Priority::Critical
        } else {
            Priority::Low
        };
        let job = NewJob::new(if i % 2 == 0 { "even" } else { "odd" })
            .priority(priority)
            .tag(format!("t{}", i % 5));
        manager.create(job).await.unwrap();
    }
    let evens = manager
        .list(&JobFilter::all().name("even"), Page::new(100, 0).unwrap())
        .await
        .unwrap();
    assert_eq!(evens.jobs.len(), 15);
    assert!(
        evens.jobs.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );
    let page = manager
        .list(&JobFilter::all(), Page::new(10, 20).unwrap())
        .await
        .unwrap();
    assert_eq!((page.jobs.len(), page.next_offset), (10, None));
    let first = manager
        .list(&JobFilter::all(), Page::new(10, 0).unwrap())
        .await
        .unwrap();
    assert_eq!(first.next_offset, Some(10));
    let critical_t0 = manager
        .list(
            &JobFilter::all().priority(Priority::Critical).tag("t0"),
            Page::default(),
        )
        .await
        .unwrap();
    assert_eq!(critical_t0.jobs.len(), 2); // i = 0 and 15
    assert_eq!(manager.counts().await.unwrap().get(JobStatus::Queued), 30);
    assert!(matches!(
        Page::new(0, 0),
        Err(Error::InvalidArgument { field: "limit", .. })
    ));
    assert!(Page::new(1001, 0).is_err());
}
