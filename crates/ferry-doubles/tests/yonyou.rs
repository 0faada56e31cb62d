//! The Yonyou double over HTTP, as a connector sees it: the gateway lookup, the signed
//! token, the answer shell, lists with paging and time filters over ties, idempotent
//! saves, refusals, rate-limit codes and encrypted, signed event pushes.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use ferry_doubles::yonyou::{
    self, EventCrypto, LimitLevel, MERCHANT, PushOutcome, RateLimit, VOUCHER_ORDER, YonyouConfig,
    YonyouDouble, events, wire_id,
};
use ferry_doubles::{Fault, FaultAction, RunningDouble};
use serde_json::{Value, json};
use support::client;

const MERCHANT_LIST: &str = "/yonbip/digitalModel/merchant/newlist";
const MERCHANT_DETAIL: &str = "/yonbip/digitalModel/merchant/newBatchDetail";
const MERCHANT_INSERT: &str = "/yonbip/digitalModel/merchant/idempotent/newinsert";
const MERCHANT_BATCH: &str = "/yonbip/digitalModel/batch/merchant/save";
const PRODUCT_LIST: &str = "/yonbip/digitalModel/product/listproductbycondition";
const PRODUCT_DETAIL: &str = "/yonbip/digitalModel/product/batchdetailnew";
const PRODUCT_SAVE: &str = "/yonbip/digitalModel/product/idempotent/save";
const ORDER_LIST: &str = "/yonbip/sd/voucherorder/list";
const ORDER_SAVE: &str = "/yonbip/sd/voucherorder/singleSave";

/// A running double, the handle that pushes, a client and (once taken) a token.
struct Yy {
    http: reqwest::Client,
    double: RunningDouble,
    yonyou: YonyouDouble,
    token: String,
}

impl Yy {
    async fn start(config: YonyouConfig) -> Self {
        let yonyou = YonyouDouble::new(config);
        let double = ferry_doubles::start(yonyou.clone(), 0)
            .await
            .expect("the double starts");
        let mut yy = Self {
            http: client(),
            double,
            yonyou,
            token: String::new(),
        };
        yy.token = yy.take_token().await;
        yy
    }

    async fn default() -> Self {
        Self::start(YonyouConfig::default()).await
    }

    /// GET `url`; the HTTP status and the JSON body.
    async fn get(&self, url: &str) -> (u16, Value) {
        let response = self.http.get(url).send().await.expect("the double answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    fn token_url(&self, app_key: &str, timestamp: u64, signature: &str) -> String {
        self.double.url(&format!(
            "/iuap-api-auth/open-auth/selfAppAuth/base/v1/getAccessToken?appKey={app_key}&timestamp={timestamp}&signature={signature}"
        ))
    }

    async fn take_token(&self) -> String {
        let now = now_ms();
        let signature = yonyou::token_signature("yy-app-key", now, "yy-app-s3cret");
        let (_, body) = self
            .get(&self.token_url("yy-app-key", now, &signature))
            .await;
        body["data"]["access_token"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    fn gateway_url(&self, path: &str) -> String {
        self.double.url(&format!(
            "/iuap-api-gateway{path}?access_token={}",
            self.token
        ))
    }

    /// POSTs `body` to an API with the token; the HTTP status and the body.
    async fn post_status(&self, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.gateway_url(path))
            .json(body)
            .send()
            .await
            .expect("the double answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, body) = self.post_status(path, &body).await;
        assert_eq!(status, 200, "Yonyou answers business errors in HTTP 200");
        body
    }
}

fn now_ms() -> u64 {
    yonyou_now()
}

fn yonyou_now() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn codes(rows: &Value) -> Vec<String> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_gateway_lookup_answers_this_doubles_urls() {
    let yy = Yy::default().await;
    let url = yy
        .double
        .url("/open-auth/dataCenter/getGatewayAddress?tenantId=ferry-tenant");
    let (status, body) = yy.get(&url).await;
    assert_eq!(status, 200);
    assert_eq!(body["code"], "00000");
    let base = yy.double.base_url();
    assert_eq!(body["data"]["tokenUrl"], format!("{base}/iuap-api-auth"));
    assert_eq!(
        body["data"]["gatewayUrl"],
        format!("{base}/iuap-api-gateway")
    );
    let other = yy
        .double
        .url("/open-auth/dataCenter/getGatewayAddress?tenantId=nobody");
    let (status, body) = yy.get(&other).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"code": "500", "message": "根据租户id获取网关地址出现异常"})
    );
}

