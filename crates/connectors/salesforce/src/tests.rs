//! Behaviour against the Salesforce double (`ferry_doubles::salesforce`, built from the
//! published documentation, not a real org): both grants, a token that expires between
//! pages, paging through ties with `nextRecordsUrl`, upsert created then updated, a
//! collection with one refused record, 503/429 retried, Bulk 2.0 with a failed row, child
//! records as `lines`, the daily limit read from `Sforce-Limit-Info`, and Change Data Capture
//! (replay id as cursor, restarts, deletes, the retention gap backfilled by SOQL).

use std::sync::Arc;

use ferry_doubles::salesforce::{
    CLIENT_ID, SalesforceConfig, TEST_JWT_PRIVATE_KEY_PKCS8, USERNAME,
};
use ferry_doubles::{Fault, FaultAction, RetryAfter};
use ferry_kit::{BuildContext, Connector, ConnectorFactory, Outgoing, Sink, Source};
use ferry_model::ErrorKind;
use serde_json::{Map, Value, json};

use crate::SalesforceFactory;
use crate::conformance::{Double, map};

fn connector(settings: Map<String, Value>) -> Arc<dyn Connector> {
    let ctx = BuildContext {
        system: "crm".into(),
        base_dir: ".".into(),
    };
    SalesforceFactory
        .build(&ctx, &settings)
        .expect("valid settings")
}

fn pem() -> String {
    let body: Vec<String> = TEST_JWT_PRIVATE_KEY_PKCS8
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.join("\n")
    )
}

fn source(c: &dyn Connector, options: Value) -> Arc<dyn Source> {
    c.source(&map(options)).expect("valid source")
}

fn accounts(c: &dyn Connector) -> Arc<dyn Source> {
    source(
        c,
        json!({"object": "Account", "fields": ["Name", "ERP_Id__c"], "overlap": "0s"}),
    )
}

fn sink(c: &dyn Connector, options: Value) -> Arc<dyn Sink> {
    let ctx = ferry_kit::SinkContext {
        entity: ferry_model::Entity::CUSTOMER,
        key_field: "code".into(),
        fields: vec!["code".into(), "name".into()],
    };
    c.sink(&map(options), &ctx).expect("valid target")
}

fn account_sink(c: &dyn Connector, bulk_threshold: usize) -> Arc<dyn Sink> {
    sink(
        c,
        json!({"object": "Account", "external_id": "ERP_Id__c", "bulk_threshold": bulk_threshold,
               "bulk_poll": "10ms", "fields": {"name": "Name", "credit_limit": "Credit_Limit__c"}}),
    )
}

fn out(key: &str, fields: Value) -> Outgoing {
    let mut fields = map(fields);
    fields.insert("code".into(), json!(key));
    Outgoing {
        key: key.into(),
        target_id: None,
        fields,
    }
}

/// Reads to the end in pages of `limit`; the ids in order and the number of reads.
async fn read_all(s: &dyn Source, limit: usize) -> (Vec<String>, usize) {
    let (mut ids, mut cursor, mut reads) = (Vec::new(), None::<String>, 0);
    loop {
        let page = s.read(cursor.as_deref(), limit).await.expect("a page");
        reads += 1;
        ids.extend(page.records.iter().map(|r| r.id.clone()));
        cursor = Some(page.cursor);
        if !page.more {
            return (ids, reads);
        }
    }
}

async fn token_requests(d: &Double) -> usize {
    d.double
        .requests()
        .all()
        .iter()
        .filter(|r| r.path == "/services/oauth2/token")
        .count()
}

#[tokio::test]
async fn jwt_bearer_reads_accounts_and_a_bad_key_is_an_auth_error() {
    let d = Double::start().await.unwrap();
    let mut settings = ferry_conformance::Fixture::settings(&d);
    settings.insert(
        "auth".into(),
        json!({"type": "jwt_bearer", "token_url": "/services/oauth2/token", "issuer": CLIENT_ID,
               "subject": USERNAME, "audience": "https://login.salesforce.com", "private_key": pem()}),
    );
    let c = connector(settings.clone());
    let (ids, _) = read_all(accounts(c.as_ref()).as_ref(), 100).await;
    assert_eq!(ids.len(), 8, "the seeded accounts");
    settings["auth"]["subject"] = json!("someone@else.example");
    let refused = connector(settings);
    let e = accounts(refused.as_ref()).read(None, 10).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(e.message().contains("hasn't approved"), "{e}");
}

