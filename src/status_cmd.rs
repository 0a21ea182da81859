//! `oa status`: the monitor's status from a running server, as a table or raw JSON.

use std::io::Write as _;

use anyhow::Context as _;
use serde_json::Value;

pub(crate) async fn status(url: &str, token: Option<&str>, json: bool) -> anyhow::Result<()> {
    let base = url.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .context("cannot build an HTTP client")?;
    let mut request = client.get(format!("{base}/status"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach {base}"))?;
    let code = response.status();
    let body: Value = response
        .json()
        .await
        .context("the server did not answer JSON")?;
    if !code.is_success() {
        let detail = body
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or("no detail");
        anyhow::bail!("{base}/status answered {code}: {detail}");
    }
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &body)?;
        writeln!(out)?;
        return Ok(());
    }
    let jobs = &body["jobs"];
    let system = &body["system"];
    let number = |v: &Value| v.as_f64().unwrap_or_default();
    writeln!(out, "JOBS")?;
    for key in [
        "total_jobs",
        "completed_jobs",
        "failed_jobs",
        "cancelled_jobs",
        "currently_running",
        "retries",
    ] {
        writeln!(out, "  {key:<22} {}", jobs[key])?;
    }
    writeln!(
        out,
        "  {:<22} {:.1} %",
        "success_rate",
        number(&jobs["success_rate"])
    )?;
    writeln!(
        out,
        "  {:<22} {:.3} s",
        "p95_execution_time",
        number(&jobs["p95_execution_time"])
    )?;
    writeln!(
        out,
        "  {:<22} {:.2} jobs/s",
        "throughput (1m)",
        number(&jobs["throughput"]["1m"])
    )?;
    writeln!(out, "SYSTEM")?;
    for key in [
        "uptime_formatted",
        "queue_depth",
        "events_total",
        "error_count",
        "enabled",
    ] {
        writeln!(out, "  {key:<22} {}", system[key])?;
    }
    writeln!(out, "WORKERS ({} active)", body["workers"]["active_count"])?;
    if let Some(workers) = body["workers"]["workers"].as_object() {
        for (id, worker) in workers {
            writeln!(
                out,
                "  {id:<30} {:<8} running {:<4} done {:<6} last heartbeat {:.1} s ago",
                worker["status"].as_str().unwrap_or("?"),
                worker["running_jobs"],
                worker["jobs_completed"],
                number(&worker["last_heartbeat"])
            )?;
        }
    }
    Ok(())
}
