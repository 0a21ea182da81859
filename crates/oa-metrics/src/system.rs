//! [`SystemMetrics`]: the system collector.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use oa_events::{Event, EventEmitter, EventType, SubscriptionId, keys};

use crate::clock::Clock;
use crate::config::MetricsConfig;
use crate::histogram::micros_to_seconds;
use crate::snapshot::SystemSnapshot;

/// The system collector: event counts, errors, queue depth, uptime, and the emitter's own
/// drop and failure counts.
///
/// Everything is a lock-free atomic. The queue depth is not an event: it is given with
/// [`update_queue_depth`](Self::update_queue_depth) (the monitor can sample it). The emitter's
/// counts (`dropped_events`, `handler_errors`) are read from the emitter given to
/// [`attach`](Self::attach) or [`watch_emitter`](Self::watch_emitter), and never reset here.
///
/// ```
/// use oa_events::{Event, EventEmitter, EventType};
/// use oa_metrics::SystemMetrics;
///
/// let emitter = EventEmitter::new();
/// let system = SystemMetrics::default();
/// system.attach(&emitter);
/// emitter.emit(Event::new(EventType::SystemError).with_data("message", "disk full"));
/// system.update_queue_depth(7);
///
/// let snapshot = system.snapshot();
/// assert_eq!(snapshot.error_count, 1);
/// assert_eq!(snapshot.event_counts[&EventType::SystemError], 1);
/// assert_eq!(snapshot.events_total, 1);
/// assert_eq!((snapshot.queue_depth, snapshot.max_queue_depth), (7, 7));
/// ```
#[derive(Clone)]
pub struct SystemMetrics {
    shared: Arc<Shared>,
    /// The emitter whose stats are reported. It is kept apart from `shared`, which the
    /// handler holds, so that the emitter and its handler do not keep each other alive.
    emitter: Arc<ArcSwapOption<EventEmitter>>,
}

struct Shared {
    per_type: [AtomicU64; EventType::COUNT],
    error_count: AtomicU64,
    malformed: AtomicU64,
    queue_depth: AtomicU64,
    max_queue_depth: AtomicU64,
    enabled: AtomicBool,
    ignored: AtomicU64,
    since_micros: AtomicI64,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for SystemMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemMetrics")
            .field("enabled", &self.is_enabled())
            .field("events_total", &self.events_total())
            .finish_non_exhaustive()
    }
}

impl Default for SystemMetrics {
    fn default() -> Self {
        SystemMetrics::new(&MetricsConfig::default())
    }
}

/// `1d 2h 3m 4s`: days, hours, minutes and whole seconds, all four parts.
#[must_use]
pub fn format_uptime(seconds: f64) -> String {
    let total = if seconds.is_finite() && seconds > 0.0 {
        seconds as u64
    } else {
        0
    };
    let (days, rest) = (total / 86_400, total % 86_400);
    let (hours, rest) = (rest / 3600, rest % 3600);
    let (minutes, seconds) = (rest / 60, rest % 60);
    format!("{days}d {hours}h {minutes}m {seconds}s")
}

impl SystemMetrics {
    /// A collector with the clock of `config`; its uptime starts now.
    #[must_use]
    pub fn new(config: &MetricsConfig) -> Self {
        let clock = Arc::clone(&config.clock);
        SystemMetrics {
            shared: Arc::new(Shared {
                per_type: std::array::from_fn(|_| AtomicU64::new(0)),
                error_count: AtomicU64::new(0),
                malformed: AtomicU64::new(0),
                queue_depth: AtomicU64::new(0),
                max_queue_depth: AtomicU64::new(0),
                enabled: AtomicBool::new(true),
                ignored: AtomicU64::new(0),
                since_micros: AtomicI64::new(clock.now().timestamp_micros()),
                clock,
            }),
            emitter: Arc::new(ArcSwapOption::empty()),
        }
    }

