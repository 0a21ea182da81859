//! `GET /events`: the live event stream (server-sent events) with resume.
//!
//! Frames:
//! - an event: `id:` its `seq`, `event:` its wire name, `data:` its JSON;
//! - `event: gap`, data `{"from","to","missed","reason"}`: events after the client's
//!   `Last-Event-ID` that can no longer be replayed;
//! - `event: lagged`, data `{"missed"}`: the client read too slowly and this many matching
//!   events were dropped from its queue (the emitter never waits for it);
//! - comments: `: connected` first (with `retry:`), then keep-alives.

mod ring;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName};
use axum::response::IntoResponse;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use oa_events::{Event, EventFilter, EventStream, StreamItem};
use serde_json::json;
use tokio::time::Sleep;
use tokio_util::sync::WaitForCancellationFutureOwned;

pub(crate) use ring::ReplayRing;
use ring::{Gap, Replay};

use crate::error::ApiError;
use crate::extract::{QueryParams, shorten};
use crate::state::ApiState;

/// The header browsers send when they reconnect.
const LAST_EVENT_ID: &str = "last-event-id";

/// How many events a resume reads from the durable log at most (older ones are a gap).
const BACKFILL_LIMIT: u64 = 50_000;

/// How many events one read of the durable log takes.
const BACKFILL_PAGE: u32 = 1_000;

/// How long a resuming client waits before it checks the ring once more for events that were
/// being emitted while it subscribed (see [`Session::catch_up`]).
const SETTLE_DELAY: Duration = Duration::from_millis(50);

/// The live event stream.
///
/// Query: `types` (comma-separated wire names, all when absent), `job_id`, `worker_id`,
/// `last_event_id` (used when the `Last-Event-ID` header is absent), `replay` (the newest N
/// events held, when there is no id to resume from).
#[utoipa::path(
    get,
    path = "/events",
    tag = "Events",
    summary = "Live event stream (server-sent events) with resume",
    description = "Each frame is `id: <seq>`, `event: <wire name>`, `data: <event JSON>`. \
        Reconnect with `Last-Event-ID: N` to receive every event after N still in the replay \
        ring (or, when the server follows a durable event log, still retained by the log, \
        also after a server restart), then the live stream; `event: gap` announces events that were evicted, \
        `event: lagged` events dropped because the client read too slowly.",
    params(
        ("types" = Option<String>, Query, description = "Comma-separated wire names, e.g. `job.failed,job.completed`"),
        ("job_id" = Option<String>, Query, description = "Only the events of this job"),
        ("worker_id" = Option<String>, Query, description = "Only the events of this worker"),
        ("last_event_id" = Option<u64>, Query, description = "Resume after this seq when the header is absent"),
        ("replay" = Option<u64>, Query, description = "Without an id to resume from: start with the newest N events held (recent history), then live"),
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq (sent by browsers when they reconnect)"),
    ),
    responses(
        (status = 200, description = "An endless stream of frames", content_type = "text/event-stream", body = String),
        (status = 400, description = "`Last-Event-ID` is not a number", body = crate::ErrorBody),
        (status = 401, description = "A read token is configured and missing", body = crate::ErrorBody),
        (status = 422, description = "`types` names an unknown event type, or `replay` is not a number", body = crate::ErrorBody),
    ),
    security((), ("read_token" = []))
)]
pub(crate) async fn events(
    State(state): State<ApiState>,
    params: QueryParams,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let mut filter = match params.get("types") {
        Some(types) => EventFilter::parse_types(types).map_err(|_| ApiError::UnknownEventType {
            name: first_unknown_type(types),
        })?,
        None => EventFilter::all(),
    };
    if let Some(job_id) = params.get("job_id") {
        filter = filter.job_id(job_id);
    }
    if let Some(worker_id) = params.get("worker_id") {
        filter = filter.worker_id(worker_id);
    }
    let start = match last_event_id(&headers, &params)? {
        Some(last_seen) => Start::After(last_seen),
        None => match replay_count(&params)? {
            Some(count) => Start::Newest(count),
            None => Start::Live,
        },
    };

    let session = Session::open(&state, filter, start).await;
    let retry = state.inner.config.sse_retry;
    let stream = futures_util::stream::unfold(Box::new(session), move |mut session| async move {
        let frame = session.next_frame().await?;
        Some((Ok::<_, Infallible>(frame.into_sse(retry)), session))
    });
    let keep_alive = KeepAlive::new()
        .interval(state.inner.config.sse_keep_alive)
        .text("keep-alive");
    // Reverse proxies such as nginx must pass frames on at once, not buffer them.
    let no_buffering = [(HeaderName::from_static("x-accel-buffering"), "no")];
    Ok((no_buffering, Sse::new(stream).keep_alive(keep_alive)))
}

