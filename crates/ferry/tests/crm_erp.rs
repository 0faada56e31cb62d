//! The CRM↔ERP example (`examples/crm-erp/`) against the real servers: BottleCRM and Tryton
//! started by `scripts/peers/` (reset to their seeded state first).
//!
//! One test, in order, because the steps share two servers:
//! - ERP products with price and stock arrive in the CRM;
//! - won CRM deals (Chinese account names, one with 50 lines) arrive in the ERP as confirmed
//!   sales, their customers synced on demand, each exactly once, with the CRM's line discounts
//!   and VAT 13 %: each sale's amount before tax is its deal's amount to the cent;
//! - the ERP's shipment tracking number and invoice state are written back on the CRM deal;
//! - a second round of every flow writes nothing on either side (rows and timestamps of the
//!   tables the flows write, compared before and after);
//! - an account archived in the CRM is archived in the ERP;
//! - a deal edited after the ERP confirmed the sale is refused by the ERP, and the dead letter
//!   carries Tryton's own message;
//! - the ERP restarted in the middle of a customer sync loses nothing and dead-letters nothing;
//! - an account deleted in the CRM is found by the next snapshot pass, once;
//! - the ERP's daily request quota spent: the flow pauses and resumes at the same cursor.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::Datelike;
use common::peers::*;
use common::*;
use serde_json::{Value, json};
use sqlx::{Connection, Row};

/// Rows and the latest change of every table the flows write, on both sides.
async fn footprint(env: &Env) -> (Vec<(i64, String)>, Vec<(i64, String)>) {
    let erp_db = Path::new(&peers_dir()).join("tryton/db/erp.sqlite");
    let mut erp = sqlite(&erp_db).await;
    let mut erp_rows = Vec::new();
    for table in [
        "party_party",
        "party_identifier",
        "party_address",
        "party_contact_mechanism",
        "sale_sale",
        "sale_line",
    ] {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*), COALESCE(MAX(COALESCE(write_date, create_date)), '') FROM {table}"
        )))
        .fetch_one(&mut erp)
        .await
        .unwrap();
        erp_rows.push((row.get(0), row.get(1)));
    }
    let mut crm = sqlx::PgConnection::connect(&env["CRM_PG"]).await.unwrap();
    let mut crm_rows = Vec::new();
    for table in [
        "accounts",
        "contacts",
        "opportunity",
        "opportunity_line_item",
        "product",
    ] {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*), COALESCE(MAX(updated_at)::text, '') FROM {table}"
        )))
        .fetch_one(&mut crm)
        .await
        .unwrap();
        crm_rows.push((row.get(0), row.get(1)));
    }
    (erp_rows, crm_rows)
}

/// An amount written with at most `places` decimals (`"11256.59"`, `"10.5"`), as a whole
/// number of 1/10^places.
fn fixed(value: &Value, places: usize) -> i64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("an amount: {value}"));
    let (units, fraction) = text.split_once('.').unwrap_or((text, ""));
    let fraction = format!("{fraction:0<places$}");
    assert!(
        fraction.len() == places,
        "at most {places} decimals: {text}"
    );
    units.parse::<i64>().unwrap() * 10_i64.pow(places as u32) + fraction.parse::<i64>().unwrap()
}

/// An amount in cents (at most two decimals).
fn cents(value: &Value) -> i64 {
    fixed(value, 2)
}

