//! `GET /events`: frames carry the seq, the wire name and the event; filters narrow them;
//! `Last-Event-ID` replays what the ring still holds (with a `gap` frame for what it does
//! not), then goes live; a slow client gets a `lagged` frame; keep-alives are comments; the
//! stream ends when the server closes streams.

use std::num::NonZeroUsize;
use std::time::Duration;

use oa_api::ApiConfig;
use oa_events::{Event, EventType};
use serde_json::json;

use crate::support::{Fixture, Frame, open_stream, scripted_events};

fn seqs(frames: &[Frame]) -> Vec<u64> {
    frames
        .iter()
        .map(|frame| frame.id.as_deref().unwrap().parse().unwrap())
        .collect()
}

fn config(ring: usize, client_buffer: usize) -> ApiConfig {
    ApiConfig::builder()
        .replay_ring_size(NonZeroUsize::new(ring).unwrap())
        .sse_client_buffer(NonZeroUsize::new(client_buffer).unwrap())
        .build()
        .unwrap()
}

#[tokio::test]
async fn live_frames_carry_the_seq_the_wire_name_and_the_event() {
    let fixture = Fixture::new();
    let app = fixture.app();
    let mut stream = open_stream(&app, "/events", &[]).await;
    let hello = stream.next_frame().await.unwrap();
    assert_eq!(hello.comments, ["connected"]);
    assert_eq!(hello.retry.as_deref(), Some("2000"));

    let events = scripted_events();
    for event in events.iter().take(3).cloned() {
        fixture.emitter.emit(event);
    }
    for (expected_seq, event) in (1..=3).zip(&events) {
        let frame = stream.next_data_frame().await.unwrap();
        assert_eq!(frame.id.as_deref(), Some(expected_seq.to_string().as_str()));
        assert_eq!(frame.event.as_deref(), Some(event.wire_name()));
        let mut expected = serde_json::to_value(event).unwrap();
        expected["seq"] = json!(expected_seq);
        assert_eq!(frame.json(), expected);
    }
}

#[tokio::test]
async fn a_frame_is_pinned_with_insta() {
    let fixture = Fixture::new();
    let app = fixture.app();
    let mut stream = open_stream(&app, "/events?types=job.failed", &[]).await;
    for event in scripted_events() {
        fixture.emitter.emit(event);
    }
    let frame = stream.next_data_frame().await.unwrap();
    insta::assert_debug_snapshot!("job_failed_frame", frame);
}

#[tokio::test]
async fn filters_select_types_jobs_and_workers() {
    let fixture = Fixture::new();
    let app = fixture.app();
    let mut failures = open_stream(&app, "/events?types=job.failed,job.completed", &[]).await;
    let mut job_j3 = open_stream(&app, "/events?job_id=j3", &[]).await;
    let mut worker_w2 = open_stream(&app, "/events?types=worker.heartbeat&worker_id=w2", &[]).await;
    fixture.script();
    let mut next = Vec::new();
    for _ in 0..3 {
        next.push(failures.next_data_frame().await.unwrap());
    }
    let names: Vec<_> = next.iter().map(|f| f.event.clone().unwrap()).collect();
    assert_eq!(names, ["job.completed", "job.failed", "job.completed"]);
    assert_eq!(seqs(&next), [14, 20, 26]);

    let mut j3 = Vec::new();
    for _ in 0..4 {
        j3.push(job_j3.next_data_frame().await.unwrap());
    }
    assert!(j3.iter().all(|f| f.json()["job_id"] == "j3"));
    assert_eq!(seqs(&j3), [7, 15, 16, 25]);

    let heartbeat = worker_w2.next_data_frame().await.unwrap();
    assert_eq!(heartbeat.json()["worker_id"], "w2");
    assert_eq!(heartbeat.event.as_deref(), Some("worker.heartbeat"));
}

