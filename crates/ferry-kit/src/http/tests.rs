//! The plumbing against wiremock servers: retries, Retry-After, classification, auth
//! refresh, the shared rate limit and daily quota, paging, and secrets kept out of messages.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ferry_model::{ConnectorError, ErrorKind};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;

fn options(server: &MockServer) -> HttpOptions {
    let mut o = HttpOptions::new(Url::parse(&server.uri()).unwrap());
    o.backoff = Duration::from_millis(10);
    o.timeout = Duration::from_secs(5);
    o
}

fn client(o: HttpOptions) -> HttpClient {
    HttpClient::new("crm", o, Arc::new(NoAuth)).unwrap()
}

async fn hits(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

#[tokio::test]
async fn retry_after_is_honoured_on_429() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/items"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([1])))
        .mount(&server)
        .await;
    let http = client(options(&server));
    let started = Instant::now();
    let body: Value = http.json(Call::get("items")).await.unwrap();
    assert_eq!(body, json!([1]));
    // The backoff is 10 ms: only the server's Retry-After explains a one-second wait.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(hits(&server).await, 2);
}

#[tokio::test]
async fn a_long_retry_after_is_handed_to_the_engine_instead_of_waited_out() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    let started = Instant::now();
    let e = client(options(&server))
        .send(Call::post("orders").json(&json!({"a": 1})))
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::RateLimited {
            retry_after: Some(Duration::from_secs(3600))
        }
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(hits(&server).await, 1);
}

#[tokio::test]
async fn retries_stop_after_the_limit() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let mut o = options(&server);
    o.retries = 2;
    let e = client(o).send(Call::get("items")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Retryable);
    assert_eq!(hits(&server).await, 3, "first attempt + 2 retries");
}

#[tokio::test]
async fn a_post_is_repeated_after_a_5xx_only_when_safe() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let http = client(options(&server));
    let e = http.send(Call::post("create")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Retryable);
    assert_eq!(
        hits(&server).await,
        1,
        "a create may have happened: not repeated"
    );
    http.send(Call::post("search").safe_to_repeat())
        .await
        .unwrap_err();
    assert_eq!(
        hits(&server).await,
        1 + 4,
        "a read over POST: 1 + 3 retries"
    );
}

