//! The Prometheus text exposition (format 0.0.4), written by hand from the collectors'
//! figures: names with the `oa_` prefix, base units (seconds), counters ending in `_total`,
//! bounded label sets (priorities, outcomes, worker states, event types, allow-listed tags;
//! never job or worker ids).

use std::fmt::Write;

use oa_events::EventType;

use crate::histogram::BUCKET_BOUNDS_MICROS;
use crate::jobs::{GroupFigures, HistogramFigures, JobExposition};
use crate::snapshot::SystemSnapshot;
use crate::types::{JobOutcome, WorkerState};

/// The `Content-Type` of the exposition.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escapes a label value: backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A text being written; `fmt::Write` into a `String` cannot fail.
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One sample; `labels` are `(name, value)` pairs, values escaped here.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], figures: &HistogramFigures) {
        let mut cumulative = 0;
        let bucket = format!("{name}_bucket");
        for (i, count) in figures.buckets.iter().enumerate() {
            cumulative += count;
            let le = match BUCKET_BOUNDS_MICROS.get(i) {
                Some(&micros) => (micros as f64 / 1e6).to_string(),
                None => "+Inf".to_owned(),
            };
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative);
        }
        self.sample(&format!("{name}_sum"), labels, figures.sum_seconds);
        self.sample(&format!("{name}_count"), labels, figures.count);
    }
}

/// Renders the exposition.
pub(crate) fn render(
    jobs: &JobExposition,
    workers_by_state: [u64; 3],
    system: &SystemSnapshot,
) -> String {
    let mut out = Exposition {
        text: String::with_capacity(16 * 1024),
    };
    render_jobs(&mut out, jobs);
    render_tags(&mut out, &jobs.tags);

    out.family(
        "oa_queue_depth",
        "gauge",
        "Jobs waiting in the queue, as last sampled.",
    );
    out.sample("oa_queue_depth", &[], system.queue_depth);
    out.family(
        "oa_queue_depth_max",
        "gauge",
        "The largest queue depth sampled since the collectors were created or reset.",
    );
    out.sample("oa_queue_depth_max", &[], system.max_queue_depth);

    out.family(
        "oa_workers",
        "gauge",
        "Workers by liveness (online, stale after one missed heartbeat window, offline).",
    );
    for (state, count) in WorkerState::ALL.iter().zip(workers_by_state) {
        out.sample("oa_workers", &[("state", state.as_str())], count);
    }

    out.family("oa_events_total", "counter", "Events recorded, by type.");
    for event_type in EventType::ALL {
        let count = system.event_counts.get(&event_type).copied().unwrap_or(0);
        out.sample("oa_events_total", &[("type", event_type.as_str())], count);
    }
    let counters: [(&str, &str, u64); 5] = [
        (
            "oa_events_dropped_total",
            "Deliveries the emitter dropped (lagging streams, full async handler queues).",
            system.dropped_events,
        ),
        (
            "oa_event_handler_errors_total",
            "Event handler failures (errors and panics) counted by the emitter.",
            system.handler_errors,
        ),
        (
            "oa_events_ignored_total",
            "Events that arrived while collection was disabled.",
            system.events_ignored,
        ),
        (
            "oa_events_malformed_total",
            "Events the collectors could not use (missing or mistyped data, unknown job).",
            system.malformed_events,
        ),
        (
            "oa_system_errors_total",
            "system.error events.",
            system.error_count,
        ),
    ];
    for (name, help, value) in counters {
        out.family(name, "counter", help);
        out.sample(name, &[], value);
    }
    out.family(
        "oa_uptime_seconds",
        "gauge",
        "Seconds since the collectors were created or reset.",
    );
    out.sample("oa_uptime_seconds", &[], system.uptime);
    out.family(
        "oa_metrics_enabled",
        "gauge",
        "1 while collection is enabled, 0 while disabled.",
    );
    out.sample("oa_metrics_enabled", &[], u8::from(system.enabled));
    out.text
}

