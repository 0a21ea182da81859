use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use oa_events::{Event, EventEmitter, EventType};

#[test]
fn a_panicking_handler_is_counted_and_the_others_still_run() {
    let emitter = EventEmitter::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    emitter.on(EventType::JobFailed, move |_: &Event| {
        r.fetch_add(1, Ordering::SeqCst);
    });
    emitter.on(EventType::JobFailed, |e: &Event| {
        assert!(e.seq == 0, "handler bug");
    });
    let r = Arc::clone(&ran);
    emitter.on_any(move |_: &Event| {
        r.fetch_add(10, Ordering::SeqCst);
    });

    let seq1 = emitter.emit(Event::new(EventType::JobFailed));
    let seq2 = emitter.emit(Event::new(EventType::JobFailed));

    assert_eq!((seq1, seq2), (1, 2), "emit keeps working after a panic");
    assert_eq!(
        ran.load(Ordering::SeqCst),
        22,
        "handlers before and after the panicking one ran"
    );
    let stats = emitter.stats();
    assert_eq!(stats.handler_errors, 2);
    assert_eq!(stats.handler_panics, 2);
    assert_eq!(stats.emitted, 2);
}

#[test]
fn a_handler_returning_an_error_is_counted_but_not_as_a_panic() {
    let emitter = EventEmitter::new();
    let ran = Arc::new(AtomicUsize::new(0));
    emitter.on(EventType::SystemError, |e: &Event| -> Result<(), String> {
        Err(format!("cannot handle {}", e.seq))
    });
    let r = Arc::clone(&ran);
    emitter.on(
        EventType::SystemError,
        move |_: &Event| -> Result<(), std::io::Error> {
            r.fetch_add(1, Ordering::SeqCst);
            Ok(())
        },
    );
    for _ in 0..3 {
        emitter.emit(Event::new(EventType::SystemError));
    }
    assert_eq!(ran.load(Ordering::SeqCst), 3);
    let stats = emitter.stats();
    assert_eq!(stats.handler_errors, 3);
    assert_eq!(stats.handler_panics, 0);
}

#[test]
fn a_panic_inside_a_nested_emit_does_not_wedge_the_thread() {
    // After a handler panics while nested events are queued, later emits on the same thread
    // must still be delivered (the re-entrancy bookkeeping is cleaned up).
    let emitter = EventEmitter::new();
    let delivered = Arc::new(AtomicUsize::new(0));
    let e2 = emitter.clone();
    emitter.on(EventType::JobStarted, move |e: &Event| {
        e2.emit(Event::new(EventType::JobProgressUpdated));
        assert!(e.seq == 0, "panics after queueing a nested event");
    });
    let d = Arc::clone(&delivered);
    emitter.on(EventType::JobProgressUpdated, move |_: &Event| {
        d.fetch_add(1, Ordering::SeqCst);
    });
    emitter.emit(Event::new(EventType::JobStarted));
    assert_eq!(
        delivered.load(Ordering::SeqCst),
        1,
        "the queued nested event was delivered"
    );
    emitter.emit(Event::new(EventType::JobProgressUpdated));
    assert_eq!(
        delivered.load(Ordering::SeqCst),
        2,
        "later emits are delivered at once"
    );
    assert_eq!(emitter.stats().handler_panics, 1);
}
