//! Behaviour against the NetSuite double (`ferry_doubles::netsuite`, built from the
//! dossier, not a real account): sales orders with their lines and SKUs, two changes to
//! one record in the same second, a token revoked between two pages, concurrency refusals
//! (429, and 400 as some clients see them) backed off, an error inside an HTTP 200, sales
//! orders written with references looked up by business key and a per-record refusal in a
//! batch, stock per named location, fulfilments naming their order, and secrets kept out
//! of Debug output. `contract` replays the dossier's documented bodies verbatim (a SuiteQL
//! page, a `USER_ERROR`, the captured concurrency refusal, a login refusal).

use std::sync::Arc;
use std::time::Duration;

use ferry_conformance::Fixture;
use ferry_doubles::netsuite::NetSuiteConfig;
use ferry_doubles::{Fault, FaultAction};
use ferry_kit::{BuildContext, Connector, Outgoing, Page, Sink, SinkContext, Source};
use ferry_model::{Entity, ErrorKind, Record};
use serde_json::{Map, Value, json};

use crate::NetSuiteConnector;
use crate::conformance::{Double, map};

fn ctx() -> BuildContext {
    BuildContext {
        system: "ns".into(),
        base_dir: ".".into(),
    }
}

fn connector(d: &Double) -> NetSuiteConnector {
    NetSuiteConnector::from_settings(&ctx(), &d.settings()).expect("the settings build")
}

/// A connector that waits longer between retries than the suite's fixture does.
fn patient(d: &Double) -> NetSuiteConnector {
    let mut settings = d.settings();
    settings.insert("retries".into(), json!(8));
    settings.insert("backoff".into(), json!("40ms"));
    NetSuiteConnector::from_settings(&ctx(), &settings).expect("the settings build")
}

fn source(d: &Double, options: Value) -> Arc<dyn Source> {
    connector(d)
        .source(&map(options))
        .expect("the options build")
}

fn sink(d: &Double, options: Value, key: &str) -> Arc<dyn Sink> {
    let context = SinkContext {
        entity: Entity::SALES_ORDER,
        key_field: key.into(),
        fields: vec![],
    };
    connector(d)
        .sink(&map(options), &context)
        .expect("the options build")
}

async fn read_all(
    source: &dyn Source,
    mut cursor: Option<String>,
    limit: usize,
) -> (Vec<Record>, String) {
    let mut out = Vec::new();
    for _ in 0..100 {
        let page: Page = source.read(cursor.as_deref(), limit).await.expect("a page");
        out.extend(page.records);
        cursor = Some(page.cursor);
        if !page.more {
            break;
        }
    }
    (out, cursor.unwrap_or_default())
}

fn outgoing(key: &str, fields: Value) -> Outgoing {
    Outgoing {
        key: key.into(),
        target_id: None,
        fields: map(fields),
    }
}

