//! The Kingdee double over HTTP, as a connector sees it: logins and sessions, queries,
//! saves, the document life cycle, both body conventions and errors inside HTTP 200.

mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_doubles::kingdee::{self, KingdeeConfig, KingdeeDouble, auth_service, form_service};
use ferry_doubles::{Fault, FaultAction, RunningDouble};
use serde_json::{Value, json};
use support::client;

/// A double and a client holding a session once logged in.
struct Kd {
    http: reqwest::Client,
    double: RunningDouble,
    session: Option<String>,
}

impl Kd {
    async fn start(config: KingdeeConfig) -> Self {
        let double = ferry_doubles::start(KingdeeDouble::new(config), 0)
            .await
            .expect("the double starts");
        Self {
            http: client(),
            double,
            session: None,
        }
    }

    async fn logged_in() -> Self {
        let mut kd = Self::start(KingdeeConfig::default()).await;
        let body = json!({"acctid": "ferry-test-acct", "username": "Administrator",
                          "password": "kd-Pa55word", "lcid": 2052});
        let (login, _) = kd
            .post_raw(&auth_service("ValidateUser"), &body, None)
            .await;
        kd.session = login["KDSVCSessionId"].as_str().map(str::to_owned);
        kd
    }

    /// POSTs `body` with the session as a header when given; the body and `Set-Cookie`s.
    async fn post_raw(
        &self,
        path: &str,
        body: &Value,
        session: Option<&str>,
    ) -> (Value, Vec<String>) {
        let mut request = self.http.post(self.double.url(path)).json(body);
        if let Some(id) = session {
            request = request.header("kdservice-sessionid", id);
        }
        let response = request.send().await.expect("the double answers");
        assert_eq!(
            response.status(),
            200,
            "Kingdee answers 200 even for errors"
        );
        let cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        (response.json().await.expect("a JSON body"), cookies)
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.post_raw(path, &body, self.session.as_deref()).await.0
    }

    /// A named-convention call of a form service.
    async fn form(&self, operation: &str, form_id: &str, data: Value) -> Value {
        self.post(
            &form_service(operation),
            json!({"formid": form_id, "data": data}),
        )
        .await
    }

    async fn query(&self, data: Value) -> Value {
        self.post(&form_service("ExecuteBillQuery"), json!({"data": data}))
            .await
    }
}

fn status(answer: &Value) -> &Value {
    &answer["Result"]["ResponseStatus"]
}

