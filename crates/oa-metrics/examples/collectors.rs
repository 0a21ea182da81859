//! Run with: cargo run -p oa-metrics --example collectors
//!
//! The collectors on their own: events of a few jobs and workers (with fixed timestamps, as a
//! replay would have) go through an emitter into `Collectors`; then the job summary, the
//! per-tag figures, a worker, the recent jobs and part of the Prometheus exposition are
//! printed.

#![allow(
    clippy::print_stdout,
    reason = "printing the figures is the point of the example"
)]

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use oa_events::{Event, EventEmitter, EventType};
use oa_metrics::{Collectors, JobQuery, ManualClock, MetricsConfig, MetricsQuery, WorkerQuery};
use serde_json::json;

fn at(start: DateTime<Utc>, millis: i64) -> DateTime<Utc> {
    start + Duration::milliseconds(millis)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 9, 0, 0)
        .single()
        .ok_or("a valid date")?;
    // "Now" is fixed so that the output is the same at every run.
    let clock = Arc::new(ManualClock::new(at(start, 60_000)));
    let config = MetricsConfig::builder()
        .clock(clock)
        .prometheus_tags(["images"])
        .build()?;
    let emitter = EventEmitter::new();
    let collectors = Collectors::new(config);
    collectors.attach(&emitter);

    emitter.emit(
        Event::for_worker(EventType::WorkerRegistered, "worker-1")
            .with_timestamp(start)
            .with_data("host", "box-1")
            .with_data("heartbeat_interval_ms", 5000),
    );
    // Five jobs: queued, started 100 ms later, finished after 1, 2, ... 5 seconds; the last fails.
    for n in 1..=5i64 {
        let job = |event_type, millis| {
            Event::for_job(event_type, format!("job-{n}"))
                .with_worker_id("worker-1")
                .with_timestamp(at(start, n * 10_000 + millis))
                .with_data("name", "resize-image")
                .with_data("priority", if n % 2 == 0 { "high" } else { "medium" })
                .with_data("tags", json!(["images", format!("batch-{}", n % 2)]))
                .with_data("attempt", 1)
        };
        emitter.emit(job(EventType::JobQueued, 0));
        emitter.emit(job(EventType::JobStarted, 100));
        if n == 5 {
            emitter.emit(job(EventType::JobFailed, 100 + n * 1000).with_data(
                "error",
                json!({"kind": "timeout", "message": "took too long"}),
            ));
        } else {
            emitter.emit(job(EventType::JobCompleted, 100 + n * 1000));
        }
    }
    emitter.emit(
        Event::for_worker(EventType::WorkerHeartbeat, "worker-1")
            .with_timestamp(at(start, 58_000))
            .with_data("running_jobs", 0),
    );

    let summary = collectors.summary();
    println!(
        "jobs/summary:\n{}\n",
        serde_json::to_string_pretty(&summary)?
    );
    for (tag, figures) in collectors.tag_metrics() {
        println!(
            "tag {tag:8} total {} success {:5.1}% p50 {:.3}s p99 {:.3}s",
            figures.total_jobs,
            figures.success_rate,
            figures.p50_execution_time,
            figures.p99_execution_time
        );
    }
    let worker = collectors.worker("worker-1")?;
    println!(
        "\nworker-1: {} on {}, {} jobs completed, last heartbeat {:.0} s ago",
        worker.status,
        worker.host.as_deref().unwrap_or("?"),
        worker.jobs_completed,
        worker.last_heartbeat
    );
    println!("\nrecent jobs, newest first:");
    for job in collectors.recent_jobs(3) {
        println!(
            "  {} {} in {:?} s",
            job.job_id, job.status, job.execution_time
        );
    }
    println!("\n/metrics (excerpt):");
    for line in collectors
        .prometheus_text()
        .lines()
        .filter(|line| line.starts_with("oa_jobs_finished_total") || line.starts_with("oa_tag_"))
    {
        println!("  {line}");
    }
    Ok(())
}
