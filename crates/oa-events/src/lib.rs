//! # oa-events: the event vocabulary and the event bus of oa-jobs
//!
//! Everything in oa-jobs that happens to a job, a worker or the system is an [`Event`] of one
//! of 17 [`EventType`]s, emitted through an [`EventEmitter`]. The job engine (oa-jobs) emits;
//! the metric collectors (oa-metrics), the HTTP API's live stream and your own code consume.
//!
//! **Who should depend on it**: anything that emits or consumes events. Like `tracing-core`,
//! this crate is small and stable: it depends on no other crate of the workspace, so the job
//! engine and the observability layers can evolve apart.
//!
//! ## What it offers
//! - [`EventType`]: the seed's 17 types with their wire names (`job.failed`, ...), parsed with
//!   a typed error ([`EventError::UnknownEventType`]), grouped by [`EventCategory`].
//! - [`Event`]: id (UUID v7), `seq`, type, UTC timestamp, job id, worker id and a JSON object of
//!   data (keys in [`keys`]); builder methods and [`Event::from_job`] through the
//!   [`JobEventSource`] trait.
//! - [`EventEmitter`]: sync handlers ([`on`](EventEmitter::on),
//!   [`on_any`](EventEmitter::on_any)), async handlers with their own bounded queues
//!   ([`on_async`](EventEmitter::on_async), [`emit_async`](EventEmitter::emit_async)), bounded
//!   [`EventStream`]s that report lag ([`subscribe`](EventEmitter::subscribe)), and
//!   [`stats`](EventEmitter::stats).
//! - [`event_emitter()`]: a process-wide emitter, the seed's `event_emitter`, as a convenience.
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use oa_events::{Event, EventEmitter, EventFilter, EventType, StreamItem};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), oa_events::EventError> {
//! let emitter = EventEmitter::new();
//!
//! // A synchronous handler for one type.
//! let failures = Arc::new(AtomicU64::new(0));
//! let counter = Arc::clone(&failures);
//! emitter.on(EventType::JobFailed, move |event: &Event| {
//!     counter.fetch_add(1, Ordering::Relaxed);
//! });
//!
//! // An async handler for every event: it has its own queue and task.
//! emitter.on_any_async(|event: Arc<Event>| async move {
//!     // e.g. forward the event to another service
//!     let _ = event.wire_name();
//! })?;
//!
//! // A bounded stream of the failures of one job.
//! let mut stream = emitter.subscribe(EventFilter::all().types([EventType::JobFailed]).job_id("job-1"));
//!
//! let failed = Event::for_job(EventType::JobFailed, "job-1").with_data("error", "boom");
//! emitter.emit_async(failed).await; // returns once the async handler has run
//!
//! assert_eq!(failures.load(Ordering::Relaxed), 1);
//! let Some(StreamItem::Event(event)) = stream.recv().await else { panic!("expected an event") };
//! assert_eq!(event.seq, 1);
//! # Ok(())
//! # }
//! ```
//!
//! ## Guarantees
//! - `emit` never awaits and never blocks on a slow subscriber: streams and async handlers have
//!   bounded queues, and whatever they miss is counted ([`EmitterStats`]) and, for streams,
//!   reported ([`StreamItem::Lagged`]).
//! - A handler that fails or panics is isolated: logged through `tracing`, counted, and the
//!   other handlers still run.
//! - `seq` is strictly increasing per emitter, also when many threads emit at once.
//!
//! ## Feature flags
//!
//! | feature     | default | what it adds |
//! |-------------|---------|--------------|
//! | `test-util` | no      | [`testing::RecordingSubscriber`], to assert event sequences in tests of other crates |

mod emitter;
mod error;
mod event;
mod event_type;
mod filter;
mod follow;
mod global;
mod handler;
pub mod keys;
mod log;
mod stats;
mod stream;

pub use emitter::{DEFAULT_QUEUE_CAPACITY, EventEmitter, EventEmitterBuilder};
pub use error::EventError;
pub use event::{Event, JobEventSource};
pub use event_type::{EventCategory, EventType};
pub use filter::EventFilter;
pub use follow::{FollowOptions, FollowProgress, LogFollower};
pub use global::event_emitter;
pub use handler::{HandlerOutcome, SubscriptionId};
pub use log::{EventLog, LogBounds, LogError, LogRetention, MemoryEventLog};
pub use stats::EmitterStats;
pub use stream::{EventStream, StreamItem, TryRecvError};

/// Test support: a recording subscriber to assert event sequences (feature `test-util`).
#[cfg(feature = "test-util")]
pub mod testing {
    pub use crate::recording::RecordingSubscriber;
}

#[cfg(feature = "test-util")]
mod recording;
