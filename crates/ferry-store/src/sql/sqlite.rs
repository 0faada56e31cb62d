//! SQLite: the embedded default.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Dialect, SqlStore, Sqlite};
use crate::Result;

impl Dialect for Sqlite {
    const MAX_PARAMS: usize = 32_766;
    const ID: &'static str = "INTEGER PRIMARY KEY AUTOINCREMENT";
    // Take the write lock up front: a deferred transaction that reads first and writes later
    // can fail with SQLITE_BUSY when it upgrades, whatever busy_timeout says.
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    const MIGRATE_LOCK: Option<&'static str> = None;
    const LEASE_LOCK: &'static str = "";
    const SOURCE_ID_IN_2: &'static str = "source_id IN (SELECT value FROM json_each($2))";
    const ID_IN_1: &'static str = "id IN (SELECT value FROM json_each($1))";
    type TextList = String;
    type IdList = String;

    fn text_list(items: &[String]) -> String {
        serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
    }

    fn id_list(items: &[i64]) -> String {
        serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
    }
}

impl SqlStore<Sqlite> {
    /// Connects to a SQLite database (`sqlite://path/to/ferry.db`, `sqlite::memory:`), creating
    /// the file and its directory when missing. Does not migrate: see [`crate::open`].
    pub async fn sqlite(url: &str) -> Result<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .statement_cache_capacity(200);
        if !in_memory {
            let dir = options
                .get_filename()
                .parent()
                .filter(|d| !d.as_os_str().is_empty());
            if let Some(dir) = dir
                && !Path::new(dir).exists()
            {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(sqlx::Error::Io)?;
            }
        }
        // One writer connection, kept open (it also keeps the WAL files in place).
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(options.clone())
            .await?;
        if in_memory {
            // A private in-memory database lives in one connection only.
            return Ok(Self::from_pools(write.clone(), write));
        }
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(0)
            .connect_with(options.pragma("query_only", "ON"))
            .await?;
        Ok(Self::from_pools(write, read))
    }
}
