//! [`ApiError`], the one error type of this crate, and its one HTTP mapping.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Everything that can go wrong in the API, each variant with the HTTP status it answers.
///
/// Every error response has the body `{"detail": "<human message>", "code": "<machine code>"}`
/// ([`ErrorBody`]); the table is the one place that maps errors to statuses.
///
/// | variant | status | `code` |
/// |---|---|---|
/// | [`NotFound`](Self::NotFound) | 404 | `not_found` |
/// | [`UnknownWorker`](Self::UnknownWorker) | 404 | `unknown_worker` |
/// | [`MethodNotAllowed`](Self::MethodNotAllowed) | 405 | `method_not_allowed` |
/// | [`BadRequest`](Self::BadRequest) | 400 | `bad_request` |
/// | [`InvalidQuery`](Self::InvalidQuery) | 422 | `invalid_query` |
/// | [`UnknownEventType`](Self::UnknownEventType) | 422 | `unknown_event_type` |
/// | [`PayloadTooLarge`](Self::PayloadTooLarge) | 413 | `payload_too_large` |
/// | [`Unauthorized`](Self::Unauthorized) | 401 | `unauthorized` |
/// | [`ControlForbidden`](Self::ControlForbidden) | 403 | `control_forbidden` |
/// | [`NotReady`](Self::NotReady) | 503 | `not_ready` |
/// | [`Timeout`](Self::Timeout) | 503 | `timeout` |
/// | [`InvalidConfig`](Self::InvalidConfig), [`Io`](Self::Io) | 500 | `internal` (never returned by a request) |
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No route has this path (the JSON fallback).
    #[error("no route for {method} {path}")]
    NotFound {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// `GET /workers/{worker_id}` for a worker the collectors do not know.
    #[error("Worker {worker_id} not found")]
    UnknownWorker {
        /// The id that was asked for.
        worker_id: String,
    },
    /// The path exists, but not for this method (e.g. `GET /system/reset`).
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The request's method.
        method: String,
        /// The request's path.
        path: String,
    },
    /// The request is malformed in a way that is not a query value: a path segment that is
    /// not UTF-8, an unreadable header such as a non-numeric `Last-Event-ID`.
    #[error("{detail}")]
    BadRequest {
        /// What is wrong.
        detail: String,
    },
    /// A query parameter has a bad value: `limit=0`, `limit=101`, `limit=abc`.
    #[error("invalid query parameter `{parameter}`: {reason}")]
    InvalidQuery {
        /// The parameter's name (or `query` when the query string itself is unreadable).
        parameter: String,
        /// Why the value was refused.
        reason: String,
    },
    /// `GET /events?types=` names a type that does not exist.
    #[error("unknown event type `{name}` in `types`")]
    UnknownEventType {
        /// The name that is not a wire name.
        name: String,
    },
    /// The request body is larger than [`ApiConfig::body_limit`](crate::ApiConfig::body_limit).
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A token is required and the request has none, or the wrong one.
    #[error("{detail}")]
    Unauthorized {
        /// What was missing or wrong (never the token itself).
        detail: String,
    },
    /// A control route was called on a server that listens on a non-loopback address without
    /// a control token: control is refused until a token is configured.
    #[error(
        "control routes are disabled: the server listens on {bind_address} without an API token \
         (set --api-token or OA_API_TOKEN)"
    )]
    ControlForbidden {
        /// The address the server listens on.
        bind_address: String,
    },
    /// `GET /ready` while the system is not ready (starting or shutting down).
    #[error("the service is not ready")]
    NotReady,
    /// The request took longer than [`ApiConfig::request_timeout`](crate::ApiConfig::request_timeout).
    #[error("the request took longer than the server's timeout")]
    Timeout,
    /// A configuration value was refused by a builder.
    #[error("invalid API setting `{setting}`: {reason}")]
    InvalidConfig {
        /// The builder method whose value was refused.
        setting: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The server could not bind or accept (from [`serve`](crate::serve)).
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl ApiError {
    /// The HTTP status this error answers with.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } | ApiError::UnknownWorker { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::InvalidQuery { .. } | ApiError::UnknownEventType { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::ControlForbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotReady | ApiError::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InvalidConfig { .. } | ApiError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `code` of the error body.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } => "not_found",
            ApiError::UnknownWorker { .. } => "unknown_worker",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::BadRequest { .. } => "bad_request",
            ApiError::InvalidQuery { .. } => "invalid_query",
            ApiError::UnknownEventType { .. } => "unknown_event_type",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Unauthorized { .. } => "unauthorized",
            ApiError::ControlForbidden { .. } => "control_forbidden",
            ApiError::NotReady => "not_ready",
            ApiError::Timeout => "timeout",
            ApiError::InvalidConfig { .. } | ApiError::Io(_) => "internal",
        }
    }

    /// The JSON body of this error.
    #[must_use]
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            detail: self.to_string(),
            code: self.code().to_owned(),
        }
    }
}

impl From<oa_metrics::MetricsError> for ApiError {
    fn from(error: oa_metrics::MetricsError) -> Self {
        match error {
            oa_metrics::MetricsError::UnknownWorker { worker_id } => {
                ApiError::UnknownWorker { worker_id }
            }
            other => ApiError::BadRequest {
                detail: other.to_string(),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if matches!(self, ApiError::Unauthorized { .. }) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[non_exhaustive]
pub struct ErrorBody {
    /// A human-readable message (FastAPI's `detail`).
    #[schema(example = "Worker worker-9 not found")]
    pub detail: String,
    /// A stable machine-readable code, e.g. `unknown_worker`.
    #[schema(example = "unknown_worker")]
    pub code: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_error_has_a_4xx_or_503_status_and_a_code() {
        let errors = [
            ApiError::NotFound {
                method: "GET".into(),
                path: "/x".into(),
            },
            ApiError::UnknownWorker {
                worker_id: "w".into(),
            },
            ApiError::MethodNotAllowed {
                method: "GET".into(),
                path: "/system/reset".into(),
            },
            ApiError::BadRequest { detail: "x".into() },
            ApiError::InvalidQuery {
                parameter: "limit".into(),
                reason: "x".into(),
            },
            ApiError::UnknownEventType { name: "x".into() },
            ApiError::PayloadTooLarge { limit: 1 },
            ApiError::Unauthorized { detail: "x".into() },
            ApiError::ControlForbidden {
                bind_address: "0.0.0.0:1".into(),
            },
            ApiError::NotReady,
            ApiError::Timeout,
        ];
        for error in errors {
            let status = error.status();
            assert!(
                status.is_client_error() || status == StatusCode::SERVICE_UNAVAILABLE,
                "{error:?}"
            );
            assert!(!error.code().is_empty());
            assert_eq!(error.body().detail, error.to_string());
        }
    }

    #[test]
    fn unknown_worker_keeps_the_seeds_message() {
        let error = ApiError::from(oa_metrics::MetricsError::UnknownWorker {
            worker_id: "worker-123".into(),
        });
        assert_eq!(error.to_string(), "Worker worker-123 not found");
        assert_eq!(error.status(), StatusCode::NOT_FOUND);
    }
}
