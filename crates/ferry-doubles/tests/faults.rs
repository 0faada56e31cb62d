//! Each fault fires as configured, in process and over the control endpoints.

mod support;

use std::time::{Duration, Instant, SystemTime};

use ferry_doubles::reference::{AuthMode, ExpiredAnswer, ReferenceConfig};
use ferry_doubles::{Fault, FaultAction, RetryAfter};
use serde_json::{Value, json};
use support::{client, get_json, start, start_open};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn statuses(client: &reqwest::Client, url: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(client.get(url).send().await.unwrap().status().as_u16());
    }
    out
}

#[tokio::test]
async fn the_third_get_fails_with_503_twice_and_other_requests_do_not_count() {
    let double = start_open().await;
    let http = client();
    double.faults().add(
        Fault::new(FaultAction::status(503))
            .on("GET", "/api/customers")
            .after(2)
            .times(2),
    );
    let customers = double.url("/api/customers");
    let products = statuses(&http, &double.url("/api/products"), 3).await;
    assert_eq!(products, [200, 200, 200]);
    let posted = http.post(&customers).json(&json!({})).send().await.unwrap();
    assert_eq!(
        posted.status(),
        422,
        "a POST is not a GET: it reaches the double"
    );
    assert_eq!(
        statuses(&http, &customers, 6).await,
        [200, 200, 503, 503, 200, 200]
    );
    let failed = double.requests().matching("GET", "/api/customers");
    let logged: Vec<(Option<u16>, Vec<String>)> = failed
        .iter()
        .map(|r| (r.status, r.faults.clone()))
        .collect();
    assert_eq!(logged[2], (Some(503), vec!["status 503".to_owned()]));
    assert_eq!(logged[4], (Some(200), vec![]));
}

#[tokio::test]
async fn too_many_requests_says_retry_after_in_seconds_or_as_an_http_date() {
    let double = start_open().await;
    let http = client();
    double
        .faults()
        .add(Fault::new(FaultAction::too_many_requests(RetryAfter::Seconds(7))).times(2));
    let url = double.url("/api/products");
    for _ in 0..2 {
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "7");
    }
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);

    double
        .faults()
        .add(Fault::new(FaultAction::too_many_requests(RetryAfter::HttpDate(120))).times(1));
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 429);
    let value = response.headers()["retry-after"].to_str().unwrap();
    let at = httpdate::parse_http_date(value).expect("an HTTP date");
    let wait = at.duration_since(SystemTime::now()).unwrap();
    assert!((118..=120).contains(&wait.as_secs()), "{value}: {wait:?}");
}

#[tokio::test]
async fn a_5xx_burst_can_carry_a_vendor_body_and_headers() {
    let double = start_open().await;
    let http = client();
    let action = FaultAction::Status {
        status: 502,
        retry_after: None,
        headers: [("x-vendor".to_owned(), "gateway".to_owned())].into(),
        body: Some("<html>Bad Gateway</html>".into()),
    };
    double
        .faults()
        .add(Fault::new(action).on("*", "/api/**").times(3));
    let url = double.url("/api/orders/1");
    for _ in 0..3 {
        let response = http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 502);
        assert_eq!(response.headers()["x-vendor"], "gateway");
        assert_eq!(response.text().await.unwrap(), "<html>Bad Gateway</html>");
    }
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn latency_holds_the_answer_back_and_only_on_the_matching_path() {
    let double = start_open().await;
    let http = client();
    double.faults().add(
        Fault::new(FaultAction::latency(Duration::from_millis(300))).on("GET", "/api/customers"),
    );
    double.faults().add(
        Fault::new(FaultAction::Latency {
            ms: 100,
            jitter_ms: 200,
        })
        .on("GET", "/api/orders"),
    );
    let started = Instant::now();
    let (status, _) = get_json(&http, &double.url("/api/customers")).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let started = Instant::now();
    get_json(&http, &double.url("/api/orders")).await;
    assert!(started.elapsed() >= Duration::from_millis(100));
    get_json(&http, &double.url("/api/products")).await;
    let faults: Vec<Vec<String>> = double
        .requests()
        .all()
        .into_iter()
        .map(|r| r.faults)
        .collect();
    assert_eq!(
        faults,
        [
            vec!["latency 300 ms".to_owned()],
            vec!["latency 100+200 ms".to_owned()],
            vec![]
        ]
    );
}

