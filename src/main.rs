//! `oa`: the command of oa-jobs, the composition root of the workspace.
//!
//! It builds the store, the manager, the workers, the monitor and the HTTP API and wires them
//! together: `oa demo` (everything in one process, with a stream of jobs), `oa serve`,
//! `oa worker`, `oa submit`, `oa jobs ...`, `oa status`, `oa bench ...` and `oa events`.

#![allow(
    clippy::print_stdout,
    reason = "a command-line program prints its results"
)]

mod api;
mod bench;
mod demo;
mod handlers;
mod jobs_cmd;
mod status_cmd;
mod store_url;
mod system;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use oa_events::EventType;
use oa_jobs::Priority;
use oa_jobs::store::JobFilter;
use tokio_util::sync::CancellationToken;

use crate::store_url::StoreUrl;
use crate::system::{System, SystemOptions};

// The engine allocates many small objects per job (events are JSON objects); mimalloc keeps
// that cheap and does not contend across threads as glibc's allocator does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// oa-jobs: a job-execution engine with first-class observability.
#[derive(Debug, Parser)]
#[command(name = "oa", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole system in one process with a stream of demo jobs, the API and the dashboard.
    Demo(DemoArgs),
    /// Serve the monitoring API and dashboard, with a worker pool, over a store.
    Serve(ServeArgs),
    /// Run workers only, over a shared store (several processes may share one store).
    Worker(WorkerArgs),
    /// Create a job.
    Submit(SubmitArgs),
    /// List and act on jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Print the status of a running server (from its API).
    Status(StatusArgs),
    /// End-to-end benchmarks (use a release build).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// List the 17 event types: wire name, category and the seed's constant name.
    Events {
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct StoreArgs {
    /// Where jobs are kept: `memory`, `sqlite://PATH` or a path ending in `.db`.
    #[arg(long, env = "OA_STORE", default_value = "sqlite://oa-jobs.db")]
    store: StoreUrl,
    /// Do not write this process's events to the store's durable event log (other processes
    /// and restarted servers then do not see them).
    #[arg(long, env = "OA_NO_EVENT_LOG")]
    no_event_log: bool,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Where jobs are kept (default: an SQLite file in `--dir`).
    #[arg(long, env = "OA_STORE")]
    store: Option<StoreUrl>,
    /// The directory of the demo's SQLite file (default: a temporary directory).
    #[arg(long, env = "OA_DEMO_DIR")]
    dir: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, env = "OA_DEMO_DURATION")]
    duration: Option<f64>,
    /// New jobs per second.
    #[arg(long, env = "OA_DEMO_RATE", default_value_t = 8.0)]
    rate: f64,
    /// How many workers.
    #[arg(long, env = "OA_WORKERS", default_value_t = 3)]
    workers: u32,
    /// Do not write events to the store's durable event log.
    #[arg(long, env = "OA_NO_EVENT_LOG")]
    no_event_log: bool,
    /// Jobs each worker runs at once.
    #[arg(long, env = "OA_CONCURRENCY", default_value_t = 4)]
    concurrency: u32,
    #[command(flatten)]
    api: api::ApiArgs,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Workers in this process running the built-in handlers (0: monitoring only).
    #[arg(long, env = "OA_WORKERS", default_value_t = 2)]
    workers: u32,
    /// Jobs each worker runs at once.
    #[arg(long, env = "OA_CONCURRENCY", default_value_t = 8)]
    concurrency: u32,
    /// Seconds a shutdown lets running jobs finish.
    #[arg(long, default_value_t = 30.0)]
    shutdown_grace: f64,
    /// Seconds between heartbeats; a worker silent for 3 intervals is declared offline and its
    /// jobs are re-queued (its claims' leases last 3 intervals too).
    #[arg(long, env = "OA_HEARTBEAT_INTERVAL", default_value_t = 5.0)]
    heartbeat_interval: f64,
    /// Purge finished jobs older than this many seconds (default: keep them).
    #[arg(long, env = "OA_RETENTION")]
    retention: Option<f64>,
    #[command(flatten)]
    api: api::ApiArgs,
}

