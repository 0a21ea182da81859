//! Snapshot tests (insta) of `get_complete_status()` and of the Prometheus exposition after
//! the scripted sequence with fixed timestamps and a fixed clock: every key and value pinned.

use std::sync::Arc;

use oa_events::{Event, EventEmitter, EventType};
use oa_metrics::{ManualClock, MetricsControl};
use oa_monitor::Monitor;

use crate::support::{at, config_with, emit_script};

fn scripted() -> (EventEmitter, Monitor, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(at(0.0)));
    let config = config_with(&clock)
        .prometheus_tags(["images", "reports"])
        .build()
        .unwrap();
    let emitter = EventEmitter::new();
    let monitor = Monitor::builder().config(config).build(&emitter).unwrap();
    emit_script(&emitter);
    monitor.update_queue_depth(5);
    monitor.update_queue_depth(2);
    clock.set(at(10.0));
    (emitter, monitor, clock)
}

#[test]
fn complete_status_after_the_script() {
    let (_emitter, monitor, _clock) = scripted();
    insta::assert_json_snapshot!(
        "complete_status_after_the_script",
        monitor.get_complete_status()
    );
}

#[test]
fn complete_status_after_a_reset_and_more_events() {
    let (emitter, monitor, clock) = scripted();
    monitor.reset();
    clock.set(at(20.0));
    emitter.emit(Event::new(EventType::SystemShutdown).with_timestamp(at(19.0)));
    monitor.disable();
    emitter.emit(Event::new(EventType::SystemStartup).with_timestamp(at(19.5)));
    insta::assert_json_snapshot!(
        "complete_status_after_a_reset",
        monitor.get_complete_status()
    );
    assert!(!MetricsControl::is_enabled(&monitor));
}

#[test]
fn prometheus_exposition_after_the_script() {
    let (_emitter, monitor, _clock) = scripted();
    insta::assert_snapshot!("prometheus_after_the_script", monitor.prometheus_text());
}
