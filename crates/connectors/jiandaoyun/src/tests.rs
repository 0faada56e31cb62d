//! Against the Jiandaoyun double (`ferry_doubles::jiandaoyun`), which follows the published
//! documentation, not a real account.

use std::sync::Arc;

use chrono::Utc;
use ferry_doubles::jiandaoyun::{
    self, APP_ID, CUSTOMER_FORM, JiandaoyunConfig, JiandaoyunDouble, ORDER_FORM, customer, order,
};
use ferry_doubles::{Fault, FaultAction, RetryAfter, RunningDouble};
use ferry_kit::http::HeaderMap;
use ferry_kit::inbound::{InboundFlow, InboundRequest};
use ferry_kit::{BuildContext, Connector, Outgoing, Sink, SinkContext, Source};
use ferry_model::{Entity, ErrorKind};
use serde_json::{Map, Value, json};

use ferry_conformance::read_all;

use crate::JdyConnector;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

struct Jdy {
    double: RunningDouble,
}

impl Jdy {
    async fn start() -> Self {
        let jdy = JiandaoyunDouble::new(JiandaoyunConfig::default());
        let double = ferry_doubles::start(jdy, 0)
            .await
            .expect("the double starts");
        Self { double }
    }

    fn connector_with(&self, key: &str) -> JdyConnector {
        let ctx = BuildContext {
            system: "jdy".into(),
            base_dir: std::env::temp_dir(),
        };
        let settings = obj(json!({
            "url": format!("{}/api", self.double.base_url()), "api_key": key,
            "push_secret": jiandaoyun::PUSH_SECRET, "retries": 3, "backoff": "10ms",
        }));
        JdyConnector::from_settings(&ctx, &settings).expect("valid settings")
    }

    fn connector(&self) -> JdyConnector {
        self.connector_with(jiandaoyun::API_KEY)
    }

    fn customers(&self, conn: &JdyConnector) -> Arc<dyn Source> {
        conn.source(&obj(json!({"app": APP_ID, "form": CUSTOMER_FORM})))
            .expect("source options")
    }

    fn stored(&self, form: &str, widget: &str, key: &str) -> Vec<Map<String, Value>> {
        self.double
            .store()
            .list(form, None, None)
            .unwrap()
            .into_iter()
            .map(|r| r.fields)
            .filter(|f| f.get(widget) == Some(&json!(key)))
            .collect()
    }
}

fn out(key: &str, fields: Value) -> Outgoing {
    Outgoing {
        key: key.into(),
        target_id: None,
        fields: obj(fields),
    }
}

#[tokio::test]
async fn customers_are_read_once_across_ties_and_a_second_read_skips_what_is_unchanged() {
    let jdy = Jdy::start().await;
    let conn = jdy.connector();
    let source = jdy.customers(&conn);
    let (read, cursor) = read_all(source.as_ref(), None, 2).await;
    let numbers: Vec<&Value> = read.iter().map(|r| &r.fields[customer::NUMBER]).collect();
    assert_eq!(numbers.len(), 7, "{numbers:?}");
    assert_eq!(numbers[0], &json!("KH0001"));
    assert!(read.iter().all(|r| r.updated_at.is_some()));

    let (again, cursor) = read_all(source.as_ref(), Some(cursor), 2).await;
    assert!(
        again.is_empty(),
        "the overlap window re-reads but skips unchanged records: {again:?}"
    );

    // Changed twice within one second after it was read: its updateTime is the same second.
    let first = jdy.double.store().list(CUSTOMER_FORM, None, None).unwrap()[0].clone();
    jdy.double.clock().freeze_at(Utc::now());
    for name in ["改一次", "改两次"] {
        jdy.double
            .store()
            .update(CUSTOMER_FORM, first.id, obj(json!({customer::NAME: name})))
            .unwrap();
        let (changed, _) = read_all(source.as_ref(), Some(cursor.clone()), 2).await;
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert_eq!(changed[0].fields[customer::NAME], json!(name));
    }
}

#[tokio::test]
async fn a_wrong_key_is_an_auth_error_without_the_key() {
    let jdy = Jdy::start().await;
    let conn = jdy.connector_with("wrong-k3y");
    let e = jdy.customers(&conn).read(None, 5).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(!e.message().contains("wrong-k3y"), "{e}");
}

#[tokio::test]
async fn throttling_and_errors_inside_200_are_waited_out() {
    let jdy = Jdy::start().await;
    let conn = jdy.connector();
    jdy.double.faults().add(
        Fault::new(FaultAction::too_many_requests(RetryAfter::Seconds(1)))
            .on("POST", "/api/**")
            .times(1),
    );
    jdy.double.faults().add(
        Fault::new(FaultAction::error_in_ok("8303", "团队接口请求频率超出限制"))
            .on("POST", "/api/**")
            .times(1),
    );
    let (read, _) = read_all(jdy.customers(&conn).as_ref(), None, 100).await;
    assert_eq!(read.len(), 7);
    assert_eq!(jdy.double.faults().unfired(), 0);
}