#[derive(Debug, Args)]
struct WorkerArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// How many workers in this process.
    #[arg(long, env = "OA_WORKERS", default_value_t = 1)]
    workers: u32,
    /// Jobs each worker runs at once.
    #[arg(long, env = "OA_CONCURRENCY", default_value_t = 8)]
    concurrency: u32,
    /// The worker id prefix (default: host, pid and a random suffix).
    #[arg(long, env = "OA_WORKER_ID")]
    id: Option<String>,
    /// Jobs one claim takes at most (default: --concurrency; 1 claims one job per statement).
    #[arg(long, env = "OA_CLAIM_BATCH")]
    claim_batch: Option<u32>,
    /// Claims each worker has in flight at once (1 to --concurrency): with small claim
    /// batches, several in flight keep the slots full.
    #[arg(long, env = "OA_CLAIM_CONCURRENCY", default_value_t = 1)]
    claim_concurrency: u32,
    /// Seconds a shutdown lets running jobs finish.
    #[arg(long, default_value_t = 30.0)]
    shutdown_grace: f64,
    /// Seconds between heartbeats; a worker silent for 3 intervals is declared offline and its
    /// jobs are re-queued (its claims' leases last 3 intervals too).
    #[arg(long, env = "OA_HEARTBEAT_INTERVAL", default_value_t = 5.0)]
    heartbeat_interval: f64,
    /// Purge finished jobs older than this many seconds (default: keep them).
    #[arg(long, env = "OA_RETENTION")]
    retention: Option<f64>,
}

#[derive(Debug, Args)]
struct SubmitArgs {
    /// The job name (the handler that runs it).
    name: String,
    #[command(flatten)]
    store: StoreArgs,
    /// The payload, as JSON.
    #[arg(long)]
    payload: Option<String>,
    /// low, medium, high or critical.
    #[arg(long, default_value = "medium", value_parser = jobs_cmd::parse_priority)]
    priority: Priority,
    /// Tags, comma-separated.
    #[arg(long, value_delimiter = ',')]
    tags: Vec<String>,
    /// Retries after the first attempt.
    #[arg(long)]
    max_retries: Option<u32>,
    /// Seconds one attempt may run.
    #[arg(long)]
    timeout: Option<f64>,
    /// Print the created job as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// List jobs, newest first.
    List {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this status.
        #[arg(long, value_parser = jobs_cmd::parse_status)]
        status: Option<oa_jobs::JobStatus>,
        /// Only this name.
        #[arg(long)]
        name: Option<String>,
        /// Only jobs with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only this priority.
        #[arg(long, value_parser = jobs_cmd::parse_priority)]
        priority: Option<Priority>,
        /// How many (1 to 1000).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// How many to skip.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print one job as JSON.
    Get(JobIdArgs),
    /// Cancel a job.
    Cancel(JobIdArgs),
    /// Pause a job.
    Pause(JobIdArgs),
    /// Resume a paused job.
    Resume(JobIdArgs),
    /// Run a failed or cancelled job again (as a new job).
    Retry(JobIdArgs),
}

#[derive(Debug, Args)]
struct JobIdArgs {
    /// The job id.
    id: String,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// The server's base URL.
    #[arg(long, env = "OA_URL", default_value = "http://127.0.0.1:8000")]
    url: String,
    /// A read token, if the server requires one.
    #[arg(long, env = "OA_API_READ_TOKEN")]
    token: Option<String>,
    /// Print the raw JSON body.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The seed's event workloads through one emitter with the monitor attached.
    Events {
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Create → claim → run → complete through a store.
    Jobs(bench::JobsBench),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    let result = match cli.command {
        Command::Events { json } => print_event_types(json),
        command => run_async(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // A closed pipe (`oa events | head`) is not worth a message.
            if !is_broken_pipe(&err) {
                let _ = writeln!(std::io::stderr(), "oa: {}", one_line(&err));
            }
            ExitCode::FAILURE
        }
    }
}

/// Help and version go to stdout as clap prints them; a bad flag or value is one line on stderr
/// (exit code 2), so scripts and people see the reason at once.
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) || error.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    {
        let _ = error.print();
        return if error.use_stderr() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let rendered = error.render().to_string();
    let first = rendered
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("invalid arguments");
    let message = first.strip_prefix("error: ").unwrap_or(first);
    let _ = writeln!(std::io::stderr(), "oa: {message} (see `oa --help`)");
    ExitCode::from(2)
}

fn run_async(command: Command) -> anyhow::Result<()> {
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match command {
            Command::Demo(args) => run_demo(args).await,
            Command::Serve(args) => run_serve(args).await,
            Command::Worker(args) => run_worker(args).await,
            Command::Submit(args) => {
                let submit = jobs_cmd::Submit {
                    name: args.name,
                    payload: args.payload,
                    priority: args.priority,
                    tags: args.tags,
                    max_retries: args.max_retries,
                    timeout_secs: args.timeout,
                    json: args.json,
                };
                jobs_cmd::submit(&args.store.store, submit).await
            }
            Command::Jobs(command) => run_jobs(command).await,
            Command::Status(args) => {
                status_cmd::status(&args.url, args.token.as_deref(), args.json).await
            }
            Command::Bench(BenchCommand::Events { json }) => bench::events(json),
            Command::Bench(BenchCommand::Jobs(bench)) => bench::jobs(bench).await,
            Command::Events { json } => print_event_types(json),
        }
    })
}

