//! Tests against a real BottleCRM (django-crm 1.35.0) started by `scripts/peers/crm-up.sh`.
//! The connection comes from `$FERRY_PEERS_DIR/crm/env` (default `/var/tmp/ferry-peers`).
//! Without it, or when the server does not answer, the server tests print `SKIPPED: …` and
//! pass, or fail when `CI=true`. Tests run in parallel against one shared server and never
//! reset it: every record they make carries a name unique to the test run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_model::{Entity, ErrorKind, Record};
use serde_json::{Map, Value, json};

use super::test_peer::{peer_env, require_server};
use super::{BottleCrmConnector, SnapshotCursor};
use ferry_kit::http::Call;
use ferry_kit::{
    BuildContext, Connector, Outgoing, Removal, Sink, SinkContext, Source, TargetRecord,
};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

fn ctx() -> BuildContext {
    BuildContext {
        system: "crm".to_owned(),
        base_dir: std::env::temp_dir(),
    }
}

struct Crm {
    conn: BottleCrmConnector,
    /// Unique to this test: every name and key the test makes starts with it.
    tag: String,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A connector to the test server, or `None` (skipped).
async fn crm() -> Option<Crm> {
    let env = match peer_env() {
        Ok(env) => env,
        Err(why) => {
            require_server(Err(why));
            return None;
        }
    };
    let settings = json!({
        "url": env.get("CRM_URL").cloned().unwrap_or_default(),
        "token": env.get("CRM_PAT").cloned().unwrap_or_default(),
        "timeout": "20s",
        "retries": 1,
    });
    let conn = BottleCrmConnector::from_settings(&ctx(), &obj(settings)).expect("valid settings");
    let probe = conn
        .api
        .http
        .send(Call::get("api/invoices/products/").query("limit", 1))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    if !require_server(probe) {
        return None;
    }
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    Some(Crm {
        conn,
        tag: format!("ft{}x{n}x{nanos:x}", std::process::id()),
    })
}

impl Crm {
    fn sink(&self, options: Value, entity: Entity, key_field: &str) -> std::sync::Arc<dyn Sink> {
        self.sink_reading(options, entity, key_field, &[])
    }

    /// A sink whose flow maps `fields` (what a scan reads back).
    fn sink_reading(
        &self,
        options: Value,
        entity: Entity,
        key_field: &str,
        fields: &[&str],
    ) -> std::sync::Arc<dyn Sink> {
        self.conn
            .sink(
                &obj(options),
                &SinkContext {
                    entity,
                    key_field: key_field.to_owned(),
                    fields: fields.iter().map(|f| (*f).to_owned()).collect(),
                },
            )
            .unwrap_or_else(|e| panic!("target options: {e:?}"))
    }

    fn source(&self, options: Value) -> std::sync::Arc<dyn Source> {
        self.conn
            .source(&obj(options))
            .unwrap_or_else(|e| panic!("source options: {e:?}"))
    }

    fn accounts(&self) -> std::sync::Arc<dyn Sink> {
        self.sink(
            json!({"object": "accounts", "fields": {"street": "address_line", "postal_code": "postcode"}}),
            Entity::CUSTOMER,
            "code",
        )
    }

    async fn delete(&self, path: String) {
        self.conn
            .api
            .http
            .send(Call::delete(path.clone()))
            .await
            .unwrap_or_else(|e| panic!("DELETE {path}: {e}"));
    }
}

fn out(key: &str, fields: Value) -> Outgoing {
    Outgoing {
        key: key.to_owned(),
        target_id: None,
        fields: obj(fields),
    }
}

/// Writes and expects every record to succeed; returns the ids.
async fn write_all(sink: &dyn Sink, batch: &[Outgoing]) -> Vec<String> {
    sink.upsert(batch)
        .await
        .expect("the batch is written")
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("record {i}: {e}")).target_id)
        .collect()
}

/// Reads from `cursor` until a page says the pass is complete.
async fn pass(source: &dyn Source, cursor: Option<String>, limit: usize) -> (Vec<Record>, String) {
    let mut cursor = cursor;
    let mut records = Vec::new();
    for _ in 0..1000 {
        let page = source.read(cursor.as_deref(), limit).await.expect("read");
        let marker = page.pass.expect("every page names its snapshot pass");
        assert_eq!(
            marker.complete, !page.more,
            "only the last page completes the pass"
        );
        let position = SnapshotCursor::parse(&page.cursor).unwrap();
        assert_eq!(
            (marker.number, marker.complete),
            (position.pass, position.done)
        );
        assert!(
            page.records.len() <= limit,
            "a page holds at most `limit` records"
        );
        records.extend(page.records);
        cursor = Some(page.cursor);
        if !page.more {
            return (records, cursor.unwrap());
        }
    }
    panic!("the pass never ended");
}

fn by_id(records: &[Record]) -> HashMap<String, Record> {
    records.iter().map(|r| (r.id.clone(), r.clone())).collect()
}

