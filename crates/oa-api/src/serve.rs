//! [`serve`]: the router on a TCP listener, with graceful shutdown.

use std::net::SocketAddr;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::routes::router;
use crate::state::ApiState;

/// Serves the API on `listener` until `shutdown` is cancelled, then shuts down gracefully.
///
/// - The configuration's bind address is set from the listener, so the 403 rule of the
///   control routes follows the real address.
/// - When `shutdown` is cancelled: `GET /ready` turns to 503, every open event stream ends
///   (an open stream would otherwise hold the shutdown forever), new connections are refused,
///   and the call returns once the requests in flight are answered.
/// - Each connection has `TCP_NODELAY` set and passes the caller's address to the handlers
///   (the audit lines of the control routes name it).
///
/// ```no_run
/// use std::sync::Arc;
/// use oa_api::{ApiConfig, ApiState, serve};
/// use oa_events::EventEmitter;
/// use oa_metrics::Collectors;
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main]
/// # async fn main() -> Result<(), oa_api::ApiError> {
/// let emitter = EventEmitter::new();
/// let collectors = Arc::new(Collectors::default());
/// collectors.attach(&emitter);
/// let state = ApiState::new(collectors.clone(), collectors, emitter, ApiConfig::default());
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
/// let shutdown = CancellationToken::new();
/// serve(listener, state, shutdown).await
/// # }
/// ```
///
/// # Errors
/// [`ApiError::Io`] when the listener's address cannot be read or the server fails.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: CancellationToken,
) -> Result<(), ApiError> {
    let address = listener.local_addr()?;
    let state = state.with_bind_address(address);
    let readiness = state.readiness().clone();
    let streams = state.streams_token().clone();
    tracing::info!(
        target: "oa_api",
        %address,
        control_token = state.config().has_api_token(),
        read_token = state.config().has_read_token(),
        "serving the monitoring API"
    );
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let listener = listener.tap_io(|tcp| {
        // Small responses must not wait for Nagle's algorithm; failing to set it only costs
        // latency.
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.cancelled().await;
            readiness.set_ready(false);
            streams.cancel();
            tracing::info!(target: "oa_api", "shutting down the monitoring API");
        })
        .await?;
    Ok(())
}
