//! Entities beyond the nine original ones.
//!
//! - A workspace declares `visit_report`, a Jiandaoyun-like form (a key, a decimal, a date, a
//!   status with its own machine, lines of its own): it syncs sql → sql with a mapping that
//!   normalises its types, a validation rule refuses a bad record into dead letters naming the
//!   field and the reason, and `ferry reconcile` finds agreement, then drift made by hand.
//! - The new built-ins work as the old ones: a quotation with lines, a supplier.
//! - `ferry check` names the entity, the field and the reason of a wrong declaration and
//!   accepts the example of docs/model.md; `ferry schema` describes `entities:`.

mod common;

use common::*;
use serde_json::{Value, json};
use sqlx::Row;

async fn exec(dir: &std::path::Path, db: &str, sql: &str) {
    let mut conn = sqlite(&dir.join(db)).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
}

async fn rows(dir: &std::path::Path, db: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let mut conn = sqlite(&dir.join(db)).await;
    sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<Option<String>, _>(i))
                .collect()
        })
        .collect()
}

fn said(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
}

const VISITS: &str = r#"
entities:
  visit_report:
    doc: A sales visit, as the Jiandaoyun form records it.
    key: report_no
    fields:
      report_no: text
      customer_code: text
      amount: decimal
      visit_date: date
      status: text
      lines:
        type: lines
        fields: { item: text, quantity: decimal }
    states:
      initial: [draft, submitted]
      transitions: { draft: [submitted], submitted: [approved, rejected], approved: [], rejected: [submitted] }
