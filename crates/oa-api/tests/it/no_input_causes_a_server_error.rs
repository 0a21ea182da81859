//! No request, however malformed (random methods, paths with bad percent-escapes and bad
//! UTF-8, huge query strings, odd headers and bodies), makes the router answer a 5xx or
//! panic; every error it answers is JSON `{"detail", "code"}`.

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri};
use oa_api::ApiConfig;
use proptest::prelude::*;
use tower::ServiceExt;

use crate::support::Fixture;

/// Path segments: route words, random text, and percent-escapes of any byte.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "jobs",
            "workers",
            "system",
            "events",
            "status",
            "recent",
            "summary",
            "tags",
            "priorities",
            "running",
            "reset",
            "enable",
            "disable",
            "metrics",
            "health",
            "ready",
            "docs",
            "dashboard",
            "openapi.json",
            "w1",
            "..",
            ".",
            "swagger-ui.css",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z0-9._~!$&'()*+,;=:@-]{0,16}",
        prop::collection::vec(any::<u8>(), 0..8)
            .prop_map(|bytes| bytes.iter().map(|b| format!("%{b:02X}")).collect()),
    ]
}

/// Query values: numbers, words, escapes, and very long strings.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?[0-9]{0,25}",
        "[a-z._,]{0,40}",
        prop::collection::vec(any::<u8>(), 0..12)
            .prop_map(|bytes| bytes.iter().map(|b| format!("%{b:02X}")).collect()),
        (0usize..20_000).prop_map(|n| "9".repeat(n)),
        Just("job.failed,job.boom".to_owned()),
        Just("%".to_owned()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "limit",
            "types",
            "job_id",
            "worker_id",
            "last_event_id",
            "access_token",
        ])
        .prop_map(str::to_owned),
        "[a-z%0-9]{0,8}",
    ];
    prop::collection::vec((key, value()), 0..5).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn method() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::from_bytes(b"BREW").unwrap(),
    ])
}

fn headers() -> impl Strategy<Value = Vec<(&'static str, Vec<u8>)>> {
    let name = prop::sample::select(vec![
        "authorization",
        "last-event-id",
        "content-length",
        "content-type",
        "origin",
        "x-request-id",
        "access-control-request-method",
    ]);
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..40),
        Just(b"Bearer ".to_vec()),
        Just(b"Bearer s3cret".to_vec()),
        Just(b"99999999999999999999999".to_vec()),
        Just(b"-1".to_vec()),
    ];
    prop::collection::vec((name, value), 0..4)
}

/// A request built from the parts, or `None` when `http` refuses them (such a request cannot
/// reach a server either).
fn build(
    method: Method,
    path: &[String],
    query: &str,
    headers: &[(&'static str, Vec<u8>)],
    body: Vec<u8>,
) -> Option<Request<Body>> {
    let mut uri = format!("/{}", path.join("/"));
    if !query.is_empty() {
        uri = format!("{uri}?{query}");
    }
    let uri = Uri::try_from(uri).ok()?;
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        let value = HeaderValue::from_bytes(value).ok()?;
        request = request.header(HeaderName::from_static(name), value);
    }
    request.body(Body::from(body)).ok()
}

/// Sends `request` and checks the answer: never a 5xx, errors in JSON.
async fn check(app: &Router, request: Request<Body>) -> Result<(), TestCaseError> {
    let uri = request.uri().clone();
    let head = request.method() == Method::HEAD;
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    prop_assert!(!status.is_server_error(), "{status} for {uri}");
    let is_stream = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if is_stream {
        return Ok(()); // An endless stream: its status is the answer.
    }
    // Answers to HEAD have no body, by HTTP's rules.
    if status.is_client_error() && !head {
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| TestCaseError::fail(format!("{status} for {uri} is not JSON: {e}")))?;
        prop_assert!(
            json["detail"].is_string() && json["code"].is_string(),
            "{json}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_requests_never_cause_a_server_error(
        method in method(),
        path in prop::collection::vec(segment(), 1..5),
        query in query(),
        headers in headers(),
        body in prop::collection::vec(any::<u8>(), 0..256),
        secured in any::<bool>(),
    ) {
        let Some(request) = build(method, &path, &query, &headers, body) else {
            return Ok(());
        };
        let config = if secured {
            ApiConfig::builder().api_token("s3cret").read_token("reader").body_limit(128).build().unwrap()
        } else {
            ApiConfig::builder().body_limit(128).build().unwrap()
        };
        let fixture = Fixture::with_config(config);
        fixture.script();
        let app = fixture.app();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(check(&app, request))?;
    }
}

#[tokio::test]
async fn known_nasty_requests_are_client_errors() {
    let fixture = Fixture::new();
    fixture.script();
    let app = fixture.app();
    let long = "x".repeat(60_000);
    let uris = [
        "/workers/%C0%AF".to_owned(),
        "/workers/%00".to_owned(),
        "/jobs/recent?limit=%FF".to_owned(),
        "/jobs/recent?limit=1e3".to_owned(),
        format!("/jobs/recent?limit={long}"),
        format!("/{long}"),
        "/events?types=%E2%82".to_owned(),
        "/events?last_event_id=18446744073709551616".to_owned(),
        "//status".to_owned(),
        "/status/".to_owned(),
    ];
    for uri in uris {
        let request = Request::get(uri.as_str()).body(Body::empty()).unwrap();
        check(&app, request).await.unwrap();
    }
}