/// VAT 13 % of an amount in cents, rounded half to even as Tryton rounds tax.
fn vat_cents(amount: i64) -> i64 {
    let hundredths = amount * 13;
    let (whole, rest) = (hundredths / 100, hundredths % 100);
    if rest > 50 || (rest == 50 && whole % 2 == 1) {
        whole + 1
    } else {
        whole
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn crm_and_erp_stay_in_agreement() {
    let (Some(tryton), Some(crm_env)) = (peer("tryton"), peer("crm")) else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut env = reset("tryton", &tryton);
    env.extend(reset("crm", &crm_env));
    let dir = scratch();
    let dir = dir.path();
    std::fs::copy(
        repo().join("examples/crm-erp/ferry.yaml"),
        dir.join("ferry.yaml"),
    )
    .unwrap();
    let crm = Crm {
        http: reqwest::Client::new(),
        api: env["CRM_API"].clone(),
        token: env["CRM_PAT"].clone(),
    };
    let erp = Erp::login(&env).await;

    // `ferry discover` lists each live system's objects and fields.
    for (system, object, field) in [("erp", "party.party", "name"), ("crm", "accounts", "name")] {
        let objects = ferry_in(dir, &env, &["discover", system, "--json"]);
        let found = objects
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == object)
            .unwrap_or_else(|| panic!("{system}: no {object}"));
        assert!(
            found["fields"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["name"] == field),
            "{system}.{object}: {found}"
        );
    }

    // ERP products, with price and stock, in the CRM.
    let report = sync(dir, &env, "products");
    assert_eq!(writes(&report), (2, 0), "{report}");
    let products = crm
        .call(reqwest::Method::GET, "invoices/products/?limit=10", None)
        .await;
    let widget = products["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["sku"] == "WIDGET-1")
        .expect("WIDGET-1 in the CRM")
        .clone();
    assert_eq!(widget["price"], "10.00");
    assert_eq!(widget["description"], "In stock: 100");

    // Won deals in the CRM: two accounts with Chinese names, and a deal with 50 lines.
    let seed = |args: &[&str]| -> Value {
        let out = Command::new("python3")
            .arg(repo().join("examples/crm-erp/seed_crm.py"))
            .args(args)
            .envs(&env)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let small = seed(&["--accounts", "2", "--lines", "2", "--prefix", "Demo"]);
    let big = seed(&["--accounts", "1", "--lines", "50", "--prefix", "Bulk"]);
    let deal_of = |seeded: &Value, name: &str| seeded["deals"][name].as_str().unwrap().to_owned();
    let big_deal = deal_of(&big, "Bulk order 1");
    let demo_deal = deal_of(&small, "Demo order 1");

    // The orders flow runs first: its customers are synced on demand, then the sales arrive.
    let report = sync(dir, &env, "orders");
    assert_eq!(writes(&report), (3, 0), "{report}");
    let sales = erp
        .call(
            "model.sale.sale.search_read",
            json!([[], 0, null, null, ["reference", "state", "party.name", "lines", "untaxed_amount",
                                        "tax_amount", "total_amount"], {"company": 1}]),
        )
        .await;
    let sales = sales.as_array().unwrap();
    assert_eq!(sales.len(), 3, "{sales:?}");
    for sale in sales {
        assert_eq!(sale["state"], "processing", "quoted and confirmed: {sale}");
        // The deal's amount (its discounted line totals, before tax) is the sale's untaxed
        // amount to the cent; VAT 13 % on top, rounded as Tryton rounds (half to even).
        let deal = crm
            .call(
                reqwest::Method::GET,
                &format!("opportunities/{}/", sale["reference"].as_str().unwrap()),
                None,
            )
            .await;
        let amount = cents(&deal["opportunity_obj"]["amount"]);
        let vat = vat_cents(amount);
        assert_eq!(
            (
                cents(&sale["untaxed_amount"]["decimal"]),
                cents(&sale["tax_amount"]["decimal"]),
                cents(&sale["total_amount"]["decimal"])
            ),
            (amount, vat, amount + vat),
            "deal {} vs sale {sale}",
            deal["opportunity_obj"]["amount"]
        );
    }
    let big_sale = sales
        .iter()
        .find(|s| s["reference"] == big_deal.as_str())
        .unwrap();
    assert_eq!(big_sale["lines"].as_array().unwrap().len(), 50);
    assert_eq!(big_sale["party."]["name"], "Bulk 客户 1");
    // Every line taxed; two lines in three discounted (12.5 %, or 3.15 off the line), the
    // discount shown by Tryton from the list price and the net price.
    let lines = erp
        .call(
            "model.sale.line.search_read",
            json!([[["sale", "=", big_sale["id"]]], 0, null, [["id", "ASC"]],
                   ["taxes", "base_price", "unit_price", "discount"], {"company": 1}]),
        )
        .await;
    let lines = lines.as_array().unwrap();
    assert!(
        lines
            .iter()
            .all(|l| l["taxes"].as_array().unwrap().len() == 1),
        "{lines:?}"
    );
    let price = |line: &Value, field: &str| fixed(&line[field]["decimal"], 4);
    let discounted = lines
        .iter()
        .filter(|l| price(l, "unit_price") < price(l, "base_price"))
        .count();
    assert_eq!(discounted, 33, "{lines:?}");
    assert_eq!(
        price(&lines[1], "unit_price") * 1000,
        price(&lines[1], "base_price") * 875,
        "12.5 % off: {}",
        lines[1]
    );
    // Each customer exactly once, with its CRM id as identifier.
    let parties = erp
        .call(
            "model.party.party.search_read",
            json!([[["name", "like", "% 客户 %"]], 0, null, null, ["name", "identifiers.code"], {"company": 1}]),
        )
        .await;
    let mut names: Vec<&str> = parties
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Bulk 客户 1", "Demo 客户 1", "Demo 客户 2"]);
    // The tax id (a unified social credit code, checked by the mapping) is the party's tax
    // identifier, beside the identifier holding the CRM id.
    let party = erp
        .call(
            "model.party.party.search_read",
            json!([[["name", "=", "Demo 客户 1"]], 0, null, null,
                   ["identifiers.type", "identifiers.code", "tax_identifier.code", "addresses.city",
                    "contact_mechanisms.type"], {"company": 1}]),
        )
        .await;
    let party = &party[0];
    let tax_id = party["tax_identifier."]["code"]
        .as_str()
        .expect("a tax identifier");
    assert_eq!(tax_id.len(), 18, "{party}");
    let types: Vec<&Value> = party["identifiers."]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["type"])
        .collect();
    assert!(types.contains(&&json!("cn_vat")), "{party}");
    assert_eq!(party["addresses."].as_array().unwrap().len(), 1, "{party}");
    assert_eq!(
        party["contact_mechanisms."].as_array().unwrap().len(),
        2,
        "e-mail and phone: {party}"
    );

    // The warehouse ships the demo order with a tracking number; the deal shows it.
    let demo_sale = sales
        .iter()
        .find(|s| s["reference"] == demo_deal.as_str())
        .unwrap();
    let shipments = erp
        .call(
            "model.sale.sale.read",
            json!([[demo_sale["id"]], ["shipments"], {"company": 1}]),
        )
        .await;
    let shipment = shipments[0]["shipments"][0].clone();
    erp.call(
        "model.stock.shipment.out.write",
        json!([[shipment], {"reference": "1Z999AA10123456784"}, {"company": 1}]),
    )
    .await;
    // Accounting posts its invoice dated a month ago, due at once: by now it is overdue.
    let month_ago = chrono::Utc::now().date_naive() - chrono::Duration::days(30);
    let invoices = erp
        .call(
            "model.sale.sale.read",
            json!([[demo_sale["id"]], ["invoices"], {"company": 1}]),
        )
        .await;
    let invoice = invoices[0]["invoices"][0].clone();
    erp.call(
        "model.account.invoice.write",
        json!([[invoice], {"invoice_date": {"__class__": "date", "year": month_ago.year(),
            "month": month_ago.month(), "day": month_ago.day()}}, {"company": 1}]),
    )
    .await;
    // Tryton warns that the due date is past (and may warn of more); an accountant confirms
    // each warning, as its client does, by recording it as answered, and posts again.
    let post = json!([[invoice], {"company": 1}]);
    let mut answered = Vec::new();
    while let Err(error) = erp
        .try_call("model.account.invoice.post", post.clone())
        .await
    {
        assert_eq!(error[0], "UserWarning", "{error}");
        assert!(
            answered.len() < 5,
            "warnings keep coming: {answered:?}, {error}"
        );
        answered.push(error[1][1].clone());
        erp.call(
            "model.res.user.warning.create",
            json!([[{"user": erp.uid, "name": error[1][0], "always": false}], {}]),
        )
        .await;
    }
    eprintln!("posting the invoice, Tryton warned: {answered:?}");
    let report = sync(dir, &env, "order-status");
    assert_eq!(
        report["failed"],
        0,
        "{report}: {}",
        ferry_in(dir, &env, &["dlq", "list", "--json"])
    );
    let deal = crm
        .call(
            reqwest::Method::GET,
            &format!("opportunities/{demo_deal}/"),
            None,
        )
        .await;
    let description = deal["opportunity_obj"]["description"].as_str().unwrap();
    eprintln!("the CRM deal says: {description}");
    assert!(
        description.contains("Tracking: 1Z999AA10123456784")
            && description.contains(" OVERDUE (total "),
        "{description}"
    );

    // Nothing changed: a second round of every flow writes nothing anywhere.
    std::thread::sleep(Duration::from_millis(1100));
    let before = footprint(&env).await;
    for flow in ["customers", "products", "orders", "order-status"] {
        let report = sync(dir, &env, flow);
        assert_eq!(writes(&report), (0, 0), "{flow}: {report}");
        assert_eq!(report["failed"], 0, "{flow}: {report}");
    }
    assert_eq!(footprint(&env).await, before, "a re-run changed rows");

    // An account archived in the CRM is archived in the ERP.
    let account = small["accounts"]["Demo 客户 2"].as_str().unwrap();
    crm.call(
        reqwest::Method::PATCH,
        &format!("accounts/{account}/"),
        Some(json!({"is_active": false})),
    )
    .await;
    let report = sync(dir, &env, "customers");
    assert_eq!(writes(&report), (0, 1), "{report}");
    let archived = erp
        .call(
            "model.party.party.search_read",
            json!([[["identifiers.code", "=", account], ["active", "=", false]], 0, null, null, ["name"], {"company": 1}]),
        )
        .await;
    assert_eq!(archived.as_array().unwrap().len(), 1, "{archived}");

    // A deal edited after the ERP confirmed its sale: the ERP refuses, in its own words.
    crm.call(
        reqwest::Method::POST,
        &format!("opportunities/{demo_deal}/line-items/"),
        Some(json!({"product_id": widget["id"], "quantity": "7", "unit_price": "10.00"})),
    )
    .await;
    let report = sync(dir, &env, "orders");
    assert_eq!(report["failed"], 1, "{report}");
    let letters = ferry_in(dir, &env, &["dlq", "list", "--json"]);
    let letter = letters
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["source_id"] == demo_deal.as_str())
        .expect("the edited deal is dead-lettered");
    let error = letter["error"].as_str().unwrap();
    eprintln!("the ERP's refusal, as dead-lettered: {error}");
    assert!(
        error.contains("erp: model.sale.sale"),
        "Tryton's message: {error}"
    );
    assert_eq!(letter["error_kind"], "validation");

    // The ERP restarts in the middle of a customer sync: every customer arrives, once.
    let restart_accounts = seed(&["--accounts", "30", "--lines", "1", "--prefix", "Restart"]);
    let config = std::fs::read_to_string(dir.join("ferry.yaml"))
        .unwrap()
        .replace("batch_size: 50", "batch_size: 2");
    std::fs::write(dir.join("ferry.yaml"), config).unwrap();
    let child = ferry()
        .current_dir(dir)
        .envs(&env)
        .args(["sync", "customers", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Stop the ERP once the first customers have arrived.
    let count_restart = async |erp: &Erp| {
        erp.call(
            "model.party.party.search_count",
            json!([[["name", "like", "Restart 客户 %"]], {"company": 1}]),
        )
        .await
        .as_u64()
        .unwrap()
    };
    let mut waited = 0;
    while count_restart(&erp).await < 2 {
        assert!(waited < 600, "the customer sync never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let pid = std::fs::read_to_string(Path::new(&peers_dir()).join("tryton/trytond.pid")).unwrap();
    let stop = Command::new("kill").arg(pid.trim()).status().unwrap();
    assert!(stop.success());
    std::thread::sleep(Duration::from_secs(2));
    let up = Command::new(repo().join("scripts/peers/tryton-up.sh"))
        .args([peers_dir(), port(&env, "TRYTON_URL")])
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("retrying"),
        "the outage was noticed: {stderr}"
    );
    eprintln!(
        "ERP restart: {} retried calls; report {}",
        stderr.matches("retrying").count(),
        String::from_utf8_lossy(&out.stdout).trim()
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"], 0, "{report}");
    let restart = Erp::login(&env).await;
    assert_eq!(count_restart(&restart).await, 30, "every customer, once");
    let letters = ferry_in(dir, &env, &["dlq", "list", "--flow", "customers", "--json"]);
    assert!(letters.as_array().unwrap().is_empty(), "{letters}");

    // An account deleted in the CRM (which has no "modified since" and keeps no trace of
    // deletes) is found at the end of the next snapshot pass, and reported once.
    let gone = restart_accounts["accounts"]["Restart 客户 7"]
        .as_str()
        .unwrap();
    crm.call(reqwest::Method::DELETE, &format!("accounts/{gone}/"), None)
        .await;
    let report = sync(dir, &env, "customers");
    assert_eq!(report["deleted"], 1, "{report}");
    let ledger = ferry_in(dir, &env, &["ledger", "--key", gone, "--json"]);
    assert_eq!(ledger[0]["state"], "deleted", "{ledger}");
    let report = sync(dir, &env, "customers");
    assert_eq!(report["deleted"], 0, "reported once: {report}");

    // The ERP account's daily request quota runs out: the flow pauses until it resets and then
    // goes on at the same cursor (a new process starts with a new count).
    let quota = scratch();
    let quota = quota.path();
    let config = std::fs::read_to_string(repo().join("examples/crm-erp/ferry.yaml"))
        .unwrap()
        .replace("batch_size: 50", "batch_size: 1")
        .replace(
            "      company: ${TRYTON_COMPANY_ID:-1}\n",
            "      company: ${TRYTON_COMPANY_ID:-1}\n    daily_quota: 2\n",
        );
    assert!(config.contains("daily_quota: 2"));
    std::fs::write(quota.join("ferry.yaml"), config).unwrap();
    let out = ferry()
        .current_dir(quota)
        .envs(&env)
        .args(["sync", "products", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a paused run says it stopped early");
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first["read"], 1, "{first}");
    assert!(first["paused_until"].is_string(), "{first}");
    assert!(
        first["error"].as_str().unwrap().contains("daily quota"),
        "{first}"
    );
    let second = sync(quota, &env, "products");
    assert_eq!(
        (second["read"].as_u64(), second["error"].is_null()),
        (Some(1), true),
        "resumed after the first product: {second}"
    );
}
