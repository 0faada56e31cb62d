//! Against the Kingdee double (`ferry_doubles::kingdee`), which follows the published
//! documentation, not a real tenant: the vendor's reply shapes for success, business errors
//! inside HTTP 200, a lost session, the call limit and partial batch failures, and what the
//! connector does with each.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ferry_doubles::RunningDouble;
use ferry_doubles::kingdee::{self, KingdeeConfig, KingdeeDouble};
use ferry_kit::{BuildContext, Connector, Outgoing, Removal, Sink, SinkContext, Source};
use ferry_model::{Entity, ErrorKind};
use serde_json::{Map, Value, json};

use ferry_conformance::read_all;

use crate::KingdeeConnector;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("an object")
}

struct Kd {
    kingdee: KingdeeDouble,
    double: RunningDouble,
}

impl Kd {
    async fn start() -> Self {
        let kingdee = KingdeeDouble::new(KingdeeConfig::default());
        let double = ferry_doubles::start(kingdee.clone(), 0)
            .await
            .expect("the double starts");
        Self { kingdee, double }
    }

    /// An operation done in the Kingdee client by the ERP team (审核, 下推): its reply.
    fn client(&self, operation: &str, form: &str, data: Value) -> Value {
        self.kingdee
            .client(self.double.harness(), operation, form, data)
    }

    fn settings(&self, login: Value) -> Map<String, Value> {
        obj(json!({
            "url": format!("{}/k3cloud/", self.double.base_url()),
            "acct_id": "ferry-test-acct", "login": login, "retries": 3, "backoff": "10ms",
        }))
    }

    fn connector_with(&self, login: Value) -> KingdeeConnector {
        let ctx = BuildContext {
            system: "erp".into(),
            base_dir: std::env::temp_dir(),
        };
        KingdeeConnector::from_settings(&ctx, &self.settings(login)).expect("valid settings")
    }

    fn connector(&self) -> KingdeeConnector {
        self.connector_with(
            json!({"by": "password", "user": "Administrator", "password": "kd-Pa55word"}),
        )
    }

    fn source(&self, conn: &KingdeeConnector, options: Value) -> Arc<dyn Source> {
        conn.source(&obj(options)).expect("source options")
    }

    fn sink(&self, conn: &KingdeeConnector, options: Value, fields: &[&str]) -> Arc<dyn Sink> {
        let ctx = SinkContext {
            entity: Entity::SALES_ORDER,
            key_field: "code".into(),
            fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        };
        conn.sink(&obj(options), &ctx).expect("target options")
    }

    /// A form's stored record by number.
    fn stored(&self, form: &str, number: &str) -> Option<Map<String, Value>> {
        let key = if form.starts_with("BD_") {
            "FNumber"
        } else {
            "FBillNo"
        };
        self.double
            .store()
            .list(form, None, None)
            .unwrap()
            .into_iter()
            .find(|r| r.fields.get(key) == Some(&json!(number)))
            .map(|r| r.fields)
    }
}

fn out(key: &str, fields: Value) -> Outgoing {
    Outgoing {
        key: key.into(),
        target_id: None,
        fields: obj(fields),
    }
}

fn customers() -> Value {
    json!({"form": "BD_Customer", "fields": ["FNumber", "FName", "FCreditAmount", "FUseOrgId.FNumber"]})
}

#[tokio::test]
async fn each_login_reads_customers_across_tied_times_exactly_once() {
    let kd = Kd::start().await;
    let logins = [
        json!({"by": "password", "user": "Administrator", "password": "kd-Pa55word"}),
        json!({"by": "app_secret", "user": "Administrator",
               "app_id": "ferry_app_0123456789abcdef0123456789abcdef", "app_secret": "kd-app-s3cret"}),
        json!({"by": "signature", "user": "Administrator",
               "app_id": "ferry_app_0123456789abcdef0123456789abcdef", "app_secret": "kd-app-s3cret"}),
    ];
    for login in logins {
        let conn = kd.connector_with(login.clone());
        // Pages of one: every page edge falls inside a pair of customers with one time.
        let (read, _) = read_all(kd.source(&conn, customers()).as_ref(), None, 1).await;
        let numbers: Vec<&str> = read
            .iter()
            .map(|r| r.fields["FNumber"].as_str().unwrap())
            .collect();
        assert_eq!(
            numbers,
            [
                "CUST0001", "CUST0002", "CUST0003", "CUST0004", "CUST0005", "CUST0006"
            ],
            "{login}"
        );
        assert_eq!(read[0].fields["FUseOrgId.FNumber"], json!("100"));
        assert!(
            read[0].updated_at.is_some(),
            "the change time is the watermark"
        );
        assert_eq!(
            conn.api.login.logins.load(Ordering::Relaxed),
            1,
            "one session for all pages"
        );
    }
}

