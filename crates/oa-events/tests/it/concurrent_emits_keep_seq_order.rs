use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};

use oa_events::{Event, EventEmitter, EventFilter, EventType, StreamItem};

const THREADS: usize = 4;
const PER_THREAD: usize = 5_000;

#[test]
fn many_threads_emitting_lose_and_duplicate_nothing_and_seq_is_unique() {
    let emitter = EventEmitter::new();
    let seen = Arc::new(Mutex::new(Vec::with_capacity(THREADS * PER_THREAD)));
    let count = Arc::new(AtomicU64::new(0));
    let s = Arc::clone(&seen);
    emitter.on_any(move |e: &Event| s.lock().unwrap().push(e.seq));
    let c = Arc::clone(&count);
    emitter.on(EventType::JobCompleted, move |_: &Event| {
        c.fetch_add(1, Ordering::Relaxed);
    });
    // A stream large enough never to lag: it must see every event, in seq order.
    let mut stream = emitter.subscribe_with_capacity(
        EventFilter::all(),
        std::num::NonZeroUsize::new(THREADS * PER_THREAD).unwrap(),
    );

    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (emitter, barrier) = (emitter.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let mut returned = Vec::with_capacity(PER_THREAD);
                for _ in 0..PER_THREAD {
                    returned.push(emitter.emit(Event::new(EventType::JobCompleted)));
                }
                returned
            })
        })
        .collect();
    let per_thread: Vec<Vec<u64>> = handles.into_iter().map(|h| h.join().unwrap()).collect();

    let total = (THREADS * PER_THREAD) as u64;
    for returned in &per_thread {
        assert!(
            returned.windows(2).all(|w| w[0] < w[1]),
            "seq increases within each thread"
        );
    }
    let all: HashSet<u64> = per_thread.iter().flatten().copied().collect();
    assert_eq!(
        all,
        (1..=total).collect::<HashSet<u64>>(),
        "seqs are exactly 1..=total"
    );

    let mut delivered = seen.lock().unwrap().clone();
    assert_eq!(
        delivered.len() as u64,
        total,
        "no delivery lost or duplicated"
    );
    delivered.sort_unstable();
    assert_eq!(delivered, (1..=total).collect::<Vec<u64>>());
    assert_eq!(count.load(Ordering::Relaxed), total);

    let streamed: Vec<u64> = std::iter::from_fn(|| stream.try_recv().ok())
        .map(|item| match item {
            StreamItem::Event(e) => e.seq,
            StreamItem::Lagged { missed } => panic!("unexpected lag of {missed}"),
        })
        .collect();
    assert_eq!(
        streamed,
        (1..=total).collect::<Vec<u64>>(),
        "the stream sees seq order"
    );

    let stats = emitter.stats();
    assert_eq!(stats.emitted, total);
    assert_eq!(stats.per_type[&EventType::JobCompleted], total);
    assert_eq!(stats.dropped_deliveries, 0);
}

#[test]
fn registering_and_removing_while_other_threads_emit_is_safe() {
    let emitter = EventEmitter::new();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let emitters: Vec<_> = (0..2)
        .map(|_| {
            let (emitter, stop) = (emitter.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    emitter.emit(Event::new(EventType::WorkerHeartbeat));
                    n += 1;
                }
                n
            })
        })
        .collect();
    for _ in 0..200 {
        let id = emitter.on_any(|_: &Event| {});
        let stream = emitter.subscribe(EventFilter::all());
        assert!(emitter.off(id));
        drop(stream);
    }
    stop.store(true, Ordering::Relaxed);
    let emitted: u64 = emitters.into_iter().map(|h| h.join().unwrap()).sum();
    let stats = emitter.stats();
    assert_eq!(stats.emitted, emitted);
    assert_eq!((stats.sync_handlers, stats.streams), (0, 0));
}
