//! The Jiandaoyun double over HTTP, as a connector sees it: the bearer key, the metadata
//! APIs, `data/list` paging by `data_id` with filters, single and batch writes with
//! `transaction_id`, refusals naming the field, rate limits, faults, and the signed data
//! push with its auto-disable.

mod support;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::post;
use ferry_doubles::jiandaoyun::{
    self, APP_ID, CUSTOMER_FORM, JiandaoyunConfig, JiandaoyunDouble, ORDER_FORM, PushOutcome,
    RateLimits, code, customer, order,
};
use ferry_doubles::{Fault, FaultAction, RunningDouble};
use serde_json::{Value, json};
use support::client;

/// A running double, the handle that drives its push, and a client with the key.
struct Jdy {
    http: reqwest::Client,
    double: RunningDouble,
    handle: JiandaoyunDouble,
    key: String,
}

impl Jdy {
    async fn start(config: JiandaoyunConfig) -> Self {
        let key = config.api_key.clone();
        let handle = JiandaoyunDouble::new(config);
        let double = ferry_doubles::start(handle.clone(), 0)
            .await
            .expect("the double starts");
        Self {
            http: client(),
            double,
            handle,
            key,
        }
    }

    async fn started() -> Self {
        Self::start(JiandaoyunConfig::default()).await
    }

    /// POSTs `body` to `/api/v5/<api>` with `key`; the status and the JSON body.
    async fn call_with(&self, api: &str, body: &Value, key: Option<&str>) -> (u16, Value) {
        let url = self.double.url(&format!("/api/v5/{api}"));
        let mut request = self.http.post(url).json(body);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let response = request.send().await.expect("the double answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    async fn call(&self, api: &str, body: Value) -> (u16, Value) {
        self.call_with(api, &body, Some(&self.key)).await
    }

    /// A successful call's body.
    async fn ok(&self, api: &str, body: Value) -> Value {
        let (status, answer) = self.call(api, body).await;
        assert_eq!(status, 200, "{api}: {answer}");
        answer
    }

    async fn list(&self, form: &str, extra: Value) -> Vec<Value> {
        let mut body = json!({"app_id": APP_ID, "entry_id": form});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let answer = self.ok("app/entry/data/list", body).await;
        answer["data"].as_array().unwrap().clone()
    }

    /// Every record of `form` passing `filter`, page by page (`limit` each) through the
    /// `data_id` cursor.
    async fn list_all(&self, form: &str, filter: Value, limit: usize) -> Vec<Value> {
        let mut all: Vec<Value> = Vec::new();
        loop {
            let mut extra = json!({"limit": limit, "filter": filter});
            if let Some(last) = all.last() {
                extra["data_id"] = last["_id"].clone();
            }
            let page = self.list(form, extra).await;
            let done = page.len() < limit;
            all.extend(page);
            if done {
                return all;
            }
        }
    }

    fn count(&self, form: &str) -> usize {
        self.double.store().list(form, None, None).unwrap().len()
    }
}

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["_id"].as_str().unwrap().to_owned())
        .collect()
}

fn wrap(values: Value) -> Value {
    let wrapped = values
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), json!({ "value": v })))
        .collect();
    Value::Object(wrapped)
}

fn new_customer(name: &str) -> Value {
    wrap(json!({
        customer::NAME: name, customer::NUMBER: "KH9001", customer::CREDIT: 88000,
        customer::SIGNED_AT: "2024-06-01T08:00:00+08:00", customer::OWNER: "lisi",
        customer::DEPARTMENT: 2, customer::TAGS: ["新客户"],
        customer::ADDRESS: {"province": "江苏省", "city": "苏州市", "district": "工业园区", "detail": "星湖街1号"},
        customer::CONTRACTS: [{"name": "合同.pdf", "size": 1024, "mime": "application/pdf", "url": "https://files.example/合同.pdf"}],
    }))
}

