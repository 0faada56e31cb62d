//! Documents arrive whole and exact.
//!
//! - A flow with `totals:` writes an order whose lines add up to its total and dead-letters
//!   one whose lines do not, with both amounts in the error; nothing of it is written.
//!   `ferry check` refuses a `totals:` that cannot work, at its key.
//! - Against the real Tryton: a draft sale whose lines carry VAT (Tryton's list operation in
//!   the line values) goes from three lines to four: exactly four, the total to the cent, the
//!   ledger says `updated`, and a second sync writes nothing.

mod common;

use common::peers::*;
use common::*;
use serde_json::{Value, json};
use sqlx::Row;

async fn exec(conn: &mut sqlx::SqliteConnection, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .unwrap();
}

const TOTALS: &str = r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
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
      lines: { table: sale_lines, parent_column: sale_number }
    TOTALS
    mapping:
      number: number
      total: { from: amount, tax: { add: "0.13" }, scale: 2 }
      lines:
        from: lines
        fields:
          sku: sku
          quantity: qty
          unit_price: price
          discount: discount
          tax_rate: { value: "0.13" }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_document_whose_lines_do_not_add_up_is_dead_lettered_with_both_amounts() {
    let dir = scratch();
    let dir = dir.path();
    let config = TOTALS.replace("TOTALS", r#"totals: { field: total, tolerance: "0.01" }"#);
    std::fs::write(dir.join("ferry.yaml"), &config).unwrap();
    let mut crm = sqlite(&dir.join("crm.db")).await;
    let mut erp = sqlite(&dir.join("erp.db")).await;
    // SO-1: 3 × 10.00 less 10 % + 2 × 10.00 = 47.00 before VAT, 53.11 with it: right.
    // SO-2: 3 × 10.00 + 2 × 120.00 = 270.00 before VAT, 305.10 with it; the deal says 210.00.
    exec(
        &mut crm,
        "CREATE TABLE deals (id INTEGER PRIMARY KEY, number TEXT, amount TEXT, updated_at TEXT);
         CREATE TABLE deal_items (id INTEGER PRIMARY KEY, deal_id INTEGER, sku TEXT, qty TEXT, price TEXT, discount TEXT);
         INSERT INTO deals VALUES (1, 'SO-1', '47.00', '2026-11-02T00:00:00Z'),
                                  (2, 'SO-2', '210.00', '2026-11-02T00:00:00Z');
         INSERT INTO deal_items VALUES (10, 1, 'W-1', '3', '10.00', '0.1'), (11, 1, 'W-1', '2', '10.00', NULL),
                                       (20, 2, 'W-1', '3', '10.00', NULL), (21, 2, 'G-7', '2', '120.00', NULL);",
    )
    .await;
    exec(
        &mut erp,
        "CREATE TABLE sales (number TEXT PRIMARY KEY, total TEXT);
         CREATE TABLE sale_lines (sale_number TEXT, line_no INTEGER, sku TEXT, quantity TEXT, unit_price TEXT,
                                  discount TEXT, tax_rate TEXT);",
    )
    .await;
    let checked = run(dir, &["check"], false);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );

    let report = run_json(dir, &["sync", "orders", "--json"]);
    assert_eq!(
        (&report["created"], &report["failed"]),
        (&json!(1), &json!(1)),
        "{report}"
    );
    let sales: Vec<(String, String)> = sqlx::query("SELECT number, total FROM sales")
        .fetch_all(&mut erp)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(sales, [("SO-1".to_owned(), "53.11".to_owned())]);
    let lines: i64 = sqlx::query("SELECT COUNT(*) FROM sale_lines WHERE sale_number = 'SO-2'")
        .fetch_one(&mut erp)
        .await
        .unwrap()
        .get(0);
    assert_eq!(lines, 0, "nothing of the refused order is written");

    let letters = run_json(dir, &["dlq", "list", "--json"]);
    let letter = &letters.as_array().unwrap()[0];
    let error = letter["error"].as_str().unwrap();
    eprintln!("the refused order, as dead-lettered: {error}");
    assert!(
        error.contains("record `2`")
            && error.contains("field `total`")
            && error.contains("305.10")
            && error.contains("237.30"),
        "names the record and both amounts: {error}"
    );
    assert_eq!(
        (&letter["key"], &letter["error_kind"]),
        (&json!("SO-2"), &json!("validation"))
    );
    assert_eq!(letter["payload"]["fields"]["amount"], json!("210.00"));

    // Fixed at the source: the next sync writes it, and the dead letter is resolved.
    exec(
        &mut crm,
        "UPDATE deals SET amount = '270.00', updated_at = '2026-11-03T00:00:00Z' WHERE id = 2",
    )
    .await;
    let report = run_json(dir, &["sync", "orders", "--json"]);
    assert_eq!(
        (&report["created"], &report["failed"]),
        (&json!(1), &json!(0)),
        "{report}"
    );

    // A `totals:` that cannot work is refused at its key.
    let bad = TOTALS.replace("TOTALS", "totals: { field: status, tolerance: \"-1\" }");
    std::fs::write(dir.join("ferry.yaml"), bad).unwrap();
    let checked = run(dir, &["check"], false);
    let said = String::from_utf8_lossy(&checked.stderr).into_owned()
        + &String::from_utf8_lossy(&checked.stdout);
    assert!(!checked.status.success(), "{said}");
    assert!(
        said.contains("flows.orders.totals.field")
            && said.contains("flows.orders.totals.tolerance"),
        "{said}"
    );
}

