//! Criterion benchmarks of the monitor attached to an emitter: the cost of `emit` per event,
//! and of `get_complete_status()`.
//!
//! Run with: cargo bench -p oa-monitor --bench monitor
//!
//! Events are built outside the timed section, the way the engine builds them
//! (`Event::from_job`: every job key in `data`); `emit` takes them by value, so their drop is
//! timed. Each `monitor/...` figure has a `no_monitor/...` twin: the same events emitted to an
//! emitter without handlers. The monitor's own cost is the difference.
//!
//! - `.../progress`: a `job.progress.updated` of a running job (engine-shaped).
//! - `.../progress_minimal`: the same with only `progress` in `data`.
//! - `.../started_completed`: `job.started` then `job.completed` of a new job with 2 tags and a
//!   priority; the time is per event.
//! - `.../heartbeat`: a `worker.heartbeat` of a known worker.
//! - `marginal/...`: the monitor's own cost per event, measured in pairs (see [`marginal`]).
//! - `two_threads/...`: two threads emitting at once (each its own job or worker); the time is
//!   per event, both threads together (the longer thread's time over all events).
//! - `status/...`: `get_complete_status()` with 1,000 workers and 100 tags known, after 10 000
//!   and after 1 000 000 jobs (`warm`: nothing changed since the last read; `all_tags_changed`:
//!   a job of every tag completed since the last read, so every percentile is recomputed).

#![allow(
    clippy::print_stdout,
    reason = "the benchmark prints the setup it measured"
)]

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use oa_events::{Event, EventEmitter, EventType, JobEventSource};
use oa_metrics::MetricsConfig;
use oa_monitor::Monitor;
use serde_json::{Map, Value, json};

/// Events are built in batches of this many right before they are emitted, so that they are
/// as warm in the cache as an event the engine has just built (a large batch of events built
/// long before would make every read of an event a cache miss).
const CHUNK: BatchSize = BatchSize::NumIterations(CHUNK_EVENTS);
const CHUNK_EVENTS: u64 = 64;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A job as the engine describes it.
struct BenchJob {
    id: String,
    tags: [&'static str; 2],
}

impl JobEventSource for BenchJob {
    fn job_id(&self) -> &str {
        &self.id
    }
    fn worker_id(&self) -> Option<&str> {
        Some("worker-0001")
    }
    fn event_data(&self) -> Map<String, Value> {
        let Value::Object(map) = json!({
            "name": "resize-image",
            "status": "running",
            "priority": "high",
            "tags": self.tags,
            "attempt": 1,
            "max_retries": 3,
            "progress": 0.5,
            "created_at": "2026-01-01T00:00:00Z",
            "queued_at": "2026-01-01T00:00:00.250Z",
            "started_at": "2026-01-01T00:00:00.500Z",
            "finished_at": null,
        }) else {
            return Map::new();
        };
        map
    }
}

fn job_event(event_type: EventType, id: &str, millis: i64, tags: [&'static str; 2]) -> Event {
    let job = BenchJob {
        id: id.to_owned(),
        tags,
    };
    Event::from_job(event_type, &job, Map::new())
        .with_timestamp(t0() + chrono::Duration::milliseconds(millis))
}

fn heartbeat() -> Event {
    Event::for_worker(EventType::WorkerHeartbeat, "worker-0001")
        .with_timestamp(t0())
        .with_data("running_jobs", 1)
        .with_data("running_job_ids", json!(["job-running"]))
}

/// An emitter with a monitor (or none), a registered worker and a running job.
fn setup(with_monitor: bool) -> (EventEmitter, Option<Monitor>) {
    let emitter = EventEmitter::new();
    let monitor = with_monitor.then(|| Monitor::new(&emitter));
    emitter.emit(
        Event::for_worker(EventType::WorkerRegistered, "worker-0001")
            .with_timestamp(t0())
            .with_data("host", "box-1"),
    );
    emitter.emit(job_event(
        EventType::JobStarted,
        "job-running",
        0,
        ["images", "billing"],
    ));
    (emitter, monitor)
}

fn per_event(c: &mut Criterion) {
    for (label, with_monitor) in [("monitor", true), ("no_monitor", false)] {
        let (emitter, monitor) = setup(with_monitor);
        let mut group = c.benchmark_group(label);
        group.throughput(Throughput::Elements(1));
        group.bench_function("progress", |b| {
            b.iter_batched(
                || {
                    job_event(
                        EventType::JobProgressUpdated,
                        "job-running",
                        1,
                        ["images", "billing"],
                    )
                },
                |event| emitter.emit(event),
                CHUNK,
            );
        });
        group.bench_function("progress_minimal", |b| {
            b.iter_batched(
                || {
                    Event::for_job(EventType::JobProgressUpdated, "job-running")
                        .with_timestamp(t0())
                        .with_data("progress", 0.5)
                },
                |event| emitter.emit(event),
                CHUNK,
            );
        });
        group.bench_function("heartbeat", |b| {
            b.iter_batched(heartbeat, |event| emitter.emit(event), CHUNK);
        });
        group.throughput(Throughput::Elements(2));
        let mut n = 0u64;
        group.bench_function("started_completed", |b| {
            b.iter_batched(
                || {
                    n += 1;
                    let id = format!("job-{n:012}");
                    let millis = i64::try_from(n).unwrap_or(0);
                    (
                        job_event(EventType::JobStarted, &id, millis, ["images", "billing"]),
                        job_event(
                            EventType::JobCompleted,
                            &id,
                            millis + 40,
                            ["images", "billing"],
                        ),
                    )
                },
                |(started, completed)| {
                    emitter.emit(started);
                    emitter.emit(completed)
                },
                CHUNK,
            );
        });
        group.finish();
        drop(monitor);
    }
}

/// The kinds of events the two-thread benchmarks emit.
#[derive(Clone, Copy)]
enum Kind {
    Progress,
    StartedCompleted,
    Heartbeat,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Progress => "progress",
            Kind::StartedCompleted => "started_completed",
            Kind::Heartbeat => "heartbeat",
        }
    }

