//! PostgreSQL for the tests: a schema of its own for each test, on the server named by
//! `OA_TEST_DATABASE_URL`, dropped when the test ends (even by a panic).
//!
//! Without the variable the PostgreSQL tests print `skipped: OA_TEST_DATABASE_URL is not set`
//! and pass; CI (`.ci/run`) always sets it. See docs/operations.md.

use oa_jobs::{PgStore, PgStoreOptions};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The variable that names the test server.
pub(crate) const URL_VARIABLE: &str = "OA_TEST_DATABASE_URL";

/// A schema created for one test and dropped with this value.
#[derive(Debug)]
pub(crate) struct PgSchema {
    url: String,
    name: String,
}

impl PgSchema {
    /// A fresh schema name on the test server, or `None` (after saying so) when there is none.
    /// The schema itself is created by the first store opened on it.
    #[allow(clippy::print_stdout, reason = "a skipped test says why in its output")]
    pub(crate) fn new() -> Option<Self> {
        let Ok(url) = std::env::var(URL_VARIABLE) else {
            println!("skipped: {URL_VARIABLE} is not set");
            return None;
        };
        let name = format!("oa_test_{}", uuid::Uuid::now_v7().simple());
        Some(Self { url, name })
    }

    /// Options of a store in this schema.
    pub(crate) fn options(&self) -> PgStoreOptions {
        PgStoreOptions::new(&self.url).unwrap().schema(&self.name)
    }

    /// A store in this schema, with the default options.
    pub(crate) async fn open(&self) -> PgStore {
        self.options().open().await.unwrap()
    }

    /// A connection of its own to the server, with the schema first in its `search_path`.
    pub(crate) async fn connect(&self) -> PgConnection {
        let mut conn = PgConnection::connect(&self.url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SET search_path = {}",
            self.name
        )))
        .execute(&mut conn)
        .await
        .unwrap();
        conn
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // Dropping runs inside the test's runtime, where blocking on a future is refused: the
        // schema is dropped from a thread with a runtime of its own, and waited for.
        let (url, name) = (self.url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async move {
                let mut conn = PgConnection::connect(&url).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !std::thread::panicking() {
            dropped.unwrap().unwrap();
        }
    }
}
