//! Shared helpers: a fixed clock, a job that builds its events with `Event::from_job` (as the
//! engine does), worker events, and the scripted sequence most tests pin.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use oa_events::{Event, EventEmitter, EventType, JobEventSource};
use oa_metrics::{Collectors, ManualClock, MetricsConfig, MetricsConfigBuilder};
use serde_json::{Map, Value, json};

/// The scripts' time zero: 2026-01-01T00:00:00Z.
pub(crate) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// `t0 + seconds`.
pub(crate) fn at(seconds: f64) -> DateTime<Utc> {
    t0() + Duration::microseconds((seconds * 1e6).round() as i64)
}

/// A job as the engine would describe it in its events.
#[derive(Debug, Clone)]
pub(crate) struct TestJob {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) priority: String,
    pub(crate) tags: Vec<String>,
    pub(crate) attempt: u32,
    pub(crate) progress: f64,
    pub(crate) worker: Option<String>,
    pub(crate) created_at: DateTime<Utc>,
}

impl TestJob {
    pub(crate) fn new(id: &str, priority: &str, tags: &[&str]) -> Self {
        TestJob {
            id: id.to_owned(),
            name: format!("task-{id}"),
            priority: priority.to_owned(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            attempt: 0,
            progress: 0.0,
            worker: None,
            created_at: t0(),
        }
    }

    /// The event `event_type` at `seconds`, with the job's data (and `extra`, which wins).
    pub(crate) fn event(&self, event_type: EventType, seconds: f64, extra: Value) -> Event {
        let extra = match extra {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Event::from_job(event_type, self, extra).with_timestamp(at(seconds))
    }
}

impl JobEventSource for TestJob {
    fn job_id(&self) -> &str {
        &self.id
    }

    fn worker_id(&self) -> Option<&str> {
        self.worker.as_deref()
    }

    fn event_data(&self) -> Map<String, Value> {
        let Value::Object(map) = json!({
            "name": self.name,
            "status": "running",
            "priority": self.priority,
            "tags": self.tags,
            "attempt": self.attempt,
            "max_retries": 3,
            "progress": self.progress,
            "created_at": self.created_at.to_rfc3339(),
            "queued_at": null,
            "started_at": null,
            "finished_at": null,
        }) else {
            unreachable!("an object literal")
        };
        map
    }
}

/// A worker event at `seconds` with `data`.
pub(crate) fn worker_event(
    event_type: EventType,
    worker: &str,
    seconds: f64,
    data: Value,
) -> Event {
    let data = match data {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Event::for_worker(event_type, worker)
        .with_timestamp(at(seconds))
        .with_data_map(data)
}

/// A configuration builder whose clock is `clock`.
pub(crate) fn config_with(clock: &Arc<ManualClock>) -> MetricsConfigBuilder {
    MetricsConfig::builder().clock(Arc::clone(clock) as Arc<dyn oa_metrics::Clock>)
}

/// Collectors attached to a new emitter, with a manual clock at `now_seconds` (the clock is
/// also the system collector's start, so uptime is `now - start`).
pub(crate) fn attached(start_seconds: f64) -> (EventEmitter, Collectors, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(at(start_seconds)));
    let collectors = Collectors::new(config_with(&clock).build().unwrap());
    let emitter = EventEmitter::new();
    collectors.attach(&emitter);
    (emitter, collectors, clock)
}

/// Emits the scripted sequence; the clock should then be set to `at(10.0)`.
///
/// | job | priority, tags | story (seconds) |
/// |---|---|---|
/// | j1 | high [images, billing] | queued 0, started 1 on w1, progress 0.5 at 2, completed 3 |
/// | j2 | medium [images] | queued 0, started 2 on w1, completed 6 |
/// | j3 | low [reports] | queued 1, started 2 on w2, retrying 3, queued 5, started 6 (attempt 2), failed 7 |
/// | j4 | critical [reports] | queued 2, cancelled 4 (never started) |
/// | j5 | medium [] | queued 3, started 4 on w1, progress 0.25 at 6: still running |
/// | j6 | medium [images] | queued 4, started 5 on w1, paused 6, resumed 7, completed 8 |
/// | j7 | high [] | queued 5, started 6 on w2, cancelled 9 |
///
/// Workers: w1 (box-1, pid 100, [gpu], 4 jobs, 5 s heartbeat) registered 0, heartbeats 5 and
/// 9; w2 (box-2, 2 s heartbeat) registered 0, heartbeat 3; w3 registered 1, offline 8
/// (shutdown). Also `system.startup` at 0 and one `system.error` at 7.
pub(crate) fn emit_script(emitter: &EventEmitter) {
    use EventType::*;
    let e = |event: Event| {
        emitter.emit(event);
    };
    let mut j1 = TestJob::new("j1", "high", &["images", "billing"]);
    let mut j2 = TestJob::new("j2", "medium", &["images"]);
    let mut j3 = TestJob::new("j3", "low", &["reports"]);
    let j4 = TestJob::new("j4", "critical", &["reports"]);
    let mut j5 = TestJob::new("j5", "medium", &[]);
    let mut j6 = TestJob::new("j6", "medium", &["images"]);
    let mut j7 = TestJob::new("j7", "high", &[]);
    let nothing = json!({});

    e(Event::new(SystemStartup).with_timestamp(at(0.0)));
    e(worker_event(
        WorkerRegistered,
        "w1",
        0.0,
        json!({"host": "box-1", "pid": 100, "tags": ["gpu"], "max_concurrent_jobs": 4, "heartbeat_interval_ms": 5000}),
    ));
    e(worker_event(
        WorkerRegistered,
        "w2",
        0.0,
        json!({"host": "box-2", "pid": 200, "tags": [], "max_concurrent_jobs": 2, "heartbeat_interval_ms": 2000}),
    ));
    for job in [&j1, &j2, &j3, &j4, &j5, &j6, &j7] {
        e(job.event(JobCreated, 0.0, json!({"status": "created"})));
    }
    e(j1.event(JobQueued, 0.0, nothing.clone()));
    e(j2.event(JobQueued, 0.0, nothing.clone()));
    e(worker_event(
        WorkerRegistered,
        "w3",
        1.0,
        json!({"host": "box-3"}),
    ));
    e(j3.event(JobQueued, 1.0, nothing.clone()));

    let claim = |job: &mut TestJob, worker: &str, seconds: f64| {
        job.worker = Some(worker.to_owned());
        job.attempt += 1;
        let claimed = worker_event(
            WorkerClaimedJob,
            worker,
            seconds,
            json!({"name": job.name, "priority": job.priority}),
        )
        .with_job_id(job.id.clone());
        emitter.emit(claimed);
        emitter.emit(job.event(JobStarted, seconds, json!({})));
    };
    claim(&mut j1, "w1", 1.0);
    j1.progress = 0.5;
    e(j1.event(JobProgressUpdated, 2.0, nothing.clone()));
    claim(&mut j2, "w1", 2.0);
    claim(&mut j3, "w2", 2.0);
    e(j4.event(JobQueued, 2.0, nothing.clone()));
    e(j1.event(JobCompleted, 3.0, json!({"result": {"ok": true}})));
    e(j3.event(
        JobRetrying,
        3.0,
        json!({"error": {"kind": "ValueError", "message": "flaky"}, "reason": "error", "next_run_at": "2026-01-01T00:00:05Z"}),
    ));
    j3.worker = None;
    e(worker_event(
        WorkerHeartbeat,
        "w2",
        3.0,
        json!({"running_jobs": 0, "running_job_ids": []}),
    ));
    e(j5.event(JobQueued, 3.0, nothing.clone()));
    e(j4.event(JobCancelled, 4.0, nothing.clone()));
    claim(&mut j5, "w1", 4.0);
    e(j6.event(JobQueued, 4.0, nothing.clone()));
    e(j3.event(JobQueued, 5.0, nothing.clone()));
    e(j7.event(JobQueued, 5.0, nothing.clone()));
    claim(&mut j6, "w1", 5.0);
    e(worker_event(
        WorkerHeartbeat,
        "w1",
        5.0,
        json!({"running_jobs": 3, "running_job_ids": ["j2", "j5", "j6"]}),
    ));
    claim(&mut j3, "w2", 6.0);
    claim(&mut j7, "w2", 6.0);
    e(j2.event(JobCompleted, 6.0, nothing.clone()));
    j5.progress = 0.25;
    e(j5.event(JobProgressUpdated, 6.0, nothing.clone()));
    e(j6.event(JobPaused, 6.0, nothing.clone()));
    e(j6.event(JobResumed, 7.0, nothing.clone()));
    e(j3.event(
        JobFailed,
        7.0,
        json!({"error": {"kind": "ValueError", "message": "bad input"}}),
    ));
    e(Event::new(SystemError)
        .with_timestamp(at(7.0))
        .with_data("message", "disk almost full"));
    e(j6.event(JobCompleted, 8.0, nothing.clone()));
    e(worker_event(
        WorkerOffline,
        "w3",
        8.0,
        json!({"reason": "shutdown", "requeued_job_ids": []}),
    ));
    e(worker_event(
        WorkerHeartbeat,
        "w1",
        9.0,
        json!({"running_jobs": 1, "running_job_ids": ["j5"]}),
    ));
    e(j7.event(JobCancelled, 9.0, nothing));
}

/// The number of events [`emit_script`] emits.
pub(crate) const SCRIPT_EVENTS: u64 = 49;

/// Asserts two floats are equal to 1e-9.
#[track_caller]
pub(crate) fn close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "expected {expected}, got {actual}"
    );
}
