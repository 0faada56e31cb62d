//! Behaviour against the Shopify double (`ferry_doubles::shopify`, built from the published
//! documentation, not a real shop): cursor pages across ties, two changes in one second,
//! THROTTLED waited out for what the cost figures say (on the double's clock), a bulk first
//! load equal to the paged read, webhooks verified by HMAC and fetched, a refused write
//! with Shopify's userError, stock set and read back, a fulfilment made once when sent
//! twice, and orders with their lines, taxes and discounts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ferry_doubles::Clock;
use ferry_doubles::shopify::{ACCESS_TOKEN, CLIENT_SECRET, ShopifyConfig, webhook_hmac};
use ferry_kit::inbound::{InboundFlow, InboundRequest};
use ferry_kit::{BuildContext, Connector, Outgoing, Sink, SinkContext, Source};
use ferry_model::{Entity, ErrorKind, Record};
use serde_json::{Value, json};

use crate::ShopifyConnector;
use crate::conformance::{Double, map};
use crate::throttle::Pacing;

/// The throttle's time on the double's clock: a wait moves the clock on by itself, so the
/// double's bucket refills by exactly what the connector waited.
#[derive(Debug)]
struct DoubleTime {
    clock: Clock,
    origin: DateTime<Utc>,
    waits: Mutex<Vec<Duration>>,
}

#[async_trait]
impl Pacing for DoubleTime {
    fn now(&self) -> Duration {
        (self.clock.exact() - self.origin)
            .to_std()
            .unwrap_or_default()
    }
    async fn sleep(&self, wait: Duration) {
        self.waits.lock().unwrap().push(wait);
        self.clock
            .advance(chrono::Duration::from_std(wait).unwrap());
    }
}

fn ctx() -> BuildContext {
    BuildContext {
        system: "shop".into(),
        base_dir: ".".into(),
    }
}

fn settings(d: &Double) -> serde_json::Map<String, Value> {
    ferry_conformance::Fixture::settings(d)
}

fn connector(d: &Double) -> (Arc<dyn Connector>, Arc<DoubleTime>) {
    connector_with(d, settings(d))
}

fn connector_with(
    d: &Double,
    settings: serde_json::Map<String, Value>,
) -> (Arc<dyn Connector>, Arc<DoubleTime>) {
    let clock = d.double.clock().clone();
    let time = Arc::new(DoubleTime {
        origin: clock.exact(),
        clock,
        waits: Mutex::default(),
    });
    let c = ShopifyConnector::with_pacing(&ctx(), &settings, time.clone()).expect("settings");
    (Arc::new(c), time)
}

fn source(c: &dyn Connector, options: Value) -> Arc<dyn Source> {
    c.source(&map(options)).expect("valid source")
}

fn sink(c: &dyn Connector, entity: Entity, key: &str, options: Value) -> Arc<dyn Sink> {
    let ctx = SinkContext {
        entity,
        key_field: key.into(),
        fields: vec![key.into(), "name".into()],
    };
    c.sink(&map(options), &ctx).expect("valid target")
}

fn out(key_field: &str, key: &str, fields: Value) -> Outgoing {
    let mut fields = map(fields);
    fields.insert(key_field.into(), json!(key));
    Outgoing {
        key: key.into(),
        target_id: None,
        fields,
    }
}

/// Every record from `cursor`, pages of `limit`; the records, the last cursor, the reads.
async fn read_all(
    s: &dyn Source,
    cursor: Option<String>,
    limit: usize,
) -> (Vec<Record>, String, usize) {
    let (mut all, mut cursor, mut reads) = (Vec::new(), cursor, 0);
    loop {
        let page = s.read(cursor.as_deref(), limit).await.expect("a page");
        reads += 1;
        all.extend(page.records);
        cursor = Some(page.cursor);
        if !page.more {
            return (all, cursor.unwrap_or_default(), reads);
        }
    }
}

fn ids(records: &[Record]) -> Vec<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

fn graphql_posts(d: &Double) -> usize {
    d.double
        .requests()
        .all()
        .iter()
        .filter(|r| r.path.ends_with("/graphql.json"))
        .count()
}