#[tokio::test]
async fn sales_orders_come_with_their_lines_and_skus() {
    let d = Double::start().await.unwrap();
    let (orders, _) = read_all(
        source(&d, json!({"object": "sales_orders"})).as_ref(),
        None,
        10,
    )
    .await;
    assert_eq!(orders.len(), 1);
    let so = &orders[0].fields;
    assert_eq!(so["externalid"], "SHOP-1001");
    assert_eq!(so["entity"], "1");
    assert_eq!(so["foreigntotal"], "46");
    let lines = so["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "the main line is left out: {lines:?}");
    assert_eq!(
        (lines[0]["sku"].clone(), lines[0]["quantity"].clone()),
        (json!("SKU-1"), json!("2"))
    );
    assert_eq!(lines[1]["amount"], "25");
    assert_eq!(
        orders[0].updated_at.unwrap().to_rfc3339(),
        ferry_doubles::netsuite::seed_epoch().to_rfc3339()
    );
}

#[tokio::test]
async fn two_changes_in_one_second_are_both_read_across_page_edges() {
    let d = Double::start().await.unwrap();
    let seeded = d
        .seed(&[
            ("A".into(), "a".into()),
            ("B".into(), "b".into()),
            ("C".into(), "c".into()),
        ])
        .await;
    let customers = source(&d, json!({"object": "customers", "overlap": "0s"}));
    let (first, cursor) = read_all(customers.as_ref(), None, 2).await;
    assert_eq!(first.len(), 6, "three seeded, three made now: {first:?}");
    // Two changes within the second the last read ended on: both must come.
    d.rename(&seeded[0].0, "a2").await;
    d.double
        .clock()
        .advance(chrono::TimeDelta::milliseconds(300));
    let store = d.double.store();
    let id: u64 = seeded[1].0.parse().unwrap();
    store
        .update("customer", id, map(json!({"companyname": "b2"})))
        .unwrap();
    let (changed, _) = read_all(customers.as_ref(), Some(cursor), 1).await;
    let names: Vec<&str> = changed
        .iter()
        .filter_map(|r| r.fields["companyname"].as_str())
        .collect();
    assert!(names.contains(&"a2") && names.contains(&"b2"), "{names:?}");
}

#[tokio::test]
async fn a_token_revoked_between_pages_is_an_auth_error_and_the_cursor_resumes() {
    let d = Double::start().await.unwrap();
    let customers = source(&d, json!({"object": "customers"}));
    let page = customers.read(None, 2).await.unwrap();
    assert!(page.more);
    d.netsuite.revoke_token();
    let e = customers.read(Some(&page.cursor), 2).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(e.message().contains("INVALID_LOGIN_ATTEMPT"), "{e}");
    assert!(!e.message().contains(&d.netsuite.config().token_secret));
    d.netsuite.restore_token();
    let (rest, _) = read_all(customers.as_ref(), Some(page.cursor.clone()), 2).await;
    let mut ids: Vec<String> = page
        .records
        .iter()
        .chain(&rest)
        .map(|r| r.id.clone())
        .collect();
    ids.sort();
    assert_eq!(ids, ["1", "2", "3"], "each customer once");
}

#[tokio::test]
async fn concurrency_refusals_are_backed_off_whatever_their_status() {
    let config = NetSuiteConfig {
        concurrency: 1,
        hold: Duration::from_millis(50),
        ..NetSuiteConfig::default()
    };
    let d = Double::with(config).await.unwrap();
    let context = SinkContext {
        entity: Entity::CUSTOMER,
        key_field: "code".into(),
        fields: vec![],
    };
    let options = map(json!({"record": "customer", "fields": {"name": "companyName"}}));
    let customers = patient(&d).sink(&options, &context).unwrap();
    let batch: Vec<Outgoing> = (1..=4)
        .map(|n| {
            outgoing(
                &format!("W-{n}"),
                json!({"code": format!("W-{n}"), "name": format!("Writer {n}")}),
            )
        })
        .collect();
    let results = customers.upsert(&batch).await.unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let refused = d
        .double
        .requests()
        .all()
        .iter()
        .filter(|r| r.status == Some(429))
        .count();
    assert!(
        refused > 0,
        "four writers on a limit of one were never refused"
    );
    // The code in a 400, as one client sees it: retried too, then a forced 429.
    let body = r#"{"title":"Bad Request","status":400,"o:errorDetails":[{"detail":"Concurrent request limit exceeded. Request blocked.","o:errorCode":"CONCURRENCY_LIMIT_EXCEEDED"}]}"#;
    let action = FaultAction::Status {
        status: 400,
        retry_after: None,
        headers: Default::default(),
        body: Some(body.into()),
    };
    d.double.faults().add(
        Fault::new(action)
            .on("POST", "/services/rest/query/v1/suiteql")
            .times(1),
    );
    d.netsuite.throttle_next(1);
    let (read, _) = read_all(
        source(&d, json!({"object": "customers"})).as_ref(),
        None,
        10,
    )
    .await;
    assert_eq!(read.len(), 7);
    assert_eq!(d.netsuite.throttles_left(), 0);
    assert_eq!(d.double.faults().unfired(), 0);
}

#[tokio::test]
async fn an_error_inside_an_http_200_is_not_an_empty_page() {
    let d = Double::start().await.unwrap();
    let action = FaultAction::error_in_ok(
        "INVALID_PARAMETER",
        "Search error occurred: Invalid or unsupported search.",
    );
    d.double.faults().add(
        Fault::new(action)
            .on("POST", "/services/rest/query/v1/suiteql")
            .times(1),
    );
    let e = source(&d, json!({"object": "items"}))
        .read(None, 10)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.message().contains("Invalid or unsupported search"), "{e}");
}

