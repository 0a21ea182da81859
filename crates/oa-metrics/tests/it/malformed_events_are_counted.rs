//! Malformed events are counted in `malformed_events`, never panic, and change no other
//! figure (except the system's count of events received).

use oa_events::{Event, EventType};
use oa_metrics::{
    Collectors, JobGroupMetrics, JobQuery, JobSummary, Priority, RecentJob, RunningJob,
    SystemQuery, WorkerQuery, WorkersSnapshot,
};
use serde_json::json;

use crate::support::{TestJob, at, attached, worker_event};

type Figures = (
    JobSummary,
    std::collections::BTreeMap<String, JobGroupMetrics>,
    std::collections::BTreeMap<Priority, JobGroupMetrics>,
    Vec<RecentJob>,
    Vec<RunningJob>,
    WorkersSnapshot,
    u64,
);

/// Every figure but the malformed counts and the event counts.
fn figures(collectors: &Collectors) -> Figures {
    let mut summary = collectors.summary();
    summary.malformed_events = 0;
    let system = SystemQuery::system(collectors);
    (
        summary,
        collectors.tag_metrics(),
        collectors.priority_metrics(),
        collectors.recent_jobs(100),
        collectors.running_jobs(),
        collectors.workers(),
        system.error_count + system.queue_depth,
    )
}

/// A running job `base`, a queued job `waiting`, a worker `w1`, a finished job `done`.
fn baseline() -> (oa_events::EventEmitter, Collectors) {
    let (emitter, collectors, clock) = attached(0.0);
    let mut base = TestJob::new("base", "high", &["a"]);
    base.worker = Some("w1".into());
    base.attempt = 1;
    let waiting = TestJob::new("waiting", "low", &["b"]);
    let mut done = TestJob::new("done", "medium", &["a", "b"]);
    done.attempt = 1;
    emitter.emit(worker_event(
        EventType::WorkerRegistered,
        "w1",
        0.0,
        json!({"host": "h"}),
    ));
    emitter.emit(base.event(EventType::JobQueued, 1.0, json!({})));
    emitter.emit(base.event(EventType::JobStarted, 2.0, json!({})));
    emitter.emit(waiting.event(EventType::JobQueued, 2.0, json!({})));
    emitter.emit(done.event(EventType::JobStarted, 2.0, json!({})));
    emitter.emit(done.event(EventType::JobCompleted, 4.0, json!({})));
    clock.set(at(5.0));
    (emitter, collectors)
}

