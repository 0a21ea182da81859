//! The handlers built into the `oa` command: a few general ones (`echo`, `sleep`, `fail`) and
//! the kinds of jobs the demo runs. `oa serve` and `oa worker` register all of them, so jobs
//! submitted with `oa submit` have something to run them.

use std::time::Duration;

use oa_jobs::{JobContext, JobError, WorkerBuilder};
use serde_json::{Value, json};

/// The names of the built-in handlers.
pub(crate) const NAMES: [&str; 9] = [
    "echo",
    "sleep",
    "fail",
    "send_email",
    "generate_report",
    "flaky_api",
    "import_csv",
    "video_encode",
    "export_archive",
];

/// Registers every built-in handler on `builder`.
pub(crate) fn register(builder: WorkerBuilder) -> WorkerBuilder {
    builder
        .handler("echo", |ctx: JobContext| async move {
            Ok::<_, JobError>(ctx.payload().clone())
        })
        .handler("sleep", sleep)
        .handler("fail", fail)
        .handler("send_email", send_email)
        .handler("generate_report", |ctx: JobContext| stepped(ctx, 1500, 8))
        .handler("flaky_api", flaky_api)
        .handler("import_csv", |_ctx: JobContext| async {
            Err::<Value, _>(JobError::new(
                "invalid_row",
                "row 42: `2026-13-01` is not a date",
            ))
        })
        .handler("video_encode", |ctx: JobContext| stepped(ctx, 6000, 30))
        .handler("export_archive", |ctx: JobContext| stepped(ctx, 20_000, 40))
}

fn millis(payload: &Value, key: &str, default: u64) -> u64 {
    payload
        .get(key)
        .and_then(Value::as_u64)
        .unwrap_or(default)
        .min(3_600_000)
}

/// Works for `ms` milliseconds (payload, default 1000) in `steps` steps, reporting progress
/// and honouring pause and cancellation at each step.
async fn sleep(ctx: JobContext) -> Result<Value, JobError> {
    let total = millis(ctx.payload(), "ms", 1000);
    let steps = millis(ctx.payload(), "steps", 10).clamp(1, 1000);
    stepped(ctx, total, steps).await
}

async fn stepped(ctx: JobContext, total_ms: u64, steps: u64) -> Result<Value, JobError> {
    let total_ms = millis(ctx.payload(), "ms", total_ms);
    let step = Duration::from_millis(total_ms / steps.max(1));
    for done in 1..=steps {
        ctx.checkpoint().await?;
        tokio::select! {
            () = tokio::time::sleep(step) => {}
            () = ctx.cancellation().cancelled() => {
                return Err(JobError::fatal("cancelled", "stopped at a step boundary"));
            }
        }
        ctx.progress(done as f64 / steps as f64);
    }
    Ok(json!({ "worked_ms": total_ms, "steps": steps }))
}

/// Fails with the payload's `kind` and `message`; for good when `fatal` is true.
async fn fail(ctx: JobContext) -> Result<Value, JobError> {
    let payload = ctx.payload();
    let kind = payload
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("failure");
    let message = payload
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("asked to fail");
    if payload
        .get("fatal")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        Err(JobError::fatal(kind, message))
    } else {
        Err(JobError::new(kind, message))
    }
}

/// A short job; fails now and then like a flaky SMTP server.
async fn send_email(ctx: JobContext) -> Result<Value, JobError> {
    let delay = 20 + fastrand::u64(..180);
    tokio::time::sleep(Duration::from_millis(delay)).await;
    if fastrand::u8(..100) < 4 {
        return Err(JobError::new(
            "smtp_421",
            "service not available, try again later",
        ));
    }
    let to = ctx.payload().get("to").cloned().unwrap_or(Value::Null);
    Ok(json!({ "delivered_to": to, "ms": delay }))
}

/// Fails until the attempt given by `succeed_on_attempt` (default 2).
async fn flaky_api(ctx: JobContext) -> Result<Value, JobError> {
    tokio::time::sleep(Duration::from_millis(50 + fastrand::u64(..100))).await;
    let succeed_on = ctx
        .payload()
        .get("succeed_on_attempt")
        .and_then(Value::as_u64)
        .unwrap_or(2);
    if u64::from(ctx.attempt()) < succeed_on {
        return Err(JobError::new(
            "http_503",
            format!("upstream unavailable (attempt {})", ctx.attempt()),
        ));
    }
    Ok(json!({ "status": 200, "attempt": ctx.attempt() }))
}