fn customer_sink(conn: &JdyConnector) -> Arc<dyn Sink> {
    let ctx = SinkContext {
        entity: Entity::CUSTOMER,
        key_field: "code".into(),
        fields: vec!["code".into(), "name".into(), "credit_limit".into()],
    };
    conn.sink(
        &obj(
            json!({"app": APP_ID, "form": CUSTOMER_FORM, "key": customer::NUMBER,
                    "fields": {"name": customer::NAME, "credit_limit": customer::CREDIT,
                               "owner": customer::OWNER, "signed_on": customer::SIGNED_AT}}),
        ),
        &ctx,
    )
    .expect("target options")
}

#[tokio::test]
async fn customers_are_updated_by_key_and_created_with_a_refusal_pinned_on_its_record() {
    let jdy = Jdy::start().await;
    let conn = jdy.connector();
    let sink = customer_sink(&conn);
    let batch = [
        out(
            "KH0001",
            json!({"code": "KH0001", "name": "上海贸易（更名）", "credit_limit": "80000.00"}),
        ),
        out(
            "KH9001",
            json!({"code": "KH9001", "name": "新客户甲", "credit_limit": "1000", "owner": "lisi", "signed_on": "2024-06-01"}),
        ),
        out(
            "KH9002",
            json!({"code": "KH9002", "name": "新客户乙", "owner": "nobody-here"}),
        ),
        out("KH9003", json!({"code": "KH9003", "name": "新客户丙"})),
    ];
    let results = sink.upsert(&batch).await.unwrap();
    assert!(
        results[0].is_ok() && results[1].is_ok() && results[3].is_ok(),
        "{results:?}"
    );
    let e = results[2].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(
        e.message().contains("KH9002") && e.message().contains("负责人"),
        "{e}"
    );

    let kh1 = jdy.stored(CUSTOMER_FORM, customer::NUMBER, "KH0001");
    assert_eq!(kh1.len(), 1, "updated in place");
    assert_eq!(kh1[0][customer::NAME], json!("上海贸易（更名）"));
    assert_eq!(kh1[0][customer::CREDIT], json!(80000.0));
    let kh9001 = &jdy.stored(CUSTOMER_FORM, customer::NUMBER, "KH9001")[0];
    assert_eq!(kh9001[customer::OWNER]["username"], json!("lisi"));
    assert_eq!(
        kh9001[customer::SIGNED_AT],
        json!("2024-05-31T16:00:00.000Z"),
        "Beijing midnight"
    );
    assert!(
        jdy.stored(CUSTOMER_FORM, customer::NUMBER, "KH9002")
            .is_empty()
    );

    // The same batch again: the same records, no second KH9001.
    let again = sink.upsert(&batch[..2]).await.unwrap();
    assert_eq!(
        again[1].as_ref().unwrap().target_id,
        results[1].as_ref().unwrap().target_id
    );
    assert_eq!(
        jdy.stored(CUSTOMER_FORM, customer::NUMBER, "KH9001").len(),
        1
    );
}

#[tokio::test]
async fn an_order_is_written_with_its_lines_as_a_sub_form() {
    let jdy = Jdy::start().await;
    let conn = jdy.connector();
    let ctx = SinkContext {
        entity: Entity::SALES_ORDER,
        key_field: "number".into(),
        fields: vec![],
    };
    let sink = conn
        .sink(
            &obj(json!({"app": APP_ID, "form": ORDER_FORM, "key": order::CUSTOMER_NO,
                        "fields": {"total": order::TOTAL, "status": order::STATUS},
                        "lines": {"to": order::LINES, "fields": {"description": order::line::PRODUCT,
                                  "quantity": order::line::QTY, "unit_price": order::line::PRICE}}})),
            &ctx,
        )
        .unwrap();
    let lines = json!([
        {"description": "工业轴承", "quantity": "2", "unit_price": "12.50"},
        {"description": "密封圈", "quantity": "10", "unit_price": "0.80"},
    ]);
    let written = sink
        .upsert(&[out(
            "C-ORDER-1",
            json!({"number": "C-ORDER-1", "total": "33", "lines": lines}),
        )])
        .await
        .unwrap();
    written[0].as_ref().unwrap();
    let stored = &jdy.stored(ORDER_FORM, order::CUSTOMER_NO, "C-ORDER-1")[0];
    let rows = stored[order::LINES].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][order::line::QTY], json!(10.0));
    assert_eq!(stored[order::TOTAL], json!(33.0));
}