    /// `count` events of thread `lane` (its own running job and worker), numbered from `first`.
    fn events(self, lane: u64, first: u64, count: u64) -> Vec<Event> {
        let mut events = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
        let tags = ["images", "billing"];
        let mut n = first;
        while (events.len() as u64) < count {
            let millis = i64::try_from(n).unwrap_or(0);
            match self {
                Kind::Progress => {
                    let id = format!("job-running-{lane}");
                    events.push(job_event(EventType::JobProgressUpdated, &id, millis, tags));
                }
                Kind::StartedCompleted => {
                    let id = format!("job-{lane}-{n:012}");
                    events.push(job_event(EventType::JobStarted, &id, millis, tags));
                    events.push(job_event(EventType::JobCompleted, &id, millis + 40, tags));
                }
                Kind::Heartbeat => {
                    let mut beat = heartbeat();
                    beat.worker_id = Some(format!("worker-{lane}"));
                    events.push(beat);
                }
            }
            n += 1;
        }
        events
    }
}

fn two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("two_threads");
    group.throughput(Throughput::Elements(1));
    for (label, with_monitor) in [("monitor", true), ("no_monitor", false)] {
        let (emitter, monitor) = setup(with_monitor);
        for lane in 0..2 {
            emitter.emit(job_event(
                EventType::JobStarted,
                &format!("job-running-{lane}"),
                0,
                ["images", "billing"],
            ));
            emitter.emit(Event::for_worker(
                EventType::WorkerRegistered,
                format!("worker-{lane}"),
            ));
        }
        for kind in [Kind::Progress, Kind::StartedCompleted, Kind::Heartbeat] {
            let mut next = 0u64;
            group.bench_function(format!("{label}/{}", kind.name()), |b| {
                b.iter_custom(|iters| {
                    // Two threads, `iters / 2` events each, built in chunks outside the timed
                    // sections.
                    let per_thread = iters.div_ceil(2);
                    let first = next;
                    next += per_thread;
                    let barrier = Arc::new(Barrier::new(2));
                    let threads: Vec<_> = (0..2)
                        .map(|lane| {
                            let (emitter, barrier) = (emitter.clone(), Arc::clone(&barrier));
                            std::thread::spawn(move || {
                                barrier.wait();
                                let mut emitting = Duration::ZERO;
                                let mut sent = 0;
                                while sent < per_thread {
                                    let count = CHUNK_EVENTS.min(per_thread - sent);
                                    let events = kind.events(lane, first + sent, count);
                                    sent += events.len() as u64;
                                    let start = Instant::now();
                                    for event in events {
                                        emitter.emit(event);
                                    }
                                    emitting += start.elapsed();
                                }
                                emitting
                            })
                        })
                        .collect();
                    let elapsed: Vec<Duration> = threads
                        .into_iter()
                        .map(|thread| thread.join().unwrap_or_default())
                        .collect();
                    // Both threads ran at once: the time is the longer thread's.
                    elapsed.into_iter().max().unwrap_or_default()
                });
            });
        }
        drop(monitor);
    }
    group.finish();
}

