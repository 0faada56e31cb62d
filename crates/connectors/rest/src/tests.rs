//! The `rest` connector against the reference double (`ferry-doubles`): every paging style,
//! incremental reads over ties and a list that moves under the reader, upserts, refusals
//! with the API's message, create/update/delete by id, SOAP, auth and settings errors.

use std::collections::{BTreeMap, BTreeSet};

use ferry_doubles::reference::{AuthMode, Paging, ReferenceConfig, ReferenceDouble};
use ferry_doubles::{RunningDouble, start};
use ferry_kit::{
    BuildContext, Connector, ConnectorFactory, Outgoing, Removal, SinkContext, Source,
};
use ferry_model::{Entity, ErrorKind};
use serde_json::{Map, Value, json};

use crate::RestFactory;

async fn double(config: ReferenceConfig) -> RunningDouble {
    start(ReferenceDouble::new(config), 0)
        .await
        .expect("the double starts")
}

fn map(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

fn connector(settings: Value) -> std::sync::Arc<dyn Connector> {
    let ctx = BuildContext {
        system: "legacy".into(),
        base_dir: ".".into(),
    };
    RestFactory
        .build(&ctx, &map(settings))
        .expect("valid settings")
}

/// The customers object paged the way `paging` does, as a user would describe it.
fn customers(paging: Paging, page_size: usize, incremental: bool) -> Value {
    let paging = match paging {
        Paging::Page => json!({"style": "page", "total": "/total"}),
        Paging::Offset => json!({"style": "offset", "total": "/total"}),
        Paging::Cursor => json!({"style": "cursor"}),
        Paging::Link => json!({"style": "link"}),
        Paging::NextUrl => json!({"style": "next_url"}),
    };
    let records = if matches!(paging["style"].as_str(), Some("link")) {
        ""
    } else {
        "/data"
    };
    let mut object = json!({
        "path": "/api/customers", "records": records, "paging": paging, "page_size": page_size,
        "upsert": {"path": "/api/customers/by-key/{{ key }}"},
        "update": {"path": "/api/customers/{{ id }}"},
        "delete": {"path": "/api/customers/{{ id }}"},
    });
    if incremental {
        object["since"] = json!({"param": "updated_since", "field": "updated_at"});
    }
    object
}

fn system(double: &RunningDouble, objects: Value) -> Value {
    json!({"url": double.base_url(), "retries": 1, "backoff": "10ms",
           "auth": {"type": "api_key", "header": "X-API-Key", "key": "ref-api-key"},
           "objects": objects})
}

/// Reads until caught up; returns every record id read, in order, and the last cursor.
async fn drain(source: &dyn Source, mut cursor: Option<String>) -> (Vec<String>, Option<String>) {
    let mut ids = Vec::new();
    for _ in 0..200 {
        let page = source.read(cursor.as_deref(), 1000).await.expect("a page");
        ids.extend(page.records.iter().map(|r| r.id.clone()));
        cursor = Some(page.cursor);
        if !page.more {
            return (ids, cursor);
        }
    }
    panic!("the read never caught up: {ids:?}");
}

#[tokio::test]
async fn every_paging_style_reads_every_record_exactly_once_in_full_and_incremental_reads() {
    for paging in Paging::ALL {
        let d = double(ReferenceConfig {
            paging,
            ..Default::default()
        })
        .await;
        for incremental in [false, true] {
            // 4 a page: page edges fall inside the seed's groups of 3 records per second.
            let c = connector(system(
                &d,
                json!({"customers": customers(paging, 4, incremental)}),
            ));
            let source = c.source(&map(json!({"object": "customers"}))).unwrap();
            let (ids, cursor) = drain(source.as_ref(), None).await;
            let unique: BTreeSet<&String> = ids.iter().collect();
            assert_eq!(
                (ids.len(), unique.len()),
                (30, 30),
                "{} incremental={incremental}: {ids:?}",
                paging.name()
            );
            if incremental {
                // Caught up: nothing until something changes, then exactly that.
                assert_eq!(
                    drain(source.as_ref(), cursor.clone()).await.0,
                    Vec::<String>::new()
                );
                d.store().touch("customers", 7).unwrap();
                d.store().touch("customers", 2).unwrap();
                let (changed, _) = drain(source.as_ref(), cursor).await;
                // Touched in one second: the list orders them by id.
                assert_eq!(changed, ["2", "7"], "{}", paging.name());
            }
        }
    }
}

#[tokio::test]
async fn records_changing_while_the_list_is_walked_are_neither_skipped_nor_read_twice() {
    let d = double(ReferenceConfig {
        paging: Paging::Page,
        ..Default::default()
    })
    .await;
    let c = connector(system(
        &d,
        json!({"customers": customers(Paging::Page, 5, true)}),
    ));
    let source = c.source(&map(json!({"object": "customers"}))).unwrap();
    let mut cursor = None;
    let mut read: BTreeMap<String, usize> = BTreeMap::new();
    for round in 0.. {
        let page = source.read(cursor.as_deref(), 5).await.unwrap();
        for r in &page.records {
            *read.entry(r.id.clone()).or_default() += 1;
        }
        cursor = Some(page.cursor);
        if round == 1 {
            // Records already read change: on a page-numbered list they move to the end and
            // shift everything after page 1 back by two.
            d.store().touch("customers", 1).unwrap();
            d.store().touch("customers", 3).unwrap();
        }
        if !page.more {
            break;
        }
    }
    assert_eq!(read.len(), 30, "every record read: {read:?}");
    let twice: Vec<&String> = read
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(twice, ["1", "3"], "only the changed records come again");
}

#[tokio::test]
async fn a_record_changed_twice_in_the_second_it_was_read_is_read_again() {
    let d = double(ReferenceConfig {
        paging: Paging::Page,
        ..Default::default()
    })
    .await;
    d.clock().freeze_at("2026-05-01T10:00:00Z".parse().unwrap());
    let c = connector(system(
        &d,
        json!({"customers": customers(Paging::Page, 10, true)}),
    ));
    let source = c.source(&map(json!({"object": "customers"}))).unwrap();
    d.store()
        .update("customers", 5, map(json!({"name": "First change"})))
        .unwrap();
    let (_, cursor) = drain(source.as_ref(), None).await;
    // Same second: the change time does not move, the content does.
    d.store()
        .update("customers", 5, map(json!({"name": "Second change"})))
        .unwrap();
    let page = source.read(cursor.as_deref(), 10).await.unwrap();
    let names: Vec<&Value> = page.records.iter().map(|r| &r.fields["name"]).collect();
    assert_eq!(names, [&json!("Second change")]);
    let (again, _) = drain(source.as_ref(), Some(page.cursor)).await;
    assert!(again.is_empty(), "nothing more: {again:?}");
}

#[tokio::test]
async fn a_list_out_of_change_time_order_is_an_error_not_a_silent_loss() {
    let d = double(ReferenceConfig::default()).await;
    d.store().touch("customers", 1).unwrap();
    let mut object = customers(Paging::Page, 100, true);
    object["since"]["field"] = json!("code"); // the list is in updated_at order, not code order
    let c = connector(system(&d, json!({"customers": object})));
    let source = c.source(&map(json!({"object": "customers"}))).unwrap();
    let e = source.read(None, 100).await.unwrap_err();
    assert!(e.message().contains("not in `code` order"), "{e}");
}

fn sink_ctx() -> SinkContext {
    SinkContext {
        entity: Entity::CUSTOMER,
        key_field: "code".into(),
        fields: vec!["code".into(), "name".into(), "email".into()],
    }
}

fn outgoing(key: &str, fields: Value) -> Outgoing {
    Outgoing {
        key: key.into(),
        target_id: None,
        fields: map(fields),
    }
}

#[tokio::test]
async fn upserts_by_key_create_then_update_and_a_refusal_carries_the_apis_message() {
    let d = double(ReferenceConfig::default()).await;
    let c = connector(system(
        &d,
        json!({"customers": customers(Paging::Page, 20, false)}),
    ));
    let sink = c
        .sink(&map(json!({"object": "customers"})), &sink_ctx())
        .unwrap();
    let batch = [
        outgoing(
            "C9001",
            json!({"code": "C9001", "name": "Acme 上海", "email": "a@acme.cn"}),
        ),
        outgoing(
            "C9002",
            json!({"code": "C9002", "name": "Bad", "email": "not-an-email"}),
        ),
        outgoing("C/9 3", json!({"code": "C/9 3", "name": "Slash"})),
    ];
    let results = sink.upsert(&batch).await.expect("the batch is answered");
    let id = results[0].as_ref().expect("written").target_id.clone();
    let refused = results[1].as_ref().unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Validation);
    assert!(
        refused.message().contains("email") && refused.message().contains("C9002"),
        "{refused}"
    );
    assert!(
        results[2].is_ok(),
        "a key with a slash and a space stays one path segment"
    );
    assert_eq!(
        d.store()
            .find_by_key("customers", "C/9 3")
            .unwrap()
            .map(|r| r.fields["name"].clone()),
        Some(json!("Slash"))
    );

    let again = sink
        .upsert(&[outgoing(
            "C9001",
            json!({"code": "C9001", "name": "Acme Shanghai"}),
        )])
        .await
        .unwrap();
    assert_eq!(
        again[0].as_ref().unwrap().target_id,
        id,
        "the same record, updated"
    );
    let stored = d
        .store()
        .find_by_key("customers", "C9001")
        .unwrap()
        .unwrap();
    assert_eq!(stored.fields["name"], "Acme Shanghai");

    // Read back in canonical names for reconciliation.
    let mut cursor = None;
    let mut scanned = Vec::new();
    loop {
        let page = sink.scan(cursor.as_deref(), 50).await.unwrap();
        scanned.extend(page.records);
        cursor = Some(page.cursor);
        if !page.more {
            break;
        }
    }
    let acme = scanned
        .iter()
        .find(|r| r.key.as_deref() == Some("C9001"))
        .expect("scanned");
    assert_eq!(acme.fields["name"], "Acme Shanghai");
    assert_eq!(acme.target_id, id);
}

