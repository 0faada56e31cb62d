//! A real server for the tests: a CRM and an ERP as SQLite files in a temporary folder
//! (the sql connector), the store (embedded SQLite, or PostgreSQL in a schema of its own:
//! [`start_on`]), the engine, and the HTTP server on a free port of 127.0.0.1. Keys of each
//! role (and a revoked one) are created through the store.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_engine::{Engine, NoProgress};
use ferry_server::audit::Actor;
use ferry_server::auth::{self, Role};
use ferry_server::{AppState, Server, ServerSettings};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, PgConnection, SqliteConnection};
use tokio_util::sync::CancellationToken;

pub const SECRET: &str = "crm-webhook-secret-0123456789";

/// The config; `SERVER` is replaced by the test's extra `server:` keys (indented by 2).
const CONFIG: &str = r#"
systems:
  crm: CRM
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  customers:
    entity: customer
    source: { system: crm, table: customers, watermark: { column: updated_at } }
    target: { system: erp, table: erp_customers }
    mapping:
      code: customer_no
      name: name
      phone: phone
FLOW
server:
  listen: 127.0.0.1:0
  hooks:
    crm: { secret: "crm-webhook-secret-0123456789" }
HOOKS
  mask:
    phone: phone
SERVER
"#;

pub struct TestServer {
    pub url: String,
    pub dir: tempfile::TempDir,
    pub engine: Arc<Engine>,
    pub cancel: CancellationToken,
    pub viewer: String,
    pub operator: String,
    pub admin: String,
    pub revoked: String,
    pub http: reqwest::Client,
    /// The PostgreSQL schema of the store, dropped with the server.
    pub pg: Option<PgSchema>,
}

/// Which state store a test server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// `ferry.db` in the test's folder.
    Sqlite,
    /// A schema of its own in the PostgreSQL of `FERRY_TEST_PG` (default
    /// `postgres://postgres@127.0.0.1:5432/test`).
    Postgres,
}

