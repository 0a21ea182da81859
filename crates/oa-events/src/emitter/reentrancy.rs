//! Re-entrant emits: an emit from inside a sync handler of the same emitter, on the same
//! thread, is queued and delivered after the current event.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::Arc;

use crate::event::Event;

/// Sync deliveries that were emitted from inside a handler of the same emitter on the same
/// thread, waiting for the current delivery to finish.
struct ActiveDispatch {
    emitter: usize,
    pending: VecDeque<Delivery>,
}

/// An event waiting for its sync handlers.
pub(super) enum Delivery {
    Owned(Event),
    Shared(Arc<Event>),
}

impl Delivery {
    pub(super) fn event(&self) -> &Event {
        match self {
            Delivery::Owned(event) => event,
            Delivery::Shared(event) => event,
        }
    }
}

thread_local! {
    static ACTIVE_DISPATCHES: RefCell<Vec<ActiveDispatch>> = const { RefCell::new(Vec::new()) };
}

/// Marks `emitter` as delivering on this thread; `false` when it already is (the caller is
/// then inside one of its handlers and must queue its event with [`queue_pending`]).
pub(super) fn try_enter(emitter: usize) -> bool {
    ACTIVE_DISPATCHES.with_borrow_mut(|active| {
        if active.iter().any(|d| d.emitter == emitter) {
            false
        } else {
            active.push(ActiveDispatch {
                emitter,
                pending: VecDeque::new(),
            });
            true
        }
    })
}

/// Queues `delivery` for the sync handlers of `emitter`, which is delivering on this thread.
pub(super) fn queue_pending(emitter: usize, delivery: Delivery) {
    ACTIVE_DISPATCHES.with_borrow_mut(|active| {
        if let Some(dispatch) = active.iter_mut().find(|d| d.emitter == emitter) {
            dispatch.pending.push_back(delivery);
        }
    });
}

/// The next event queued for `emitter` on this thread; when there is none, removes the
/// thread's active-dispatch entry for `emitter` and returns `None`.
pub(super) fn take_pending_or_leave(emitter: usize) -> Option<Delivery> {
    ACTIVE_DISPATCHES.with_borrow_mut(|active| {
        let position = active.iter().position(|d| d.emitter == emitter)?;
        let next = active[position].pending.pop_front();
        if next.is_none() {
            active.swap_remove(position);
        }
        next
    })
}

/// Removes this thread's active-dispatch entry for an emitter if the delivery ends by
/// unwinding (handlers' panics are caught, so this is a second line of defence).
pub(super) struct DispatchGuard {
    pub(super) emitter: usize,
    pub(super) armed: bool,
}

impl Drop for DispatchGuard {
    fn drop(&mut self) {
        if self.armed {
            ACTIVE_DISPATCHES.with_borrow_mut(|active| {
                active.retain(|d| d.emitter != self.emitter);
            });
        }
    }
}