#[tokio::test]
async fn the_bearer_key_is_checked_and_only_post_is_served() {
    let jdy = Jdy::started().await;
    let body = json!({});
    let (status, answer) = jdy.call_with("app/list", &body, Some("wrong-key")).await;
    assert_eq!(status, 401);
    assert_eq!(answer["code"], code::INVALID_API_KEY);
    assert!(answer["msg"].as_str().unwrap().contains("API Key"));
    let (status, _) = jdy.call_with("app/list", &body, None).await;
    assert_eq!(status, 401);
    let get = jdy
        .http
        .get(jdy.double.url("/api/v5/app/list"))
        .bearer_auth(&jdy.key)
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    let (status, answer) = jdy.call("app/entry/data/nope", json!({})).await;
    assert_eq!(
        (status, answer["code"].as_i64()),
        (404, Some(code::NO_SUCH_API))
    );
    let apps = jdy.ok("app/list", json!({"limit": 100, "skip": 0})).await;
    assert_eq!(
        apps["apps"],
        json!([{"name": "客户管理", "app_id": APP_ID}])
    );
}

#[tokio::test]
async fn forms_and_widgets_are_listed_with_sub_form_items() {
    let jdy = Jdy::started().await;
    let forms = jdy.ok("app/entry/list", json!({"app_id": APP_ID})).await;
    let names: Vec<&str> = forms["forms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["客户", "订单", "产品"]);
    assert_eq!(forms["forms"][1]["entry_id"], ORDER_FORM);
    let (status, answer) = jdy
        .call(
            "app/entry/list",
            json!({"app_id": "000000000000000000000000"}),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_i64()),
        (400, Some(code::APP_NOT_FOUND))
    );

    let body = json!({"app_id": APP_ID, "entry_id": ORDER_FORM});
    let widgets = jdy.ok("app/entry/widget/list", body).await;
    let lines = widgets["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == order::LINES)
        .unwrap();
    assert_eq!(lines["type"], "subform");
    assert_eq!(
        lines["items"][1],
        json!({"name": order::line::QTY, "label": "数量", "type": "number"})
    );
    assert!(
        widgets["sysWidgets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["name"] == "updateTime")
    );
    assert!(widgets["dataModifyTime"].is_string());
    let body = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM});
    let types: Vec<String> = jdy.ok("app/entry/widget/list", body).await["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["type"].as_str().unwrap().to_owned())
        .collect();
    for t in [
        "text", "number", "datetime", "user", "dept", "address", "image", "upload",
    ] {
        assert!(types.iter().any(|have| have == t), "{t} in {types:?}");
    }
    let (status, answer) = jdy
        .call(
            "app/entry/widget/list",
            json!({"app_id": APP_ID, "entry_id": "x"}),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_i64()),
        (400, Some(code::FORM_NOT_FOUND))
    );
}

#[tokio::test]
async fn seeded_records_carry_system_fields_and_chinese_values() {
    let jdy = Jdy::started().await;
    let orders = jdy.list(ORDER_FORM, json!({"limit": 100})).await;
    assert_eq!(orders.len(), 5);
    let first = &orders[0];
    assert_eq!(first[order::ORDER_NO], "DD000001");
    assert_eq!(first["appId"], APP_ID);
    assert_eq!(first["entryId"], ORDER_FORM);
    assert_eq!(first["createTime"], "2024-05-01T02:00:00.000Z");
    assert_eq!(first["creator"]["username"], "zhangsan");
    assert_eq!(
        first[order::SALES],
        json!({"username": "zhangsan", "name": "张三"})
    );
    assert_eq!(
        first[order::DEPARTMENT],
        json!({"dept_no": 2, "name": "销售部"})
    );
    assert_eq!(first[order::SHIP_TO]["city"], "上海市");
    let line = &first[order::LINES][0];
    assert_eq!(line["_id"].as_str().unwrap().len(), 24);
    assert_eq!(line[order::line::PRODUCT], "不锈钢螺栓 M8");
    assert!(
        first[order::ATTACHMENTS][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let customers = jdy.list(CUSTOMER_FORM, json!({"limit": 100})).await;
    let times: Vec<&str> = customers
        .iter()
        .map(|c| c["updateTime"].as_str().unwrap())
        .collect();
    assert_eq!(times[0], times[1], "seeded update times tie");
}

#[tokio::test]
async fn paging_by_data_id_reads_every_record_once_across_tied_update_times() {
    let jdy = Jdy::started().await;
    jdy.double
        .clock()
        .freeze_at("2024-06-01T00:00:00Z".parse().unwrap());
    for i in 0..5 {
        let data = new_customer(&format!("同秒客户{i}"));
        jdy.ok(
            "app/entry/data/create",
            json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM, "data": data}),
        )
        .await;
    }
    let since = json!({"rel": "and", "cond": [{"field": "updateTime", "type": "datetime",
        "method": "range", "value": ["2024-05-01T01:00:01.000Z", null]}]});
    let read = jdy.list_all(CUSTOMER_FORM, since, 2).await;
    let read_ids = ids(&read);
    let mut sorted = read_ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(read_ids, sorted, "ascending by _id, no repeats");
    // 7 seeded three per second: the first three are before the window; 4 + 5 new.
    assert_eq!(read.len(), 9);
    let tied = read
        .iter()
        .filter(|r| r["updateTime"] == "2024-06-01T00:00:00.000Z")
        .count();
    assert_eq!(tied, 5);

    let everything = jdy.list_all(CUSTOMER_FORM, Value::Null, 3).await;
    assert_eq!(everything.len(), 12);
    let default_page = jdy.list(CUSTOMER_FORM, json!({})).await;
    assert_eq!(default_page.len(), jiandaoyun::DEFAULT_LIMIT as usize);
    for limit in [0, 101] {
        let body = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM, "limit": limit});
        let (status, answer) = jdy.call("app/entry/data/list", body).await;
        assert_eq!(
            (status, answer["code"].as_i64()),
            (400, Some(code::BAD_PARAMETER))
        );
    }
    let narrow = jdy
        .list(
            CUSTOMER_FORM,
            json!({"fields": [customer::NAME, "updateTime"], "limit": 1}),
        )
        .await;
    let keys: Vec<&String> = narrow[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["_id", customer::NAME, "updateTime"]);
}

