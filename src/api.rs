//! Serving the monitoring API and the dashboard of a running system.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use oa_api::{ApiConfig, ApiState};
use tokio_util::sync::CancellationToken;

use crate::system::System;

/// Where and how the API is served.
#[derive(Debug, Clone, Args)]
pub(crate) struct ApiArgs {
    /// The address to listen on (loopback by default; control routes need a token elsewhere).
    #[arg(long, env = "OA_HOST", default_value = "127.0.0.1")]
    pub(crate) host: IpAddr,
    /// The port to listen on (0 picks a free one).
    #[arg(long, env = "OA_PORT", default_value_t = 8000)]
    pub(crate) port: u16,
    /// The token the control routes (`POST /system/*`) require.
    #[arg(long, env = "OA_API_TOKEN", hide_env_values = true)]
    pub(crate) api_token: Option<String>,
    /// A token the read routes require (the control token is accepted too).
    #[arg(long, env = "OA_API_READ_TOKEN", hide_env_values = true)]
    pub(crate) api_read_token: Option<String>,
    /// Origins allowed by CORS, comma-separated (none by default).
    #[arg(long, env = "OA_CORS_ORIGINS", value_delimiter = ',')]
    pub(crate) cors_origin: Vec<String>,
}

/// A served API.
#[derive(Debug)]
pub(crate) struct ServedApi {
    pub(crate) address: SocketAddr,
    pub(crate) task: tokio::task::JoinHandle<Result<(), oa_api::ApiError>>,
}

/// Binds the port and serves the API over `system` until `shutdown`.
pub(crate) async fn serve(
    system: &System,
    args: &ApiArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<ServedApi> {
    let wanted = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(wanted)
        .await
        .map_err(|error| {
            if error.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::anyhow!(
                    "port {} on {} is already in use; choose another with --port",
                    args.port,
                    args.host
                )
            } else {
                anyhow::anyhow!("cannot listen on {wanted}: {error}")
            }
        })?;
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let mut config = ApiConfig::builder().bind_address(address);
    if let Some(token) = args.api_token.as_deref().filter(|t| !t.is_empty()) {
        config = config.api_token(token);
    }
    if let Some(token) = args.api_read_token.as_deref().filter(|t| !t.is_empty()) {
        config = config.read_token(token);
    }
    if !args.cors_origin.is_empty() {
        config = config.cors_origins(args.cors_origin.iter().cloned());
    }
    let config = config.build().context("invalid API settings")?;
    let state = ApiState::new(
        system.monitor.clone(),
        system.monitor.clone(),
        system.emitter.clone(),
        config,
    )
    .with_shutdown_token(&shutdown);
    let state = match (&system.followed_log, system.follow_progress()) {
        (Some(log), Some(progress)) => state
            .with_event_log(Arc::clone(log))
            .with_log_follower(progress),
        _ => state,
    };
    let task = tokio::spawn(oa_api::serve(listener, state, shutdown));
    Ok(ServedApi { address, task })
}

/// The URL a person opens for `address` (loopback when listening on every interface).
pub(crate) fn url(address: SocketAddr) -> String {
    let host = if address.ip().is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        address.ip()
    };
    format!("http://{}", SocketAddr::new(host, address.port()))
}