#[tokio::test]
async fn a_changed_customer_is_read_again_from_the_cursor_and_an_idle_source_settles() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    let source = kd.source(
        &conn,
        json!({"form": "BD_Customer", "fields": ["FNumber", "FName"], "overlap": "0s"}),
    );
    let (_, cursor) = read_all(source.as_ref(), None, 4).await;
    // The window (0s here) reads the top second once more, then settles: nothing new.
    let (again, cursor) = read_all(source.as_ref(), Some(cursor), 4).await;
    let numbers: Vec<&Value> = again.iter().map(|r| &r.fields["FNumber"]).collect();
    assert_eq!(
        numbers,
        [&json!("CUST0005"), &json!("CUST0006")],
        "the top second"
    );
    let (idle, cursor) = read_all(source.as_ref(), Some(cursor), 4).await;
    assert!(idle.is_empty(), "a settled source reads nothing: {idle:?}");
    let id = kd.double.store().list("BD_Customer", None, None).unwrap()[1].id;
    kd.double
        .clock()
        .freeze_at("2026-12-01T02:00:00Z".parse().unwrap());
    kd.double
        .store()
        .update("BD_Customer", id, obj(json!({"FName": "上海贸易（更名）"})))
        .unwrap();
    let (changed, _) = read_all(source.as_ref(), Some(cursor), 4).await;
    let names: Vec<&Value> = changed.iter().map(|r| &r.fields["FName"]).collect();
    assert!(names.contains(&&json!("上海贸易（更名）")), "{changed:?}");
    assert_eq!(changed.iter().filter(|r| r.id == id.to_string()).count(), 1);
}

#[tokio::test]
async fn sales_orders_are_read_with_their_lines() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    let source = kd.source(
        &conn,
        json!({"form": "SAL_SaleOrder", "fields": ["FBillNo", "FCustId.FNumber", "FDocumentStatus"],
               "lines": {"entry": "FSaleOrderEntry", "fields": ["FMaterialId.FNumber", "FQty", "FEntryTaxRate"]}}),
    );
    let (read, _) = read_all(source.as_ref(), None, 3).await;
    assert_eq!(read.len(), 4);
    for (i, order) in read.iter().enumerate() {
        let lines = order.fields["lines"].as_array().unwrap();
        assert_eq!(
            lines.len(),
            1 + (i + 1) % 3,
            "order {} has its lines: {lines:?}",
            i + 1
        );
        assert_eq!(lines[0]["FQty"], json!(10.0));
        assert!(lines[0]["id"].as_str().is_some());
    }
}

fn stock() -> Value {
    json!({"form": "STK_Inventory", "poll": "all", "sum_by": "FMaterialId.FNumber",
           "fields": ["FBaseQty", "FBaseUnitId.FNumber"], "filter": "FStockOrgId.FNumber = '100'"})
}

