//! The Shopify ↔ NetSuite example (`examples/shopify-netsuite/`) end to end, against the two
//! wire-level doubles (`ferry_doubles::shopify`, `ferry_doubles::netsuite`, built from the
//! vendors' published documentation), with the `ferry` binary and the example's own
//! `ferry.yaml`:
//!
//! - the shop's customers reach NetSuite as individuals by external id (one without a last
//!   name is refused in NetSuite's words, and delivered by `ferry dlq replay` once the
//!   shop's staff complete it); its paid orders as
//!   sales orders whose customer and items are found by external id and SKU, each line
//!   at its price and net of its discount; a second sync writes nothing;
//! - an order for a SKU NetSuite does not hold is a dead letter naming the field and the
//!   SKU, and once the ERP team creates the item, `ferry dlq replay` delivers it;
//! - NetSuite's stock reaches the shop's location; NetSuite's fulfilment of an order
//!   fulfils it in the shop, once;
//! - `ferry sync` killed (SIGKILL) while NetSuite takes a hundred orders: the rerun loses
//!   and doubles nothing.

mod common;

use std::path::Path;

use common::*;
use ferry_doubles::RunningDouble;
use ferry_doubles::netsuite::{NetSuiteConfig, NetSuiteDouble};
use ferry_doubles::shopify::{ShopifyConfig, ShopifyDouble};
use serde_json::{Value, json};

struct Doubles {
    shop: RunningDouble,
    ns: RunningDouble,
}

impl Doubles {
    async fn start(ns: NetSuiteConfig) -> Self {
        let shop = ferry_doubles::start(ShopifyDouble::new(ShopifyConfig::default()), 0)
            .await
            .expect("the Shopify double starts");
        let ns = ferry_doubles::start(
            NetSuiteDouble::new(NetSuiteConfig {
                shop_catalogue: true,
                ..ns
            }),
            0,
        )
        .await
        .expect("the NetSuite double starts");
        Self { shop, ns }
    }

    /// `ferry args` in `dir` against the doubles.
    fn command(&self, dir: &Path, args: &[&str]) -> std::process::Command {
        let defaults = NetSuiteConfig::default();
        let mut cmd = ferry();
        cmd.current_dir(dir)
            .args(args)
            .env("SHOPIFY_URL", self.shop.base_url())
            .env("SHOPIFY_TOKEN", ferry_doubles::shopify::ACCESS_TOKEN)
            .env("NS_URL", self.ns.base_url())
            .env("NS_CONSUMER_SECRET", &defaults.consumer_secret)
            .env("NS_TOKEN_SECRET", &defaults.token_secret);
        cmd
    }

    fn ferry(&self, dir: &Path, args: &[&str]) -> Value {
        let out = self.command(dir, args).output().expect("ferry runs");
        json_output(args, &out)
    }

    /// The records of `object` (as JSON values, so a missing field reads as null).
    fn records(double: &RunningDouble, object: &str) -> Vec<(u64, Value)> {
        double
            .store()
            .list(object, None, None)
            .expect("an object of the double")
            .into_iter()
            .map(|r| (r.id, Value::Object(r.fields)))
            .collect()
    }

    /// NetSuite's sales orders made from shop orders (external id `SHOP-…`), by external id.
    fn shop_orders(&self) -> Vec<(String, Value)> {
        Self::records(&self.ns, "transaction")
            .into_iter()
            .filter(|(_, t)| t["type"] == json!("SalesOrd"))
            .filter_map(|(_, t)| {
                let eid = t["externalid"].as_str()?.to_owned();
                eid.starts_with("SHOP-").then_some((eid, t))
            })
            .collect()
    }

    fn shop_order(&self, name: &str) -> Value {
        Self::records(&self.shop, "Order")
            .into_iter()
            .map(|(_, o)| o)
            .find(|o| o["name"] == json!(name))
            .unwrap_or_else(|| panic!("the shop holds {name}"))
    }
}

fn example(dir: &Path) {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shopify-netsuite/ferry.yaml");
    std::fs::copy(&example, dir.join("ferry.yaml")).expect("the example's ferry.yaml");
}

fn count(report: &Value, what: &str) -> i64 {
    report[what]
        .as_i64()
        .unwrap_or_else(|| panic!("no `{what}` in {report}"))
}

fn written(report: &Value) -> i64 {
    count(report, "created") + count(report, "updated")
}