    /// Counts one event (every type); while disabled, counts it in `events_ignored` only.
    pub fn record(&self, event: &Event) {
        let shared = &*self.shared;
        if !shared.enabled.load(Ordering::Relaxed) {
            shared.ignored.fetch_add(1, Ordering::Relaxed);
            return;
        }
        shared.per_type[event.event_type.index()].fetch_add(1, Ordering::Relaxed);
        if event.event_type == EventType::SystemError {
            shared.error_count.fetch_add(1, Ordering::Relaxed);
            if event.data_str(keys::MESSAGE).is_none() {
                shared.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Registers a sync handler on `emitter` that records every event, and reports that
    /// emitter's drop and failure counts; remove the handler with [`EventEmitter::off`].
    pub fn attach(&self, emitter: &EventEmitter) -> SubscriptionId {
        self.watch_emitter(emitter);
        let system = self.recorder();
        emitter.on_any(move |event: &Event| system.record(event))
    }

    /// A handle on the same figures without the watched emitter, for handlers to hold.
    pub(crate) fn recorder(&self) -> SystemMetrics {
        SystemMetrics {
            shared: Arc::clone(&self.shared),
            emitter: Arc::new(ArcSwapOption::empty()),
        }
    }

    /// Reports `emitter`'s `dropped_deliveries` and `handler_errors` as `dropped_events` and
    /// `handler_errors`, without recording its events.
    pub fn watch_emitter(&self, emitter: &EventEmitter) {
        self.emitter.store(Some(Arc::new(emitter.clone())));
    }

    /// Sets the queue depth (and raises `max_queue_depth` if needed): the seed's
    /// `update_queue_depth`.
    pub fn update_queue_depth(&self, depth: u64) {
        self.shared.queue_depth.store(depth, Ordering::Relaxed);
        self.shared
            .max_queue_depth
            .fetch_max(depth, Ordering::Relaxed);
    }

    /// Events counted per type, all 17 wire names, zeros included (`GET /system/events`).
    #[must_use]
    pub fn event_counts(&self) -> BTreeMap<EventType, u64> {
        EventType::ALL
            .into_iter()
            .zip(&self.shared.per_type)
            .map(|(event_type, count)| (event_type, count.load(Ordering::Relaxed)))
            .collect()
    }

    fn events_total(&self) -> u64 {
        self.shared
            .per_type
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .sum()
    }

    /// Events that arrived while collection was off.
    #[must_use]
    pub fn events_ignored(&self) -> u64 {
        self.shared.ignored.load(Ordering::Relaxed)
    }

    /// `system.error` events without a `message`.
    #[must_use]
    pub fn malformed_events(&self) -> u64 {
        self.shared.malformed.load(Ordering::Relaxed)
    }

    /// The system figures.
    #[must_use]
    pub fn snapshot(&self) -> SystemSnapshot {
        let shared = &*self.shared;
        let now = shared.clock.now().timestamp_micros();
        let since = shared.since_micros.load(Ordering::Relaxed);
        let uptime = micros_to_seconds(u64::try_from(now.saturating_sub(since)).unwrap_or(0));
        let event_counts = self.event_counts();
        let events_total = event_counts.values().sum();
        let (dropped_events, handler_errors) = match &*self.emitter.load() {
            Some(emitter) => {
                let stats = emitter.stats();
                (stats.dropped_deliveries, stats.handler_errors)
            }
            None => (0, 0),
        };
        SystemSnapshot {
            uptime,
            uptime_formatted: format_uptime(uptime),
            queue_depth: shared.queue_depth.load(Ordering::Relaxed),
            max_queue_depth: shared.max_queue_depth.load(Ordering::Relaxed),
            error_count: shared.error_count.load(Ordering::Relaxed),
            event_counts,
            events_total,
            events_per_second: if uptime > 0.0 {
                events_total as f64 / uptime
            } else {
                0.0
            },
            dropped_events,
            handler_errors,
            enabled: self.is_enabled(),
            events_ignored: self.events_ignored(),
            malformed_events: self.malformed_events(),
        }
    }

    /// Zeroes the counts and restarts the uptime; the queue depth stays, and becomes the new
    /// maximum. The emitter's own counts are not touched.
    pub fn reset(&self) {
        let shared = &*self.shared;
        for count in &shared.per_type {
            count.store(0, Ordering::Relaxed);
        }
        shared.error_count.store(0, Ordering::Relaxed);
        shared.malformed.store(0, Ordering::Relaxed);
        shared.ignored.store(0, Ordering::Relaxed);
        shared.max_queue_depth.store(
            shared.queue_depth.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        shared
            .since_micros
            .store(shared.clock.now().timestamp_micros(), Ordering::Relaxed);
    }

    /// Resumes collection.
    pub fn enable(&self) {
        self.shared.enabled.store(true, Ordering::Relaxed);
    }

    /// Stops collection: events are counted in `events_ignored` only.
    pub fn disable(&self) {
        self.shared.enabled.store(false, Ordering::Relaxed);
    }

    /// Whether collection is on.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.shared.enabled.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_is_formatted_in_four_parts() {
        assert_eq!(format_uptime(0.0), "0d 0h 0m 0s");
        assert_eq!(format_uptime(93_784.9), "1d 2h 3m 4s");
        assert_eq!(format_uptime(59.99), "0d 0h 0m 59s");
        assert_eq!(format_uptime(-3.0), "0d 0h 0m 0s");
        assert_eq!(format_uptime(f64::NAN), "0d 0h 0m 0s");
    }
}