#[tokio::test]
async fn a_connection_dropped_before_the_answer_fails_the_request_and_the_next_one_works() {
    let double = start_open().await;
    let http = client();
    double.faults().add(
        Fault::new(FaultAction::DropBeforeResponse)
            .on("GET", "/api/customers")
            .times(1),
    );
    let url = double.url("/api/customers");
    let err = http.get(&url).send().await.expect_err("no answer");
    assert!(!err.is_timeout(), "{err:?}");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let first = &double.requests().all()[0];
    assert_eq!(first.status, None);
    assert_eq!(first.faults, ["drop before response"]);
}

/// Sends a raw HTTP/1.1 GET and reads until the server closes: (head, body bytes).
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> (String, Vec<u8>) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes).await;
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    (head, bytes[split + 4..].to_vec())
}

#[tokio::test]
async fn a_connection_dropped_mid_body_sends_the_head_and_only_part_of_the_body() {
    let double = start_open().await;
    double
        .faults()
        .add(Fault::new(FaultAction::DropMidBody { after_bytes: 40 }).on("GET", "/api/customers"));
    let (head, body) = raw_get(double.addr(), "/api/customers?per_page=5").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .expect("a Content-Length")
        .parse()
        .unwrap();
    assert!(length > 40, "the whole page is longer than what was sent");
    assert_eq!(body.len(), 40);
    assert!(body.starts_with(b"{\"data\":["));

    let http = client();
    let response = http.get(double.url("/api/customers")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let err = response.bytes().await.expect_err("the body is cut");
    assert!(
        err.is_body() || err.is_decode() || err.is_request(),
        "{err:?}"
    );
}

#[tokio::test]
async fn expiring_sessions_makes_the_auth_layer_answer_as_the_vendor_does() {
    let double = start(ReferenceConfig {
        auth: AuthMode::OAuth2,
        ..ReferenceConfig::default()
    })
    .await;
    let http = client();
    let token = |http: reqwest::Client, url: String| async move {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", "ferry-client"),
            ("client_secret", "ferry-client-secret"),
        ];
        let body: Value = support::post_form(&http, &url, &form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    };
    let first = token(http.clone(), double.url("/oauth/token")).await;
    let url = double.url("/api/customers");
    let call = |t: String| http.get(&url).bearer_auth(t).send();
    assert_eq!(call(first.clone()).await.unwrap().status(), 200);
    double.faults().add(
        Fault::new(FaultAction::ExpireSessions)
            .on("GET", "/api/customers")
            .after(1)
            .times(1),
    );
    assert_eq!(call(first.clone()).await.unwrap().status(), 200);
    let expired = call(first.clone()).await.unwrap();
    assert_eq!(expired.status(), 401);
    let body: Value = expired.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TOKEN_EXPIRED");
    let second = token(http.clone(), double.url("/oauth/token")).await;
    assert_eq!(call(second).await.unwrap().status(), 200);
    assert_eq!(call(first).await.unwrap().status(), 401);
}

#[tokio::test]
async fn an_expired_session_can_be_answered_inside_http_200() {
    let double = start(ReferenceConfig {
        auth: AuthMode::Session,
        expired_answer: ExpiredAnswer::ErrorInOk,
        ..ReferenceConfig::default()
    })
    .await;
    let http = client();
    let login = json!({"username": "ferry", "password": "ferry-pass"});
    let body: Value = http
        .post(double.url("/session/login"))
        .json(&login)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = body["session_id"].as_str().unwrap().to_owned();
    let call = || {
        http.get(double.url("/api/products"))
            .header("x-session-id", &session)
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);
    let expire = http
        .post(double.url("/_double/sessions/expire"))
        .send()
        .await
        .unwrap();
    assert_eq!(expire.status(), 204);
    let response = call().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ok"], false);
    assert_eq!(body["error"]["code"], "SESSION_EXPIRED");
}

#[tokio::test]
async fn an_error_inside_http_200_has_the_doubles_error_shape() {
    let double = start_open().await;
    let http = client();
    double.faults().add(
        Fault::new(FaultAction::error_in_ok(
            "BUSY",
            "the server is busy, try later",
        ))
        .on("POST", "/api/*/batch")
        .times(1),
    );
    let batch = json!({"records": [{"code": "N1", "name": "New"}]});
    let response = http
        .post(double.url("/api/customers/batch"))
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"ok": false, "error": {"code": "BUSY", "message": "the server is busy, try later"}})
    );
    assert!(
        double
            .store()
            .find_by_key("customers", "N1")
            .unwrap()
            .is_none()
    );

    double.faults().add(
        Fault::new(FaultAction::error_in_ok(
            "LOCKED",
            "record <P0001> is locked",
        ))
        .on("POST", "/soap/**")
        .times(1),
    );
    let envelope = "<Envelope><Body><GetProduct><sku>P0001</sku></GetProduct></Body></Envelope>";
    let response = http
        .post(double.url("/soap/products"))
        .body(envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc = ferry_doubles::xml::parse(&response.text().await.unwrap()).unwrap();
    let error = doc
        .find("Error")
        .expect("an Error element in the SOAP body");
    assert_eq!(error.child_text("code"), Some("LOCKED"));
    assert_eq!(
        error.child_text("message"),
        Some("record <P0001> is locked")
    );
}

