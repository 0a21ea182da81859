//! The seed's event-system examples, in Rust: subscribe to one type and to all, publish an
//! event, build one from a job, and use async handlers with `emit_async`.
//!
//! Run with: cargo run -p oa-events --example events
#![allow(clippy::print_stdout, reason = "an example prints what it shows")]

use std::sync::Arc;
use std::time::Duration;

use oa_events::{Event, EventFilter, EventType, JobEventSource, StreamItem, event_emitter, keys};
use serde_json::{Map, Value, json};

/// A stand-in for oa-jobs' `Job`: anything that implements `JobEventSource` works.
struct Job {
    id: String,
    name: String,
    worker_id: Option<String>,
}

impl JobEventSource for Job {
    fn job_id(&self) -> &str {
        &self.id
    }

    fn worker_id(&self) -> Option<&str> {
        self.worker_id.as_deref()
    }

    fn event_data(&self) -> Map<String, Value> {
        let mut data = Map::new();
        data.insert(keys::NAME.into(), json!(self.name));
        data.insert(keys::STATUS.into(), json!("running"));
        data
    }
}

#[tokio::main]
async fn main() -> Result<(), oa_events::EventError> {
    // The global emitter is the seed's `event_emitter`; `EventEmitter::new()` gives an instance.
    let emitter = event_emitter();

    // Subscribe to a specific event type.
    emitter.on(EventType::JobCompleted, |event: &Event| {
        println!(
            "Job {} completed with result: {}",
            event.job_id.as_deref().unwrap_or("?"),
            event.data.get(keys::RESULT).unwrap_or(&Value::Null)
        );
    });

    // Subscribe to all events.
    emitter.on_any(|event: &Event| {
        println!(
            "Event: {}, Job ID: {}",
            event.event_type,
            event.job_id.as_deref().unwrap_or("-")
        );
    });

    // Create and emit an event.
    let event =
        Event::new(EventType::SystemError).with_data(keys::MESSAGE, "Database connection failed");
    emitter.emit(event);

    // Create an event from a job.
    let job = Job {
        id: "job-123".into(),
        name: "resize-images".into(),
        worker_id: Some("worker-1".into()),
    };
    let mut extra = Map::new();
    extra.insert(keys::PROGRESS.into(), json!(0.75));
    emitter.emit(Event::from_job(EventType::JobProgressUpdated, &job, extra));

    // An async handler: it has its own bounded queue and task, so plain `emit` reaches it too.
    emitter.on_async(EventType::JobCompleted, |event: Arc<Event>| async move {
        tokio::time::sleep(Duration::from_millis(100)).await; // simulate async work
        println!("Processed event: {} (seq {})", event.event_type, event.seq);
    })?;

    // A bounded stream, as the API's live feed uses.
    let mut completions = emitter.subscribe(EventFilter::all().types([EventType::JobCompleted]));

    // Emit to async handlers and wait until they are done with the event.
    let done = Event::from_job(EventType::JobCompleted, &job, Map::new())
        .with_data(keys::RESULT, json!({"resized": 42}));
    emitter.emit_async(done).await;

    if let Some(StreamItem::Event(event)) = completions.recv().await {
        println!("The stream saw {} with seq {}", event.event_type, event.seq);
    }
    let stats = emitter.stats();
    println!(
        "Emitted {} events; handler errors: {}; dropped deliveries: {}",
        stats.emitted, stats.handler_errors, stats.dropped_deliveries
    );
    Ok(())
}
