//! Over a real socket (`serve` on 127.0.0.1:0, reqwest as the client): the stream's frames,
//! a resume with `Last-Event-ID`, the caller's address in the control audit, and a graceful
//! shutdown that an open stream does not block.

use std::time::Duration;

use oa_api::serve;
use oa_events::{Event, EventType};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::support::{Fixture, SseReader};

/// How long a hung shutdown may take before the test fails instead of hanging (a liveness
/// guard, not a measurement: a working shutdown returns at once).
const HANG_GUARD: Duration = Duration::from_secs(60);

fn seq(frame: &crate::support::Frame) -> u64 {
    frame.id.as_deref().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_resume_and_shutdown_over_a_real_socket() {
    let fixture = Fixture::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(listener, fixture.state.clone(), shutdown.clone()));
    let client = reqwest::Client::new();
    let base = format!("http://{address}");

    // A first client reads the live stream.
    let response = client.get(format!("{base}/events")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut first = SseReader::new(response.bytes_stream());
    assert_eq!(first.next_frame().await.unwrap().comments, ["connected"]);
    for _ in 0..5 {
        fixture
            .emitter
            .emit(Event::for_job(EventType::JobQueued, "job-1"));
    }
    let mut seen = Vec::new();
    for _ in 0..3 {
        let frame = first.next_data_frame().await.unwrap();
        assert_eq!(frame.event.as_deref(), Some("job.queued"));
        assert_eq!(frame.json()["job_id"], "job-1");
        seen.push(seq(&frame));
    }
    assert_eq!(seen, [1, 2, 3]);
    // It drops the connection after seq 3, as a browser that lost its network would.
    drop(first);

    // It comes back with the last id it saw and receives 4, 5, then the live 6.
    let response = client
        .get(format!("{base}/events"))
        .header("last-event-id", "3")
        .send()
        .await
        .unwrap();
    let mut resumed = SseReader::new(response.bytes_stream());
    let replayed = [
        resumed.next_data_frame().await.unwrap(),
        resumed.next_data_frame().await.unwrap(),
    ];
    assert_eq!(replayed.iter().map(seq).collect::<Vec<_>>(), [4, 5]);
    fixture
        .emitter
        .emit(Event::for_job(EventType::JobStarted, "job-1"));
    let live = resumed.next_data_frame().await.unwrap();
    assert_eq!(
        (seq(&live), live.event.as_deref()),
        (6, Some("job.started"))
    );

    // The bind address is loopback, so control works without a token.
    let reset = client
        .post(format!("{base}/system/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 200);
    assert_eq!(
        client
            .get(format!("{base}/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // Shutdown with the stream still open: the stream ends and `serve` returns.
    shutdown.cancel();
    let ended = tokio::time::timeout(HANG_GUARD, async {
        while resumed.next_frame().await.is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the open stream did not end on shutdown");
    let served = tokio::time::timeout(HANG_GUARD, server).await;
    let result = served.expect("graceful shutdown hung with an open stream");
    result.unwrap().unwrap();
    assert!(
        !fixture.state.readiness().is_ready(),
        "not ready once shutting down"
    );
    assert!(
        client.get(format!("{base}/health")).send().await.is_err(),
        "no longer listening"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_bind_without_a_token_refuses_control() {
    let fixture = Fixture::new();
    // 0.0.0.0 is not a loopback address, whatever the interface the client uses.
    let listener = TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(listener, fixture.state.clone(), shutdown.clone()));
    let client = reqwest::Client::new();
    let answer = client
        .post(format!("http://127.0.0.1:{port}/system/disable"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["code"], "control_forbidden");
    shutdown.cancel();
    server.await.unwrap().unwrap();
}
