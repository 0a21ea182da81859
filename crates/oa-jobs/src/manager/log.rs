//! The appender: writes the events that describe no stored change (progress, heartbeats,
//! registrations, system errors) to the store's event log, many per transaction.
//!
//! Events wait in a bounded queue; when the log cannot be written (the database is down), the
//! batch is retried with backoff until it can, so that events of an outage (its `system.error`
//! events among them) reach the log once the database is back. A full queue drops new events
//! and counts them ([`Appender::dropped`]); emitting never waits for the database.
//!
//! Order: a change's events are written in the change's transaction, so an appended event
//! (a job's progress) could land after a later change (its completion). Writers of changes
//! therefore wait for [`Appender::flushed`] first: every event queued before that call is in
//! the log (immediate when nothing waits, as under a load without progress events).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use oa_events::{Event, EventLog};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

/// How many events wait for the log at most.
const QUEUE_CAPACITY: usize = 65_536;
/// How many events one transaction appends at most.
const BATCH: usize = 1_024;
/// The first and the longest wait before a failed append is tried again.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How many times a batch is tried once the manager shuts down.
const ATTEMPTS_AT_SHUTDOWN: u32 = 3;

/// The sending side, shared by every copy of the engine's `Events`.
#[derive(Debug)]
pub(crate) struct Appender {
    queue: mpsc::Sender<Event>,
    dropped: AtomicU64,
    log: Arc<dyn EventLog>,
    /// Events queued so far.
    queued: AtomicU64,
    /// Events written (or given up) so far, published by the drain task.
    done: watch::Receiver<u64>,
}

impl Appender {
    /// An appender over `log` and the task that drains it (to spawn), which runs until
    /// `shutdown` and then flushes what is queued.
    pub(crate) fn start(
        log: Arc<dyn EventLog>,
        shutdown: CancellationToken,
    ) -> (Arc<Self>, impl Future<Output = ()> + Send + 'static) {
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let (done_tx, done) = watch::channel(0);
        let appender = Arc::new(Self {
            queue,
            dropped: AtomicU64::new(0),
            log: Arc::clone(&log),
            queued: AtomicU64::new(0),
            done,
        });
        (appender, drain(log, receiver, shutdown, done_tx))
    }

    /// The log events are written to.
    pub(crate) fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Queues `event` for the log; drops it (counted) when the queue is full.
    pub(crate) fn append(&self, event: Event) {
        match self.queue.try_send(event) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::AcqRel);
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, "event log queue full: events not logged");
                }
            }
            // After shutdown: nothing is appended any more.
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Resolves once every event queued before this call is in the log (or was given up at
    /// shutdown). Immediate when nothing is queued.
    pub(crate) async fn flushed(&self) {
        let target = self.queued.load(Ordering::Acquire);
        if *self.done.borrow() >= target {
            return;
        }
        let mut done = self.done.clone();
        // An error means the drain task ended: nothing more will be written.
        let _ = done.wait_for(|done| *done >= target).await;
    }

    /// How many events could not be queued for the log.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn drain(
    log: Arc<dyn EventLog>,
    mut receiver: mpsc::Receiver<Event>,
    shutdown: CancellationToken,
    done: watch::Sender<u64>,
) {
    let finish = |count: usize| done.send_modify(|done| *done += count as u64);
    let mut batch = Vec::with_capacity(BATCH);
    let mut closing = false;
    loop {
        if batch.is_empty() {
            let received = if closing {
                receiver.recv_many(&mut batch, BATCH).await
            } else {
                tokio::select! {
                    received = receiver.recv_many(&mut batch, BATCH) => received,
                    () = shutdown.cancelled() => {
                        receiver.close();
                        closing = true;
                        continue;
                    }
                }
            };
            if received == 0 {
                return;
            }
        }
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            match log.append(&batch).await {
                Ok(()) => {
                    if attempt > 1 {
                        tracing::info!(events = batch.len(), attempt, "event log writable again");
                    }
                    finish(batch.len());
                    batch.clear();
                    break;
                }
                Err(error) if closing && attempt >= ATTEMPTS_AT_SHUTDOWN => {
                    tracing::error!(%error, lost = batch.len(), "events not logged at shutdown");
                    finish(batch.len());
                    batch.clear();
                    break;
                }
                Err(error) => {
                    if attempt == 1 || attempt.is_power_of_two() {
                        tracing::warn!(%error, events = batch.len(), attempt, "event log append failed; retrying");
                    }
                    let sleep = tokio::time::sleep(backoff);
                    if closing {
                        sleep.await;
                    } else {
                        tokio::select! {
                            () = sleep => {}
                            () = shutdown.cancelled() => {
                                receiver.close();
                                closing = true;
                            }
                        }
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
            }
        }
    }
}
