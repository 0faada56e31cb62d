//! Each scheme against a wiremock server that behaves as the vendor documentation says
//! (`docs/apis/`), plus fixed signature vectors computed independently.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use ferry_model::ErrorKind;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::*;
use crate::http::{Call, HttpClient, HttpOptions, ReplyRules, Url};

fn client(server: &MockServer, auth: Arc<dyn Auth>) -> HttpClient {
    let mut o = HttpOptions::new(Url::parse(&format!("{}/api/", server.uri())).unwrap());
    o.backoff = Duration::from_millis(10);
    o.timeout = Duration::from_secs(5);
    HttpClient::new("crm", o, auth).unwrap()
}

fn build(settings: Value) -> Arc<dyn Auth> {
    let settings: AuthSettings = crate::settings::parse(settings.as_object().unwrap()).unwrap();
    settings.build().unwrap()
}

fn issue(settings: Value) -> String {
    let settings: AuthSettings = crate::settings::parse(settings.as_object().unwrap()).unwrap();
    let issues = settings.build().unwrap_err();
    format!("{}: {}", issues[0].dotted(), issues[0].message)
}

async fn count(server: &MockServer, p: &str) -> usize {
    let requests = server.received_requests().await.unwrap_or_default();
    requests.iter().filter(|r| r.url.path() == p).count()
}

fn form_of(request: &Request) -> Vec<(String, String)> {
    let body = String::from_utf8_lossy(&request.body);
    let url = Url::parse(&format!("http://x/?{body}")).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn field(form: &[(String, String)], name: &str) -> Option<String> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// Answers token requests with `t1`, `t2`, … (and a refresh token `r2`, `r3`, …).
struct Tokens {
    issued: AtomicUsize,
    expires_in: Value,
}

impl Respond for Tokens {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        // Slow enough for concurrent requests to queue behind one token request.
        ResponseTemplate::new(200)
            .set_delay(Duration::from_millis(100))
            .set_body_json(json!({
                "access_token": format!("t{n}"),
                "token_type": "bearer",
                "expires_in": self.expires_in,
                "refresh_token": format!("r{}", n + 1),
            }))
    }
}

async fn token_endpoint(server: &MockServer, expires_in: Value) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(Tokens {
            issued: AtomicUsize::new(0),
            expires_in,
        })
        .mount(server)
        .await;
}