#[tokio::test]
async fn stock_is_summed_per_material_over_warehouses_whatever_the_page_size() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    let source = kd.source(&conn, stock());
    // Pages of one row fall inside MAT0001's and MAT0002's two warehouses; pages of two cut
    // between them; a page of a hundred holds the whole form.
    let mut cable = 300.0;
    for limit in [1, 2, 100] {
        let (read, cursor) = read_all(source.as_ref(), None, limit).await;
        let stock: Vec<(&str, &Value)> = read
            .iter()
            .map(|r| (r.id.as_str(), &r.fields["FBaseQty"]))
            .collect();
        assert_eq!(
            stock,
            [
                ("MAT0001", &json!(110.5)),
                ("MAT0002", &json!(220.5)),
                ("MAT0003", &json!(cable)),
                ("MAT0004", &json!(400.0)),
                ("MAT0005", &json!(500.0)),
            ],
            "pages of {limit}"
        );
        assert_eq!(read[2].fields["FMaterialId.FNumber"], json!("MAT0003"));
        assert_eq!(read[2].fields["FBaseUnitId.FNumber"], json!("m"));
        // Stock has no change time: the next scan reads it all again, with today's figures.
        let row = kd
            .double
            .store()
            .list("STK_Inventory", None, None)
            .unwrap()
            .into_iter()
            .find(|r| r.fields["FMaterialId"] == json!({"FNumber": "MAT0003"}))
            .unwrap();
        kd.double
            .store()
            .update(
                "STK_Inventory",
                row.id,
                obj(json!({"FBaseQty": cable - 1.0})),
            )
            .unwrap();
        cable -= 1.0;
        let (again, _) = read_all(source.as_ref(), Some(cursor), limit).await;
        assert_eq!(again.len(), 5, "pages of {limit}");
        assert_eq!(again[2].fields["FBaseQty"], json!(cable));
    }
    let fetched = source
        .fetch(&["MAT0002".into(), "MAT9999".into()])
        .await
        .unwrap();
    assert_eq!(fetched[0].fields["FBaseQty"], json!(220.5));
    assert!(fetched[1].deleted, "a material without stock rows");
}

#[tokio::test]
async fn a_price_list_is_read_one_record_per_entry() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    let prices = json!({"form": "BD_SAL_PriceList", "id": "FEntity_FEntryId",
        "fields": ["FNumber", "FMaterialId.FNumber", "FPrice"],
        "filter": "FNumber = 'XSJMB0001' AND FForbidStatus = 'A'"});
    let (read, _) = read_all(kd.source(&conn, prices).as_ref(), None, 2).await;
    let read: Vec<(&Value, &Value)> = read
        .iter()
        .map(|r| (&r.fields["FMaterialId.FNumber"], &r.fields["FPrice"]))
        .collect();
    assert_eq!(read.len(), 5, "{read:?}");
    assert_eq!(read[0], (&json!("MAT0001"), &json!(12.5)));
    assert_eq!(read[3], (&json!("MAT0004"), &json!(96.0)));
}

#[tokio::test]
async fn deliveries_and_receivables_are_read_with_the_order_they_came_from() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    let sink = kd.sink(&conn, order_target(), &["code", "customer_code"]);
    let line = json!({"sku": "MAT0001", "quantity": 4, "unit_price": "11.30", "tax_rate": "0.13"});
    let written = sink
        .upsert(&[order("SO-9", "CUST0001", json!([line]))])
        .await
        .unwrap();
    assert!(written[0].is_ok(), "{written:?}");
    let delivery = json!({"form": "SAL_OUTSTOCK",
        "fields": ["FBillNo", "FDate", "FDocumentStatus", "FSoorDerno"]});
    let (read, _) = read_all(kd.source(&conn, delivery).as_ref(), None, 10).await;
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(read[0].fields["FSoorDerno"], json!("SO-9"));
    let number = read[0].fields["FBillNo"].as_str().unwrap().to_owned();
    assert!(number.starts_with("XSCKD"), "{number}");

    // The ERP team audits the delivery and pushes it on to a receivable (应收单).
    for operation in ["Submit", "Audit"] {
        let reply = kd.client(operation, "SAL_OUTSTOCK", json!({"Numbers": [number]}));
        assert_eq!(
            reply["Result"]["ResponseStatus"]["IsSuccess"],
            json!(true),
            "{reply}"
        );
    }
    let reply = kd.client(
        "Push",
        "SAL_OUTSTOCK",
        json!({"Numbers": [number], "TargetFormId": "AR_receivable"}),
    );
    assert_eq!(
        reply["Result"]["ResponseStatus"]["IsSuccess"],
        json!(true),
        "{reply}"
    );
    let receivables = json!({"form": "AR_receivable",
        "fields": ["FBillNo", "FALLAMOUNTFOR", "FORDERNUMBER"]});
    let (read, _) = read_all(kd.source(&conn, receivables).as_ref(), None, 10).await;
    assert_eq!(read.len(), 1, "{read:?}");
    assert_eq!(read[0].fields["FORDERNUMBER"], json!("SO-9"));
    assert_eq!(
        read[0].fields["FALLAMOUNTFOR"],
        json!(45.2),
        "4 × 11.30 含税"
    );
}

