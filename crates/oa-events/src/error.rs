//! The crate's error type.

/// Everything that can go wrong in oa-events.
///
/// Emitting never fails: a handler's error or panic is isolated and counted in
/// [`EmitterStats`](crate::EmitterStats), and a slow subscriber's missed events are counted and
/// reported to it. The errors below are those of parsing and of registration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// A string is not the wire name of any [`EventType`](crate::EventType).
    ///
    /// Returned by `EventType::from_str`, by serde when deserializing an event type, and by
    /// [`EventFilter::parse_types`](crate::EventFilter::parse_types).
    #[error(
        "unknown event type {name:?}: expected a wire name such as \"job.completed\" \
         (see EventType::ALL)"
    )]
    UnknownEventType {
        /// The string that was given.
        name: String,
    },

    /// An async handler was registered outside a Tokio runtime.
    ///
    /// Each async handler is drained by its own task, which is spawned on the current Tokio
    /// runtime when the handler is registered. Call `on_async`/`on_any_async` from within a
    /// runtime (for example from an `async fn` run by `#[tokio::main]`).
    #[error(
        "{operation} must be called from within a Tokio runtime (it spawns the handler's task)"
    )]
    NoRuntime {
        /// The operation that was called, e.g. `"EventEmitter::on_async"`.
        operation: &'static str,
    },
}
