//! Logic the stores share, so that each computes claim order, duplicates and batch outcomes
//! the same way.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::check_update;
use super::types::JobUpdate;
use crate::error::{Error, Result};
use crate::job::Job;
use crate::status::JobStatus;

/// The order claims take queued jobs in: highest priority first, then the oldest `queued_at`,
/// then the id. Every store claims in this order.
pub(crate) fn claim_order(job: &Job) -> (std::cmp::Reverse<i64>, DateTime<Utc>, &str) {
    (
        std::cmp::Reverse(job.priority.rank()),
        job.queued_at.unwrap_or(job.created_at),
        &job.id,
    )
}

/// Sorts claimed jobs in [`claim_order`] (a database's `RETURNING` gives no order).
pub(crate) fn sort_in_claim_order(jobs: &mut [Job]) {
    jobs.sort_by(|a, b| claim_order(a).cmp(&claim_order(b)));
}

/// The first job of `jobs`, in order, whose id is taken (`is_taken`) or repeated within `jobs`.
pub(crate) fn first_duplicate_id(jobs: &[Job], is_taken: impl Fn(&str) -> bool) -> Option<&str> {
    let mut seen = std::collections::HashSet::with_capacity(jobs.len());
    jobs.iter()
        .map(|job| job.id.as_str())
        .find(|id| is_taken(id) || !seen.insert(*id))
}

/// The first step of an `update_many` in the SQL stores: the updates the state machine
/// allows, encoded for the database, and what became of the others.
#[derive(Debug)]
pub(crate) struct BatchPlan<'a, E> {
    /// Per update, in order: `None` when it is in `pending`; `Some(None)` for a move the state
    /// machine forbids (reported from the stored status); `Some(Some(error))` for a value that
    /// cannot be stored.
    pub(crate) outcomes: Vec<Option<Option<Error>>>,
    /// The encoded jobs to write, each with the status it must still have.
    pub(crate) pending: Vec<(E, JobStatus)>,
    /// The ids of the forbidden moves, whose stored statuses tell conflict from forbidden.
    pub(crate) forbidden: Vec<&'a str>,
}

/// Sorts `updates` into a [`BatchPlan`], encoding the allowed ones with `encode`.
pub(crate) fn plan_batch<E>(
    updates: &[JobUpdate],
    encode: impl Fn(&Job) -> Result<E>,
) -> BatchPlan<'_, E> {
    let mut plan = BatchPlan {
        outcomes: Vec::with_capacity(updates.len()),
        pending: Vec::with_capacity(updates.len()),
        forbidden: Vec::new(),
    };
    for update in updates {
        if check_update(update, update.expected).is_err() {
            plan.forbidden.push(&update.job.id);
            plan.outcomes.push(Some(None));
            continue;
        }
        match encode(&update.job) {
            Ok(job) => {
                plan.pending.push((job, update.expected));
                plan.outcomes.push(None);
            }
            Err(e) => plan.outcomes.push(Some(Some(e))),
        }
    }
    plan
}

/// The result of each update of a batch whose pending updates were all written, given the
/// stored statuses of the forbidden ones.
pub(crate) fn batch_results(
    updates: &[JobUpdate],
    outcomes: Vec<Option<Option<Error>>>,
    stored: &HashMap<String, JobStatus>,
) -> Vec<Result<()>> {
    updates
        .iter()
        .zip(outcomes)
        .map(|(update, outcome)| match outcome {
            None => Ok(()),
            Some(Some(error)) => Err(error),
            // The move is forbidden from any status, so this is a conflict or the forbidden move.
            Some(None) => match stored.get(&update.job.id) {
                None => Err(Error::JobNotFound {
                    job_id: update.job.id.clone(),
                }),
                Some(&status) => check_update(update, status),
            },
        })
        .collect()
}
