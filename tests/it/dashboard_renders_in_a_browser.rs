//! The dashboard in a real browser: the API serves scripted events on 127.0.0.1, headless
//! Chromium (Debian's `chromium`) opens `/dashboard`, and the rendered DOM shows the scripted
//! figures in the cards, the workers table and the event feed; a screenshot is saved as
//! `target/dashboard.png`. The docs page renders from the binary too (no network).
//!
//! The event streams are closed before the browser connects, so that each `/events` request
//! answers its replay and ends: the page then reconnects with `Last-Event-ID` as it does
//! after a network drop (each event must still appear once), and Chromium's virtual time can
//! run out (an open stream would keep the page "loading" forever).
//!
//! Without Chromium the test says it was skipped, unless `CI_REQUIRE_CHROMIUM=1` (set by
//! `.ci/run`, which installs it), where a missing browser fails the test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use oa_api::{ApiConfig, ApiState, serve};
use oa_events::{Event, EventEmitter, EventType};
use oa_metrics::{Clock, Collectors, ManualClock, MetricsConfig};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A liveness guard for one Chromium run (it takes about a second); not a measurement.
const CHROMIUM_GUARD: Duration = Duration::from_secs(120);

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
}

/// Emits the script: two workers online, four jobs (two completed in 2 s and 4 s, one failed
/// with an error, one still running at 40 %), a queue depth of 7.
fn script(emitter: &EventEmitter, collectors: &Collectors) {
    let worker = |event_type, id: &str, seconds, host: &str| {
        Event::for_worker(event_type, id)
            .with_timestamp(at(seconds))
            .with_data("host", host)
            .with_data("max_concurrent_jobs", 4)
            .with_data("heartbeat_interval_ms", 5000)
    };
    let job = |event_type, id: &str, seconds, worker: &str| {
        Event::for_job(event_type, id)
            .with_worker_id(worker)
            .with_timestamp(at(seconds))
            .with_data("name", format!("render-{id}"))
            .with_data("priority", "high")
            .with_data("tags", json!(["video"]))
            .with_data("attempt", 1)
    };
    let events = [
        worker(EventType::WorkerRegistered, "alpha-worker", 0, "host-alpha"),
        worker(EventType::WorkerRegistered, "beta-worker", 0, "host-beta"),
        job(EventType::JobQueued, "job-a", 0, "alpha-worker"),
        job(EventType::JobStarted, "job-a", 1, "alpha-worker"),
        job(EventType::JobCompleted, "job-a", 3, "alpha-worker"),
        job(EventType::JobQueued, "job-b", 1, "beta-worker"),
        job(EventType::JobStarted, "job-b", 2, "beta-worker"),
        job(EventType::JobCompleted, "job-b", 6, "beta-worker"),
        job(EventType::JobQueued, "job-c", 2, "beta-worker"),
        job(EventType::JobStarted, "job-c", 3, "beta-worker"),
        job(EventType::JobFailed, "job-c", 5, "beta-worker").with_data(
            "error",
            json!({"kind": "timeout", "message": "encoder stalled"}),
        ),
        job(EventType::JobQueued, "job-d", 4, "alpha-worker"),
        job(EventType::JobStarted, "job-d", 5, "alpha-worker"),
        job(EventType::JobProgressUpdated, "job-d", 7, "alpha-worker").with_data("progress", 0.4),
        worker(EventType::WorkerHeartbeat, "alpha-worker", 7, "host-alpha"),
        worker(EventType::WorkerHeartbeat, "beta-worker", 7, "host-beta"),
    ];
    for event in events {
        emitter.emit(event);
    }
    collectors.system_metrics().update_queue_depth(7);
}

/// Runs Chromium headless on `url` with `action` (`--dump-dom` or `--screenshot=...`) and
/// returns its standard output.
async fn run_chromium(binary: &Path, profile: &Path, action: &str, url: &str) -> String {
    let mut command = tokio::process::Command::new(binary);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,900",
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(action)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let output = tokio::time::timeout(CHROMIUM_GUARD, command.output())
        .await
        .expect("chromium hung")
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The text of the element with `id` in `dom` (its content up to the next tag).
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let marker = format!("id=\"{id}\"");
    let start = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no #{id} in the DOM"));
    let after = &dom[start..];
    let open_end = after.find('>').unwrap() + 1;
    let content = &after[open_end..];
    &content[..content.find('<').unwrap_or(content.len())]
}