#[tokio::test]
async fn pages_cut_through_tied_stamps_and_follow_next_records_url() {
    // Three seeded accounts share one SystemModstamp; batches of 2 make the double answer
    // a page of 5 in three batches.
    let d = Double::with(SalesforceConfig {
        query_batch_size: 2,
        ..Default::default()
    })
    .await;
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let s = accounts(c.as_ref());
    let (all, _) = read_all(s.as_ref(), 100).await;
    assert_eq!(all.len(), 8);
    for limit in [1, 2, 3, 5] {
        let (paged, reads) = read_all(s.as_ref(), limit).await;
        assert_eq!(paged, all, "pages of {limit}: every record once, in order");
        assert!(reads >= 8 / limit, "{reads} reads for pages of {limit}");
    }
    // A record stamped later comes after the cursor.
    let first = s.read(None, 100).await.unwrap();
    d.tick();
    let (_, n) = ferry_doubles::salesforce::parse_id(&all[2]).unwrap();
    d.double
        .store()
        .update("Account", n, map(json!({"Name": "Renamed"})))
        .unwrap();
    let next = s.read(Some(&first.cursor), 100).await.unwrap();
    let ids: Vec<&str> = next.records.iter().map(|r| r.id.as_str()).collect();
    // The scan's top is read again at the window's edge (`>=`), once; then the change.
    assert_eq!(ids, [all[7].as_str(), all[2].as_str()]);
    assert_eq!(next.records[1].fields["Name"], "Renamed");
    // Fetch by ids, one gone.
    let fetched = s
        .fetch(&[all[1].clone(), crate::conformance::account_id(999)])
        .await
        .unwrap();
    assert!(!fetched[0].deleted && fetched[1].deleted);
}

#[tokio::test]
async fn a_token_that_expires_between_pages_is_renewed_once() {
    let d = Double::start().await.unwrap();
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let s = accounts(c.as_ref());
    let first = s.read(None, 3).await.unwrap();
    assert!(first.more);
    d.double.sessions().expire_all();
    let second = s.read(Some(&first.cursor), 3).await.unwrap();
    assert_eq!(second.records.len(), 3);
    assert_eq!(token_requests(&d).await, 2, "one token, renewed once");
}

#[tokio::test]
async fn upsert_creates_then_updates_and_one_refused_record_keeps_its_own_message() {
    let d = Double::start().await.unwrap();
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let k = account_sink(c.as_ref(), 2000);
    let made = k
        .upsert(&[out(
            "C900",
            json!({"name": "苏州新客户有限公司", "credit_limit": 1000}),
        )])
        .await
        .unwrap();
    let id = made[0].as_ref().unwrap().target_id.clone();
    let again = k
        .upsert(&[
            out("C900", json!({"name": "苏州新客户有限公司 (updated)"})),
            out("C901", json!({"name": "负额度客户", "credit_limit": -5})),
            out("C902", json!({"name": "Stark Industries"})),
        ])
        .await
        .unwrap();
    assert_eq!(
        again[0].as_ref().unwrap().target_id,
        id,
        "updated, not created"
    );
    let refused = again[1].as_ref().unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Validation);
    assert!(
        refused
            .message()
            .contains("FIELD_CUSTOM_VALIDATION_EXCEPTION")
            && refused
                .message()
                .contains("Credit limit cannot be negative")
            && refused.message().contains("Credit_Limit__c"),
        "{refused}"
    );
    assert!(again[2].is_ok());
    let s = accounts(c.as_ref());
    let got = s.fetch(&[id]).await.unwrap();
    assert_eq!(got[0].fields["Name"], "苏州新客户有限公司 (updated)");
}

#[tokio::test]
async fn more_than_200_records_go_in_several_collection_calls() {
    let d = Double::start().await.unwrap();
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let k = account_sink(c.as_ref(), 5000);
    let batch: Vec<Outgoing> = (0..250)
        .map(|i| out(&format!("B{i:03}"), json!({"name": format!("Account {i}")})))
        .collect();
    let results = k.upsert(&batch).await.unwrap();
    assert_eq!(results.len(), 250);
    assert!(results.iter().all(Result::is_ok));
    let calls = d
        .double
        .requests()
        .all()
        .iter()
        .filter(|r| r.path.contains("/composite/sobjects/Account/ERP_Id__c"))
        .count();
    assert_eq!(calls, 2);
}

