//! Run with: cargo run -p oa-monitor --example monitor
//!
//! A monitor on an emitter, as the `oa` binary wires it: the queue depth is sampled from a
//! source (here a counter standing for the job store), a few simulated jobs and a worker emit
//! their events, and the complete status — the seed's `get_complete_status()` — is printed as
//! JSON.

#![allow(
    clippy::print_stdout,
    reason = "printing the status is the point of the example"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use oa_events::{Event, EventEmitter, EventType};
use oa_metrics::MetricsQuery;
use oa_monitor::Monitor;
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emitter = EventEmitter::new();
    // Stands for `store.count_by_status(Queued)`: what the sampler reads every 100 ms.
    let queued = Arc::new(AtomicU64::new(0));
    let depth = Arc::clone(&queued);
    let monitor = Arc::new(
        Monitor::builder()
            .queue_depth_source(Duration::from_millis(100), move || {
                let depth = depth.load(Ordering::Relaxed);
                async move { Ok::<u64, String>(depth) }
            })
            .build(&emitter)?,
    );

    emitter.emit(
        Event::for_worker(EventType::WorkerRegistered, "worker-1")
            .with_data("host", "localhost")
            .with_data("max_concurrent_jobs", 2)
            .with_data("heartbeat_interval_ms", 1000),
    );
    for n in 1..=3 {
        let job = |event_type| {
            Event::for_job(event_type, format!("job-{n}"))
                .with_worker_id("worker-1")
                .with_data("name", "send-report")
                .with_data("priority", "high")
                .with_data("tags", json!(["reports"]))
                .with_data("attempt", 1)
        };
        emitter.emit(job(EventType::JobQueued));
        queued.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(20)).await;
        emitter.emit(job(EventType::JobStarted));
        queued.fetch_sub(1, Ordering::Relaxed);
        emitter.emit(job(EventType::JobProgressUpdated).with_data("progress", 0.5));
        tokio::time::sleep(Duration::from_millis(50)).await;
        emitter.emit(job(EventType::JobCompleted).with_data("result", json!({"pages": n})));
    }
    queued.store(4, Ordering::Relaxed);
    // Let the sampler see the new depth.
    tokio::time::sleep(Duration::from_millis(150)).await;

    let status = monitor.get_complete_status();
    println!("{}", serde_json::to_string_pretty(&status)?);
    // The HTTP API is handed the same monitor as a trait object.
    let api: Arc<dyn MetricsQuery> = monitor;
    println!(
        "\n{} lines of Prometheus text; queue depth {}",
        api.prometheus_text().lines().count(),
        api.complete_status().system.queue_depth
    );
    Ok(())
}