#[tokio::test]
async fn a_token_needs_the_app_a_fresh_timestamp_and_the_signature() {
    let yy = Yy::default().await;
    let now = now_ms();
    let good = yonyou::token_signature("yy-app-key", now, "yy-app-s3cret");
    let (_, body) = yy.get(&yy.token_url("yy-app-key", now, &good)).await;
    assert_eq!(body["code"], "00000");
    assert_eq!(body["message"], "成功！");
    assert_eq!(body["data"]["expire"], 7200);
    assert!(!body["data"]["access_token"].as_str().unwrap().is_empty());

    let old_path = yy.double.url(&format!(
        "/iuap-api-auth/open-auth/selfAppAuth/getAccessToken?appKey=yy-app-key&timestamp={now}&signature={good}"
    ));
    assert_eq!(yy.get(&old_path).await.1["code"], "00000");

    let forged = yonyou::token_signature("yy-app-key", now, "guess");
    let (status, body) = yy.get(&yy.token_url("yy-app-key", now, &forged)).await;
    assert_eq!((status, body["code"].as_str()), (200, Some("310003")));
    assert!(body["message"].as_str().unwrap().contains("签名"));

    let stale = now - 10 * 60 * 1000;
    let signed_stale = yonyou::token_signature("yy-app-key", stale, "yy-app-s3cret");
    let (_, body) = yy
        .get(&yy.token_url("yy-app-key", stale, &signed_stale))
        .await;
    assert_eq!(body["code"], "310003");
    assert!(body["message"].as_str().unwrap().contains("过期"));

    // Seconds instead of milliseconds read as a time in 1970.
    let seconds = now / 1000;
    let signed_seconds = yonyou::token_signature("yy-app-key", seconds, "yy-app-s3cret");
    let (_, body) = yy
        .get(&yy.token_url("yy-app-key", seconds, &signed_seconds))
        .await;
    assert_eq!(body["code"], "310003");

    let (_, body) = yy.get(&yy.token_url("someone", now, &good)).await;
    assert_eq!(
        body,
        json!({"code": "10018", "message": "应用不存在或appKey已停用"})
    );

    // The Base64 signature sent without URL encoding: `+` reads as a space.
    let raw =
        yonyou::hmac_sha256_base64("yy-app-s3cret", &format!("appKeyyy-app-keytimestamp{now}"));
    let expected = if raw.contains('+') { "310003" } else { "00000" };
    let (_, body) = yy.get(&yy.token_url("yy-app-key", now, &raw)).await;
    assert_eq!(body["code"], expected);
}

#[tokio::test]
async fn calls_without_a_live_token_are_refused_inside_http_200() {
    let yy = Yy::start(YonyouConfig {
        token_lifetime: Duration::from_secs(1),
        ..YonyouConfig::default()
    })
    .await;
    let list = json!({"pageIndex": 1, "pageSize": 10});
    assert_eq!(yy.post(MERCHANT_LIST, list.clone()).await["code"], 200);

    let bare = yy.double.url(&format!("/iuap-api-gateway{MERCHANT_LIST}"));
    let response = yy.http.post(&bare).json(&list).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"code": "310001", "message": "access_token不能为空。"})
    );

    let forged = yy.double.url(&format!(
        "/iuap-api-gateway{MERCHANT_LIST}?access_token=nope"
    ));
    let body: Value = yy
        .http
        .post(&forged)
        .json(&list)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body, json!({"code": "310036", "message": "非法token"}));

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(yy.post(MERCHANT_LIST, list.clone()).await["code"], "310036");
}

#[tokio::test]
async fn an_expire_sessions_fault_expires_tokens() {
    let mut yy = Yy::default().await;
    yy.double
        .faults()
        .add(Fault::new(FaultAction::ExpireSessions).times(1));
    let list = json!({"pageIndex": 1, "pageSize": 10});
    let body = yy.post(PRODUCT_LIST, list.clone()).await;
    assert_eq!(body, json!({"code": "310036", "message": "非法token"}));
    yy.token = yy.take_token().await;
    assert_eq!(yy.post(PRODUCT_LIST, list).await["code"], "200");
}

#[tokio::test]
async fn an_unregistered_path_is_a_404_before_the_token_is_checked() {
    let yy = Yy::default().await;
    let url = yy
        .double
        .url("/iuap-api-gateway/yonbip/digitalModel/merchant/newinsert_copy");
    let response = yy.http.post(&url).json(&json!({})).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "310404");
    assert_eq!(
        body["message"],
        "网关上没有注册此API[/yonbip/digitalModel/merchant/newinsert_copy]，请确认后重新调用"
    );
    let (status, body) = yy.get(&yy.gateway_url(MERCHANT_LIST)).await;
    assert_eq!((status, body["code"].as_str()), (405, Some("310405")));
}

