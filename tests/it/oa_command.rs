//! The `oa` binary as a user runs it.

use std::process::Command;

fn oa(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_oa"))
        .args(args)
        .output()
        .expect("oa runs")
}

#[test]
fn oa_events_json_lists_the_17_types_with_their_categories() {
    let output = oa(&["events", "--json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let types: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(types.len(), 17);
    assert_eq!(types[0]["wire_name"], "job.created");
    assert_eq!(types[9]["wire_name"], "job.progress.updated");
    assert_eq!(types[12]["wire_name"], "worker.claimed_job");
    assert_eq!(types[12]["category"], "worker");
    assert_eq!(types[16]["seed_name"], "SYSTEM_ERROR");
    assert_eq!(types[16]["category"], "system");
}

#[test]
fn oa_events_prints_a_table() {
    let output = oa(&["events"]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 18, "a header and 17 rows");
    assert!(lines[0].starts_with("WIRE NAME"));
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().eq(["job.failed", "job", "JOB_FAILED"]))
    );
}

#[test]
fn an_unknown_subcommand_is_a_usage_error_not_a_panic() {
    let output = oa(&["explode"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("unrecognized subcommand"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn version_and_help_answer() {
    let version = oa(&["--version"]);
    assert!(version.status.success());
    assert!(
        String::from_utf8(version.stdout)
            .unwrap()
            .starts_with("oa 0.1.0")
    );
    let help = oa(&["events", "--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8(help.stdout).unwrap().contains("--json"));
}

#[test]
fn a_worker_with_more_claims_in_flight_than_slots_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("jobs.db").display());
    let output = oa(&[
        "worker",
        "--store",
        &store,
        "--concurrency",
        "4",
        "--claim-concurrency",
        "5",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "oa: invalid claim_concurrency: must be at least 1 and at most max_concurrent_jobs"
    );
}

#[test]
fn a_bad_pool_size_in_a_postgres_url_is_refused_in_one_line() {
    // Refused before any connection is tried: no server is needed (port 1 is closed).
    let output = oa(&[
        "jobs",
        "list",
        "--store",
        "postgres://u:secret@127.0.0.1:1/db?max_connections=0",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "oa: invalid store URL postgres://u:***@127.0.0.1:1/db?max_connections=0: \
         `max_connections` must be a whole number from 1 to 1000, not `0`"
    );
}
