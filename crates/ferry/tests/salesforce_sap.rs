//! The Salesforce ↔ SAP S/4HANA example (`examples/salesforce-sap/`) end to end, against the
//! two wire-level doubles (`ferry_doubles::salesforce`, `ferry_doubles::sap`, built from the
//! vendors' published documentation), with the `ferry` binary and the example's own
//! `ferry.yaml`:
//!
//! - Salesforce's customer Accounts reach SAP as business partners that are customers of the
//!   sales area, found again by the Account Id (`SearchTerm1`); a second sync writes nothing;
//! - won Opportunities reach SAP as sales orders with their items, sold to the account's
//!   business partner and priced by SAP; one refused by SAP (a material it lacks) is a dead
//!   letter carrying SAP's own message, and once the ERP team creates the material,
//!   `ferry dlq replay` delivers it; a second round writes nothing;
//! - `ferry sync` killed (SIGKILL) while SAP saves a `$batch` of orders: the rerun loses and
//!   doubles nothing.

mod common;

use std::path::Path;

use common::*;
use ferry_doubles::RunningDouble;
use ferry_doubles::salesforce::{SalesforceConfig, SalesforceDouble};
use ferry_doubles::sap::{SapConfig, SapDouble};
use serde_json::{Map, Value, json};

struct Doubles {
    sf: RunningDouble,
    sap: RunningDouble,
}

impl Doubles {
    async fn start() -> Self {
        Self::start_with(SapConfig::default()).await
    }

    async fn start_with(sap: SapConfig) -> Self {
        let sf = ferry_doubles::start(SalesforceDouble::new(SalesforceConfig::default()), 0)
            .await
            .expect("the Salesforce double starts");
        let sap = ferry_doubles::start(SapDouble::new(sap), 0)
            .await
            .expect("the SAP double starts");
        Self { sf, sap }
    }

    /// `ferry args` in `dir` against the doubles.
    fn command(&self, dir: &Path, args: &[&str]) -> std::process::Command {
        let mut cmd = ferry();
        cmd.current_dir(dir)
            .args(args)
            .env("SF_URL", self.sf.base_url())
            .env("SF_CLIENT_ID", ferry_doubles::salesforce::CLIENT_ID)
            .env("SF_CLIENT_SECRET", ferry_doubles::salesforce::CLIENT_SECRET)
            .env("SAP_URL", self.sap.base_url())
            .env("SAP_USER", "FERRY_COMM_USER")
            .env("SAP_PASSWORD", "sap-Pa55word");
        cmd
    }

    /// Runs `ferry` in `dir` against the doubles, returning stdout parsed as JSON.
    fn ferry(&self, dir: &Path, args: &[&str]) -> Value {
        let out = self.command(dir, args).output().expect("ferry runs");
        json_output(args, &out)
    }

    fn sap(&self, set: &str) -> Vec<Map<String, Value>> {
        records(&self.sap, set)
    }

    fn salesforce(&self, object: &str) -> Vec<(u64, Map<String, Value>)> {
        self.sf
            .store()
            .list(object, None, None)
            .expect("an object of the double")
            .into_iter()
            .map(|r| (r.id, r.fields))
            .collect()
    }

    /// The Salesforce id of a record of the double's store (`5g`, ten digits: no upper-case
    /// letter, so the suffix is `AAA`).
    fn sf_id(&self, object: &str, id: u64) -> String {
        let prefix = match object {
            "Account" => "001",
            "Opportunity" => "006",
            other => panic!("no prefix for {other}"),
        };
        let id = format!("{prefix}5g{id:010}AAA");
        assert!(ferry_doubles::salesforce::parse_id(&id).is_some(), "{id}");
        id
    }

    /// SAP's sales orders written for Salesforce (PurchaseOrderByCustomer holds an
    /// Opportunity Id, `006…`).
    fn crm_orders(&self) -> Vec<Map<String, Value>> {
        self.sap("A_SalesOrder")
            .into_iter()
            .filter(|o| {
                o["PurchaseOrderByCustomer"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("006"))
            })
            .collect()
    }
}

