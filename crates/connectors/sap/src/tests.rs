//! Contract tests against the SAP double (`ferry_doubles::sap`, built from published
//! documentation, not a real system): both kinds of credentials, a CSRF token that expires
//! mid-run, server paging through ties, the sales-order deep insert, an ETag conflict, a
//! `$batch` with one refused record, throttling, and credit exposure read as a source.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use ferry_conformance::read_all;
use ferry_doubles::sap::{SapConfig, SapDouble};
use ferry_doubles::{Fault, FaultAction, RetryAfter, RunningDouble};
use ferry_kit::{BuildContext, Connector, ConnectorFactory, Outgoing, Sink, SinkContext, Source};
use ferry_model::{Entity, ErrorKind};
use serde_json::{Map, Value, json};

use crate::SapFactory;

const ORDERS: &str = "/sap/opu/odata/sap/API_SALES_ORDER_SRV/A_SalesOrder";

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("an RFC 3339 time")
}

async fn double(config: SapConfig) -> RunningDouble {
    ferry_doubles::start(SapDouble::new(config), 0)
        .await
        .expect("the double starts")
}

fn basic(double: &RunningDouble) -> Map<String, Value> {
    map(json!({
        "url": double.base_url(),
        "auth": {"type": "basic", "username": "FERRY_COMM_USER", "password": "sap-Pa55word"},
        "retries": 3, "backoff": "10ms",
    }))
}

fn oauth(double: &RunningDouble) -> Map<String, Value> {
    map(json!({
        "url": double.base_url(),
        "auth": {"type": "oauth2_client_credentials", "token_url": "/sap/bc/sec/oauth2/token",
                 "client_id": "ferry-oauth-client", "client_secret": "sap-oauth-s3cret",
                 "client_auth": "basic"},
        "retries": 3, "backoff": "10ms",
    }))
}

fn connector(settings: Map<String, Value>) -> Arc<dyn Connector> {
    let ctx = BuildContext {
        system: "s4".into(),
        base_dir: std::env::temp_dir(),
    };
    SapFactory
        .build(&ctx, &settings)
        .unwrap_or_else(|issues| panic!("settings refused: {issues:?}"))
}

fn orders_source(c: &dyn Connector, extra: Value) -> Arc<dyn Source> {
    let mut options = map(
        json!({"service": "API_SALES_ORDER_SRV", "entity_set": "A_SalesOrder", "overlap": "0s"}),
    );
    options.extend(map(extra));
    c.source(&options).expect("source options")
}

fn orders_sink(c: &dyn Connector, batch: bool) -> Arc<dyn Sink> {
    let options = map(json!({
        "service": "API_SALES_ORDER_SRV", "entity_set": "A_SalesOrder",
        "fields": {"number": "PurchaseOrderByCustomer", "customer": "SoldToParty", "lines": "lines"},
        "defaults": {"SalesOrderType": "OR", "SalesOrganization": "1010",
                     "DistributionChannel": "10", "OrganizationDivision": "00"},
        "lines": {"fields": {"sku": "Material", "quantity": "RequestedQuantity"}},
        "batch": batch,
    }));
    let ctx = SinkContext {
        entity: Entity::SALES_ORDER,
        key_field: "number".into(),
        fields: vec!["number".into(), "customer".into(), "lines".into()],
    };
    c.sink(&options, &ctx).expect("target options")
}

fn order(number: &str, customer: &str, lines: Value) -> Outgoing {
    Outgoing {
        key: number.into(),
        target_id: None,
        fields: map(json!({"number": number, "customer": customer, "lines": lines})),
    }
}

fn stored(double: &RunningDouble, order: &str) -> Map<String, Value> {
    double
        .store()
        .find_by_key("A_SalesOrder", order)
        .expect("the set")
        .expect("the order")
        .fields
}

