//! Contract tests against the Dynamics double, replaying the dossier's documented shapes:
//! paged and delta reads (two changes to one record in one second, a deletion, an expired
//! delta link, a token expiring between pages, an error inside an HTTP 200), upserts by
//! alternate key with typed values and lookups, a per-record failure inside a batch,
//! throttling (429 + Retry-After), an ETag/key conflict, and settings that name their key
//! and never show the secret.

use std::sync::Arc;

use ferry_doubles::dynamics::throttled;
use ferry_doubles::{Fault, FaultAction};
use ferry_kit::{BuildContext, Connector, ConnectorFactory, Outgoing, Sink, SinkContext, Source};
use ferry_model::{Entity, ErrorKind, Record};
use serde_json::{Map, Value, json};

use crate::DynamicsFactory;
use crate::conformance::Double;
use ferry_conformance::Fixture;

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn ctx() -> BuildContext {
    BuildContext {
        system: "d365".into(),
        base_dir: std::env::temp_dir(),
    }
}

async fn start() -> (Double, Arc<dyn Connector>) {
    let double = Double::start().await.expect("the double");
    double.reset().await;
    let connector = DynamicsFactory
        .build(&ctx(), &double.settings())
        .expect("settings build");
    (double, connector)
}

fn source(connector: &Arc<dyn Connector>, options: Value) -> Arc<dyn Source> {
    connector.source(&map(options)).expect("source options")
}

fn sink(connector: &Arc<dyn Connector>, options: Value) -> Arc<dyn Sink> {
    let ctx = SinkContext {
        entity: Entity::CUSTOMER,
        key_field: "code".into(),
        fields: vec![],
    };
    connector.sink(&map(options), &ctx).expect("target options")
}

fn outgoing(key: &str, fields: Value) -> Outgoing {
    Outgoing {
        key: key.into(),
        target_id: None,
        fields: map(fields),
    }
}

const ACCOUNTS: &str = r#"{"entity_set": "accounts", "key": "accountnumber",
    "fields": {"code": "accountnumber", "phone": "telephone1", "credit": "creditlimit",
               "employees": "numberofemployees"}}"#;

fn accounts() -> Value {
    serde_json::from_str(ACCOUNTS).expect("json")
}

/// Reads from `cursor` until caught up: the records and the last cursor.
async fn read_all(source: &dyn Source, mut cursor: Option<String>) -> (Vec<Record>, String) {
    let mut out = Vec::new();
    loop {
        let page = source.read(cursor.as_deref(), 2).await.expect("read");
        out.extend(page.records);
        cursor = Some(page.cursor);
        if !page.more {
            return (out, cursor.unwrap_or_default());
        }
    }
}

#[tokio::test]
async fn delta_links_bring_two_changes_in_one_second_once_and_deletions() {
    let (double, connector) = start().await;
    let seeded = double
        .seed(&[
            ("A1".into(), "One".into()),
            ("A2".into(), "Two".into()),
            ("A3".into(), "Three".into()),
        ])
        .await;
    let source = source(
        &connector,
        json!({"entity_set": "accounts", "select": ["name", "accountnumber"]}),
    );
    let (read, cursor) = read_all(source.as_ref(), None).await;
    assert_eq!(read.len(), 3);
    assert!(cursor.contains("delta"), "{cursor}");
    // Two changes to A1 in the same (frozen) second, then A2 deleted.
    let store = double.double.store();
    let a1 = store.find_by_key("accounts", "A1").unwrap().unwrap();
    store
        .update("accounts", a1.id, map(json!({"name": "first"})))
        .unwrap();
    double.dynamics.guid(store, "accounts", a1.id);
    store
        .update("accounts", a1.id, map(json!({"name": "second"})))
        .unwrap();
    let a2 = store.find_by_key("accounts", "A2").unwrap().unwrap();
    store.delete("accounts", a2.id).unwrap();
    let (read, _) = read_all(source.as_ref(), Some(cursor)).await;
    assert_eq!(read.len(), 2, "{read:?}");
    let one = read.iter().find(|r| r.id == seeded[0].0).expect("A1 read");
    assert!(
        one.fields.get("creditlimit").is_none(),
        "only the selected columns"
    );
    assert_eq!(one.fields["name"], "second");
    assert!(one.updated_at.is_some());
    let gone = read.iter().find(|r| r.id == seeded[1].0).expect("A2 read");
    assert!(gone.deleted);
}