#[tokio::test]
async fn a_503_and_a_429_on_a_write_are_retried() {
    let d = Double::start().await.unwrap();
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let k = account_sink(c.as_ref(), 2000);
    d.double.faults().add(
        Fault::new(FaultAction::status(503))
            .on("PATCH", "/services/data/**")
            .times(1),
    );
    d.double.faults().add(
        Fault::new(FaultAction::too_many_requests(RetryAfter::Seconds(0)))
            .on("PATCH", "/services/data/**")
            .times(1),
    );
    let results = k
        .upsert(&[out("C950", json!({"name": "Retried"}))])
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
}

#[tokio::test]
async fn a_batch_above_the_threshold_goes_through_bulk_with_a_failed_row_mapped_back() {
    let d = Double::start().await.unwrap();
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let k = account_sink(c.as_ref(), 2);
    let results = k
        .upsert(&[
            out("C001", json!({"credit_limit": 600000})),
            out(
                "C020",
                json!({"name": "Umbrella, Inc.", "credit_limit": 1000}),
            ),
            out("C021", json!({"credit_limit": 5})),
        ])
        .await
        .unwrap();
    assert!(results[0].is_ok() && results[1].is_ok(), "{results:?}");
    let failed = results[2].as_ref().unwrap_err();
    assert_eq!(failed.kind(), ErrorKind::Validation);
    assert!(
        failed
            .message()
            .starts_with("REQUIRED_FIELD_MISSING: Required fields are missing"),
        "{failed}"
    );
    let paths: Vec<String> = d
        .double
        .requests()
        .all()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(
        paths.iter().any(|p| p.ends_with("/jobs/ingest")),
        "{paths:?}"
    );
    assert!(
        !paths.iter().any(|p| p.contains("composite")),
        "no collection call"
    );
    let s = accounts(c.as_ref());
    let id = results[1].as_ref().unwrap().target_id.clone();
    assert_eq!(
        s.fetch(&[id]).await.unwrap()[0].fields["Name"],
        "Umbrella, Inc."
    );
}

#[tokio::test]
async fn opportunities_come_with_their_line_items() {
    let d = Double::start().await.unwrap();
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let s = source(
        c.as_ref(),
        json!({"object": "Opportunity", "fields": ["Name", "StageName"],
               "lines": {"object": "OpportunityLineItem", "parent": "OpportunityId",
                         "fields": ["Product2Id", "Quantity", "UnitPrice"]}}),
    );
    let page = s.read(None, 100).await.unwrap();
    assert!(!page.records.is_empty());
    let with_lines = page
        .records
        .iter()
        .filter(|r| r.fields["lines"].as_array().is_some_and(|l| !l.is_empty()))
        .count();
    assert!(with_lines > 0, "{:?}", page.records);
    let line = &page
        .records
        .iter()
        .find_map(|r| r.fields["lines"].get(0))
        .unwrap();
    assert!(
        line.get("Quantity").is_some() && line.get("attributes").is_none(),
        "{line}"
    );
}

#[tokio::test]
async fn near_the_daily_limit_the_flows_pause_without_calling() {
    let d = Double::start().await.unwrap();
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let s = accounts(c.as_ref());
    d.handle.set_api_usage(13_600); // above 90 % of 15,000
    s.read(None, 1)
        .await
        .expect("this call goes out and reads the header");
    let used = d.handle.api_usage();
    let e = s.read(None, 1).await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::RateLimited {
                retry_after: Some(_)
            }
        ),
        "{e}"
    );
    assert!(e.message().contains("daily API requests"), "{e}");
    assert_eq!(d.handle.api_usage(), used, "no call was made");
}

#[tokio::test]
async fn a_spent_allocation_answers_403_and_pauses_the_flow() {
    let d = Double::start().await.unwrap();
    let mut settings = ferry_conformance::Fixture::settings(&d);
    settings.insert("limit_share".into(), json!(1.0));
    let c = connector(settings);
    d.handle.set_api_usage(15_000);
    let e = accounts(c.as_ref()).read(None, 1).await.unwrap_err();
    assert!(
        matches!(
            e.kind(),
            ErrorKind::RateLimited {
                retry_after: Some(_)
            }
        ),
        "{e}"
    );
    assert!(e.message().contains("REQUEST_LIMIT_EXCEEDED"), "{e}");
}

