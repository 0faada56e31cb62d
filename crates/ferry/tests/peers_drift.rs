//! Drift between the real CRM (BottleCRM) and the real ERP (Tryton), made on purpose and
//! found by `ferry reconcile`, then repaired — the servers `scripts/peers/` starts, reset to
//! their seeded state first.
//!
//! Customers are a two-way pair: CRM accounts → ERP parties (`customers`) and back
//! (`customers_back`); the CRM owns the name, the e-mail is shared, the owner wins a
//! conflict. Products go from the ERP to the CRM. In order:
//! - the first load agrees on both sides, and each flow's reconcile says so (the ERP's seeded
//!   party, which the CRM never had, is reported missing in the source);
//! - drift in the target databases behind the applications' backs: a party renamed in
//!   Tryton's database, a party deleted in Tryton, a product's price changed in BottleCRM's
//!   database, a product deleted and a stray one added in BottleCRM;
//! - a name (owned by the CRM) edited in the ERP: not propagated, reported `not_owner`;
//! - reconcile finds each of these exactly; `--repair` (and `--repair-deletes`) put them
//!   right through the pipeline, and the next reconcile is clean;
//! - both sides edit the shared e-mail at once: the owner's value wins on both sides, and
//!   reconcile of both flows agrees;
//! - an account deleted in the CRM archives its party in the ERP (`on_delete: archive`).

mod common;

use std::path::Path;

use common::peers::*;
use common::*;
use serde_json::{Value, json};
use sqlx::Connection;

const CONFIG: &str = r#"
engine:
  batch_size: 50

systems:
  crm:
    kind: bottlecrm
    url: ${CRM_URL}
    token: ${CRM_PAT}
  erp:
    kind: tryton
    url: ${TRYTON_URL}
    database: ${TRYTON_DB}
    user: ${TRYTON_USER}
    password: ${TRYTON_PASSWORD}
    context: { company: ${TRYTON_COMPANY_ID} }

flows:
  customers:
    entity: customer
    source: { system: crm, object: accounts }
    target:
      system: erp
      model: party.party
      key: identifiers.code
      children:
        - { field: contact_mechanisms, values: { type: email }, fields: { email: value } }
    on_delete: { archive: { active: false } }
    mapping:
      code: id
      name: { from: name, case: trim }
      email: email

  customers_back:
    entity: customer
    source:
      system: erp
      model: party.party
      fields: [name, identifiers.code]
      children: { contact_mechanisms: [type, value] }
      domain: [["identifiers.code", "like", "________-____-%"]]   # CRM ids (UUIDs)
    target:
      system: crm
      object: accounts
      id_field: code                     # the CRM account the party came from
    mapping:
      code:
        expr: |
          codes = array!(get!(., ["identifiers.code"]))
          string!(codes[0])
      name: name
      email:
        expr: |
          emails = filter(array!(.contact_mechanisms)) -> |_i, m| { m.type == "email" }
          if length(emails) > 0 { emails[0].value } else { null }

  products:
    entity: product
    source:
      system: erp
      model: product.product
      fields: [code, name, template.list_price]
      poll: all
    target: { system: crm, object: products, fields: { list_price: price } }
    on_delete: delete
    mapping:
      sku: code
      name: name
      list_price: { from: template.list_price, scale: 2 }
      currency: { value: USD }

pairs:
  customers:
    flows: [customers, customers_back]
    owners:
      default: crm
      fields: { email: shared }
    conflicts: owner
"#;