/// Logs to stderr; `RUST_LOG` overrides the default level (warnings).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| anyhow::anyhow!("{flag} must be a non-negative number of seconds"))
}

fn positive_seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    seconds(value, flag)
        .ok()
        .filter(|duration| *duration >= Duration::from_millis(10))
        .ok_or_else(|| anyhow::anyhow!("{flag} must be a number of seconds of at least 0.01"))
}

/// A token cancelled by Ctrl-C (or SIGTERM) or after `duration`.
fn stop_signal(duration: Option<Duration>) -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let timer = async {
            match duration {
                Some(duration) => tokio::time::sleep(duration).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate() => {}
            () = timer => {}
        }
        trigger.cancel();
    });
    token
}

#[cfg(unix)]
async fn terminate() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn terminate() {
    std::future::pending().await;
}

async fn run_demo(args: DemoArgs) -> anyhow::Result<()> {
    let duration = args
        .duration
        .map(|d| seconds(d, "--duration"))
        .transpose()?;
    anyhow::ensure!(
        args.rate.is_finite() && args.rate > 0.0,
        "--rate must be a positive number"
    );
    let (store, _temp) = match (args.store, args.dir) {
        (Some(store), _) => (store, None),
        (None, Some(dir)) => (StoreUrl::Sqlite(dir.join("oa-demo.db")), None),
        (None, None) => {
            let temp = tempfile_dir()?;
            (
                StoreUrl::Sqlite(temp.join("oa-demo.db")),
                Some(TempDirGuard(temp)),
            )
        }
    };
    let options = SystemOptions {
        store: store.clone(),
        workers: args.workers.max(1),
        concurrency: args.concurrency.max(1),
        shutdown_grace: Duration::from_secs(10),
        worker_prefix: Some("demo-worker".to_owned()),
        retention: None,
        event_log: !args.no_event_log,
        follow_log: true,
        heartbeat_interval: Duration::from_secs(5),
        claim_batch: None,
        claim_concurrency: 1,
    };
    let (system, stop, served) = start_serving(&options, &args.api, duration).await?;
    let url = api::url(served.address);
    println!(
        "oa demo: store {store}, {} workers × {} jobs; Ctrl-C to stop",
        options.workers, options.concurrency
    );
    println!("dashboard: {url}/dashboard   API: {url}/status   docs: {url}/docs/");
    let generator = tokio::spawn(demo::generate(
        system.manager.clone(),
        demo::Workload { rate: args.rate },
        stop.clone(),
    ));
    let progress = demo::progress(&system, stop.clone());
    stop.cancelled().await;
    let _ = generator.await;
    let _ = progress.await;
    println!("stopping: running jobs finish (up to 10 s), the rest go back to the queue…");
    system.stop().await;
    finish_api(served).await?;
    println!("summary:\n{}", demo::summary_table(&system).await?);
    Ok(())
}

/// Starts the system and serves its API; the token stops both (Ctrl-C, SIGTERM or after
/// `duration`). When the port cannot be taken, the system is stopped again before the error.
async fn start_serving(
    options: &SystemOptions,
    api_args: &api::ApiArgs,
    duration: Option<Duration>,
) -> anyhow::Result<(System, CancellationToken, api::ServedApi)> {
    let system = System::start(options).await?;
    let stop = stop_signal(duration);
    match api::serve(&system, api_args, stop.child_token()).await {
        Ok(served) => Ok((system, stop, served)),
        Err(error) => {
            system.stop().await;
            Err(error)
        }
    }
}

async fn finish_api(served: api::ServedApi) -> anyhow::Result<()> {
    match served.task.await {
        Ok(result) => result.map_err(|error| anyhow::anyhow!("the API server failed: {error}")),
        Err(error) => Err(anyhow::anyhow!("the API server task failed: {error}")),
    }
}

