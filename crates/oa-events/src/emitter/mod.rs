//! [`EventEmitter`]: synchronous handlers, async handlers and streams.

mod async_task;
mod reentrancy;
mod registry;

use std::fmt;
use std::future::Future;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use arc_swap::ArcSwap;
use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

use self::async_task::{drain_async_queue, panic_message};
use self::reentrancy::{Delivery, DispatchGuard, queue_pending, take_pending_or_leave, try_enter};
use self::registry::{
    AsyncDelivery, AsyncHandler, AsyncTarget, CURRENT_ASYNC_HANDLER, Registration, Registry,
    Subscriptions, SyncHandler,
};
use crate::error::EventError;
use crate::event::Event;
use crate::event_type::EventType;
use crate::filter::EventFilter;
use crate::handler::{HandlerOutcome, SubscriptionId};
use crate::stats::{Counters, EmitterStats};
use crate::stream::{EventStream, StreamShared};

/// The default capacity of a stream's queue and of an async handler's queue.
pub const DEFAULT_QUEUE_CAPACITY: usize = 1024;

const DEFAULT_CAPACITY: NonZeroUsize = match NonZeroUsize::new(DEFAULT_QUEUE_CAPACITY) {
    Some(capacity) => capacity,
    None => panic!("DEFAULT_QUEUE_CAPACITY must not be zero"),
};

/// The state shared by every clone of an [`EventEmitter`].
pub(crate) struct Inner {
    registry: ArcSwap<Registry>,
    subscriptions: Mutex<Subscriptions>,
    /// Taken by emits that feed async handlers or streams, so that they receive events in
    /// `seq` order even when several threads emit at once.
    ordering: Mutex<()>,
    next_seq: AtomicU64,
    next_id: AtomicU64,
    counters: Arc<Counters>,
    stream_capacity: NonZeroUsize,
    async_queue_capacity: NonZeroUsize,
}

impl Inner {
    fn register(&self, registration: Registration) -> SubscriptionId {
        let id = SubscriptionId(self.next_id.fetch_add(1, Ordering::Relaxed) + 1);
        let mut subscriptions = lock(&self.subscriptions);
        subscriptions.entries.push((id, registration));
        self.registry.store(Arc::new(subscriptions.snapshot()));
        id
    }

    /// Removes a registration; returns whether it existed.
    pub(crate) fn remove(&self, id: SubscriptionId) -> bool {
        let mut subscriptions = lock(&self.subscriptions);
        let Some(position) = subscriptions
            .entries
            .iter()
            .position(|(other, _)| *other == id)
        else {
            return false;
        };
        let (_, registration) = subscriptions.entries.remove(position);
        self.registry.store(Arc::new(subscriptions.snapshot()));
        drop(subscriptions);
        if let Registration::Stream { shared, .. } = registration {
            shared.close();
        }
        true
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Streams outlive the emitter: tell them that nothing more will come. Async handlers'
        // tasks end on their own when their queue's sender (in the registry) is dropped.
        for target in self.registry.load().streams.iter() {
            target.shared.close();
        }
    }
}

/// Locks a mutex, ignoring poisoning: every critical section in this crate leaves its data
/// consistent at every point where a panic could occur, and handlers never run under a lock.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How an emit feeds the async handlers' queues.
enum AsyncFeed<'a> {
    /// `emit`: never wait; a full queue drops the event and counts it.
    TrySend,
    /// `emit_async`: capacity reserved in advance (`None` for a handler fed by `try_send`,
    /// i.e. the handler that is itself emitting), and completion signalled.
    Reserved(Vec<Option<mpsc::Permit<'a, AsyncDelivery>>>),
}

