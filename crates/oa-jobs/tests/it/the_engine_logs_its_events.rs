//! A manager over a store with an event log writes every event it emits to the log: the
//! events of a change with the change, the others shortly after; the log holds the same
//! sequence a local subscriber saw; a manager without logging writes nothing; the log is
//! trimmed to its retention by the manager.

use std::sync::Arc;
use std::time::Duration;

use oa_events::testing::RecordingSubscriber;
use oa_events::{Event, EventEmitter, EventLog, EventType, LogRetention};
use oa_jobs::{JobContext, JobError, JobManager, JobStore, ManagerConfig, NewJob, SqliteStore};
use serde_json::{Value, json};

use crate::support::read_whole_log;

/// Waits until the log holds at least `count` events.
async fn wait_for_log(log: &dyn EventLog, count: u64) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while log.bounds().await.unwrap().count < count {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
}

fn key(event: &Event) -> (EventType, Option<String>, Option<String>) {
    (
        event.event_type,
        event.job_id.clone(),
        event.worker_id.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_holds_the_events_a_local_subscriber_saw_in_the_same_order() {
    let store: Arc<dyn JobStore> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let emitter = EventEmitter::new();
    let recorder = RecordingSubscriber::attach(&emitter);
    let manager = JobManager::builder(Arc::clone(&store))
        .emitter(emitter)
        .build()
        .unwrap();
    let log = Arc::clone(manager.event_log().expect("SQLite keeps a log"));
    let worker = manager
        .worker()
        .id("w")
        .handler("ok", |ctx: JobContext| async move {
            ctx.progress(0.5);
            Ok::<_, JobError>(json!({"done": true}))
        })
        .handler("bad", |_ctx: JobContext| async {
            Err::<Value, _>(JobError::fatal("scripted", "no"))
        })
        .start()
        .await
        .unwrap();
    let worker_id = worker.id().to_owned();
    let ok = manager.create(NewJob::new("ok")).await.unwrap();
    let bad = manager
        .create(NewJob::new("bad").max_retries(0))
        .await
        .unwrap();
    let paused = manager
        .create(NewJob::new("ok").enqueue(false))
        .await
        .unwrap();
    manager.cancel(&paused.id).await.unwrap();
    recorder
        .wait_for(Duration::from_secs(10), |events| {
            events
                .iter()
                .any(|e| e.event_type == EventType::JobCompleted)
                && events.iter().any(|e| e.event_type == EventType::JobFailed)
        })
        .await;
    worker.shutdown().await;
    manager.shutdown().await;

    let local = recorder.events();
    let logged = read_whole_log(&*log).await;
    // Every event emitted here is in the log (the manager's shutdown flushed the rest).
    assert_eq!(logged.len(), local.len(), "{logged:#?}\n{local:#?}");
    // Per job, the same sequence; the log's own order is a valid interleaving.
    for job_id in [&ok.id, &bad.id, &paused.id] {
        let of = |events: &[Event]| -> Vec<_> {
            events
                .iter()
                .filter(|e| e.job_id.as_deref() == Some(job_id.as_str()))
                .map(key)
                .collect()
        };
        assert_eq!(of(&logged), of(&local), "job {job_id}");
    }
    let types =
        |events: &[Event], t: EventType| events.iter().filter(|e| e.event_type == t).count();
    for t in EventType::ALL {
        assert_eq!(types(&logged, t), types(&local, t), "{t}");
    }
    assert_eq!(types(&logged, EventType::JobCompleted), 1);
    assert_eq!(types(&logged, EventType::WorkerRegistered), 1);
    assert_eq!(types(&logged, EventType::WorkerOffline), 1);
    // Data survives: the completed event carries the result.
    let completed = logged
        .iter()
        .find(|e| e.event_type == EventType::JobCompleted)
        .unwrap();
    assert_eq!(completed.data["result"], json!({"done": true}));
    assert_eq!(completed.worker_id.as_deref(), Some(worker_id.as_str()));
    assert!(logged.windows(2).all(|pair| pair[0].seq < pair[1].seq));
}

#[tokio::test]
async fn a_manager_without_logging_writes_nothing_to_the_log() {
    let sqlite = Arc::new(SqliteStore::in_memory().await.unwrap());
    let store: Arc<dyn JobStore> = sqlite.clone();
    let manager = JobManager::builder(Arc::clone(&store))
        .event_log(false)
        .build()
        .unwrap();
    assert!(manager.event_log().is_none());
    manager.create(NewJob::new("x")).await.unwrap();
    manager.publish(Event::new(EventType::SystemStartup).with_data("pid", 1));
    manager.shutdown().await;
    let log = store.event_log().unwrap();
    assert_eq!(log.bounds().await.unwrap().count, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manager_trims_the_log_to_its_retention() {
    let store: Arc<dyn JobStore> = Arc::new(SqliteStore::in_memory().await.unwrap());
    let mut config = ManagerConfig::default();
    config.purge_interval = Duration::from_millis(20);
    config.reap_interval = Duration::from_millis(20);
    let manager = JobManager::builder(Arc::clone(&store))
        .config(config)
        .event_log_retention(LogRetention {
            max_age: Duration::from_secs(3600),
            max_count: 10,
            batch: 4,
        })
        .build()
        .unwrap();
    let log = Arc::clone(manager.event_log().unwrap());
    // 30 jobs: 60 events (created and queued each).
    manager
        .create_many((0..30).map(|_| NewJob::new("x")).collect())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let bounds = log.bounds().await.unwrap();
            if bounds.count <= 10 {
                return bounds;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .map(|bounds| {
        assert_eq!(bounds.last, 60, "numbers are never reused");
        assert!(bounds.first > 50, "the oldest went first: {bounds:?}");
    })
    .unwrap();
    manager.shutdown().await;
    wait_for_log(&*log, 1).await;
}