#[tokio::test]
async fn pages_cross_ties_in_order_and_read_each_customer_once() {
    let d = Double::start().await.unwrap();
    // Eight more customers in one second: ties on updatedAt across page edges.
    d.tick();
    for n in 0..8 {
        d.double
            .store()
            .insert(
                "Customer",
                map(
                    json!({"lastName": format!("Tie {n}"), "email": format!("tie{n}@example.com")}),
                ),
            )
            .unwrap();
    }
    let (c, _) = connector(&d);
    let s = source(
        c.as_ref(),
        json!({"object": "customers", "bulk": "never", "overlap": "0s"}),
    );
    let (all, _, _) = read_all(s.as_ref(), None, 100).await;
    assert_eq!(all.len(), 14, "6 seeded and 8 tied");
    for limit in [1, 2, 3, 5] {
        let (paged, _, reads) = read_all(s.as_ref(), None, limit).await;
        assert_eq!(
            ids(&paged),
            ids(&all),
            "pages of {limit}: every customer once, in order"
        );
        assert!(reads >= 14 / limit, "{reads} reads for pages of {limit}");
    }
    // Ordered by (updatedAt, id): the tied ones last, by id.
    assert_eq!(all[13].id, "gid://shopify/Customer/14");
    assert_eq!(all[6].fields["lastName"], "Tie 0");
    assert_eq!(all[0].fields["defaultAddress"]["city"], "上海市");
}

#[tokio::test]
async fn two_updates_in_the_same_second_are_both_read() {
    let d = Double::start().await.unwrap();
    let (c, _) = connector(&d);
    let s = source(
        c.as_ref(),
        json!({"object": "customers", "bulk": "never", "overlap": "0s"}),
    );
    let (_, cursor, _) = read_all(s.as_ref(), None, 4).await;
    d.tick();
    let store = d.double.store();
    store
        .update("Customer", 2, map(json!({"note": "first change"})))
        .unwrap();
    let (first, cursor, _) = read_all(s.as_ref(), Some(cursor), 4).await;
    // The change, after the window's edge (the last seeded second, read again with `>=`).
    assert_eq!(
        first.last().map(|r| r.id.as_str()),
        Some("gid://shopify/Customer/2")
    );
    assert_eq!(first.last().unwrap().fields["note"], "first change");
    // A second change in the same second, after that read: a `>` search would lose it.
    store
        .update("Customer", 5, map(json!({"note": "second change"})))
        .unwrap();
    let (second, _, _) = read_all(s.as_ref(), Some(cursor), 4).await;
    let got = ids(&second);
    assert!(got.contains(&"gid://shopify/Customer/5"), "{got:?}");
    let five = second.iter().find(|r| r.id.ends_with("/5")).unwrap();
    assert_eq!(five.fields["note"], "second change");
}

