//! Each bound of `MetricsConfig` holds, and what it drops is counted.

use std::sync::Arc;
use std::time::Duration;

use oa_events::EventType;
use oa_metrics::{Collectors, JobQuery, ManualClock, WorkerQuery};
use serde_json::json;

use crate::support::{TestJob, at, config_with, worker_event};

fn collectors(
    build: impl FnOnce(oa_metrics::MetricsConfigBuilder) -> oa_metrics::MetricsConfigBuilder,
) -> (Collectors, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(at(0.0)));
    let config = build(config_with(&clock)).build().unwrap();
    (Collectors::new(config), clock)
}

fn run(collectors: &Collectors, job: &mut TestJob, start: f64, end: f64) {
    job.attempt = 1;
    collectors.record(&job.event(EventType::JobStarted, start, json!({})));
    collectors.record(&job.event(EventType::JobCompleted, end, json!({})));
}

#[test]
fn the_recent_ring_keeps_the_newest() {
    let (collectors, _) = collectors(|b| b.recent_jobs_capacity(3).status_recent_jobs(2));
    for i in 0..10 {
        run(
            &collectors,
            &mut TestJob::new(&format!("j{i}"), "low", &[]),
            f64::from(i),
            f64::from(i) + 0.5,
        );
    }
    let ids: Vec<_> = collectors
        .recent_jobs(100)
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(ids, ["j9", "j8", "j7"]);
    assert_eq!(collectors.entry_counts().jobs.recent_jobs, 3);
    assert_eq!(collectors.complete_status().recent_jobs.len(), 2);
    assert_eq!(
        collectors.summary().completed_jobs,
        10,
        "counts are not bounded by the ring"
    );
}

#[test]
fn tags_past_the_bound_fold_into_other() {
    let (collectors, _) = collectors(|b| b.max_tags(2));
    run(
        &collectors,
        &mut TestJob::new("j1", "low", &["a", "b"]),
        0.0,
        1.0,
    );
    run(
        &collectors,
        &mut TestJob::new("j2", "low", &["c", "d", "a"]),
        0.0,
        2.0,
    );
    run(
        &collectors,
        &mut TestJob::new("j3", "low", &["e"]),
        0.0,
        3.0,
    );
    let tags = collectors.tag_metrics();
    assert_eq!(
        tags.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "other"]
    );
    assert_eq!(tags["a"].completed_jobs, 2);
    assert_eq!(tags["other"].completed_jobs, 2, "j2 once (c and d), j3");
    assert_eq!(tags["other"].total_jobs, 2);
    assert_eq!(collectors.summary().overflowed_tags, 3, "c, d, e");
    assert_eq!(collectors.entry_counts().jobs.tags, 2);
    assert_eq!(
        collectors.recent_jobs(1)[0].tags,
        ["e"],
        "recent jobs keep the real tags"
    );
}

#[test]
fn unfinished_jobs_are_evicted_after_the_horizon() {
    let (collectors, clock) = collectors(|b| b.in_flight_horizon(Duration::from_secs(60)));
    let mut stuck = TestJob::new("stuck", "high", &["t"]);
    stuck.attempt = 1;
    collectors.record(&stuck.event(EventType::JobStarted, 0.0, json!({})));
    collectors.record(&TestJob::new("queued", "low", &[]).event(
        EventType::JobQueued,
        10.0,
        json!({}),
    ));
    let mut late = TestJob::new("late", "low", &[]);
    late.attempt = 1;
    collectors.record(&late.event(EventType::JobStarted, 100.0, json!({})));
    assert_eq!(collectors.summary().currently_running, 2);

    clock.set(at(100.0));
    collectors.job_metrics().evict_stale();
    let summary = collectors.summary();
    assert_eq!(
        summary.evicted_jobs, 2,
        "stuck and queued had no news for 60 s"
    );
    assert_eq!(summary.currently_running, 1);
    assert_eq!(summary.total_jobs, 2, "they did start");
    assert_eq!(collectors.tag_metrics()["t"].currently_running, 0);
    assert_eq!(collectors.entry_counts().jobs.in_flight, 1);
    // The end of an evicted job is a terminal event for a job not tracked.
    collectors.record(&stuck.event(EventType::JobCompleted, 101.0, json!({})));
    assert_eq!(collectors.summary().malformed_events, 1);
    assert_eq!(collectors.summary().completed_jobs, 0);
}

