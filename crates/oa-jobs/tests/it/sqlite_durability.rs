//! A process using a `SqliteStore` is killed with SIGKILL in the middle of a run: after
//! reopening, every job it acknowledged is there exactly once, and the jobs it was running come
//! back to the queue once their lease expires.
//!
//! The child is this test binary itself, running only [`durability_child`] with the database
//! path in [`CHILD_ENV`]; it prints one line per acknowledged insert or claim, flushed, and the
//! parent kills it after enough lines (no sleeps: the parent waits on the child's output).

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use chrono::{TimeDelta, Utc};
use oa_jobs::store::{ClaimRequest, JobFilter, Page};
use oa_jobs::{Job, JobStatus, JobStore, LOST_KIND, SqliteStore};
use serde_json::json;

/// The database path for the child; unset in a normal test run.
const CHILD_ENV: &str = "OA_DURABILITY_CHILD";
/// The full name of the child test in this binary.
const CHILD_TEST: &str = "sqlite_durability::durability_child";

/// How many acknowledged inserts and claims the parent waits for before the kill.
const INSERTS_BEFORE_KILL: usize = 2000;
const CLAIMS_BEFORE_KILL: usize = 300;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The child's work: insert jobs one by one, claim some with a short lease, acknowledge each
/// on stdout. It runs until killed (or until its stdout is closed, should the parent die).
#[test]
fn durability_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    runtime().block_on(async move {
        let store = SqliteStore::open(Path::new(&path)).await.unwrap();
        let mut out = std::io::stdout();
        for i in 0_u64..10_000_000 {
            let now = Utc::now();
            let mut job = Job::new("durable", json!({ "i": i }), now).unwrap();
            job.enqueue(now, now).unwrap();
            store.insert(&job).await.unwrap();
            if writeln!(out, "inserted {}", job.id)
                .and_then(|()| out.flush())
                .is_err()
            {
                return;
            }
            if i % 4 == 3 {
                let request = ClaimRequest {
                    worker_id: "doomed".to_owned(),
                    names: vec!["durable".to_owned()],
                    limit: 2,
                    now,
                    lease_until: now + TimeDelta::seconds(1),
                    log: None,
                };
                for claimed in store.claim(&request).await.unwrap() {
                    if writeln!(out, "claimed {}", claimed.id)
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    });
}

#[derive(Default)]
struct Acks {
    inserted: Vec<String>,
    claimed: Vec<String>,
}

impl Acks {
    fn record(&mut self, line: &str) {
        // The harness prints `test <name> ... ` without a newline before the test runs, so the
        // first acknowledgement shares its line: look for the marker anywhere in the line.
        if let Some((_, id)) = line.split_once("inserted ") {
            self.inserted.push(id.to_owned());
        } else if let Some((_, id)) = line.split_once("claimed ") {
            self.claimed.push(id.to_owned());
        }
        // Anything else is the test harness talking.
    }
}

#[cfg(unix)]
#[test]
fn a_killed_process_loses_no_acknowledged_job() {
    use std::os::unix::process::ExitStatusExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("durable.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acks = Acks::default();
    while acks.inserted.len() < INSERTS_BEFORE_KILL || acks.claimed.len() < CLAIMS_BEFORE_KILL {
        let line = lines
            .next()
            .expect("the child stopped before it was killed")
            .unwrap();
        acks.record(&line);
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(9),
        "the child was killed, not finished"
    );
    // What the child printed before it died was acknowledged too.
    for line in lines {
        acks.record(&line.unwrap());
    }

    runtime().block_on(async {
        let store = SqliteStore::open(&path).await.unwrap();
        let mut stored = Vec::new();
        let mut offset = 0;
        loop {
            let page = store
                .list(
                    &JobFilter::all(),
                    Page::new(Page::MAX_LIMIT, offset).unwrap(),
                )
                .await
                .unwrap();
            stored.extend(page.jobs);
            match page.next_offset {
                Some(next) => offset = next,
                None => break,
            }
        }
        let ids: HashSet<&str> = stored.iter().map(|job| job.id.as_str()).collect();
        assert_eq!(ids.len(), stored.len(), "a job is stored twice");
        for id in &acks.inserted {
            assert!(
                ids.contains(id.as_str()),
                "acknowledged job {id} is missing"
            );
        }
        // At most the insert in flight when the child died was written without its line.
        assert!(
            stored.len() <= acks.inserted.len() + 1,
            "{} jobs stored, {} acknowledged",
            stored.len(),
            acks.inserted.len()
        );
        let counts = store.count_by_status().await.unwrap();
        assert_eq!(counts.total(), stored.len() as u64);

        let running: HashSet<&str> = stored
            .iter()
            .filter(|job| job.status == JobStatus::Running)
            .map(|job| job.id.as_str())
            .collect();
        for id in &acks.claimed {
            assert!(
                running.contains(id.as_str()),
                "claimed job {id} is not running"
            );
        }

        // Once the leases expire, every job the dead process held is queued again.
        let requeued = store
            .requeue_expired(Utc::now() + TimeDelta::hours(1))
            .await
            .unwrap();
        let requeued_ids: HashSet<&str> = requeued.iter().map(|job| job.id.as_str()).collect();
        assert_eq!(requeued_ids, running);
        for job in &requeued {
            assert_eq!(job.status, JobStatus::Queued);
            assert_eq!(job.worker_id, None);
            assert_eq!(job.error.as_ref().unwrap().kind, LOST_KIND);
        }
        let counts = store.count_by_status().await.unwrap();
        assert_eq!(counts.get(JobStatus::Running), 0);
        assert_eq!(counts.get(JobStatus::Queued), stored.len() as u64);
    });
}