/// The API: 200 with `Bearer <good>`, 401 otherwise.
async fn api_accepting(server: &MockServer, good: &str) {
    Mock::given(path("/api/items"))
        .and(header("authorization", format!("Bearer {good}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([1])))
        .mount(server)
        .await;
    Mock::given(path("/api/items"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
        ))
        .mount(server)
        .await;
}

fn client_credentials(server: &MockServer, client_auth: &str) -> Arc<dyn Auth> {
    build(json!({
        "type": "oauth2_client_credentials",
        "token_url": format!("{}/oauth/token", server.uri()),
        "client_id": "app",
        "client_secret": "s3cr3t",
        "scope": "api read",
        "client_auth": client_auth,
    }))
}

#[tokio::test]
async fn client_credentials_fetch_one_token_lazily_and_reuse_it() {
    let server = MockServer::start().await;
    token_endpoint(&server, json!(3600)).await;
    api_accepting(&server, "t1").await;
    let http = client(&server, client_credentials(&server, "body"));
    assert_eq!(
        count(&server, "/oauth/token").await,
        0,
        "building does no I/O"
    );
    for _ in 0..3 {
        http.send(Call::get("items")).await.unwrap();
    }
    assert_eq!(count(&server, "/oauth/token").await, 1);
    let requests = server.received_requests().await.unwrap();
    let form = form_of(&requests[0]);
    assert_eq!(
        field(&form, "grant_type").as_deref(),
        Some("client_credentials")
    );
    assert_eq!(field(&form, "client_id").as_deref(), Some("app"));
    assert_eq!(field(&form, "client_secret").as_deref(), Some("s3cr3t"));
    assert_eq!(field(&form, "scope").as_deref(), Some("api read"));
    assert_eq!(
        requests[0].headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
}

#[tokio::test]
async fn client_credentials_can_authenticate_with_basic() {
    let server = MockServer::start().await;
    // The identity provider is another host: a call without credentials may go there.
    let idp = MockServer::start().await;
    let basic = base64::engine::general_purpose::STANDARD.encode("app:s3cr3t");
    Mock::given(path("/oauth/token"))
        .and(header("authorization", format!("Basic {basic}").as_str()))
        .respond_with(Tokens {
            issued: AtomicUsize::new(0),
            expires_in: json!("3600"),
        })
        .mount(&idp)
        .await;
    api_accepting(&server, "t1").await;
    let http = client(&server, client_credentials(&idp, "basic"));
    http.send(Call::get("items")).await.unwrap();
    let form = form_of(&idp.received_requests().await.unwrap()[0]);
    assert_eq!(
        field(&form, "client_secret"),
        None,
        "the secret is not in the body too"
    );
}

#[tokio::test]
async fn a_token_is_renewed_when_it_expires() {
    let server = MockServer::start().await;
    // One second: renewed a tenth of its life early, at 0.9 s.
    token_endpoint(&server, json!(1)).await;
    Mock::given(path("/api/items"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let http = client(&server, client_credentials(&server, "body"));
    http.send(Call::get("items")).await.unwrap();
    http.send(Call::get("items")).await.unwrap();
    assert_eq!(count(&server, "/oauth/token").await, 1);
    tokio::time::sleep(Duration::from_millis(950)).await;
    http.send(Call::get("items")).await.unwrap();
    assert_eq!(count(&server, "/oauth/token").await, 2);
    let last = server.received_requests().await.unwrap().pop().unwrap();
    assert_eq!(last.headers.get("authorization").unwrap(), "Bearer t2");
}

#[tokio::test]
async fn concurrent_requests_refused_with_one_token_renew_it_once() {
    let server = MockServer::start().await;
    // No expires_in (Salesforce): kept until refused.
    token_endpoint(&server, Value::Null).await;
    api_accepting(&server, "t2").await;
    let http = client(&server, client_credentials(&server, "body"));
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let http = http.clone();
            tokio::spawn(async move { http.send(Call::get("items")).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(count(&server, "/oauth/token").await, 2);
}

#[tokio::test]
async fn a_refused_token_request_is_an_auth_error_naming_the_token_url() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_client",
            "error_description": "client secret s3cr3t is wrong",
        })))
        .mount(&server)
        .await;
    let http = client(&server, client_credentials(&server, "body"));
    let err = http.send(Call::get("items")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("{}/oauth/token", server.uri())),
        "{text}"
    );
    assert!(text.contains("client secret **** is wrong"), "{text}");
    assert_eq!(count(&server, "/api/items").await, 0);
}

#[tokio::test]
async fn an_issued_token_echoed_by_the_server_is_scrubbed() {
    let server = MockServer::start().await;
    token_endpoint(&server, json!(3600)).await;
    Mock::given(path("/api/items"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"message": "token t1 lacks scope"})),
        )
        .mount(&server)
        .await;
    let http = client(&server, client_credentials(&server, "body"));
    let err = http.send(Call::get("items")).await.unwrap_err();
    assert!(err.to_string().contains("token **** lacks scope"), "{err}");
}

#[tokio::test]
async fn a_rotated_refresh_token_is_used_for_the_next_renewal() {
    let server = MockServer::start().await;
    token_endpoint(&server, json!(3600)).await;
    api_accepting(&server, "t2").await;
    let auth = build(json!({
        "type": "oauth2_refresh_token",
        "token_url": format!("{}/oauth/token", server.uri()),
        "client_id": "app",
        "refresh_token": "r1",
    }));
    let http = client(&server, auth.clone());
    // t1 is refused: renewed with the refresh token that came with t1.
    http.send(Call::get("items")).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    let tokens: Vec<_> = requests
        .iter()
        .filter(|r| r.url.path() == "/oauth/token")
        .map(|r| field(&form_of(r), "refresh_token").unwrap())
        .collect();
    assert_eq!(tokens, ["r1", "r2"]);
    let form = form_of(&requests[0]);
    assert_eq!(field(&form, "grant_type").as_deref(), Some("refresh_token"));
    assert_eq!(field(&form, "client_secret"), None, "a public client");
    assert!(
        auth.secrets().contains(&"r3".to_owned()),
        "the rotated token is scrubbed"
    );
}

include!("test_key.rs");

