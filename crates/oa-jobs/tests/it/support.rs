//! Shared setup of the engine tests.

use std::sync::Arc;
use std::time::Duration;

use oa_events::testing::RecordingSubscriber;
use oa_events::{Event, EventEmitter, EventLog};
use oa_jobs::{JobManager, JobStatus, MemoryStore, RetryPolicy};

/// Long enough for anything under paused time (virtual seconds cost nothing).
pub(crate) const WAIT: Duration = Duration::from_secs(600);

/// A manager over a memory store, with a recorder on its emitter.
pub(crate) fn engine() -> (JobManager, RecordingSubscriber) {
    let emitter = EventEmitter::new();
    let recorder = RecordingSubscriber::attach(&emitter);
    let manager = JobManager::builder(Arc::new(MemoryStore::new()))
        .emitter(emitter)
        .reap_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    (manager, recorder)
}

/// A retry policy of one second between attempts.
pub(crate) fn one_second() -> RetryPolicy {
    RetryPolicy::fixed(Duration::from_secs(1))
}

/// Waits until the job reaches `status` in the store.
pub(crate) async fn wait_status(manager: &JobManager, job_id: &str, status: JobStatus) {
    let wait = async {
        loop {
            if manager.get(job_id).await.unwrap().status == status {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .unwrap_or_else(|_| panic!("job {job_id} never reached {status}"));
}

/// Waits until the recorder holds an event of `event_type` for `job_id`.
pub(crate) async fn wait_event(
    recorder: &RecordingSubscriber,
    job_id: &str,
    event_type: oa_events::EventType,
) {
    recorder
        .wait_for(WAIT, |events| {
            events
                .iter()
                .any(|e| e.event_type == event_type && e.job_id.as_deref() == Some(job_id))
        })
        .await;
}

/// Every event `log` retains, in order (read a page at a time).
pub(crate) async fn read_whole_log(log: &dyn EventLog) -> Vec<Event> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = log.read_after(after, 1_000).await.unwrap();
        let Some(last) = page.last() else {
            return events;
        };
        after = last.seq;
        events.extend(page);
    }
}
