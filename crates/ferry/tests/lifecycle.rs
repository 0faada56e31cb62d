//! Long-running behaviour: `ferry run` on its triggers, SIGTERM draining, and the quickstart.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use sqlx::Row;

const CONFIG: &str = r#"
engine: { batch_size: 200 }
code_tables:
  status: { "有效": active, "停用": blocked }
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  customers:
    entity: customer
    trigger: TRIGGER
    source: { system: crm, table: customers, watermark: { column: updated_at, overlap: 1s } }
    target: { system: erp, table: erp_customers }
    mapping:
      code: customer_no
      name: name
      status: { from: status, code_table: status }
"#;

async fn setup(dir: &std::path::Path, n: u32, trigger: &str) {
    std::fs::write(dir.join("ferry.yaml"), CONFIG.replace("TRIGGER", trigger)).unwrap();
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::raw_sql("CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT NOT NULL, name TEXT NOT NULL, status TEXT, updated_at TEXT NOT NULL)")
        .execute(&mut crm)
        .await
        .unwrap();
    for start in (1..=n).step_by(1_000) {
        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO customers ");
        q.push_values(start..(start + 1_000).min(n + 1), |mut b, i| {
            b.push_bind(i64::from(i))
                .push_bind(format!("C{i:07}"))
                .push_bind(format!("客户{i}"))
                .push_bind("有效")
                .push_bind("2026-01-01 00:00:00");
        });
        q.build().execute(&mut crm).await.unwrap();
    }
    let mut erp = sqlite(&dir.join("erp.db")).await;
    sqlx::raw_sql(
        "CREATE TABLE erp_customers (code TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT)",
    )
    .execute(&mut erp)
    .await
    .unwrap();
}

async fn target_count(dir: &std::path::Path) -> i64 {
    let mut erp = sqlite(&dir.join("erp.db")).await;
    sqlx::query_scalar("SELECT count(*) FROM erp_customers")
        .fetch_one(&mut erp)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_the_batch_in_hand_and_the_next_run_resumes() {
    let dir = scratch();
    let dir = dir.path();
    const N: u32 = 100_000;
    setup(dir, N, "manual").await;
    let child = ferry()
        .current_dir(dir)
        .args(["sync", "customers", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while target_count(dir).await < 1_000 {
        assert!(Instant::now() < deadline, "the sync did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["cancelled"], true, "{report}");
    let written = report["created"].as_u64().unwrap();
    assert!(written < u64::from(N), "{report}");
    // What was reported as written is in the target and in the store: nothing half-done.
    assert_eq!(target_count(dir).await as u64, written);
    let status = run_json(dir, &["status", "--json"]);
    assert_eq!(status[0]["records"].as_u64().unwrap(), written);
    assert!(!status[0]["last_run"]["finished_at"].is_null());

    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(
        report["created"].as_u64().unwrap() + written,
        u64::from(N),
        "{report}"
    );
    assert_eq!(target_count(dir).await, i64::from(N));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_polls_for_changes_and_works_off_the_queue_until_stopped() {
    let dir = scratch();
    let dir = dir.path();
    setup(dir, 500, "{ poll: 1s }").await;
    let mut child = ferry()
        .current_dir(dir)
        .args(["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let wait_for = |want: i64| async move {
        let deadline = Instant::now() + Duration::from_secs(30);
        while target_count(dir).await != want {
            assert!(
                Instant::now() < deadline,
                "the target never reached {want} rows"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    wait_for(500).await;

    // New and changed rows at the source arrive by themselves.
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::query(
        "INSERT INTO customers VALUES (501, 'C0000501', '新客户', '停用', '2026-03-01 00:00:00')",
    )
    .execute(&mut crm)
    .await
    .unwrap();
    sqlx::query("UPDATE customers SET name = 'Renamed GmbH', updated_at = '2026-03-01 00:00:00' WHERE id = 7").execute(&mut crm).await.unwrap();
    wait_for(501).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut erp = sqlite(&dir.join("erp.db")).await;
        let row = sqlx::query("SELECT (SELECT name FROM erp_customers WHERE code = 'C0000007'), (SELECT status FROM erp_customers WHERE code = 'C0000501')")
            .fetch_one(&mut erp)
            .await
            .unwrap();
        if row.get::<String, _>(0) == "Renamed GmbH" && row.get::<String, _>(1) == "blocked" {
            break;
        }
        assert!(Instant::now() < deadline, "the change did not arrive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A request by id, made while `ferry run` is running, is served by it.
    sqlx::query("UPDATE customers SET name = 'Asked for' WHERE id = 9")
        .execute(&mut crm)
        .await
        .unwrap(); // no timestamp change
    let out = run(dir, &["sync", "customers", "--id", "9", "--json"], true);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut erp = sqlite(&dir.join("erp.db")).await;
    let name: String = sqlx::query_scalar("SELECT name FROM erp_customers WHERE code = 'C0000009'")
        .fetch_one(&mut erp)
        .await
        .unwrap();
    assert_eq!(name, "Asked for", "{report}");

    sigterm(child.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ferry run did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn quickstart_builds_and_syncs_the_demo() {
    let dir = scratch();
    let out = ferry()
        .args(["quickstart", "--no-serve", "--dir"])
        .arg(dir.path().join("demo"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 10,000 customers, 1 in 200 with a broken e-mail; 2,000 products; 20,000 orders.
    let line = |flow: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(flow))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        line("customers")[1..6],
        ["10000", "9950", "0", "0", "50"],
        "{stdout}"
    );
    assert_eq!(
        line("products")[1..6],
        ["2000", "2000", "0", "0", "0"],
        "{stdout}"
    );
    assert_eq!(
        line("orders")[1..6],
        ["20000", "20000", "0", "0", "0"],
        "{stdout}"
    );
    assert!(stdout.contains("Try next"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cron_trigger_runs_the_flow_on_schedule() {
    let dir = scratch();
    let dir = dir.path();
    setup(dir, 300, "{ cron: \"* * * * * *\" }").await; // every second
    let mut child = ferry()
        .current_dir(dir)
        .args(["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while target_count(dir).await < 300 {
        assert!(
            Instant::now() < deadline,
            "the cron trigger never ran the flow"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = run_json(dir, &["status", "--json"]);
    assert_eq!(status[0]["trigger"], "cron * * * * * *");
    assert_eq!(status[0]["last_run"]["trigger"], "cron");
    sigterm(child.id());
    assert!(child.wait().unwrap().success());
}