systems:
  jiandaoyun: { kind: sql, url: "sqlite://forms.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  visits:
    entity: visit_report
    source:
      system: jiandaoyun
      table: visit_forms
      watermark: { column: updated_at }
      lines: { table: visit_form_rows, parent_column: form_id }
    target:
      system: erp
      table: visits
      lines: { table: visit_lines, parent_column: report_no }
    states: {}
    mapping:
      report_no: form_no
      customer_code: { from: customer, case: upper }
      amount: amount
      visit_date: { from: visited_on, date: { format: "%Y/%m/%d" } }
      status: { from: state, codes: { "0": draft, "1": submitted, "2": approved, "3": rejected } }
      lines: { from: lines, fields: { item: item, quantity: qty } }
    validate:
      amount: [required, { min: "0" }]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_declared_entity_syncs_is_validated_and_reconciles() {
    let tmp = scratch();
    let dir = tmp.path();
    std::fs::write(dir.join("ferry.yaml"), VISITS).unwrap();
    exec(
        dir,
        "forms.db",
        "CREATE TABLE visit_forms (id INTEGER PRIMARY KEY, form_no TEXT, customer TEXT, amount TEXT,
                                   visited_on TEXT, state TEXT, updated_at TEXT);
         CREATE TABLE visit_form_rows (id INTEGER PRIMARY KEY, form_id INTEGER, item TEXT, qty TEXT);
         INSERT INTO visit_forms VALUES
           (1, 'VR-1', 'c-001', '1200.50', '2026/11/02', '1', '2026-11-02T08:00:00Z'),
           (2, 'VR-2', 'c-002', '80', '2026/11/03', '0', '2026-11-03T08:00:00Z'),
           (3, 'VR-3', 'c-003', '-5', '2026/11/04', '1', '2026-11-04T08:00:00Z');
         INSERT INTO visit_form_rows VALUES (10, 1, 'brochure', '2'), (11, 1, 'sample kit', '1.5'),
                                            (20, 2, 'brochure', '1');",
    )
    .await;
    exec(
        dir,
        "erp.db",
        "CREATE TABLE visits (report_no TEXT PRIMARY KEY, customer_code TEXT, amount TEXT,
                              visit_date TEXT, status TEXT);
         CREATE TABLE visit_lines (report_no TEXT, line_no INTEGER, item TEXT, quantity TEXT);",
    )
    .await;

    let checked = run(dir, &["check"], false);
    assert!(checked.status.success(), "{}", said(&checked));

    let report = run_json(dir, &["sync", "visits", "--json"]);
    assert_eq!(
        (&report["created"], &report["failed"]),
        (&json!(2), &json!(1)),
        "{report}"
    );
    let visits = rows(
        dir,
        "erp.db",
        "SELECT report_no, customer_code, amount, visit_date, status FROM visits ORDER BY 1",
    )
    .await;
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        visits,
        [
            vec![
                s("VR-1"),
                s("C-001"),
                s("1200.50"),
                s("2026-11-02"),
                s("submitted")
            ],
            vec![s("VR-2"), s("C-002"), s("80"), s("2026-11-03"), s("draft")],
        ],
        "types normalised (the date from the form's own format), codes mapped"
    );
    let lines = rows(
        dir,
        "erp.db",
        "SELECT report_no, CAST(line_no AS TEXT), item, quantity FROM visit_lines ORDER BY 1, 2",
    )
    .await;
    assert_eq!(
        lines,
        [
            vec![s("VR-1"), s("1"), s("brochure"), s("2")],
            vec![s("VR-1"), s("2"), s("sample kit"), s("1.5")],
            vec![s("VR-2"), s("1"), s("brochure"), s("1")],
        ]
    );

    // The refused record: dead-lettered, naming the field and the reason.
    let letters = run_json(dir, &["dlq", "list", "--json"]);
    let letters = letters.as_array().unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let error = letters[0]["error"].as_str().unwrap();
    assert_eq!(
        (&letters[0]["key"], &letters[0]["error_kind"]),
        (&json!("VR-3"), &json!("validation")),
        "{error}"
    );
    assert!(
        error.contains("amount") && error.contains("less than 0"),
        "names the field and the reason: {error}"
    );

    // The declared machine holds: an approved report may not go back to draft.
    exec(
        dir,
        "forms.db",
        "UPDATE visit_forms SET state = '2', updated_at = '2026-11-05T08:00:00Z' WHERE id = 1;",
    )
    .await;
    let report = run_json(dir, &["sync", "visits", "--json"]);
    assert_eq!(report["updated"], json!(1), "{report}");
    exec(
        dir,
        "forms.db",
        "UPDATE visit_forms SET state = '0', updated_at = '2026-11-06T08:00:00Z' WHERE id = 1;",
    )
    .await;
    let report = run_json(dir, &["sync", "visits", "--json"]);
    assert_eq!(report["failed"], json!(1), "{report}");
    let letters = run_json(dir, &["dlq", "list", "--json"]);
    assert!(
        letters.as_array().unwrap().iter().any(|l| l["error"]
            .as_str()
            .unwrap()
            .contains("illegal transition `approved` → `draft` (the visit_report machine")),
        "{letters}"
    );
    exec(
        dir,
        "forms.db",
        "UPDATE visit_forms SET state = '2', updated_at = '2026-11-07T08:00:00Z' WHERE id = 1;",
    )
    .await;
    run_json(dir, &["sync", "visits", "--json"]);

    // Reconcile: agreement (the refused record is a known failure, not drift)…
    let reconcile = || {
        let out = run(dir, &["reconcile", "visits", "--format", "json"], false);
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", said(&out)));
        (out.status.success(), report)
    };
    let (ok, report) = reconcile();
    assert!(ok, "{report:#}");
    assert_eq!(report["counts"]["equal"], 2, "{report:#}");
    assert_eq!(report["counts"]["dead_lettered"], 1, "{report:#}");
    assert_eq!(
        report["compared_fields"],
        json!([
            "report_no",
            "customer_code",
            "amount",
            "visit_date",
            "status"
        ])
    );
    // …then drift made by hand, found field by field.
    exec(
        dir,
        "erp.db",
        "UPDATE visits SET amount = '999' WHERE report_no = 'VR-2';",
    )
    .await;
    let (ok, report) = reconcile();
    assert!(!ok, "drift makes the command fail: {report:#}");
    assert_eq!(report["counts"]["differing"], 1, "{report:#}");
    assert_eq!(
        report["differing"][0]["fields"],
        json!([{"field": "amount", "source": "80", "target": "999"}]),
        "{report:#}"
    );
}

const BUILT_INS: &str = r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  quotations:
    entity: quotation
    source:
      system: crm
      table: quotes
      lines: { table: quote_items, parent_column: quote_id }
    target:
      system: erp
      table: quotations
      lines: { table: quotation_lines, parent_column: number }
    states: {}
    totals: { field: subtotal }
    mapping:
      number: quote_no
      customer_code: account
      valid_until: valid_until
      status: status
      subtotal: amount
      lines: { from: lines, fields: { sku: sku, quantity: qty, unit_price: price } }
  suppliers:
    entity: supplier
    source: { system: erp, table: vendors }
    target: { system: crm, table: suppliers, columns: { code: supplier_no } }
    mapping:
      code: vendor_code
      name: name
      tax_id: { from: vat, case: upper }
      active: { from: blocked, codes: { "Y": "false", "N": "true" } }
