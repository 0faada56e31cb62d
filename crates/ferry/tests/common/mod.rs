//! Helpers shared by the end-to-end tests: a scratch workspace, the `ferry` binary, and
//! small SQLite utilities.

#![allow(dead_code)]

pub mod peers;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, SqliteConnection};

/// The operating-system user the CLI's audit entries name (`cli (user tester)`).
pub const TEST_USER: &str = "tester";

/// The `ferry` binary built for this test run.
pub fn ferry() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
    // `ferry run` serves HTTP: on a port of its own, so tests running at once never collide
    // on the default 7878 (a test of the server itself removes this and sets its own).
    cmd.env_remove("FERRY_CONFIG")
        .env("FERRY_LOG", "warn")
        .env("FERRY_LISTEN", "127.0.0.1:0")
        .env("USER", TEST_USER);
    cmd
}

/// Sends SIGTERM to a process (`ferry run`, which then drains and exits).
pub fn sigterm(pid: u32) {
    let ok = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM {pid} failed");
}

/// Stops `ferry run` with SIGTERM when the test ends, pass or fail.
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Runs `ferry` with `args` in `dir` and returns its output (panics with stderr if it fails
/// and `must_succeed`).
pub fn run(dir: &Path, args: &[&str], must_succeed: bool) -> Output {
    let out = ferry()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("ferry runs");
    if must_succeed && !out.status.success() {
        panic!(
            "ferry {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Runs `ferry … --json` and parses stdout.
pub fn run_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    json_output(args, &run(dir, args, true))
}

/// The JSON that `ferry args` printed; panics with its output if it failed or printed
/// something else.
pub fn json_output(args: &[&str], out: &Output) -> serde_json::Value {
    if !out.status.success() {
        panic!(
            "ferry {args:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ferry {args:?}: not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A fresh temporary folder, removed when dropped.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("ferry-e2e-")
        .tempdir()
        .expect("temp dir")
}

/// Opens (creating) an SQLite database file.
pub async fn sqlite(path: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(std::time::Duration::from_secs(10))
        .connect()
        .await
        .expect("sqlite opens")
}

/// Whether a server test must run: in CI a missing server is a failure, elsewhere a visible skip.
pub fn require_server(name: &str, reachable: bool) -> bool {
    if reachable {
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is required in CI but not reachable");
    }
    eprintln!("SKIPPED: {name} not reachable; this test runs in CI");
    false
}

/// Path helper.
pub fn p(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// The connection details of a peer server (`tryton` or `crm`) started by
/// `scripts/peers/<peer>-up.sh`: the `KEY=VALUE` lines it saved in `$FERRY_PEERS_DIR/<peer>/env`
/// (default dir `/var/tmp/ferry-peers`), if the file exists and the server answers. In CI a
/// missing peer fails the test; elsewhere it prints SKIPPED and the test returns.
pub fn peer(name: &str) -> Option<std::collections::HashMap<String, String>> {
    let dir = std::env::var("FERRY_PEERS_DIR").unwrap_or_else(|_| "/var/tmp/ferry-peers".into());
    let env: Option<std::collections::HashMap<String, String>> =
        std::fs::read_to_string(Path::new(&dir).join(name).join("env"))
            .ok()
            .map(|text| {
                text.lines()
                    .filter_map(|l| l.split_once('='))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .collect()
            });
    let prefix = if name == "crm" { "CRM" } else { "TRYTON" };
    let answers = env
        .as_ref()
        .and_then(|e| e.get(&format!("{prefix}_URL")))
        .and_then(|url| url.strip_prefix("http://"))
        .map(|host| host.trim_end_matches('/'))
        .and_then(|addr| addr.parse::<std::net::SocketAddr>().ok())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok()
        });
    let what = format!("the {name} peer (scripts/peers/{name}-up.sh {dir} …)");
    if require_server(&what, answers) {
        env
    } else {
        None
    }
}

/// A free local port: bind port 0, note it, release it.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The two SQLite files the `ferry run` tests sync between: `crm.db` with a `customers` table
/// (id, customer_no, name, email, updated_at) holding `rows`, and `erp.db` with an empty
/// `erp_customers` (code, name, email).
pub async fn customer_tables(dir: &Path, rows: &[(i64, &str, &str, &str)]) {
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::raw_sql(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT NOT NULL, \
         name TEXT NOT NULL, email TEXT, updated_at TEXT NOT NULL)",
    )
    .execute(&mut crm)
    .await
    .unwrap();
    for (id, no, name, email) in rows {
        sqlx::query("INSERT INTO customers VALUES (?, ?, ?, ?, '2026-01-01 00:00:00')")
            .bind(id)
            .bind(no)
            .bind(name)
            .bind(email)
            .execute(&mut crm)
            .await
            .unwrap();
    }
    let mut erp = sqlite(&dir.join("erp.db")).await;
    sqlx::raw_sql("CREATE TABLE erp_customers (code TEXT PRIMARY KEY, name TEXT, email TEXT)")
        .execute(&mut erp)
        .await
        .unwrap();
}

/// Waits up to 30 s for a `ferry run` on `base` (`http://127.0.0.1:PORT`) to answer
/// `/readyz`; returns the client to talk to it.
pub async fn wait_ready(base: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "ferry run did not serve {base}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    http
}