#[tokio::test]
async fn accounts_and_contacts_are_created_then_updated_by_key_with_unicode_names() {
    let Some(crm) = crm().await else { return };
    let t = &crm.tag;
    let accounts = crm.accounts();
    let batch = [
        out(
            &format!("{t}-A1"),
            json!({"code": format!("{t}-A1"), "name": format!("上海测试贸易有限公司 {t}"),
                   "email": format!("ap.{t}@sh.example.cn"), "street": "浦东新区世纪大道100号", "postal_code": "200120"}),
        ),
        out(
            &format!("{t}-A2"),
            json!({"code": format!("{t}-A2"), "name": format!("Globex {t}"), "phone": "+15555550100"}),
        ),
    ];
    let ids = write_all(accounts.as_ref(), &batch).await;

    let source = crm.source(json!({"object": "accounts"}));
    let fetched = source.fetch(&ids).await.unwrap();
    let a1 = &fetched[0].fields;
    assert_eq!(a1["name"], json!(format!("上海测试贸易有限公司 {t}")));
    assert_eq!(a1["address_line"], json!("浦东新区世纪大道100号"));
    assert_eq!(a1["postcode"], json!("200120"));
    assert_eq!(a1["custom_fields"]["erp_id"], json!(format!("{t}-A1")));
    assert!(
        a1.get("code").is_none(),
        "the canonical key is written to the key field only"
    );

    // An update without the target id finds the account by its key: same id, no duplicate.
    let again = [out(
        &format!("{t}-A2"),
        json!({"code": format!("{t}-A2"), "name": format!("Globex {t}"), "phone": "+15555550199"}),
    )];
    assert_eq!(write_all(accounts.as_ref(), &again).await, [ids[1].clone()]);
    // With the target id the account is updated directly.
    let mut direct = again[0].clone();
    direct.target_id = Some(ids[1].clone());
    direct.fields.insert("city".into(), json!("Springfield"));
    assert_eq!(
        write_all(accounts.as_ref(), &[direct]).await,
        [ids[1].clone()]
    );
    let a2 = source.fetch(&ids[1..]).await.unwrap().remove(0);
    assert_eq!(a2.fields["phone"], json!("+15555550199"));
    assert_eq!(a2.fields["city"], json!("Springfield"));

    // Contacts refer to their account by the account's business key.
    let contacts = crm.sink(
        json!({"object": "contacts", "fields": {"customer_code": "account", "mobile": null},
               "refs": {"account": "accounts"}}),
        Entity::CONTACT,
        "code",
    );
    let people = [
        out(
            &format!("{t}-C1"),
            json!({"code": format!("{t}-C1"), "customer_code": format!("{t}-A1"),
                   "first_name": "小明", "last_name": "王", "email": format!("wang.{t}@sh.example.cn"), "mobile": "x"}),
        ),
        out(
            &format!("{t}-C2"),
            json!({"code": format!("{t}-C2"), "customer_code": format!("{t}-A1"),
                   "first_name": "Li", "last_name": "Na", "title": "采购经理"}),
        ),
    ];
    let contact_ids = write_all(contacts.as_ref(), &people).await;
    let contact_source = crm.source(json!({"object": "contacts"}));
    let read = contact_source.fetch(&contact_ids).await.unwrap();
    assert_eq!(read[0].fields["first_name"], json!("小明"));
    assert_eq!(read[0].fields["account"], json!(ids[0]));
    assert_eq!(read[1].fields["title"], json!("采购经理"));
    assert!(
        read[0].updated_at.is_some(),
        "contacts show when they changed"
    );

    // Updating a contact by key keeps its id and changes the field.
    let mut moved = people[1].clone();
    moved.fields.insert("title".into(), json!("Buyer"));
    assert_eq!(
        write_all(contacts.as_ref(), &[moved]).await,
        [contact_ids[1].clone()]
    );
    let read = contact_source.fetch(&contact_ids[1..]).await.unwrap();
    assert_eq!(read[0].fields["title"], json!("Buyer"));

    // A contact whose account does not exist is refused on its own, naming the field.
    let orphan = out(
        &format!("{t}-C3"),
        json!({"code": format!("{t}-C3"), "customer_code": format!("{t}-NOPE"), "first_name": "A", "last_name": "B"}),
    );
    let results = contacts.upsert(&[orphan]).await.unwrap();
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.message().contains("customer_code (account)"), "{err}");
    assert!(err.message().contains(&format!("{t}-NOPE")), "{err}");
}

