use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oa_events::{Event, EventEmitter, EventError, EventType};
use tokio::sync::{Notify, mpsc};

#[test]
fn on_async_outside_a_runtime_is_a_typed_error() {
    let emitter = EventEmitter::new();
    let err = emitter
        .on_async(EventType::JobCompleted, |_e| async {})
        .unwrap_err();
    assert_eq!(
        err,
        EventError::NoRuntime {
            operation: "EventEmitter::on_async"
        }
    );
    let err = emitter.on_any_async(|_e| async {}).unwrap_err();
    assert!(matches!(err, EventError::NoRuntime { .. }));
    assert_eq!(emitter.stats().async_handlers, 0, "nothing was registered");
}

#[tokio::test]
async fn emit_async_returns_after_every_matching_async_handler_finished() {
    let emitter = EventEmitter::new();
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let d = Arc::clone(&done);
        emitter
            .on_async(EventType::JobCompleted, move |_e| {
                let d = Arc::clone(&d);
                async move {
                    // Yield a few times so that the handler really is asynchronous.
                    for _ in 0..5 {
                        tokio::task::yield_now().await;
                    }
                    d.fetch_add(1, Ordering::SeqCst);
                }
            })
            .unwrap();
    }
    let d = Arc::clone(&done);
    emitter
        .on_any_async(move |_e| {
            let d = Arc::clone(&d);
            async move {
                tokio::task::yield_now().await;
                d.fetch_add(100, Ordering::SeqCst);
            }
        })
        .unwrap();

    let seq = emitter
        .emit_async(Event::new(EventType::JobCompleted))
        .await;
    assert_eq!(seq, 1);
    assert_eq!(done.load(Ordering::SeqCst), 103);
    // A type no type-specific async handler wants reaches only the on_any one.
    emitter.emit_async(Event::new(EventType::JobFailed)).await;
    assert_eq!(done.load(Ordering::SeqCst), 203);
}

#[tokio::test]
async fn plain_emit_reaches_async_handlers_in_seq_order() {
    let emitter = EventEmitter::new();
    let (tx, mut rx) = mpsc::unbounded_channel();
    emitter
        .on_async(EventType::JobProgressUpdated, move |e: Arc<Event>| {
            let tx = tx.clone();
            async move {
                tx.send(e.seq).unwrap();
            }
        })
        .unwrap();
    // Emitted from a plain thread with no runtime, as the engine might.
    let e2 = emitter.clone();
    std::thread::spawn(move || {
        for _ in 0..100 {
            e2.emit(Event::new(EventType::JobProgressUpdated));
            e2.emit(Event::new(EventType::JobStarted));
        }
    })
    .join()
    .unwrap();
    let mut received = Vec::new();
    while received.len() < 100 {
        received.push(rx.recv().await.unwrap());
    }
    let expected: Vec<u64> = (0..100).map(|i| 2 * i + 1).collect();
    assert_eq!(received, expected);
    assert_eq!(emitter.stats().async_dropped, 0);
}

#[tokio::test]
async fn a_full_async_queue_drops_on_emit_and_counts_but_emit_async_waits() {
    let emitter = EventEmitter::builder()
        .async_queue_capacity(NonZeroUsize::new(2).unwrap())
        .build();
    let gate = Arc::new(Notify::new());
    let handled = Arc::new(Mutex::new(Vec::new()));
    let (g, h) = (Arc::clone(&gate), Arc::clone(&handled));
    emitter
        .on_async(EventType::WorkerHeartbeat, move |e: Arc<Event>| {
            let (g, h) = (Arc::clone(&g), Arc::clone(&h));
            async move {
                g.notified().await;
                h.lock().unwrap().push(e.seq);
            }
        })
        .unwrap();

    // Let the handler's task take event 1 and block on the gate.
    emitter.emit(Event::new(EventType::WorkerHeartbeat));
    tokio::task::yield_now().await;
    // The queue (capacity 2) takes 2 and 3; 4 and 5 are dropped, never silently.
    for _ in 0..4 {
        emitter.emit(Event::new(EventType::WorkerHeartbeat));
    }
    assert_eq!(emitter.stats().async_dropped, 2);
    assert_eq!(emitter.stats().dropped_deliveries, 2);

    // emit_async waits for room and for the handler instead of dropping.
    let e2 = emitter.clone();
    let waiter =
        tokio::spawn(async move { e2.emit_async(Event::new(EventType::WorkerHeartbeat)).await });
    let release = async {
        // Each notification lets the handler finish one event.
        while handled.lock().unwrap().len() < 4 {
            gate.notify_one();
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), release)
        .await
        .unwrap();
    let seq = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seq, 6);
    assert_eq!(*handled.lock().unwrap(), [1, 2, 3, 6]);
    assert_eq!(
        emitter.stats().async_dropped,
        2,
        "emit_async dropped nothing"
    );
}

