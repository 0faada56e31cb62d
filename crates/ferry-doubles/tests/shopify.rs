//! The Shopify double over HTTP, as a connector sees it: the token, cursor paging with an
//! `updated_at` query (ties), userErrors inside 200, the cost throttle on the harness clock,
//! a bulk operation's lifecycle and JSONL, and a webhook whose HMAC a receiver verifies.

mod support;

use axum::body::Bytes;
use axum::http::HeaderMap;
use ferry_doubles::RunningDouble;
use ferry_doubles::shopify::{
    ACCESS_TOKEN, CLIENT_SECRET, ShopifyConfig, ShopifyDouble, webhook_hmac,
};
use serde_json::{Value, json};
use support::client;

const PATH: &str = "/admin/api/2025-07/graphql.json";

async fn start(config: ShopifyConfig) -> (RunningDouble, ShopifyDouble) {
    let shop = ShopifyDouble::new(config);
    let double = ferry_doubles::start(shop.clone(), 0).await.expect("starts");
    (double, shop)
}

async fn gql(double: &RunningDouble, token: &str, query: &str, variables: Value) -> (u16, Value) {
    let r = client()
        .post(double.url(PATH))
        .header("X-Shopify-Access-Token", token)
        .header("content-type", "application/json")
        .body(json!({"query": query, "variables": variables}).to_string())
        .send()
        .await
        .expect("answers");
    let status = r.status().as_u16();
    (status, r.json().await.expect("json"))
}

const PAGE: &str = "query ($cursor: String, $q: String) {
  customers(first: 2, after: $cursor, query: $q, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id email firstName lastName updatedAt metafield(namespace: \"erp\", key: \"customer_no\") { value } } }
  } }";

#[tokio::test]
async fn a_wrong_token_is_refused_with_401() {
    let (double, _) = start(ShopifyConfig::default()).await;
    let (status, body) = gql(
        &double,
        "shpat_wrong",
        "{ customers(first: 1) { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        body["errors"]
            .as_str()
            .unwrap()
            .contains("Invalid API key or access token")
    );
    let (status, body) = gql(
        &double,
        ACCESS_TOKEN,
        "{ customers(first: 1) { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["data"]["customers"]["nodes"][0]["id"],
        "gid://shopify/Customer/1"
    );
}

#[tokio::test]
async fn cursor_paging_with_an_updated_at_query_reads_ties_once() {
    let (double, _) = start(ShopifyConfig::default()).await;
    // Two more customers written in one frozen second: ties on updatedAt.
    double
        .clock()
        .freeze_at("2024-06-01T00:00:00Z".parse().unwrap());
    for email in ["tie.a@example.com", "tie.b@example.com"] {
        let (_, body) = gql(&double, ACCESS_TOKEN,
            "mutation ($input: CustomerInput!) { customerCreate(input: $input) { customer { id updatedAt } userErrors { field message } } }",
            json!({"input": {"email": email, "firstName": "Tie"}})).await;
        assert_eq!(
            body["data"]["customerCreate"]["customer"]["updatedAt"],
            "2024-06-01T00:00:00Z"
        );
    }
    let q = "updated_at:>'2024-05-01T01:00:01Z'";
    let mut seen = Vec::new();
    let mut cursor = Value::Null;
    loop {
        let (_, body) = gql(
            &double,
            ACCESS_TOKEN,
            PAGE,
            json!({"cursor": cursor, "q": q}),
        )
        .await;
        let conn = &body["data"]["customers"];
        for e in conn["edges"].as_array().unwrap() {
            seen.push(e["node"]["email"].as_str().unwrap().to_owned());
        }
        if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        cursor = conn["pageInfo"]["endCursor"].clone();
    }
    // Seed: customers 5 and 6 at 01:00:02; then the two ties. 01:00:01 itself is excluded.
    assert_eq!(
        seen,
        [
            "zhang.fang@example.cn",
            "sophie.martin@example.com",
            "tie.a@example.com",
            "tie.b@example.com"
        ]
    );
}

#[tokio::test]
async fn validation_failures_are_user_errors_inside_200() {
    let (double, _) = start(ShopifyConfig::default()).await;
    let (status, body) = gql(&double, ACCESS_TOKEN,
        "mutation { customerCreate(input: {email: \"wang.wei@example.cn\"}) { customer { id } userErrors { field message } } }", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["customerCreate"]["customer"], Value::Null);
    assert_eq!(
        body["data"]["customerCreate"]["userErrors"][0]["field"],
        json!(["email"])
    );
    assert_eq!(
        body["data"]["customerCreate"]["userErrors"][0]["message"],
        "Email has already been taken"
    );
    // A root field the double does not serve is refused by name.
    let (_, body) = gql(&double, ACCESS_TOKEN, "{ giftCards { id } }", json!({})).await;
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("giftCards"),
        "{body}"
    );
}