#[tokio::test]
async fn faults_set_over_the_control_endpoint_fire_and_reset_clears_everything() {
    let double = start_open().await;
    let http = client();
    let faults = json!([
        {"method": "GET", "path": "/api/products", "after": 1, "times": 1,
         "action": {"kind": "status", "status": 429, "retry_after": {"seconds": 3}}},
        {"path": "/api/orders", "action": {"kind": "drop_before_response"}}
    ]);
    let added = http
        .post(double.url("/_double/faults"))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 201);
    let url = double.url("/api/products");
    assert_eq!(statuses(&http, &url, 3).await, [200, 429, 200]);
    assert!(http.get(double.url("/api/orders")).send().await.is_err());
    let (_, listed) = get_json(&http, &double.url("/_double/faults")).await;
    assert_eq!(
        (listed[0]["seen"].clone(), listed[0]["fired"].clone()),
        (json!(3), json!(1))
    );

    let bad = json!({"action": {"kind": "status", "status": 42}});
    let refused = http
        .post(double.url("/_double/faults"))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let message: Value = refused.json().await.unwrap();
    assert!(
        message["error"]
            .as_str()
            .unwrap()
            .contains("action.status: 42"),
        "{message}"
    );
    let unknown = json!({"action": {"kind": "status", "status": 500}, "time": 1});
    let refused = http
        .post(double.url("/_double/faults"))
        .json(&unknown)
        .send()
        .await
        .unwrap();
    let message: Value = refused.json().await.unwrap();
    assert!(
        message["error"]
            .as_str()
            .unwrap()
            .contains("unknown field `time`"),
        "{message}"
    );

    let created = json!({"code": "N1", "name": "New"});
    http.post(double.url("/api/customers"))
        .json(&created)
        .send()
        .await
        .unwrap();
    let reset = http
        .post(double.url("/_double/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    assert!(double.faults().list().is_empty());
    assert!(double.requests().all().is_empty());
    assert!(
        double
            .store()
            .find_by_key("customers", "N1")
            .unwrap()
            .is_none()
    );
    assert_eq!(
        http.get(double.url("/api/orders"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn the_request_log_masks_credentials_and_leaves_control_calls_out() {
    let double = start(ReferenceConfig::default()).await;
    let http = client();
    let response = http
        .get(double.url("/api/customers?per_page=2&api_key=leak"))
        .header("x-api-key", "ref-api-key")
        .header("cookie", "ref_session=abc; lang=zh")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        400,
        "api_key is not a query parameter of the list"
    );
    let (status, log) = get_json(&http, &double.url("/_double/requests")).await;
    assert_eq!(status, 200);
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 1, "{log:?}");
    let entry = &log[0];
    assert_eq!(entry["method"], "GET");
    assert_eq!(entry["path"], "/api/customers");
    assert_eq!(entry["query"], "per_page=2&api_key=****");
    assert_eq!(entry["headers"]["x-api-key"], "****");
    assert_eq!(entry["headers"]["cookie"], "ref_session=****; lang=****");
    assert_eq!(entry["status"], 400);
    assert!(!log.iter().any(|e| e.to_string().contains("ref-api-key")));
}