"#;

#[tokio::test(flavor = "multi_thread")]
async fn new_built_ins_carry_a_quotation_with_lines_and_a_supplier() {
    let tmp = scratch();
    let dir = tmp.path();
    std::fs::write(dir.join("ferry.yaml"), BUILT_INS).unwrap();
    exec(
        dir,
        "crm.db",
        "CREATE TABLE quotes (id INTEGER PRIMARY KEY, quote_no TEXT, account TEXT, valid_until TEXT,
                              status TEXT, amount TEXT);
         CREATE TABLE quote_items (id INTEGER PRIMARY KEY, quote_id INTEGER, sku TEXT, qty TEXT, price TEXT);
         INSERT INTO quotes VALUES (1, 'Q-1', 'C-001', '2026-12-31', 'sent', '250.00'),
                                   (2, 'Q-2', 'C-002', '2026-12-31', 'accepted', '10.00');
         INSERT INTO quote_items VALUES (10, 1, 'W-1', '5', '10.00'), (11, 1, 'G-7', '1', '200.00'),
                                        (20, 2, 'W-1', '1', '10.00');
         CREATE TABLE suppliers (supplier_no TEXT PRIMARY KEY, name TEXT, tax_id TEXT, active TEXT);",
    )
    .await;
    exec(
        dir,
        "erp.db",
        "CREATE TABLE quotations (number TEXT PRIMARY KEY, customer_code TEXT, valid_until TEXT,
                                  status TEXT, subtotal TEXT);
         CREATE TABLE quotation_lines (number TEXT, line_no INTEGER, sku TEXT, quantity TEXT, unit_price TEXT);
         CREATE TABLE vendors (id INTEGER PRIMARY KEY, vendor_code TEXT, name TEXT, vat TEXT, blocked TEXT);
         INSERT INTO vendors VALUES (1, 'S-01', 'Steel Co', '91310000ma1fl4xq3x', 'N'),
                                    (2, 'S-02', 'Old Paper Ltd', NULL, 'Y');",
    )
    .await;
    let checked = run(dir, &["check"], false);
    assert!(checked.status.success(), "{}", said(&checked));

    // Q-2 is new but already `accepted`: the quotation machine starts at draft or sent.
    let report = run_json(dir, &["sync", "quotations", "--json"]);
    assert_eq!(
        (&report["created"], &report["failed"]),
        (&json!(1), &json!(1)),
        "{report}"
    );
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        rows(
            dir,
            "erp.db",
            "SELECT number, customer_code, status, subtotal FROM quotations"
        )
        .await,
        [vec![s("Q-1"), s("C-001"), s("sent"), s("250.00")]]
    );
    assert_eq!(
        rows(
            dir,
            "erp.db",
            "SELECT CAST(line_no AS TEXT), sku, quantity, unit_price FROM quotation_lines ORDER BY 1"
        )
        .await,
        [
            vec![s("1"), s("W-1"), s("5"), s("10.00")],
            vec![s("2"), s("G-7"), s("1"), s("200.00")],
        ]
    );
    let letters = run_json(dir, &["dlq", "list", "--json"]);
    assert!(
        letters[0]["error"]
            .as_str()
            .unwrap()
            .contains("a new record cannot start as `accepted` (the quotation machine"),
        "{letters}"
    );

    let report = run_json(dir, &["sync", "suppliers", "--json"]);
    assert_eq!(report["created"], json!(2), "{report}");
    assert_eq!(
        rows(
            dir,
            "crm.db",
            "SELECT supplier_no, name, tax_id, active FROM suppliers ORDER BY 1"
        )
        .await,
        [
            vec![s("S-01"), s("Steel Co"), s("91310000MA1FL4XQ3X"), s("true")],
            vec![s("S-02"), s("Old Paper Ltd"), None, s("false")],
        ]
    );
}

