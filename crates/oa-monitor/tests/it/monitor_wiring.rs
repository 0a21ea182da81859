//! The monitor attaches to its emitter, detaches when dropped, reports the emitter's own
//! counters (which resets leave alone), answers through trait objects, and the global one sits
//! on the global emitter.

use std::num::NonZeroUsize;
use std::sync::Arc;

use oa_events::{Event, EventEmitter, EventFilter, EventType, event_emitter};
use oa_metrics::{JobQuery, ManualClock, MetricsControl, MetricsQuery, SystemQuery};
use oa_monitor::{Monitor, monitor};
use serde_json::json;

use crate::support::TestJob;

#[test]
fn new_attaches_and_drop_detaches() {
    let emitter = EventEmitter::new();
    let monitor = Monitor::new(&emitter);
    assert_eq!(
        emitter.stats().sync_handlers,
        1,
        "one handler for the three collectors"
    );
    assert!(monitor.emitter().is_some());
    emitter.emit(Event::new(EventType::SystemStartup));
    assert_eq!(monitor.get_complete_status().system.events_total, 1);
    drop(monitor);
    assert_eq!(emitter.stats().sync_handlers, 0);
}

#[test]
fn a_monitor_moves_between_emitters() {
    let first = EventEmitter::new();
    let second = EventEmitter::new();
    let monitor = Monitor::builder().build_detached().unwrap();
    assert!(monitor.emitter().is_none());
    assert!(!monitor.detach());
    monitor.attach(&first);
    first.emit(Event::new(EventType::SystemStartup));
    monitor.attach(&second);
    assert_eq!(first.stats().sync_handlers, 0, "detached from the first");
    first.emit(Event::new(EventType::SystemStartup));
    second.emit(Event::new(EventType::SystemShutdown));
    let counts = monitor.event_counts();
    assert_eq!(counts[&EventType::SystemStartup], 1);
    assert_eq!(counts[&EventType::SystemShutdown], 1);
    assert!(monitor.detach());
    assert_eq!(second.stats().sync_handlers, 0);
    second.emit(Event::new(EventType::SystemShutdown));
    assert_eq!(
        monitor.event_counts()[&EventType::SystemShutdown],
        1,
        "the figures stay"
    );
}

#[test]
fn a_detached_monitor_is_fed_by_hand() {
    let monitor = Monitor::builder().build_detached().unwrap();
    assert!(monitor.emitter().is_none());
    let mut job = TestJob::new("j", "low", &["t"]);
    job.attempt = 1;
    monitor.record(&job.event(EventType::JobStarted, 0.0, json!({})));
    monitor.record(&job.event(EventType::JobCompleted, 2.0, json!({})));
    assert_eq!(monitor.job_metrics().summary().avg_execution_time, 2.0);
    assert_eq!(monitor.entry_counts().jobs.recent_jobs, 1);
}

#[test]
fn emitter_counters_are_reported_and_survive_resets() {
    let emitter = EventEmitter::new();
    let monitor = Monitor::new(&emitter);
    let _stream =
        emitter.subscribe_with_capacity(EventFilter::all(), NonZeroUsize::new(1).unwrap());
    emitter.on(EventType::SystemError, |_: &Event| -> Result<(), String> {
        Err("no".into())
    });
    for _ in 0..3 {
        emitter.emit(Event::new(EventType::SystemError).with_data("message", "m"));
    }
    let system = monitor.system();
    assert_eq!(system.dropped_events, 2, "the stream holds one event");
    assert_eq!(system.handler_errors, 3);
    monitor.reset();
    let system = monitor.system();
    assert_eq!((system.dropped_events, system.handler_errors), (2, 3));
    assert_eq!((system.error_count, system.events_total), (0, 0));
}

#[test]
fn the_monitor_is_what_the_api_holds() {
    let emitter = EventEmitter::new();
    let clock = Arc::new(ManualClock::new(crate::support::t0()));
    let config = crate::support::config_with(&clock).build().unwrap();
    let monitor = Arc::new(Monitor::builder().config(config).build(&emitter).unwrap());
    let query: Arc<dyn MetricsQuery> = monitor.clone();
    let control: Arc<dyn MetricsControl> = monitor.clone();
    emitter.emit(
        Event::for_worker(EventType::WorkerRegistered, "w1").with_timestamp(crate::support::t0()),
    );
    assert!(query.worker("w1").is_ok());
    assert_eq!(query.complete_status(), monitor.get_complete_status());
    assert_eq!(query.prometheus_text(), monitor.prometheus_text());
    assert!(query.running_jobs().is_empty());
    control.disable();
    emitter.emit(Event::for_worker(EventType::WorkerHeartbeat, "w1"));
    assert_eq!(query.system().events_ignored, 1);
    assert!(!query.system().enabled);
    control.enable();
    control.reset_system();
    assert_eq!(query.system().events_total, 0);
    control.reset_workers();
    control.reset_jobs();
    assert!(control.is_enabled());
}

#[test]
fn the_global_monitor_sits_on_the_global_emitter() {
    let global = monitor();
    assert!(Arc::ptr_eq(global, monitor()), "created once");
    // Other tests of this process may use the global emitter: compare before and after.
    let before = global.job_metrics().summary().cancelled_jobs;
    event_emitter().emit(
        Event::for_job(EventType::JobCancelled, "global-monitor-test")
            .with_data("name", "n")
            .with_data("priority", "low"),
    );
    assert!(global.job_metrics().summary().cancelled_jobs > before);
    assert!(
        global
            .recent_jobs(100)
            .iter()
            .any(|job| job.job_id == "global-monitor-test")
    );
}