/// The event bus: register handlers and streams, then emit events to them.
///
/// - **Sync handlers** ([`on`](Self::on), [`on_any`](Self::on_any)) run on the emitting
///   thread, in registration order, type-specific handlers before `on_any` ones. A handler
///   that returns an error or panics is logged and counted; the others still run. An event
///   emitted from inside a handler (of this emitter, on this thread) is queued and delivered
///   to the sync handlers after the current event, in order. A handler removed while an event
///   is being delivered may still receive that event, but no later one.
/// - **Async handlers** ([`on_async`](Self::on_async), [`on_any_async`](Self::on_any_async))
///   each have their own bounded queue drained by their own Tokio task, so a plain
///   [`emit`](Self::emit) reaches them too without waiting; when a queue is full the event is
///   dropped for that handler and counted. [`emit_async`](Self::emit_async) waits for queue
///   space instead and returns once every matching async handler has finished with the event.
/// - **Streams** ([`subscribe`](Self::subscribe)) are bounded queues read as a
///   [`Stream`](futures_core::Stream); a slow stream never slows `emit`, it is told how many
///   events it missed.
/// - `seq` is assigned at emit: 1, 2, 3, ... strictly increasing per emitter, also when many
///   threads emit at once; async handlers and streams receive events in `seq` order.
///
/// The emitter is `Send + Sync` and cheap to clone: clones share the same registrations.
/// `emit` never awaits, and takes no lock unless an async handler or a stream wants the event.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use oa_events::{Event, EventEmitter, EventType};
///
/// let emitter = EventEmitter::new();
/// let completed = Arc::new(AtomicUsize::new(0));
/// let counter = Arc::clone(&completed);
/// emitter.on(EventType::JobCompleted, move |_event: &Event| {
///     counter.fetch_add(1, Ordering::Relaxed);
/// });
/// let seq = emitter.emit(Event::for_job(EventType::JobCompleted, "job-1"));
/// assert_eq!(seq, 1);
/// assert_eq!(completed.load(Ordering::Relaxed), 1);
/// assert_eq!(emitter.stats().emitted, 1);
/// ```
#[derive(Clone)]
pub struct EventEmitter {
    inner: Arc<Inner>,
}

impl fmt::Debug for EventEmitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registry = self.inner.registry.load();
        f.debug_struct("EventEmitter")
            .field("sync_handlers", &registry.sync_count)
            .field("async_handlers", &registry.async_count)
            .field("streams", &registry.streams.len())
            .field("last_seq", &self.inner.next_seq.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Default for EventEmitter {
    fn default() -> Self {
        EventEmitter::new()
    }
}

/// Configures an [`EventEmitter`]; made by [`EventEmitter::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct EventEmitterBuilder {
    stream_capacity: NonZeroUsize,
    async_queue_capacity: NonZeroUsize,
}

impl EventEmitterBuilder {
    /// The queue capacity of streams made by [`EventEmitter::subscribe`]
    /// (default [`DEFAULT_QUEUE_CAPACITY`]).
    pub fn stream_capacity(mut self, capacity: NonZeroUsize) -> Self {
        self.stream_capacity = capacity;
        self
    }

    /// The queue capacity of each async handler (default [`DEFAULT_QUEUE_CAPACITY`]).
    pub fn async_queue_capacity(mut self, capacity: NonZeroUsize) -> Self {
        self.async_queue_capacity = capacity;
        self
    }

    /// Builds the emitter.
    #[must_use]
    pub fn build(self) -> EventEmitter {
        EventEmitter {
            inner: Arc::new(Inner {
                registry: ArcSwap::from_pointee(Registry::default()),
                subscriptions: Mutex::new(Subscriptions::default()),
                ordering: Mutex::new(()),
                next_seq: AtomicU64::new(0),
                next_id: AtomicU64::new(0),
                counters: Arc::new(Counters::default()),
                stream_capacity: self.stream_capacity,
                async_queue_capacity: self.async_queue_capacity,
            }),
        }
    }
}

impl EventEmitter {
    /// An emitter with the default queue capacities.
    #[must_use]
    pub fn new() -> Self {
        EventEmitter::builder().build()
    }

