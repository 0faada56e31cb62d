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
//!   nothing, and audits every customer.

mod common;

use std::path::Path;

use common::*;
use ferry_doubles::RunningDouble;
use ferry_doubles::jiandaoyun::{
    JiandaoyunConfig, JiandaoyunDouble, ORDER_FORM, PushOutcome, order,
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

    fn kingdee(&self, form: &str) -> Vec<Map<String, Value>> {
        self.kd
            .store()
            .list(form, None, None)
            .expect("a form of the double")
            .into_iter()
            .map(|r| r.fields)
            .collect()
    }
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
