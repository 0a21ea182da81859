//! `oa demo`: the whole system in one process with a stream of jobs of every kind.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use indicatif::{ProgressBar, ProgressStyle};
use oa_jobs::{JobManager, JobStatus, NewJob, Priority, RetryPolicy};
use oa_metrics::JobQuery as _;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::system::System;

/// The settings of the job stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Workload {
    /// New jobs per second.
    pub(crate) rate: f64,
}

/// Creates jobs until `stop`; cancels, pauses and resumes some of them as it goes.
pub(crate) async fn generate(manager: JobManager, workload: Workload, stop: CancellationToken) {
    let period = Duration::from_secs_f64(1.0 / workload.rate.clamp(0.1, 10_000.0));
    let mut ticks = tokio::time::interval(period);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        n += 1;
        let (job, action) = next_job(n, &manager);
        match manager.create(job).await {
            Ok(created) => {
                if let Some(action) = action {
                    tokio::spawn(act_later(manager.clone(), created.id, action, stop.clone()));
                }
            }
            Err(error) => tracing::warn!(%error, "the demo could not create a job"),
        }
    }
}

/// What the demo does to a job after it was created.
#[derive(Debug, Clone, Copy)]
enum Action {
    /// Cancel it after a while (running or not).
    Cancel(Duration),
    /// Pause it, then resume it.
    PauseResume(Duration, Duration),
}

fn priority(n: u64) -> Priority {
    match n % 10 {
        0 => Priority::Critical,
        1 | 2 => Priority::High,
        3..=5 => Priority::Medium,
        _ => Priority::Low,
    }
}

fn next_job(n: u64, manager: &JobManager) -> (NewJob, Option<Action>) {
    let p = priority(n.wrapping_mul(7));
    let retry = RetryPolicy::fixed(Duration::from_secs(1));
    match n % 20 {
        0..=7 => (
            NewJob::new("send_email")
                .payload(json!({ "to": format!("user{}@example.com", n % 97) }))
                .tags(["email", "notifications"])
                .priority(p)
                .max_retries(2)
                .retry_policy(retry),
            None,
        ),
        8..=10 => (
            NewJob::new("generate_report")
                .payload(json!({ "ms": 1000 + (n % 5) * 500 }))
                .tags(["reports"])
                .priority(p)
                .timeout(Duration::from_secs(30)),
            None,
        ),
        11 | 12 => (
            NewJob::new("flaky_api")
                .payload(json!({ "succeed_on_attempt": 1 + n % 3 }))
                .tags(["integrations"])
                .priority(p)
                .max_retries(3)
                .retry_policy(retry),
            None,
        ),
        13 => (
            NewJob::new("import_csv")
                .tags(["imports"])
                .priority(p)
                .max_retries(1)
                .retry_policy(retry),
            None,
        ),
        14 => (
            NewJob::new("video_encode").tags(["media"]).priority(p),
            Some(Action::PauseResume(
                Duration::from_secs(2),
                Duration::from_secs(3),
            )),
        ),
        15 => (
            NewJob::new("export_archive").tags(["exports"]).priority(p),
            Some(Action::Cancel(Duration::from_secs(3))),
        ),
        16 => (
            NewJob::new("send_email")
                .payload(json!({ "to": "later@example.com" }))
                .tags(["email", "scheduled"])
                .priority(p)
                .run_at(manager.clock().now() + TimeDelta::seconds(5)),
            None,
        ),
        _ => (
            NewJob::new("sleep")
                .payload(json!({ "ms": 300 + (n % 7) * 100, "steps": 3 }))
                .tags(["batch"])
                .priority(p),
            None,
        ),
    }
}

async fn act_later(manager: JobManager, job_id: String, action: Action, stop: CancellationToken) {
    let wait = |d: Duration| {
        let stop = stop.clone();
        async move {
            tokio::select! {
                () = tokio::time::sleep(d) => true,
                () = stop.cancelled() => false,
            }
        }
    };
    match action {
        Action::Cancel(after) => {
            if wait(after).await {
                // The job may have finished already: then there is nothing to cancel.
                let _ = manager.cancel(&job_id).await;
            }
        }
        Action::PauseResume(after, paused_for) => {
            if wait(after).await && manager.pause(&job_id).await.is_ok() {
                // Resume even when the demo stops, so that no job stays paused.
                let _ = wait(paused_for).await;
                let _ = manager.resume(&job_id).await;
            }
        }
    }
}

/// A one-line live view on the terminal (hidden when stderr is not a terminal).
pub(crate) fn progress(system: &System, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let monitor = Arc::clone(&system.monitor);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let summary = monitor.summary();
            let queue = monitor.system_metrics().snapshot().queue_depth;
            bar.set_message(format!(
                "done {} | success {:.1}% | {:.1} jobs/s (1m) | running {} | queued {}",
                summary.completed_jobs + summary.failed_jobs + summary.cancelled_jobs,
                summary.success_rate,
                summary.throughput.last_1m,
                summary.currently_running,
                queue
            ));
            bar.tick();
        }
        bar.finish_and_clear();
    })
}

/// The final table.
pub(crate) async fn summary_table(system: &System) -> anyhow::Result<String> {
    let summary = system.monitor.summary();
    let counts = system.store.count_by_status().await?;
    let mut out = String::new();
    let mut line = |label: &str, value: String| {
        out.push_str(&format!("  {label:<28} {value}\n"));
    };
    let created = oa_metrics::SystemQuery::event_counts(&*system.monitor)
        .get(&oa_events::EventType::JobCreated)
        .copied()
        .unwrap_or_default();
    line("jobs created", created.to_string());
    line("jobs started", summary.total_jobs.to_string());
    line("completed", summary.completed_jobs.to_string());
    line("failed (for good)", summary.failed_jobs.to_string());
    line("cancelled", summary.cancelled_jobs.to_string());
    line("retries", summary.retries.to_string());
    line("success rate", format!("{:.1} %", summary.success_rate));
    line(
        "execution time avg / p95",
        format!(
            "{:.3} s / {:.3} s",
            summary.avg_execution_time, summary.p95_execution_time
        ),
    );
    line(
        "wait time avg / p95",
        format!(
            "{:.3} s / {:.3} s",
            summary.avg_wait_time, summary.p95_wait_time
        ),
    );
    line(
        "throughput (last 1 min)",
        format!("{:.2} jobs/s", summary.throughput.last_1m),
    );
    let in_store: Vec<String> = JobStatus::ALL
        .iter()
        .filter(|s| counts.get(**s) > 0)
        .map(|s| format!("{s} {}", counts.get(*s)))
        .collect();
    line("in the store", in_store.join(", "));
    Ok(out)
}
