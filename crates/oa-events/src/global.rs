//! The process-wide emitter, for parity with the seed's `event_emitter`.

use std::sync::OnceLock;

use crate::emitter::EventEmitter;

/// The global emitter, created on first use with the default settings.
///
/// A convenience for scripts and for parity with the seed's `event_emitter`: nothing in the
/// oa-jobs crates requires it, and everything it offers also works on an instance made with
/// [`EventEmitter::new`] (which tests should prefer, as the global one is shared by every test
/// of a process).
///
/// ```
/// use oa_events::{event_emitter, Event, EventType};
///
/// let seq = event_emitter().emit(Event::new(EventType::SystemStartup));
/// assert!(seq >= 1);
/// ```
pub fn event_emitter() -> &'static EventEmitter {
    static GLOBAL: OnceLock<EventEmitter> = OnceLock::new();
    GLOBAL.get_or_init(EventEmitter::new)
}
