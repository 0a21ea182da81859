//! The control routes: `POST /system/reset`, `/system/enable`, `/system/disable`.
//!
//! Each one reads (and discards) the request body within the body limit, acts, writes an
//! audit line through `tracing` (target `oa_api::audit`) with the caller's address and the
//! request id, and answers the seed's `{"status": "success", "message": ...}`.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;

use crate::error::{ApiError, ErrorBody};
use crate::schema::ControlResponse;
use crate::state::ApiState;

/// Who called, for the audit line.
fn caller(request: &Request) -> String {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.to_string())
}

fn request_id(headers: &HeaderMap) -> &str {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
}

/// Reads the body to its end within the limit, so that an oversized body is a 413 even
/// without a `Content-Length`.
async fn drain_body(body: Body, limit: usize) -> Result<(), ApiError> {
    axum::body::to_bytes(body, limit)
        .await
        .map(drop)
        .map_err(|_| ApiError::PayloadTooLarge { limit })
}

/// Runs one control action: drains the body, acts, audits, answers.
async fn control(
    state: &ApiState,
    request: Request,
    action: &'static str,
    act: impl FnOnce(&ApiState),
    message: &'static str,
) -> Result<Json<ControlResponse>, ApiError> {
    let peer = caller(&request);
    let id = request_id(request.headers()).to_owned();
    drain_body(request.into_body(), state.inner.config.body_limit).await?;
    act(state);
    // The cached bodies predate the action: the next read renders anew.
    state.inner.cache.clear();
    tracing::info!(
        target: "oa_api::audit",
        action,
        peer = %peer,
        request_id = %id,
        "control action"
    );
    Ok(Json(ControlResponse {
        status: "success",
        message,
    }))
}

/// Resets every collector.
#[utoipa::path(
    post,
    path = "/system/reset",
    tag = "Control",
    summary = "Reset all metrics collectors",
    responses(
        (status = 200, description = "Done", body = ControlResponse),
        (status = 401, description = "The API token is required and missing or wrong", body = ErrorBody),
        (status = 403, description = "Non-loopback bind without an API token: control is disabled", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
    ),
    security(("api_token" = []), ())
)]
pub(crate) async fn reset(
    State(state): State<ApiState>,
    request: Request,
) -> Result<Json<ControlResponse>, ApiError> {
    control(
        &state,
        request,
        "reset",
        |state| state.inner.control.reset(),
        "All metrics have been reset",
    )
    .await
}

/// Resumes collection.
#[utoipa::path(
    post,
    path = "/system/enable",
    tag = "Control",
    summary = "Enable metrics collection",
    responses(
        (status = 200, description = "Done", body = ControlResponse),
        (status = 401, description = "The API token is required and missing or wrong", body = ErrorBody),
        (status = 403, description = "Non-loopback bind without an API token: control is disabled", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
    ),
    security(("api_token" = []), ())
)]
pub(crate) async fn enable(
    State(state): State<ApiState>,
    request: Request,
) -> Result<Json<ControlResponse>, ApiError> {
    control(
        &state,
        request,
        "enable",
        |state| state.inner.control.enable(),
        "Monitoring enabled",
    )
    .await
}

/// Stops collection.
#[utoipa::path(
    post,
    path = "/system/disable",
    tag = "Control",
    summary = "Disable metrics collection",
    responses(
        (status = 200, description = "Done", body = ControlResponse),
        (status = 401, description = "The API token is required and missing or wrong", body = ErrorBody),
        (status = 403, description = "Non-loopback bind without an API token: control is disabled", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
    ),
    security(("api_token" = []), ())
)]
pub(crate) async fn disable(
    State(state): State<ApiState>,
    request: Request,
) -> Result<Json<ControlResponse>, ApiError> {
    control(
        &state,
        request,
        "disable",
        |state| state.inner.control.disable(),
        "Monitoring disabled",
    )
    .await
}
