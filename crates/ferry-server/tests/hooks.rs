//! Inbound webhooks against a real server: signature, timestamp window, repeated notices and
//! delivery ids (on the SQLite and the PostgreSQL store), body size, malformed notices, an
//! accepted notice that is queued before the answer and then synced into the real target
//! table, and log lines that request text cannot forge.

mod common;

use common::*;
use ferry_server::hooks::{DELIVERY_HEADERS, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use reqwest::StatusCode;
use serde_json::Value;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Sends `body` to `/hooks/crm` signed with `secret` at `timestamp`.
async fn send(s: &TestServer, body: &str, timestamp: i64, secret: &str) -> reqwest::Response {
    send_with(s, body, timestamp, secret, &[]).await
}

/// [`send`] with more headers.
async fn send_with(
    s: &TestServer,
    body: &str,
    timestamp: i64,
    secret: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let ts = timestamp.to_string();
    let mut request = s.post("/hooks/crm");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
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

/// Declares each test once per store: `sqlite::name` and `postgres::name` (skipped visibly
/// when PostgreSQL is unreachable, failed under `CI=true`).
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let s = super::start_on(super::StoreKind::Sqlite, "").await.unwrap();
                    super::$name(&s).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(s) = super::start_on(super::StoreKind::Postgres, "").await else {
                        return;
                    };
                    super::$name(&s).await;
                }
            )*
        }
    };
}

store_tests!(
    two_identical_notices_in_one_second_both_land,
    a_delivery_id_is_accepted_once,
    a_storm_of_notices_for_few_keys_refuses_none,
);

/// The tracking id of an accepted answer's first record.
async fn tracking_id(r: reqwest::Response) -> i64 {
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: Value = r.json().await.unwrap();
    body["accepted"][0]["tracking_id"].as_i64().unwrap()
}

/// Issue 13, item 3: after a record's first sync, two notices for it within one second are
/// byte-identical (same body, same timestamp, so the same signature). The source changed
/// before each, and the first was worked off before the second arrived: both changes land.
async fn two_identical_notices_in_one_second_both_land(s: &TestServer) {
    let body = r#"{"flow": "customers", "id": "1"}"#;
    tracking_id(send(s, body, now() - 1, SECRET).await).await;
    s.drain().await;
    assert_eq!(s.target_rows().await[0].1, "Ada");

    let ts = now();
    s.rename(1, "Ada Lovelace").await;
    let first = tracking_id(send(s, body, ts, SECRET).await).await;
    s.drain().await;
    assert_eq!(s.target_rows().await[0].1, "Ada Lovelace");
    s.rename(1, "Ada King").await;
    let second = tracking_id(send(s, body, ts, SECRET).await).await;
    assert_ne!(
        second, first,
        "the first was worked off: a new read is queued"
    );
    assert_eq!(queued(s).await, 1);
    s.drain().await;
    assert_eq!(s.target_rows().await[0].1, "Ada King");
    for id in [first, second] {
        let st: Value = s
            .get(&format!("/api/v1/sync/{id}"))
            .bearer_auth(&s.viewer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (st["state"].as_str(), st["outcome"].as_str()),
            (Some("done"), Some("updated")),
            "{st}"
        );
    }

    // While the read still waits, the same notice again joins it: one read, one tracking id.
    s.rename(1, "Augusta Ada King").await;
    let third = tracking_id(send(s, body, ts, SECRET).await).await;
    assert_ne!(third, second);
    assert_eq!(tracking_id(send(s, body, ts, SECRET).await).await, third);
    assert_eq!(queued(s).await, 1);
    s.drain().await;
    assert_eq!(s.target_rows().await[0].1, "Augusta Ada King");
}

