//! `ferry reconcile`: drift made on purpose in the target — a field changed, a row deleted, a
//! row added behind Ferry's back, a key duplicated — is found exactly (the JSON report is
//! asserted), `--repair` (and `--repair-deletes`) fix it through the normal pipeline, and the
//! next reconcile is clean; records waiting in the dead-letter ledger are known failures, not
//! drift. The source is an SQLite file; the target an SQLite file, a PostgreSQL table and a
//! MariaDB table (servers of the development machine, URLs overridable with
//! `FERRY_TEST_PG_URL` / `FERRY_TEST_MYSQL_URL`; skipped visibly when absent, failed in CI).

mod common;

use common::*;
use serde_json::{Value, json};
use sqlx::{Connection, MySqlConnection, PgConnection, SqliteConnection};

const CONFIG: &str = r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "TARGET_URL" }
flows:
  customers:
    entity: customer
    source: { system: crm, table: customers, watermark: { column: updated_at } }
    target: { system: erp, table: TARGET_TABLE, columns: { code: customer_code } }
    on_delete: delete
    batch_size: 7
    mapping:
      code: customer_no
      name: name
      credit_limit: credit
"#;

/// A target database the test can change behind Ferry's back.
enum Target {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
    MySql(MySqlConnection),
}

impl Target {
    async fn exec(&mut self, sql: &str) {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        let done = match self {
            Target::Sqlite(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
            Target::Postgres(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
            Target::MySql(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
        };
        done.unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Opens the target of `kind` (None: the server is absent and the test is skipped), with its
/// URL and a table name no other test uses.
async fn target(kind: &str, dir: &std::path::Path) -> Option<(Target, String, String)> {
    let table = format!(
        "ferry_rec_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let found = match kind {
        "sqlite" => Some((
            Target::Sqlite(sqlite(&dir.join("erp.db")).await),
            "sqlite://erp.db".to_owned(),
        )),
        "postgres" => {
            let url = std::env::var("FERRY_TEST_PG_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
            PgConnection::connect(&url)
                .await
                .ok()
                .map(|c| (Target::Postgres(c), url))
        }
        _ => {
            let url = std::env::var("FERRY_TEST_MYSQL_URL")
                .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
            MySqlConnection::connect(&url)
                .await
                .ok()
                .map(|c| (Target::MySql(c), url))
        }
    };
    if !require_server(kind, found.is_some()) {
        return None;
    }
    found.map(|(t, url)| (t, url, table))
}

async fn setup_source(dir: &std::path::Path, n: u32) {
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::raw_sql(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT NOT NULL, name TEXT, credit TEXT, updated_at TEXT NOT NULL)",
    )
    .execute(&mut crm)
    .await
    .unwrap();
    for i in 1..=n {
        // Credit written as the source spells it ("10.5"); the target's NUMERIC(12,2) holds
        // 10.50: the same value, so not a difference.
        sqlx::query("INSERT INTO customers VALUES (?, ?, ?, ?, '2026-01-01 00:00:00')")
            .bind(i64::from(i))
            .bind(format!("C{i:04}"))
            .bind(format!("客户 {i}"))
            .bind(format!("{i}.5"))
            .execute(&mut crm)
            .await
            .unwrap();
    }
}

fn reconcile(dir: &std::path::Path, extra: &[&str]) -> (bool, Value) {
    let mut args = vec!["reconcile", "customers", "--format", "json"];
    args.extend_from_slice(extra);
    let out = run(dir, &args, false);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), report)
}

async fn drift_is_found_repaired_and_gone(kind: &str) {
    let tmp = scratch();
    let dir = tmp.path();
    let Some((mut erp, url, table)) = target(kind, dir).await else {
        return;
    };
    let numeric = if kind == "sqlite" {
        "NUMERIC"
    } else {
        "NUMERIC(12,2)"
    };
    erp.exec(&format!(
        "CREATE TABLE {table} (customer_code VARCHAR(20) PRIMARY KEY, name VARCHAR(100), credit_limit {numeric})"
    ))
    .await;
    std::fs::write(
        dir.join("ferry.yaml"),
        CONFIG
            .replace("TARGET_URL", &url)
            .replace("TARGET_TABLE", &table),
    )
    .unwrap();
    setup_source(dir, 20).await;
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(report["created"], 20, "{report}");

    let (ok, report) = reconcile(dir, &[]);
    assert!(ok, "a fresh sync reconciles clean: {report:#}");
    assert_eq!(report["clean"], true);
    assert_eq!(
        report["compared_fields"],
        json!(["code", "name", "credit_limit"])
    );
    assert_eq!(report["counts"]["equal"], 20, "{report:#}");

    // Drift behind Ferry's back.
    erp.exec(&format!(
        "UPDATE {table} SET name = 'changed by hand' WHERE customer_code = 'C0003'"
    ))
    .await;
    erp.exec(&format!(
        "UPDATE {table} SET credit_limit = 99 WHERE customer_code = 'C0011'"
    ))
    .await;
    erp.exec(&format!(
        "DELETE FROM {table} WHERE customer_code = 'C0007'"
    ))
    .await;
    erp.exec(&format!(
        "INSERT INTO {table} VALUES ('X0001', 'nobody', 1)"
    ))
    .await;

    let (ok, report) = reconcile(dir, &[]);
    assert!(!ok, "drift makes the command fail");
    assert_eq!(
        report["counts"],
        json!({
            "source": 20, "target": 20, "matched": 19, "equal": 17, "differing": 2,
            "missing_in_target": 1, "missing_in_source": 1,
            "duplicate_keys_source": 0, "duplicate_keys_target": 0, "unmapped": 0,
            "dead_lettered": 0
        }),
        "{report:#}"
    );
    assert_eq!(
        report["differing"],
        json!([
            {"key": "C0003", "source_id": "3", "target_id": "C0003",
             "fields": [{"field": "name", "source": "客户 3", "target": "changed by hand"}]},
            {"key": "C0011", "source_id": "11", "target_id": "C0011",
             "fields": [{"field": "credit_limit", "source": "11.5", "target": report["differing"][1]["fields"][0]["target"]}]},
        ]),
        "{report:#}"
    );
    assert_eq!(
        report["differing"][1]["fields"][0]["target"]
            .to_string()
            .trim_matches('"')
            .trim_end_matches('0')
            .trim_end_matches('.'),
        "99"
    );
    assert_eq!(
        report["missing_in_target"],
        json!([{"key": "C0007", "source_id": "7", "target_id": "C0007"}])
    );
    assert_eq!(
        report["missing_in_source"],
        json!([{"key": "X0001", "source_id": null, "target_id": "X0001"}])
    );

    // Repair: the two differing and the missing record are rewritten by the pipeline, the
    // extra row is deleted by the flow's delete policy; all with trigger `reconcile`.
    let (_, report) = reconcile(dir, &["--repair", "--repair-deletes"]);
    assert_eq!(report["repair"]["queued"], 3, "{report:#}");
    assert_eq!(report["repair"]["run"]["updated"], 3, "{report:#}");
    assert_eq!(report["repair"]["run"]["failed"], 0, "{report:#}");
    assert_eq!(report["repair"]["deleted"], 1, "{report:#}");
    // The repair is an operator action: it is in the audit log as the API writes it, naming
    // the reconciliation whose stored report says what it did.
    let mut state = sqlite(&dir.join(".ferry/ferry.db")).await;
    let audit: Vec<(String, String, Option<String>, String)> =
        sqlx::query_as("SELECT action, target, source, outcome FROM ferry_audit ORDER BY id")
            .fetch_all(&mut state)
            .await
            .unwrap();
    let (id, stored): (i64, String) =
        sqlx::query_as("SELECT id, report FROM ferry_reconciliations ORDER BY id DESC LIMIT 1")
            .fetch_one(&mut state)
            .await
            .unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["repair"]["queued"], 3, "{stored:#}");
    assert_eq!(
        audit,
        [(
            "reconcile.repair+deletes".to_owned(),
            format!("flow customers: reconciliation {id}"),
            Some(format!("cli (user {TEST_USER})")),
            "ok".to_owned()
        )]
    );
    let ledger = run_json(dir, &["ledger", "--key", "C0007", "--json"]);
    let last = ledger[0]["entries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (&last["trigger"], &last["outcome"]),
        (&json!("reconcile"), &json!("updated")),
        "{ledger:#}"
    );
    let ledger = run_json(dir, &["ledger", "--key", "X0001", "--json"]);
    let last = ledger[0]["entries"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (&last["trigger"], &last["outcome"], &last["target_id"]),
        (&json!("reconcile"), &json!("deleted"), &json!("X0001")),
        "{ledger:#}"
    );

    let (ok, report) = reconcile(dir, &[]);
    assert!(ok, "clean after the repair: {report:#}");
    assert_eq!(report["counts"]["equal"], 20, "{report:#}");
    assert_eq!(report["counts"]["target"], 20, "{report:#}");

    if kind != "sqlite" {
        erp.exec(&format!("DROP TABLE {table}")).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_in_an_sqlite_target_is_found_repaired_and_gone() {
    drift_is_found_repaired_and_gone("sqlite").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_in_a_postgresql_target_is_found_repaired_and_gone() {
    drift_is_found_repaired_and_gone("postgres").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_in_a_mariadb_target_is_found_repaired_and_gone() {
    drift_is_found_repaired_and_gone("mysql").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_keys_on_either_side_are_reported_and_the_reports_render() {
    let tmp = scratch();
    let dir = tmp.path();
    let Some((mut erp, url, table)) = target("sqlite", dir).await else {
        return;
    };
    // No unique key on the target's key column, so the target can hold a key twice.
    erp.exec(&format!(
        "CREATE TABLE {table} (customer_code TEXT, name TEXT, credit_limit NUMERIC)"
    ))
    .await;
    std::fs::write(
        dir.join("ferry.yaml"),
        CONFIG
            .replace("TARGET_URL", &url)
            .replace("TARGET_TABLE", &table),
    )
    .unwrap();
    setup_source(dir, 4).await;
    erp.exec(&format!(
        "INSERT INTO {table} VALUES ('C0001', '客户 1', 1.5), ('C0002', '客户 2', 2.5), ('C0002', '客户 2 again', 2.5),
         ('C0003', '<i>x</i> & co', 3.5), ('C0004', '客户 4', 4.5)"
    ))
    .await;
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::raw_sql("INSERT INTO customers VALUES (5, 'C0004', 'dup', '4.5', '2026-01-01 00:00:00')")
        .execute(&mut crm)
        .await
        .unwrap();
    let (ok, report) = reconcile(dir, &["--limit-details", "1"]);
    assert!(!ok);
    assert_eq!(report["counts"]["duplicate_keys_source"], 1, "{report:#}");
    assert_eq!(report["counts"]["duplicate_keys_target"], 1, "{report:#}");
    assert_eq!(report["counts"]["missing_in_target"], 1, "{report:#}");
    assert_eq!(report["counts"]["differing"], 2, "{report:#}");
    assert_eq!(
        report["duplicate_keys"],
        json!([{"side": "source", "key": "C0004", "count": 2}]),
        "one entry kept with --limit-details 1"
    );
    assert_eq!(report["truncated"], true);

    // The same findings as CSV, HTML and a table.
    let out = run(
        dir,
        &[
            "reconcile",
            "customers",
            "--format",
            "csv",
            "--out",
            "drift.csv",
        ],
        false,
    );
    assert!(!out.status.success() && out.stdout.is_empty());
    let csv = std::fs::read_to_string(dir.join("drift.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("finding,key,source_id,target_id,field,source_value,target_value,detail")
    );
    for expected in [
        "differing,C0002,2,C0002,name,\"\"\"客户 2\"\"\",\"\"\"客户 2 again\"\"\",",
        "duplicate_key_source,C0004,,,,,,2 records",
        "duplicate_key_target,C0002,,,,,,2 records",
    ] {
        assert!(
            csv.lines().any(|l| l == expected),
            "`{expected}` not in:\n{csv}"
        );
    }
    run(
        dir,
        &[
            "reconcile",
            "customers",
            "--format",
            "html",
            "--out",
            "drift.html",
        ],
        false,
    );
    let html = std::fs::read_to_string(dir.join("drift.html")).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("C0004"),
        "{html}"
    );
    assert!(
        html.contains("&lt;i&gt;x&lt;/i&gt; &amp; co") && !html.contains("<i>x"),
        "values are escaped: {html}"
    );
    let out = run(dir, &["reconcile", "customers"], false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("DRIFT FOUND") && text.contains("Duplicate keys"),
        "{text}"
    );
}

/// Issue 13 item 12: a record that failed validation, and one the target refused, wait in the
/// dead-letter ledger; the operator knows of them, so reconciliation counts them apart (with
/// their dead letters and reasons) instead of calling them drift. A row deleted from the
/// target behind Ferry's back is drift.
#[tokio::test(flavor = "multi_thread")]
async fn dead_lettered_records_are_known_failures_not_drift() {
    let tmp = scratch();
    let dir = tmp.path();
    std::fs::write(
        dir.join("ferry.yaml"),
        r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  customers:
    entity: customer
    source: { system: crm, table: customers, watermark: { column: updated_at } }
    target: { system: erp, table: erp_customers }
    mapping: { code: customer_no, name: name, email: email }
    validate: { email: [email] }
"#,
    )
    .unwrap();
    customer_tables(
        dir,
        &[
            (1, "C1", "Ada", "ada@example.com"),
            (2, "C2", "Grace", "grace@"),
            (3, "C3", "Linus", "linus@example.com"),
            (4, "C4", "Refused", "refused@example.com"),
        ],
    )
    .await;
    let mut erp = sqlite(&dir.join("erp.db")).await;
    sqlx::raw_sql(
        "CREATE TRIGGER refuse_c4 BEFORE INSERT ON erp_customers WHEN NEW.code = 'C4' \
         BEGIN SELECT RAISE(ABORT, 'C4 is refused by the ERP'); END",
    )
    .execute(&mut erp)
    .await
    .unwrap();
    run(dir, &["sync", "customers"], true);
    let open = run_json(dir, &["dlq", "list", "--json"]);
    let dead_letter = |source: &str| {
        open.as_array()
            .unwrap()
            .iter()
            .find(|d| d["source_id"] == source)
            .unwrap_or_else(|| panic!("no dead letter for {source}: {open:#}"))["id"]
            .clone()
    };
    sqlx::raw_sql("DELETE FROM erp_customers WHERE code = 'C3'")
        .execute(&mut erp)
        .await
        .unwrap();

    let (ok, report) = reconcile(dir, &[]);
    assert!(!ok, "the deleted row is drift: {report:#}");
    assert_eq!(report["counts"]["missing_in_target"], 1, "{report:#}");
    assert_eq!(report["counts"]["unmapped"], 0, "{report:#}");
    assert_eq!(report["counts"]["dead_lettered"], 2, "{report:#}");
    assert_eq!(report["missing_in_target"][0]["key"], "C3", "{report:#}");
    // The mapping's validation refuses C2 (unmapped); the ERP refused C4 (missing in it).
    let known: Vec<_> = report["dead_lettered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["key"].clone(),
                k["finding"].clone(),
                k["dead_letter_id"].clone(),
                k["dead_letter_state"].clone(),
            )
        })
        .collect();
    assert_eq!(
        known,
        [
            (
                json!("C2"),
                json!("unmapped"),
                dead_letter("2"),
                json!("open")
            ),
            (
                json!("C4"),
                json!("missing_in_target"),
                dead_letter("4"),
                json!("open")
            ),
        ],
        "{report:#}"
    );
    let reasons = &report["dead_lettered"];
    assert!(
        reasons[0]["error"].as_str().unwrap().contains("e-mail")
            && reasons[1]["error"]
                .as_str()
                .unwrap()
                .contains("refused by the ERP"),
        "{report:#}"
    );

    // The repair rewrites the drift only; the dead-lettered record is the ledger's to replay.
    let (_, report) = reconcile(dir, &["--repair"]);
    assert_eq!(report["repair"]["queued"], 1, "{report:#}");
    assert_eq!(report["repair"]["run"]["updated"], 1, "{report:#}");
    assert_eq!(report["repair"]["run"]["failed"], 0, "{report:#}");

    // Known failures alone: exit 0, not called drift, in the table and the stored row.
    let out = run(dir, &["reconcile", "customers"], false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("DRIFT"), "{text}");
    assert!(
        text.contains("2 known failure(s)") && text.contains("`ferry dlq list`"),
        "{text}"
    );
    let mut state = sqlite(&dir.join(".ferry/ferry.db")).await;
    let stored: (i64, i64, i64) = sqlx::query_as(
        "SELECT clean, missing_in_target, dead_lettered FROM ferry_reconciliations \
         ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&mut state)
    .await
    .unwrap();
    assert_eq!(stored, (1, 0, 2));

    // Fixed at the source and in the ERP, and replayed: nothing known, nothing drifted.
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::raw_sql("UPDATE customers SET email = 'grace@example.com' WHERE id = 2")
        .execute(&mut crm)
        .await
        .unwrap();
    sqlx::raw_sql("DROP TRIGGER refuse_c4")
        .execute(&mut erp)
        .await
        .unwrap();
    run(dir, &["dlq", "replay", "--all"], true);
    let (ok, report) = reconcile(dir, &[]);
    assert!(ok, "{report:#}");
    assert_eq!(report["counts"]["dead_lettered"], 0, "{report:#}");
    assert_eq!(report["counts"]["equal"], 4, "{report:#}");
}
