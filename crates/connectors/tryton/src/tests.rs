//! Against the real Tryton server started by `scripts/peers/tryton-up.sh DIR 8000`. The
//! server is found through `$FERRY_PEERS_DIR/tryton/env` (default `/var/tmp/ferry-peers`).
//! When it is absent or does not answer, a test prints `SKIPPED: …` and passes, or fails
//! with `CI=true`. Tests never reset the server and run in parallel: every record they
//! write carries a random suffix.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ferry_model::{Entity, ErrorKind, Record};
use serde_json::{Map, Value, json};

use super::TrytonConnector;
use super::rpc::Effect;
use super::test_peer;
use ferry_kit::{BuildContext, Connector, Outgoing, Removal, Sink, SinkContext, TargetRecord};

/// What `tryton-up.sh` wrote about the running server.
struct Peer {
    conn: TrytonConnector,
    url: String,
    database: String,
    password: String,
    company: i64,
    warehouse: i64,
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

async fn peer() -> Option<Peer> {
    let env = match test_peer::env() {
        Ok(env) => env,
        Err(why) => return test_peer::skip(&why),
    };
    let get = |k: &str| env.get(k).map_or("", String::as_str);
    let company: i64 = get("TRYTON_COMPANY_ID").parse().unwrap_or(1);
    let settings = json!({
        "url": get("TRYTON_URL"),
        "database": get("TRYTON_DB"),
        "user": get("TRYTON_USER"),
        "password": get("TRYTON_PASSWORD"),
        "context": {"company": company},
        "timeout": "60s",
        "retries": 2,
        "backoff": "100ms",
    });
    let ctx = BuildContext {
        system: "erp".to_owned(),
        base_dir: std::env::temp_dir(),
    };
    let conn = match TrytonConnector::from_settings(&ctx, &obj(settings)) {
        Ok(c) => c,
        Err(issues) => return test_peer::skip(&format!("bad peer env: {issues:?}")),
    };
    // A first call logs in: an unreachable server skips, any other failure is a failure.
    let probe = conn
        .rpc
        .model(
            "res.user",
            "search_count",
            vec![json!([])],
            &Map::new(),
            Effect::Read,
        )
        .await;
    match probe {
        Err(e) if e.kind() == ErrorKind::Retryable => return test_peer::skip(&e.to_string()),
        Err(e) => panic!("tryton answers but the probe failed: {e}"),
        Ok(_) => {}
    }
    Some(Peer {
        conn,
        url: get("TRYTON_URL").to_owned(),
        database: get("TRYTON_DB").to_owned(),
        password: get("TRYTON_PASSWORD").to_owned(),
        company,
        warehouse: get("TRYTON_WAREHOUSE_ID").parse().unwrap_or(5),
    })
}

/// A suffix no other test run uses.
fn unique() -> String {
    format!("{:08x}", rand::random::<u32>())
}

fn out(key: &str, fields: Value) -> Outgoing {
    Outgoing {
        key: key.to_owned(),
        target_id: None,
        fields: obj(fields),
    }
}

fn sink(peer: &Peer, entity: Entity, key_field: &str, options: Value) -> Arc<dyn Sink> {
    sink_reading(peer, entity, key_field, &[], options)
}

/// A sink whose flow maps `fields` (what a scan reads back).
fn sink_reading(
    peer: &Peer,
    entity: Entity,
    key_field: &str,
    fields: &[&str],
    options: Value,
) -> Arc<dyn Sink> {
    let ctx = SinkContext {
        entity,
        key_field: key_field.to_owned(),
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
    };
    let inner = peer
        .conn
        .sink(&obj(options), &ctx)
        .unwrap_or_else(|e| panic!("target options: {e:?}"));
    Arc::new(OneWriterAtATime(inner))
}

/// The test peer runs Tryton on SQLite, which has no database sequences: Tryton draws a new
/// party's `code` (and a sale's number) by reading and bumping a counter row, so two creates
/// in concurrent transactions can draw the same one and the second fails "The code on party
/// must be unique". Production Tryton on PostgreSQL uses real sequences. The tests here run
/// in parallel, so their writes take turns; reads stay parallel.
struct OneWriterAtATime(Arc<dyn Sink>);

static WRITER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[async_trait::async_trait]
impl Sink for OneWriterAtATime {
    async fn upsert(
        &self,
        batch: &[Outgoing],
    ) -> Result<
        Vec<Result<ferry_kit::Written, ferry_model::ConnectorError>>,
        ferry_model::ConnectorError,
    > {
        let _turn = WRITER.lock().await;
        self.0.upsert(batch).await
    }
    fn capabilities(&self) -> ferry_kit::SinkCapabilities {
        self.0.capabilities()
    }
    async fn delete(
        &self,
        batch: &[ferry_kit::Removal],
    ) -> Result<Vec<Result<(), ferry_model::ConnectorError>>, ferry_model::ConnectorError> {
        let _turn = WRITER.lock().await;
        self.0.delete(batch).await
    }
    async fn update(
        &self,
        batch: &[Outgoing],
    ) -> Result<
        Vec<Result<ferry_kit::Written, ferry_model::ConnectorError>>,
        ferry_model::ConnectorError,
    > {
        let _turn = WRITER.lock().await;
        self.0.update(batch).await
    }
    async fn scan(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ferry_kit::TargetPage, ferry_model::ConnectorError> {
        self.0.scan(cursor, limit).await
    }
    async fn probe(&self) -> ferry_kit::Probe {
        self.0.probe().await
    }
}

impl Peer {
    async fn search_read(&self, model: &str, domain: Value, fields: Value) -> Vec<Value> {
        let rows = self
            .conn
            .rpc
            .model(
                model,
                "search_read",
                vec![
                    domain,
                    json!(0),
                    Value::Null,
                    json!([["id", "ASC"]]),
                    fields,
                ],
                &obj(json!({"active_test": false})),
                Effect::Read,
            )
            .await
            .unwrap_or_else(|e| panic!("{model}.search_read: {e}"));
        rows.as_array().cloned().unwrap_or_default()
    }

