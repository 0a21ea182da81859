//! Every key of every snapshot, pinned on the scripted sequence of `support::emit_script`
//! (fixed timestamps, the clock at t0 + 10 s).

use oa_events::EventType;
use oa_metrics::{
    JobErrorInfo, JobOutcome, JobQuery, Priority, RunState, SystemQuery, WorkerQuery, WorkerState,
};

use crate::support::{SCRIPT_EVENTS, at, attached, close, emit_script, t0};

fn scripted() -> oa_metrics::Collectors {
    let (emitter, collectors, clock) = attached(0.0);
    emit_script(&emitter);
    clock.set(at(10.0));
    collectors
}

#[test]
fn job_summary() {
    let summary = scripted().summary();
    assert_eq!(
        summary.total_jobs, 6,
        "j1 j2 j3 j5 j6 j7 started; j3's retry is not new"
    );
    assert_eq!(summary.completed_jobs, 3);
    assert_eq!(summary.failed_jobs, 1, "final failures only");
    assert_eq!(
        summary.cancelled_jobs, 2,
        "j4 never started, j7 was running"
    );
    close(summary.success_rate, 50.0);
    close(summary.failure_rate, 100.0 / 6.0);
    close(summary.cancel_rate, 200.0 / 6.0);
    close(summary.avg_execution_time, 3.0);
    close(summary.min_execution_time, 2.0);
    close(summary.max_execution_time, 4.0);
    assert_eq!(summary.currently_running, 1, "j5");
    close(summary.p50_execution_time, 3.0);
    close(summary.p90_execution_time, 4.0);
    close(summary.p95_execution_time, 4.0);
    close(summary.p99_execution_time, 4.0);
    close(summary.avg_wait_time, 8.0 / 7.0);
    close(summary.p95_wait_time, 2.0);
    assert_eq!(summary.retries, 1);
    close(summary.throughput.last_1m, 3.0 / 60.0);
    close(summary.throughput.last_5m, 3.0 / 300.0);
    close(summary.throughput.last_15m, 3.0 / 900.0);
    assert_eq!(summary.malformed_events, 0);
    assert_eq!(summary.evicted_jobs, 0);
    assert_eq!(summary.overflowed_tags, 0);
}

#[test]
fn priority_metrics() {
    let priorities = scripted().priority_metrics();
    assert_eq!(
        priorities.keys().copied().collect::<Vec<_>>(),
        Priority::ALL
    );

    let low = &priorities[&Priority::Low];
    assert_eq!((low.total_jobs, low.failed_jobs, low.retries), (1, 1, 1));
    close(low.failure_rate, 100.0);
    close(low.success_rate, 0.0);
    close(low.avg_execution_time, 0.0);
    close(low.p99_execution_time, 0.0);
    close(low.avg_wait_time, 1.0);

    let medium = &priorities[&Priority::Medium];
    assert_eq!(medium.total_jobs, 3);
    assert_eq!(medium.completed_jobs, 2);
    assert_eq!(medium.currently_running, 1);
    close(medium.success_rate, 100.0);
    close(medium.avg_execution_time, 3.5);
    close(medium.min_execution_time, 3.0);
    close(medium.max_execution_time, 4.0);
    close(medium.p50_execution_time, 3.0);
    close(medium.p90_execution_time, 4.0);
    close(medium.avg_wait_time, 4.0 / 3.0);
    close(medium.p95_wait_time, 2.0);

    let high = &priorities[&Priority::High];
    assert_eq!(
        (high.total_jobs, high.completed_jobs, high.cancelled_jobs),
        (2, 1, 1)
    );
    close(high.success_rate, 50.0);
    close(high.cancel_rate, 50.0);
    close(high.p50_execution_time, 2.0);

    let critical = &priorities[&Priority::Critical];
    assert_eq!((critical.total_jobs, critical.cancelled_jobs), (0, 1));
    close(critical.cancel_rate, 100.0);
    close(critical.avg_wait_time, 0.0);

    let sum = |f: fn(&oa_metrics::JobGroupMetrics) -> u64| priorities.values().map(f).sum::<u64>();
    let summary = scripted().summary();
    assert_eq!(sum(|g| g.total_jobs), summary.total_jobs);
    assert_eq!(sum(|g| g.completed_jobs), summary.completed_jobs);
    assert_eq!(sum(|g| g.cancelled_jobs), summary.cancelled_jobs);
    assert_eq!(sum(|g| g.retries), summary.retries);
}