#[tokio::test]
async fn without_upsert_records_are_created_then_updated_by_id_and_deleted() {
    let d = double(ReferenceConfig::default()).await;
    let mut object = customers(Paging::Page, 20, false);
    object.as_object_mut().unwrap().remove("upsert");
    let c = connector(system(&d, json!({"customers": object})));
    let sink = c
        .sink(
            &map(json!({"object": "customers", "fields": {"email": null}})),
            &sink_ctx(),
        )
        .unwrap();
    let created = sink
        .upsert(&[outgoing(
            "C7001",
            json!({"code": "C7001", "name": "New", "email": "x"}),
        )])
        .await
        .unwrap();
    let id = created[0]
        .as_ref()
        .expect("created, the left-out email not sent")
        .target_id
        .clone();
    let mut update = outgoing("C7001", json!({"code": "C7001", "name": "Renamed"}));
    update.target_id = Some(id.clone());
    sink.upsert(&[update]).await.unwrap()[0].as_ref().unwrap();
    assert_eq!(
        d.store()
            .find_by_key("customers", "C7001")
            .unwrap()
            .unwrap()
            .fields["name"],
        "Renamed"
    );
    let patches = d.requests().matching("PATCH", "/api/customers/*").len();
    assert_eq!(patches, 1);

    let removal = Removal {
        key: "C7001".into(),
        target_id: Some(id.clone()),
    };
    sink.delete(std::slice::from_ref(&removal)).await.unwrap()[0]
        .as_ref()
        .unwrap();
    sink.delete(&[removal]).await.unwrap()[0]
        .as_ref()
        .expect("already gone counts as deleted");
    let source = c.source(&map(json!({"object": "customers"}))).unwrap();
    let fetched = source.fetch(&[id.clone(), "1".into()]).await.unwrap();
    assert!(fetched[0].deleted && !fetched[1].deleted, "{fetched:?}");
}

