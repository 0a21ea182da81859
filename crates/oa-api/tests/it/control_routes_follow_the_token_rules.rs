//! The control routes act and answer the seed's message; without a token they work only on a
//! loopback bind (403 otherwise); with a token they need it (401 otherwise). The read token
//! guards the data routes only. Each control action writes an audit line with the caller.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use oa_api::ApiConfig;
use oa_metrics::{JobQuery, MetricsControl};
use serde_json::json;

use crate::support::{Fixture, call, get, send};

fn post(uri: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::post(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn control_on_loopback_without_a_token_acts_and_answers_the_seeds_messages() {
    let fixture = Fixture::new();
    fixture.script();
    let app = fixture.app();
    assert_eq!(fixture.collectors.summary().total_jobs, 4);

    let answer = send(&app, post("/system/disable", None)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json(),
        json!({"status": "success", "message": "Monitoring disabled"})
    );
    assert!(!fixture.collectors.is_enabled());
    assert_eq!(get(&app, "/system").await.json()["enabled"], false);

    let answer = send(&app, post("/system/enable", None)).await;
    assert_eq!(
        answer.json(),
        json!({"status": "success", "message": "Monitoring enabled"})
    );
    assert!(fixture.collectors.is_enabled());

    let answer = send(&app, post("/system/reset", None)).await;
    assert_eq!(
        answer.json(),
        json!({"status": "success", "message": "All metrics have been reset"})
    );
    // Reset zeroes the figures; the job still running (j3) counts as the new period's.
    let summary = get(&app, "/jobs/summary").await.json();
    assert_eq!(summary["completed_jobs"], 0);
    assert_eq!(summary["failed_jobs"], 0);
    assert_eq!(summary["total_jobs"], 1);
    assert_eq!(summary["currently_running"], 1);
    assert_eq!(fixture.collectors.summary().completed_jobs, 0);
}

#[tokio::test]
async fn control_on_a_public_bind_without_a_token_is_forbidden() {
    let config = ApiConfig::builder()
        .bind_address("0.0.0.0:8000".parse().unwrap())
        .build()
        .unwrap();
    let fixture = Fixture::with_config(config);
    let app = fixture.app();
    for route in ["/system/reset", "/system/enable", "/system/disable"] {
        let answer = send(&app, post(route, None)).await;
        answer.assert_error(StatusCode::FORBIDDEN, "control_forbidden");
        assert!(
            answer.json()["detail"]
                .as_str()
                .unwrap()
                .contains("0.0.0.0:8000")
        );
    }
    assert!(fixture.collectors.is_enabled(), "nothing was done");
    // Reads still work.
    assert_eq!(get(&app, "/status").await.status, StatusCode::OK);
}

#[tokio::test]
async fn with_a_token_control_needs_it_even_on_loopback() {
    let config = ApiConfig::builder().api_token("s3cret").build().unwrap();
    let fixture = Fixture::with_config(config);
    let app = fixture.app();

    let missing = send(&app, post("/system/disable", None)).await;
    missing.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(missing.headers["www-authenticate"], "Bearer");
    let wrong = send(&app, post("/system/disable", Some("s3cret!"))).await;
    wrong.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    let basic = call(
        &app,
        Method::POST,
        "/system/disable",
        &[("authorization", "Basic czNjcmV0")],
    )
    .await;
    basic.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(fixture.collectors.is_enabled(), "nothing was done");

    let right = send(&app, post("/system/disable", Some("s3cret"))).await;
    assert_eq!(right.status, StatusCode::OK);
    assert!(!fixture.collectors.is_enabled());
    // Reads need no token when no read token is configured.
    assert_eq!(get(&app, "/status").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_makes_control_work_on_a_public_bind() {
    let config = ApiConfig::builder()
        .api_token("s3cret")
        .bind_address("0.0.0.0:8000".parse().unwrap())
        .build()
        .unwrap();
    let app = Fixture::with_config(config).app();
    assert_eq!(
        send(&app, post("/system/reset", Some("s3cret")))
            .await
            .status,
        StatusCode::OK
    );
    send(&app, post("/system/reset", None))
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn the_read_token_guards_data_routes_only() {
    let config = ApiConfig::builder()
        .api_token("control")
        .read_token("reader")
        .build()
        .unwrap();
    let app = Fixture::with_config(config).app();
    let data = [
        "/status",
        "/jobs/summary",
        "/jobs/recent",
        "/jobs/tags",
        "/jobs/priorities",
        "/jobs/running",
        "/workers",
        "/workers/w1",
        "/system",
        "/system/events",
        "/metrics",
        "/events",
    ];
    for uri in data {
        get(&app, uri)
            .await
            .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
        let wrong = call(&app, Method::GET, uri, &[("authorization", "Bearer nope")]).await;
        wrong.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    for uri in ["/status", "/metrics", "/jobs/recent?limit=3"] {
        for token in ["reader", "control"] {
            let auth = format!("Bearer {token}");
            let answer = call(&app, Method::GET, uri, &[("authorization", &auth)]).await;
            assert_eq!(answer.status, StatusCode::OK, "{uri} with {token}");
        }
    }
    // The public routes need nothing.
    for uri in [
        "/",
        "/health",
        "/ready",
        "/openapi.json",
        "/dashboard",
        "/docs/",
    ] {
        assert_eq!(get(&app, uri).await.status, StatusCode::OK, "{uri}");
    }
    // The read token does not open control.
    let answer = call(
        &app,
        Method::POST,
        "/system/reset",
        &[("authorization", "Bearer reader")],
    )
    .await;
    answer.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn the_event_stream_accepts_the_read_token_in_the_query() {
    let config = ApiConfig::builder().read_token("reader").build().unwrap();
    let app = Fixture::with_config(config).app();
    let response = tower::ServiceExt::oneshot(
        app.clone(),
        Request::get("/events?access_token=reader")
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    get(&app, "/events?access_token=nope")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    // Only the stream takes it from the query.
    get(&app, "/status?access_token=reader")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

/// A writer that keeps what the subscriber prints.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The lines logged by this test binary so far. A global subscriber, installed once: a
/// thread-local one can miss events whose callsite another test thread cached as disabled.
fn logged_lines() -> String {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    let captured = CAPTURED.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        captured
    });
    String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned()
}

#[tokio::test]
async fn each_control_action_writes_an_audit_line_with_the_caller() {
    logged_lines();
    let app = Fixture::new().app();
    let caller: SocketAddr = "127.0.0.1:54321".parse().unwrap();
    for (route, id) in [
        ("/system/reset", "audit-test-1"),
        ("/system/disable", "audit-test-2"),
    ] {
        let mut request = post(route, None);
        request
            .headers_mut()
            .insert("x-request-id", id.parse().unwrap());
        request.extensions_mut().insert(ConnectInfo(caller));
        assert_eq!(send(&app, request).await.status, StatusCode::OK);
    }
    let text = logged_lines();
    let audit: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("oa_api::audit") && line.contains("audit-test-"))
        .collect();
    assert_eq!(audit.len(), 2, "{text}");
    assert!(audit[0].contains("action=\"reset\""), "{}", audit[0]);
    assert!(audit[0].contains("peer=127.0.0.1:54321"), "{}", audit[0]);
    assert!(audit[0].contains("request_id=audit-test-1"), "{}", audit[0]);
    assert!(audit[1].contains("action=\"disable\""), "{}", audit[1]);
    // Every request is traced too: its access line carries the status, in its request span.
    assert!(
        text.lines()
            .any(|line| line.contains("request_id=audit-test-2") && line.contains("status=200")),
        "{text}"
    );
}
