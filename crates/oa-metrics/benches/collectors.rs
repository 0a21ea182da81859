//! Criterion benchmarks of the collectors' own cost, without an emitter.
//!
//! Run with: cargo bench -p oa-metrics --bench collectors
//!
//! Events are built outside the timed section and recorded by reference, so the figures are
//! the collectors' cost alone (the monitor's benchmarks include `emit` and the event's drop).
//!
//! - `record/progress`: a progress event of a running job.
//! - `record/started_completed`: a job started then completed (2 tags, a priority); the time
//!   is per event.
//! - `record/heartbeat`: a heartbeat of a known worker.
//! - `floor/...`: what an engine-shaped event costs without any collector: emitted to an
//!   emitter without handlers, or just dropped (the monitor's benchmarks include this).

use std::hint::black_box;

use chrono::{DateTime, Duration, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use oa_events::{Event, EventType};
use oa_metrics::{Collectors, MetricsConfig};
use serde_json::{Map, Value, json};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// The data an engine job event carries (`Event::from_job`).
fn job_data(status: &str, tags: &[&str]) -> Map<String, Value> {
    let Value::Object(map) = json!({
        "name": "resize-image",
        "status": status,
        "priority": "high",
        "tags": tags,
        "attempt": 1,
        "max_retries": 3,
        "progress": 0.0,
        "created_at": "2026-01-01T00:00:00Z",
        "queued_at": "2026-01-01T00:00:00Z",
        "started_at": null,
        "finished_at": null,
    }) else {
        return Map::new();
    };
    map
}

fn job_event(event_type: EventType, job_id: &str, at: DateTime<Utc>, tags: &[&str]) -> Event {
    Event::for_job(event_type, job_id)
        .with_worker_id("worker-1")
        .with_timestamp(at)
        .with_data_map(job_data(event_type.as_str(), tags))
}

fn record(c: &mut Criterion) {
    let collectors = Collectors::new(MetricsConfig::default());
    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(1));

    collectors.record(&job_event(
        EventType::JobStarted,
        "running-1",
        t0(),
        &["a", "b"],
    ));
    let progress = job_event(
        EventType::JobProgressUpdated,
        "running-1",
        t0(),
        &["a", "b"],
    )
    .with_data("progress", 0.5);
    group.bench_function("progress", |b| {
        b.iter(|| collectors.record(black_box(&progress)));
    });

    let heartbeat = Event::for_worker(EventType::WorkerHeartbeat, "worker-1")
        .with_timestamp(t0())
        .with_data("running_jobs", 1);
    group.bench_function("heartbeat", |b| {
        b.iter(|| collectors.record(black_box(&heartbeat)));
    });

    group.throughput(Throughput::Elements(2));
    let mut n = 0u64;
    group.bench_function("started_completed", |b| {
        b.iter_batched(
            || {
                n += 1;
                let id = format!("job-{n:012}");
                let at = t0() + Duration::milliseconds(i64::try_from(n).unwrap_or(0));
                (
                    job_event(EventType::JobStarted, &id, at, &["images", "billing"]),
                    job_event(
                        EventType::JobCompleted,
                        &id,
                        at + Duration::milliseconds(40),
                        &["images", "billing"],
                    ),
                )
            },
            |(started, completed)| {
                collectors.record(&started);
                collectors.record(&completed);
                (started, completed)
            },
            BatchSize::NumIterations(64),
        );
    });
    group.finish();
    let emitter = oa_events::EventEmitter::new();
    let mut group = c.benchmark_group("floor");
    group.throughput(Throughput::Elements(1));
    group.bench_function("emit_full_event_no_handler", |b| {
        b.iter_batched(
            || {
                job_event(
                    EventType::JobStarted,
                    "job-000000000001",
                    t0(),
                    &["images", "billing"],
                )
            },
            |e| emitter.emit(e),
            BatchSize::NumIterations(64),
        );
    });
    group.bench_function("emit_min_progress_no_handler", |b| {
        b.iter_batched(
            || {
                Event::for_job(EventType::JobProgressUpdated, "job-000000000001")
                    .with_data("progress", 0.5)
            },
            |e| emitter.emit(e),
            BatchSize::NumIterations(64),
        );
    });
    group.bench_function("drop_full_event", |b| {
        b.iter_batched(
            || {
                job_event(
                    EventType::JobStarted,
                    "job-000000000001",
                    t0(),
                    &["images", "billing"],
                )
            },
            drop,
            BatchSize::NumIterations(64),
        );
    });
    group.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