/// `ferry reconcile FLOW --format json …`: the report (the command fails when it finds drift).
fn reconcile(dir: &Path, env: &Env, flow: &str, extra: &[&str]) -> Value {
    let mut args = vec!["reconcile", flow, "--format", "json"];
    args.extend_from_slice(extra);
    let out = ferry()
        .current_dir(dir)
        .envs(env)
        .args(&args)
        .output()
        .expect("ferry runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ferry {args:?}: not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The counts of a report that matter here, in a fixed order:
/// (source, target, equal, differing, missing in target, missing in source).
fn counts(report: &Value) -> (u64, u64, u64, u64, u64, u64) {
    let c = &report["counts"];
    let n = |k: &str| {
        c[k].as_u64()
            .unwrap_or_else(|| panic!("no {k}: {report:#}"))
    };
    (
        n("source"),
        n("target"),
        n("equal"),
        n("differing"),
        n("missing_in_target"),
        n("missing_in_source"),
    )
}

/// Keys of a report's list (`differing`, `missing_in_target`, …), sorted.
fn keys(report: &Value, list: &str) -> Vec<String> {
    let mut keys: Vec<String> = report[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}: {report:#}"))
        .iter()
        .map(|e| e["key"].as_str().unwrap_or_default().to_owned())
        .collect();
    keys.sort();
    keys
}

/// The party holding CRM id `code`, archived ones included: (id, name, email, active).
async fn party(erp: &Erp, code: &str) -> Option<(i64, String, String, bool)> {
    let rows = erp
        .call(
            "model.party.party.search_read",
            json!([[["identifiers.code", "=", code]], 0, null, null,
                   ["name", "active", "contact_mechanisms.type", "contact_mechanisms.value"],
                   {"company": 1, "active_test": false}]),
        )
        .await;
    let row = rows.as_array()?.first()?;
    let email = row["contact_mechanisms."]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["type"] == "email")
        .map(|m| m["value"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    Some((
        row["id"].as_i64().unwrap(),
        row["name"].as_str().unwrap_or_default().to_owned(),
        email,
        // Tryton on SQLite answers booleans as 0 and 1.
        row["active"].as_bool().unwrap_or(row["active"] != json!(0)),
    ))
}

/// A CRM account's (name, email).
async fn account(crm: &Crm, id: &str) -> (String, String) {
    let reply = crm
        .call(reqwest::Method::GET, &format!("accounts/{id}/"), None)
        .await;
    let a = &reply["account_obj"];
    (
        a["name"].as_str().unwrap_or_default().to_owned(),
        a["email"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The CRM's products by SKU: (id, price).
async fn products(crm: &Crm) -> Vec<(String, String, String)> {
    let reply = crm
        .call(reqwest::Method::GET, "invoices/products/?limit=100", None)
        .await;
    let mut out: Vec<(String, String, String)> = reply["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["sku"].as_str().unwrap_or_default().to_owned(),
                p["id"].as_str().unwrap_or_default().to_owned(),
                p["price"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_between_the_real_crm_and_erp_is_found_and_repaired() {
    let (Some(tryton), Some(crm_env)) = (peer("tryton"), peer("crm")) else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut env = reset("tryton", &tryton);
    env.extend(reset("crm", &crm_env));
    let tmp = scratch();
    let dir = tmp.path();
    std::fs::write(dir.join("ferry.yaml"), CONFIG).unwrap();
    ferry_in(dir, &env, &["check"]);
    let crm = Crm {
        http: reqwest::Client::new(),
        api: env["CRM_API"].clone(),
        token: env["CRM_PAT"].clone(),
    };
    let erp = Erp::login(&env).await;

    let mut ids = Vec::new();
    for (i, name) in ["Drift 甲", "Drift 乙", "Drift 丙"].iter().enumerate() {
        let reply = crm
            .call(
                reqwest::Method::POST,
                "accounts/",
                Some(json!({"name": name, "email": format!("d{i}@drift.test")})),
            )
            .await;
        ids.push(reply["id"].as_str().unwrap().to_owned());
    }

    // First load: parties created, nothing echoed back to the CRM; products in the CRM.
    assert_eq!(writes(&sync(dir, &env, "customers")), (3, 0));
    let back = sync(dir, &env, "customers_back");
    assert_eq!(
        (back["read"].as_u64(), writes(&back)),
        (Some(3), (0, 0)),
        "{back}"
    );
    assert_eq!(writes(&sync(dir, &env, "products")), (2, 0));

    // Both sides agree; the ERP's seeded party is one the CRM never had.
    let report = reconcile(dir, &env, "customers", &[]);
    assert_eq!(report["compared_fields"], json!(["code", "name", "email"]));
    assert_eq!(counts(&report), (3, 4, 3, 0, 0, 1), "{report:#}");
    assert_eq!(keys(&report, "missing_in_source"), ["CRM-SEED-1"]);
    let report = reconcile(dir, &env, "customers_back", &[]);
    assert_eq!(report["clean"], true, "{report:#}");
    assert_eq!(counts(&report), (3, 3, 3, 0, 0, 0), "{report:#}");
    let report = reconcile(dir, &env, "products", &[]);
    assert_eq!(report["clean"], true, "{report:#}");
    assert_eq!(
        report["compared_fields"],
        json!(["sku", "name", "list_price", "currency"])
    );
    assert_eq!(counts(&report), (2, 2, 2, 0, 0, 0), "{report:#}");

    // The ERP renames party 2 in the application: the CRM owns names, so the change is not
    // propagated but reported.
    let (p2, ..) = party(&erp, &ids[2]).await.unwrap();
    erp.call(
        "model.party.party.write",
        json!([[p2], {"name": "Renamed in the ERP"}, {"company": 1}]),
    )
    .await;
    let back = sync(dir, &env, "customers_back");
    assert_eq!(
        (writes(&back), back["rejected"].as_u64()),
        ((0, 0), Some(1)),
        "{back}"
    );
    assert_eq!(
        account(&crm, &ids[2]).await.0,
        "Drift 丙",
        "the CRM keeps its name"
    );
    let ledger = ferry_in(
        dir,
        &env,
        &[
            "ledger",
            "--key",
            &ids[2],
            "--flow",
            "customers_back",
            "--json",
        ],
    );
    let last = ledger[0]["entries"].as_array().unwrap().last().unwrap();
    assert_eq!(last["outcome"], "not_owner", "{last:#}");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("`name` changed in erp but owned by crm"),
        "{last:#}"
    );

    // Drift in the ERP: party 0 renamed in Tryton's database (no timestamp moves: no flow
    // sees it), party 1 deleted in Tryton.
    let (p0, ..) = party(&erp, &ids[0]).await.unwrap();
    let (p1, ..) = party(&erp, &ids[1]).await.unwrap();
    let mut erp_db = sqlite(&Path::new(&peers_dir()).join("tryton/db/erp.sqlite")).await;
    sqlx::query("UPDATE party_party SET name = 'Renamed in the database' WHERE id = ?")
        .bind(p0)
        .execute(&mut erp_db)
        .await
        .unwrap();
    erp.call("model.party.party.delete", json!([[p1], {"company": 1}]))
        .await;
    // Drift in the CRM: a price changed in BottleCRM's database, a product deleted, a stray
    // one added by hand.
    let before = products(&crm).await;
    let mut crm_db = sqlx::PgConnection::connect(&env["CRM_PG"]).await.unwrap();
    sqlx::query("UPDATE product SET price = 1 WHERE sku = 'WIDGET-1'")
        .execute(&mut crm_db)
        .await
        .unwrap();
    let (_, svc, _) = before.iter().find(|p| p.0 == "SVC-SETUP").unwrap();
    crm.call(
        reqwest::Method::DELETE,
        &format!("invoices/products/{svc}/"),
        None,
    )
    .await;
    crm.call(
        reqwest::Method::POST,
        "invoices/products/",
        Some(json!({"name": "Stray", "sku": "STRAY-1", "price": "3.00", "currency": "USD"})),
    )
    .await;

    // Reconcile finds each one, naming the field and both values.
    let report = reconcile(dir, &env, "customers", &[]);
    assert_eq!(report["clean"], false);
    assert_eq!(counts(&report), (3, 3, 0, 2, 1, 1), "{report:#}");
    let mut differing = vec![ids[0].clone(), ids[2].clone()];
    differing.sort();
    assert_eq!(keys(&report, "differing"), differing);
    let d0 = report["differing"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["key"] == ids[0].as_str())
        .unwrap();
    assert_eq!(
        d0["fields"],
        json!([{"field": "name", "source": "Drift 甲", "target": "Renamed in the database"}])
    );
    assert_eq!(keys(&report, "missing_in_target"), [ids[1].clone()]);
    let report = reconcile(dir, &env, "products", &[]);
    assert_eq!(counts(&report), (2, 2, 0, 1, 1, 1), "{report:#}");
    assert_eq!(
        report["differing"][0]["fields"],
        json!([{"field": "list_price", "source": "10.00", "target": "1.00"}]),
        "{report:#}"
    );
    assert_eq!(keys(&report, "missing_in_target"), ["SVC-SETUP"]);
    assert_eq!(keys(&report, "missing_in_source"), ["STRAY-1"]);

    // Repair: rewritten through the pipeline; the stray product is deleted by the flow's
    // delete policy. The next reconcile is clean.
    let report = reconcile(dir, &env, "customers", &["--repair"]);
    assert_eq!(report["repair"]["queued"], 3, "{report:#}");
    assert_eq!(report["repair"]["run"]["failed"], 0, "{report:#}");
    let report = reconcile(dir, &env, "products", &["--repair", "--repair-deletes"]);
    assert_eq!(report["repair"]["queued"], 2, "{report:#}");
    assert_eq!(report["repair"]["deleted"], 1, "{report:#}");
    assert_eq!(report["repair"]["run"]["failed"], 0, "{report:#}");

    let report = reconcile(dir, &env, "customers", &[]);
    assert_eq!(counts(&report), (3, 4, 3, 0, 0, 1), "{report:#}");
    let report = reconcile(dir, &env, "products", &[]);
    assert_eq!(report["clean"], true, "{report:#}");
    assert_eq!(counts(&report), (2, 2, 2, 0, 0, 0), "{report:#}");
    assert_eq!(party(&erp, &ids[0]).await.unwrap().1, "Drift 甲");
    assert_eq!(party(&erp, &ids[1]).await.unwrap().1, "Drift 乙");
    assert_eq!(party(&erp, &ids[2]).await.unwrap().1, "Drift 丙");
    let after: Vec<(String, String)> = products(&crm)
        .await
        .into_iter()
        .map(|(sku, _, price)| (sku, price))
        .collect();
    assert_eq!(
        after,
        [
            ("SVC-SETUP".to_owned(), before[0].2.clone()),
            ("WIDGET-1".to_owned(), "10.00".to_owned())
        ],
        "{before:?}"
    );
    let ledger = ferry_in(
        dir,
        &env,
        &["ledger", "--key", &ids[1], "--flow", "customers", "--json"],
    );
    let last = ledger[0]["entries"].as_array().unwrap().last().unwrap();
    let (new_p1, ..) = party(&erp, &ids[1]).await.unwrap();
    assert_ne!(new_p1, p1, "a new party");
    assert_eq!(
        (&last["trigger"], &last["outcome"], &last["target_id"]),
        (
            &json!("reconcile"),
            &json!("updated"),
            &json!(new_p1.to_string())
        ),
        "the repair is audited, and the xref names the new party: {last:#}"
    );

    // Both sides change the shared e-mail of account 0 at once: the system of record (the
    // CRM) wins on both sides, and both flows' reconciles agree.
    crm.call(
        reqwest::Method::PATCH,
        &format!("accounts/{}/", ids[0]),
        Some(json!({"email": "crm@drift.test"})),
    )
    .await;
    let (p0, ..) = party(&erp, &ids[0]).await.unwrap();
    let mechanisms = erp
        .call(
            "model.party.contact_mechanism.search",
            json!([
                [["party", "=", p0], ["type", "=", "email"]],
                0,
                null,
                null,
                {}
            ]),
        )
        .await;
    erp.call(
        "model.party.contact_mechanism.write",
        json!([mechanisms, {"value": "erp@drift.test"}, {}]),
    )
    .await;
    let to_erp = sync(dir, &env, "customers");
    assert_eq!(
        (writes(&to_erp), to_erp["conflicts"].as_u64()),
        ((0, 1), Some(1)),
        "{to_erp}"
    );
    let to_crm = sync(dir, &env, "customers_back");
    assert_eq!(writes(&to_crm), (0, 0), "{to_crm}");
    assert_eq!(party(&erp, &ids[0]).await.unwrap().2, "crm@drift.test");
    assert_eq!(account(&crm, &ids[0]).await.1, "crm@drift.test");
    let report = reconcile(dir, &env, "customers", &[]);
    assert_eq!(counts(&report), (3, 4, 3, 0, 0, 1), "{report:#}");
    let report = reconcile(dir, &env, "customers_back", &[]);
    assert_eq!(report["clean"], true, "{report:#}");

    // An account deleted in the CRM: its party is archived in the ERP, not deleted.
    crm.call(
        reqwest::Method::DELETE,
        &format!("accounts/{}/", ids[2]),
        None,
    )
    .await;
    let report = sync(dir, &env, "customers");
    assert_eq!(report["deleted"], 1, "{report}");
    let (_, name, _, active) = party(&erp, &ids[2]).await.unwrap();
    assert_eq!((name.as_str(), active), ("Drift 丙", false));
    let report = reconcile(dir, &env, "customers", &[]);
    assert_eq!(counts(&report), (2, 4, 2, 0, 0, 2), "{report:#}");
    let mut gone = vec!["CRM-SEED-1".to_owned(), ids[2].clone()];
    gone.sort();
    assert_eq!(keys(&report, "missing_in_source"), gone);
}
