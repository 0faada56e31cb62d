//! The conformance suite (`ferry-conformance`) on SQLite, PostgreSQL and MariaDB: a table
//! `(id, code, name, updated_at)` changed with plain SQL, read by `updated_at` and written by
//! `code`. An unreachable server prints `SKIPPED:` (fails under `CI=true`).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use ferry_conformance::{Fixture, Seeded};
use ferry_kit::{BuildContext, ConnectorFactory, Outgoing, SinkContext};
use ferry_model::{Entity, Record};
use serde_json::{Map, Value, json};

use crate::db::Stmt;
use crate::value::Val;
use crate::{SqlConnector, SqlFactory};

/// A password no server accepts (the `connection` and `secrets` checks look for it).
const WRONG: &str = "wrong-secret-7c1f";

/// One table in one database.
pub struct Sql {
    url: String,
    refused_url: Option<String>,
    table: String,
    timestamp: &'static str,
    db: SqlConnector,
    _dir: tempfile::TempDir,
}

static TABLES: AtomicUsize = AtomicUsize::new(0);
/// Seconds since the first seed: each seed and rename gets a later modified time.
static CLOCK: AtomicI64 = AtomicI64::new(0);

impl Sql {
    pub async fn sqlite() -> Option<Self> {
        Self::open("sqlite://conformance.db", None, "DATETIME").await
    }

