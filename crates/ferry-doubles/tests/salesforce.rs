//! The Salesforce double over HTTP, as a connector sees it: both OAuth grants and token
//! expiry, SOQL paging and filters (ties at a `SystemModstamp`), upsert by external id,
//! collections with per-record errors, the Bulk 2.0 job lifecycle, CDC over CometD with
//! replay and the retention gap, the daily limit header, and faults on its routes.

mod support;

use std::time::Duration;

use ferry_doubles::salesforce::{
    self, API_VERSION, CLIENT_ID, CLIENT_SECRET, SalesforceConfig, SalesforceDouble, TIED_AT,
    USERNAME,
};
use ferry_doubles::{Fault, FaultAction, RetryAfter, RunningDouble};
use serde_json::{Value, json};
use support::{client, post_form};

struct Sf {
    http: reqwest::Client,
    double: RunningDouble,
    handle: SalesforceDouble,
    token: String,
}

/// The answer of one call: status, `Sforce-Limit-Info`, JSON body (null when none).
struct Answer {
    status: u16,
    limit: Option<String>,
    body: Value,
}

impl Sf {
    async fn start(config: SalesforceConfig) -> Self {
        let handle = SalesforceDouble::new(config);
        let double = ferry_doubles::start(handle.clone(), 0)
            .await
            .expect("the double starts");
        let mut sf = Self {
            http: client(),
            double,
            handle,
            token: String::new(),
        };
        sf.token = sf.client_credentials().await["access_token"]
            .as_str()
            .expect("a token")
            .to_owned();
        sf
    }

    async fn started() -> Self {
        Self::start(SalesforceConfig {
            cometd_poll: Duration::from_millis(200),
            ..Default::default()
        })
        .await
    }

    async fn token_call(&self, pairs: &[(&str, &str)]) -> (u16, Value) {
        let url = self.double.url("/services/oauth2/token");
        let response = post_form(&self.http, &url, pairs)
            .send()
            .await
            .expect("an answer");
        (
            response.status().as_u16(),
            response.json().await.expect("JSON"),
        )
    }

    async fn client_credentials(&self) -> Value {
        let pairs = [
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ];
        let (status, body) = self.token_call(&pairs).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A call to `/services/data/v60.0<path>` with the token.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call_with(method, path, body, &[]).await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let url = self
            .double
            .url(&format!("/services/data/{API_VERSION}{path}"));
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(&self.token);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the double answers");
        let status = response.status().as_u16();
        let limit = response
            .headers()
            .get("sforce-limit-info")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            limit,
            body,
        }
    }

    async fn query(&self, soql: &str) -> Answer {
        let q = percent_encoding::utf8_percent_encode(soql, percent_encoding::NON_ALPHANUMERIC);
        self.call("GET", &format!("/query?q={q}"), None).await
    }

    /// Every record of a query, following `nextRecordsUrl`; also the page sizes.
    async fn query_all(&self, soql: &str) -> (Vec<Value>, Vec<usize>) {
        let mut page = self.query(soql).await;
        let (mut rows, mut sizes) = (Vec::new(), Vec::new());
        loop {
            assert_eq!(page.status, 200, "{}", page.body);
            let records = page.body["records"].as_array().unwrap();
            sizes.push(records.len());
            rows.extend(records.iter().cloned());
            if page.body["done"] == true {
                assert!(
                    page.body.get("nextRecordsUrl").is_none(),
                    "the last page has no nextRecordsUrl"
                );
                return (rows, sizes);
            }
            let next = page.body["nextRecordsUrl"].as_str().unwrap().to_owned();
            let path = next
                .strip_prefix(&format!("/services/data/{API_VERSION}"))
                .unwrap()
                .to_owned();
            page = self.call("GET", &path, None).await;
        }
    }

    async fn bayeux(&self, messages: Value) -> (u16, Value) {
        let url = self.double.url(&format!("/cometd/{}", &API_VERSION[1..]));
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.token)
            .json(&messages)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    async fn handshake(&self) -> String {
        let (_, reply) = self
            .bayeux(json!([{"channel": "/meta/handshake", "version": "1.0"}]))
            .await;
        reply[0]["clientId"]
            .as_str()
            .expect("a client id")
            .to_owned()
    }

    async fn subscribe(&self, client: &str, channel: &str, replay: i64) -> Value {
        let m = json!([{"channel": "/meta/subscribe", "clientId": client, "subscription": channel, "ext": {"replay": {channel: replay}}}]);
        self.bayeux(m).await.1[0].clone()
    }

    /// The change events one `/meta/connect` delivers.
    async fn connect(&self, client: &str) -> Vec<Value> {
        let (status, replies) = self.bayeux(json!([{"channel": "/meta/connect", "clientId": client, "connectionType": "long-polling"}])).await;
        assert_eq!(status, 200);
        let replies = replies.as_array().unwrap();
        assert!(
            replies
                .iter()
                .any(|r| r["channel"] == "/meta/connect" && r["successful"] == true),
            "{replies:?}"
        );
        replies
            .iter()
            .filter(|r| r["channel"] != "/meta/connect")
            .cloned()
            .collect()
    }
}