fn cases() -> Vec<(&'static str, Event)> {
    let base = {
        let mut job = TestJob::new("base", "high", &["a"]);
        job.worker = Some("w1".into());
        job
    };
    let mut fresh = TestJob::new("fresh", "medium", &[]);
    fresh.attempt = 1;
    let waiting = TestJob::new("waiting", "low", &["b"]);
    let unknown = TestJob::new("ghost", "medium", &[]);
    let mut no_id = fresh.event(EventType::JobStarted, 3.0, json!({}));
    no_id.job_id = None;
    let mut cases = vec![
        ("a job event without job_id", no_id),
        ("a start without name", {
            let mut e = fresh.event(EventType::JobStarted, 3.0, json!({}));
            e.data.remove("name");
            e
        }),
        (
            "a start with a name that is not a string",
            fresh.event(EventType::JobStarted, 3.0, json!({"name": 7})),
        ),
        (
            "a start with an unknown priority",
            fresh.event(EventType::JobStarted, 3.0, json!({"priority": "urgent"})),
        ),
        ("a start without priority", {
            let mut e = fresh.event(EventType::JobStarted, 3.0, json!({}));
            e.data.remove("priority");
            e
        }),
        (
            "a queued event with tags as a string",
            fresh.event(EventType::JobQueued, 3.0, json!({"tags": "a"})),
        ),
        (
            "a start with a tag that is not a string",
            fresh.event(EventType::JobStarted, 3.0, json!({"tags": ["a", 1]})),
        ),
        (
            "a start with attempt 0",
            fresh.event(EventType::JobStarted, 3.0, json!({"attempt": 0})),
        ),
        (
            "a start with attempt as text",
            fresh.event(EventType::JobStarted, 3.0, json!({"attempt": "two"})),
        ),
        (
            "a start with created_at that is no time",
            fresh.event(
                EventType::JobStarted,
                3.0,
                json!({"created_at": "yesterday"}),
            ),
        ),
        (
            "a completion of a job never seen",
            unknown.event(EventType::JobCompleted, 3.0, json!({})),
        ),
        (
            "a failure of a job never seen",
            unknown.event(EventType::JobFailed, 3.0, json!({})),
        ),
        (
            "progress of a job never seen",
            unknown.event(EventType::JobProgressUpdated, 3.0, json!({"progress": 0.5})),
        ),
        (
            "progress above 1.0",
            base.event(EventType::JobProgressUpdated, 3.0, json!({"progress": 75})),
        ),
        (
            "progress as text",
            base.event(
                EventType::JobProgressUpdated,
                3.0,
                json!({"progress": "half"}),
            ),
        ),
        (
            "progress of a job not started",
            waiting.event(EventType::JobProgressUpdated, 3.0, json!({"progress": 0.5})),
        ),
        (
            "a completion of a job never started",
            waiting.event(EventType::JobCompleted, 3.0, json!({})),
        ),
        (
            "a final failure of a job never started",
            waiting.event(EventType::JobFailed, 3.0, json!({})),
        ),
        (
            "a second start of a running job",
            base.event(EventType::JobStarted, 3.0, json!({"attempt": 2})),
        ),
        (
            "a running job queued again without a retry",
            base.event(EventType::JobQueued, 3.0, json!({})),
        ),
        (
            "a retry of a job never seen, with a bad priority",
            unknown.event(EventType::JobRetrying, 3.0, json!({"priority": 3})),
        ),
        ("a cancellation of a job never seen, without name", {
            let mut e = unknown.event(EventType::JobCancelled, 3.0, json!({}));
            e.data.remove("name");
            e
        }),
        (
            "a heartbeat without worker_id",
            Event::new(EventType::WorkerHeartbeat).with_timestamp(at(3.0)),
        ),
        (
            "a claim without worker_id",
            Event::new(EventType::WorkerClaimedJob).with_timestamp(at(3.0)),
        ),
        (
            "an offline event without worker_id",
            Event::new(EventType::WorkerOffline).with_timestamp(at(3.0)),
        ),
        (
            "a registration with a zero heartbeat interval",
            worker_event(
                EventType::WorkerRegistered,
                "w1",
                3.0,
                json!({"heartbeat_interval_ms": 0}),
            ),
        ),
        (
            "a registration with a host that is a number",
            worker_event(EventType::WorkerRegistered, "w1", 3.0, json!({"host": 5})),
        ),
        (
            "a registration with a negative pid",
            worker_event(EventType::WorkerRegistered, "w1", 3.0, json!({"pid": -1})),
        ),
        (
            "a heartbeat with running_jobs as text",
            worker_event(
                EventType::WorkerHeartbeat,
                "w1",
                3.0,
                json!({"running_jobs": "two"}),
            ),
        ),
        (
            "an offline event with a reason that is a list",
            worker_event(
                EventType::WorkerOffline,
                "w1",
                3.0,
                json!({"reason": ["x"]}),
            ),
        ),
    ];
    cases.shrink_to_fit();
    cases
}

#[test]
fn the_well_formed_start_of_the_cases_is_not_malformed() {
    let (emitter, collectors) = baseline();
    let mut fresh = TestJob::new("fresh", "medium", &[]);
    fresh.attempt = 1;
    emitter.emit(fresh.event(EventType::JobStarted, 3.0, json!({})));
    assert_eq!(collectors.summary().malformed_events, 0);
    assert_eq!(collectors.summary().total_jobs, 3);
}

#[test]
fn each_malformed_event_is_counted_once_and_changes_nothing_else() {
    for (what, event) in cases() {
        let (emitter, collectors) = baseline();
        let before = figures(&collectors);
        let events_before = SystemQuery::system(&collectors).events_total;
        assert_eq!(
            SystemQuery::system(&collectors).malformed_events,
            0,
            "{what}"
        );
        emitter.emit(event);
        assert_eq!(
            SystemQuery::system(&collectors).malformed_events,
            1,
            "{what}: counted once"
        );
        assert_eq!(
            figures(&collectors),
            before,
            "{what}: no other figure changed"
        );
        assert_eq!(
            SystemQuery::system(&collectors).events_total,
            events_before + 1,
            "{what}: still an event received"
        );
    }
}