/// The part of `dom` inside the element with `id`, up to its closing `tag`.
fn section<'a>(dom: &'a str, id: &str, tag: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in the DOM"));
    let rest = &dom[start..];
    &rest[..rest.find(&format!("</{tag}>")).unwrap_or(rest.len())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_scripted_figures_in_chromium() {
    let Some(binary) = chromium() else {
        assert!(
            std::env::var("CI_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "CI_REQUIRE_CHROMIUM=1 but chromium is not installed"
        );
        println!("skipped: chromium is not installed (apt-get install chromium)");
        return;
    };

    let clock = Arc::new(ManualClock::new(at(9)));
    let metrics = MetricsConfig::builder()
        .clock(Arc::clone(&clock) as Arc<dyn Clock>)
        .build()
        .unwrap();
    let emitter = EventEmitter::new();
    let collectors = Arc::new(Collectors::new(metrics));
    collectors.attach(&emitter);
    let state = ApiState::new(
        collectors.clone(),
        collectors.clone(),
        emitter.clone(),
        ApiConfig::default(),
    );
    script(&emitter, &collectors);
    // Each stream answers its replay and ends (see the module's documentation).
    state.close_streams();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(listener, state, shutdown.clone()));
    let profile = tempfile::tempdir().unwrap();

    let dom = run_chromium(
        &binary,
        profile.path(),
        "--dump-dom",
        &format!("{base}/dashboard"),
    )
    .await;

    // The cards.
    assert_eq!(text_of(&dom, "card-total-jobs"), "4");
    assert_eq!(text_of(&dom, "card-success-rate"), "66.7%");
    assert_eq!(text_of(&dom, "card-p95"), "4.0 s");
    assert_eq!(text_of(&dom, "card-queue-depth"), "7");
    assert_eq!(text_of(&dom, "card-active-workers"), "2");
    assert_eq!(text_of(&dom, "card-throughput"), "2.0/min");
    // The workers table.
    let workers = section(&dom, "workers", "table");
    for expected in [
        "alpha-worker",
        "beta-worker",
        "host-alpha",
        "online",
        "2.0 s ago",
    ] {
        assert!(workers.contains(expected), "{expected} not in {workers}");
    }
    // The running job with its progress, and the failed job with its error.
    let running = section(&dom, "running", "table");
    assert!(
        running.contains("job-d") && running.contains("40%"),
        "{running}"
    );
    let recent = section(&dom, "recent", "table");
    assert!(recent.contains("timeout: encoder stalled"), "{recent}");
    // The event feed: every scripted event once, newest first, after reconnections.
    let feed = section(&dom, "feed", "ul");
    for seq in 1..=16 {
        let marker = format!(">#{seq}<");
        assert_eq!(feed.matches(&marker).count(), 1, "event #{seq} in {feed}");
    }
    assert!(
        feed.contains("job.failed") && feed.contains("encoder stalled"),
        "{feed}"
    );
    assert!(
        feed.find(">#16<").unwrap() < feed.find(">#1<").unwrap(),
        "newest first"
    );

    // The docs page renders from the binary alone.
    let docs = run_chromium(
        &binary,
        profile.path(),
        "--dump-dom",
        &format!("{base}/docs/"),
    )
    .await;
    assert!(
        docs.contains("oa-jobs Monitoring API"),
        "the docs page did not render"
    );
    assert!(
        docs.contains("/jobs/recent"),
        "the docs page lists the routes"
    );

    // The screenshot, for people.
    let screenshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/dashboard.png");
    std::fs::create_dir_all(screenshot.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&screenshot);
    run_chromium(
        &binary,
        profile.path(),
        &format!("--screenshot={}", screenshot.display()),
        &format!("{base}/dashboard"),
    )
    .await;
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG was written");

    shutdown.cancel();
    server.await.unwrap().unwrap();
}