#[tokio::test]
async fn basic_and_oauth_credentials_both_read_and_an_expired_token_is_renewed() {
    let double = double(SapConfig::default()).await;
    for settings in [basic(&double), oauth(&double)] {
        let c = connector(settings);
        c.probe().await.expect("the probe passes");
        let source = orders_source(c.as_ref(), json!({}));
        let (read, _) = read_all(source.as_ref(), None, 4).await;
        assert_eq!(read.len(), 6);
        double.sessions().expire_all();
        let (again, _) = read_all(source.as_ref(), None, 4).await;
        assert_eq!(
            again.len(),
            6,
            "read again after the session and token expired"
        );
    }
    let tokens = double
        .requests()
        .matching("POST", "/sap/bc/sec/oauth2/token");
    assert_eq!(tokens.len(), 2, "one token, renewed once after it expired");
    let mut wrong = oauth(&double);
    wrong["auth"]["client_secret"] = json!("wrong-s3cret");
    let e = connector(wrong).probe().await.expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(!e.message().contains("wrong-s3cret"), "{e}");
}

#[tokio::test]
async fn server_pages_are_followed_and_ties_read_once_then_only_changes() {
    let double = double(SapConfig {
        page_size: 2,
        ..SapConfig::default()
    })
    .await;
    let tie = at("2026-06-01T10:00:00Z");
    double.clock().freeze_at(tie);
    let store = double.store();
    for record in store.list("A_SalesOrder", None, None).unwrap() {
        store.touch("A_SalesOrder", record.id).unwrap();
    }
    let c = connector(basic(&double));
    let source = orders_source(c.as_ref(), json!({"expand": ["to_Item"]}));
    // Pages of 3 from a server that answers 2 at a time: `__next` is followed inside a read.
    let (read, cursor) = read_all(source.as_ref(), None, 3).await;
    let ids: Vec<&str> = read.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "4000001", "4000002", "4000003", "4000004", "4000005", "4000006"
        ]
    );
    assert!(
        !double
            .requests()
            .matching("GET", ORDERS)
            .iter()
            .filter(|r| r.query.as_deref().is_some_and(|q| q.contains("skiptoken")))
            .collect::<Vec<_>>()
            .is_empty(),
        "the __next links were followed"
    );
    let first = &read[1];
    assert_eq!(first.fields["LastChangeDateTime"], "2026-06-01T10:00:00Z");
    assert_eq!(first.updated_at, Some(tie));
    assert!(
        first.fields["TotalNetAmount"].is_string(),
        "decimals as text"
    );
    assert_eq!(first.fields["lines"].as_array().unwrap().len(), 2);
    assert!(first.fields.get("__metadata").is_none());
    assert!(
        first.fields.get("to_Partner").is_none(),
        "deferred left out"
    );

    // Two orders change in the next second: only they are read, each once.
    double.clock().advance(TimeDelta::seconds(1));
    for key in ["4000005", "4000002"] {
        let r = store.find_by_key("A_SalesOrder", key).unwrap().unwrap();
        store.touch("A_SalesOrder", r.id).unwrap();
    }
    // The overlap window (0s here) re-reads what ties with the previous top once.
    let (changed, cursor) = read_all(source.as_ref(), Some(cursor), 1).await;
    let later = tie + TimeDelta::seconds(1);
    let moved: Vec<&str> = changed
        .iter()
        .filter(|r| r.updated_at == Some(later))
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(moved, ["4000002", "4000005"]);
    assert!(
        changed
            .iter()
            .all(|r| r.updated_at == Some(tie) || r.updated_at == Some(later))
    );
    let mut ids: Vec<&str> = changed.iter().map(|r| r.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), changed.len(), "each once: {changed:?}");
    // Idle: the window is read once more and settles; then nothing.
    let (_, cursor) = read_all(source.as_ref(), Some(cursor), 1).await;
    let (idle, _) = read_all(source.as_ref(), Some(cursor), 1).await;
    assert!(idle.is_empty(), "{idle:?}");
    let fetched = source
        .fetch(&["4000003".into(), "4999999".into()])
        .await
        .unwrap();
    assert_eq!(fetched[0].fields["SalesOrder"], "4000003");
    assert!(fetched[1].deleted);
}