fn order_target() -> Value {
    json!({"record": "salesOrder", "fields": {"number": "otherRefNum", "customer": "entity", "note": "memo"},
           "refs": {"entity": "customer.externalid"},
           "lines": {"fields": {"sku": "item", "price": "rate"}, "refs": {"item": "item.itemid"}}})
}

fn order(key: &str, customer: &str, sku: &str) -> Outgoing {
    outgoing(
        key,
        json!({"number": key, "customer": customer, "note": "from the shop",
        "lines": [{"sku": "SKU-1", "quantity": "2", "price": "10.50"}, {"sku": sku, "quantity": "1", "price": "25"}]}),
    )
}

#[tokio::test]
async fn sales_orders_are_upserted_with_references_and_refused_one_by_one() {
    let d = Double::start().await.unwrap();
    let orders = sink(&d, order_target(), "number");
    let batch = vec![
        order("SHOP-2001", "CRM-002", "SKU-2"),
        order("SHOP-2002", "CRM-001", "NO-SUCH-SKU"),
        order("SHOP-2003", "CRM-404", "SKU-2"),
        order("SHOP-2004", "CRM-001", "SKU-2"),
    ];
    let results = orders.upsert(&batch).await.unwrap();
    let first = results[0].as_ref().unwrap().target_id.clone();
    assert!(results[3].is_ok(), "{results:?}");
    let sku = results[1].as_ref().unwrap_err();
    assert_eq!(sku.kind(), ErrorKind::Validation);
    assert!(
        sku.message().contains("SHOP-2002")
            && sku.message().contains("lines[1].item")
            && sku.message().contains("NO-SUCH-SKU"),
        "{sku}"
    );
    let customer = results[2].as_ref().unwrap_err();
    assert!(
        customer.message().contains("`entity`") && customer.message().contains("CRM-404"),
        "{customer}"
    );
    // Written twice: the same order, its lines once.
    let again = orders.upsert(&batch[..1]).await.unwrap();
    assert_eq!(again[0].as_ref().unwrap().target_id, first);
    let stored = d
        .double
        .store()
        .get("transaction", first.parse().unwrap())
        .unwrap();
    assert_eq!(stored.fields["item"].as_array().unwrap().len(), 2);
    assert_eq!(stored.fields["entity"], "2");
    assert_eq!(stored.fields["otherrefnum"], "SHOP-2001");
    assert_eq!(stored.fields["item"][0]["rate"], json!(10.5));
    // NetSuite's own refusal of a line it cannot take, with its words and the field.
    let bad = outgoing(
        "SHOP-2005",
        json!({"number": "SHOP-2005", "customer": "CRM-001", "lines": []}),
    );
    let refused = orders.upsert(&[bad]).await.unwrap();
    let e = refused[0].as_ref().unwrap_err();
    assert!(
        e.message()
            .contains("You must enter at least one line item"),
        "{e}"
    );
    assert!(e.message().contains("USER_ERROR"), "{e}");
}