#[tokio::test]
async fn the_shell_carries_code_message_and_data() {
    let yy = Yy::default().await;
    let customers = yy
        .post(MERCHANT_LIST, json!({"pageIndex": 1, "pageSize": 10}))
        .await;
    assert_eq!(
        customers["code"], 200,
        "the customer list's example code is a number"
    );
    assert_eq!(customers["message"], "操作成功");
    let rows = customers["data"].as_array().expect("a bare array");
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["code"], "C0001");
    assert_eq!(rows[0]["name"]["simplifiedName"], "北京星辰科技有限公司");
    assert_eq!(rows[0]["id"], wire_id(MERCHANT, 1));
    assert_eq!(rows[0]["pubts"], "2024-05-01 09:00:00");
    assert!(rows[0].get("merchantAddressInfos").is_none());

    let materials = yy
        .post(PRODUCT_LIST, json!({"pageIndex": 1, "pageSize": 2}))
        .await;
    assert_eq!(materials["code"], "200");
    let data = &materials["data"];
    assert_eq!(
        (&data["recordCount"], &data["pageCount"], &data["pageIndex"]),
        (&json!(5), &json!(3), &json!(1))
    );
    assert_eq!(codes(&data["recordList"]), ["M0001", "M0002"]);

    let not_json = yy
        .http
        .post(yy.gateway_url(PRODUCT_LIST))
        .header("content-type", "application/json")
        .body("{pageIndex")
        .send()
        .await
        .unwrap();
    let body: Value = not_json.json().await.unwrap();
    assert_eq!(body["code"], "310002");
    let missing = yy.post(PRODUCT_LIST, json!({"pageSize": 2})).await;
    assert_eq!(missing["code"], "310008");
    assert!(missing["message"].as_str().unwrap().contains("pageIndex"));
    let too_big = yy
        .post(MERCHANT_LIST, json!({"pageIndex": 1, "pageSize": 5001}))
        .await;
    assert_eq!(too_big["code"], "999");
}

/// Inserts customers `codes` directly, all at the clock's (frozen) time.
fn insert_customers(double: &RunningDouble, codes: &[&str]) {
    for code in codes {
        let fields = json!({"code": code, "name": {"simplifiedName": format!("客户{code}")},
                            "createOrgCode": "global00", "stopstatus": false});
        double
            .store()
            .insert(MERCHANT, fields.as_object().unwrap().clone())
            .unwrap();
    }
}

#[tokio::test]
async fn customer_pages_from_a_watermark_include_every_tie() {
    let yy = Yy::default().await;
    yy.double
        .clock()
        .freeze_at("2024-06-01T02:00:00Z".parse().unwrap());
    insert_customers(&yy.double, &["T1", "T2", "T3"]);
    yy.double
        .clock()
        .freeze_at("2024-06-01T02:00:01Z".parse().unwrap());
    insert_customers(&yy.double, &["T4"]);

    let mut seen = Vec::new();
    for page in 1.. {
        let body = json!({"pageIndex": page, "pageSize": 2, "pubts": "2024-06-01 10:00:00"});
        let rows = yy.post(MERCHANT_LIST, body).await["data"].clone();
        seen.extend(codes(&rows));
        if rows.as_array().unwrap().len() < 2 {
            break;
        }
    }
    assert_eq!(
        seen,
        ["T1", "T2", "T3", "T4"],
        "pubts is inclusive, ties by id"
    );

    let range = json!({"pageIndex": 1, "pageSize": 10,
        "beganTime": "2024-06-01 10:00:00", "endTime": "2024-06-01 10:00:00"});
    assert_eq!(
        codes(&yy.post(MERCHANT_LIST, range).await["data"]),
        ["T1", "T2", "T3"]
    );
    let by_code = json!({"pageIndex": 1, "pageSize": 10, "code": "T4"});
    assert_eq!(
        codes(&yy.post(MERCHANT_LIST, by_code).await["data"]),
        ["T4"]
    );
}

