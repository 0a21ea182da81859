//! What handlers may return, and the ids of subscriptions.

use std::fmt;

/// What a handler returns: `()` for a handler that cannot fail, or `Result<(), E>` with any
/// displayable error. An `Err` is isolated: it is logged through `tracing`, counted in
/// [`EmitterStats::handler_errors`](crate::EmitterStats::handler_errors), and the other
/// handlers still run.
pub trait HandlerOutcome {
    /// Converts the outcome into `Ok(())` or the error's message.
    ///
    /// # Errors
    /// The handler's error, rendered with `Display`.
    fn into_outcome(self) -> Result<(), String>;
}

impl HandlerOutcome for () {
    fn into_outcome(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: fmt::Display> HandlerOutcome for Result<(), E> {
    fn into_outcome(self) -> Result<(), String> {
        self.map_err(|err| err.to_string())
    }
}

/// Identifies a handler or a stream registered on an [`EventEmitter`](crate::EventEmitter);
/// give it to [`EventEmitter::off`](crate::EventEmitter::off) to remove the registration.
///
/// Ids are unique per emitter and never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(pub(crate) u64);

impl SubscriptionId {
    /// The id as a number.
    #[must_use]
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subscription-{}", self.0)
    }
}
