//! The registrations of an emitter and the immutable snapshot that `emit` reads.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::event::Event;
use crate::event_type::EventType;
use crate::filter::EventFilter;
use crate::handler::SubscriptionId;
use crate::stream::StreamShared;

pub(super) type SyncHandler = dyn Fn(&Event) -> Result<(), String> + Send + Sync;
pub(super) type AsyncHandler =
    dyn Fn(Arc<Event>) -> BoxFuture<'static, Result<(), String>> + Send + Sync;

/// One event handed to an async handler's task; `done` is signalled once the handler finished
/// with it (for `emit_async`).
pub(super) struct AsyncDelivery {
    pub(super) event: Arc<Event>,
    pub(super) done: Option<oneshot::Sender<()>>,
}

tokio::task_local! {
    /// The async handler whose task is running, so that `emit_async` from inside a handler
    /// never waits for that same handler (which would wait forever).
    pub(super) static CURRENT_ASYNC_HANDLER: SubscriptionId;
}

/// What a registration is; kept in registration order in [`Subscriptions`].
pub(super) enum Registration {
    Sync {
        event_type: Option<EventType>,
        handler: Arc<SyncHandler>,
    },
    Async {
        event_type: Option<EventType>,
        queue: mpsc::Sender<AsyncDelivery>,
    },
    Stream {
        filter: EventFilter,
        shared: Arc<StreamShared>,
    },
}

/// An async handler's queue, as seen by the dispatcher.
#[derive(Clone)]
pub(super) struct AsyncTarget {
    pub(super) id: SubscriptionId,
    pub(super) queue: mpsc::Sender<AsyncDelivery>,
}

/// A stream, as seen by the dispatcher.
#[derive(Clone)]
pub(super) struct StreamTarget {
    pub(super) filter: EventFilter,
    pub(super) shared: Arc<StreamShared>,
}

/// An immutable snapshot of the registrations, laid out for dispatch: per event type, the
/// sync handlers in the order they run (type-specific ones first, then `on_any` ones, each in
/// registration order) and the async queues to feed. Rebuilt on every registration change and
/// published through an [`ArcSwap`], so `emit` reads it without taking a lock.
#[derive(Default)]
pub(super) struct Registry {
    pub(super) sync: [Box<[Arc<SyncHandler>]>; EventType::COUNT],
    pub(super) asynchronous: [Box<[AsyncTarget]>; EventType::COUNT],
    pub(super) streams: Box<[StreamTarget]>,
    /// Bit `t.index()` is set when events of type `t` go to an async handler or a stream, and
    /// so must take the ordering lock.
    pub(super) ordered_types: u32,
    pub(super) sync_count: usize,
    pub(super) async_count: usize,
}

/// The registrations in registration order, behind the writers' lock.
#[derive(Default)]
pub(super) struct Subscriptions {
    pub(super) entries: Vec<(SubscriptionId, Registration)>,
}

impl Subscriptions {
    pub(super) fn snapshot(&self) -> Registry {
        let mut sync: [Vec<Arc<SyncHandler>>; EventType::COUNT] = Default::default();
        let mut any_sync = Vec::new();
        let mut asynchronous: [Vec<AsyncTarget>; EventType::COUNT] = Default::default();
        let mut streams = Vec::new();
        let mut ordered_types = 0u32;
        let (mut sync_count, mut async_count) = (0, 0);
        for (id, registration) in &self.entries {
            match registration {
                Registration::Sync {
                    event_type,
                    handler,
                } => {
                    sync_count += 1;
                    match event_type {
                        Some(t) => sync[t.index()].push(Arc::clone(handler)),
                        None => any_sync.push(Arc::clone(handler)),
                    }
                }
                Registration::Async { event_type, queue } => {
                    async_count += 1;
                    let target = AsyncTarget {
                        id: *id,
                        queue: queue.clone(),
                    };
                    for t in EventType::ALL {
                        if event_type.is_none_or(|only| only == t) {
                            asynchronous[t.index()].push(target.clone());
                            ordered_types |= 1 << t.index();
                        }
                    }
                }
                Registration::Stream { filter, shared } => {
                    ordered_types |= filter.type_mask();
                    streams.push(StreamTarget {
                        filter: filter.clone(),
                        shared: Arc::clone(shared),
                    });
                }
            }
        }
        Registry {
            sync: sync.map(|mut handlers| {
                handlers.extend(any_sync.iter().cloned());
                handlers.into_boxed_slice()
            }),
            asynchronous: asynchronous.map(Vec::into_boxed_slice),
            streams: streams.into_boxed_slice(),
            ordered_types,
            sync_count,
            async_count,
        }
    }
}