#[tokio::test]
async fn snapshot_passes_find_creates_updates_and_deletes() {
    let Some(crm) = crm().await else { return };
    let t = &crm.tag;
    let accounts = crm.accounts();
    let batch: Vec<Outgoing> = (1..=5)
        .map(|i| {
            out(
                &format!("{t}-S{i}"),
                json!({"code": format!("{t}-S{i}"), "name": format!("Snap {t} {i}"), "city": "Metropolis"}),
            )
        })
        .collect();
    let ids = write_all(accounts.as_ref(), &batch).await;
    // One inactive account: a pass reads the active half, then the inactive one.
    let inactive = out(
        &format!("{t}-S6"),
        json!({"code": format!("{t}-S6"), "name": format!("Snap {t} 6"), "is_active": false}),
    );
    let inactive_id = write_all(accounts.as_ref(), &[inactive]).await.remove(0);

    // The pass is scoped to this test's accounts by a name filter (other tests run beside it).
    let source = crm.source(json!({"object": "accounts", "filter": {"name": format!("Snap {t}")}}));
    let (first, cursor) = pass(source.as_ref(), None, 2).await;
    let seen = by_id(&first);
    assert_eq!(seen.len(), 6, "every account once: {:?}", seen.keys());
    assert_eq!(first.len(), 6, "nothing twice in a quiet pass");
    assert!(seen.contains_key(&inactive_id));
    assert_eq!(seen[&inactive_id].fields["is_active"], json!(false));
    let done = SnapshotCursor::parse(&cursor).unwrap();
    assert!(done.done);

    // Change one, delete one, create one; the next pass shows all three.
    let mut changed = batch[1].clone();
    changed.fields.insert("city".into(), json!("Gotham"));
    write_all(accounts.as_ref(), &[changed]).await;
    crm.delete(format!("api/accounts/{}/", ids[2])).await;
    let new = out(
        &format!("{t}-S7"),
        json!({"code": format!("{t}-S7"), "name": format!("Snap {t} 7")}),
    );
    let new_id = write_all(accounts.as_ref(), &[new]).await.remove(0);
    let (second, cursor) = pass(source.as_ref(), Some(cursor), 2).await;
    let now = by_id(&second);
    let second_pass = SnapshotCursor::parse(&cursor).unwrap();
    assert!(
        second_pass.done && second_pass.pass > done.pass,
        "a new, higher pass number"
    );
    assert!(now.contains_key(&new_id), "the new account is found");
    assert!(!now.contains_key(&ids[2]), "the deleted account is missing");
    assert_eq!(now[&ids[1]].fields["city"], json!("Gotham"));
    assert_ne!(now[&ids[1]].hash(), seen[&ids[1]].hash());
    assert_eq!(
        now[&ids[0]].hash(),
        seen[&ids[0]].hash(),
        "an untouched account hashes the same"
    );
    // The engine confirms the missing one with fetch: it is deleted.
    let confirmed = source
        .fetch(&[ids[2].clone(), ids[0].clone()])
        .await
        .unwrap();
    assert!(confirmed[0].deleted && confirmed[0].id == ids[2]);
    assert!(!confirmed[1].deleted);
    assert_eq!(
        confirmed[1].hash(),
        now[&ids[0]].hash(),
        "fetch and read agree"
    );
    assert!(source.fetch(&["not-an-id".into()]).await.unwrap()[0].deleted);

    // Deleting records behind the read position between two pages skips nothing.
    let page = source.read(Some(&cursor), 2).await.unwrap();
    assert!(page.more);
    assert!(SnapshotCursor::parse(&page.cursor).unwrap().pass > second_pass.pass);
    for record in &page.records {
        crm.delete(format!("api/accounts/{}/", record.id)).await;
    }
    let (rest, _) = pass(source.as_ref(), Some(page.cursor), 2).await;
    let rest = by_id(&rest);
    let alive: Vec<&String> = now
        .keys()
        .filter(|id| !page.records.iter().any(|r| &r.id == *id))
        .collect();
    for id in alive {
        assert!(
            rest.contains_key(id),
            "{id} was skipped after the deletions"
        );
    }
}

#[tokio::test]
async fn a_pass_steps_back_over_many_deletions_and_over_an_opaque_order() {
    let Some(crm) = crm().await else { return };
    let t = &crm.tag;
    // Contacts are listed newest first: more deletions behind the position than one
    // step back covers (BACK) must still skip nothing.
    let contacts = crm.sink(json!({"object": "contacts"}), Entity::CONTACT, "code");
    let people: Vec<Outgoing> = (1..=16)
        .map(|i| {
            out(
                &format!("{t}-P{i}"),
                json!({"code": format!("{t}-P{i}"), "first_name": format!("Pass{t}"), "last_name": format!("N{i:02}")}),
            )
        })
        .collect();
    write_all(contacts.as_ref(), &people).await;
    let source = crm.source(json!({"object": "contacts", "filter": {"name": format!("Pass{t}")}}));
    let first = source.read(None, 13).await.unwrap();
    assert_eq!(first.records.len(), 13);
    assert!(first.more);
    assert!(SnapshotCursor::parse(&first.cursor).unwrap().last.is_some());
    for record in &first.records {
        crm.delete(format!("api/contacts/{}/", record.id)).await;
    }
    let first_cursor = first.cursor.clone();
    let (rest, cursor) = pass(source.as_ref(), Some(first.cursor), 13).await;
    assert_eq!(
        rest.len(),
        3,
        "the three contacts after the deleted ones: {rest:?}"
    );
    assert_eq!(
        SnapshotCursor::parse(&cursor).unwrap().pass,
        SnapshotCursor::parse(&first_cursor).unwrap().pass,
        "the same pass, now complete"
    );

    // Products are listed by name, an order the client cannot compare: the last ids seen
    // mark the place. One deletion behind the position skips nothing.
    let products = crm.sink(json!({"object": "products"}), Entity::PRODUCT, "sku");
    let items: Vec<Outgoing> = (1..=5)
        .map(|i| out(&format!("{t}-K{i}"), json!({"sku": format!("{t}-K{i}"), "name": format!("Kit {t} {i}"), "price": "1.00"})))
        .collect();
    let ids = write_all(products.as_ref(), &items).await;
    let source =
        crm.source(json!({"object": "products", "filter": {"search": format!("Kit {t}")}}));
    let first = source.read(None, 2).await.unwrap();
    let cursor = SnapshotCursor::parse(&first.cursor).unwrap();
    assert!(cursor.last.is_none() && cursor.tail.len() == 2);
    crm.delete(format!("api/invoices/products/{}/", first.records[0].id))
        .await;
    let (rest, _) = pass(source.as_ref(), Some(first.cursor), 2).await;
    let mut seen: Vec<String> = first
        .records
        .iter()
        .chain(&rest)
        .map(|r| r.id.clone())
        .collect();
    seen.sort();
    let mut all = ids.clone();
    all.sort();
    assert_eq!(seen, all, "each product once");
}

