//! A scheduled job (here a retry) can be claimed before the engine announces that it became
//! due; a durable event log then holds the announcement (`job.queued` of the previous attempt)
//! after the new start. The collectors see that announcement as stale: every figure is the
//! one of the same events in the order a single process emits them, and nothing is counted as
//! malformed. A `job.queued` of the running attempt itself still is.

use oa_events::EventType;
use oa_metrics::{Collectors, JobQuery, WorkerQuery};
use serde_json::json;

use crate::support::{TestJob, at, attached, worker_event};

/// Every job and worker figure, serialized.
fn figures(collectors: &Collectors) -> serde_json::Value {
    json!({
        "summary": collectors.summary(),
        "tags": collectors.tag_metrics(),
        "priorities": collectors.priority_metrics(),
        "recent": collectors.recent_jobs(100),
        "running": collectors.running_jobs(),
        "workers": collectors.workers(),
        "entries": format!("{:?}", collectors.entry_counts()),
    })
}

/// A job that fails its first attempt and succeeds on the retry, with the announcement that
/// the retry became due either before the second start (`late` false) or after it.
fn run(late: bool) -> Collectors {
    let (emitter, collectors, _clock) = attached(0.0);
    emitter.emit(worker_event(
        EventType::WorkerRegistered,
        "w1",
        0.0,
        json!({"host": "h"}),
    ));
    let mut job = TestJob::new("retried", "high", &["mail"]);
    emitter.emit(job.event(EventType::JobQueued, 1.0, json!({})));
    job.worker = Some("w1".into());
    job.attempt = 1;
    emitter.emit(job.event(EventType::JobStarted, 2.0, json!({})));
    job.worker = None;
    emitter.emit(job.event(
        EventType::JobRetrying,
        3.0,
        json!({"reason": "error", "next_run_at": at(5.0).to_rfc3339()}),
    ));
    // The announcement: the job as it waited (attempt 1, no worker), at its due time.
    let due = job.event(
        EventType::JobQueued,
        5.0,
        json!({"status": "queued", "queued_at": at(5.0).to_rfc3339()}),
    );
    if !late {
        emitter.emit(due.clone());
    }
    job.worker = Some("w1".into());
    job.attempt = 2;
    emitter.emit(job.event(
        EventType::JobStarted,
        5.5,
        json!({"queued_at": at(5.0).to_rfc3339()}),
    ));
    if late {
        emitter.emit(due);
    }
    emitter.emit(job.event(EventType::JobCompleted, 6.0, json!({})));
    collectors
}

#[test]
fn the_due_announcement_of_a_job_already_restarted_changes_no_figure() {
    let in_order = run(false);
    let late = run(true);
    assert_eq!(figures(&late), figures(&in_order));
    assert_eq!(late.summary().malformed_events, 0);
    assert_eq!(late.summary().completed_jobs, 1);
}

#[test]
fn a_queued_event_of_the_running_attempt_is_still_malformed() {
    let (emitter, collectors, _clock) = attached(0.0);
    let mut job = TestJob::new("j", "low", &[]);
    emitter.emit(job.event(EventType::JobQueued, 1.0, json!({})));
    job.worker = Some("w1".into());
    job.attempt = 1;
    emitter.emit(job.event(EventType::JobStarted, 2.0, json!({})));
    emitter.emit(job.event(EventType::JobQueued, 3.0, json!({})));
    assert_eq!(collectors.summary().malformed_events, 1);
    assert_eq!(collectors.summary().currently_running, 1);
}
