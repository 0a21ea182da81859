//! A `job.progress.updated` that arrives after the job's terminal event (a durable event log
//! may deliver it late) changes no figure: the job is not tracked or running again, and no
//! count moves but `malformed_events` (a progress of a job that is not running).

use oa_events::EventType;
use oa_metrics::{Collectors, JobQuery, SystemQuery, WorkerQuery};
use serde_json::json;

use crate::support::{TestJob, attached, worker_event};

/// Every job and worker figure but `malformed_events`, serialized (so that every key is
/// compared, and the `f64` figures compare as their JSON text).
fn figures(collectors: &Collectors) -> serde_json::Value {
    let mut summary = collectors.summary();
    summary.malformed_events = 0;
    json!({
        "summary": summary,
        "tags": collectors.tag_metrics(),
        "priorities": collectors.priority_metrics(),
        "recent": collectors.recent_jobs(100),
        "running": collectors.running_jobs(),
        "workers": collectors.workers(),
        "entries": format!("{:?}", collectors.entry_counts()),
    })
}

#[test]
fn late_progress_after_the_end_of_a_job_changes_nothing() {
    for terminal in [
        EventType::JobCompleted,
        EventType::JobFailed,
        EventType::JobCancelled,
    ] {
        let (emitter, collectors, _clock) = attached(0.0);
        emitter.emit(worker_event(
            EventType::WorkerRegistered,
            "w1",
            0.0,
            json!({"host": "h"}),
        ));
        // One job that ended, and one still running beside it.
        let mut ended = TestJob::new("ended", "high", &["images"]);
        ended.worker = Some("w1".into());
        ended.attempt = 1;
        let mut running = TestJob::new("running", "high", &["images"]);
        running.worker = Some("w1".into());
        running.attempt = 1;
        for job in [&ended, &running] {
            emitter.emit(job.event(EventType::JobQueued, 1.0, json!({})));
            emitter.emit(job.event(EventType::JobStarted, 2.0, json!({})));
            emitter.emit(job.event(EventType::JobProgressUpdated, 3.0, json!({"progress": 0.5})));
        }
        emitter.emit(ended.event(terminal, 4.0, json!({})));
        let before = figures(&collectors);
        let malformed_before = collectors.summary().malformed_events;
        assert_eq!(collectors.summary().currently_running, 1, "{terminal}");

        // Late progress of the ended job, stamped before and after its end.
        for (seconds, progress) in [(3.5, 0.75), (5.0, 1.0)] {
            emitter.emit(ended.event(
                EventType::JobProgressUpdated,
                seconds,
                json!({"progress": progress}),
            ));
        }

        assert_eq!(figures(&collectors), before, "{terminal}: no figure moved");
        let running_jobs = collectors.running_jobs();
        assert_eq!(running_jobs.len(), 1, "{terminal}");
        assert_eq!(running_jobs[0].job_id, "running", "{terminal}");
        assert_eq!(collectors.summary().currently_running, 1, "{terminal}");
        assert_eq!(
            collectors.summary().malformed_events,
            malformed_before + 2,
            "{terminal}: a progress of a job that is not running is counted as malformed"
        );
        assert_eq!(
            collectors.event_counts()[&EventType::JobProgressUpdated],
            4,
            "{terminal}: the system still counts every event received"
        );
    }
}

#[test]
fn late_progress_of_a_job_cancelled_before_it_started_changes_nothing() {
    let (emitter, collectors, _clock) = attached(0.0);
    let job = TestJob::new("never-ran", "low", &["batch"]);
    emitter.emit(job.event(EventType::JobQueued, 1.0, json!({})));
    emitter.emit(job.event(EventType::JobCancelled, 2.0, json!({})));
    let before = figures(&collectors);
    emitter.emit(job.event(EventType::JobProgressUpdated, 3.0, json!({"progress": 0.1})));
    assert_eq!(figures(&collectors), before);
    assert!(collectors.running_jobs().is_empty());
    assert_eq!(collectors.summary().malformed_events, 1);
}
