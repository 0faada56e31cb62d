//! The NetSuite double over HTTP, as a connector sees it: TBA signatures and their
//! refusals, SuiteQL paging, filters, `TO_CHAR` and ties at one second, record API upserts
//! by external id with sublists and NetSuite's refusals, concurrency governance, and the
//! ERP team's fulfilments and stock.

mod support;

use std::time::Duration;

use ferry_doubles::RunningDouble;
use ferry_doubles::netsuite::{NetSuiteConfig, NetSuiteDouble, RECORD_PREFIX, SUITEQL_PATH, auth};
use reqwest::Method;
use serde_json::{Value, json};
use support::client;

struct Ns {
    http: reqwest::Client,
    ns: NetSuiteDouble,
    double: RunningDouble,
}

/// What a request got back: status, `Location`, body.
struct Answer {
    status: u16,
    location: Option<String>,
    body: Value,
}

fn nonce() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Ns {
    async fn start(config: NetSuiteConfig) -> Self {
        let ns = NetSuiteDouble::new(config);
        let double = ferry_doubles::start(ns.clone(), 0)
            .await
            .expect("the double starts");
        Self {
            http: client(),
            ns,
            double,
        }
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<Value>,
        authz: Option<String>,
    ) -> Answer {
        let now = chrono::Utc::now().timestamp();
        let authz = authz
            .unwrap_or_else(|| auth::header(self.ns.config(), method.as_str(), url, now, &nonce()));
        let mut request = self
            .http
            .request(method, url)
            .header("authorization", authz)
            .header("prefer", "transient");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the double answers");
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            location,
            body,
        }
    }

    async fn query(&self, q: &str, limit: usize, offset: usize) -> Answer {
        let url = self
            .double
            .url(&format!("{SUITEQL_PATH}?limit={limit}&offset={offset}"));
        self.send(Method::POST, &url, Some(json!({"q": q})), None)
            .await
    }

    async fn record(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let url = self.double.url(&format!("{RECORD_PREFIX}{path}"));
        self.send(method, &url, body, None).await
    }
}

