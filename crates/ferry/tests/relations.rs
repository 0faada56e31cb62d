//! Records that refer to records of other flows, and records that disappear.
//!
//! - An order whose customer is not synced yet waits, makes the customers flow run, and then
//!   arrives with the ids the ERP knows: the customer's (a flow to the same target) and each
//!   line's product (a flow *from* that target). No customer is created twice; an order whose
//!   customer cannot be synced ends in dead letters saying what it waits for, and arrives on
//!   replay once the customer is fixed.
//! - A table without timestamps, polled as snapshot passes, reports rows deleted for good,
//!   once each.

mod common;

use common::*;
use sqlx::Row;

const CONFIG: &str = r#"
engine:
  retry: { max_attempts: 2, initial_backoff: 10ms, max_backoff: 20ms }
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  customers:
    entity: customer
    source: { system: crm, table: accounts, watermark: { column: updated_at } }
    target: { system: erp, table: customers }
    mapping:
      code: code
      name: name
      email: email
    validate:
      email: [email]
  products:
    entity: product
    source: { system: erp, table: items, watermark: { column: updated_at } }
    target: { system: crm, table: products }
    mapping:
      sku: sku
      name: name
  orders:
    entity: sales_order
    source:
      system: crm
      table: deals
      watermark: { column: updated_at }
      lines: { table: deal_items, parent_column: deal_id }
    target:
      system: erp
      table: sales
      columns: { number: number, customer_code: customer, customer_code_id: customer_ref }
      lines: { table: sale_lines, parent_column: sale_number, columns: { sku: sku, sku_id: item_id, quantity: qty } }
    depends_on:
      customer_code: customers
      lines.sku: products
    mapping:
      number: number
      customer_code: account
      lines:
        from: lines
        fields: { sku: sku, quantity: qty }
"#;

