//! The API holds `Arc<dyn MetricsQuery>` and `Arc<dyn MetricsControl>`: the traits are
//! object-safe, thread-safe, upcast to the narrower views, and the snapshots round-trip
//! through JSON.

use std::sync::Arc;

use oa_metrics::{
    Collectors, CompleteStatus, JobMetrics, JobQuery, MetricsControl, MetricsError, MetricsQuery,
    SystemMetrics, SystemQuery, WorkerMetrics, WorkerQuery,
};

use crate::support::{at, attached, emit_script};

fn assert_send_sync<T: Send + Sync + ?Sized>() {}

#[test]
fn every_route_of_the_seed_is_answered_through_trait_objects() {
    assert_send_sync::<dyn MetricsQuery>();
    assert_send_sync::<dyn MetricsControl>();
    assert_send_sync::<Collectors>();

    let (emitter, collectors, clock) = attached(0.0);
    emit_script(&emitter);
    clock.set(at(10.0));
    let shared = Arc::new(collectors);
    let query: Arc<dyn MetricsQuery> = shared.clone();
    let control: Arc<dyn MetricsControl> = shared;

    // GET /status, /jobs/summary, /jobs/recent?limit, /jobs/tags, /jobs/priorities,
    // /jobs/running, /workers, /workers/{id}, /system, /system/events, /metrics.
    assert_eq!(query.complete_status().jobs.total_jobs, 6);
    assert_eq!(query.summary().completed_jobs, 3);
    assert_eq!(query.recent_jobs(5).len(), 5);
    assert_eq!(query.tag_metrics().len(), 3);
    assert_eq!(query.priority_metrics().len(), 4);
    assert_eq!(query.running_jobs().len(), 1);
    assert_eq!(query.workers().workers.len(), 3);
    assert_eq!(query.worker("w1").unwrap().jobs_claimed, 4);
    assert!(
        matches!(query.worker("nope"), Err(MetricsError::UnknownWorker { worker_id }) if worker_id == "nope")
    );
    assert_eq!(query.system().error_count, 1);
    assert_eq!(query.event_counts().len(), 17);
    assert!(
        query
            .prometheus_text()
            .starts_with("# HELP oa_jobs_started_total")
    );

    // POST /system/disable, /system/enable, /system/reset.
    control.disable();
    assert!(!control.is_enabled());
    assert!(!query.system().enabled);
    control.enable();
    control.reset();
    assert_eq!(query.summary().completed_jobs, 0);

    // The narrower views, by upcasting.
    let jobs: Arc<dyn JobQuery> = query.clone();
    let workers: Arc<dyn WorkerQuery> = query.clone();
    let system: Arc<dyn SystemQuery> = query;
    assert_eq!(jobs.summary().total_jobs, 1);
    assert!(workers.worker("w1").is_ok());
    assert_eq!(system.event_counts().values().sum::<u64>(), 0);
}

#[test]
fn each_collector_answers_its_own_trait() {
    let jobs: Box<dyn JobQuery> = Box::new(JobMetrics::default());
    let workers: Box<dyn WorkerQuery> = Box::new(WorkerMetrics::default());
    let system: Box<dyn SystemQuery> = Box::new(SystemMetrics::default());
    assert_eq!(jobs.summary().total_jobs, 0);
    assert!(workers.workers().workers.is_empty());
    assert_eq!(system.system().events_total, 0);
}

#[test]
fn the_complete_status_round_trips_through_json() {
    let (emitter, collectors, clock) = attached(0.0);
    emit_script(&emitter);
    clock.set(at(10.0));
    let status = collectors.complete_status();
    let json = serde_json::to_string(&status).unwrap();
    let back: CompleteStatus = serde_json::from_str(&json).unwrap();
    assert_eq!(back, status);
}