#[tokio::test]
async fn stock_is_read_per_named_location_and_moves_with_the_erp() {
    let d = Double::start().await.unwrap();
    let stock = source(
        &d,
        json!({"object": "stock", "overlap": "0s", "locations": {"Main Warehouse": "main", "2": "east"}}),
    );
    let (items, cursor) = read_all(stock.as_ref(), None, 10).await;
    assert_eq!(items.len(), 2, "inventory items only: {items:?}");
    let widget = &items[0].fields;
    assert_eq!(widget["sku"], "SKU-1");
    assert_eq!(
        widget["locations"]["main"],
        json!({"on_hand": "40", "available": "35"})
    );
    assert_eq!(widget["on_hand"], "52");
    d.tick();
    d.netsuite
        .erp(d.double.harness())
        .set_stock(2, 2, 9.0)
        .unwrap();
    let (moved, _) = read_all(stock.as_ref(), Some(cursor), 10).await;
    let gadget = moved
        .iter()
        .find(|r| r.id == "2")
        .expect("the gadget moved");
    assert_eq!(gadget.fields["locations"]["east"]["on_hand"], "9");
    let bad = source(
        &d,
        json!({"object": "stock", "locations": {"Nowhere": "x"}}),
    );
    let e = bad.read(None, 10).await.unwrap_err();
    assert!(e.message().contains("Nowhere"), "{e}");
}

#[tokio::test]
async fn fulfilments_name_the_order_they_ship() {
    let d = Double::start().await.unwrap();
    d.tick();
    d.netsuite.erp(d.double.harness()).fulfil(1).unwrap();
    let (shipped, _) = read_all(
        source(&d, json!({"object": "fulfilments"})).as_ref(),
        None,
        10,
    )
    .await;
    assert_eq!(shipped.len(), 1);
    let f = &shipped[0].fields;
    assert_eq!(f["createdfrom_externalid"], "SHOP-1001");
    assert_eq!(f["shipstatus"], "C");
    assert_eq!(f["lines"][1]["sku"], "SKU-2");
    d.netsuite.erp(d.double.harness()).bill(1).unwrap();
    let (invoices, _) =
        read_all(source(&d, json!({"object": "invoices"})).as_ref(), None, 10).await;
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].fields["createdfrom"], "1");
    assert_eq!(invoices[0].fields["lines"].as_array().unwrap().len(), 2);
    let fetched = source(&d, json!({"object": "fulfilments"}))
        .fetch(&[shipped[0].id.clone(), "999".into()])
        .await
        .unwrap();
    assert_eq!(fetched[0].fields["createdfrom_externalid"], "SHOP-1001");
    assert!(fetched[1].deleted);
}

#[tokio::test]
async fn settings_are_checked_and_secrets_stay_out_of_debug() {
    let d = Double::start().await.unwrap();
    let built = connector(&d);
    let shown = format!("{built:?}");
    let c = d.netsuite.config();
    assert!(
        !shown.contains(&c.token_secret) && !shown.contains(&c.consumer_secret),
        "{shown}"
    );
    let system: crate::SystemSettings =
        serde_json::from_value(Value::Object(d.settings())).unwrap();
    let shown = format!("{system:?}");
    assert!(
        !shown.contains(&c.token_secret) && !shown.contains(&c.consumer_secret),
        "{shown}"
    );
    let mut bad: Map<String, Value> = d.settings();
    bad.insert("account".into(), json!("12 34"));
    bad.insert("concurrency".into(), json!(0));
    let issues = NetSuiteConnector::from_settings(&ctx(), &bad).unwrap_err();
    let at: Vec<String> = issues.iter().map(|i| i.dotted()).collect();
    assert_eq!(at, ["account", "concurrency"]);
    let wrong = connector(&d).source(&map(json!({"object": "customers", "fields": ["Bad Name"]})));
    assert_eq!(wrong.err().unwrap()[0].dotted(), "fields.0");
    let refs = connector(&d).sink(
        &map(json!({"record": "salesOrder", "refs": {"entity": "customer"}})),
        &SinkContext {
            entity: Entity::SALES_ORDER,
            key_field: "k".into(),
            fields: vec![],
        },
    );
    assert_eq!(refs.err().unwrap()[0].dotted(), "refs.entity");
    // The account's host and realm when no `url` is given.
    let system: crate::SystemSettings = serde_json::from_value(json!({"account": "1234567_SB1",
        "consumer_key": "k", "consumer_secret": "s", "token_id": "t", "token_secret": "u"}))
    .unwrap();
    assert_eq!(
        system.http().url,
        "https://1234567-sb1.suitetalk.api.netsuite.com"
    );
    // An empty `url` (`url: ${NS_URL:-}` with the variable unset) is no `url`.
    let system: crate::SystemSettings = serde_json::from_value(json!({"account": "1234567_SB1",
        "url": "", "consumer_key": "k", "consumer_secret": "s", "token_id": "t", "token_secret": "u"}))
    .unwrap();
    assert_eq!(
        system.http().url,
        "https://1234567-sb1.suitetalk.api.netsuite.com"
    );
}

