//! The wake-up hints: a task that `LISTEN`s for the notifications the store's triggers send when
//! jobs become claimable, and those its transactions send when they logged events, and wakes
//! the workers and the log's followers of this process.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The channel the triggers notify when jobs become claimable (see the first migration).
pub(super) const CLAIMABLE_CHANNEL: &str = "oa_jobs_claimable";

/// The prefix of the channel notified by the transactions that log events; the store's schema
/// follows, so that stores in different schemas of one database do not wake each other.
const APPENDED_CHANNEL_PREFIX: &str = "oa_jobs_events_";

/// The longest channel name PostgreSQL keeps (`NAMEDATALEN - 1` bytes).
const MAX_CHANNEL_LEN: usize = 63;

/// The channel the transactions that log events notify, for a store in `schema`: the prefix
/// and as much of the schema's name as fits.
pub(super) fn appended_channel(schema: &str) -> String {
    let mut channel = String::from(APPENDED_CHANNEL_PREFIX);
    for c in schema.chars() {
        if channel.len() + c.len_utf8() > MAX_CHANNEL_LEN {
            break;
        }
        channel.push(c);
    }
    channel
}

/// The channels to listen on, each with the signal its notifications wake.
#[derive(Debug, Clone)]
pub(super) struct Channels {
    /// Jobs became claimable.
    pub(super) claimable: Arc<Notify>,
    /// Events were logged; its channel's name.
    pub(super) appended: (String, Arc<Notify>),
}

impl Channels {
    /// Wakes every waiter (after the listener was (re)connected: what was sent meanwhile is
    /// lost, so they look for themselves).
    fn wake_all(&self) {
        self.claimable.notify_waiters();
        self.appended.1.notify_waiters();
    }

    /// Wakes the waiters of `channel`.
    fn wake(&self, channel: &str) {
        if channel == self.appended.0 {
            self.appended.1.notify_waiters();
        } else if channel == CLAIMABLE_CHANNEL {
            self.claimable.notify_waiters();
        }
    }
}

/// The longest pause between two attempts to listen again after the database went away.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Listens on the `channels` until `stop` is cancelled, waking the signal of each notification's
/// channel. When the connection is lost, it reconnects with a growing pause and then wakes
/// every waiter once, since notifications sent meanwhile are lost; workers and followers also
/// poll, so a notification missed for any reason only delays them.
pub(super) async fn listen(connect: PgConnectOptions, channels: Channels, stop: CancellationToken) {
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
            listened = subscribe(&pool, &channels) => listened,
        };
        match listened {
            Ok(mut listener) => {
                backoff = Duration::from_millis(100);
                channels.wake_all();
                let error = tokio::select! {
                    () = stop.cancelled() => return,
                    error = relay(&mut listener, &channels) => error,
                };
                tracing::warn!(%error, "lost the PostgreSQL notifications of new jobs and events; listening again");
            }
            Err(error) => {
                tracing::warn!(%error, ?backoff, "cannot listen for PostgreSQL notifications of new jobs and events");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// A listener subscribed to both channels.
async fn subscribe(pool: &sqlx::PgPool, channels: &Channels) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([CLAIMABLE_CHANNEL, channels.appended.0.as_str()])
        .await?;
    Ok(listener)
}

/// Wakes the waiters of each notification's channel until the listener fails.
async fn relay(listener: &mut PgListener, channels: &Channels) -> sqlx::Error {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => channels.wake(notification.channel()),
            // The connection was lost and made again (listening anew): what was sent meanwhile
            // is lost, so the waiters look for themselves.
            Ok(None) => channels.wake_all(),
            Err(error) => return error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_channels_fit_in_an_identifier() {
        assert_eq!(appended_channel("public"), "oa_jobs_events_public");
        let long = "s".repeat(63);
        assert_eq!(appended_channel(&long).len(), MAX_CHANNEL_LEN);
        assert!(appended_channel(&long).starts_with(APPENDED_CHANNEL_PREFIX));
    }
}
