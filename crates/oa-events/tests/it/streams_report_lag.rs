use std::num::NonZeroUsize;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use oa_events::{Event, EventEmitter, EventFilter, EventType, StreamItem, TryRecvError};

fn capacity(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

fn seq_of(item: StreamItem) -> u64 {
    match item {
        StreamItem::Event(event) => event.seq,
        StreamItem::Lagged { missed } => panic!("expected an event, got a lag of {missed}"),
    }
}

#[test]
fn a_slow_stream_never_blocks_emit_and_is_told_exactly_what_it_missed() {
    let emitter = EventEmitter::new();
    let mut stream = emitter.subscribe_with_capacity(EventFilter::all(), capacity(4));
    // Nobody reads while 10 events are emitted: emit returns every time.
    for _ in 0..10 {
        emitter.emit(Event::new(EventType::JobProgressUpdated));
    }
    // The 6 oldest were dropped; the 4 newest are queued.
    assert_eq!(stream.try_recv().unwrap(), StreamItem::Lagged { missed: 6 });
    let rest: Vec<u64> = (0..4).map(|_| seq_of(stream.try_recv().unwrap())).collect();
    assert_eq!(rest, [7, 8, 9, 10]);
    assert_eq!(stream.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(stream.missed_total(), 6);
    let stats = emitter.stats();
    assert_eq!(stats.stream_dropped, 6);
    assert_eq!(stats.dropped_deliveries, 6);

    // After catching up, a new burst is reported the same way, with its own count.
    for _ in 0..7 {
        emitter.emit(Event::new(EventType::JobProgressUpdated));
    }
    assert_eq!(stream.try_recv().unwrap(), StreamItem::Lagged { missed: 3 });
    assert_eq!(seq_of(stream.try_recv().unwrap()), 14);
    assert_eq!(stream.missed_total(), 9);
}

#[test]
fn lag_is_reported_between_the_events_already_taken_and_the_newer_ones() {
    let emitter = EventEmitter::new();
    let mut stream = emitter.subscribe_with_capacity(EventFilter::all(), capacity(2));
    emitter.emit(Event::new(EventType::JobQueued)); // 1
    emitter.emit(Event::new(EventType::JobQueued)); // 2
    // Taking one moves the whole queue (1, 2) to the consumer's side.
    assert_eq!(seq_of(stream.try_recv().unwrap()), 1);
    for _ in 0..5 {
        emitter.emit(Event::new(EventType::JobQueued)); // 3..=7, of which 3, 4, 5 are dropped
    }
    let items: Vec<StreamItem> = std::iter::from_fn(|| stream.try_recv().ok()).collect();
    let rendered: Vec<String> = items
        .iter()
        .map(|item| match item {
            StreamItem::Event(e) => e.seq.to_string(),
            StreamItem::Lagged { missed } => format!("lagged {missed}"),
        })
        .collect();
    assert_eq!(rendered, ["2", "lagged 3", "6", "7"]);
}

#[test]
fn streams_receive_only_what_their_filter_selects() {
    let emitter = EventEmitter::new();
    let mut failures = emitter.subscribe(EventFilter::parse_types("job.failed").unwrap());
    let mut job_one = emitter.subscribe(EventFilter::all().job_id("j1"));
    emitter.emit(Event::for_job(EventType::JobStarted, "j1"));
    emitter.emit(Event::for_job(EventType::JobFailed, "j2"));
    emitter.emit(Event::for_job(EventType::JobFailed, "j1"));
    emitter.emit(Event::new(EventType::SystemError));

    let failed: Vec<u64> = std::iter::from_fn(|| failures.try_recv().ok())
        .map(seq_of)
        .collect();
    assert_eq!(failed, [2, 3]);
    let one: Vec<u64> = std::iter::from_fn(|| job_one.try_recv().ok())
        .map(seq_of)
        .collect();
    assert_eq!(one, [1, 3]);
}

#[tokio::test]
async fn a_stream_wakes_its_consumer_and_ends_when_the_emitter_is_dropped() {
    let emitter = EventEmitter::new();
    let mut stream = emitter.subscribe(EventFilter::all());
    let consumer = tokio::spawn(async move {
        let mut seqs = Vec::new();
        while let Some(item) = stream.next().await {
            seqs.push(seq_of(item));
        }
        seqs
    });
    let producer = std::thread::spawn(move || {
        for _ in 0..50 {
            emitter.emit(Event::new(EventType::WorkerHeartbeat));
        }
        // The emitter (its last clone) is dropped here: the stream ends after draining.
    });
    producer.join().unwrap();
    let seqs = tokio::time::timeout(Duration::from_secs(10), consumer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seqs, (1..=50).collect::<Vec<u64>>());
}

#[tokio::test]
async fn recv_waits_for_the_next_event() {
    let emitter = EventEmitter::new();
    let mut stream = emitter.subscribe(EventFilter::all());
    let e2 = emitter.clone();
    let producer = tokio::spawn(async move {
        tokio::task::yield_now().await;
        e2.emit(Event::new(EventType::SystemStartup));
    });
    let item = tokio::time::timeout(Duration::from_secs(10), stream.recv())
        .await
        .unwrap();
    assert_eq!(
        item.and_then(StreamItem::into_event).map(|e| e.event_type),
        Some(EventType::SystemStartup)
    );
    producer.await.unwrap();
}

#[test]
fn dropping_a_stream_unsubscribes_it_and_off_ends_it() {
    let emitter = EventEmitter::new();
    let stream = emitter.subscribe(EventFilter::all());
    let mut other = emitter.subscribe(EventFilter::all());
    assert_eq!(emitter.stats().streams, 2);
    drop(stream);
    assert_eq!(emitter.stats().streams, 1);
    emitter.emit(Event::new(EventType::JobCreated));
    assert!(emitter.off(other.id()));
    // What was queued is still delivered, then the stream is closed.
    assert_eq!(seq_of(other.try_recv().unwrap()), 1);
    assert_eq!(other.try_recv().unwrap_err(), TryRecvError::Closed);
    emitter.emit(Event::new(EventType::JobCreated));
    assert_eq!(other.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_eq!(emitter.stats().stream_dropped, 0);
}

#[test]
fn the_builder_sets_the_default_stream_capacity() {
    let emitter = EventEmitter::builder().stream_capacity(capacity(3)).build();
    let stream = emitter.subscribe(EventFilter::all());
    assert_eq!(stream.capacity(), 3);
    assert_eq!(
        EventEmitter::new().subscribe(EventFilter::all()).capacity(),
        oa_events::DEFAULT_QUEUE_CAPACITY
    );
}

/// A waker that emits on the emitter when woken, as an inline executor might.
struct EmittingWaker {
    emitter: EventEmitter,
    woken: std::sync::atomic::AtomicBool,
}

impl std::task::Wake for EmittingWaker {
    fn wake(self: std::sync::Arc<Self>) {
        if !self.woken.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.emitter.emit(Event::new(EventType::SystemError));
        }
    }
}

#[test]
fn a_waker_that_emits_again_does_not_deadlock_the_emitter() {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let emitter = EventEmitter::new();
        let mut stream = emitter.subscribe(EventFilter::all());
        let waker = std::task::Waker::from(std::sync::Arc::new(EmittingWaker {
            emitter: emitter.clone(),
            woken: std::sync::atomic::AtomicBool::new(false),
        }));
        let mut cx = std::task::Context::from_waker(&waker);
        // Nothing queued: the stream registers the waker.
        assert!(
            std::pin::Pin::new(&mut stream)
                .poll_next(&mut cx)
                .is_pending()
        );
        // This emit wakes the waker, which emits a second event from inside the wake.
        emitter.emit(Event::new(EventType::SystemStartup));
        let seqs: Vec<u64> = std::iter::from_fn(|| stream.try_recv().ok())
            .map(seq_of)
            .collect();
        done_tx.send(seqs).unwrap();
    });
    let seqs = done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no deadlock");
    assert_eq!(seqs, [1, 2]);
}