#[tokio::test]
async fn a_deal_with_line_items_is_written_and_read_back() {
    let Some(crm) = crm().await else { return };
    let t = &crm.tag;
    let products = crm.sink(
        json!({"object": "products", "fields": {"list_price": "price"}}),
        Entity::PRODUCT,
        "sku",
    );
    let skus = [format!("{t}-W"), format!("{t}-G")];
    write_all(
        products.as_ref(),
        &[
            out(&skus[0], json!({"sku": skus[0], "name": format!("Widget {t}"), "list_price": "10.00", "currency": "USD"})),
            out(&skus[1], json!({"sku": skus[1], "name": format!("小工具 {t}"), "list_price": "24.50", "currency": "USD"})),
        ],
    )
    .await;
    write_all(
        crm.accounts().as_ref(),
        &[out(
            &format!("{t}-D"),
            json!({"code": format!("{t}-D"), "name": format!("Deal Co {t}")}),
        )],
    )
    .await;
    let deals = crm.sink(
        json!({"object": "opportunities",
               "fields": {"customer_code": "account", "lines": "line_items", "total": "amount",
                          "order_date": "closed_on"},
               "line_fields": {"sku": "product_id"},
               "refs": {"account": "accounts", "line_items.product_id": "products"}}),
        Entity::SALES_ORDER,
        "number",
    );
    let order = |qty: &str, stage: &str| {
        out(
            &format!("{t}-SO1"),
            json!({"number": format!("{t}-SO1"), "name": format!("Order {t}"), "customer_code": format!("{t}-D"),
                   "stage": stage, "currency": "USD", "total": "79.00", "order_date": "2026-11-20",
                   "lines": [{"sku": skus[0], "name": "Widget", "quantity": qty, "unit_price": "10.00"},
                             {"sku": skus[1], "name": "Gadget", "quantity": "2", "unit_price": "24.50"}]}),
        )
    };
    let id = write_all(deals.as_ref(), &[order("3", "PROPOSAL")])
        .await
        .remove(0);
    let source =
        crm.source(json!({"object": "opportunities", "filter": {"name": format!("Order {t}")}}));
    let read = source
        .fetch(std::slice::from_ref(&id))
        .await
        .unwrap()
        .remove(0);
    let lines = read.fields["line_items"].as_array().unwrap().clone();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["product"]["sku"], json!(skus[0]));
    assert_eq!(lines[0]["quantity"], json!("3.00"));
    assert_eq!(lines[1]["product"]["sku"], json!(skus[1]));
    assert_eq!(
        read.fields["custom_fields"]["erp_id"],
        json!(format!("{t}-SO1"))
    );
    assert!(
        read.fields.get("days_in_stage").is_none(),
        "clock-driven fields are left out"
    );

    // The same lines again: the deal's lines are left as they are (same line ids).
    write_all(deals.as_ref(), &[order("3", "CLOSED_WON")]).await;
    let again = source
        .fetch(std::slice::from_ref(&id))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(again.fields["line_items"][0]["id"], lines[0]["id"]);
    assert_eq!(again.fields["stage"], json!("CLOSED_WON"));
    // A changed quantity replaces the lines.
    write_all(deals.as_ref(), &[order("5", "CLOSED_WON")]).await;
    let changed = source
        .fetch(std::slice::from_ref(&id))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(changed.fields["line_items"][0]["quantity"], json!("5.00"));
    assert_eq!(changed.fields["line_items"].as_array().unwrap().len(), 2);

    // Won deals are the CRM's orders: a source filtered on the stage reads this one.
    let won = crm.source(json!({"object": "opportunities",
                                "filter": {"stage": "CLOSED_WON", "name": format!("Order {t}")}}));
    let (records, _) = pass(won.as_ref(), None, 10).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].id, id);
    assert_eq!(
        records[0].hash(),
        changed.hash(),
        "list and detail read the same record"
    );

    // Three discounted lines, then four: the deal holds exactly the lines sent, and its
    // amount (BottleCRM's sum of the discounted line totals) is theirs to the cent.
    let discounted = |n: usize| {
        let lines: Vec<Value> = (0..n)
            .map(|k| {
                let mut line = json!({"sku": skus[k % 2], "name": format!("Line {k}"),
                                      "quantity": format!("{}", k + 1), "unit_price": "10.00"});
                if k % 2 == 1 {
                    line["discount_type"] = json!("PERCENTAGE");
                    line["discount_value"] = json!("12.5");
                }
                line
            })
            .collect();
        out(
            &format!("{t}-SO1"),
            json!({"number": format!("{t}-SO1"), "name": format!("Order {t}"),
                   "customer_code": format!("{t}-D"), "stage": "CLOSED_WON", "currency": "USD",
                   "order_date": "2026-11-20", "lines": lines}),
        )
    };
    write_all(deals.as_ref(), &[discounted(3)]).await;
    write_all(deals.as_ref(), &[discounted(4)]).await;
    let read = source
        .fetch(std::slice::from_ref(&id))
        .await
        .unwrap()
        .remove(0);
    let lines = read.fields["line_items"].as_array().unwrap();
    let got: Vec<(&Value, &Value, &Value)> = lines
        .iter()
        .map(|l| (&l["name"], &l["quantity"], &l["total"]))
        .collect();
    // 1 × 10.00; 2 × 10.00 less 12.5 % = 17.50; 3 × 10.00; 4 × 10.00 less 12.5 % = 35.00.
    assert_eq!(
        got,
        [
            (&json!("Line 0"), &json!("1.00"), &json!("10.00")),
            (&json!("Line 1"), &json!("2.00"), &json!("17.50")),
            (&json!("Line 2"), &json!("3.00"), &json!("30.00")),
            (&json!("Line 3"), &json!("4.00"), &json!("35.00")),
        ]
    );
    assert_eq!(read.fields["amount"], json!("92.50"));
}

