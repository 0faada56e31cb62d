//! Two-way sync (`pairs:`): a CRM and an ERP table (SQLite), one flow each way, with field
//! ownership (`name` owned by the CRM, `credit_limit` by the ERP, `phone` shared).
//!
//! Every table counts the writes made to it with SQL triggers (`writes`: one row per INSERT
//! and per UPDATE of a data column; the trigger that stamps `updated_at` touches only that
//! column, so it is not counted), which is how the tests prove that one change makes exactly
//! one write on the other side and none back — with `ferry sync` step by step, and with
//! `ferry run` polling both flows every second.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use sqlx::SqliteConnection;

const CONFIG: &str = r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  customers_to_erp:
    entity: customer
    trigger: { poll: 1s }
    source: { system: crm, table: customers, watermark: { column: updated_at } }
    target: { system: erp, table: erp_customers }
    mapping: { code: customer_no, name: name, phone: phone, credit_limit: credit }
  customers_to_crm:
    entity: customer
    trigger: { poll: 1s }
    source: { system: erp, table: erp_customers, id: code, watermark: { column: updated_at } }
    target:
      system: crm
      table: customers
      key_column: customer_no
      columns: { code: customer_no, credit_limit: credit }
    mapping: { code: code, name: name, phone: phone, credit_limit: credit_limit }
pairs:
  customers:
    flows: [customers_to_erp, customers_to_crm]
    owners:
      default: crm
      fields: { credit_limit: erp, phone: shared }
    conflicts: POLICY
    clock_skew: 2s
"#;

/// `updated_at` as both tables stamp it (UTC, milliseconds).
const NOW: &str = "strftime('%Y-%m-%d %H:%M:%f', 'now')";

struct Systems {
    crm: SqliteConnection,
    erp: SqliteConnection,
}