/// The first name of `types` that is not a wire name (for the error message).
fn first_unknown_type(types: &str) -> String {
    types
        .split(',')
        .map(str::trim)
        .find(|name| !name.is_empty() && name.parse::<oa_events::EventType>().is_err())
        .map_or_else(|| shorten(types), shorten)
}

/// `?replay=N`: start with the newest N events held (bounded by the ring's size).
fn replay_count(params: &QueryParams) -> Result<Option<usize>, ApiError> {
    let Some(raw) = params.get("replay") else {
        return Ok(None);
    };
    raw.trim()
        .parse()
        .map(Some)
        .map_err(|_| ApiError::InvalidQuery {
            parameter: "replay".to_owned(),
            reason: format!("`{}` is not a number of events", shorten(raw)),
        })
}

/// The client's last seen `seq`: the `Last-Event-ID` header, else `?last_event_id=`.
fn last_event_id(headers: &HeaderMap, params: &QueryParams) -> Result<Option<u64>, ApiError> {
    let raw = match headers.get(LAST_EVENT_ID) {
        Some(value) => Some(value.to_str().map_err(|_| ApiError::BadRequest {
            detail: "the Last-Event-ID header is not a number".to_owned(),
        })?),
        None => params.get("last_event_id"),
    };
    let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
        return Ok(None);
    };
    raw.parse().map(Some).map_err(|_| ApiError::BadRequest {
        detail: format!(
            "the last event id `{}` is not a number (an event's seq)",
            shorten(raw)
        ),
    })
}

/// Where a client's stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Live events only.
    Live,
    /// Every event after this `seq` that the ring holds, then live (`Last-Event-ID`).
    After(u64),
    /// The newest events the ring holds, at most this many, then live (`?replay=`).
    Newest(usize),
}

/// One frame of the stream, before it is encoded.
#[derive(Debug, Clone, PartialEq)]
enum Frame {
    /// The greeting: a `connected` comment with the `retry:` delay.
    Hello,
    /// An event.
    Event(Arc<Event>),
    /// Events after the client's id that cannot be replayed.
    Gap(Gap),
    /// Matching events dropped because the client read too slowly.
    Lagged { missed: u64 },
}

impl Frame {
    fn into_sse(self, retry: Duration) -> SseEvent {
        match self {
            Frame::Hello => SseEvent::default().comment("connected").retry(retry),
            Frame::Event(event) => event_frame(&event),
            Frame::Gap(gap) => SseEvent::default()
                .event("gap")
                .data(serde_json::to_string(&gap).unwrap_or_default()),
            Frame::Lagged { missed } => SseEvent::default()
                .event("lagged")
                .data(json!({ "missed": missed }).to_string()),
        }
    }
}

/// One client's stream: replayed frames first, then live events without duplicates.
struct Session {
    live: EventStream,
    filter: EventFilter,
    ring: Arc<ReplayRing>,
    /// Frames ready to send, before anything else.
    pending: VecDeque<Frame>,
    /// Every event up to this `seq` was sent or deliberately skipped.
    covered_through: u64,
    /// A resuming client has not yet seen its first live event: events emitted while it
    /// subscribed may be in the ring only.
    catching_up: bool,
    settle: Option<Pin<Box<Sleep>>>,
    shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
}

/// What woke a session up.
enum Next {
    Shutdown,
    Item(Option<StreamItem>),
    Settled,
}