/// A delivery id (header or body) sent again is answered `200` with `"duplicate": true` and
/// the first delivery's tracking ids, and queues nothing; the same id for other records is
/// refused, saying why.
async fn a_delivery_id_is_accepted_once(s: &TestServer) {
    let body = r#"{"flow": "customers", "id": "1"}"#;
    let header = [(DELIVERY_HEADERS[0], "evt-1")];
    let first = tracking_id(send_with(s, body, now(), SECRET, &header).await).await;
    // A redelivery is signed afresh; `Idempotency-Key` is the same id.
    for headers in [header, [(DELIVERY_HEADERS[1], "evt-1")]] {
        let again = send_with(s, body, now() + 1, SECRET, &headers).await;
        assert_eq!(again.status(), StatusCode::OK);
        let answer: Value = again.json().await.unwrap();
        assert_eq!(answer["duplicate"], true, "{answer}");
        assert_eq!(answer["accepted"][0]["tracking_id"], first, "{answer}");
    }
    assert_eq!(queued(s).await, 1);
    // Even after it was worked off: the same delivery announces the same change.
    s.drain().await;
    let again = send_with(s, body, now(), SECRET, &header).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(queued(s).await, 0);

    // In the body, covered by the signature.
    let in_body = r#"{"flow": "customers", "id": "2", "delivery_id": "evt-2"}"#;
    let second = tracking_id(send(s, in_body, now(), SECRET).await).await;
    let again = send(s, in_body, now() + 1, SECRET).await;
    assert_eq!(again.status(), StatusCode::OK);
    let answer: Value = again.json().await.unwrap();
    assert_eq!(
        (
            answer["duplicate"].as_bool(),
            answer["accepted"][0]["tracking_id"].as_i64()
        ),
        (Some(true), Some(second))
    );
    // Answered without the field, as `POST /sync` answers.
    let fresh = send(s, r#"{"flow": "customers", "id": "2"}"#, now(), SECRET).await;
    let answer: Value = fresh.json().await.unwrap();
    assert!(answer.get("duplicate").is_none(), "{answer}");

    // The same id for another record is a sender's mistake: refused, not dropped silently.
    let reused = send_with(
        s,
        r#"{"flow": "customers", "id": "2"}"#,
        now(),
        SECRET,
        &header,
    )
    .await;
    assert_eq!(reused.status(), StatusCode::CONFLICT);
    assert!(
        error_of(reused)
            .await
            .contains("`evt-1` was already accepted for other records")
    );
    // Two different ids in one request: which one?
    let two = send_with(s, in_body, now(), SECRET, &header).await;
    assert_eq!(two.status(), StatusCode::BAD_REQUEST);
    assert!(
        error_of(two)
            .await
            .contains("`evt-1` in header x-ferry-delivery but `evt-2`")
    );
}

/// The storm of issue 13 in miniature: notices for few keys, each sent several times within
/// the same second (byte-identical), while the queue is worked off and the source keeps
/// changing. No notice is refused, and every key ends as the source has it.
async fn a_storm_of_notices_for_few_keys_refuses_none(s: &TestServer) {
    const KEYS: i64 = 8;
    const COPIES: usize = 4;
    let mut crm = s.crm().await;
    for id in 3..=KEYS {
        sqlx::query("INSERT INTO customers VALUES (?, ?, 'new', NULL, '2026-01-01 00:00:00')")
            .bind(id)
            .bind(format!("C{id:03}"))
            .execute(&mut crm)
            .await
            .unwrap();
    }
    let ts = now();
    let mut statuses = Vec::new();
    for round in 0..3 {
        for id in 1..=KEYS {
            s.rename(id, &format!("customer {id} round {round}")).await;
        }
        let sends = (1..=KEYS).flat_map(|id| {
            (0..COPIES).map(move |_| async move {
                let body = format!(r#"{{"flow": "customers", "id": "{id}"}}"#);
                send(s, &body, ts, SECRET).await.status()
            })
        });
        // The worker drains while notices arrive, so some come after their twin was worked off.
        let (answers, ()) = tokio::join!(futures::future::join_all(sends), s.drain());
        statuses.extend(answers);
    }
    s.drain().await;
    assert_eq!(statuses.len(), KEYS as usize * COPIES * 3);
    assert!(
        statuses.iter().all(|st| *st == StatusCode::ACCEPTED),
        "{statuses:?}"
    );
    assert_eq!(queued(s).await, 0);
    let rows = s.target_rows().await;
    assert_eq!(rows.len(), KEYS as usize);
    for (n, (code, name, _)) in rows.iter().enumerate() {
        let id = n + 1;
        assert_eq!(
            (code.as_str(), name.as_str()),
            (
                format!("C{id:03}").as_str(),
                format!("customer {id} round 2").as_str()
            )
        );
    }
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

/// The log, captured: what a `tracing` fmt subscriber wrote (plain, as to a file).
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Issue 13, item 9: text from a request (the system name in the path, a flow named in the
/// body) is logged escaped, so CR, LF and NUL in it cannot start a forged log line. The
/// subscriber writes what it is given, unfiltered: the escaping is the server's own.
/// (One thread: the subscriber is the test thread's, and the server runs on it.)
#[tokio::test(flavor = "current_thread")]
async fn request_text_cannot_forge_a_log_line() {
    const FORGED: &str = "2026-01-01T00:00:00.000000Z ERROR ferry: FORGED";
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let s = start("").await;

    // The path, percent-encoded: the router decodes it into the system name.
    let encoded = FORGED.replace(' ', "%20").replace(':', "%3A");
    let r = s
        .post(&format!("/hooks/crm%0D%0A{encoded}%00"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // The body of a signed notice, refused for naming an unknown flow.
    let body = serde_json::json!({"flow": format!("x\r\n{FORGED}\u{0}"), "id": "1"}).to_string();
    let r = send(&s, &body, now(), SECRET).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert_eq!(text.matches("Webhook refused.").count(), 2, "{text}");
    assert!(
        !text.contains(['\r', '\0']),
        "a raw CR or NUL reached the log:\n{text:?}"
    );
    for line in text.lines() {
        assert!(
            !line.contains("FORGED") || line.contains("Webhook refused."),
            "a forged line:\n{line}\nin:\n{text}"
        );
    }
    assert!(
        text.contains(r"crm\r\n2026-01-01"),
        "the name, escaped: {text}"
    );
}