fn render_jobs(out: &mut Exposition, jobs: &JobExposition) {
    let by_priority = |out: &mut Exposition, name: &str, value: fn(&GroupFigures) -> u64| {
        for (priority, figures) in &jobs.priorities {
            out.sample(name, &[("priority", priority.as_str())], value(figures));
        }
    };
    out.family(
        "oa_jobs_started_total",
        "counter",
        "Jobs started at least once (a retry or a resume is not a new job).",
    );
    by_priority(out, "oa_jobs_started_total", |g| g.started);
    out.family(
        "oa_jobs_finished_total",
        "counter",
        "Jobs finished, by outcome (completed, failed for good, cancelled) and priority.",
    );
    for outcome in JobOutcome::ALL {
        for (priority, figures) in &jobs.priorities {
            let value = match outcome {
                JobOutcome::Completed => figures.completed,
                JobOutcome::Failed => figures.failed,
                JobOutcome::Cancelled => figures.cancelled,
            };
            let labels = [
                ("outcome", outcome.as_str()),
                ("priority", priority.as_str()),
            ];
            out.sample("oa_jobs_finished_total", &labels, value);
        }
    }
    out.family(
        "oa_job_retries_total",
        "counter",
        "job.retrying events: attempts that failed and will be retried.",
    );
    by_priority(out, "oa_job_retries_total", |g| g.retries);
    out.family(
        "oa_jobs_running",
        "gauge",
        "Jobs whose attempt has started and not ended (running or paused).",
    );
    by_priority(out, "oa_jobs_running", |g| g.running);

    out.family(
        "oa_job_execution_seconds",
        "histogram",
        "Seconds from job.started to job.completed of completed jobs (event timestamps).",
    );
    for (priority, figures) in &jobs.priorities {
        let labels = [("priority", priority.as_str())];
        out.histogram("oa_job_execution_seconds", &labels, &figures.execution);
    }
    out.family(
        "oa_job_wait_seconds",
        "histogram",
        "Seconds from job.queued to job.started, per started attempt.",
    );
    for (priority, figures) in &jobs.priorities {
        let labels = [("priority", priority.as_str())];
        out.histogram("oa_job_wait_seconds", &labels, &figures.wait);
    }

    out.family(
        "oa_jobs_completed_per_second",
        "gauge",
        "Completions per second over the last 1, 5 and 15 minutes of event time.",
    );
    let windows = [
        ("1m", jobs.throughput.last_1m),
        ("5m", jobs.throughput.last_5m),
        ("15m", jobs.throughput.last_15m),
    ];
    for (window, rate) in windows {
        out.sample("oa_jobs_completed_per_second", &[("window", window)], rate);
    }
    out.family(
        "oa_jobs_in_flight",
        "gauge",
        "Unfinished jobs tracked by the collector (queued, running, paused, waiting to retry).",
    );
    out.sample("oa_jobs_in_flight", &[], jobs.in_flight);
    out.family(
        "oa_jobs_evicted_total",
        "counter",
        "Unfinished jobs forgotten after the in-flight horizon or over the in-flight bound.",
    );
    out.sample("oa_jobs_evicted_total", &[], jobs.evicted);
    out.family(
        "oa_job_tags_overflowed_total",
        "counter",
        "Tag occurrences folded into the `other` row because max_tags tags were known.",
    );
    out.sample("oa_job_tags_overflowed_total", &[], jobs.overflowed_tags);
}

/// The allow-listed tags' counts.
fn render_tags(out: &mut Exposition, tags: &[(String, GroupFigures)]) {
    out.family(
        "oa_tag_jobs_started_total",
        "counter",
        "Jobs started at least once, for the tags of the allow-list.",
    );
    for (tag, figures) in tags {
        out.sample(
            "oa_tag_jobs_started_total",
            &[("tag", tag)],
            figures.started,
        );
    }
    out.family(
        "oa_tag_jobs_finished_total",
        "counter",
        "Jobs finished by outcome, for the tags of the allow-list.",
    );
    for (tag, figures) in tags {
        for (outcome, value) in [
            (JobOutcome::Completed, figures.completed),
            (JobOutcome::Failed, figures.failed),
            (JobOutcome::Cancelled, figures.cancelled),
        ] {
            let labels = [("tag", tag.as_str()), ("outcome", outcome.as_str())];
            out.sample("oa_tag_jobs_finished_total", &labels, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label("line\nbreak"), "line\\nbreak");
        assert_eq!(escape_label("plain"), "plain");
    }
}