#[tokio::test]
async fn the_cost_throttle_empties_and_restores_with_the_clock() {
    let (double, _) = start(ShopifyConfig {
        bucket_size: 100.0,
        restore_rate: 10.0,
        ..Default::default()
    })
    .await;
    double
        .clock()
        .freeze_at("2024-06-01T00:00:00Z".parse().unwrap());
    let q = "{ customers(first: 20) { nodes { id } } }"; // requested 20 * 1 + 2 = 22
    let (_, body) = gql(&double, ACCESS_TOKEN, q, json!({})).await;
    let cost = &body["extensions"]["cost"];
    assert_eq!(cost["requestedQueryCost"], 22);
    assert_eq!(cost["actualQueryCost"], 8); // 6 customers + 2
    assert_eq!(cost["throttleStatus"]["currentlyAvailable"], 92.0);
    for _ in 0..10 {
        gql(&double, ACCESS_TOKEN, q, json!({})).await;
    }
    let (status, body) = gql(
        &double,
        ACCESS_TOKEN,
        "{ customers(first: 90) { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["errors"][0]["extensions"]["code"], "THROTTLED");
    assert!(body.get("data").is_none());
    assert_eq!(body["extensions"]["cost"]["actualQueryCost"], Value::Null);
    double.clock().advance(chrono::Duration::seconds(10));
    let (_, body) = gql(
        &double,
        ACCESS_TOKEN,
        "{ customers(first: 90) { nodes { id } } }",
        json!({}),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(
        body["data"]["customers"]["nodes"].as_array().unwrap().len(),
        6
    );
}

#[tokio::test]
async fn a_bulk_operation_runs_and_serves_jsonl() {
    let (double, _) = start(ShopifyConfig::default()).await;
    let run = "mutation { bulkOperationRunQuery(query: \"\"\"
      { products { edges { node { id title variants { edges { node { id sku } } } } } } }
    \"\"\") { bulkOperation { id status } userErrors { field message } } }";
    let (_, body) = gql(&double, ACCESS_TOKEN, run, json!({})).await;
    assert_eq!(
        body["data"]["bulkOperationRunQuery"]["bulkOperation"]["status"],
        "RUNNING"
    );
    let (_, again) = gql(&double, ACCESS_TOKEN, run, json!({})).await;
    assert!(
        again["data"]["bulkOperationRunQuery"]["userErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already in progress")
    );
    let poll = "{ currentBulkOperation { id status objectCount url } }";
    let (_, first) = gql(&double, ACCESS_TOKEN, poll, json!({})).await;
    assert_eq!(first["data"]["currentBulkOperation"]["status"], "RUNNING");
    let (_, done) = gql(&double, ACCESS_TOKEN, poll, json!({})).await;
    let op = &done["data"]["currentBulkOperation"];
    assert_eq!(op["status"], "COMPLETED");
    assert_eq!(op["objectCount"], "8"); // 3 products + 5 variants
    let text = client()
        .get(op["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 8);
    assert_eq!(lines[0]["id"], "gid://shopify/Product/1");
    assert_eq!(lines[1]["sku"], "TEA-LJ-100");
    assert_eq!(lines[1]["__parentId"], "gid://shopify/Product/1");
}

#[tokio::test]
async fn a_webhook_carries_an_hmac_the_receiver_verifies() {
    let received = std::sync::Arc::new(tokio::sync::Mutex::new(Vec::<(HeaderMap, Bytes)>::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let mut s = sink.lock().await;
                s.push((headers, body));
                // The first attempt fails: the double retries.
                if s.len() == 1 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (double, shop) = start(ShopifyConfig::default()).await;
    shop.webhooks().set_url(Some(&hook_url));
    let r = client()
        .post(double.url("/_double/shopify/webhooks/send"))
        .header("content-type", "application/json")
        .body(json!({"topic": "customers/update", "id": "gid://shopify/Customer/2"}).to_string())
        .send()
        .await
        .unwrap();
    let delivery: Value = r.json().await.unwrap();
    assert_eq!(delivery["delivered"], true);
    assert_eq!(delivery["attempts"].as_array().unwrap().len(), 2);
    let got = received.lock().await;
    let (headers, body) = &got[1];
    let hmac = headers["x-shopify-hmac-sha256"].to_str().unwrap();
    assert_eq!(hmac, webhook_hmac(CLIENT_SECRET, body));
    assert_ne!(hmac, webhook_hmac("another-secret", body));
    assert_eq!(headers["x-shopify-topic"], "customers/update");
    assert_eq!(
        headers["x-shopify-webhook-id"],
        got[0].0["x-shopify-webhook-id"]
    );
    assert!(headers.contains_key("x-shopify-triggered-at"));
    assert_eq!(headers["x-shopify-shop-domain"], "ferry-test.myshopify.com");
    let payload: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(payload["id"], 2);
    assert_eq!(payload["admin_graphql_api_id"], "gid://shopify/Customer/2");
}

#[tokio::test]
async fn faults_act_on_the_graphql_route() {
    let (double, _) = start(ShopifyConfig::default()).await;
    double.faults().add(
        ferry_doubles::Fault::new(ferry_doubles::FaultAction::status(503))
            .on("POST", "/admin/api/*/graphql.json")
            .times(1),
    );
    let (status, _) = {
        let r = client()
            .post(double.url(PATH))
            .header("X-Shopify-Access-Token", ACCESS_TOKEN)
            .body("{}")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 503);
    let (status, _) = gql(&double, ACCESS_TOKEN, "{ orders(first: 1) { nodes { name lineItems(first: 5) { nodes { sku } } fulfillments { trackingInfo { number } } } } }", json!({})).await;
    assert_eq!(status, 200);
}