#[tokio::test]
async fn a_soap_service_is_read_by_xpath_and_written_by_envelope_templates() {
    let d = double(ReferenceConfig::default()).await;
    let envelope = |body: &str| {
        format!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:r="urn:ferry:reference"><soap:Body>{body}</soap:Body></soap:Envelope>"#
        )
    };
    let products = json!({
        "path": "/soap/products", "method": "POST", "format": "xml",
        "list_body": envelope("<r:ListProducts><r:page>{{ page }}</r:page><r:page_size>{{ page_size }}</r:page_size></r:ListProducts>"),
        "records": "//r:product", "id": "id",
        "paging": {"style": "page", "more": "//r:has_more"}, "page_size": 5,
        "upsert": {"method": "POST", "path": "/soap/products",
                   "body": envelope("<r:UpsertProduct>{% for name, value in record|items %}<r:{{ name }}>{{ value }}</r:{{ name }}>{% endfor %}</r:UpsertProduct>")},
        "written_id": "//r:id",
    });
    let mut settings = system(&d, json!({"products": products}));
    settings["namespaces"] = json!({"r": "urn:ferry:reference"});
    let c = connector(settings);
    let source = c.source(&map(json!({"object": "products"}))).unwrap();
    let (ids, _) = drain(source.as_ref(), None).await;
    assert_eq!(ids.len(), 12, "{ids:?}");

    let ctx = SinkContext {
        entity: Entity::PRODUCT,
        key_field: "sku".into(),
        fields: vec!["sku".into(), "name".into(), "price".into()],
    };
    let sink = c.sink(&map(json!({"object": "products"})), &ctx).unwrap();
    let results = sink
        .upsert(&[
            outgoing(
                "P9001",
                json!({"sku": "P9001", "name": "Tea & Co <1kg>", "price": "12.50"}),
            ),
            outgoing("P9002", json!({"sku": "P9002", "name": "No price"})),
        ])
        .await
        .unwrap();
    results[0].as_ref().expect("written");
    let stored = d.store().find_by_key("products", "P9001").unwrap().unwrap();
    assert_eq!(
        stored.fields["name"], "Tea & Co <1kg>",
        "escaped in the envelope, intact at the API"
    );
    let refused = results[1].as_ref().unwrap_err();
    assert_eq!(
        refused.kind(),
        ErrorKind::Validation,
        "a SOAP client fault is the record's: {refused}"
    );
    assert!(refused.message().contains("price"), "{refused}");
}

