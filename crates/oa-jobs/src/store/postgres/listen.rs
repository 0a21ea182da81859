//! The wake-up hint: a task that `LISTEN`s for the notifications the store's triggers send when
//! jobs become claimable, and wakes the workers of this process.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The channel the triggers notify (see the migration).
pub(super) const CHANNEL: &str = "oa_jobs_claimable";

/// The longest pause between two attempts to listen again after the database went away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Listens on [`CHANNEL`] until `stop` is cancelled, waking `signal`'s waiters on every
/// notification. When the connection is lost, it reconnects with a growing pause and then wakes
/// the waiters once, since notifications sent meanwhile are lost; workers also poll, so a
/// notification missed for any reason only delays a claim.
pub(super) async fn listen(
    connect: PgConnectOptions,
    signal: Arc<Notify>,
    stop: CancellationToken,
) {
    // A pool of one connection, made only to let the listener reconnect on its own.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with(connect);
    let mut backoff = Duration::from_millis(100);
    loop {
        let listened = tokio::select! {
            () = stop.cancelled() => return,
            listened = subscribe(&pool) => listened,
        };
        match listened {
            Ok(mut listener) => {
                backoff = Duration::from_millis(100);
                signal.notify_waiters();
                let error = tokio::select! {
                    () = stop.cancelled() => return,
                    error = relay(&mut listener, &signal) => error,
                };
                tracing::warn!(%error, "lost the PostgreSQL notifications of new jobs; listening again");
            }
            Err(error) => {
                tracing::warn!(%error, ?backoff, "cannot listen for PostgreSQL notifications of new jobs");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A listener subscribed to [`CHANNEL`].
async fn subscribe(pool: &sqlx::PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Wakes the waiters of `signal` on every notification until the listener fails.
async fn relay(listener: &mut PgListener, signal: &Notify) -> sqlx::Error {
    loop {
        match listener.try_recv().await {
            Ok(Some(_)) => signal.notify_waiters(),
            // The connection was lost and made again (listening anew): what was sent meanwhile
            // is lost, so the waiters look for themselves.
            Ok(None) => signal.notify_waiters(),
            Err(error) => return error,
        }
    }
}