const TRYTON: &str = r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp:
    kind: tryton
    url: ${TRYTON_URL}
    database: ${TRYTON_DB}
    user: ${TRYTON_USER}
    password: ${TRYTON_PASSWORD}
    context: { company: ${TRYTON_COMPANY_ID} }
flows:
  orders:
    entity: sales_order
    source:
      system: crm
      table: deals
      watermark: { column: updated_at }
      lines: { table: deal_items, parent_column: deal_id }
    target:
      system: erp
      model: sale.sale
      key: reference
      fields: { customer_code: ~, total: ~ }
      defaults: { company: ${TRYTON_COMPANY_ID}, warehouse: ${TRYTON_WAREHOUSE_ID}, payment_term: 1 }
      lookup:
        currency: { model: currency.currency, by: code }
        party: { model: party.party, by: identifiers.code, from: customer_code }
        invoice_address: { model: party.address, by: party.identifiers.code, from: customer_code }
        shipment_address: { model: party.address, by: party.identifiers.code, from: customer_code }
      children:
        - field: lines
          from: lines
          values: { type: line, unit: 1, taxes: [[add, [${TRYTON_VAT_ID}]]] }
          fields: { sku: product, discount: ~, tax_rate: ~, unit_price: base_price, extra.net_price: unit_price }
          lookup: { product: { model: product.product, by: code } }
    totals: {}
    mapping:
      number: number
      customer_code: customer
      currency: { value: USD }
      total: total
      lines:
        from: lines
        fields:
          sku: sku
          quantity: qty
          unit_price: price
          discount: discount
          tax_rate: { value: "0.13" }
          extra.net_price: { from: net, scale: 4 }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_taxed_draft_sale_goes_from_three_lines_to_exactly_four() {
    let Some(env) = peer("tryton") else { return };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = scratch();
    let dir = dir.path();
    std::fs::write(dir.join("ferry.yaml"), TRYTON).unwrap();
    let erp = Erp::login(&env).await;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let (customer, number) = (format!("T-DOC-C-{run}"), format!("T-DOC-{run}"));
    erp.call(
        "model.party.party.create",
        json!([[{"name": "Document Test Customer",
                 "identifiers": [["create", [{"code": customer}]]],
                 "addresses": [["create", [{"street": "4 Doc St", "city": "Springfield"}]]]}],
               {"company": 1}]),
    )
    .await;
    let mut crm = sqlite(&dir.join("crm.db")).await;
    // 3 × 10.00 less 10 % = 27.00, 150.00, 2 × 10.00 = 20.00: 197.00 + VAT 25.61 = 222.61.
    exec(
        &mut crm,
        &format!(
            "CREATE TABLE deals (id INTEGER PRIMARY KEY, number TEXT, customer TEXT, total TEXT, updated_at TEXT);
             CREATE TABLE deal_items (id INTEGER PRIMARY KEY, deal_id INTEGER, sku TEXT, qty TEXT, price TEXT,
                                      discount TEXT, net TEXT);
             INSERT INTO deals VALUES (1, '{number}', '{customer}', '222.61', '2026-11-02T00:00:00Z');
             INSERT INTO deal_items VALUES (10, 1, 'WIDGET-1', '3', '10.00', '0.1', '9.00'),
                                           (11, 1, 'SVC-SETUP', '1', '150.00', NULL, '150.00'),
                                           (12, 1, 'WIDGET-1', '2', '10.00', NULL, '10.00');"
        ),
    )
    .await;
    let report = sync(dir, &env, "orders");
    assert_eq!(writes(&report), (1, 0), "{report}");

    // A fourth line, 2 × 150.00 less 10 %: 467.00 + VAT 60.71 = 527.71.
    exec(
        &mut crm,
        "INSERT INTO deal_items VALUES (13, 1, 'SVC-SETUP', '2', '150.00', '0.1', '135.00');
         UPDATE deals SET total = '527.71', updated_at = '2026-11-03T00:00:00Z';",
    )
    .await;
    let report = sync(dir, &env, "orders");
    assert_eq!(writes(&report), (0, 1), "{report}");
    let ledger = ferry_in(dir, &env, &["ledger", "--key", &number, "--json"]);
    let outcomes: Vec<&Value> = ledger[0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["outcome"])
        .collect();
    assert_eq!(outcomes, [&json!("created"), &json!("updated")], "{ledger}");
    assert_eq!(ledger[0]["state"], "synced", "{ledger}");

    let sale = erp
        .call(
            "model.sale.sale.search_read",
            json!([[["reference", "=", number]], 0, null, null,
                   ["lines", "untaxed_amount", "tax_amount", "total_amount", "write_date"], {"company": 1}]),
        )
        .await;
    let sale = sale[0].clone();
    let lines = erp
        .call(
            "model.sale.line.search_read",
            json!([[["sale", "=", sale["id"]]], 0, null, [["id", "ASC"]],
                   ["product.code", "quantity", "unit_price", "taxes"], {"company": 1}]),
        )
        .await;
    let got: Vec<(String, Value, String, usize)> = lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["product."]["code"].as_str().unwrap().to_owned(),
                l["quantity"].clone(),
                l["unit_price"]["decimal"].as_str().unwrap().to_owned(),
                l["taxes"].as_array().unwrap().len(),
            )
        })
        .collect();
    let want = |sku: &str, qty: f64, net: &str| (sku.to_owned(), json!(qty), net.to_owned(), 1);
    assert_eq!(
        got,
        [
            want("WIDGET-1", 3.0, "9.0000"),
            want("SVC-SETUP", 1.0, "150.0000"),
            want("WIDGET-1", 2.0, "10.0000"),
            want("SVC-SETUP", 2.0, "135.0000"),
        ]
    );
    assert_eq!(
        (
            &sale["untaxed_amount"]["decimal"],
            &sale["tax_amount"]["decimal"],
            &sale["total_amount"]["decimal"]
        ),
        (&json!("467.00"), &json!("60.71"), &json!("527.71"))
    );

    // A second sync writes nothing, in the report or in Tryton.
    let report = ferry_in(dir, &env, &["sync", "orders", "--full", "--json"]);
    assert_eq!(writes(&report), (0, 0), "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    let again = erp
        .call(
            "model.sale.sale.read",
            json!([[sale["id"]], ["lines", "write_date"], {"company": 1}]),
        )
        .await;
    assert_eq!(
        (&again[0]["lines"], &again[0]["write_date"]),
        (&sale["lines"], &sale["write_date"])
    );
}
