//! Every error answers JSON `{"detail", "code"}` with the right status: unknown worker and
//! route 404, bad query values 422, wrong method 405, oversized body 413, bad path or header
//! 400, not ready 503, and a request that outlives the timeout 503.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{Method, Request, StatusCode};
use oa_api::ApiConfig;

use crate::support::{Fixture, call, get, send};

/// A request (method, URI, headers) and the status and code it must get.
type Case<'a> = (
    Method,
    &'a str,
    &'a [(&'a str, &'a str)],
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn each_bad_request_has_its_status_and_code() {
    let fixture = Fixture::new();
    fixture.script();
    let app = fixture.app();
    let cases: &[Case<'_>] = &[
        (
            Method::GET,
            "/workers/nobody",
            &[],
            StatusCode::NOT_FOUND,
            "unknown_worker",
        ),
        (
            Method::GET,
            "/workers/%FF%FE",
            &[],
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::GET,
            "/no/such/route",
            &[],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            "/jobs",
            &[],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::DELETE,
            "/nowhere",
            &[],
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            Method::GET,
            "/jobs/recent?limit=0",
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
        ),
        (
            Method::GET,
            "/jobs/recent?limit=101",
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
        ),
        (
            Method::GET,
            "/jobs/recent?limit=abc",
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
        ),
        (
            Method::GET,
            "/jobs/recent?limit=",
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
        ),
        (
            Method::GET,
            "/jobs/recent?limit=-5",
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_query",
        ),
        (
            Method::GET,
            "/events?types=job.failed,job.boom",
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_event_type",
        ),
        (
            Method::GET,
            "/events",
            &[("last-event-id", "yesterday")],
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Method::POST,
            "/status",
            &[],
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::GET,
            "/system/reset",
            &[],
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::PUT,
            "/system/enable",
            &[],
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::DELETE,
            "/workers/w1",
            &[],
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Method::POST,
            "/system/reset",
            &[("content-length", "1000000")],
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (method, uri, headers, status, code) in cases {
        let answer = call(&app, method.clone(), uri, headers).await;
        answer.assert_error(*status, code);
    }
}

#[tokio::test]
async fn messages_say_what_was_wrong() {
    let app = Fixture::new().app();
    let worker = get(&app, "/workers/worker-123").await.json();
    assert_eq!(worker["detail"], "Worker worker-123 not found");
    let limit = get(&app, "/jobs/recent?limit=101").await.json();
    assert_eq!(
        limit["detail"],
        "invalid query parameter `limit`: 101 is out of range: it must be from 1 to 100"
    );
    let types = get(&app, "/events?types=job.boom").await.json();
    assert_eq!(types["detail"], "unknown event type `job.boom` in `types`");
    let route = get(&app, "/nope").await.json();
    assert_eq!(route["detail"], "no route for GET /nope");
}

#[tokio::test]
async fn wrong_methods_keep_the_allow_header() {
    let app = Fixture::new().app();
    let answer = call(&app, Method::GET, "/system/disable", &[]).await;
    answer.assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(answer.headers["allow"], "POST");
}

#[tokio::test]
async fn a_body_over_the_limit_without_a_length_is_refused_too() {
    let fixture = Fixture::with_config(ApiConfig::builder().body_limit(16).build().unwrap());
    let app = fixture.app();
    let chunks = futures_util::stream::iter(
        (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(b"0123456789"))),
    );
    let request = Request::post("/system/reset")
        .body(Body::from_stream(chunks))
        .unwrap();
    let answer = send(&app, request).await;
    answer.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(
        answer.json()["detail"],
        "the request body is larger than 16 bytes"
    );
    // A small body is read and ignored.
    let request = Request::post("/system/reset")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(&app, request).await.status, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_request_that_outlives_the_timeout_is_a_503() {
    let config = ApiConfig::builder()
        .request_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let app = Fixture::with_config(config).app();
    // A body that never ends keeps the control handler reading until the timeout fires (the
    // paused clock jumps to it).
    let never = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
    let request = Request::post("/system/reset")
        .body(Body::from_stream(never))
        .unwrap();
    send(&app, request)
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "timeout");
}
