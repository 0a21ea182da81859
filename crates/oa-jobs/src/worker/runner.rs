//! Runs one attempt of one job: the handler under its timeout, pause and cancellation, then
//! hands the outcome to the commit writer.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt as _;
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::WorkerShared;
use super::context::JobContext;
use super::control::JobControl;
use super::handler::JobHandler;
use super::writer::{Commit, Outcome};
use crate::job::{Job, JobError};

/// How the handler's run ended.
enum Ended {
    /// It returned (or panicked: `Err` holds the panic message).
    Returned(Result<Result<Value, JobError>, String>),
    /// Its timeout passed.
    TimedOut,
    /// It was cancelled (by a user, a lost lease or the worker stopping) and did not return
    /// within the grace period, or the worker was killed.
    Dropped,
}

/// Runs `job` (already claimed and announced) and releases `permit` at the end.
pub(crate) async fn run(
    worker: Arc<WorkerShared>,
    job: Job,
    handler: Arc<dyn JobHandler>,
    permit: OwnedSemaphorePermit,
) {
    let job_id = job.id.clone();
    let timeout = job.timeout;
    let control = Arc::new(JobControl::new(job, worker.manager.events.clone()));
    worker
        .manager
        .controls
        .insert(job_id.clone(), Arc::clone(&control));
    worker.running.insert(job_id.clone(), Arc::clone(&control));

    let ended = drive(&worker, &control, handler, timeout).await;
    control.flush_progress();
    let result = match ended {
        Ended::Returned(result) if !control.is_cancelled() => {
            wait_while_paused(&worker, &control).await;
            (!control.is_cancelled()).then_some(Ok(result))
        }
        // The timeout itself cancelled the token; a user's cancel meanwhile is caught by the
        // store's status check when the outcome is written.
        Ended::TimedOut => Some(Err(())),
        _ => None,
    };
    worker.running.remove(&job_id);
    // Only this attempt's entry: a newer claim of the same job in this process (after a lost
    // lease) may have registered its own control meanwhile.
    worker
        .manager
        .controls
        .remove_if(&job_id, |_, registered| Arc::ptr_eq(registered, &control));
    let commit = result.map(|result| {
        // Unregistered, and the handler (with its context) is gone: the claimed job is
        // usually this runner's alone to finish, without a copy.
        let job = Arc::try_unwrap(control)
            .map_or_else(|shared| shared.job().clone(), JobControl::into_job);
        match result {
            Ok(result) => outcome(&worker, job, result),
            Err(()) => {
                let limit = timeout.unwrap_or_default();
                let error = JobError::new(
                    "timeout",
                    format!(
                        "the attempt ran longer than its timeout of {} ms",
                        limit.as_millis()
                    ),
                );
                failure(&worker, job, error, "timeout")
            }
        }
    });
    drop(permit);
    if let Some(commit) = commit {
        // The writer only stops after every runner is done, so this cannot fail but when
        // the worker was killed, in which case dropping the outcome is the point.
        let _ = worker.commits.send(commit).await;
    }
}

async fn drive(
    worker: &WorkerShared,
    control: &Arc<JobControl>,
    handler: Arc<dyn JobHandler>,
    timeout: Option<std::time::Duration>,
) -> Ended {
    let context = JobContext::new(Arc::clone(control));
    let mut run = AssertUnwindSafe(handler.call(context)).catch_unwind();
    let mut deadline = timeout.map(|t| Instant::now() + t);
    let mut paused_since: Option<Instant> = None;
    let mut grace_until: Option<Instant> = None;
    loop {
        // Enabled before the flag is read, so a pause or resume from now on wakes this loop.
        let pause_changed = control.pause_changed();
        tokio::pin!(pause_changed);
        pause_changed.as_mut().enable();
        match (control.is_paused(), paused_since) {
            (true, None) => paused_since = Some(Instant::now()),
            (false, Some(since)) => {
                // Paused time does not count against the timeout.
                deadline = deadline.map(|d| d + since.elapsed());
                paused_since = None;
            }
            _ => {}
        }
        let flush_at = control.held_until();
        tokio::select! {
            biased;
            result = &mut run => {
                return Ended::Returned(result.map_err(|panic| panic_message(&*panic)));
            }
            () = worker.killed.cancelled() => return Ended::Dropped,
            () = control.token().cancelled(), if grace_until.is_none() => {
                grace_until = Some(Instant::now() + worker.config.cancel_grace);
            }
            () = sleep_until(grace_until) => return Ended::Dropped,
            () = sleep_until(deadline.filter(|_| paused_since.is_none())) => {
                control.cancel();
                return Ended::TimedOut;
            }
            () = &mut pause_changed => {}
            () = control.progress_held.notified(), if flush_at.is_none() => {}
            () = sleep_until(flush_at) => control.flush_progress(),
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A handler returned while its job was paused: the outcome is recorded once the job is
/// resumed (or dropped if it is cancelled), so a paused job never completes behind the
/// user's back.
async fn wait_while_paused(worker: &WorkerShared, control: &JobControl) {
    loop {
        let resumed = control.pause_changed();
        tokio::pin!(resumed);
        resumed.as_mut().enable();
        if !control.is_paused() || control.is_cancelled() {
            return;
        }
        tokio::select! {
            () = control.token().cancelled() => return,
            () = worker.killed.cancelled() => return,
            () = &mut resumed => {}
        }
    }
}

fn outcome(
    worker: &WorkerShared,
    mut job: Job,
    result: Result<Result<Value, JobError>, String>,
) -> Commit {
    match result {
        Ok(Ok(value)) => {
            let now = worker.manager.events.clock.now();
            // The claimed copy is running; `complete` cannot fail on it.
            match job.complete(value, now) {
                Ok(()) => Commit {
                    job,
                    worker_id: worker.id.clone(),
                    outcome: Outcome::Completed,
                },
                // A refused transition changes nothing: the job is still the claimed one.
                Err(error) => failure(
                    worker,
                    job,
                    JobError::new("engine", error.to_string()),
                    "error",
                ),
            }
        }
        Ok(Err(error)) => failure(worker, job, error, "error"),
        Err(panic) => failure(worker, job, JobError::new("panic", panic), "panic"),
    }
}

fn failure(worker: &WorkerShared, mut job: Job, error: JobError, reason: &'static str) -> Commit {
    let now = worker.manager.events.clock.now();
    let outcome = match job.fail_attempt(error, now) {
        Ok(Some(next_run_at)) => Outcome::Retrying {
            reason,
            next_run_at,
        },
        Ok(None) | Err(_) => Outcome::Failed,
    };
    Commit {
        job,
        worker_id: worker.id.clone(),
        outcome,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        format!("the handler panicked: {message}")
    } else if let Some(message) = panic.downcast_ref::<String>() {
        format!("the handler panicked: {message}")
    } else {
        "the handler panicked".to_owned()
    }
}