#[tokio::test]
async fn sales_orders_are_created_by_deep_insert_and_found_again_by_the_crm_number() {
    let double = double(SapConfig::default()).await;
    let c = connector(basic(&double));
    let sink = orders_sink(c.as_ref(), true);
    let lines = json!([{"sku": "TG11", "quantity": 2}, {"sku": "TG12", "quantity": "5"}]);
    let batch = [order("CRM-900001", "10100002", lines.clone())];
    let written = sink.upsert(&batch).await.unwrap();
    let id = written[0].as_ref().expect("created").target_id.clone();
    assert_eq!(id, "4000007");
    let held = stored(&double, &id);
    assert_eq!(held["PurchaseOrderByCustomer"], "CRM-900001");
    assert_eq!(held["SalesOrderType"], "OR");
    let items = held["to_Item"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["Material"], "TG11");
    assert_eq!(items[0]["RequestedQuantity"], "2", "numbers travel as text");
    // The same order again: found by its CRM number, nothing changes.
    let again = sink.upsert(&batch).await.unwrap();
    assert_eq!(again[0].as_ref().unwrap().target_id, id);
    assert_eq!(
        double
            .store()
            .list("A_SalesOrder", None, None)
            .unwrap()
            .len(),
        7
    );
    assert_eq!(
        double.requests().matching("POST", "**/$batch").len(),
        1,
        "an unchanged record is not written"
    );
    // A changed sold-to party is a PATCH with If-Match, one request per record alone.
    let single = orders_sink(c.as_ref(), false);
    let moved = [order("CRM-900001", "10100003", lines)];
    let out = single.upsert(&moved).await.unwrap();
    assert_eq!(out[0].as_ref().unwrap().target_id, id);
    assert_eq!(stored(&double, &id)["SoldToParty"], "10100003");
    let patch = double.requests().matching("PATCH", "**/A_SalesOrder*");
    assert_eq!(patch.len(), 1);
    assert!(patch[0].headers.contains_key("if-match"));
}

#[tokio::test]
async fn a_batch_writes_the_good_records_and_refuses_the_bad_one_in_sap_words() {
    let double = double(SapConfig::default()).await;
    let c = connector(basic(&double));
    let sink = orders_sink(c.as_ref(), true);
    let line = json!([{"sku": "TG11", "quantity": "1"}]);
    let batch = [
        order("CRM-1", "10100002", line.clone()),
        order("CRM-2", "10100099", line.clone()),
        order("CRM-3", "10100003", line),
    ];
    let out = sink.upsert(&batch).await.unwrap();
    assert!(out[0].is_ok() && out[2].is_ok(), "{out:?}");
    let e = out[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(
        e.message()
            .contains("Sold-to party 10100099 not maintained for sales area 1010 10 00 (V1/384)"),
        "{e}"
    );
    assert!(e.message().contains("CRM-2"), "{e}");
    assert_eq!(
        double
            .store()
            .list("A_SalesOrder", None, None)
            .unwrap()
            .len(),
        8
    );
    assert_eq!(double.requests().matching("POST", "**/$batch").len(), 1);
}

#[tokio::test]
async fn a_csrf_token_that_expires_mid_run_is_fetched_again() {
    let double = double(SapConfig::default()).await;
    let c = connector(basic(&double));
    let sink = orders_sink(c.as_ref(), true);
    let line = json!([{"sku": "TG13", "quantity": "1"}]);
    sink.upsert(&[order("CRM-A", "10100002", line.clone())])
        .await
        .unwrap()[0]
        .as_ref()
        .expect("written");
    double.sessions().expire_all();
    let out = sink
        .upsert(&[order("CRM-B", "10100002", line)])
        .await
        .unwrap();
    out[0].as_ref().expect("written after the token expired");
    let batches = double.requests().matching("POST", "**/$batch");
    let statuses: Vec<Option<u16>> = batches.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(202), Some(403), Some(202)]);
    let fetches: Vec<_> = double
        .requests()
        .matching("GET", "/sap/opu/odata/sap/**")
        .into_iter()
        .filter(|r| r.headers.contains_key("x-csrf-token"))
        .collect();
    assert_eq!(fetches.len(), 2, "{fetches:?}");
}