#[test]
fn tag_metrics() {
    let tags = scripted().tag_metrics();
    assert_eq!(
        tags.keys().map(String::as_str).collect::<Vec<_>>(),
        ["billing", "images", "reports"]
    );
    let images = &tags["images"];
    assert_eq!((images.total_jobs, images.completed_jobs), (3, 3));
    close(images.success_rate, 100.0);
    close(images.avg_execution_time, 3.0);
    close(images.min_execution_time, 2.0);
    close(images.max_execution_time, 4.0);
    close(images.p50_execution_time, 3.0);
    close(images.p90_execution_time, 4.0);
    close(images.avg_wait_time, 4.0 / 3.0);
    close(images.p95_wait_time, 2.0);
    let billing = &tags["billing"];
    assert_eq!((billing.total_jobs, billing.completed_jobs), (1, 1));
    close(billing.p99_execution_time, 2.0);
    let reports = &tags["reports"];
    assert_eq!(
        (
            reports.total_jobs,
            reports.failed_jobs,
            reports.cancelled_jobs,
            reports.retries
        ),
        (1, 1, 1, 1)
    );
    close(reports.failure_rate, 50.0);
    close(reports.cancel_rate, 50.0);
    assert_eq!(reports.currently_running, 0);
}

#[test]
fn recent_jobs_newest_first() {
    let collectors = scripted();
    let recent = collectors.recent_jobs(100);
    let ids: Vec<_> = recent.iter().map(|job| job.job_id.as_str()).collect();
    assert_eq!(ids, ["j7", "j6", "j3", "j2", "j4", "j1"]);
    assert_eq!(collectors.recent_jobs(2).len(), 2);
    assert!(collectors.recent_jobs(0).is_empty());

    let j7 = &recent[0];
    assert_eq!(j7.status, JobOutcome::Cancelled);
    assert_eq!(j7.execution_time, Some(3.0), "it ran from 6 to 9");
    assert_eq!(j7.wait_time, Some(1.0));
    assert_eq!(j7.worker_id.as_deref(), Some("w2"));
    assert_eq!(j7.priority, Priority::High);
    assert!(j7.tags.is_empty());
    assert_eq!(j7.error, None);

    let j3 = &recent[2];
    assert_eq!(j3.name, "task-j3");
    assert_eq!(j3.status, JobOutcome::Failed);
    assert_eq!(j3.attempts, 2);
    assert_eq!(j3.execution_time, Some(1.0));
    assert_eq!(j3.wait_time, Some(1.0));
    assert_eq!(j3.tags, ["reports"]);
    assert_eq!(j3.started_at, Some(at(6.0)));
    assert_eq!(j3.finished_at, at(7.0));
    assert_eq!(j3.created_at, Some(t0()));
    assert_eq!(
        j3.error,
        Some(
            serde_json::from_value::<JobErrorInfo>(
                serde_json::json!({"kind": "ValueError", "message": "bad input"})
            )
            .unwrap()
        )
    );

    let j4 = &recent[4];
    assert_eq!(j4.status, JobOutcome::Cancelled);
    assert_eq!(
        (j4.execution_time, j4.wait_time, j4.started_at),
        (None, None, None)
    );
    assert_eq!((j4.attempts, j4.worker_id.as_deref()), (0, None));
    assert_eq!(j4.priority, Priority::Critical);

    let j1 = &recent[5];
    assert_eq!(j1.tags, ["images", "billing"]);
    assert_eq!(j1.execution_time, Some(2.0));
    let json = serde_json::to_value(j1).unwrap();
    assert!(json.get("error").is_none(), "error is for failed jobs only");
    assert_eq!(json["status"], "completed");
    assert_eq!(json["finished_at"], "2026-01-01T00:00:03Z");
}

#[test]
fn running_jobs_with_progress_and_eta() {
    let collectors = scripted();
    let running = collectors.running_jobs();
    assert_eq!(running.len(), 1);
    let j5 = &running[0];
    assert_eq!(j5.job_id, "j5");
    assert_eq!(j5.name, "task-j5");
    assert_eq!(j5.status, RunState::Running);
    assert_eq!(j5.priority, Priority::Medium);
    assert_eq!(j5.worker_id.as_deref(), Some("w1"));
    assert_eq!(j5.attempt, 1);
    close(j5.progress, 0.25);
    assert_eq!(j5.started_at, at(4.0));
    close(j5.elapsed, 6.0);
    assert_eq!(j5.progress_updated_at, Some(at(6.0)));
    // 0.25 in 2 s: 1.0 at 4 + 8 = 12 s, 2 s after now.
    assert_eq!(j5.eta_at, Some(at(12.0)));
    assert_eq!(j5.eta_seconds, Some(2.0));
}