#[tokio::test]
async fn filters_follow_the_documented_methods() {
    let jdy = Jdy::started().await;
    let names = |records: Vec<Value>| -> Vec<String> {
        records
            .iter()
            .map(|r| r[customer::NAME].as_str().unwrap().to_owned())
            .collect()
    };
    let eq = json!({"filter": {"rel": "and", "cond": [
        {"field": customer::NUMBER, "type": "text", "method": "eq", "value": ["KH0002"]}]}});
    assert_eq!(
        names(jdy.list(CUSTOMER_FORM, eq).await),
        ["北京星辰科技有限公司"]
    );
    let kinds = json!({"filter": {"cond": [
        {"field": customer::KIND, "method": "in", "value": ["个人"]},
        {"field": customer::CREDIT, "method": "range", "value": [200000, null]}]}});
    assert_eq!(
        names(jdy.list(CUSTOMER_FORM, kinds).await),
        ["李娜", "王伟"]
    );
    let either = json!({"filter": {"rel": "or", "cond": [
        {"field": customer::NOTE, "method": "empty"},
        {"field": customer::CREDIT, "method": "eq", "value": 50000}]}});
    assert_eq!(jdy.list(CUSTOMER_FORM, either).await.len(), 4);
    let not_in = json!({"filter": {"cond": [
        {"field": customer::NUMBER, "method": "nin", "value": ["KH0001", "KH0002"]},
        {"field": customer::OWNER, "method": "not_empty"}]}});
    assert_eq!(jdy.list(CUSTOMER_FORM, not_in).await.len(), 5);
    let in_flow = json!({"filter": {"cond": [
        {"field": "flowState", "type": "flowstate", "method": "eq", "value": 0}]}});
    assert_eq!(jdy.list(ORDER_FORM, in_flow).await.len(), 1);
    for bad in [
        json!({"field": customer::NAME, "method": "like", "value": "上海"}),
        json!({"field": customer::OWNER, "method": "eq", "value": "zhangsan"}),
        json!({"field": "_widget_missing", "method": "empty"}),
        json!({"field": customer::CREDIT, "method": "range", "value": ["many", null]}),
    ] {
        let body = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM, "filter": {"cond": [bad]}});
        let (status, answer) = jdy.call("app/entry/data/list", body).await;
        assert_eq!(
            (status, answer["code"].as_i64()),
            (400, Some(code::BAD_PARAMETER)),
            "{answer}"
        );
    }
}

