//! `reset` zeroes the collectors (never the emitter's counters) and keeps jobs in flight
//! consistent; `disable` freezes the figures and counts what it ignores.

use oa_events::{Event, EventType};
use oa_metrics::{JobQuery, MetricsControl, SystemQuery, WorkerQuery, WorkerState};
use serde_json::json;

use crate::support::{TestJob, at, attached, emit_script};

#[test]
fn disable_freezes_the_figures_and_counts_ignored_events() {
    let (emitter, collectors, clock) = attached(0.0);
    emit_script(&emitter);
    clock.set(at(10.0));
    let before = collectors.complete_status();
    collectors.disable();
    assert!(!collectors.is_enabled());
    let mut late = TestJob::new("late", "low", &[]);
    late.attempt = 1;
    emitter.emit(late.event(EventType::JobStarted, 10.0, json!({})));
    emitter.emit(late.event(EventType::JobCompleted, 10.0, json!({})));
    emitter.emit(Event::for_worker(EventType::WorkerRegistered, "w9").with_timestamp(at(10.0)));
    let frozen = collectors.complete_status();
    assert_eq!(frozen.jobs, before.jobs);
    assert_eq!(frozen.workers, before.workers);
    assert_eq!(frozen.recent_jobs, before.recent_jobs);
    assert_eq!(frozen.system.event_counts, before.system.event_counts);
    assert!(!frozen.system.enabled);
    assert_eq!(frozen.system.events_ignored, 3);

    collectors.enable();
    assert!(collectors.is_enabled());
    emitter.emit(Event::for_worker(EventType::WorkerRegistered, "w9").with_timestamp(at(10.0)));
    let resumed = collectors.complete_status();
    assert!(resumed.system.enabled);
    assert_eq!(resumed.system.events_total, before.system.events_total + 1);
    assert!(resumed.workers.workers.contains_key("w9"));
    assert_eq!(resumed.system.events_ignored, 3, "kept until a reset");
}

#[test]
fn reset_zeroes_figures_but_not_the_emitter_counters() {
    let (emitter, collectors, clock) = attached(0.0);
    emitter.on(EventType::SystemError, |_: &Event| {
        Err::<(), _>("handler failed")
    });
    emit_script(&emitter);
    collectors.system_metrics().update_queue_depth(9);
    collectors.system_metrics().update_queue_depth(4);
    clock.set(at(10.0));
    assert_eq!(SystemQuery::system(&collectors).handler_errors, 1);

    collectors.reset();
    clock.set(at(12.0));
    let status = collectors.complete_status();
    let jobs = &status.jobs;
    assert_eq!(
        jobs.total_jobs, 1,
        "j5 is still running: it counts in the new period"
    );
    assert_eq!(jobs.currently_running, 1);
    assert_eq!(
        (
            jobs.completed_jobs,
            jobs.failed_jobs,
            jobs.cancelled_jobs,
            jobs.retries
        ),
        (0, 0, 0, 0)
    );
    assert_eq!(jobs.avg_execution_time, 0.0);
    assert_eq!(jobs.throughput.last_15m, 0.0);
    assert!(status.recent_jobs.is_empty());
    assert!(status.tags.is_empty(), "j5 has no tags");
    assert_eq!(
        status.priorities[&oa_metrics::Priority::Medium].currently_running,
        1
    );
    assert_eq!(collectors.running_jobs().len(), 1);

    let system = &status.system;
    assert_eq!(system.events_total, 0);
    assert_eq!(system.error_count, 0);
    assert_eq!(system.uptime, 2.0, "the uptime restarts at the reset");
    assert_eq!((system.queue_depth, system.max_queue_depth), (4, 4));
    assert_eq!(
        system.handler_errors, 1,
        "the emitter's own counters are never reset"
    );

    let w1 = &status.workers.workers["w1"];
    assert_eq!((w1.jobs_claimed, w1.jobs_completed), (0, 0));
    assert_eq!(w1.host.as_deref(), Some("box-1"), "live workers stay known");
    assert!(
        !status.workers.workers.contains_key("w3"),
        "workers that went offline are forgotten"
    );
    assert_eq!(
        status.workers.workers["w2"].status,
        WorkerState::Offline,
        "w2 only timed out"
    );

    // The job that was in flight ends consistently after the reset.
    let mut j5 = TestJob::new("j5", "medium", &[]);
    j5.worker = Some("w1".into());
    emitter.emit(j5.event(EventType::JobCompleted, 11.0, json!({})));
    let jobs = collectors.summary();
    assert_eq!(
        (jobs.total_jobs, jobs.completed_jobs, jobs.currently_running),
        (1, 1, 0)
    );
    assert_eq!(jobs.avg_execution_time, 7.0);
    assert_eq!(jobs.malformed_events, 0);
    assert_eq!(collectors.worker("w1").unwrap().jobs_completed, 1);
}

#[test]
fn each_collector_resets_alone() {
    let (emitter, collectors, clock) = attached(0.0);
    emit_script(&emitter);
    clock.set(at(10.0));
    let before = collectors.complete_status();

    collectors.reset_system();
    let after = collectors.complete_status();
    assert_eq!(after.system.events_total, 0);
    assert_eq!(after.jobs, before.jobs);
    assert_eq!(after.workers, before.workers);

    collectors.reset_workers();
    let after = collectors.complete_status();
    assert_eq!(after.workers.workers["w1"].jobs_claimed, 0);
    assert_eq!(after.jobs, before.jobs);

    collectors.reset_jobs();
    let after = collectors.complete_status();
    assert_eq!(after.jobs.completed_jobs, 0);
    assert_eq!(after.workers.workers["w1"].host.as_deref(), Some("box-1"));
}

#[test]
fn a_reset_reresolves_the_tags_of_jobs_in_flight() {
    let (emitter, collectors, _clock) = attached(0.0);
    let mut job = TestJob::new("tagged", "high", &["x", "y"]);
    job.attempt = 1;
    emitter.emit(TestJob::new("other", "low", &["z"]).event(EventType::JobQueued, 0.0, json!({})));
    emitter.emit(job.event(EventType::JobStarted, 1.0, json!({})));
    collectors.reset();
    let tags = collectors.tag_metrics();
    assert_eq!(
        tags.keys().map(String::as_str).collect::<Vec<_>>(),
        ["x", "y", "z"]
    );
    assert_eq!((tags["x"].total_jobs, tags["x"].currently_running), (1, 1));
    assert_eq!(tags["z"].total_jobs, 0, "queued, never started");
    emitter.emit(job.event(EventType::JobCompleted, 3.0, json!({})));
    let tags = collectors.tag_metrics();
    assert_eq!(
        (tags["y"].completed_jobs, tags["y"].currently_running),
        (1, 0)
    );
    assert_eq!(tags["y"].avg_execution_time, 2.0);
}
