//! Reconciliation through the API and the console, against a real server (SQLite CRM and
//! ERP through the sql connector, the embedded store): drift made on purpose in the target
//! table is found by a reconciliation started over HTTP, its report is read back (field values
//! masked), a repair is audited with the key and the address and fixes the target, a second
//! reconciliation of a flow is refused while one runs, and the console lists reconciliations
//! on the flow page and shows a report with Chinese text, escaped.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ferry_engine::reconcile;
use ferry_engine::{NoProgress, SyncOptions};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Syncs both customers to the target, then changes the target behind Ferry's back: C001's
/// name and phone changed, C002 deleted, C999 added.
async fn drifted(s: &TestServer, name: &str) {
    s.engine
        .sync(
            "customers",
            &SyncOptions::default(),
            &NoProgress,
            &CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(s.target_rows().await.len(), 2);
    let mut erp = sqlite(&s.dir.path().join("erp.db")).await;
    sqlx::query("UPDATE erp_customers SET name = ?, phone = '13800000000' WHERE code = 'C001'")
        .bind(name)
        .execute(&mut erp)
        .await
        .unwrap();
    sqlx::raw_sql(
        "DELETE FROM erp_customers WHERE code = 'C002';
         INSERT INTO erp_customers VALUES ('C999', 'Nobody', NULL);",
    )
    .execute(&mut erp)
    .await
    .unwrap();
}

/// Polls `GET /api/v1/reconciliations/{id}` until it is no longer running.
async fn finished(s: &TestServer, id: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = s
            .get(&format!("/api/v1/reconciliations/{id}"))
            .bearer_auth(&s.viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let body: Value = r.json().await.unwrap();
        if body["state"] != "running" {
            return body;
        }
        assert!(Instant::now() < deadline, "still running: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn start_over_api(s: &TestServer, body: Value) -> reqwest::Response {
    s.post("/api/v1/flows/customers/reconcile")
        .bearer_auth(&s.operator)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_finds_the_drift_made_in_the_target_and_a_repair_fixes_it() {
    let s = start("").await;
    drifted(&s, "Ada Lovelace").await;

    // Viewers read, operators start.
    let r = s
        .post("/api/v1/flows/customers/reconcile")
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // No body at all is a report-only reconciliation.
    let r = s
        .post("/api/v1/flows/customers/reconcile")
        .bearer_auth(&s.operator)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let started: Value = r.json().await.unwrap();
    assert_eq!(
        (&started["flow"], &started["state"]),
        (&json!("customers"), &json!("running"))
    );
    let id = started["id"].as_i64().unwrap();

    let done = finished(&s, id).await;
    assert_eq!(done["state"], "drift", "{done}");
    assert_eq!(done["trigger"], "api");
    assert!(done["finished_at"].is_string());
    let counts = &done["counts"];
    assert_eq!(
        (
            &counts["source"],
            &counts["target"],
            &counts["differing"],
            &counts["missing_in_target"],
            &counts["missing_in_source"]
        ),
        (&json!(2), &json!(2), &json!(1), &json!(1), &json!(1)),
        "{done}"
    );
    let report = &done["report"];
    assert_eq!(report["clean"], false);
    let diff = &report["differing"][0];
    assert_eq!(diff["key"], "C001");
    // Phone is masked by `server.mask` in reports too; the name is not.
    assert_eq!(
        diff["fields"],
        json!([
            {"field": "name", "source": "Ada", "target": "Ada Lovelace"},
            {"field": "phone", "source": "138****5678", "target": "138****0000"},
        ]),
        "{report}"
    );
    assert_eq!(report["missing_in_target"][0]["key"], "C002");
    assert_eq!(report["missing_in_source"][0]["target_id"], "C999");

    // Listed newest first, without the report.
    let list: Value = s
        .get("/api/v1/reconciliations?flow=customers&limit=5")
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["id"], id);
    assert_eq!(list[0]["state"], "drift");
    assert!(list[0].get("report").is_none(), "{list}");
    let none: Value = s
        .get("/api/v1/reconciliations?flow=orders")
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!([]));

    // What cannot be started says why.
    let r = s
        .post("/api/v1/flows/nope/reconcile")
        .bearer_auth(&s.operator)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = start_over_api(&s, json!({"repair_deletes": true})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let text = r.text().await.unwrap();
    assert!(text.contains("on_delete"), "{text}");
    let r = start_over_api(&s, json!({"repiar": true})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "typos are refused");
    let r = s
        .get(&format!("/api/v1/reconciliations/{}", id + 100))
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A repair rewrites C001 and C002 through the pipeline, and is audited.
    let r = start_over_api(&s, json!({"repair": true})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let repair_id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let repaired = finished(&s, repair_id).await;
    assert_eq!(repaired["report"]["repair"]["queued"], 2, "{repaired}");
    let rows = s.target_rows().await;
    assert_eq!(
        rows,
        [
            ("C001".into(), "Ada".into(), Some("13812345678".into())),
            ("C002".into(), "Grace".into(), Some("13900001111".into())),
            ("C999".into(), "Nobody".into(), None),
        ]
    );
    let audit: Value = s
        .get("/api/v1/audit?limit=5")
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "reconcile.repair")
        .unwrap_or_else(|| panic!("no repair in the audit log: {audit}"));
    assert_eq!(
        entry["target"],
        format!("flow customers: reconciliation {repair_id}")
    );
    assert_eq!(entry["key_name"], "operator");
    assert!(entry["key_id"].is_i64());
    assert_eq!(entry["source"], "127.0.0.1");
    assert_eq!(entry["outcome"], "ok");
    // The repair_deletes refusal above was audited too, with the reason.
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "reconcile.repair_deletes"
                && a["outcome"].as_str().unwrap().contains("on_delete")),
        "{audit}"
    );

    // Only C999, behind Ferry's back, is left.
    let r = start_over_api(&s, json!({})).await;
    let after = finished(&s, r.json::<Value>().await.unwrap()["id"].as_i64().unwrap()).await;
    assert_eq!(
        (
            &after["counts"]["differing"],
            &after["counts"]["missing_in_target"],
            &after["counts"]["missing_in_source"]
        ),
        (&json!(0), &json!(0), &json!(1)),
        "{after}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_reconciliation_of_a_flow_is_refused_while_one_runs() {
    let s = start("").await;
    // A reconciliation of `customers` claimed in this process (as the CLI, the console or the
    // schedule would), not finished yet: deterministic, no timing involved.
    let options = reconcile::Options {
        scratch_dir: s.dir.path().join(".ferry"),
        details_limit: 10,
        repair: false,
        repair_deletes: false,
    };
    let running = reconcile::start(&s.engine, "customers", &options, "schedule")
        .await
        .unwrap();
    let r = start_over_api(&s, json!({})).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let text = r.text().await.unwrap();
    assert!(
        text.contains(&format!(
            "flow `customers`: a reconciliation is already running (#{})",
            running.id
        )),
        "{text}"
    );
    let shown: Value = s
        .get(&format!("/api/v1/reconciliations/{}", running.id))
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&shown["state"], &shown["trigger"]),
        (&json!("running"), &json!("schedule"))
    );
    assert!(shown["finished_at"].is_null() && shown["counts"].is_null());

    // Once it is over, the flow can be reconciled again.
    let report = running
        .finish(&s.engine, &options, &NoProgress, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(report.counts.missing_in_target, 2, "nothing synced yet");
    let r = start_over_api(&s, json!({})).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert_eq!(finished(&s, id).await["state"], "drift");
}

// ---------------------------------------------------------------------------------------------
// The console

/// A form body (keys, tokens and flags: nothing to escape but to be sure).
fn form(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A browser that keeps the session cookie and follows no redirect.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Browser {
    async fn login(s: &TestServer, key: &str) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http
            .post(format!("{}/console/login", s.url))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(&[("key", key)]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        let cookie = r.headers()[SET_COOKIE].to_str().unwrap();
        Self {
            cookie: cookie.split(';').next().unwrap().to_owned(),
            http,
            base: s.url.clone(),
        }
    }

    async fn page(&self, path: &str) -> String {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        assert_eq!(r.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        r.text().await.unwrap()
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form(fields))
            .send()
            .await
            .unwrap()
    }

    async fn csrf(&self) -> String {
        let html = self.page("/console/").await;
        let start = html.find("name=\"csrf\" value=\"").unwrap() + 19;
        html[start..start + 64].to_owned()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_starts_a_reconciliation_lists_it_and_shows_its_report() {
    let s = start("").await;
    drifted(&s, "客户甲 <b>有限公司</b>").await;

    // Viewers see the list, not the form; they cannot post it either.
    let viewer = Browser::login(&s, &s.viewer).await;
    let page = viewer.page("/console/flows/customers").await;
    assert!(page.contains("<h2>Reconciliations</h2>") && page.contains("No reconciliation yet."));
    assert!(!page.contains("Reconcile now"), "{page}");
    let csrf = viewer.csrf().await;
    let r = viewer
        .post("/console/flows/customers/reconcile", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let operator = Browser::login(&s, &s.operator).await;
    let page = operator.page("/console/flows/customers").await;
    assert!(
        page.contains("action=\"/console/flows/customers/reconcile\"")
            && page.contains("Reconcile now"),
        "{page}"
    );
    // Without the CSRF token nothing starts.
    let r = operator
        .post("/console/flows/customers/reconcile", &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        s.engine
            .store()
            .reconciliations(None, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let csrf = operator.csrf().await;
    let r = operator
        .post("/console/flows/customers/reconcile", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()[LOCATION].to_str().unwrap().to_owned();
    let id: i64 = location
        .strip_prefix("/console/reconciliations/")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(finished(&s, id).await["trigger"], "console");

    let report = operator.page(&location).await;
    assert!(
        report.contains(&format!("Reconciliation {id} of customers"))
            && report.contains("<span class=\"status failing\">drift</span>"),
        "{report}"
    );
    // Chinese text as is, markup escaped, the phone masked.
    assert!(
        report.contains("&quot;客户甲 &lt;b&gt;有限公司&lt;/b&gt;&quot;"),
        "{report}"
    );
    assert!(!report.contains("<b>"), "{report}");
    assert!(report.contains("&quot;138****0000&quot;") && !report.contains("13800000000"));
    for section in [
        "<h2>Differing (1)</h2>",
        "<h2>Missing in target (1)</h2>",
        "<h2>Missing in source (1)</h2>",
    ] {
        assert!(report.contains(section), "{section} missing in {report}");
    }
    assert!(!report.contains("http://") && !report.contains("https://"));

    // The flow page lists it with its counts and links to it.
    let page = viewer.page("/console/flows/customers").await;
    assert!(
        page.contains(&format!(
            "<a href=\"/console/reconciliations/{id}\">{id}</a>"
        )),
        "{page}"
    );
    assert!(
        page.contains("<span class=\"status failing\">drift</span>"),
        "{page}"
    );
    assert!(viewer.page(&location).await.contains("客户甲"));
    let r = viewer
        .http
        .get(format!("{}/console/reconciliations/{}", s.url, id + 100))
        .header(COOKIE, &viewer.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
