use std::sync::{Arc, Mutex};

use oa_events::{Event, EventEmitter, EventType};

#[test]
fn an_emit_from_a_handler_is_delivered_after_the_current_event_in_order() {
    let emitter = EventEmitter::new();
    let seen = Arc::new(Mutex::new(Vec::new()));

    // job.started handler emits two events; the job.queued handler emits one more.
    let e2 = emitter.clone();
    emitter.on(EventType::JobStarted, move |_: &Event| {
        e2.emit(Event::new(EventType::JobProgressUpdated));
        e2.emit(Event::new(EventType::JobQueued));
    });
    let e3 = emitter.clone();
    emitter.on(EventType::JobQueued, move |_: &Event| {
        e3.emit(Event::new(EventType::JobCompleted));
    });
    let s = Arc::clone(&seen);
    emitter.on_any(move |e: &Event| s.lock().unwrap().push((e.seq, e.event_type)));

    let seq = emitter.emit(Event::new(EventType::JobStarted));
    assert_eq!(seq, 1);
    assert_eq!(
        *seen.lock().unwrap(),
        [
            // The outer event reaches its on_any handler before any nested event is delivered.
            (1, EventType::JobStarted),
            (2, EventType::JobProgressUpdated),
            (3, EventType::JobQueued),
            (4, EventType::JobCompleted),
        ]
    );
}

#[test]
fn emits_to_another_emitter_from_a_handler_are_delivered_at_once() {
    let first = EventEmitter::new();
    let second = EventEmitter::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    second.on_any(move |e: &Event| s.lock().unwrap().push(format!("second:{}", e.event_type)));
    let (s, forward) = (Arc::clone(&seen), second.clone());
    first.on_any(move |e: &Event| {
        forward.emit(Event::new(e.event_type));
        s.lock().unwrap().push(format!("first:{}", e.event_type));
    });
    first.emit(Event::new(EventType::SystemStartup));
    assert_eq!(
        *seen.lock().unwrap(),
        ["second:system.startup", "first:system.startup"]
    );
}

#[test]
fn a_handler_emitting_the_type_it_handles_does_not_recurse_without_bound() {
    let emitter = EventEmitter::new();
    let depth = Arc::new(Mutex::new(Vec::new()));
    let (e2, d) = (emitter.clone(), Arc::clone(&depth));
    emitter.on(EventType::JobRetrying, move |e: &Event| {
        let attempt = e.data_u64("attempt").unwrap_or(0);
        d.lock().unwrap().push(attempt);
        if attempt < 100 {
            e2.emit(Event::new(EventType::JobRetrying).with_data("attempt", attempt + 1));
        }
    });
    emitter.emit(Event::new(EventType::JobRetrying).with_data("attempt", 0));
    let depth = depth.lock().unwrap();
    assert_eq!(depth.len(), 101);
    assert!(
        depth.iter().copied().eq(0..=100),
        "delivered iteratively, in order"
    );
}