    /// A builder to set queue capacities.
    pub fn builder() -> EventEmitterBuilder {
        let default = DEFAULT_CAPACITY;
        EventEmitterBuilder {
            stream_capacity: default,
            async_queue_capacity: default,
        }
    }

    /// Registers a synchronous handler for events of type `event_type`.
    ///
    /// The handler returns `()` or `Result<(), E>` (see [`HandlerOutcome`]).
    pub fn on<F, R>(&self, event_type: EventType, handler: F) -> SubscriptionId
    where
        F: Fn(&Event) -> R + Send + Sync + 'static,
        R: HandlerOutcome + 'static,
    {
        self.register_sync(Some(event_type), handler)
    }

    /// Registers a synchronous handler for every event; it runs after the type-specific ones.
    pub fn on_any<F, R>(&self, handler: F) -> SubscriptionId
    where
        F: Fn(&Event) -> R + Send + Sync + 'static,
        R: HandlerOutcome + 'static,
    {
        self.register_sync(None, handler)
    }

    fn register_sync<F, R>(&self, event_type: Option<EventType>, handler: F) -> SubscriptionId
    where
        F: Fn(&Event) -> R + Send + Sync + 'static,
        R: HandlerOutcome + 'static,
    {
        let handler: Arc<SyncHandler> =
            Arc::new(move |event: &Event| handler(event).into_outcome());
        self.inner.register(Registration::Sync {
            event_type,
            handler,
        })
    }

