use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use oa_events::{Event, EventType, event_emitter};

#[test]
fn the_global_emitter_is_one_shared_instance() {
    assert!(std::ptr::eq(event_emitter(), event_emitter()));
    let seen = Arc::new(AtomicU64::new(0));
    let s = Arc::clone(&seen);
    // Other tests of this binary may use the global emitter too: only count our own job.
    let id = event_emitter().on(EventType::JobCompleted, move |e: &Event| {
        if e.job_id.as_deref() == Some("global-test-job") {
            s.fetch_add(1, Ordering::SeqCst);
        }
    });
    let seq = std::thread::spawn(|| {
        event_emitter().emit(Event::for_job(EventType::JobCompleted, "global-test-job"))
    })
    .join()
    .unwrap();
    assert!(seq >= 1);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
    assert!(event_emitter().off(id));
}