#[tokio::test]
async fn last_event_id_replays_the_rest_then_goes_live() {
    let fixture = Fixture::new();
    let app = fixture.app();
    fixture.script(); // seq 1..=26
    let mut stream = open_stream(&app, "/events", &[("last-event-id", "20")]).await;
    let mut frames = Vec::new();
    for _ in 0..6 {
        frames.push(stream.next_data_frame().await.unwrap());
    }
    assert_eq!(seqs(&frames), [21, 22, 23, 24, 25, 26]);
    fixture.emitter.emit(Event::new(EventType::SystemShutdown));
    let live = stream.next_data_frame().await.unwrap();
    assert_eq!(live.id.as_deref(), Some("27"));
    assert_eq!(live.event.as_deref(), Some("system.shutdown"));
}

#[tokio::test]
async fn the_query_parameter_resumes_too_and_filters_apply_to_the_replay() {
    let fixture = Fixture::new();
    let app = fixture.app();
    fixture.script();
    let mut stream = open_stream(&app, "/events?types=job.completed&last_event_id=0", &[]).await;
    let first = stream.next_data_frame().await.unwrap();
    let second = stream.next_data_frame().await.unwrap();
    assert_eq!(seqs(&[first, second]), [14, 26]);
}

#[tokio::test]
async fn replay_starts_with_the_newest_events_held() {
    let fixture = Fixture::new();
    let app = fixture.app();
    fixture.script();
    let mut stream = open_stream(&app, "/events?replay=3", &[]).await;
    let mut frames = Vec::new();
    for _ in 0..3 {
        frames.push(stream.next_data_frame().await.unwrap());
    }
    assert_eq!(seqs(&frames), [24, 25, 26]);
    fixture.emitter.emit(Event::new(EventType::SystemShutdown));
    assert_eq!(
        stream.next_data_frame().await.unwrap().id.as_deref(),
        Some("27")
    );

    let mut completed = open_stream(&app, "/events?types=job.completed&replay=50", &[]).await;
    let first = completed.next_data_frame().await.unwrap();
    let second = completed.next_data_frame().await.unwrap();
    assert_eq!(seqs(&[first, second]), [14, 26]);
}

#[tokio::test]
async fn evicted_events_are_announced_with_a_gap_frame() {
    let fixture = Fixture::with_config(config(5, 64));
    let app = fixture.app();
    fixture.script(); // seq 1..=26, the ring holds 22..=26
    let mut stream = open_stream(&app, "/events", &[("last-event-id", "10")]).await;
    let gap = stream.next_data_frame().await.unwrap();
    assert_eq!(gap.event.as_deref(), Some("gap"));
    assert_eq!(
        gap.id, None,
        "a gap frame does not move the client's last id"
    );
    assert_eq!(
        gap.json(),
        json!({"from": 11, "to": 21, "missed": 11, "reason": "evicted"})
    );
    let mut rest = Vec::new();
    for _ in 0..5 {
        rest.push(stream.next_data_frame().await.unwrap());
    }
    assert_eq!(seqs(&rest), [22, 23, 24, 25, 26]);
}

#[tokio::test]
async fn an_id_from_an_earlier_run_gets_an_unknown_id_gap_and_what_is_held() {
    let fixture = Fixture::new();
    let app = fixture.app();
    fixture.emitter.emit(Event::new(EventType::SystemStartup));
    let mut stream = open_stream(&app, "/events", &[("last-event-id", "9000")]).await;
    let gap = stream.next_data_frame().await.unwrap();
    assert_eq!(gap.event.as_deref(), Some("gap"));
    assert_eq!(gap.json()["reason"], "unknown_id");
    let replayed = stream.next_data_frame().await.unwrap();
    assert_eq!(replayed.id.as_deref(), Some("1"));
    // Live events after it are not mistaken for duplicates of id 9000.
    fixture
        .emitter
        .emit(Event::new(EventType::SystemError).with_data("message", "x"));
    assert_eq!(
        stream.next_data_frame().await.unwrap().id.as_deref(),
        Some("2")
    );
}

