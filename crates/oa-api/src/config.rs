//! [`ApiConfig`]: tokens, CORS, limits and stream settings, made with a builder.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::error::ApiError;

/// The environment variable that holds the control token (`--api-token` of the `oa` command).
pub const API_TOKEN_ENV: &str = "OA_API_TOKEN";
/// The environment variable that holds the optional read token.
pub const READ_TOKEN_ENV: &str = "OA_API_READ_TOKEN";
/// The default bind address: loopback only, port 8000 (the seed's).
pub const DEFAULT_BIND_ADDRESS: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8000);
/// Default [`ApiConfigBuilder::request_timeout`]: 10 seconds.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ApiConfigBuilder::body_limit`]: 64 KiB.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// Default [`ApiConfigBuilder::replay_ring_size`]: the newest 4096 events can be replayed.
pub const DEFAULT_REPLAY_RING_SIZE: NonZeroUsize = nonzero(4096);
/// Default [`ApiConfigBuilder::sse_client_buffer`]: 1024 events queued per live client.
pub const DEFAULT_SSE_CLIENT_BUFFER: NonZeroUsize = nonzero(1024);
/// Default [`ApiConfigBuilder::sse_keep_alive`]: a comment every 15 seconds.
pub const DEFAULT_SSE_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Default [`ApiConfigBuilder::response_cache_ttl`]: 100 milliseconds.
pub const DEFAULT_RESPONSE_CACHE_TTL: Duration = Duration::from_millis(100);
/// Default [`ApiConfigBuilder::sse_retry`]: browsers reconnect after 2 seconds.
pub const DEFAULT_SSE_RETRY: Duration = Duration::from_secs(2);

/// `n` as a `NonZeroUsize`, checked at compile time.
const fn nonzero(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => panic!("a default size must not be zero"),
    }
}

/// A secret token, compared in constant time and never printed (its `Debug` is redacted).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Token(String);

impl Token {
    #[cfg(test)]
    pub(crate) fn for_tests(token: &str) -> Self {
        Token(token.to_owned())
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// How the API is secured and bounded. Made with [`ApiConfig::builder`]; the defaults are
/// safe: loopback bind, no tokens (so control works only on loopback), CORS off.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | `api_token` | none | `Authorization: Bearer <token>` required on the control routes (`POST /system/*`) |
/// | `read_token` | none | when set, the data routes also require a bearer token (this one or the control token) |
/// | `bind_address` | `127.0.0.1:8000` | without an `api_token`, control routes answer 403 unless this is a loopback address |
/// | `cors_origins` | none (CORS off) | origins allowed to call the API from a browser |
/// | `request_timeout` | 10 s | every request but the event stream |
/// | `body_limit` | 64 KiB | larger bodies answer 413 |
/// | `replay_ring_size` | 4096 | events kept for `Last-Event-ID` resumes |
/// | `sse_client_buffer` | 1024 | events queued for one slow stream client before it lags |
/// | `sse_keep_alive` | 15 s | interval of keep-alive comments on the stream |
/// | `sse_retry` | 2 s | the reconnection delay the stream suggests to browsers |
/// | `response_cache_ttl` | 100 ms | how long the body of a parameterless read route is reused (0: off) |
///
/// ```
/// use std::time::Duration;
/// use oa_api::ApiConfig;
///
/// let config = ApiConfig::builder()
///     .api_token("s3cret")
///     .bind_address("0.0.0.0:8000".parse()?)
///     .cors_origins(["https://ops.example.com"])
///     .request_timeout(Duration::from_secs(5))
///     .build()?;
/// assert!(config.has_api_token());
/// assert!(!config.control_needs_loopback());
/// assert!(ApiConfig::builder().api_token("").build().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub(crate) api_token: Option<Token>,
    pub(crate) read_token: Option<Token>,
    pub(crate) bind_address: SocketAddr,
    pub(crate) cors_origins: Vec<String>,
    pub(crate) request_timeout: Duration,
    pub(crate) body_limit: usize,
    pub(crate) replay_ring_size: NonZeroUsize,
    pub(crate) sse_client_buffer: NonZeroUsize,
    pub(crate) sse_keep_alive: Duration,
    pub(crate) sse_retry: Duration,
    pub(crate) response_cache_ttl: Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            api_token: None,
            read_token: None,
            bind_address: DEFAULT_BIND_ADDRESS,
            cors_origins: Vec::new(),
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            body_limit: DEFAULT_BODY_LIMIT,
            replay_ring_size: DEFAULT_REPLAY_RING_SIZE,
            sse_client_buffer: DEFAULT_SSE_CLIENT_BUFFER,
            sse_keep_alive: DEFAULT_SSE_KEEP_ALIVE,
            sse_retry: DEFAULT_SSE_RETRY,
            response_cache_ttl: DEFAULT_RESPONSE_CACHE_TTL,
        }
    }
}

