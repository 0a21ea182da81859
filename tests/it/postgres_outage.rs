//! PostgreSQL stops for several seconds under load and comes back: the `oa worker` processes
//! live through it (they retry with backoff, announce the outage as `system.error` events that
//! reach the durable log once the database is back, and write the results of jobs that finished
//! during it when it returns), and afterwards every job ended exactly once. Also: a database
//! that cannot be reached at start-up is a one-line error, not a panic or a hang.
//!
//! The outage test runs its own throwaway PostgreSQL 15 cluster (`initdb` in a temporary
//! directory, as the `postgres` user) so that it can stop it without disturbing the other tests'
//! server. It needs root and `/usr/lib/postgresql/15/bin`; without them it prints why it was
//! skipped, unless `CI_REQUIRE_POSTGRES_OUTAGE=1` (set by `.ci/run`) makes that a failure.

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use oa_events::{Event, EventType};
use oa_jobs::store::{JobFilter, Page};
use oa_jobs::{Job, JobManager, JobStatus, JobStore, PgStoreOptions};

use crate::oa_processes::{
    Process, finished, logged_events, oa, start_serve, start_worker, submit, summary_matching,
    wait_until_finished,
};

/// Where Debian's PostgreSQL 15 keeps its programs.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
/// Seconds between the workers' heartbeats: their leases last 3 intervals (18 s), longer than
/// the outage plus the beat that renews them after it, so no job is taken from its worker.
const HEARTBEAT_SECS: u64 = 6;
/// How long PostgreSQL is down.
const OUTAGE: Duration = Duration::from_secs(5);
const OK_JOBS: usize = 3_600;
const FAILING_JOBS: usize = 400;

/// Why the outage test cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("it must run as root (it runs PostgreSQL as the postgres user)".to_owned());
    }
    for program in ["initdb", "pg_ctl", "psql"] {
        if !Path::new(PG_BIN).join(program).exists() {
            return Some(format!(
                "{PG_BIN}/{program} not found (install postgresql-15)"
            ));
        }
    }
    let postgres_user = Command::new("id").args(["-u", "postgres"]).output().ok()?;
    if !postgres_user.status.success() {
        return Some("there is no `postgres` user".to_owned());
    }
    None
}

