//! The process-wide monitor, for parity with the seed's `monitor`.

use std::sync::{Arc, OnceLock};

use oa_events::event_emitter;

use crate::monitor::Monitor;

/// The global monitor: created on first use with the default configuration and attached to
/// the global emitter ([`oa_events::event_emitter`]). It lives for the whole process.
///
/// A convenience for scripts and for parity with the seed's `monitor`; everything it offers
/// also works on an instance ([`Monitor::new`]), which tests should prefer since the global one
/// is shared by every test of a process. Clone the `Arc` to hand it to the HTTP API.
///
/// ```
/// use oa_events::{event_emitter, Event, EventType};
/// use oa_monitor::monitor;
///
/// let before = monitor().get_complete_status().system.events_total;
/// event_emitter().emit(Event::new(EventType::SystemStartup));
/// assert!(monitor().get_complete_status().system.events_total > before);
/// ```
pub fn monitor() -> &'static Arc<Monitor> {
    static GLOBAL: OnceLock<Arc<Monitor>> = OnceLock::new();
    GLOBAL.get_or_init(|| Arc::new(Monitor::new(event_emitter())))
}
