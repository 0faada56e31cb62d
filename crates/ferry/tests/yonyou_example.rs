//! The YonBIP example (`examples/yonyou/`) end to end against the Yonyou double
//! (`ferry_doubles::yonyou`, built from the vendor's published documentation), with the
//! `ferry` binary, the example's own `ferry.yaml` and its `crm.sql`:
//!
//! - the CRM's customers are created in YonBIP by code, in the organisation the target names;
//! - a second round writes nothing; a customer renamed in the CRM is updated in place;
//! - YonBIP's materials arrive in the CRM's products table, by code;
//! - the CRM's sales orders wait for their customers and reach YonBIP submitted and audited,
//!   each line's 含税 price, 无税 amount and 13 % tax as YonBIP keeps them, to the fen;
//! - an order YonBIP refuses (a material it does not have yet) is a dead letter carrying
//!   YonBIP's own Chinese message while the others are written; once the ERP team creates
//!   the material, `ferry dlq replay` delivers it; a second round writes nothing;
//! - `ferry sync` killed (SIGKILL) after YonBIP saved part of a batch of orders: the next
//!   run loses and doubles nothing, and audits every order;
//! - with `events: true`, YonBIP's event pushes reach `ferry run` at `/hooks/yonbip`, are
//!   verified and decrypted, answered with `success` sealed as the platform wants it, and
//!   the material they name reaches the CRM.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ferry_doubles::yonyou::{
    AUDITED, MERCHANT, PRODUCT, PushOutcome, VOUCHER_ORDER, YonyouConfig, YonyouDouble, events,
};
use ferry_doubles::{Fault, FaultAction, RunningDouble};
use serde_json::{Map, Value, json};
use sqlx::{Row, SqliteConnection};

/// The example in a scratch workspace (its `ferry.yaml`, `crm.db` made from its `crm.sql`),
/// pointed at a fresh Yonyou double.
struct Example {
    dir: tempfile::TempDir,
    /// Drives the double's event pushes.
    yonyou: YonyouDouble,
    double: RunningDouble,
    crm: SqliteConnection,
}

impl Example {
    async fn start() -> Self {
        let yonyou = YonyouDouble::new(YonyouConfig::default());
        let double = ferry_doubles::start(yonyou.clone(), 0)
            .await
            .expect("the Yonyou double starts");
        let dir = scratch();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/yonyou");
        std::fs::copy(example.join("ferry.yaml"), dir.path().join("ferry.yaml")).unwrap();
        let mut crm = sqlite(&dir.path().join("crm.db")).await;
        let script = std::fs::read_to_string(example.join("crm.sql")).unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(script))
            .execute(&mut crm)
            .await
            .unwrap();
        Self {
            dir,
            yonyou,
            double,
            crm,
        }
    }

    /// `ferry` in the workspace, with the connection details the README exports.
    fn command(&self) -> Command {
        let mut cmd = ferry();
        cmd.current_dir(self.dir.path())
            .env("CRM_DB", "sqlite://crm.db")
            .env("YY_URL", format!("{}/", self.double.base_url()))
            .env("YY_TENANT_ID", "ferry-tenant")
            .env("YY_APP_KEY", "yy-app-key")
            .env("YY_APP_SECRET", "yy-app-s3cret");
        cmd
    }

    /// Runs `ferry args` (which must succeed) and parses what it prints as JSON.
    fn ferry(&self, args: &[&str]) -> Value {
        let out = self.command().args(args).output().expect("ferry runs");
        json_output(args, &out)
    }

    /// `ferry sync <flow> --json`: the run's report.
    fn sync(&self, flow: &str) -> Value {
        self.ferry(&["sync", flow, "--json"])
    }

    /// The open dead letters.
    fn dead_letters(&self) -> Vec<Value> {
        let list = self.ferry(&["dlq", "list", "--json"]);
        list.as_array().expect("a list of dead letters").clone()
    }

    /// Every record of a YonBIP object, as the double holds it.
    fn yonbip(&self, object: &str) -> Vec<Map<String, Value>> {
        self.double
            .store()
            .list(object, None, None)
            .expect("an object of the double")
            .into_iter()
            .map(|r| r.fields)
            .collect()
    }

    /// The records of a YonBIP object with this code: one, unless something was doubled.
    fn with_code(&self, object: &str, code: &str) -> Vec<Map<String, Value>> {
        let mut found = self.yonbip(object);
        found.retain(|f| f.get("code") == Some(&json!(code)));
        found
    }

    /// The one record of a YonBIP object with this code.
    fn stored(&self, object: &str, code: &str) -> Map<String, Value> {
        let mut found = self.with_code(object, code);
        assert_eq!(found.len(), 1, "one {object} {code} in YonBIP: {found:?}");
        found.remove(0)
    }
}