#[test]
fn check_names_the_entity_field_and_reason_and_schema_describes_entities() {
    let tmp = scratch();
    let dir = tmp.path();
    let wrong = VISITS
        .replace("      amount: decimal\n", "      amount: money\n")
        .replace("    key: report_no\n", "");
    std::fs::write(dir.join("ferry.yaml"), &wrong).unwrap();
    let out = run(dir, &["check"], false);
    assert!(!out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains(
            "entities.visit_report.fields.amount: unknown type `money` (types: text, integer, \
             decimal, bool, date, datetime, lines)"
        ),
        "{}",
        said(&out)
    );
    std::fs::write(
        dir.join("ferry.yaml"),
        VISITS.replace("    key: report_no\n", "    key: amount\n"),
    )
    .unwrap();
    let out = run(dir, &["check"], false);
    assert!(!out.status.success(), "{}", said(&out));
    assert!(
        said(&out).contains(
            "entities.visit_report.key: key `amount` of visit_report is a decimal field; a key \
             must be text or integer"
        ),
        "{}",
        said(&out)
    );

    // The example of docs/model.md is a workspace `ferry check` accepts.
    let model =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/model.md"))
            .unwrap();
    let example = model
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap();
    std::fs::write(dir.join("ferry.yaml"), example).unwrap();
    let out = run(dir, &["check"], false);
    assert!(out.status.success(), "{}", said(&out));

    let schema = run_json(dir, &["schema"]);
    let entities = &schema["properties"]["entities"];
    assert!(entities.is_object(), "{schema:#}");
    let text = schema.to_string();
    assert!(
        text.contains("EntityDecl") && text.contains("MachineDecl"),
        "{entities}"
    );
}

const PAIR: &str = r#"
entities:
  member_card:
    key: code
    fields: { code: text, holder: text, points: integer, tier: text }
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  cards_to_erp:
    entity: member_card
    source: { system: crm, table: cards, watermark: { column: updated_at } }
    target: { system: erp, table: erp_cards }
    mapping: { code: card_no, holder: holder, points: points }
  cards_to_crm:
    entity: member_card
    source: { system: erp, table: erp_cards, id: code, watermark: { column: updated_at } }
    target: { system: crm, table: cards, key_column: card_no, columns: { code: card_no } }
    mapping: { code: code, holder: holder, points: points }
pairs:
  cards:
    flows: [cards_to_erp, cards_to_crm]
    owners: { default: crm, fields: { points: erp } }
"#;

/// Two-way on a declared entity: the owner's change travels, the other side's does not, and
/// nothing is echoed back.
#[tokio::test(flavor = "multi_thread")]
async fn a_pair_carries_a_declared_entity_both_ways_by_owner() {
    let tmp = scratch();
    let dir = tmp.path();
    std::fs::write(dir.join("ferry.yaml"), PAIR).unwrap();
    let now = "strftime('%Y-%m-%d %H:%M:%f', 'now')";
    exec(
        dir,
        "crm.db",
        &format!(
            "CREATE TABLE cards (id INTEGER PRIMARY KEY, card_no TEXT NOT NULL UNIQUE, holder TEXT,
                                 points INTEGER, updated_at TEXT NOT NULL DEFAULT ({now}));
             INSERT INTO cards (card_no, holder, points) VALUES ('M1', 'Ada', 10), ('M2', 'Bob', 20);"
        ),
    )
    .await;
    exec(
        dir,
        "erp.db",
        &format!(
            "CREATE TABLE erp_cards (code TEXT PRIMARY KEY, holder TEXT, points INTEGER,
                                     updated_at TEXT NOT NULL DEFAULT ({now}));"
        ),
    )
    .await;
    let checked = run(dir, &["check"], false);
    assert!(checked.status.success(), "{}", said(&checked));

    let sync = |flow: &str| run_json(dir, &["sync", flow, "--json"]);
    assert_eq!(sync("cards_to_erp")["created"], json!(2));
    let back = sync("cards_to_crm");
    assert_eq!(
        (&back["read"], &back["unchanged"]),
        (&json!(2), &json!(2)),
        "{back}"
    );

    // The ERP owns the points, not the holder: one of its two edits travels.
    std::thread::sleep(std::time::Duration::from_millis(20));
    exec(
        dir,
        "erp.db",
        &format!(
            "UPDATE erp_cards SET points = 99, updated_at = {now} WHERE code = 'M1';
             UPDATE erp_cards SET holder = 'Robert', updated_at = {now} WHERE code = 'M2';"
        ),
    )
    .await;
    let back = sync("cards_to_crm");
    assert_eq!(back["updated"], json!(1), "{back}");
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        rows(
            dir,
            "crm.db",
            "SELECT card_no, holder, CAST(points AS TEXT) FROM cards ORDER BY 1"
        )
        .await,
        [
            vec![s("M1"), s("Ada"), s("99")],
            vec![s("M2"), s("Bob"), s("20")]
        ]
    );
    assert_eq!(sync("cards_to_erp")["updated"], json!(0), "nothing echoed");
}
