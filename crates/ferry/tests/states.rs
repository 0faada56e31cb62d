//! Document state machines (`states:`): an order's status changes are written only when the
//! sales_order machine allows them. A refused change is dead-lettered with its payload and a
//! message naming flow, record, field, both states and what is allowed; the target keeps the
//! last state written; a later legal change, or a replay after a fix, goes through. SQLite
//! files on both sides, through the `ferry` binary.

mod common;

use common::*;
use sqlx::Row;

/// Tryton-like sale states in the source, canonical states through a code table.
const CONFIG: &str = r#"
code_tables:
  tryton_sale:
    draft: draft
    quotation: draft
    confirmed: confirmed
    processing: shipped
    done: paid
    cancelled: cancelled
systems:
  erp: { kind: sql, url: "sqlite://erp.db" }
  crm: { kind: sql, url: "sqlite://crm.db" }
flows:
  orders:
    entity: sales_order
    source: { system: erp, table: sales }
    target: { system: crm, table: deals }
    states: { field: status, machine: sales_order }
    mapping:
      number: number
      status: { from: state, code_table: tryton_sale }
"#;

async fn exec(dir: &std::path::Path, db: &str, sql: &str) {
    let mut conn = sqlite(&dir.join(db)).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// Sets an order's state at the source and syncs; returns (created, updated, failed).
async fn set_and_sync(dir: &std::path::Path, id: i64, state: &str) -> (u64, u64, u64) {
    exec(
        dir,
        "erp.db",
        &format!("UPDATE sales SET state = '{state}' WHERE id = {id}"),
    )
    .await;
    sync(dir)
}

fn sync(dir: &std::path::Path) -> (u64, u64, u64) {
    let report = run_json(dir, &["sync", "orders", "--json"]);
    let n = |k: &str| report[k].as_u64().unwrap();
    assert!(report["error"].is_null(), "{report}");
    (n("created"), n("updated"), n("failed"))
}

/// The target's deals as `number:status`, in number order.
async fn deals(dir: &std::path::Path) -> Vec<String> {
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::query("SELECT number, status FROM deals ORDER BY number")
        .fetch_all(&mut crm)
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{}:{}", r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect()
}

/// Open dead letters, oldest first.
fn open_dead_letters(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let mut list = run_json(dir, &["dlq", "list", "--json"])
        .as_array()
        .unwrap()
        .clone();
    list.reverse();
    list
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_follows_the_sales_order_machine_and_illegal_changes_are_dead_lettered() {
    let tmp = scratch();
    let dir = tmp.path();
    std::fs::write(dir.join("ferry.yaml"), CONFIG).unwrap();
    exec(
        dir,
        "erp.db",
        "CREATE TABLE sales (id INTEGER PRIMARY KEY, number TEXT NOT NULL, state TEXT NOT NULL);
         INSERT INTO sales VALUES (1, 'SO1', 'draft'), (2, 'SO2', 'quotation');",
    )
    .await;
    exec(
        dir,
        "crm.db",
        "CREATE TABLE deals (number TEXT PRIMARY KEY, status TEXT NOT NULL)",
    )
    .await;

    // draft → confirmed → shipped, each written.
    assert_eq!(sync(dir), (2, 0, 0));
    assert_eq!(deals(dir).await, ["SO1:draft", "SO2:draft"]);
    assert_eq!(set_and_sync(dir, 1, "confirmed").await, (0, 1, 0));
    assert_eq!(deals(dir).await, ["SO1:confirmed", "SO2:draft"]);
    assert_eq!(set_and_sync(dir, 1, "processing").await, (0, 1, 0));
    assert_eq!(deals(dir).await, ["SO1:shipped", "SO2:draft"]);

    // Back to draft: refused, dead-lettered with its payload, the target keeps `shipped`.
    assert_eq!(set_and_sync(dir, 1, "draft").await, (0, 0, 1));
    assert_eq!(deals(dir).await, ["SO1:shipped", "SO2:draft"]);
    let dead = open_dead_letters(dir);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["error_kind"], "validation");
    assert_eq!(dead[0]["key"], "SO1");
    assert_eq!(dead[0]["payload"]["fields"]["state"], "draft");
    assert_eq!(
        dead[0]["error"],
        "flow `orders`, record `1`, field `status`: illegal transition `shipped` → `draft` \
         (the sales_order machine allows from `shipped`: invoiced, paid)"
    );
    // The ledger has the refusal, and no write.
    let ledger = run_json(dir, &["ledger", "--key", "SO1", "--json"]);
    let entries = ledger[0]["entries"].as_array().unwrap();
    let outcomes: Vec<&str> = entries
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["created", "updated", "updated", "dead_lettered"],
        "{ledger}"
    );
    let last = entries.last().unwrap();
    assert_eq!(last["error_kind"], "validation");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("`shipped` → `draft`"),
        "{last}"
    );
    assert_eq!(
        last["after_hash"], entries[2]["after_hash"],
        "target untouched"
    );
    // Reading the unchanged source again does not refuse it twice.
    assert_eq!(sync(dir), (0, 0, 0));
    assert_eq!(open_dead_letters(dir).len(), 1);

    // Cancelling a shipped order is refused too; the previous state is still `shipped`.
    assert_eq!(set_and_sync(dir, 1, "cancelled").await, (0, 0, 1));
    assert_eq!(deals(dir).await, ["SO1:shipped", "SO2:draft"]);
    // SO1 keeps one open dead letter, now saying why the newest change was refused.
    let dead = open_dead_letters(dir);
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(
        dead[0]["error"],
        "flow `orders`, record `1`, field `status`: illegal transition `shipped` → \
         `cancelled` (the sales_order machine allows from `shipped`: invoiced, paid)"
    );
    assert_eq!(dead[0]["attempts"], 2, "{dead:?}");

    // Cancelling a confirmed order is allowed.
    assert_eq!(set_and_sync(dir, 2, "confirmed").await, (0, 1, 0));
    assert_eq!(set_and_sync(dir, 2, "cancelled").await, (0, 1, 0));
    assert_eq!(deals(dir).await, ["SO1:shipped", "SO2:cancelled"]);
    // …and final: nothing may follow it.
    assert_eq!(set_and_sync(dir, 2, "confirmed").await, (0, 0, 1));
    assert_eq!(deals(dir).await, ["SO1:shipped", "SO2:cancelled"]);
    let dead = open_dead_letters(dir);
    assert_eq!(dead.len(), 2, "one per record: {dead:?}");
    assert!(
        dead[1]["error"]
            .as_str()
            .unwrap()
            .ends_with("allows nothing after `cancelled`: it is final)"),
        "{dead:?}"
    );

    // A later legal change at the source goes through and resolves SO1's dead letter.
    assert_eq!(set_and_sync(dir, 1, "done").await, (0, 1, 0));
    assert_eq!(deals(dir).await, ["SO1:paid", "SO2:cancelled"]);
    let dead = open_dead_letters(dir);
    assert_eq!(dead.len(), 1, "only SO2's is left: {dead:?}");
    assert_eq!(dead[0]["key"], "SO2");

    // A new order must start as draft or confirmed: one created as shipped is refused and
    // not written; fixed at the source, `ferry dlq replay` delivers it.
    exec(
        dir,
        "erp.db",
        "INSERT INTO sales VALUES (3, 'SO3', 'processing')",
    )
    .await;
    assert_eq!(sync(dir), (0, 0, 1));
    assert_eq!(deals(dir).await, ["SO1:paid", "SO2:cancelled"]);
    let dead = open_dead_letters(dir);
    let so3 = dead.iter().find(|d| d["key"] == "SO3").unwrap();
    assert_eq!(
        so3["error"],
        "flow `orders`, record `3`, field `status`: a new record cannot start as `shipped` \
         (the sales_order machine starts in: draft, confirmed)"
    );
    exec(
        dir,
        "erp.db",
        "UPDATE sales SET state = 'confirmed' WHERE id = 3",
    )
    .await;
    let id = so3["id"].as_i64().unwrap().to_string();
    let replayed = run_json(dir, &["dlq", "replay", &id, "--json"]);
    assert_eq!(replayed[0]["created"], 1, "{replayed}");
    assert_eq!(
        deals(dir).await,
        ["SO1:paid", "SO2:cancelled", "SO3:confirmed"]
    );
    // And from there it moves on like any order.
    assert_eq!(set_and_sync(dir, 3, "processing").await, (0, 1, 0));
    assert_eq!(
        deals(dir).await,
        ["SO1:paid", "SO2:cancelled", "SO3:shipped"]
    );
}