#[tokio::test]
async fn an_expired_delta_link_is_healed_by_a_full_read() {
    let (double, connector) = start().await;
    double
        .seed(&[("A1".into(), "One".into()), ("A2".into(), "Two".into())])
        .await;
    let source = source(&connector, json!({"entity_set": "accounts"}));
    let (_, cursor) = read_all(source.as_ref(), None).await;
    double.dynamics.expire_delta_links();
    let (read, next) = read_all(source.as_ref(), Some(cursor.clone())).await;
    assert_eq!(read.len(), 2, "every row again");
    assert_ne!(next, cursor);
    let (read, _) = read_all(source.as_ref(), Some(next)).await;
    assert!(read.is_empty(), "the new delta link works: {read:?}");
}

#[tokio::test]
async fn a_token_expiring_between_pages_is_renewed_and_the_read_goes_on() {
    let (double, connector) = start().await;
    let seeded = double
        .seed(
            &(1..=5)
                .map(|n| (format!("A{n}"), format!("N{n}")))
                .collect::<Vec<_>>(),
        )
        .await;
    let source = source(&connector, json!({"entity_set": "accounts"}));
    let first = source.read(None, 2).await.expect("page 1");
    assert!(first.more);
    double.double.sessions().expire_all();
    let (rest, _) = read_all(source.as_ref(), Some(first.cursor)).await;
    assert_eq!(first.records.len() + rest.len(), seeded.len());
    let tokens = double
        .double
        .requests()
        .matching("POST", "/*/oauth2/v2.0/token");
    assert_eq!(tokens.len(), 2, "one token, then one after the 401");
}

#[tokio::test]
async fn an_error_inside_an_http_200_fails_the_read_with_its_message() {
    let (double, connector) = start().await;
    double.seed(&[("A1".into(), "One".into())]).await;
    let fault = Fault::new(FaultAction::error_in_ok(
        "0x80040216",
        "An unexpected error occurred.",
    ));
    double
        .double
        .faults()
        .add(fault.on("GET", "/api/data/v9.2/accounts").times(1));
    let e = source(&connector, json!({"entity_set": "accounts"}))
        .read(None, 10)
        .await
        .expect_err("an error in a 200");
    assert!(
        e.message()
            .contains("An unexpected error occurred. (0x80040216)"),
        "{e}"
    );
}

#[tokio::test]
async fn one_refused_record_in_a_batch_keeps_dataverses_message_and_the_others_are_written() {
    let (double, connector) = start().await;
    let sink = sink(&connector, accounts());
    let batch = vec![
        outgoing(
            "G1",
            json!({"code": "G1", "name": "Good", "credit": "12500.50", "employees": "12"}),
        ),
        outgoing(
            "B1",
            json!({"code": "B1", "name": "Bad", "phone": "5".repeat(60)}),
        ),
        outgoing("B2", json!({"code": "B2", "credit": "12,5x"})),
        outgoing("G2", json!({"code": "G2", "name": "Good too"})),
    ];
    let results = sink.upsert(&batch).await.expect("the batch");
    let ok = results[0].as_ref().expect("G1");
    assert_eq!(ok.target_id.len(), 36, "a GUID: {}", ok.target_id);
    assert!(results[3].is_ok());
    let bad = results[1].as_ref().expect_err("B1");
    assert_eq!(bad.kind(), ErrorKind::Validation);
    assert!(
        bad.message().contains("`B1`")
            && bad.message().contains("maximum allowed length of '50'")
            && bad.message().contains("0x80044331"),
        "{bad}"
    );
    let typed = results[2].as_ref().expect_err("B2");
    assert!(
        typed.message().contains("`B2`")
            && typed.message().contains("field `credit`")
            && typed.message().contains("`12,5x`"),
        "{typed}"
    );
    let store = double.double.store();
    let g1 = store
        .find_by_key("accounts", "G1")
        .unwrap()
        .expect("G1 written");
    assert_eq!(
        g1.fields["creditlimit"],
        json!(12500.5),
        "a decimal as a JSON number"
    );
    assert_eq!(g1.fields["numberofemployees"], json!(12));
    assert!(store.find_by_key("accounts", "B1").unwrap().is_none());
    // Writing G1 again updates the same record.
    let again = sink.upsert(&batch[..1]).await.expect("again");
    assert_eq!(again[0].as_ref().unwrap().target_id, ok.target_id);
}

