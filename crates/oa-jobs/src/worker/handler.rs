//! Job handlers: what a worker runs for a job name.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use super::context::JobContext;
use crate::job::JobError;

/// The future a handler returns.
pub type HandlerFuture = Pin<Box<dyn Future<Output = Result<Value, JobError>> + Send + 'static>>;

/// Runs jobs of one name. Implemented for every `async` function or closure taking a
/// [`JobContext`] and returning `Result<serde_json::Value, JobError>`.
pub trait JobHandler: Send + Sync + 'static {
    /// Runs one attempt.
    fn call(&self, context: JobContext) -> HandlerFuture;
}

impl<F, Fut> JobHandler for F
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
{
    fn call(&self, context: JobContext) -> HandlerFuture {
        Box::pin(self(context))
    }
}