#[tokio::test]
async fn a_receipt_is_saved_with_its_entry_audited_and_read_back() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    let target = json!({
        "form": "AR_RECEIVEBILL",
        "fields": {"reference": "FBillNo", "customer_code": "FCONTACTUNIT", "paid_at": "FDATE"},
        "refs": ["FCONTACTUNIT", "FPAYUNIT", "FSETTLEORGID", "FPAYORGID"],
        "defaults": {"FSETTLEORGID": "100", "FPAYORGID": "100"},
        "lines": {"entry": "FRECEIVEBILLENTRY",
                  "fields": {"method": "FSETTLETYPEID", "amount": "FRECTOTALAMOUNTFOR"},
                  "refs": ["FSETTLETYPEID", "FPURPOSEID"]},
        "after_save": ["submit", "audit"],
    });
    let ctx = SinkContext {
        entity: Entity::PAYMENT,
        key_field: "reference".into(),
        fields: vec!["reference".into(), "customer_code".into()],
    };
    let sink = conn.sink(&obj(target), &ctx).expect("target options");
    let receipt = |reference: &str, customer: &str, amount: &str| {
        out(
            reference,
            json!({"reference": reference, "customer_code": customer, "paid_at": "2024-06-03",
                   "lines": [{"method": "JSFS04_SYS", "amount": amount, "FPURPOSEID": "SFKYT01_SYS"}]}),
        )
    };
    let results = sink
        .upsert(&[
            receipt("SKD-CRM-1", "CUST0001", "45.20"),
            receipt("SKD-CRM-2", "CUST0404", "10.00"),
        ])
        .await
        .unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    let e = results[1].as_ref().unwrap_err();
    assert!(e.message().contains("CUST0404"), "{e}");
    let saved = kd.stored("AR_RECEIVEBILL", "SKD-CRM-1").unwrap();
    assert_eq!(saved["FDocumentStatus"], json!("C"));
    assert_eq!(saved["FRECEIVEAMOUNTFOR"], json!(45.2));
    assert_eq!(
        saved["FRECEIVEBILLENTRY"][0]["FSETTLETYPEID"],
        json!({"FNumber": "JSFS04_SYS"})
    );

    let receipts = json!({"form": "AR_RECEIVEBILL",
        "fields": ["FBillNo", "FCONTACTUNIT.FNumber", "FRECEIVEAMOUNTFOR"],
        "lines": {"entry": "FRECEIVEBILLENTRY", "fields": ["FSETTLETYPEID.FNumber", "FRECTOTALAMOUNTFOR"]}});
    let (read, _) = read_all(kd.source(&conn, receipts).as_ref(), None, 10).await;
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].fields["FCONTACTUNIT.FNumber"], json!("CUST0001"));
    assert_eq!(
        read[0].fields["lines"][0]["FSETTLETYPEID.FNumber"],
        json!("JSFS04_SYS")
    );
}

#[tokio::test]
async fn a_lost_session_logs_in_again_once_and_the_read_goes_on() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    let source = kd.source(&conn, customers());
    let first = source.read(None, 2).await.unwrap();
    kd.double.sessions().expire_all();
    let (rest, _) = read_all(source.as_ref(), Some(first.cursor), 2).await;
    assert_eq!(first.records.len() + rest.len(), 6);
    assert_eq!(conn.api.login.logins.load(Ordering::Relaxed), 2);
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_with_kingdees_message_and_without_the_password() {
    let kd = Kd::start().await;
    let conn = kd.connector_with(
        json!({"by": "password", "user": "Administrator", "password": "wrong-Pa55"}),
    );
    let e = kd
        .source(&conn, customers())
        .read(None, 2)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    assert!(e.message().contains("用户名或密码错误"), "{e}");
    assert!(!e.message().contains("wrong-Pa55"), "{e}");
}