impl Session {
    /// Subscribes the client's own queue, then (for a resume) reads the ring: an event emitted
    /// in between is in both, and the live copy is dropped because its seq is covered. With a
    /// durable log, the events of a resume that the ring no longer holds are read from the log.
    async fn open(state: &ApiState, filter: EventFilter, start: Start) -> Self {
        let live = state
            .inner
            .emitter
            .subscribe_with_capacity(filter.clone(), state.inner.config.sse_client_buffer);
        let mut session = Session {
            live,
            filter,
            ring: Arc::clone(&state.inner.ring),
            pending: VecDeque::from([Frame::Hello]),
            covered_through: 0,
            catching_up: false,
            settle: None,
            shutdown: Box::pin(state.inner.streams_end.clone().cancelled_owned()),
        };
        let replay = match start {
            Start::Live => return session,
            // The replay covers everything up to the newest event held (for an id from an
            // earlier run, that is below the id: the id means nothing here).
            Start::After(last_seen) => {
                let mut replay = session
                    .ring
                    .replay_after(last_seen, &session.filter, u64::MAX);
                if let (Some(gap), Some(log)) = (replay.gap, &state.inner.event_log)
                    && gap.reason == ring::GapReason::Evicted
                {
                    let (missing, events) = session.backfill(&**log, gap).await;
                    session.pending.extend(missing.map(Frame::Gap));
                    session.pending.extend(events);
                    replay.gap = None;
                }
                replay
            }
            Start::Newest(count) => session.ring.newest(count, &session.filter),
        };
        session.push_replay(replay);
        session.catching_up = true;
        session.settle = Some(Box::pin(tokio::time::sleep(SETTLE_DELAY)));
        session
    }

    /// Reads the events of `gap` from the durable log (at most [`BACKFILL_LIMIT`], the newest
    /// ones): what remains missing (events trimmed from the log, beyond the limit, or all of
    /// them when the log cannot be read), and the frames of the matching events found.
    async fn backfill(&self, log: &dyn oa_events::EventLog, gap: Gap) -> (Option<Gap>, Vec<Frame>) {
        let mut after = (gap.from - 1).max(gap.to.saturating_sub(BACKFILL_LIMIT));
        let mut first_found = None;
        let mut events = Vec::new();
        while after < gap.to {
            let page = match log.read_after(after, BACKFILL_PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "event stream resume: the event log cannot be read");
                    return (Some(gap), Vec::new());
                }
            };
            let Some(last) = page.last().map(|event| event.seq) else {
                break;
            };
            for event in page {
                if event.seq > gap.to {
                    break;
                }
                first_found.get_or_insert(event.seq);
                if self.filter.matches(&event) {
                    events.push(Frame::Event(Arc::new(event)));
                }
            }
            after = last;
        }
        // Events before the first one the log still holds are gone for good.
        let missing_to = first_found.map_or(gap.to, |first| first - 1);
        let missing = (missing_to >= gap.from).then(|| Gap {
            from: gap.from,
            to: missing_to,
            missed: missing_to - gap.from + 1,
            reason: ring::GapReason::Evicted,
        });
        (missing, events)
    }

    /// The next frame; `None` when the server shuts down or the emitter is gone.
    async fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Some(frame);
            }
            let next = {
                let Session {
                    live,
                    settle,
                    shutdown,
                    ..
                } = &mut *self;
                let settled = async {
                    match settle.as_mut() {
                        Some(sleep) => sleep.as_mut().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    () = shutdown.as_mut() => Next::Shutdown,
                    item = live.recv() => Next::Item(item),
                    () = settled => Next::Settled,
                }
            };
            match next {
                Next::Shutdown | Next::Item(None) => return None,
                Next::Item(Some(StreamItem::Event(event))) => self.on_live(event),
                Next::Item(Some(StreamItem::Lagged { missed })) => {
                    self.pending.push_back(Frame::Lagged { missed });
                }
                Next::Settled => {
                    self.settle = None;
                    self.catch_up(u64::MAX);
                }
            }
        }
    }

    fn on_live(&mut self, event: Arc<Event>) {
        if event.seq <= self.covered_through {
            return;
        }
        if self.catching_up {
            self.catching_up = false;
            self.settle = None;
            self.catch_up(event.seq);
        }
        self.covered_through = event.seq;
        self.pending.push_back(Frame::Event(event));
    }

    /// Replays from the ring what follows `covered_through` and precedes `before`: events
    /// emitted by calls that began before this client subscribed reach the ring but not the
    /// client's own queue. Every event older than a live one is in the ring by the time the
    /// live one arrives (the emitter feeds queues in `seq` order), so one look suffices then.
    fn catch_up(&mut self, before: u64) {
        if before <= self.covered_through + 1 {
            return;
        }
        let replay = self
            .ring
            .replay_after(self.covered_through, &self.filter, before);
        self.push_replay(replay);
    }

    fn push_replay(&mut self, replay: Replay) {
        if let Some(gap) = replay.gap {
            self.pending.push_back(Frame::Gap(gap));
        }
        self.pending
            .extend(replay.events.into_iter().map(Frame::Event));
        self.covered_through = self.covered_through.max(replay.covered_through);
    }
}