#[tokio::test]
async fn a_refused_record_is_a_validation_error_and_the_rest_of_the_batch_is_written() {
    let Some(crm) = crm().await else { return };
    let t = &crm.tag;
    let accounts = crm.accounts();
    // BottleCRM's account names are unique per organization. (Two records with one name
    // written at the same moment race in BottleCRM: the loser gets a 500 from its unique
    // index, a transient error here, and its retry then the 400 below. So the name is
    // taken first.)
    let taken = out(
        &format!("{t}-V0"),
        json!({"code": format!("{t}-V0"), "name": format!("Taken {t}")}),
    );
    write_all(accounts.as_ref(), &[taken]).await;
    let batch = [
        out(
            &format!("{t}-V1"),
            json!({"code": format!("{t}-V1"), "name": format!("Valid {t} 1")}),
        ),
        out(
            &format!("{t}-V2"),
            json!({"code": format!("{t}-V2"), "name": format!("Valid {t} 2"), "email": "not-an-email"}),
        ),
        out(
            &format!("{t}-V3"),
            json!({"code": format!("{t}-V3"), "name": format!("Valid {t} 3")}),
        ),
        out(
            &format!("{t}-V4"),
            json!({"code": format!("{t}-V4"), "name": format!("Taken {t}")}),
        ),
    ];
    let results = accounts
        .upsert(&batch)
        .await
        .expect("the batch as a whole goes through");
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let written: Vec<String> = [&results[0], &results[2]]
        .iter()
        .map(|r| r.as_ref().unwrap().target_id.clone())
        .collect();
    let source = crm.source(json!({"object": "accounts"}));
    let read = source.fetch(&written).await.unwrap();
    assert_eq!(read[0].fields["name"], json!(format!("Valid {t} 1")));
    assert_eq!(read[1].fields["name"], json!(format!("Valid {t} 3")));
    let bad = results[1].as_ref().unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::Validation);
    let message = bad.message();
    assert!(
        message.contains(&format!("account `{t}-V2`")),
        "names the record: {message}"
    );
    assert!(
        message.contains("field email: Enter a valid email address."),
        "{message}"
    );
    let duplicate = results[3].as_ref().unwrap_err();
    assert_eq!(duplicate.kind(), ErrorKind::Validation);
    assert!(
        duplicate
            .message()
            .contains("field name: Account already exists with this name"),
        "{duplicate}"
    );
}

#[tokio::test]
async fn invoice_status_and_amounts_are_written_back_from_the_erp() {
    let Some(crm) = crm().await else { return };
    let t = &crm.tag;
    write_all(
        crm.accounts().as_ref(),
        &[out(
            &format!("{t}-IA"),
            json!({"code": format!("{t}-IA"), "name": format!("Invoiced {t}")}),
        )],
    )
    .await;
    let contacts = crm.sink(
        json!({"object": "contacts", "fields": {"customer_code": "account"}, "refs": {"account": "accounts"}}),
        Entity::CONTACT,
        "code",
    );
    write_all(
        contacts.as_ref(),
        &[out(
            &format!("{t}-IC"),
            json!({"code": format!("{t}-IC"), "customer_code": format!("{t}-IA"),
                                          "first_name": "Ada", "last_name": "Payer"}),
        )],
    )
    .await;
    let invoices = crm.sink(
        json!({"object": "invoices",
               "fields": {"number": "po_number", "title": "invoice_title", "customer_code": "account_id",
                          "contact": "contact_id", "lines": "line_items", "total": null},
               "line_fields": {"description": "name"},
               "refs": {"account_id": "accounts", "contact_id": "contacts"}}),
        Entity::INVOICE,
        "number",
    );
    let invoice = |paid: Option<&str>, status: Option<&str>| {
        let mut fields = json!({"number": format!("{t}-INV1"), "title": format!("ERP invoice {t}"),
            "customer_code": format!("{t}-IA"), "contact": format!("{t}-IC"), "currency": "USD",
            "issue_date": "2026-11-21", "due_date": "2026-12-21", "total": "30.00",
            "lines": [{"description": "Widget", "quantity": "3", "unit_price": "10.00"}]});
        if let Some(paid) = paid {
            fields["amount_paid"] = json!(paid);
        }
        if let Some(status) = status {
            fields["status"] = json!(status);
        }
        out(&format!("{t}-INV1"), fields)
    };
    let id = write_all(invoices.as_ref(), &[invoice(None, None)])
        .await
        .remove(0);
    let source =
        crm.source(json!({"object": "invoices", "filter": {"cf_erp_id": format!("{t}-INV1")}}));
    let read = source
        .fetch(std::slice::from_ref(&id))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(read.fields["status"], json!("Draft"));
    assert_eq!(read.fields["total_amount"], json!("30.00"));
    assert_eq!(read.fields["po_number"], json!(format!("{t}-INV1")));

    // The ERP says 10.00 was paid: a payment of 10.00 is recorded, the invoice is partly paid.
    let same_id = write_all(
        invoices.as_ref(),
        &[invoice(Some("10.00"), Some("Partially_Paid"))],
    )
    .await;
    assert_eq!(same_id, std::slice::from_ref(&id));
    let read = source
        .fetch(std::slice::from_ref(&id))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(read.fields["amount_paid"], json!("10.00"));
    assert_eq!(read.fields["status"], json!("Partially_Paid"));
    assert_eq!(
        read.fields["line_items"].as_array().unwrap().len(),
        1,
        "unchanged lines are not resent"
    );
    // Written again unchanged: no second payment.
    write_all(invoices.as_ref(), &[invoice(Some("10.00"), None)]).await;
    let read = source
        .fetch(std::slice::from_ref(&id))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(read.fields["payments"].as_array().unwrap().len(), 1);

    // The ERP's payment of the rest arrives as a payment record on the invoice.
    let payments = crm.sink(
        json!({"object": "payments", "fields": {"invoice_number": "invoice", "paid_at": "payment_date", "method": "payment_method"},
               "refs": {"invoice": "invoices"}}),
        Entity::PAYMENT,
        "reference",
    );
    let payment = out(
        &format!("{t}-PAY1"),
        json!({"reference": format!("{t}-PAY1"), "invoice_number": format!("{t}-INV1"), "amount": "20.00",
               "paid_at": "2026-11-22", "method": "BANK_TRANSFER"}),
    );
    let pay_id = write_all(payments.as_ref(), std::slice::from_ref(&payment))
        .await
        .remove(0);
    assert_eq!(
        write_all(payments.as_ref(), &[payment]).await,
        std::slice::from_ref(&pay_id),
        "recorded once"
    );
    let read = source
        .fetch(std::slice::from_ref(&id))
        .await
        .unwrap()
        .remove(0);
    assert_eq!(read.fields["status"], json!("Paid"));
    assert_eq!(read.fields["amount_due"], json!("0.00"));
    assert!(
        read.fields["payments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == json!(pay_id))
    );

    // Asking for less paid than BottleCRM has is refused for this record.
    let results = invoices
        .upsert(&[invoice(Some("5.00"), Some("Paid"))])
        .await
        .unwrap();
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.message().contains("amount_paid"), "{err}");

    // The status alone settles or cancels: a second invoice is cancelled from the ERP.
    let mut second = invoice(None, Some("Cancelled"));
    second.key = format!("{t}-INV2");
    second.fields["number"] = json!(format!("{t}-INV2"));
    let second_id = write_all(invoices.as_ref(), &[second]).await.remove(0);
    let read = source.fetch(&[second_id]).await.unwrap().remove(0);
    assert_eq!(read.fields["status"], json!("Cancelled"));
}