/// A count in a run report.
fn count(report: &Value, what: &str) -> i64 {
    report[what]
        .as_i64()
        .unwrap_or_else(|| panic!("no `{what}` in {report}"))
}

/// An amount as YonBIP holds it (a number, or the text Ferry sent), to the fen.
fn fen(amount: &Value) -> String {
    let n = amount
        .as_f64()
        .or_else(|| amount.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("not an amount: {amount}"));
    format!("{n:.2}")
}

/// What the ERP team does in YonBIP: creates material `code` (in the shape of M0005).
fn create_material(double: &RunningDouble, code: &str, name: &str) {
    let store = double.store();
    let mut material = store
        .find_by_key(PRODUCT, "M0005")
        .unwrap()
        .expect("the double seeds M0005")
        .fields;
    material.insert("code".into(), json!(code));
    material.insert("name".into(), json!({ "simplifiedName": name }));
    store.insert(PRODUCT, material).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_customers_reach_yonbip_and_yonbip_materials_reach_the_crm() {
    let mut ex = Example::start().await;

    let first = ex.sync("customers");
    assert_eq!(count(&first, "created"), 3, "{first}");
    let c2 = ex.stored(MERCHANT, "CRM-0002");
    assert_eq!(c2["name"]["simplifiedName"], json!("宁波港口物流有限公司"));
    let again = ex.sync("customers");
    assert_eq!(
        count(&again, "created") + count(&again, "updated"),
        0,
        "{again}"
    );

    sqlx::query("UPDATE customers SET name = '宁波港口物流（集团）有限公司', updated_at = '2026-01-06 10:00:00' WHERE customer_no = 'CRM-0002'")
        .execute(&mut ex.crm)
        .await
        .unwrap();
    let renamed = ex.sync("customers");
    assert_eq!(count(&renamed, "updated"), 1, "{renamed}");
    let c2 = ex.stored(MERCHANT, "CRM-0002"); // updated in place: still one
    assert_eq!(
        c2["name"]["simplifiedName"],
        json!("宁波港口物流（集团）有限公司")
    );

    let materials = ex.sync("materials");
    let in_yonbip = ex.yonbip(PRODUCT).len();
    assert_eq!(
        count(&materials, "created") as usize,
        in_yonbip,
        "{materials}"
    );
    let rows = sqlx::query("SELECT sku, name FROM products ORDER BY sku")
        .fetch_all(&mut ex.crm)
        .await
        .unwrap();
    assert_eq!(rows.len(), in_yonbip);
    let m1 = ex.stored(PRODUCT, "M0001");
    assert_eq!(rows[0].get::<String, _>("sku"), "M0001");
    assert_eq!(
        json!(rows[0].get::<String, _>("name")),
        m1["name"]["simplifiedName"]
    );
}

/// A line as YonBIP must hold it: material, quantity, 含税单价, 含税金额, 无税金额, 税额.
type Line = (
    &'static str,
    f64,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

/// An order of `crm.sql` as YonBIP must hold it: its CRM values, and each line's 含税 price
/// split at 13 % per line, to the fen.
struct Order {
    code: &'static str,
    customer: &'static str,
    total: &'static str,
    lines: &'static [Line],
}

const XS1: Order = Order {
    code: "XS20260106001",
    customer: "CRM-0001",
    total: "2034.00",
    lines: &[
        ("M0001", 1200.0, "1.05", "1260.00", "1115.04", "144.96"),
        ("M0005", 36.0, "21.50", "774.00", "684.96", "89.04"),
    ],
};

const XS2: Order = Order {
    code: "XS20260107002",
    customer: "CRM-0002",
    total: "1150.00",
    lines: &[
        ("M0002", 25.0, "32.80", "820.00", "725.66", "94.34"),
        ("M0001", 300.0, "1.10", "330.00", "292.04", "37.96"),
    ],
};

/// Sells M0006, which YonBIP does not have until the test creates it.
const XS3: Order = Order {
    code: "XS20260108003",
    customer: "CRM-0003",
    total: "725.00",
    lines: &[
        ("M0001", 500.0, "1.10", "550.00", "486.73", "63.27"),
        ("M0006", 500.0, "0.35", "175.00", "154.87", "20.13"),
    ],
};

/// Checks that YonBIP holds `want` once, audited, and returns it.
fn assert_order(ex: &Example, want: &Order) -> Map<String, Value> {
    let order = ex.stored(VOUCHER_ORDER, want.code);
    let code = want.code;
    assert_eq!(order["verifystate"], json!(AUDITED), "{code}: audited");
    assert_eq!(order["agentId_code"], json!(want.customer), "{code}");
    assert_eq!(order["invoiceAgentId_code"], json!(want.customer), "{code}");
    assert_eq!(
        fen(&order["payMoney"]),
        want.total,
        "{code}: the CRM's 价税合计"
    );
    let lines = order["orderDetails"].as_array().expect("order lines");
    assert_eq!(lines.len(), want.lines.len(), "{code}: {lines:?}");
    for (line, (material, qty, price, gross, net, tax)) in lines.iter().zip(want.lines) {
        let at = format!("{code} {material}");
        assert_eq!(line["productId_code"], json!(material), "{at}");
        assert_eq!(line["qty"].as_f64(), Some(*qty), "{at}");
        assert_eq!(line["priceQty"].as_f64(), Some(*qty), "{at}");
        assert_eq!(line["taxId_code"], json!("VAT13"), "{at}");
        assert_eq!(fen(&line["oriTaxUnitPrice"]), *price, "{at} 含税单价");
        assert_eq!(fen(&line["oriSum"]), *gross, "{at} 含税金额");
        let prices = &line["orderDetailPrices"];
        assert_eq!(fen(&prices["oriMoney"]), *net, "{at} 无税金额");
        assert_eq!(fen(&prices["oriTax"]), *tax, "{at} 税额");
    }
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_orders_reach_yonbip_audited_to_the_fen_and_a_refusal_is_replayed() {
    let ex = Example::start().await;

    // The orders first: the run syncs the customers they wait for, then writes them. YonBIP
    // has no material M0006 yet, so XS3 is refused and the others are written.
    let orders = ex.sync("sales_orders");
    assert_eq!(count(&orders, "created"), 2, "{orders}");
    assert_eq!(count(&orders, "failed"), 1, "{orders}");
    for customer in ["CRM-0001", "CRM-0002", "CRM-0003"] {
        ex.stored(MERCHANT, customer);
    }
    let xs1 = assert_order(&ex, &XS1);
    assert_eq!(xs1["agentId_name"], json!("苏州园林科技有限公司"));
    assert_eq!(xs1["salesOrgId_code"], json!("101"));
    assert_eq!(xs1["vouchdate"], json!("2026-01-06 00:00:00"));
    assert_eq!(xs1["receiveAddress"], json!("江苏省苏州市姑苏区人民路88号"));
    assert_eq!(xs1["orderPrices"]["currency_code"], json!("CNY"));
    assert_order(&ex, &XS2);

    // The refusal is a dead letter in YonBIP's own words; nothing of it reached YonBIP.
    let letters = ex.dead_letters();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["key"], json!(XS3.code));
    let error = letters[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("物料:M0006未找到"),
        "YonBIP's message: {error}"
    );
    assert!(ex.with_code(VOUCHER_ORDER, XS3.code).is_empty());

    // The ERP team creates the material; the replay delivers the order, audited.
    create_material(&ex.double, "M0006", "不锈钢平垫圈 M8");
    let replayed = ex.ferry(&["dlq", "replay", "--all", "--json"]);
    let created: i64 = replayed
        .as_array()
        .expect("a report per flow")
        .iter()
        .map(|r| count(r, "created"))
        .sum();
    assert_eq!(created, 1, "{replayed}");
    assert!(ex.dead_letters().is_empty());
    assert_order(&ex, &XS3);

    // A second round writes nothing to YonBIP.
    let before = ex.yonbip(VOUCHER_ORDER);
    for flow in ["customers", "sales_orders"] {
        let again = ex.sync(flow);
        assert_eq!(
            count(&again, "created") + count(&again, "updated") + count(&again, "failed"),
            0,
            "{flow}: {again}"
        );
    }
    assert_eq!(ex.yonbip(VOUCHER_ORDER), before);
}

/// Orders added to the CRM for the kill test: `XS20260201000`…, two lines each.
const MANY: usize = 60;

/// Adds `MANY` orders to the CRM, spread over its three customers.
async fn add_orders(crm: &mut SqliteConnection) {
    for n in 0..MANY {
        let bolts = n + 1; // 不锈钢螺栓 at 1.05, then 2 深沟球轴承 at 21.50
        let cents = bolts * 105 + 2 * 2150;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO sales_orders (order_no, customer_no, order_date, ship_to, total_amount, updated_at) \
             VALUES (?, ?, '2026-02-01', '上海市浦东新区张江路100号', ?, '2026-02-01 09:00:00') RETURNING id",
        )
        .bind(format!("XS20260201{n:03}"))
        .bind(format!("CRM-000{}", n % 3 + 1))
        .bind(format!("{}.{:02}", cents / 100, cents % 100))
        .fetch_one(&mut *crm)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO sales_order_lines (order_id, line_no, material_code, quantity, price) \
             VALUES (?, 1, 'M0001', ?, 1.05), (?, 2, 'M0005', 2, 21.50)",
        )
        .bind(id)
        .bind(bolts as i64)
        .bind(id)
        .execute(&mut *crm)
        .await
        .unwrap();
    }
}

