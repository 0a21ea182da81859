//! [`RecordingSubscriber`]: records events so that tests can assert their sequence.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::emitter::{EventEmitter, lock};
use crate::event::Event;
use crate::event_type::EventType;
use crate::filter::EventFilter;
use crate::handler::SubscriptionId;

/// Records every event (or every event matching a filter) that an emitter delivers, for tests.
///
/// It is a sync `on_any` handler, so it sees every event without loss, on the emitting thread.
/// Reads return the events in `seq` order. Dropping the recorder detaches it.
/// Available with the `test-util` feature.
///
/// ```
/// use oa_events::testing::RecordingSubscriber;
/// use oa_events::{Event, EventEmitter, EventType};
///
/// let emitter = EventEmitter::new();
/// let recorder = RecordingSubscriber::attach(&emitter);
/// emitter.emit(Event::for_job(EventType::JobStarted, "j1"));
/// emitter.emit(Event::for_job(EventType::JobCompleted, "j1"));
/// recorder.assert_job_types("j1", &[EventType::JobStarted, EventType::JobCompleted]);
/// ```
#[derive(Debug)]
#[must_use = "the recorder detaches when dropped"]
pub struct RecordingSubscriber {
    emitter: EventEmitter,
    id: SubscriptionId,
    shared: Arc<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    events: Mutex<Vec<Event>>,
    changed: tokio::sync::Notify,
}

impl RecordingSubscriber {
    /// Records every event `emitter` delivers from now on.
    pub fn attach(emitter: &EventEmitter) -> Self {
        RecordingSubscriber::attach_filtered(emitter, EventFilter::all())
    }

    /// Records the events that match `filter`.
    pub fn attach_filtered(emitter: &EventEmitter, filter: EventFilter) -> Self {
        let shared = Arc::new(Recorded::default());
        let recorded = Arc::clone(&shared);
        let id = emitter.on_any(move |event: &Event| {
            if filter.matches(event) {
                lock(&recorded.events).push(event.clone());
                recorded.changed.notify_waiters();
            }
        });
        RecordingSubscriber {
            emitter: emitter.clone(),
            id,
            shared,
        }
    }

    /// The recorded events, in `seq` order.
    #[must_use]
    pub fn events(&self) -> Vec<Event> {
        let mut events = lock(&self.shared.events).clone();
        events.sort_by_key(|event| event.seq);
        events
    }

    /// The recorded events' types, in `seq` order.
    #[must_use]
    pub fn types(&self) -> Vec<EventType> {
        self.events()
            .into_iter()
            .map(|event| event.event_type)
            .collect()
    }

    /// The types of the recorded events about `job_id`, in `seq` order.
    #[must_use]
    pub fn job_types(&self, job_id: &str) -> Vec<EventType> {
        self.events()
            .into_iter()
            .filter(|event| event.job_id.as_deref() == Some(job_id))
            .map(|event| event.event_type)
            .collect()
    }

    /// How many events were recorded.
    #[must_use]
    pub fn len(&self) -> usize {
        lock(&self.shared.events).len()
    }

    /// Whether nothing was recorded.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets what was recorded so far.
    pub fn clear(&self) {
        lock(&self.shared.events).clear();
    }

    /// Panics, listing what was recorded, unless the recorded types are exactly `expected`.
    #[track_caller]
    pub fn assert_types(&self, expected: &[EventType]) {
        let actual = self.types();
        assert!(
            actual == expected,
            "recorded event types differ\n  expected: {}\n  recorded: {}",
            wire_names(expected),
            wire_names(&actual)
        );
    }

    /// Panics, listing what was recorded, unless the types recorded for `job_id` are exactly
    /// `expected`.
    #[track_caller]
    pub fn assert_job_types(&self, job_id: &str, expected: &[EventType]) {
        let actual = self.job_types(job_id);
        assert!(
            actual == expected,
            "recorded event types of job {job_id:?} differ\n  expected: {}\n  recorded: {}",
            wire_names(expected),
            wire_names(&actual)
        );
    }

    /// Waits until `predicate` holds for the recorded events (in `seq` order), for events
    /// emitted by other tasks or threads. Works with `tokio::time::pause()`.
    ///
    /// # Panics
    /// When `timeout` passes first, listing what was recorded.
    pub async fn wait_for(&self, timeout: Duration, predicate: impl Fn(&[Event]) -> bool) {
        let wait = async {
            loop {
                let changed = self.shared.changed.notified();
                let mut changed = std::pin::pin!(changed);
                changed.as_mut().enable();
                if predicate(&self.events()) {
                    return;
                }
                changed.await;
            }
        };
        if tokio::time::timeout(timeout, wait).await.is_err() {
            panic!(
                "timed out after {timeout:?} waiting for recorded events; recorded: {}",
                wire_names(&self.types())
            );
        }
    }

    /// Waits until at least `count` events were recorded (see [`wait_for`](Self::wait_for)).
    ///
    /// # Panics
    /// When `timeout` passes first.
    pub async fn wait_for_count(&self, count: usize, timeout: Duration) {
        self.wait_for(timeout, |events| events.len() >= count).await;
    }
}

impl Drop for RecordingSubscriber {
    fn drop(&mut self) {
        self.emitter.off(self.id);
    }
}

fn wire_names(types: &[EventType]) -> String {
    let names: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
    format!("[{}]", names.join(", "))
}