#[tokio::test]
async fn an_update_only_target_writes_onto_the_order_and_refuses_an_unknown_one() {
    let jdy = Jdy::start().await;
    let conn = jdy.connector();
    let ctx = SinkContext {
        entity: Entity::SHIPMENT,
        key_field: "order_number".into(),
        fields: vec![],
    };
    let sink = conn
        .sink(
            &obj(
                json!({"app": APP_ID, "form": ORDER_FORM, "key": order::ORDER_NO, "create": false,
                        "fields": {"number": order::DELIVERY_NO}}),
            ),
            &ctx,
        )
        .unwrap();
    let before = jdy.stored(ORDER_FORM, order::ORDER_NO, "DD000001")[0].clone();
    let written = sink
        .upsert(&[
            out(
                "DD000001",
                json!({"order_number": "DD000001", "number": "XSCKD00000001"}),
            ),
            out(
                "DD999999",
                json!({"order_number": "DD999999", "number": "XSCKD00000002"}),
            ),
        ])
        .await
        .unwrap();
    written[0].as_ref().expect("written onto DD000001");
    let after = &jdy.stored(ORDER_FORM, order::ORDER_NO, "DD000001")[0];
    assert_eq!(after[order::DELIVERY_NO], json!("XSCKD00000001"));
    assert_eq!(after[order::CUSTOMER_NO], before[order::CUSTOMER_NO]);
    assert_eq!(
        after[order::LINES],
        before[order::LINES],
        "the rest untouched"
    );
    let e = written[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(
        e.message().contains("DD999999") && e.message().contains("create: false"),
        "{e}"
    );
    assert!(
        jdy.stored(ORDER_FORM, order::DELIVERY_NO, "XSCKD00000002")
            .is_empty()
    );
}

#[tokio::test]
async fn a_push_is_verified_and_names_the_records_of_the_flows_reading_its_form() {
    let jdy = Jdy::start().await;
    let conn = jdy.connector();
    let inbound = conn.inbound().expect("a push secret makes webhooks");
    let body = json!({"op": "data_update", "data": {"_id": "abc123", "appId": APP_ID, "entryId": CUSTOMER_FORM}}).to_string();
    let now = Utc::now();
    let timestamp = now.timestamp().to_string();
    let sign = jiandaoyun::push_signature(
        "n0nce",
        body.as_bytes(),
        jiandaoyun::PUSH_SECRET,
        &timestamp,
    );
    let mut headers = HeaderMap::new();
    headers.insert("x-jdy-signature", sign.parse().unwrap());
    headers.insert("x-jdy-deliverid", "d-1".parse().unwrap());
    let query = format!("nonce=n0nce&timestamp={timestamp}");
    let request = InboundRequest {
        headers: &headers,
        query: Some(&query),
        body: body.as_bytes(),
        received_at: now,
    };
    let verified = inbound.verify(&request).expect("signed with the secret");
    assert_eq!(verified.replay_key, "deliver:d-1");
    let customers = obj(json!({"app": APP_ID, "form": CUSTOMER_FORM}));
    let orders = obj(json!({"app": APP_ID, "form": ORDER_FORM}));
    let flows = [
        InboundFlow {
            name: "customers",
            entity: &Entity::CUSTOMER,
            source: &customers,
        },
        InboundFlow {
            name: "orders",
            entity: &Entity::SALES_ORDER,
            source: &orders,
        },
    ];
    let changes = inbound.changes(&request, &flows).unwrap();
    assert_eq!(
        changes.records,
        [("customers".to_owned(), "abc123".to_owned())]
    );

    let tampered = body.replace("abc123", "abc124");
    let bad = InboundRequest {
        body: tampered.as_bytes(),
        ..request
    };
    assert!(
        inbound.verify(&bad).is_err(),
        "a changed body fails the signature"
    );
    let late = InboundRequest {
        received_at: now + chrono::TimeDelta::hours(2),
        ..request
    };
    assert!(inbound.verify(&late).is_err(), "an old push is refused");
}

#[test]
fn settings_are_checked_at_their_keys() {
    let ctx = BuildContext {
        system: "jdy".into(),
        base_dir: std::env::temp_dir(),
    };
    let issues =
        JdyConnector::from_settings(&ctx, &obj(json!({"api_key": " ", "push_secret": ""})))
            .unwrap_err();
    let at: Vec<String> = issues.iter().map(|i| i.dotted()).collect();
    assert_eq!(at, ["api_key", "push_secret"], "{issues:?}");
    let conn = JdyConnector::from_settings(&ctx, &obj(json!({"api_key": "k"}))).unwrap();
    let e = conn
        .source(&obj(
            json!({"app": APP_ID, "form": "", "filter": {"rel": "and"}}),
        ))
        .err()
        .unwrap();
    let at: Vec<String> = e.iter().map(|i| i.dotted()).collect();
    assert_eq!(at, ["form", "filter"], "{e:?}");
}

/// A customer renamed, renamed again, then renamed back (each in its own sync, all within a
/// second): every write lands, the last one too. A transaction id made from the content
/// alone would make the third a replay of the first, which Jiandaoyun answers without
/// writing.
#[tokio::test]
async fn a_change_back_to_an_earlier_content_is_written() {
    let jdy = Jdy::start().await;
    let conn = jdy.connector();
    let sink = customer_sink(&conn);
    jdy.double.clock().freeze_at(Utc::now());
    for name in ["甲公司", "乙公司", "甲公司"] {
        let written = sink
            .upsert(&[out("KH0001", json!({"code": "KH0001", "name": name}))])
            .await
            .unwrap();
        written[0].as_ref().unwrap();
        let stored = jdy.stored(CUSTOMER_FORM, customer::NUMBER, "KH0001");
        assert_eq!(stored[0][customer::NAME], json!(name));
    }
}
