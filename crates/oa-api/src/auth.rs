//! Bearer tokens: the control routes' rule (401/403) and the optional read token.

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Uri, header};
use axum::middleware::Next;
use axum::response::Response;
use subtle::ConstantTimeEq;

use crate::config::Token;
use crate::error::ApiError;
use crate::state::ApiState;

/// The query parameter that may carry the read token on `GET /events`: browsers'
/// `EventSource` cannot send headers.
pub(crate) const ACCESS_TOKEN_PARAM: &str = "access_token";

/// Whether `given` equals `expected`, in time that depends only on their lengths.
fn token_matches(given: &[u8], expected: &Token) -> bool {
    given.ct_eq(expected.as_bytes()).into()
}

/// The bearer token of the `Authorization` header, if the header is one.
fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| token.trim_ascii())
}

/// The control routes' rule: with a control token, the request must carry it (401
/// otherwise); without one, control works only when the server listens on loopback (403).
pub(crate) async fn require_control(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let config = &state.inner.config;
    match &config.api_token {
        Some(expected) => match bearer(request.headers()) {
            Some(given) if token_matches(given, expected) => {}
            Some(_) => {
                return Err(ApiError::Unauthorized {
                    detail: "the bearer token is not the API token".to_owned(),
                });
            }
            None => {
                return Err(ApiError::Unauthorized {
                    detail: "this route needs `Authorization: Bearer <API token>`".to_owned(),
                });
            }
        },
        None if config.bind_address.ip().is_loopback() => {}
        None => {
            return Err(ApiError::ControlForbidden {
                bind_address: config.bind_address.to_string(),
            });
        }
    }
    Ok(next.run(request).await)
}

/// The read token's rule: when one is configured, data routes need it (or the control
/// token) as a bearer token, or as `?access_token=` on the event stream.
pub(crate) async fn require_read(
    State(state): State<ApiState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let config = &state.inner.config;
    let Some(read_token) = &config.read_token else {
        return Ok(next.run(request).await);
    };
    let from_query;
    let given = match bearer(request.headers()) {
        Some(given) => Some(given),
        None if request.uri().path() == "/events" => {
            from_query = query_token(request.uri());
            from_query.as_deref().map(str::as_bytes)
        }
        None => None,
    };
    let Some(given) = given else {
        return Err(ApiError::Unauthorized {
            detail: "this route needs `Authorization: Bearer <read token>`".to_owned(),
        });
    };
    let matches_read = token_matches(given, read_token);
    let matches_control = config
        .api_token
        .as_ref()
        .is_some_and(|token| token_matches(given, token));
    if matches_read | matches_control {
        Ok(next.run(request).await)
    } else {
        Err(ApiError::Unauthorized {
            detail: "the bearer token is not the read token".to_owned(),
        })
    }
}

/// The value of `access_token` in the query string of `uri` (the last one when repeated).
fn query_token(uri: &Uri) -> Option<String> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri).ok()?;
    pairs
        .into_iter()
        .rev()
        .find(|(key, _)| key == ACCESS_TOKEN_PARAM)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn bearer_accepts_any_case_of_the_scheme_and_trims() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(bearer(&headers), Some(&b"abc"[..]));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer(&headers), Some(&b"abc"[..]));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bear"));
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn tokens_match_only_when_equal() {
        let token = Token::for_tests("s3cret");
        assert!(token_matches(b"s3cret", &token));
        assert!(!token_matches(b"s3cre", &token));
        assert!(!token_matches(b"s3cret!", &token));
        assert!(!token_matches(b"", &token));
    }

    #[test]
    fn the_access_token_is_read_from_the_query() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(
            query_token(&uri("/events?types=job.failed&access_token=a%20b")),
            Some("a b".to_owned())
        );
        assert_eq!(query_token(&uri("/events?types=x")), None);
        assert_eq!(query_token(&uri("/events?%%%")), None);
        assert_eq!(query_token(&uri("/events")), None);
    }
}
