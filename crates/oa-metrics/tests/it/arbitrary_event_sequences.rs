//! Property test: arbitrary sequences of events (well-formed or not: missing keys, wrong
//! types, terminal events for unknown jobs, timestamps out of order) and resets never panic,
//! keep every rate within 0–100, and keep the counts consistent.

use std::sync::Arc;

use oa_events::{Event, EventType};
use oa_metrics::{
    Collectors, CompleteStatus, JobGroupMetrics, JobQuery, ManualClock, MetricsControl,
    MetricsQuery, WorkerQuery, WorkerState,
};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use crate::prometheus_exposition_parses::parse;
use crate::support::{at, config_with};

const RECENT: usize = 8;

#[derive(Debug, Clone)]
enum Op {
    Event(Box<Event>),
    Reset,
    Disable,
    Enable,
}

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-3i64..5).prop_map(Value::from),
        (-2.0f64..3.0).prop_map(Value::from),
        prop::sample::select(vec![
            "low",
            "medium",
            "high",
            "critical",
            "urgent",
            "",
            "x",
            "2026-01-01T00:00:05Z",
            "2026-01-01T00:09:59.5+00:00",
            "not a time",
            "shutdown",
        ])
        .prop_map(Value::from),
        prop::collection::vec(prop::sample::select(vec!["a", "b", "other", "c"]), 0..4)
            .prop_map(|tags| json!(tags)),
        Just(json!([1, "a"])),
        Just(json!({"kind": "E", "message": "m"})),
    ]
}

const KEYS: [&str; 16] = [
    "name",
    "priority",
    "tags",
    "attempt",
    "progress",
    "queued_at",
    "created_at",
    "error",
    "host",
    "pid",
    "max_concurrent_jobs",
    "heartbeat_interval_ms",
    "running_jobs",
    "reason",
    "message",
    "status",
];

/// Data that is mostly well-formed, with some keys replaced, removed or mistyped.
fn data() -> impl Strategy<Value = Map<String, Value>> {
    let well_formed = (
        prop::sample::select(vec!["low", "medium", "high", "critical"]),
        prop::collection::vec(prop::sample::select(vec!["a", "b", "c", "other"]), 0..3),
        1u32..4,
        prop::sample::select(vec![0.0, 0.25, 0.5, 1.0]),
        prop::sample::select(vec![100u64, 1000, 5000]),
    )
        .prop_map(|(priority, tags, attempt, progress, interval)| {
            let Value::Object(map) = json!({
                "name": "job", "priority": priority, "tags": tags, "attempt": attempt,
                "progress": progress, "heartbeat_interval_ms": interval, "running_jobs": 1,
                "message": "m", "host": "h",
            }) else {
                unreachable!()
            };
            map
        });
    let changes = prop::collection::vec(
        (
            prop::sample::select(KEYS.to_vec()),
            prop::option::of(any_value()),
        ),
        0..4,
    );
    (well_formed, changes).prop_map(|(mut map, changes)| {
        for (key, value) in changes {
            match value {
                Some(value) => map.insert(key.to_owned(), value),
                None => map.remove(key),
            };
        }
        map
    })
}