#[tokio::test]
async fn an_erp_invoice_is_written_onto_the_crm_deal_it_came_from() {
    let Some(crm) = crm().await else { return };
    let t = &crm.tag;
    write_all(
        crm.accounts().as_ref(),
        &[out(
            &format!("{t}-B"),
            json!({"code": format!("{t}-B"), "name": format!("Billed {t}")}),
        )],
    )
    .await;
    let deals = crm.sink(
        json!({"object": "opportunities", "fields": {"customer_code": "account"},
               "refs": {"account": "accounts"}}),
        Entity::SALES_ORDER,
        "number",
    );
    let deal = write_all(
        deals.as_ref(),
        &[out(
            &format!("{t}-SO"),
            json!({"number": format!("{t}-SO"), "name": format!("Billed deal {t}"),
                   "customer_code": format!("{t}-B"), "stage": "PROPOSAL", "currency": "USD"}),
        )],
    )
    .await
    .remove(0);
    // The invoice flow's depends_on put the deal's CRM id in `order_number_id`; a code
    // table turned the ERP's `paid` into the stage `CLOSED_WON`.
    let onto_deal = crm.sink(
        json!({"object": "opportunities", "id_field": "order_number_id",
               "fields": {"order_number": null, "total": "amount", "status": "stage",
                          "issue_date": "closed_on"}}),
        Entity::INVOICE,
        "number",
    );
    let invoice = |id: Option<&str>| {
        let mut fields = json!({"number": format!("{t}-INV9"), "order_number": format!("{t}-SO"),
                                "total": "99.50", "status": "CLOSED_WON", "issue_date": "2026-11-21"});
        if let Some(id) = id {
            fields["order_number_id"] = json!(id);
        }
        out(&format!("{t}-INV9"), fields)
    };
    let written = write_all(onto_deal.as_ref(), &[invoice(Some(&deal))]).await;
    assert_eq!(written, std::slice::from_ref(&deal));
    let source = crm
        .source(json!({"object": "opportunities", "filter": {"name": format!("Billed deal {t}")}}));
    let (records, _) = pass(source.as_ref(), None, 10).await;
    assert_eq!(
        records.len(),
        1,
        "the deal was updated, not a new one created"
    );
    let fields = &records[0].fields;
    assert_eq!(fields["amount"], json!("99.50"));
    assert_eq!(fields["stage"], json!("CLOSED_WON"));
    assert_eq!(fields["closed_on"], json!("2026-11-21"));
    assert_eq!(
        fields["custom_fields"]["erp_id"],
        json!(format!("{t}-SO")),
        "the deal keeps its own key"
    );
    // Without the id, or with one BottleCRM does not have, nothing is written.
    let results = onto_deal
        .upsert(&[
            invoice(None),
            invoice(Some("00000000-0000-4000-8000-000000000000")),
        ])
        .await
        .unwrap();
    let missing = results[0].as_ref().unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::Validation);
    assert!(
        missing.message().contains("field order_number_id: missing"),
        "{missing}"
    );
    assert_eq!(results[1].as_ref().unwrap_err().kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn discover_lists_the_objects_and_their_fields() {
    let Some(crm) = crm().await else { return };
    let objects = crm.conn.discover().await.unwrap();
    let names: Vec<&str> = objects.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "accounts",
            "contacts",
            "opportunities",
            "invoices",
            "products",
            "payments"
        ]
    );
    let accounts = &objects[0];
    let field = |name: &str| {
        accounts
            .fields
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(field("name").ty, "string");
    assert!(!field("name").nullable);
    assert!(field("email").nullable);
    assert_eq!(field("id").ty, "string (uuid), read-only");
    assert_eq!(field("custom_fields.erp_id").ty, "custom field (text)");
    let invoices = &objects[3];
    let status = invoices.fields.iter().find(|f| f.name == "status").unwrap();
    assert!(
        status.ty.contains("Draft") && status.ty.contains("Paid"),
        "{}",
        status.ty
    );
    assert!(
        invoices
            .fields
            .iter()
            .any(|f| f.name == "account_id" && f.ty.ends_with("write-only"))
    );
}