/// The assertion with the first character of its signature changed.
fn tamper(jwt: &str) -> String {
    let (signed, sig) = jwt.rsplit_once('.').unwrap();
    let swap = if sig.starts_with('A') { "B" } else { "A" };
    format!("{signed}.{swap}{}", &sig[1..])
}

fn ids(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn both_grants_issue_tokens_pointing_at_the_double_and_an_expired_one_answers_invalid_session_id()
 {
    let sf = Sf::started().await;
    let reply = sf.client_credentials().await;
    assert_eq!(reply["instance_url"], sf.double.base_url());
    assert_eq!(reply["token_type"], "Bearer");
    assert!(
        reply["access_token"]
            .as_str()
            .unwrap()
            .starts_with(salesforce::ORG_ID)
    );
    let (status, bad) = sf
        .token_call(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", "nope"),
        ])
        .await;
    assert_eq!(
        (status, bad["error"].as_str()),
        (400, Some("invalid_client"))
    );

    let now = chrono::Utc::now().timestamp();
    let claims = |sub: &str, exp: i64| json!({"iss": CLIENT_ID, "sub": sub, "aud": "https://login.salesforce.com", "exp": exp});
    let grant = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let good = salesforce::jwt::sign_with_test_key(&claims(USERNAME, now + 120));
    let (status, jwt) = sf
        .token_call(&[("grant_type", grant), ("assertion", &good)])
        .await;
    assert_eq!(status, 200, "{jwt}");
    assert_eq!(jwt["instance_url"], sf.double.base_url());
    for (assertion, why) in [
        (
            salesforce::jwt::sign_with_test_key(&claims("someone@else.example", now + 120)),
            "user hasn't approved this consumer",
        ),
        (
            salesforce::jwt::sign_with_test_key(&claims(USERNAME, now - 10)),
            "invalid assertion",
        ),
        (tamper(&good), "invalid assertion"),
    ] {
        let (status, refused) = sf
            .token_call(&[("grant_type", grant), ("assertion", &assertion)])
            .await;
        assert_eq!(
            (status, refused["error_description"].as_str()),
            (400, Some(why))
        );
    }

    assert_eq!(sf.call("GET", "/limits", None).await.status, 200);
    sf.double.sessions().expire_all();
    let expired = sf.call("GET", "/sobjects/Account/describe", None).await;
    assert_eq!(expired.status, 401);
    assert_eq!(
        expired.body,
        json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    );
    assert!(
        expired.limit.is_some(),
        "the 401 carries Sforce-Limit-Info too"
    );
}