#[tokio::test]
async fn a_record_is_created_read_updated_and_deleted() {
    let jdy = Jdy::started().await;
    let target = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM});
    let mut body = target.clone();
    body["data"] = new_customer("苏州新材料有限公司");
    body["is_start_workflow"] = true.into();
    body["is_start_trigger"] = false.into();
    body["data_creator"] = "wangwu".into();
    let created = jdy.ok("app/entry/data/create", body).await["data"].clone();
    let data_id = created["_id"].as_str().unwrap().to_owned();
    assert_eq!(created[customer::CREDIT], 88000);
    assert_eq!(created[customer::SIGNED_AT], "2024-06-01T00:00:00.000Z");
    assert_eq!(
        created[customer::OWNER],
        json!({"username": "lisi", "name": "李四"})
    );
    assert_eq!(
        created[customer::DEPARTMENT],
        json!({"dept_no": 2, "name": "销售部"})
    );
    assert_eq!(created["creator"]["name"], "王五");
    assert_eq!(created[customer::PHONE], "", "empty text reads as \"\"");

    let mut get = target.clone();
    get["data_id"] = data_id.clone().into();
    assert_eq!(
        jdy.ok("app/entry/data/get", get.clone()).await["data"],
        created
    );

    let mut update = get.clone();
    update["data"] = wrap(json!({customer::CREDIT: 99000, customer::PHONE: "0512-6666-0000"}));
    let updated = jdy.ok("app/entry/data/update", update).await["data"].clone();
    assert_eq!(updated[customer::CREDIT], 99000);
    assert_eq!(
        updated[customer::NAME],
        "苏州新材料有限公司",
        "widgets not sent are kept"
    );

    assert_eq!(
        jdy.ok("app/entry/data/delete", get.clone()).await,
        json!({"status": "success"})
    );
    let (status, answer) = jdy.call("app/entry/data/get", get.clone()).await;
    assert_eq!(
        (status, answer["code"].as_i64()),
        (400, Some(code::DATA_NOT_FOUND))
    );
    let (status, _) = jdy.call("app/entry/data/delete", get).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn sub_form_rows_keep_their_id_when_sent_back() {
    let jdy = Jdy::started().await;
    let lines = json!([
        {order::line::PRODUCT: {"value": "螺母"}, order::line::QTY: {"value": 5}},
        {order::line::PRODUCT: {"value": "垫片"}, order::line::QTY: {"value": 8}}]);
    let data = json!({order::CUSTOMER_NO: {"value": "KH0001"}, order::LINES: {"value": lines},
                      order::TEAM: {"value": ["lisi", "wangwu"]}, order::ORDER_NO: {"value": "mine"}});
    let body = json!({"app_id": APP_ID, "entry_id": ORDER_FORM, "data": data});
    let created = jdy.ok("app/entry/data/create", body).await["data"].clone();
    assert_eq!(
        created[order::ORDER_NO],
        "DD000006",
        "serial numbers are the platform's"
    );
    assert_eq!(created[order::TEAM][1]["name"], "王五");
    let kept = created[order::LINES][1]["_id"].clone();
    let rows = json!([{"_id": kept, order::line::QTY: {"value": 9}},
                      {order::line::PRODUCT: {"value": "新行"}, order::line::QTY: {"value": 1}}]);
    let body = json!({"app_id": APP_ID, "entry_id": ORDER_FORM, "data_id": created["_id"],
                      "data": {order::LINES: {"value": rows}}});
    let updated = jdy.ok("app/entry/data/update", body).await["data"].clone();
    let lines = updated[order::LINES].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["_id"], kept);
    assert_eq!(
        lines[0][order::line::PRODUCT],
        "垫片",
        "items not sent are kept"
    );
    assert_eq!(lines[0][order::line::QTY], 9);
    assert_ne!(lines[1]["_id"], created[order::LINES][0]["_id"]);
}

