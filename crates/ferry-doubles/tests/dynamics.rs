//! The Dynamics 365 double over HTTP, as a connector sees it: Entra ID client credentials
//! and token expiry, OData v4 reads with paging, alternate-key upserts with
//! `If-Match`/`If-None-Match`/ETags, lookups by `@odata.bind`, delta links with deleted
//! rows, `$batch` change sets that roll back, and service protection (429).

mod support;

use ferry_doubles::dynamics::{DynamicsConfig, DynamicsDouble, throttled};
use ferry_doubles::{Fault, RunningDouble};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use support::client;

struct Dv {
    http: reqwest::Client,
    double: RunningDouble,
    dynamics: DynamicsDouble,
    token: String,
}

impl Dv {
    async fn start(config: DynamicsConfig) -> Self {
        let dynamics = DynamicsDouble::new(config);
        let double = ferry_doubles::start(dynamics.clone(), 0)
            .await
            .expect("the double starts");
        let mut dv = Self {
            http: client(),
            double,
            dynamics,
            token: String::new(),
        };
        dv.token = dv
            .fetch_token(&dv.dynamics.config().client_secret.clone())
            .await
            .1["access_token"]
            .as_str()
            .expect("a token")
            .to_owned();
        dv
    }

    async fn fetch_token(&self, secret: &str) -> (u16, Value) {
        let c = self.dynamics.config();
        let scope = format!("{}/.default", self.double.base_url());
        let response = self
            .http
            .post(self.double.url(&format!("/{}/oauth2/v2.0/token", c.tenant)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "grant_type=client_credentials&client_id={}&client_secret={secret}&scope={scope}",
                c.client_id
            ))
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let url = if path.starts_with("http") {
            path.to_owned()
        } else {
            self.double.url(&format!("/api/data/v9.2/{path}"))
        };
        self.http
            .request(method, url)
            .bearer_auth(&self.token)
            .header("accept", "application/json")
            .header("odata-version", "4.0")
    }