/// The dossier's documented shapes, replayed verbatim by the double's faults, so the
/// connector is checked against the captures themselves, not only against the double's
/// rendering of them.
mod contract {
    use super::*;

    fn replay(d: &Double, method: &str, path: &str, status: u16, body: &str) {
        let action = FaultAction::Status {
            status,
            retry_after: None,
            headers: Default::default(),
            body: Some(body.into()),
        };
        d.double
            .faults()
            .add(Fault::new(action).on(method, path).times(1));
    }

    const SUITEQL: &str = "/services/rest/query/v1/suiteql";

    #[tokio::test]
    async fn a_suiteql_page_of_the_documented_shape_is_read() {
        let d = Double::start().await.unwrap();
        // netsuite.md §3, with the `TO_CHAR` alias the connector selects.
        let page = r#"{"links": [{"rel": "self", "href": "https://1234567.suitetalk.api.netsuite.com/services/rest/query/v1/suiteql"},
            {"rel": "next", "href": "https://1234567.suitetalk.api.netsuite.com/services/rest/query/v1/suiteql?limit=1&offset=1"}],
            "count": 1, "hasMore": true, "offset": 0, "totalResults": 5321,
            "items": [{"links": [], "id": "123", "entityid": "C001", "companyname": "ACME",
                       "lastmodifieddate": "5/2/2024", "lastmodified": "2024-05-02T09:30:00"}]}"#;
        replay(&d, "POST", SUITEQL, 200, page);
        let read = source(&d, json!({"object": "customers"}))
            .read(None, 1)
            .await
            .unwrap();
        assert!(read.more);
        assert_eq!(read.records[0].id, "123");
        assert_eq!(
            read.records[0].fields["lastmodifieddate"],
            "2024-05-02T09:30:00Z"
        );
        assert!(!read.records[0].fields.contains_key("links"));
        // The same page without the alias (dates in the user's format only) is refused
        // plainly rather than read with no position.
        replay(
            &d,
            "POST",
            SUITEQL,
            200,
            &page.replace(r#", "lastmodified": "2024-05-02T09:30:00""#, ""),
        );
        let e = source(&d, json!({"object": "customers"}))
            .read(None, 1)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Fatal, "{e}");
    }

    #[tokio::test]
    async fn the_documented_user_error_is_that_records_refusal() {
        let d = Double::start().await.unwrap();
        // netsuite.md §5.
        let body = r#"{"type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1", "title": "Bad Request", "status": 400,
            "o:errorDetails": [{"detail": "Error while accessing a resource. This entity already exists.", "o:errorCode": "USER_ERROR", "o:errorPath": "entityId"}]}"#;
        replay(
            &d,
            "PUT",
            "/services/rest/record/v1/customer/eid:DUP-1",
            400,
            body,
        );
        let customers = sink(
            &d,
            json!({"record": "customer", "fields": {"name": "companyName"}}),
            "code",
        );
        let batch = vec![
            outgoing("DUP-1", json!({"code": "DUP-1", "name": "Dup"})),
            outgoing("OK-1", json!({"code": "OK-1", "name": "Fine"})),
        ];
        let results = customers.upsert(&batch).await.unwrap();
        let e = results[0].as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert!(e.message().contains("key `DUP-1`"), "{e}");
        assert!(
            e.message()
                .contains("This entity already exists. (USER_ERROR at `entityId`)"),
            "{e}"
        );
        assert!(results[1].is_ok());
    }

    #[tokio::test]
    async fn the_captured_concurrency_refusal_is_retried() {
        let d = Double::start().await.unwrap();
        // Corrections 1 and 4: "Bad Request" with 429, no `type`, no Retry-After.
        let body = r#"{"title": "Bad Request", "status": 429, "o:errorDetails": [{"detail": "Concurrent request limit exceeded. Request blocked.", "o:errorCode": "CONCURRENCY_LIMIT_EXCEEDED"}]}"#;
        replay(&d, "POST", SUITEQL, 429, body);
        replay(&d, "PUT", "/services/rest/record/v1/customer/**", 429, body);
        let (read, _) = read_all(
            source(&d, json!({"object": "customers"})).as_ref(),
            None,
            10,
        )
        .await;
        assert_eq!(read.len(), 3);
        let customers = sink(
            &d,
            json!({"record": "customer", "fields": {"name": "companyName"}}),
            "code",
        );
        let written = customers
            .upsert(&[outgoing("T-1", json!({"code": "T-1", "name": "T"}))])
            .await
            .unwrap();
        assert!(written[0].is_ok(), "{written:?}");
        assert_eq!(d.double.faults().unfired(), 0);
    }

    #[tokio::test]
    async fn a_login_refusal_of_the_documented_shape_is_an_auth_error() {
        let d = Double::start().await.unwrap();
        // §2 and §5: 401 with `INVALID_LOGIN_ATTEMPT` (the wording is uncertain).
        let body = r#"{"type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2", "title": "Unauthorized", "status": 401,
            "o:errorDetails": [{"detail": "Invalid login attempt.", "o:errorCode": "INVALID_LOGIN_ATTEMPT"}]}"#;
        replay(&d, "POST", SUITEQL, 401, body);
        let e = connector(&d).probe().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
        assert!(
            e.message()
                .contains("Invalid login attempt. (INVALID_LOGIN_ATTEMPT)"),
            "{e}"
        );
    }
}