async fn exec(conn: &mut sqlx::SqliteConnection, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_waits_for_its_customer_and_gets_the_erp_ids() {
    let dir = scratch();
    let dir = dir.path();
    std::fs::write(dir.join("ferry.yaml"), CONFIG).unwrap();
    let mut crm = sqlite(&dir.join("crm.db")).await;
    let mut erp = sqlite(&dir.join("erp.db")).await;
    exec(
        &mut crm,
        "CREATE TABLE accounts (id INTEGER PRIMARY KEY, code TEXT, name TEXT, email TEXT, updated_at TEXT);
         CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT);
         CREATE TABLE deals (id INTEGER PRIMARY KEY, number TEXT, account TEXT, updated_at TEXT);
         CREATE TABLE deal_items (id INTEGER PRIMARY KEY, deal_id INTEGER, sku TEXT, qty INTEGER);
         INSERT INTO accounts VALUES (1, 'C1', '华东贸易', 'a@example.com', '2026-11-01T00:00:00Z'),
                                     (2, 'C2', 'Broken Ltd', 'not-an-email', '2026-11-01T00:00:00Z');
         INSERT INTO deals VALUES (10, 'SO-1', 'C1', '2026-11-02T00:00:00Z'),
                                  (11, 'SO-2', 'C2', '2026-11-02T00:00:00Z');
         INSERT INTO deal_items VALUES (100, 10, 'W-1', 2), (101, 10, 'G-7', 1), (102, 11, 'W-1', 5);",
    )
    .await;
    exec(
        &mut erp,
        "CREATE TABLE customers (code TEXT PRIMARY KEY, name TEXT, email TEXT);
         CREATE TABLE items (id INTEGER PRIMARY KEY, sku TEXT, name TEXT, updated_at TEXT);
         CREATE TABLE sales (number TEXT PRIMARY KEY, customer TEXT, customer_ref TEXT);
         CREATE TABLE sale_lines (id INTEGER PRIMARY KEY AUTOINCREMENT, sale_number TEXT, sku TEXT, item_id TEXT, qty INTEGER);
         INSERT INTO items VALUES (501, 'W-1', 'Widget', '2026-11-01T00:00:00Z'),
                                  (502, 'G-7', 'Gadget', '2026-11-01T00:00:00Z');",
    )
    .await;
    // The products are in the CRM already (the products flow ran); customers never ran.
    let report = run_json(dir, &["sync", "products", "--json"]);
    assert_eq!(report["created"], 2, "{report}");

    // Syncing orders first: SO-1 waits, the customers flow runs, then SO-1 arrives. SO-2's
    // customer is invalid (dead-lettered), so SO-2 keeps waiting.
    let report = run_json(dir, &["sync", "orders", "--json"]);
    assert_eq!(report["created"], 1, "{report}");
    // SO-1 waited, then was created in the same run: it counts once, as created. Only SO-2,
    // still waiting when the run ends, counts as failed.
    assert_eq!(report["failed"], 1, "{report}");
    let customers: Vec<String> = sqlx::query("SELECT code FROM customers ORDER BY code")
        .fetch_all(&mut erp)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(customers, ["C1"]);
    let sale = sqlx::query("SELECT customer, customer_ref FROM sales WHERE number = 'SO-1'")
        .fetch_one(&mut erp)
        .await
        .unwrap();
    // The customers flow writes to the ERP: its target id (the sql sink's is the key).
    assert_eq!(
        (sale.get::<String, _>(0), sale.get::<String, _>(1)),
        ("C1".into(), "C1".into())
    );
    // The products flow reads from the ERP: the line gets the ERP's own item id.
    let lines: Vec<(String, String, i64)> = sqlx::query(
        "SELECT sku, item_id, qty FROM sale_lines WHERE sale_number = 'SO-1' ORDER BY sku",
    )
    .fetch_all(&mut erp)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect();
    assert_eq!(
        lines,
        [
            ("G-7".into(), "502".into(), 1),
            ("W-1".into(), "501".into(), 2)
        ]
    );

    // SO-1 waited once, then went through.
    let ledger = run_json(dir, &["ledger", "--key", "SO-1", "--json"]);
    let entries = ledger[0]["entries"].as_array().unwrap();
    let steps: Vec<(&str, Option<&str>)> = entries
        .iter()
        .map(|e| (e["outcome"].as_str().unwrap(), e["error_kind"].as_str()))
        .collect();
    assert_eq!(
        steps,
        [("failed", Some("waiting")), ("created", None)],
        "{ledger}"
    );

    // SO-2 waits in the queue; with `max_attempts: 2` the next run gives up on it.
    let ledger = run_json(dir, &["ledger", "--key", "SO-2", "--json"]);
    assert_eq!(ledger[0]["state"], "queued", "{ledger}");
    std::thread::sleep(std::time::Duration::from_millis(50));
    let report = run_json(dir, &["sync", "orders", "--json"]);
    assert_eq!(report["failed"], 1, "{report}");

    let letters = run_json(dir, &["dlq", "list", "--json"]);
    let letters = letters.as_array().unwrap();
    let waiting: Vec<_> = letters.iter().filter(|l| l["flow"] == "orders").collect();
    assert_eq!(waiting.len(), 1, "{letters:?}");
    let error = waiting[0]["error"].as_str().unwrap();
    assert!(
        error.contains("SO-2") || error.contains("`11`"),
        "names the record: {error}"
    );
    assert!(
        error.contains("customer_code") && error.contains("C2") && error.contains("customers"),
        "says what it waits for: {error}"
    );
    assert_eq!(waiting[0]["error_kind"], "waiting");

    // The customer is fixed at the source; replaying the order syncs it and delivers the order.
    exec(
        &mut crm,
        "UPDATE accounts SET email = 'ops@broken.example', updated_at = '2026-11-03T00:00:00Z' WHERE code = 'C2'",
    )
    .await;
    let id = waiting[0]["id"].as_i64().unwrap().to_string();
    let replayed = run_json(dir, &["dlq", "replay", &id, "--json"]);
    assert_eq!(replayed[0]["created"], 1, "{replayed}");
    let sale = sqlx::query("SELECT customer_ref FROM sales WHERE number = 'SO-2'")
        .fetch_one(&mut erp)
        .await
        .unwrap();
    assert_eq!(sale.get::<String, _>(0), "C2");
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM customers")
        .fetch_one(&mut erp)
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2, "every customer exactly once");

    // Nothing changed: a second round writes nothing.
    for flow in ["customers", "orders"] {
        let report = run_json(dir, &["sync", flow, "--json"]);
        assert_eq!(
            (report["created"].as_u64(), report["updated"].as_u64()),
            (Some(0), Some(0)),
            "{flow}: {report}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_with_a_dependency_between_unrelated_systems_is_refused() {
    let dir = scratch();
    let dir = dir.path();
    let config = CONFIG.replace(
        "  erp: { kind: sql, url: \"sqlite://erp.db\" }",
        "  erp: { kind: sql, url: \"sqlite://erp.db\" }\n  wms: { kind: sql, url: \"sqlite://wms.db\" }",
    )
    .replace(
        "source: { system: erp, table: items",
        "source: { system: wms, table: items",
    );
    std::fs::write(dir.join("ferry.yaml"), config).unwrap();
    let out = run(dir, &["check"], false);
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("depends_on.lines.sku") && text.contains("same two systems"),
        "{text}"
    );
}