#[tokio::test]
async fn a_transaction_id_makes_creates_and_batches_idempotent() {
    let jdy = Jdy::started().await;
    let before = jdy.count(CUSTOMER_FORM);
    let body = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM, "data": new_customer("幂等客户"),
                      "transaction_id": "7f1c3a52-0b7e-4c1e-9d7a-1f0e2d3c4b5a"});
    let first = jdy.ok("app/entry/data/create", body.clone()).await;
    let again = jdy.ok("app/entry/data/create", body).await;
    assert_eq!(first, again);
    assert_eq!(jdy.count(CUSTOMER_FORM), before + 1);

    let list: Vec<Value> = (0..3)
        .map(|i| new_customer(&format!("批量客户{i}")))
        .collect();
    let batch = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM, "data_list": list,
                       "transaction_id": "0b8e2f4a-5c6d-4e7f-8a9b-0c1d2e3f4a5b", "is_start_workflow": false});
    let created = jdy.ok("app/entry/data/batch_create", batch.clone()).await;
    assert_eq!(created["status"], "success");
    assert_eq!(created["success_count"], 3);
    assert_eq!(jdy.ok("app/entry/data/batch_create", batch).await, created);
    assert_eq!(jdy.count(CUSTOMER_FORM), before + 4);

    let reused = json!({"app_id": APP_ID, "entry_id": ORDER_FORM, "data": {},
                        "transaction_id": "0b8e2f4a-5c6d-4e7f-8a9b-0c1d2e3f4a5b"});
    let (status, answer) = jdy.call("app/entry/data/create", reused).await;
    assert_eq!(
        (status, answer["code"].as_i64()),
        (400, Some(code::TRANSACTION_REUSED))
    );

    let ids = created["success_ids"].clone();
    let update = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM, "data_ids": ids,
                        "data": wrap(json!({customer::KIND: "企业"}))});
    let updated = jdy.ok("app/entry/data/batch_update", update).await;
    assert_eq!(updated["success_count"], 3);
    let mut with_unknown = ids.as_array().unwrap().clone();
    with_unknown.push("ffffffff0000000000000999".into());
    let delete = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM, "data_ids": with_unknown});
    let deleted = jdy.ok("app/entry/data/batch_delete", delete).await;
    assert_eq!(deleted, json!({"status": "success", "success_count": 3}));
    assert_eq!(jdy.count(CUSTOMER_FORM), before + 1);
}

#[tokio::test]
async fn bad_values_are_refused_naming_the_field() {
    let jdy = Jdy::started().await;
    let refuse = |data: Value| json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM, "data": data});
    let (status, answer) = jdy
        .call(
            "app/entry/data/create",
            refuse(wrap(json!({customer::CREDIT: "很多"}))),
        )
        .await;
    assert_eq!(
        (status, answer["code"].as_i64()),
        (400, Some(code::INVALID_VALUE))
    );
    let msg = answer["msg"].as_str().unwrap();
    assert!(
        msg.contains("信用额度") && msg.contains(customer::CREDIT),
        "{msg}"
    );
    for data in [
        json!({customer::NAME: "未包装"}),
        wrap(json!({customer::OWNER: "nobody"})),
        wrap(json!({customer::DEPARTMENT: 99})),
        wrap(json!({customer::SIGNED_AT: "2024-13-01"})),
        wrap(json!({customer::CONTRACTS: ["upload-key"]})),
    ] {
        let (status, answer) = jdy.call("app/entry/data/create", refuse(data)).await;
        assert_eq!(
            (status, answer["code"].as_i64()),
            (400, Some(code::INVALID_VALUE)),
            "{answer}"
        );
    }
    let rows = json!({order::LINES: {"value": [{order::line::QTY: {"value": "三"}}]}});
    let body = json!({"app_id": APP_ID, "entry_id": ORDER_FORM, "data": rows});
    let (_, answer) = jdy.call("app/entry/data/create", body).await;
    let msg = answer["msg"].as_str().unwrap();
    assert!(msg.contains("订单明细[第1行].数量"), "{msg}");
    let list = json!([new_customer("好"), wrap(json!({customer::CREDIT: "坏"}))]);
    let body = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM, "data_list": list});
    let before = jdy.count(CUSTOMER_FORM);
    let (_, answer) = jdy.call("app/entry/data/batch_create", body).await;
    assert!(
        answer["msg"].as_str().unwrap().contains("第2条数据"),
        "{answer}"
    );
    assert_eq!(
        jdy.count(CUSTOMER_FORM),
        before,
        "a refused batch writes nothing"
    );
    // The API skips required validation by default (dossier §3) …
    let nameless = refuse(wrap(json!({customer::CREDIT: 1})));
    jdy.ok("app/entry/data/create", nameless.clone()).await;
    let too_many: Vec<Value> = (0..=jiandaoyun::MAX_BATCH).map(|_| json!({})).collect();
    let body = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM, "data_list": too_many});
    assert_eq!(jdy.call("app/entry/data/batch_create", body).await.0, 400);

    // … and refuses a missing required widget when the run enforces it.
    let strict = Jdy::start(JiandaoyunConfig {
        enforce_required: true,
        ..Default::default()
    })
    .await;
    let (status, answer) = strict.call("app/entry/data/create", nameless).await;
    assert_eq!(
        (status, answer["code"].as_i64()),
        (400, Some(code::REQUIRED))
    );
    assert!(
        answer["msg"].as_str().unwrap().contains("客户名称"),
        "{answer}"
    );
}

