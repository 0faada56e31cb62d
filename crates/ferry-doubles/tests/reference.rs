//! The reference double's auth modes, writes, refusals, batches and SOAP endpoint.

mod support;

use std::time::Duration;

use ferry_doubles::reference::{AuthMode, ReferenceConfig};
use ferry_doubles::xml;
use serde_json::{Value, json};
use support::{client, get_json, post_form, start, start_open};

fn with_auth(auth: AuthMode) -> ReferenceConfig {
    ReferenceConfig {
        auth,
        ..ReferenceConfig::default()
    }
}

#[tokio::test]
async fn api_key_basic_and_bearer_let_the_right_credentials_in() {
    let http = client();
    let double = start(with_auth(AuthMode::ApiKey)).await;
    let url = double.url("/api/products");
    let with_key = |k: &'static str| http.get(&url).header("x-api-key", k).send();
    assert_eq!(with_key("ref-api-key").await.unwrap().status(), 200);
    let wrong = with_key("nope").await.unwrap();
    assert_eq!(wrong.status(), 401);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);

    let double = start(with_auth(AuthMode::Basic)).await;
    let url = double.url("/api/products");
    let basic = |p: &'static str| http.get(&url).basic_auth("ferry", Some(p)).send();
    assert_eq!(basic("ferry-pass").await.unwrap().status(), 200);
    let wrong = basic("ferry-pas").await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.headers()["www-authenticate"],
        "Basic realm=\"reference-double\""
    );

    let double = start(with_auth(AuthMode::Bearer)).await;
    let url = double.url("/api/products");
    let bearer = |t: &'static str| http.get(&url).bearer_auth(t).send();
    assert_eq!(bearer("ref-bearer-token").await.unwrap().status(), 200);
    assert_eq!(bearer("ref-api-key").await.unwrap().status(), 401);
}

#[tokio::test]
async fn oauth2_issues_tokens_to_the_right_client_and_they_expire() {
    let http = client();
    let mut config = with_auth(AuthMode::OAuth2);
    let double = start(config.clone()).await;
    let token_url = double.url("/oauth/token");
    let grant = [("grant_type", "client_credentials")];
    let by_basic = post_form(&http, &token_url, &grant)
        .basic_auth("ferry-client", Some("ferry-client-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_basic.status(), 200);
    let body: Value = by_basic.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    let api = double.url("/api/customers");
    assert_eq!(
        http.get(&api)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let unknown = http.get(&api).bearer_auth("made-up").send().await.unwrap();
    assert_eq!(unknown.status(), 401);

    let wrong_secret = [
        ("grant_type", "client_credentials"),
        ("client_id", "ferry-client"),
        ("client_secret", "guess"),
    ];
    let refused = post_form(&http, &token_url, &wrong_secret)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"error": "invalid_client"})
    );
    let password_grant = [("grant_type", "password")];
    let refused = post_form(&http, &token_url, &password_grant)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"error": "unsupported_grant_type"})
    );

    config.session_ttl = Duration::ZERO;
    let short = start(config).await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "ferry-client"),
        ("client_secret", "ferry-client-secret"),
    ];
    let body: Value = post_form(&http, &short.url("/oauth/token"), &form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap();
    let expired = http
        .get(short.url("/api/customers"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), 401);
    assert_eq!(
        expired.json::<Value>().await.unwrap()["error"]["code"],
        "TOKEN_EXPIRED"
    );
}

#[tokio::test]
async fn a_session_login_sets_a_cookie_that_works_until_logout() {
    let http = client();
    let double = start(with_auth(AuthMode::Session)).await;
    let wrong = json!({"username": "ferry", "password": "x"});
    let refused = http
        .post(double.url("/session/login"))
        .json(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"]["code"],
        "LOGIN_FAILED"
    );
    let right = json!({"username": "ferry", "password": "ferry-pass"});
    let login = http
        .post(double.url("/session/login"))
        .json(&right)
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("ref_session=") && cookie.ends_with("; Path=/; HttpOnly"));
    let pair = cookie.split(';').next().unwrap().to_owned();
    let url = double.url("/api/orders");
    let call = || {
        http.get(&url)
            .header("cookie", format!("lang=zh; {pair}"))
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);
    let out = http
        .post(double.url("/session/logout"))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let after = call().await.unwrap();
    assert_eq!(after.status(), 401);
    assert_eq!(
        after.json::<Value>().await.unwrap()["error"]["code"],
        "SESSION_EXPIRED"
    );
}

