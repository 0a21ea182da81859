//! Shared helpers: collectors with a fixed clock behind an API state, a scripted sequence of
//! events with fixed times and ids, request helpers and a server-sent events frame reader.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::{DateTime, Duration, TimeZone, Utc};
use futures_util::{Stream, StreamExt};
use oa_api::{ApiConfig, ApiState, router};
use oa_events::{Event, EventEmitter, EventType};
use oa_metrics::{Clock, Collectors, ManualClock, MetricsConfig};
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

/// The script's time zero: 2026-01-01T00:00:00Z.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// `t0 + seconds`.
pub(crate) fn at(seconds: f64) -> DateTime<Utc> {
    t0() + Duration::milliseconds((seconds * 1000.0).round() as i64)
}

/// Collectors with a manual clock, attached to an emitter, behind an API state.
pub(crate) struct Fixture {
    pub(crate) emitter: EventEmitter,
    pub(crate) collectors: Arc<Collectors>,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) state: ApiState,
}

impl Fixture {
    /// The default configuration.
    pub(crate) fn new() -> Self {
        Fixture::with_config(ApiConfig::default())
    }

    /// A fixture whose API has `config`; the clock reads `t0`.
    pub(crate) fn with_config(config: ApiConfig) -> Self {
        let clock = Arc::new(ManualClock::new(t0()));
        let metrics_config = MetricsConfig::builder()
            .clock(Arc::clone(&clock) as Arc<dyn Clock>)
            .build()
            .unwrap();
        let collectors = Arc::new(Collectors::new(metrics_config));
        let emitter = EventEmitter::new();
        collectors.attach(&emitter);
        let state = ApiState::new(
            Arc::clone(&collectors) as _,
            Arc::clone(&collectors) as _,
            emitter.clone(),
            config,
        );
        Fixture {
            emitter,
            collectors,
            clock,
            state,
        }
    }

    /// The router over this fixture's state.
    pub(crate) fn app(&self) -> Router {
        router(self.state.clone())
    }

    /// Emits the scripted sequence, sets the queue depth to 4 and the clock to `t0 + 9 s`.
    pub(crate) fn script(&self) {
        for event in scripted_events() {
            self.emitter.emit(event);
        }
        self.collectors.system_metrics().update_queue_depth(4);
        self.clock.set(at(9.0));
    }
}

/// An event with a fixed id (`n`) and time.
fn event(n: u128, event_type: EventType, seconds: f64) -> Event {
    Event::new(event_type)
        .with_id(Uuid::from_u128(
            0x0194_0000_0000_7000_8000_0000_0000_0000 + n,
        ))
        .with_timestamp(at(seconds))
}

/// A job event with the job keys the engine sends.
#[allow(
    clippy::too_many_arguments,
    reason = "one row of the script's table per call reads best"
)]
fn job(
    n: u128,
    event_type: EventType,
    seconds: f64,
    id: &str,
    (priority, tags): (&str, &[&str]),
    worker: &str,
    attempt: u32,
    extra: Value,
) -> Event {
    let mut event = event(n, event_type, seconds)
        .with_job_id(id)
        .with_worker_id(worker)
        .with_data("name", format!("task-{id}"))
        .with_data("status", "running")
        .with_data("priority", priority)
        .with_data("tags", json!(tags))
        .with_data("attempt", attempt)
        .with_data("max_retries", 2)
        .with_data("created_at", t0().to_rfc3339());
    if let Value::Object(extra) = extra {
        event = event.with_data_map(extra);
    }
    event
}

