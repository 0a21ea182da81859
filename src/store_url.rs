//! `--store` values: `memory`, `sqlite://PATH` (or a path ending in `.db`), `postgres://...`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use oa_jobs::{JobStore, MemoryStore, PgStoreOptions, SqliteStore};

/// How long opening a PostgreSQL store may take (connecting and bringing the schema up to
/// date) before the command gives up. A refused connection fails at once; this bounds the
/// wait for a server that accepts connections but does not answer, or a host that drops them.
const POSTGRES_OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Where jobs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StoreUrl {
    /// In memory: fast, nothing survives the process.
    Memory,
    /// An SQLite file (created if missing).
    Sqlite(PathBuf),
    /// A PostgreSQL database, by its URL (`postgres://USER:PASSWORD@HOST:PORT/DATABASE`).
    Postgres(String),
}

impl FromStr for StoreUrl {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if value == "memory" || value == "memory://" {
            return Ok(Self::Memory);
        }
        if let Some(path) = value
            .strip_prefix("sqlite://")
            .or_else(|| value.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err("`sqlite://` needs a file path, e.g. sqlite://jobs.db".to_owned());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Ok(Self::Postgres(value.to_owned()));
        }
        if value.ends_with(".db") || value.ends_with(".sqlite") || value.ends_with(".sqlite3") {
            return Ok(Self::Sqlite(PathBuf::from(value)));
        }
        Err(format!(
            "unknown store `{value}`: expected `memory`, `sqlite://PATH`, a path ending in .db, \
             or `postgres://USER:PASSWORD@HOST:PORT/DATABASE`"
        ))
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory"),
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            Self::Postgres(url) => f.write_str(&without_password(url)),
        }
    }
}

impl StoreUrl {
    /// Opens the store (creating an SQLite file and its parent directory when missing).
    pub(crate) async fn open(&self) -> anyhow::Result<Arc<dyn JobStore>> {
        match self {
            Self::Memory => Ok(Arc::new(MemoryStore::new())),
            Self::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).with_context(|| {
                        format!("cannot create the directory {}", parent.display())
                    })?;
                }
                let store = SqliteStore::open(path)
                    .await
                    .with_context(|| format!("cannot open the SQLite store {}", path.display()))?;
                Ok(Arc::new(store))
            }
            Self::Postgres(url) => {
                let invalid = || format!("invalid store URL {}", without_password(url));
                let (sqlx_url, own) = split_own_params(url)
                    .map_err(anyhow::Error::msg)
                    .with_context(invalid)?;
                let mut options = PgStoreOptions::new(&sqlx_url).with_context(invalid)?;
                if let Some(schema) = own.schema {
                    options = options.schema(schema);
                }
                if let Some(max) = own.max_connections {
                    options = options.max_connections(max);
                }
                let context =
                    || format!("cannot open the PostgreSQL store {}", without_password(url));
                let store = tokio::time::timeout(POSTGRES_OPEN_TIMEOUT, options.open())
                    .await
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "no answer from the database server within {} s",
                            POSTGRES_OPEN_TIMEOUT.as_secs()
                        )
                    })
                    .with_context(context)?
                    .with_context(context)?;
                Ok(Arc::new(store))
            }
        }
    }
}

/// The largest `max_connections=N` accepted (PostgreSQL's own default limit is 100 for the
/// whole server).
const MAX_MAX_CONNECTIONS: u32 = 1000;

/// Our own query parameters of a PostgreSQL URL; the others are sqlx's.
#[derive(Debug, Default, PartialEq, Eq)]
struct OwnParams {
    /// `schema=NAME`: the store keeps its tables in that schema, so that several systems (or
    /// test runs) can share one database.
    schema: Option<String>,
    /// `max_connections=N`: the size of the store's connection pool (default 10). Claims in
    /// flight beyond it wait for a connection: on this 2-core machine that is no loss (12
    /// connections for 8 claim loops ran 6 % slower than 10), on a larger server raise it with
    /// `--claim-concurrency`.
    max_connections: Option<u32>,
}

