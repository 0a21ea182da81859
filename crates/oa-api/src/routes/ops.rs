//! Our routes beside the seed's: running jobs, Prometheus, liveness and readiness.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use oa_metrics::PROMETHEUS_CONTENT_TYPE;

use crate::cache::{Cached, json_bytes, respond};
use crate::error::{ApiError, ErrorBody};
use crate::schema;
use crate::state::ApiState;

/// The jobs in flight, oldest start first, with progress and ETA.
#[utoipa::path(
    get,
    path = "/jobs/running",
    tag = "Jobs",
    summary = "Jobs running or paused, with progress and ETA",
    responses(
        (status = 200, description = "Oldest start first", body = Vec<schema::RunningJob>),
        (status = 401, description = "A read token is configured and missing", body = ErrorBody),
    ),
    security((), ("read_token" = []))
)]
pub(crate) async fn jobs_running(State(state): State<ApiState>) -> Response {
    let body = state.inner.cache.get_or_render(Cached::JobsRunning, || {
        json_bytes(&state.inner.metrics.running_jobs())
    });
    respond(body, "application/json")
}

/// The Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "System",
    summary = "Prometheus metrics (text format 0.0.4)",
    responses(
        (status = 200, description = "Counters, gauges and histograms prefixed `oa_`", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 401, description = "A read token is configured and missing", body = ErrorBody),
    ),
    security((), ("read_token" = []))
)]
pub(crate) async fn metrics(State(state): State<ApiState>) -> Response {
    let body = state.inner.cache.get_or_render(Cached::Metrics, || {
        Bytes::from(state.inner.metrics.prometheus_text())
    });
    respond(body, PROMETHEUS_CONTENT_TYPE)
}

/// Where this server's events come from: a durable event log it follows, and how far it is.
#[utoipa::path(
    get,
    path = "/system/event-log",
    tag = "System",
    summary = "The durable event log this server follows, and its position in it",
    responses(
        (status = 200, description = "Following or not; position, replay and lag when following", body = schema::EventLogStatus),
        (status = 401, description = "A read token is configured and missing", body = ErrorBody),
    ),
    security((), ("read_token" = []))
)]
pub(crate) async fn event_log(State(state): State<ApiState>) -> Json<schema::EventLogStatus> {
    let Some(follower) = &state.inner.follower else {
        return Json(schema::EventLogStatus::default());
    };
    let position = follower.position();
    let mut status = schema::EventLogStatus {
        following: true,
        position: Some(position),
        followed: Some(follower.followed()),
        skipped: Some(follower.skipped()),
        caught_up: Some(follower.is_caught_up()),
        ..schema::EventLogStatus::default()
    };
    if let Some(log) = &state.inner.event_log {
        match log.bounds().await {
            Ok(bounds) => {
                status.first = Some(bounds.first);
                status.last = Some(bounds.last);
                status.retained = Some(bounds.count);
                status.behind = Some(bounds.last.saturating_sub(position));
            }
            Err(error) => tracing::warn!(%error, "GET /system/event-log: the log cannot be read"),
        }
    }
    Json(status)
}

/// Liveness: the process answers.
#[utoipa::path(
    get,
    path = "/health",
    tag = "Probes",
    summary = "Liveness probe",
    responses((status = 200, description = "The server is alive", body = schema::ProbeResponse))
)]
pub(crate) async fn health() -> Json<schema::ProbeResponse> {
    Json(schema::ProbeResponse { status: "ok" })
}

/// Readiness: the system is wired and not shutting down.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "Probes",
    summary = "Readiness probe",
    responses(
        (status = 200, description = "Ready to serve", body = schema::ProbeResponse),
        (status = 503, description = "Starting or shutting down", body = ErrorBody),
    )
)]
pub(crate) async fn ready(
    State(state): State<ApiState>,
) -> Result<Json<schema::ProbeResponse>, ApiError> {
    if state.inner.readiness.is_ready() {
        Ok(Json(schema::ProbeResponse { status: "ready" }))
    } else {
        Err(ApiError::NotReady)
    }
}
