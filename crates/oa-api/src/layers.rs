//! The middleware every request goes through: request ids, tracing, CORS, JSON errors, body
//! limit and timeout.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestId, RequestId};
use tracing::Span;

use crate::error::{ApiError, ErrorBody};

/// The request id header, set on every request that lacks one and copied to the response.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Makes request ids: UUID v7, so that they sort by time.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct MakeRequestUuidV7;

impl MakeRequestId for MakeRequestUuidV7 {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Uuid::now_v7().hyphenated().to_string();
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// The span of one request: method, path and request id.
pub(crate) fn request_span(request: &axum::http::Request<Body>) -> Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
    )
}

/// The CORS layer for `origins`, or `None` when the list is empty (CORS off).
pub(crate) fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([REQUEST_ID])
            .max_age(Duration::from_secs(600)),
    )
}

/// Makes every error response JSON `{"detail", "code"}`: the answers of axum itself (405),
/// of tower-http's timeout (503) and body limit (413), and of anything else that answers an
/// error without a JSON body. JSON error responses (ours) pass through untouched; headers such
/// as `Allow` are kept.
pub(crate) async fn json_errors(
    State(body_limit): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let body = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound {
            method: method.to_string(),
            path: uri.path().to_owned(),
        }
        .body(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed {
            method: method.to_string(),
            path: uri.path().to_owned(),
        }
        .body(),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: body_limit }.body(),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT => ApiError::Timeout.body(),
        other => generic_body(other),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let json = axum::Json(body).into_response();
    let (json_parts, json_body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, json_body)
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"))
}

/// `{"detail": "<reason>", "code": "<reason in snake case>"}` for a status without a variant.
fn generic_body(status: StatusCode) -> ErrorBody {
    let reason = status.canonical_reason().unwrap_or("error");
    let code = reason
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    ErrorBody {
        detail: reason.to_owned(),
        code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_bodies_name_the_status() {
        let body = generic_body(StatusCode::BAD_REQUEST);
        assert_eq!(body.detail, "Bad Request");
        assert_eq!(body.code, "bad_request");
        assert_eq!(generic_body(StatusCode::IM_A_TEAPOT).code, "i_m_a_teapot");
    }

    #[test]
    fn cors_is_off_without_origins() {
        assert!(cors(&[]).is_none());
        assert!(cors(&["https://a.example".to_owned()]).is_some());
        assert!(cors(&["*".to_owned()]).is_some());
    }

    #[test]
    fn request_ids_are_v7_uuids() {
        let request = axum::http::Request::new(());
        let id = MakeRequestUuidV7.make_request_id(&request).unwrap();
        let parsed = uuid::Uuid::parse_str(id.header_value().to_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version_num(), 7);
    }
}