#[tokio::test]
async fn client_errors_are_classified_and_not_retried() {
    let server = MockServer::start().await;
    for (code, p) in [
        (400, "/bad"),
        (422, "/unprocessable"),
        (404, "/gone"),
        (409, "/dup"),
    ] {
        Mock::given(path(p))
            .respond_with(ResponseTemplate::new(code).set_body_json(
                json!({"error": true, "errors": {"name": ["This field is required."]}}),
            ))
            .mount(&server)
            .await;
    }
    let http = client(options(&server));
    let e = http.send(Call::put("bad")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(
        e.message().starts_with(&format!(
            "crm: PUT {}/bad: HTTP 400 Bad Request: ",
            server.uri()
        )),
        "{e}"
    );
    assert!(e.message().contains("This field is required."), "{e}");
    let kinds = [
        ("unprocessable", ErrorKind::Validation),
        ("gone", ErrorKind::NotFound),
        ("dup", ErrorKind::Conflict),
    ];
    for (p, kind) in kinds {
        assert_eq!(
            http.send(Call::get(p)).await.unwrap_err().kind(),
            kind,
            "{p}"
        );
    }
    assert_eq!(hits(&server).await, 4, "one attempt each");
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_retryable() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut o = HttpOptions::new(Url::parse(&format!("http://127.0.0.1:{port}/api")).unwrap());
    o.backoff = Duration::from_millis(5);
    o.retries = 1;
    let e = client(o).send(Call::post("x")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Retryable);
    assert!(e.message().contains("cannot connect"), "{e}");
}

/// A session API: `POST /login` returns a token; requests carry `Session <token>`.
#[derive(Debug, Default)]
struct SessionAuth {
    token: Mutex<Option<String>>,
    logins: AtomicUsize,
}

impl SessionAuth {
    async fn login(&self, http: &HttpClient) -> Result<String, ConnectorError> {
        self.logins.fetch_add(1, Ordering::SeqCst);
        let reply: Value = http
            .json(
                Call::post("login")
                    .without_auth()
                    .json(&json!({"password": "pw"})),
            )
            .await?;
        Ok(reply["token"].as_str().unwrap_or_default().to_owned())
    }
}

#[async_trait]
impl Auth for SessionAuth {
    async fn apply(&self, http: &HttpClient, request: &mut Outgoing) -> Result<(), ConnectorError> {
        let mut token = self.token.lock().await;
        if token.is_none() {
            *token = Some(self.login(http).await?);
        }
        let value = format!("Session {}", token.as_deref().unwrap_or_default());
        request
            .headers
            .insert("authorization", HeaderValue::from_str(&value).unwrap());
        Ok(())
    }

    async fn refresh(
        &self,
        http: &HttpClient,
        rejected: &Outgoing,
    ) -> Result<bool, ConnectorError> {
        let mut token = self.token.lock().await;
        let current = token.as_ref().map(|t| format!("Session {t}"));
        if rejected
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            == current.as_deref()
        {
            *token = Some(self.login(http).await?);
        }
        Ok(true)
    }
}

#[tokio::test]
async fn an_expired_session_is_renewed_once_and_the_request_succeeds() {
    let server = MockServer::start().await;
    Mock::given(path("/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "old"})))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path("/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "new"})))
        .mount(&server)
        .await;
    Mock::given(path("/orders"))
        .and(header("authorization", "Session new"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 7})))
        .mount(&server)
        .await;
    Mock::given(path("/orders"))
        .respond_with(ResponseTemplate::new(401))
        .mount(&server)
        .await;
    let auth = Arc::new(SessionAuth::default());
    let http = HttpClient::new("erp", options(&server), auth.clone()).unwrap();
    // A POST: refused credentials mean the server did nothing, so it is sent again.
    let reply: Value = http
        .json(Call::post("orders").json(&json!({})))
        .await
        .unwrap();
    assert_eq!(reply, json!({"id": 7}));
    assert_eq!(auth.logins.load(Ordering::SeqCst), 2);
    // With the new session, no further login.
    http.send(Call::get("orders")).await.unwrap();
    assert_eq!(auth.logins.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn credentials_refused_after_a_refresh_are_an_auth_error() {
    let server = MockServer::start().await;
    Mock::given(path("/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "t"})))
        .mount(&server)
        .await;
    Mock::given(path("/orders"))
        .respond_with(ResponseTemplate::new(403).set_body_string("<h1>Forbidden</h1>"))
        .mount(&server)
        .await;
    let auth = Arc::new(SessionAuth::default());
    let http = HttpClient::new("erp", options(&server), auth.clone()).unwrap();
    let e = http.send(Call::get("orders")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(
        e.message().ends_with("HTTP 403 Forbidden: Forbidden"),
        "{e}"
    );
    assert_eq!(
        auth.logins.load(Ordering::SeqCst),
        2,
        "one login, one refresh"
    );
}

#[tokio::test]
async fn the_rate_limit_is_shared_by_every_clone_of_a_systems_client() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let mut o = options(&server);
    o.rate = Some(Rate {
        period: Duration::from_millis(100), // 10 per second
        burst: std::num::NonZeroU32::MIN,
    });
    let http = client(o);
    // Two "sources" of one system, each with its clone, each sending 5 requests at once.
    let (a, b) = (http.clone(), http.clone());
    let started = Instant::now();
    let run = |h: HttpClient, p: &'static str| async move {
        for _ in 0..5 {
            h.send(Call::get(p)).await.unwrap();
        }
    };
    tokio::join!(run(a, "a"), run(b, "b"));
    // 10 requests at 10/s, the first free: at least 0.9 s together (each alone would take
    // 0.4 s if each clone had its own limit).
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(850), "{took:?}");
    assert_eq!(hits(&server).await, 10);
}

#[tokio::test]
async fn a_spent_daily_quota_fails_fast_until_utc_midnight() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let mut o = options(&server);
    o.daily_quota = Some(2);
    let http = client(o);
    http.send(Call::get("a")).await.unwrap();
    http.clone().send(Call::get("b")).await.unwrap();
    let e = http.send(Call::get("c")).await.unwrap_err();
    let ErrorKind::RateLimited {
        retry_after: Some(wait),
    } = e.kind()
    else {
        panic!("not rate-limited with a wait: {e:?}");
    };
    let now = chrono::Utc::now();
    let midnight = (now.date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let expected = (midnight - now).to_std().unwrap();
    assert!(
        expected.abs_diff(wait) < Duration::from_secs(5),
        "{wait:?} vs {expected:?}"
    );
    assert!(e.message().contains("daily quota of 2 requests"), "{e}");
    assert_eq!(hits(&server).await, 2, "the refused request was not sent");
}

#[tokio::test]
async fn secrets_never_reach_an_error_message() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"detail": "token tok-s3cr3t-123 is not valid for hunter2"})),
        )
        .mount(&server)
        .await;
    let base = server.uri().replace("http://", "http://alice:hunter2@");
    let mut o = HttpOptions::new(Url::parse(&base).unwrap());
    o.retries = 0;
    let auth = StaticAuth::bearer("tok-s3cr3t-123").unwrap();
    assert!(!format!("{auth:?}").contains("s3cr3t"));
    let http = HttpClient::new("crm", o, Arc::new(auth)).unwrap();
    assert!(!format!("{http:?}").contains("hunter2"));
    let e = http
        .send(Call::get("me").query("password", "hunter2"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    let message = e.to_string();
    for secret in ["hunter2", "tok-s3cr3t-123", "Bearer"] {
        assert!(!message.contains(secret), "{secret} in {message}");
    }
    assert!(message.contains("alice:****@"), "{message}");
    assert!(
        message.contains("token **** is not valid for ****"),
        "{message}"
    );
    // The bearer token did go to the server.
    let sent = &server.received_requests().await.unwrap()[0];
    assert_eq!(sent.headers["authorization"], "Bearer tok-s3cr3t-123");
}

#[tokio::test]
async fn pages_by_offset_and_by_next_url() {
    let server = MockServer::start().await;
    for (offset, items) in [
        ("0", json!([1, 2])),
        ("2", json!([3, 4])),
        ("4", json!([5])),
    ] {
        Mock::given(path("/contacts"))
            .and(query_param("offset", offset))
            .and(query_param("limit", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"list": items})))
            .mount(&server)
            .await;
    }
    let http = client(options(&server));
    let lister = Lister::new(Call::get("contacts"), Paging::offset_limit(), "/list").page_size(2);
    assert_eq!(
        lister.all(&http).await.unwrap(),
        json!([1, 2, 3, 4, 5]).as_array().unwrap().clone()
    );
    let second = lister.page(&http, Some(&PagePos::Offset(2))).await.unwrap();
    assert_eq!(second.next, Some(PagePos::Offset(4)));

    let next = format!("{}/products?page=2", server.uri());
    Mock::given(path("/products"))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"next": null, "results": ["c"]})),
        )
        .mount(&server)
        .await;
    Mock::given(path("/products"))
        .and(query_param("limit", "50"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"next": next, "results": ["a", "b"]})),
        )
        .mount(&server)
        .await;
    let paging = Paging::NextUrl {
        pointer: "/next".to_owned(),
        limit: Some("limit".to_owned()),
    };
    let lister = Lister::new(Call::get("products"), paging, "/results").page_size(50);
    let first = lister.page(&http, None).await.unwrap();
    assert_eq!(first.next, Some(PagePos::Url(next)));
    assert_eq!(
        lister.all(&http).await.unwrap(),
        vec![json!("a"), json!("b"), json!("c")]
    );
    // A next link to another host is refused: credentials stay on the system's origin.
    let e = lister
        .page(
            &http,
            Some(&PagePos::Url("http://elsewhere.invalid/x".to_owned())),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fatal);
}