#[tokio::test]
async fn each_auth_scheme_is_sent_and_a_refused_key_is_an_auth_error_without_the_key() {
    for (mode, auth) in [
        (
            AuthMode::Bearer,
            json!({"type": "bearer", "token": "ref-bearer-token"}),
        ),
        (
            AuthMode::Basic,
            json!({"type": "basic", "username": "ferry", "password": "ferry-pass"}),
        ),
        (
            AuthMode::ApiKey,
            json!({"type": "api_key", "header": "X-API-Key", "key": "ref-api-key"}),
        ),
    ] {
        let d = double(ReferenceConfig {
            auth: mode,
            ..Default::default()
        })
        .await;
        let mut settings = system(&d, json!({"customers": customers(Paging::Page, 50, false)}));
        settings["auth"] = auth;
        let c = connector(settings);
        assert_eq!(c.discover().await.unwrap()[0].name, "customers", "{mode:?}");
    }
    let d = double(ReferenceConfig::default()).await;
    let mut settings = system(&d, json!({"customers": customers(Paging::Page, 50, false)}));
    settings["auth"]["key"] = json!("wrong-s3cret-key");
    let e = connector(settings).discover().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(!e.to_string().contains("wrong-s3cret-key"), "{e}");
}

#[tokio::test]
async fn tokens_and_sessions_that_expire_are_renewed_once_and_the_read_goes_on() {
    use ferry_doubles::reference::ExpiredAnswer;
    let oauth2 = |d: &RunningDouble| {
        json!({"type": "oauth2_client_credentials", "token_url": d.url("/oauth/token"),
        "client_id": "ferry-client", "client_secret": "ferry-client-secret"})
    };
    let session = |_: &RunningDouble| {
        json!({"type": "session", "login_url": "/session/login", "username": "ferry",
        "password": "ferry-pass", "body": {"username": "{username}", "password": "{password}"},
        "token_path": "/session_id", "header": "X-Session-Id", "format": "{token}"})
    };
    for (mode, answer, auth) in [
        (
            AuthMode::OAuth2,
            ExpiredAnswer::Unauthorized,
            oauth2 as fn(&RunningDouble) -> Value,
        ),
        (AuthMode::Session, ExpiredAnswer::Unauthorized, session),
        // The session's end reported inside an HTTP 200 body, read by `reply_check`.
        (AuthMode::Session, ExpiredAnswer::ErrorInOk, session),
    ] {
        let d = double(ReferenceConfig {
            auth: mode,
            expired_answer: answer,
            paging: Paging::Page,
            ..Default::default()
        })
        .await;
        let mut settings = system(&d, json!({"customers": customers(Paging::Page, 10, false)}));
        settings["auth"] = auth(&d);
        settings["reply_check"] = json!({"status_path": "/ok", "ok_values": [true],
            "code_path": "/error/code", "message_path": "/error/message", "auth_codes": ["SESSION_EXPIRED", "TOKEN_EXPIRED"]});
        let c = connector(settings);
        let source = c.source(&map(json!({"object": "customers"}))).unwrap();
        let first = source.read(None, 10).await.expect("first page");
        d.sessions().expire_all();
        let (rest, _) = drain(source.as_ref(), Some(first.cursor)).await;
        assert_eq!(first.records.len() + rest.len(), 30, "{mode:?} {answer:?}");
        let logins = d.requests().matching("POST", "/oauth/token").len()
            + d.requests().matching("POST", "/session/login").len();
        assert_eq!(logins, 2, "{mode:?} {answer:?}: one login, one renewal");
    }
}