#[tokio::test]
async fn records_are_created_read_updated_and_deleted_with_server_set_times() {
    let double = start_open().await;
    double
        .clock()
        .freeze_at("2026-06-01T08:00:00Z".parse().unwrap());
    let http = client();
    let new = json!({"code": "C9001", "name": "杭州新客户有限公司", "email": "a@b.cn", "id": 5,
                     "updated_at": "1999-01-01T00:00:00Z"});
    let created = http
        .post(double.url("/api/customers"))
        .json(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(
        created["id"], 31,
        "ids are the server's: 30 seeded, then 31"
    );
    assert_eq!(created["updated_at"], "2026-06-01T08:00:00Z");
    let url = double.url("/api/customers/31");
    let (status, read) = get_json(&http, &url).await;
    assert_eq!((status, read.clone()), (200, created.clone()));

    double.clock().advance(chrono::Duration::seconds(90));
    let patch = json!({"city": "杭州"});
    let updated: Value = http
        .patch(&url)
        .json(&patch)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["city"], "杭州");
    assert_eq!(updated["name"], "杭州新客户有限公司");
    assert_eq!(updated["created_at"], "2026-06-01T08:00:00Z");
    assert_eq!(updated["updated_at"], "2026-06-01T08:01:30Z");

    let again = http
        .post(double.url("/api/customers"))
        .json(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"]["code"],
        "DUPLICATE_KEY"
    );

    assert_eq!(http.delete(&url).send().await.unwrap().status(), 204);
    let (status, gone) = get_json(&http, &url).await;
    assert_eq!(status, 404);
    assert_eq!(gone["error"]["message"], "customers: no record with id 31");
    let (status, _) = get_json(&http, &double.url("/api/invoices")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_refused_record_names_each_field_and_reason() {
    let double = start_open().await;
    let http = client();
    let bad = json!({"code": "C9002", "email": "not-an-address", "credit_limit": -5});
    let refused = http
        .post(double.url("/api/customers"))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": {
            "code": "VALIDATION_FAILED",
            "message": "customers C9002: name: required; email: `not-an-address` is not an email address; credit_limit: must be 0 or more, found -5",
            "details": [
                {"field": "name", "message": "required"},
                {"field": "email", "message": "`not-an-address` is not an email address"},
                {"field": "credit_limit", "message": "must be 0 or more, found -5"}
            ]
        }})
    );
    let order = json!({"number": "SO9", "customer_code": "C0001", "order_date": "2026-06-01",
                       "lines": [{"sku": "P0001", "qty": 1, "price": 2}, {"sku": "P9999", "qty": 1, "price": 2}]});
    let refused = http
        .post(double.url("/api/orders"))
        .json(&order)
        .send()
        .await
        .unwrap();
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["error"]["details"],
        json!([{"field": "lines[1].sku", "message": "no products record `P9999`"}])
    );
    assert!(
        double
            .store()
            .find_by_key("orders", "SO9")
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn upsert_by_key_creates_then_updates_the_same_record() {
    let double = start_open().await;
    let http = client();
    let url = double.url("/api/products/by-key/P-NEW");
    let first = json!({"name": "Washer", "price": 0.25});
    let created = http.put(&url).json(&first).send().await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["sku"], "P-NEW");
    let second = json!({"price": 0.3, "sku": "P-NEW"});
    let updated = http.put(&url).json(&second).send().await.unwrap();
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(
        (
            updated["id"].clone(),
            updated["price"].clone(),
            updated["name"].clone()
        ),
        (created["id"].clone(), json!(0.3), json!("Washer"))
    );
    let mismatch = json!({"sku": "P-OTHER"});
    let refused = http.put(&url).json(&mismatch).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["field"], "sku");
}