    /// Registers an async handler for events of type `event_type`.
    ///
    /// The handler gets its own queue (see [`EventEmitterBuilder::async_queue_capacity`]) and
    /// its own task on the current Tokio runtime, which runs it for one event at a time, in
    /// `seq` order. Errors and panics are logged and counted; the task goes on.
    ///
    /// # Errors
    /// [`EventError::NoRuntime`] when called outside a Tokio runtime.
    pub fn on_async<F, Fut, R>(
        &self,
        event_type: EventType,
        handler: F,
    ) -> Result<SubscriptionId, EventError>
    where
        F: Fn(Arc<Event>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: HandlerOutcome + 'static,
    {
        self.register_async(Some(event_type), "EventEmitter::on_async", handler)
    }

    /// Registers an async handler for every event (see [`on_async`](Self::on_async)).
    ///
    /// # Errors
    /// [`EventError::NoRuntime`] when called outside a Tokio runtime.
    pub fn on_any_async<F, Fut, R>(&self, handler: F) -> Result<SubscriptionId, EventError>
    where
        F: Fn(Arc<Event>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: HandlerOutcome + 'static,
    {
        self.register_async(None, "EventEmitter::on_any_async", handler)
    }

    fn register_async<F, Fut, R>(
        &self,
        event_type: Option<EventType>,
        operation: &'static str,
        handler: F,
    ) -> Result<SubscriptionId, EventError>
    where
        F: Fn(Arc<Event>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: HandlerOutcome + 'static,
    {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| EventError::NoRuntime { operation })?;
        let handler: Arc<AsyncHandler> =
            Arc::new(move |event| handler(event).map(HandlerOutcome::into_outcome).boxed());
        let (queue, receiver) = mpsc::channel(self.inner.async_queue_capacity.get());
        let id = self
            .inner
            .register(Registration::Async { event_type, queue });
        let counters = Arc::clone(&self.inner.counters);
        runtime.spawn(
            CURRENT_ASYNC_HANDLER.scope(id, drain_async_queue(id, receiver, handler, counters)),
        );
        Ok(id)
    }

    /// Subscribes a bounded stream to the events that match `filter`, with the emitter's
    /// stream capacity (see [`EventStream`]).
    pub fn subscribe(&self, filter: EventFilter) -> EventStream {
        self.subscribe_with_capacity(filter, self.inner.stream_capacity)
    }

    /// Subscribes a bounded stream whose queue holds `capacity` events.
    pub fn subscribe_with_capacity(
        &self,
        filter: EventFilter,
        capacity: NonZeroUsize,
    ) -> EventStream {
        let shared = Arc::new(StreamShared::new(capacity.get()));
        let id = self.inner.register(Registration::Stream {
            filter: filter.clone(),
            shared: Arc::clone(&shared),
        });
        EventStream::new(shared, Arc::downgrade(&self.inner), id, filter)
    }

    /// Removes a handler or a stream. Returns whether `id` was registered.
    ///
    /// A removed async handler's task finishes the events already queued for it, then ends. A
    /// removed stream yields what is queued, then ends.
    pub fn off(&self, id: SubscriptionId) -> bool {
        self.inner.remove(id)
    }

    /// Emits `event`: assigns its `seq`, feeds matching streams and async handlers without
    /// waiting for them, then runs the matching sync handlers on this thread. Returns the
    /// `seq`. Never blocks on a slow subscriber and never fails (failures are counted in
    /// [`stats`](Self::stats)).
    pub fn emit(&self, event: Event) -> u64 {
        let registry = self.inner.registry.load();
        self.deliver(&registry, event, AsyncFeed::TrySend, false).0
    }

    /// Emits an event that already carries its sequence number, such as one read from a
    /// durable [`EventLog`](crate::EventLog) by a [`LogFollower`](crate::LogFollower): its
    /// `seq` is kept (the durable one, so that clients can resume from it across restarts)
    /// and a later [`emit`](Self::emit) continues above it. Otherwise as `emit`.
    ///
    /// The caller emits increasing sequence numbers; an event whose `seq` is 0 gets a new one.
    pub fn emit_sequenced(&self, event: Event) -> u64 {
        let registry = self.inner.registry.load();
        self.deliver(&registry, event, AsyncFeed::TrySend, true).0
    }

    /// The highest `seq` emitted so far (0 before the first event).
    #[must_use]
    pub fn last_seq(&self) -> u64 {
        self.inner.next_seq.load(Ordering::Relaxed)
    }

    /// Emits `event` like [`emit`](Self::emit), but waits for room in full async queues
    /// instead of dropping, and returns once every matching async handler has finished with
    /// the event. Returns the `seq`.
    ///
    /// Called from inside an async handler, it does not wait for that same handler (which is
    /// busy running the caller): the event is queued for it without waiting.
    pub async fn emit_async(&self, event: Event) -> u64 {
        let registry = self.inner.registry.load_full();
        let targets = &registry.asynchronous[event.event_type.index()];
        let current = CURRENT_ASYNC_HANDLER.try_with(|id| *id).ok();
        let mut permits = Vec::with_capacity(targets.len());
        for target in targets.iter() {
            if current == Some(target.id) {
                permits.push(None);
            } else {
                // A closed queue means the handler's task is gone; the delivery is then
                // counted as dropped below.
                permits.push(target.queue.reserve().await.ok());
            }
        }
        let (seq, completions) =
            self.deliver(&registry, event, AsyncFeed::Reserved(permits), false);
        for completion in completions {
            // An error means the handler's task ended without signalling (its runtime shut
            // down): there is nothing left to wait for.
            let _ = completion.await;
        }
        seq
    }

    /// Statistics of this emitter since it was created (shared by its clones).
    #[must_use]
    pub fn stats(&self) -> EmitterStats {
        let registry = self.inner.registry.load();
        self.inner.counters.snapshot(
            registry.sync_count,
            registry.async_count,
            registry.streams.len(),
        )
    }

    /// Assigns the seq, feeds streams and async queues, runs sync handlers.
    fn deliver(
        &self,
        registry: &Registry,
        mut event: Event,
        feed: AsyncFeed<'_>,
        keep_seq: bool,
    ) -> (u64, Vec<oneshot::Receiver<()>>) {
        let inner = &*self.inner;
        let type_index = event.event_type.index();
        inner.counters.count_type(type_index);
        let mut completions = Vec::new();
        let keep_seq = keep_seq && event.seq > 0;
        let delivery = if registry.ordered_types & (1 << type_index) == 0 {
            assign_seq(inner, &mut event, keep_seq);
            Delivery::Owned(event)
        } else {
            // Consumers are woken after the lock is released, so that no waker ever runs
            // under it.
            let mut wakers = Vec::new();
            let event = {
                let _order = lock(&inner.ordering);
                assign_seq(inner, &mut event, keep_seq);
                let event = Arc::new(event);
                for stream in registry.streams.iter() {
                    if stream.filter.matches(&event) {
                        let (dropped, waker) = stream.shared.push(&event);
                        if dropped {
                            inner
                                .counters
                                .stream_dropped
                                .fetch_add(1, Ordering::Relaxed);
                        }
                        wakers.extend(waker);
                    }
                }
                self.feed_async(registry, &event, feed, &mut completions);
                event
            };
            wakers.into_iter().for_each(Waker::wake);
            Delivery::Shared(event)
        };
        let seq = delivery.event().seq;
        if !registry.sync[type_index].is_empty() {
            self.dispatch_sync(registry, delivery);
        }
        (seq, completions)
    }

    fn feed_async(
        &self,
        registry: &Registry,
        event: &Arc<Event>,
        feed: AsyncFeed<'_>,
        completions: &mut Vec<oneshot::Receiver<()>>,
    ) {
        let targets = &registry.asynchronous[event.event_type.index()];
        let counters = &self.inner.counters;
        let try_send = |target: &AsyncTarget| {
            let delivery = AsyncDelivery {
                event: Arc::clone(event),
                done: None,
            };
            if target.queue.try_send(delivery).is_err() {
                counters.async_dropped.fetch_add(1, Ordering::Relaxed);
            }
        };
        match feed {
            AsyncFeed::TrySend => targets.iter().for_each(try_send),
            AsyncFeed::Reserved(permits) => {
                for (target, permit) in targets.iter().zip(permits) {
                    match permit {
                        Some(permit) => {
                            let (done, completion) = oneshot::channel();
                            permit.send(AsyncDelivery {
                                event: Arc::clone(event),
                                done: Some(done),
                            });
                            completions.push(completion);
                        }
                        None => try_send(target),
                    }
                }
            }
        }
    }

    /// Runs the sync handlers for `delivery`, or queues it when this thread is already
    /// delivering an event of this emitter (an emit from inside a handler).
    fn dispatch_sync(&self, registry: &Registry, delivery: Delivery) {
        let emitter = Arc::as_ptr(&self.inner) as usize;
        if !try_enter(emitter) {
            queue_pending(emitter, delivery);
            return;
        }
        let mut guard = DispatchGuard {
            emitter,
            armed: true,
        };
        self.run_sync_handlers(registry, delivery.event());
        drop(delivery);
        // Deliver what the handlers emitted, in order; the last step leaves the dispatch.
        while let Some(next) = take_pending_or_leave(emitter) {
            // Queued events go to the handlers registered when they are delivered.
            let registry = self.inner.registry.load();
            self.run_sync_handlers(&registry, next.event());
        }
        guard.armed = false;
    }

    fn run_sync_handlers(&self, registry: &Registry, event: &Event) {
        for handler in registry.sync[event.event_type.index()].iter() {
            match catch_unwind(AssertUnwindSafe(|| handler(event))) {
                Ok(Ok(())) => {}
                Ok(Err(message)) => self.inner.counters.handler_failed(event, &message, false),
                Err(payload) => {
                    let message = panic_message(payload.as_ref());
                    self.inner.counters.handler_failed(event, &message, true);
                }
            }
        }
    }
}

/// Gives `event` the next `seq`, or keeps its own (raising the counter to it).
fn assign_seq(inner: &Inner, event: &mut Event, keep: bool) {
    if keep {
        inner.next_seq.fetch_max(event.seq, Ordering::Relaxed);
    } else {
        event.seq = inner.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
    }
}
