//! Regression test for the seed's deadlock: its `GET /workers` locked the worker table and
//! then asked for each worker's status, which locked it again, as soon as one worker had
//! registered. Here threads query all workers and the complete status while others emit, and a
//! handler queries from inside an emit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use oa_events::{Event, EventEmitter, EventType};
use oa_metrics::{Collectors, JobQuery, MetricsQuery, WorkerQuery};
use serde_json::json;

const EMITTERS: usize = 2;
const JOBS_PER_EMITTER: usize = 2000;

fn emit_load(emitter: &EventEmitter, lane: usize) {
    for i in 0..JOBS_PER_EMITTER {
        let worker = format!("w{lane}-{}", i % 50);
        let job = format!("job-{lane}-{i}");
        let job_event = |event_type| {
            Event::for_job(event_type, job.clone())
                .with_worker_id(worker.clone())
                .with_data("name", "load")
                .with_data("priority", "high")
                .with_data("tags", json!(["t1", "t2"]))
                .with_data("attempt", 1)
                .with_data("progress", 0.5)
        };
        if i < 50 {
            emitter.emit(Event::for_worker(
                EventType::WorkerRegistered,
                worker.clone(),
            ));
        }
        emitter.emit(job_event(EventType::JobQueued));
        emitter.emit(
            Event::for_worker(EventType::WorkerClaimedJob, worker.clone()).with_job_id(job.clone()),
        );
        emitter.emit(job_event(EventType::JobStarted));
        emitter.emit(job_event(EventType::JobProgressUpdated));
        emitter.emit(job_event(EventType::JobCompleted));
        emitter.emit(
            Event::for_worker(EventType::WorkerHeartbeat, worker).with_data("running_jobs", 0),
        );
    }
}

#[test]
fn querying_all_workers_while_threads_emit_does_not_deadlock() {
    let emitter = EventEmitter::new();
    let collectors = Arc::new(Collectors::default());
    collectors.attach(&emitter);
    // A handler that reads everything from inside an emit, after the collectors' handler
    // (both are `on_any` handlers, which run in registration order).
    let inside = Arc::clone(&collectors);
    emitter.on_any(move |event: &Event| {
        if event.event_type != EventType::WorkerRegistered {
            return;
        }
        let id = event.worker_id.as_deref().unwrap_or_default();
        assert!(inside.worker(id).is_ok());
        let _ = inside.workers();
        let _ = inside.complete_status();
    });

    let (done, finished) = mpsc::channel();
    let runner = {
        let collectors = Arc::clone(&collectors);
        thread::spawn(move || {
            let emitters_done = AtomicUsize::new(0);
            let mut reads = 0u64;
            thread::scope(|scope| {
                for lane in 0..EMITTERS {
                    let (emitter, emitters_done) = (&emitter, &emitters_done);
                    scope.spawn(move || {
                        emit_load(emitter, lane);
                        emitters_done.fetch_add(1, Ordering::SeqCst);
                    });
                }
                // Reads until the emitters are done (and at least a few times).
                while emitters_done.load(Ordering::SeqCst) < EMITTERS || reads < 10 {
                    let workers = collectors.workers();
                    for id in workers.workers.keys().take(5) {
                        assert!(collectors.worker(id).is_ok());
                    }
                    let status = collectors.complete_status();
                    assert!(status.jobs.total_jobs >= status.jobs.completed_jobs);
                    let _ = collectors.running_jobs();
                    let _ = collectors.prometheus_text();
                    reads += 1;
                }
            });
            let _ = done.send(reads);
        })
    };
    // A generous bound that only a deadlock can reach: it turns a hang into a failure.
    let reads = finished
        .recv_timeout(Duration::from_secs(300))
        .expect("the emitters and readers deadlocked");
    runner.join().unwrap();

    assert!(reads >= 10);
    let status = collectors.complete_status();
    let jobs = (EMITTERS * JOBS_PER_EMITTER) as u64;
    assert_eq!(status.jobs.total_jobs, jobs);
    assert_eq!(status.jobs.completed_jobs, jobs);
    assert_eq!(status.jobs.currently_running, 0);
    assert_eq!(status.workers.workers.len(), EMITTERS * 50);
    assert_eq!(
        status.system.events_total,
        jobs * 6 + (EMITTERS * 50) as u64
    );
    assert_eq!(
        status.system.handler_errors, 0,
        "the handler's reads all succeeded"
    );
    let claimed: u64 = status
        .workers
        .workers
        .values()
        .map(|w| w.jobs_claimed)
        .sum();
    assert_eq!(claimed, jobs);
}
