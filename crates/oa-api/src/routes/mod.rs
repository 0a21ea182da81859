//! The routes, grouped by the rules they follow, and [`router`], which assembles them with the
//! middleware.

mod control;
mod ops;
mod pages;
mod seed;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::from_fn_with_state;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::error::ApiError;
use crate::state::ApiState;
use crate::{auth, layers, sse};

/// Routes anyone may call: API information, probes, the document and the dashboard.
pub(crate) fn public_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(seed::root))
        .routes(routes!(ops::health))
        .routes(routes!(ops::ready))
        .routes(routes!(pages::openapi_json))
        .routes(routes!(pages::dashboard))
}

/// The data routes (the read token applies when configured), all with the request timeout.
pub(crate) fn read_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(seed::status))
        .routes(routes!(seed::jobs_summary))
        .routes(routes!(seed::jobs_recent))
        .routes(routes!(seed::jobs_tags))
        .routes(routes!(seed::jobs_priorities))
        .routes(routes!(ops::jobs_running))
        .routes(routes!(seed::workers))
        .routes(routes!(seed::worker))
        .routes(routes!(seed::system))
        .routes(routes!(seed::system_events))
        .routes(routes!(ops::event_log))
        .routes(routes!(ops::metrics))
}

/// The live stream: read token, but no request timeout.
pub(crate) fn stream_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(sse::events))
}

/// The control routes (the control token rule applies).
pub(crate) fn control_routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(control::reset))
        .routes(routes!(control::enable))
        .routes(routes!(control::disable))
}

/// The JSON 404 of every unknown path.
async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
    }
}

/// The API as an axum [`Router`]: every route, the JSON fallback and the middleware (request
/// ids, tracing, optional CORS, JSON errors, body limit, request timeout except on the
/// stream, tokens). Serve it with [`serve`](crate::serve), or with `axum::serve` and
/// `into_make_service_with_connect_info::<SocketAddr>()` (the audit line then names the
/// caller; give the state your shutdown token with
/// [`ApiState::with_shutdown_token`](crate::ApiState::with_shutdown_token)).
///
/// ```
/// use std::sync::Arc;
/// use axum::body::Body;
/// use axum::http::{Request, StatusCode};
/// use oa_api::{ApiConfig, ApiState, router};
/// use oa_events::EventEmitter;
/// use oa_metrics::Collectors;
/// use tower::ServiceExt;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let collectors = Arc::new(Collectors::default());
/// let state = ApiState::new(collectors.clone(), collectors, EventEmitter::new(), ApiConfig::default());
/// let response = router(state)
///     .oneshot(Request::get("/jobs/recent?limit=0").body(Body::empty()).unwrap())
///     .await
///     .unwrap();
/// assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
/// # }
/// ```
pub fn router(state: ApiState) -> Router {
    let config = std::sync::Arc::clone(&state.inner.config);
    let timeout =
        TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, config.request_timeout);
    let read = read_routes()
        .layer(timeout)
        .route_layer(from_fn_with_state(state.clone(), auth::require_read));
    let stream = stream_routes().route_layer(from_fn_with_state(state.clone(), auth::require_read));
    let control = control_routes()
        .layer(timeout)
        .route_layer(from_fn_with_state(state.clone(), auth::require_control));
    let public = public_routes().layer(timeout);
    let (api, _) = OpenApiRouter::new()
        .merge(public)
        .merge(read)
        .merge(stream)
        .merge(control)
        .split_for_parts();
    let docs: Router<ApiState> = SwaggerUi::new("/docs")
        .config(Config::new(["/openapi.json"]))
        .into();

    let mut router = api
        .merge(docs)
        .fallback(not_found)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(from_fn_with_state(config.body_limit, layers::json_errors));
    if let Some(cors) = layers::cors(&config.cors_origins) {
        router = router.layer(cors);
    }
    router
        .layer(PropagateRequestIdLayer::new(layers::REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(layers::request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(
            layers::REQUEST_ID,
            layers::MakeRequestUuidV7,
        ))
}
