//! Promises of `ferry run`'s server, kept by the real process:
//! - a webhook notice answered `202` survives `kill -9` right after the answer: after a
//!   restart its record arrives in the target (a real SQLite table) exactly once and its
//!   tracking id reports `done`;
//! - values of fields under `server.mask` never reach the log in clear, even at trace level
//!   and through an alert about the failed record, while the API shows them masked;
//! - text from a request (a webhook's system name, a flow or record id in its body) cannot
//!   forge a log line: CR, LF and NUL in it come out escaped.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ferry_server::hooks::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use serde_json::{Value, json};

const SECRET: &str = "crm-hook-secret-0123456789";

/// A manual flow (no polling: only the queue brings records over), a webhook for `crm`, and
/// phone numbers masked. `EXTRA` takes more flow keys (indented by 4).
const CONFIG: &str = r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
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
EXTRA
server:
  listen: LISTEN
  hooks:
    crm: { secret: "crm-hook-secret-0123456789" }
  mask:
    phone: phone
"#;

/// `crm.db` with `rows` (id, customer_no, name, phone), and `erp.db` with `erp_customers`
/// and a log of every insert and update into it (filled by triggers), so a record written
/// twice shows even though the key is unique.
async fn tables(dir: &Path, rows: &[(i64, String, String, String)]) {
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::raw_sql(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT NOT NULL, \
         name TEXT NOT NULL, phone TEXT, updated_at TEXT NOT NULL)",
    )
    .execute(&mut crm)
    .await
    .unwrap();
    for (id, no, name, phone) in rows {
        sqlx::query("INSERT INTO customers VALUES (?, ?, ?, ?, '2026-01-01 00:00:00')")
            .bind(id)
            .bind(no)
            .bind(name)
            .bind(phone)
            .execute(&mut crm)
            .await
            .unwrap();
    }
    let mut erp = sqlite(&dir.join("erp.db")).await;
    sqlx::raw_sql(
        "CREATE TABLE erp_customers (code TEXT PRIMARY KEY, name TEXT NOT NULL, phone TEXT);
         CREATE TABLE erp_writes (code TEXT NOT NULL, op TEXT NOT NULL);
         CREATE TRIGGER erp_inserted AFTER INSERT ON erp_customers
           BEGIN INSERT INTO erp_writes VALUES (NEW.code, 'insert'); END;
         CREATE TRIGGER erp_updated AFTER UPDATE ON erp_customers
           BEGIN INSERT INTO erp_writes VALUES (NEW.code, 'update'); END;",
    )
    .execute(&mut erp)
    .await
    .unwrap();
}

fn workspace(dir: &Path, port: u16, extra: &str) {
    let text = CONFIG
        .replace("LISTEN", &format!("127.0.0.1:{port}"))
        .replace("EXTRA\n", extra);
    std::fs::write(dir.join("ferry.yaml"), text).unwrap();
}

/// `ferry run` in `dir`, serving on the config's address, with the given log filter.
fn start(dir: &Path, log: &str) -> Child {
    ferry()
        .current_dir(dir)
        .env_remove("FERRY_LISTEN")
        .env("FERRY_LOG", log)
        .arg("run")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry run starts")
}

/// Sends one signed notice for record `id`; returns the answer's status and body.
async fn notify(http: &reqwest::Client, base: &str, id: &str) -> (u16, Value) {
    post_signed(http, base, &json!({"flow": "customers", "id": id})).await
}