/// Salesforce's token endpoint for the JWT bearer flow: checks the assertion's signature
/// with the public key and its claims, as the connected app would.
/// The token endpoint; `instance_url` names the server it runs on.
struct SalesforceJwt(String);

impl SalesforceJwt {
    fn verify(&self, request: &Request) -> Result<(), String> {
        let form = form_of(request);
        let grant = field(&form, "grant_type").unwrap_or_default();
        if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
            return Err(format!("grant_type {grant}"));
        }
        let assertion = field(&form, "assertion").ok_or("no assertion")?;
        let parts: Vec<&str> = assertion.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let signature = b64.decode(parts[2]).map_err(|e| e.to_string())?;
        let public = base64::engine::general_purpose::STANDARD
            .decode(TEST_PUBLIC_KEY)
            .unwrap();
        let key = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            public,
        );
        let signed = format!("{}.{}", parts[0], parts[1]);
        key.verify(signed.as_bytes(), &signature)
            .map_err(|_| "bad signature".to_owned())?;
        let header: Value = serde_json::from_slice(&b64.decode(parts[0]).unwrap()).unwrap();
        let claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
        let expected = (
            json!("RS256"),
            json!("cert-1"),
            json!("3MVG9consumerkey"),
            json!("integration@acme.example"),
            json!("https://login.salesforce.com"),
        );
        let got = (
            header["alg"].clone(),
            header["kid"].clone(),
            claims["iss"].clone(),
            claims["sub"].clone(),
            claims["aud"].clone(),
        );
        if got != expected || lifetime > 180 {
            return Err(format!("header {header}, claims {claims}"));
        }
        Ok(())
    }
}

impl Respond for SalesforceJwt {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match self.verify(request) {
            Ok(()) => ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "00D5g000!AQ0AQ",
                "instance_url": self.0,
                "token_type": "Bearer",
                "issued_at": "1715000000000",
            })),
            Err(reason) => ResponseTemplate::new(400)
                .set_body_json(json!({"error": "invalid_grant", "error_description": reason})),
        }
    }
}

#[tokio::test]
async fn jwt_bearer_sends_an_assertion_the_public_key_verifies() {
    let server = MockServer::start().await;
    Mock::given(path("/services/oauth2/token"))
        .respond_with(SalesforceJwt(server.uri()))
        .mount(&server)
        .await;
    api_accepting(&server, "00D5g000!AQ0AQ").await;
    let auth = build(json!({
        "type": "jwt_bearer",
        "token_url": format!("{}/services/oauth2/token", server.uri()),
        "issuer": "3MVG9consumerkey",
        "subject": "integration@acme.example",
        "audience": "https://login.salesforce.com",
        // As it arrives from an environment variable: one line with `\n` escapes.
        "private_key": TEST_KEY.replace('\n', "\\n"),
        "key_id": "cert-1",
    }));
    assert!(!format!("{auth:?}").contains("PRIVATE"));
    let http = client(&server, auth);
    // The reply's `instance_url` (the server's root) is the API base from then on.
    http.send(Call::get("api/items")).await.unwrap();
}

