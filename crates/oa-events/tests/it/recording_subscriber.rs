use std::time::Duration;

use oa_events::testing::RecordingSubscriber;
use oa_events::{Event, EventEmitter, EventFilter, EventType};

#[test]
fn records_in_seq_order_and_asserts_sequences() {
    let emitter = EventEmitter::new();
    let all = RecordingSubscriber::attach(&emitter);
    let failures = RecordingSubscriber::attach_filtered(
        &emitter,
        EventFilter::all().types([EventType::JobFailed]),
    );
    emitter.emit(Event::for_job(EventType::JobStarted, "a"));
    emitter.emit(Event::for_job(EventType::JobStarted, "b"));
    emitter.emit(Event::for_job(EventType::JobFailed, "a"));
    emitter.emit(Event::for_job(EventType::JobCompleted, "b"));

    all.assert_types(&[
        EventType::JobStarted,
        EventType::JobStarted,
        EventType::JobFailed,
        EventType::JobCompleted,
    ]);
    all.assert_job_types("b", &[EventType::JobStarted, EventType::JobCompleted]);
    failures.assert_types(&[EventType::JobFailed]);
    assert_eq!(all.len(), 4);
    assert_eq!(
        all.events().iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    all.clear();
    assert!(all.is_empty());
    drop(all);
    drop(failures);
    assert_eq!(
        emitter.stats().sync_handlers,
        0,
        "dropping a recorder detaches it"
    );
}

#[test]
fn a_wrong_sequence_fails_with_both_sequences_in_the_message() {
    let emitter = EventEmitter::new();
    let recorder = RecordingSubscriber::attach(&emitter);
    emitter.emit(Event::new(EventType::JobCreated));
    let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        recorder.assert_types(&[EventType::JobQueued]);
    }))
    .unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("expected: [job.queued]"), "{message}");
    assert!(message.contains("recorded: [job.created]"), "{message}");
}

#[tokio::test]
async fn wait_for_sees_events_emitted_by_other_threads() {
    let emitter = EventEmitter::new();
    let recorder = RecordingSubscriber::attach(&emitter);
    let e2 = emitter.clone();
    let producer = std::thread::spawn(move || {
        for _ in 0..3 {
            e2.emit(Event::new(EventType::WorkerHeartbeat));
        }
    });
    recorder.wait_for_count(3, Duration::from_secs(10)).await;
    producer.join().unwrap();
    assert_eq!(recorder.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn wait_for_panics_on_timeout_listing_what_was_recorded() {
    let emitter = EventEmitter::new();
    let recorder = RecordingSubscriber::attach(&emitter);
    emitter.emit(Event::new(EventType::SystemStartup));
    let wait = recorder.wait_for_count(2, Duration::from_secs(1));
    let result = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(wait)).await;
    let panic = result.unwrap_err();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(message.contains("recorded: [system.startup]"), "{message}");
}