/// The scripted sequence (times in seconds after `t0`):
///
/// | job | priority, tags | story |
/// |---|---|---|
/// | j1 | high [images] | queued 0, claimed and started 1 on w1, completed 3 |
/// | j2 | medium [images, billing] | queued 0, claimed and started 2 on w2, failed 5 (timeout) |
/// | j3 | low [reports] | queued 1, claimed and started 3 on w1, progress 0.5 at 7: running |
/// | j4 | critical [] | queued 2, cancelled 4 before it started |
/// | j5 | high [reports] | queued 2, claimed and started 4 on w2, completed 8 |
///
/// Workers: w1 (box-1) and w2 (box-2) registered at 0 with a 5 s heartbeat, heartbeats at 6;
/// w3 registered at 1, offline at 7. Also `system.startup` at 0 and one `system.error` at 6.
pub(crate) fn scripted_events() -> Vec<Event> {
    use EventType::*;
    let nothing = json!({});
    let images = ("high", &["images"][..]);
    let billing = ("medium", &["images", "billing"][..]);
    let reports_low = ("low", &["reports"][..]);
    let critical = ("critical", &[][..]);
    let reports_high = ("high", &["reports"][..]);
    let worker = |n, event_type, seconds, id: &str, data: Value| {
        let mut event = event(n, event_type, seconds).with_worker_id(id);
        if let Value::Object(data) = data {
            event = event.with_data_map(data);
        }
        event
    };
    let claimed = |n, seconds, worker_id: &str, job_id: &str, priority: &str| {
        event(n, WorkerClaimedJob, seconds)
            .with_worker_id(worker_id)
            .with_job_id(job_id)
            .with_data("name", format!("task-{job_id}"))
            .with_data("priority", priority)
    };
    vec![
        event(1, SystemStartup, 0.0),
        worker(2, WorkerRegistered, 0.0, "w1", json!({"host": "box-1", "pid": 101, "tags": ["gpu"], "max_concurrent_jobs": 4, "heartbeat_interval_ms": 5000})),
        worker(3, WorkerRegistered, 0.0, "w2", json!({"host": "box-2", "pid": 102, "tags": [], "max_concurrent_jobs": 2, "heartbeat_interval_ms": 5000})),
        job(4, JobQueued, 0.0, "j1", images, "", 0, nothing.clone()),
        job(5, JobQueued, 0.0, "j2", billing, "", 0, nothing.clone()),
        worker(6, WorkerRegistered, 1.0, "w3", json!({"host": "box-3", "pid": 103, "tags": [], "max_concurrent_jobs": 1, "heartbeat_interval_ms": 5000})),
        job(7, JobQueued, 1.0, "j3", reports_low, "", 0, nothing.clone()),
        claimed(8, 1.0, "w1", "j1", "high"),
        job(9, JobStarted, 1.0, "j1", images, "w1", 1, nothing.clone()),
        claimed(10, 2.0, "w2", "j2", "medium"),
        job(11, JobStarted, 2.0, "j2", billing, "w2", 1, nothing.clone()),
        job(12, JobQueued, 2.0, "j4", critical, "", 0, nothing.clone()),
        job(13, JobQueued, 2.0, "j5", reports_high, "", 0, nothing.clone()),
        job(14, JobCompleted, 3.0, "j1", images, "w1", 1, json!({"result": {"ok": true}})),
        claimed(15, 3.0, "w1", "j3", "low"),
        job(16, JobStarted, 3.0, "j3", reports_low, "w1", 1, nothing.clone()),
        job(17, JobCancelled, 4.0, "j4", critical, "", 0, nothing.clone()),
        claimed(18, 4.0, "w2", "j5", "high"),
        job(19, JobStarted, 4.0, "j5", reports_high, "w2", 1, nothing.clone()),
        job(20, JobFailed, 5.0, "j2", billing, "w2", 1, json!({"error": {"kind": "timeout", "message": "took longer than 3s"}})),
        worker(21, WorkerHeartbeat, 6.0, "w1", json!({"running_jobs": 1, "running_job_ids": ["j3"]})),
        worker(22, WorkerHeartbeat, 6.0, "w2", json!({"running_jobs": 1, "running_job_ids": ["j5"]})),
        event(23, SystemError, 6.0).with_data("message", "disk almost full"),
        worker(24, WorkerOffline, 7.0, "w3", json!({"reason": "shutdown", "requeued_job_ids": []})),
        job(25, JobProgressUpdated, 7.0, "j3", reports_low, "w1", 1, json!({"progress": 0.5})),
        job(26, JobCompleted, 8.0, "j5", reports_high, "w2", 1, json!({"result": null})),
    ]
    .into_iter()
    .map(|mut event| {
        // The worker id of queued jobs is empty in the table above: no worker yet.
        if event.worker_id.as_deref() == Some("") {
            event.worker_id = None;
        }
        event
    })
    .collect()
}