#[tokio::test]
async fn material_time_ranges_and_order_conditions_see_ties() {
    let yy = Yy::default().await;
    // Seeded materials: two per second from 10:00:00 Beijing time.
    let range = json!({"pageIndex": 1, "pageSize": 10,
        "beganTime": "2024-05-01 10:00:01", "endTime": "2024-05-01 10:00:02"});
    let data = yy.post(PRODUCT_LIST, range).await["data"].clone();
    assert_eq!(codes(&data["recordList"]), ["M0003", "M0004", "M0005"]);

    // Seeded orders at 11:00:00 (two) and 11:00:01 (two); 1, 2, 3 and 1 lines.
    let gt = json!({"pageIndex": 1, "pageSize": 10, "isSum": true,
        "simpleVOs": [{"field": "pubts", "op": "gt", "value1": "2024-05-01 11:00:00"}]});
    let data = yy.post(ORDER_LIST, gt).await["data"].clone();
    assert_eq!(data["recordCount"], 2, "gt excludes the tie at the bound");
    let between = json!({"pageIndex": 1, "pageSize": 10, "isSum": true,
        "simpleVOs": [{"field": "pubts", "op": "between",
                       "value1": "2024-05-01 11:00:00", "value2": "2024-05-01 11:00:01"}],
        "queryOrders": [{"field": "code", "order": "desc"}]});
    let data = yy.post(ORDER_LIST, between).await["data"].clone();
    assert_eq!(
        codes(&data["recordList"]),
        [
            "UO-20240501000004",
            "UO-20240501000003",
            "UO-20240501000002",
            "UO-20240501000001"
        ]
    );
    assert!(data["recordList"][0].get("orderDetails").is_none());
    assert_eq!(data["recordList"][0]["orderPrices"]["currency_code"], "CNY");

    let lines = json!({"pageIndex": 1, "pageSize": 4});
    let data = yy.post(ORDER_LIST, lines).await["data"].clone();
    assert_eq!(data["recordCount"], 7, "one row per line without isSum");
    assert_eq!(data["pageCount"], 2);
    let first = &data["recordList"][0];
    assert_eq!(first["code"], "UO-20240501000001");
    assert_eq!(first["orderDetails_productId_code"], "M0001");
    assert!(first["orderDetailPrices"]["oriMoney"].is_number());
}

fn new_customer(key: &str, code: &str) -> Value {
    json!({"data": {"resubmitCheckKey": key, "code": code,
        "name": {"simplifiedName": "苏州新客户有限公司"}, "createOrgCode": "global00",
        "enterpriseNature": 0, "licenseType": 0, "creditCode": "91320500MA1XYZ0000",
        "merchantContactInfos": [{"fullName": "赵六", "mobile": "13812345678", "isDefault": true}],
        "merchantAddressInfos": [{"addressCode": "A1", "address": "苏州市工业园区星湖街1号", "isDefault": true}]}})
}

#[tokio::test]
async fn the_same_resubmit_check_key_saves_once() {
    let yy = Yy::default().await;
    yy.double
        .clock()
        .freeze_at("2024-06-01T00:00:00Z".parse().unwrap());
    let first = yy
        .post(MERCHANT_INSERT, new_customer("cust-C0100", "C0100"))
        .await;
    assert_eq!(first["code"], "200");
    assert_eq!(first["success"], true);
    let id = first["data"][0]["id"].clone();
    assert_eq!(first["data"][0]["code"], "C0100");
    let again = yy
        .post(MERCHANT_INSERT, new_customer("cust-C0100", "C0100"))
        .await;
    assert_eq!(again, first, "a replay answers the first result");
    let stored = yy.double.store().list(MERCHANT, None, None).unwrap();
    assert_eq!(stored.len(), 7);

    yy.double.clock().advance(chrono::Duration::minutes(61));
    let late = yy
        .post(MERCHANT_INSERT, new_customer("cust-C0100", "C0100"))
        .await;
    assert_eq!(late["code"], "100004");
    assert_eq!(late["data"], json!({ "id": id }));

    let other_key = yy
        .post(MERCHANT_INSERT, new_customer("cust-other", "C0100"))
        .await;
    assert_eq!(other_key["code"], 0);
    assert_eq!(other_key["message"], "客户编码[C0100]已存在!");

    let detail = yy.post(MERCHANT_DETAIL, json!([{"code": "C0100"}])).await;
    let customer = &detail["data"][0];
    assert_eq!(customer["id"], id);
    assert_eq!(
        customer["merchantAddressInfos"][0]["address"],
        "苏州市工业园区星湖街1号"
    );
}

fn material(key: &str, name: &str) -> Value {
    json!({"data": {"resubmitCheckKey": key, "code": "M0100", "name": {"simplifiedName": name},
        "orgCode": "global00", "manageClassCode": "01", "realProductAttribute": 1,
        "unitUseType": 2, "unitCode": "PCS",
        "detail": {"purchaseUnitCode": "PCS", "stockUnitCode": "PCS", "businessAttribute": "1,7"}}})
}

