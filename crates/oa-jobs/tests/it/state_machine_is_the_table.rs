//! The status state machine is exactly the table of ARCHITECTURE.md: every legal move works,
//! every other one is a typed error that changes nothing.

use chrono::{TimeDelta, Utc};
use oa_jobs::{Error, Job, JobError, JobStatus, LostOutcome};
use proptest::prelude::*;
use serde_json::Value;

use JobStatus::{Cancelled, Completed, Created, Failed, Paused, Queued, Running};

/// The table, written out independently of the code.
const LEGAL: &[(JobStatus, JobStatus)] = &[
    (Created, Queued),
    (Created, Cancelled),
    (Queued, Running),
    (Queued, Paused),
    (Queued, Cancelled),
    (Running, Running),
    (Running, Paused),
    (Running, Queued),
    (Running, Completed),
    (Running, Failed),
    (Running, Cancelled),
    (Paused, Queued),
    (Paused, Running),
    (Paused, Cancelled),
];

fn job_in(status: JobStatus) -> Job {
    let mut job = Job::new("table", Value::Null, Utc::now()).unwrap();
    job.status = status;
    job
}

#[test]
fn every_pair_of_statuses() {
    for from in JobStatus::ALL {
        for to in JobStatus::ALL {
            let legal = LEGAL.contains(&(from, to));
            assert_eq!(from.can_transition_to(to), legal, "{from} -> {to}");
            let mut job = job_in(from);
            let before = job.clone();
            match job.transition(to, Utc::now()) {
                Ok(()) => {
                    assert!(legal, "{from} -> {to} was allowed");
                    assert_eq!(job.status, to);
                    assert_eq!(job.finished_at.is_some(), to.is_final());
                }
                Err(Error::InvalidTransition {
                    from: f,
                    to: t,
                    job_id,
                }) => {
                    assert!(!legal, "{from} -> {to} was refused");
                    assert_eq!((f, t, job_id), (from, to, before.id.clone()));
                    assert_eq!(job, before, "a refused move changed the job");
                }
                Err(other) => panic!("unexpected error {other}"),
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Enqueue,
    Start,
    Complete,
    Fail(bool),
    Pause,
    Resume,
    Cancel,
    Lost,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Enqueue),
        Just(Op::Start),
        Just(Op::Complete),
        any::<bool>().prop_map(Op::Fail),
        Just(Op::Pause),
        Just(Op::Resume),
        Just(Op::Cancel),
        Just(Op::Lost),
    ]
}

proptest! {
    /// Any sequence of operations only ever makes legal moves, and a refused operation leaves
    /// the job exactly as it was.
    #[test]
    fn operations_follow_the_table(ops in prop::collection::vec(op(), 1..40), retries in 0_u32..3) {
        let start = Utc::now();
        let mut job = Job::new("prop", Value::Null, start).unwrap();
        job.max_retries = retries;
        for (i, op) in ops.into_iter().enumerate() {
            let now = start + TimeDelta::seconds(i64::try_from(i).unwrap());
            let before = job.clone();
            let result = match op {
                Op::Enqueue => job.enqueue(now, now),
                Op::Start => job.start("w", now, now + TimeDelta::seconds(30)),
                Op::Complete => job.complete(Value::Bool(true), now),
                Op::Fail(retryable) => {
                    let error = if retryable { JobError::new("e", "m") } else { JobError::fatal("e", "m") };
                    job.fail_attempt(error, now).map(|_| ())
                }
                Op::Pause => job.pause(now),
                Op::Resume => job.resume(now).map(|_| ()),
                Op::Cancel => job.cancel(now),
                Op::Lost => match job.release_lost(now) {
                    LostOutcome::NotHeld => Err(Error::ShuttingDown),
                    _ => Ok(()),
                },
            };
            match result {
                Ok(()) => {
                    let moved = before.status != job.status;
                    prop_assert!(
                        !moved || LEGAL.contains(&(before.status, job.status)),
                        "{} -> {} via an operation", before.status, job.status
                    );
                    prop_assert!(!before.status.is_final() || !moved);
                    prop_assert_eq!(job.is_held(), matches!(job.status, Running | Paused) && job.worker_id.is_some());
                    // Attempts beyond the retries only while one is under way: a paused job
                    // whose worker was lost stays paused, and resuming it starts a new attempt
                    // (a pause is the user's, not a failure), which may be paused again.
                    prop_assert!(job.attempt <= job.max_retries + 1 || job.status.is_final() || matches!(job.status, Running | Paused));
                }
                Err(_) => prop_assert_eq!(&job, &before),
            }
            prop_assert!((0.0..=1.0).contains(&job.progress));
            prop_assert_eq!(job.finished_at.is_some(), job.status.is_final());
        }
    }
}

/// Found by the property above: a paused job whose worker is lost stays paused; queued again
/// and claimed, it starts a new attempt even without retries left (the pause was the user's,
/// not a failure), and that attempt can be paused in turn.
#[test]
fn a_paused_job_released_by_a_lost_worker_can_run_and_pause_again() {
    let start = Utc::now();
    let at = |s: i64| start + TimeDelta::seconds(s);
    let mut job = Job::new("prop", Value::Null, start).unwrap();
    job.max_retries = 0;
    job.enqueue(at(0), at(0)).unwrap();
    job.start("w", at(1), at(31)).unwrap();
    job.pause(at(2)).unwrap();
    assert_ne!(job.release_lost(at(3)), LostOutcome::NotHeld);
    assert_eq!(job.status, Paused);
    assert!(!job.is_held());
    job.enqueue(at(4), at(4)).unwrap();
    job.start("w2", at(5), at(35)).unwrap();
    assert_eq!(job.attempt, 2);
    job.pause(at(6)).unwrap();
    assert_eq!((job.status, job.attempt), (Paused, 2));
    assert!(job.is_held());
}