fn first_error(answer: &Value) -> (&Value, &str) {
    let status = status(answer);
    (
        &status["MsgCode"],
        status["Errors"][0]["Message"].as_str().unwrap_or(""),
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const CUSTOMER_KEYS: &str = "FCUSTID,FNumber,FName";

#[tokio::test]
async fn each_login_gives_a_session_carried_by_cookie_or_header() {
    let kd = Kd::start(KingdeeConfig::default()).await;
    let user = json!({"acctid": "ferry-test-acct", "username": "Administrator",
                      "password": "kd-Pa55word", "lcid": 2052});
    let (login, cookies) = kd
        .post_raw(&auth_service("ValidateUser"), &user, None)
        .await;
    assert_eq!(login["LoginResultType"], 1);
    assert_eq!(login["IsSuccessByAPI"], true);
    assert_eq!(login["Context"]["DBid"], "ferry-test-acct");
    let session = login["KDSVCSessionId"].as_str().unwrap().to_owned();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with(&format!("kdservice-sessionid={session};")))
    );
    assert!(cookies.iter().any(|c| c.starts_with("ASP.NET_SessionId=")));

    let wrong = json!({"acctid": "ferry-test-acct", "username": "Administrator", "password": "x", "lcid": 2052});
    let (refused, cookies) = kd
        .post_raw(&auth_service("ValidateUser"), &wrong, None)
        .await;
    assert_eq!(refused["LoginResultType"], 0);
    assert_eq!(refused["Message"], "用户名或密码错误！");
    assert_eq!(refused["KDSVCSessionId"], Value::Null);
    assert!(cookies.is_empty());

    let app = json!({"parameters": ["ferry-test-acct", "Administrator",
        "ferry_app_0123456789abcdef0123456789abcdef", "kd-app-s3cret", 2052]});
    let (by_secret, _) = kd
        .post_raw(&auth_service("LoginByAppSecret"), &app, None)
        .await;
    assert_eq!(by_secret["LoginResultType"], 1);

    let signed = |timestamp: u64, secret: &str| {
        let ts = timestamp.to_string();
        let app_id = "ferry_app_0123456789abcdef0123456789abcdef";
        let sign = kingdee::login_sign(&["ferry-test-acct", "Administrator", app_id, secret, &ts]);
        json!({"parameters": ["ferry-test-acct", "Administrator", app_id, timestamp, sign, 2052]})
    };
    let path = auth_service("LoginBySign");
    let (by_sign, _) = kd
        .post_raw(&path, &signed(now_secs(), "kd-app-s3cret"), None)
        .await;
    assert_eq!(by_sign["LoginResultType"], 1);
    let (stale, _) = kd
        .post_raw(&path, &signed(now_secs() - 301, "kd-app-s3cret"), None)
        .await;
    assert_eq!(stale["LoginResultType"], -1);
    let (forged, _) = kd.post_raw(&path, &signed(now_secs(), "guess"), None).await;
    assert_eq!(forged["Message"], "签名验证失败");

    let query = json!({"data": {"FormId": "BD_Customer", "FieldKeys": CUSTOMER_KEYS}});
    let url = kd.double.url(&form_service("ExecuteBillQuery"));
    let by_cookie: Value = kd
        .http
        .post(&url)
        .json(&query)
        .header(
            "cookie",
            format!("kdservice-sessionid={session}; ASP.NET_SessionId=x"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_cookie.as_array().unwrap().len(), 6);
    let (by_header, _) = kd
        .post_raw(&form_service("ExecuteBillQuery"), &query, Some(&session))
        .await;
    assert_eq!(by_header, by_cookie);
    let (without, _) = kd
        .post_raw(&form_service("ExecuteBillQuery"), &query, None)
        .await;
    assert_eq!(without[0][0]["Result"]["ResponseStatus"]["MsgCode"], 1);
}

#[tokio::test]
async fn signature_headers_stand_in_for_a_session() {
    use base64::Engine;
    let kd = Kd::start(KingdeeConfig::default()).await;
    let app_data =
        base64::engine::general_purpose::STANDARD.encode("ferry-test-acct,Administrator,2052,100");
    let query = json!({"data": {"FormId": "BD_MATERIAL", "FieldKeys": "FNumber"}});
    let mut request = kd
        .http
        .post(kd.double.url(&form_service("ExecuteBillQuery")))
        .json(&query);
    for (name, value) in [
        ("X-Api-Auth-Version", "2.0"),
        ("X-Api-ClientID", "ferry"),
        ("x-api-timestamp", "1700000000"),
        ("x-api-nonce", "1700000000"),
        ("x-api-signheaders", "x-api-timestamp,x-api-nonce"),
        ("X-Api-Signature", "c2ln"),
        ("X-Kd-Appkey", "ferry_app_0123456789abcdef0123456789abcdef"),
        ("X-Kd-Appdata", &app_data),
        ("X-Kd-Signature", "c2ln"),
    ] {
        request = request.header(name, value);
    }
    let rows: Value = request.send().await.unwrap().json().await.unwrap();
    assert_eq!(
        rows,
        json!([
            ["MAT0001"],
            ["MAT0002"],
            ["MAT0003"],
            ["MAT0004"],
            ["MAT0005"]
        ])
    );
}

#[tokio::test]
async fn a_session_is_lost_when_expired_or_idle() {
    let lost = json!({"Result": {"ResponseStatus": {"ErrorCode": 500, "IsSuccess": false,
        "Errors": [{"FieldName": null, "Message": "会话信息已丢失，请重新登录", "DIndex": 0}], "MsgCode": 1}}});
    let kd = Kd::logged_in().await;
    kd.double
        .faults()
        .add(Fault::new(FaultAction::ExpireSessions).times(1));
    let saved = kd
        .form("Save", "BD_Customer", json!({"Model": {"FName": "x"}}))
        .await;
    assert_eq!(saved, lost);
    let rows = kd
        .query(json!({"FormId": "BD_Customer", "FieldKeys": "FNumber"}))
        .await;
    assert_eq!(rows, json!([[lost]]));

    let mut kd = Kd::start(KingdeeConfig {
        session_idle: Duration::from_millis(400),
        ..KingdeeConfig::default()
    })
    .await;
    let user = json!({"parameters": ["ferry-test-acct", "Administrator", "kd-Pa55word", 2052]});
    let (login, _) = kd
        .post_raw(&auth_service("ValidateUser"), &user, None)
        .await;
    kd.session = login["KDSVCSessionId"].as_str().map(str::to_owned);
    let query = json!({"FormId": "BD_MATERIAL", "FieldKeys": "FNumber", "Limit": 1});
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert_eq!(
            kd.query(query.clone()).await,
            json!([["MAT0001"]]),
            "each call renews"
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        kd.query(query).await[0][0]["Result"]["ResponseStatus"]["MsgCode"],
        1
    );
}

#[tokio::test]
async fn queries_filter_order_page_and_expand_entry_lines() {
    let kd = Kd::logged_in().await;
    let rows = kd.query(json!({"FormId": "BD_Customer", "FieldKeys": "FCUSTID,FNumber,FName,FCreditAmount",
        "FilterString": "(FName like '%有限公司' OR FShortName = 'acme') AND FForbidStatus = 'A' AND FNumber <> 'CUST0002'",
        "OrderString": "FCreditAmount DESC"})).await;
    assert_eq!(
        rows,
        json!([
            [6, "CUST0006", "杭州西湖茶业有限公司", 600000.0],
            [4, "CUST0004", "广州南方食品有限公司", 400000.0],
            [3, "CUST0003", "深圳华强电子有限公司", 300000.0],
            [1, "CUST0001", "上海宏达贸易有限公司", 100000.0],
        ])
    );
    let page = |start: u64| {
        json!({"FormId": "BD_Customer", "FieldKeys": "FNumber",
        "FilterString": "FNumber in ('CUST0001','CUST0003','CUST0005')", "OrderString": "FCUSTID ASC",
        "StartRow": start, "Limit": 2})
    };
    assert_eq!(kd.query(page(0)).await, json!([["CUST0001"], ["CUST0003"]]));
    assert_eq!(kd.query(page(2)).await, json!([["CUST0005"]]));
    let top = json!({"FormId": "BD_Customer", "FieldKeys": "FNumber", "TopRowCount": 1});
    assert_eq!(kd.query(top).await, json!([["CUST0001"]]));

    let lines = kd.query(json!({"FormId": "SAL_SaleOrder",
        "FieldKeys": "FID,FBillNo,FSaleOrderEntry_FEntryId,FMaterialId.FNumber,FQty,FAllAmount,FDate,FCustId.FName",
        "FilterString": "FBillNo = 'XSDD000002'", "OrderString": "FSaleOrderEntry_FSeq DESC"})).await;
    assert_eq!(
        lines,
        json!([
            [
                2,
                "XSDD000002",
                5,
                "MAT0005",
                30.0,
                610.2,
                "2024-05-03T00:00:00.000",
                "北京星辰科技有限公司"
            ],
            [
                2,
                "XSDD000002",
                4,
                "MAT0004",
                20.0,
                2169.6,
                "2024-05-03T00:00:00.000",
                "北京星辰科技有限公司"
            ],
            [
                2,
                "XSDD000002",
                3,
                "MAT0003",
                10.0,
                99.44,
                "2024-05-03T00:00:00.000",
                "北京星辰科技有限公司"
            ],
        ])
    );
    let objects = kd.post(&form_service("BillQuery"), json!({"data": {"FormId": "SAL_SaleOrder",
        "FieldKeys": "FBillNo,FDocumentStatus,FBillAllAmount", "FilterString": "FMaterialId.FNumber = 'MAT0005'"}})).await;
    assert_eq!(
        objects,
        json!([
            {"FBillNo": "XSDD000002", "FDocumentStatus": "B", "FBillAllAmount": 2879.24},
            {"FBillNo": "XSDD000004", "FDocumentStatus": "C", "FBillAllAmount": 485.9},
        ])
    );

    let blank = kd.query(json!({"FormId": "BD_MATERIAL", "FieldKeys": "FNumber,FBaseUnitId.FNumber,FBaseUnitId,FModifyDate",
        "FilterString": "FNumber >= 'MAT0004'"})).await;
    assert_eq!(
        blank,
        json!([
            ["MAT0004", "L", 10088, "2024-05-01T10:00:01.000"],
            ["MAT0005", " ", 0, "2024-05-01T10:00:02.000"]
        ])
    );
}

#[tokio::test]
async fn modified_dates_are_server_set_local_and_filterable() {
    let kd = Kd::logged_in().await;
    kd.double
        .clock()
        .freeze_at("2024-06-01T02:03:04Z".parse().unwrap());
    let saved = kd
        .form(
            "Save",
            "BD_Customer",
            json!({"Model": {"FCUSTID": 6, "FTEL": "0571-1"}}),
        )
        .await;
    assert_eq!(status(&saved)["IsSuccess"], true);
    let rows = kd
        .query(
            json!({"FormId": "BD_Customer", "FieldKeys": "FNumber,FModifyDate",
        "FilterString": "FModifyDate >= '2024-06-01 10:03:04'"}),
        )
        .await;
    assert_eq!(rows, json!([["CUST0006", "2024-06-01T10:03:04.000"]]));
}

#[tokio::test]
async fn query_errors_come_wrapped_with_their_msg_code() {
    let kd = Kd::logged_in().await;
    let unknown = kd
        .query(json!({"FormId": "BD_Customer", "FieldKeys": "FNumber,FNOPE"}))
        .await;
    assert_eq!(
        unknown,
        json!([[{"Result": {"ResponseStatus": {"ErrorCode": 500, "IsSuccess": false,
        "Errors": [{"FieldName": null, "Message": "元数据中标识为FNOPE的字段不存在", "DIndex": 0}], "MsgCode": 9}}}]])
    );
    let too_many = kd
        .query(json!({"FormId": "BD_Customer", "FieldKeys": "FNumber", "Limit": 10001}))
        .await;
    assert_eq!(too_many[0][0]["Result"]["ResponseStatus"]["MsgCode"], 8);
    let broken = kd
        .query(
            json!({"FormId": "BD_Customer", "FieldKeys": "FNumber", "FilterString": "FName = 'x"}),
        )
        .await;
    assert_eq!(broken[0][0]["Result"]["ResponseStatus"]["MsgCode"], 8);
}

#[tokio::test]
async fn save_creates_updates_and_refuses_duplicates_and_missing_fields() {
    let kd = Kd::logged_in().await;
    let created = kd.form("Save", "BD_Customer", json!({"NeedReturnFields": ["FNumber", "FDocumentStatus"],
        "Model": {"FCUSTID": 0, "FName": "成都天府物流有限公司", "FTEL": "028-1", "FCreateOrgId": {"FNumber": "100"}}})).await;
    assert_eq!(
        created,
        json!({"Result": {"ResponseStatus": {"IsSuccess": true, "Errors": [],
        "SuccessEntitys": [{"Id": 7, "Number": "CUST0007", "DIndex": 0}], "SuccessMessages": [], "MsgCode": 0},
        "Id": 7, "Number": "CUST0007", "NeedReturnData": [{"FNumber": "CUST0007", "FDocumentStatus": "A"}]}})
    );

    let update = kd
        .form(
            "Save",
            "BD_Customer",
            json!({"NeedUpDateFields": ["FName"],
        "Model": {"FCUSTID": 7, "FName": "成都天府物流", "FTEL": "ignored"}}),
        )
        .await;
    assert_eq!(status(&update)["IsSuccess"], true);
    let record = kd.double.store().get("BD_Customer", 7).unwrap();
    assert_eq!(
        (
            record.fields["FName"].as_str(),
            record.fields["FTEL"].as_str()
        ),
        (Some("成都天府物流"), Some("028-1"))
    );

    let duplicate = kd
        .form(
            "Save",
            "BD_Customer",
            json!({"Model": {"FNumber": "CUST0001", "FName": "x"}}),
        )
        .await;
    assert_eq!(
        first_error(&duplicate),
        (
            &json!(11),
            "违反字段唯一性要求：编码唯一。[CUST0001]在当前系统中已经被使用。"
        )
    );
    assert_eq!(duplicate["Result"]["Id"], "");
    let missing = kd
        .form("Save", "BD_Customer", json!({"Model": {"FShortName": "x"}}))
        .await;
    assert_eq!(
        status(&missing)["Errors"][0],
        json!({"FieldName": "FName", "Message": "字段[客户名称]是必录字段", "DIndex": 0})
    );

    let order = |customer: &str, qty: Value| {
        json!({"Model": {"FSaleOrgId": {"FNumber": "100"},
        "FCustId": {"FNumber": customer}, "FDate": "2024-06-01",
        "FSaleOrderFinance": {"FIsIncludedTax": true},
        "FSaleOrderEntry": [{"FMaterialId": {"FNumber": "MAT0001"}, "FQty": qty, "FTaxPrice": 11.3, "FEntryTaxRate": 13}]}})
    };
    let unknown = kd
        .form("Save", "SAL_SaleOrder", order("C999", json!(1)))
        .await;
    assert_eq!(
        status(&unknown)["Errors"][0],
        json!({"FieldName": "FCustId", "Message": "字段[客户]的值[C999]不存在", "DIndex": 0})
    );
    assert_eq!(status(&unknown)["MsgCode"], 9);
    let no_qty = kd
        .form("Save", "SAL_SaleOrder", order("CUST0001", Value::Null))
        .await;
    assert_eq!(
        status(&no_qty)["Errors"][0]["Message"],
        "第1行字段[销售数量]是必录字段"
    );
    let saved = kd
        .form("Save", "SAL_SaleOrder", order("CUST0001", json!(4)))
        .await;
    assert_eq!(saved["Result"]["Number"], "XSDD000005");
    let id = saved["Result"]["Id"].clone();

    // Entry lines by FEntryID: the first changes, a new one is added, IsDeleteEntry=false keeps the rest.
    let entry_id = kd
        .query(
            json!({"FormId": "SAL_SaleOrder", "FieldKeys": "FSaleOrderEntry_FEntryId",
        "FilterString": format!("FID = {id}")}),
        )
        .await[0][0]
        .clone();
    let lines = json!({"IsDeleteEntry": "false", "NeedUpDateFields": ["FSaleOrderEntry", "FQty", "FMaterialId"],
        "Model": {"FID": id, "FSaleOrderEntry": [{"FEntryID": entry_id, "FQty": 5},
            {"FMaterialId": {"FNumber": "MAT0002"}, "FQty": 1, "FPrice": 35}]}});
    assert_eq!(
        status(&kd.form("Save", "SAL_SaleOrder", lines).await)["IsSuccess"],
        true
    );
    let rows = kd.query(json!({"FormId": "SAL_SaleOrder", "FieldKeys": "FMaterialId.FNumber,FQty,FAllAmount,FBillAllAmount",
        "FilterString": format!("FID = {id}")})).await;
    assert_eq!(
        rows,
        json!([["MAT0001", 5.0, 56.5, 91.5], ["MAT0002", 1.0, 35.0, 91.5]])
    );
    let replace =
        json!({"Model": {"FID": id, "FSaleOrderEntry": [{"FEntryID": entry_id, "FQty": 2}]}});
    assert_eq!(
        status(&kd.form("Save", "SAL_SaleOrder", replace).await)["IsSuccess"],
        true
    );
    let rows = kd
        .query(
            json!({"FormId": "SAL_SaleOrder", "FieldKeys": "FSaleOrderEntry_FEntryId,FQty",
        "FilterString": format!("FID = {id}")}),
        )
        .await;
    assert_eq!(
        rows,
        json!([[entry_id, 2.0]]),
        "IsDeleteEntry defaults to true"
    );
}

#[tokio::test]
async fn batch_save_answers_each_model_by_its_index() {
    let kd = Kd::logged_in().await;
    let batch = kd
        .form(
            "BatchSave",
            "BD_MATERIAL",
            json!({"Model": [
                {"FName": "六角螺母", "SubHeadEntity": {"FBaseUnitId": {"FNumber": "Pcs"}}},
                {"FNumber": "MAT0001", "FName": "重复"},
                {"FNumber": "M-NEW", "FName": "平垫圈", "FBaseUnitId": {"FNumber": "kg"}},
            ]}),
        )
        .await;
    let status = status(&batch);
    assert_eq!(status["IsSuccess"], false);
    assert_eq!(status["MsgCode"], 11);
    assert_eq!(
        status["SuccessEntitys"],
        json!([{"Id": 6, "Number": "MAT0006", "DIndex": 0}, {"Id": 7, "Number": "M-NEW", "DIndex": 2}])
    );
    assert_eq!(status["Errors"][0]["DIndex"], 1);
    let units = kd.query(json!({"FormId": "BD_MATERIAL", "FieldKeys": "FBaseUnitId.FName", "FilterString": "FMATERIALID >= 6"})).await;
    assert_eq!(units, json!([["Pcs"], ["千克"]]));
}

#[tokio::test]
async fn orders_go_through_submit_audit_push_and_back() {
    let kd = Kd::logged_in().await;
    let numbers = |n: &str| json!({"Numbers": [n]});
    let ok = |answer: &Value| status(answer)["IsSuccess"] == true;
    let order = kd.form("Save", "SAL_SaleOrder", json!({"Model": {"FSaleOrgId": {"FNumber": "100"},
        "FCustId": {"FNumber": "CUST0003"},
        "FSaleOrderEntry": [{"FMaterialId": {"FNumber": "MAT0003"}, "FQty": 10, "FPrice": 8, "FEntryTaxRate": 13}]}})).await;
    let bill = order["Result"]["Number"].as_str().unwrap().to_owned();
    let audit = kd.form("Audit", "SAL_SaleOrder", numbers(&bill)).await;
    assert_eq!(first_error(&audit), (&json!(11), "单据未提交，不允许审核"));
    assert!(ok(&kd
        .form("Submit", "SAL_SaleOrder", numbers(&bill))
        .await));
    assert!(ok(&kd.form("Audit", "SAL_SaleOrder", numbers(&bill)).await));
    let again = kd.form("Audit", "SAL_SaleOrder", numbers(&bill)).await;
    assert_eq!(first_error(&again), (&json!(11), "单据已经审核！"));
    let id = order["Result"]["Id"].clone();
    let edit = kd
        .form(
            "Save",
            "SAL_SaleOrder",
            json!({"Model": {"FID": id, "FNote": "x"}}),
        )
        .await;
    assert_eq!(first_error(&edit), (&json!(11), "单据已审核，不允许修改"));
    let approved = kd
        .query(
            json!({"FormId": "SAL_SaleOrder", "FieldKeys": "FDocumentStatus,FApproveDate",
        "FilterString": format!("FBillNo = '{bill}' AND FApproveDate IS NOT NULL")}),
        )
        .await;
    assert_eq!(approved[0][0], "C");

    let pushed = kd
        .form(
            "Push",
            "SAL_SaleOrder",
            json!({"Numbers": [bill], "TargetFormId": "SAL_OUTSTOCK"}),
        )
        .await;
    assert_eq!(
        status(&pushed)["SuccessEntitys"][0]["Number"],
        "XSCKD000001"
    );
    let outstock = kd.query(json!({"FormId": "SAL_OUTSTOCK",
        "FieldKeys": "FBillNo,FCustomerID.FNumber,FMaterialID.FNumber,FRealQty,FSrcBillNo,FEntity_Link_FSBillId,FDocumentStatus"})).await;
    assert_eq!(
        outstock,
        json!([["XSCKD000001", "CUST0003", "MAT0003", 10.0, bill, id, "A"]])
    );
    let unaudit = kd
        .form("UnAudit", "SAL_SaleOrder", json!({"Ids": id.to_string()}))
        .await;
    assert_eq!(
        first_error(&unaudit),
        (&json!(11), "已经存在下游单据，不允许反审核")
    );
    let early = kd
        .form(
            "Push",
            "SAL_OUTSTOCK",
            json!({"Numbers": ["XSCKD000001"], "TargetFormId": "AR_receivable"}),
        )
        .await;
    assert_eq!(first_error(&early).1, "单据[XSCKD000001]未审核，不允许下推");

    for op in ["Submit", "Audit"] {
        assert!(ok(&kd
            .form(op, "SAL_OUTSTOCK", numbers("XSCKD000001"))
            .await));
    }
    let receivable = kd
        .form(
            "Push",
            "SAL_OUTSTOCK",
            json!({"Numbers": ["XSCKD000001"], "TargetFormId": "AR_receivable"}),
        )
        .await;
    assert!(ok(&receivable));
    let ar = kd
        .query(
            json!({"FormId": "AR_receivable", "FieldKeys": "FBillNo,FALLAMOUNTFOR,FORDERNUMBER"}),
        )
        .await;
    assert_eq!(ar, json!([["AR00000001", 90.4, bill]]));

    // Back down: delete the receivable, un-audit and delete the outbound, un-audit the order.
    assert!(ok(&kd
        .form("Delete", "AR_receivable", numbers("AR00000001"))
        .await));
    let audited = kd
        .form("Delete", "SAL_OUTSTOCK", numbers("XSCKD000001"))
        .await;
    assert_eq!(status(&audited)["MsgCode"], 11);
    assert!(ok(&kd
        .form("UnAudit", "SAL_OUTSTOCK", numbers("XSCKD000001"))
        .await));
    assert!(ok(&kd
        .form("Delete", "SAL_OUTSTOCK", numbers("XSCKD000001"))
        .await));
    assert!(ok(&kd
        .form("UnAudit", "SAL_SaleOrder", numbers(&bill))
        .await));
    let state = kd
        .query(
            json!({"FormId": "SAL_SaleOrder", "FieldKeys": "FDocumentStatus,FApproveDate",
        "FilterString": format!("FID = {id}")}),
        )
        .await;
    assert_eq!(state, json!([["D", null]]));
}

#[tokio::test]
async fn both_body_conventions_and_string_data_are_read_alike() {
    let kd = Kd::logged_in().await;
    let data = json!({"Model": {"FName": "重庆山城机电有限公司"}});
    let positional = json!({"parameters": ["BD_Customer", data.to_string()]});
    let saved = kd.post(&form_service("Save"), positional).await;
    assert_eq!(saved["Result"]["Number"], "CUST0007");
    let named = kd
        .post(
            &form_service("View"),
            json!({"formid": "BD_Customer", "data": json!({"Number": "CUST0007"}).to_string()}),
        )
        .await;
    let by_id = kd
        .post(
            &form_service("View"),
            json!({"parameters": ["BD_Customer", {"Id": 7}]}),
        )
        .await;
    assert_eq!(named, by_id);
    let customer = &named["Result"]["Result"];
    assert_eq!(customer["Id"], 7);
    assert_eq!(customer["Number"], "CUST0007");
    assert_eq!(customer["Name"], "重庆山城机电有限公司");
    assert_eq!(
        customer["CreateOrgId"],
        json!({"Id": 1, "Number": "100", "Name": "蓝海科技集团"})
    );
    let query = json!({"parameters": [json!({"FormId": "BD_Customer", "FieldKeys": "FNumber", "FilterString": "FCUSTID = 7"}).to_string()]});
    assert_eq!(
        kd.post(&form_service("ExecuteBillQuery"), query).await,
        json!([["CUST0007"]])
    );

    let order = kd
        .form("View", "SAL_SaleOrder", json!({"Number": "XSDD000001"}))
        .await;
    let order = &order["Result"]["Result"];
    assert_eq!(order["BillNo"], "XSDD000001");
    assert_eq!(order["CustId"]["Number"], "CUST0001");
    assert_eq!(order["SaleOrderEntry"].as_array().unwrap().len(), 2);
    assert_eq!(order["SaleOrderEntry"][0]["MaterialId"]["Name"], "工业胶带");
}

#[tokio::test]
async fn forbid_enable_and_allocate_change_base_data() {
    let kd = Kd::logged_in().await;
    let forbid = kd.post(&form_service("ExcuteOperation"),
        json!({"formid": "BD_Customer", "opNumber": "Forbid", "data": {"Numbers": ["CUST0001"]}})).await;
    assert_eq!(status(&forbid)["IsSuccess"], true);
    let forbidden = kd.query(json!({"FormId": "BD_Customer", "FieldKeys": "FNumber", "FilterString": "FForbidStatus = 'B'"})).await;
    assert_eq!(forbidden, json!([["CUST0001"], ["CUST0005"]]));
    let enable = json!({"parameters": ["BD_Customer", "Enable", {"Numbers": ["CUST0005"]}]});
    assert_eq!(
        status(&kd.post(&form_service("ExcuteOperation"), enable).await)["IsSuccess"],
        true
    );
    let allocate = kd
        .form(
            "Allocate",
            "BD_MATERIAL",
            json!({"PkIds": "1,2", "TOrgIds": "100501"}),
        )
        .await;
    assert_eq!(
        status(&allocate)["SuccessEntitys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let record = kd.double.store().get("BD_MATERIAL", 2).unwrap();
    assert_eq!(record.fields[kingdee::ALLOCATED_ORGS], json!([100501]));
    let unknown = kd
        .form(
            "Allocate",
            "BD_MATERIAL",
            json!({"PkIds": "1", "TOrgIds": "42"}),
        )
        .await;
    assert_eq!(first_error(&unknown).1, "组织内码[42]不存在");
}

#[tokio::test]
async fn call_limit_and_network_control_come_in_kingdee_shape() {
    let kd = Kd::logged_in().await;
    kd.double.faults().add(kingdee::call_limit(1));
    let query = json!({"FormId": "BD_MATERIAL", "FieldKeys": "FNumber", "Limit": 1});
    let limited = kd.query(query.clone()).await;
    assert_eq!(limited[0][0]["Result"]["ResponseStatus"]["MsgCode"], 14);
    assert_eq!(
        limited[0][0]["Result"]["ResponseStatus"]["IsSuccess"],
        false
    );
    assert_eq!(kd.query(query).await, json!([["MAT0001"]]));
    kd.double.faults().add(kingdee::network_control(1));
    let locked = kd
        .form("Save", "BD_Customer", json!({"Model": {"FName": "x"}}))
        .await;
    assert_eq!(status(&locked)["MsgCode"], 13);
    assert_eq!(status(&locked)["Errors"][0]["DIndex"], 0);
}

#[tokio::test]
async fn drafts_auto_audit_and_repeated_packages() {
    let kd = Kd::logged_in().await;
    let customer = |name: &str| json!({"Model": {"FName": name}});
    let draft = kd
        .form(
            "Draft",
            "BD_Customer",
            json!({"Model": {"FShortName": "无名"}}),
        )
        .await;
    assert_eq!(
        status(&draft)["IsSuccess"],
        true,
        "a draft skips required fields"
    );
    let mut audited = customer("西安古城文旅有限公司");
    audited["IsAutoSubmitAndAudit"] = json!("true");
    let saved = kd.form("Save", "BD_Customer", audited).await;
    let id = saved["Result"]["Id"].clone();
    let rows = kd
        .query(
            json!({"FormId": "BD_Customer", "FieldKeys": "FNumber,FDocumentStatus",
        "FilterString": "FCUSTID >= 7", "OrderString": "FCUSTID"}),
        )
        .await;
    assert_eq!(rows, json!([["CUST0007", "Z"], ["CUST0008", "C"]]));
    assert_eq!(id, 8);
    let mut once = customer("南京金陵有限公司");
    once["ValidateRepeatJson"] = json!(true);
    assert_eq!(
        status(&kd.form("Save", "BD_Customer", once.clone()).await)["IsSuccess"],
        true
    );
    let repeated = kd.form("Save", "BD_Customer", once).await;
    assert_eq!(status(&repeated)["MsgCode"], 11);
}

#[tokio::test]
async fn records_written_through_the_store_are_served_like_saved_ones() {
    let kd = Kd::logged_in().await;
    kd.double
        .clock()
        .freeze_at("2024-07-01T00:00:00Z".parse().unwrap());
    let fields = json!({"FNumber": "CUST9001", "FName": "测试客户", "FDocumentStatus": "C",
        "FForbidStatus": "A", "FUseOrgId": {"FNumber": "101"}});
    let record = kd
        .double
        .store()
        .insert("BD_Customer", fields.as_object().unwrap().clone())
        .unwrap();
    let rows = kd
        .query(
            json!({"FormId": "BD_Customer", "FieldKeys": "FCUSTID,FUseOrgId.FName,FModifyDate",
        "FilterString": "FModifyDate >= '2024-07-01'"}),
        )
        .await;
    assert_eq!(
        rows,
        json!([[record.id, "蓝海科技上海有限公司", "2024-07-01T08:00:00.000"]])
    );

    let stock = kd.query(json!({"FormId": "STK_Inventory", "FieldKeys": "FMaterialId.FNumber,FStockId.FNumber,FBaseQty",
        "FilterString": "FMaterialId.FNumber = 'MAT0002'", "OrderString": "FStockId.FNumber DESC"})).await;
    assert_eq!(
        stock,
        json!([["MAT0002", "CK002", 20.5], ["MAT0002", "CK001", 200.0]])
    );
    let prices = kd
        .query(
            json!({"FormId": "BD_SAL_PriceList", "FieldKeys": "FNumber,FMaterialId.FName,FPrice",
        "FilterString": "FPrice > 50"}),
        )
        .await;
    assert_eq!(prices, json!([["XSJMB0001", "液压油", 96.0]]));
    let saved = kd
        .form(
            "Save",
            "BD_Customer",
            json!({"Model": {"FName": "外部客户", "F_FERRY_ExtId": "crm-42"}}),
        )
        .await;
    let by_ext = kd
        .query(
            json!({"FormId": "BD_Customer", "FieldKeys": "FCUSTID,F_FERRY_ExtId",
        "FilterString": "F_FERRY_ExtId = 'crm-42'"}),
        )
        .await;
    assert_eq!(by_ext, json!([[saved["Result"]["Id"], "crm-42"]]));
    let refused = kd.form("Save", "STK_Inventory", json!({"Model": {}})).await;
    assert_eq!(status(&refused)["MsgCode"], 12);
}