fn event() -> impl Strategy<Value = Event> {
    (
        0..EventType::COUNT,
        prop::option::weighted(
            0.95,
            prop::sample::select(vec!["j1", "j2", "j3", "j4", "j5"]),
        ),
        prop::option::weighted(0.8, prop::sample::select(vec!["w1", "w2", "w3"])),
        prop_oneof![
            20 => (0i64..600).prop_map(|s| s as f64),
            1 => Just(-4e10),
            1 => Just(2.5e11),
        ],
        data(),
    )
        .prop_map(|(kind, job, worker, seconds, data)| {
            let mut event = Event::new(EventType::ALL[kind])
                .with_timestamp(at(seconds))
                .with_data_map(data);
            event.job_id = job.map(str::to_owned);
            event.worker_id = worker.map(str::to_owned);
            event
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        50 => event().prop_map(|e| Op::Event(Box::new(e))),
        1 => Just(Op::Reset),
        1 => Just(Op::Disable),
        1 => Just(Op::Enable),
    ]
}

fn check_group(what: &str, group: &JobGroupMetrics) {
    for rate in [group.success_rate, group.failure_rate, group.cancel_rate] {
        assert!((0.0..=100.0).contains(&rate), "{what}: rate {rate}");
    }
    let finished = group.completed_jobs + group.failed_jobs + group.cancelled_jobs;
    let sum = group.success_rate + group.failure_rate + group.cancel_rate;
    if finished == 0 {
        assert_eq!(sum, 0.0, "{what}");
    } else {
        assert!((sum - 100.0).abs() < 1e-6, "{what}: rates add up to {sum}");
    }
    assert!(
        group.currently_running + group.completed_jobs + group.failed_jobs <= group.total_jobs,
        "{what}: {group:?}"
    );
    let times = [
        group.min_execution_time,
        group.p50_execution_time,
        group.p90_execution_time,
        group.p95_execution_time,
        group.p99_execution_time,
        group.max_execution_time,
    ];
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{what}: {times:?}");
    assert!(times.iter().all(|t| t.is_finite() && *t >= 0.0), "{what}");
    assert!(
        group.avg_execution_time >= group.min_execution_time - 1e-9
            && group.avg_execution_time <= group.max_execution_time + 1e-9,
        "{what}: avg outside min–max"
    );
    assert!(
        group.avg_wait_time >= 0.0 && group.p95_wait_time >= 0.0,
        "{what}"
    );
}

/// Checks the invariants; `thorough` also renders the exposition and round-trips the JSON.
fn check(
    collectors: &Collectors,
    events_since_reset: u64,
    finished_since_reset: u64,
    thorough: bool,
) {
    let status: CompleteStatus = collectors.complete_status();
    let jobs = &status.jobs;
    let mut all = JobGroupMetrics::default();
    for (priority, group) in &status.priorities {
        check_group(priority.as_str(), group);
        all.total_jobs += group.total_jobs;
        all.completed_jobs += group.completed_jobs;
        all.failed_jobs += group.failed_jobs;
        all.cancelled_jobs += group.cancelled_jobs;
        all.retries += group.retries;
        all.currently_running += group.currently_running;
    }
    for (tag, group) in &status.tags {
        check_group(tag, group);
    }
    assert_eq!(
        (
            all.total_jobs,
            all.completed_jobs,
            all.failed_jobs,
            all.cancelled_jobs,
            all.retries,
            all.currently_running
        ),
        (
            jobs.total_jobs,
            jobs.completed_jobs,
            jobs.failed_jobs,
            jobs.cancelled_jobs,
            jobs.retries,
            jobs.currently_running
        ),
        "the priorities add up to the summary"
    );
    let as_group =
        serde_json::from_value::<JobGroupMetrics>(serde_json::to_value(jobs).unwrap()).unwrap();
    check_group("summary", &as_group);
    assert_eq!(
        collectors.running_jobs().len() as u64,
        jobs.currently_running
    );
    let finished = jobs.completed_jobs + jobs.failed_jobs + jobs.cancelled_jobs;
    assert_eq!(finished, finished_since_reset);
    assert_eq!(
        collectors.recent_jobs(100).len() as u64,
        finished.min(RECENT as u64)
    );
    for rate in [
        jobs.throughput.last_1m,
        jobs.throughput.last_5m,
        jobs.throughput.last_15m,
    ] {
        assert!(rate.is_finite() && rate >= 0.0);
    }

    assert_eq!(status.system.events_total, events_since_reset);
    let active = status
        .workers
        .workers
        .values()
        .filter(|w| w.status != WorkerState::Offline)
        .count();
    assert_eq!(status.workers.active_count, active as u64);
    for worker in status.workers.workers.values() {
        assert!(worker.uptime >= 0.0 && worker.last_heartbeat >= 0.0);
        assert_eq!(collectors.worker(&worker.worker_id).as_ref(), Ok(worker));
    }

    if thorough {
        let json = serde_json::to_string(&status).unwrap();
        let back: CompleteStatus = serde_json::from_str(&json).unwrap();
        assert_eq!(back, status, "every float is finite");
        parse(&collectors.prometheus_text()).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_sequences_keep_the_invariants(ops in prop::collection::vec(op(), 1..60)) {
        let clock = Arc::new(ManualClock::new(at(600.0)));
        let collectors = Collectors::new(
            config_with(&clock).recent_jobs_capacity(RECENT).status_recent_jobs(RECENT).max_tags(2).build().unwrap(),
        );
        let mut events = 0u64;
        let mut finished_before = 0u64;
        let mut enabled = true;
        for op in ops {
            match op {
                Op::Event(event) => {
                    let before = collectors.summary();
                    collectors.record(&event);
                    let after = collectors.summary();
                    if enabled {
                        events += 1;
                    } else {
                        prop_assert_eq!(&after, &before, "nothing changes while disabled");
                    }
                    finished_before = after.completed_jobs + after.failed_jobs + after.cancelled_jobs;
                }
                Op::Reset => {
                    collectors.reset();
                    events = 0;
                    finished_before = 0;
                }
                Op::Disable => {
                    collectors.disable();
                    enabled = false;
                }
                Op::Enable => {
                    collectors.enable();
                    enabled = true;
                }
            }
            check(&collectors, events, finished_before, false);
        }
        check(&collectors, events, finished_before, true);
    }
}