#[tokio::test]
async fn requests_over_the_rate_limit_answer_429() {
    let limits = RateLimits::default().with_api("app/entry/data/list", 2, Duration::from_secs(60));
    let jdy = Jdy::start(JiandaoyunConfig {
        rate_limits: limits,
        ..Default::default()
    })
    .await;
    let body = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM});
    for _ in 0..2 {
        jdy.ok("app/entry/data/list", body.clone()).await;
    }
    let (status, answer) = jdy.call("app/entry/data/list", body.clone()).await;
    assert_eq!(
        (status, answer["code"].as_i64()),
        (429, Some(code::API_RATE_LIMIT))
    );
    assert!(answer["msg"].is_string());
    jdy.ok("app/list", json!({})).await;

    let company = RateLimits {
        company: Some(3),
        window: Duration::from_secs(60),
        ..RateLimits::default()
    };
    let jdy = Jdy::start(JiandaoyunConfig {
        rate_limits: company,
        ..Default::default()
    })
    .await;
    for api in ["app/list", "app/entry/list", "app/entry/data/list"] {
        jdy.ok(api, body.clone()).await;
    }
    let (status, answer) = jdy.call("app/entry/widget/list", body).await;
    assert_eq!(
        (status, answer["code"].as_i64()),
        (429, Some(code::COMPANY_RATE_LIMIT))
    );
}

#[tokio::test]
async fn error_in_ok_answers_200_with_code_and_msg() {
    let jdy = Jdy::started().await;
    jdy.double.faults().add(
        Fault::new(FaultAction::error_in_ok("8303", "团队接口请求频率超出限制"))
            .on("POST", "/api/v5/app/entry/data/*")
            .times(1),
    );
    let body = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM});
    let (status, answer) = jdy.call("app/entry/data/list", body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"code": 8303, "msg": "团队接口请求频率超出限制"})
    );
    assert!(jdy.call("app/entry/data/list", body).await.1["data"].is_array());
}

#[tokio::test]
async fn records_changed_in_the_store_are_served_and_a_reset_restores_the_seed() {
    let jdy = Jdy::started().await;
    let store = jdy.double.store();
    let fields = json!({customer::NAME: "直接写入", customer::CREDIT: 1, "flowState": 1});
    let record = store
        .insert(CUSTOMER_FORM, fields.as_object().unwrap().clone())
        .unwrap();
    let data_id = jiandaoyun::data_id_of(&record);
    assert_eq!(jiandaoyun::store_id(&data_id), Some(record.id));
    let body = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM, "data_id": data_id});
    let got = jdy.ok("app/entry/data/get", body).await;
    assert_eq!(got["data"][customer::NAME], "直接写入");
    assert_eq!(got["data"]["creator"], Value::Null);
    jdy.double.reset();
    assert_eq!(jdy.count(CUSTOMER_FORM), 7);
}

/// One notice as the receiver got it: query, headers, raw body.
type Received = (Option<String>, HeaderMap, Bytes);

