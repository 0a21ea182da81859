//! # oa-api: the HTTP face of oa-jobs
//!
//! The monitoring API of the seed (same paths, same JSON shapes), made correct, secure by
//! default and fast, plus a resumable live event stream (server-sent events), a Prometheus
//! endpoint, an OpenAPI document with an offline docs page, and a live dashboard. Everything is
//! served from the binary: no CDN, no build step.
//!
//! **Who should depend on it**: the composition root (the `oa` binary) and anyone who wants to
//! serve the figures of an [`oa_events::EventEmitter`] over HTTP. It depends only on oa-events
//! and oa-metrics: it reads through the object-safe query and control traits
//! ([`oa_metrics::MetricsQuery`], [`oa_metrics::MetricsControl`]), so a monitor, bare
//! [`oa_metrics::Collectors`] or a test double can stand behind it.
//!
//! ## What it offers
//! - [`router`]: the whole API as an `axum::Router` over an [`ApiState`] (testable with
//!   `tower::ServiceExt::oneshot`, no socket needed).
//! - [`serve`]: the router on a listener, with graceful shutdown that also ends open streams.
//! - [`ApiConfig`]: tokens, CORS, limits, timeouts, stream settings (safe defaults).
//! - [`ApiError`]: every error, each with one status and a JSON body `{"detail", "code"}`.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the handlers.
//!
//! | routes | what |
//! |---|---|
//! | `GET /`, `/status`, `/jobs/summary`, `/jobs/recent?limit=`, `/jobs/tags`, `/jobs/priorities`, `/workers`, `/workers/{id}`, `/system`, `/system/events` | the seed's reads |
//! | `POST /system/reset`, `/system/enable`, `/system/disable` | the seed's controls: `{"status":"success","message":…}` |
//! | `GET /jobs/running`, `/metrics`, `/events`, `/system/event-log`, `/health`, `/ready` | running jobs, Prometheus, live stream (resumable from a durable event log), the log's follower, probes |
//! | `GET /openapi.json`, `/docs/`, `/dashboard` | the document, its docs page, the dashboard |
//!
//! See `docs/api.md` for every parameter, error code and the stream's protocol.
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use axum::body::{Body, to_bytes};
//! use axum::http::{Request, StatusCode};
//! use oa_api::{ApiConfig, ApiState, router};
//! use oa_events::{Event, EventEmitter, EventType};
//! use oa_metrics::Collectors;
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The collectors record the emitter's events; the API reads them through the traits.
//! let emitter = EventEmitter::new();
//! let collectors = Arc::new(Collectors::default());
//! collectors.attach(&emitter);
//! let state = ApiState::new(collectors.clone(), collectors, emitter.clone(), ApiConfig::default());
//! let app = router(state);
//!
//! emitter.emit(Event::for_worker(EventType::WorkerRegistered, "worker-1"));
//!
//! let response = app
//!     .clone()
//!     .oneshot(Request::get("/workers/worker-1").body(Body::empty())?)
//!     .await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! let worker: serde_json::Value = serde_json::from_slice(&to_bytes(response.into_body(), 1 << 20).await?)?;
//! assert_eq!(worker["status"], "online");
//!
//! // Errors are JSON with a machine-readable code.
//! let response = app
//!     .oneshot(Request::get("/workers/nobody").body(Body::empty())?)
//!     .await?;
//! assert_eq!(response.status(), StatusCode::NOT_FOUND);
//! let error: serde_json::Value = serde_json::from_slice(&to_bytes(response.into_body(), 1 << 20).await?)?;
//! assert_eq!(error["code"], "unknown_worker");
//! # Ok(())
//! # }
//! ```
//!
//! ## Guarantees
//! - Every error response is JSON `{"detail", "code"}`; no input (bad paths, bad UTF-8, huge
//!   query strings, odd headers) causes a 500 or a panic (a property test sends random ones).
//! - Control routes need the control token when one is configured (compared in constant
//!   time); without one, they answer 403 unless the server listens on loopback.
//! - `emit` never waits for a stream client: each client has a bounded queue and is told
//!   (`event: lagged`) what it missed; the replay ring is bounded by its configured size.
//! - Open streams end when the server shuts down, so they never hold a graceful shutdown.
//! - Every read costs what the query traits cost: O(1) or O(requested items) in the number of
//!   jobs ever run; the bodies of the parameterless reads are reused for a short time
//!   ([`ApiConfigBuilder::response_cache_ttl`], 100 ms by default), so that many readers cost
//!   one render.
//!
//! ## Feature flags
//!
//! None.

mod auth;
mod cache;
mod config;
mod error;
mod extract;
mod layers;
mod openapi;
mod routes;
mod schema;
mod serve;
mod sse;
mod state;

pub use config::{
    API_TOKEN_ENV, ApiConfig, ApiConfigBuilder, DEFAULT_BIND_ADDRESS, DEFAULT_BODY_LIMIT,
    DEFAULT_REPLAY_RING_SIZE, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RESPONSE_CACHE_TTL,
    DEFAULT_SSE_CLIENT_BUFFER, DEFAULT_SSE_KEEP_ALIVE, DEFAULT_SSE_RETRY, READ_TOKEN_ENV,
};
pub use error::{ApiError, ErrorBody};
pub use openapi::openapi;
pub use routes::router;
pub use serve::serve;
pub use state::{ApiState, Readiness};