const TAGS: usize = 100;
const WORKERS: usize = 1000;

fn tag(i: usize) -> &'static str {
    static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        (0..TAGS)
            .map(|i| &*Box::leak(format!("tag-{i:03}").into_boxed_str()))
            .collect()
    });
    names[i % TAGS]
}

/// A detached monitor with 1,000 workers (online, 2 tags each), 100 tags and `jobs` finished
/// jobs; its clock reads t0 + 1 h.
fn populated(jobs: usize) -> Monitor {
    let config = MetricsConfig::builder()
        .clock(Arc::new(oa_metrics::ManualClock::new(
            t0() + chrono::Duration::hours(1),
        )))
        .build()
        .unwrap_or_default();
    let monitor = Monitor::builder()
        .config(config)
        .build_detached()
        .unwrap_or_else(|_| unreachable!("no sampler"));
    for w in 0..WORKERS {
        monitor.record(
            &Event::for_worker(EventType::WorkerRegistered, format!("worker-{w:04}"))
                .with_timestamp(t0())
                .with_data("host", format!("host-{}", w % 50))
                .with_data("tags", json!(["gpu", "eu-west"]))
                .with_data("max_concurrent_jobs", 4)
                .with_data("heartbeat_interval_ms", 5000),
        );
    }
    let mut job = job_template();
    for n in 0..jobs {
        complete(&monitor, &mut job, n, i64::try_from(n).unwrap_or(0));
    }
    // Every worker heartbeats a second before "now": all are online.
    for w in 0..WORKERS {
        monitor.record(
            &Event::for_worker(EventType::WorkerHeartbeat, format!("worker-{w:04}"))
                .with_timestamp(t0() + chrono::Duration::seconds(3599))
                .with_data("running_jobs", 2),
        );
    }
    monitor
}

/// An engine-shaped job event whose id, tags, type and time [`complete`] rewrites.
fn job_template() -> Event {
    let job = BenchJob {
        id: String::new(),
        tags: ["", ""],
    };
    Event::from_job(EventType::JobStarted, &job, Map::new())
}

/// Records a started+completed pair of job `n` (tags `n` and `n + 1`).
fn complete(monitor: &Monitor, job: &mut Event, n: usize, millis: i64) {
    job.job_id = Some(format!("job-{n}"));
    job.worker_id = Some(format!("worker-{:04}", n % WORKERS));
    job.data.insert("tags".into(), json!([tag(n), tag(n + 1)]));
    job.event_type = EventType::JobStarted;
    job.timestamp = t0() + chrono::Duration::milliseconds(millis);
    monitor.record(job);
    job.event_type = EventType::JobCompleted;
    job.timestamp += chrono::Duration::milliseconds(i64::try_from(5 + n % 3000).unwrap_or(0));
    monitor.record(job);
}

fn status(c: &mut Criterion) {
    let mut group = c.benchmark_group("status");
    for jobs in [10_000, 1_000_000] {
        let monitor = populated(jobs);
        let status = monitor.get_complete_status();
        println!(
            "status after {jobs} jobs: {} workers, {} tags, {} recorded jobs, entries {:?}",
            status.workers.workers.len(),
            status.tags.len(),
            status.jobs.total_jobs,
            monitor.entry_counts()
        );
        // The status is dropped outside the timed section: the figure is the cost of building it.
        group.bench_function(format!("{jobs}_jobs/warm"), |b| {
            b.iter_with_large_drop(|| monitor.get_complete_status());
        });
        let mut job = job_template();
        let mut n = jobs;
        group.bench_function(format!("{jobs}_jobs/all_tags_changed"), |b| {
            b.iter_batched(
                || {
                    for _ in 0..TAGS {
                        complete(&monitor, &mut job, n, i64::try_from(n).unwrap_or(0));
                        n += 1;
                    }
                },
                |()| monitor.get_complete_status(),
                BatchSize::PerIteration,
            );
        });
        group.bench_function(format!("{jobs}_jobs/prometheus_text"), |b| {
            b.iter(|| black_box(monitor.prometheus_text()));
        });
    }
    group.finish();
}