    async fn first_id(&self, model: &str, domain: Value) -> i64 {
        self.search_read(model, domain, json!(["id"])).await[0]["id"]
            .as_i64()
            .unwrap()
    }
}

/// The customer flow's target: parties by CRM code, with e-mail, phone and address.
fn party_sink(peer: &Peer) -> Arc<dyn Sink> {
    sink(
        peer,
        Entity::CUSTOMER,
        "code",
        json!({
            "model": "party.party",
            "key": "identifiers.code",
            "children": [
                {"field": "contact_mechanisms", "values": {"type": "email"}, "fields": {"email": "value"}},
                {"field": "contact_mechanisms", "values": {"type": "phone"}, "fields": {"phone": "value"}},
                {"field": "addresses", "fields": {"street": "street", "city": "city", "postal_code": "postal_code"}},
            ],
        }),
    )
}

fn written(results: Vec<Result<ferry_kit::Written, ferry_model::ConnectorError>>) -> Vec<String> {
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("not written: {e}")).target_id)
        .collect()
}

#[tokio::test]
async fn a_party_is_created_updated_and_read_back_through_the_watermark() {
    let Some(peer) = peer().await else { return };
    let code = format!("T-PARTY-{}", unique());
    let parties = party_sink(&peer);
    let first = written(
        parties
            .upsert(&[out(
                &code,
                json!({
                    "code": code, "name": "Acme Corp", "email": "billing@acme.test",
                    "phone": "+1 555 0100", "street": "1 Main St", "city": "Metropolis",
                    "postal_code": "12345",
                }),
            )])
            .await
            .expect("upsert"),
    );
    let id: i64 = first[0].parse().unwrap();

    // The source sees it, with the values written.
    let source = peer
        .conn
        .source(&obj(json!({
            "model": "party.party",
            "fields": ["name", "identifiers.code", "contact_mechanisms.value", "addresses.city"],
            "domain": [["identifiers.code", "=", code]],
        })))
        .unwrap();
    let page = source.read(None, 10).await.unwrap();
    assert_eq!(page.records.len(), 1);
    let r = &page.records[0];
    assert_eq!(r.id, id.to_string());
    assert_eq!(r.fields["name"], json!("Acme Corp"));
    assert_eq!(r.fields["identifiers.code"], json!([code]));
    assert_eq!(r.fields["addresses.city"], json!(["Metropolis"]));
    let mut values: Vec<String> =
        serde_json::from_value(r.fields["contact_mechanisms.value"].clone()).unwrap();
    values.sort();
    assert_eq!(values, ["+1 555 0100", "billing@acme.test"]);
    assert!(!page.more);
    let seen = r.updated_at.expect("a watermark");

    // Read again from the returned cursor: only the overlap window, nothing new.
    let again = source.read(Some(&page.cursor), 10).await.unwrap();
    assert!(
        again
            .records
            .iter()
            .all(|x| x.id == r.id && x.updated_at == Some(seen)),
        "{:?}",
        again.records
    );

    // Update by key (no target id): the same party, e-mail changed in place, phone kept,
    // no second identifier or address.
    let second = written(
        parties
            .upsert(&[out(
                &code,
                json!({
                    "code": code, "name": "Acme Corporation", "email": "ap@acme.test",
                    "city": "Gotham",
                }),
            )])
            .await
            .unwrap(),
    );
    assert_eq!(second, first);
    let row = &peer
        .search_read(
            "party.party",
            json!([["id", "=", id]]),
            json!([
                "name",
                "identifiers.code",
                "contact_mechanisms.type",
                "contact_mechanisms.value",
                "addresses.city"
            ]),
        )
        .await[0];
    assert_eq!(row["name"], json!("Acme Corporation"));
    assert_eq!(row["identifiers."].as_array().unwrap().len(), 1);
    let mechanisms: HashSet<(String, String)> = row["contact_mechanisms."]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["type"].as_str().unwrap().to_owned(),
                m["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: HashSet<(String, String)> = [("email", "ap@acme.test"), ("phone", "+1 555 0100")]
        .into_iter()
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect();
    assert_eq!(mechanisms, expected);
    assert_eq!(
        row["addresses."],
        json!([{"city": "Gotham", "id": row["addresses."][0]["id"]}])
    );

    // The update moved the watermark: the next read from the cursor returns it, changed.
    let after = source.read(Some(&again.cursor), 10).await.unwrap();
    let changed = after
        .records
        .iter()
        .find(|x| x.id == r.id)
        .expect("the update is read");
    assert!(changed.updated_at > Some(seen));
    assert_eq!(changed.fields["name"], json!("Acme Corporation"));

    // A known target id is written directly; fetch returns the current state, and an id
    // that does not exist comes back deleted.
    let mut by_id = out(&code, json!({"code": code, "name": "Acme Corp."}));
    by_id.target_id = Some(id.to_string());
    assert_eq!(written(parties.upsert(&[by_id]).await.unwrap()), first);
    let fetched = source
        .fetch(&[id.to_string(), "987654321".to_owned()])
        .await
        .unwrap();
    assert_eq!(fetched[0].fields["name"], json!("Acme Corp."));
    assert!(!fetched[0].deleted);
    assert!(fetched[1].deleted && fetched[1].id == "987654321");

    // Upserting what Tryton already holds writes nothing: the watermark stays put.
    let same = out(
        &code,
        json!({"code": code, "name": "Acme Corp.", "email": "ap@acme.test"}),
    );
    assert_eq!(written(parties.upsert(&[same]).await.unwrap()), first);
    let refetched = source.fetch(&[id.to_string()]).await.unwrap();
    assert_eq!(refetched[0].updated_at, fetched[0].updated_at);
}

/// The overlap window settles on a real Tryton too: once the overlap has passed since the
/// newest record was read, a read finds nothing until a record changes.
#[tokio::test]
async fn the_overlap_window_settles_and_a_later_change_is_read() {
    let Some(peer) = peer().await else { return };
    let code = format!("T-SETTLE-{}", unique());
    let parties = party_sink(&peer);
    written(
        parties
            .upsert(&[out(&code, json!({"code": code, "name": "Settle Ltd"}))])
            .await
            .expect("upsert"),
    );
    let source = peer
        .conn
        .source(&obj(json!({
            "model": "party.party",
            "fields": ["name"],
            "domain": [["identifiers.code", "=", code]],
            "overlap": "300ms",
        })))
        .unwrap();
    let first = source.read(None, 10).await.unwrap();
    assert_eq!(first.records.len(), 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut cursor = first.cursor;
    loop {
        let page = source.read(Some(&cursor), 10).await.unwrap();
        cursor = page.cursor;
        if page.records.is_empty() {
            break;
        }
        assert_eq!(page.records[0].id, first.records[0].id, "only the window");
        assert!(
            std::time::Instant::now() < deadline,
            "the window never settled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let idle = source.read(Some(&cursor), 10).await.unwrap();
    assert!(idle.records.is_empty());
    assert_eq!(
        idle.cursor, cursor,
        "an idle read leaves the settled cursor as it is"
    );
    written(
        parties
            .upsert(&[out(&code, json!({"code": code, "name": "Settled Ltd"}))])
            .await
            .unwrap(),
    );
    let changed = source.read(Some(&cursor), 10).await.unwrap();
    assert_eq!(changed.records.len(), 1);
    assert_eq!(changed.records[0].fields["name"], json!("Settled Ltd"));
}

#[tokio::test]
async fn chinese_names_and_tied_timestamps_are_read_exactly_once_across_pages() {
    let Some(peer) = peer().await else { return };
    let prefix = format!("T-CN-{}", unique());
    let names = [
        "上海贸易有限公司",
        "北京科技股份有限公司",
        "深圳电子厂",
        "广州物流",
        "杭州茶叶",
    ];
    let batch: Vec<Outgoing> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let code = format!("{prefix}-{i}");
            out(
                &code,
                json!({"code": code, "name": n, "email": format!("{i}@例子.中国")}),
            )
        })
        .collect();
    // One batch is one `create` call: Tryton gives the five parties one timestamp.
    let ids = written(party_sink(&peer).upsert(&batch).await.unwrap());
    assert_eq!(ids.len(), 5);

    let source = peer
        .conn
        .source(&obj(json!({
            "model": "party.party",
            "fields": ["name", "contact_mechanisms.value"],
            // An "OR" domain: the source must AND its paging clause with all of it.
            "domain": ["OR", ["identifiers.code", "like", format!("{prefix}-%")], ["id", "=", -1]],
            "overlap": "0s",
        })))
        .unwrap();
    let (mut cursor, mut read, mut pages) = (None::<String>, Vec::<Record>::new(), 0);
    loop {
        let page = source.read(cursor.as_deref(), 2).await.unwrap();
        pages += 1;
        assert!(pages <= 3, "the scan does not end: {:?}", page.records);
        read.extend(page.records);
        cursor = Some(page.cursor);
        if !page.more {
            break;
        }
    }
    assert_eq!(pages, 3, "pages of 2, 2 and 1");
    let got: Vec<&str> = read
        .iter()
        .map(|r| r.fields["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        got, names,
        "each once, in id order within the tied timestamp"
    );
    assert_eq!(read.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(
        read[0].fields["contact_mechanisms.value"],
        json!(["0@例子.中国"])
    );
    let stamps: HashSet<_> = read.iter().map(|r| r.updated_at).collect();
    assert_eq!(
        stamps.len(),
        1,
        "the case under test: one timestamp for all"
    );
}

#[tokio::test]
async fn a_sale_with_50_lines_is_created_quoted_and_confirmed() {
    let Some(peer) = peer().await else { return };
    let customer = format!("T-SALE-CUST-{}", unique());
    written(
        party_sink(&peer)
            .upsert(&[out(
                &customer,
                json!({"code": customer, "name": "Sale Test Customer",
                "street": "2 Side St", "city": "Springfield"}),
            )])
            .await
            .unwrap(),
    );
    let payment_term = peer
        .first_id("account.invoice.payment_term", json!([]))
        .await;
    let sales = sink(
        &peer,
        Entity::SALES_ORDER,
        "number",
        json!({
            "model": "sale.sale",
            "key": "reference",
            "fields": {"customer_code": null, "order_date": "sale_date"},
            "defaults": {"company": peer.company, "warehouse": peer.warehouse, "payment_term": payment_term},
            "lookup": {
                "currency": {"model": "currency.currency", "by": "code"},
                "party": {"model": "party.party", "by": "identifiers.code", "from": "customer_code"},
                "invoice_address": {"model": "party.address", "by": "party.identifiers.code", "from": "customer_code"},
                "shipment_address": {"model": "party.address", "by": "party.identifiers.code", "from": "customer_code"},
            },
            "children": [{
                "field": "lines", "from": "lines", "values": {"type": "line"},
                "fields": {"sku": "product", "uom": "unit", "line_no": null},
                "lookup": {"product": {"model": "product.product", "by": "code"},
                           "unit": {"model": "product.uom", "by": "name"}},
            }],
            "on_create": ["quote", "confirm"],
        }),
    );
    let number = format!("T-ORD-{}", unique());
    let lines: Vec<Value> = (1..=50)
        .map(|i| {
            let sku = if i % 2 == 0 { "WIDGET-1" } else { "SVC-SETUP" };
            json!({"line_no": i, "sku": sku, "uom": "Unit", "quantity": "2",
                   "unit_price": format!("{i}.05"), "description": format!("第{i}行")})
        })
        .collect();
    let order = out(
        &number,
        json!({
            "number": number, "customer_code": customer, "currency": "USD",
            "order_date": "2026-11-20", "description": "from the CRM", "lines": lines,
        }),
    );
    let results = sales.upsert(std::slice::from_ref(&order)).await.unwrap();
    let id: i64 = written(results)[0].parse().unwrap();
    let row = &peer
        .search_read(
            "sale.sale",
            json!([["id", "=", id]]),
            json!([
                "state",
                "reference",
                "sale_date",
                "total_amount",
                "untaxed_amount",
                "lines",
                "lines.description",
                "lines.product.code",
                "currency.code",
                "party.name"
            ]),
        )
        .await[0];
    assert!(
        matches!(row["state"].as_str(), Some("confirmed" | "processing")),
        "{row}"
    );
    assert_eq!(row["reference"], json!(number));
    assert_eq!(row["sale_date"]["day"], json!(20));
    assert_eq!(row["lines"].as_array().unwrap().len(), 50);
    assert_eq!(row["lines."][2]["description"], json!("第3行"));
    assert_eq!(row["lines."][2]["product."]["code"], json!("SVC-SETUP"));
    assert_eq!(row["lines."][3]["product."]["code"], json!("WIDGET-1"));
    assert_eq!(row["currency."]["code"], json!("USD"));
    assert_eq!(row["party."]["name"], json!("Sale Test Customer"));
    // Σ 2 × (i + 0.05) for i = 1..=50 = 2 × (1275 + 2.50) = 2555.00, exact (no tax set up).
    assert_eq!(row["untaxed_amount"]["decimal"], json!("2555.00"));

    // Upserting the same order unchanged finds it by reference and writes nothing (Tryton
    // would refuse any write to a confirmed sale's party or lines, equal or not).
    assert_eq!(
        written(sales.upsert(std::slice::from_ref(&order)).await.unwrap()),
        [id.to_string()]
    );

    // Changed lines: a confirmed sale refuses them, and that comes back as this record's
    // error with Tryton's message.
    let again = sales
        .upsert(&[out(
            &number,
            json!({"number": number, "customer_code": customer,
            "lines": [{"sku": "WIDGET-1", "uom": "Unit", "quantity": "1", "unit_price": "1"}]}),
        )])
        .await
        .unwrap();
    let e = again[0]
        .as_ref()
        .expect_err("a confirmed sale cannot change its lines");
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(
        e.message().contains("you must cancel or reset to draft"),
        "{e}"
    );
    assert!(e.message().contains(&format!("key `{number}`")), "{e}");
}

/// The target of draft sales whose lines carry VAT (Tryton's list operation in the line
/// values, the only way to put a tax on lines) and a discount (the gross price as
/// `base_price`, the net one as `unit_price`; module `sale_discount`).
fn draft_sales_with_vat(peer: &Peer, vat: i64, payment_term: i64) -> Arc<dyn Sink> {
    sink(
        peer,
        Entity::SALES_ORDER,
        "number",
        json!({
            "model": "sale.sale",
            "key": "reference",
            "fields": {"customer_code": null, "total": null},
            "defaults": {"company": peer.company, "warehouse": peer.warehouse, "payment_term": payment_term},
            "lookup": {
                "currency": {"model": "currency.currency", "by": "code"},
                "party": {"model": "party.party", "by": "identifiers.code", "from": "customer_code"},
                "invoice_address": {"model": "party.address", "by": "party.identifiers.code", "from": "customer_code"},
                "shipment_address": {"model": "party.address", "by": "party.identifiers.code", "from": "customer_code"},
            },
            "children": [{
                "field": "lines", "from": "lines",
                "values": {"type": "line", "taxes": [["add", [vat]]]},
                "fields": {"sku": "product", "uom": "unit", "unit_price": "base_price",
                           "extra.net_price": "unit_price", "discount": null},
                "lookup": {"product": {"model": "product.product", "by": "code"},
                           "unit": {"model": "product.uom", "by": "name"}},
            }],
        }),
    )
}

/// A sale as Tryton holds it: its amounts, and per line (product, quantity, base price, unit
/// price, taxes), with the line ids and the sale's last write.
async fn sale_lines(peer: &Peer, id: i64) -> (Value, Vec<(String, String, String, String, Value)>) {
    let sale = peer
        .search_read(
            "sale.sale",
            json!([["id", "=", id]]),
            json!([
                "untaxed_amount",
                "tax_amount",
                "total_amount",
                "lines",
                "write_date"
            ]),
        )
        .await
        .remove(0);
    let lines = peer
        .search_read(
            "sale.line",
            json!([["sale", "=", id]]),
            json!([
                "product.code",
                "quantity",
                "base_price",
                "unit_price",
                "taxes"
            ]),
        )
        .await;
    let dec = |v: &Value| v["decimal"].as_str().unwrap_or_default().to_owned();
    let lines = lines
        .iter()
        .map(|l| {
            (
                l["product."]["code"].as_str().unwrap().to_owned(),
                l["quantity"].to_string(),
                dec(&l["base_price"]),
                dec(&l["unit_price"]),
                l["taxes"].clone(),
            )
        })
        .collect();
    (sale, lines)
}

#[tokio::test]
async fn a_draft_sales_lines_are_replaced_exactly_with_their_taxes_and_discounts() {
    let Some(peer) = peer().await else { return };
    let customer = format!("T-LINES-CUST-{}", unique());
    written(
        party_sink(&peer)
            .upsert(&[out(
                &customer,
                json!({"code": customer, "name": "Lines Test Customer",
                "street": "3 Line St", "city": "Springfield"}),
            )])
            .await
            .unwrap(),
    );
    let vat = peer
        .first_id("account.tax", json!([["name", "=", "VAT 13%"]]))
        .await;
    let payment_term = peer
        .first_id("account.invoice.payment_term", json!([]))
        .await;
    let sales = draft_sales_with_vat(&peer, vat, payment_term);
    let number = format!("T-LINES-{}", unique());
    let line = |sku: &str, qty: &str, price: &str, discount: &str, net: &str| {
        json!({"sku": sku, "uom": "Unit", "quantity": qty, "unit_price": price,
               "discount": discount, "extra.net_price": net})
    };
    let order = |lines: &[Value]| {
        out(
            &number,
            json!({"number": number, "customer_code": customer, "currency": "USD", "lines": lines}),
        )
    };
    let mut lines = vec![
        line("WIDGET-1", "3", "10.00", "0.1", "9.00"),
        line("SVC-SETUP", "1", "150.00", "0", "150.00"),
        line("WIDGET-1", "2", "10.00", "0", "10.00"),
    ];
    let id: i64 = written(sales.upsert(&[order(&lines)]).await.unwrap())[0]
        .parse()
        .unwrap();
    let (sale, got) = sale_lines(&peer, id).await;
    assert_eq!(got.len(), 3, "{got:?}");
    // 27.00 + 150.00 + 20.00 = 197.00, VAT 13 % = 25.61.
    assert_eq!(sale["total_amount"]["decimal"], json!("222.61"), "{sale}");

    // Four lines where there were three: exactly the four, taxed and discounted.
    lines.push(line("SVC-SETUP", "2", "150.00", "0.1", "135.00"));
    let again = written(sales.upsert(&[order(&lines)]).await.unwrap());
    assert_eq!(again, [id.to_string()]);
    let (sale, got) = sale_lines(&peer, id).await;
    let want = |sku: &str, qty: &str, base: &str, net: &str| {
        (
            sku.to_owned(),
            qty.to_owned(),
            base.to_owned(),
            net.to_owned(),
            json!([vat]),
        )
    };
    assert_eq!(
        got,
        [
            want("WIDGET-1", "3.0", "10.00", "9.00"),
            want("SVC-SETUP", "1.0", "150.00", "150.00"),
            want("WIDGET-1", "2.0", "10.00", "10.00"),
            want("SVC-SETUP", "2.0", "150.00", "135.00"),
        ]
    );
    // 197.00 + 270.00 = 467.00, VAT 60.71, to the cent.
    assert_eq!(
        (
            &sale["untaxed_amount"]["decimal"],
            &sale["tax_amount"]["decimal"],
            &sale["total_amount"]["decimal"]
        ),
        (&json!("467.00"), &json!("60.71"), &json!("527.71"))
    );

    // The same lines again: nothing is written (same line ids, same last write).
    written(sales.upsert(&[order(&lines)]).await.unwrap());
    let (unchanged, _) = sale_lines(&peer, id).await;
    assert_eq!(unchanged["lines"], sale["lines"]);
    assert_eq!(unchanged["write_date"], sale["write_date"]);

    // Fewer lines: exactly the one sent.
    let one = [line("WIDGET-1", "1", "10.00", "0", "10.00")];
    written(sales.upsert(&[order(&one)]).await.unwrap());
    let (sale, got) = sale_lines(&peer, id).await;
    assert_eq!(got, [want("WIDGET-1", "1.0", "10.00", "10.00")]);
    assert_eq!(sale["total_amount"]["decimal"], json!("11.30"));
}

#[tokio::test]
async fn a_record_tryton_refuses_gets_its_own_error_while_the_others_are_written() {
    let Some(peer) = peer().await else { return };
    let run = unique();
    let products = sink(
        &peer,
        Entity::PRODUCT,
        "sku",
        json!({
            "model": "product.template",
            "key": "code",
            "fields": {"uom": null, "cost_price": null},
            "defaults": {"type": "goods", "salable": true},
            "lookup": {
                "default_uom": {"model": "product.uom", "by": "name", "from": "uom"},
                "sale_uom": {"model": "product.uom", "by": "name", "from": "uom"},
            },
            "children": [{"field": "products", "fields": {"cost_price": "cost_price"}}],
        }),
    );
    let sku = |n: u32| format!("T-SKU-{run}-{n}");
    let batch = [
        out(
            &sku(1),
            json!({"sku": sku(1), "name": "Widget", "uom": "Unit", "list_price": "24.50", "cost_price": "12.00"}),
        ),
        // No unit: Tryton requires "Default UoM".
        out(
            &sku(2),
            json!({"sku": sku(2), "name": "Broken", "uom": null, "list_price": "1.00"}),
        ),
        out(
            &sku(3),
            json!({"sku": sku(3), "name": "小工具", "uom": "Unit", "list_price": "0.10", "cost_price": "0.05"}),
        ),
        // A unit Tryton does not know: the lookup refuses it before anything is sent.
        out(
            &sku(4),
            json!({"sku": sku(4), "name": "Far", "uom": "Parsec", "list_price": "1"}),
        ),
    ];
    let results = products
        .upsert(&batch)
        .await
        .expect("the batch as a whole goes through");
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let e = results[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(e.message().contains("A value is required for field"), "{e}");
    assert!(e.message().contains(&format!("key `{}`", sku(2))), "{e}");
    let e = results[3].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(
        e.message()
            .contains("no `product.uom` with name = `Parsec`"),
        "{e}"
    );

    let rows = peer
        .search_read(
            "product.product",
            json!([["code", "like", format!("T-SKU-{run}-%")]]),
            json!(["code", "template.list_price", "cost_price", "template.name"]),
        )
        .await;
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap().to_owned(),
                r["template."]["list_price"]["decimal"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                r["cost_price"]["decimal"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (sku(1), "24.50".to_owned(), "12.00".to_owned()),
            (sku(3), "0.10".to_owned(), "0.05".to_owned())
        ],
        "decimals exact, the refused record absent"
    );
}

#[tokio::test]
async fn an_expired_session_logs_in_again() {
    let Some(peer) = peer().await else { return };
    let read = || async {
        peer.conn
            .rpc
            .model(
                "party.party",
                "search_count",
                vec![json!([])],
                &Map::new(),
                Effect::Read,
            )
            .await
    };
    read().await.unwrap();
    let before = peer
        .conn
        .session
        .logins
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(before >= 1);
    peer.conn
        .rpc
        .call("common.db.logout", vec![], Effect::Write)
        .await
        .unwrap();
    // The server now answers 401 to the old session: the client logs in again, once.
    assert!(read().await.unwrap().as_i64().unwrap() >= 1);
    read().await.unwrap();
    let after = peer
        .conn
        .session
        .logins
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after, before + 1);
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_that_does_not_show_it() {
    let Some(peer) = peer().await else { return };
    let ctx = BuildContext {
        system: "erp".to_owned(),
        base_dir: std::env::temp_dir(),
    };
    let conn = TrytonConnector::from_settings(
        &ctx,
        &obj(
            json!({"url": peer.url, "database": peer.database, "user": "admin",
                    "password": "wrong-Pa55word", "retries": 0}),
        ),
    )
    .unwrap();
    let source = conn
        .source(&obj(json!({"model": "party.party", "fields": ["name"]})))
        .unwrap();
    let e = source.read(None, 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(e.message().contains("user `admin` cannot log in"), "{e}");
    assert!(!e.message().contains("wrong-Pa55word"), "{e}");
}

#[tokio::test]
async fn unknown_fields_are_configuration_errors_naming_them() {
    let Some(peer) = peer().await else { return };
    let source = peer
        .conn
        .source(&obj(
            json!({"model": "party.party", "fields": ["name", "nosuchfield"]}),
        ))
        .unwrap();
    let e = source.read(None, 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fatal, "{e}");
    assert!(
        e.message().contains("model `party.party`") && e.message().contains("'nosuchfield'"),
        "{e}"
    );

    let parties = sink(
        &peer,
        Entity::CUSTOMER,
        "code",
        json!({"model": "party.party", "key": "identifiers.code"}),
    );
    let e = parties
        .upsert(&[out(
            "X",
            json!({"code": "X", "name": "n", "emial": "x@y.z"}),
        )])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert!(e.message().contains("no field `emial`"), "{e}");
}

#[tokio::test]
async fn discover_lists_party_party_with_its_fields() {
    let Some(peer) = peer().await else { return };
    let objects = peer.conn.discover().await.unwrap();
    let party = objects
        .iter()
        .find(|o| o.name == "party.party")
        .expect("party.party");
    let field = |n: &str| {
        party
            .fields
            .iter()
            .find(|f| f.name == n)
            .unwrap_or_else(|| panic!("no {n}"))
    };
    assert_eq!(field("name").ty, "char");
    assert!(
        field("name").nullable,
        "Tryton does not require a party name"
    );
    assert!(
        !field("code").nullable,
        "the party code is required (a sequence fills it)"
    );
    assert_eq!(field("addresses").ty, "one2many(party.address)");
    assert!(field("email").nullable);
    assert!(objects.iter().any(|o| o.name == "sale.sale"));
}

#[tokio::test]
async fn a_sale_a_workflow_button_refuses_is_deleted_again_with_trytons_message() {
    let Some(peer) = peer().await else { return };
    // A customer without an address: the sale is created, but `quote` needs addresses.
    let customer = format!("T-NOADDR-{}", unique());
    written(
        party_sink(&peer)
            .upsert(&[out(
                &customer,
                json!({"code": customer, "name": "No Address Ltd"}),
            )])
            .await
            .unwrap(),
    );
    let payment_term = peer
        .first_id("account.invoice.payment_term", json!([]))
        .await;
    let sales = sink(
        &peer,
        Entity::SALES_ORDER,
        "number",
        json!({
            "model": "sale.sale",
            "key": "reference",
            "fields": {"customer_code": null},
            "defaults": {"company": peer.company, "currency": 1, "warehouse": peer.warehouse,
                         "payment_term": payment_term},
            "lookup": {"party": {"model": "party.party", "by": "identifiers.code", "from": "customer_code"}},
            "children": [{
                "field": "lines", "from": "lines", "values": {"type": "line"},
                "lookup": {"product": {"model": "product.product", "by": "code"}},
            }],
            "on_create": ["quote", "confirm"],
        }),
    );
    let good_customer = format!("T-ADDR-{}", unique());
    written(
        party_sink(&peer)
            .upsert(&[out(
                &good_customer,
                json!({"code": good_customer, "name": "Has Address",
                "street": "3 High St"}),
            )])
            .await
            .unwrap(),
    );
    let (bad, good) = (
        format!("T-ORD-BAD-{}", unique()),
        format!("T-ORD-OK-{}", unique()),
    );
    // Tryton refuses `quote` on a sale without lines too: both orders have one.
    let line = json!([{"product": "WIDGET-1", "quantity": 1, "unit": 1, "unit_price": "10.00"}]);
    let results = sales
        .upsert(&[
            out(&bad, json!({"number": bad, "customer_code": customer, "lines": line})),
            out(&good, json!({"number": good, "customer_code": good_customer, "lines": line,
                "invoice_address": peer.first_id("party.address", json!([["party.identifiers.code", "=", good_customer]])).await,
                "shipment_address": peer.first_id("party.address", json!([["party.identifiers.code", "=", good_customer]])).await})),
        ])
        .await
        .unwrap();
    let e = results[0].as_ref().expect_err("quote needs an address");
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.message().contains("but `quote` failed"), "{e}");
    assert!(
        e.message().contains("you must enter an invoice address"),
        "{e}"
    );
    assert!(e.message().contains("the new record was deleted"), "{e}");
    assert!(
        peer.search_read("sale.sale", json!([["reference", "=", bad]]), json!(["id"]))
            .await
            .is_empty(),
        "the refused sale is gone, so the next attempt starts afresh"
    );
    let id = results[1]
        .as_ref()
        .expect("the other sale went through")
        .target_id
        .clone();
    let row = &peer
        .search_read(
            "sale.sale",
            json!([["reference", "=", good]]),
            json!(["state"]),
        )
        .await[0];
    assert_eq!(row["id"].to_string(), id);
    assert!(
        matches!(row["state"].as_str(), Some("confirmed" | "processing")),
        "{row}"
    );
}

#[test]
fn the_factory_publishes_schemas_with_the_http_settings_inside() {
    use ferry_kit::ConnectorFactory;
    let schemas = super::TrytonFactory.schemas();
    let system = serde_json::to_value(&schemas.system).unwrap();
    for key in [
        "url",
        "timeout",
        "retries",
        "rate",
        "daily_quota",
        "database",
        "password",
    ] {
        assert!(system["properties"][key].is_object(), "no {key}: {system}");
    }
    assert_eq!(system["additionalProperties"], json!(false));
    let target = serde_json::to_value(&schemas.target).unwrap();
    assert!(target["properties"]["on_create"].is_object(), "{target}");
}

#[tokio::test]
async fn stock_is_read_with_poll_all_and_the_warehouse_in_the_context() {
    let Some(peer) = peer().await else { return };
    let source = peer
        .conn
        .source(&obj(json!({
            "model": "product.product",
            "poll": "all",
            "fields": ["code", "quantity", "forecast_quantity", "list_price_used"],
            "domain": [["code", "in", ["WIDGET-1", "SVC-SETUP"]]],
            "context": {"locations": [peer.warehouse]},
        })))
        .unwrap();
    let first = source.read(None, 1).await.unwrap();
    assert!(first.more);
    let second = source.read(Some(&first.cursor), 1).await.unwrap();
    assert!(!second.more);
    assert_eq!(second.cursor, r#"{"v":1}"#, "a finished scan starts over");
    let by_code: HashMap<String, Record> = first
        .records
        .into_iter()
        .chain(second.records)
        .map(|r| (r.fields["code"].as_str().unwrap().to_owned(), r))
        .collect();
    let widget = &by_code["WIDGET-1"];
    // The seed put 100 units in the warehouse; without `locations` Tryton would say 0.
    assert!(
        widget.fields["quantity"].as_f64().unwrap() > 0.0,
        "{widget:?}"
    );
    assert_eq!(widget.fields["list_price_used"], json!("10.00"));
    assert!(by_code.contains_key("SVC-SETUP"));
}

#[tokio::test]
async fn every_source_of_a_system_draws_from_one_rate_limit() {
    let Some(peer) = peer().await else { return };
    let ctx = BuildContext {
        system: "erp".to_owned(),
        base_dir: std::env::temp_dir(),
    };
    let conn = TrytonConnector::from_settings(
        &ctx,
        &obj(
            json!({"url": peer.url, "database": peer.database, "user": "admin",
                    "password": peer.password, "rate": {"per_second": 5}}),
        ),
    )
    .unwrap();
    let options =
        obj(json!({"model": "party.party", "fields": ["name"], "domain": [["id", "<", 0]]}));
    let (a, b) = (
        conn.source(&options).unwrap(),
        conn.source(&options).unwrap(),
    );
    let started = std::time::Instant::now();
    let run = |s: Arc<dyn ferry_kit::Source>| async move {
        for _ in 0..4 {
            s.read(None, 1).await.unwrap();
        }
    };
    tokio::join!(run(a), run(b));
    // 8 reads and a login at 5 per second, the first free: at least 1.6 s when the two
    // sources share the system's budget (0.8 s each if they had their own).
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_millis(1500), "{took:?}");
}

#[tokio::test]
async fn parties_are_read_back_archived_and_deleted() {
    let Some(peer) = peer().await else { return };
    let run = unique();
    let codes: Vec<String> = (1..=3).map(|n| format!("T-BACK-{run}-{n}")).collect();
    let parties = sink_reading(
        &peer,
        Entity::CUSTOMER,
        "code",
        &[
            "code", "name", "email", "phone", "city", "tax_id", "active", "lines",
        ],
        json!({
            "model": "party.party",
            "key": "identifiers.code",
            "children": [
                {"field": "contact_mechanisms", "values": {"type": "email"}, "fields": {"email": "value"}},
                {"field": "contact_mechanisms", "values": {"type": "phone"}, "fields": {"phone": "value"}},
                {"field": "identifiers", "values": {"type": "cn_vat"}, "fields": {"tax_id": "code"}},
                {"field": "addresses", "fields": {"city": "city"}},
            ],
        }),
    );
    assert!(parties.capabilities().scan && parties.capabilities().delete);
    let batch: Vec<Outgoing> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| {
            out(
                code,
                json!({
                    "code": code, "name": format!("Back {i} 客户"), "email": format!("b{i}@back.test"),
                    "phone": format!("+1 555 01{i}0"), "city": "Springfield",
                    "tax_id": "91350100M000100Y43", "active": true,
                }),
            )
        })
        .collect();
    let ids = written(parties.upsert(&batch).await.unwrap());

    // Read back by pages of 2: each party once, under its key (not its tax identifier),
    // every mapped field from where the sink wrote it.
    let scan_all = || async {
        let mut cursor: Option<String> = None;
        let mut found: Vec<TargetRecord> = Vec::new();
        loop {
            let page = parties.scan(cursor.as_deref(), 2).await.expect("scan");
            assert_eq!(
                page.fields,
                ["code", "name", "email", "phone", "city", "tax_id", "active"],
                "lines are not read back"
            );
            assert!(page.records.len() <= 2);
            found.extend(page.records);
            if !page.more {
                return found;
            }
            cursor = Some(page.cursor);
        }
    };
    let found = scan_all().await;
    let ours: Vec<&TargetRecord> = found
        .iter()
        .filter(|r| r.key.as_deref().is_some_and(|k| k.contains(&run)))
        .collect();
    assert_eq!(ours.len(), 3, "{ours:#?}");
    assert!(
        found.iter().all(|r| r.key.is_some()),
        "a party without a key is not read back"
    );
    for (i, r) in ours.iter().enumerate() {
        assert_eq!(r.target_id, ids[i]);
        assert_eq!(r.key.as_deref(), Some(codes[i].as_str()));
        assert_eq!(
            Value::Object(r.fields.clone()),
            json!({
                "code": codes[i], "name": format!("Back {i} 客户"), "email": format!("b{i}@back.test"),
                "phone": format!("+1 555 01{i}0"), "city": "Springfield",
                "tax_id": "91350100M000100Y43", "active": true,
            })
        );
    }

    // Archive the first by target id, the second by key alone: written in place, never
    // created; a key Tryton does not hold is left alone.
    let archive = |code: &str, target_id: Option<&str>| Outgoing {
        key: code.to_owned(),
        target_id: target_id.map(str::to_owned),
        fields: obj(json!({"active": false})),
    };
    let results = parties
        .update(&[
            archive(&codes[0], Some(&ids[0])),
            archive(&codes[1], None),
            archive(&format!("T-BACK-{run}-none"), None),
        ])
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let active = |rows: Vec<Value>| -> Vec<bool> {
        // Tryton on SQLite answers booleans as 0 and 1.
        rows.iter()
            .map(|r| r["active"].as_bool().unwrap_or(r["active"] != json!(0)))
            .collect()
    };
    let rows = peer
        .search_read(
            "party.party",
            json!([["identifiers.code", "like", format!("T-BACK-{run}-%")]]),
            json!(["active"]),
        )
        .await;
    assert_eq!(active(rows), [false, false, true], "nothing was created");
    let found = scan_all().await;
    let archived = found.iter().find(|r| r.target_id == ids[0]).unwrap();
    assert_eq!(
        archived.fields["active"],
        json!(false),
        "archived parties are read back"
    );

    // Delete: the first by target id, the second (archived) by key, one already gone.
    let results = parties
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
                key: format!("T-BACK-{run}-gone"),
                target_id: Some("987654321".to_owned()),
            },
        ])
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let left = peer
        .search_read(
            "party.party",
            json!([["identifiers.code", "like", format!("T-BACK-{run}-%")]]),
            json!(["id"]),
        )
        .await;
    assert_eq!(left, [json!({"id": ids[2].parse::<i64>().unwrap()})]);
}

#[tokio::test]
async fn a_delete_tryton_refuses_is_that_records_error_and_the_others_are_deleted() {
    let Some(peer) = peer().await else { return };
    let run = unique();
    // A party referenced by a confirmed sale cannot be deleted; a fresh one can.
    let parties = party_sink(&peer);
    let codes = [format!("T-DEL-{run}-busy"), format!("T-DEL-{run}-free")];
    let ids = written(
        parties
            .upsert(&[
                out(
                    &codes[0],
                    json!({"code": codes[0], "name": "Busy", "city": "Paris"}),
                ),
                out(&codes[1], json!({"code": codes[1], "name": "Free"})),
            ])
            .await
            .unwrap(),
    );
    let payment_term = peer
        .first_id("account.invoice.payment_term", json!([]))
        .await;
    let sales = sink(
        &peer,
        Entity::SALES_ORDER,
        "number",
        json!({
            "model": "sale.sale",
            "key": "reference",
            "fields": {"customer_code": null},
            "defaults": {"company": peer.company, "warehouse": peer.warehouse, "payment_term": payment_term},
            "lookup": {
                "currency": {"model": "currency.currency", "by": "code"},
                "party": {"model": "party.party", "by": "identifiers.code", "from": "customer_code"},
                "invoice_address": {"model": "party.address", "by": "party.identifiers.code", "from": "customer_code"},
                "shipment_address": {"model": "party.address", "by": "party.identifiers.code", "from": "customer_code"},
            },
            "children": [{
                "field": "lines", "from": "lines", "values": {"type": "line"},
                "fields": {"sku": "product", "uom": "unit"},
                "lookup": {"product": {"model": "product.product", "by": "code"},
                           "unit": {"model": "product.uom", "by": "name"}},
            }],
            "on_create": ["quote", "confirm"],
        }),
    );
    let sale = format!("T-DEL-{run}-sale");
    written(
        sales
            .upsert(&[out(
                &sale,
                json!({
                    "number": sale, "customer_code": codes[0], "currency": "USD",
                    "lines": [{"sku": "WIDGET-1", "uom": "Unit", "quantity": "1", "unit_price": "10.00"}],
                }),
            )])
            .await
            .unwrap(),
    );
    let results = parties
        .delete(&[
            Removal {
                key: codes[0].clone(),
                target_id: Some(ids[0].clone()),
            },
            Removal {
                key: codes[1].clone(),
                target_id: Some(ids[1].clone()),
            },
        ])
        .await
        .unwrap();
    let refused = results[0].as_ref().expect_err("a party in use stays");
    assert!(
        refused.to_string().contains(&codes[0]),
        "names the record: {refused}"
    );
    assert!(results[1].is_ok(), "{:?}", results[1]);
    let left = peer
        .search_read(
            "party.party",
            json!([["identifiers.code", "like", format!("T-DEL-{run}-%")]]),
            json!(["id"]),
        )
        .await;
    assert_eq!(left.len(), 1, "{left:?}");
}

/// `ferry check --live` against Tryton: a model or field that is not there is named where
/// the config names it, with the near miss; a wrong password fails the connection check;
/// a good source lists its fields. Nothing is written.
#[tokio::test]
async fn probes_name_missing_models_and_fields_and_refused_credentials() {
    let Some(peer) = peer().await else { return };
    peer.conn.probe().await.expect("the system answers");
    let good = peer
        .conn
        .source(&obj(
            json!({"model": "party.party", "fields": ["name", "code"]}),
        ))
        .unwrap();
    let probe = good.probe().await;
    assert!(probe.is_ok(), "{probe:?}");
    assert_eq!(probe.fields.unwrap().names, ["name", "code"]);

    let typo = peer
        .conn
        .source(&obj(
            json!({"model": "party.party", "fields": ["name", "cod"]}),
        ))
        .unwrap();
    let probe = typo.probe().await;
    assert!(
        probe.issues.len() == 1
            && probe.issues[0].at == ferry_kit::ProbeAt::Option(vec!["fields".into()])
            && probe.issues[0]
                .message
                .contains("no field `cod` (did you mean `code`?)"),
        "{probe:?}"
    );
    let model = peer
        .conn
        .source(&obj(json!({"model": "party.partyy", "fields": ["name"]})))
        .unwrap();
    let probe = model.probe().await;
    assert!(
        probe.issues.len() == 1
            && probe.issues[0].at == ferry_kit::ProbeAt::Option(vec!["model".into()]),
        "{probe:?}"
    );

    let sink = sink_reading(
        &peer,
        Entity::CUSTOMER,
        "code",
        &["code", "nmae"],
        json!({"model": "party.party"}),
    );
    let probe = sink.probe().await;
    assert!(
        probe.issues.len() == 1
            && probe.issues[0].at == ferry_kit::ProbeAt::Mapped("nmae".into())
            && probe.issues[0].message.contains("did you mean `name`?"),
        "{probe:?}"
    );

    let settings = json!({"url": peer.url, "database": peer.database, "user": "admin",
        "password": "wrong-Pr0be-pw", "retries": 0});
    let ctx = BuildContext {
        system: "erp".to_owned(),
        base_dir: std::env::temp_dir(),
    };
    let wrong = TrytonConnector::from_settings(&ctx, &obj(settings)).unwrap();
    let err = wrong.probe().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    assert!(!err.message().contains("wrong-Pr0be-pw"), "{err}");
}
