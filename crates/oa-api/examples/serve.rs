//! Run with: `cargo run -p oa-api --example serve [-- 127.0.0.1:8000]`
//!
//! Serves the monitoring API over a simulated workload: three workers and a steady stream of
//! jobs (some fail, some report progress) emitted as events into collectors, so that every
//! route, the live stream and the dashboard have something to show. Open
//! <http://127.0.0.1:8000/dashboard> and <http://127.0.0.1:8000/docs/>; stop with Ctrl-C
//! (open streams end, the server shuts down gracefully).
//!
//! `OA_API_TOKEN` and `OA_API_READ_TOKEN` are honoured (see `ApiConfigBuilder::tokens_from_env`).

#![allow(clippy::print_stdout, reason = "an example reports to its terminal")]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use oa_api::{ApiConfig, ApiState, serve};
use oa_events::{Event, EventEmitter, EventType};
use oa_metrics::Collectors;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8000".to_owned())
        .parse()?;

    let emitter = EventEmitter::new();
    let collectors = Arc::new(Collectors::default());
    collectors.attach(&emitter);
    let config = ApiConfig::builder().tokens_from_env().build()?;
    let state = ApiState::new(
        collectors.clone(),
        collectors.clone(),
        emitter.clone(),
        config,
    );

    let listener = TcpListener::bind(address).await?;
    println!("oa-api serving on http://{}", listener.local_addr()?);
    println!("  dashboard: http://{}/dashboard", listener.local_addr()?);
    println!("  API docs:  http://{}/docs/", listener.local_addr()?);

    let shutdown = CancellationToken::new();
    let workload = tokio::spawn(simulate(emitter, collectors, shutdown.clone()));
    let server = tokio::spawn(serve(listener, state, shutdown.clone()));
    tokio::signal::ctrl_c().await?;
    println!("shutting down");
    shutdown.cancel();
    server.await??;
    workload.await?;
    Ok(())
}

/// Emits a workload until `shutdown`: workers register and beat, jobs run on them.
async fn simulate(emitter: EventEmitter, collectors: Arc<Collectors>, shutdown: CancellationToken) {
    let workers = ["worker-1", "worker-2", "worker-3"];
    emitter.emit(Event::new(EventType::SystemStartup));
    for (i, worker) in workers.iter().enumerate() {
        emitter.emit(
            Event::for_worker(EventType::WorkerRegistered, *worker).with_data_map(object(
                json!({"host": format!("host-{i}"), "pid": 1000 + i, "tags": ["demo"],
                "max_concurrent_jobs": 4, "heartbeat_interval_ms": 2000}),
            )),
        );
    }
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut next_job = 0u64;
    let mut running: Vec<(String, &str, u32, u32)> = Vec::new(); // id, worker, steps done, steps
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        ticks += 1;
        // A new job every tick; it waits in the queue for a tick, then runs for 5 to 40 ticks.
        next_job += 1;
        let id = format!("job-{next_job}");
        let priority = ["low", "medium", "high", "critical"][fastrand::usize(..4)];
        let tags = if next_job.is_multiple_of(3) {
            json!(["images"])
        } else {
            json!(["reports"])
        };
        let job = |event_type, id: &str, attempt: u32| {
            Event::for_job(event_type, id)
                .with_data(
                    "name",
                    if id.ends_with('0') {
                        "resize"
                    } else {
                        "export"
                    },
                )
                .with_data("priority", priority)
                .with_data("tags", tags.clone())
                .with_data("attempt", attempt)
        };
        emitter.emit(job(EventType::JobQueued, &id, 0));
        let worker = workers[fastrand::usize(..workers.len())];
        emitter.emit(
            Event::for_worker(EventType::WorkerClaimedJob, worker)
                .with_job_id(&id)
                .with_data("priority", priority),
        );
        emitter.emit(job(EventType::JobStarted, &id, 1).with_worker_id(worker));
        running.push((id, worker, 0, fastrand::u32(5..40)));
        // Advance the running jobs.
        let mut still_running = Vec::new();
        for (id, worker, done, steps) in running.drain(..) {
            let done = done + 1;
            if done < steps {
                if done.is_multiple_of(5) {
                    let progress = f64::from(done) / f64::from(steps);
                    emitter.emit(
                        job(EventType::JobProgressUpdated, &id, 1)
                            .with_worker_id(worker)
                            .with_data("progress", progress),
                    );
                }
                still_running.push((id, worker, done, steps));
            } else if fastrand::u8(..10) == 0 {
                emitter.emit(job(EventType::JobFailed, &id, 1).with_worker_id(worker).with_data(
                    "error",
                    json!({"kind": "handler_error", "message": "the upstream service answered 502"}),
                ));
            } else {
                emitter.emit(job(EventType::JobCompleted, &id, 1).with_worker_id(worker));
            }
        }
        running = still_running;
        collectors
            .system_metrics()
            .update_queue_depth(u64::from(fastrand::u32(0..20)) + ticks % 10);
        if ticks.is_multiple_of(10) {
            for worker in workers {
                let count = running.iter().filter(|job| job.1 == worker).count();
                emitter.emit(
                    Event::for_worker(EventType::WorkerHeartbeat, worker)
                        .with_data("running_jobs", count),
                );
            }
        }
    }
    emitter.emit(Event::new(EventType::SystemShutdown));
}

fn object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    }
}