#[tokio::test]
async fn a_throttled_query_waits_what_the_cost_figures_say() {
    let d = Double::with(ShopifyConfig {
        bucket_size: 100.0,
        restore_rate: 10.0,
        ..Default::default()
    })
    .await;
    // Another client spends 90 of the 100 points: nine mutations in one document.
    let drain: String = (0..9)
        .map(|i| format!("m{i}: customerUpdate(input: {{id: \"gid://shopify/Customer/1\", note: \"{i}\"}}) {{ userErrors {{ message }} }} "))
        .collect();
    let r = reqwest::Client::new()
        .post(d.double.url("/admin/api/2025-07/graphql.json"))
        .header("X-Shopify-Access-Token", ACCESS_TOKEN)
        .json(&json!({"query": format!("mutation {{ {drain} }}")}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"],
        10.0
    );
    let (c, time) = connector(&d);
    let s = source(
        c.as_ref(),
        json!({"object": "customers", "bulk": "never", "overlap": "0s"}),
    );
    let before = d.double.clock().exact();
    let page = s.read(None, 4).await.expect("read after the wait");
    assert_eq!(page.records.len(), 4);
    let throttled = d.shop.throttled();
    assert_eq!(
        throttled.len(),
        1,
        "refused once, then waited out: {throttled:?}"
    );
    let t = &throttled[0];
    let wanted = (t.requested as f64 - t.available) / t.restore_rate;
    let waits = time.waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert_eq!(
        waits[0],
        Duration::from_millis((wanted * 1000.0).ceil() as u64)
    );
    assert_eq!(
        (d.double.clock().exact() - before).num_milliseconds(),
        waits[0].as_millis() as i64,
        "the double's clock moved by the wait, and the bucket refilled just enough"
    );
    assert_eq!(
        graphql_posts(&d),
        3,
        "the drain, the THROTTLED query, the retry"
    );
    // Now the connector knows the bucket: the next page waits before it is sent.
    let next = s.read(Some(&page.cursor), 4).await.expect("the next page");
    assert!(!next.records.is_empty());
    assert_eq!(d.shop.throttled().len(), 1, "no second THROTTLED answer");
    let waits = time.waits.lock().unwrap().clone();
    assert_eq!(waits.len(), 2, "waited before sending: {waits:?}");
    assert!(waits[1] > Duration::ZERO);
}

#[tokio::test]
async fn a_bulk_first_load_reads_what_the_pages_read() {
    let d = Double::start().await.unwrap();
    let (c, _) = connector(&d);
    for object in ["customers", "products", "orders"] {
        let options = |bulk: &str| json!({"object": object, "bulk": bulk, "bulk_poll": "10ms", "overlap": "0s", "metafields": ["erp.customer_no"]});
        let paged = source(c.as_ref(), options("never"));
        let (by_pages, _, _) = read_all(paged.as_ref(), None, 100).await;
        let bulk = source(c.as_ref(), options("auto"));
        let (by_bulk, cursor, _) = read_all(bulk.as_ref(), None, 2).await;
        assert!(!by_pages.is_empty());
        assert_eq!(
            by_bulk, by_pages,
            "{object}: bulk and pages read the same records"
        );
        // The cursor after a bulk load goes on incrementally by pages.
        let (again, _, _) = read_all(bulk.as_ref(), Some(cursor), 100).await;
        assert!(
            again.len() <= 2,
            "{object}: only the window's ties again: {}",
            again.len()
        );
    }
    let downloads = d
        .double
        .requests()
        .all()
        .iter()
        .filter(|r| r.path.starts_with("/bulk-results/"))
        .count();
    assert_eq!(downloads, 3, "one JSONL per object");
    let (orders, _, _) = read_all(
        source(
            c.as_ref(),
            json!({"object": "orders", "bulk": "auto", "bulk_poll": "10ms"}),
        )
        .as_ref(),
        None,
        10,
    )
    .await;
    assert_eq!(
        orders[1].fields["lines"].as_array().unwrap().len(),
        2,
        "lines reassembled from __parentId"
    );
}

#[tokio::test]
async fn a_webhook_with_a_bad_hmac_is_refused_and_a_good_one_fetches_its_record() {
    let d = Double::start().await.unwrap();
    let (c, _) = connector(&d);
    let inbound = c.inbound().expect("a client secret makes webhooks");
    let body = json!({"id": 2, "admin_graphql_api_id": "gid://shopify/Customer/2", "email": "stale@example.com"}).to_string();
    let mut headers = ferry_kit::http::HeaderMap::new();
    headers.insert("x-shopify-topic", "customers/update".parse().unwrap());
    headers.insert("x-shopify-webhook-id", "b54557e4-0001".parse().unwrap());
    headers.insert(
        "x-shopify-hmac-sha256",
        webhook_hmac("not the secret", body.as_bytes())
            .parse()
            .unwrap(),
    );
    let bad = inbound
        .verify(&inbound_request(&headers, &body))
        .expect_err("a wrong HMAC is refused");
    assert!(bad.to_string().contains("HMAC"), "{bad}");
    headers.insert(
        "x-shopify-hmac-sha256",
        webhook_hmac(CLIENT_SECRET, body.as_bytes())
            .parse()
            .unwrap(),
    );
    let verified = inbound
        .verify(&inbound_request(&headers, &body))
        .expect("signed with the client secret");
    assert_eq!(verified.replay_key, "webhook:b54557e4-0001");
    let source_options = map(json!({"object": "customers"}));
    let orders_options = map(json!({"object": "orders"}));
    let flows = [
        InboundFlow {
            name: "customers_in",
            entity: &Entity::CUSTOMER,
            source: &source_options,
        },
        InboundFlow {
            name: "orders_in",
            entity: &Entity::SALES_ORDER,
            source: &orders_options,
        },
    ];
    let changes = inbound
        .changes(&inbound_request(&headers, &body), &flows)
        .unwrap();
    assert_eq!(
        changes.records,
        [(
            "customers_in".to_owned(),
            "gid://shopify/Customer/2".to_owned()
        )]
    );
    // The engine then reads the record's current state, not the payload's.
    let s = source(c.as_ref(), json!({"object": "customers"}));
    let fetched = s
        .fetch(&[
            changes.records[0].1.clone(),
            "gid://shopify/Customer/999".into(),
        ])
        .await
        .unwrap();
    assert_eq!(fetched[0].fields["email"], "emily.clark@example.com");
    assert!(
        fetched[1].deleted,
        "a customer that is gone reads as deleted"
    );
    // The un-prefixed header names are read too.
    let mut plain = ferry_kit::http::HeaderMap::new();
    plain.insert("shopify-topic", "customers/update".parse().unwrap());
    plain.insert(
        "shopify-hmac-sha256",
        webhook_hmac(CLIENT_SECRET, body.as_bytes())
            .parse()
            .unwrap(),
    );
    assert!(inbound.verify(&inbound_request(&plain, &body)).is_ok());
}

fn inbound_request<'a>(
    headers: &'a ferry_kit::http::HeaderMap,
    body: &'a str,
) -> InboundRequest<'a> {
    InboundRequest {
        headers,
        query: None,
        body: body.as_bytes(),
        received_at: Utc::now(),
    }
}