#[tokio::test]
async fn refused_credentials_fail_the_batch_without_showing_the_token() {
    let env = match peer_env() {
        Ok(env) => env,
        Err(why) => {
            require_server(Err(why));
            return;
        }
    };
    let Some(_) = crm().await else { return };
    let secret = "bcrm_pat_wrong_0123456789abcdefghijklmnopq";
    let conn = BottleCrmConnector::from_settings(
        &ctx(),
        &obj(json!({"url": env["CRM_URL"], "token": secret, "retries": 0})),
    )
    .unwrap();
    let sink = conn
        .sink(
            &obj(json!({"object": "accounts"})),
            &SinkContext {
                entity: Entity::CUSTOMER,
                key_field: "code".into(),
                fields: Vec::new(),
            },
        )
        .unwrap();
    let err = sink
        .upsert(&[out("K", json!({"code": "K", "name": "x"}))])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(!err.message().contains(secret), "{err}");
    let source = conn.source(&obj(json!({"object": "accounts"}))).unwrap();
    assert_eq!(
        source.read(None, 10).await.unwrap_err().kind(),
        ErrorKind::Auth
    );
}

/// Settings and options check themselves, offline, each problem at its key.
mod settings {
    use super::*;
    use ferry_kit::ConnectorFactory;

    fn system_issues(v: Value) -> Vec<(String, String)> {
        match super::super::BottleCrmFactory.build(&ctx(), &obj(v)) {
            Ok(_) => Vec::new(),
            Err(issues) => issues
                .into_iter()
                .map(|i| (i.dotted(), i.message))
                .collect(),
        }
    }

    fn conn() -> BottleCrmConnector {
        BottleCrmConnector::from_settings(
            &ctx(),
            &obj(json!({"url": "http://127.0.0.1:1", "token": "t"})),
        )
        .unwrap()
    }

    fn target_issue(v: Value) -> (String, String) {
        let ctx = SinkContext {
            entity: Entity::CUSTOMER,
            key_field: "code".into(),
            fields: Vec::new(),
        };
        let issue = conn().sink(&obj(v), &ctx).err().expect("refused").remove(0);
        (issue.dotted(), issue.message)
    }

    fn source_issue(v: Value) -> (String, String) {
        let issue = conn().source(&obj(v)).err().expect("refused").remove(0);
        (issue.dotted(), issue.message)
    }

    #[test]
    fn system_settings() {
        assert!(
            system_issues(
                json!({"url": "https://crm.example.com", "api_key": "k", "rate": {"per_second": 2}})
            )
            .is_empty()
        );
        let found = system_issues(
            json!({"url": "https://crm.example.com", "token": "secret-a", "api_key": "secret-b"}),
        );
        assert_eq!(found[0].0, "api_key");
        assert!(!found[0].1.contains("secret"), "{found:?}");
        assert_eq!(
            system_issues(json!({"url": "https://crm.example.com"}))[0].0,
            "token"
        );
        assert_eq!(
            system_issues(json!({"url": "https://crm.example.com/api/", "token": "t"}))[0].0,
            "url"
        );
        let unknown =
            system_issues(json!({"url": "https://crm.example.com", "token": "t", "tokn": "x"}));
        assert_eq!(unknown[0].0, "tokn", "{unknown:?}");
        assert_eq!(
            system_issues(json!({"url": "https://crm.example.com", "token": "t", "timeout": "0s"}))
                [0]
            .0,
            "timeout"
        );
        assert_eq!(
            system_issues(
                json!({"url": "https://crm.example.com", "token": "t", "concurrency": 0})
            )[0]
            .0,
            "concurrency"
        );
    }

    #[test]
    fn credentials_stay_out_of_debug_output() {
        let secret = "bcrm_pat_do_not_show_me";
        let map = obj(json!({"url": "https://crm.example.com", "token": secret}));
        let settings: super::super::SystemSettings = ferry_kit::http::parse_settings(&map).unwrap();
        let system = settings.clone().validate().unwrap();
        let conn = BottleCrmConnector::from_settings(&ctx(), &map).unwrap();
        for shown in [
            format!("{settings:?}"),
            format!("{system:?}"),
            format!("{conn:?}"),
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(format!("{settings:?}").contains("token: Some(\"****\")"));
    }

    #[test]
    fn source_options() {
        assert!(conn().source(&obj(json!({"object": "opportunities", "filter": {"stage": "CLOSED_WON", "cf_erp_id": "1"}}))).is_ok());
        let (path, message) = source_issue(json!({"object": "accounts", "filter": {"stage": "x"}}));
        assert_eq!(path, "filter.stage");
        assert!(message.contains("cf_<custom field>"), "{message}");
        assert_eq!(source_issue(json!({"object": "payments"})).0, "object");
        assert_eq!(source_issue(json!({"object": "leads"})).0, "object");
        assert_eq!(
            source_issue(json!({"object": "products", "filter": {"cf_x": "1"}})).0,
            "filter.cf_x"
        );
    }

    #[test]
    fn target_options() {
        let ctx = SinkContext {
            entity: Entity::CUSTOMER,
            key_field: "code".into(),
            fields: Vec::new(),
        };
        assert!(
            conn()
                .sink(&obj(json!({"object": "accounts", "key": "name"})), &ctx)
                .is_ok()
        );
        assert!(
            conn()
                .sink(&obj(json!({"object": "products"})), &ctx)
                .is_ok()
        );
        let (path, message) = target_issue(json!({"object": "accounts", "key": "phone"}));
        assert_eq!(path, "key");
        assert!(message.contains("custom_fields.<key>"), "{message}");
        assert_eq!(
            target_issue(json!({"object": "products", "key": "custom_fields.erp_id"})).0,
            "key"
        );
        assert_eq!(
            target_issue(json!({"object": "accounts", "refs": {"x": "payments"}})).0,
            "refs.x"
        );
        assert_eq!(
            target_issue(json!({"object": "accounts", "refs": {"a.b": "accounts"}})).0,
            "refs.a.b"
        );
        assert_eq!(
            target_issue(json!({"object": "accounts", "fields": {"a": "x", "b": "x"}})).0,
            "fields.b"
        );
        assert_eq!(
            target_issue(json!({"object": "accounts", "line_fields": {"sku": "product_id"}})).0,
            "line_fields"
        );
        assert_eq!(
            target_issue(json!({"object": "accounts", "keyy": "name"})).0,
            "keyy"
        );
        assert_eq!(
            target_issue(json!({"object": "payments", "id_field": "invoice_id"})).0,
            "id_field"
        );
    }
}

#[tokio::test]
async fn accounts_are_read_back_archived_and_deleted() {
    let Some(crm) = crm().await else { return };
    let t = &crm.tag;
    let accounts = crm.sink_reading(
        json!({"object": "accounts", "fields": {"street": "address_line", "active": "is_active"},
               "refs": {"owner": "contacts"}}),
        Entity::CUSTOMER,
        "code",
        &["code", "name", "street", "active", "owner", "tax_id"],
    );
    let can = accounts.capabilities();
    assert!(can.scan && can.delete && can.update, "{can:?}");
    let codes: Vec<String> = (1..=3).map(|n| format!("{t}-back-{n}")).collect();
    let batch: Vec<Outgoing> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| {
            out(
                code,
                json!({"code": code, "name": format!("{t} 回读 {i}"), "street": format!("{i} Main St"), "active": true}),
            )
        })
        .collect();
    let ids = write_all(accounts.as_ref(), &batch).await;

