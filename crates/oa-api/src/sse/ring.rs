//! [`ReplayRing`]: the newest events, kept for clients that resume with `Last-Event-ID`.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use oa_events::{Event, EventEmitter, EventFilter, EventStream, StreamItem};
use serde::Serialize;

/// Why a resuming client cannot get every event after its `Last-Event-ID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum GapReason {
    /// The events were evicted from the ring (or emitted before the ring existed).
    Evicted,
    /// The id is newer than any event of this server: it comes from an earlier run (the
    /// emitter's `seq` starts again at 1 after a restart).
    UnknownId,
}

/// The `data` of an `event: gap` frame: the events `from..=to` cannot be replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Gap {
    /// The first `seq` that is missing.
    pub(crate) from: u64,
    /// The last `seq` that is missing (`from - 1` when none is, for an unknown id).
    pub(crate) to: u64,
    /// `to - from + 1`: how many events of every type are missing.
    pub(crate) missed: u64,
    /// Why they are missing.
    pub(crate) reason: GapReason,
}

/// What a resuming client receives before its live events.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// Sent first, when events after the client's id are gone.
    pub(crate) gap: Option<Gap>,
    /// The events after the client's id that match its filter, in `seq` order.
    pub(crate) events: Vec<Arc<Event>>,
    /// Every event up to this `seq` has been considered (replayed or filtered out); live
    /// events up to it are duplicates.
    pub(crate) covered_through: u64,
}

/// The newest events of the emitter, in `seq` order and without holes.
///
/// It is fed by an [`EventStream`] subscribed when the ring is made, whose queue holds as
/// many events as the ring: the emitter pushes into that queue (never waiting, dropping the
/// oldest when it is full) and the ring takes what is queued whenever it is read. So the ring
/// needs no task, costs `emit` one short push, and holds at most twice its size in
/// `Arc<Event>`s (the queue and the ring itself).
///
/// Invariant: `events` holds every event of the emitter from its first one to `high`, in
/// `seq` order (or is empty); when the feed skipped events (its queue overflowed) the older
/// events are dropped, so that a replay never silently skips one. `seq`s are consecutive for
/// an emitter that numbers its own events; one fed by a log follower may skip numbers that
/// the log never committed, which are no events.
#[derive(Debug)]
pub(crate) struct ReplayRing {
    state: Mutex<RingState>,
}

#[derive(Debug)]
struct RingState {
    feed: EventStream,
    events: VecDeque<Arc<Event>>,
    capacity: usize,
    /// The highest `seq` the ring has seen (or the emitter's last `seq` when the ring was made).
    high: u64,
}