/// A PostgreSQL schema made for one test server; dropped (with its tables) afterwards.
pub struct PgSchema {
    url: String,
    name: String,
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop may run inside the test's runtime: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&url).await {
                    let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
                    let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// A fresh schema and the store URL that uses it; `None` (SKIPPED printed) when PostgreSQL
/// is unreachable, a failure under `CI=true`.
async fn pg_schema() -> Option<(String, PgSchema)> {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let url = std::env::var("FERRY_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let mut conn = match PgConnection::connect(&url).await {
        Ok(conn) => conn,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("PostgreSQL not reachable at {url} (CI=true): {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: PostgreSQL not reachable at {url}: {e}");
            return None;
        }
    };
    let name = format!(
        "ferry_server_test_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    );
    let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}");
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let store_url = format!("{url}{sep}options=-csearch_path%3D{name}");
    Some((store_url, PgSchema { url, name }))
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

pub async fn sqlite(path: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .connect()
        .await
        .expect("sqlite opens")
}

/// Starts a server with these extra `server:` settings (YAML lines, indented by 2).
pub async fn start(server_yaml: &str) -> TestServer {
    start_with(server_yaml, "").await
}

/// Starts a server with extra `server:` settings and extra lines at the end of the flow's
/// mapping (YAML lines, indented as they must be: 6 for mapping fields, 4 for `validate:`).
pub async fn start_with(server_yaml: &str, flow_yaml: &str) -> TestServer {
    start_with_hooks(server_yaml, flow_yaml, "").await
}

/// [`start_with`], with more systems under `server.hooks` (lines indented by 4).
pub async fn start_with_hooks(server_yaml: &str, flow_yaml: &str, hooks_yaml: &str) -> TestServer {
    start_full(
        StoreKind::Sqlite,
        server_yaml,
        flow_yaml,
        hooks_yaml,
        Custom::default(),
    )
    .await
    .expect("an SQLite store is always at hand")
}

/// What a test changes of the standard setup beyond YAML lines.
#[derive(Default)]
pub struct Custom {
    /// The `crm` system's settings in place of `{ kind: sql, url: "sqlite://crm.db" }`.
    pub crm: Option<String>,
    /// Connectors besides the built-in ones (a test connector's factory).
    pub connectors: Vec<Arc<dyn ferry_kit::ConnectorFactory>>,
}

/// [`start_with`] with a custom `crm` system and extra connectors.
pub async fn start_custom(server_yaml: &str, custom: Custom) -> TestServer {
    start_full(StoreKind::Sqlite, server_yaml, "", "", custom)
        .await
        .expect("an SQLite store is always at hand")
}

/// [`start`] on the given store; `None` when it is PostgreSQL and that is unreachable.
pub async fn start_on(store: StoreKind, server_yaml: &str) -> Option<TestServer> {
    start_full(store, server_yaml, "", "", Custom::default()).await
}

async fn start_full(
    store_kind: StoreKind,
    server_yaml: &str,
    flow_yaml: &str,
    hooks_yaml: &str,
    custom: Custom,
) -> Option<TestServer> {
    let (store_url, pg) = match store_kind {
        StoreKind::Sqlite => (None, None),
        StoreKind::Postgres => {
            let (url, schema) = pg_schema().await?;
            (Some(url), Some(schema))
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::Builder::new()
        .prefix("ferry-server-")
        .tempdir()
        .unwrap();
    let path = dir.path();
    let mut crm = sqlite(&path.join("crm.db")).await;
    sqlx::raw_sql(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT NOT NULL, \
         name TEXT NOT NULL, phone TEXT, updated_at TEXT NOT NULL);
         INSERT INTO customers VALUES (1, 'C001', 'Ada', '13812345678', '2026-01-01 00:00:00');
         INSERT INTO customers VALUES (2, 'C002', 'Grace', '13900001111', '2026-01-01 00:00:00');",
    )
    .execute(&mut crm)
    .await
    .unwrap();
    let mut erp = sqlite(&path.join("erp.db")).await;
    sqlx::raw_sql(
        "CREATE TABLE erp_customers (code TEXT PRIMARY KEY, name TEXT NOT NULL, phone TEXT)",
    )
    .execute(&mut erp)
    .await
    .unwrap();
    let crm = custom
        .crm
        .unwrap_or_else(|| r#"{ kind: sql, url: "sqlite://crm.db" }"#.to_owned());
    let text = CONFIG
        .replace("CRM", &crm)
        .replace("FLOW\n", flow_yaml)
        .replace("HOOKS\n", hooks_yaml)
        .replace("SERVER", server_yaml);
    std::fs::write(path.join("ferry.yaml"), &text).unwrap();
    let loaded = ferry_model::config::load(&path.join("ferry.yaml")).unwrap();
    let mut registry = ferry_connectors::builtin();
    for factory in custom.connectors {
        registry.register(factory);
    }
    let assembly = ferry_engine::assemble(&loaded, &registry).unwrap();
    let store_url =
        store_url.unwrap_or_else(|| format!("sqlite://{}", path.join("ferry.db").display()));
    let store = ferry_store::open(&store_url).await.unwrap();
    let engine = Arc::new(Engine::new(assembly, store));
    let settings = ServerSettings::from_config(&loaded).unwrap();
    let state = AppState::new(engine.clone(), settings);
    let server = Server::bind(state).await.unwrap();
    let addr = server.local_addr().unwrap();
    let scheme = if server.is_tls() { "https" } else { "http" };
    let cancel = CancellationToken::new();
    tokio::spawn(server.run(cancel.clone()));

    let store = engine.store().as_ref();
    let key = |role: Role| async move {
        auth::create_key(store, role.as_str(), role, &Actor::cli())
            .await
            .unwrap()
            .token
    };
    let viewer = key(Role::Viewer).await;
    let operator = key(Role::Operator).await;
    let admin = key(Role::Admin).await;
    let revoked_key = auth::create_key(store, "old", Role::Admin, &Actor::cli())
        .await
        .unwrap();
    auth::revoke_key(store, revoked_key.key.id, &Actor::cli())
        .await
        .unwrap();
    Some(TestServer {
        url: format!("{scheme}://{addr}"),
        dir,
        engine,
        cancel,
        viewer,
        operator,
        admin,
        revoked: revoked_key.token,
        http: reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap(),
        pg,
    })
}

impl TestServer {
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}{path}", self.url))
    }
    /// The `/metrics` page (Prometheus text), read with the viewer key.
    pub async fn metrics(&self) -> String {
        self.get("/metrics")
            .bearer_auth(&self.viewer)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
    /// `GET path` with `token`, its body as JSON (whatever the status).
    pub async fn get_json(&self, path: &str, token: &str) -> serde_json::Value {
        self.get(path)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(format!("{}{path}", self.url))
    }

    /// Works the flow's queue now (what `ferry run` does within a second).
    pub async fn drain(&self) {
        self.engine
            .drain_queue("customers", "queue", &NoProgress, &CancellationToken::new())
            .await
            .unwrap();
    }

    /// The CRM's database (the flow's source).
    pub async fn crm(&self) -> SqliteConnection {
        sqlite(&self.dir.path().join("crm.db")).await
    }

    /// Changes customer `id`'s name in the CRM (and its `updated_at`, as an application would).
    pub async fn rename(&self, id: i64, name: &str) {
        static STAMP: AtomicUsize = AtomicUsize::new(1);
        let stamp = STAMP.fetch_add(1, Ordering::SeqCst);
        sqlx::query("UPDATE customers SET name = ?, updated_at = ? WHERE id = ?")
            .bind(name)
            .bind(format!("2026-02-01 00:00:{:02}.{stamp:06}", stamp % 60))
            .bind(id)
            .execute(&mut self.crm().await)
            .await
            .unwrap();
    }

    pub async fn target_rows(&self) -> Vec<(String, String, Option<String>)> {
        let mut erp = sqlite(&self.dir.path().join("erp.db")).await;
        sqlx::query_as("SELECT code, name, phone FROM erp_customers ORDER BY code")
            .fetch_all(&mut erp)
            .await
            .unwrap()
    }

    /// Adds an open dead letter for record `id` with a payload that has a phone.
    pub async fn dead_letter(&self, id: &str) -> i64 {
        let store = self.engine.store();
        store
            .commit(
                "customers",
                &ferry_store::Commit {
                    dead_letters: vec![ferry_store::NewDeadLetter {
                        source_id: id.into(),
                        key: Some(format!("C{id}")),
                        payload: serde_json::json!({
                            "id": id,
                            "fields": {"customer_no": format!("C{id}"), "name": "Ada",
                                       "phone": "13812345678",
                                       "updated_at": "2026-01-01 00:00:00"}
                        }),
                        error_kind: "validation".into(),
                        error: format!("flow customers, record {id}: field name: too short"),
                        attempts: 1,
                    }],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let open = store
            .dead_letters(&ferry_store::DeadLetterFilter::default())
            .await
            .unwrap();
        open.iter().map(|d| d.id).max().unwrap()
    }
}
