//! The SAP S/4HANA double over HTTP, as a connector sees it: Basic and OAuth, CSRF fetch
//! and expiry, OData v2 JSON reads with `$filter`, paging and ties on LastChangeDateTime,
//! the sales-order deep insert, ETags, `$batch` change sets and SAP's error shapes.

mod support;

use chrono::{DateTime, Utc};
use ferry_doubles::sap::{IfMatch, SapConfig, SapDouble, TOKEN_PATH, service_path};
use ferry_doubles::{Fault, FaultAction, RetryAfter, RunningDouble};
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};
use support::client;

const SALES: &str = "API_SALES_ORDER_SRV";
const BP: &str = "API_BUSINESS_PARTNER";
const USER: &str = "FERRY_COMM_USER";
const PASSWORD: &str = "sap-Pa55word";

/// A double and a client with the communication user's Basic credentials.
struct Sap {
    http: reqwest::Client,
    double: RunningDouble,
}

/// A fetched CSRF token and the session cookie it is bound to.
struct Csrf {
    token: String,
    cookie: String,
}

impl Sap {
    async fn start(config: SapConfig) -> Self {
        let double = ferry_doubles::start(SapDouble::new(config), 0)
            .await
            .expect("the double starts");
        Self {
            http: client(),
            double,
        }
    }

    async fn default() -> Self {
        Self::start(SapConfig::default()).await
    }

    fn url(&self, service: &str, resource: &str) -> String {
        self.double.url(&service_path(service, resource))
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http
            .request(method, url)
            .basic_auth(USER, Some(PASSWORD))
            .header("accept", "application/json")
    }

    async fn get(&self, service: &str, resource: &str) -> (u16, Value) {
        self.get_url(&self.url(service, resource)).await
    }

    async fn get_url(&self, url: &str) -> (u16, Value) {
        let response = self
            .request(Method::GET, url)
            .send()
            .await
            .expect("an answer");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    async fn csrf(&self) -> Csrf {
        let response = self
            .request(Method::GET, &self.url(SALES, ""))
            .header("x-csrf-token", "Fetch")
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 200);
        let token = header(&response, "x-csrf-token").expect("a token");
        let cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with("SAP_SESSIONID_FER_100="))
            .and_then(|c| c.split(';').next())
            .expect("the session cookie")
            .to_owned();
        Csrf { token, cookie }
    }

    /// A modifying request carrying the token and its cookie.
    fn write(&self, method: Method, url: &str, csrf: &Csrf) -> RequestBuilder {
        self.request(method, url)
            .header("x-csrf-token", &csrf.token)
            .header("cookie", &csrf.cookie)
    }

    async fn post_order(&self, csrf: &Csrf, body: &Value) -> Response {
        self.write(Method::POST, &self.url(SALES, "A_SalesOrder"), csrf)
            .json(body)
            .send()
            .await
            .expect("an answer")
    }

    async fn etag(&self, resource: &str) -> String {
        let (status, body) = self.get(SALES, resource).await;
        assert_eq!(status, 200, "{body}");
        body["d"]["__metadata"]["etag"]
            .as_str()
            .expect("an etag")
            .to_owned()
    }
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn order(sold_to: &str, items: Value) -> Value {
    json!({"SalesOrderType": "OR", "SalesOrganization": "1010", "DistributionChannel": "10",
           "OrganizationDivision": "00", "SoldToParty": sold_to, "PurchaseOrderByCustomer": "CRM-000123",
           "RequestedDeliveryDate": "/Date(1717200000000)/", "to_Item": items})
}

/// Asserts SAP Gateway's error body and returns `error.code`.
fn error_code(body: &Value) -> String {
    let error = &body["error"];
    assert_eq!(error["message"]["lang"], "en", "{body}");
    assert!(error["message"]["value"].is_string(), "{body}");
    let details = error["innererror"]["errordetails"]
        .as_array()
        .expect("errordetails");
    assert_eq!(details[0]["code"], error["code"], "{body}");
    assert_eq!(details[0]["severity"], "error");
    error["code"].as_str().expect("a code").to_owned()
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 time")
}

