//! The seed's read routes, with its paths and JSON shapes.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use oa_metrics::{MetricsQuery, RecentJob, WorkerStatus};

use crate::cache::{Cached, json_bytes, respond};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{PathSegment, QueryParams};
use crate::schema;
use crate::state::ApiState;

/// The API's name, as `GET /` reports it.
const API_NAME: &str = "oa-jobs Monitoring API";
/// What the API is for, as `GET /` reports it (the seed's words).
const API_DESCRIPTION: &str = "API for monitoring job execution and system health";

/// API information.
#[utoipa::path(
    get,
    path = "/",
    tag = "Root",
    summary = "API information",
    responses((status = 200, description = "Name, version and where to go next", body = schema::ApiInfo))
)]
pub(crate) async fn root() -> Json<schema::ApiInfo> {
    Json(schema::ApiInfo {
        name: API_NAME,
        version: env!("CARGO_PKG_VERSION"),
        description: API_DESCRIPTION,
        docs: "/docs/",
        openapi: "/openapi.json",
        dashboard: "/dashboard",
    })
}

/// The complete status: `{jobs, workers, system, tags, priorities, recent_jobs}`.
#[utoipa::path(
    get,
    path = "/status",
    tag = "System",
    summary = "Complete system status with all metrics",
    responses(
        (status = 200, description = "Everything at once", body = schema::CompleteStatus),
        (status = 401, description = "A read token is configured and missing", body = ErrorBody),
    ),
    security((), ("read_token" = []))
)]
pub(crate) async fn status(State(state): State<ApiState>) -> Response {
    cached_json(&state, Cached::Status, |m| json_bytes(&m.complete_status()))
}

/// The job summary.
#[utoipa::path(
    get,
    path = "/jobs/summary",
    tag = "Jobs",
    summary = "Summary of job metrics",
    responses(
        (status = 200, description = "The figures of all jobs", body = schema::JobSummary),
        (status = 401, description = "A read token is configured and missing", body = ErrorBody),
    ),
    security((), ("read_token" = []))
)]
pub(crate) async fn jobs_summary(State(state): State<ApiState>) -> Response {
    cached_json(&state, Cached::JobsSummary, |m| json_bytes(&m.summary()))
}

/// The newest finished jobs, newest first.
#[utoipa::path(
    get,
    path = "/jobs/recent",
    tag = "Jobs",
    summary = "Recent job executions",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "How many jobs (1–100, default 10)")),
    responses(
        (status = 200, description = "The newest finished jobs, newest first", body = Vec<schema::RecentJob>),
        (status = 401, description = "A read token is configured and missing", body = ErrorBody),
        (status = 422, description = "`limit` is not an integer from 1 to 100", body = ErrorBody),
    ),
    security((), ("read_token" = []))
)]
pub(crate) async fn jobs_recent(
    State(state): State<ApiState>,
    params: QueryParams,
) -> Result<Json<Vec<RecentJob>>, ApiError> {
    let limit = params.recent_limit()?;
    Ok(Json(state.inner.metrics.recent_jobs(limit)))
}

/// The figures per tag.
#[utoipa::path(
    get,
    path = "/jobs/tags",
    tag = "Jobs",
    summary = "Metrics grouped by job tags",
    responses(
        (status = 200, description = "Per tag (and `other`), sorted by tag", body = BTreeMap<String, schema::JobGroupMetrics>),
        (status = 401, description = "A read token is configured and missing", body = ErrorBody),
    ),
    security((), ("read_token" = []))
)]
pub(crate) async fn jobs_tags(State(state): State<ApiState>) -> Response {
    cached_json(&state, Cached::JobsTags, |m| json_bytes(&m.tag_metrics()))
}

/// The figures per priority.
#[utoipa::path(
    get,
    path = "/jobs/priorities",
    tag = "Jobs",
    summary = "Metrics grouped by job priority",
    responses(
        (status = 200, description = "The four priorities", body = BTreeMap<String, schema::JobGroupMetrics>),
        (status = 401, description = "A read token is configured and missing", body = ErrorBody),
    ),
    security((), ("read_token" = []))
)]
pub(crate) async fn jobs_priorities(State(state): State<ApiState>) -> Response {
    cached_json(&state, Cached::JobsPriorities, |m| {
        json_bytes(&m.priority_metrics())
    })
}

/// Every worker and the active count.
#[utoipa::path(
    get,
    path = "/workers",
    tag = "Workers",
    summary = "Status information for all workers",
    responses(
        (status = 200, description = "`{active_count, workers}`", body = schema::WorkersSnapshot),
        (status = 401, description = "A read token is configured and missing", body = ErrorBody),
    ),
    security((), ("read_token" = []))
)]
pub(crate) async fn workers(State(state): State<ApiState>) -> Response {
    cached_json(&state, Cached::Workers, |m| json_bytes(&m.workers()))
}

/// One worker.
#[utoipa::path(
    get,
    path = "/workers/{worker_id}",
    tag = "Workers",
    summary = "Status information for a specific worker",
    params(("worker_id" = String, Path, description = "The worker's id")),
    responses(
        (status = 200, description = "The worker", body = schema::WorkerStatus),
        (status = 400, description = "The id is not UTF-8", body = ErrorBody),
        (status = 401, description = "A read token is configured and missing", body = ErrorBody),
        (status = 404, description = "No worker has this id", body = ErrorBody),
    ),
    security((), ("read_token" = []))
)]
pub(crate) async fn worker(
    State(state): State<ApiState>,
    PathSegment(worker_id): PathSegment,
) -> Result<Json<WorkerStatus>, ApiError> {
    Ok(Json(state.inner.metrics.worker(&worker_id)?))
}

/// The system figures.
#[utoipa::path(
    get,
    path = "/system",
    tag = "System",
    summary = "System-wide metrics",
    responses(
        (status = 200, description = "Uptime, queue depth, event counts, ...", body = schema::SystemSnapshot),
        (status = 401, description = "A read token is configured and missing", body = ErrorBody),
    ),
    security((), ("read_token" = []))
)]
pub(crate) async fn system(State(state): State<ApiState>) -> Response {
    cached_json(&state, Cached::System, |m| json_bytes(&m.system()))
}

/// The events counted per type.
#[utoipa::path(
    get,
    path = "/system/events",
    tag = "System",
    summary = "Counts of all events by type",
    responses(
        (status = 200, description = "All 17 wire names, zeros included", body = BTreeMap<String, u64>),
        (status = 401, description = "A read token is configured and missing", body = ErrorBody),
    ),
    security((), ("read_token" = []))
)]
pub(crate) async fn system_events(State(state): State<ApiState>) -> Response {
    cached_json(&state, Cached::SystemEvents, |m| {
        json_bytes(&m.event_counts())
    })
}

/// The body of a cached JSON route.
fn cached_json(
    state: &ApiState,
    route: Cached,
    render: impl FnOnce(&dyn MetricsQuery) -> Bytes,
) -> Response {
    let body = state
        .inner
        .cache
        .get_or_render(route, || render(state.inner.metrics.as_ref()));
    respond(body, "application/json")
}
