//! `LogFollower` over a durable log: replays what is retained, then follows new events with
//! their durable sequence numbers; counts what it skipped; survives a failing log.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use oa_events::testing::RecordingSubscriber;
use oa_events::{
    Event, EventEmitter, EventLog, EventType, FollowOptions, LogBounds, LogError, LogFollower,
    LogRetention, MemoryEventLog,
};
use tokio::sync::Notify;

fn job_event(job: &str) -> Event {
    Event::for_job(EventType::JobCompleted, job)
}

async fn append(log: &MemoryEventLog, jobs: &[&str]) {
    let events: Vec<Event> = jobs.iter().map(|job| job_event(job)).collect();
    log.append(&events).await.unwrap();
}

fn seqs(recorder: &RecordingSubscriber) -> Vec<u64> {
    recorder.events().iter().map(|event| event.seq).collect()
}

#[tokio::test]
async fn replays_the_retained_events_then_follows_new_ones_keeping_their_seq() {
    let log = MemoryEventLog::new();
    append(&log, &["a", "b", "c"]).await;
    let emitter = EventEmitter::new();
    let recorder = RecordingSubscriber::attach(&emitter);

    let follower = LogFollower::start(
        Arc::new(log.clone()),
        emitter.clone(),
        FollowOptions::default(),
    )
    .unwrap();
    tokio::time::timeout(Duration::from_secs(5), follower.caught_up())
        .await
        .unwrap();
    assert_eq!(seqs(&recorder), [1, 2, 3]);
    assert_eq!(
        recorder
            .events()
            .iter()
            .map(|e| e.job_id.clone().unwrap())
            .collect::<Vec<_>>(),
        ["a", "b", "c"]
    );

    // New events arrive through the log's signal, long before the poll interval.
    append(&log, &["d", "e"]).await;
    recorder.wait_for_count(5, Duration::from_secs(2)).await;
    assert_eq!(seqs(&recorder), [1, 2, 3, 4, 5]);
    assert_eq!(follower.position(), 5);
    assert_eq!(follower.followed(), 5);
    assert_eq!(follower.skipped(), 0);
    // The emitter's own numbering continues above the durable one.
    assert_eq!(emitter.last_seq(), 5);
    assert_eq!(emitter.emit(job_event("local")), 6);
    assert_eq!(emitter.stats().emitted, 6);
    follower.stop().await;
}

#[tokio::test]
async fn starting_after_a_position_skips_the_history() {
    let log = MemoryEventLog::new();
    append(&log, &["a", "b", "c", "d"]).await;
    let emitter = EventEmitter::new();
    let recorder = RecordingSubscriber::attach(&emitter);
    let options = FollowOptions {
        after: 2,
        ..FollowOptions::default()
    };
    let follower = LogFollower::start(Arc::new(log.clone()), emitter, options).unwrap();
    follower.caught_up().await;
    assert_eq!(seqs(&recorder), [3, 4]);
    follower.stop().await;
}

#[tokio::test]
async fn an_empty_log_is_caught_up_at_once_and_small_batches_still_read_everything() {
    let log = MemoryEventLog::new();
    let emitter = EventEmitter::new();
    let recorder = RecordingSubscriber::attach(&emitter);
    let options = FollowOptions {
        batch: 2,
        ..FollowOptions::default()
    };
    let follower = LogFollower::start(Arc::new(log.clone()), emitter, options).unwrap();
    tokio::time::timeout(Duration::from_secs(2), follower.caught_up())
        .await
        .unwrap();
    assert!(follower.is_caught_up());
    append(&log, &["a", "b", "c", "d", "e"]).await;
    recorder.wait_for_count(5, Duration::from_secs(2)).await;
    assert_eq!(seqs(&recorder), [1, 2, 3, 4, 5]);
    follower.stop().await;
}

#[tokio::test]
async fn events_trimmed_before_they_were_read_are_counted_as_skipped() {
    let log = MemoryEventLog::new();
    append(&log, &["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]).await;
    let retention = LogRetention {
        max_age: Duration::from_secs(3600),
        max_count: 3,
        batch: 4,
    };
    // Bounded batches: 4, then 3, then nothing.
    assert_eq!(log.trim(&retention, Utc::now()).await.unwrap(), 4);
    assert_eq!(log.trim(&retention, Utc::now()).await.unwrap(), 3);
    assert_eq!(log.trim(&retention, Utc::now()).await.unwrap(), 0);
    assert_eq!(
        log.bounds().await.unwrap(),
        LogBounds {
            first: 8,
            last: 10,
            count: 3
        }
    );

    let emitter = EventEmitter::new();
    let recorder = RecordingSubscriber::attach(&emitter);
    let options = FollowOptions {
        after: 2,
        ..FollowOptions::default()
    };
    let follower = LogFollower::start(Arc::new(log.clone()), emitter, options).unwrap();
    follower.caught_up().await;
    assert_eq!(seqs(&recorder), [8, 9, 10]);
    assert_eq!(follower.skipped(), 5);
    follower.stop().await;
}

/// A log whose first reads fail (a database that is down).
#[derive(Debug)]
struct FlakyLog {
    inner: MemoryEventLog,
    failures_left: AtomicU32,
}

#[async_trait]
impl EventLog for FlakyLog {
    async fn append(&self, events: &[Event]) -> Result<(), LogError> {
        self.inner.append(events).await
    }
    async fn read_after(&self, after: u64, limit: u32) -> Result<Vec<Event>, LogError> {
        if self
            .failures_left
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(LogError::Unavailable {
                message: "connection refused".to_owned(),
            });
        }
        self.inner.read_after(after, limit).await
    }
    async fn bounds(&self) -> Result<LogBounds, LogError> {
        self.inner.bounds().await
    }
    async fn trim(&self, retention: &LogRetention, now: DateTime<Utc>) -> Result<u64, LogError> {
        self.inner.trim(retention, now).await
    }
    fn appended_signal(&self) -> Arc<Notify> {
        self.inner.appended_signal()
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_log_is_read_again_with_backoff_and_nothing_is_lost() {
    let inner = MemoryEventLog::new();
    append(&inner, &["a", "b"]).await;
    let log = Arc::new(FlakyLog {
        inner: inner.clone(),
        failures_left: AtomicU32::new(4),
    });
    let emitter = EventEmitter::new();
    let recorder = RecordingSubscriber::attach(&emitter);
    let follower = LogFollower::start(log.clone(), emitter, FollowOptions::default()).unwrap();
    follower.caught_up().await;
    assert_eq!(seqs(&recorder), [1, 2]);
    assert_eq!(log.failures_left.load(Ordering::Relaxed), 0);
    append(&inner, &["c"]).await;
    recorder.wait_for_count(3, Duration::from_secs(5)).await;
    assert_eq!(seqs(&recorder), [1, 2, 3]);
    follower.stop().await;
}