#[tokio::test]
async fn soql_pages_by_next_records_url_and_a_watermark_at_a_tie_needs_the_inclusive_bound() {
    let sf = Sf::start(SalesforceConfig {
        query_batch_size: 2,
        ..Default::default()
    })
    .await;
    let soql = "SELECT Id, Name, SystemModstamp FROM Account ORDER BY SystemModstamp, Id";
    let (all, sizes) = sf.query_all(soql).await;
    assert_eq!(all.len(), 8);
    assert_eq!(sizes, [2, 2, 2, 2]);
    let mut unique = ids(&all);
    unique.dedup();
    assert_eq!(unique.len(), 8, "no record twice across pages");
    assert_eq!(all[0]["attributes"]["type"], "Account");
    assert_eq!(sf.query(soql).await.body["totalSize"], 8);

    // Three seeded accounts share TIED_AT; writes on a frozen clock tie too.
    let at = TIED_AT.trim_end_matches('Z');
    let inclusive =
        format!("SELECT Id FROM Account WHERE SystemModstamp >= {at}Z ORDER BY SystemModstamp, Id");
    let exclusive =
        format!("SELECT Id FROM Account WHERE SystemModstamp > {at}Z ORDER BY SystemModstamp, Id");
    assert_eq!(sf.query_all(&inclusive).await.0.len(), 6);
    assert_eq!(sf.query_all(&exclusive).await.0.len(), 3);
    sf.double
        .clock()
        .freeze_at("2026-06-01T08:00:00Z".parse().unwrap());
    for name in ["新客户 A", "New Customer B"] {
        assert_eq!(
            sf.call("POST", "/sobjects/Account", Some(json!({"Name": name})))
                .await
                .status,
            201
        );
    }
    let since = "SELECT Id, Name, LastModifiedDate, SystemModstamp FROM Account WHERE SystemModstamp >= 2026-06-01T08:00:00Z";
    let (tied, _) = sf.query_all(since).await;
    assert_eq!(tied.len(), 2);
    assert!(
        tied.iter()
            .all(|r| r["SystemModstamp"] == "2026-06-01T08:00:00.000+0000"
                && r["LastModifiedDate"] == r["SystemModstamp"])
    );
    // Offsets in literals and a system change that moves SystemModstamp only.
    let offset = sf
        .query("SELECT Id FROM Account WHERE SystemModstamp >= 2026-06-01T16:00:00+08:00")
        .await;
    assert_eq!(offset.body["totalSize"], 2);
    sf.double.clock().advance(chrono::Duration::seconds(5));
    sf.double.store().touch("Account", 1).unwrap();
    let touched = sf
        .query(
            "SELECT Id, LastModifiedDate FROM Account WHERE SystemModstamp > 2026-06-01T08:00:00Z",
        )
        .await;
    assert_eq!(touched.body["totalSize"], 1);
    assert_eq!(
        touched.body["records"][0]["LastModifiedDate"],
        "2024-05-01T01:00:00.000+0000"
    );
}