#[tokio::test]
async fn the_call_limit_and_network_control_are_waited_out() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    kd.double.faults().add(kingdee::call_limit(2));
    kd.double.faults().add(kingdee::network_control(1));
    let (read, _) = read_all(kd.source(&conn, customers()).as_ref(), None, 10).await;
    assert_eq!(read.len(), 6);
    assert_eq!(
        kd.double.faults().unfired(),
        0,
        "every fault reached the connector"
    );
}

#[tokio::test]
async fn an_unknown_field_stops_the_flow_with_kingdees_message() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    let source = kd.source(
        &conn,
        json!({"form": "BD_Customer", "fields": ["FNumber", "FNoSuchField"]}),
    );
    let e = source.read(None, 2).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fatal, "{e}");
    assert!(e.message().contains("FNoSuchField"), "{e}");
}

fn customer_target() -> Value {
    json!({"form": "BD_Customer", "fields": {"name": "FName", "credit_limit": "FCreditAmount", "currency": "FTRADINGCURRID"},
           "refs": ["FTRADINGCURRID"], "org": "100", "after_save": ["submit", "audit"], "when_audited": "unaudit"})
}

#[tokio::test]
async fn customers_are_created_audited_then_updated_in_place_by_number() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    let sink = kd.sink(
        &conn,
        customer_target(),
        &["code", "name", "credit_limit", "currency"],
    );
    let first = sink
        .upsert(&[out("C-NEW-1", json!({"code": "C-NEW-1", "name": "杭州新客户", "credit_limit": 50000, "currency": "PRE001"}))])
        .await
        .unwrap();
    let id = first[0].as_ref().expect("created").target_id.clone();
    let stored = kd.stored("BD_Customer", "C-NEW-1").unwrap();
    assert_eq!(
        stored["FDocumentStatus"],
        json!("C"),
        "submitted and audited"
    );
    assert_eq!(stored["FUseOrgId"], json!({"FNumber": "100"}));
    assert_eq!(stored["FTRADINGCURRID"], json!({"FNumber": "PRE001"}));

    // An audited customer changes: un-audited, saved, audited again; the same record.
    let second = sink
        .upsert(&[out(
            "C-NEW-1",
            json!({"code": "C-NEW-1", "name": "杭州新客户有限公司", "credit_limit": 80000}),
        )])
        .await
        .unwrap();
    assert_eq!(second[0].as_ref().unwrap().target_id, id);
    let stored = kd.stored("BD_Customer", "C-NEW-1").unwrap();
    assert_eq!(stored["FName"], json!("杭州新客户有限公司"));
    assert_eq!(stored["FCreditAmount"], json!(80000.0));
    assert_eq!(stored["FDocumentStatus"], json!("C"));
    let count = kd
        .double
        .store()
        .list("BD_Customer", None, None)
        .unwrap()
        .iter()
        .filter(|r| r.fields["FNumber"] == json!("C-NEW-1"))
        .count();
    assert_eq!(count, 1);

    // Read back by number for reconciliation.
    let page = sink.scan(None, 100).await.unwrap();
    let held = page
        .records
        .iter()
        .find(|r| r.key.as_deref() == Some("C-NEW-1"))
        .unwrap();
    assert_eq!(held.fields["name"], json!("杭州新客户有限公司"));
    assert_eq!(held.fields["currency"], json!("PRE001"));
}

#[tokio::test]
async fn audited_records_sent_again_unchanged_are_left_alone_after_one_query() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    let sink = kd.sink(
        &conn,
        customer_target(),
        &["code", "name", "credit_limit", "currency"],
    );
    let customer = |n: usize, credit: i64| {
        let code = format!("C-BULK-{n:03}");
        out(
            &code,
            json!({"code": code, "name": format!("批量客户{n}"), "credit_limit": credit, "currency": "PRE001"}),
        )
    };
    let batch: Vec<Outgoing> = (0..30).map(|n| customer(n, 10_000)).collect();
    let first = sink.upsert(&batch).await.unwrap();
    assert!(first.iter().all(Result::is_ok), "{first:?}");

    // The whole batch again (a replay, a first sync over what the ERP holds), one changed.
    let mut again = batch.clone();
    again[7] = customer(7, 20_000);
    kd.double.requests().clear();
    let second = sink.upsert(&again).await.unwrap();
    assert!(second.iter().all(Result::is_ok), "{second:?}");
    let calls = |operation: &str| {
        kd.double
            .requests()
            .matching(
                "POST",
                &format!("/k3cloud/*DynamicFormService.{operation}.common.kdsvc"),
            )
            .len()
    };
    assert_eq!(
        calls("UnAudit"),
        1,
        "only the changed customer is un-audited"
    );
    assert_eq!(calls("BatchSave"), 1);
    // The lookup by number and the comparison of all 30: never one query per record.
    assert_eq!(calls("ExecuteBillQuery"), 2);
    let changed = kd.stored("BD_Customer", "C-BULK-007").unwrap();
    assert_eq!(changed["FCreditAmount"], json!(20000.0));
    assert_eq!(changed["FDocumentStatus"], json!("C"));
}