#[tokio::test]
async fn the_material_save_upserts_by_code() {
    let yy = Yy::default().await;
    yy.double
        .clock()
        .freeze_at("2024-06-01T00:00:00Z".parse().unwrap());
    let inserted = yy.post(PRODUCT_SAVE, material("m-1", "六角螺母 M8")).await;
    assert_eq!(inserted["code"], "200");
    assert_eq!(inserted["message"], "操作成功");
    let id = inserted["data"]["id"].clone();
    yy.double.clock().advance(chrono::Duration::seconds(5));
    let updated = yy
        .post(PRODUCT_SAVE, material("m-2", "六角螺母 M8（镀锌）"))
        .await;
    assert_eq!(updated["data"]["id"], id, "the same code updates");
    let detail = yy
        .post(
            PRODUCT_DETAIL,
            json!({"productCode": "M0100", "orgCode": "global00"}),
        )
        .await;
    let row = &detail["data"][0];
    assert_eq!(row["name"]["simplifiedName"], "六角螺母 M8（镀锌）");
    assert_eq!(row["pubts"], "2024-06-01 08:00:05");
    assert_eq!(row["detail"]["stockUnitCode"], "PCS");
    let no_org = yy
        .post(PRODUCT_DETAIL, json!({"productCode": "M0100"}))
        .await;
    assert_eq!(no_org["code"], "310008");
}

#[tokio::test]
async fn refusals_name_the_field_and_are_not_remembered() {
    let yy = Yy::default().await;
    let mut nameless = new_customer("cust-C0200", "C0200");
    nameless["data"]["name"] = json!({});
    let refused = yy.post(MERCHANT_INSERT, nameless).await;
    assert_eq!(
        refused,
        json!({"code": 0, "message": "客户名称不能为空!", "data": null})
    );
    let fixed = yy
        .post(MERCHANT_INSERT, new_customer("cust-C0200", "C0200"))
        .await;
    assert_eq!(
        fixed["code"], "200",
        "a refusal is not cached under its key"
    );

    let mut unknown_org = new_customer("cust-C0201", "C0201");
    unknown_org["data"]["createOrgCode"] = json!("ZZ");
    let refused = yy.post(MERCHANT_INSERT, unknown_org).await;
    assert_eq!(refused["message"], "管理组织编码:ZZ未找到");

    let mut incomplete = material("m-3", "垫圈");
    incomplete["data"]
        .as_object_mut()
        .unwrap()
        .remove("realProductAttribute");
    let refused = yy.post(PRODUCT_SAVE, incomplete).await;
    assert_eq!(refused["code"], "310008");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("data.realProductAttribute")
    );
    let mut bad_class = material("m-4", "垫圈");
    bad_class["data"]["manageClassCode"] = json!("99");
    let refused = yy.post(PRODUCT_SAVE, bad_class).await;
    assert_eq!(
        refused,
        json!({"code": "999", "message": "物料分类编码:99未找到"})
    );

    let long_key = "k".repeat(33);
    let refused = yy.post(PRODUCT_SAVE, material(&long_key, "垫圈")).await;
    assert_eq!(refused["code"], "310015");
}

fn order(key: &str, customer: &str, pay: f64) -> Value {
    json!({"data": {"resubmitCheckKey": key, "_status": "Insert",
        "salesOrgId": "101", "transactionTypeId": "SO01", "vouchdate": "2024-06-01 00:00:00",
        "agentId": customer, "invoiceAgentId": customer, "settlementOrgId": "101",
        "payMoney": pay, "orderPrices!currency": "CNY", "orderPrices!natCurrency": "CNY",
        "orderPrices!exchRate": 1, "orderPrices!exchangeRateType": "01",
        "orderPrices!taxInclusive": true, "memo": "CRM 订单 O-1",
        "orderDetails": [{"_status": "Insert", "productId": "M0002", "qty": 10, "priceQty": 10,
            "masterUnitId": "PCS", "iProductUnitId": "PCS", "oriTaxUnitPrice": 113, "oriSum": 1130,
            "orderDetailPrices!oriUnitPrice": 100, "orderDetailPrices!oriMoney": 1000,
            "orderDetailPrices!oriTax": 130, "taxId": "VAT13", "stockOrgId": "101",
            "settlementOrgId": "101"}]}})
}

