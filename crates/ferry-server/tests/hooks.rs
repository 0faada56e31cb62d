//! Inbound webhooks against a real server: signature, timestamp window, replays, body size,
//! malformed notices, and an accepted notice that is queued before the answer and then
//! synced into the real target table.

mod common;

use common::*;
use ferry_server::hooks::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use reqwest::StatusCode;
use serde_json::Value;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Sends `body` to `/hooks/crm` signed with `secret` at `timestamp`.
async fn send(s: &TestServer, body: &str, timestamp: i64, secret: &str) -> reqwest::Response {
    let ts = timestamp.to_string();
    s.post("/hooks/crm")
        .header(TIMESTAMP_HEADER, &ts)
        .header(
            SIGNATURE_HEADER,
            sign(secret.as_bytes(), &ts, body.as_bytes()),
        )
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn error_of(r: reqwest::Response) -> String {
    let body: Value = r.json().await.unwrap();
    body["error"].as_str().unwrap().to_owned()
}

async fn queued(s: &TestServer) -> u64 {
    s.engine.store().queue_depth(None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_notice_is_queued_before_the_answer_and_then_synced() {
    let s = start("").await;
    let r = send(&s, r#"{"entity": "customer", "id": "2"}"#, now(), SECRET).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: Value = r.json().await.unwrap();
    let tracking = body["accepted"][0]["tracking_id"].as_i64().unwrap();
    // Committed before the 202: the queue holds it now, whatever happens to the process.
    assert_eq!(queued(&s).await, 1);
    // A second store on the same file (another process after a crash) sees it too.
    let other = ferry_store::open(&format!(
        "sqlite://{}",
        s.dir.path().join("ferry.db").display()
    ))
    .await
    .unwrap();
    assert_eq!(other.queue_depth(Some("customers")).await.unwrap(), 1);

    s.drain().await;
    assert_eq!(
        s.target_rows().await,
        [("C002".into(), "Grace".into(), Some("13900001111".into()))]
    );
    let st: Value = s
        .get(&format!("/api/v1/sync/{tracking}"))
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(st["trigger"], "webhook");
    assert_eq!(
        (st["state"].as_str(), st["outcome"].as_str()),
        (Some("done"), Some("created"))
    );

    // A list, by flow, with a numeric id.
    let r = send(
        &s,
        r#"[{"flow": "customers", "id": 1}, {"entity": "customer", "id": "2"}]"#,
        now(),
        SECRET,
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["accepted"].as_array().unwrap().len(), 2);
    assert_eq!(queued(&s).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_refused_and_queues_nothing() {
    let s = start("").await;
    let body = r#"{"entity": "customer", "id": "1"}"#;
    let r = send(&s, body, now(), "another-secret-of-enough-length").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(error_of(r).await.contains("does not match"));
    // Signed body, then a different body sent with that signature.
    let ts = now().to_string();
    let r = s
        .post("/hooks/crm")
        .header(TIMESTAMP_HEADER, &ts)
        .header(
            SIGNATURE_HEADER,
            sign(SECRET.as_bytes(), &ts, body.as_bytes()),
        )
        .body(r#"{"entity": "customer", "id": "2"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // No signature at all.
    let r = s.post("/hooks/crm").body(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        error_of(r)
            .await
            .contains("missing header x-ferry-timestamp")
    );
    assert_eq!(queued(&s).await, 0);
    // A system with no webhook configured.
    let r = s.post("/hooks/erp").body(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_future_timestamps_are_refused() {
    let s = start("  webhook: { tolerance: 5m }").await;
    let body = r#"{"entity": "customer", "id": "1"}"#;
    let r = send(&s, body, now() - 301, SECRET).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(error_of(r).await.contains("behind our clock"));
    let r = send(&s, body, now() + 301, SECRET).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(error_of(r).await.contains("ahead of our clock"));
    let r = send(&s, body, now() - 200, SECRET).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(queued(&s).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_signature_is_refused() {
    let s = start("").await;
    let body = r#"{"entity": "customer", "id": "1"}"#;
    let ts = now();
    assert_eq!(
        send(&s, body, ts, SECRET).await.status(),
        StatusCode::ACCEPTED
    );
    let again = send(&s, body, ts, SECRET).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(error_of(again).await.contains("replayed"));
    assert_eq!(queued(&s).await, 1);
    // The same notice signed afresh is a new notice.
    assert_eq!(
        send(&s, body, ts + 1, SECRET).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(queued(&s).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_body_is_refused() {
    let s = start("  webhook: { max_body: 64 }").await;
    let big = format!(r#"{{"entity": "customer", "id": "{}"}}"#, "1".repeat(100));
    let r = send(&s, &big, now(), SECRET).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_of(r).await.contains("64 bytes"));
    assert_eq!(queued(&s).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_notice_gets_400_saying_why() {
    let s = start("").await;
    for (body, why) in [
        ("{not json", "the body is not JSON"),
        ("42", "not a number"),
        (r#"{"entity": "customer"}"#, "missing field `id`"),
        (
            r#"{"entity": "spaceship", "id": "1"}"#,
            "unknown entity `spaceship`",
        ),
        (r#"{"flow": "nope", "id": "1"}"#, "unknown flow `nope`"),
        (
            r#"{"entity": "customer", "id": "1", "colour": "red"}"#,
            "unknown field `colour`",
        ),
        (r#"{"entity": "customer", "id": {"a": 1}}"#, "`id` must be"),
        (
            r#"[{"entity": "customer", "id": "1"}, {"id": "2"}]"#,
            "notice 1: give `flow` or `entity`",
        ),
        (
            r#"{"entity": "product", "id": "1"}"#,
            "no enabled flow reads product from `crm`",
        ),
        ("[]", "no change notice"),
    ] {
        let r = send(&s, body, now(), SECRET).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        let error = error_of(r).await;
        assert!(error.contains(why), "{body}: {error}");
    }
    assert_eq!(queued(&s).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hook_has_its_own_rate_limit_apart_from_the_api_keys() {
    // API keys may make one request at once; the CRM's webhook keeps its default (1,000/s).
    let s = start_with_hooks(
        "  rate_limit: { per_second: 1, burst: 1 }",
        "",
        "    erp: { secret: \"erp-webhook-secret-0123456789\", rate_limit: { per_second: 1, burst: 2 } }\n",
    )
    .await;
    for id in 1..=5 {
        let r = send(
            &s,
            &format!(r#"{{"flow": "customers", "id": "{id}"}}"#),
            now(),
            SECRET,
        )
        .await;
        assert_eq!(r.status(), StatusCode::ACCEPTED, "notice {id}");
    }
    // The ERP's hook allows bursts of 2: the third request is refused before its body is read
    // (the first two pass the limit and are then refused for naming no flow of the ERP).
    let erp = |body: &'static str| {
        let ts = now().to_string();
        s.post("/hooks/erp")
            .header(TIMESTAMP_HEADER, &ts)
            .header(
                SIGNATURE_HEADER,
                sign(b"erp-webhook-secret-0123456789", &ts, body.as_bytes()),
            )
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for _ in 0..2 {
        let r = erp(r#"{"entity": "customer", "id": "1"}"#).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    }
    let r = erp(r#"{"entity": "customer", "id": "1"}"#).await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("retry-after"));
}
