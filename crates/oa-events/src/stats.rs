//! [`EmitterStats`] and the counters behind them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::event_type::EventType;

/// A snapshot of an emitter's counters, from [`EventEmitter::stats`](crate::EventEmitter::stats).
///
/// Counters only grow; they are never reset (monitor resets zero the collectors, not these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EmitterStats {
    /// Events emitted, all types together (also the last `seq` assigned).
    pub emitted: u64,
    /// Events emitted per type: all 17 wire names, zeros included.
    pub per_type: BTreeMap<EventType, u64>,
    /// Handler failures: errors returned plus panics caught, sync and async handlers together.
    pub handler_errors: u64,
    /// The part of `handler_errors` that were panics.
    pub handler_panics: u64,
    /// Deliveries that were dropped: `stream_dropped + async_dropped`.
    pub dropped_deliveries: u64,
    /// Events dropped from the queues of streams that fell behind (each was reported to its
    /// stream as lag).
    pub stream_dropped: u64,
    /// Events not delivered to an async handler because its queue was full (only `emit`
    /// drops; `emit_async` waits for room).
    pub async_dropped: u64,
    /// Sync handlers registered now.
    pub sync_handlers: usize,
    /// Async handlers registered now.
    pub async_handlers: usize,
    /// Streams subscribed now.
    pub streams: usize,
}

/// The emitter's counters, shared with the async handlers' tasks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    per_type: [AtomicU64; EventType::COUNT],
    handler_errors: AtomicU64,
    handler_panics: AtomicU64,
    pub(crate) stream_dropped: AtomicU64,
    pub(crate) async_dropped: AtomicU64,
}

impl Counters {
    pub(crate) fn count_type(&self, index: usize) {
        if let Some(counter) = self.per_type.get(index) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts and logs a handler's failure.
    pub(crate) fn handler_failed(&self, event: &Event, message: &str, panicked: bool) {
        self.handler_errors.fetch_add(1, Ordering::Relaxed);
        if panicked {
            self.handler_panics.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                event_type = %event.event_type,
                seq = event.seq,
                panic = message,
                "event handler panicked; the other handlers still ran"
            );
        } else {
            tracing::warn!(
                event_type = %event.event_type,
                seq = event.seq,
                error = message,
                "event handler returned an error"
            );
        }
    }

    pub(crate) fn snapshot(
        &self,
        sync_handlers: usize,
        async_handlers: usize,
        streams: usize,
    ) -> EmitterStats {
        let per_type = EventType::ALL
            .into_iter()
            .zip(&self.per_type)
            .map(|(t, count)| (t, count.load(Ordering::Relaxed)))
            .collect::<BTreeMap<_, _>>();
        let emitted = per_type.values().sum();
        let stream_dropped = self.stream_dropped.load(Ordering::Relaxed);
        let async_dropped = self.async_dropped.load(Ordering::Relaxed);
        EmitterStats {
            emitted,
            per_type,
            handler_errors: self.handler_errors.load(Ordering::Relaxed),
            handler_panics: self.handler_panics.load(Ordering::Relaxed),
            dropped_deliveries: stream_dropped + async_dropped,
            stream_dropped,
            async_dropped,
            sync_handlers,
            async_handlers,
            streams,
        }
    }
}