    async fn send(&self, request: RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
        let response = request.send().await.expect("sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a body");
        (
            status,
            headers,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn patch(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.request(Method::PATCH, path).json(&body);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let (status, _, body) = self.send(request).await;
        (status, body)
    }

    async fn get(&self, path: &str) -> Value {
        let (status, _, body) = self.send(self.request(Method::GET, path)).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

fn quiet() -> DynamicsConfig {
    DynamicsConfig {
        seed: false,
        ..DynamicsConfig::default()
    }
}

#[tokio::test]
async fn tokens_need_the_right_secret_and_expire_into_a_401() {
    let dv = Dv::start(quiet()).await;
    let (status, body) = dv.fetch_token("wrong").await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("AADSTS7000215")
    );
    dv.get("accounts").await;
    dv.double.sessions().expire_all();
    let (status, headers, _) = dv.send(dv.request(Method::GET, "accounts")).await;
    assert_eq!(status, 401);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}

#[tokio::test]
async fn patch_by_alternate_key_upserts_and_honours_if_match_and_if_none_match() {
    let dv = Dv::start(quiet()).await;
    let key = "accounts(accountnumber='A1')";
    let (status, _) = dv
        .patch(key, json!({"name": "x"}), &[("if-match", "*")])
        .await;
    assert_eq!(status, 404, "If-Match: * never creates");
    let (status, _) = dv.patch(key, json!({"name": "Acme"}), &[]).await;
    assert_eq!(status, 204, "PATCH creates");
    let (status, body) = dv
        .patch(key, json!({"name": "x"}), &[("if-none-match", "*")])
        .await;
    assert_eq!(status, 412, "If-None-Match: * never updates");
    assert_eq!(body["error"]["code"], "0x80040237");
    let row = dv.get(key).await;
    assert_eq!(row["name"], "Acme");
    assert_eq!(row["accountnumber"], "A1");
    let etag = row["@odata.etag"].as_str().unwrap().to_owned();
    let (status, _) = dv
        .patch(key, json!({"name": "Acme 2"}), &[("if-match", &etag)])
        .await;
    assert_eq!(status, 204);
    let (status, body) = dv
        .patch(key, json!({"name": "stale"}), &[("if-match", &etag)])
        .await;
    assert_eq!(status, 412, "the old ETag is refused");
    assert_eq!(body["error"]["code"], "0x80060882");
    let guid = row["accountid"].as_str().unwrap();
    assert_eq!(dv.get(&format!("accounts({guid})")).await["name"], "Acme 2");
    let (status, body) = dv
        .patch(key, json!({"telephone1": "1".repeat(51)}), &[])
        .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("maximum allowed length of '50'")
    );
    let (status, body) = dv.patch(key, json!({"creditlimit": "12.5"}), &[]).await;
    assert_eq!(status, 400, "a decimal as text: {body}");
    let (status, body) = dv.patch(key, json!({"nosuch": 1}), &[]).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'nosuch' does not exist")
    );
}

#[tokio::test]
async fn lookups_bind_by_guid_or_alternate_key_and_read_as_value_properties() {
    let dv = Dv::start(quiet()).await;
    dv.patch("accounts(accountnumber='A1')", json!({"name": "Acme"}), &[])
        .await;
    let account = dv.get("accounts(accountnumber='A1')").await;
    let (status, body) = dv
        .patch(
            "opportunities(new_externalkey='O1')",
            json!({"name": "Deal", "parentaccountid@odata.bind": "/accounts(accountnumber='A1')"}),
            &[],
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let opp = dv.get("opportunities(new_externalkey='O1')").await;
    assert_eq!(opp["_parentaccountid_value"], account["accountid"]);
    let (status, body) = dv
        .patch(
            "opportunities(new_externalkey='O2')",
            json!({"parentaccountid@odata.bind": "/accounts(accountnumber='NOPE')"}),
            &[],
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn pages_follow_next_links_and_delta_links_bring_changes_and_deletions() {
    let dv = Dv::start(quiet()).await;
    for n in 1..=5 {
        dv.patch(
            &format!("accounts(accountnumber='A{n}')"),
            json!({"name": format!("N{n}")}),
            &[],
        )
        .await;
    }
    let mut url = "accounts?$select=name,accountnumber".to_owned();
    let mut seen = Vec::new();
    let delta = loop {
        let request = dv
            .request(Method::GET, &url)
            .header("prefer", "odata.track-changes, odata.maxpagesize=2");
        let (status, _, body) = dv.send(request).await;
        assert_eq!(status, 200, "{body}");
        seen.extend(
            body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["name"].clone()),
        );
        if let Some(next) = body["@odata.nextLink"].as_str() {
            assert!(
                next.contains("$skiptoken=%3Ccookie%20pagenumber%3D%22")
                    && next.contains("pagingcookie%3D%22%253Ccookie"),
                "{next}"
            );
            url = next.to_owned();
        } else {
            break body["@odata.deltaLink"]
                .as_str()
                .expect("a delta link")
                .to_owned();
        }
    };
    assert_eq!(seen.len(), 5);
    // Two changes to one record in the same second, a new one, a deletion.
    dv.patch(
        "accounts(accountnumber='A1')",
        json!({"name": "first"}),
        &[],
    )
    .await;
    dv.patch(
        "accounts(accountnumber='A1')",
        json!({"name": "second"}),
        &[],
    )
    .await;
    dv.patch("accounts(accountnumber='A9')", json!({"name": "new"}), &[])
        .await;
    let doomed = dv.get("accounts(accountnumber='A2')").await["accountid"].clone();
    let (status, _, _) = dv
        .send(dv.request(Method::DELETE, "accounts(accountnumber='A2')"))
        .await;
    assert_eq!(status, 204);
    let request = dv
        .request(Method::GET, &delta)
        .header("prefer", "odata.track-changes");
    let (_, _, body) = dv.send(request).await;
    let rows = body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{body}");
    assert!(rows.iter().any(|r| r["name"] == "second"));
    assert!(rows.iter().any(|r| r["name"] == "new"));
    let gone = rows
        .iter()
        .find(|r| r["reason"] == "deleted")
        .expect("a deleted row");
    assert_eq!(gone["id"], doomed);
    assert!(
        gone["@odata.context"]
            .as_str()
            .unwrap()
            .ends_with("$deletedEntity")
    );
    let next = body["@odata.deltaLink"].as_str().unwrap().to_owned();
    let (_, _, body) = dv
        .send(
            dv.request(Method::GET, &next)
                .header("prefer", "odata.track-changes"),
        )
        .await;
    assert_eq!(
        body["value"].as_array().unwrap().len(),
        0,
        "nothing changed since"
    );
    dv.dynamics.expire_delta_links();
    let (status, _, body) = dv
        .send(
            dv.request(Method::GET, &next)
                .header("prefer", "odata.track-changes"),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "0x80044352");
}

fn batch_body(ops: &[(&str, &str, Value)]) -> String {
    let mut out = String::new();
    for (i, (method, path, body)) in ops.iter().enumerate() {
        out.push_str(&format!(
            "--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_{i}\r\n\r\n"
        ));
        out.push_str(&format!(
            "--changeset_{i}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {}\r\n\r\n{method} {path} HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{body}\r\n--changeset_{i}--\r\n",
            i + 1
        ));
    }
    out.push_str("--batch_1--\r\n");
    out
}

#[tokio::test]
async fn a_failed_change_set_rolls_back_and_reports_its_content_id() {
    let dv = Dv::start(quiet()).await;
    let body = batch_body(&[
        (
            "PATCH",
            "accounts(accountnumber='B1')",
            json!({"name": "ok"}),
        ),
        (
            "PATCH",
            "accounts(accountnumber='B2')",
            json!({"telephone1": "9".repeat(60)}),
        ),
        (
            "PATCH",
            "accounts(accountnumber='B3')",
            json!({"name": "ok too"}),
        ),
    ]);
    let request = dv
        .request(Method::POST, "$batch")
        .header("content-type", "multipart/mixed; boundary=batch_1")
        .header("prefer", "odata.continue-on-error")
        .body(body);
    let (status, headers, text) = dv.send(request).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("multipart/mixed")
    );
    let text = text.as_str().unwrap().to_owned();
    assert_eq!(text.matches("HTTP/1.1 204").count(), 2, "{text}");
    assert!(text.contains("Content-ID: 2\r\n\r\nHTTP/1.1 400"), "{text}");
    assert!(text.contains("maximum allowed length"));
    let rows = dv.get("accounts").await;
    let numbers: Vec<_> = rows["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["accountnumber"].clone())
        .collect();
    assert_eq!(numbers.len(), 2, "B2 rolled back: {numbers:?}");
    assert!(!numbers.contains(&json!("B2")));
}

#[tokio::test]
async fn service_protection_answers_429_with_retry_after_and_its_code() {
    let dv = Dv::start(DynamicsConfig {
        request_limit: 2,
        ..quiet()
    })
    .await;
    let (_, headers, _) = dv.send(dv.request(Method::GET, "accounts")).await;
    assert_eq!(headers["x-ms-ratelimit-burst-remaining-xrm-requests"], "1");
    assert_eq!(headers["x-ms-dop-hint"], "4");
    dv.get("accounts").await;
    let (status, headers, body) = dv.send(dv.request(Method::GET, "accounts")).await;
    assert_eq!(status, 429);
    assert!(
        headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    assert_eq!(body["error"]["code"], "0x80072322");
    let dv = Dv::start(quiet()).await;
    dv.double.faults().add(
        Fault::new(throttled(3))
            .on("GET", "/api/data/v9.2/**")
            .times(1),
    );
    let (status, headers, body) = dv.send(dv.request(Method::GET, "accounts")).await;
    assert_eq!(
        (status, headers["retry-after"].to_str().unwrap()),
        (429, "3")
    );
    assert_eq!(body["error"]["code"], "0x80072322");
}

#[tokio::test]
async fn metadata_lists_types_and_alternate_keys_and_filters_work() {
    let dv = Dv::start(DynamicsConfig::default()).await;
    let (status, _, xml) = dv.send(dv.request(Method::GET, "$metadata")).await;
    assert_eq!(status, 200);
    let xml = xml.as_str().unwrap();
    assert!(xml.contains("<Property Name=\"creditlimit\" Type=\"Edm.Decimal\" />"));
    assert!(xml.contains("AlternateKeys") && xml.contains("PropertyPath=\"accountnumber\""));
    let body = dv
        .get("accounts?$filter=creditlimit gt 20000 and address1_city eq 'Redmond'&$select=name")
        .await;
    let rows = body["value"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["name"], "Contoso Ltd");
    assert!(rows[0].get("address1_city").is_none(), "$select");
    let body = dv.get("accounts?$orderby=name desc").await;
    assert_eq!(body["value"][0]["name"], "Fabrikam Inc");
}

#[tokio::test]
async fn a_change_set_can_bind_a_record_it_created_by_content_id() {
    let dv = Dv::start(quiet()).await;
    let body = "--batch_2\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n--cs\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nPOST accounts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"name\":\"Parent\",\"accountnumber\":\"P1\"}\r\n--cs\r\nContent-Type: application/http\r\nContent-ID: 2\r\n\r\nPOST contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"lastname\":\"Child\",\"emailaddress1\":\"c@x.example\",\"parentcustomerid_account@odata.bind\":\"$1\"}\r\n--cs--\r\n--batch_2--\r\n";
    let request = dv
        .request(Method::POST, "$batch")
        .header("content-type", "multipart/mixed; boundary=batch_2")
        .body(body);
    let (status, _, text) = dv.send(request).await;
    assert_eq!(status, 200);
    assert_eq!(
        text.as_str().unwrap().matches("HTTP/1.1 204").count(),
        2,
        "{text}"
    );
    let parent = dv.get("accounts(accountnumber='P1')").await;
    let child = dv.get("contacts(emailaddress1='c%40x.example')").await;
    assert_eq!(child["_parentcustomerid_value"], parent["accountid"]);
}