#[tokio::test]
async fn an_order_changed_between_read_and_write_is_read_again() {
    let double = double(SapConfig::default()).await;
    double.clock().freeze_at(at("2026-06-03T00:00:00Z"));
    let c = connector(basic(&double));
    let sink = orders_sink(c.as_ref(), true);
    // Seed order 4000004 is CRM-000004; the $batch waits while someone changes it in SAP.
    double.faults().add(
        Fault::new(FaultAction::Latency {
            ms: 600,
            jitter_ms: 0,
        })
        .on("POST", "**/$batch")
        .times(1),
    );
    let store = double.store();
    let meddler = {
        let store = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let r = store
                .find_by_key("A_SalesOrder", "4000004")
                .unwrap()
                .unwrap();
            let rev = r.fields["_rev"].as_u64().unwrap_or(0);
            store
                .update(
                    "A_SalesOrder",
                    r.id,
                    map(json!({"IncotermsClassification": "FCA", "_rev": rev + 1})),
                )
                .unwrap();
        })
    };
    let out = sink
        .upsert(&[order("CRM-000004", "10100003", json!([]))])
        .await
        .unwrap();
    meddler.await.unwrap();
    assert_eq!(out[0].as_ref().expect("written").target_id, "4000004");
    let held = stored(&double, "4000004");
    assert_eq!(held["SoldToParty"], "10100003");
    assert_eq!(
        held["IncotermsClassification"], "FCA",
        "the other change stays"
    );
    let patches = double.requests().matching("PATCH", "**/A_SalesOrder*");
    assert_eq!(patches.len(), 1, "sent once more on its own after the 412");
    assert_eq!(patches[0].status, Some(204));
}

#[tokio::test]
async fn throttling_and_503s_are_retried() {
    let double = double(SapConfig::default()).await;
    double.faults().add(
        Fault::new(FaultAction::status(503))
            .on("GET", ORDERS)
            .times(2),
    );
    double.faults().add(
        Fault::new(FaultAction::too_many_requests(RetryAfter::Seconds(1)))
            .on("GET", ORDERS)
            .times(1),
    );
    let c = connector(basic(&double));
    let (read, _) = read_all(orders_source(c.as_ref(), json!({})).as_ref(), None, 10).await;
    assert_eq!(read.len(), 6);
    assert_eq!(double.faults().unfired(), 0);
}

#[tokio::test]
async fn credit_exposure_is_read_as_a_source() {
    let double = double(SapConfig::default()).await;
    let c = connector(basic(&double));
    let source = c
        .source(&map(json!({"service": "API_CRDTMBUSINESSPARTNER",
                            "entity_set": "A_CreditManagementAccount"})))
        .unwrap();
    let (read, cursor) = read_all(source.as_ref(), None, 3).await;
    assert_eq!(read.len(), 4);
    let first = &read[0];
    assert_eq!(first.id, "BusinessPartner='10100001',CreditSegment='1000'");
    assert_eq!(first.fields["CustomerCreditLimitAmount"], "500.00");
    assert!(first.fields["CreditExposureAmount"].is_string());
    // No change stamp: every scan reads the whole set again.
    let (again, _) = read_all(source.as_ref(), Some(cursor), 3).await;
    assert_eq!(again.len(), 4);
    let fetched = source.fetch(std::slice::from_ref(&first.id)).await.unwrap();
    assert_eq!(fetched[0].fields["BusinessPartner"], "10100001");
}

