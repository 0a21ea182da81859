//! [`MonitorError`], the one error type of this crate.

use thiserror::Error;

/// What can go wrong when building a monitor or starting its queue-depth sampler.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// The queue-depth sampler runs as a Tokio task, and there was no runtime on this thread.
    /// Start it from inside a runtime (e.g. in `#[tokio::main]`).
    #[error("`{operation}` needs a Tokio runtime: call it from inside one")]
    NoRuntime {
        /// The method that needed the runtime.
        operation: &'static str,
    },
    /// The sampling interval was zero.
    #[error("the queue-depth sampling interval must be greater than zero")]
    ZeroInterval,
}
