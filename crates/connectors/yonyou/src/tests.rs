//! Against the Yonyou double (`ferry_doubles::yonyou`), which follows the published
//! documentation, not a real tenant: the gateway lookup, the signed token and its renewal,
//! errors inside HTTP 200, rate-limit codes, page-number lists over tied `pubts`, idempotent
//! saves and partial batch failures, and what the connector does with each.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ferry_doubles::RunningDouble;
use ferry_doubles::yonyou::{
    self, LimitLevel, MERCHANT, PRODUCT, VOUCHER_ORDER, YonyouConfig, YonyouDouble,
};
use ferry_kit::{BuildContext, Connector, Outgoing, Sink, SinkContext, Source};
use ferry_model::{Entity, ErrorKind, Record};
use serde_json::{Map, Value, json};

use crate::YonyouConnector;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

struct Yy {
    double: RunningDouble,
}

impl Yy {
    async fn start() -> Self {
        let double = ferry_doubles::start(YonyouDouble::new(YonyouConfig::default()), 0)
            .await
            .expect("the double starts");
        Self { double }
    }

    fn settings(&self, secret: &str) -> Map<String, Value> {
        obj(json!({
            "url": self.double.base_url(), "tenant_id": "ferry-tenant",
            "app_key": "yy-app-key", "app_secret": secret, "retries": 3, "backoff": "10ms",
        }))
    }

    fn connector_with(&self, secret: &str) -> YonyouConnector {
        let ctx = BuildContext {
            system: "erp".into(),
            base_dir: std::env::temp_dir(),
        };
        YonyouConnector::from_settings(&ctx, &self.settings(secret)).expect("valid settings")
    }

    fn connector(&self) -> YonyouConnector {
        self.connector_with("yy-app-s3cret")
    }

    fn source(&self, conn: &YonyouConnector, options: Value) -> Arc<dyn Source> {
        conn.source(&obj(options)).expect("source options")
    }

    fn sink(&self, conn: &YonyouConnector, options: Value, entity: Entity) -> Arc<dyn Sink> {
        let ctx = SinkContext {
            entity,
            key_field: "code".into(),
            fields: vec!["code".into(), "name".into()],
        };
        conn.sink(&obj(options), &ctx).expect("target options")
    }

    /// The stored records of `object` with code `code`.
    fn stored(&self, object: &str, code: &str) -> Vec<Map<String, Value>> {
        self.double
            .store()
            .list(object, None, None)
            .unwrap()
            .into_iter()
            .filter(|r| r.fields.get("code") == Some(&json!(code)))
            .map(|r| r.fields)
            .collect()
    }
}

/// Tokens the connector has taken.
async fn tokens(conn: &YonyouConnector) -> u64 {
    let gateway = conn.api.gateway().await.expect("the gateway");
    gateway.token.obtained.load(Ordering::Relaxed)
}

/// Reads until the source says it is done; every record and the last cursor.
/// Reads to the end in pages of 100; the records and the last cursor.
async fn read_all(source: &dyn Source, cursor: Option<String>) -> (Vec<Record>, Option<String>) {
    let (records, cursor) = ferry_conformance::read_all(source, cursor, 100).await;
    (records, Some(cursor))
}