impl ApiConfig {
    /// A builder that starts from the defaults.
    pub fn builder() -> ApiConfigBuilder {
        ApiConfigBuilder {
            config: ApiConfig::default(),
            api_token: None,
            read_token: None,
        }
    }

    /// Whether a control token is configured.
    #[must_use]
    pub fn has_api_token(&self) -> bool {
        self.api_token.is_some()
    }

    /// Whether a read token is configured.
    #[must_use]
    pub fn has_read_token(&self) -> bool {
        self.read_token.is_some()
    }

    /// Whether the control routes are allowed without a token: true when no token is
    /// configured and the bind address is a loopback address.
    #[must_use]
    pub fn control_needs_loopback(&self) -> bool {
        self.api_token.is_none() && self.bind_address.ip().is_loopback()
    }

    /// The address the server listens on (or will): it decides the 403 rule.
    #[must_use]
    pub fn bind_address(&self) -> SocketAddr {
        self.bind_address
    }

    /// The origins allowed by CORS; empty when CORS is off.
    #[must_use]
    pub fn cors_origins(&self) -> &[String] {
        &self.cors_origins
    }

    /// The timeout of every request but the event stream.
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The largest request body accepted, in bytes.
    #[must_use]
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// How many events the replay ring keeps.
    #[must_use]
    pub fn replay_ring_size(&self) -> NonZeroUsize {
        self.replay_ring_size
    }

    /// How many events are queued for one stream client before it lags.
    #[must_use]
    pub fn sse_client_buffer(&self) -> NonZeroUsize {
        self.sse_client_buffer
    }

    /// The interval of keep-alive comments on the event stream.
    #[must_use]
    pub fn sse_keep_alive(&self) -> Duration {
        self.sse_keep_alive
    }

    /// The reconnection delay the event stream suggests to clients.
    #[must_use]
    pub fn sse_retry(&self) -> Duration {
        self.sse_retry
    }

    /// How long the body of a parameterless read route is reused.
    #[must_use]
    pub fn response_cache_ttl(&self) -> Duration {
        self.response_cache_ttl
    }
}

/// Builds an [`ApiConfig`]; made by [`ApiConfig::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ApiConfigBuilder {
    config: ApiConfig,
    api_token: Option<String>,
    read_token: Option<String>,
}

impl ApiConfigBuilder {
    /// The token the control routes require (`Authorization: Bearer <token>`).
    pub fn api_token(mut self, token: impl Into<String>) -> Self {
        self.api_token = Some(token.into());
        self
    }

    /// The token the data routes require; the control token is accepted too.
    pub fn read_token(mut self, token: impl Into<String>) -> Self {
        self.read_token = Some(token.into());
        self
    }

    /// Reads [`API_TOKEN_ENV`] and [`READ_TOKEN_ENV`]; a variable that is unset or empty leaves
    /// the setting as it was.
    pub fn tokens_from_env(mut self) -> Self {
        let read = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
        if let Some(token) = read(API_TOKEN_ENV) {
            self.api_token = Some(token);
        }
        if let Some(token) = read(READ_TOKEN_ENV) {
            self.read_token = Some(token);
        }
        self
    }

    /// The address the server listens on; [`serve`](crate::serve) sets it from its listener.
    pub fn bind_address(mut self, address: SocketAddr) -> Self {
        self.config.bind_address = address;
        self
    }

