//! The OpenAPI document, the API docs page and the dashboard: all served from the binary.

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

/// The dashboard: one self-contained page (inline CSS and JavaScript, no external asset).
const DASHBOARD_HTML: &str = include_str!("../dashboard/dashboard.html");

/// The dashboard's Content-Security-Policy: the page may talk to this server only, so it
/// cannot load anything from elsewhere even by mistake.
const DASHBOARD_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// The OpenAPI 3.1 document of this API, generated from the handlers.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "Docs",
    summary = "This OpenAPI document",
    responses((status = 200, description = "OpenAPI 3.1, generated from the handlers", content_type = "application/json", body = Object))
)]
pub(crate) async fn openapi_json() -> Response {
    let mut response = crate::openapi::document_json().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The live dashboard.
#[utoipa::path(
    get,
    path = "/dashboard",
    tag = "Docs",
    summary = "Live dashboard (one self-contained HTML page)",
    responses((status = 200, description = "The page; it reads `/status` and `/events`", content_type = "text/html", body = String))
)]
pub(crate) async fn dashboard() -> Response {
    let mut response = Html(DASHBOARD_HTML).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DASHBOARD_CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