#[test]
fn check_refuses_a_machine_with_an_unknown_state_naming_the_key() {
    let tmp = scratch();
    let dir = tmp.path();
    let custom = "states:\n      field: status\n      initial: [draft]\n      transitions:\n        draft: [confirmed, cancelled]\n        confirmed: [shiped, cancelled]\n        shipped: [invoiced]\n        invoiced: [paid]\n        paid: []\n        cancelled: []";
    std::fs::write(
        dir.join("ferry.yaml"),
        CONFIG.replace("states: { field: status, machine: sales_order }", custom),
    )
    .unwrap();
    let out = run(dir, &["check"], false);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "ferry.yaml:23:9: flows.orders.states.transitions.confirmed: unknown state `shiped` \
             in `transitions.confirmed`"
        ),
        "{stderr}"
    );

    // A code table that maps a system's code to something that is no state is refused at
    // the table's entry.
    std::fs::write(
        dir.join("ferry.yaml"),
        CONFIG.replace("done: paid", "done: closed"),
    )
    .unwrap();
    let out = run(dir, &["check"], false);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "ferry.yaml:8:5: code_tables.tryton_sale.done: flow `orders` maps `status` \
             through this table: `closed` is not a state of the sales_order machine"
        ),
        "{stderr}"
    );

    // The machine is in the schema editors complete from.
    let schema = run_json(dir, &["schema"]);
    let text = schema.to_string();
    assert!(
        text.contains("StatesConfig") && text.contains("sales_order"),
        "{text:.300}"
    );
}