#[tokio::test]
async fn an_audited_customer_is_refused_unless_the_target_allows_unaudit() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    let mut options = customer_target();
    options["when_audited"] = json!("refuse");
    let sink = kd.sink(&conn, options, &["code", "name"]);
    let results = sink
        .upsert(&[out("CUST0001", json!({"code": "CUST0001", "name": "改名"}))])
        .await
        .unwrap();
    let e = results[0].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(
        e.message().contains("CUST0001") && e.message().contains("已审核"),
        "{e}"
    );
    assert_ne!(
        kd.stored("BD_Customer", "CUST0001").unwrap()["FName"],
        json!("改名")
    );
}

fn order_target() -> Value {
    json!({
        "form": "SAL_SaleOrder",
        "fields": {"customer_code": "FCustId", "note": "FNote"},
        "refs": ["FCustId", "FSaleOrgId"],
        "defaults": {"FSaleOrgId": "100"},
        "lines": {"entry": "FSaleOrderEntry", "fields": {"sku": "FMaterialId", "quantity": "FQty", "unit_price": "FTaxPrice", "tax_rate": "FEntryTaxRate"}, "refs": ["FMaterialId"], "percent": ["FEntryTaxRate"]},
        "after_save": ["submit", "audit"],
        "when_audited": "unaudit",
        "push_to": ["SAL_OUTSTOCK"],
    })
}

fn order(number: &str, customer: &str, lines: Value) -> Outgoing {
    out(
        number,
        json!({"code": number, "customer_code": customer, "note": "CRM 订单", "lines": lines}),
    )
}