/// Takes our own query parameters out of a PostgreSQL URL (`schema=NAME`,
/// `max_connections=N`) and returns the rest of the URL, for sqlx.
fn split_own_params(url: &str) -> Result<(String, OwnParams), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), OwnParams::default()));
    };
    let mut own = OwnParams::default();
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        if let Some(name) = pair.strip_prefix("schema=") {
            own.schema = Some(name.to_owned());
        } else if let Some(value) = pair.strip_prefix("max_connections=") {
            let max = value
                .parse::<u32>()
                .ok()
                .filter(|max| (1..=MAX_MAX_CONNECTIONS).contains(max))
                .ok_or_else(|| {
                    format!(
                        "`max_connections` must be a whole number from 1 to \
                         {MAX_MAX_CONNECTIONS}, not `{value}`"
                    )
                })?;
            own.max_connections = Some(max);
        } else {
            rest.push(pair);
        }
    }
    if rest.is_empty() {
        Ok((base.to_owned(), own))
    } else {
        Ok((format!("{base}?{}", rest.join("&")), own))
    }
}

/// `url` with its password (if any) replaced by `***`, for messages and logs.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |at| rest.split_at(at));
    match authority.rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("memory".parse(), Ok(StoreUrl::Memory));
        assert_eq!(
            "sqlite://a/b.db".parse(),
            Ok(StoreUrl::Sqlite("a/b.db".into()))
        );
        assert_eq!(
            "sqlite:/tmp/x".parse(),
            Ok(StoreUrl::Sqlite("/tmp/x".into()))
        );
        assert_eq!("jobs.db".parse(), Ok(StoreUrl::Sqlite("jobs.db".into())));
        assert!("sqlite://".parse::<StoreUrl>().is_err());
        assert!(
            "redis://x"
                .parse::<StoreUrl>()
                .unwrap_err()
                .contains("unknown store")
        );
        assert_eq!(
            "postgres://u:secret@h:5432/db".parse(),
            Ok(StoreUrl::Postgres("postgres://u:secret@h:5432/db".into()))
        );
        assert_eq!(
            "postgresql://h/db".parse(),
            Ok(StoreUrl::Postgres("postgresql://h/db".into()))
        );
    }

    #[test]
    fn the_schema_and_pool_parameters_are_ours_and_the_rest_is_kept() {
        let own = |schema: Option<&str>, max_connections: Option<u32>| OwnParams {
            schema: schema.map(str::to_owned),
            max_connections,
        };
        assert_eq!(
            split_own_params("postgres://h/db?schema=oa_a&sslmode=disable"),
            Ok((
                "postgres://h/db?sslmode=disable".to_owned(),
                own(Some("oa_a"), None)
            ))
        );
        assert_eq!(
            split_own_params("postgres://h/db?schema=x"),
            Ok(("postgres://h/db".to_owned(), own(Some("x"), None)))
        );
        assert_eq!(
            split_own_params("postgres://h/db"),
            Ok(("postgres://h/db".to_owned(), own(None, None)))
        );
        assert_eq!(
            split_own_params("postgres://h/db?max_connections=24&sslmode=require&schema=s"),
            Ok((
                "postgres://h/db?sslmode=require".to_owned(),
                own(Some("s"), Some(24))
            ))
        );
        for bad in ["0", "-1", "ten", "", "1001", "99999999999"] {
            let error =
                split_own_params(&format!("postgres://h/db?max_connections={bad}")).unwrap_err();
            assert_eq!(
                error,
                format!("`max_connections` must be a whole number from 1 to 1000, not `{bad}`")
            );
        }
    }

    #[test]
    fn postgres_passwords_are_not_shown() {
        let shown = |url: &str| StoreUrl::Postgres(url.to_owned()).to_string();
        assert_eq!(
            shown("postgres://u:secret@h:5432/db?sslmode=require"),
            "postgres://u:***@h:5432/db?sslmode=require"
        );
        assert_eq!(shown("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(shown("postgres://h/db"), "postgres://h/db");
        assert_eq!(shown("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
    }
}
