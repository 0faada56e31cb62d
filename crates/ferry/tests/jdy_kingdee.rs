//! The Jiandaoyun ↔ Kingdee example (`examples/jdy-kingdee/`) end to end, against the two
//! wire-level doubles (`ferry_doubles::jiandaoyun`, `ferry_doubles::kingdee`, built from the
//! vendors' published documentation), with the `ferry` binary and the example's own
//! `ferry.yaml`:
//!
//! - the CRM's customers reach Kingdee, submitted and audited, with their credit limits;
//! - its finished orders reach Kingdee as audited sales orders pushed to an outbound delivery,
//!   each line's 含税 price and 13 % VAT as Kingdee keeps them, the order's total to the fen;
//! - an order Kingdee refuses (a material the ERP does not have yet) is a dead letter carrying
//!   Kingdee's own Chinese message, while the other orders are written; once the ERP team
//!   adds the material, `ferry dlq replay` delivers it;
//! - a second round writes nothing;
//! - a customer changed in Jiandaoyun arrives through the platform's signed data push at
//!   `ferry run`'s `/hooks/jdy`, and reaches Kingdee before any poll;
//! - `ferry sync` killed after Kingdee saved part of a batch: the next run loses and doubles
//!   nothing, and audits every customer;
//! - and back: Kingdee's materials, their price-list prices and their stock summed over the
//!   warehouses fill the CRM's 产品 form; outbound deliveries and receivables land on the
//!   CRM's own order, never on a new one, and writing them makes no echo towards Kingdee.

mod common;

use std::path::Path;

use common::*;
use ferry_doubles::RunningDouble;
use ferry_doubles::jiandaoyun::{
    JiandaoyunConfig, JiandaoyunDouble, ORDER_FORM, PRODUCT_FORM, PushOutcome, order, product,
};
use ferry_doubles::kingdee::{KingdeeConfig, KingdeeDouble};
use serde_json::{Map, Value, json};

struct Doubles {
    jdy: RunningDouble,
    kd: RunningDouble,
}