/// Runs a PostgreSQL program as the `postgres` user; panics with its output when it fails.
fn pg(program: &str, args: &[&str]) {
    let output = Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(Path::new(PG_BIN).join(program))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A throwaway PostgreSQL cluster in a temporary directory, stopped and deleted on drop.
struct Cluster {
    /// Owned by `postgres`: the data directory, the socket and the server's log.
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn create() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("oa-outage-")
            .tempdir()
            .unwrap();
        let chown = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(chown.success(), "chown of {}", dir.path().display());
        let cluster = Self {
            port: free_port(),
            dir,
        };
        pg(
            "initdb",
            &[
                "-D",
                cluster.data().to_str().unwrap(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "--no-instructions",
                "-E",
                "UTF8",
            ],
        );
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log");
        pg(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
    }

    /// A fast stop: open sessions are ended at once, as when a server goes away.
    fn stop(&self) {
        pg(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
        );
    }

    /// Creates the role and the database `oa`; returns their URL.
    fn create_database(&self) -> String {
        let port = self.port.to_string();
        let host = self.dir.path().to_str().unwrap().to_owned();
        pg(
            "psql",
            &[
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                &host,
                "-p",
                &port,
                "-d",
                "postgres",
                "-c",
                "CREATE ROLE oa LOGIN PASSWORD 'oa'",
                "-c",
                "CREATE DATABASE oa OWNER oa",
            ],
        );
        format!("postgres://oa:oa@127.0.0.1:{}/oa", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Whatever state the test left it in: stopped at once, then deleted with the directory.
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(Path::new(PG_BIN).join("pg_ctl"))
            .args(["-D", self.data().to_str().unwrap_or_default()])
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A port nothing listens on (the kernel's choice, released at once).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every job in the store.
async fn all_jobs(store: &dyn JobStore) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .list(
                &JobFilter::all(),
                Page::new(Page::MAX_LIMIT, offset).unwrap(),
            )
            .await
            .unwrap();
        jobs.extend(page.jobs);
        match page.next_offset {
            Some(next) => offset = next,
            None => return jobs,
        }
    }
}

/// `text` without the terminal's colour codes (`ESC [ ... m`).
fn without_colours(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\u{1b}') {
        plain.push_str(&rest[..at]);
        rest = &rest[at..];
        rest = rest.find('m').map_or("", |end| &rest[end + 1..]);
    }
    plain.push_str(rest);
    plain
}

/// The lines of a process's log that mention the outage.
fn outage_lines(log: &Path) -> Vec<String> {
    without_colours(&std::fs::read_to_string(log).unwrap_or_default())
        .lines()
        .filter(|line| {
            [
                "store call",
                "store reachable",
                "retrying a failed commit",
                "recorded after",
            ]
            .iter()
            .any(|needle| line.contains(needle))
        })
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_live_through_a_postgres_outage_and_no_job_is_lost_or_run_twice() {
    if let Some(reason) = missing_prerequisite() {
        assert!(
            std::env::var("CI_REQUIRE_POSTGRES_OUTAGE").as_deref() != Ok("1"),
            "CI_REQUIRE_POSTGRES_OUTAGE=1 but the outage test cannot run: {reason}"
        );
        println!("skipped: the PostgreSQL outage test needs its own cluster: {reason}");
        return;
    }
    let test_started = Instant::now();
    let cluster = Cluster::create();
    cluster.start();
    let url = cluster.create_database();
    let logs = tempfile::tempdir().unwrap();
    let store: Arc<dyn JobStore> =
        Arc::new(PgStoreOptions::new(&url).unwrap().open().await.unwrap());
    let manager = JobManager::builder(Arc::clone(&store)).build().unwrap();

    let (serve, serve_url) = start_serve(&url, Some(&logs.path().join("serve.log")));
    let worker_logs: Vec<PathBuf> = ["w1", "w2"]
        .iter()
        .map(|id| logs.path().join(format!("{id}.log")))
        .collect();
    let mut workers: Vec<Process> = ["w1", "w2"]
        .iter()
        .zip(&worker_logs)
        .map(|(id, log)| start_worker(&url, id, HEARTBEAT_SECS, Some(log)))
        .collect();
    let total = (OK_JOBS + FAILING_JOBS) as u64;
    let load_started = Instant::now();
    submit(&manager, OK_JOBS, FAILING_JOBS, 20, "outage").await;

    // Under load, the database goes away for a while.
    wait_until_finished(&*store, 600, Duration::from_secs(60)).await;
    let before_outage = finished(&*store).await.unwrap();
    let outage_started: DateTime<Utc> = Utc::now();
    let outage_clock = Instant::now();
    cluster.stop();
    // The outage itself is the scenario: nothing to wait for but time.
    tokio::time::sleep(OUTAGE).await;
    cluster.start();
    let outage_ended: DateTime<Utc> = Utc::now();
    let outage = outage_clock.elapsed();
    for worker in &mut workers {
        assert!(worker.is_running(), "{} died in the outage", worker.name);
    }

    wait_until_finished(&*store, total, Duration::from_secs(60)).await;
    let drained = outage_clock.elapsed() - outage;
    for worker in &mut workers {
        assert!(worker.is_running(), "{} died after the outage", worker.name);
    }

    // The store: every job final, as scripted (none queued, running or lost).
    let counts = store.count_by_status().await.unwrap();
    assert_eq!(
        counts.get(JobStatus::Completed),
        OK_JOBS as u64,
        "{counts:?}"
    );
    assert_eq!(
        counts.get(JobStatus::Failed),
        FAILING_JOBS as u64,
        "{counts:?}"
    );
    assert_eq!(counts.total(), total, "{counts:?}");
    let jobs = all_jobs(&*store).await;
    assert_eq!(jobs.len() as u64, total);
    // Jobs that finished while the database was down were recorded when it came back, by the
    // worker that ran them (their only attempt): the leases outlasted the outage.
    let finished_in_outage = jobs
        .iter()
        .filter(|job| {
            job.finished_at
                .is_some_and(|at| at >= outage_started && at <= outage_ended)
        })
        .count();
    assert!(
        finished_in_outage > 0,
        "no job finished during the outage (it came too late in the load?)"
    );
    let rerun: Vec<(&str, u32)> = jobs
        .iter()
        .filter(|job| job.attempt != 1)
        .map(|job| (job.id.as_str(), job.attempt))
        .collect();
    assert!(rerun.is_empty(), "jobs run more than once: {rerun:?}");

    // The log: each job finished exactly once; the outage was announced, not lost.
    let events = logged_events(&*store).await;
    let mut finishes: HashMap<&str, u32> = HashMap::new();
    for event in &events {
        if matches!(
            event.event_type,
            EventType::JobCompleted | EventType::JobFailed
        ) {
            *finishes
                .entry(event.job_id.as_deref().unwrap())
                .or_default() += 1;
        }
    }
    assert_eq!(finishes.len() as u64, total, "a finish event for every job");
    let twice: Vec<_> = finishes.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "jobs finished more than once: {twice:?}");
    let lost: Vec<&Event> = events
        .iter()
        .filter(|e| {
            e.event_type == EventType::WorkerOffline
                || (e.event_type == EventType::JobRetrying
                    && e.data_str("reason") == Some("worker_lost"))
        })
        .collect();
    assert!(lost.is_empty(), "a worker was taken for lost: {lost:?}");
    let errors: Vec<&Event> = events
        .iter()
        .filter(|e| e.event_type == EventType::SystemError)
        .collect();
    let in_outage: Vec<&&Event> = errors
        .iter()
        .filter(|e| e.timestamp >= outage_started)
        .collect();
    assert!(
        !in_outage.is_empty(),
        "no system.error of the outage reached the log ({} in all)",
        errors.len()
    );
    // Announced once per outage and operation, not at every retry: a few per process.
    assert!(
        in_outage.len() <= 40,
        "{} system.error events for one outage: {in_outage:?}",
        in_outage.len()
    );
    let mut by_operation: HashMap<String, usize> = HashMap::new();
    for event in &in_outage {
        let message = event.data_str("message").unwrap_or_default();
        let operation = message.split(':').next().unwrap_or_default().to_owned();
        *by_operation.entry(operation).or_default() += 1;
    }

    // The server followed the log through the outage: its totals are the store's.
    let summary = summary_matching(&serve_url, OK_JOBS as u64, FAILING_JOBS as u64).await;
    assert_eq!(summary["total_jobs"], total, "{summary}");

    println!(
        "{total} jobs ({OK_JOBS} of 20 ms, {FAILING_JOBS} failing) on 2 worker processes × 16; \
         PostgreSQL stopped after {before_outage} had finished ({:.1} s into the load) for \
         {:.1} s; {finished_in_outage} finished during the outage and were recorded after it; \
         the rest drained {:.1} s after the restart; {} events logged, system.error during or \
         after the outage: {by_operation:?}; whole test {:.1} s",
        (outage_clock - load_started).as_secs_f64(),
        outage.as_secs_f64(),
        drained.as_secs_f64(),
        events.len(),
        test_started.elapsed().as_secs_f64()
    );
    // The workers logged the outage and their retries, without a line per retry.
    let mut logged = 0;
    for (name, log) in ["w1", "w2"].iter().zip(&worker_logs) {
        let lines = outage_lines(log);
        assert!(
            lines.len() <= 30,
            "{name} logged the outage at length: {lines:#?}"
        );
        logged += lines.len();
        for line in lines {
            println!("  {name}: {line}");
        }
    }
    assert!(logged > 0, "no worker logged the outage");

    serve.stop();
    for worker in workers {
        worker.stop();
    }
    manager.shutdown().await;
}

/// Runs `oa` with `args`, killing it after `limit`; returns its output and how long it ran.
fn oa_within(args: &[&str], limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = oa(None)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`oa {}` still ran after {limit:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

fn assert_one_line_error(args: &[&str], output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "`oa {}` succeeded",
        args.join(" ")
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "`oa {}`: not one line: {stderr}",
        args.join(" ")
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("cannot open the PostgreSQL store") && stderr.contains(expected),
        "`oa {}`: {stderr}",
        args.join(" ")
    );
    assert!(
        !stderr.contains(":oa@"),
        "the password is not shown: {stderr}"
    );
}

#[test]
fn an_unreachable_database_at_start_up_is_a_one_line_error() {
    // Nothing listens: refused at once.
    let closed = format!("postgres://oa:oa@127.0.0.1:{}/oa", free_port());
    for command in ["worker", "serve"] {
        let args = [command, "--store", &closed, "--port", "0"];
        let args = if command == "worker" {
            &args[..3]
        } else {
            &args[..]
        };
        let (output, took) = oa_within(args, Duration::from_secs(15));
        assert_one_line_error(args, &output, "refused");
        assert!(
            took < Duration::from_secs(5),
            "`oa {command}` took {took:?}"
        );
    }

    // A server that accepts connections and never answers: given up after a bounded wait.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "postgres://oa:oa@127.0.0.1:{}/oa",
        silent.local_addr().unwrap().port()
    );
    let args = ["worker", "--store", &url];
    let (output, took) = oa_within(&args, Duration::from_secs(25));
    assert_one_line_error(&args, &output, "no answer");
    println!("an unanswered connection was given up after {took:.1?}");
}
