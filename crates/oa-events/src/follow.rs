//! [`LogFollower`]: reads a durable [`EventLog`] in order and emits its events into an
//! [`EventEmitter`], keeping their durable sequence numbers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{EventEmitter, EventError, EventLog};

/// How a [`LogFollower`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowOptions {
    /// Start after this sequence number; 0 (the default) replays every retained event first.
    pub after: u64,
    /// How many events one read takes at most (default 1,000).
    pub batch: u32,
    /// How often the log is read when no wake-up came (default 500 ms): the longest a
    /// lost notification delays an event.
    pub poll_interval: Duration,
}

impl Default for FollowOptions {
    fn default() -> Self {
        Self {
            after: 0,
            batch: 1_000,
            poll_interval: Duration::from_millis(500),
        }
    }
}

/// What a follower shares with its handle.
#[derive(Debug)]
struct Progress {
    /// The last sequence number emitted.
    position: AtomicU64,
    /// Events skipped because they were trimmed (or rolled back) before they were read.
    skipped: AtomicU64,
    /// Events emitted.
    followed: AtomicU64,
}

/// Follows a durable event log: reads it from a position (by default, from its oldest
/// retained event: a replay), emits each event into an emitter with
/// [`EventEmitter::emit_sequenced`] (so the emitter's `seq` is the log's), then waits for more
/// (the log's wake-up signal, or a poll). Read errors are logged and retried with backoff;
/// the follower never gives up until stopped.
///
/// A monitor attached to the emitter then counts the events of every process that writes to
/// the log, exactly once each; on start, the replay rebuilds the numbers a restarted process
/// showed before.
///
/// ```no_run
/// # async fn run(log: std::sync::Arc<dyn oa_events::EventLog>) -> Result<(), oa_events::EventError> {
/// use oa_events::{EventEmitter, FollowOptions, LogFollower};
///
/// let observed = EventEmitter::new();
/// let follower = LogFollower::start(log, observed.clone(), FollowOptions::default())?;
/// follower.caught_up().await; // the retained history was replayed
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LogFollower {
    progress: Arc<Progress>,
    caught_up: watch::Receiver<bool>,
    stop: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LogFollower {
    /// Starts following `log` into `emitter`.
    ///
    /// # Errors
    /// [`EventError::NoRuntime`] outside a Tokio runtime.
    pub fn start(
        log: Arc<dyn EventLog>,
        emitter: EventEmitter,
        options: FollowOptions,
    ) -> Result<Self, EventError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| EventError::NoRuntime {
            operation: "LogFollower::start",
        })?;
        let progress = Arc::new(Progress {
            position: AtomicU64::new(options.after),
            skipped: AtomicU64::new(0),
            followed: AtomicU64::new(0),
        });
        let (caught_up_tx, caught_up) = watch::channel(false);
        let stop = CancellationToken::new();
        let task = runtime.spawn(follow(
            log,
            emitter,
            options,
            Arc::clone(&progress),
            caught_up_tx,
            stop.clone(),
        ));
        Ok(Self {
            progress,
            caught_up,
            stop,
            task: Some(task),
        })
    }

    /// The sequence number of the last event emitted.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.progress().position()
    }

    /// How many events were emitted.
    #[must_use]
    pub fn followed(&self) -> u64 {
        self.progress().followed()
    }

    /// How many sequence numbers were skipped after the first event read: events trimmed by
    /// retention before this follower read them (a follower far behind), or numbers of
    /// transactions that never committed.
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.progress().skipped()
    }

    /// Whether every event that was in the log when the follower started has been emitted.
    #[must_use]
    pub fn is_caught_up(&self) -> bool {
        self.progress().is_caught_up()
    }

    /// A cheap, cloneable view of this follower's progress, for status pages (it stays
    /// readable after the follower stopped, frozen).
    #[must_use]
    pub fn progress(&self) -> FollowProgress {
        FollowProgress {
            progress: Arc::clone(&self.progress),
            caught_up: self.caught_up.clone(),
        }
    }

    /// Resolves once every event that was in the log when the follower started has been
    /// emitted (at once when it was empty).
    pub async fn caught_up(&self) {
        let mut caught_up = self.caught_up.clone();
        // An error means the task ended (stopped): nothing more will come.
        let _ = caught_up.wait_for(|done| *done).await;
    }

    /// Stops following and waits for the task to end.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for LogFollower {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The progress of a [`LogFollower`], readable from anywhere ([`LogFollower::progress`]).