#[tokio::test]
async fn a_throttled_batch_waits_out_retry_after_and_is_sent_again() {
    let (double, connector) = start().await;
    double.double.faults().add(
        Fault::new(throttled(1))
            .on("POST", "/api/data/v9.2/$batch")
            .times(1),
    );
    let started = std::time::Instant::now();
    let results = sink(&connector, accounts())
        .upsert(&[outgoing("T1", json!({"code": "T1", "name": "T"}))])
        .await
        .expect("written after the 429");
    assert!(results[0].is_ok());
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(900),
        "Retry-After: 1 honoured"
    );
    assert_eq!(
        double
            .double
            .requests()
            .matching("POST", "/api/data/v9.2/$batch")
            .len(),
        2
    );
}

#[tokio::test]
async fn create_only_refuses_a_record_that_exists_as_a_conflict_and_update_only_skips_missing_ones()
{
    let (double, connector) = start().await;
    double.seed(&[("A1".into(), "One".into())]).await;
    let mut options = accounts();
    options["mode"] = json!("create");
    let results = sink(&connector, options)
        .upsert(&[
            outgoing("A1", json!({"code": "A1", "name": "x"})),
            outgoing("A9", json!({"code": "A9", "name": "new"})),
        ])
        .await
        .expect("the batch");
    let e = results[0].as_ref().expect_err("A1 exists");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert!(e.message().contains("already exists"), "{e}");
    assert!(results[1].is_ok());
    let updated = sink(&connector, accounts())
        .update(&[outgoing("NOPE", json!({"code": "NOPE", "name": "x"}))])
        .await
        .expect("update");
    assert!(updated[0].is_ok(), "a missing record counts as done");
    assert!(
        double
            .double
            .store()
            .find_by_key("accounts", "NOPE")
            .unwrap()
            .is_none(),
        "update never creates"
    );
}

#[tokio::test]
async fn lookups_bind_an_opportunity_to_its_account_by_account_number() {
    let (double, connector) = start().await;
    let seeded = double.seed(&[("C001".into(), "Contoso".into())]).await;
    let options = json!({"entity_set": "opportunities", "key": "new_externalkey",
        "fields": {"number": "new_externalkey", "value": "estimatedvalue", "close": "estimatedclosedate"},
        "lookups": {"customer": {"bind": "parentaccountid", "set": "accounts", "key": "accountnumber"}}});
    let results = sink(&connector, options)
        .upsert(&[
            outgoing("O1", json!({"number": "O1", "name": "Deal", "customer": "C001", "value": "90000.00", "close": "2026-06-30T00:00:00Z"})),
            outgoing("O2", json!({"number": "O2", "name": "Orphan", "customer": "NOPE"})),
        ])
        .await
        .expect("the batch");
    assert!(results[0].is_ok(), "{results:?}");
    let e = results[1].as_ref().expect_err("no such account");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let o1 = double
        .double
        .store()
        .find_by_key("opportunities", "O1")
        .unwrap()
        .expect("O1");
    assert_eq!(o1.fields["_parentaccountid_value"], json!(seeded[0].0));
    assert_eq!(o1.fields["estimatedclosedate"], json!("2026-06-30"));
}

#[tokio::test]
async fn settings_name_their_key_and_hide_the_secret() {
    let double = Double::start().await.expect("the double");
    let mut settings = double.settings();
    settings.insert("tenant".into(), json!(" "));
    let issues = DynamicsFactory
        .build(&ctx(), &settings)
        .expect_err("no tenant");
    assert!(issues.iter().any(|i| i.dotted() == "tenant"), "{issues:?}");
    let parsed: crate::SystemSettings =
        ferry_kit::http::parse_settings(&double.settings()).expect("parsed");
    let secret = double.dynamics.config().client_secret.clone();
    assert!(!format!("{parsed:?}").contains(&secret));
    let connector = DynamicsFactory
        .build(&ctx(), &double.settings())
        .expect("builds");
    assert!(!format!("{connector:?}").contains(&secret));
    let options = map(json!({"entity_set": "widgets"}));
    let issues = connector
        .source(&options)
        .err()
        .expect("an unknown table needs its id");
    assert!(issues.iter().any(|i| i.dotted() == "id"), "{issues:?}");
    let objects = connector.discover().await.expect("discover");
    let accounts = objects
        .iter()
        .find(|o| o.name == "accounts")
        .expect("accounts");
    let number = accounts
        .fields
        .iter()
        .find(|f| f.name == "accountnumber")
        .expect("the key");
    assert_eq!(number.ty, "Edm.String (alternate key)");
}