#[tokio::test]
async fn fulfilments_are_written_from_the_order_once() {
    let d = Double::start().await.unwrap();
    let options =
        json!({"record": "itemFulfillment", "from_order": "order_id", "fields": {"note": "memo"}});
    let fulfilments = sink(&d, options, "tracking");
    let shipment = |key: &str, order: &str| {
        outgoing(
            key,
            json!({"order_id": order, "note": format!("shipped {key}")}),
        )
    };
    let batch = vec![
        shipment("TRK-1", "SHOP-1001"),
        shipment("TRK-2", "SHOP-404"),
        shipment("TRK-3", ""),
    ];
    let results = fulfilments.upsert(&batch).await.unwrap();
    let id = results[0].as_ref().unwrap().target_id.clone();
    let missing = results[1].as_ref().unwrap_err();
    assert!(
        missing.message().contains("eid:SHOP-404") && missing.message().contains("NONEXISTENT_ID"),
        "{missing}"
    );
    let empty = results[2].as_ref().unwrap_err();
    assert!(empty.message().contains("`order_id` is empty"), "{empty}");
    // Sent again: the same fulfilment, updated, not a second one.
    let again = fulfilments
        .upsert(&[shipment("TRK-1", "SHOP-1001")])
        .await
        .unwrap();
    assert_eq!(again[0].as_ref().unwrap().target_id, id);
    let (shipped, _) = read_all(
        source(&d, json!({"object": "fulfilments"})).as_ref(),
        None,
        10,
    )
    .await;
    assert_eq!(shipped.len(), 1);
    assert_eq!(shipped[0].fields["externalid"], "TRK-1");
    assert_eq!(shipped[0].fields["createdfrom_externalid"], "SHOP-1001");
    assert_eq!(shipped[0].fields["memo"], "shipped TRK-1");
}
