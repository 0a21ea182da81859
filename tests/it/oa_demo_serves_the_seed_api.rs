//! `oa demo` as a user runs it: a child process on a free port, every seed endpoint answering
//! with the seed's keys, Ctrl-C for a graceful stop, and no job lost in its SQLite store.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oa_jobs::{JobStatus, JobStore as _, SqliteStore};
use serde_json::Value;

fn get(base: &str, path: &str) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::get(format!("{base}{path}")).await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    })
}

fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn oa_demo_answers_every_seed_endpoint_and_stops_without_losing_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oa"))
        .args(["demo", "--port", "0", "--rate", "40", "--duration", "60"])
        .arg("--dir")
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut base = None;
    let mut line = String::new();
    while base.is_none() {
        line.clear();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "oa demo exited before serving"
        );
        if let Some(rest) = line.strip_prefix("dashboard: ") {
            let url = rest.split_whitespace().next().unwrap();
            base = Some(url.trim_end_matches("/dashboard").to_owned());
        }
    }
    let base = base.unwrap();

    // Wait for /health, then for some finished jobs (the demo creates 40 jobs a second).
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&base, "/health").0 != 200 {
        assert!(Instant::now() < deadline, "no /health");
        std::thread::sleep(Duration::from_millis(100));
    }
    loop {
        let (_, summary) = get(&base, "/jobs/summary");
        if summary["completed_jobs"].as_u64().unwrap_or(0) >= 20
            && summary["failed_jobs"].as_u64().unwrap_or(0) >= 1
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo finished too few jobs: {summary}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let (status, root) = get(&base, "/");
    assert_eq!(status, 200);
    assert!(root.is_object());
    let (_, status_body) = get(&base, "/status");
    for key in [
        "jobs",
        "workers",
        "system",
        "tags",
        "priorities",
        "recent_jobs",
    ] {
        assert!(
            status_body.get(key).is_some(),
            "/status lacks {key}: {:?}",
            keys(&status_body)
        );
    }
    let (_, summary) = get(&base, "/jobs/summary");
    for key in [
        "total_jobs",
        "completed_jobs",
        "failed_jobs",
        "cancelled_jobs",
        "success_rate",
        "avg_execution_time",
        "min_execution_time",
        "max_execution_time",
        "currently_running",
    ] {
        assert!(summary.get(key).is_some(), "/jobs/summary lacks {key}");
    }
    let rate = summary["success_rate"].as_f64().unwrap();
    assert!(
        (0.0..=100.0).contains(&rate) && rate > 50.0,
        "implausible success rate {rate}"
    );
    let (_, recent) = get(&base, "/jobs/recent?limit=5");
    let recent = recent.as_array().unwrap();
    assert_eq!(recent.len(), 5);
    for key in ["job_id", "status", "execution_time", "tags", "priority"] {
        assert!(recent[0].get(key).is_some(), "a recent job lacks {key}");
    }
    let (_, tags) = get(&base, "/jobs/tags");
    assert!(tags.get("email").is_some(), "tags: {:?}", keys(&tags));
    let (_, priorities) = get(&base, "/jobs/priorities");
    assert_eq!(keys(&priorities).len(), 4);
    let (_, workers) = get(&base, "/workers");
    assert_eq!(workers["active_count"], 3);
    let (status, worker) = get(&base, "/workers/demo-worker-1");
    assert_eq!(status, 200);
    for key in ["status", "jobs_claimed", "jobs_completed", "last_heartbeat"] {
        assert!(worker.get(key).is_some(), "a worker lacks {key}");
    }
    assert_eq!(get(&base, "/workers/nobody").0, 404);
    let (_, system) = get(&base, "/system");
    for key in [
        "uptime",
        "uptime_formatted",
        "queue_depth",
        "error_count",
        "event_counts",
    ] {
        assert!(system.get(key).is_some(), "/system lacks {key}");
    }
    let (_, events) = get(&base, "/system/events");
    assert_eq!(keys(&events).len(), 17);
    assert!(events["job.created"].as_u64().unwrap() > 0);

    // Ctrl-C: a graceful stop with exit code 0.
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "oa demo exited with {exit}: {rest}");
    let created: u64 = rest
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("jobs created")
                .map(|n| n.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no summary: {rest}"));

    // Every job the demo created is in the store, and none is left held by a worker.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(dir.path().join("oa-demo.db"))
            .await
            .unwrap();
        let counts = store.count_by_status().await.unwrap();
        assert_eq!(counts.total(), created, "jobs lost or invented: {counts:?}");
        assert_eq!(counts.get(JobStatus::Running), 0, "{counts:?}");
        let held = store
            .list(
                &oa_jobs::store::JobFilter::all().status(JobStatus::Paused),
                oa_jobs::store::Page::first(1000),
            )
            .await
            .unwrap();
        assert!(held.jobs.iter().all(|job| job.worker_id.is_none()));
        assert!(counts.get(JobStatus::Completed) >= 20);
    });
}