#[tokio::test]
async fn a_refused_order_carries_kingdees_message_while_the_rest_are_saved_audited_and_pushed() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    let sink = kd.sink(&conn, order_target(), &["code", "customer_code"]);
    let line = |sku: &str, qty: i64| json!({"sku": sku, "quantity": qty, "unit_price": "11.30", "tax_rate": "0.13"});
    let batch = [
        order(
            "SO-1",
            "CUST0001",
            json!([line("MAT0001", 2), line("MAT0002", 1)]),
        ),
        order("SO-2", "C999", json!([line("MAT0001", 1)])),
        order("SO-3", "CUST0002", json!([line("MAT0003", 5)])),
    ];
    let results = sink.upsert(&batch).await.unwrap();
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let e = results[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(
        e.message().contains("SO-2") && e.message().contains("C999"),
        "{e}"
    );
    assert!(kd.stored("SAL_SaleOrder", "SO-2").is_none());

    let so1 = kd.stored("SAL_SaleOrder", "SO-1").unwrap();
    assert_eq!(so1["FDocumentStatus"], json!("C"));
    assert_eq!(so1["FSaleOrderEntry"].as_array().unwrap().len(), 2);
    assert_eq!(
        so1["FSaleOrderEntry"][0]["FEntryTaxRate"],
        json!(13.0),
        "the fraction as percent"
    );
    let pushed: Vec<Map<String, Value>> = kd
        .double
        .store()
        .list("SAL_OUTSTOCK", None, None)
        .unwrap()
        .into_iter()
        .map(|r| r.fields)
        .filter(|f| {
            f["FEntity"][0]["FSrcBillNo"] == json!("SO-1")
                || f["FEntity"][0]["FSoorDerno"] == json!("SO-1")
        })
        .collect();
    assert_eq!(pushed.len(), 1, "one outbound delivery pushed from SO-1");

    // SO-1 changes after the push: Kingdee refuses to un-audit it, and says why.
    let again = sink
        .upsert(&[order("SO-1", "CUST0001", json!([line("MAT0001", 3)]))])
        .await
        .unwrap();
    let e = again[0].as_ref().unwrap_err();
    assert!(e.message().contains("下游"), "{e}");
    assert_eq!(
        kd.stored("SAL_SaleOrder", "SO-1").unwrap()["FSaleOrderEntry"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The same batch again: nothing new, SO-3 updated in place, no second delivery.
    let results = sink.upsert(&batch[2..]).await.unwrap();
    assert!(results[0].is_ok(), "{results:?}");
    assert_eq!(
        kd.double
            .store()
            .list("SAL_SaleOrder", None, None)
            .unwrap()
            .iter()
            .filter(|r| r.fields["FBillNo"] == json!("SO-3"))
            .count(),
        1
    );
    assert_eq!(
        kd.double
            .store()
            .list("SAL_OUTSTOCK", None, None)
            .unwrap()
            .len(),
        2,
        "SO-1 and SO-3, once each"
    );
}

#[tokio::test]
async fn a_deleted_draft_is_gone_and_deleting_it_again_is_no_error() {
    let kd = Kd::start().await;
    let conn = kd.connector();
    let mut options = customer_target();
    options["after_save"] = json!([]);
    let sink = kd.sink(&conn, options, &["code", "name"]);
    sink.upsert(&[out("C-DEL", json!({"code": "C-DEL", "name": "待删除"}))])
        .await
        .unwrap()[0]
        .as_ref()
        .unwrap();
    let removal = Removal {
        key: "C-DEL".into(),
        target_id: None,
    };
    for _ in 0..2 {
        let done = sink.delete(std::slice::from_ref(&removal)).await.unwrap();
        done[0].as_ref().unwrap();
    }
    assert!(kd.stored("BD_Customer", "C-DEL").is_none());
}

#[test]
fn settings_are_checked_at_their_keys() {
    let ctx = BuildContext {
        system: "erp".into(),
        base_dir: std::env::temp_dir(),
    };
    let issues = KingdeeConnector::from_settings(
        &ctx,
        &obj(
            json!({"url": "http://127.0.0.1:1/k3cloud/", "acct_id": "", "time_zone": "Shanghai",
                    "login": {"by": "app_secret", "user": "u", "app_id": "a", "app_secret": ""}}),
        ),
    )
    .unwrap_err();
    let at: Vec<String> = issues.iter().map(|i| i.dotted()).collect();
    assert_eq!(
        at,
        ["acct_id", "login.app_secret", "time_zone"],
        "{issues:?}"
    );
    assert!(!format!("{issues:?}").contains("kd-app"));
    let conn = KingdeeConnector::from_settings(
        &ctx,
        &obj(json!({"url": "http://127.0.0.1:1/k3cloud/", "acct_id": "a",
                    "login": {"by": "password", "user": "u", "password": "p"}})),
    )
    .unwrap();
    let sink_ctx = SinkContext {
        entity: Entity::SALES_ORDER,
        key_field: "code".into(),
        fields: vec![],
    };
    let target_issues = |options: Value| -> Vec<String> {
        let issues = conn.sink(&obj(options), &sink_ctx).err().unwrap();
        issues.iter().map(|i| i.dotted()).collect()
    };
    assert_eq!(
        target_issues(json!({"form": "SAL_SaleOrder", "after_save": ["audit"]})),
        ["after_save"],
        "audited before submitted"
    );
    assert_eq!(
        target_issues(
            json!({"form": "SAL_SaleOrder", "push_to": ["SAL_OUTSTOCK"], "after_save": ["submit"]})
        ),
        ["push_to"],
        "pushed without being audited"
    );
    assert_eq!(
        target_issues(json!({"form": "SAL_SaleOrder", "allocate_to": [100501]})),
        ["allocate_to"],
        "a bill is not allocated"
    );
    let issues = conn
        .source(&obj(json!({"form": "X_Custom", "fields": ["F Name"]})))
        .err()
        .unwrap();
    let at: Vec<String> = issues.iter().map(|i| i.dotted()).collect();
    assert_eq!(at, ["id", "fields.0"], "{issues:?}");
}
