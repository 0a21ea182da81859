//! `oa submit` and `oa jobs ...`: work on the jobs of a store directly.

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use oa_jobs::store::{JobFilter, Page};
use oa_jobs::{Job, JobManager, JobStatus, NewJob, Priority};

use crate::store_url::StoreUrl;

/// What `oa submit` creates.
#[derive(Debug, Clone)]
pub(crate) struct Submit {
    pub(crate) name: String,
    pub(crate) payload: Option<String>,
    pub(crate) priority: Priority,
    pub(crate) tags: Vec<String>,
    pub(crate) max_retries: Option<u32>,
    pub(crate) timeout_secs: Option<f64>,
    pub(crate) json: bool,
}

async fn manager(store: &StoreUrl) -> anyhow::Result<JobManager> {
    let store = store.open().await?;
    Ok(JobManager::builder(store).build()?)
}

pub(crate) async fn submit(store: &StoreUrl, submit: Submit) -> anyhow::Result<()> {
    let payload = match &submit.payload {
        Some(text) => serde_json::from_str(text).context("--payload is not valid JSON")?,
        None => serde_json::Value::Null,
    };
    let mut job = NewJob::new(submit.name)
        .payload(payload)
        .priority(submit.priority)
        .tags(submit.tags);
    if let Some(retries) = submit.max_retries {
        job = job.max_retries(retries);
    }
    if let Some(secs) = submit.timeout_secs {
        let timeout = Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|t| !t.is_zero())
            .context("--timeout must be a positive number of seconds")?;
        job = job.timeout(timeout);
    }
    let manager = manager(store).await?;
    let job = manager.create(job).await?;
    manager.shutdown().await;
    print_job(&job, submit.json)
}

/// `oa jobs <action>`.
#[derive(Debug, Clone)]
pub(crate) enum JobsAction {
    List {
        filter: JobFilter,
        limit: u32,
        offset: u64,
        json: bool,
    },
    Get {
        id: String,
    },
    Cancel {
        id: String,
    },
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    Retry {
        id: String,
    },
}

pub(crate) async fn jobs(store: &StoreUrl, action: JobsAction) -> anyhow::Result<()> {
    let manager = manager(store).await?;
    let result = run(&manager, action).await;
    manager.shutdown().await;
    result
}

async fn run(manager: &JobManager, action: JobsAction) -> anyhow::Result<()> {
    match action {
        JobsAction::List {
            filter,
            limit,
            offset,
            json,
        } => {
            let page = manager.list(&filter, Page::new(limit, offset)?).await?;
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &page)?;
                writeln!(out)?;
            } else {
                writeln!(
                    out,
                    "{:<36}  {:<16} {:<9} {:<8} {:>7}  CREATED",
                    "ID", "NAME", "STATUS", "PRIORITY", "ATTEMPT"
                )?;
                for job in &page.jobs {
                    writeln!(
                        out,
                        "{:<36}  {:<16} {:<9} {:<8} {:>7}  {}",
                        job.id,
                        job.name,
                        job.status,
                        job.priority,
                        job.attempt,
                        job.created_at.format("%Y-%m-%d %H:%M:%S")
                    )?;
                }
                if let Some(next) = page.next_offset {
                    writeln!(out, "(more: --offset {next})")?;
                }
            }
            Ok(())
        }
        JobsAction::Get { id } => print_job(&manager.get(&id).await?, true),
        JobsAction::Cancel { id } => print_job(&manager.cancel(&id).await?, false),
        JobsAction::Pause { id } => print_job(&manager.pause(&id).await?, false),
        JobsAction::Resume { id } => print_job(&manager.resume(&id).await?, false),
        JobsAction::Retry { id } => print_job(&manager.retry(&id).await?, false),
    }
}

fn print_job(job: &Job, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, job)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{} {} {}", job.id, job.name, job.status)?;
    }
    Ok(())
}

/// Parses a `--status` value.
pub(crate) fn parse_status(value: &str) -> Result<JobStatus, String> {
    value.parse().map_err(|e: oa_jobs::Error| e.to_string())
}

/// Parses a `--priority` value.
pub(crate) fn parse_priority(value: &str) -> Result<Priority, String> {
    value.parse().map_err(|e: oa_jobs::Error| e.to_string())
}
