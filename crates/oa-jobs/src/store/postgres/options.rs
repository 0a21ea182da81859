//! How a [`PgStore`] is opened: the options, the connection settings, the migrations.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Connection, SqlSafeStr};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::listen::{Channels, appended_channel};
use super::{PgStore, Shared};
use crate::error::{Error, Result};

/// The table that records the applied migrations (in the store's schema). Not sqlx's default
/// name, so that an application sharing the schema keeps its own migrations apart.
const MIGRATIONS_TABLE: &str = "oa_jobs_migrations";

/// How long the event log waits for a hole in its numbering to fill, by default.
const DEFAULT_SETTLE: Duration = Duration::from_secs(3);

/// The embedded migrations, in order.
fn migrations() -> Vec<Migration> {
    vec![
        Migration::new(
            1,
            "init".into(),
            MigrationType::Simple,
            include_str!("../../../migrations/postgres/0001_init.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            "event log".into(),
            MigrationType::Simple,
            include_str!("../../../migrations/postgres/0002_event_log.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            "event log: BRIN index on time".into(),
            MigrationType::Simple,
            include_str!("../../../migrations/postgres/0003_event_log_brin.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            "changes logged in one statement".into(),
            MigrationType::Simple,
            include_str!("../../../migrations/postgres/0004_log_in_one_statement.sql")
                .into_sql_str(),
            false,
        ),
        Migration::new(
            5,
            "status changes counted by the statements".into(),
            MigrationType::Simple,
            include_str!("../../../migrations/postgres/0005_counts_kept_by_the_statements.sql")
                .into_sql_str(),
            false,
        ),
    ]
}

/// The migrator of a store whose schema is `schema` (the connection's first schema when `None`).
fn migrator(schema: Option<&str>) -> Migrator {
    static MIGRATIONS: OnceLock<Vec<Migration>> = OnceLock::new();
    let mut migrator = Migrator::with_migrations(MIGRATIONS.get_or_init(migrations).clone());
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    if let Some(schema) = schema {
        migrator.create_schema(schema.to_owned());
    }
    migrator
}

/// How to open a [`PgStore`]: a builder.
///
/// ```no_run
/// # async fn example() -> oa_jobs::Result<()> {
/// use std::time::Duration;
/// use oa_jobs::PgStoreOptions;
///
/// let store = PgStoreOptions::new("postgres://oa:secret@db.internal/jobs")?
///     .max_connections(20)
///     .statement_timeout(Some(Duration::from_secs(10)))
///     .open()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct PgStoreOptions {
    connect: PgConnectOptions,
    max_connections: u32,
    acquire_timeout: Duration,
    statement_timeout: Option<Duration>,
    schema: Option<String>,
    settle: Duration,
}

impl PgStoreOptions {
    /// The database at `url` (`postgres://USER:PASSWORD@HOST:PORT/DATABASE?...`, every
    /// parameter sqlx understands, such as `sslmode` or `options[search_path]`), with the
    /// default settings: 10 connections, 5 s to get one, a 30 s statement timeout.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `url` is not a PostgreSQL URL.
    pub fn new(url: &str) -> Result<Self> {
        let not_postgres = |message: String| Error::InvalidArgument {
            field: "url",
            message: format!("not a PostgreSQL URL: {message}"),
        };
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(not_postgres(
                "it must start with postgres:// or postgresql://".to_owned(),
            ));
        }
        let connect = PgConnectOptions::from_str(url).map_err(|e| not_postgres(e.to_string()))?;
        Ok(Self {
            connect,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Some(Duration::from_secs(30)),
            schema: None,
            settle: DEFAULT_SETTLE,
        })
    }

    /// How many connections the store keeps at most (at least 1; default 10). Workers that
    /// listen for new jobs use one more.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long a call waits for a free connection before failing with [`Error::Database`]
    /// (default 5 s).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// How long one statement may run before the server cancels it (its call fails with
    /// [`Error::Database`]); `None` for no limit (default 30 s).
    pub fn statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Keeps the store's tables in the schema `name` (created if missing) rather than in the
    /// first schema of the connections' `search_path`. Names are lower-case ASCII letters,
    /// digits and `_`, starting with a letter or `_`, at most 63 bytes.
    pub fn schema(mut self, name: impl Into<String>) -> Self {
        self.schema = Some(name.into());
        self
    }

    /// How long the event log waits for a hole in its numbering to fill before it reads past
    /// it (default 3 s).
    ///
    /// PostgreSQL gives an event its number when it is inserted, but transactions commit in
    /// another order: a reader may find event 11 committed while event 10's transaction is
    /// still committing. [`read_after`](oa_events::EventLog::read_after) therefore returns
    /// events only up to the first missing number, unless the event after the hole was logged
    /// (by the server's clock) longer than `settle` ago: then the hole is taken as permanent (a
    /// rolled-back transaction, or events trimmed by retention) and skipped. It must be longer
    /// than any transaction that logs events takes from its insert to its commit; a longer one
    /// delays the log's followers by up to `settle` after a rollback, never more.
    pub fn settle(mut self, settle: Duration) -> Self {
        self.settle = settle;
        self
    }

    /// Connects, brings the schema up to date, and returns the store.
    ///
    /// The migrations run on a connection of their own under PostgreSQL's advisory lock, so
    /// processes opening the same database at once apply them once.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a malformed [`schema`](Self::schema) name,
    /// [`Error::Database`] when the server cannot be reached or refuses the connection,
    /// [`Error::Migration`] when the schema cannot be brought up to date (for example, written
    /// by a newer version).
    pub async fn open(&self) -> Result<PgStore> {
        if let Some(schema) = &self.schema {
            check_schema_name(schema)?;
        }
        let connect = self.connect_options();
        migrate(&connect, self.schema.as_deref()).await?;
        // Connections are not pinged before each use (a round trip per call): a connection
        // that broke fails its call, which the engine retries, and is then replaced.
        let pool = PgPoolOptions::new()
            .max_connections(self.max_connections)
            .acquire_timeout(self.acquire_timeout)
            .test_before_acquire(false)
            .connect_with(connect.clone())
            .await
            .map_err(Error::database("open"))?;
        // The schema the tables are in names the channel of the log's notifications.
        let schema: String = sqlx::query_scalar("SELECT coalesce(current_schema(), '')")
            .fetch_one(&pool)
            .await
            .map_err(Error::database("open"))?;
        Ok(PgStore {
            shared: Arc::new(Shared {
                pool,
                connect,
                channels: Channels {
                    claimable: Arc::new(Notify::new()),
                    appended: (appended_channel(&schema), Arc::new(Notify::new())),
                },
                listening: OnceLock::new(),
                settle: self.settle,
                notify_pending: std::sync::atomic::AtomicBool::new(false),
                stop: CancellationToken::new(),
            }),
        })
    }

    /// The settings of every connection of the store.
    fn connect_options(&self) -> PgConnectOptions {
        let mut connect = self.connect.clone();
        if connect.get_application_name().is_none() {
            connect = connect.application_name("oa-jobs");
        }
        if let Some(timeout) = self.statement_timeout {
            connect =
                connect.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]);
        }
        if let Some(schema) = &self.schema {
            connect = connect.options([("search_path", schema.as_str())]);
        }
        // Every statement of the store is built around an index. PostgreSQL plans a prepared
        // statement once per connection after five runs, for the table as it is then: a plan
        // made while the table was nearly empty reads it whole (cheapest for a page or two),
        // and that plan stays while the table grows, until autovacuum analyzes it, a minute or
        // more later. Measured from an empty schema at 2,000 jobs/s: 6,951 sequential scans
        // reading 45 million rows, claims at 1,200 jobs/s instead of 2,000. Without sequential
        // scans the plans use the indexes whatever the size (a table with no usable index is
        // still read whole).
        //
        // Nor is any statement compiled to machine code: JIT pays off for long analytical
        // queries, and the store's are short. With sequential scans off, the plan of a read of
        // a table no index serves (the workers, say) costs more than `jit_above_cost`, and
        // PostgreSQL compiled it at every run: 90 to 110 ms of CPU per listing of the workers,
        // a tenth of the server's time in a 3-second benchmark.
        connect.options([("enable_seqscan", "off"), ("jit", "off")])
    }
}

/// Checks a schema name: a plain lower-case identifier, so it needs no quoting.
fn check_schema_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63;
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            field: "schema",
            message: format!(
                "`{name}` is not a plain identifier (a-z, 0-9 and _, not starting with a digit, \
                 at most 63 bytes)"
            ),
        })
    }
}

/// Applies the missing migrations on a connection of its own, closed afterwards (sqlx takes a
/// session-level advisory lock: a connection that failed while holding it must not go back to
/// a pool).
async fn migrate(connect: &PgConnectOptions, schema: Option<&str>) -> Result<()> {
    let mut conn = PgConnection::connect_with(connect)
        .await
        .map_err(Error::database("open"))?;
    let migrated = migrator(schema)
        .run(&mut conn)
        .await
        .map_err(|source| Error::Migration { source });
    // A connection that fails to close cleanly is dropped all the same.
    conn.close().await.ok();
    migrated
}