#[derive(Debug, Clone)]
pub struct FollowProgress {
    progress: Arc<Progress>,
    caught_up: watch::Receiver<bool>,
}

impl FollowProgress {
    /// The sequence number of the last event emitted.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.progress.position.load(Ordering::Acquire)
    }

    /// How many events were emitted.
    #[must_use]
    pub fn followed(&self) -> u64 {
        self.progress.followed.load(Ordering::Relaxed)
    }

    /// How many sequence numbers were skipped (see [`LogFollower::skipped`]).
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.progress.skipped.load(Ordering::Relaxed)
    }

    /// Whether the history present at the follower's start has been emitted.
    #[must_use]
    pub fn is_caught_up(&self) -> bool {
        *self.caught_up.borrow()
    }
}

/// The longest wait before a failed read is tried again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a follower that read everything it could waits for the last numbers of its
/// start's target before it declares itself caught up anyway (numbers of transactions that
/// never committed are never filled).
const CATCH_UP_PATIENCE: Duration = Duration::from_secs(10);

async fn follow(
    log: Arc<dyn EventLog>,
    emitter: EventEmitter,
    options: FollowOptions,
    progress: Arc<Progress>,
    caught_up: watch::Sender<bool>,
    stop: CancellationToken,
) {
    let signal = log.appended_signal();
    let batch = options.batch.max(1);
    let mut position = options.after;
    let mut first = options.after == 0;
    let mut target = None;
    let mut backoff = Duration::from_millis(50);
    let mut last_progress = tokio::time::Instant::now();
    loop {
        let notified = signal.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if target.is_none() {
            match log.bounds().await {
                Ok(bounds) => target = Some(bounds.last),
                Err(error) => tracing::warn!(%error, "event log: could not read its bounds"),
            }
        }
        let read = match log.read_after(position, batch).await {
            Ok(events) => {
                backoff = Duration::from_millis(50);
                let full = events.len() == batch as usize;
                for event in events {
                    let seq = event.seq;
                    if seq <= position {
                        continue;
                    }
                    if !first && seq > position + 1 {
                        progress
                            .skipped
                            .fetch_add(seq - position - 1, Ordering::Relaxed);
                    }
                    first = false;
                    last_progress = tokio::time::Instant::now();
                    emitter.emit_sequenced(event);
                    position = seq;
                    progress.position.store(position, Ordering::Release);
                    progress.followed.fetch_add(1, Ordering::Relaxed);
                }
                Some(full)
            }
            Err(error) => {
                tracing::warn!(%error, position, "event log: read failed; retrying");
                None
            }
        };
        if let Some(target) = target
            && !*caught_up.borrow()
            && (position >= target
                || (read == Some(false) && last_progress.elapsed() >= CATCH_UP_PATIENCE))
        {
            caught_up.send_replace(true);
        }
        let wait = match read {
            // More is waiting: read on at once.
            Some(true) => continue,
            Some(false) => {
                if target.is_some() && !*caught_up.borrow() {
                    // Behind the start's target only because of holes that settle: poll soon.
                    options.poll_interval.min(Duration::from_millis(100))
                } else {
                    options.poll_interval
                }
            }
            None => {
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        tokio::select! {
            () = stop.cancelled() => return,
            () = &mut notified, if read.is_some() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}