impl ReplayRing {
    /// A ring of `capacity` events, fed by `emitter` from now on.
    pub(crate) fn new(emitter: &EventEmitter, capacity: NonZeroUsize) -> Self {
        let feed = emitter.subscribe_with_capacity(EventFilter::all(), capacity);
        let high = emitter.last_seq();
        ReplayRing {
            state: Mutex::new(RingState {
                feed,
                events: VecDeque::with_capacity(capacity.get().min(1024)),
                capacity: capacity.get(),
                high,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, RingState> {
        // The state stays consistent if a holder panicked: every step is a whole push or pop.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The events after `last_seen` that match `filter`, with a gap when some are gone.
    /// Only events with `seq < before` are returned (`u64::MAX` for all).
    pub(crate) fn replay_after(&self, last_seen: u64, filter: &EventFilter, before: u64) -> Replay {
        let mut state = self.lock();
        state.drain_feed();
        let start = state
            .events
            .front()
            .map_or(state.high + 1, |event| event.seq);
        let (gap, after) = if last_seen > state.high {
            let to = start - 1;
            let gap = Gap {
                from: 1,
                to,
                missed: to,
                reason: GapReason::UnknownId,
            };
            (Some(gap), 0)
        } else if last_seen + 1 < start {
            let to = (start - 1).min(before.saturating_sub(1));
            let gap = (to > last_seen).then_some(Gap {
                from: last_seen + 1,
                to,
                missed: to - last_seen,
                reason: GapReason::Evicted,
            });
            (gap, last_seen)
        } else {
            (None, last_seen)
        };
        let events = state
            .events
            .iter()
            .filter(|event| event.seq > after && event.seq < before && filter.matches(event))
            .cloned()
            .collect();
        let covered_through = state.high.min(before.saturating_sub(1));
        Replay {
            gap,
            events,
            covered_through,
        }
    }

    /// The newest `count` events held that match `filter`, oldest first (no gap: the client
    /// asked for recent history, not for a resume).
    pub(crate) fn newest(&self, count: usize, filter: &EventFilter) -> Replay {
        let mut state = self.lock();
        state.drain_feed();
        let mut events: Vec<Arc<Event>> = state
            .events
            .iter()
            .rev()
            .filter(|event| filter.matches(event))
            .take(count)
            .cloned()
            .collect();
        events.reverse();
        Replay {
            gap: None,
            events,
            covered_through: state.high,
        }
    }

    /// The highest `seq` seen so far (after taking what the feed queued).
    #[cfg(test)]
    pub(crate) fn high(&self) -> u64 {
        let mut state = self.lock();
        state.drain_feed();
        state.high
    }

    /// How many events the ring holds now (after taking what the feed queued).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let mut state = self.lock();
        state.drain_feed();
        state.events.len()
    }
}

impl RingState {
    /// Moves what the feed queued into the ring, keeping it contiguous and bounded.
    fn drain_feed(&mut self) {
        loop {
            match self.feed.try_recv() {
                Ok(StreamItem::Event(event)) => self.push(event),
                // The feed dropped events: the next one starts a new run of `seq`s.
                Ok(StreamItem::Lagged { .. }) => self.events.clear(),
                // Empty or closed (the emitter is gone): nothing more to take now.
                Err(_) => break,
            }
        }
    }

    fn push(&mut self, event: Arc<Event>) {
        if event.seq <= self.high && !self.events.is_empty() {
            // Not newer than what is held: impossible for one emitter; ignore it.
            return;
        }
        self.high = event.seq;
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }
}

#[cfg(test)]
mod tests {
    use oa_events::EventType;

    use super::*;

    fn ring(emitter: &EventEmitter, capacity: usize) -> ReplayRing {
        ReplayRing::new(emitter, NonZeroUsize::new(capacity).unwrap())
    }

    fn seqs(replay: &Replay) -> Vec<u64> {
        replay.events.iter().map(|event| event.seq).collect()
    }

    fn emit(emitter: &EventEmitter, n: usize) {
        for _ in 0..n {
            emitter.emit(Event::for_job(EventType::JobQueued, "j"));
        }
    }

    #[test]
    fn replays_what_follows_the_last_seen_event() {
        let emitter = EventEmitter::new();
        let ring = ring(&emitter, 8);
        emit(&emitter, 5);
        let replay = ring.replay_after(2, &EventFilter::all(), u64::MAX);
        assert_eq!(seqs(&replay), [3, 4, 5]);
        assert_eq!(replay.gap, None);
        assert_eq!(replay.covered_through, 5);
        let none = ring.replay_after(5, &EventFilter::all(), u64::MAX);
        assert!(none.events.is_empty() && none.gap.is_none());
    }

    #[test]
    fn reports_a_gap_when_events_were_evicted() {
        let emitter = EventEmitter::new();
        let ring = ring(&emitter, 3);
        emit(&emitter, 10);
        let replay = ring.replay_after(2, &EventFilter::all(), u64::MAX);
        assert_eq!(seqs(&replay), [8, 9, 10]);
        assert_eq!(
            replay.gap,
            Some(Gap {
                from: 3,
                to: 7,
                missed: 5,
                reason: GapReason::Evicted
            })
        );
        assert_eq!(ring.len(), 3);
    }

    #[test]
    fn events_emitted_before_the_ring_existed_are_a_gap() {
        let emitter = EventEmitter::new();
        emit(&emitter, 4);
        let ring = ring(&emitter, 8);
        emit(&emitter, 2);
        let replay = ring.replay_after(1, &EventFilter::all(), u64::MAX);
        assert_eq!(seqs(&replay), [5, 6]);
        let gap = replay.gap.unwrap();
        assert_eq!((gap.from, gap.to, gap.missed), (2, 4, 3));
    }

    #[test]
    fn an_id_from_an_earlier_run_is_an_unknown_id_gap_then_everything_held() {
        let emitter = EventEmitter::new();
        let ring = ring(&emitter, 8);
        emit(&emitter, 3);
        let replay = ring.replay_after(500, &EventFilter::all(), u64::MAX);
        assert_eq!(seqs(&replay), [1, 2, 3]);
        assert_eq!(replay.gap.unwrap().reason, GapReason::UnknownId);
        assert_eq!(replay.gap.unwrap().missed, 0);
        assert_eq!(replay.covered_through, 3);
    }

    #[test]
    fn newest_takes_the_last_matching_events_in_order() {
        let emitter = EventEmitter::new();
        let ring = ring(&emitter, 16);
        emit(&emitter, 3);
        emitter.emit(Event::for_job(EventType::JobFailed, "a"));
        emit(&emitter, 2);
        let replay = ring.newest(3, &EventFilter::all());
        assert_eq!(seqs(&replay), [4, 5, 6]);
        assert_eq!(replay.covered_through, 6);
        let failed = ring.newest(10, &EventFilter::parse_types("job.failed").unwrap());
        assert_eq!(seqs(&failed), [4]);
        assert!(ring.newest(0, &EventFilter::all()).events.is_empty());
    }

    #[test]
    fn filters_and_bounds_the_replay() {
        let emitter = EventEmitter::new();
        let ring = ring(&emitter, 16);
        emitter.emit(Event::for_job(EventType::JobQueued, "a"));
        emitter.emit(Event::for_job(EventType::JobFailed, "a"));
        emitter.emit(Event::for_job(EventType::JobFailed, "b"));
        emitter.emit(Event::for_job(EventType::JobFailed, "a"));
        let filter = EventFilter::parse_types("job.failed").unwrap().job_id("a");
        let replay = ring.replay_after(0, &filter, u64::MAX);
        assert_eq!(seqs(&replay), [2, 4]);
        let bounded = ring.replay_after(0, &filter, 4);
        assert_eq!(seqs(&bounded), [2]);
        assert_eq!(bounded.covered_through, 3);
    }

    #[test]
    fn a_feed_overflow_drops_the_older_run_and_stays_bounded() {
        let emitter = EventEmitter::new();
        let ring = ring(&emitter, 4);
        emit(&emitter, 2);
        assert_eq!(ring.high(), 2);
        // Ten more events overflow the feed's queue of 4 before the ring reads it.
        emit(&emitter, 10);
        let replay = ring.replay_after(0, &EventFilter::all(), u64::MAX);
        assert_eq!(seqs(&replay), [9, 10, 11, 12]);
        assert_eq!(replay.gap.unwrap().to, 8);
        assert_eq!(ring.len(), 4);
    }

    #[test]
    fn numbers_a_log_never_committed_are_no_gap() {
        let emitter = EventEmitter::new();
        let ring = ring(&emitter, 8);
        for seq in [1, 2, 5, 6] {
            let mut event = Event::new(EventType::SystemError);
            event.seq = seq;
            emitter.emit_sequenced(event);
        }
        let replay = ring.replay_after(2, &EventFilter::all(), u64::MAX);
        assert_eq!(seqs(&replay), [5, 6]);
        assert!(replay.gap.is_none());
        assert_eq!(
            seqs(&ring.replay_after(0, &EventFilter::all(), u64::MAX)),
            [1, 2, 5, 6]
        );
    }
}
