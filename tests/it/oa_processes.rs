//! Support for the tests that run `oa` processes against one store (not a test module): child
//! processes killed on drop, `oa worker` and `oa serve` with their options, and reads of the
//! store, its event log and a server's API.

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oa_events::Event;
use oa_jobs::{JobManager, JobStatus, JobStore, NewJob};
use serde_json::{Value, json};

/// A child process killed when dropped (a failed assertion leaves no process behind).
pub(crate) struct Process {
    child: Child,
    pub(crate) name: String,
}

impl Process {
    pub(crate) fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGINT (graceful stop), then waits; asserts a clean exit.
    pub(crate) fn stop(mut self) {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{} exited with {status}", self.name);
    }

    /// SIGKILL: a crash.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `oa` without the `OA_*` settings of the environment, logging warnings to stderr, or
/// everything from `info` (sqlx's from `warn`) to `log` when given.
pub(crate) fn oa(log: Option<&Path>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_oa"));
    command
        .env_remove("OA_STORE")
        .env_remove("OA_PORT")
        .env_remove("OA_WORKERS")
        .env_remove("OA_HEARTBEAT_INTERVAL")
        .env_remove("OA_NO_EVENT_LOG");
    match log {
        Some(log) => command
            .env("RUST_LOG", "info,sqlx=warn")
            .stderr(File::create(log).unwrap()),
        None => command.env("RUST_LOG", "warn"),
    };
    command
}

/// `oa worker --id <id>` (worker `<id>-1`), 16 jobs at once, heartbeating every
/// `heartbeat_secs`.
pub(crate) fn start_worker(
    store: &str,
    id: &str,
    heartbeat_secs: u64,
    log: Option<&Path>,
) -> Process {
    let child = oa(log)
        .args(["worker", "--store", store, "--id", id])
        .args(["--concurrency", "16"])
        .args(["--heartbeat-interval", &heartbeat_secs.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Process {
        child,
        name: format!("oa worker {id}"),
    }
}

/// `oa serve` with no worker of its own; returns it and its base URL once it listens (after
/// it replayed the event log).
pub(crate) fn start_serve(store: &str, log: Option<&Path>) -> (Process, String) {
    let mut child = oa(log)
        .args(["serve", "--store", store, "--workers", "0", "--port", "0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .split("dashboard ")
        .nth(1)
        .unwrap_or_else(|| panic!("unexpected first line of oa serve: {line:?}"))
        .trim()
        .trim_end_matches("/dashboard")
        .to_owned();
    let process = Process {
        child,
        name: "oa serve".to_owned(),
    };
    (process, url)
}

pub(crate) async fn get_json(url: &str) -> Value {
    let response = reqwest::get(url).await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// Final jobs in the store; `None` while it cannot be reached.
pub(crate) async fn finished(store: &dyn JobStore) -> Option<u64> {
    let counts = store.count_by_status().await.ok()?;
    Some(counts.get(JobStatus::Completed) + counts.get(JobStatus::Failed))
}

pub(crate) async fn wait_until_finished(store: &dyn JobStore, count: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let done = finished(store).await.unwrap_or(0);
        if done >= count {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {count} jobs finished within {timeout:?}: {:?}",
            store.count_by_status().await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every event the store's log retains.
pub(crate) async fn logged_events(store: &dyn JobStore) -> Vec<Event> {
    let log = store.event_log().expect("the store keeps an event log");
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = log.read_after(after, 5_000).await.unwrap();
        let Some(last) = page.last() else {
            return events;
        };
        after = last.seq;
        events.extend(page);
    }
}

/// `/jobs/summary` once its completed and failed counts reach the store's.
pub(crate) async fn summary_matching(url: &str, completed: u64, failed: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let summary = get_json(&format!("{url}/jobs/summary")).await;
        if summary["completed_jobs"] == completed && summary["failed_jobs"] == failed {
            return summary;
        }
        assert!(
            Instant::now() < deadline,
            "the server's summary never matched the store (completed {completed}, failed \
             {failed}): {summary}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Submits, shuffled, in batches of 500: `ok` jobs that work `ms` milliseconds (up to 3
/// retries) and `failing` ones that fail for good, all tagged `tag`. Returns their ids.
pub(crate) async fn submit(
    manager: &JobManager,
    ok: usize,
    failing: usize,
    ms: u64,
    tag: &str,
) -> Vec<String> {
    let mut jobs: Vec<NewJob> = (0..ok)
        .map(|_| {
            NewJob::new("sleep")
                .payload(json!({"ms": ms, "steps": 1}))
                .tags([tag])
                .max_retries(3)
        })
        .chain((0..failing).map(|_| {
            NewJob::new("fail")
                .payload(json!({"fatal": true, "kind": "scripted"}))
                .tags([tag])
        }))
        .collect();
    fastrand::shuffle(&mut jobs);
    let mut ids = Vec::with_capacity(jobs.len());
    for batch in jobs.chunks(500) {
        let created = manager.create_many(batch.to_vec()).await.unwrap();
        ids.extend(created.into_iter().map(|job| job.id));
    }
    ids
}