#[tokio::test]
async fn probes_name_a_missing_column_key_or_navigation_property() {
    let (_double, connector) = start().await;
    let ctx = SinkContext {
        entity: Entity::CUSTOMER,
        key_field: "code".into(),
        fields: vec!["code".into(), "name".into(), "phone".into(), "owner".into()],
    };
    let options = json!({"entity_set": "accounts", "key": "name",
        "fields": {"code": "name", "phone": "telephone9"},
        "lookups": {"owner": {"bind": "ownerid", "set": "systemusers", "key": "domainname"}}});
    let probe = connector
        .sink(&map(options), &ctx)
        .expect("options")
        .probe()
        .await;
    let said: Vec<String> = probe
        .issues
        .iter()
        .map(|i| format!("{:?}: {}", i.at, i.message))
        .collect();
    assert_eq!(said.len(), 3, "{said:?}");
    assert!(said[0].contains("no alternate key"), "{said:?}");
    assert!(
        said.iter()
            .any(|s| s.contains("no column `telephone9` (did you mean `telephone1`?)")),
        "{said:?}"
    );
    assert!(
        said.iter()
            .any(|s| s.contains("no navigation property `ownerid`")),
        "{said:?}"
    );
    let good = connector
        .sink(&map(accounts()), &ctx)
        .expect("options")
        .probe()
        .await;
    assert_eq!(
        good.issues.len(),
        1,
        "only `owner` is unmapped: {:?}",
        good.issues
    );
    let probe = source(
        &connector,
        json!({"entity_set": "acounts", "id": "accountid"}),
    )
    .probe()
    .await;
    assert!(
        probe.issues[0].message.contains("did you mean `accounts`"),
        "{:?}",
        probe.issues
    );
}

#[tokio::test]
async fn records_go_in_batches_of_batch_size_each_answer_matched_by_content_id() {
    let (double, _) = start().await;
    let mut settings = double.settings();
    settings.insert("batch_size".into(), json!(2));
    let connector = DynamicsFactory.build(&ctx(), &settings).expect("builds");
    let batch: Vec<Outgoing> = (1..=5)
        .map(|n| {
            outgoing(
                &format!("K{n}"),
                json!({"code": format!("K{n}"), "name": format!("N{n}")}),
            )
        })
        .collect();
    let results = sink(&connector, accounts())
        .upsert(&batch)
        .await
        .expect("written");
    let store = double.double.store();
    for (record, result) in batch.iter().zip(&results) {
        let written = result.as_ref().expect("each written");
        let row = store
            .find_by_key("accounts", &record.key)
            .unwrap()
            .expect("stored");
        assert_eq!(
            double.dynamics.guid(store, "accounts", row.id).as_deref(),
            Some(written.target_id.as_str())
        );
    }
    assert_eq!(
        double
            .double
            .requests()
            .matching("POST", "/api/data/v9.2/$batch")
            .len(),
        3
    );
}

#[tokio::test]
async fn decimals_are_read_as_text_and_other_columns_keep_their_json_type() {
    let (double, connector) = start().await;
    let store = double.double.store();
    let fields = map(json!({"name": "Order 7", "ordernumber": "SO-7", "totalamount": 1234.5}));
    store.insert("salesorders", fields).expect("an order");
    let source = source(&connector, json!({"entity_set": "salesorders"}));
    let page = source.read(None, 10).await.expect("read");
    let order = page
        .records
        .iter()
        .find(|r| r.fields["ordernumber"] == "SO-7")
        .expect("SO-7");
    assert_eq!(order.fields["totalamount"], json!("1234.5"));
    assert_eq!(
        order.fields["versionnumber"].as_i64().map(|v| v > 0),
        Some(true)
    );
    let fetched = source
        .fetch(std::slice::from_ref(&order.id))
        .await
        .expect("fetch");
    assert_eq!(fetched[0].fields["totalamount"], json!("1234.5"));
    store
        .delete(
            "salesorders",
            store
                .find_by_key("salesorders", "SO-7")
                .unwrap()
                .unwrap()
                .id,
        )
        .unwrap();
    let gone = source
        .fetch(std::slice::from_ref(&order.id))
        .await
        .expect("fetch");
    assert!(gone[0].deleted);
}