    /// The origins allowed to call the API from a browser (e.g. `https://ops.example.com`);
    /// `*` allows any origin. CORS stays off while the list is empty.
    pub fn cors_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.cors_origins = origins.into_iter().map(Into::into).collect();
        self
    }

    /// The timeout of every request but the event stream (at least 1 ms).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// The largest request body accepted, in bytes.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// How many events the replay ring keeps for `Last-Event-ID` resumes.
    pub fn replay_ring_size(mut self, size: NonZeroUsize) -> Self {
        self.config.replay_ring_size = size;
        self
    }

    /// How many events are queued for one stream client before it lags.
    pub fn sse_client_buffer(mut self, size: NonZeroUsize) -> Self {
        self.config.sse_client_buffer = size;
        self
    }

    /// The interval of keep-alive comments on the event stream (at least 1 ms).
    pub fn sse_keep_alive(mut self, interval: Duration) -> Self {
        self.config.sse_keep_alive = interval;
        self
    }

    /// The reconnection delay the event stream suggests to clients (its `retry:` field).
    pub fn sse_retry(mut self, delay: Duration) -> Self {
        self.config.sse_retry = delay;
        self
    }

    /// How long the rendered body of a parameterless read route (`/status`, `/jobs/summary`,
    /// `/jobs/tags`, `/jobs/priorities`, `/jobs/running`, `/workers`, `/system`,
    /// `/system/events`, `/metrics`) is served again before it is rendered anew: readers see
    /// figures at most this old. Control actions clear it. `Duration::ZERO` turns it off.
    pub fn response_cache_ttl(mut self, ttl: Duration) -> Self {
        self.config.response_cache_ttl = ttl;
        self
    }

    /// Checks the settings and builds the configuration.
    ///
    /// # Errors
    /// [`ApiError::InvalidConfig`] for an empty token, a token with characters that cannot be
    /// sent in a header, an origin that is not a valid header value, or a zero timeout or
    /// keep-alive interval.
    pub fn build(self) -> Result<ApiConfig, ApiError> {
        let mut config = self.config;
        config.api_token = self
            .api_token
            .map(|t| check_token("api_token", t))
            .transpose()?;
        config.read_token = self
            .read_token
            .map(|t| check_token("read_token", t))
            .transpose()?;
        for origin in &config.cors_origins {
            if axum::http::HeaderValue::from_str(origin).is_err() || origin.is_empty() {
                return Err(invalid(
                    "cors_origins",
                    format!("`{origin}` is not an origin"),
                ));
            }
        }
        if config.request_timeout < Duration::from_millis(1) {
            return Err(invalid(
                "request_timeout",
                "must be at least 1 ms".to_owned(),
            ));
        }
        if config.sse_keep_alive < Duration::from_millis(1) {
            return Err(invalid(
                "sse_keep_alive",
                "must be at least 1 ms".to_owned(),
            ));
        }
        Ok(config)
    }
}

fn invalid(setting: &'static str, reason: String) -> ApiError {
    ApiError::InvalidConfig { setting, reason }
}

fn check_token(setting: &'static str, token: String) -> Result<Token, ApiError> {
    if token.is_empty() {
        return Err(invalid(setting, "must not be empty".to_owned()));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            setting,
            "must be printable ASCII without spaces".to_owned(),
        ));
    }
    Ok(Token(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_safe() {
        let config = ApiConfig::default();
        assert!(!config.has_api_token());
        assert!(!config.has_read_token());
        assert!(config.control_needs_loopback());
        assert!(config.cors_origins().is_empty());
        assert_eq!(config.bind_address(), DEFAULT_BIND_ADDRESS);
    }

    #[test]
    fn the_bind_address_decides_whether_control_works_without_a_token() {
        let public = ApiConfig::builder()
            .bind_address("0.0.0.0:8000".parse().unwrap())
            .build()
            .unwrap();
        assert!(!public.control_needs_loopback());
        let v6 = ApiConfig::builder()
            .bind_address("[::1]:8000".parse().unwrap())
            .build()
            .unwrap();
        assert!(v6.control_needs_loopback());
    }

    #[test]
    fn invalid_settings_are_rejected_with_their_name() {
        let err = ApiConfig::builder().read_token("a b").build().unwrap_err();
        assert!(matches!(
            err,
            ApiError::InvalidConfig {
                setting: "read_token",
                ..
            }
        ));
        let err = ApiConfig::builder()
            .cors_origins(["bad\norigin"])
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            ApiError::InvalidConfig {
                setting: "cors_origins",
                ..
            }
        ));
        let err = ApiConfig::builder()
            .request_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            ApiError::InvalidConfig {
                setting: "request_timeout",
                ..
            }
        ));
        let err = ApiConfig::builder()
            .sse_keep_alive(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(matches!(
            err,
            ApiError::InvalidConfig {
                setting: "sse_keep_alive",
                ..
            }
        ));
    }

    #[test]
    fn tokens_never_show_in_debug_output() {
        let config = ApiConfig::builder().api_token("hunter2").build().unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
