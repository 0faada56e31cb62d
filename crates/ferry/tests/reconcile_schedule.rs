//! Scheduled reconciliation and the drift alert, from the command line: `ferry reconcile`
//! records its run in the store (trigger `cli`); `ferry run` reconciles the flow on its
//! `reconcile: { every }` schedule and stores each report; drift made on purpose in the target
//! table raises one `drift` alert (POSTed to a real receiver and logged), and once the target
//! is put right the next clean reconciliation announces the recovery, once. `ferry check`
//! points at a bad schedule by file, line and key; `ferry schema` documents the section.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const CONFIG: &str = r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  customers:
    entity: customer
    source: { system: crm, table: customers, watermark: { column: updated_at } }
    target: { system: erp, table: erp_customers }
    mapping: { code: customer_no, name: name, email: email }
    reconcile:
      RECONCILE
alerts:
  url: "URL/ferry-alerts"
  every: 200ms
  repeat: 1h
"#;

async fn received(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).expect("alert bodies are JSON"))
        .collect()
}

fn drift(state: &'static str) -> impl Fn(&Value) -> bool {
    move |a: &Value| a["flow"] == "customers" && a["condition"] == "drift" && a["state"] == state
}

async fn wait_for(server: &MockServer, what: &str, pred: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if received(server).await.iter().any(&pred) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no {what} alert within 60 s; got {:#?}",
        received(server).await
    );
}

/// The stored reconciliations: (id, trigger, clean, differing, report), oldest first.
async fn stored(dir: &std::path::Path) -> Vec<(i64, String, Option<i64>, i64, Option<String>)> {
    let mut db = sqlite(&dir.join(".ferry/ferry.db")).await;
    sqlx::query_as(
        "SELECT id, trigger, clean, differing, report FROM ferry_reconciliations ORDER BY id",
    )
    .fetch_all(&mut db)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_reconciliation_stores_reports_and_alerts_on_drift_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let tmp = scratch();
    let dir = tmp.path();
    let config = CONFIG
        .replace("URL", &server.uri())
        .replace("RECONCILE", "every: 1s");
    std::fs::write(dir.join("ferry.yaml"), config).unwrap();
    customer_tables(
        dir,
        &[
            (1, "C1", "客户一", "one@example.com"),
            (2, "C2", "客户二", "two@example.com"),
        ],
    )
    .await;
    run(dir, &["sync", "customers"], true);

    // The CLI's reconciliation is recorded too.
    let out = run(dir, &["reconcile", "customers", "--format", "json"], true);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["clean"], true);
    let first = stored(dir).await;
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].1.as_str(), first[0].2), ("cli", Some(1)));

    let child = ferry()
        .current_dir(dir)
        .env("FERRY_LOG", "info")
        .args(["run", "--no-serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry run starts");

    // Source and target agree: scheduled reconciliations are stored, clean, and nobody is told.
    let deadline = Instant::now() + Duration::from_secs(60);
    while stored(dir)
        .await
        .iter()
        .filter(|r| r.1 == "schedule")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "no scheduled reconciliation stored"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        stored(dir)
            .await
            .iter()
            .all(|r| r.2 == Some(1) || r.2.is_none()),
        "{:?}",
        stored(dir).await
    );
    assert!(received(&server).await.is_empty());

    // Drift behind Ferry's back: a name changed in the target.
    let mut erp = sqlite(&dir.join("erp.db")).await;
    sqlx::raw_sql("UPDATE erp_customers SET name = '客户二（改）' WHERE code = 'C2'")
        .execute(&mut erp)
        .await
        .unwrap();
    wait_for(&server, "drift", drift("firing")).await;
    // Put right: the next clean reconciliation announces the recovery.
    sqlx::raw_sql("UPDATE erp_customers SET name = '客户二' WHERE code = 'C2'")
        .execute(&mut erp)
        .await
        .unwrap();
    wait_for(&server, "drift recovery", drift("resolved")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "ferry run exited with {}", out.status);
    let log = String::from_utf8_lossy(&out.stderr);

    let alerts = received(&server).await;
    let firing = alerts.iter().filter(|a| drift("firing")(a)).count();
    let resolved = alerts.iter().filter(|a| drift("resolved")(a)).count();
    assert_eq!((firing, resolved), (1, 1), "no flooding: {alerts:#?}");
    let fired = alerts.iter().find(|a| drift("firing")(a)).unwrap();
    let message = fired["message"].as_str().unwrap();
    assert!(
        message.starts_with("flow `customers`: reconciliation #")
            && message.contains("(schedule, ")
            && message.contains(
                "found drift: 1 differing, 0 missing in the target, 0 missing in the source"
            ),
        "{message}"
    );
    assert!(log.contains(message), "the alert is logged too:\n{log}");
    assert!(log.contains("Reconciliation found drift."), "{log}");

    // The drifting report is stored whole, with the field that differs.
    let all = stored(dir).await;
    let drifting: Vec<_> = all.iter().filter(|r| r.2 == Some(0)).collect();
    assert!(!drifting.is_empty(), "{all:?}");
    assert!(drifting.iter().all(|r| r.1 == "schedule" && r.3 == 1));
    let report: Value = serde_json::from_str(drifting[0].4.as_deref().unwrap()).unwrap();
    assert_eq!(report["differing"][0]["key"], "C2");
    assert_eq!(
        report["differing"][0]["fields"][0]["target"],
        "客户二（改）"
    );
    assert!(
        message.contains(&format!("reconciliation #{} ", drifting[0].0)),
        "the alert names the first reconciliation that found it: {message}"
    );
    // Stopping finished what was running: nothing is left looking as if it runs.
    let mut db = sqlite(&dir.join(".ferry/ferry.db")).await;
    let unfinished: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM ferry_reconciliations WHERE finished_at IS NULL")
            .fetch_one(&mut db)
            .await
            .unwrap();
    assert_eq!(unfinished, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_points_at_a_bad_reconcile_schedule_and_schema_documents_it() {
    let tmp = scratch();
    let dir = tmp.path();
    let config = CONFIG
        .replace("URL", "http://127.0.0.1:9")
        .replace("RECONCILE", "schedule: \"at three\"");
    std::fs::write(dir.join("ferry.yaml"), config).unwrap();
    customer_tables(dir, &[]).await;
    let out = run(dir, &["check"], false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ferry.yaml:12:")
            && err
                .contains("flows.customers.reconcile.schedule: `at three` is not a cron schedule"),
        "{err}"
    );

    let schema = run_json(dir, &["schema"]);
    let text = schema.to_string();
    assert!(
        text.contains("ReconcileConfig") && text.contains("details_limit"),
        "`reconcile` is not in the schema"
    );
}
