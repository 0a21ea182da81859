//! Bounded subscription streams: [`EventStream`] and [`StreamItem`].

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;

use crate::emitter::{Inner, lock};
use crate::event::Event;
use crate::filter::EventFilter;
use crate::handler::SubscriptionId;

/// What an [`EventStream`] yields.
///
/// Deliberately exhaustive: a consumer must decide what to do with each case (an SSE endpoint
/// turns `Lagged` into a `lagged` frame).
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// The next event that matched the stream's filter.
    Event(Arc<Event>),
    /// The stream fell behind: `missed` matching events were dropped (the oldest ones) because
    /// its queue was full. The events that follow are the newest ones still queued.
    Lagged {
        /// How many events were dropped since the previous item.
        missed: u64,
    },
}

impl StreamItem {
    /// The event, if this item is one.
    #[must_use]
    pub fn event(&self) -> Option<&Arc<Event>> {
        match self {
            StreamItem::Event(event) => Some(event),
            StreamItem::Lagged { .. } => None,
        }
    }

    /// The event, if this item is one (by value).
    #[must_use]
    pub fn into_event(self) -> Option<Arc<Event>> {
        match self {
            StreamItem::Event(event) => Some(event),
            StreamItem::Lagged { .. } => None,
        }
    }
}

/// Why [`EventStream::try_recv`] returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryRecvError {
    /// Nothing is queued right now.
    #[error("no event is queued")]
    Empty,
    /// The emitter is gone and everything queued was received: no event will ever come.
    #[error("the emitter was dropped")]
    Closed,
}

/// The producer/consumer state shared by an [`EventStream`] and its emitter.
pub(crate) struct StreamShared {
    state: Mutex<StreamState>,
    capacity: usize,
    missed_total: AtomicU64,
}

struct StreamState {
    queue: VecDeque<Arc<Event>>,
    /// Events dropped from the front of `queue` since the consumer last took it.
    missed: u64,
    waker: Option<Waker>,
    closed: bool,
}

impl StreamShared {
    pub(crate) fn new(capacity: usize) -> Self {
        StreamShared {
            state: Mutex::new(StreamState {
                queue: VecDeque::with_capacity(capacity.min(1024)),
                missed: 0,
                waker: None,
                closed: false,
            }),
            capacity,
            missed_total: AtomicU64::new(0),
        }
    }

    /// Queues `event`; when the queue is full the oldest queued event is dropped and counted.
    /// Never blocks on the consumer. Returns whether an event was dropped, and the consumer's
    /// waker when it is waiting (the caller wakes it once its own locks are released).
    pub(crate) fn push(&self, event: &Arc<Event>) -> (bool, Option<Waker>) {
        let (dropped, waker) = {
            let mut state = lock(&self.state);
            let dropped = state.queue.len() >= self.capacity;
            if dropped {
                state.queue.pop_front();
                state.missed += 1;
            }
            state.queue.push_back(Arc::clone(event));
            (dropped, state.waker.take())
        };
        if dropped {
            self.missed_total.fetch_add(1, Ordering::Relaxed);
        }
        (dropped, waker)
    }

    /// Marks the stream as finished: once its queue is drained, it ends.
    pub(crate) fn close(&self) {
        let waker = {
            let mut state = lock(&self.state);
            state.closed = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A bounded stream of the events that match a filter, made by
/// [`EventEmitter::subscribe`](crate::EventEmitter::subscribe).
///
/// - The emitter never waits for the stream: when the stream's queue is full, the **oldest**
///   queued event is dropped. The stream then yields [`StreamItem::Lagged`] with the exact
///   number of events it missed, before the events that are still queued. The emitter counts
///   these drops in [`EmitterStats::stream_dropped`](crate::EmitterStats::stream_dropped).
/// - Events arrive in `seq` order (strictly increasing), even when several threads emit.
/// - Up to twice the capacity may be buffered: the consumer takes the whole queue at once.
/// - The stream ends (`None`) when every clone of its emitter is dropped and the queue is
///   drained. Dropping the stream unsubscribes it.
///
/// It implements [`futures_core::Stream`]; [`recv`](Self::recv) and
/// [`try_recv`](Self::try_recv) are there for code that does not use stream combinators.
#[must_use = "a stream receives events only while it is alive"]
pub struct EventStream {
    shared: Arc<StreamShared>,
    /// Events already taken from the shared queue, delivered before anything newer.
    local: VecDeque<Arc<Event>>,
    emitter: Weak<Inner>,
    id: SubscriptionId,
    filter: EventFilter,
}

impl fmt::Debug for EventStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream")
            .field("id", &self.id)
            .field("filter", &self.filter)
            .field("capacity", &self.shared.capacity)
            .field("buffered", &self.local.len())
            .field("missed_total", &self.missed_total())
            .finish_non_exhaustive()
    }
}

impl EventStream {
    pub(crate) fn new(
        shared: Arc<StreamShared>,
        emitter: Weak<Inner>,
        id: SubscriptionId,
        filter: EventFilter,
    ) -> Self {
        EventStream {
            shared,
            local: VecDeque::new(),
            emitter,
            id,
            filter,
        }
    }

    /// The subscription's id (the stream unsubscribes itself when dropped).
    #[must_use]
    pub fn id(&self) -> SubscriptionId {
        self.id
    }

    /// The filter the stream was made with.
    pub fn filter(&self) -> &EventFilter {
        &self.filter
    }

    /// The capacity of the stream's queue.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    /// How many events this stream has missed since it was created.
    #[must_use]
    pub fn missed_total(&self) -> u64 {
        self.shared.missed_total.load(Ordering::Relaxed)
    }

    /// The next item, waiting for one; `None` once the emitter is gone and the queue is drained.
    pub async fn recv(&mut self) -> Option<StreamItem> {
        std::future::poll_fn(|cx| self.poll_item(Some(cx))).await
    }

    /// The next item if one is ready, without waiting.
    ///
    /// # Errors
    /// [`TryRecvError::Empty`] when nothing is queued, [`TryRecvError::Closed`] when the emitter
    /// is gone and the queue is drained.
    pub fn try_recv(&mut self) -> Result<StreamItem, TryRecvError> {
        match self.poll_item(None) {
            Poll::Ready(Some(item)) => Ok(item),
            Poll::Ready(None) => Err(TryRecvError::Closed),
            Poll::Pending => Err(TryRecvError::Empty),
        }
    }

    /// Takes the next item. With a context, registers its waker when nothing is queued.
    fn poll_item(&mut self, cx: Option<&mut Context<'_>>) -> Poll<Option<StreamItem>> {
        if let Some(event) = self.local.pop_front() {
            return Poll::Ready(Some(StreamItem::Event(event)));
        }
        let mut state = lock(&self.shared.state);
        // Everything dropped so far was older than what is queued now, so the lag notice comes
        // before the queued events.
        let missed = std::mem::take(&mut state.missed);
        std::mem::swap(&mut state.queue, &mut self.local);
        if missed > 0 {
            return Poll::Ready(Some(StreamItem::Lagged { missed }));
        }
        if let Some(event) = self.local.pop_front() {
            return Poll::Ready(Some(StreamItem::Event(event)));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        if let Some(cx) = cx {
            match &mut state.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                slot => *slot = Some(cx.waker().clone()),
            }
        }
        Poll::Pending
    }
}

impl Stream for EventStream {
    type Item = StreamItem;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamItem>> {
        self.get_mut().poll_item(Some(cx))
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Some(inner) = self.emitter.upgrade() {
            inner.remove(self.id);
        }
    }
}