#[tokio::test]
async fn sales_orders_save_once_check_totals_and_move_through_their_states() {
    let yy = Yy::default().await;
    let saved = yy.post(ORDER_SAVE, order("so-O-1", "C0002", 1130.0)).await;
    assert_eq!(saved["code"], "200");
    let header = &saved["data"];
    let id = header["id"].clone();
    assert_eq!(header["agentId"], wire_id(MERCHANT, 2));
    assert_eq!(header["orderPrices"]["currency_code"], "CNY");
    assert_eq!(
        header["orderDetails"][0]["orderDetailPrices"]["oriTax"],
        130.0
    );
    assert_eq!(header["verifystate"], 0);
    let replay = yy.post(ORDER_SAVE, order("so-O-1", "C0002", 1130.0)).await;
    assert_eq!(replay, saved);
    assert_eq!(
        yy.double
            .store()
            .list(VOUCHER_ORDER, None, None)
            .unwrap()
            .len(),
        5
    );

    let unbalanced = yy.post(ORDER_SAVE, order("so-O-2", "C0002", 1000.0)).await;
    assert_eq!(unbalanced["code"], "999");
    assert!(unbalanced["message"].as_str().unwrap().contains("payMoney"));
    let unknown = yy.post(ORDER_SAVE, order("so-O-3", "C0999", 1130.0)).await;
    assert_eq!(
        unknown,
        json!({"code": "999", "message": "客户:C0999未找到"})
    );
    let mut nested = order("so-O-4", "C0002", 1130.0);
    nested["data"]
        .as_object_mut()
        .unwrap()
        .remove("orderPrices!currency");
    nested["data"]["orderPrices"] = json!({"currency": "CNY"});
    let refused = yy.post(ORDER_SAVE, nested).await;
    assert_eq!(refused["code"], "310008");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("orderPrices!currency")
    );

    let ids = json!({"data": [{"id": id}, {"id": wire_id(VOUCHER_ORDER, 3)}]});
    let submitted = yy
        .post("/yonbip/sd/voucherorder/batchsubmit", ids.clone())
        .await;
    assert_eq!(submitted["code"], "200");
    assert_eq!(submitted["data"]["sucessCount"], 2);
    assert_eq!(submitted["data"]["infos"][0]["nextStatus"], "APPROVING");
    let audited = yy
        .post("/yonbip/sd/voucherorder/batchaudit", ids.clone())
        .await;
    assert_eq!(audited["data"]["failCount"], 0);
    let again = yy.post("/yonbip/sd/voucherorder/batchaudit", ids).await;
    assert_eq!(again["code"], "200", "partial failure still answers 200");
    assert_eq!(again["data"]["failCount"], 2);
    assert!(
        again["data"]["messages"][0]
            .as_str()
            .unwrap()
            .contains("已审核")
    );

    let delete = json!({"data": {"resubmitCheckKey": "del-1", "id": [id]}});
    let refused = yy.post("/yonbip/sd/voucherorder/delete", delete).await;
    assert_eq!(refused["data"]["failCount"], 1);
    let unaudit = json!({"data": [{"id": id}]});
    yy.post("/yonbip/sd/voucherorder/batchunaudit", unaudit)
        .await;
    let delete = json!({"data": {"resubmitCheckKey": "del-2", "id": [id]}});
    let deleted = yy.post("/yonbip/sd/voucherorder/delete", delete).await;
    assert_eq!(deleted["data"]["sucessCount"], 1);
    let (_, gone) = yy
        .get(&format!(
            "{}&id={id}",
            yy.gateway_url("/yonbip/sd/voucherorder/detail")
        ))
        .await;
    assert_eq!(gone, json!({"code": "1002", "message": "数据不存在"}));
}