#[tokio::test]
async fn async_handler_errors_and_panics_are_isolated_and_counted() {
    let emitter = EventEmitter::new();
    let ok = Arc::new(AtomicUsize::new(0));
    emitter
        .on_async(EventType::SystemError, |_e| async {
            Err::<(), _>("cannot reach the pager")
        })
        .unwrap();
    emitter
        .on_async(EventType::SystemError, |e: Arc<Event>| async move {
            if e.seq == 1 {
                panic!("async handler bug");
            }
        })
        .unwrap();
    // A handler that panics before it even returns its future.
    emitter
        .on_async(EventType::SystemError, |e: Arc<Event>| {
            assert!(e.seq != 2, "sync part of an async handler panicked");
            async {}
        })
        .unwrap();
    let o = Arc::clone(&ok);
    emitter
        .on_any_async(move |_e| {
            let o = Arc::clone(&o);
            async move {
                o.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();

    emitter.emit_async(Event::new(EventType::SystemError)).await;
    emitter.emit_async(Event::new(EventType::SystemError)).await;
    emitter.emit_async(Event::new(EventType::SystemError)).await;

    assert_eq!(
        ok.load(Ordering::SeqCst),
        3,
        "the healthy handler saw every event"
    );
    let stats = emitter.stats();
    assert_eq!(
        stats.handler_panics, 2,
        "one panic in a future, one before it"
    );
    assert_eq!(stats.handler_errors, 3 + 2, "three errors plus two panics");
}

#[tokio::test]
async fn emit_async_from_inside_an_async_handler_does_not_wait_for_itself() {
    let emitter = EventEmitter::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (e2, s) = (emitter.clone(), Arc::clone(&seen));
    emitter
        .on_any_async(move |e: Arc<Event>| {
            let (e2, s) = (e2.clone(), Arc::clone(&s));
            async move {
                s.lock().unwrap().push(e.event_type);
                if e.event_type == EventType::JobStarted {
                    // This event matches this very handler: waiting for it would deadlock.
                    e2.emit_async(Event::new(EventType::JobCompleted)).await;
                }
            }
        })
        .unwrap();
    let outer = emitter.emit_async(Event::new(EventType::JobStarted));
    tokio::time::timeout(Duration::from_secs(10), outer)
        .await
        .unwrap();
    emitter
        .emit_async(Event::new(EventType::SystemShutdown))
        .await;
    assert_eq!(
        *seen.lock().unwrap(),
        [
            EventType::JobStarted,
            EventType::JobCompleted,
            EventType::SystemShutdown
        ]
    );
}

#[tokio::test]
async fn off_stops_an_async_handler_and_its_task_ends() {
    let emitter = EventEmitter::new();
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    let id = emitter
        .on_async(EventType::JobQueued, move |_e| {
            let c = Arc::clone(&c);
            async move {
                c.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    emitter.emit_async(Event::new(EventType::JobQueued)).await;
    assert!(emitter.off(id));
    assert_eq!(emitter.stats().async_handlers, 0);
    emitter.emit_async(Event::new(EventType::JobQueued)).await;
    emitter.emit(Event::new(EventType::JobQueued));
    tokio::task::yield_now().await;
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(
        emitter.stats().async_dropped,
        0,
        "a removed handler is not a dropped delivery"
    );
}

#[tokio::test]
async fn sync_handlers_also_run_on_emit_async() {
    let emitter = EventEmitter::new();
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    emitter.on(EventType::JobCreated, move |_: &Event| {
        c.fetch_add(1, Ordering::SeqCst);
    });
    emitter.emit_async(Event::new(EventType::JobCreated)).await;
    assert_eq!(count.load(Ordering::SeqCst), 1);
}