/// Sends `notice` to `/hooks/crm`, signed; returns the answer's status and body.
async fn post_signed(http: &reqwest::Client, base: &str, notice: &Value) -> (u16, Value) {
    let body = serde_json::to_vec(notice).unwrap();
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = sign(SECRET.as_bytes(), &ts, &body);
    let r = http
        .post(format!("{base}/hooks/crm"))
        .header(TIMESTAMP_HEADER, &ts)
        .header(SIGNATURE_HEADER, sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the webhook answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn api_key(dir: &Path) -> String {
    run_json(
        dir,
        &[
            "keys", "create", "--name", "test", "--role", "viewer", "--json",
        ],
    )["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Polls `GET /api/v1/sync/{id}` until its state is not `queued` (30 s at most).
async fn settled(http: &reqwest::Client, base: &str, token: &str, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let st: Value = http
            .get(format!("{base}/api/v1/sync/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if st["state"] != "queued" {
            return st;
        }
        assert!(Instant::now() < deadline, "request {id} still queued: {st}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn count(db: &Path, sql: &str) -> i64 {
    let mut conn = sqlite(db).await;
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn notices_answered_202_survive_kill_9_and_arrive_exactly_once() {
    const N: i64 = 40;
    let dir = scratch();
    let dir = dir.path();
    let port = free_port();
    workspace(dir, port, "");
    let rows: Vec<_> = (1..=N)
        .map(|n| {
            (
                n,
                format!("C{n:03}"),
                format!("Customer {n}"),
                format!("139{n:08}"),
            )
        })
        .collect();
    tables(dir, &rows).await;
    let token = api_key(dir);

    let mut child = start(dir, "warn");
    let base = format!("http://127.0.0.1:{port}");
    let http = wait_ready(&base).await;
    // All notices at once, one signed request each; kill -9 as soon as the last is answered.
    let sends: Vec<_> = (1..=N)
        .map(|n| {
            let http = http.clone();
            let base = base.clone();
            tokio::spawn(async move { notify(&http, &base, &n.to_string()).await })
        })
        .collect();
    let mut accepted: BTreeMap<String, i64> = BTreeMap::new();
    for send in sends {
        let (status, body) = send.await.unwrap();
        assert_eq!(status, 202, "{body}");
        let t = &body["accepted"][0];
        accepted.insert(
            t["id"].as_str().unwrap().to_owned(),
            t["tracking_id"].as_i64().unwrap(),
        );
    }
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    assert_eq!(accepted.len() as i64, N);

    // What the crash left: every accepted notice is either still queued or already written.
    let store = dir.join(".ferry").join("ferry.db");
    let queued = count(&store, "SELECT count(*) FROM ferry_queue").await;
    let written = count(&dir.join("erp.db"), "SELECT count(*) FROM erp_customers").await;
    eprintln!("at kill -9: {queued} notice(s) still queued, {written} record(s) written");
    assert!(
        queued > 0,
        "every notice was worked before the kill: the test proved nothing about the crash"
    );
    assert!(
        queued + written >= N,
        "{queued} queued + {written} written < {N}"
    );

    // Restart: the queue is worked off.
    let child = start(dir, "warn");
    let http = wait_ready(&base).await;
    for (id, tracking) in &accepted {
        let st = settled(&http, &base, &token, *tracking).await;
        assert_eq!(st["state"], "done", "record {id}: {st}");
        assert!(
            matches!(st["outcome"].as_str(), Some("created" | "updated")),
            "record {id}: {st}"
        );
    }
    sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "ferry run exited with {}", out.status);

    let mut erp = sqlite(&dir.join("erp.db")).await;
    let target: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT code, name, phone FROM erp_customers ORDER BY code")
            .fetch_all(&mut erp)
            .await
            .unwrap();
    let expected: Vec<(String, String, Option<String>)> = rows
        .iter()
        .map(|(_, no, name, phone)| (no.clone(), name.clone(), Some(phone.clone())))
        .collect();
    assert_eq!(
        target, expected,
        "every accepted record, once, as the source has it"
    );
    let inserts: Vec<(String, i64)> = sqlx::query_as(
        "SELECT code, count(*) FROM erp_writes WHERE op = 'insert' GROUP BY code ORDER BY code",
    )
    .fetch_all(&mut erp)
    .await
    .unwrap();
    assert_eq!(inserts.len() as i64, N);
    assert!(
        inserts.iter().all(|(_, n)| *n == 1),
        "a record was inserted twice: {inserts:?}"
    );
    let updates = count(
        &dir.join("erp.db"),
        "SELECT count(*) FROM erp_writes WHERE op = 'update'",
    )
    .await;
    eprintln!("rewrites after the restart (written before the kill, not yet committed): {updates}");
    assert_eq!(count(&store, "SELECT count(*) FROM ferry_queue").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn masked_values_never_reach_the_log() {
    const PHONE: &str = "13812345678";
    const MASKED: &str = "138****5678";
    let dir = scratch();
    let dir = dir.path();
    let port = free_port();
    // The phone fails validation, so its value is in the error of the ledger and the dead
    // letter; the flow also polls, so the failure happens on both paths (scan and queue).
    workspace(
        dir,
        port,
        "    trigger: { poll: 300ms }\n    validate:\n      phone: [{ regex: \"^\\\\+86\" }]\n\
         alerts:\n  every: 200ms\n  dead_letters: 1\n",
    );
    tables(dir, &[(1, "C001".into(), "Ada".into(), PHONE.into())]).await;
    let token = api_key(dir);

    // Everything Ferry and its libraries log, at the most verbose level.
    let child = start(dir, "trace");
    let base = format!("http://127.0.0.1:{port}");
    let http = wait_ready(&base).await;
    let (status, body) = notify(&http, &base, "1").await;
    assert_eq!(status, 202, "{body}");
    let tracking = body["accepted"][0]["tracking_id"].as_i64().unwrap();
    let st = settled(&http, &base, &token, tracking).await;
    assert_eq!(st["state"], "dead_lettered", "{st}");

    // The API shows the failure with the phone masked: ledger, dead letter, request state.
    let get = |path: &str| {
        http.get(format!("{base}/api/v1{path}"))
            .bearer_auth(&token)
            .send()
    };
    let ledger = get("/ledger?flow=customers")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dead = get("/dead-letters?flow=customers")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let status_text = st.to_string();
    for (what, text) in [
        ("ledger", &ledger),
        ("dead letters", &dead),
        ("sync state", &status_text),
    ] {
        assert!(
            !text.contains(PHONE),
            "{what} shows the phone in clear: {text}"
        );
    }
    assert!(
        ledger.contains(MASKED),
        "the ledger names the masked value: {ledger}"
    );
    assert!(dead.contains(MASKED), "{dead}");

    // Give the alert check (every 200 ms) time to announce the dead letter.
    tokio::time::sleep(Duration::from_secs(1)).await;
    sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "ferry run exited with {}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("TRACE") && stderr.contains("ALERT"),
        "the log was not at trace level or the alert was not logged, so it proves little:\n{stderr}"
    );
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(
            !text.contains(PHONE),
            "the phone appears in clear in {name}:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn request_text_cannot_forge_a_log_line() {
    const STAMP: &str = "2026-01-01T00:00:00.000000Z";
    let forged = format!("{STAMP} ERROR ferry: FORGED");
    let dir = scratch();
    let dir = dir.path();
    let port = free_port();
    workspace(dir, port, "");
    tables(
        dir,
        &[(1, "C001".into(), "Ada".into(), "13812345678".into())],
    )
    .await;
    let child = start(dir, "info");
    let base = format!("http://127.0.0.1:{port}");
    let http = wait_ready(&base).await;

    // The system name in the path, percent-encoded (the router decodes it).
    let encoded = forged.replace(' ', "%20").replace(':', "%3A");
    let r = http
        .post(format!("{base}/hooks/crm%0D%0A{encoded}%00"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // A flow name in a signed body (refused), and a record id (accepted, then read).
    let evil = format!("x\r\n{forged}\u{0}");
    let (status, body) = post_signed(&http, &base, &json!({"flow": evil, "id": "1"})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = notify(&http, &base, &evil).await;
    assert_eq!(status, 202, "{body}");

    sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "ferry run exited with {}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("Webhook refused.").count(), 2, "{stderr}");
    assert!(
        !stderr.contains(['\r', '\0']),
        "a raw CR or NUL reached the log:\n{stderr:?}"
    );
    for line in stderr.lines() {
        assert!(
            !line.starts_with(STAMP),
            "a forged line:\n{line}\nin:\n{stderr}"
        );
    }
}