impl Doubles {
    /// Runs `ferry` in `dir` against the doubles, returning stdout parsed as JSON.
    fn ferry(&self, dir: &Path, args: &[&str]) -> Value {
        let out = ferry()
            .current_dir(dir)
            .args(args)
            .env("JDY_URL", format!("{}/api", self.jdy.base_url()))
            .env("JDY_API_KEY", ferry_doubles::jiandaoyun::API_KEY)
            .env("KD_URL", format!("{}/k3cloud/", self.kd.base_url()))
            .env("KD_ACCT_ID", "ferry-test-acct")
            .env("KD_PASSWORD", "kd-Pa55word")
            .output()
            .expect("ferry runs");
        assert!(
            out.status.success(),
            "ferry {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "ferry {args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The records of a Jiandaoyun form.
    fn jiandaoyun(&self, form: &str) -> Vec<Map<String, Value>> {
        records(&self.jdy, form)
    }

    /// The records of a Kingdee form.
    fn kingdee(&self, form: &str) -> Vec<Map<String, Value>> {
        records(&self.kd, form)
    }
}

/// The records a double holds for one of its forms.
fn records(double: &RunningDouble, form: &str) -> Vec<Map<String, Value>> {
    double
        .store()
        .list(form, None, None)
        .expect("a form of the double")
        .into_iter()
        .map(|r| r.fields)
        .collect()
}

/// Records a run wrote: the engine counts a flow's first write of a record as `created`,
/// whether the sink made it or (`create: false`) wrote onto one the target held.
fn written(report: &Value) -> i64 {
    count(report, "created") + count(report, "updated")
}

fn count(report: &Value, what: &str) -> i64 {
    report[what]
        .as_i64()
        .unwrap_or_else(|| panic!("no `{what}` in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jiandaoyun_customers_and_orders_reach_kingdee_audited_and_a_refusal_is_replayed() {
    let jdy = ferry_doubles::start(JiandaoyunDouble::new(JiandaoyunConfig::default()), 0)
        .await
        .expect("the Jiandaoyun double starts");
    let kd = ferry_doubles::start(KingdeeDouble::new(KingdeeConfig::default()), 0)
        .await
        .expect("the Kingdee double starts");
    let doubles = Doubles { jdy, kd };
    let dir = scratch();
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jdy-kingdee/ferry.yaml");
    std::fs::copy(&example, dir.path().join("ferry.yaml")).expect("the example's ferry.yaml");

    // The ERP has not created 液压油 (MAT0004) yet.
    let hydraulic_oil = doubles
        .kd
        .store()
        .list("BD_MATERIAL", None, None)
        .unwrap()
        .into_iter()
        .find(|r| r.fields["FNumber"] == json!("MAT0004"))
        .expect("the double seeds MAT0004");
    doubles
        .kd
        .store()
        .delete("BD_MATERIAL", hydraulic_oil.id)
        .unwrap();

    let customers = doubles.ferry(dir.path(), &["sync", "customers", "--json"]);
    assert_eq!(count(&customers, "created"), 7, "{customers}");
    let in_kingdee: Vec<_> = doubles
        .kingdee("BD_Customer")
        .into_iter()
        .filter(|c| c["FNumber"].as_str().is_some_and(|n| n.starts_with("KH")))
        .collect();
    assert_eq!(in_kingdee.len(), 7);
    assert!(
        in_kingdee
            .iter()
            .all(|c| c["FDocumentStatus"] == json!("C")),
        "audited"
    );
    let kh2 = in_kingdee
        .iter()
        .find(|c| c["FNumber"] == json!("KH0002"))
        .unwrap();
    assert_eq!(kh2["FCreditAmount"], json!(100000.0));
    assert_eq!(kh2["FUseOrgId"], json!({"FNumber": "100"}));

    // Finished orders (流程已完成) only; the ones with 液压油 are refused by Kingdee.
    let jdy_orders: Vec<Map<String, Value>> = doubles
        .jdy
        .store()
        .list(ORDER_FORM, None, None)
        .unwrap()
        .into_iter()
        .map(|r| r.fields)
        .filter(|o| o["flowState"] == json!(1))
        .collect();
    let needs_oil = |o: &Map<String, Value>| {
        o[order::LINES]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l[order::line::PRODUCT] == json!("液压油 46#"))
    };
    let refused: Vec<&str> = jdy_orders
        .iter()
        .filter(|o| needs_oil(o))
        .map(|o| o[order::ORDER_NO].as_str().unwrap())
        .collect();
    assert!(
        !refused.is_empty() && refused.len() < jdy_orders.len(),
        "the seed has both kinds: {refused:?}"
    );
    let orders = doubles.ferry(dir.path(), &["sync", "orders", "--json"]);
    assert_eq!(
        count(&orders, "created") as usize,
        jdy_orders.len() - refused.len(),
        "{orders}"
    );
    assert_eq!(count(&orders, "failed") as usize, refused.len(), "{orders}");
    let letters = doubles.ferry(dir.path(), &["dlq", "list", "--json"]);
    let letters = letters.as_array().expect("a list");
    assert_eq!(letters.len(), refused.len(), "{letters:?}");
    let error = letters[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("MAT0004") && error.contains("不存在"),
        "Kingdee's own message: {error}"
    );

    // Written orders: audited, pushed, lines as Kingdee keeps them, the JDY total to the fen.
    for jdy_order in jdy_orders.iter().filter(|o| !needs_oil(o)) {
        let number = &jdy_order[order::ORDER_NO];
        let so = doubles
            .kingdee("SAL_SaleOrder")
            .into_iter()
            .find(|s| &s["FBillNo"] == number)
            .unwrap_or_else(|| panic!("{number} is in Kingdee"));
        assert_eq!(so["FDocumentStatus"], json!("C"), "{number} audited");
        assert_eq!(
            so["FCustId"],
            json!({"FNumber": jdy_order[order::CUSTOMER_NO]})
        );
        let lines = so["FSaleOrderEntry"].as_array().unwrap();
        assert_eq!(
            lines.len(),
            jdy_order[order::LINES].as_array().unwrap().len()
        );
        assert!(lines.iter().all(|l| l["FEntryTaxRate"] == json!(13.0)));
        let total = jdy_order[order::TOTAL].as_f64().unwrap();
        let kingdee_total = so["FBillAllAmount"].as_f64().unwrap();
        assert!(
            (total - kingdee_total).abs() < 0.005,
            "{number}: JDY {total}, Kingdee {kingdee_total}"
        );
    }
    assert_eq!(
        doubles.kingdee("SAL_OUTSTOCK").len(),
        jdy_orders.len() - refused.len(),
        "one delivery each"
    );

    // The ERP team creates the material; the dead letters are replayed and delivered.
    doubles
        .kd
        .store()
        .insert("BD_MATERIAL", hydraulic_oil.fields.clone())
        .unwrap();
    let replayed = doubles.ferry(dir.path(), &["dlq", "replay", "--all", "--json"]);
    let created: i64 = replayed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| count(r, "created"))
        .sum();
    assert_eq!(created as usize, refused.len(), "{replayed}");
    let open = doubles.ferry(dir.path(), &["dlq", "list", "--json"]);
    assert_eq!(open.as_array().unwrap().len(), 0, "{open}");
    for number in &refused {
        let so = doubles
            .kingdee("SAL_SaleOrder")
            .into_iter()
            .find(|s| s["FBillNo"] == json!(number))
            .unwrap();
        assert_eq!(so["FDocumentStatus"], json!("C"));
    }

    // A second round writes nothing on the ERP.
    let before = doubles.kingdee("SAL_SaleOrder");
    for flow in ["customers", "orders"] {
        let again = doubles.ferry(dir.path(), &["sync", flow, "--json"]);
        assert_eq!(
            count(&again, "created") + count(&again, "updated"),
            0,
            "{flow}: {again}"
        );
    }
    assert_eq!(doubles.kingdee("SAL_SaleOrder"), before);
}

/// The JDY order with this number.
fn jdy_order(doubles: &Doubles, number: &str) -> Map<String, Value> {
    doubles
        .jiandaoyun(ORDER_FORM)
        .into_iter()
        .find(|o| o[order::ORDER_NO] == json!(number))
        .unwrap_or_else(|| panic!("{number} in Jiandaoyun"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kingdee_materials_prices_stock_deliveries_and_receivables_come_back_to_jiandaoyun() {
    let jdy = ferry_doubles::start(JiandaoyunDouble::new(JiandaoyunConfig::default()), 0)
        .await
        .expect("the Jiandaoyun double starts");
    let kingdee = KingdeeDouble::new(KingdeeConfig::default());
    let kd = ferry_doubles::start(kingdee.clone(), 0)
        .await
        .expect("the Kingdee double starts");
    let doubles = Doubles { jdy, kd };
    // What the ERP team does in the Kingdee client (审核, 下推).
    let client = |operation: &str, form: &str, data: Value| {
        let reply = kingdee.client(doubles.kd.harness(), operation, form, data);
        assert_eq!(
            reply["Result"]["ResponseStatus"]["IsSuccess"],
            json!(true),
            "{operation} {form}: {reply}"
        );
        reply
    };
    let dir = scratch();
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jdy-kingdee/ferry.yaml");
    std::fs::copy(&example, dir.path().join("ferry.yaml")).expect("the example's ferry.yaml");
    for flow in ["customers", "orders"] {
        let report = doubles.ferry(dir.path(), &["sync", flow, "--json"]);
        assert_eq!(count(&report, "failed"), 0, "{flow}: {report}");
    }

    // Materials, then their prices and stock, into the 产品 form.
    let materials = doubles.ferry(dir.path(), &["sync", "materials", "--json"]);
    assert_eq!(count(&materials, "created"), 5, "{materials}");
    for flow in ["prices", "stock"] {
        let report = doubles.ferry(dir.path(), &["sync", flow, "--json"]);
        assert_eq!(written(&report), 5, "{flow}: {report}");
    }
    let products = doubles.jiandaoyun(PRODUCT_FORM);
    assert_eq!(
        products.len(),
        5,
        "prices and stock made no 产品 of their own"
    );
    let product_of = |code: &str| {
        products
            .iter()
            .find(|p| p[product::CODE] == json!(code))
            .unwrap_or_else(|| panic!("{code} in 产品"))
    };
    let bolts = product_of("MAT0001");
    assert_eq!(bolts[product::NAME], json!("不锈钢螺栓 M8"));
    assert_eq!(bolts[product::SPEC], json!("M8×30"));
    assert_eq!(bolts[product::UNIT], json!("Pcs"));
    assert_eq!(bolts[product::PRICE], json!(12.5));
    assert_eq!(
        bolts[product::STOCK],
        json!(110.5),
        "CK001 100 + CK002 10.5"
    );
    assert_eq!(product_of("MAT0003")[product::STOCK], json!(300.0));

    // Stock moves in the ERP: the next scan carries today's figure.
    let row = doubles
        .kd
        .store()
        .list("STK_Inventory", None, None)
        .unwrap()
        .into_iter()
        .find(|r| r.fields["FMaterialId"] == json!({"FNumber": "MAT0003"}))
        .unwrap();
    doubles
        .kd
        .store()
        .update(
            "STK_Inventory",
            row.id,
            json!({"FBaseQty": 260.0, "FQty": 260.0})
                .as_object()
                .cloned()
                .unwrap(),
        )
        .unwrap();
    let stock = doubles.ferry(dir.path(), &["sync", "stock", "--json"]);
    assert_eq!(written(&stock), 1, "only MAT0003 moved: {stock}");
    let cable = doubles
        .jiandaoyun(PRODUCT_FORM)
        .into_iter()
        .find(|p| p[product::CODE] == json!("MAT0003"))
        .unwrap();
    assert_eq!(cable[product::STOCK], json!(260.0));

    // Every written order was pushed to a 销售出库单: each lands on its own JDY order.
    let outstock = doubles.kingdee("SAL_OUTSTOCK");
    assert!(!outstock.is_empty());
    let deliveries = doubles.ferry(dir.path(), &["sync", "deliveries", "--json"]);
    assert_eq!(
        written(&deliveries) as usize,
        outstock.len(),
        "{deliveries}"
    );
    let first = &outstock[0];
    let delivery_no = first["FBillNo"].as_str().unwrap().to_owned();
    let order_no = first["FEntity"][0]["FSoorDerno"]
        .as_str()
        .unwrap()
        .to_owned();
    let on_order = jdy_order(&doubles, &order_no);
    assert_eq!(on_order[order::DELIVERY_NO], json!(delivery_no));
    assert_eq!(on_order[order::DELIVERY_STATUS], json!("出库处理中"));
    assert!(
        on_order[order::DELIVERED_AT]
            .as_str()
            .is_some_and(|t| t.ends_with("T16:00:00.000Z")),
        "Kingdee's local midnight in Shanghai, in UTC: {on_order:?}"
    );

    // The warehouse audits it (已出库) and finance pushes it on to a receivable (应收单).
    let numbers = json!({"Numbers": [delivery_no]});
    client("Submit", "SAL_OUTSTOCK", numbers.clone());
    client("Audit", "SAL_OUTSTOCK", numbers);
    let pushed = client(
        "Push",
        "SAL_OUTSTOCK",
        json!({"Numbers": [delivery_no], "TargetFormId": "AR_receivable"}),
    );
    let receivable_no = pushed["Result"]["ResponseStatus"]["SuccessEntitys"][0]["Number"]
        .as_str()
        .expect("the receivable's number")
        .to_owned();
    let numbers = json!({"Numbers": [receivable_no]});
    client("Submit", "AR_receivable", numbers.clone());
    client("Audit", "AR_receivable", numbers);
    let deliveries = doubles.ferry(dir.path(), &["sync", "deliveries", "--json"]);
    assert_eq!(count(&deliveries, "updated"), 1, "{deliveries}");
    let receivables = doubles.ferry(dir.path(), &["sync", "receivables", "--json"]);
    assert_eq!(written(&receivables), 1, "{receivables}");
    let on_order = jdy_order(&doubles, &order_no);
    assert_eq!(on_order[order::DELIVERY_STATUS], json!("已出库"));
    assert_eq!(on_order[order::RECEIVABLE_NO], json!(receivable_no));
    let receivable = doubles
        .kingdee("AR_receivable")
        .into_iter()
        .find(|r| r["FBillNo"] == json!(receivable_no))
        .unwrap();
    assert_eq!(
        on_order[order::RECEIVABLE_AMOUNT],
        receivable["FALLAMOUNTFOR"]
    );
    let total = on_order[order::TOTAL].as_f64().unwrap();
    assert!(
        (receivable["FALLAMOUNTFOR"].as_f64().unwrap() - total).abs() < 0.005,
        "the whole order delivered and invoiced: {total}"
    );

    // A delivery whose order the CRM does not hold is a dead letter naming it, never a new,
    // half-empty order in the CRM.
    let orders_before = doubles.jiandaoyun(ORDER_FORM).len();
    let mut stray = first.clone();
    stray.remove("FID");
    stray.insert("FBillNo".into(), json!("XSCKD99999999"));
    stray.insert("FDocumentStatus".into(), json!("A"));
    let line = stray["FEntity"][0].as_object_mut().unwrap();
    line.insert("FSoorDerno".into(), json!("DD999999"));
    line.insert("FEntryID".into(), json!(99_999));
    doubles.kd.store().insert("SAL_OUTSTOCK", stray).unwrap();
    let deliveries = doubles.ferry(dir.path(), &["sync", "deliveries", "--json"]);
    assert_eq!(count(&deliveries, "failed"), 1, "{deliveries}");
    assert_eq!(doubles.jiandaoyun(ORDER_FORM).len(), orders_before);
    let letters = doubles.ferry(dir.path(), &["dlq", "list", "--json"]);
    let error = letters[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("DD999999") && error.contains("create: false"),
        "{error}"
    );

    // The orders changed in Jiandaoyun by the write-backs: read again, nothing to write.
    let before = doubles.kingdee("SAL_SaleOrder");
    let again = doubles.ferry(dir.path(), &["sync", "orders", "--json"]);
    assert_eq!(
        written(&again) + count(&again, "failed"),
        0,
        "no echo: {again}"
    );
    assert_eq!(doubles.kingdee("SAL_SaleOrder"), before);
}

/// A customer changed in Jiandaoyun reaches Kingdee through the platform's data push, well
/// before the flow's next poll: `ferry run` verifies the push's signature at `/hooks/jdy` and
/// syncs the record it names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jiandaoyun_data_push_syncs_the_customer_into_kingdee() {
    let jdy_double = JiandaoyunDouble::new(JiandaoyunConfig::default());
    let jdy = ferry_doubles::start(jdy_double.clone(), 0)
        .await
        .expect("the Jiandaoyun double starts");
    let kd = ferry_doubles::start(KingdeeDouble::new(KingdeeConfig::default()), 0)
        .await
        .expect("the Kingdee double starts");
    let doubles = Doubles { jdy, kd };
    let dir = scratch();
    let port = free_port();
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jdy-kingdee/ferry.yaml");
    let config = std::fs::read_to_string(example).expect("the example's ferry.yaml");
    let config = format!("{config}\nserver:\n  listen: 127.0.0.1:{port}\n");
    std::fs::write(dir.path().join("ferry.yaml"), config).unwrap();
    doubles.ferry(dir.path(), &["sync", "customers", "--json"]);

    let _run = Running(
        ferry()
            .current_dir(dir.path())
            .env_remove("FERRY_LISTEN")
            .env("JDY_URL", format!("{}/api", doubles.jdy.base_url()))
            .env("JDY_API_KEY", ferry_doubles::jiandaoyun::API_KEY)
            .env("JDY_PUSH_SECRET", ferry_doubles::jiandaoyun::PUSH_SECRET)
            .env("KD_URL", format!("{}/k3cloud/", doubles.kd.base_url()))
            .env("KD_ACCT_ID", "ferry-test-acct")
            .env("KD_PASSWORD", "kd-Pa55word")
            .arg("run")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("ferry run starts"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = wait_ready(&base).await;
    jdy_double
        .push()
        .set_url(Some(&format!("{base}/hooks/jdy")));

    // A salesperson renames KH0003 in Jiandaoyun (through the API, which pushes).
    let kh3 = doubles
        .jdy
        .store()
        .list(ferry_doubles::jiandaoyun::CUSTOMER_FORM, None, None)
        .unwrap()
        .into_iter()
        .find(|r| r.fields[ferry_doubles::jiandaoyun::customer::NUMBER] == json!("KH0003"))
        .unwrap();
    let body = json!({
        "app_id": ferry_doubles::jiandaoyun::APP_ID, "entry_id": ferry_doubles::jiandaoyun::CUSTOMER_FORM,
        "data_id": ferry_doubles::jiandaoyun::data_id_of(&kh3),
        "data": {ferry_doubles::jiandaoyun::customer::NAME: {"value": "深圳华强电子（集团）有限公司"}},
    });
    let answer = http
        .post(format!(
            "{}/api/v5/app/entry/data/update",
            doubles.jdy.base_url()
        ))
        .bearer_auth(ferry_doubles::jiandaoyun::API_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        answer.status().is_success(),
        "{}",
        answer.text().await.unwrap()
    );
    jdy_double.push().settled().await;
    let delivery = jdy_double
        .push()
        .deliveries()
        .pop()
        .expect("a push was sent");
    assert_eq!(
        delivery.outcome,
        PushOutcome::Delivered { status: 202 },
        "Ferry verified the push and queued the record"
    );

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let name = doubles
            .kingdee("BD_Customer")
            .into_iter()
            .find(|c| c["FNumber"] == json!("KH0003"))
            .map(|c| c["FName"].clone());
        if name == Some(json!("深圳华强电子（集团）有限公司")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the push did not reach Kingdee: {name:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// `ferry sync` killed (SIGKILL) after Kingdee saved part of a batch and before Ferry
/// recorded it: the next run finds the saved customers by number and updates them, creates
/// the rest, and takes every one through submit and audit. Nothing is lost, nothing doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_mid_batch_loses_and_doubles_nothing_in_kingdee() {
    let config = JiandaoyunConfig {
        seed: ferry_doubles::jiandaoyun::JiandaoyunSeed {
            customers: 120,
            ..Default::default()
        },
        ..JiandaoyunConfig::default()
    };
    let jdy = ferry_doubles::start(JiandaoyunDouble::new(config), 0)
        .await
        .expect("the Jiandaoyun double starts");
    let kd = ferry_doubles::start(KingdeeDouble::new(KingdeeConfig::default()), 0)
        .await
        .expect("the Kingdee double starts");
    // Each BatchSave (50 models) takes a while, so the kill lands between two of them.
    kd.faults().add(
        ferry_doubles::Fault::new(ferry_doubles::FaultAction::latency(
            std::time::Duration::from_millis(400),
        ))
        .on("POST", "/k3cloud/*BatchSave*"),
    );
    let doubles = Doubles { jdy, kd };
    let dir = scratch();
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/jdy-kingdee/ferry.yaml");
    std::fs::copy(&example, dir.path().join("ferry.yaml")).unwrap();
    let ours = |d: &Doubles| -> Vec<Map<String, Value>> {
        d.kingdee("BD_Customer")
            .into_iter()
            .filter(|c| c["FNumber"].as_str().is_some_and(|n| n.starts_with("KH")))
            .collect()
    };

    let mut child = ferry()
        .current_dir(dir.path())
        .args(["sync", "customers"])
        .env("JDY_URL", format!("{}/api", doubles.jdy.base_url()))
        .env("JDY_API_KEY", ferry_doubles::jiandaoyun::API_KEY)
        .env("KD_URL", format!("{}/k3cloud/", doubles.kd.base_url()))
        .env("KD_ACCT_ID", "ferry-test-acct")
        .env("KD_PASSWORD", "kd-Pa55word")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("ferry runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ours(&doubles).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "nothing reached Kingdee"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL: Kingdee holds part of the batch, Ferry recorded none
    child.wait().unwrap();
    let saved_before = ours(&doubles).len();
    assert!(
        saved_before < 120,
        "the kill came after everything was saved: {saved_before}"
    );

    let rerun = doubles.ferry(dir.path(), &["sync", "customers", "--json"]);
    assert_eq!(count(&rerun, "failed"), 0, "{rerun}");
    let customers = ours(&doubles);
    let mut numbers: Vec<&str> = customers
        .iter()
        .map(|c| c["FNumber"].as_str().unwrap())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(
        customers.len(),
        120,
        "each customer once ({saved_before} saved before the kill)"
    );
    assert_eq!(numbers.len(), 120);
    assert!(
        customers.iter().all(|c| c["FDocumentStatus"] == json!("C")),
        "all audited"
    );
}