const SNAPSHOT: &str = r#"
systems:
  legacy: { kind: sql, url: "sqlite://legacy.db" }
  crm: { kind: sql, url: "sqlite://crm.db" }
flows:
  customers:
    entity: customer
    source: { system: legacy, table: kunden, id: nr, detect_deletes: true }
    target: { system: crm, table: accounts }
    batch_size: 3
    mapping:
      code: nr
      name: name
"#;

#[tokio::test(flavor = "multi_thread")]
async fn snapshot_passes_find_rows_deleted_for_good_once_each() {
    let dir = scratch();
    let dir = dir.path();
    std::fs::write(dir.join("ferry.yaml"), SNAPSHOT).unwrap();
    let mut legacy = sqlite(&dir.join("legacy.db")).await;
    let mut crm = sqlite(&dir.join("crm.db")).await;
    exec(
        &mut legacy,
        "CREATE TABLE kunden (nr TEXT PRIMARY KEY, name TEXT);
         INSERT INTO kunden VALUES ('K1','a'),('K2','b'),('K3','c'),('K4','d'),('K5','e'),('K6','f'),('K7','g');",
    )
    .await;
    exec(
        &mut crm,
        "CREATE TABLE accounts (code TEXT PRIMARY KEY, name TEXT)",
    )
    .await;
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(
        (report["created"].as_u64(), report["deleted"].as_u64()),
        (Some(7), Some(0)),
        "{report}"
    );

    // Two rows deleted for good (one on a page boundary), one changed, one added.
    exec(
        &mut legacy,
        "DELETE FROM kunden WHERE nr IN ('K3', 'K6');
         UPDATE kunden SET name = 'B' WHERE nr = 'K2';
         INSERT INTO kunden VALUES ('K8', 'h');",
    )
    .await;
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(
        (
            report["created"].as_u64(),
            report["updated"].as_u64(),
            report["deleted"].as_u64()
        ),
        (Some(1), Some(1), Some(2)),
        "{report}"
    );
    let ledger = run_json(dir, &["ledger", "--key", "K6", "--json"]);
    assert_eq!(ledger[0]["state"], "deleted", "{ledger}");
    let outcomes: Vec<&str> = ledger[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["created", "deleted"], "{ledger}");

    // Reported once: the next pass finds nothing new.
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(
        (
            report["read"].as_u64(),
            report["unchanged"].as_u64(),
            report["deleted"].as_u64()
        ),
        (Some(6), Some(6), Some(0)),
        "{report}"
    );
    // A row that comes back and goes again is found again.
    exec(&mut legacy, "INSERT INTO kunden VALUES ('K3', 'c')").await;
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(report["deleted"], 0, "{report}");
    exec(&mut legacy, "DELETE FROM kunden WHERE nr = 'K3'").await;
    let report = run_json(dir, &["sync", "customers", "--json"]);
    assert_eq!(report["deleted"], 1, "{report}");
}