/// A response's status, headers and body bytes.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "not JSON ({error}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8(self.body.to_vec()).unwrap()
    }

    /// The `content-type` header.
    pub(crate) fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .map_or("", |value| value.to_str().unwrap())
    }

    /// Asserts an error answer: `status`, JSON `{"detail", "code"}` with `code`.
    #[track_caller]
    pub(crate) fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert!(self.content_type().starts_with("application/json"));
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{body}"
        );
        assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    }
}

/// Sends `request` to `app` and reads the whole answer.
pub(crate) async fn send(app: &Router, request: Request<Body>) -> Answer {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.unwrap();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// `GET uri`.
pub(crate) async fn get(app: &Router, uri: &str) -> Answer {
    send(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

/// `method uri` with `headers` and no body.
pub(crate) async fn call(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(app, request.body(Body::empty()).unwrap()).await
}

/// One server-sent events frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Frame {
    pub(crate) id: Option<String>,
    pub(crate) event: Option<String>,
    pub(crate) data: Option<String>,
    pub(crate) retry: Option<String>,
    pub(crate) comments: Vec<String>,
}

impl Frame {
    /// The data as JSON.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(self.data.as_deref().unwrap()).unwrap()
    }

    /// Whether the frame is only comments (keep-alive, `connected`).
    pub(crate) fn is_comment(&self) -> bool {
        self.id.is_none() && self.event.is_none() && self.data.is_none()
    }
}

/// Reads frames from a byte stream (an axum body or a reqwest response).
pub(crate) struct SseReader<S> {
    stream: S,
    buffer: String,
}

impl<S, E> SseReader<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Debug,
{
    pub(crate) fn new(stream: S) -> Self {
        SseReader {
            stream,
            buffer: String::new(),
        }
    }

    /// The next frame, comments included; `None` when the stream ended.
    pub(crate) async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                return Some(parse_frame(&raw));
            }
            let chunk = self.stream.next().await?.unwrap();
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next frame that is not only comments.
    pub(crate) async fn next_data_frame(&mut self) -> Option<Frame> {
        loop {
            let frame = self.next_frame().await?;
            if !frame.is_comment() {
                return Some(frame);
            }
        }
    }
}

fn parse_frame(raw: &str) -> Frame {
    let mut frame = Frame::default();
    for line in raw.lines().filter(|line| !line.is_empty()) {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
        match field {
            "" => frame.comments.push(value),
            "id" => frame.id = Some(value),
            "event" => frame.event = Some(value),
            "retry" => frame.retry = Some(value),
            "data" => {
                frame.data = Some(match frame.data.take() {
                    Some(previous) => format!("{previous}\n{value}"),
                    None => value,
                });
            }
            other => panic!("unknown field {other:?} in {raw:?}"),
        }
    }
    frame
}

/// Opens `GET uri` on `app` as a stream of frames (with `headers`).
pub(crate) async fn open_stream(
    app: &Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> SseReader<axum::body::BodyDataStream> {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "an event stream"
    );
    assert_eq!(response.headers()["cache-control"], "no-cache");
    assert_eq!(
        response.headers()["x-accel-buffering"],
        "no",
        "proxies must not buffer it"
    );
    SseReader::new(response.into_body().into_data_stream())
}
