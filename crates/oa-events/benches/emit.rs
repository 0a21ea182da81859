//! Criterion benchmarks of `EventEmitter::emit`.
//!
//! Run with: cargo bench -p oa-events --bench emit
//!
//! - `emit/sync_handlers/N`: one emit to N trivial sync handlers (the event is built outside
//!   the timed section; its drop inside `emit` is timed).
//! - `baseline/boxed_closures/4`: calling 4 boxed closures directly, the floor to compare with;
//!   `baseline/boxed_closures/0`: the harness's own cost per event, and the event's drop.
//! - `emit/streams/N`: events emitted per second while N stream subscribers, each drained by
//!   its own task, receive every event (the run fails if any stream lags).
//! - `event/new`, `event/for_job_with_data`: building events (a UUID v7 and a timestamp each).
//! - `emit/two_threads/4_handlers`: two threads emitting at once to 4 sync handlers; the time
//!   is per event, both threads together.

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use oa_events::{Event, EventEmitter, EventFilter, EventType, StreamItem};

/// A handler called directly, for the baseline.
type BoxedHandler = Box<dyn Fn(&Event) + Send + Sync>;

fn emitter_with_handlers(count: usize) -> EventEmitter {
    let emitter = EventEmitter::new();
    for _ in 0..count {
        emitter.on(EventType::JobProgressUpdated, |event: &Event| {
            black_box(event.seq);
        });
    }
    emitter
}

fn event() -> Event {
    Event::new(EventType::JobProgressUpdated)
}

fn sync_handlers(c: &mut Criterion) {
    let mut group = c.benchmark_group("emit/sync_handlers");
    group.throughput(Throughput::Elements(1));
    for count in [0, 1, 4, 16] {
        let emitter = emitter_with_handlers(count);
        group.bench_function(count.to_string(), |b| {
            b.iter_batched(event, |e| emitter.emit(e), BatchSize::SmallInput);
        });
    }
    group.finish();

    let mut group = c.benchmark_group("baseline/boxed_closures");
    group.throughput(Throughput::Elements(1));
    let closures: Vec<BoxedHandler> = (0..4)
        .map(|_| {
            Box::new(|event: &Event| {
                black_box(event.seq);
            }) as BoxedHandler
        })
        .collect();
    group.bench_function("0", |b| {
        // The harness's own cost per element plus dropping the event, which `emit` also pays.
        b.iter_batched(event, drop, BatchSize::SmallInput);
    });
    group.bench_function("4", |b| {
        b.iter_batched(
            event,
            |e| {
                for closure in black_box(&closures) {
                    closure(&e);
                }
                e
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// Emits `iters` events while `streams` tasks drain their streams; returns the time until every
/// stream received every event. The producer never lets itself get more than half a queue
/// ahead of the slowest consumer (that is what "the consumers keep up" means here), so the
/// figure is the sustained rate at which every event reaches every stream, without loss.
fn run_streams(streams: usize, iters: u64, runtime: &tokio::runtime::Runtime) -> Duration {
    const CAPACITY: u64 = 1 << 14;
    let emitter = EventEmitter::new();
    let capacity = NonZeroUsize::new(CAPACITY as usize).unwrap_or(NonZeroUsize::MIN);
    let progress: Vec<Arc<AtomicU64>> = (0..streams).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let consumers: Vec<_> = progress
        .iter()
        .map(|received| {
            let mut stream = emitter.subscribe_with_capacity(EventFilter::all(), capacity);
            let received = Arc::clone(received);
            runtime.spawn(async move {
                while received.load(Ordering::Relaxed) < iters {
                    match stream.recv().await {
                        Some(StreamItem::Event(event)) => {
                            black_box(event.seq);
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(StreamItem::Lagged { missed }) => {
                            panic!("a stream lagged by {missed}: the consumers did not keep up")
                        }
                        None => break,
                    }
                }
            })
        })
        .collect();
    let slowest = || {
        progress
            .iter()
            .map(|p| p.load(Ordering::Relaxed))
            .min()
            .unwrap_or(0)
    };
    let template = event();
    let start = Instant::now();
    for emitted in 0..iters {
        if emitted % 256 == 0 {
            while emitted - slowest() > CAPACITY / 2 {
                std::thread::yield_now();
            }
        }
        emitter.emit(template.clone());
    }
    for consumer in consumers {
        runtime
            .block_on(consumer)
            .unwrap_or_else(|err| panic!("a consumer failed: {err}"));
    }
    let elapsed = start.elapsed();
    assert_eq!(slowest(), iters, "every stream received every event");
    elapsed
}

fn streams(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap_or_else(|err| panic!("cannot start the benchmark's runtime: {err}"));
    let mut group = c.benchmark_group("emit/streams");
    group.throughput(Throughput::Elements(1));
    for count in [1, 4] {
        group.bench_function(count.to_string(), |b| {
            b.iter_custom(|iters| run_streams(count, iters, &runtime));
        });
    }
    group.finish();
}

fn two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("emit/two_threads");
    group.throughput(Throughput::Elements(1));
    let emitter = emitter_with_handlers(4);
    group.bench_function("4_handlers", |b| {
        b.iter_custom(|iters| {
            let barrier = Arc::new(Barrier::new(2));
            let per_thread = iters.div_ceil(2);
            let template = event();
            let threads: Vec<_> = (0..2)
                .map(|_| {
                    let (emitter, barrier, template) =
                        (emitter.clone(), Arc::clone(&barrier), template.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        let start = Instant::now();
                        for _ in 0..per_thread {
                            emitter.emit(template.clone());
                        }
                        start.elapsed()
                    })
                })
                .collect();
            // Both threads run at once: the wall time of the slower one covers all events.
            threads
                .into_iter()
                .map(|t| t.join().unwrap_or_default())
                .max()
                .unwrap_or_default()
        });
    });
    group.finish();
}

fn event_creation(c: &mut Criterion) {
    let mut group = c.benchmark_group("event");
    group.throughput(Throughput::Elements(1));
    group.bench_function("new", |b| b.iter(event));
    group.bench_function("for_job_with_data", |b| {
        b.iter(|| {
            Event::for_job(
                EventType::JobCompleted,
                "019388a2-6b00-7000-8000-000000000001",
            )
            .with_data("name", "resize")
            .with_data("priority", "high")
        });
    });
    group.finish();
}

criterion_group!(benches, sync_handlers, streams, two_threads, event_creation);
criterion_main!(benches);