#[test]
fn settings_problems_are_reported_at_their_keys() {
    let ctx = BuildContext {
        system: "crm".into(),
        base_dir: ".".into(),
    };
    let issues = SalesforceFactory
        .build(
            &ctx,
            &map(
                json!({"url": "https://login.salesforce.com", "api_version": "60",
                        "auth": {"type": "bearer", "token": "x"}, "limit_share": 2}),
            ),
        )
        .unwrap_err();
    let paths: Vec<String> = issues.iter().map(|i| i.dotted()).collect();
    assert_eq!(
        paths,
        ["api_version", "limit_share", "auth.type"],
        "{issues:?}"
    );
}

// ---- Change Data Capture (`changes: cdc`) ----

async fn cdc_double() -> Double {
    Double::with(SalesforceConfig {
        cometd_poll: std::time::Duration::from_millis(200),
        ..Default::default()
    })
    .await
}

fn cdc_accounts(c: &dyn Connector) -> Arc<dyn Source> {
    source(
        c,
        json!({"object": "Account", "fields": ["Name", "ERP_Id__c"], "overlap": "1m",
               "changes": "cdc", "cdc_wait": "2s"}),
    )
}

fn cdc_cursor(cursor: &str) -> Value {
    serde_json::from_str(cursor).expect("a JSON cursor")
}

/// Reads until caught up: every record read and the last cursor.
async fn read_through(
    s: &dyn Source,
    cursor: Option<String>,
    limit: usize,
) -> (Vec<ferry_model::Record>, String) {
    let (mut records, mut cursor) = (Vec::new(), cursor);
    for _ in 0..50 {
        let page = s.read(cursor.as_deref(), limit).await.expect("a page");
        records.extend(page.records);
        cursor = Some(page.cursor);
        if !page.more {
            return (records, cursor.unwrap_or_default());
        }
    }
    panic!("no end of reading");
}

fn names(records: &[ferry_model::Record]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            r.fields
                .get("Name")
                .and_then(Value::as_str)
                .unwrap_or("-")
                .to_owned()
        })
        .collect()
}

async fn rename(k: &dyn Sink, key: &str, name: &str) -> String {
    let made = k.upsert(&[out(key, json!({"name": name}))]).await.unwrap();
    made[0].as_ref().expect("written").target_id.clone()
}

#[tokio::test]
async fn cdc_reads_changes_by_replay_id_and_a_restart_continues_after_it() {
    let d = cdc_double().await;
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let s = cdc_accounts(c.as_ref());
    let k = account_sink(c.as_ref(), 2000);
    // The first read is a full SOQL pass, then CDC.
    let (first, cursor) = read_through(s.as_ref(), None, 3).await;
    assert_eq!(first.len(), 8, "the seeded accounts");
    assert!(cdc_cursor(&cursor)["pass"].is_null(), "{cursor}");

    d.tick();
    let id = rename(k.as_ref(), "C001", "By CDC").await;
    let page = s.read(Some(&cursor), 100).await.unwrap();
    assert_eq!(names(&page.records), ["By CDC"]);
    assert_eq!(page.records[0].id, id);
    let replay = d.handle.change_events().last().unwrap().replay_id;
    assert_eq!(
        cdc_cursor(&page.cursor)["replay"],
        replay,
        "the replay id is the cursor"
    );
    assert!(!page.more);
    // Nothing new: the long poll ends empty and the cursor stays.
    let idle = s.read(Some(&page.cursor), 100).await.unwrap();
    assert!(idle.records.is_empty());
    assert_eq!(cdc_cursor(&idle.cursor)["replay"], replay);

    // A restart: a new connector with the stored cursor reads only what came after.
    rename(k.as_ref(), "C001", "Later").await;
    rename(k.as_ref(), "C002", "Second").await;
    let restarted = connector(ferry_conformance::Fixture::settings(&d));
    let s2 = cdc_accounts(restarted.as_ref());
    let (after, cursor2) = read_through(s2.as_ref(), Some(idle.cursor.clone()), 100).await;
    assert_eq!(names(&after), ["Later", "Second"], "no repeats, in order");
    assert_eq!(
        cdc_cursor(&cursor2)["replay"],
        d.handle.change_events().last().unwrap().replay_id
    );
    let (none, _) = read_through(s2.as_ref(), Some(cursor2), 100).await;
    assert!(none.is_empty(), "{:?}", names(&none));
    // The records' state is read by SOQL, not taken from the events.
    let soql = d
        .double
        .requests()
        .all()
        .iter()
        .filter(|r| r.path.ends_with("/query"))
        .count();
    assert!(soql > 0);
}

