//! Delete propagation (`on_delete`): a row deleted at the source is deleted, archived or left
//! alone in the target, exactly once, recorded in the ledger with the target id, and a row
//! that comes back is written again. SQLite files on both sides, through the `ferry` binary.

mod common;

use common::*;
use sqlx::Row;

const CONFIG: &str = r#"
systems:
  legacy: { kind: sql, url: "sqlite://legacy.db" }
  crm: { kind: sql, url: "sqlite://crm.db" }
flows:
  customers:
    entity: customer
    source: { system: legacy, table: kunden, id: nr, detect_deletes: true }
    target: { system: crm, table: accounts }
    on_delete: POLICY
    batch_size: 2
    mapping:
      code: nr
      name: name
      active: { value: true }
"#;

async fn exec(conn: &mut sqlx::SqliteConnection, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .unwrap();
}

/// The target's rows as `code:active`, in code order.
async fn accounts(dir: &std::path::Path) -> Vec<String> {
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::query("SELECT code, active FROM accounts ORDER BY code")
        .fetch_all(&mut crm)
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{}:{}", r.get::<String, _>(0), r.get::<i64, _>(1)))
        .collect()
}

fn counts(report: &serde_json::Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| report[k].as_u64().unwrap();
    (n("created"), n("updated"), n("deleted"), n("failed"))
}

const ACCOUNTS: &str =
    "CREATE TABLE accounts (code TEXT PRIMARY KEY, name TEXT, active INTEGER NOT NULL)";

async fn setup(policy: &str) -> tempfile::TempDir {
    setup_with(policy, ACCOUNTS).await
}

async fn setup_with(policy: &str, accounts_ddl: &str) -> tempfile::TempDir {
    let tmp = scratch();
    let dir = tmp.path();
    std::fs::write(dir.join("ferry.yaml"), CONFIG.replace("POLICY", policy)).unwrap();
    let mut legacy = sqlite(&dir.join("legacy.db")).await;
    exec(
        &mut legacy,
        "CREATE TABLE kunden (nr TEXT PRIMARY KEY, name TEXT);
         INSERT INTO kunden VALUES ('K1','a'),('K2','b'),('K3','c'),('K4','d'),('K5','e');",
    )
    .await;
    let mut crm = sqlite(&dir.join("crm.db")).await;
    exec(&mut crm, accounts_ddl).await;
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(counts(&report), (5, 0, 0, 0), "{report}");
    // Two rows deleted for good, one of them on a page boundary.
    exec(&mut legacy, "DELETE FROM kunden WHERE nr IN ('K2', 'K4')").await;
    tmp
}