#[tokio::test]
async fn a_refused_write_carries_shopifys_user_error() {
    let d = Double::start().await.unwrap();
    let (c, _) = connector(&d);
    let k = sink(
        c.as_ref(),
        Entity::CUSTOMER,
        "code",
        json!({"object": "customers", "fields": {"name": "lastName"}}),
    );
    let results = k
        .upsert(&[
            out(
                "code",
                "C100",
                json!({"name": "陈", "email": "chen@example.cn"}),
            ),
            out(
                "code",
                "C101",
                json!({"name": "Bad", "email": "not-an-email"}),
            ),
        ])
        .await
        .unwrap();
    let first = results[0].as_ref().expect("written").target_id.clone();
    let e = results[1].as_ref().expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(
        e.message()
            .contains("customerSet for key `C101`: Email is invalid [input.email]"),
        "{e}"
    );
    // The same key again updates the same customer.
    let again = k
        .upsert(&[out("code", "C100", json!({"name": "陈伟"}))])
        .await
        .unwrap();
    assert_eq!(again[0].as_ref().unwrap().target_id, first);
    let p = sink(
        c.as_ref(),
        Entity::PRODUCT,
        "sku",
        json!({"object": "products", "fields": {"name": "title"}}),
    );
    let refused = p
        .upsert(&[out(
            "sku",
            "green-tea-gift",
            json!({"name": "Gift", "status": "SOLD"}),
        )])
        .await
        .unwrap();
    let e = refused[0].as_ref().expect_err("a bad status");
    assert!(
        e.message()
            .contains("Status is not included in the list [input.status]"),
        "{e}"
    );
}

#[tokio::test]
async fn stock_is_set_by_sku_and_location_and_reads_back() {
    let d = Double::start().await.unwrap();
    for version in ["2025-07", "2026-01"] {
        let mut s = settings(&d);
        s.insert("api_version".into(), json!(version));
        let (c, _) = connector_with(&d, s);
        let k = sink(
            c.as_ref(),
            Entity::STOCK,
            "code",
            json!({"object": "inventory", "reason": "received", "locations": {"LA": "Los Angeles DC"}}),
        );
        let quantity = if version == "2025-07" { 42 } else { 7 };
        let results = k
            .upsert(&[
                out("code", "LA:TEA-LJ-100", json!({"sku": "TEA-LJ-100", "warehouse": "LA", "available": format!("{quantity}.000")})),
                out("code", "LA:NOPE", json!({"sku": "NOPE-1", "warehouse": "LA", "available": "1"})),
                out("code", "SH:TEA-LJ-100", json!({"sku": "TEA-LJ-100", "warehouse": "gid://shopify/Location/1", "available": "2.5"})),
            ])
            .await
            .unwrap();
        assert_eq!(
            results[0].as_ref().expect("set").target_id,
            "gid://shopify/InventoryItem/101|gid://shopify/Location/2"
        );
        assert!(
            results[1]
                .as_ref()
                .unwrap_err()
                .message()
                .contains("no product variant has SKU `NOPE-1`")
        );
        assert!(
            results[2]
                .as_ref()
                .unwrap_err()
                .message()
                .contains("not a whole number")
        );
        let products = source(c.as_ref(), json!({"object": "products"}));
        let p = &products
            .fetch(&["gid://shopify/Product/1".into()])
            .await
            .unwrap()[0];
        let variant = &p.fields["variants"][0];
        assert_eq!(variant["sku"], "TEA-LJ-100");
        let la = variant["inventory"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["location"] == "Los Angeles DC")
            .unwrap();
        assert_eq!(la["available"], quantity, "{version}");
        let shanghai = variant["inventory"][0]["available"].as_i64().unwrap();
        assert_eq!(
            variant["available"],
            shanghai + quantity,
            "summed over locations"
        );
    }
    let log = d.double.requests().all();
    assert!(
        log.iter().all(|r| r.status == Some(200)),
        "userErrors, not HTTP errors"
    );
}

