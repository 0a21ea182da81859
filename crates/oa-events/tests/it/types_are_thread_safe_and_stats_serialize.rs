use oa_events::{EmitterStats, Event, EventEmitter, EventFilter, EventStream, EventType};

fn assert_send_sync<T: Send + Sync>(_: &T) {}
fn assert_send<T: Send>(_: &T) {}

#[test]
fn the_emitter_events_and_streams_cross_threads_and_emit_async_can_be_spawned() {
    let emitter = EventEmitter::new();
    assert_send_sync(&emitter);
    assert_send_sync(&Event::new(EventType::JobCreated));
    let stream: EventStream = emitter.subscribe(EventFilter::all());
    assert_send(&stream);
    // The future of emit_async must be Send, so that it can run in tokio::spawn.
    let future = emitter.emit_async(Event::new(EventType::JobCreated));
    assert_send(&future);
}

#[test]
fn stats_serialize_with_wire_names_and_every_type() {
    let emitter = EventEmitter::new();
    emitter.emit(Event::new(EventType::JobFailed));
    emitter.emit(Event::new(EventType::JobFailed));
    emitter.emit(Event::new(EventType::WorkerHeartbeat));
    let stats: EmitterStats = emitter.stats();
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["emitted"], 3);
    let per_type = json["per_type"].as_object().unwrap();
    assert_eq!(per_type.len(), 17, "all 17 types, zeros included");
    assert_eq!(per_type["job.failed"], 2);
    assert_eq!(per_type["worker.heartbeat"], 1);
    assert_eq!(per_type["system.startup"], 0);
    let back: EmitterStats = serde_json::from_value(json).unwrap();
    assert_eq!(back, stats);
    assert_eq!(
        format!("{emitter:?}"),
        "EventEmitter { sync_handlers: 0, async_handlers: 0, streams: 0, last_seq: 3, .. }"
    );
}