#[tokio::test]
async fn soql_filters_and_refusals() {
    let sf = Sf::started().await;
    let rows = |a: &Answer| a.body["records"].as_array().unwrap().clone();
    let names = |a: &Answer| {
        rows(a)
            .iter()
            .map(|r| r["Name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let like = sf.query("select Name from account where Name like '%有限公司' and BillingCountry = 'CN' order by Name desc limit 2").await;
    assert_eq!(like.status, 200, "{}", like.body);
    assert_eq!(names(&like).len(), 2);
    let r#in = sf.query("SELECT Name, ERP_Id__c FROM Account WHERE ERP_Id__c IN ('C002', 'c004') OR (Credit_Limit__c >= 300000 AND NOT BillingCity = '上海')").await;
    assert_eq!(
        names(&r#in),
        [
            "Acme Industrial Supply",
            "Northwind Traders",
            "Globex Corporation"
        ]
    );
    let nulls = sf
        .query("SELECT Name FROM Account WHERE ERP_Id__c = null")
        .await;
    assert_eq!(names(&nulls), ["成都天府餐饮管理有限公司"]);
    let items = sf
        .query("SELECT Id, Quantity, TotalPrice FROM OrderItem WHERE Quantity > 5")
        .await;
    assert_eq!(items.body["totalSize"], 2);

    for (soql, code) in [
        (
            "SELECT Id FROM Account WHERE SystemModstamp > '2024-05-01T00:00:00Z'",
            "INVALID_FIELD",
        ),
        ("SELECT Id, Nope__c FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Nothing__c", "INVALID_TYPE"),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY"),
    ] {
        let refused = sf.query(soql).await;
        assert_eq!(
            (refused.status, refused.body[0]["errorCode"].as_str()),
            (400, Some(code)),
            "{soql}"
        );
    }
    // An unencoded `+` reads as a space, as at Salesforce.
    let raw = sf
        .call(
            "GET",
            "/query?q=SELECT+Id+FROM+Account+WHERE+SystemModstamp+>+2024-05-01T00:00:00+08:00",
            None,
        )
        .await;
    assert_eq!(raw.status, 400);
    sf.handle.expire_query_cursors();
    let gone = sf.call("GET", "/query/01g5g0000000001AAA-2", None).await;
    assert_eq!(gone.body[0]["errorCode"], "INVALID_QUERY_LOCATOR");
}

#[tokio::test]
async fn upsert_by_external_id_creates_then_updates_and_answers_300_for_several_matches() {
    let sf = Sf::started().await;
    let path = "/sobjects/Account/ERP_Id__c/C900";
    let created = sf
        .call(
            "PATCH",
            path,
            Some(json!({"Name": "苏州新客户有限公司", "Credit_Limit__c": 10000})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["created"], true);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let updated = sf
        .call("PATCH", path, Some(json!({"Phone": "+86 512 6666 0000"})))
        .await;
    assert_eq!(
        (
            updated.status,
            &updated.body["created"],
            &updated.body["id"]
        ),
        (200, &json!(false), &json!(id))
    );
    let old = sf
        .call_with("PATCH", path, Some(json!({"Phone": "1"})), &[])
        .await;
    assert_eq!(old.status, 200);
    let v45 = sf
        .http
        .patch(
            sf.double
                .url("/services/data/v45.0/sobjects/Account/ERP_Id__c/C900"),
        )
        .bearer_auth(&sf.token)
        .json(&json!({"Phone": "2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        v45.status().as_u16(),
        204,
        "before v46 an update by upsert answers 204"
    );
    let read = sf
        .call(
            "GET",
            &format!("/sobjects/Account/{id}?fields=Name,Phone,ERP_Id__c"),
            None,
        )
        .await;
    assert_eq!(read.body["Phone"], "2");
    assert_eq!(
        read.body["attributes"]["url"],
        format!("/services/data/{API_VERSION}/sobjects/Account/{id}")
    );

    let several = sf
        .call(
            "PATCH",
            "/sobjects/Account/Legacy_Code__c/L-EAST",
            Some(json!({"Phone": "3"})),
        )
        .await;
    assert_eq!(several.status, 300);
    assert_eq!(several.body.as_array().unwrap().len(), 2);
    let update_only = sf
        .call(
            "PATCH",
            "/sobjects/Account/ERP_Id__c/C901?updateOnly=true",
            Some(json!({"Name": "x"})),
        )
        .await;
    assert_eq!(update_only.status, 404);
    let missing = sf
        .call(
            "PATCH",
            "/sobjects/Account/ERP_Id__c/C902",
            Some(json!({"Phone": "4"})),
        )
        .await;
    assert_eq!(
        (missing.status, missing.body[0]["errorCode"].as_str()),
        (400, Some("REQUIRED_FIELD_MISSING"))
    );
    assert_eq!(missing.body[0]["fields"], json!(["Name"]));
    // A contact related by the account's external id.
    let contact = sf
        .call(
            "POST",
            "/sobjects/Contact",
            Some(json!({"LastName": "周", "Account": {"ERP_Id__c": "C900"}})),
        )
        .await;
    assert_eq!(contact.status, 201, "{}", contact.body);
    let cid = contact.body["id"].as_str().unwrap();
    assert_eq!(
        sf.call("GET", &format!("/sobjects/Contact/{cid}"), None)
            .await
            .body["AccountId"],
        json!(id)
    );
    assert_eq!(
        sf.call("DELETE", &format!("/sobjects/Contact/{cid}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        sf.call("GET", &format!("/sobjects/Contact/{cid}"), None)
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn collections_answer_per_record_errors_and_all_or_none_rolls_back() {
    let sf = Sf::started().await;
    let records = json!([
        {"attributes": {"type": "Account"}, "Name": "Wayne Enterprises", "ERP_Id__c": "C010"},
        {"attributes": {"type": "Account"}, "Phone": "no name"},
        {"attributes": {"type": "Account"}, "Name": "负额度客户", "Credit_Limit__c": -5},
    ]);
    let rolled = sf
        .call(
            "POST",
            "/composite/sobjects",
            Some(json!({"allOrNone": true, "records": records})),
        )
        .await;
    assert_eq!(rolled.status, 200);
    assert_eq!(
        rolled.body[0]["errors"][0]["statusCode"],
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    );
    assert_eq!(
        rolled.body[1]["errors"][0],
        json!({"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [Name]", "fields": ["Name"]})
    );
    assert_eq!(
        sf.query("SELECT Id FROM Account WHERE ERP_Id__c = 'C010'")
            .await
            .body["totalSize"],
        0
    );

    let partial = sf
        .call(
            "POST",
            "/composite/sobjects",
            Some(json!({"allOrNone": false, "records": records})),
        )
        .await;
    assert_eq!(partial.body[0]["success"], true);
    assert_eq!(partial.body[1]["success"], false);
    assert_eq!(
        partial.body[2]["errors"][0]["statusCode"],
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    );
    assert_eq!(
        sf.query("SELECT Id FROM Account WHERE ERP_Id__c = 'C010'")
            .await
            .body["totalSize"],
        1
    );

    let upsert = sf.call("PATCH", "/composite/sobjects/Account/ERP_Id__c", Some(json!({"allOrNone": false, "records": [
        {"attributes": {"type": "Account"}, "ERP_Id__c": "C010", "Phone": "1"},
        {"attributes": {"type": "Account"}, "ERP_Id__c": "C011", "Name": "Stark Industries"},
        {"attributes": {"type": "Account"}, "ERP_Id__c": "C012"},
    ]}))).await;
    let created: Vec<Value> = upsert
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["created"].clone())
        .collect();
    assert_eq!(created, [json!(false), json!(true), Value::Null]);
    assert_eq!(
        upsert.body[2]["errors"][0]["statusCode"],
        "REQUIRED_FIELD_MISSING"
    );

    let too_many: Vec<Value> = (0..201)
        .map(|i| json!({"attributes": {"type": "Account"}, "Name": format!("A{i}")}))
        .collect();
    let refused = sf
        .call(
            "POST",
            "/composite/sobjects",
            Some(json!({"records": too_many})),
        )
        .await;
    assert_eq!(
        (refused.status, refused.body[0]["errorCode"].as_str()),
        (400, Some("EXCEEDED_ID_LIMIT"))
    );
}

#[tokio::test]
async fn bulk_ingest_runs_open_upload_complete_in_progress_job_complete_with_a_failed_row() {
    let sf = Sf::started().await;
    let job = sf.call("POST", "/jobs/ingest", Some(json!({"object": "Account", "operation": "upsert", "externalIdFieldName": "ERP_Id__c", "contentType": "CSV", "lineEnding": "LF"}))).await;
    assert_eq!(job.body["state"], "Open", "{}", job.body);
    let id = job.body["id"].as_str().unwrap().to_owned();
    let csv =
        "ERP_Id__c,Name,Credit_Limit__c\nC001,,600000\nC020,\"Umbrella, Inc.\",1000\nC021,,5\n";
    let upload = sf
        .http
        .put(sf.double.url(&format!(
            "/services/data/{API_VERSION}/jobs/ingest/{id}/batches"
        )))
        .bearer_auth(&sf.token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status().as_u16(), 201);
    let closed = sf
        .call(
            "PATCH",
            &format!("/jobs/ingest/{id}"),
            Some(json!({"state": "UploadComplete"})),
        )
        .await;
    assert_eq!(closed.body["state"], "UploadComplete");
    assert_eq!(
        sf.call("GET", &format!("/jobs/ingest/{id}"), None)
            .await
            .body["state"],
        "InProgress"
    );
    let done = sf
        .call("GET", &format!("/jobs/ingest/{id}"), None)
        .await
        .body;
    assert_eq!(
        (
            done["state"].as_str(),
            done["numberRecordsProcessed"].as_u64(),
            done["numberRecordsFailed"].as_u64()
        ),
        (Some("JobComplete"), Some(3), Some(1))
    );
    assert_eq!(done["jobType"], "V2Ingest");

    let text = |path: String| {
        let (http, url, token) = (sf.http.clone(), sf.double.url(&path), sf.token.clone());
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let ok = text(format!(
        "/services/data/{API_VERSION}/jobs/ingest/{id}/successfulResults/"
    ))
    .await;
    let lines: Vec<&str> = ok.lines().collect();
    assert_eq!(
        lines[0],
        "\"sf__Id\",\"sf__Created\",ERP_Id__c,Name,Credit_Limit__c"
    );
    assert!(
        lines[1].contains("\"false\",\"C001\"")
            && lines[2].contains("\"true\",\"C020\",\"Umbrella, Inc.\""),
        "{ok}"
    );
    let failed = text(format!(
        "/services/data/{API_VERSION}/jobs/ingest/{id}/failedResults/"
    ))
    .await;
    let lines: Vec<&str> = failed.lines().collect();
    assert_eq!(lines.len(), 2, "{failed}");
    assert!(
        lines[1].starts_with(
            "\"\",\"REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --\",\"C021\""
        ),
        "{failed}"
    );
    let credit = sf
        .query("SELECT Credit_Limit__c FROM Account WHERE ERP_Id__c = 'C001'")
        .await;
    assert_eq!(credit.body["records"][0]["Credit_Limit__c"], 600000.0);
    let again = sf
        .http
        .put(sf.double.url(&format!(
            "/services/data/{API_VERSION}/jobs/ingest/{id}/batches"
        )))
        .bearer_auth(&sf.token)
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409, "no upload to a completed job");

    let bad = sf
        .call(
            "POST",
            "/jobs/ingest",
            Some(json!({"object": "Contact", "operation": "insert"})),
        )
        .await;
    let bad_id = bad.body["id"].as_str().unwrap().to_owned();
    sf.http
        .put(sf.double.url(&format!(
            "/services/data/{API_VERSION}/jobs/ingest/{bad_id}/batches"
        )))
        .bearer_auth(&sf.token)
        .body("LastName,Shoe_Size__c\n王,42\n")
        .send()
        .await
        .unwrap();
    sf.call(
        "PATCH",
        &format!("/jobs/ingest/{bad_id}"),
        Some(json!({"state": "UploadComplete"})),
    )
    .await;
    sf.call("GET", &format!("/jobs/ingest/{bad_id}"), None)
        .await;
    let failed_job = sf
        .call("GET", &format!("/jobs/ingest/{bad_id}"), None)
        .await
        .body;
    assert_eq!(failed_job["state"], "Failed");
    assert_eq!(
        failed_job["errorMessage"],
        "InvalidBatch : Field name not found : Shoe_Size__c"
    );
}

#[tokio::test]
async fn cdc_delivers_changes_with_replay_ids_and_refuses_a_replay_id_past_retention() {
    let sf = Sf::started().await;
    let client = sf.handshake().await;
    assert_eq!(
        sf.subscribe(&client, "/data/AccountChangeEvent", -1).await["successful"],
        true
    );
    let write = |phone: &'static str| {
        sf.call_with(
            "PATCH",
            "/sobjects/Account/ERP_Id__c/C002",
            Some(json!({"Phone": phone})),
            &[("Sforce-Call-Options", "client=FerryHub")],
        )
    };
    write("+1 555 0100").await;
    let events = sf.connect(&client).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let header = &events[0]["data"]["payload"]["ChangeEventHeader"];
    assert_eq!(header["changeType"], "UPDATE");
    assert_eq!(
        header["changedFields"],
        json!(["Phone", "LastModifiedDate"])
    );
    assert_eq!(
        header["changeOrigin"],
        format!(
            "com/salesforce/api/rest/{};client=FerryHub",
            &API_VERSION[1..]
        )
    );
    assert_eq!(events[0]["data"]["payload"]["Phone"], "+1 555 0100");
    let first = events[0]["data"]["event"]["replayId"].as_i64().unwrap();
    assert!(
        sf.connect(&client).await.is_empty(),
        "nothing new: the long poll ends empty"
    );

    write("+1 555 0101").await;
    write("+1 555 0102").await;
    // A new client resuming after `first` gets exactly the two later events.
    let resumed = sf.handshake().await;
    assert_eq!(
        sf.subscribe(&resumed, "/data/ChangeEvents", first).await["successful"],
        true
    );
    let replayed: Vec<i64> = sf
        .connect(&resumed)
        .await
        .iter()
        .map(|e| e["data"]["event"]["replayId"].as_i64().unwrap())
        .collect();
    assert_eq!(replayed, [first + 1, first + 2]);

    // Retention passes events up to first + 1: resuming from `first` is refused, -2 works.
    sf.handle.drop_events_through(first + 1);
    let late = sf.handshake().await;
    let refused = sf.subscribe(&late, "/data/AccountChangeEvent", first).await;
    assert_eq!(refused["successful"], false);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("you provided was invalid"),
        "{refused}"
    );
    assert_eq!(
        sf.subscribe(&late, "/data/AccountChangeEvent", -2).await["successful"],
        true
    );
    assert_eq!(sf.connect(&late).await.len(), 1);
    // The 72 h retention by the harness clock drops the rest.
    sf.double.clock().advance(chrono::Duration::hours(73));
    let later = sf.handshake().await;
    assert_eq!(
        sf.subscribe(&later, "/data/AccountChangeEvent", first + 1)
            .await["successful"],
        false
    );
    let (_, unknown) = sf
        .bayeux(json!([{"channel": "/meta/connect", "clientId": "nobody"}]))
        .await;
    assert_eq!(unknown[0]["error"], "403::Unknown client");
}

#[tokio::test]
async fn every_answer_carries_the_limit_header_and_the_used_up_allocation_answers_403() {
    let sf = Sf::start(SalesforceConfig {
        daily_api_limit: 5,
        ..Default::default()
    })
    .await;
    let first = sf.call("GET", "/limits", None).await;
    assert_eq!(first.limit.as_deref(), Some("api-usage=1/5"));
    assert_eq!(
        first.body["DailyApiRequests"],
        json!({"Max": 5, "Remaining": 4})
    );
    let missing = sf
        .call("GET", "/sobjects/Account/001000000000000", None)
        .await;
    assert_eq!(
        (missing.status, missing.limit.as_deref()),
        (404, Some("api-usage=2/5"))
    );
    sf.handle.set_api_usage(5);
    let over = sf.query("SELECT Id FROM Account").await;
    assert_eq!(over.status, 403);
    assert_eq!(
        over.body,
        json!([{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    );
    assert_eq!(over.limit.as_deref(), Some("api-usage=5/5"));
}

#[tokio::test]
async fn faults_act_on_salesforce_routes() {
    let sf = Sf::started().await;
    let path = format!("/services/data/{API_VERSION}/query");
    sf.double.faults().add(
        Fault::new(FaultAction::status(503))
            .on("GET", &path)
            .times(1),
    );
    sf.double.faults().add(
        Fault::new(FaultAction::too_many_requests(RetryAfter::Seconds(3)))
            .on("GET", &path)
            .times(1),
    );
    assert_eq!(sf.query("SELECT Id FROM Account").await.status, 503);
    let url = sf.double.url(&format!("{path}?q=SELECT+Id+FROM+Account"));
    let throttled = sf
        .http
        .get(&url)
        .bearer_auth(&sf.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            throttled.status().as_u16(),
            throttled.headers()["retry-after"].to_str().unwrap()
        ),
        (429, "3")
    );
    assert_eq!(sf.query("SELECT Id FROM Account").await.status, 200);

    let collections = format!("/services/data/{API_VERSION}/composite/sobjects");
    sf.double.faults().add(
        Fault::new(FaultAction::ErrorInOk {
            code: "UNABLE_TO_LOCK_ROW".into(),
            message: "unable to obtain exclusive access to this record".into(),
        })
        .on("POST", &collections)
        .times(1),
    );
    let locked = sf
        .call("POST", "/composite/sobjects", Some(json!({"records": []})))
        .await;
    assert_eq!(
        (locked.status, &locked.body[0]["errors"][0]["statusCode"]),
        (200, &json!("UNABLE_TO_LOCK_ROW"))
    );

    sf.double.faults().add(
        Fault::new(FaultAction::DropBeforeResponse)
            .on("GET", "/services/data/*/limits")
            .times(1),
    );
    let dropped = sf
        .http
        .get(
            sf.double
                .url(&format!("/services/data/{API_VERSION}/limits")),
        )
        .bearer_auth(&sf.token)
        .send()
        .await;
    assert!(dropped.is_err());
    sf.double
        .faults()
        .add(Fault::new(FaultAction::ExpireSessions).times(1));
    assert_eq!(sf.call("GET", "/limits", None).await.status, 401);
}
