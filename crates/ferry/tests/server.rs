//! The server from the command line: `ferry keys`, `ferry check` on the `server:` section,
//! and `ferry run` serving the API until SIGTERM.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

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
server:
  listen: LISTEN
"#;

async fn workspace(dir: &std::path::Path, listen: &str) {
    std::fs::write(dir.join("ferry.yaml"), CONFIG.replace("LISTEN", listen)).unwrap();
    customer_tables(dir, &[(1, "C1", "Ada", "ada@example.com")]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_made_listed_and_revoked_on_the_store() {
    let dir = scratch();
    let dir = dir.path();
    workspace(dir, "127.0.0.1:0").await;
    let created = run_json(
        dir,
        &[
            "keys", "create", "--name", "ops", "--role", "admin", "--json",
        ],
    );
    let token = created["token"].as_str().unwrap();
    assert!(token.starts_with("fy_"));
    assert_eq!(created["role"], "admin");
    let listed = run(dir, &["keys", "list", "--json"], true);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("\"ops\"") && !text.contains(token));
    run(dir, &["keys", "revoke", &created["id"].to_string()], true);
    let listed = run_json(dir, &["keys", "list", "--json"]);
    assert!(listed[0]["revoked_at"].is_string());
    let bad = run(
        dir,
        &["keys", "create", "--name", "x", "--role", "root"],
        false,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a role"));
}

#[tokio::test(flavor = "multi_thread")]
async fn check_points_at_a_bad_server_setting() {
    let dir = scratch();
    let dir = dir.path();
    workspace(dir, "localhost").await;
    let out = run(dir, &["check"], false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ferry.yaml:14:") && err.contains("server.listen"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_serves_the_api_and_stops_on_sigterm() {
    let dir = scratch();
    let dir = dir.path();
    let port = free_port();
    workspace(dir, &format!("127.0.0.1:{port}")).await;
    let created = run_json(
        dir,
        &[
            "keys", "create", "--name", "ops", "--role", "operator", "--json",
        ],
    );
    let token = created["token"].as_str().unwrap().to_owned();
    let child = ferry()
        .current_dir(dir)
        .env_remove("FERRY_LISTEN")
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = wait_ready(&base).await;
    let r = http
        .post(format!("{base}/api/v1/sync"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"flow": "customers", "id": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    // `ferry run` works the queue within a second or two.
    let mut erp = sqlite(&dir.join("erp.db")).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM erp_customers")
            .fetch_one(&mut erp)
            .await
            .unwrap();
        if n == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queued record was not synced"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sigterm(child.id());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(out.status.success(), "ferry run exited with {}", out.status);
    // The banner names the console, at the address actually bound.
    let banner = String::from_utf8_lossy(&out.stderr);
    assert!(banner.contains(&format!("Console: {base}/\n")), "{banner}");
    assert!(http.get(format!("{base}/healthz")).send().await.is_err());
}