fn codes(records: &[Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.fields["code"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn outgoing(code: &str, fields: Value) -> Outgoing {
    let mut fields = obj(fields);
    fields.insert("code".into(), json!(code));
    Outgoing {
        key: code.into(),
        target_id: None,
        fields,
    }
}

#[tokio::test]
async fn customers_are_read_across_tied_pubts_once_then_only_what_changed() {
    let yy = Yy::start().await;
    let conn = yy.connector();
    // Two customers per `pubts` second, two per page: every page edge cuts a tie.
    let source = yy.source(
        &conn,
        json!({"object": "customers", "page_size": 2, "overlap": "0s"}),
    );
    let (all, cursor) = read_all(source.as_ref(), None).await;
    assert_eq!(
        codes(&all),
        ["C0001", "C0002", "C0003", "C0004", "C0005", "C0006"]
    );
    assert!(
        all[0].fields.get("merchantContactInfos").is_some(),
        "contents come from the detail"
    );
    assert!(all[0].updated_at.is_some());
    assert_eq!(tokens(&conn).await, 1, "one token serves every call");

    let (again, cursor) = read_all(source.as_ref(), cursor).await;
    assert!(again.is_empty(), "nothing changed: {:?}", codes(&again));

    // A change within the same second as the newest read is still read, once.
    let c0003 = yy.stored(MERCHANT, "C0003");
    assert_eq!(c0003.len(), 1);
    let id = yy
        .double
        .store()
        .find_by_key(MERCHANT, "C0003")
        .unwrap()
        .unwrap()
        .id;
    yy.double
        .store()
        .update(
            MERCHANT,
            id,
            obj(json!({"name": {"simplifiedName": "上海改名有限公司"}})),
        )
        .unwrap();
    let (changed, cursor) = read_all(source.as_ref(), cursor).await;
    assert_eq!(codes(&changed), ["C0003"]);
    assert_eq!(
        changed[0].fields["name"]["simplifiedName"],
        "上海改名有限公司"
    );
    let (idle, _) = read_all(source.as_ref(), cursor).await;
    assert!(idle.is_empty());
}

#[tokio::test]
async fn a_change_in_the_same_second_as_the_cursor_is_read_again() {
    let yy = Yy::start().await;
    yy.double
        .clock()
        .freeze_at("2026-03-01T08:00:00Z".parse().unwrap());
    let conn = yy.connector();
    let source = yy.source(&conn, json!({"object": "materials", "overlap": "0s"}));
    let (all, cursor) = read_all(source.as_ref(), None).await;
    assert_eq!(all.len(), 5);
    let store = yy.double.store();
    let m1 = store.find_by_key(PRODUCT, "M0001").unwrap().unwrap();
    let m2 = store.find_by_key(PRODUCT, "M0002").unwrap().unwrap();
    store
        .update(PRODUCT, m1.id, obj(json!({"modelDescription": "一"})))
        .unwrap();
    let (first, cursor) = read_all(source.as_ref(), cursor).await;
    assert_eq!(codes(&first), ["M0001"]);
    // Same frozen second: M0002 ties with M0001's new `pubts`, and M0001 changes again.
    store
        .update(PRODUCT, m2.id, obj(json!({"modelDescription": "二"})))
        .unwrap();
    store
        .update(PRODUCT, m1.id, obj(json!({"modelDescription": "一again"})))
        .unwrap();
    let (second, _) = read_all(source.as_ref(), cursor).await;
    let mut seen = codes(&second);
    seen.sort();
    assert_eq!(seen, ["M0001", "M0002"]);
}

#[tokio::test]
async fn sales_orders_are_read_with_their_lines_and_fetched_by_id() {
    let yy = Yy::start().await;
    let conn = yy.connector();
    let source = yy.source(&conn, json!({"object": "sales_orders"}));
    let (all, _) = read_all(source.as_ref(), None).await;
    assert_eq!(all.len(), 4);
    let lines: Vec<usize> = all
        .iter()
        .map(|r| r.fields["orderDetails"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(lines, [1, 2, 3, 1]);
    let ids = vec![all[1].id.clone(), "1958317327479999".to_owned()];
    let fetched = source.fetch(&ids).await.expect("fetched");
    assert_eq!(fetched[0].fields, all[1].fields);
    assert!(fetched[1].deleted, "an order not there reads as gone");
}

#[tokio::test]
async fn an_expired_token_is_renewed_once_and_the_read_goes_on() {
    let yy = Yy::start().await;
    let conn = yy.connector();
    let source = yy.source(&conn, json!({"object": "customers"}));
    source.read(None, 10).await.expect("a page");
    assert_eq!(tokens(&conn).await, 1);
    yy.double.sessions().expire_all();
    let page = source.read(None, 10).await.expect("a page after renewal");
    assert_eq!(page.records.len(), 6);
    assert_eq!(tokens(&conn).await, 2, "one new token, not one per call");
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let config = YonyouConfig {
        token_lifetime: std::time::Duration::from_secs(3),
        ..YonyouConfig::default()
    };
    let double = ferry_doubles::start(YonyouDouble::new(config), 0)
        .await
        .expect("the double starts");
    let yy = Yy { double };
    let conn = yy.connector();
    let source = yy.source(&conn, json!({"object": "customers"}));
    source.read(None, 10).await.expect("a page");
    tokio::time::sleep(std::time::Duration::from_millis(2850)).await;
    source.read(None, 10).await.expect("a page");
    assert_eq!(
        tokens(&conn).await,
        2,
        "a new token past `expire` less a tenth"
    );
}

#[tokio::test]
async fn a_wrong_secret_is_an_auth_error_without_the_secret() {
    let yy = Yy::start().await;
    let conn = yy.connector_with("not-the-s3cret");
    let source = yy.source(&conn, json!({"object": "customers"}));
    let e = source.read(None, 10).await.expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(e.message().contains("签名验证失败"), "{}", e.message());
    assert!(!e.message().contains("not-the-s3cret"));
    assert!(!format!("{conn:?}").contains("not-the-s3cret"));
}

#[tokio::test]
async fn rate_limit_codes_are_waited_out() {
    let yy = Yy::start().await;
    let conn = yy.connector();
    let source = yy.source(&conn, json!({"object": "customers"}));
    yy.double.faults().add(yonyou::rate_limited(1));
    yy.double
        .faults()
        .add(yonyou::rate_limited_at(LimitLevel::App, 1));
    let page = source.read(None, 10).await.expect("read after the limits");
    assert_eq!(page.records.len(), 6);
    assert_eq!(yy.double.faults().unfired(), 0);
}

fn material(name: &str) -> Value {
    json!({"name": name, "manageClassCode": "01"})
}

fn material_target() -> Value {
    json!({"object": "materials", "fields": {"name": "name.simplifiedName"},
           "defaults": {"orgCode": "global00", "realProductAttribute": 1, "unitUseType": 2,
                        "unitCode": "PCS", "detail": {"stockUnitCode": "PCS", "purchaseUnitCode": "PCS"}}})
}

#[tokio::test]
async fn materials_are_created_then_updated_by_code_and_a_refusal_names_its_record() {
    let yy = Yy::start().await;
    let conn = yy.connector();
    let sink = yy.sink(&conn, material_target(), Entity::PRODUCT);
    let mut bad = material("垫圈");
    bad["manageClassCode"] = json!("99");
    let batch = [
        outgoing("M9001", material("六角螺母")),
        outgoing("M9002", bad),
        outgoing("M0001", material("不锈钢螺栓 M8（改）")),
    ];
    let results = sink.upsert(&batch).await.expect("the batch");
    let new_id = results[0].as_ref().expect("created").target_id.clone();
    let e = results[1].as_ref().expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(e.message().contains("M9002"), "{}", e.message());
    assert!(
        e.message().contains("物料分类编码:99未找到"),
        "{}",
        e.message()
    );
    assert!(results[2].is_ok());
    assert_eq!(
        yy.stored(PRODUCT, "M0001")[0]["name"]["simplifiedName"],
        "不锈钢螺栓 M8（改）"
    );

    // The same record again: an update by code, no duplicate.
    let again = sink
        .upsert(&[outgoing("M9001", material("六角螺母 M6"))])
        .await
        .expect("the batch");
    assert_eq!(again[0].as_ref().unwrap().target_id, new_id);
    let held = yy.stored(PRODUCT, "M9001");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["name"]["simplifiedName"], "六角螺母 M6");
}

#[tokio::test]
async fn a_save_still_processing_is_sent_again_with_its_key_and_written_once() {
    let yy = Yy::start().await;
    let conn = yy.connector();
    let sink = yy.sink(&conn, material_target(), Entity::PRODUCT);
    yy.double.faults().add(yonyou::still_processing(
        "/yonbip/digitalModel/product/idempotent/save",
        1,
    ));
    let results = sink
        .upsert(&[outgoing("M9100", material("弹簧垫圈"))])
        .await
        .expect("the batch");
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert_eq!(yy.stored(PRODUCT, "M9100").len(), 1);
    assert_eq!(yy.double.faults().unfired(), 0);
}

#[tokio::test]
async fn customers_are_inserted_then_updated_by_code_with_yonyous_refusals() {
    let yy = Yy::start().await;
    let conn = yy.connector();
    let target = json!({"object": "customers", "fields": {"name": "name.simplifiedName"},
                        "defaults": {"createOrgCode": "global00"}});
    let sink = yy.sink(&conn, target, Entity::CUSTOMER);
    let batch = [
        outgoing("C9001", json!({"name": "杭州西湖贸易有限公司"})),
        outgoing("C9002", json!({"name": ""})),
        outgoing("C0001", json!({"name": "北京星辰科技股份有限公司"})),
    ];
    let results = sink.upsert(&batch).await.expect("the batch");
    assert!(results[0].is_ok(), "{:?}", results[0]);
    let e = results[1].as_ref().expect_err("a customer without a name");
    assert!(
        e.message().contains("C9002") && e.message().contains("客户名称不能为空"),
        "{}",
        e.message()
    );
    assert!(results[2].is_ok(), "{:?}", results[2]);
    assert_eq!(
        yy.stored(MERCHANT, "C0001")[0]["name"]["simplifiedName"],
        "北京星辰科技股份有限公司"
    );
    let again = sink.upsert(&batch[..1]).await.expect("the batch");
    assert_eq!(
        again[0].as_ref().unwrap().target_id,
        results[0].as_ref().unwrap().target_id
    );
    assert_eq!(yy.stored(MERCHANT, "C9001").len(), 1, "no duplicate");
}

fn order_target(after_save: Value) -> Value {
    json!({"object": "sales_orders",
        "fields": {"customer": "agentId", "total": "payMoney", "date": "vouchdate"},
        "defaults": {"salesOrgId": "101", "settlementOrgId": "101", "transactionTypeId": "SO01",
            "orderPrices!currency": "CNY", "orderPrices!natCurrency": "CNY",
            "orderPrices!exchRate": 1, "orderPrices!exchangeRateType": "01",
            "orderPrices!taxInclusive": true},
        "lines": {"fields": {"sku": "productId", "quantity": "qty", "price": "oriTaxUnitPrice",
                             "amount": "oriSum", "net": "orderDetailPrices!oriMoney",
                             "tax": "orderDetailPrices!oriTax", "unit_price": "orderDetailPrices!oriUnitPrice"},
                  "defaults": {"stockOrgId": "101", "settlementOrgId": "101", "taxId": "VAT13",
                               "masterUnitId": "PCS", "iProductUnitId": "PCS"}},
        "after_save": after_save})
}

fn order(customer: &str, quantities: &[u32]) -> Value {
    let lines: Vec<Value> = quantities
        .iter()
        .map(|q| {
            json!({"sku": "M0002", "quantity": q, "price": 113, "amount": 113 * q,
                   "net": 100 * q, "tax": 13 * q, "unit_price": 100, "priceQty": q})
        })
        .collect();
    let total: u32 = quantities.iter().map(|q| 113 * q).sum();
    json!({"customer": customer, "total": total, "date": "2024-06-01 00:00:00",
           "invoiceAgentId": customer, "lines": lines})
}

#[tokio::test]
async fn sales_orders_are_saved_audited_and_replayed_without_a_second_write() {
    let yy = Yy::start().await;
    let conn = yy.connector();
    let sink = yy.sink(
        &conn,
        order_target(json!(["submit", "audit"])),
        Entity::SALES_ORDER,
    );
    let batch = [
        outgoing("SO-1", order("C0002", &[10])),
        outgoing("SO-2", order("C0999", &[1])),
    ];
    let results = sink.upsert(&batch).await.expect("the batch");
    assert!(results[0].is_ok(), "{:?}", results[0]);
    let e = results[1].as_ref().expect_err("an unknown customer");
    assert!(
        e.message().contains("SO-2") && e.message().contains("客户:C0999未找到"),
        "{}",
        e.message()
    );
    let held = yy.stored(VOUCHER_ORDER, "SO-1");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["verifystate"], 2, "submitted and audited");

    // Sent again (a replay): nothing to change, steps already done, no duplicate.
    let again = sink.upsert(&batch[..1]).await.expect("the batch");
    assert!(again[0].is_ok(), "{:?}", again[0]);
    assert_eq!(yy.stored(VOUCHER_ORDER, "SO-1").len(), 1);

    // A change to an audited order is refused, saying why.
    let changed = sink
        .upsert(&[outgoing("SO-1", order("C0002", &[20]))])
        .await
        .expect("the batch");
    let e = changed[0].as_ref().expect_err("audited");
    assert!(e.message().contains("verifystate 2"), "{}", e.message());
}

#[tokio::test]
async fn an_open_order_is_updated_in_place_with_its_lines_matched() {
    let yy = Yy::start().await;
    let conn = yy.connector();
    let sink = yy.sink(&conn, order_target(json!([])), Entity::SALES_ORDER);
    let first = sink
        .upsert(&[outgoing("SO-3", order("C0001", &[1, 2]))])
        .await
        .expect("the batch");
    let id = first[0].as_ref().expect("saved").target_id.clone();
    let second = sink
        .upsert(&[outgoing("SO-3", order("C0001", &[5]))])
        .await
        .expect("the batch");
    assert_eq!(second[0].as_ref().expect("updated").target_id, id);
    let held = yy.stored(VOUCHER_ORDER, "SO-3");
    assert_eq!(held.len(), 1);
    let lines = held[0]["orderDetails"].as_array().unwrap();
    assert_eq!(
        lines.len(),
        1,
        "the line no longer sent is deleted: {lines:?}"
    );
    assert_eq!(lines[0]["qty"], 5.0);
}

/// Takes one HTTP request on `listener`, answers a plain `success`; its body.
async fn take_push(listener: tokio::net::TcpListener) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut socket, _) = listener.accept().await.expect("a push");
    let mut raw = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.expect("the request");
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if raw.len() >= end + 4 + length {
                let body = raw[end + 4..end + 4 + length].to_vec();
                let reply =
                    "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nsuccess";
                socket.write_all(reply.as_bytes()).await.expect("answered");
                return body;
            }
        }
        if n == 0 {
            panic!("the push ended early");
        }
    }
}