/// The ledger outcomes and target ids of one key.
fn ledger(dir: &std::path::Path, key: &str) -> Vec<(String, String)> {
    let ledger = run_json(dir, &["ledger", "--key", key, "--json"]);
    ledger[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["outcome"].as_str().unwrap().to_owned(),
                e["target_id"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect()
}

fn entries(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn on_delete_delete_removes_the_target_row_once_and_a_returning_row_is_created_again() {
    let tmp = setup("delete").await;
    let dir = tmp.path();
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(counts(&report), (0, 0, 2, 0), "{report}");
    assert_eq!(accounts(dir).await, ["K1:1", "K3:1", "K5:1"]);
    assert_eq!(
        ledger(dir, "K2"),
        entries(&[("created", "K2"), ("deleted", "K2")])
    );

    // Exactly once: the next pass finds nothing to do.
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(counts(&report), (0, 0, 0, 0), "{report}");
    assert_eq!(ledger(dir, "K2").len(), 2);

    // The row comes back: it is created again (not "unchanged" against a forgotten write).
    let mut legacy = sqlite(&dir.join("legacy.db")).await;
    exec(&mut legacy, "INSERT INTO kunden VALUES ('K2', 'b again')").await;
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(counts(&report), (1, 0, 0, 0), "{report}");
    assert_eq!(accounts(dir).await, ["K1:1", "K2:1", "K3:1", "K5:1"]);
    assert_eq!(
        ledger(dir, "K2"),
        entries(&[("created", "K2"), ("deleted", "K2"), ("created", "K2")])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_delete_archive_writes_the_archive_fields_and_a_returning_row_is_restored() {
    let tmp = setup("{ archive: { active: false } }").await;
    let dir = tmp.path();
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(counts(&report), (0, 0, 2, 0), "{report}");
    assert_eq!(
        accounts(dir).await,
        ["K1:1", "K2:0", "K3:1", "K4:0", "K5:1"]
    );
    assert_eq!(
        ledger(dir, "K4"),
        entries(&[("created", "K4"), ("deleted", "K4")])
    );
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(counts(&report), (0, 0, 0, 0), "{report}");

    let mut legacy = sqlite(&dir.join("legacy.db")).await;
    exec(&mut legacy, "INSERT INTO kunden VALUES ('K4', 'd')").await;
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(counts(&report), (0, 1, 0, 0), "{report}");
    assert_eq!(
        accounts(dir).await,
        ["K1:1", "K2:0", "K3:1", "K4:1", "K5:1"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn on_delete_ignore_records_the_delete_and_leaves_the_target_alone() {
    let tmp = setup("ignore").await;
    let dir = tmp.path();
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(counts(&report), (0, 0, 2, 0), "{report}");
    assert_eq!(
        accounts(dir).await,
        ["K1:1", "K2:1", "K3:1", "K4:1", "K5:1"]
    );
    assert_eq!(
        ledger(dir, "K2"),
        entries(&[("created", "K2"), ("deleted", "K2")])
    );
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(counts(&report), (0, 0, 0, 0), "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_archive_the_target_refuses_is_a_dead_letter_with_the_record() {
    let tmp = setup_with(
        "{ archive: { active: false } }",
        "CREATE TABLE accounts (code TEXT PRIMARY KEY, name TEXT, active INTEGER NOT NULL CHECK (active = 1))",
    )
    .await;
    let dir = tmp.path();
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(counts(&report), (0, 0, 0, 2), "{report}");
    let letters = run_json(dir, &["dlq", "list", "--json"]);
    let mut ids: Vec<&str> = letters
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["source_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["K2", "K4"], "{letters}");
    let letter = &letters[0];
    assert_eq!(letter["error_kind"], "validation", "{letter}");
    assert_eq!(letter["payload"]["deleted"], true, "{letter}");
    assert!(
        letter["error"]
            .as_str()
            .unwrap()
            .contains("on_delete archive"),
        "{letter}"
    );
    // Not tried again by the next pass, and the target keeps the rows.
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(counts(&report), (0, 0, 0, 0), "{report}");
    assert_eq!(accounts(dir).await.len(), 5);
}

/// Rows read with their deleted flag set (`deleted_column`) follow the same policy.
#[tokio::test(flavor = "multi_thread")]
async fn a_row_flagged_deleted_at_the_source_is_deleted_in_the_target_once() {
    let tmp = scratch();
    let dir = tmp.path();
    let config = CONFIG.replace("POLICY", "delete").replace(
        "detect_deletes: true",
        "deleted_column: geloescht, watermark: { column: seq, kind: integer }",
    );
    std::fs::write(dir.join("ferry.yaml"), config).unwrap();
    let mut legacy = sqlite(&dir.join("legacy.db")).await;
    exec(
        &mut legacy,
        "CREATE TABLE kunden (nr TEXT PRIMARY KEY, name TEXT, geloescht INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL);
         INSERT INTO kunden VALUES ('K1','a',0,1),('K2','b',0,2),('K3','c',0,3);",
    )
    .await;
    let mut crm = sqlite(&dir.join("crm.db")).await;
    exec(
        &mut crm,
        "CREATE TABLE accounts (code TEXT PRIMARY KEY, name TEXT, active INTEGER NOT NULL)",
    )
    .await;
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(counts(&report), (3, 0, 0, 0), "{report}");
    exec(
        &mut legacy,
        "UPDATE kunden SET geloescht = 1, seq = 4 WHERE nr = 'K2'",
    )
    .await;
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(counts(&report), (0, 0, 1, 0), "{report}");
    assert_eq!(accounts(dir).await, ["K1:1", "K3:1"]);
    // Read again (a full read): still deleted, nothing more to do.
    let report = run_json(dir, &["sync", "customers", "--full", "--json"]);
    assert_eq!(counts(&report), (0, 0, 0, 0), "{report}");
    assert_eq!(ledger(dir, "K2").len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_refuses_a_delete_policy_the_target_cannot_carry_out() {
    let tmp = scratch();
    let dir = tmp.path();
    let config = r#"
systems:
  legacy: { kind: sql, url: "sqlite://legacy.db" }
  outbox: { kind: files, dir: outbox }
flows:
  customers:
    entity: customer
    source: { system: legacy, table: kunden, id: nr, detect_deletes: true }
    target: { system: outbox, file: "customers.csv", columns: [code, name] }
    on_delete: delete
    mapping: { code: nr, name: name }
  archived:
    entity: customer
    source: { system: legacy, table: kunden, id: nr }
    target: { system: legacy, table: accounts }
    on_delete: { archive: { code: X, colour: red } }
    mapping: { code: nr, name: name }
"#;
    std::fs::create_dir_all(dir.join("outbox")).unwrap();
    std::fs::write(dir.join("ferry.yaml"), config).unwrap();
    let out = run(dir, &["check"], false);
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    for expected in [
        "flows.customers.on_delete",
        "cannot delete records",
        "flows.archived.on_delete.archive.code",
        "business key",
        "flows.archived.on_delete.archive.colour",
        "unknown field `colour`",
    ] {
        assert!(text.contains(expected), "`{expected}` missing in:\n{text}");
    }
}