#[tokio::test]
async fn business_partners_page_by_date_and_time_of_day() {
    let double = double(SapConfig::default()).await;
    let c = connector(basic(&double));
    let source = c
        .source(&map(
            json!({"service": "API_BUSINESS_PARTNER", "entity_set": "A_BusinessPartner",
                            "fields": ["BusinessPartnerFullName"], "overlap": "0s"}),
        ))
        .unwrap();
    let (read, cursor) = read_all(source.as_ref(), None, 1).await;
    let ids: Vec<&str> = read.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["10100001", "10100002", "10100003", "10100004"]);
    assert!(
        read[0].fields["LastChangeTime"]
            .as_str()
            .unwrap()
            .starts_with("PT")
    );
    double.clock().freeze_at(at("2026-01-01T12:00:00Z"));
    let r = double
        .store()
        .find_by_key("A_BusinessPartner", "10100003")
        .unwrap()
        .unwrap();
    double.store().touch("A_BusinessPartner", r.id).unwrap();
    let (changed, _) = read_all(source.as_ref(), Some(cursor), 1).await;
    // The last partner of the first scan (the window's top) is read once more.
    let ids: Vec<&str> = changed.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["10100004", "10100003"]);
    assert_eq!(changed[1].updated_at, Some(at("2026-01-01T12:00:00Z")));
}

#[tokio::test]
async fn calendar_days_are_read_and_written_as_days_and_a_second_write_changes_nothing() {
    let double = double(SapConfig::default()).await;
    let c = connector(basic(&double));
    let options = map(json!({
        "service": "API_SALES_ORDER_SRV", "entity_set": "A_SalesOrder",
        "fields": {"number": "PurchaseOrderByCustomer", "customer": "SoldToParty",
                   "delivery_date": "RequestedDeliveryDate"},
        "defaults": {"SalesOrderType": "OR", "SalesOrganization": "1010",
                     "DistributionChannel": "10", "OrganizationDivision": "00"},
    }));
    let ctx = SinkContext {
        entity: Entity::SALES_ORDER,
        key_field: "number".into(),
        fields: vec!["number".into(), "customer".into(), "delivery_date".into()],
    };
    let sink = c.sink(&options, &ctx).expect("target options");
    let record = |day: &str| Outgoing {
        key: "CRM-900077".into(),
        target_id: None,
        fields: map(json!({"number": "CRM-900077", "customer": "10100002", "delivery_date": day})),
    };
    let id = sink.upsert(&[record("2026-12-24")]).await.unwrap()[0]
        .as_ref()
        .expect("created")
        .target_id
        .clone();
    // Midnight UTC of the day, the way SAP holds an Edm.DateTime day.
    assert_eq!(
        stored(&double, &id)["RequestedDeliveryDate"],
        "/Date(1798070400000)/"
    );
    let batches = || double.requests().matching("POST", "**/$batch").len();
    let before = batches();
    sink.upsert(&[record("2026-12-24")]).await.unwrap()[0]
        .as_ref()
        .expect("unchanged");
    assert_eq!(batches(), before, "the same day again is not a change");
    sink.upsert(&[record("2026-12-27")]).await.unwrap()[0]
        .as_ref()
        .expect("moved");
    assert_eq!(
        stored(&double, &id)["RequestedDeliveryDate"],
        "/Date(1798329600000)/"
    );

    // Read back: the day, not an instant a time zone west of UTC would show as the 26th.
    let source = orders_source(
        c.as_ref(),
        json!({"fields": ["SalesOrder", "RequestedDeliveryDate", "LastChangeDateTime"]}),
    );
    let (read, _) = read_all(source.as_ref(), None, 10).await;
    let ours = read.iter().find(|r| r.id == id).expect("the order is read");
    assert_eq!(ours.fields["RequestedDeliveryDate"], "2026-12-27");
    assert!(
        ours.fields["LastChangeDateTime"]
            .as_str()
            .unwrap()
            .ends_with('Z'),
        "a time stamp stays an instant: {:?}",
        ours.fields
    );
}