/// Reads every allocation of the events, so that both emitters get them equally warm in the
/// cache (otherwise the monitor's reads would pay the cache misses that the drop pays without
/// it).
fn warm(events: &[Event]) {
    fn touch(value: &Value) {
        match value {
            Value::String(text) => {
                black_box(text.as_bytes().last());
            }
            Value::Array(items) => items.iter().for_each(touch),
            Value::Object(map) => map.iter().for_each(|(key, value)| {
                black_box(key.as_bytes().last());
                touch(value);
            }),
            other => {
                black_box(other);
            }
        }
    }
    for event in events {
        black_box(event.job_id.as_ref().map(|id| id.as_bytes().last()));
        black_box(event.worker_id.as_ref().map(|id| id.as_bytes().last()));
        event.data.iter().for_each(|(key, value)| {
            black_box(key.as_bytes().last());
            touch(value);
        });
    }
}

/// Builds a chunk of events, numbered from its argument.
type ChunkBuilder = fn(u64) -> Vec<Event>;

/// The monitor's own cost per event, measured in pairs: each chunk of events is emitted to the
/// emitter with the monitor and an identical chunk to the emitter without, in alternating
/// order, both warmed alike, and the difference of the two times is summed. On a machine shared with other work,
/// this cancels most of the drift that separate `monitor/...` and `no_monitor/...` runs see.
fn marginal(c: &mut Criterion) {
    let mut group = c.benchmark_group("marginal");
    group.throughput(Throughput::Elements(1));
    let (with, monitor) = setup(true);
    let (without, _) = setup(false);
    let kinds: [(&str, ChunkBuilder); 4] = [
        ("progress", |_| {
            (0..CHUNK_EVENTS)
                .map(|i| {
                    let millis = i64::try_from(i).unwrap_or(0);
                    job_event(
                        EventType::JobProgressUpdated,
                        "job-running",
                        millis,
                        ["images", "billing"],
                    )
                })
                .collect()
        }),
        ("progress_minimal", |_| {
            (0..CHUNK_EVENTS)
                .map(|_| {
                    Event::for_job(EventType::JobProgressUpdated, "job-running")
                        .with_timestamp(t0())
                        .with_data("progress", 0.5)
                })
                .collect()
        }),
        ("heartbeat", |_| {
            (0..CHUNK_EVENTS).map(|_| heartbeat()).collect()
        }),
        ("started_completed", |first| {
            Kind::StartedCompleted.events(9, first, CHUNK_EVENTS)
        }),
    ];
    for (name, build) in kinds {
        let mut next = 0u64;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                // The difference of each pair of chunks, per event; the sample is their median,
                // so that a pair disturbed by other work on the machine cannot decide it.
                let mut differences = Vec::new();
                let mut sent = 0;
                while sent < iters || differences.len() < 32 {
                    let mut run = |emitter: &EventEmitter| {
                        let events = build(next);
                        next += CHUNK_EVENTS;
                        warm(&events);
                        let start = Instant::now();
                        for event in events {
                            emitter.emit(event);
                        }
                        start.elapsed().as_secs_f64()
                    };
                    let (with_monitor, without_monitor) = if differences.len() % 2 == 0 {
                        let without_monitor = run(&without);
                        (run(&with), without_monitor)
                    } else {
                        let with_monitor = run(&with);
                        (with_monitor, run(&without))
                    };
                    differences.push((with_monitor - without_monitor) / CHUNK_EVENTS as f64);
                    sent += CHUNK_EVENTS;
                }
                differences.sort_by(f64::total_cmp);
                let median = differences[differences.len() / 2].max(0.0);
                Duration::from_secs_f64(median * iters as f64)
            });
        });
    }
    group.finish();
    drop(monitor);
}

criterion_group!(benches, per_event, marginal, two_threads, status);
criterion_main!(benches);