fn records(double: &RunningDouble, set: &str) -> Vec<Map<String, Value>> {
    double
        .store()
        .list(set, None, None)
        .expect("a set of the double")
        .into_iter()
        .map(|r| r.fields)
        .collect()
}

fn count(report: &Value, what: &str) -> i64 {
    report[what]
        .as_i64()
        .unwrap_or_else(|| panic!("no `{what}` in {report}"))
}

fn written(report: &Value) -> i64 {
    count(report, "created") + count(report, "updated")
}

fn example(dir: &Path) {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/salesforce-sap/ferry.yaml");
    std::fs::copy(&example, dir.join("ferry.yaml")).expect("the example's ferry.yaml");
}

/// An `Edm.Decimal` as SAP holds it (text).
fn decimal(value: &Value) -> f64 {
    value
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a decimal as text: {value}"))
}

/// The day of an `Edm.DateTime` as SAP sends it (`/Date(ms)/`, midnight UTC).
fn sap_day(value: &Value) -> String {
    let ms: i64 = value
        .as_str()
        .and_then(|t| t.strip_prefix("/Date(")?.strip_suffix(")/")?.parse().ok())
        .unwrap_or_else(|| panic!("an Edm.DateTime: {value}"));
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string()
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().expect("an object")
}

/// SAP's installation service (SV01), as the ERP team creates it.
fn create_service_material(sap: &RunningDouble) {
    sap.store()
        .insert(
            "A_Product",
            object(json!({
                "Product": "SV01", "ProductType": "SERV", "BaseUnit": "H", "ProductGroup": "L001",
                "GrossWeight": "0.000", "WeightUnit": "KG", "IsMarkedForDeletion": false,
                "CrossPlantStatus": "", "ProductOldID": "",
                "to_Description": [{"Product": "SV01", "Language": "EN",
                                    "ProductDescription": "Service 01, Installation (hour)"}],
                "to_Valuation": [{"Product": "SV01", "ValuationArea": "1010", "StandardPrice": "95.00",
                                  "MovingAveragePrice": "95.00", "PriceUnitQty": "1", "Currency": "EUR"}],
                "_key": "SV01", "_rev": 0,
            })),
        )
        .expect("SV01 is created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_and_won_opportunities_reach_sap_and_a_refusal_is_replayed() {
    let doubles = Doubles::start().await;
    let dir = scratch();
    example(dir.path());

    // The customer Accounts (not the prospect) become business partners, customers of the
    // sales area, found again by the Account Id.
    let customers: Vec<(String, String)> = doubles
        .salesforce("Account")
        .into_iter()
        .filter(|(_, a)| {
            a["Type"]
                .as_str()
                .is_some_and(|t| t.starts_with("Customer"))
        })
        .map(|(id, a)| {
            (
                doubles.sf_id("Account", id),
                a["Name"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(customers.len(), 7);
    let accounts = doubles.ferry(dir.path(), &["sync", "accounts", "--json"]);
    assert_eq!(count(&accounts, "created"), 7, "{accounts}");
    let partners = doubles.sap("A_BusinessPartner");
    let sap_customers = doubles.sap("A_Customer");
    let partner_of = |account: &str| -> Map<String, Value> {
        let found: Vec<_> = partners
            .iter()
            .filter(|p| p["SearchTerm1"] == json!(account))
            .collect();
        assert_eq!(found.len(), 1, "one business partner for {account}");
        found[0].clone()
    };
    for (account, name) in &customers {
        let partner = partner_of(account);
        assert_eq!(partner["OrganizationBPName1"], json!(name));
        assert_eq!(partner["BusinessPartnerCategory"], json!("2"));
        let number = &partner["BusinessPartner"];
        let customer = sap_customers
            .iter()
            .find(|c| &c["Customer"] == number)
            .unwrap_or_else(|| panic!("{account} is a customer in SAP"));
        assert_eq!(
            customer["to_CustomerSalesArea"][0]["SalesOrganization"],
            json!("1010")
        );
    }
    let again = doubles.ferry(dir.path(), &["sync", "accounts", "--json"]);
    assert_eq!(written(&again) + count(&again, "failed"), 0, "{again}");
    assert_eq!(doubles.sap("A_BusinessPartner"), partners, "SAP untouched");

    // Sales closes Acme's replenishment too. The seeded won opportunity (青禾电子) includes
    // an installation SAP has no material for (SV01): SAP refuses it.
    let (acme, _) = doubles
        .salesforce("Opportunity")
        .into_iter()
        .find(|(_, o)| o["Name"] == json!("Acme Q3 Replenishment"))
        .unwrap();
    doubles
        .sf
        .store()
        .update(
            "Opportunity",
            acme,
            object(json!({"StageName": "Closed Won"})),
        )
        .unwrap();
    let won: Vec<(u64, Map<String, Value>)> = doubles
        .salesforce("Opportunity")
        .into_iter()
        .filter(|(_, o)| o["StageName"] == json!("Closed Won"))
        .collect();
    assert_eq!(won.len(), 2);
    let qinghe = won
        .iter()
        .find(|(id, _)| *id != acme)
        .map(|(id, _)| doubles.sf_id("Opportunity", *id))
        .unwrap();
    let acme = doubles.sf_id("Opportunity", acme);

    let orders = doubles.ferry(dir.path(), &["sync", "orders", "--json"]);
    assert_eq!(count(&orders, "created"), 1, "{orders}");
    assert_eq!(count(&orders, "failed"), 1, "{orders}");
    let letters = doubles.ferry(dir.path(), &["dlq", "list", "--json"]);
    let letters = letters.as_array().expect("a list");
    assert_eq!(letters.len(), 1, "{letters:?}");
    let error = letters[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("The material SV01 does not exist or is not activated"),
        "SAP's own message: {error}"
    );

    // Acme's order: sold to its business partner, CH-10 as TG13 at SAP's price.
    let in_sap = doubles.crm_orders();
    assert_eq!(in_sap.len(), 1);
    let order = &in_sap[0];
    assert_eq!(order["PurchaseOrderByCustomer"], json!(acme));
    let acme_account = doubles
        .salesforce("Opportunity")
        .into_iter()
        .find(|(id, _)| doubles.sf_id("Opportunity", *id) == acme)
        .map(|(_, o)| o["AccountId"].as_str().unwrap().to_owned())
        .unwrap();
    assert_eq!(
        order["SoldToParty"],
        partner_of(&acme_account)["BusinessPartner"]
    );
    let items = order["to_Item"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["Material"], json!("TG13"));
    assert_eq!(decimal(&items[0]["RequestedQuantity"]), 500.0);
    assert_eq!(items[0]["NetAmount"], json!("3625.00"), "500 × 7.25 EUR");
    assert_eq!(order["TotalNetAmount"], json!("3625.00"));
    assert_eq!(order["TransactionCurrency"], json!("EUR"));

    // The ERP team creates the material; the replay delivers the order.
    create_service_material(&doubles.sap);
    let replay = doubles.ferry(dir.path(), &["dlq", "replay", "--all", "--json"]);
    assert_eq!(count(&replay[0], "created"), 1, "{replay}");
    assert_eq!(count(&replay[0], "failed"), 0, "{replay}");
    let letters = doubles.ferry(dir.path(), &["dlq", "list", "--json"]);
    assert_eq!(letters.as_array().map(Vec::len), Some(0), "{letters}");
    let in_sap = doubles.crm_orders();
    assert_eq!(in_sap.len(), 2);
    let order = in_sap
        .iter()
        .find(|o| o["PurchaseOrderByCustomer"] == json!(qinghe))
        .expect("青禾电子's order in SAP");
    let items = order["to_Item"].as_array().unwrap();
    let materials: Vec<&Value> = items.iter().map(|i| &i["Material"]).collect();
    assert_eq!(materials, [&json!("TG11"), &json!("SV01")]);
    assert_eq!(items[0]["NetAmount"], json!("200.00"), "20 × 10.00 EUR");
    assert_eq!(items[1]["NetAmount"], json!("95.00"), "1 h × 95.00 EUR");
    assert_eq!(order["TotalNetAmount"], json!("295.00"));

    // A second round writes nothing.
    let before = doubles.sap("A_SalesOrder");
    for flow in ["accounts", "orders"] {
        let again = doubles.ferry(dir.path(), &["sync", flow, "--json"]);
        assert_eq!(
            written(&again) + count(&again, "failed"),
            0,
            "{flow}: {again}"
        );
    }
    assert_eq!(doubles.sap("A_SalesOrder"), before);

    // Back from SAP: each order's SAP number and status onto its Opportunity.
    let status = doubles.ferry(dir.path(), &["sync", "order_status", "--json"]);
    assert_eq!(written(&status), 2, "{status}");
    assert_eq!(count(&status, "failed"), 0, "{status}");
    let sap_number = |opportunity: &str| -> String {
        doubles
            .crm_orders()
            .into_iter()
            .find(|o| o["PurchaseOrderByCustomer"] == json!(opportunity))
            .map(|o| o["SalesOrder"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let opportunity = |id: &str| -> Map<String, Value> {
        doubles
            .salesforce("Opportunity")
            .into_iter()
            .find(|(n, _)| doubles.sf_id("Opportunity", *n) == id)
            .map(|(_, o)| o)
            .unwrap()
    };
    for id in [&acme, &qinghe] {
        let o = opportunity(id);
        assert_eq!(o["SAP_Order__c"], json!(sap_number(id)), "{id}");
        assert_eq!(o["Delivery_Status__c"], json!("Not delivered"), "{id}");
        assert_eq!(o["Billing_Status__c"], json!("Open"), "{id}");
    }

    // The ERP team delivers and bills Acme's order (VL01N, VF01): SAP posts the documents
    // and moves the order's statuses on.
    let acme_sap = sap_number(&acme);
    let deliver = || ferry_doubles::sap::erp::deliver(doubles.sap.store(), &acme_sap).unwrap();
    // Two deliveries in the same second (the double's clock has whole seconds): the flow
    // reads both, keyed by the one order, and the Opportunity must show the later one.
    let earlier = deliver();
    let delivery = deliver();
    assert!(earlier < delivery, "{earlier} then {delivery}");
    let invoice = ferry_doubles::sap::erp::bill(doubles.sap.store(), &acme_sap).unwrap();
    let status = doubles.ferry(dir.path(), &["sync", "order_status", "--json"]);
    assert_eq!(written(&status), 1, "{status}");
    assert_eq!(count(&status, "failed"), 0, "{status}");
    let o = opportunity(&acme);
    assert_eq!(o["Delivery_Status__c"], json!("Delivered"));
    assert_eq!(o["Billing_Status__c"], json!("Completed"));
    assert_eq!(
        opportunity(&qinghe)["Delivery_Status__c"],
        json!("Not delivered")
    );

    // The delivery and the billing document onto the Opportunity of the order they name
    // (found by `SAP_Order__c`, which `order_status` wrote); documents from before the
    // go-live (the seed's SAP-own orders) are not read.
    // Both deliveries are read and written onto the one Opportunity, in SAP's order.
    let shipped = doubles.ferry(dir.path(), &["sync", "deliveries", "--json"]);
    assert_eq!(
        (written(&shipped), count(&shipped, "failed")),
        (2, 0),
        "{shipped}"
    );
    let billed = doubles.ferry(dir.path(), &["sync", "invoices", "--json"]);
    assert_eq!(
        (written(&billed), count(&billed, "failed")),
        (1, 0),
        "{billed}"
    );
    let sap_invoice = doubles
        .sap
        .store()
        .find_by_key("A_BillingDocument", &invoice)
        .unwrap()
        .unwrap()
        .fields;
    let o = opportunity(&acme);
    assert_eq!(o["SAP_Delivery__c"], json!(delivery), "{o:?}");
    let sap_delivery = doubles
        .sap
        .store()
        .find_by_key("A_OutbDeliveryHeader", &delivery)
        .unwrap()
        .unwrap()
        .fields;
    let goods_issue = sap_day(&sap_delivery["ActualGoodsMovementDate"]);
    assert_eq!(
        o["Shipped_At__c"],
        json!(format!("{goods_issue}T00:00:00.000+0000")),
        "{o:?}"
    );
    assert_eq!(o["SAP_Invoice__c"], json!(invoice), "{o:?}");
    assert_eq!(
        o["Invoice_Amount__c"].as_f64(),
        Some(decimal(&sap_invoice["TotalGrossAmount"])),
        "{o:?}"
    );
    assert_eq!(
        o["Invoice_Amount__c"],
        json!(4313.75),
        "net 3 625.00 + 19 % VAT"
    );
    let billing_day = sap_day(&sap_invoice["BillingDocumentDate"]);
    assert_eq!(o["Invoice_Date__c"], json!(billing_day), "{o:?}");
    let q = opportunity(&qinghe);
    let empty = |field: &str| q.get(field).is_none_or(Value::is_null);
    assert!(empty("SAP_Delivery__c") && empty("SAP_Invoice__c"), "{q:?}");

    // A second sync writes nothing, and the Opportunities written to make no echo: the
    // `orders` flow reads them again and leaves SAP alone.
    let before = doubles.sap("A_SalesOrder");
    for flow in ["order_status", "deliveries", "invoices", "orders"] {
        let again = doubles.ferry(dir.path(), &["sync", flow, "--json"]);
        assert_eq!(
            written(&again) + count(&again, "failed"),
            0,
            "{flow}: {again}"
        );
    }
    assert_eq!(doubles.sap("A_SalesOrder"), before);

    // Credit: each Account learns its SAP partner number, then its credit limit and exposure
    // (a created customer has a credit account with SAP's default limit; its orders are its
    // exposure). SAP's own customers, which no Account names, are refused by name.
    let partners = doubles.ferry(dir.path(), &["sync", "partners", "--json"]);
    assert_eq!(written(&partners), 7, "{partners}");
    assert_eq!(count(&partners, "failed"), 0, "{partners}");
    let credit = doubles.ferry(dir.path(), &["sync", "credit", "--json"]);
    assert_eq!(written(&credit), 7, "{credit}");
    assert_eq!(count(&credit, "failed"), 4, "SAP-only customers: {credit}");
    let account = |id: &str| -> Map<String, Value> {
        doubles
            .salesforce("Account")
            .into_iter()
            .find(|(n, _)| doubles.sf_id("Account", *n) == id)
            .map(|(_, a)| a)
            .unwrap()
    };
    let acme_partner = partner_of(&acme_account)["BusinessPartner"].clone();
    let a = account(&acme_account);
    assert_eq!(a["SAP_Partner__c"], acme_partner);
    assert_eq!(a["Credit_Limit__c"], json!(10000.0), "{a:?}");
    assert_eq!(a["Credit_Exposure__c"], json!(3625.0), "{a:?}");
    let again = doubles.ferry(dir.path(), &["sync", "credit", "--json"]);
    assert_eq!(written(&again), 0, "{again}");
    let again = doubles.ferry(dir.path(), &["sync", "accounts", "--json"]);
    assert_eq!(
        written(&again) + count(&again, "failed"),
        0,
        "no echo: {again}"
    );
}

/// `ferry sync` killed (SIGKILL) while SAP saves the orders' `$batch` requests, before Ferry
/// recorded what was saved: the rerun finds the saved orders by the Opportunity Id
/// (`PurchaseOrderByCustomer`) and creates only the rest. Every order once, none lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_batch_loses_and_doubles_no_sales_order() {
    // SAP takes 100 ms per order of a `$batch` (20 orders: 2 s) and, like Gateway, goes on
    // saving a `$batch` after its caller has died.
    let doubles = Doubles::start_with(SapConfig {
        change_set_time: std::time::Duration::from_millis(100),
        ..SapConfig::default()
    })
    .await;
    let dir = scratch();
    example(dir.path());
    // The example's settle time (30s by default) shortened to what the double needs to
    // save a `$batch` it was given: the rerun below starts right after the kill.
    let config = dir.path().join("ferry.yaml");
    let yaml = std::fs::read_to_string(&config).unwrap();
    let anchor = "      entity_set: A_SalesOrder                       # looked up by PurchaseOrderByCustomer\n";
    assert!(yaml.contains(anchor));
    std::fs::write(
        &config,
        yaml.replace(anchor, &format!("{anchor}      settle: 3s\n")),
    )
    .unwrap();
    let accounts = doubles.ferry(dir.path(), &["sync", "accounts", "--json"]);
    assert_eq!(count(&accounts, "failed"), 0, "{accounts}");

    // Sales closes 60 more opportunities, one TS-100 each.
    let (_, seeded) = doubles
        .salesforce("Opportunity")
        .into_iter()
        .find(|(_, o)| o["Name"] == json!("Acme Q3 Replenishment"))
        .unwrap();
    let (_, line) = doubles
        .salesforce("OpportunityLineItem")
        .into_iter()
        .next()
        .unwrap();
    for n in 0..60 {
        let mut opportunity = seeded.clone();
        opportunity.insert("Name".into(), json!(format!("Acme reorder {n}")));
        opportunity.insert("StageName".into(), json!("Closed Won"));
        opportunity.insert("ERP_Id__c".into(), json!(format!("OPP-R{n:03}")));
        let created = doubles
            .sf
            .store()
            .insert("Opportunity", opportunity)
            .unwrap();
        let mut item = line.clone();
        item.insert(
            "OpportunityId".into(),
            json!(doubles.sf_id("Opportunity", created.id)),
        );
        item.insert("Product2Id".into(), json!("01t5g0000000001AAA"));
        item.insert("Quantity".into(), json!(2.0));
        doubles
            .sf
            .store()
            .insert("OpportunityLineItem", item)
            .unwrap();
    }
    let won = doubles
        .salesforce("Opportunity")
        .into_iter()
        .filter(|(_, o)| o["StageName"] == json!("Closed Won"))
        .count();
    assert_eq!(won, 61);
    create_service_material(&doubles.sap);

    let mut child = doubles
        .command(dir.path(), &["sync", "orders"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ferry runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while doubles.crm_orders().is_empty() {
        assert!(std::time::Instant::now() < deadline, "nothing reached SAP");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL: SAP holds part of the orders, Ferry recorded none
    child.wait().unwrap();
    let saved_at_kill = doubles.crm_orders().len();
    assert!(
        saved_at_kill < won,
        "the kill came after everything was saved: {saved_at_kill}"
    );
    // SAP finishes the `$batch` it was given (as Gateway does: a change set is not undone
    // because the caller went away). The rerun starts at once: Ferry sees the last run did
    // not finish and waits the target's settle time before looking orders up, so it finds
    // the orders SAP was still saving instead of creating them again.
    let rerun = doubles.ferry(dir.path(), &["sync", "orders", "--json"]);
    assert_eq!(count(&rerun, "failed"), 0, "{rerun}");
    let orders = doubles.crm_orders();
    let mut numbers: Vec<&str> = orders
        .iter()
        .map(|o| o["PurchaseOrderByCustomer"].as_str().unwrap())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(
        orders.len(),
        won,
        "each order once ({saved_at_kill} saved when Ferry was killed)"
    );
    assert_eq!(numbers.len(), won);
    assert!(
        orders
            .iter()
            .all(|o| !o["to_Item"].as_array().unwrap().is_empty()),
        "every order with its items"
    );
}
