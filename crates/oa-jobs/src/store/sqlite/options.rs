//! How a [`SqliteStore`] is opened: the options, the connection settings, the migrations.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Connection, SqlSafeStr};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::connection::{Readers, Writer};
use super::inline::Inline;
use super::{Shared, SqliteStore};
use crate::error::{Error, Result};

/// How many prepared statements each connection keeps (the batched statements take about 20).
const STATEMENT_CACHE_CAPACITY: usize = 128;

/// The page cache of the writer, in KiB (`PRAGMA cache_size` takes negative KiB): the pages of
/// the indexes the hot path writes stay in memory. SQLite allocates it only as it fills.
const WRITER_CACHE_KIB: i64 = 32 * 1024;

/// The page cache of each reader, in KiB.
const READER_CACHE_KIB: i64 = 8 * 1024;

/// How many WAL pages trigger a checkpoint (SQLite's default is 1,000). A checkpoint copies the
/// log into the database and syncs both, stalling the write that triggers it; a larger log makes
/// those stalls rarer (one write in about a thousand rather than one in a hundred), each a few
/// milliseconds longer.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 4000;

/// How many rows a connection's thread may produce ahead of the task reading them (sqlx's
/// default is 50): a claim of a few hundred jobs then runs without stopping for the reader.
const ROW_BUFFER_SIZE: usize = 512;

/// The embedded migrations, in order.
pub(super) fn migrations() -> Vec<Migration> {
    [
        (
            1,
            "init",
            include_str!("../../../migrations/sqlite/0001_init.sql"),
        ),
        (
            2,
            "event log",
            include_str!("../../../migrations/sqlite/0002_event_log.sql"),
        ),
        (
            3,
            "status check without in list",
            include_str!("../../../migrations/sqlite/0003_status_check_without_in_list.sql"),
        ),
        (
            4,
            "counts kept by the store",
            include_str!("../../../migrations/sqlite/0004_counts_kept_by_the_store.sql"),
        ),
    ]
    .into_iter()
    .map(|(version, description, sql)| {
        Migration::new(
            version,
            description.into(),
            MigrationType::Simple,
            sql.into_sql_str(),
            false,
        )
    })
    .collect()
}

/// The migrator of [`migrations`].
fn migrator() -> &'static Migrator {
    static MIGRATOR: OnceLock<Migrator> = OnceLock::new();
    MIGRATOR.get_or_init(|| Migrator::with_migrations(migrations()))
}

/// How hard SQLite pushes each commit to disk (`PRAGMA synchronous`).
///
/// With WAL, [`Normal`](Self::Normal) (the default) loses no commit when the process crashes
/// and may lose the last commits when the machine loses power; [`Full`](Self::Full) loses none
/// in either case and syncs the log at every commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SqliteSynchronous {
    /// No syncs at all: a power loss may corrupt the database.
    Off,
    /// Syncs at checkpoints only (the default, and the usual choice with WAL).
    #[default]
    Normal,
    /// Syncs the log at every commit.
    Full,
    /// As `Full`, and also syncs the directory after deleting a journal.
    Extra,
}

impl SqliteSynchronous {
    /// The value of `PRAGMA synchronous`.
    const fn pragma_value(self) -> &'static str {
        match self {
            Self::Off => "OFF",
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
            Self::Extra => "EXTRA",
        }
    }
}

impl From<SqliteSynchronous> for sqlx::sqlite::SqliteSynchronous {
    fn from(mode: SqliteSynchronous) -> Self {
        match mode {
            SqliteSynchronous::Off => Self::Off,
            SqliteSynchronous::Normal => Self::Normal,
            SqliteSynchronous::Full => Self::Full,
            SqliteSynchronous::Extra => Self::Extra,
        }
    }
}

#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    Memory,
}

/// How to open a [`SqliteStore`]: a builder.
///
/// ```no_run
/// # async fn example() -> oa_jobs::Result<()> {
/// use std::time::Duration;
/// use oa_jobs::SqliteStoreOptions;
///
/// let store = SqliteStoreOptions::file("jobs.db")
///     .max_read_connections(8)
///     .busy_timeout(Duration::from_secs(10))
///     .open()
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SqliteStoreOptions {
    location: Location,
    max_read_connections: u32,
    busy_timeout: Duration,
    synchronous: SqliteSynchronous,
    create_if_missing: bool,
}

impl SqliteStoreOptions {
    /// A database in the file at `path` (created if missing, unless
    /// [`create_if_missing(false)`](Self::create_if_missing)), in WAL mode.
    pub fn file(path: impl AsRef<Path>) -> Self {
        Self {
            location: Location::File(path.as_ref().to_owned()),
            max_read_connections: 4,
            busy_timeout: Duration::from_secs(5),
            synchronous: SqliteSynchronous::Normal,
            create_if_missing: true,
        }
    }