#[tokio::test]
async fn a_batch_writes_the_good_records_and_reports_each_refusal() {
    let double = start_open().await;
    let http = client();
    let url = double.url("/api/customers/batch");
    let batch = json!({"records": [
        {"code": "B1", "name": "One"},
        {"code": "B2", "name": "Two", "email": "broken"},
        "not a record",
        {"code": "C0001", "name": "Taken"},
        {"code": "B3", "name": "Three"}
    ]});
    let response = http.post(&url).json(&batch).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let results = body["results"].as_array().unwrap();
    let ok: Vec<bool> = results.iter().map(|r| r["ok"].as_bool().unwrap()).collect();
    assert_eq!(ok, [true, false, false, false, true]);
    assert_eq!(results[1]["error"]["details"][0]["field"], "email");
    assert_eq!(
        results[2]["error"]["message"],
        "records[2]: expected a JSON object"
    );
    assert_eq!(results[3]["error"]["code"], "DUPLICATE_KEY");
    assert_eq!(results[0]["created"], true);
    let store = double.store();
    assert!(store.find_by_key("customers", "B1").unwrap().is_some());
    assert!(store.find_by_key("customers", "B2").unwrap().is_none());

    let upserts = json!({"mode": "upsert", "records": [{"code": "C0001", "name": "Renamed"}, {"code": "B4", "name": "Four"}]});
    let body: Value = http
        .post(&url)
        .json(&upserts)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created: Vec<Value> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["created"].clone())
        .collect();
    assert_eq!(created, [json!(false), json!(true)]);
    let renamed = store.find_by_key("customers", "C0001").unwrap().unwrap();
    assert_eq!(renamed.fields["name"], "Renamed");

    let too_many = json!({"records": vec![json!({"code": "X"}); 101]});
    let refused = http.post(&url).json(&too_many).send().await.unwrap();
    assert_eq!(refused.status(), 400);
}

const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

async fn soap(http: &reqwest::Client, url: &str, operation: &str) -> (u16, xml::Element) {
    let envelope = format!(
        "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"{SOAP_NS}\"><s:Body>{operation}</s:Body></s:Envelope>"
    );
    let response = http
        .post(url)
        .header("content-type", "text/xml; charset=utf-8")
        .header("soapaction", "\"\"")
        .body(envelope)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        xml::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

#[tokio::test]
async fn products_are_listed_read_and_upserted_over_soap() {
    let double = start_open().await;
    let http = client();
    let url = double.url("/soap/products");
    let list = "<r:ListProducts xmlns:r=\"urn:ferry:reference\"><r:page>2</r:page><r:page_size>5</r:page_size></r:ListProducts>";
    let (status, doc) = soap(&http, &url, list).await;
    assert_eq!(status, 200);
    let answer = doc.find("ListProductsResponse").unwrap();
    assert_eq!(answer.child_text("total"), Some("12"));
    assert_eq!(answer.child_text("has_more"), Some("true"));
    let skus: Vec<&str> = answer
        .child("products")
        .unwrap()
        .children
        .iter()
        .map(|p| p.child_text("sku").unwrap())
        .collect();
    assert_eq!(skus, ["P0006", "P0007", "P0008", "P0009", "P0010"]);

    let (_, doc) = soap(&http, &url, "<GetProduct><sku>P0003</sku></GetProduct>").await;
    let product = doc.find("product").unwrap();
    assert_eq!(product.child_text("id"), Some("3"));

    let upsert = "<UpsertProduct><sku>P-X&amp;Y</sku><name>Nut &lt;M8&gt;</name><price>1.75</price><stock>12</stock></UpsertProduct>";
    let (status, doc) = soap(&http, &url, upsert).await;
    assert_eq!(status, 200);
    assert_eq!(doc.find("created").unwrap().text, "true");
    let stored = double
        .store()
        .find_by_key("products", "P-X&Y")
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            stored.fields["price"].clone(),
            stored.fields["stock"].clone()
        ),
        (json!(1.75), json!(12))
    );
    assert_eq!(stored.fields["name"], "Nut <M8>");

    let bad = "<UpsertProduct><sku>P0001</sku><price>cheap</price></UpsertProduct>";
    let (status, doc) = soap(&http, &url, bad).await;
    assert_eq!(status, 500);
    let fault = doc.find("Fault").unwrap();
    assert_eq!(fault.child_text("faultcode"), Some("soap:Client"));
    assert_eq!(
        fault.child_text("faultstring"),
        Some("products P0001: price: expected a number")
    );
    assert_eq!(doc.find("field").unwrap().text, "price");

    let (status, doc) = soap(&http, &url, "<DeleteEverything/>").await;
    assert_eq!(status, 500);
    assert!(
        doc.find("faultstring")
            .unwrap()
            .text
            .starts_with("unknown operation `DeleteEverything`")
    );
}
