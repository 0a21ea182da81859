//! [`ApiState`]: what every handler reads, and the [`Readiness`] flag of `GET /ready`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use oa_events::EventEmitter;
use oa_metrics::{MetricsControl, MetricsQuery};
use tokio_util::sync::CancellationToken;

use crate::cache::ResponseCache;
use crate::config::ApiConfig;
use crate::sse::ReplayRing;

/// Whether the system is ready to serve: `GET /ready` answers 200 when it is and 503 when it
/// is not. Cheap to clone; clones share the flag.
///
/// A new state is ready: build it once the system is wired. The composition root may set it
/// to not ready while it starts, and [`serve`](crate::serve) sets it to not ready when the
/// shutdown begins, so that load balancers stop sending traffic.
#[derive(Debug, Clone)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    fn new(ready: bool) -> Self {
        Readiness(Arc::new(AtomicBool::new(ready)))
    }

    /// Sets the flag.
    pub fn set_ready(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// Reads the flag.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Everything the handlers read: the metrics (query and control traits), the emitter (for the
/// live stream), the configuration, the replay ring, the readiness flag and the token that
/// ends open streams. Cheap to clone (one `Arc`).
///
/// The replay ring subscribes to the emitter when the state is made, so a client can resume
/// from any event emitted since (within the ring's size).
///
/// ```
/// use std::sync::Arc;
/// use oa_api::{ApiConfig, ApiState};
/// use oa_events::EventEmitter;
/// use oa_metrics::Collectors;
///
/// let emitter = EventEmitter::new();
/// let collectors = Arc::new(Collectors::default());
/// collectors.attach(&emitter);
/// let state = ApiState::new(collectors.clone(), collectors, emitter, ApiConfig::default());
/// assert!(state.readiness().is_ready());
/// ```
#[derive(Clone)]
pub struct ApiState {
    // One `Arc`: axum clones the state for every extractor and middleware of every request.
    pub(crate) inner: Arc<StateInner>,
}

/// The parts of an [`ApiState`].
#[derive(Clone)]
pub(crate) struct StateInner {
    pub(crate) metrics: Arc<dyn MetricsQuery>,
    pub(crate) control: Arc<dyn MetricsControl>,
    pub(crate) emitter: EventEmitter,
    pub(crate) config: Arc<ApiConfig>,
    pub(crate) ring: Arc<ReplayRing>,
    pub(crate) cache: Arc<ResponseCache>,
    pub(crate) readiness: Readiness,
    pub(crate) streams_end: CancellationToken,
    /// The durable log behind the emitter, when the emitter is fed by a
    /// [`LogFollower`](oa_events::LogFollower): resumes older than the ring read from it.
    pub(crate) event_log: Option<Arc<dyn oa_events::EventLog>>,
    /// The progress of the follower that feeds the emitter from `event_log`.
    pub(crate) follower: Option<oa_events::FollowProgress>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = &self.inner;
        f.debug_struct("ApiState")
            .field("emitter", &inner.emitter)
            .field("config", &inner.config)
            .field("ready", &inner.readiness.is_ready())
            .field("streams_ended", &inner.streams_end.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// A state over `metrics` and `control` (often the same object: a monitor, or
    /// `oa_metrics::Collectors`), streaming the events of `emitter`.
    #[must_use]
    pub fn new(
        metrics: Arc<dyn MetricsQuery>,
        control: Arc<dyn MetricsControl>,
        emitter: EventEmitter,
        config: ApiConfig,
    ) -> Self {
        let ring = Arc::new(ReplayRing::new(&emitter, config.replay_ring_size));
        let cache = Arc::new(ResponseCache::new(config.response_cache_ttl));
        let inner = StateInner {
            metrics,
            control,
            emitter,
            config: Arc::new(config),
            ring,
            cache,
            readiness: Readiness::new(true),
            streams_end: CancellationToken::new(),
            event_log: None,
            follower: None,
        };
        ApiState {
            inner: Arc::new(inner),
        }
    }

    /// The same state with `change` applied to a copy of its parts.
    fn with(self, change: impl FnOnce(&mut StateInner)) -> Self {
        let mut inner = (*self.inner).clone();
        change(&mut inner);
        ApiState {
            inner: Arc::new(inner),
        }
    }

    /// Ends the open event streams when `token` is cancelled (besides
    /// [`close_streams`](Self::close_streams) and [`serve`](crate::serve)'s shutdown). Give
    /// it your application's shutdown token when you serve [`router`](crate::router) yourself:
    /// an open stream would otherwise keep a graceful shutdown waiting.
    #[must_use]
    pub fn with_shutdown_token(self, token: &CancellationToken) -> Self {
        let streams_end = token.child_token();
        self.with(|inner| inner.streams_end = streams_end)
    }

    /// The same state resuming event streams from `log` as well: the emitter must be the one a
    /// [`LogFollower`](oa_events::LogFollower) of `log` feeds (so that its `seq`s are the
    /// log's). A client whose `Last-Event-ID` is older than the replay ring then gets the
    /// missing events from the log, also after a server restart, as long as the log retains
    /// them.
    #[must_use]
    pub fn with_event_log(self, log: Arc<dyn oa_events::EventLog>) -> Self {
        self.with(|inner| inner.event_log = Some(log))
    }

    /// The same state reporting `follower`'s progress at `GET /system/event-log` (with
    /// [`with_event_log`](Self::with_event_log) for the log it follows).
    #[must_use]
    pub fn with_log_follower(self, follower: oa_events::FollowProgress) -> Self {
        self.with(|inner| inner.follower = Some(follower))
    }

    /// The same state with the configuration's bind address set to `address` (it decides
    /// whether control routes work without a token).
    #[must_use]
    pub fn with_bind_address(self, address: SocketAddr) -> Self {
        if self.inner.config.bind_address == address {
            return self;
        }
        let mut config = (*self.inner.config).clone();
        config.bind_address = address;
        self.with(|inner| inner.config = Arc::new(config))
    }

    /// The readiness flag of `GET /ready`.
    #[must_use]
    pub fn readiness(&self) -> &Readiness {
        &self.inner.readiness
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    /// The emitter whose events the live stream serves.
    #[must_use]
    pub fn emitter(&self) -> &EventEmitter {
        &self.inner.emitter
    }

    /// Ends every open event stream now (and every stream opened later).
    pub fn close_streams(&self) {
        self.inner.streams_end.cancel();
    }

    /// The token whose cancellation ends the event streams.
    #[must_use]
    pub fn streams_token(&self) -> &CancellationToken {
        &self.inner.streams_end
    }
}