#[test]
fn the_horizon_is_measured_on_event_time_but_never_past_the_clock() {
    let (collectors, _clock) = collectors(|b| b.in_flight_horizon(Duration::from_secs(60)));
    let mut job = TestJob::new("j", "low", &[]);
    job.attempt = 1;
    collectors.record(&job.event(EventType::JobStarted, 0.0, json!({})));
    // An event stamped a day ahead of the clock cannot evict what is in flight.
    let mut future = TestJob::new("future", "low", &[]);
    future.attempt = 1;
    collectors.record(&future.event(EventType::JobStarted, 86_400.0, json!({})));
    collectors.job_metrics().evict_stale();
    assert_eq!(collectors.summary().evicted_jobs, 0);
}

#[test]
fn the_in_flight_table_is_bounded_and_evicts_the_least_recently_active() {
    let (collectors, _) = collectors(|b| b.max_in_flight(16));
    for i in 0..40 {
        let mut job = TestJob::new(&format!("j{i:02}"), "medium", &[]);
        job.attempt = 1;
        collectors.record(&job.event(EventType::JobStarted, f64::from(i), json!({})));
        assert!(collectors.entry_counts().jobs.in_flight <= 16);
    }
    let summary = collectors.summary();
    assert_eq!(summary.total_jobs, 40);
    assert_eq!(summary.evicted_jobs + summary.currently_running, 40);
    let running: Vec<_> = collectors
        .running_jobs()
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(running.len() as u64, summary.currently_running);
    assert_eq!(
        running.last().map(String::as_str),
        Some("j39"),
        "the newest stays"
    );
    assert!(
        !running.contains(&"j00".to_owned()),
        "the oldest went first"
    );
}

#[test]
fn workers_are_bounded_and_offline_ones_forgotten_oldest_first() {
    let (collectors, _) = collectors(|b| b.max_workers(3).max_offline_workers(1));
    for (i, id) in ["w1", "w2", "w3"].iter().enumerate() {
        collectors.record(&worker_event(
            EventType::WorkerRegistered,
            id,
            i as f64,
            json!({}),
        ));
    }
    collectors.record(&worker_event(
        EventType::WorkerRegistered,
        "w4",
        3.0,
        json!({}),
    ));
    assert!(collectors.worker("w4").is_err(), "no room");
    assert_eq!(collectors.worker_metrics().malformed_events(), 1);

    collectors.record(&worker_event(
        EventType::WorkerOffline,
        "w1",
        4.0,
        json!({"reason": "shutdown"}),
    ));
    assert!(
        collectors.worker("w1").is_ok(),
        "one offline worker is remembered"
    );
    collectors.record(&worker_event(
        EventType::WorkerOffline,
        "w2",
        5.0,
        json!({"reason": "shutdown"}),
    ));
    assert!(
        collectors.worker("w1").is_err(),
        "the oldest offline worker is forgotten"
    );
    assert!(collectors.worker("w2").is_ok());
    collectors.record(&worker_event(
        EventType::WorkerRegistered,
        "w5",
        6.0,
        json!({}),
    ));
    assert!(collectors.worker("w5").is_ok(), "w2, w3, w5");
    collectors.record(&worker_event(
        EventType::WorkerHeartbeat,
        "w6",
        7.0,
        json!({}),
    ));
    assert!(collectors.worker("w6").is_ok());
    assert!(
        collectors.worker("w2").is_err(),
        "an offline worker made room for a new one"
    );
    collectors.record(&worker_event(
        EventType::WorkerClaimedJob,
        "w7",
        8.0,
        json!({}),
    ));
    assert!(
        collectors.worker("w7").is_err(),
        "live workers are never dropped for new ones"
    );
    assert_eq!(collectors.worker_metrics().malformed_events(), 2);
    let counts = collectors.entry_counts().workers;
    assert_eq!((counts.workers, counts.offline_workers), (3, 0));
}