/// Every order of the CRM: its number, its 价税合计 to the fen and how many lines it has.
async fn crm_orders(crm: &mut SqliteConnection) -> Vec<(String, String, i64)> {
    sqlx::query_as(
        "SELECT o.order_no, printf('%.2f', o.total_amount), COUNT(l.id) FROM sales_orders o \
         JOIN sales_order_lines l ON l.order_id = o.id GROUP BY o.id",
    )
    .fetch_all(crm)
    .await
    .unwrap()
}

/// The CRM's orders in YonBIP (numbered `XS…`; the double's own seed is `UO-…`).
fn crm_orders_in_yonbip(ex: &Example) -> Vec<Map<String, Value>> {
    let mut orders = ex.yonbip(VOUCHER_ORDER);
    orders.retain(|o| o["code"].as_str().is_some_and(|c| c.starts_with("XS")));
    orders
}

/// Starts `ferry sync sales_orders` with every save slowed down, and kills it (SIGKILL) once
/// YonBIP holds `saved` of the CRM's orders: YonBIP holds part of the batch, Ferry has
/// recorded none of it. Returns how many YonBIP holds after the kill.
async fn kill_mid_batch(ex: &Example, saved: usize) -> usize {
    ex.double.faults().add(
        Fault::new(FaultAction::latency(Duration::from_millis(100))).on(
            "POST",
            "/iuap-api-gateway/yonbip/sd/voucherorder/singleSave",
        ),
    );
    let mut child = ex
        .command()
        .args(["sync", "sales_orders"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ferry runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while crm_orders_in_yonbip(ex).len() < saved {
        assert!(Instant::now() < deadline, "the orders did not reach YonBIP");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    ex.double.faults().clear();
    crm_orders_in_yonbip(ex).len()
}

/// Checks that YonBIP holds each of `want` (number, total, lines) once, audited, with its
/// lines once, and no other order of the CRM's or under another code.
fn assert_each_order_once(ex: &Example, want: &[(String, String, i64)]) {
    for (code, total, lines) in want {
        let order = ex.stored(VOUCHER_ORDER, code);
        assert_eq!(order["verifystate"], json!(AUDITED), "{code} audited");
        assert_eq!(&fen(&order["payMoney"]), total, "{code}");
        let held = order["orderDetails"].as_array().map_or(0, Vec::len);
        assert_eq!(held as i64, *lines, "{code}: its lines once");
    }
    let seeded = YonyouConfig::default().seed.sales_orders;
    assert_eq!(
        ex.yonbip(VOUCHER_ORDER).len(),
        seeded + want.len(),
        "no order beyond the double's seed and the CRM's"
    );
}

/// `ferry sync` killed (SIGKILL) after YonBIP saved part of a batch of orders and before
/// Ferry recorded any of it: the next run finds the saved orders by code and leaves them as
/// they are, saves the rest, and submits and audits every one. Nothing is lost or doubled.
/// Then the same after YonBIP audited the whole batch (Ferry's records removed): nothing is
/// saved again.
///
/// A double would not show up as a second order with the same code (YonBIP, and the double,
/// refuse a code twice): it would be a refused save. So the run after the kill must fail
/// nothing and leave no dead letter, each CRM order must be in YonBIP once with its own
/// lines and total, and YonBIP must hold no order beyond those (none under another code).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_batch_loses_and_doubles_no_order_in_yonbip() {
    let mut ex = Example::start().await;
    create_material(&ex.double, "M0006", "不锈钢平垫圈 M8"); // every order can be written
    let customers = ex.sync("customers");
    assert_eq!(count(&customers, "failed"), 0, "{customers}");
    add_orders(&mut ex.crm).await;
    let want = crm_orders(&mut ex.crm).await;
    assert_eq!(want.len(), MANY + 3);

    let saved_before = kill_mid_batch(&ex, 5).await;
    assert!(
        saved_before < want.len(),
        "the kill came after everything was saved: {saved_before}"
    );
    let rerun = ex.sync("sales_orders");
    assert_eq!(count(&rerun, "failed"), 0, "{rerun}");
    assert!(ex.dead_letters().is_empty());
    assert_each_order_once(&ex, &want);

    // Killed after YonBIP audited the batch and before Ferry committed it: as if Ferry had
    // recorded nothing (its store, `.ferry/`, removed). Every order is found as it would be
    // written; none is saved again.
    let audited = ex.yonbip(VOUCHER_ORDER);
    std::fs::remove_dir_all(ex.dir.path().join(".ferry")).expect("the workspace's store");
    ex.double.requests().clear();
    let forgotten = ex.sync("sales_orders");
    assert_eq!(count(&forgotten, "failed"), 0, "{forgotten}");
    let saves = ex
        .double
        .requests()
        .matching("POST", "**/voucherorder/singleSave");
    assert!(saves.is_empty(), "saved again: {}", saves.len());
    assert_eq!(ex.yonbip(VOUCHER_ORDER), audited);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yonbip_event_push_is_verified_answered_as_documented_and_synced() {
    let mut ex = Example::start().await;
    let materials = ex.sync("materials");
    assert_eq!(count(&materials, "failed"), 0, "{materials}");
    // The example taking event pushes (事件订阅) at /hooks/yonbip, served by `ferry run`.
    let path = ex.dir.path().join("ferry.yaml");
    let config = std::fs::read_to_string(&path).unwrap();
    let secret_line = "    app_secret: ${YY_APP_SECRET}\n";
    assert!(config.contains(secret_line), "the example's yonbip system");
    let port = free_port();
    let config = config.replace(secret_line, &format!("{secret_line}    events: true\n"));
    std::fs::write(
        &path,
        format!("{config}\nserver:\n  listen: 127.0.0.1:{port}\n"),
    )
    .unwrap();
    let _run = Running(
        ex.command()
            .env_remove("FERRY_LISTEN")
            .arg("run")
            .stdout(Stdio::null())
            .spawn()
            .expect("ferry run starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;
    ex.yonyou
        .set_push_url(Some(&format!("{base}/hooks/yonbip")));

    // Saving the subscription sends CHECK_URL: answered as the platform wants it.
    let check = ex.yonyou.check_url().await.expect("a push URL is set");
    assert_eq!(check.outcome, PushOutcome::EncryptedSuccess, "{check:?}");

    // The ERP team renames M0005; YonBIP pushes the update, Ferry reads the material.
    let store = ex.double.store();
    let m5 = store.find_by_key(PRODUCT, "M0005").unwrap().unwrap();
    let renamed = json!({"name": {"simplifiedName": "不锈钢六角螺母 M8（新包装）"}});
    store
        .update(PRODUCT, m5.id, renamed.as_object().cloned().unwrap())
        .unwrap();
    let delivery = ex
        .yonyou
        .push_record_event(store, events::PRODUCT_UPDATE, PRODUCT, "M0005")
        .await
        .expect("a push URL is set");
    assert_eq!(
        delivery.outcome,
        PushOutcome::EncryptedSuccess,
        "verified, decrypted, queued and acknowledged: {delivery:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let name: Option<String> =
            sqlx::query_scalar("SELECT name FROM products WHERE sku = 'M0005'")
                .fetch_optional(&mut ex.crm)
                .await
                .unwrap();
        if name.as_deref() == Some("不锈钢六角螺母 M8（新包装）") {
            break;
        }
        assert!(Instant::now() < deadline, "M0005 still {name:?} in the CRM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