#[tokio::test]
async fn cdc_a_delete_event_gives_a_deleted_record() {
    let d = cdc_double().await;
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let s = cdc_accounts(c.as_ref());
    let k = account_sink(c.as_ref(), 2000);
    let (_, cursor) = read_through(s.as_ref(), None, 100).await;
    let id = rename(k.as_ref(), "C900", "Short-lived").await;
    let gone = k
        .delete(&[ferry_kit::Removal {
            key: "C900".into(),
            target_id: Some(id.clone()),
        }])
        .await
        .unwrap();
    assert!(gone[0].is_ok());
    let (records, _) = read_through(s.as_ref(), Some(cursor), 100).await;
    assert_eq!(
        records.len(),
        1,
        "created then deleted: one record, its last state"
    );
    assert_eq!(records[0].id, id);
    assert!(records[0].deleted);
}

#[tokio::test]
async fn cdc_a_replay_id_past_retention_is_backfilled_by_soql_and_a_restart_continues_the_backfill()
{
    let d = cdc_double().await;
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let s = cdc_accounts(c.as_ref());
    let k = account_sink(c.as_ref(), 2000);
    let (_, cursor) = read_through(s.as_ref(), None, 100).await;
    d.tick();
    rename(k.as_ref(), "C001", "Before the gap").await;
    let (seen, cursor) = read_through(s.as_ref(), Some(cursor), 100).await;
    assert_eq!(names(&seen), ["Before the gap"]);

    // While the flow is stopped, four accounts change and their events age out.
    for (i, key) in ["C002", "C003", "C004", "C005"].iter().enumerate() {
        d.tick();
        rename(k.as_ref(), key, &format!("In the gap {i}")).await;
    }
    let last = d.handle.change_events().last().unwrap().replay_id;
    d.handle.drop_events_through(last);

    // A restarted flow finds its replay id refused and backfills in pages of 2.
    let restarted = connector(ferry_conformance::Fixture::settings(&d));
    let s2 = cdc_accounts(restarted.as_ref());
    let page = s2.read(Some(&cursor), 2).await.unwrap();
    assert!(page.more);
    let state = cdc_cursor(&page.cursor);
    assert_eq!(state["pass"]["backfill"], true, "{state}");
    let mut read = page.records;
    // Restart again mid-backfill: the cursor carries the pass.
    let again = connector(ferry_conformance::Fixture::settings(&d));
    let s3 = cdc_accounts(again.as_ref());
    let (rest, cursor) = read_through(s3.as_ref(), Some(page.cursor), 2).await;
    read.extend(rest);
    let got = names(&read);
    for i in 0..4 {
        assert!(
            got.contains(&format!("In the gap {i}")),
            "every change of the gap is read: {got:?}"
        );
    }
    assert!(
        got.len() < 8,
        "bounded by the last event's commit time, not a full pass: {got:?}"
    );
    assert!(
        cdc_cursor(&cursor)["pass"].is_null(),
        "back on CDC: {cursor}"
    );

    // CDC resumes: a new change comes by event, and nothing of the gap again.
    d.tick();
    rename(k.as_ref(), "C006", "After the gap").await;
    let (after, _) = read_through(s3.as_ref(), Some(cursor), 100).await;
    assert_eq!(names(&after), ["After the gap"]);
}

