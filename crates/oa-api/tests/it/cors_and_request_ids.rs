//! CORS is off by default and follows the configured origins; every response carries a
//! request id (the caller's, or a new UUID v7).

use axum::http::{Method, StatusCode};
use oa_api::ApiConfig;

use crate::support::{Fixture, call};

#[tokio::test]
async fn cors_is_off_by_default() {
    let app = Fixture::new().app();
    let answer = call(
        &app,
        Method::GET,
        "/status",
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer.headers.get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn configured_origins_are_allowed_and_others_are_not() {
    let config = ApiConfig::builder()
        .cors_origins(["https://ops.example"])
        .build()
        .unwrap();
    let app = Fixture::with_config(config).app();
    let allowed = call(
        &app,
        Method::GET,
        "/status",
        &[("origin", "https://ops.example")],
    )
    .await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://ops.example"
    );
    let other = call(
        &app,
        Method::GET,
        "/status",
        &[("origin", "https://evil.example")],
    )
    .await;
    assert!(other.headers.get("access-control-allow-origin").is_none());

    let preflight = call(
        &app,
        Method::OPTIONS,
        "/system/reset",
        &[
            ("origin", "https://ops.example"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "authorization"),
        ],
    )
    .await;
    assert_eq!(preflight.status, StatusCode::OK);
    let methods = preflight.headers["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let headers = preflight.headers["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(headers.contains("authorization"), "{headers}");
}

#[tokio::test]
async fn a_wildcard_allows_any_origin() {
    let config = ApiConfig::builder().cors_origins(["*"]).build().unwrap();
    let app = Fixture::with_config(config).app();
    let answer = call(
        &app,
        Method::GET,
        "/health",
        &[("origin", "https://any.example")],
    )
    .await;
    assert_eq!(answer.headers["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let app = Fixture::new().app();
    for uri in ["/status", "/nope", "/jobs/recent?limit=0"] {
        let answer = call(&app, Method::GET, uri, &[]).await;
        let id = answer.headers["x-request-id"].to_str().unwrap();
        assert_eq!(
            uuid::Uuid::parse_str(id).unwrap().get_version_num(),
            7,
            "{uri}"
        );
    }
    let answer = call(
        &app,
        Method::GET,
        "/health",
        &[("x-request-id", "trace-42")],
    )
    .await;
    assert_eq!(answer.headers["x-request-id"], "trace-42");
}