#[tokio::test]
async fn basic_and_oauth_credentials_are_checked_and_expired_tokens_refused() {
    let sap = Sap::default().await;
    let url = sap.url(SALES, "A_SalesOrder");
    let anonymous = sap.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(
        header(&anonymous, "www-authenticate")
            .unwrap()
            .starts_with("Basic realm=")
    );
    let wrong = sap
        .http
        .get(&url)
        .basic_auth(USER, Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(sap.get(SALES, "A_SalesOrder").await.0, 200);

    let token_url = sap.double.url(TOKEN_PATH);
    let form = |secret: &str| {
        sap.http
            .post(&token_url)
            .basic_auth("ferry-oauth-client", Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=client_credentials")
    };
    let refused = form("wrong").send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let granted: Value = form("sap-oauth-s3cret")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(granted["token_type"], "Bearer");
    assert_eq!(granted["expires_in"], 3600);
    let token = granted["access_token"].as_str().unwrap();
    let bearer = |t: &str| {
        sap.http
            .get(&url)
            .bearer_auth(t)
            .header("accept", "application/json")
            .send()
    };
    assert_eq!(bearer(token).await.unwrap().status(), 200);
    sap.double.sessions().expire_all();
    let expired = bearer(token).await.unwrap();
    assert_eq!(expired.status(), 401);
    assert!(
        header(&expired, "www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
}

#[tokio::test]
async fn csrf_tokens_are_fetched_bound_to_the_session_and_refetched_after_expiry() {
    let sap = Sap::default().await;
    let url = sap.url(SALES, "A_SalesOrder('4000001')");
    let patch = |csrf: Option<&Csrf>, etag: &str| {
        let request = match csrf {
            Some(c) => sap.write(Method::PATCH, &url, c),
            None => sap.request(Method::PATCH, &url),
        };
        request
            .header("if-match", etag)
            .json(&json!({"PurchaseOrderByCustomer": "CRM-X"}))
            .send()
    };
    let etag = sap.etag("A_SalesOrder('4000001')").await;
    let refused = patch(None, &etag).await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        header(&refused, "x-csrf-token").as_deref(),
        Some("Required")
    );
    assert_eq!(
        refused.text().await.unwrap(),
        "CSRF token validation failed"
    );

    let csrf = sap.csrf().await;
    let without_cookie = sap
        .request(Method::PATCH, &url)
        .header("x-csrf-token", &csrf.token)
        .header("if-match", &etag)
        .json(&json!({"PurchaseOrderByCustomer": "CRM-X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        without_cookie.status(),
        403,
        "the token is bound to its session cookie"
    );
    assert_eq!(patch(Some(&csrf), &etag).await.unwrap().status(), 204);

    sap.double.sessions().expire_all();
    let etag = sap.etag("A_SalesOrder('4000001')").await;
    let stale = patch(Some(&csrf), &etag).await.unwrap();
    assert_eq!(stale.status(), 403);
    assert_eq!(header(&stale, "x-csrf-token").as_deref(), Some("Required"));
    let fresh = sap.csrf().await;
    assert_ne!(fresh.token, csrf.token);
    assert_eq!(patch(Some(&fresh), &etag).await.unwrap().status(), 204);
}

#[tokio::test]
async fn reads_answer_odata_v2_json_with_metadata_dates_and_decimal_strings() {
    let sap = Sap::default().await;
    let (status, body) = sap
        .get(SALES, "A_SalesOrder('4000002')?$expand=to_Item")
        .await;
    assert_eq!(status, 200, "{body}");
    let d = &body["d"];
    let uri = format!(
        "{}/A_SalesOrder('4000002')",
        sap.url(SALES, "").trim_end_matches('/')
    );
    assert_eq!(d["__metadata"]["uri"], uri.as_str());
    assert_eq!(
        d["__metadata"]["type"],
        "API_SALES_ORDER_SRV.A_SalesOrderType"
    );
    let etag = d["__metadata"]["etag"].as_str().unwrap();
    assert!(
        etag.starts_with("W/\"datetimeoffset'2024-05-01T08%3A00%3A"),
        "{etag}"
    );
    assert!(
        d["LastChangeDateTime"]
            .as_str()
            .unwrap()
            .ends_with("+0000)/")
    );
    assert!(d["SalesOrderDate"].as_str().unwrap().starts_with("/Date("));
    let total: f64 = d["TotalNetAmount"]
        .as_str()
        .expect("a decimal string")
        .parse()
        .unwrap();
    let items = d["to_Item"]["results"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let sum: f64 = items
        .iter()
        .map(|i| i["NetAmount"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    assert!((total - sum).abs() < 0.005);
    assert_eq!(items[0]["SalesOrderItem"], "10");
    assert!(
        d["to_Partner"]["__deferred"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("/to_Partner")
    );

    // Outbound deliveries and billing documents reference the orders.
    let (_, deliveries) = sap
        .get(
            "API_OUTBOUND_DELIVERY_SRV;v=0002",
            "A_OutbDeliveryItem?$filter=ReferenceSDDocument eq '4000001'",
        )
        .await;
    assert_eq!(deliveries["d"]["results"].as_array().unwrap().len(), 1);
    let (_, bills) = sap
        .get(
            "API_BILLING_DOCUMENT_SRV",
            "A_BillingDocument?$expand=to_Item&$filter=SoldToParty eq '10100001'",
        )
        .await;
    assert_eq!(
        bills["d"]["results"][0]["to_Item"]["results"][0]["SalesDocument"],
        "4000001"
    );
    let (_, partner) = sap
        .get(
            "API_BUSINESS_PARTNER",
            "A_BusinessPartner('10100002')?$expand=to_Customer",
        )
        .await;
    assert_eq!(partner["d"]["to_Customer"]["Customer"], "10100002");
    assert!(
        partner["d"]["LastChangeTime"]
            .as_str()
            .unwrap()
            .starts_with("PT")
    );

    // Without Accept: application/json Gateway answers Atom XML.
    let atom = sap
        .http
        .get(sap.url(SALES, "A_SalesOrder"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert!(
        header(&atom, "content-type")
            .unwrap()
            .starts_with("application/atom+xml")
    );
    let (status, missing) = sap.get(SALES, "A_SalesOrder('9999999')").await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&missing), "/IWBEP/CM_MGW_RT/020");
    let (status, unknown) = sap.get("API_NOPE_SRV", "A_Thing").await;
    assert_eq!(status, 403, "an unknown service is 403, not a CSRF failure");
    assert_eq!(error_code(&unknown), "/IWFND/MED/170");
}

#[tokio::test]
async fn filter_orderby_select_top_skip_and_counts() {
    let sap = Sap::default().await;
    let (_, body) = sap
        .get(SALES, "A_SalesOrder?$filter=SoldToParty eq '10100001' or (TotalNetAmount ge 100 and SalesOrderType eq 'OR')&$orderby=SalesOrder desc&$select=SalesOrder,TotalNetAmount&$inlinecount=allpages")
        .await;
    let rows = body["d"]["results"].as_array().unwrap();
    let (_, all) = sap.get(SALES, "A_SalesOrder").await;
    let expected: Vec<&str> = {
        let mut v: Vec<&Value> = all["d"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| {
                o["SoldToParty"] == "10100001"
                    || o["TotalNetAmount"]
                        .as_str()
                        .unwrap()
                        .parse::<f64>()
                        .unwrap()
                        >= 100.0
            })
            .collect();
        v.reverse();
        v.iter()
            .map(|o| o["SalesOrder"].as_str().unwrap())
            .collect()
    };
    let got: Vec<&str> = rows
        .iter()
        .map(|o| o["SalesOrder"].as_str().unwrap())
        .collect();
    assert_eq!(got, expected);
    assert_eq!(body["d"]["__count"], expected.len().to_string());
    assert!(
        rows.iter()
            .all(|o| o.get("SoldToParty").is_none() && o.get("__metadata").is_some())
    );

    let (_, page) = sap
        .get(SALES, "A_SalesOrder?$orderby=SalesOrder&$skip=2&$top=2")
        .await;
    let got: Vec<&str> = page["d"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["SalesOrder"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["4000003", "4000004"]);
    let count = sap
        .request(
            Method::GET,
            &sap.url(
                SALES,
                "A_SalesOrder/$count?$filter=startswith(SalesOrder,'400000')",
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(count.text().await.unwrap(), "6");

    let (status, bad) = sap
        .get(
            SALES,
            "A_SalesOrder?$filter=LastChangeDateTime gt '2024-05-01'",
        )
        .await;
    assert_eq!(
        status, 400,
        "a date compared with a string literal is refused"
    );
    error_code(&bad);
    let (status, bad) = sap.get(SALES, "A_SalesOrder?$filter=Nope eq 'x'").await;
    assert_eq!(status, 400);
    assert!(
        bad["error"]["message"]["value"]
            .as_str()
            .unwrap()
            .contains("Nope")
    );
}

#[tokio::test]
async fn server_paging_follows_next_and_ties_on_last_change_are_read_once() {
    let sap = Sap::start(SapConfig {
        page_size: 2,
        ..SapConfig::default()
    })
    .await;
    let tie = at("2026-06-01T10:00:00Z");
    sap.double.clock().freeze_at(tie);
    let store = sap.double.store();
    for record in store
        .list("A_SalesOrder", None, None)
        .unwrap()
        .iter()
        .take(5)
    {
        store.touch("A_SalesOrder", record.id).unwrap();
    }
    let mut url = sap.url(SALES, "A_SalesOrder?$filter=LastChangeDateTime ge datetimeoffset'2026-06-01T10:00:00Z'&$orderby=LastChangeDateTime asc&$inlinecount=allpages");
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, body) = sap.get_url(&url).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        assert_eq!(body["d"]["__count"], "5");
        for o in body["d"]["results"].as_array().unwrap() {
            assert_eq!(
                o["LastChangeDateTime"],
                format!("/Date({}+0000)/", tie.timestamp_millis())
            );
            seen.push(o["SalesOrder"].as_str().unwrap().to_owned());
        }
        match body["d"]["__next"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with("http://127.0.0.1:")
                        && next.contains("$skiptoken=")
                        && next.contains("$format=json")
                );
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5), "{seen:?}");
    let (_, after) = sap
        .get(
            SALES,
            "A_SalesOrder?$filter=LastChangeDateTime gt datetimeoffset'2026-06-01T10:00:00Z'",
        )
        .await;
    assert!(
        after["d"]["results"].as_array().unwrap().is_empty(),
        "gt the watermark skips the ties"
    );
}

#[tokio::test]
async fn deep_insert_assigns_numbers_and_prices_and_refuses_in_sap_words() {
    let sap = Sap::default().await;
    let now = at("2026-06-02T09:30:00Z");
    sap.double.clock().freeze_at(now);
    let csrf = sap.csrf().await;
    let items = json!([{"Material": "TG11", "RequestedQuantity": "2", "RequestedQuantityUnit": "PC"},
                       {"Material": "TG12", "RequestedQuantity": "5",
                        "to_PricingElement": [{"ConditionType": "PPR0", "ConditionRateValue": "20.00"}]}]);
    let created = sap.post_order(&csrf, &order("10100002", items)).await;
    assert_eq!(created.status(), 201);
    let location = header(&created, "location").unwrap();
    assert!(location.ends_with("/A_SalesOrder('4000007')"), "{location}");
    let body: Value = created.json().await.unwrap();
    let d = &body["d"];
    assert_eq!(d["SalesOrder"], "4000007");
    assert_eq!(
        d["LastChangeDateTime"],
        format!("/Date({}+0000)/", now.timestamp_millis())
    );
    let items = d["to_Item"]["results"].as_array().unwrap();
    assert_eq!(items[0]["SalesOrderItem"], "10");
    assert_eq!(items[1]["SalesOrderItem"], "20");
    assert_eq!(items[0]["NetAmount"], "20.00");
    assert_eq!(items[1]["NetAmount"], "100.00");
    assert_eq!(d["TotalNetAmount"], "120.00");
    assert_eq!(d["TransactionCurrency"], "EUR");
    // The results-wrapped form is accepted too.
    let wrapped = order(
        "10100003",
        json!({"results": [{"Material": "TG13", "RequestedQuantity": "1"}]}),
    );
    let second = sap.post_order(&csrf, &wrapped).await;
    assert_eq!(second.status(), 201, "{}", second.text().await.unwrap());

    let unknown_customer = sap
        .post_order(
            &csrf,
            &order(
                "10100099",
                json!([{"Material": "TG11", "RequestedQuantity": "1"}]),
            ),
        )
        .await;
    assert_eq!(unknown_customer.status(), 400);
    let body: Value = unknown_customer.json().await.unwrap();
    assert_eq!(error_code(&body), "V1/384");
    assert_eq!(
        body["error"]["message"]["value"],
        "Sold-to party 10100099 not maintained for sales area 1010 10 00"
    );
    assert_eq!(
        body["error"]["innererror"]["application"]["service_id"],
        SALES
    );
    let unknown_material = sap
        .post_order(
            &csrf,
            &order(
                "10100002",
                json!([{"Material": "TG99", "RequestedQuantity": "1"}]),
            ),
        )
        .await;
    assert_eq!(
        error_code(&unknown_material.json().await.unwrap()),
        "M3/305"
    );
    let number_not_string = sap
        .post_order(
            &csrf,
            &order(
                "10100002",
                json!([{"Material": "TG11", "RequestedQuantity": 1}]),
            ),
        )
        .await;
    assert_eq!(
        number_not_string.status(),
        400,
        "Edm.Decimal travels as a string"
    );
    assert_eq!(store_orders(&sap), 8, "refused orders write nothing");
}

fn store_orders(sap: &Sap) -> usize {
    sap.double
        .store()
        .list("A_SalesOrder", None, None)
        .unwrap()
        .len()
}

#[tokio::test]
async fn an_order_over_the_credit_limit_is_created_blocked_with_a_warning() {
    let sap = Sap::default().await;
    let account = "A_CreditManagementAccount(BusinessPartner='10100001',CreditSegment='1000')";
    let (_, before) = sap.get("API_CRDTMBUSINESSPARTNER", account).await;
    let exposure: f64 = before["d"]["CreditExposureAmount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(before["d"]["CustomerCreditLimitAmount"], "500.00");
    let csrf = sap.csrf().await;
    let big = sap
        .post_order(
            &csrf,
            &order(
                "10100001",
                json!([{"Material": "FG126", "RequestedQuantity": "1"}]),
            ),
        )
        .await;
    assert_eq!(big.status(), 201);
    let warning: Value =
        serde_json::from_str(&header(&big, "sap-message").expect("a sap-message")).unwrap();
    assert_eq!(warning["severity"], "warning");
    let body: Value = big.json().await.unwrap();
    assert_eq!(body["d"]["TotalCreditCheckStatus"], "B");
    let (_, after) = sap.get("API_CRDTMBUSINESSPARTNER", account).await;
    let grown: f64 = after["d"]["CreditExposureAmount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((grown - exposure - 1200.0).abs() < 0.005);
    assert_eq!(after["d"]["CreditLimitIsExceeded"], true);
}

#[tokio::test]
async fn updates_need_a_current_etag_412_stale_428_missing() {
    let sap = Sap::default().await;
    sap.double.clock().freeze_at(at("2026-06-03T00:00:00Z"));
    let csrf = sap.csrf().await;
    let url = sap.url(SALES, "A_SalesOrder('4000004')");
    let patch = |etag: Option<&str>, method: Method| {
        let mut r = sap
            .write(method, &url, &csrf)
            .json(&json!({"PurchaseOrderByCustomer": "CRM-NEW"}));
        if let Some(e) = etag {
            r = r.header("if-match", e);
        }
        r.send()
    };
    let missing = patch(None, Method::PATCH).await.unwrap();
    assert_eq!(missing.status(), 428);
    error_code(&missing.json().await.unwrap());
    let first = sap.etag("A_SalesOrder('4000004')").await;
    assert_eq!(
        patch(Some(&first), Method::PATCH).await.unwrap().status(),
        204
    );
    // Same second on the frozen clock, yet the first ETag is stale now.
    let stale = patch(Some(&first), Method::PATCH).await.unwrap();
    assert_eq!(stale.status(), 412);
    error_code(&stale.json().await.unwrap());
    let second = sap.etag("A_SalesOrder('4000004')").await;
    let tunnelled = sap
        .write(Method::POST, &url, &csrf)
        .header("x-http-method", "MERGE")
        .header("if-match", &second)
        .json(&json!({"PurchaseOrderByCustomer": "CRM-MERGED"}))
        .send()
        .await
        .unwrap();
    assert_eq!(tunnelled.status(), 204);
    let (_, body) = sap.get(SALES, "A_SalesOrder('4000004')").await;
    assert_eq!(body["d"]["PurchaseOrderByCustomer"], "CRM-MERGED");

    // An item change reprices the header; If-Match: * skips the check.
    let item = sap.url(
        SALES,
        "A_SalesOrderItem(SalesOrder='4000004',SalesOrderItem='10')",
    );
    let changed = sap
        .write(Method::PATCH, &item, &csrf)
        .header("if-match", "*")
        .json(&json!({"RequestedQuantity": "10"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), 204);
    let (_, body) = sap
        .get(SALES, "A_SalesOrder('4000004')?$expand=to_Item")
        .await;
    let items = body["d"]["to_Item"]["results"].as_array().unwrap();
    let sum: f64 = items
        .iter()
        .map(|i| i["NetAmount"].as_str().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(body["d"]["TotalNetAmount"], format!("{sum:.2}"));
    assert_eq!(items[0]["RequestedQuantity"], "10");

    let optional = Sap::start(SapConfig {
        if_match: IfMatch::Optional,
        ..SapConfig::default()
    })
    .await;
    let csrf = optional.csrf().await;
    let url = optional.url(SALES, "A_SalesOrder('4000004')");
    let r = optional
        .write(Method::PATCH, &url, &csrf)
        .json(&json!({"PurchaseOrderByCustomer": "X"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

fn batch_body(change_set: &[String]) -> String {
    let mut body =
        String::from("--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_1\r\n\r\n");
    for (i, op) in change_set.iter().enumerate() {
        body.push_str(&format!("--changeset_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n{op}\r\n", i + 1));
    }
    body.push_str("--changeset_1--\r\n\r\n--batch_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET A_SalesOrder('4000001')?$format=json HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n--batch_1--\r\n");
    body
}

fn post_op(body: &Value) -> String {
    format!("POST A_SalesOrder HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{body}")
}

#[tokio::test]
async fn batch_change_sets_are_atomic_and_answer_per_operation() {
    let sap = Sap::default().await;
    let csrf = sap.csrf().await;
    let send = |body: String| {
        sap.write(Method::POST, &sap.url(SALES, "$batch"), &csrf)
            .header("content-type", "multipart/mixed; boundary=batch_1")
            .body(body)
            .send()
    };
    let good = order(
        "10100002",
        json!([{"Material": "TG11", "RequestedQuantity": "1"}]),
    );
    let bad = order(
        "10100099",
        json!([{"Material": "TG11", "RequestedQuantity": "1"}]),
    );
    let failing = send(batch_body(&[post_op(&good), post_op(&bad)]))
        .await
        .unwrap();
    assert_eq!(failing.status(), 202);
    assert!(
        header(&failing, "content-type")
            .unwrap()
            .starts_with("multipart/mixed; boundary=batchresponse_")
    );
    let text = failing.text().await.unwrap();
    assert!(
        !text.contains("HTTP/1.1 201"),
        "the good order is rolled back: {text}"
    );
    assert!(text.contains("HTTP/1.1 400 Bad Request"), "{text}");
    assert!(text.contains("V1/384"), "{text}");
    assert!(
        text.contains("HTTP/1.1 200 OK"),
        "the retrieve part still answers: {text}"
    );
    assert_eq!(
        store_orders(&sap),
        6,
        "nothing of the failed change set stays"
    );

    let etag = sap.etag("A_SalesOrder('4000003')").await;
    let patch = format!(
        "PATCH A_SalesOrder('4000003') HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: {etag}\r\n\r\n{}",
        json!({"PurchaseOrderByCustomer": "CRM-BATCH"})
    );
    let item_of_new = "PATCH $1 HTTP/1.1\r\nContent-Type: application/json\r\nIf-Match: *\r\n\r\n{\"PurchaseOrderByCustomer\": \"CRM-REF\"}".to_owned();
    let ok = send(batch_body(&[post_op(&good), patch, item_of_new]))
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);
    let text = ok.text().await.unwrap();
    assert!(text.contains("boundary=changesetresponse_"), "{text}");
    assert_eq!(text.matches("HTTP/1.1 201 Created").count(), 1, "{text}");
    assert_eq!(text.matches("HTTP/1.1 204 No Content").count(), 2, "{text}");
    assert_eq!(store_orders(&sap), 7);
    let (_, changed) = sap.get(SALES, "A_SalesOrder('4000003')").await;
    assert_eq!(changed["d"]["PurchaseOrderByCustomer"], "CRM-BATCH");
    let (_, created) = sap.get(SALES, "A_SalesOrder('4000007')").await;
    assert_eq!(
        created["d"]["PurchaseOrderByCustomer"], "CRM-REF",
        "Content-ID $1 names the new order"
    );

    let no_token = sap
        .request(Method::POST, &sap.url(SALES, "$batch"))
        .header("content-type", "multipart/mixed; boundary=batch_1")
        .body(batch_body(&[]))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 403);
}

#[tokio::test]
async fn harness_faults_act_on_odata_routes() {
    let sap = Sap::default().await;
    let path = service_path(SALES, "A_SalesOrder");
    sap.double.faults().add(
        Fault::new(FaultAction::status(503))
            .on("GET", &path)
            .times(1),
    );
    sap.double.faults().add(
        Fault::new(FaultAction::too_many_requests(RetryAfter::Seconds(2)))
            .on("GET", &path)
            .times(1),
    );
    sap.double.faults().add(
        Fault::new(FaultAction::DropBeforeResponse)
            .on("GET", &path)
            .times(1),
    );
    let url = sap.url(SALES, "A_SalesOrder");
    assert_eq!(
        sap.request(Method::GET, &url)
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    let limited = sap.request(Method::GET, &url).send().await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(header(&limited, "retry-after").as_deref(), Some("2"));
    assert!(
        sap.request(Method::GET, &url).send().await.is_err(),
        "the connection is dropped"
    );
    assert_eq!(sap.get(SALES, "A_SalesOrder").await.0, 200);
    let logged = sap
        .double
        .requests()
        .matching("GET", "/sap/opu/odata/sap/**");
    assert_eq!(logged.len(), 4);
}

/// A business partner created with its customer (`to_Customer` and its sales areas, deep
/// inserted) can be sold to at once: the customer has the partner's number.
#[tokio::test]
async fn a_partner_created_with_its_customer_and_sales_area_can_be_sold_to() {
    let sap = Sap::default().await;
    let csrf = sap.csrf().await;
    let partner = json!({"BusinessPartnerCategory": "2", "OrganizationBPName1": "Neukunde GmbH",
        "SearchTerm1": "NEUKUNDE",
        "to_BusinessPartnerRole": [{"BusinessPartnerRole": "FLCU01"}],
        "to_Customer": {"to_CustomerSalesArea": [{"SalesOrganization": "1010",
            "DistributionChannel": "10", "Division": "00", "Currency": "EUR"}]}});
    let created = sap
        .write(Method::POST, &sap.url(BP, "A_BusinessPartner"), &csrf)
        .json(&partner)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let body: Value = created.json().await.unwrap();
    let number = body["d"]["BusinessPartner"].as_str().unwrap().to_owned();
    let (status, customer) = sap
        .get(
            BP,
            &format!("A_Customer('{number}')?$expand=to_CustomerSalesArea"),
        )
        .await;
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["d"]["CustomerName"], "Neukunde GmbH");
    let sold = sap
        .post_order(
            &csrf,
            &order(
                &number,
                json!([{"Material": "TG11", "RequestedQuantity": "1"}]),
            ),
        )
        .await;
    assert_eq!(sold.status(), 201, "{}", sold.text().await.unwrap());

    // Without `to_Customer`, the partner is no customer: SAP refuses to sell to it.
    let mut bare = partner.clone();
    bare.as_object_mut().unwrap().remove("to_Customer");
    let created = sap
        .write(Method::POST, &sap.url(BP, "A_BusinessPartner"), &csrf)
        .json(&bare)
        .send()
        .await
        .unwrap();
    let body: Value = created.json().await.unwrap();
    let number = body["d"]["BusinessPartner"].as_str().unwrap().to_owned();
    let refused = sap
        .post_order(
            &csrf,
            &order(
                &number,
                json!([{"Material": "TG11", "RequestedQuantity": "1"}]),
            ),
        )
        .await;
    assert_eq!(error_code(&refused.json().await.unwrap()), "V1/384");
}
