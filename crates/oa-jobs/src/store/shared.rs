//! Logic the stores share, so that each computes claim order, duplicates and batch outcomes
//! the same way, and the SQL stores encode and decode the events of their logs the same way.

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

/// The updates of a batch, each encoded with `encode` (whole jobs, or only what an attempt's
/// end changes), when the batch can be written as one set: every update allowed by the state
/// machine, encodable, and for a distinct job. `None` otherwise: the store then takes the way
/// that reports each update on its own.
pub(crate) fn whole_batch<E>(
    updates: &[JobUpdate],
    encode: impl Fn(&Job) -> Result<E>,
) -> Option<Vec<(E, JobStatus)>> {
    let mut ids = std::collections::HashSet::with_capacity(updates.len());
    if !updates.iter().all(|u| ids.insert(u.job.id.as_str())) {
        return None;
    }
    let plan = plan_batch(updates, encode);
    (plan.pending.len() == updates.len()).then_some(plan.pending)
}

/// What [`JobStore::finish_attempts`](super::JobStore::finish_attempts) does by default, and
/// what the SQL stores fall back to when the ends of attempts cannot be written as they are:
/// one update on its own (a failure of the database fails it whole, for the caller to try
/// again), or [`update_many`](super::JobStore::update_many), which reports each update.
pub(crate) async fn finish_by_updates<S: super::JobStore + ?Sized>(
    store: &S,
    updates: &[JobUpdate],
) -> Result<Vec<Result<()>>> {
    match updates {
        [single] => match store.update(single).await {
            Err(error @ Error::Database { .. }) => Err(error),
            other => Ok(vec![other]),
        },
        many => store.update_many(many).await,
    }
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

/// An event as the SQL stores write it in their log: the columns of one row (the log assigns
/// `seq`). Encoding can fail, binding cannot.
#[derive(Debug)]
pub(crate) struct EncodedEvent {
    /// The event's id.
    pub(crate) id: uuid::Uuid,
    /// Its wire name.
    pub(crate) event_type: &'static str,
    /// Its time, in nanoseconds since the Unix epoch (as every time of the SQL stores).
    pub(crate) timestamp: i64,
    /// The job it is about.
    pub(crate) job_id: Option<String>,
    /// The worker it is about.
    pub(crate) worker_id: Option<String>,
    /// Its data, a JSON object as text.
    pub(crate) data: String,
}

impl EncodedEvent {
    /// The columns of `event`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a timestamp outside the years 1677 to 2262 (what 64 bits
    /// of nanoseconds hold).
    pub(crate) fn new(event: &oa_events::Event) -> Result<Self> {
        let timestamp =
            event
                .timestamp
                .timestamp_nanos_opt()
                .ok_or_else(|| Error::InvalidArgument {
                    field: "event.timestamp",
                    message: format!(
                        "{} cannot be stored in the event log (years 1677 to 2262 only)",
                        event.timestamp
                    ),
                })?;
        let data = serde_json::to_string(&event.data).map_err(|e| Error::InvalidArgument {
            field: "event.data",
            message: format!("cannot be serialized as JSON: {e}"),
        })?;
        Ok(Self {
            id: event.id,
            event_type: event.event_type.as_str(),
            timestamp,
            job_id: event.job_id.clone(),
            worker_id: event.worker_id.clone(),
            data,
        })
    }

    /// The columns of each of `events`, in order.
    ///
    /// # Errors
    /// As [`EncodedEvent::new`].
    pub(crate) fn all(events: &[oa_events::Event]) -> Result<Vec<Self>> {
        events.iter().map(Self::new).collect()
    }
}

/// A row of a SQL store's log read back: `seq` and the columns [`EncodedEvent`] wrote.
#[derive(Debug)]
pub(crate) struct StoredEvent<'a> {
    /// The row's sequence number.
    pub(crate) seq: i64,
    /// The event's id, as its store keeps it.
    pub(crate) id: std::result::Result<uuid::Uuid, String>,
    /// Its wire name.
    pub(crate) event_type: &'a str,
    /// Its time, in nanoseconds since the Unix epoch.
    pub(crate) timestamp: i64,
    /// The job it is about.
    pub(crate) job_id: Option<String>,
    /// The worker it is about.
    pub(crate) worker_id: Option<String>,
    /// Its data, a JSON object as text.
    pub(crate) data: &'a str,
}

impl StoredEvent<'_> {
    /// The event, with its durable `seq`.
    ///
    /// # Errors
    /// [`LogError::Corrupt`](oa_events::LogError::Corrupt) when a column cannot be read back.
    pub(crate) fn decode(self) -> std::result::Result<oa_events::Event, oa_events::LogError> {
        let corrupt = |seq: u64, message: String| oa_events::LogError::Corrupt { seq, message };
        let seq = u64::try_from(self.seq)
            .map_err(|_| corrupt(0, format!("negative sequence number {}", self.seq)))?;
        let id = self
            .id
            .map_err(|e| corrupt(seq, format!("column `id`: {e}")))?;
        let event_type: oa_events::EventType = self
            .event_type
            .parse()
            .map_err(|e| corrupt(seq, format!("column `event_type`: {e}")))?;
        let data: serde_json::Map<String, serde_json::Value> = serde_json::from_str(self.data)
            .map_err(|e| corrupt(seq, format!("column `data`: {e}")))?;
        let mut event = oa_events::Event::new(event_type)
            .with_id(id)
            .with_timestamp(DateTime::from_timestamp_nanos(self.timestamp));
        event.seq = seq;
        event.job_id = self.job_id;
        event.worker_id = self.worker_id;
        event.data = data;
        Ok(event)
    }
}

/// A store error as the event log reports it: the database could not be used.
#[allow(
    clippy::needless_pass_by_value,
    reason = "a `map_err` function, given the error it replaces"
)]
pub(crate) fn log_unavailable(error: Error) -> oa_events::LogError {
    oa_events::LogError::Unavailable {
        message: error.to_string(),
    }
}

/// The time before which retention trims events by age (`None`: no event is that old).
pub(crate) fn trim_cutoff(
    retention: &oa_events::LogRetention,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    chrono::TimeDelta::from_std(retention.max_age)
        .ok()
        .and_then(|age| now.checked_sub_signed(age))
}