#[tokio::test]
async fn a_fulfilment_sent_twice_is_created_once() {
    let d = Double::start().await.unwrap();
    let (c, _) = connector(&d);
    let k = sink(
        c.as_ref(),
        Entity::SHIPMENT,
        "number",
        json!({"object": "fulfillments"}),
    );
    let shipment = out(
        "number",
        "WH-OUT-1",
        json!({"order_number": "1002", "tracking_number": "SF2000001", "carrier": "SF Express",
        "lines": [{"sku": "TEA-LJ-250", "quantity": "1"}, {"sku": "POT-CER-WHT", "quantity": 2}]}),
    );
    let first = k.upsert(std::slice::from_ref(&shipment)).await.unwrap();
    let id = first[0].as_ref().expect("fulfilled").target_id.clone();
    let second = k.upsert(&[shipment]).await.unwrap();
    assert_eq!(
        second[0].as_ref().unwrap().target_id,
        id,
        "the same fulfilment"
    );
    // Another shipment for the now fulfilled order does not fulfil it again.
    let other = out(
        "number",
        "WH-OUT-2",
        json!({"order_number": "#1002", "tracking_number": "SF2000002"}),
    );
    let third = k.upsert(&[other]).await.unwrap();
    assert_eq!(third[0].as_ref().unwrap().target_id, id);
    let orders = source(c.as_ref(), json!({"object": "orders"}));
    let order = &orders
        .fetch(&["gid://shopify/Order/2".into()])
        .await
        .unwrap()[0];
    let fulfillments = order.fields["fulfillments"].as_array().unwrap();
    assert_eq!(fulfillments.len(), 1, "{fulfillments:?}");
    assert_eq!(fulfillments[0]["trackingInfo"][0]["number"], "SF2000001");
    assert_eq!(order.fields["displayFulfillmentStatus"], "FULFILLED");
    // More than the order has is the record's error, in Ferry's words.
    let too_many = out(
        "number",
        "WH-OUT-3",
        json!({"order_number": "#1004", "tracking_number": "X", "lines": [{"sku": "TRAY-BMB-S", "quantity": 9}]}),
    );
    let e = k.upsert(&[too_many]).await.unwrap().remove(0).unwrap_err();
    assert!(
        e.message()
            .contains("has 1 of SKU `TRAY-BMB-S` left to fulfil, not 9"),
        "{e}"
    );
}

#[tokio::test]
async fn orders_are_read_with_lines_taxes_and_discounts() {
    let d = Double::start().await.unwrap();
    let (c, _) = connector(&d);
    let s = source(c.as_ref(), json!({"object": "orders", "bulk": "never"}));
    let (orders, _, _) = read_all(s.as_ref(), None, 10).await;
    let o = orders
        .iter()
        .find(|o| o.fields["name"] == "#1002")
        .expect("#1002");
    assert_eq!(o.fields["subtotalPrice"], "149.00");
    assert_eq!(o.fields["totalTax"], "8.94");
    assert_eq!(o.fields["totalDiscounts"], "5.00");
    assert_eq!(o.fields["totalPrice"], "157.94");
    let lines = o.fields["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["sku"], "TEA-LJ-250");
    assert_eq!(lines[0]["quantity"], 1);
    assert_eq!(lines[0]["originalUnitPrice"], "64.00");
    assert_eq!(lines[0]["discount"], "5.00");
    assert_eq!(lines[0]["tax"], "3.54");
    assert_eq!(lines[0]["taxLines"][0]["rate"], 0.06);
    assert_eq!(lines[1]["quantity"], 2);
    assert_eq!(lines[1]["discount"], "0");
    assert_eq!(lines[1]["tax"], "5.40");
    assert_eq!(o.fields["transactions"][0]["amount"], "157.94");
    assert_eq!(o.fields["transactions"][0]["kind"], "SALE");
    let fulfilled = orders.iter().find(|o| o.fields["name"] == "#1001").unwrap();
    assert_eq!(
        fulfilled.fields["fulfillments"][0]["trackingInfo"][0]["company"],
        "SF Express"
    );
}
