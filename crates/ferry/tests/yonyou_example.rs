//! The YonBIP example (`examples/yonyou/`) end to end against the Yonyou double
//! (`ferry_doubles::yonyou`, built from the vendor's published documentation), with the
//! `ferry` binary, the example's own `ferry.yaml` and its `crm.sql`:
//!
//! - the CRM's customers are created in YonBIP by code, in the organisation the target names;
//! - a second round writes nothing; a customer renamed in the CRM is updated in place;
//! - YonBIP's materials arrive in the CRM's products table, by code.

mod common;

use std::path::Path;

use common::*;
use ferry_doubles::RunningDouble;
use ferry_doubles::yonyou::{MERCHANT, PRODUCT, YonyouConfig, YonyouDouble};
use serde_json::{Map, Value, json};
use sqlx::Row;

fn sync(dir: &Path, double: &RunningDouble, flow: &str) -> Value {
    let out = ferry()
        .current_dir(dir)
        .args(["sync", flow, "--json"])
        .env("CRM_DB", "sqlite://crm.db")
        .env("YY_URL", format!("{}/", double.base_url()))
        .env("YY_TENANT_ID", "ferry-tenant")
        .env("YY_APP_KEY", "yy-app-key")
        .env("YY_APP_SECRET", "yy-app-s3cret")
        .output()
        .expect("ferry runs");
    assert!(
        out.status.success(),
        "ferry sync {flow} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("a run report")
}

fn stored(double: &RunningDouble, object: &str, code: &str) -> Option<Map<String, Value>> {
    double
        .store()
        .list(object, None, None)
        .expect("an object of the double")
        .into_iter()
        .map(|r| r.fields)
        .find(|f| f.get("code") == Some(&json!(code)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_customers_reach_yonbip_and_yonbip_materials_reach_the_crm() {
    let double = ferry_doubles::start(YonyouDouble::new(YonyouConfig::default()), 0)
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

    let first = sync(dir.path(), &double, "customers");
    assert_eq!(first["created"], json!(3), "{first}");
    let c2 = stored(&double, MERCHANT, "CRM-0002").expect("CRM-0002 in YonBIP");
    assert_eq!(c2["name"]["simplifiedName"], json!("宁波港口物流有限公司"));
    let again = sync(dir.path(), &double, "customers");
    assert_eq!(
        again["created"].as_i64().unwrap() + again["updated"].as_i64().unwrap(),
        0,
        "{again}"
    );

    sqlx::query("UPDATE customers SET name = '宁波港口物流（集团）有限公司', updated_at = '2026-01-06 10:00:00' WHERE customer_no = 'CRM-0002'")
        .execute(&mut crm)
        .await
        .unwrap();
    let renamed = sync(dir.path(), &double, "customers");
    assert_eq!(renamed["updated"], json!(1), "{renamed}");
    let c2 = stored(&double, MERCHANT, "CRM-0002").unwrap();
    assert_eq!(
        c2["name"]["simplifiedName"],
        json!("宁波港口物流（集团）有限公司")
    );
    let count = double
        .store()
        .list(MERCHANT, None, None)
        .unwrap()
        .iter()
        .filter(|r| r.fields["code"] == json!("CRM-0002"))
        .count();
    assert_eq!(count, 1, "updated in place");

    let materials = sync(dir.path(), &double, "materials");
    let in_yonbip = double.store().list(PRODUCT, None, None).unwrap().len();
    assert_eq!(
        materials["created"].as_u64().unwrap() as usize,
        in_yonbip,
        "{materials}"
    );
    let rows = sqlx::query("SELECT sku, name FROM products ORDER BY sku")
        .fetch_all(&mut crm)
        .await
        .unwrap();
    assert_eq!(rows.len(), in_yonbip);
    let m1 = stored(&double, PRODUCT, "M0001").unwrap();
    assert_eq!(rows[0].get::<String, _>("sku"), "M0001");
    assert_eq!(
        json!(rows[0].get::<String, _>("name")),
        m1["name"]["simplifiedName"]
    );
}