#[tokio::test]
async fn without_access_to_metadata_days_are_read_as_midnight_utc() {
    let double = double(SapConfig::default()).await;
    double.faults().add(
        Fault::new(FaultAction::status(403))
            .on("GET", "/sap/opu/odata/sap/API_SALES_ORDER_SRV/$metadata"),
    );
    let c = connector(basic(&double));
    let source = orders_source(
        c.as_ref(),
        json!({"fields": ["SalesOrder", "SalesOrderDate"]}),
    );
    let (read, _) = read_all(source.as_ref(), None, 10).await;
    assert_eq!(read.len(), 6);
    let day = read[0].fields["SalesOrderDate"].as_str().unwrap();
    assert!(day.ends_with("T00:00:00Z"), "untyped, as before: {day}");
}

#[tokio::test]
async fn an_order_whose_lines_change_has_its_items_patched_added_and_removed() {
    let double = double(SapConfig::default()).await;
    let c = connector(basic(&double));
    let sink = orders_sink(c.as_ref(), true);
    let first = json!([{"sku": "TG11", "quantity": 2}, {"sku": "TG12", "quantity": 5}]);
    let written = sink
        .upsert(&[order("CRM-900002", "10100002", first)])
        .await
        .unwrap();
    let id = written[0].as_ref().expect("created").target_id.clone();
    let items = |d: &RunningDouble| -> Vec<(String, String, String)> {
        stored(d, &id)["to_Item"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let t = |k: &str| i[k].as_str().unwrap_or_default().to_owned();
                (t("SalesOrderItem"), t("Material"), t("RequestedQuantity"))
            })
            .collect()
    };
    let row = |n: &str, m: &str, q: &str| (n.to_owned(), m.to_owned(), q.to_owned());

    // A quantity changed on the CRM and a line added: one PATCH, one POST, SAP numbers it.
    let second = json!([{"sku": "TG11", "quantity": 2}, {"sku": "TG12", "quantity": 7},
                        {"sku": "TG13", "quantity": "4"}]);
    let out = sink
        .upsert(&[order("CRM-900002", "10100002", second.clone())])
        .await
        .unwrap();
    assert_eq!(out[0].as_ref().expect("updated").target_id, id);
    let now = items(&double);
    assert_eq!(now.len(), 3, "{now:?}");
    assert_eq!(now[1], row("20", "TG12", "7"));
    assert_eq!((now[2].0.as_str(), now[2].1.as_str()), ("30", "TG13"));
    // SAP repriced the order: 2 × 10.00 + 7 × 25.50 + 4 × 7.25.
    assert_eq!(stored(&double, &id)["TotalNetAmount"], "227.50");

    // The same lines again: nothing is sent.
    let batches = double.requests().matching("POST", "**/$batch").len();
    sink.upsert(&[order("CRM-900002", "10100002", second)])
        .await
        .unwrap()[0]
        .as_ref()
        .expect("unchanged");
    assert_eq!(
        double.requests().matching("POST", "**/$batch").len(),
        batches
    );

    // Two lines removed on the CRM: their items are deleted.
    let third = json!([{"sku": "TG11", "quantity": 2}]);
    sink.upsert(&[order("CRM-900002", "10100002", third)])
        .await
        .unwrap()[0]
        .as_ref()
        .expect("updated");
    assert_eq!(items(&double), [row("10", "TG11", "2")]);
    assert_eq!(stored(&double, &id)["TotalNetAmount"], "20.00");
}

#[tokio::test]
async fn a_refused_item_is_the_records_refusal_in_sap_words() {
    let double = double(SapConfig::default()).await;
    let c = connector(basic(&double));
    let sink = orders_sink(c.as_ref(), true);
    let lines = json!([{"sku": "TG11", "quantity": 2}]);
    sink.upsert(&[order("CRM-900003", "10100002", lines)])
        .await
        .unwrap()[0]
        .as_ref()
        .expect("created");
    let unknown = json!([{"sku": "TG11", "quantity": 2}, {"sku": "NO-SUCH", "quantity": 1}]);
    let out = sink
        .upsert(&[order("CRM-900003", "10100002", unknown)])
        .await
        .unwrap();
    let e = out[0]
        .as_ref()
        .expect_err("the unknown material is refused");
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.message().contains("NO-SUCH"), "{e}");
    assert!(e.message().contains("CRM-900003"), "names the record: {e}");
}