#[tokio::test]
async fn cdc_a_gap_overflow_event_starts_a_backfill_and_custom_objects_have_their_channel() {
    let d = cdc_double().await;
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let s = cdc_accounts(c.as_ref());
    let k = account_sink(c.as_ref(), 2000);
    let (_, cursor) = read_through(s.as_ref(), None, 100).await;
    d.tick();
    let id = rename(k.as_ref(), "C003", "Overflowed").await;
    d.handle
        .publish_change("Account", &id, "GAP_OVERFLOW", &[])
        .expect("published");
    let page = s.read(Some(&cursor), 100).await.unwrap();
    assert_eq!(names(&page.records), ["Overflowed"], "the events before it");
    assert_eq!(cdc_cursor(&page.cursor)["pass"]["backfill"], true);
    let (backfilled, cursor) = read_through(s.as_ref(), Some(page.cursor), 100).await;
    assert!(names(&backfilled).contains(&"Overflowed".to_owned()));
    assert!(cdc_cursor(&cursor)["pass"].is_null());

    // `Invoice__c` listens on `/data/Invoice__ChangeEvent`: the double serves no such
    // object, so the subscription is refused, and the message says where CDC is chosen.
    let custom = source(
        c.as_ref(),
        json!({"object": "Invoice__c", "fields": ["Name"], "changes": "cdc"}),
    );
    let e = custom
        .read(Some(r#"{"cdc":1,"replay":-1}"#), 10)
        .await
        .unwrap_err();
    assert!(e.message().contains("/data/Invoice__ChangeEvent"), "{e}");
    assert!(e.message().contains("Change Data Capture"), "{e}");
}

#[tokio::test]
async fn cdc_a_long_poll_past_cdc_wait_is_cut_off_and_the_cursor_stays() {
    // The double holds an empty connect for 10 s; the source gives up at `cdc_wait` + 2 s.
    let d = Double::start().await.unwrap();
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let s = source(
        c.as_ref(),
        json!({"object": "Account", "fields": ["Name"], "changes": "cdc", "cdc_wait": "1s"}),
    );
    let cursor = r#"{"cdc":1,"replay":-1}"#;
    let started = std::time::Instant::now();
    let page = s.read(Some(cursor), 10).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(6));
    assert!(page.records.is_empty() && !page.more);
    assert_eq!(cdc_cursor(&page.cursor), cdc_cursor(cursor));
}

#[tokio::test]
async fn create_false_updates_the_record_found_by_id_and_refuses_a_key_no_record_holds() {
    let d = Double::start().await.unwrap();
    let c = connector(ferry_conformance::Fixture::settings(&d));
    let made = account_sink(c.as_ref(), 2000)
        .upsert(&[out("C950", json!({"name": "Walldorf Werkzeug GmbH"}))])
        .await
        .unwrap();
    let id = made[0].as_ref().unwrap().target_id.clone();
    let count = |d: &Double| {
        d.double
            .requests()
            .all()
            .iter()
            .filter(|r| r.method == "POST" && r.path.contains("/composite/sobjects"))
            .count()
    };
    let posts = count(&d);
    let k = sink(
        c.as_ref(),
        json!({"object": "Account", "external_id": "Id", "create": false,
               "fields": {"name": null, "exposure": "Credit_Exposure__c", "partner": "SAP_Partner__c"}}),
    );
    let unknown = "001000000000999AAA";
    let written = k
        .upsert(&[
            out(&id, json!({"exposure": 1234.5, "partner": "10100007"})),
            out(unknown, json!({"exposure": 1.0})),
            out("not-an-id", json!({"exposure": 2.0})),
        ])
        .await
        .unwrap();
    assert_eq!(written[0].as_ref().unwrap().target_id, id);
    for refused in [&written[1], &written[2]] {
        let e = refused.as_ref().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Validation);
        assert!(
            e.message().contains("no Account has Id") && e.message().contains("create: false"),
            "{e}"
        );
    }
    assert_eq!(count(&d), posts, "nothing created");
    let got = accounts(c.as_ref())
        .fetch(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(
        got[0].fields["Name"], "Walldorf Werkzeug GmbH",
        "name untouched"
    );

    // Found by another field (the SAP partner number just written), case aside.
    let by_partner = sink(
        c.as_ref(),
        json!({"object": "Account", "external_id": "SAP_Partner__c", "create": false,
               "fields": {"limit": "Credit_Limit__c"}}),
    );
    let written = by_partner
        .upsert(&[out("10100007", json!({"limit": 50000}))])
        .await
        .unwrap();
    assert_eq!(written[0].as_ref().unwrap().target_id, id);
    let s = source(
        c.as_ref(),
        json!({"object": "Account", "fields": ["Credit_Limit__c", "Credit_Exposure__c", "SAP_Partner__c"]}),
    );
    let got = s.fetch(&[id]).await.unwrap();
    assert_eq!(got[0].fields["Credit_Limit__c"], json!(50000));
    assert_eq!(got[0].fields["Credit_Exposure__c"], json!(1234.5));
    assert_eq!(got[0].fields["SAP_Partner__c"], "10100007");
}

#[test]
fn upsert_by_id_is_refused_without_create_false() {
    let options = json!({"object": "Opportunity", "external_id": "Id"});
    let parsed: crate::config::TargetOptions = serde_json::from_value(options).unwrap();
    let issues = parsed.validate().unwrap_err();
    assert!(
        format!("{issues:?}").contains("create: false"),
        "{issues:?}"
    );
}
