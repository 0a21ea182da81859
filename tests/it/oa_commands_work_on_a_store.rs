//! The `oa` subcommands a user runs against a store and a server: submit, jobs, status, serve,
//! worker, bench, and one-line errors for bad settings.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn oa(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oa"))
        .args(args)
        .env_remove("OA_STORE")
        .output()
        .unwrap()
}

fn ok_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn one_line_error(output: &Output) -> String {
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    stderr
}

#[test]
fn submit_list_get_cancel_and_retry_jobs_in_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let job = ok_json(&oa(&[
        "submit",
        "echo",
        "--store",
        &store,
        "--payload",
        r#"{"a":1}"#,
        "--priority",
        "high",
        "--tags",
        "x,y",
        "--max-retries",
        "2",
        "--timeout",
        "5",
        "--json",
    ]));
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (job["status"].as_str(), job["priority"].as_str()),
        (Some("queued"), Some("high"))
    );
    assert_eq!(job["tags"], serde_json::json!(["x", "y"]));
    assert_eq!(job["timeout_ms"], 5000);

    let page = ok_json(&oa(&[
        "jobs", "list", "--store", &store, "--status", "queued", "--json",
    ]));
    assert_eq!(page["jobs"][0]["id"].as_str(), Some(id.as_str()));
    let table = oa(&["jobs", "list", "--store", &store, "--tag", "x"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains(&id));

    let cancelled = oa(&["jobs", "cancel", &id, "--store", &store]);
    assert!(String::from_utf8_lossy(&cancelled.stdout).contains("cancelled"));
    let got = ok_json(&oa(&["jobs", "get", &id, "--store", &store]));
    assert_eq!(got["status"], "cancelled");
    let retried = oa(&["jobs", "retry", &id, "--store", &store]);
    assert!(retried.status.success());
    assert!(
        !String::from_utf8_lossy(&retried.stdout).contains(&id),
        "retry makes a new job"
    );

    // Illegal moves and unknown ids are one-line errors.
    let again = one_line_error(&oa(&["jobs", "cancel", &id, "--store", &store]));
    assert!(again.contains("cannot go from `cancelled`"), "{again}");
    let missing = one_line_error(&oa(&["jobs", "get", "nope", "--store", &store]));
    assert!(missing.contains("not found"), "{missing}");
}

#[test]
fn bad_settings_are_one_line_errors() {
    let store = one_line_error(&oa(&["jobs", "list", "--store", "redis://x"]));
    assert!(store.contains("unknown store"), "{store}");
    let payload = one_line_error(&oa(&[
        "submit",
        "echo",
        "--store",
        "memory",
        "--payload",
        "{nope",
    ]));
    assert!(payload.contains("--payload is not valid JSON"), "{payload}");
    let unreadable = one_line_error(&oa(&[
        "jobs",
        "list",
        "--store",
        "sqlite:///proc/oa/jobs.db",
    ]));
    assert!(unreadable.contains("/proc/oa"), "{unreadable}");
    let token = one_line_error(&oa(&[
        "serve",
        "--store",
        "memory",
        "--port",
        "0",
        "--api-token",
        "a b",
    ]));
    assert!(token.contains("api_token"), "{token}");
    let duration = one_line_error(&oa(&["demo", "--store", "memory", "--duration=-1"]));
    assert!(duration.contains("--duration"), "{duration}");
}

#[test]
fn serve_answers_status_and_a_taken_port_is_a_clear_error() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_oa"))
        .args([
            "serve",
            "--store",
            "memory",
            "--port",
            "0",
            "--workers",
            "1",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .split("dashboard ")
        .nth(1)
        .unwrap()
        .trim()
        .trim_end_matches("/dashboard")
        .to_owned();
    let port = url.rsplit(':').next().unwrap().to_owned();

    let status = ok_json(&oa(&["status", "--url", &url, "--json"]));
    for key in [
        "jobs",
        "workers",
        "system",
        "tags",
        "priorities",
        "recent_jobs",
    ] {
        assert!(status.get(key).is_some(), "{key}");
    }
    assert_eq!(status["workers"]["active_count"], 1);
    let table = oa(&["status", "--url", &url]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("WORKERS (1 active)"));

    let taken = one_line_error(&oa(&["demo", "--store", "memory", "--port", &port]));
    assert!(taken.contains("already in use"), "{taken}");

    assert!(
        Command::new("kill")
            .args(["-INT", &server.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    assert!(server.wait().unwrap().success());
    let unreachable = one_line_error(&oa(&["status", "--url", &url]));
    assert!(unreachable.contains("cannot reach"), "{unreachable}");
}

#[test]
fn bench_prints_one_json_object_per_scenario() {
    let jobs = ok_json(&oa(&[
        "bench",
        "jobs",
        "--store",
        "memory",
        "--jobs",
        "300",
        "--fail-rate",
        "0.1",
        "--tags",
        "2",
        "--json",
    ]));
    assert_eq!(jobs["scenario"], "jobs");
    assert_eq!(jobs["jobs"], 300);
    assert!(jobs["jobs_per_sec"].as_f64().unwrap() > 0.0);
    assert!(jobs["claim_p99_us"].as_u64().unwrap() >= jobs["claim_p50_us"].as_u64().unwrap());
    // Each job: created, queued, claimed, started, then completed or failed.
    assert!(jobs["events_emitted"].as_u64().unwrap() >= 300 * 5);
    let events = ok_json(&oa(&["bench", "events", "--json"]));
    assert_eq!(events["scenario"], "events");
    assert!(events["progress_events_per_sec"].as_f64().unwrap() > 0.0);
    assert!(events["lifecycle_events_per_sec"].as_f64().unwrap() > 0.0);
}