#[test]
fn embedded_http_settings_report_problems_at_their_key() {
    #[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Settings {
        #[serde(flatten)]
        http: HttpSettings,
        database: String,
    }
    let issue = |v: Value| {
        let i = parse_settings::<Settings>(v.as_object().unwrap())
            .unwrap_err()
            .remove(0);
        (i.dotted(), i.message)
    };
    let ok = parse_settings::<Settings>(
        json!({"url": "http://h", "database": "d", "retries": 1})
            .as_object()
            .unwrap(),
    )
    .unwrap();
    assert_eq!((ok.http.retries, ok.database.as_str()), (1, "d"));
    assert_eq!(issue(json!({"database": "d"})).0, "url");
    assert_eq!(issue(json!({"url": "http://h"})).0, "database");
    assert_eq!(
        issue(json!({"url": "http://h", "database": "d", "timeout": "soon"})).0,
        "timeout"
    );
    assert_eq!(
        issue(json!({"url": "http://h", "database": "d", "rate": {"per_second": 1, "x": 1}})).0,
        "rate.x"
    );
    let (path, message) = issue(json!({"url": "http://h", "database": "d", "databse": "e"}));
    assert_eq!(path, "databse");
    assert_eq!(message, "unknown key `databse`; did you mean `database`?");
    let (_, message) = issue(json!({"url": "http://h", "database": "d", "colour": "e"}));
    assert!(
        message.contains("allowed here:") && message.contains("timeout"),
        "{message}"
    );
}