async fn exec(conn: &mut SqliteConnection, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Both tables with their stamping and counting triggers, three CRM customers, the config.
async fn setup(dir: &std::path::Path, policy: &str) -> Systems {
    std::fs::write(dir.join("ferry.yaml"), CONFIG.replace("POLICY", policy)).unwrap();
    let mut crm = sqlite(&dir.join("crm.db")).await;
    exec(
        &mut crm,
        &format!(
            "CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT NOT NULL UNIQUE, \
             name TEXT, phone TEXT, credit TEXT, updated_at TEXT NOT NULL DEFAULT ({NOW}));
             CREATE TABLE writes (tbl TEXT, op TEXT, key TEXT);
             CREATE TRIGGER crm_stamp AFTER UPDATE OF customer_no, name, phone, credit ON customers
               BEGIN UPDATE customers SET updated_at = {NOW} WHERE id = NEW.id; END;
             CREATE TRIGGER crm_count_update AFTER UPDATE OF customer_no, name, phone, credit ON customers
               BEGIN INSERT INTO writes VALUES ('customers', 'update', NEW.customer_no); END;
             CREATE TRIGGER crm_count_insert AFTER INSERT ON customers
               BEGIN INSERT INTO writes VALUES ('customers', 'insert', NEW.customer_no); END;
             INSERT INTO customers (customer_no, name, phone) VALUES
               ('C1', 'Ada', '100'), ('C2', 'Bob', '200'), ('C3', 'Cy', '300');
             DELETE FROM writes;"
        ),
    )
    .await;
    let mut erp = sqlite(&dir.join("erp.db")).await;
    exec(
        &mut erp,
        &format!(
            "CREATE TABLE erp_customers (code TEXT PRIMARY KEY, name TEXT, phone TEXT, \
             credit_limit TEXT, updated_at TEXT NOT NULL DEFAULT ({NOW}));
             CREATE TABLE writes (tbl TEXT, op TEXT, key TEXT);
             CREATE TRIGGER erp_stamp AFTER UPDATE OF code, name, phone, credit_limit ON erp_customers
               BEGIN UPDATE erp_customers SET updated_at = {NOW} WHERE code = NEW.code; END;
             CREATE TRIGGER erp_count_update AFTER UPDATE OF code, name, phone, credit_limit ON erp_customers
               BEGIN INSERT INTO writes VALUES ('erp_customers', 'update', NEW.code); END;
             CREATE TRIGGER erp_count_insert AFTER INSERT ON erp_customers
               BEGIN INSERT INTO writes VALUES ('erp_customers', 'insert', NEW.code); END;"
        ),
    )
    .await;
    Systems { crm, erp }
}

/// Writes counted so far on one side, as (op, key) in order.
async fn writes(conn: &mut SqliteConnection) -> Vec<(String, String)> {
    sqlx::query_as("SELECT op, key FROM writes ORDER BY rowid")
        .fetch_all(conn)
        .await
        .unwrap()
}

/// Forgets the counted writes (after an edit the test made itself).
async fn reset(s: &mut Systems) {
    exec(&mut s.crm, "DELETE FROM writes").await;
    exec(&mut s.erp, "DELETE FROM writes").await;
}

async fn crm_row(s: &mut Systems, code: &str) -> (Option<String>, Option<String>, Option<String>) {
    sqlx::query_as("SELECT name, phone, credit FROM customers WHERE customer_no = ?")
        .bind(code)
        .fetch_one(&mut s.crm)
        .await
        .unwrap()
}

async fn erp_row(s: &mut Systems, code: &str) -> (Option<String>, Option<String>, Option<String>) {
    sqlx::query_as("SELECT name, phone, credit_limit FROM erp_customers WHERE code = ?")
        .bind(code)
        .fetch_one(&mut s.erp)
        .await
        .unwrap()
}

fn sync(dir: &std::path::Path, flow: &str) -> Value {
    run_json(dir, &["sync", flow, "--json"])
}

/// Both flows once each, CRM → ERP first.
fn both(dir: &std::path::Path) -> (Value, Value) {
    (sync(dir, "customers_to_erp"), sync(dir, "customers_to_crm"))
}

/// A count from a run report.
fn n(report: &Value, key: &str) -> i64 {
    report[key]
        .as_i64()
        .unwrap_or_else(|| panic!("no `{key}` in {report}"))
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// The first sync creates the ERP's customers; reading them back writes nothing to the CRM.
async fn first_load(dir: &std::path::Path, sys: &mut Systems) {
    let (to_erp, to_crm) = both(dir);
    assert_eq!(to_erp["created"], 3, "{to_erp}");
    assert_eq!(
        (n(&to_crm, "read"), n(&to_crm, "unchanged")),
        (3, 3),
        "{to_crm}"
    );
    assert_eq!(
        writes(&mut sys.erp).await,
        pairs(&[("insert", "C1"), ("insert", "C2"), ("insert", "C3")])
    );
    assert_eq!(
        writes(&mut sys.crm).await,
        pairs(&[]),
        "nothing echoed back"
    );
    reset(sys).await;
}

fn ledger(dir: &std::path::Path, key: &str, flow: &str) -> Vec<Value> {
    let histories = run_json(dir, &["ledger", "--key", key, "--flow", flow, "--json"]);
    histories[0]["entries"].as_array().unwrap().clone()
}

fn flow_status(dir: &std::path::Path, flow: &str) -> Value {
    let all = run_json(dir, &["status", "--json"]);
    all.as_array()
        .unwrap()
        .iter()
        .find(|f| f["flow"] == flow)
        .unwrap()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_edits_travel_and_other_edits_are_reported() {
    let tmp = scratch();
    let dir = tmp.path();
    let mut sys = setup(dir, "owner").await;
    first_load(dir, &mut sys).await;

    // The ERP owns the credit limit: its change reaches the CRM, once, and is not echoed.
    exec(
        &mut sys.erp,
        "UPDATE erp_customers SET credit_limit = '9000' WHERE code = 'C1'",
    )
    .await;
    reset(&mut sys).await;
    let (to_erp, to_crm) = both(dir);
    assert_eq!(to_crm["updated"], 1, "{to_crm}");
    assert_eq!(to_erp["updated"], 0, "{to_erp}");
    assert_eq!(crm_row(&mut sys, "C1").await.2, s("9000"));
    assert_eq!(writes(&mut sys.crm).await, pairs(&[("update", "C1")]));
    assert_eq!(writes(&mut sys.erp).await, pairs(&[]));
    assert_eq!(both(dir).0["updated"], 0, "a second round writes nothing");
    assert_eq!(writes(&mut sys.erp).await, pairs(&[]));

    // The CRM owns the name: its change reaches the ERP, once.
    exec(
        &mut sys.crm,
        "UPDATE customers SET name = 'Cy Young' WHERE customer_no = 'C3'",
    )
    .await;
    reset(&mut sys).await;
    let (to_erp, to_crm) = both(dir);
    assert_eq!((n(&to_erp, "updated"), n(&to_crm, "updated")), (1, 0));
    assert_eq!(erp_row(&mut sys, "C3").await.0, s("Cy Young"));
    assert_eq!(writes(&mut sys.erp).await, pairs(&[("update", "C3")]));
    assert_eq!(writes(&mut sys.crm).await, pairs(&[]));

    // A credit limit typed into the CRM is not the CRM's to change: not propagated, reported
    // (ledger, run counts, status) naming the field, so someone can fix it at the source.
    exec(
        &mut sys.crm,
        "UPDATE customers SET credit = '1' WHERE customer_no = 'C2'",
    )
    .await;
    // And the ERP renames a customer the CRM owns.
    exec(
        &mut sys.erp,
        "UPDATE erp_customers SET name = 'Robert' WHERE code = 'C1'",
    )
    .await;
    reset(&mut sys).await;
    let (to_erp, to_crm) = both(dir);
    assert_eq!(
        (n(&to_erp, "updated"), n(&to_erp, "rejected")),
        (0, 1),
        "{to_erp}"
    );
    assert_eq!(
        (n(&to_crm, "updated"), n(&to_crm, "rejected")),
        (0, 1),
        "{to_crm}"
    );
    assert_eq!(
        erp_row(&mut sys, "C2").await.2,
        None,
        "the ERP's credit limit is untouched"
    );
    assert_eq!(
        crm_row(&mut sys, "C1").await.0,
        s("Ada"),
        "the CRM's name is untouched"
    );
    assert_eq!(writes(&mut sys.erp).await, pairs(&[]));
    assert_eq!(writes(&mut sys.crm).await, pairs(&[]));
    let last = ledger(dir, "C2", "customers_to_erp").pop().unwrap();
    assert_eq!(last["outcome"], "not_owner", "{last:#}");
    let error = last["error"].as_str().unwrap();
    assert!(
        error.contains("`credit_limit` changed in crm but owned by erp: not propagated"),
        "{error}"
    );
    let last = ledger(dir, "C1", "customers_to_crm").pop().unwrap();
    assert_eq!(last["outcome"], "not_owner", "{last:#}");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("`name` changed in erp but owned by crm")
    );
    let status = flow_status(dir, "customers_to_erp");
    assert_eq!(
        (&status["pair"], &status["not_owner"]),
        (&json!("customers"), &json!(1))
    );
    let out = run(dir, &["status"], true);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("customers_to_erp (pair customers): 1 change(s) in crm to fields erp owns were not propagated"),
        "{text}"
    );

    // `owner` policy: both change the shared phone; the system of record (crm, the default
    // owner) wins even though the ERP changed it later.
    exec(
        &mut sys.crm,
        "UPDATE customers SET phone = '311' WHERE customer_no = 'C3'",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    exec(
        &mut sys.erp,
        "UPDATE erp_customers SET phone = '322' WHERE code = 'C3'",
    )
    .await;
    reset(&mut sys).await;
    let (to_erp, to_crm) = both(dir);
    assert_eq!(
        (n(&to_erp, "updated"), n(&to_erp, "conflicts")),
        (1, 1),
        "{to_erp}"
    );
    assert_eq!(
        (n(&to_crm, "updated"), n(&to_crm, "conflicts")),
        (0, 0),
        "the ERP reads back the CRM's value: agreed: {to_crm}"
    );
    assert_eq!(erp_row(&mut sys, "C3").await.1, s("311"));
    assert_eq!(crm_row(&mut sys, "C3").await.1, s("311"));
    assert_eq!(writes(&mut sys.erp).await, pairs(&[("update", "C3")]));
    assert_eq!(writes(&mut sys.crm).await, pairs(&[]));
    let last = ledger(dir, "C3", "customers_to_erp");
    let conflict = last.iter().find(|e| e["outcome"] == "conflict").unwrap();
    assert!(
        conflict["error"]
            .as_str()
            .unwrap()
            .contains("`phone`: crm wins (the system of record wins), written to erp"),
        "{conflict:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newest_change_wins_and_a_tie_within_the_skew_goes_to_the_system_of_record() {
    let tmp = scratch();
    let dir = tmp.path();
    let mut sys = setup(dir, "newest").await;
    first_load(dir, &mut sys).await;

    // The CRM changes C1's phone, the ERP 2.5 s later (more than the 2 s skew): the ERP's
    // value wins; the CRM → ERP flow leaves it to the ERP → CRM flow, which writes it once.
    exec(
        &mut sys.crm,
        "UPDATE customers SET phone = '111' WHERE customer_no = 'C1'",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    exec(
        &mut sys.erp,
        "UPDATE erp_customers SET phone = '122' WHERE code = 'C1'",
    )
    .await;
    // Both change C2's phone within the skew: a tie, the system of record (crm) wins.
    exec(
        &mut sys.crm,
        "UPDATE customers SET phone = '211' WHERE customer_no = 'C2'",
    )
    .await;
    exec(
        &mut sys.erp,
        "UPDATE erp_customers SET phone = '222' WHERE code = 'C2'",
    )
    .await;
    reset(&mut sys).await;
    let (to_erp, to_crm) = both(dir);
    assert_eq!(
        (n(&to_erp, "updated"), n(&to_erp, "conflicts")),
        (1, 2),
        "{to_erp}"
    );
    assert_eq!(
        (n(&to_crm, "updated"), n(&to_crm, "conflicts")),
        (1, 1),
        "{to_crm}"
    );
    assert_eq!(crm_row(&mut sys, "C1").await.1, s("122"));
    assert_eq!(erp_row(&mut sys, "C1").await.1, s("122"));
    assert_eq!(crm_row(&mut sys, "C2").await.1, s("211"));
    assert_eq!(erp_row(&mut sys, "C2").await.1, s("211"));
    assert_eq!(writes(&mut sys.crm).await, pairs(&[("update", "C1")]));
    assert_eq!(writes(&mut sys.erp).await, pairs(&[("update", "C2")]));
    let entries = ledger(dir, "C1", "customers_to_erp");
    let c1 = entries.iter().find(|e| e["outcome"] == "conflict").unwrap();
    assert!(
        c1["error"].as_str().unwrap().contains(
            "`phone`: erp wins (the newer change wins); flow `customers_to_crm` carries it to crm"
        ),
        "{c1:#}"
    );
    let entries = ledger(dir, "C2", "customers_to_erp");
    let c2 = entries.iter().find(|e| e["outcome"] == "conflict").unwrap();
    assert!(
        c2["error"]
            .as_str()
            .unwrap()
            .contains("crm wins (changed within the clock skew: the system of record wins)"),
        "{c2:#}"
    );
    // Settled: nothing more travels either way.
    reset(&mut sys).await;
    let (to_erp, to_crm) = both(dir);
    assert_eq!((n(&to_erp, "updated"), n(&to_crm, "updated")), (0, 0));
    assert_eq!(writes(&mut sys.crm).await, pairs(&[]));
    assert_eq!(writes(&mut sys.erp).await, pairs(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_conflicts_wait_for_an_operator_and_the_pick_is_written_and_audited() {
    let tmp = scratch();
    let dir = tmp.path();
    let mut sys = setup(dir, "manual").await;
    first_load(dir, &mut sys).await;

    exec(
        &mut sys.crm,
        "UPDATE customers SET phone = '111', name = 'Ada L' WHERE customer_no = 'C1'",
    )
    .await;
    exec(
        &mut sys.erp,
        "UPDATE erp_customers SET phone = '122' WHERE code = 'C1'",
    )
    .await;
    reset(&mut sys).await;
    let (to_erp, to_crm) = both(dir);
    // The name (the CRM's) travels; the phone waits for review, on both sides as it was.
    assert_eq!(
        (n(&to_erp, "updated"), n(&to_erp, "conflicts")),
        (1, 1),
        "{to_erp}"
    );
    assert_eq!(
        (n(&to_crm, "updated"), n(&to_crm, "conflicts")),
        (0, 1),
        "{to_crm}"
    );
    assert_eq!(erp_row(&mut sys, "C1").await, (s("Ada L"), s("122"), None));
    assert_eq!(crm_row(&mut sys, "C1").await.1, s("111"));
    assert_eq!(writes(&mut sys.erp).await, pairs(&[("update", "C1")]));
    assert_eq!(writes(&mut sys.crm).await, pairs(&[]));

    // One review item, found by both flows, in the first flow's terms.
    let open = run_json(dir, &["conflicts", "list", "--json"]);
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), 1, "{open:#?}");
    let c = &open[0];
    assert_eq!(
        (&c["pair"], &c["flow"], &c["key"], &c["state"], &c["fields"]),
        (
            &json!("customers"),
            &json!("customers_to_erp"),
            &json!("C1"),
            &json!("open"),
            &json!(["phone"])
        )
    );
    assert_eq!(
        (&c["source_values"], &c["target_values"], &c["base_values"]),
        (
            &json!({"phone": "111"}),
            &json!({"phone": "122"}),
            &json!({"phone": "100"})
        )
    );
    let id = c["id"].as_i64().unwrap().to_string();
    assert_eq!(flow_status(dir, "customers_to_erp")["conflicts"], 1);
    let shown = run(dir, &["conflicts", "show", &id], true);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("source (crm)") && shown.contains("\"122\""),
        "{shown}"
    );

    // Nothing travels while it waits.
    reset(&mut sys).await;
    let (to_erp, to_crm) = both(dir);
    assert_eq!((n(&to_erp, "updated"), n(&to_crm, "updated")), (0, 0));

    // The operator keeps the ERP's version: written to the CRM, once; audited; in the ledger.
    let done = run_json(
        dir,
        &["conflicts", "resolve", &id, "--pick", "target", "--json"],
    );
    assert_eq!(
        (&done["state"], &done["pick"]),
        (&json!("resolved"), &json!("target"))
    );
    assert_eq!(crm_row(&mut sys, "C1").await.1, s("122"));
    assert_eq!(writes(&mut sys.crm).await, pairs(&[("update", "C1")]));
    assert_eq!(writes(&mut sys.erp).await, pairs(&[]));
    let mut state = sqlite(&dir.join(".ferry/ferry.db")).await;
    let audit: Vec<(String, String, Option<String>, String)> =
        sqlx::query_as("SELECT action, target, source, outcome FROM ferry_audit ORDER BY id")
            .fetch_all(&mut state)
            .await
            .unwrap();
    assert_eq!(
        audit,
        [(
            "conflict.resolve".to_owned(),
            format!("conflict {id}: target picked"),
            Some(format!("cli (user {TEST_USER})")),
            "ok".to_owned()
        )]
    );
    let entries = ledger(dir, "C1", "customers_to_crm");
    let last = entries.last().unwrap();
    assert_eq!(
        (&last["outcome"], &last["trigger"]),
        (
            &json!("updated"),
            &json!(format!("conflict {id} resolved by cli: target picked"))
        ),
        "{entries:#?}"
    );

    // Settled: the written value reads back as agreed, nothing echoes.
    reset(&mut sys).await;
    let (to_erp, to_crm) = both(dir);
    assert_eq!((n(&to_erp, "updated"), n(&to_crm, "updated")), (0, 0));
    assert_eq!(writes(&mut sys.crm).await, pairs(&[]));
    assert_eq!(writes(&mut sys.erp).await, pairs(&[]));
    assert!(
        run_json(dir, &["conflicts", "list", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(flow_status(dir, "customers_to_erp")["conflicts"], 0);

    // A second pick of the same conflict is refused, and that is audited too.
    let again = run(
        dir,
        &["conflicts", "resolve", &id, "--pick", "source"],
        false,
    );
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("only an open conflict can be resolved")
    );
    let outcomes: Vec<(String,)> = sqlx::query_as("SELECT outcome FROM ferry_audit ORDER BY id")
        .fetch_all(&mut state)
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes[1].0.contains("only an open conflict"),
        "{outcomes:?}"
    );
}

/// Waits until `check` holds (polling every 100 ms, up to `limit`).
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_change_makes_one_write_while_both_flows_poll_every_second() {
    let tmp = scratch();
    let dir = tmp.path();
    let sys = setup(dir, "newest").await;
    let crm_path = dir.join("crm.db");
    let erp_path = dir.join("erp.db");
    drop(sys);
    let _run = Running(
        ferry()
            .current_dir(dir)
            .args(["run", "--no-serve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ferry run starts"),
    );
    let mut sys = Systems {
        crm: sqlite(&crm_path).await,
        erp: sqlite(&erp_path).await,
    };
    eventually(Duration::from_secs(20), "the first load", || {
        let erp = &erp_path;
        async move {
            let mut c = sqlite(erp).await;
            let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM erp_customers")
                .fetch_one(&mut c)
                .await
                .unwrap();
            n.0 == 3
        }
    })
    .await;
    // Several cycles of both flows: the first load is not echoed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(writes(&mut sys.crm).await, pairs(&[]));
    assert_eq!(writes(&mut sys.erp).await.len(), 3);
    reset(&mut sys).await;

    // One CRM edit: one ERP write, and nothing back, over several cycles.
    exec(
        &mut sys.crm,
        "UPDATE customers SET name = 'Ada L' WHERE customer_no = 'C1'",
    )
    .await;
    exec(&mut sys.crm, "DELETE FROM writes").await;
    eventually(Duration::from_secs(15), "the name in the ERP", || {
        let erp = &erp_path;
        async move {
            let mut c = sqlite(erp).await;
            let n: (Option<String>,) =
                sqlx::query_as("SELECT name FROM erp_customers WHERE code = 'C1'")
                    .fetch_one(&mut c)
                    .await
                    .unwrap();
            n.0.as_deref() == Some("Ada L")
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(writes(&mut sys.erp).await, pairs(&[("update", "C1")]));
    assert_eq!(
        writes(&mut sys.crm).await,
        pairs(&[]),
        "no write back to the CRM"
    );

    // One ERP edit of an ERP-owned field and one of a shared field: one CRM write each (two
    // records), nothing back.
    reset(&mut sys).await;
    exec(
        &mut sys.erp,
        "UPDATE erp_customers SET credit_limit = '750' WHERE code = 'C2'",
    )
    .await;
    exec(
        &mut sys.erp,
        "UPDATE erp_customers SET phone = '399' WHERE code = 'C3'",
    )
    .await;
    exec(&mut sys.erp, "DELETE FROM writes").await;
    eventually(
        Duration::from_secs(15),
        "the ERP's changes in the CRM",
        || {
            let crm = &crm_path;
            async move {
                let mut c = sqlite(crm).await;
                let n: (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM customers WHERE (customer_no = 'C2' AND credit = '750') \
                 OR (customer_no = 'C3' AND phone = '399')",
                )
                .fetch_one(&mut c)
                .await
                .unwrap();
                n.0 == 2
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut crm_writes = writes(&mut sys.crm).await;
    crm_writes.sort();
    assert_eq!(crm_writes, pairs(&[("update", "C2"), ("update", "C3")]));
    assert_eq!(
        writes(&mut sys.erp).await,
        pairs(&[]),
        "no write back to the ERP"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_lists_and_resolves_conflicts_for_operators_and_audits_it() {
    let tmp = scratch();
    let dir = tmp.path();
    let mut sys = setup(dir, "manual").await;
    first_load(dir, &mut sys).await;
    exec(
        &mut sys.crm,
        "UPDATE customers SET phone = '111' WHERE customer_no = 'C1'",
    )
    .await;
    exec(
        &mut sys.erp,
        "UPDATE erp_customers SET phone = '122' WHERE code = 'C1'",
    )
    .await;
    both(dir);
    reset(&mut sys).await;
    let key = |name: &str, role: &str| {
        run_json(
            dir,
            &["keys", "create", "--name", name, "--role", role, "--json"],
        )["token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let viewer = key("watch", "viewer");
    let operator = key("ops", "operator");
    let port = free_port();
    let _run = Running(
        ferry()
            .current_dir(dir)
            .env("FERRY_LISTEN", format!("127.0.0.1:{port}"))
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ferry run starts"),
    );
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let http = wait_ready(&format!("http://127.0.0.1:{port}")).await;
    let get = |path: String, token: String| {
        let http = http.clone();
        async move {
            let r = http.get(path).bearer_auth(token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };

    let listed = get(format!("{base}/conflicts"), viewer.clone()).await;
    let c = &listed.as_array().unwrap()[0];
    assert_eq!(
        (
            &c["source_system"],
            &c["target_system"],
            &c["key"],
            &c["state"]
        ),
        (&json!("crm"), &json!("erp"), &json!("C1"), &json!("open")),
        "{listed:#}"
    );
    assert_eq!(
        (&c["source_values"], &c["target_values"]),
        (&json!({"phone": "111"}), &json!({"phone": "122"}))
    );
    let id = c["id"].as_i64().unwrap();
    let shown = get(format!("{base}/conflicts/{id}"), viewer.clone()).await;
    assert_eq!(shown["base_values"], json!({"phone": "100"}));
    let flow = get(format!("{base}/flows/customers_to_erp"), viewer.clone()).await;
    assert_eq!(
        (&flow["pair"], &flow["conflicts"]),
        (&json!("customers"), &json!(1))
    );
    let ledger = get(format!("{base}/ledger?key=C1"), viewer.clone()).await;
    assert!(
        ledger
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["outcome"] == "conflict" && e["error_kind"] == "manual"),
        "{ledger:#}"
    );
    let doc = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(doc["paths"]["/conflicts/{id}/resolve"]["post"].is_object());
    assert!(doc["components"]["schemas"]["ConflictView"].is_object());

    let resolve = |token: String, pick: &'static str| {
        let http = http.clone();
        let url = format!("{base}/conflicts/{id}/resolve");
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({ "pick": pick }))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(resolve(viewer.clone(), "source").await.status(), 403);
    assert_eq!(resolve(operator.clone(), "neither").await.status(), 400);
    let done = resolve(operator.clone(), "source").await;
    assert_eq!(done.status(), 200);
    let done: Value = done.json().await.unwrap();
    assert_eq!(
        (&done["state"], &done["pick"]),
        (&json!("resolved"), &json!("source"))
    );
    assert!(done["resolved_by"].as_str().unwrap().contains("(ops)"));
    assert_eq!(erp_row(&mut sys, "C1").await.1, s("111"));
    assert_eq!(resolve(operator.clone(), "target").await.status(), 409);
    // Written once, and with both flows polling, nothing comes back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(writes(&mut sys.erp).await, pairs(&[("update", "C1")]));
    assert_eq!(writes(&mut sys.crm).await, pairs(&[]));
    let mut state = sqlite(&dir.join(".ferry/ferry.db")).await;
    let audit: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
        "SELECT action, target, key_name, outcome FROM ferry_audit \
         WHERE action = 'conflict.resolve' ORDER BY id",
    )
    .fetch_all(&mut state)
    .await
    .unwrap();
    assert_eq!(
        audit,
        [(
            "conflict.resolve".to_owned(),
            format!("conflict {id}: source picked"),
            Some("ops".to_owned()),
            "ok".to_owned()
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_conflicts_and_an_operator_keeps_one_version() {
    let tmp = scratch();
    let dir = tmp.path();
    let mut sys = setup(dir, "manual").await;
    first_load(dir, &mut sys).await;
    exec(
        &mut sys.crm,
        "UPDATE customers SET phone = '111' WHERE customer_no = 'C1'",
    )
    .await;
    exec(
        &mut sys.erp,
        "UPDATE erp_customers SET phone = '122' WHERE code = 'C1'",
    )
    .await;
    both(dir);
    reset(&mut sys).await;
    let token = run_json(
        dir,
        &[
            "keys", "create", "--name", "ops", "--role", "operator", "--json",
        ],
    )["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let port = free_port();
    let _run = Running(
        ferry()
            .current_dir(dir)
            .env("FERRY_LISTEN", format!("127.0.0.1:{port}"))
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ferry run starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .post(format!("{base}/console/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("key={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = http
        .get(format!("{base}/console/conflicts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("key C1")
            && page.contains("<td>phone</td><td>100</td><td>111</td><td>122</td>"),
        "{page}"
    );
    assert!(
        page.contains("Keep erp&#x27;s") || page.contains("Keep erp's"),
        "{page}"
    );
    let start = page.find("name=\"csrf\" value=\"").unwrap() + 19;
    let csrf = page[start..start + 64].to_owned();
    let id = run_json(dir, &["conflicts", "list", "--json"])[0]["id"].to_string();
    let done = http
        .post(format!("{base}/console/conflicts/{id}/resolve"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}&pick=target"))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(crm_row(&mut sys, "C1").await.1, s("122"));
    assert_eq!(writes(&mut sys.crm).await, pairs(&[("update", "C1")]));
    let page = http
        .get(format!("{base}/console/conflicts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("No open conflicts."), "{page}");
}
