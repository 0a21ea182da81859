//! With a durable event log behind the emitter (a `LogFollower` feeds it, so `seq`s are the
//! log's), a `Last-Event-ID` older than the replay ring is served from the log, also by a
//! freshly started server (a restart), and only what the log no longer retains is a `gap`.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use oa_api::{ApiConfig, ApiState, router};
use oa_events::{
    Event, EventEmitter, EventLog, EventType, FollowOptions, LogFollower, LogRetention,
    MemoryEventLog,
};
use oa_metrics::Collectors;

use crate::support::{Fixture, Frame, get, open_stream};

/// One "server process": an emitter fed by a follower of `log`, and its API (ring of 10).
struct Server {
    app: axum::Router,
    follower: LogFollower,
}

impl Server {
    /// Waits until the follower has fed the emitter every event up to `seq`.
    async fn wait_for(&self, seq: u64) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while self.follower.position() < seq {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
    }
}

async fn start_server(log: &MemoryEventLog) -> Server {
    let emitter = EventEmitter::new();
    let collectors = Arc::new(Collectors::default());
    collectors.attach(&emitter);
    let follower = LogFollower::start(
        Arc::new(log.clone()),
        emitter.clone(),
        FollowOptions::default(),
    )
    .unwrap();
    follower.caught_up().await;
    let config = ApiConfig::builder()
        .replay_ring_size(NonZeroUsize::new(10).unwrap())
        .build()
        .unwrap();
    let state = ApiState::new(collectors.clone(), collectors, emitter, config)
        .with_event_log(Arc::new(log.clone()))
        .with_log_follower(follower.progress());
    Server {
        app: router(state),
        follower,
    }
}

async fn append(log: &MemoryEventLog, count: usize) {
    let events: Vec<Event> = (0..count)
        .map(|i| Event::for_job(EventType::JobCompleted, format!("job-{i}")))
        .collect();
    log.append(&events).await.unwrap();
}

fn seq(frame: &Frame) -> u64 {
    frame.id.as_deref().unwrap().parse().unwrap()
}

async fn next_seqs(
    stream: &mut crate::support::SseReader<axum::body::BodyDataStream>,
    n: usize,
) -> Vec<u64> {
    let mut seqs = Vec::with_capacity(n);
    for _ in 0..n {
        let frame = tokio::time::timeout(Duration::from_secs(5), stream.next_data_frame())
            .await
            .unwrap()
            .unwrap();
        seqs.push(seq(&frame));
    }
    seqs
}

#[tokio::test]
async fn a_resume_older_than_the_ring_is_served_from_the_log_then_live() {
    let log = MemoryEventLog::new();
    let server = start_server(&log).await;
    append(&log, 100).await;
    // The ring now holds 91..=100.
    server.wait_for(100).await;

    let mut stream = open_stream(&server.app, "/events", &[("Last-Event-ID", "50")]).await;
    let expected: Vec<u64> = (51..=100).collect();
    assert_eq!(
        next_seqs(&mut stream, 50).await,
        expected,
        "no gap, no duplicate"
    );
    append(&log, 2).await;
    assert_eq!(next_seqs(&mut stream, 2).await, [101, 102]);
}

#[tokio::test]
async fn a_restarted_server_resumes_a_client_from_the_log() {
    let log = MemoryEventLog::new();
    let before = start_server(&log).await;
    append(&log, 30).await;
    before.wait_for(30).await;
    let mut stream = open_stream(&before.app, "/events", &[]).await;
    append(&log, 5).await;
    // The client saw 31..=35 from the first server.
    assert_eq!(next_seqs(&mut stream, 5).await, [31, 32, 33, 34, 35]);
    drop(stream);
    drop(before);

    // Events written while no server ran (by workers of other processes).
    append(&log, 20).await;
    let after = start_server(&log).await;
    let mut resumed = open_stream(&after.app, "/events", &[("Last-Event-ID", "35")]).await;
    let expected: Vec<u64> = (36..=55).collect();
    assert_eq!(next_seqs(&mut resumed, 20).await, expected);
}

#[tokio::test]
async fn what_the_log_no_longer_retains_is_a_gap_then_the_rest_follows() {
    let log = MemoryEventLog::new();
    append(&log, 100).await;
    let retention = LogRetention {
        max_age: Duration::from_secs(3600),
        max_count: 30,
        batch: 1_000,
    };
    assert_eq!(log.trim(&retention, Utc::now()).await.unwrap(), 70);
    let server = start_server(&log).await;
    let mut stream = open_stream(&server.app, "/events", &[("Last-Event-ID", "50")]).await;
    let gap = tokio::time::timeout(Duration::from_secs(5), stream.next_data_frame())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gap.event.as_deref(), Some("gap"));
    let data = gap.json();
    assert_eq!(data["from"], 51);
    assert_eq!(data["to"], 70);
    assert_eq!(data["missed"], 20);
    let expected: Vec<u64> = (71..=100).collect();
    assert_eq!(next_seqs(&mut stream, 30).await, expected);
}

#[tokio::test]
async fn the_server_reports_its_place_in_the_log() {
    let log = MemoryEventLog::new();
    append(&log, 40).await;
    let retention = LogRetention {
        max_age: Duration::from_secs(3600),
        max_count: 30,
        batch: 1_000,
    };
    log.trim(&retention, Utc::now()).await.unwrap();
    let server = start_server(&log).await;
    append(&log, 5).await;
    server.wait_for(45).await;
    let status = get(&server.app, "/system/event-log").await.json();
    assert_eq!(
        status,
        serde_json::json!({
            "following": true,
            "position": 45,
            "followed": 35,
            "skipped": 0,
            "caught_up": true,
            "first": 11,
            "last": 45,
            "retained": 35,
            "behind": 0,
        })
    );

    // A server over its own events only says so.
    let own = get(&Fixture::new().app(), "/system/event-log").await.json();
    assert_eq!(own["following"], false);
    assert!(
        own["position"].is_null() && own["behind"].is_null(),
        "{own}"
    );
}