async fn run_serve(args: ServeArgs) -> anyhow::Result<()> {
    let options = SystemOptions {
        store: args.store.store,
        workers: args.workers,
        concurrency: args.concurrency.max(1),
        shutdown_grace: seconds(args.shutdown_grace, "--shutdown-grace")?,
        worker_prefix: None,
        retention: args
            .retention
            .map(|r| seconds(r, "--retention"))
            .transpose()?,
        event_log: !args.store.no_event_log,
        follow_log: true,
        heartbeat_interval: positive_seconds(args.heartbeat_interval, "--heartbeat-interval")?,
        claim_batch: None,
        claim_concurrency: 1,
    };
    let (system, stop, served) = start_serving(&options, &args.api, None).await?;
    let url = api::url(served.address);
    println!(
        "oa serve: store {}, {} workers; dashboard {url}/dashboard",
        options.store, options.workers
    );
    stop.cancelled().await;
    system.stop().await;
    finish_api(served).await
}

/// A directory removed when the demo ends.
#[derive(Debug)]
struct TempDirGuard(PathBuf);

impl Drop for TempDirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("oa-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

async fn run_worker(args: WorkerArgs) -> anyhow::Result<()> {
    let options = SystemOptions {
        store: args.store.store,
        workers: args.workers.max(1),
        concurrency: args.concurrency.max(1),
        shutdown_grace: seconds(args.shutdown_grace, "--shutdown-grace")?,
        worker_prefix: args.id,
        retention: args
            .retention
            .map(|r| seconds(r, "--retention"))
            .transpose()?,
        event_log: !args.store.no_event_log,
        follow_log: false,
        heartbeat_interval: positive_seconds(args.heartbeat_interval, "--heartbeat-interval")?,
        claim_batch: args.claim_batch,
        claim_concurrency: args.claim_concurrency,
    };
    let system = System::start(&options).await?;
    let ids: Vec<&str> = system
        .workers
        .workers()
        .iter()
        .map(oa_jobs::WorkerHandle::id)
        .collect();
    println!(
        "oa worker: {} over {} handling {}",
        ids.join(", "),
        options.store,
        handlers::NAMES.join(", ")
    );
    stop_signal(None).cancelled().await;
    system.stop().await;
    Ok(())
}

async fn run_jobs(command: JobsCommand) -> anyhow::Result<()> {
    use jobs_cmd::JobsAction;
    let (store, action) = match command {
        JobsCommand::List {
            store,
            status,
            name,
            tag,
            priority,
            limit,
            offset,
            json,
        } => {
            let mut filter = JobFilter::all();
            if let Some(status) = status {
                filter = filter.status(status);
            }
            if let Some(name) = name {
                filter = filter.name(name);
            }
            if let Some(tag) = tag {
                filter = filter.tag(tag);
            }
            if let Some(priority) = priority {
                filter = filter.priority(priority);
            }
            (
                store,
                JobsAction::List {
                    filter,
                    limit,
                    offset,
                    json,
                },
            )
        }
        JobsCommand::Get(a) => (a.store, JobsAction::Get { id: a.id }),
        JobsCommand::Cancel(a) => (a.store, JobsAction::Cancel { id: a.id }),
        JobsCommand::Pause(a) => (a.store, JobsAction::Pause { id: a.id }),
        JobsCommand::Resume(a) => (a.store, JobsAction::Resume { id: a.id }),
        JobsCommand::Retry(a) => (a.store, JobsAction::Retry { id: a.id }),
    };
    jobs_cmd::jobs(&store.store, action).await
}

/// The error and its causes on one line, leaving out a cause whose text the line already holds
/// (many errors print their source themselves).
fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace('\n', " ")
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

fn print_event_types(json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let types: Vec<serde_json::Value> = EventType::ALL
            .into_iter()
            .map(|t| {
                serde_json::json!({
                    "wire_name": t.as_str(),
                    "category": t.category().as_str(),
                    "seed_name": t.seed_name(),
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &types)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{:<22} {:<8} SEED NAME", "WIRE NAME", "CATEGORY")?;
        for t in EventType::ALL {
            writeln!(
                out,
                "{:<22} {:<8} {}",
                t.as_str(),
                t.category(),
                t.seed_name()
            )?;
        }
    }
    out.flush()?;
    Ok(())
}