#[tokio::test]
async fn a_push_from_the_double_is_verified_and_names_the_order_for_flows_reading_orders() {
    let yonyou = YonyouDouble::new(YonyouConfig::default());
    let double = ferry_doubles::start(yonyou.clone(), 0)
        .await
        .expect("the double starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/erp", listener.local_addr().unwrap());
    yonyou.set_push_url(Some(&url));
    let taken = tokio::spawn(take_push(listener));
    let delivery = yonyou
        .push_record_event(
            double.store(),
            yonyou::events::SALE_AUDIT,
            VOUCHER_ORDER,
            "UO-20240501000001",
        )
        .await;
    assert!(delivery.is_some());
    let body = taken.await.unwrap();

    let yy = Yy { double };
    let mut settings = yy.settings("yy-app-s3cret");
    settings.insert("events".into(), json!(true));
    let ctx = BuildContext {
        system: "erp".into(),
        base_dir: std::env::temp_dir(),
    };
    let conn = YonyouConnector::from_settings(&ctx, &settings).expect("valid settings");
    let inbound = conn.inbound().expect("events are on");
    let headers = ferry_kit::http::HeaderMap::new();
    let request = ferry_kit::inbound::InboundRequest {
        headers: &headers,
        query: None,
        body: &body,
        received_at: chrono::Utc::now(),
    };
    let verified = inbound.verify(&request).expect("verified");
    assert!(verified.replay_key.starts_with("event:"));
    let (orders, customers) = (
        obj(json!({"object": "sales_orders"})),
        obj(json!({"object": "customers"})),
    );
    let flows = [
        ferry_kit::inbound::InboundFlow {
            name: "orders",
            entity: &Entity::SALES_ORDER,
            source: &orders,
        },
        ferry_kit::inbound::InboundFlow {
            name: "customers",
            entity: &Entity::CUSTOMER,
            source: &customers,
        },
    ];
    let changes = inbound.changes(&request, &flows).expect("changes");
    let id = yonyou::wire_id(VOUCHER_ORDER, 1).to_string();
    assert_eq!(changes.records, vec![("orders".to_owned(), id)]);

    let mut forged = body.clone();
    let at = forged.len() / 2;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = ferry_kit::inbound::InboundRequest {
        body: &forged,
        ..request
    };
    assert!(
        inbound.verify(&forged).is_err(),
        "a changed body fails the signature"
    );
}