    // Read back by pages of 2, active and archived halves alike: each account once, keyed by
    // its custom field, with the mapped fields (not references, not lines).
    let scan_all = || async {
        let mut cursor: Option<String> = None;
        let mut found: Vec<TargetRecord> = Vec::new();
        loop {
            let page = accounts.scan(cursor.as_deref(), 2).await.expect("scan");
            assert_eq!(page.fields, ["code", "name", "street", "active", "tax_id"]);
            found.extend(page.records);
            if !page.more {
                return found;
            }
            cursor = Some(page.cursor);
        }
    };
    let found = scan_all().await;
    let ours = |found: &[TargetRecord]| -> Vec<TargetRecord> {
        let mut v: Vec<TargetRecord> = found
            .iter()
            .filter(|r| r.key.as_deref().is_some_and(|k| k.starts_with(t.as_str())))
            .cloned()
            .collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    };
    let mine = ours(&found);
    assert_eq!(mine.len(), 3, "{mine:#?}");
    for (i, r) in mine.iter().enumerate() {
        assert_eq!(r.target_id, ids[i]);
        assert_eq!(
            Value::Object(r.fields.clone()),
            json!({"code": codes[i], "name": format!("{t} 回读 {i}"), "street": format!("{i} Main St"),
                   "active": true, "tax_id": null})
        );
    }

    // Archive: the first by id, the second by key; a key BottleCRM does not hold is left
    // alone, nothing is created.
    let archive = |code: &str, target_id: Option<&str>| Outgoing {
        key: code.to_owned(),
        target_id: target_id.map(str::to_owned),
        fields: obj(json!({"active": false})),
    };
    let results = accounts
        .update(&[
            archive(&codes[0], Some(&ids[0])),
            archive(&codes[1], None),
            archive(&format!("{t}-none"), None),
        ])
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mine = ours(&scan_all().await);
    let active: Vec<&Value> = mine.iter().map(|r| &r.fields["active"]).collect();
    assert_eq!(active, [&json!(false), &json!(false), &json!(true)]);

    // Delete the first by id, the second by key, and an id that is already gone.
    let results = accounts
        .delete(&[
            Removal {
                key: codes[0].clone(),
                target_id: Some(ids[0].clone()),
            },
            Removal {
                key: codes[1].clone(),
                target_id: None,
            },
            Removal {
                key: format!("{t}-gone"),
                target_id: Some(ids[0].clone()),
            },
        ])
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let left: Vec<String> = ours(&scan_all().await)
        .into_iter()
        .map(|r| r.target_id)
        .collect();
    assert_eq!(left, [ids[2].clone()]);
    crm.delete(format!("api/accounts/{}/", ids[2])).await;
}

/// `ferry check --live` against BottleCRM: the connection check proves the token (a wrong one
/// is an auth error that does not show it), and the default probes read one record of a
/// source and of a target that can be read back, writing nothing.
#[tokio::test]
async fn probes_prove_the_token_and_read_one_record() {
    let Some(crm) = crm().await else { return };
    crm.conn.probe().await.expect("a good token passes");
    let probe = crm.source(json!({"object": "accounts"})).probe().await;
    assert!(probe.is_ok(), "{probe:?}");
    let probe = crm
        .sink(json!({"object": "accounts"}), Entity::CUSTOMER, "code")
        .probe()
        .await;
    assert!(probe.is_ok(), "{probe:?}");

    let env = peer_env().expect("read by crm()");
    let secret = "bcrm_pat_wrong_0123456789abcdefghijklmnopq";
    let settings = json!({"url": env["CRM_URL"], "token": secret, "retries": 0});
    let wrong = BottleCrmConnector::from_settings(&ctx(), &obj(settings)).unwrap();
    let err = wrong.probe().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(!err.message().contains(secret), "{err}");
}