#[test]
fn a_system_error_without_message_is_an_error_and_malformed() {
    let (emitter, collectors) = baseline();
    emitter.emit(Event::new(EventType::SystemError).with_data("message", 3));
    let system = SystemQuery::system(&collectors);
    assert_eq!((system.error_count, system.malformed_events), (1, 1));
    assert_eq!(collectors.system_metrics().malformed_events(), 1);
}

#[test]
fn a_completion_stamped_before_its_start_counts_without_a_time() {
    let (emitter, collectors) = baseline();
    let base = TestJob::new("base", "high", &["a"]);
    emitter.emit(base.event(EventType::JobCompleted, 1.0, json!({})));
    let summary = collectors.summary();
    assert_eq!(summary.malformed_events, 1);
    assert_eq!(summary.completed_jobs, 2, "the job did complete");
    assert_eq!(summary.currently_running, 0);
    assert_eq!(
        summary.avg_execution_time, 2.0,
        "only `done`'s 2 s is a time"
    );
    assert_eq!(summary.min_execution_time, 2.0);
    assert_eq!(collectors.recent_jobs(1)[0].execution_time, None);
}

#[test]
fn a_start_queued_after_it_began_counts_without_a_wait() {
    let (emitter, collectors) = baseline();
    let mut fresh = TestJob::new("fresh", "medium", &[]);
    fresh.attempt = 1;
    emitter.emit(fresh.event(
        EventType::JobStarted,
        3.0,
        json!({"queued_at": "2026-01-01T00:00:04Z"}),
    ));
    let summary = collectors.summary();
    assert_eq!(summary.malformed_events, 1);
    assert_eq!(summary.total_jobs, 3);
    assert_eq!(summary.currently_running, 2);
    assert_eq!(summary.avg_wait_time, 1.0, "base's 1 s only");
}

#[test]
fn the_queued_at_key_is_the_fallback_of_the_wait() {
    let (emitter, collectors) = baseline();
    let mut fresh = TestJob::new("fresh", "medium", &[]);
    fresh.attempt = 1;
    emitter.emit(fresh.event(
        EventType::JobStarted,
        3.0,
        json!({"queued_at": "2026-01-01T00:00:00Z"}),
    ));
    let summary = collectors.summary();
    assert_eq!(summary.malformed_events, 0);
    assert_eq!(summary.avg_wait_time, 2.0, "(1 s + 3 s) / 2");
}

#[test]
fn pause_and_resume_of_unknown_jobs_are_ignored_not_malformed() {
    let (emitter, collectors) = baseline();
    let before = figures(&collectors);
    let ghost = TestJob::new("ghost", "medium", &[]);
    emitter.emit(ghost.event(EventType::JobPaused, 3.0, json!({})));
    emitter.emit(ghost.event(EventType::JobResumed, 3.0, json!({})));
    assert_eq!(SystemQuery::system(&collectors).malformed_events, 0);
    assert_eq!(figures(&collectors), before);
}

#[test]
fn a_cancellation_of_a_job_never_seen_is_a_real_cancellation() {
    let (emitter, collectors) = baseline();
    let ghost = TestJob::new("ghost", "critical", &["c"]);
    emitter.emit(ghost.event(EventType::JobCancelled, 3.0, json!({})));
    let summary = collectors.summary();
    assert_eq!(
        (
            summary.cancelled_jobs,
            summary.total_jobs,
            summary.malformed_events
        ),
        (1, 2, 0)
    );
    assert_eq!(collectors.tag_metrics()["c"].cancelled_jobs, 1);
    assert_eq!(collectors.recent_jobs(1)[0].job_id, "ghost");
}

#[test]
fn a_retry_of_a_job_never_seen_is_counted_in_its_groups() {
    let (emitter, collectors) = baseline();
    let ghost = TestJob::new("ghost", "low", &["c"]);
    emitter.emit(ghost.event(EventType::JobRetrying, 3.0, json!({})));
    assert_eq!(collectors.summary().retries, 1);
    assert_eq!(collectors.priority_metrics()[&Priority::Low].retries, 1);
    assert_eq!(collectors.tag_metrics()["c"].retries, 1);
    assert_eq!(collectors.summary().malformed_events, 0);
}
