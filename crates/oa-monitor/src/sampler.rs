//! The queue-depth sampler: a Tokio task that asks a source for the depth on an interval and
//! gives it to the system collector, until it is cancelled.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use oa_metrics::SystemMetrics;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::error::MonitorError;

/// What a queue-depth source may return: a count, or a `Result` of one (an error is logged,
/// counted, and the last depth is kept).
pub trait QueueDepthSample {
    /// The depth, or a description of why there is none.
    ///
    /// # Errors
    /// The source's own error, as text.
    fn into_depth(self) -> Result<u64, String>;
}

impl QueueDepthSample for u64 {
    fn into_depth(self) -> Result<u64, String> {
        Ok(self)
    }
}

impl QueueDepthSample for u32 {
    fn into_depth(self) -> Result<u64, String> {
        Ok(u64::from(self))
    }
}

impl QueueDepthSample for usize {
    fn into_depth(self) -> Result<u64, String> {
        u64::try_from(self).map_err(|err| err.to_string())
    }
}

impl<T: QueueDepthSample, E: fmt::Display> QueueDepthSample for Result<T, E> {
    fn into_depth(self) -> Result<u64, String> {
        self.map_err(|err| err.to_string())?.into_depth()
    }
}

/// A running sampler; dropping it stops the task.
#[derive(Debug)]
pub(crate) struct Sampler {
    _stop: DropGuard,
}

/// Spawns the sampling task on the current Tokio runtime. The first sample is taken at once,
/// then one per `interval` (a slow source delays the next tick rather than piling them up).
pub(crate) fn spawn<F, Fut>(
    system: SystemMetrics,
    interval: Duration,
    source: F,
    errors: Arc<AtomicU64>,
) -> Result<Sampler, MonitorError>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: QueueDepthSample,
{
    if interval.is_zero() {
        return Err(MonitorError::ZeroInterval);
    }
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| MonitorError::NoRuntime {
        operation: "Monitor::sample_queue_depth",
    })?;
    let token = CancellationToken::new();
    let cancelled = token.clone();
    runtime.spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancelled.cancelled() => break,
                _ = ticker.tick() => {}
            }
            let sample = tokio::select! {
                () = cancelled.cancelled() => break,
                sample = source() => sample,
            };
            match sample.into_depth() {
                Ok(depth) => system.update_queue_depth(depth),
                Err(error) => {
                    errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%error, "the queue-depth source failed; the last depth is kept");
                }
            }
        }
    });
    Ok(Sampler {
        _stop: token.drop_guard(),
    })
}