    /// A private in-memory database, gone when the store is dropped (tests and demos). It lives
    /// in a single connection, used for reads and writes alike.
    pub fn in_memory() -> Self {
        Self {
            location: Location::Memory,
            ..Self::file(":memory:")
        }
    }

    /// How many connections serve reads at once (at least 1; default 4). Writes always use one
    /// dedicated connection. Ignored in memory.
    pub fn max_read_connections(mut self, max: u32) -> Self {
        self.max_read_connections = max.max(1);
        self
    }

    /// How long a write waits for another process to release the database before failing with
    /// [`Error::Database`] (default 5 s).
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How hard each commit is pushed to disk (default [`SqliteSynchronous::Normal`]).
    pub fn synchronous(mut self, mode: SqliteSynchronous) -> Self {
        self.synchronous = mode;
        self
    }

    /// Whether opening creates a missing database file (default `true`).
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// Opens the database and brings its schema up to date.
    ///
    /// # Errors
    /// [`Error::Database`] when the file cannot be opened (missing without
    /// `create_if_missing`, not a database, no permission), [`Error::Migration`] when the schema
    /// cannot be brought up to date (for example, written by a newer version).
    pub async fn open(&self) -> Result<SqliteStore> {
        // Two processes creating one file at once can make the loser's switch to WAL (or its
        // first read of the new WAL index) fail with SQLITE_BUSY before the busy handler is
        // consulted; such a failure is retried until the busy timeout has passed.
        let started = tokio::time::Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            match self.open_once().await {
                Err(error) if is_busy(&error) && started.elapsed() < self.busy_timeout => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                result => return result,
            }
        }
    }

    async fn open_once(&self) -> Result<SqliteStore> {
        let base = SqliteConnectOptions::new()
            .busy_timeout(self.busy_timeout)
            .foreign_keys(true)
            .synchronous(self.synchronous.into())
            .statement_cache_capacity(STATEMENT_CACHE_CAPACITY)
            .row_buffer_size(ROW_BUFFER_SIZE)
            .pragma("temp_store", "memory");
        let writer_options = base
            .clone()
            .pragma("cache_size", (-WRITER_CACHE_KIB).to_string());
        let (writer, readers) = match &self.location {
            Location::Memory => (
                Writer::connect(writer_options, false).await?,
                Readers::Writer,
            ),
            Location::File(path) => {
                let writer = Writer::connect(
                    writer_options
                        .filename(path)
                        .create_if_missing(self.create_if_missing)
                        .journal_mode(SqliteJournalMode::Wal)
                        .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string()),
                    true,
                )
                .await?;
                migrate(&writer).await?;
                writer.count_changes().await?;
                // The writer created the file and switched it to WAL (a lasting setting). Reads
                // need no liveness check before each use, and the connections are kept open.
                let pool = SqlitePoolOptions::new()
                    .max_connections(self.max_read_connections)
                    .test_before_acquire(false)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(
                        base.filename(path)
                            .create_if_missing(false)
                            .pragma("cache_size", (-READER_CACHE_KIB).to_string()),
                    )
                    .await
                    .map_err(Error::database("open"))?;
                let inline = Inline::open(path, self.synchronous.pragma_value(), WRITER_CACHE_KIB);
                let checkpoints = CancellationToken::new();
                if let Some(inline) = &inline {
                    inline.start_checkpoints(pool.clone(), checkpoints.clone());
                }
                return Ok(SqliteStore {
                    shared: Arc::new(Shared {
                        writer,
                        inline,
                        checkpoints,
                        busy_timeout: self.busy_timeout,
                        readers: Readers::Pool(pool),
                        appended: Arc::new(Notify::new()),
                    }),
                });
            }
        };
        migrate(&writer).await?;
        writer.count_changes().await?;
        Ok(SqliteStore {
            shared: Arc::new(Shared {
                writer,
                inline: None,
                checkpoints: CancellationToken::new(),
                busy_timeout: self.busy_timeout,
                readers,
                appended: Arc::new(Notify::new()),
            }),
        })
    }
}

/// Whether `error` is SQLite's "database is locked" or "database table is locked" (codes 5
/// and 6, with their extended forms).
fn is_busy(error: &Error) -> bool {
    let Error::Database {
        source: sqlx::Error::Database(db),
        ..
    } = error
    else {
        return false;
    };
    db.code()
        .and_then(|code| code.parse::<i64>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

/// Applies the missing migrations inside one `BEGIN IMMEDIATE` transaction, so that two
/// processes opening a new file at once do not both apply them.
async fn migrate(writer: &Writer) -> Result<()> {
    let mut conn = writer.lock("migrate").await?;
    let conn: &mut SqliteConnection = &mut conn;
    let mut tx = conn
        .begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(Error::database("migrate"))?;
    migrator()
        .run(&mut *tx)
        .await
        .map_err(|source| Error::Migration { source })?;
    tx.commit().await.map_err(Error::database("migrate"))
}