    pub async fn postgres() -> Option<Self> {
        let url = std::env::var("FERRY_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let refused = format!("postgres://ferry_nobody:{WRONG}@127.0.0.1:5432/test");
        Self::open(&url, Some(refused), "TIMESTAMPTZ").await
    }

    pub async fn mariadb() -> Option<Self> {
        let url = std::env::var("FERRY_TEST_MYSQL_URL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned());
        let refused = format!("mysql://root:{WRONG}@127.0.0.1:3306/test");
        Self::open(&url, Some(refused), "DATETIME(6)").await
    }

    async fn open(url: &str, refused_url: Option<String>, timestamp: &'static str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let settings = json!({"url": url, "connect_timeout": "5s"});
        let db = SqlConnector::from_settings(&context(&dir), settings.as_object()?)
            .expect("valid settings");
        if let Err(e) = db.db.query("SELECT 1", Vec::new()).await {
            let name = db.db.backend.name();
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{name} not reachable (CI=true): {e}"
            );
            eprintln!("SKIPPED: {name} not reachable: {e}");
            return None;
        }
        let n = TABLES.fetch_add(1, Ordering::SeqCst);
        Some(Self {
            url: url.to_owned(),
            refused_url,
            table: format!("ferry_conformance_{}_{n}", std::process::id()),
            timestamp,
            db,
            _dir: dir,
        })
    }

    fn now(&self) -> DateTime<Utc> {
        let base = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").expect("a time");
        base.to_utc() + TimeDelta::seconds(CLOCK.fetch_add(60, Ordering::SeqCst))
    }

    async fn run(&self, sql: String, params: Vec<Val>) {
        let stmt = Stmt::new(sql.clone(), params);
        self.db
            .db
            .transaction(vec![stmt])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    fn q(&self, name: &str) -> String {
        self.db.db.backend.ident(name)
    }
}

fn context(dir: &tempfile::TempDir) -> BuildContext {
    BuildContext {
        system: "db".to_owned(),
        base_dir: dir.path().to_path_buf(),
    }
}

impl Drop for Sql {
    /// Drops the table over a connection of its own: the pool belongs to the test's runtime,
    /// which may be shutting down.
    fn drop(&mut self) {
        let settings = self.settings();
        let table = self.db.db.backend.table(&self.table);
        let dir = self._dir.path().to_path_buf();
        let _ = std::thread::spawn(move || {
            let ctx = BuildContext {
                system: "db".to_owned(),
                base_dir: dir,
            };
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            if let Ok(db) = SqlConnector::from_settings(&ctx, &settings) {
                let drop = format!("DROP TABLE IF EXISTS {table}");
                let _ = rt.block_on(db.db.execute(&drop));
            }
        })
        .join();
    }
}

#[async_trait]
impl Fixture for Sql {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(SqlFactory)
    }
    fn settings(&self) -> Map<String, Value> {
        let url = self.url.replace(
            "sqlite://",
            &format!("sqlite://{}/", self._dir.path().display()),
        );
        json!({"url": url}).as_object().cloned().unwrap_or_default()
    }
    fn refused_credentials(&self) -> Option<Map<String, Value>> {
        let url = self.refused_url.as_ref()?;
        json!({"url": url, "connect_timeout": "5s"})
            .as_object()
            .cloned()
    }
    fn secrets(&self) -> Vec<String> {
        vec![WRONG.to_owned()]
    }
    fn source_options(&self) -> Map<String, Value> {
        let options = json!({"table": self.table, "watermark": {"column": "updated_at"}});
        options.as_object().cloned().unwrap_or_default()
    }
    fn target_options(&self) -> Map<String, Value> {
        let options = json!({"table": self.table, "columns": {"code": "code", "name": "name"}});
        options.as_object().cloned().unwrap_or_default()
    }
    fn sink_context(&self) -> SinkContext {
        SinkContext {
            entity: Entity::CUSTOMER,
            key_field: "code".to_owned(),
            fields: vec!["code".to_owned(), "name".to_owned()],
        }
    }
    fn object(&self) -> String {
        self.table.clone()
    }

    async fn reset(&self) {
        let table = self.db.db.backend.table(&self.table);
        self.db
            .db
            .execute(&format!("DROP TABLE IF EXISTS {table}"))
            .await
            .expect("drop");
        let id = match self.db.db.backend.name() {
            "PostgreSQL" => "BIGSERIAL PRIMARY KEY",
            "SQLite" => "INTEGER PRIMARY KEY AUTOINCREMENT",
            _ => "BIGINT AUTO_INCREMENT PRIMARY KEY",
        };
        let ts = self.timestamp;
        let sql = format!(
            "CREATE TABLE {table} (id {id}, code VARCHAR(40) NOT NULL UNIQUE, \
             name VARCHAR(80) NOT NULL, updated_at {ts} NOT NULL DEFAULT CURRENT_TIMESTAMP)"
        );
        self.db
            .db
            .execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    async fn seed(&self, records: &[(String, String)]) -> Seeded {
        let at = self.now();
        let b = self.db.db.backend;
        let table = b.table(&self.table);
        for (key, name) in records {
            let marks = [b.placeholder(1), b.placeholder(2), b.placeholder(3)].join(", ");
            let sql = format!("INSERT INTO {table} (code, name, updated_at) VALUES ({marks})");
            let params = vec![Val::Text(key.clone()), Val::Text(name.clone()), Val::Ts(at)];
            self.run(sql, params).await;
        }
        let rows = self
            .db
            .db
            .query(&format!("SELECT id, code FROM {table}"), Vec::new())
            .await
            .expect("select");
        let ids: std::collections::HashMap<String, String> = rows
            .iter()
            .map(|r| (r.values[1].to_id_string(), r.values[0].to_id_string()))
            .collect();
        records
            .iter()
            .map(|(key, _)| (ids[key].clone(), key.clone()))
            .collect()
    }

    async fn rename(&self, id: &str, name: &str) {
        let b = self.db.db.backend;
        let (name_col, ts_col, id_col) = (self.q("name"), self.q("updated_at"), self.q("id"));
        let marks = (b.placeholder(1), b.placeholder(2), b.placeholder(3));
        let sql = format!(
            "UPDATE {} SET {name_col} = {}, {ts_col} = {} WHERE {id_col} = {}",
            b.table(&self.table),
            marks.0,
            marks.1,
            marks.2
        );
        let id = Val::Int(id.parse().expect("a numeric id"));
        self.run(
            sql,
            vec![Val::Text(name.to_owned()), Val::Ts(self.now()), id],
        )
        .await;
    }

    fn key_of(&self, record: &Record) -> Option<String> {
        record
            .fields
            .get("code")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    fn refused(&self) -> Option<Outgoing> {
        let mut bad = self.outgoing("BAD", "");
        bad.fields.insert("name".to_owned(), Value::Null);
        Some(bad)
    }
    fn refusal_says(&self) -> &str {
        "name"
    }
}

ferry_conformance::suite!(sqlite, crate::conformance::Sql::sqlite().await);
ferry_conformance::suite!(postgres, crate::conformance::Sql::postgres().await);
ferry_conformance::suite!(mariadb, crate::conformance::Sql::mariadb().await);