#[test]
fn hmac_signatures_match_an_independent_computation() {
    // Expected values computed once with Python's hmac/hashlib from the same inputs:
    //   s = "\n".join(["POST", "/api/v2/orders", "dry_run=true", "1715000000", "abc123",
    //                  hashlib.sha256(b'{"name":"ACME"}').hexdigest()])
    //   base64(hmac.new(b"s3cr3t", s.encode(), sha256).digest()), hmac(..., sha1).hexdigest()
    let request = || {
        Outgoing::new(
            reqwest::Method::POST,
            Url::parse("https://erp.example/api/v2/orders?dry_run=true").unwrap(),
            Default::default(),
            Some(br#"{"name":"ACME"}"#.to_vec()),
        )
    };
    let signer = |extra: Value| {
        let mut settings = json!({"secret": "s3cr3t", "key_id": "ferry",
            "value": "HMAC {key_id}:{signature}", "timestamp_header": "X-Timestamp"});
        settings
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let settings: signing::HmacSettings =
            crate::settings::parse(settings.as_object().unwrap()).unwrap();
        settings.checked().unwrap()
    };
    let mut out = request();
    signer(json!({}))
        .sign(&mut out, "1715000000", "abc123")
        .unwrap();
    assert_eq!(
        out.headers.get("authorization").unwrap(),
        "HMAC ferry:ZBdETV0hla+5jZS6SUSrxYmIixfrRWfL/UApahiHCtw="
    );
    assert_eq!(out.headers.get("x-timestamp").unwrap(), "1715000000");
    let mut out = request();
    signer(json!({"algorithm": "sha1", "encoding": "hex"}))
        .sign(&mut out, "1715000000", "abc123")
        .unwrap();
    assert_eq!(
        out.headers.get("authorization").unwrap(),
        "HMAC ferry:2de98d5f29df64b45a03b53bef2533dd02ee58ed"
    );
}

/// A server that recomputes the signature from what it received.
struct HmacServer;

impl Respond for HmacServer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        use hmac::{KeyInit, Mac};
        let h = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        let to_sign = format!(
            "{}\n{}\n{}\n{}",
            request.method,
            request.url.path(),
            h("x-timestamp"),
            encode::sha256_hex(&request.body)
        );
        let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"k3y").unwrap();
        mac.update(to_sign.as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        if h("x-signature") == expected {
            ResponseTemplate::new(201)
        } else {
            ResponseTemplate::new(401)
        }
    }
}

#[tokio::test]
async fn hmac_signed_requests_pass_a_server_that_checks_them() {
    let server = MockServer::start().await;
    Mock::given(path("/api/orders"))
        .respond_with(HmacServer)
        .mount(&server)
        .await;
    let auth = build(json!({
        "type": "hmac",
        "secret": "k3y",
        "header": "X-Signature",
        "string_to_sign": "{method}\n{path}\n{timestamp}\n{body_sha256}",
        "timestamp_header": "X-Timestamp",
    }));
    let http = client(&server, auth);
    http.send(Call::post("orders").json(&json!({"n": 1})))
        .await
        .unwrap();
    http.send(Call::get("orders")).await.unwrap();
}

fn netsuite() -> netsuite::NetSuiteTba {
    let settings: NetSuiteSettings = crate::settings::parse(
        json!({"account": "1234567-sb1", "consumer_key": "ck-123", "consumer_secret": "cons/secret+1",
               "token_id": "tok-456", "token_secret": "tok secret~2"})
        .as_object()
        .unwrap(),
    )
    .unwrap();
    settings.checked().unwrap()
}