#[tokio::test]
async fn an_error_inside_http_200_never_reads_as_the_end_of_the_list() {
    use ferry_doubles::reference::ExpiredAnswer;
    let d = double(ReferenceConfig {
        auth: AuthMode::Bearer,
        expired_answer: ExpiredAnswer::ErrorInOk,
        ..Default::default()
    })
    .await;
    let mut settings = system(&d, json!({"customers": customers(Paging::Page, 10, true)}));
    settings["auth"] = json!({"type": "bearer", "token": "ref-bearer-token"});
    let source = connector(settings)
        .source(&map(json!({"object": "customers"})))
        .unwrap();
    let first = source.read(None, 10).await.unwrap();
    d.faults().add(
        ferry_doubles::Fault::new(ferry_doubles::FaultAction::error_in_ok(
            "BUSY",
            "try again later",
        ))
        .times(1),
    );
    // No `reply_check` configured: the body has no `/data`, which is an error, not an empty page.
    let e = source.read(Some(&first.cursor), 10).await.unwrap_err();
    assert!(
        e.message().contains("no list at `/data`") && e.message().contains("try again later"),
        "{e}"
    );
}

#[tokio::test]
async fn discover_proposes_each_objects_fields_from_a_live_sample() {
    let d = double(ReferenceConfig::default()).await;
    let c = connector(system(
        &d,
        json!({"customers": customers(Paging::Page, 50, true)}),
    ));
    let objects = c.discover().await.unwrap();
    let fields: BTreeMap<&str, &str> = objects[0]
        .fields
        .iter()
        .map(|f| (f.name.as_str(), f.ty.as_str()))
        .collect();
    assert_eq!(
        (fields["code"], fields["credit_limit"], fields["id"]),
        ("string", "number", "number")
    );
}

#[test]
fn settings_problems_are_reported_at_their_key() {
    let ctx = BuildContext {
        system: "legacy".into(),
        base_dir: ".".into(),
    };
    let issues = |v: Value| -> Vec<(String, String)> {
        match RestFactory.build(&ctx, &map(v)) {
            Ok(_) => Vec::new(),
            Err(found) => found.into_iter().map(|i| (i.dotted(), i.message)).collect(),
        }
    };
    let found = issues(
        json!({"url": "http://h", "auth": {"type": "bearer", "token": " "}, "objects": {
            "a": {"path": "/a", "records": "$.data[", "paging": {"style": "page"}},
            "b": {"path": "/b", "upsert": {"path": "/b/{{ key "}, "since": {"param": "", "field": "x"}},
            "c": {"path": "/c", "format": "xml", "records": "//c", "paging": {"style": "cursor"}},
        }}),
    );
    let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "auth.token",
            "objects.a.records",
            "objects.b.since",
            "objects.b.upsert.path",
            "objects.c.paging.style"
        ],
        "{found:?}"
    );
    let c = connector(json!({"url": "http://h", "objects": {"a": {"path": "/a"}}}));
    let e = c.source(&map(json!({"object": "nope"}))).err().unwrap();
    assert!(
        e[0].message.contains("no object `nope`") && e[0].message.contains('a'),
        "{e:?}"
    );
}