#[tokio::test]
async fn the_detail_of_a_sales_order_is_a_get_with_its_lines() {
    let yy = Yy::default().await;
    let id = wire_id(VOUCHER_ORDER, 2);
    let url = format!(
        "{}&id={id}",
        yy.gateway_url("/yonbip/sd/voucherorder/detail")
    );
    let (status, body) = yy.get(&url).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["code"], "UO-20240501000002");
    assert_eq!(body["data"]["orderDetails"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn an_update_replaces_sent_lines_and_keeps_the_others() {
    let yy = Yy::default().await;
    let saved = yy.post(ORDER_SAVE, order("so-U-1", "C0001", 1130.0)).await;
    let id = saved["data"]["id"].clone();
    let line_id = saved["data"]["orderDetails"][0]["id"].clone();
    let mut update = order("so-U-2", "C0001", 2260.0);
    update["data"]["_status"] = json!("Update");
    update["data"]["id"] = id.clone();
    let mut line = update["data"]["orderDetails"][0].clone();
    line["_status"] = json!("Insert");
    update["data"]["orderDetails"] = json!([line]);
    let updated = yy.post(ORDER_SAVE, update).await;
    assert_eq!(updated["code"], "200");
    let lines = updated["data"]["orderDetails"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["id"], line_id);
    assert_eq!(updated["data"]["code"], saved["data"]["code"]);
}

#[tokio::test]
async fn the_batch_customer_save_reports_each_row() {
    let yy = Yy::default().await;
    let body = json!({"data": [
        {"_status": "Insert", "code": "C0300", "org_code": "global00",
         "name": {"zh_CN": "南京长江贸易有限公司"}, "customerClass_code": "02",
         "merchantAppliedDetail": {"stopstatus": false}},
        {"_status": "Update", "code": "C0001", "name": {"zh_CN": "北京星辰科技股份有限公司"},
         "merchantAddressInfos": [{"_status": "Insert", "addressCode": "A2", "address": "北京市朝阳区建国路2号"}]},
        {"_status": "Insert", "code": "C0301", "org_code": "global00",
         "name": {"zh_CN": "缺分类公司"}, "merchantAppliedDetail": {}}]});
    let answer = yy.post(MERCHANT_BATCH, body).await;
    assert_eq!(answer["code"], "200");
    let data = &answer["data"];
    assert_eq!(
        (&data["count"], &data["sucessCount"], &data["failCount"]),
        (&json!(3), &json!(2), &json!(1))
    );
    assert!(
        data["messages"][0]
            .as_str()
            .unwrap()
            .contains("customerClass_code")
    );
    let first = yy
        .double
        .store()
        .find_by_key(MERCHANT, "C0001")
        .unwrap()
        .unwrap();
    assert_eq!(
        first.fields["name"]["simplifiedName"],
        "北京星辰科技股份有限公司"
    );
    assert_eq!(
        first.fields["merchantAddressInfos"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn rate_limit_codes_come_from_faults_and_quotas() {
    let yy = Yy::default().await;
    let list = json!({"pageIndex": 1, "pageSize": 1});
    yy.double.faults().add(yonyou::rate_limited(2));
    for _ in 0..2 {
        let limited = yy.post(PRODUCT_LIST, list.clone()).await;
        assert_eq!(limited, json!({"code": "310046", "message": "API被限流"}));
    }
    assert_eq!(yy.post(PRODUCT_LIST, list.clone()).await["code"], "200");
    for level in LimitLevel::ALL {
        yy.double.faults().add(yonyou::rate_limited_at(level, 1));
        assert_eq!(
            yy.post(PRODUCT_LIST, list.clone()).await["code"],
            level.code()
        );
    }
    yy.double
        .faults()
        .add(yonyou::still_processing(ORDER_SAVE, 1));
    let processing = yy.post(ORDER_SAVE, order("so-R-1", "C0001", 1130.0)).await;
    assert_eq!(processing["code"], "202");
    let retried = yy.post(ORDER_SAVE, order("so-R-1", "C0001", 1130.0)).await;
    assert_eq!(retried["code"], "200");

    let fault = json!({"path": "/iuap-api-gateway/yonbip/**", "times": 1,
        "action": {"kind": "error_in_ok", "code": "310039", "message": "触发了应用级限流"}});
    let added = yy
        .http
        .post(yy.double.url("/_double/faults"))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    assert_eq!(yy.post(PRODUCT_LIST, list).await["code"], "310039");

    let quota = Yy::start(YonyouConfig {
        rate_limit: Some(RateLimit {
            calls: 2,
            window: Duration::from_secs(60),
        }),
        ..YonyouConfig::default()
    })
    .await;
    let list = json!({"pageIndex": 1, "pageSize": 1});
    assert_eq!(quota.post(ORDER_LIST, list.clone()).await["code"], "200");
    assert_eq!(quota.post(ORDER_LIST, list.clone()).await["code"], "200");
    assert_eq!(quota.post(ORDER_LIST, list.clone()).await["code"], "310046");
    assert_eq!(
        quota.post(PRODUCT_LIST, list).await["code"],
        "200",
        "quotas are per API"
    );
}

/// How the test callback answers.
#[derive(Clone, Copy)]
enum Reply {
    Encrypted,
    Plain,
    Fail,
}

/// A callback receiving pushes: checks each signature, decrypts, records the message.
struct Callback {
    url: String,
    received: Arc<Mutex<Vec<Value>>>,
}

async fn callback(reply: Reply) -> Callback {
    let crypto = EventCrypto::new("yy-app-key", "yy-app-s3cret");
    let received = Arc::new(Mutex::new(Vec::new()));
    let state = (crypto, received.clone(), reply);
    let app = axum::Router::new()
        .route("/callback", post(receive))
        .with_state(Arc::new(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/callback", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Callback { url, received }
}

type CallbackState = Arc<(EventCrypto, Arc<Mutex<Vec<Value>>>, Reply)>;

async fn receive(State(state): State<CallbackState>, body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (crypto, received, reply) = state.as_ref();
    let outer: Value = serde_json::from_str(&body).unwrap();
    let sealed = EventCrypto::parse_sealed(&outer).expect("the push shape");
    let message = crypto.open(&sealed).expect("a good signature and app key");
    received
        .lock()
        .unwrap()
        .push(serde_json::from_str(&message).unwrap());
    match reply {
        Reply::Encrypted => {
            let answer = crypto.seal("success", 1, "nonce-of-reply00").unwrap();
            axum::Json(answer).into_response()
        }
        Reply::Plain => "success".into_response(),
        Reply::Fail => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "busy").into_response(),
    }
}

#[tokio::test]
async fn pushes_are_encrypted_signed_and_acknowledged() {
    let yy = Yy::default().await;
    assert!(yy.yonyou.check_url().await.is_none(), "no URL, no push");
    let receiver = callback(Reply::Encrypted).await;
    yy.yonyou.set_push_url(Some(&receiver.url));
    let check = yy.yonyou.check_url().await.unwrap();
    assert_eq!(check.outcome, PushOutcome::EncryptedSuccess);
    let sent = &check.sent;
    assert_eq!(sent["signature"].as_str().unwrap().len(), 44);
    assert!(sent["timestamp"].is_u64());
    assert_eq!(sent["nonce"].as_str().unwrap().len(), 16);

    yy.post(MERCHANT_INSERT, new_customer("cust-P1", "C0400"))
        .await;
    let log = yy.yonyou.wait_for_pushes(2, Duration::from_secs(5)).await;
    assert_eq!(log.len(), 2);
    let messages = receiver.received.lock().unwrap().clone();
    assert_eq!(messages[0]["type"], events::CHECK_URL);
    let insert = &messages[1];
    assert_eq!(insert["type"], events::MERCHANT_INSERT);
    assert_eq!(insert["tenantId"], "ferry-tenant");
    assert_eq!(insert["code"], "C0400");
    assert_eq!(insert["name"]["zh_CN"], "苏州新客户有限公司");
    assert_eq!(insert["eventId"].as_str().unwrap().len(), 36);

    let audited = yy
        .yonyou
        .push_record_event(
            yy.double.store(),
            events::SALE_AUDIT,
            VOUCHER_ORDER,
            "UO-20240501000001",
        )
        .await
        .unwrap();
    assert!(audited.delivered());
    assert_eq!(audited.event["BILL_INFO"]["billNo"], "voucher_order");
    assert_eq!(
        audited.event["BILL_INFO"]["billId"],
        wire_id(VOUCHER_ORDER, 1)
    );
}

#[tokio::test]
async fn a_plain_success_is_accepted_and_failures_are_retried_with_one_event_id() {
    let yy = Yy::default().await;
    let plain = callback(Reply::Plain).await;
    yy.yonyou.set_push_url(Some(&plain.url));
    let delivery = yy
        .yonyou
        .push_event(
            events::PRODUCT_UPDATE,
            json!({"archive": {"id": 1, "orgId": 2}}),
        )
        .await
        .unwrap();
    assert_eq!(delivery.outcome, PushOutcome::PlainSuccess);

    let failing = callback(Reply::Fail).await;
    let set = yy
        .http
        .post(yy.double.url("/_double/yonyou/push-url"))
        .json(&json!({"url": failing.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 204);
    let pushed: Value = yy
        .http
        .post(yy.double.url("/_double/yonyou/push"))
        .json(&json!({"type": events::MERCHANT_UPDATE, "object": "merchant", "code": "C0002"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pushed["attempts"], 3, "one attempt and two retries");
    assert_eq!(pushed["outcome"]["kind"], "refused");
    assert_eq!(pushed["outcome"]["status"], 500);
    let received = failing.received.lock().unwrap().clone();
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|m| m["eventId"] == received[0]["eventId"])
    );
    assert_eq!(received[0]["code"], "C0002");
}

#[test]
fn a_connector_can_check_its_own_crypto_against_the_helpers() {
    let crypto = EventCrypto::new("yy-app-key", "yy-app-s3cret");
    let sealed = crypto
        .seal(
            "{\"type\":\"CHECK_URL\"}",
            1_530_862_251_583,
            "uM48M4qajlEtVCz4",
        )
        .unwrap();
    assert_eq!(
        crypto.decrypt(&sealed.encrypt).unwrap(),
        "{\"type\":\"CHECK_URL\"}"
    );
    assert_eq!(
        crypto.sign(sealed.timestamp, &sealed.nonce, &sealed.encrypt),
        sealed.signature
    );
    let mut tampered = sealed.clone();
    tampered.timestamp += 1;
    assert!(crypto.open(&tampered).is_err());
    let stranger = EventCrypto::new("another-app", "yy-app-s3cret");
    assert!(
        stranger.open(&sealed).is_err(),
        "the app key at the tail is checked"
    );
}