#[test]
fn the_netsuite_signature_matches_a_vector_computed_from_the_spec() {
    // The expected signature was computed once with Python from netsuite.md's rules, not
    // with this code:
    //   pct = lambda s: urllib.parse.quote(s, safe='')
    //   params = sorted((pct(k), pct(v)) for k, v in oauth + query)
    //   base = "&".join(["GET", pct(url_without_query), pct("&".join(f"{k}={v}" for k, v in params))])
    //   key = pct("cons/secret+1") + "&" + pct("tok secret~2")
    //   base64(hmac.new(key, base, sha256).digest())  -> 02SPZbpK9WF2B/WbTr9e6XP0ztc0MEYy844hCLUxIvs=
    // with oauth = consumer key ck-123, token tok-456, HMAC-SHA256, timestamp 1715000000,
    // nonce n0nc3xyz, version 1.0, and query limit=10, q=companyName START_WITH "Ac me&Co",
    // offset=0.
    let mut url = Url::parse(
        "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/customer",
    )
    .unwrap();
    // As the client adds query parameters (form encoding: the space becomes `+`).
    url.query_pairs_mut()
        .append_pair("limit", "10")
        .append_pair("q", r#"companyName START_WITH "Ac me&Co""#)
        .append_pair("offset", "0");
    let request = Outgoing::new(
        reqwest::Method::GET,
        url,
        Default::default(),
        Some(b"{\"body\": \"not signed\"}".to_vec()),
    );
    let header = netsuite().header(&request, "1715000000", "n0nc3xyz");
    assert_eq!(
        header,
        "OAuth realm=\"1234567_SB1\", oauth_consumer_key=\"ck-123\", oauth_token=\"tok-456\", \
         oauth_signature_method=\"HMAC-SHA256\", oauth_timestamp=\"1715000000\", \
         oauth_nonce=\"n0nc3xyz\", oauth_version=\"1.0\", \
         oauth_signature=\"02SPZbpK9WF2B%2FWbTr9e6XP0ztc0MEYy844hCLUxIvs%3D\""
    );
}

#[tokio::test]
async fn netsuite_requests_carry_a_fresh_oauth_header() {
    let server = MockServer::start().await;
    Mock::given(path("/api/query/v1/suiteql"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .mount(&server)
        .await;
    let http = client(&server, Arc::new(netsuite()));
    for _ in 0..2 {
        let call = Call::post("query/v1/suiteql")
            .query("limit", 1000)
            .json(&json!({"q": "SELECT id FROM customer"}));
        http.send(call).await.unwrap();
    }
    let requests = server.received_requests().await.unwrap();
    let nonces: Vec<String> = requests
        .iter()
        .map(|r| {
            let auth = r
                .headers
                .get("authorization")
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            assert!(
                auth.starts_with("OAuth realm=\"1234567_SB1\", oauth_consumer_key=\"ck-123\""),
                "{auth}"
            );
            auth.split("oauth_nonce=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_ne!(nonces[0], nonces[1], "a nonce is never used twice");
}

/// A Jiandaoyun/Yonyou-style API: errors, expired sessions included, inside 200 bodies.
fn code_rules() -> Arc<ReplyRules> {
    Arc::new(
        serde_json::from_value(json!({
            "status_path": "/code",
            "ok_values": [0],
            "auth_codes": [40001],
            "retry_codes": ["50000"],
            // Jiandaoyun's company-wide frequency limit.
            "rate_codes": [8303],
        }))
        .unwrap(),
    )
}

fn session(extra: Value) -> Arc<dyn Auth> {
    let mut settings = json!({
        "type": "session",
        "login_url": "login",
        "username": "sync",
        "password": "pa55word",
        "body": {"user": "{username}", "pass": "{password}", "lang": 2052},
    });
    settings
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    build(settings)
}

/// Answers logins with sessions `s1`, `s2`, …
struct Logins(AtomicUsize);

impl Respond for Logins {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        if body != json!({"user": "sync", "pass": "pa55word", "lang": 2052}) {
            return ResponseTemplate::new(401);
        }
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200)
            .set_body_json(json!({"code": 0, "data": {"token": format!("s{n}")}}))
            .append_header(
                "set-cookie",
                format!("kdservice-sessionid=k{n}; path=/; HttpOnly"),
            )
            .append_header("set-cookie", format!("ASP.NET_SessionId=a{n}; path=/"))
    }
}

#[tokio::test]
async fn an_expired_session_reported_in_a_200_body_logs_in_again_once() {
    let server = MockServer::start().await;
    Mock::given(path("/api/login"))
        .respond_with(Logins(AtomicUsize::new(0)))
        .mount(&server)
        .await;
    Mock::given(path("/api/records"))
        .and(header("x-token", "Token s2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 0, "data": [1]})))
        .mount(&server)
        .await;
    Mock::given(path("/api/records"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"code": 40001, "msg": "token expired"})),
        )
        .mount(&server)
        .await;
    let auth = session(
        json!({"token_path": "/data/token", "header": "X-Token", "format": "Token {token}"}),
    );
    let http = client(&server, auth).with_reply_check(code_rules());
    // A POST: the refusal means the server did nothing, so it is sent again.
    let reply: Value = http
        .json(Call::post("records").json(&json!({})))
        .await
        .unwrap();
    assert_eq!(reply["data"], json!([1]));
    assert_eq!(count(&server, "/api/login").await, 2);
    http.send(Call::get("records")).await.unwrap();
    assert_eq!(count(&server, "/api/login").await, 2);
}

#[tokio::test]
async fn a_session_in_cookies_is_sent_back_and_a_refused_one_renewed_once() {
    let server = MockServer::start().await;
    Mock::given(path("/api/login"))
        .respond_with(Logins(AtomicUsize::new(0)))
        .mount(&server)
        .await;
    Mock::given(path("/api/records"))
        .and(header(
            "cookie",
            "kdservice-sessionid=k1; ASP.NET_SessionId=a1",
        ))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(path("/api/records"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let auth = session(json!({"cookies": ["kdservice-sessionid", "ASP.NET_SessionId"]}));
    let http = client(&server, auth);
    http.send(Call::get("records")).await.unwrap();
    // The second session is refused too: one login again, then an auth error.
    let http2 = client(
        &server,
        session(json!({"cookies": ["kdservice-sessionid"]})),
    );
    let err = http2.send(Call::get("records")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert_eq!(count(&server, "/api/login").await, 3);
}

#[tokio::test]
async fn a_refused_login_is_an_auth_error_without_the_password() {
    let server = MockServer::start().await;
    Mock::given(path("/api/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 0, "data": {}})))
        .mount(&server)
        .await;
    let http = client(&server, session(json!({"token_path": "/data/token"})));
    let err = http.send(Call::get("records")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Auth);
    assert!(err.to_string().contains("cannot log in as `sync`"), "{err}");
    assert!(
        err.to_string()
            .contains("no session token at `/data/token`"),
        "{err}"
    );
    assert!(!err.to_string().contains("pa55word"));
}

#[tokio::test]
async fn errors_in_200_bodies_become_refusals_retries_or_answers() {
    let server = MockServer::start().await;
    // Kingdee: IsSuccess false with the field's message.
    Mock::given(path("/api/save"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"Result": {"ResponseStatus": {
            "IsSuccess": false, "MsgCode": 11, "ErrorCode": 500,
            "Errors": [{"FieldName": "FCustId", "Message": "字段[客户]是必录字段", "DIndex": 0}]}}})))
        .mount(&server)
        .await;
    Mock::given(path("/api/busy"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"code": "50000", "msg": "busy"})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/busy"))
        .respond_with(ResponseTemplate::new(200).set_body_string("plain text"))
        .mount(&server)
        .await;
    let kingdee: ReplyRules = serde_json::from_value(json!({
        "status_path": "/Result/ResponseStatus/IsSuccess",
        "ok_values": ["true"],
        "code_path": "/Result/ResponseStatus/MsgCode",
        "message_path": "/Result/ResponseStatus/Errors/0/Message",
        "auth_codes": [1],
        "rate_codes": [14],
    }))
    .unwrap();
    assert!(kingdee.issues().is_empty());
    let bad: ReplyRules =
        serde_json::from_value(json!({"status_path": "code", "ok_values": []})).unwrap();
    let keys: Vec<String> = bad.issues().iter().map(|i| i.dotted()).collect();
    assert_eq!(keys, ["status_path", "ok_values"]);
    let http = client(&server, Arc::new(NoAuth)).with_reply_check(code_rules());
    let err = http
        .send(Call::post("save").json(&json!({})).check(Arc::new(kingdee)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Validation);
    assert!(
        err.to_string().contains("(code 11): 字段[客户]是必录字段"),
        "{err}"
    );
    // A passing failure is retried; a body that is not JSON is an answer.
    let reply = http.send(Call::get("busy")).await.unwrap();
    assert_eq!(reply.text(), "plain text");
    assert_eq!(count(&server, "/api/busy").await, 2);
    // "Too many requests" in a body: the server did nothing, so even a POST is sent again.
    Mock::given(path("/api/create"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"code": "8303", "msg": "limit"})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/api/create"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"code": 0})))
        .mount(&server)
        .await;
    http.send(Call::post("create").json(&json!({})))
        .await
        .unwrap();
    assert_eq!(count(&server, "/api/create").await, 2);
}

#[test]
fn each_new_scheme_builds_and_hides_its_secrets() {
    let schemes = [
        json!({"type": "oauth2_client_credentials", "token_url": "https://idp/token",
               "client_id": "c", "client_secret": "t0ps3cret"}),
        json!({"type": "oauth2_refresh_token", "token_url": "/oauth/token",
               "client_id": "c", "refresh_token": "t0ps3cret"}),
        json!({"type": "jwt_bearer", "token_url": "https://login.salesforce.com/services/oauth2/token",
               "issuer": "c", "subject": "u", "audience": "https://login.salesforce.com",
               "private_key": TEST_KEY}),
        json!({"type": "hmac", "secret": "t0ps3cret"}),
        json!({"type": "netsuite_tba", "account": "1", "consumer_key": "k", "consumer_secret": "t0ps3cret",
               "token_id": "t", "token_secret": "t0ps3cret"}),
        json!({"type": "session", "login_url": "/login", "username": "u", "password": "t0ps3cret",
               "body": {"p": "{password}"}, "token_path": "/token"}),
    ];
    for v in schemes {
        let settings: AuthSettings = crate::settings::parse(v.as_object().unwrap()).unwrap();
        assert_eq!(settings.scheme(), v["type"]);
        let auth = settings.build().unwrap();
        let shown = format!("{settings:?} {auth:?}");
        assert!(
            !shown.contains("t0ps3cret") && !shown.contains("PRIVATE"),
            "{shown}"
        );
        let secrets = auth.secrets();
        assert!(
            secrets
                .iter()
                .any(|s| s == "t0ps3cret" || s.contains("PRIVATE KEY")),
            "{}: {secrets:?}",
            v["type"]
        );
    }
}

#[test]
fn scheme_problems_are_reported_at_their_key() {
    let cc = |extra: Value| {
        let mut v = json!({"type": "oauth2_client_credentials", "token_url": "https://idp/token",
                           "client_id": "c", "client_secret": "s"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    };
    assert!(issue(cc(json!({"client_secret": " "}))).starts_with("client_secret: is empty"));
    assert!(issue(cc(json!({"token_url": "ftp://idp/token"}))).starts_with("token_url: "));
    let jwt = json!({"type": "jwt_bearer", "token_url": "https://idp/token", "issuer": "c",
                     "subject": "u", "audience": "a", "private_key": "-----BEGIN PRIVATE KEY-----\nnope"});
    assert!(issue(jwt).starts_with("private_key: is not"));
    let hmac = json!({"type": "hmac", "secret": "s", "string_to_sign": "{method}{body}"});
    assert_eq!(
        issue(hmac),
        "string_to_sign: has unknown placeholders: {body}"
    );
    let both = json!({"type": "session", "login_url": "/login", "username": "u", "password": "p",
                      "body": {}, "token_path": "/t", "cookies": ["sid"]});
    assert!(issue(both).starts_with("cookies: give either"));
    let neither = json!({"type": "session", "login_url": "/login", "username": "u", "password": "p", "body": {}});
    assert!(issue(neither).starts_with("token_path: is missing"));
    let unknown = json!({"type": "netsuite_tba", "account": "1", "consumer_key": "k",
                         "consumer_secret": "s", "token_id": "t", "token_secret": "s", "realm": "x"});
    let parsed: Result<AuthSettings, _> = crate::settings::parse(unknown.as_object().unwrap());
    assert!(parsed.is_err(), "unknown keys are refused");
}

#[tokio::test]
async fn a_token_replys_instance_url_becomes_the_api_base() {
    // Salesforce: the token comes from the login host, the API answers on the org's own.
    let login = MockServer::start().await;
    let instance = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "00D!tok", "token_type": "Bearer",
            "instance_url": instance.uri(),
        })))
        .mount(&login)
        .await;
    Mock::given(path("/services/data/v60.0/limits"))
        .and(header("authorization", "Bearer 00D!tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&instance)
        .await;
    Mock::given(path("/services/data/v60.0/query/01g-2"))
        .and(header("authorization", "Bearer 00D!tok"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"done": true})))
        .mount(&instance)
        .await;
    let auth = build(json!({
        "type": "oauth2_client_credentials",
        "token_url": "/services/oauth2/token",
        "client_id": "app", "client_secret": "s3cr3t",
    }));
    let mut o = HttpOptions::new(Url::parse(&login.uri()).unwrap());
    o.retries = 0;
    let http = HttpClient::new("sf", o, auth).unwrap();
    assert_eq!(http.api_base().as_str(), format!("{}/", login.uri()));
    let first: Value = http
        .json(Call::get("/services/data/v60.0/limits"))
        .await
        .unwrap();
    assert_eq!(
        first,
        json!({"ok": true}),
        "the first call goes to the instance"
    );
    assert_eq!(http.api_base().as_str(), format!("{}/", instance.uri()));
    // A next-page link on the instance is followed with the token.
    let next = format!("{}/services/data/v60.0/query/01g-2", instance.uri());
    let page: Value = http.json(Call::get(next)).await.unwrap();
    assert_eq!(page, json!({"done": true}));
    // Nothing but the token request reached the login host.
    assert_eq!(login.received_requests().await.unwrap().len(), 1);
}
