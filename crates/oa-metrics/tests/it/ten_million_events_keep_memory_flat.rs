//! The memory test: 10 million events of every kind (new jobs, abandoned jobs, new tags,
//! new workers) leave the collectors' entry counts within their bounds, flat from the first
//! million on.

use std::time::Duration;

use chrono::DateTime;
use oa_events::{Event, EventType};
use oa_metrics::{Collectors, EntryCounts, MetricsConfig};
use serde_json::json;

use crate::support::t0;

const EVENTS: u64 = 10_000_000;
const THREADS: u64 = 2;

/// Reusable events whose ids and timestamps are rewritten in place, so that the test measures
/// the collectors and not event construction.
struct Templates {
    queued: Event,
    started: Event,
    progress: Event,
    completed: Event,
    failed: Event,
    heartbeat: Event,
    offline: Event,
}

fn templates() -> Templates {
    let job = |event_type| {
        Event::for_job(event_type, "")
            .with_worker_id("worker-0")
            .with_data("name", "churn")
            .with_data("priority", "medium")
            .with_data("tags", json!(["tag-0", "tag-1"]))
            .with_data("attempt", 1)
    };
    Templates {
        queued: job(EventType::JobQueued),
        started: job(EventType::JobStarted),
        progress: job(EventType::JobProgressUpdated).with_data("progress", 0.5),
        completed: job(EventType::JobCompleted),
        failed: job(EventType::JobFailed),
        heartbeat: Event::for_worker(EventType::WorkerHeartbeat, "").with_data("running_jobs", 1),
        offline: Event::for_worker(EventType::WorkerOffline, "").with_data("reason", "shutdown"),
    }
}

fn set_id(slot: &mut Option<String>, prefix: &str, n: u64) {
    use std::fmt::Write;
    let id = slot.get_or_insert_with(String::new);
    id.clear();
    id.push_str(prefix);
    let _ = write!(id, "{n}");
}

/// Feeds `events` events from thread `lane`: each job is queued, started, updated and
/// finished (every 7th is abandoned after its start; every 11th fails); every 16th job
/// carries two brand-new tags; a heartbeat follows each job, from a new worker every 4th
/// job, and every 10th such worker goes offline. Time advances 1 ms per event.
fn feed(collectors: &Collectors, lane: u64, events: u64) {
    let mut t = templates();
    let mut sent = 0u64;
    let mut job = 0u64;
    while sent < events {
        job += 1;
        let id = job * THREADS + lane;
        let micros = i64::try_from(sent * 1000).unwrap_or(i64::MAX);
        let now = t0() + chrono::Duration::microseconds(micros);
        let tags = if job.is_multiple_of(16) {
            json!([format!("new-{id}"), format!("new-{id}-b")])
        } else {
            json!(["tag-0", "tag-1"])
        };
        let abandoned = job.is_multiple_of(7);
        let end = if job.is_multiple_of(11) {
            &mut t.failed
        } else {
            &mut t.completed
        };
        let steps = [
            Some(&mut t.queued),
            Some(&mut t.started),
            Some(&mut t.progress),
            (!abandoned).then_some(end),
        ];
        for (i, event) in steps.into_iter().flatten().enumerate() {
            set_id(&mut event.job_id, "job-", id);
            event.timestamp = now + chrono::Duration::microseconds(i as i64 * 250);
            if i == 0 && (job.is_multiple_of(16) || job % 16 == 1) {
                // Only the first event of a job reads the tags; the usual ones are restored
                // after a job with new tags.
                event.data.insert("tags".into(), tags.clone());
            }
            collectors.record(event);
            sent += 1;
        }
        let worker = if job.is_multiple_of(4) { id } else { lane };
        let worker_event = if job.is_multiple_of(40) {
            &mut t.offline
        } else {
            &mut t.heartbeat
        };
        set_id(&mut worker_event.worker_id, "worker-", worker);
        worker_event.timestamp = now;
        collectors.record(worker_event);
        sent += 1;
    }
}

fn within_bounds(counts: EntryCounts, config: &MetricsConfig) {
    assert!(
        counts.jobs.in_flight <= config.max_in_flight(),
        "{counts:?}"
    );
    assert!(
        counts.jobs.recent_jobs <= config.recent_jobs_capacity(),
        "{counts:?}"
    );
    assert!(counts.jobs.tags <= config.max_tags(), "{counts:?}");
    assert!(counts.workers.workers <= config.max_workers(), "{counts:?}");
    assert!(
        counts.workers.offline_workers <= config.max_offline_workers(),
        "{counts:?}"
    );
}

#[test]
fn ten_million_events() {
    let config = MetricsConfig::builder()
        .recent_jobs_capacity(1000)
        .max_tags(64)
        .max_in_flight(5000)
        .in_flight_horizon(Duration::from_secs(60))
        .max_workers(500)
        .max_offline_workers(50)
        .clock(std::sync::Arc::new(oa_metrics::ManualClock::new(
            DateTime::from_timestamp(4_000_000_000, 0).unwrap(),
        )))
        .build()
        .unwrap();
    let collectors = Collectors::new(config.clone());

    // The first million, then the other nine: the entry counts must not grow between them.
    let first = EVENTS / 10;
    std::thread::scope(|scope| {
        for lane in 0..THREADS {
            let collectors = &collectors;
            scope.spawn(move || feed(collectors, lane, first / THREADS));
        }
    });
    let after_first = collectors.entry_counts();
    within_bounds(after_first, &config);

    std::thread::scope(|scope| {
        for lane in 0..THREADS {
            let collectors = &collectors;
            scope.spawn(move || feed(collectors, lane + THREADS, (EVENTS - first) / THREADS));
        }
    });
    let after_all = collectors.entry_counts();
    within_bounds(after_all, &config);

    let status = collectors.complete_status();
    assert!(status.system.events_total >= EVENTS);
    assert!(status.jobs.total_jobs > 2_000_000);
    assert!(
        status.jobs.evicted_jobs > 200_000,
        "abandoned jobs were evicted"
    );
    assert!(status.jobs.overflowed_tags > 0);
    assert_eq!(after_all.jobs.recent_jobs, after_first.jobs.recent_jobs);
    assert_eq!(after_all.jobs.tags, after_first.jobs.tags);
    assert!(
        after_all.jobs.histogram_counters <= after_first.jobs.histogram_counters * 2,
        "histograms only grow with the largest value, not the count: {after_first:?} → {after_all:?}"
    );
    assert!(status.workers.workers.len() <= config.max_workers());
}