#[test]
fn workers() {
    let collectors = scripted();
    let snapshot = collectors.workers();
    assert_eq!(snapshot.active_count, 1);
    assert_eq!(
        snapshot
            .workers
            .keys()
            .map(oa_metrics::SharedStr::as_str)
            .collect::<Vec<_>>(),
        ["w1", "w2", "w3"]
    );

    let w1 = &snapshot.workers["w1"];
    assert_eq!(w1.worker_id, "w1");
    assert_eq!(w1.status, WorkerState::Online);
    assert_eq!(w1.host.as_deref(), Some("box-1"));
    assert_eq!(w1.pid, Some(100));
    assert_eq!(w1.tags, ["gpu"]);
    assert_eq!(w1.max_concurrent_jobs, Some(4));
    assert_eq!(w1.heartbeat_interval_ms, 5000);
    assert_eq!(w1.running_jobs, 1);
    assert_eq!(w1.jobs_claimed, 4);
    assert_eq!(w1.jobs_completed, 3);
    assert_eq!(w1.jobs_failed, 0);
    assert_eq!(w1.registered_at, Some(t0()));
    assert_eq!(w1.offline_at, None);
    assert_eq!(w1.offline_reason, None);
    close(w1.uptime, 10.0);
    close(w1.last_heartbeat, 1.0);
    assert_eq!(w1.last_heartbeat_at, at(9.0));

    let w2 = &snapshot.workers["w2"];
    assert_eq!(
        w2.status,
        WorkerState::Offline,
        "silent 7 s > 3 windows of 2 s"
    );
    assert_eq!(w2.offline_at, Some(at(9.0)));
    assert_eq!(w2.offline_reason.as_deref(), Some("heartbeat_timeout"));
    assert_eq!(
        (w2.jobs_claimed, w2.jobs_failed, w2.running_jobs),
        (3, 1, 0)
    );
    close(w2.uptime, 9.0);
    close(w2.last_heartbeat, 7.0);

    let w3 = &snapshot.workers["w3"];
    assert_eq!(w3.status, WorkerState::Offline);
    assert_eq!(w3.offline_at, Some(at(8.0)));
    assert_eq!(w3.offline_reason.as_deref(), Some("shutdown"));
    assert_eq!(w3.heartbeat_interval_ms, 5000, "the default");
    assert_eq!((w3.pid, w3.max_concurrent_jobs), (None, None));
    close(w3.uptime, 7.0);
    close(w3.last_heartbeat, 9.0);

    assert_eq!(collectors.worker("w1").unwrap(), *w1);
    let missing = collectors.worker("w9").unwrap_err();
    assert_eq!(
        missing,
        oa_metrics::MetricsError::UnknownWorker {
            worker_id: "w9".into()
        }
    );
}

#[test]
fn system() {
    let collectors = scripted();
    collectors.system_metrics().update_queue_depth(4);
    collectors.system_metrics().update_queue_depth(2);
    let system = SystemQuery::system(&collectors);
    close(system.uptime, 10.0);
    assert_eq!(system.uptime_formatted, "0d 0h 0m 10s");
    assert_eq!((system.queue_depth, system.max_queue_depth), (2, 4));
    assert_eq!(system.error_count, 1);
    assert_eq!(system.event_counts.len(), 17);
    let count = |t| system.event_counts[&t];
    assert_eq!(count(EventType::JobCreated), 7);
    assert_eq!(count(EventType::JobQueued), 8);
    assert_eq!(count(EventType::JobStarted), 7);
    assert_eq!(count(EventType::JobCompleted), 3);
    assert_eq!(count(EventType::WorkerClaimedJob), 7);
    assert_eq!(count(EventType::SystemShutdown), 0);
    assert_eq!(system.events_total, SCRIPT_EVENTS);
    close(system.events_per_second, SCRIPT_EVENTS as f64 / 10.0);
    assert_eq!((system.dropped_events, system.handler_errors), (0, 0));
    assert!(system.enabled);
    assert_eq!((system.events_ignored, system.malformed_events), (0, 0));
    assert_eq!(collectors.event_counts(), system.event_counts);
}

#[test]
fn complete_status_is_the_parts() {
    let collectors = scripted();
    let status = collectors.complete_status();
    assert_eq!(status.jobs, collectors.summary());
    assert_eq!(status.workers, collectors.workers());
    assert_eq!(status.tags, collectors.tag_metrics());
    assert_eq!(status.priorities, collectors.priority_metrics());
    assert_eq!(status.recent_jobs, collectors.recent_jobs(10));
    assert_eq!(status.system, SystemQuery::system(&collectors));
    let json = serde_json::to_value(&status).unwrap();
    let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "jobs",
            "priorities",
            "recent_jobs",
            "system",
            "tags",
            "workers"
        ]
    );
    assert_eq!(json["workers"]["active_count"], 1);
    assert_eq!(json["jobs"]["throughput"]["1m"], 0.05);
    assert_eq!(json["priorities"]["critical"]["cancel_rate"], 100.0);
    assert_eq!(json["system"]["event_counts"]["job.progress.updated"], 2);
}