fn code(body: &Value) -> &str {
    body["o:errorDetails"][0]["o:errorCode"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test]
async fn bad_signatures_unknown_tokens_reused_nonces_and_skew_are_refused() {
    let ns = Ns::start(NetSuiteConfig::default()).await;
    let url = ns.double.url(&format!("{SUITEQL_PATH}?limit=5"));
    let q = Some(json!({"q": "SELECT id FROM customer"}));
    let now = chrono::Utc::now().timestamp();
    let good = auth::header(ns.ns.config(), "POST", &url, now, "nonce-one");
    assert_eq!(
        ns.send(Method::POST, &url, q.clone(), Some(good.clone()))
            .await
            .status,
        200
    );
    // The same nonce again.
    let again = ns.send(Method::POST, &url, q.clone(), Some(good)).await;
    assert_eq!(
        (again.status, code(&again.body)),
        (401, "INVALID_LOGIN_ATTEMPT")
    );
    assert_eq!(again.body["title"], "Unauthorized");
    // Signed for another query string: the query parameters are signed.
    let other = auth::header(
        ns.ns.config(),
        "POST",
        &ns.double.url(&format!("{SUITEQL_PATH}?limit=6")),
        now,
        &nonce(),
    );
    assert_eq!(
        ns.send(Method::POST, &url, q.clone(), Some(other))
            .await
            .status,
        401
    );
    // A wrong token secret.
    let wrong = NetSuiteConfig {
        token_secret: "nope".into(),
        ..NetSuiteConfig::default()
    };
    let forged = auth::header(&wrong, "POST", &url, now, &nonce());
    assert_eq!(
        ns.send(Method::POST, &url, q.clone(), Some(forged))
            .await
            .status,
        401
    );
    // An unknown token and a clock ten minutes off.
    let stranger = NetSuiteConfig {
        token_id: "other".into(),
        ..NetSuiteConfig::default()
    };
    let unknown = auth::header(&stranger, "POST", &url, now, &nonce());
    assert_eq!(
        ns.send(Method::POST, &url, q.clone(), Some(unknown))
            .await
            .status,
        401
    );
    let late = auth::header(ns.ns.config(), "POST", &url, now - 600, &nonce());
    assert_eq!(
        ns.send(Method::POST, &url, q.clone(), Some(late))
            .await
            .status,
        401
    );
    // A revoked token.
    ns.ns.revoke_token();
    assert_eq!(ns.query("SELECT id FROM customer", 5, 0).await.status, 401);
    ns.ns.restore_token();
    assert_eq!(ns.query("SELECT id FROM customer", 5, 0).await.status, 200);
}

#[tokio::test]
async fn suiteql_pages_with_links_and_needs_prefer_transient() {
    let ns = Ns::start(NetSuiteConfig::default()).await;
    let first = ns
        .query("SELECT id, companyname FROM customer ORDER BY id", 2, 0)
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let b = &first.body;
    assert_eq!(
        (
            b["count"].clone(),
            b["hasMore"].clone(),
            b["totalResults"].clone()
        ),
        (json!(2), json!(true), json!(3))
    );
    assert_eq!(b["items"][0]["id"], "1");
    assert_eq!(b["items"][1]["companyname"], "Globex");
    let next = b["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "next")
        .unwrap();
    assert!(
        next["href"].as_str().unwrap().ends_with("limit=2&offset=2"),
        "{next}"
    );
    let last = ns.query("SELECT id FROM customer ORDER BY id", 2, 2).await;
    assert_eq!(
        (last.body["count"].clone(), last.body["hasMore"].clone()),
        (json!(1), json!(false))
    );
    // Without `Prefer: transient`.
    let url = ns.double.url(&format!("{SUITEQL_PATH}?limit=5"));
    let now = chrono::Utc::now().timestamp();
    let authz = auth::header(ns.ns.config(), "POST", &url, now, &nonce());
    let plain = ns
        .http
        .post(&url)
        .header("authorization", authz)
        .json(&json!({"q": "SELECT id FROM customer"}));
    let answer = plain.send().await.unwrap();
    assert_eq!(answer.status(), 400);
    // A limit over 1000, an unknown column, a syntax error.
    assert_eq!(
        ns.query("SELECT id FROM customer", 1001, 0).await.status,
        400
    );
    let unknown = ns.query("SELECT nosuch FROM customer", 5, 0).await;
    let detail = unknown.body["o:errorDetails"][0]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        detail.contains("Field 'nosuch' for record 'customer' was not found"),
        "{detail}"
    );
    assert_eq!(ns.query("SELECT FROM customer", 5, 0).await.status, 400);
}

#[tokio::test]
async fn lastmodifieddate_ties_at_one_second_and_keyset_conditions_work() {
    let ns = Ns::start(NetSuiteConfig::default()).await;
    let clock = ns.double.clock();
    clock.freeze_at("2026-05-01T10:00:00Z".parse().unwrap());
    // Two changes within the same second tie.
    for (eid, name) in [("K-1", "One"), ("K-2", "Two")] {
        let put = ns
            .record(
                Method::PUT,
                &format!("customer/eid:{eid}"),
                Some(json!({"companyName": name})),
            )
            .await;
        assert_eq!(put.status, 204, "{}", put.body);
    }
    clock.advance(chrono::TimeDelta::milliseconds(400));
    let put = ns
        .record(
            Method::PUT,
            "customer/eid:K-1",
            Some(json!({"companyName": "One again"})),
        )
        .await;
    assert_eq!(put.status, 204);
    let q = r#"SELECT id, companyname, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD"T"HH24:MI:SS') AS modified, lastmodifieddate FROM customer WHERE externalid IN ('K-1', 'K-2') ORDER BY lastmodifieddate, id"#;
    let rows = ns.query(q, 10, 0).await.body["items"].clone();
    assert_eq!(rows[0]["modified"], "2026-05-01T10:00:00");
    assert_eq!(
        rows[0]["modified"], rows[1]["modified"],
        "two changes in one second tie"
    );
    assert_eq!(
        rows[0]["lastmodifieddate"], "5/1/2026",
        "the user's date format without TO_CHAR"
    );
    assert_eq!(rows[0]["companyname"], "One again");
    let first_id = rows[0]["id"].as_str().unwrap().to_owned();
    // After (10:00:00, first id): the other one only.
    let after = format!(
        "SELECT id FROM customer WHERE externalid IN ('K-1', 'K-2') AND (lastmodifieddate > TO_DATE('2026-05-01 10:00:00', 'YYYY-MM-DD HH24:MI:SS') OR (lastmodifieddate = TO_DATE('2026-05-01 10:00:00', 'YYYY-MM-DD HH24:MI:SS') AND id > {first_id})) ORDER BY lastmodifieddate, id"
    );
    let rest = ns.query(&after, 10, 0).await;
    assert_eq!(
        rest.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        rest.body
    );
    assert_eq!(rest.body["items"][0]["id"], rows[1]["id"]);
}

#[tokio::test]
async fn put_by_external_id_upserts_and_sales_orders_carry_their_lines() {
    let ns = Ns::start(NetSuiteConfig::default()).await;
    let created = ns
        .record(
            Method::PUT,
            "customer/eid:SHOP-C9",
            Some(json!({"companyName": "Nine"})),
        )
        .await;
    assert_eq!(created.status, 204);
    let location = created.location.unwrap();
    assert!(
        location.ends_with("/services/rest/record/v1/customer/4"),
        "{location}"
    );
    let again = ns
        .record(
            Method::PUT,
            "customer/eid:SHOP-C9",
            Some(json!({"companyName": "Nine Ltd"})),
        )
        .await;
    assert_eq!(
        again.location.unwrap(),
        location,
        "the same record is updated"
    );
    let read = ns.record(Method::GET, "customer/eid:SHOP-C9", None).await;
    assert_eq!(
        (
            read.body["companyName"].clone(),
            read.body["externalId"].clone()
        ),
        (json!("Nine Ltd"), json!("SHOP-C9"))
    );
    let order = json!({"entity": {"externalId": "SHOP-C9"}, "otherRefNum": "1042",
        "item": {"items": [{"item": {"id": "1"}, "quantity": 3, "rate": 10.5}, {"item": {"id": "2"}, "quantity": 1, "rate": 25}]}});
    let so = ns
        .record(Method::PUT, "salesOrder/eid:SHOP-1042", Some(order))
        .await;
    assert_eq!(so.status, 204, "{}", so.body);
    let id = so.location.unwrap().rsplit('/').next().unwrap().to_owned();
    let lines = ns.query(&format!("SELECT transaction, item, quantity, netamount FROM transactionline WHERE transaction = {id} AND mainline = 'F' ORDER BY linesequencenumber"), 10, 0).await;
    let items = lines.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{}", lines.body);
    assert_eq!(
        (items[0]["quantity"].clone(), items[0]["netamount"].clone()),
        (json!("3"), json!("31.5"))
    );
    let header = ns
        .query(
            &format!("SELECT type, entity, foreigntotal FROM transaction WHERE id = {id}"),
            1,
            0,
        )
        .await;
    assert_eq!(header.body["items"][0]["type"], "SalesOrd");
    assert_eq!(header.body["items"][0]["entity"], "4");
    assert_eq!(header.body["items"][0]["foreigntotal"], "56.5");
}

#[tokio::test]
async fn refusals_name_the_field_in_o_error_details() {
    let ns = Ns::start(NetSuiteConfig::default()).await;
    let missing = ns
        .record(
            Method::PUT,
            "customer/eid:X-1",
            Some(json!({"email": "x@example.com"})),
        )
        .await;
    assert_eq!((missing.status, code(&missing.body)), (400, "USER_ERROR"));
    assert_eq!(
        missing.body["o:errorDetails"][0]["detail"],
        "Please enter value(s) for: Company Name"
    );
    assert_eq!(
        missing.body["o:errorDetails"][0]["o:errorPath"],
        "companyName"
    );
    let order =
        json!({"entity": {"id": "1"}, "item": {"items": [{"item": {"id": "77"}, "quantity": 1}]}});
    let bad = ns
        .record(Method::PUT, "salesOrder/eid:X-2", Some(order))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.body["o:errorDetails"][0]["o:errorPath"],
        "item.items[0].item"
    );
    assert!(
        bad.body["o:errorDetails"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("reference key 77")
    );
    let none = ns.record(Method::GET, "customer/eid:NOBODY", None).await;
    assert_eq!((none.status, code(&none.body)), (404, "NONEXISTENT_ID"));
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_are_refused() {
    let config = NetSuiteConfig {
        concurrency: 2,
        hold: Duration::from_millis(300),
        ..NetSuiteConfig::default()
    };
    let ns = Ns::start(config).await;
    let answers =
        futures::future::join_all((0..5).map(|_| ns.query("SELECT id FROM customer", 5, 0))).await;
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(answers.iter().filter(|a| a.status == 200).count(), 2);
    assert_eq!(refused.len(), 3);
    assert_eq!(code(&refused[0].body), "CONCURRENCY_LIMIT_EXCEEDED");
    assert_eq!(refused[0].body["title"], "Bad Request");
    // Forced refusals, then service again.
    ns.ns.throttle_next(1);
    assert_eq!(ns.query("SELECT id FROM customer", 5, 0).await.status, 429);
    assert_eq!(ns.query("SELECT id FROM customer", 5, 0).await.status, 200);
}

#[tokio::test]
async fn the_erp_team_fulfils_bills_and_moves_stock() {
    let ns = Ns::start(NetSuiteConfig::default()).await;
    let erp = ns.ns.erp(ns.double.harness());
    let shipped = erp.fulfil(1).unwrap();
    let invoiced = erp.bill(1).unwrap();
    erp.set_stock(2, 2, 7.0).unwrap();
    let q =
        "SELECT id, type, createdfrom, status FROM transaction WHERE createdfrom = 1 ORDER BY id";
    let docs = ns.query(q, 10, 0).await.body["items"].clone();
    assert_eq!(docs[0]["id"], shipped.to_string());
    assert_eq!(docs[0]["type"], "ItemShip");
    assert_eq!(docs[1]["id"], invoiced.to_string());
    assert_eq!(docs[1]["type"], "CustInvc");
    let so = ns
        .query("SELECT status FROM transaction WHERE id = 1", 1, 0)
        .await;
    assert_eq!(so.body["items"][0]["status"], "G");
    let stock = ns.query("SELECT item, location, quantityonhand FROM inventoryitemlocations WHERE item = 2 ORDER BY location", 10, 0).await;
    assert_eq!(stock.body["items"][1]["quantityonhand"], "7");
    assert!(erp.fulfil(99).is_err());
    // The same through the record API's transform.
    let t = ns
        .record(
            Method::POST,
            "salesOrder/1/!transform/itemFulfillment",
            Some(json!({"externalId": "IF-SHOP-1001"})),
        )
        .await;
    assert_eq!(t.status, 204, "{}", t.body);
    let read = ns
        .record(Method::GET, "itemFulfillment/eid:IF-SHOP-1001", None)
        .await;
    assert_eq!(read.body["createdFrom"]["id"], "1");
}

#[tokio::test]
async fn record_lists_filter_by_dates_in_the_accounts_format_only() {
    let ns = Ns::start(NetSuiteConfig::default()).await;
    ns.double
        .clock()
        .freeze_at("2026-06-02T10:00:00Z".parse().unwrap());
    let put = ns
        .record(
            Method::PUT,
            "customer/eid:LATE",
            Some(json!({"companyName": "Late"})),
        )
        .await;
    assert_eq!(put.status, 204);
    let q = r#"customer?q=lastModifiedDate%20ON_OR_AFTER%20%226/1/2026%22"#;
    let listed = ns.record(Method::GET, q, None).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        listed.body["items"].as_array().unwrap().len(),
        1,
        "{}",
        listed.body
    );
    let iso = ns
        .record(
            Method::GET,
            r#"customer?q=lastModifiedDate%20ON_OR_AFTER%20%222026-06-01%22"#,
            None,
        )
        .await;
    assert_eq!(iso.status, 400);
    let detail = iso.body["o:errorDetails"][0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("Parse of date/time \"2026-06-01\" failed with date format"),
        "{detail}"
    );
    let all = ns.record(Method::GET, "customer?limit=2", None).await;
    assert_eq!(
        (all.body["count"].clone(), all.body["hasMore"].clone()),
        (json!(2), json!(true))
    );
}