fn number(value: &Value) -> f64 {
    match value {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => s.parse().unwrap_or_else(|_| panic!("a number: {value}")),
        other => panic!("a number: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_orders_reach_netsuite_and_stock_and_fulfilments_come_back() {
    let doubles = Doubles::start(NetSuiteConfig::default()).await;
    let dir = scratch();
    example(dir.path());

    // A seventh customer signed up with a first name only; NetSuite needs a last name for
    // an individual and refuses her, in its own words.
    let zhao = doubles
        .shop
        .store()
        .insert(
            "Customer",
            json!({"email": "zhao.min@example.cn", "firstName": "敏", "lastName": null,
                   "phone": null, "state": "ENABLED", "tags": [], "numberOfOrders": "0",
                   "addresses": [], "metafields": []})
            .as_object()
            .cloned()
            .unwrap(),
        )
        .unwrap();

    // The shop's six other customers become NetSuite individuals, by external id.
    let customers = doubles.ferry(dir.path(), &["sync", "customers", "--json"]);
    assert_eq!(count(&customers, "created"), 6, "{customers}");
    assert_eq!(count(&customers, "failed"), 1, "{customers}");
    let letters = doubles.ferry(dir.path(), &["dlq", "list", "--json"]);
    let error = letters[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("Please enter value(s) for: Last Name"),
        "NetSuite's own message: {error}"
    );
    // The shop's staff complete her name; the replay reads her again and delivers her.
    doubles
        .shop
        .store()
        .update(
            "Customer",
            zhao.id,
            json!({"lastName": "赵"}).as_object().cloned().unwrap(),
        )
        .unwrap();
    let replay = doubles.ferry(dir.path(), &["dlq", "replay", "--all", "--json"]);
    assert_eq!(count(&replay[0], "created"), 1, "{replay}");
    assert_eq!(count(&replay[0], "failed"), 0, "{replay}");
    let in_ns = Doubles::records(&doubles.ns, "customer");
    let wang = in_ns
        .iter()
        .find(|(_, c)| c["email"] == json!("wang.wei@example.cn"))
        .map(|(_, c)| c.clone())
        .expect("王伟 is a NetSuite customer");
    assert_eq!(wang["externalid"], json!("SHOP-C1"));
    assert_eq!(wang["lastname"], json!("王"));

    // Four paid orders; #1004 names the large bamboo tray, which NetSuite does not hold.
    let orders = doubles.ferry(dir.path(), &["sync", "orders", "--json"]);
    assert_eq!(count(&orders, "created"), 3, "{orders}");
    assert_eq!(count(&orders, "failed"), 1, "{orders}");
    let letters = doubles.ferry(dir.path(), &["dlq", "list", "--json"]);
    let letters = letters.as_array().expect("a list");
    assert_eq!(letters.len(), 1, "{letters:?}");
    let error = letters[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("TRAY-BMB-L") && error.contains("item"),
        "the field and the SKU: {error}"
    );

    // #1002: two lines, the first discounted by 5.00; NetSuite holds each line's price and
    // its amount net of the discount, for the customer who placed it.
    let sales_orders = doubles.shop_orders();
    let (_, so) = sales_orders
        .iter()
        .find(|(eid, _)| eid == "SHOP-1002")
        .expect("#1002 in NetSuite");
    assert_eq!(so["otherrefnum"], json!("#1002"));
    let customer_of = |eid: &str| {
        in_ns
            .iter()
            .find(|(_, c)| c["externalid"] == json!(eid))
            .map(|(id, _)| id.to_string())
            .unwrap()
    };
    assert_eq!(
        so["entity"].to_string().trim_matches('"'),
        customer_of("SHOP-C2")
    );
    let lines = so["item"].as_array().expect("the item sublist");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(number(&lines[0]["quantity"]), 1.0);
    assert_eq!(number(&lines[0]["rate"]), 64.0);
    assert_eq!(
        number(&lines[0]["amount"]),
        59.0,
        "64.00 less the 5.00 discount"
    );
    assert_eq!(number(&lines[1]["amount"]), 90.0, "2 × 45.00");

    // A second round writes nothing.
    for flow in ["customers", "orders"] {
        let again = doubles.ferry(dir.path(), &["sync", flow, "--json"]);
        assert_eq!(written(&again), 0, "{flow}: {again}");
    }

    // The ERP team creates the large tray; the replay delivers #1004.
    ferry_doubles::netsuite::seed::add_item(
        doubles.ns.store(),
        "TRAY-BMB-L",
        "Bamboo Tea Tray, large",
        32.0,
        8,
    );
    let replay = doubles.ferry(dir.path(), &["dlq", "replay", "--all", "--json"]);
    assert_eq!(count(&replay[0], "created"), 1, "{replay}");
    assert_eq!(count(&replay[0], "failed"), 0, "{replay}");
    assert_eq!(doubles.shop_orders().len(), 4);

    // Stock at Main Warehouse reaches the shop's Los Angeles DC.
    let stock = doubles.ferry(dir.path(), &["sync", "stock", "--json"]);
    assert_eq!(count(&stock, "failed"), 0, "{stock}");
    let variants = Doubles::records(&doubles.shop, "Product")
        .into_iter()
        .flat_map(|(_, p)| p["variants"].as_array().cloned().unwrap_or_default())
        .collect::<Vec<_>>();
    let la = |sku: &str| -> Value {
        let v = variants
            .iter()
            .find(|v| v["sku"] == json!(sku))
            .unwrap_or_else(|| panic!("{sku} in the shop"));
        v["inventoryItem"]["inventoryLevels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["location"]["name"] == json!("Los Angeles DC"))
            .and_then(|l| {
                l["quantities"]
                    .as_array()?
                    .iter()
                    .find(|q| q["name"] == json!("available"))
                    .map(|q| q["quantity"].clone())
            })
            .unwrap_or(Value::Null)
    };
    assert_eq!(la("TEA-LJ-100"), json!(120));
    assert_eq!(la("TRAY-BMB-L"), json!(8));

    // The warehouse ships #1002; the shop's order is fulfilled, once.
    let so_id = Doubles::records(&doubles.ns, "transaction")
        .into_iter()
        .find(|(_, t)| t["externalid"] == json!("SHOP-1002"))
        .map(|(id, _)| id)
        .unwrap();
    ferry_doubles::netsuite::Erp::new(doubles.ns.store())
        .fulfil(so_id)
        .expect("NetSuite fulfils the order");
    let shipped = doubles.ferry(dir.path(), &["sync", "fulfilments", "--json"]);
    assert_eq!(count(&shipped, "failed"), 0, "{shipped}");
    let order = doubles.shop_order("#1002");
    assert_eq!(
        order["displayFulfillmentStatus"],
        json!("FULFILLED"),
        "{order:?}"
    );
    assert_eq!(order["fulfillments"].as_array().map(Vec::len), Some(1));
    let again = doubles.ferry(dir.path(), &["sync", "fulfilments", "--json"]);
    assert_eq!(written(&again), 0, "{again}");
    assert_eq!(
        doubles.shop_order("#1002")["fulfillments"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "fulfilled once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_while_netsuite_takes_orders_loses_and_doubles_none() {
    // NetSuite takes 40 ms per request, so the kill lands while orders are being written.
    let doubles = Doubles::start(NetSuiteConfig {
        hold: std::time::Duration::from_millis(40),
        ..NetSuiteConfig::default()
    })
    .await;
    let dir = scratch();
    example(dir.path());
    let customers = doubles.ferry(dir.path(), &["sync", "customers", "--json"]);
    assert_eq!(count(&customers, "failed"), 0, "{customers}");

    // A busy day: 100 more paid orders like #1002.
    let template = doubles.shop_order("#1002");
    let Value::Object(template) = template else {
        unreachable!()
    };
    for n in 0..100 {
        let mut order = template.clone();
        order.insert("name".into(), json!(format!("#{}", 2001 + n)));
        doubles.shop.store().insert("Order", order).unwrap();
    }
    let mut child = doubles
        .command(dir.path(), &["sync", "orders"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ferry runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while doubles.shop_orders().len() < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing reached NetSuite"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL mid-sync
    child.wait().unwrap();
    let at_kill = doubles.shop_orders().len();
    assert!(
        at_kill < 103,
        "the kill came after everything was written: {at_kill}"
    );

    let rerun = doubles.ferry(dir.path(), &["sync", "orders", "--json"]);
    assert_eq!(
        count(&rerun, "failed"),
        1,
        "only #1004 (TRAY-BMB-L): {rerun}"
    );
    let mut ids: Vec<String> = doubles
        .shop_orders()
        .into_iter()
        .map(|(eid, _)| eid)
        .collect();
    let all = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(
        all,
        ids.len(),
        "each order once ({at_kill} written at the kill)"
    );
    assert_eq!(all, 103, "#1001–#1003 and the 100 new ones");
    assert!(
        doubles
            .shop_orders()
            .iter()
            .all(|(_, so)| so["item"].as_array().is_some_and(|l| !l.is_empty())),
        "every order with its lines"
    );
}
