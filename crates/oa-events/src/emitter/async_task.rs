//! The task that drains one async handler's queue.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::mpsc;

use super::registry::{AsyncDelivery, AsyncHandler};
use crate::handler::SubscriptionId;
use crate::stats::Counters;

/// The task of one async handler: runs it for each queued event until the queue closes.
pub(super) async fn drain_async_queue(
    id: SubscriptionId,
    mut receiver: mpsc::Receiver<AsyncDelivery>,
    handler: Arc<AsyncHandler>,
    counters: Arc<Counters>,
) {
    while let Some(AsyncDelivery { event, done }) = receiver.recv().await {
        // Both the call (which may panic before returning a future) and the future are guarded.
        let outcome = match catch_unwind(AssertUnwindSafe(|| handler(Arc::clone(&event)))) {
            Ok(future) => AssertUnwindSafe(future).catch_unwind().await,
            Err(payload) => Err(payload),
        };
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(message)) => counters.handler_failed(&event, &message, false),
            Err(payload) => counters.handler_failed(&event, &panic_message(payload.as_ref()), true),
        }
        if let Some(done) = done {
            // The emitter may have stopped waiting (its future was dropped); that is fine.
            let _ = done.send(());
        }
    }
    tracing::trace!(subscription = %id, "async handler's queue closed");
}

pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