/// `id: <seq>`, `event: <wire name>`, `data: <event JSON>`.
fn event_frame(event: &Event) -> SseEvent {
    // An event always serializes (string keys, finite numbers are not required by serde_json
    // for `Value`s it already holds); an empty object is a safe fallback.
    let data = serde_json::to_string(event).unwrap_or_else(|_| "{}".to_owned());
    SseEvent::default()
        .id(event.seq.to_string())
        .event(event.wire_name())
        .data(data)
}

#[cfg(test)]
mod tests {
    use oa_events::{EventEmitter, EventType};
    use oa_metrics::Collectors;

    use super::*;
    use crate::config::ApiConfig;

    fn state(emitter: &EventEmitter) -> ApiState {
        let collectors = Arc::new(Collectors::default());
        ApiState::new(
            collectors.clone(),
            collectors,
            emitter.clone(),
            ApiConfig::default(),
        )
    }

    fn seq_of(frame: Option<Frame>) -> u64 {
        match frame {
            Some(Frame::Event(event)) => event.seq,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    fn error_event() -> Event {
        Event::new(EventType::SystemError).with_data("message", "x")
    }

    #[tokio::test]
    async fn events_both_replayed_and_live_are_sent_once() {
        let emitter = EventEmitter::new();
        let state = state(&emitter);
        // The client subscribes; events 1..=3 are emitted before it reads the ring (the race
        // the session guards against), so they sit both in the ring and in its own queue.
        let live = emitter
            .subscribe_with_capacity(EventFilter::all(), state.inner.config.sse_client_buffer);
        for _ in 0..3 {
            emitter.emit(error_event());
        }
        let mut session = Session::open(&state, EventFilter::all(), Start::After(0)).await;
        session.live = live;
        assert_eq!(session.next_frame().await, Some(Frame::Hello));
        for expected in 1..=3 {
            assert_eq!(seq_of(session.next_frame().await), expected);
        }
        emitter.emit(error_event());
        assert_eq!(
            seq_of(session.next_frame().await),
            4,
            "1..=3 were not sent twice"
        );
    }

    #[tokio::test]
    async fn events_that_reach_only_the_ring_are_caught_up_before_the_first_live_one() {
        let emitter = EventEmitter::new();
        let state = state(&emitter);
        let mut session = Session::open(&state, EventFilter::all(), Start::After(0)).await;
        // Events 1 and 2 reach the ring but not the client's queue (as when their emit began
        // before the client subscribed): simulated by a client queue that subscribes later.
        emitter.emit(error_event());
        emitter.emit(error_event());
        session.live = emitter.subscribe(EventFilter::all());
        emitter.emit(error_event());
        assert_eq!(session.next_frame().await, Some(Frame::Hello));
        let seqs = [
            seq_of(session.next_frame().await),
            seq_of(session.next_frame().await),
            seq_of(session.next_frame().await),
        ];
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_resume_catches_up_after_the_settle_delay() {
        let emitter = EventEmitter::new();
        let state = state(&emitter);
        let mut session = Session::open(&state, EventFilter::all(), Start::After(0)).await;
        emitter.emit(error_event());
        session.live = emitter.subscribe(EventFilter::all());
        assert_eq!(session.next_frame().await, Some(Frame::Hello));
        // No live event comes; the settle timer (the paused clock jumps to it) replays event 1.
        assert_eq!(seq_of(session.next_frame().await), 1);
    }

    #[test]
    fn unknown_types_are_named_in_the_error() {
        assert_eq!(first_unknown_type("job.failed, job.boom,x"), "job.boom");
    }

    #[test]
    fn the_header_wins_over_the_query_and_garbage_is_refused() {
        let mut headers = HeaderMap::new();
        let params = QueryParams::default();
        assert_eq!(last_event_id(&headers, &params).unwrap(), None);
        headers.insert(LAST_EVENT_ID, "42".parse().unwrap());
        assert_eq!(last_event_id(&headers, &params).unwrap(), Some(42));
        headers.insert(LAST_EVENT_ID, "x".parse().unwrap());
        assert!(matches!(
            last_event_id(&headers, &params),
            Err(ApiError::BadRequest { .. })
        ));
    }
}