/// A push receiver: records each request and answers with the status set.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start(status: u16) -> (Self, String) {
        let receiver = Self::default();
        receiver.status.store(status, Ordering::SeqCst);
        let app = Router::new()
            .route("/hook", post(Self::take))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    async fn take(State(me): State<Self>, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
        me.got
            .lock()
            .unwrap()
            .push((uri.query().map(str::to_owned), headers, body));
        StatusCode::from_u16(me.status.load(Ordering::SeqCst)).unwrap()
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

fn query_param(query: &str, name: &str) -> String {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn writes_push_signed_notices_and_batches_do_not() {
    let (receiver, url) = Receiver::start(200).await;
    let jdy = Jdy::started().await;
    jdy.handle.push().set_url(Some(&url));
    let target = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM});
    let mut create = target.clone();
    create["data"] = new_customer("推送客户");
    let created = jdy.ok("app/entry/data/create", create).await["data"].clone();
    let batch =
        json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM, "data_list": [new_customer("批量")]});
    jdy.ok("app/entry/data/batch_create", batch).await;
    let mut delete = target.clone();
    delete["data_id"] = created["_id"].clone();
    jdy.ok("app/entry/data/delete", delete).await;
    jdy.handle.push().settled().await;

    let got = receiver.received();
    assert_eq!(got.len(), 2, "the batch create pushes nothing");
    let (query, headers, body) = &got[0];
    let query = query.as_deref().unwrap();
    let (nonce, timestamp) = (query_param(query, "nonce"), query_param(query, "timestamp"));
    let expected = jiandaoyun::push_signature(&nonce, body, jiandaoyun::PUSH_SECRET, &timestamp);
    assert_eq!(headers["x-jdy-signature"].to_str().unwrap(), expected);
    assert!(!headers["x-jdy-deliverid"].is_empty());
    let notice: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(notice["op"], "data_create");
    assert_eq!(notice["data"], created);
    let removal: Value = serde_json::from_slice(&got[1].2).unwrap();
    assert_eq!(removal["op"], "data_remove");
    assert_eq!(removal["data"]["_id"], created["_id"]);
    assert!(removal["data"]["deleteTime"].is_string());
    assert_ne!(got[0].1["x-jdy-deliverid"], got[1].1["x-jdy-deliverid"]);

    let seeded = jdy.list(ORDER_FORM, json!({"limit": 1})).await[0]["_id"].clone();
    let sent = jdy
        .handle
        .push_record("data_update", ORDER_FORM, seeded.as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(sent.outcome, PushOutcome::Delivered { status: 200 });
    assert_eq!(receiver.received().len(), 3);
}

#[tokio::test]
async fn the_push_is_disabled_after_repeated_failures() {
    let (receiver, url) = Receiver::start(500).await;
    let mut config = JiandaoyunConfig::default();
    config.push.url = Some(url);
    config.push.disable_after = 3;
    let jdy = Jdy::start(config).await;
    let push = jdy.handle.push();
    let notice = json!({"_id": "663194100000000000000001"});
    for expected in 1..=2 {
        let sent = push.send("data_update", notice.clone()).await.unwrap();
        assert!(matches!(
            sent.outcome,
            PushOutcome::Failed {
                status: Some(500),
                ..
            }
        ));
        assert_eq!(push.status().consecutive_failures, expected);
        assert!(push.status().enabled);
    }
    receiver.status.store(200, Ordering::SeqCst);
    push.send("data_update", notice.clone()).await.unwrap();
    assert_eq!(
        push.status().consecutive_failures,
        0,
        "a delivery resets the count"
    );
    receiver.status.store(503, Ordering::SeqCst);
    for _ in 0..3 {
        push.send("data_update", notice.clone()).await.unwrap();
    }
    assert!(!push.status().enabled);
    let held = push.send("data_update", notice.clone()).await.unwrap();
    assert_eq!(held.outcome, PushOutcome::Disabled);
    assert_eq!(
        receiver.received().len(),
        6,
        "nothing is sent once disabled"
    );
    push.enable();
    receiver.status.store(200, Ordering::SeqCst);
    let sent = push.send("data_update", notice).await.unwrap();
    assert_eq!(sent.outcome, PushOutcome::Delivered { status: 200 });
    assert_eq!(push.deliveries().len(), 8);

    // The control endpoint shows the same.
    let status: Value = jdy
        .http
        .get(jdy.double.url("/_double/jiandaoyun/push"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["status"]["enabled"], true);
    assert_eq!(status["deliveries"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn an_unreachable_push_url_counts_as_failures() {
    // A port nothing listens on: bind one, then drop the listener.
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}/hook", listener.local_addr().unwrap())
    };
    let mut config = JiandaoyunConfig::default();
    config.push.disable_after = 2;
    config.push.timeout = Duration::from_secs(2);
    let jdy = Jdy::start(config).await;
    jdy.handle.push().set_url(Some(&closed));
    for i in 0..3 {
        let body = json!({"app_id": APP_ID, "entry_id": CUSTOMER_FORM, "data": new_customer(&format!("客户{i}"))});
        jdy.ok("app/entry/data/create", body).await;
    }
    jdy.handle.push().settled().await;
    let outcomes: Vec<PushOutcome> = jdy
        .handle
        .push()
        .deliveries()
        .into_iter()
        .map(|d| d.outcome)
        .collect();
    assert!(matches!(
        outcomes[0],
        PushOutcome::Failed { status: None, .. }
    ));
    assert_eq!(outcomes[2], PushOutcome::Disabled);
    assert!(!jdy.handle.push().status().enabled);
}