#[tokio::test]
async fn a_slow_client_gets_a_lagged_frame_and_never_slows_the_emitter() {
    let fixture = Fixture::with_config(config(64, 2));
    let app = fixture.app();
    let mut stream = open_stream(&app, "/events", &[]).await;
    assert!(stream.next_frame().await.unwrap().is_comment());
    // The client reads nothing while ten events are emitted: `emit` returns every time.
    for _ in 0..10 {
        fixture
            .emitter
            .emit(Event::new(EventType::SystemError).with_data("message", "x"));
    }
    assert_eq!(fixture.emitter.stats().stream_dropped, 8);
    let lagged = stream.next_data_frame().await.unwrap();
    assert_eq!(lagged.event.as_deref(), Some("lagged"));
    assert_eq!(lagged.id, None);
    assert_eq!(lagged.json(), json!({"missed": 8}));
    let newest = [
        stream.next_data_frame().await.unwrap(),
        stream.next_data_frame().await.unwrap(),
    ];
    assert_eq!(seqs(&newest), [9, 10]);
    // What it missed is still in the ring: resuming from its last id before the lag replays it.
    let mut resumed = open_stream(&app, "/events", &[("last-event-id", "0")]).await;
    let mut replayed = Vec::new();
    for _ in 0..10 {
        replayed.push(resumed.next_data_frame().await.unwrap());
    }
    assert_eq!(seqs(&replayed), (1..=10).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn keep_alive_comments_flow_while_nothing_happens() {
    let config = ApiConfig::builder()
        .sse_keep_alive(Duration::from_secs(15))
        .build()
        .unwrap();
    let fixture = Fixture::with_config(config);
    let app = fixture.app();
    let mut stream = open_stream(&app, "/events", &[]).await;
    assert_eq!(stream.next_frame().await.unwrap().comments, ["connected"]);
    // The paused clock jumps to the keep-alive deadline.
    let keep_alive = stream.next_frame().await.unwrap();
    assert_eq!(keep_alive.comments, ["keep-alive"]);
    assert!(keep_alive.is_comment());
}

#[tokio::test]
async fn closing_streams_ends_open_and_new_streams() {
    let fixture = Fixture::new();
    let app = fixture.app();
    let mut open = open_stream(&app, "/events", &[]).await;
    assert!(open.next_frame().await.unwrap().is_comment());
    fixture.state.close_streams();
    assert_eq!(open.next_frame().await, None, "the open stream ended");
    let mut late = open_stream(&app, "/events", &[]).await;
    // A stream opened after the close ends at once (after its greeting at most).
    while let Some(frame) = late.next_frame().await {
        assert!(frame.is_comment());
    }
}

#[tokio::test]
async fn a_shared_shutdown_token_ends_streams() {
    let fixture = Fixture::new();
    let token = tokio_util::sync::CancellationToken::new();
    let app = oa_api::router(fixture.state.clone().with_shutdown_token(&token));
    let mut open = open_stream(&app, "/events", &[]).await;
    assert!(open.next_frame().await.unwrap().is_comment());
    token.cancel();
    assert_eq!(open.next_frame().await, None);
}

#[tokio::test(start_paused = true)]
async fn the_request_timeout_does_not_cut_the_stream() {
    let config = ApiConfig::builder()
        .request_timeout(Duration::from_secs(1))
        .sse_keep_alive(Duration::from_secs(60))
        .build()
        .unwrap();
    let fixture = Fixture::with_config(config);
    let app = fixture.app();
    let mut stream = open_stream(&app, "/events", &[]).await;
    assert!(stream.next_frame().await.unwrap().is_comment());
    tokio::time::advance(Duration::from_secs(30)).await;
    fixture.emitter.emit(Event::new(EventType::SystemStartup));
    let frame = stream.next_data_frame().await.unwrap();
    assert_eq!(
        frame.event.as_deref(),
        Some("system.startup"),
        "still streaming after 30 s"
    );
}