#[tokio::test]
async fn a_call_can_classify_a_status_its_own_way_and_then_no_refresh_happens() {
    let server = MockServer::start().await;
    Mock::given(path("/login"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"token": "t"})))
        .mount(&server)
        .await;
    Mock::given(path("/rpc"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    let auth = Arc::new(SessionAuth::default());
    let http = HttpClient::new("erp", options(&server), auth.clone()).unwrap();
    let call = Call::post("rpc").classify(StatusCode::FORBIDDEN, ErrorKind::Fatal);
    let e = http.send(call).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fatal);
    assert_eq!(
        auth.logins.load(Ordering::SeqCst),
        1,
        "no refresh for a non-auth status"
    );
}

#[tokio::test]
async fn an_accepted_status_is_returned_with_its_body_and_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/accounts"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"errors": {"name": ["taken"]}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let http = client(options(&server));
    let response = http
        .send(
            Call::post("accounts")
                .json(&json!({}))
                .accept(StatusCode::BAD_REQUEST),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().unwrap(),
        json!({"errors": {"name": ["taken"]}})
    );
    // Without `accept` the same reply is a Validation error.
    let e = http
        .send(Call::post("accounts").json(&json!({})))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    // Accepting one status changes nothing for the others: a 503 is still retried.
    let e = http
        .send(Call::get("x").accept(StatusCode::NOT_FOUND))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Retryable);
    assert_eq!(hits(&server).await, 2 + 4);
}

fn netsuite_codes() -> Arc<ErrorCodes> {
    Arc::new(ErrorCodes {
        list: "/o:errorDetails".into(),
        code: "o:errorCode".into(),
        rate_codes: vec!["CONCURRENCY_LIMIT_EXCEEDED".into()],
        auth_codes: vec!["INVALID_LOGIN_ATTEMPT".into()],
    })
}

fn problem(status: u16, code: &str, detail: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"title": "Bad Request", "status": status,
        "o:errorDetails": [{"detail": detail, "o:errorCode": code}]}))
}

#[tokio::test]
async fn error_codes_in_the_body_decide_over_the_status() {
    let server = MockServer::start().await;
    // A concurrency refusal sent as a 400: retried (even a POST: it was turned away).
    Mock::given(path("/q"))
        .respond_with(problem(
            400,
            "CONCURRENCY_LIMIT_EXCEEDED",
            "Request blocked.",
        ))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(path("/q"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .mount(&server)
        .await;
    let http = client(options(&server)).with_reply_check(netsuite_codes());
    http.send(Call::post("q")).await.unwrap();
    assert_eq!(hits(&server).await, 3);
    // Any other 400 is the record's refusal, with NetSuite's detail; a login code is `auth`.
    server.reset().await;
    Mock::given(path("/r"))
        .respond_with(problem(
            400,
            "USER_ERROR",
            "Please enter value(s) for: Company Name",
        ))
        .mount(&server)
        .await;
    Mock::given(path("/a"))
        .respond_with(problem(
            400,
            "INVALID_LOGIN_ATTEMPT",
            "Invalid login attempt.",
        ))
        .mount(&server)
        .await;
    Mock::given(path("/ok"))
        .respond_with(problem(200, "USER_ERROR", "inside a 200"))
        .mount(&server)
        .await;
    let e = http.send(Call::put("r")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation);
    assert!(e.message().contains("Company Name (USER_ERROR)"), "{e}");
    assert_eq!(hits(&server).await, 1, "a refusal is not retried");
    let e = http.send(Call::get("a")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
    let e = http.send(Call::get("ok")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Validation, "{e}");
    assert!(e.message().contains("inside a 200"), "{e}");
}
