//! Extractors whose rejections are [`ApiError`]s, so that a bad request never gets axum's
//! plain-text rejection.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;

use crate::error::ApiError;

/// The largest `limit` of `GET /jobs/recent` (the seed's).
pub(crate) const MAX_RECENT_LIMIT: usize = 100;
/// The default `limit` of `GET /jobs/recent` (the seed's).
pub(crate) const DEFAULT_RECENT_LIMIT: usize = 10;

/// The query string as name/value pairs, percent-decoded (lossily: a bad escape never fails).
///
/// Handlers look values up by name, so that every bad value is reported with the parameter's
/// name and a 422, and unknown parameters are ignored (as FastAPI does).
#[derive(Debug, Clone, Default)]
pub(crate) struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// The value of `name`; the last one when it is repeated.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// `limit` of `GET /jobs/recent`: an integer from 1 to 100, 10 when absent.
    pub(crate) fn recent_limit(&self) -> Result<usize, ApiError> {
        let Some(raw) = self.get("limit") else {
            return Ok(DEFAULT_RECENT_LIMIT);
        };
        let invalid = |reason: String| ApiError::InvalidQuery {
            parameter: "limit".to_owned(),
            reason,
        };
        let limit: usize = raw.trim().parse().map_err(|_| {
            invalid(format!(
                "`{}` is not an integer from 1 to {MAX_RECENT_LIMIT}",
                shorten(raw)
            ))
        })?;
        if !(1..=MAX_RECENT_LIMIT).contains(&limit) {
            return Err(invalid(format!(
                "{limit} is out of range: it must be from 1 to {MAX_RECENT_LIMIT}"
            )));
        }
        Ok(limit)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<Vec<(String, String)>>::from_request_parts(parts, state).await {
            Ok(Query(pairs)) => Ok(QueryParams(pairs)),
            Err(rejection) => Err(ApiError::InvalidQuery {
                parameter: "query".to_owned(),
                reason: rejection.body_text(),
            }),
        }
    }
}

/// A path segment as a string; a segment that is not UTF-8 once decoded is a 400.
#[derive(Debug, Clone)]
pub(crate) struct PathSegment(pub(crate) String);

impl<S: Send + Sync> FromRequestParts<S> for PathSegment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(segment)) => Ok(PathSegment(segment)),
            Err(rejection) => Err(ApiError::BadRequest {
                detail: rejection.body_text(),
            }),
        }
    }
}

/// At most 64 characters of `value`, for error messages about arbitrary input.
pub(crate) fn shorten(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> QueryParams {
        QueryParams(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn limit_defaults_to_ten_and_accepts_one_to_a_hundred() {
        assert_eq!(params(&[]).recent_limit().unwrap(), 10);
        assert_eq!(params(&[("limit", "1")]).recent_limit().unwrap(), 1);
        assert_eq!(params(&[("limit", "100")]).recent_limit().unwrap(), 100);
        assert_eq!(
            params(&[("limit", "3"), ("limit", "7")])
                .recent_limit()
                .unwrap(),
            7
        );
    }

    #[test]
    fn bad_limits_are_invalid_query_errors() {
        for bad in [
            "0",
            "101",
            "abc",
            "",
            "-1",
            "1.5",
            "99999999999999999999999",
        ] {
            let error = params(&[("limit", bad)]).recent_limit().unwrap_err();
            assert!(
                matches!(&error, ApiError::InvalidQuery { parameter, .. } if parameter == "limit"),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn long_values_are_shortened_in_messages() {
        let long = "x".repeat(1000);
        assert_eq!(shorten(&long).chars().count(), 65);
        assert_eq!(shorten("short"), "short");
    }
}
