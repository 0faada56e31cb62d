//! The REST API against a real server (SQLite CRM and ERP through the sql connector, the
//! embedded store): who may call what, syncing one record with a tracking id, dead letters
//! with masked payloads, the audit log, the allowlist, the rate limit, metrics and health.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Nobody,
    Revoked,
    Viewer,
    Operator,
    Admin,
}

/// One endpoint of the matrix: `{dl}` in the path becomes a fresh open dead letter, `{key}`
/// a fresh key to revoke.
struct Endpoint {
    method: &'static str,
    path: &'static str,
    body: Option<Value>,
    /// `None`: public.
    needs: Option<Who>,
    /// The status a caller with enough rights gets.
    ok: StatusCode,
}

fn endpoints() -> Vec<Endpoint> {
    use Who::*;
    let e = |method, path, body, needs, ok| Endpoint {
        method,
        path,
        body,
        needs,
        ok,
    };
    vec![
        e("GET", "/healthz", None, None, StatusCode::OK),
        e("GET", "/readyz", None, None, StatusCode::OK),
        e("GET", "/api/v1/openapi.json", None, None, StatusCode::OK),
        e("GET", "/metrics", None, Some(Viewer), StatusCode::OK),
        e("GET", "/api/v1/flows", None, Some(Viewer), StatusCode::OK),
        e(
            "GET",
            "/api/v1/flows/customers",
            None,
            Some(Viewer),
            StatusCode::OK,
        ),
        e("GET", "/api/v1/runs", None, Some(Viewer), StatusCode::OK),
        e(
            "GET",
            "/api/v1/ledger?key=C001",
            None,
            Some(Viewer),
            StatusCode::OK,
        ),
        e(
            "GET",
            "/api/v1/ledger?flow=customers&limit=5",
            None,
            Some(Viewer),
            StatusCode::OK,
        ),
        e(
            "GET",
            "/api/v1/dead-letters",
            None,
            Some(Viewer),
            StatusCode::OK,
        ),
        e(
            "GET",
            "/api/v1/dead-letters/{dl}",
            None,
            Some(Viewer),
            StatusCode::OK,
        ),
        e("GET", "/api/v1/sync/1", None, Some(Viewer), StatusCode::OK),
        e(
            "GET",
            "/api/v1/conflicts",
            None,
            Some(Viewer),
            StatusCode::OK,
        ),
        // No two-way pair here: an operator reaches the handler and hears there is no such
        // conflict; a viewer is refused first.
        e(
            "POST",
            "/api/v1/conflicts/999/resolve",
            Some(json!({"pick": "source"})),
            Some(Operator),
            StatusCode::NOT_FOUND,
        ),
        e(
            "POST",
            "/api/v1/sync",
            Some(json!({"flow": "customers", "id": "1"})),
            Some(Operator),
            StatusCode::ACCEPTED,
        ),
        e(
            "POST",
            "/api/v1/dead-letters/{dl}/replay",
            None,
            Some(Operator),
            StatusCode::OK,
        ),
        e(
            "POST",
            "/api/v1/dead-letters/{dl}/skip",
            None,
            Some(Operator),
            StatusCode::OK,
        ),
        e(
            "POST",
            "/api/v1/dead-letters/{dl}/edit",
            Some(json!({"payload": {"id": "7", "fields": {"customer_no": "C7", "name": "Ada L"}}})),
            Some(Operator),
            StatusCode::OK,
        ),
        e("GET", "/api/v1/keys", None, Some(Admin), StatusCode::OK),
        e(
            "POST",
            "/api/v1/keys",
            Some(json!({"name": "grafana", "role": "viewer"})),
            Some(Admin),
            StatusCode::CREATED,
        ),
        e(
            "DELETE",
            "/api/v1/keys/{key}",
            None,
            Some(Admin),
            StatusCode::OK,
        ),
        e("GET", "/api/v1/audit", None, Some(Admin), StatusCode::OK),
        // Refused for its options once the role is checked (the flow's on_delete is ignore),
        // so no reconciliation is left running between callers.
        e(
            "POST",
            "/api/v1/flows/customers/reconcile",
            Some(json!({"repair_deletes": true})),
            Some(Operator),
            StatusCode::BAD_REQUEST,
        ),
        e(
            "GET",
            "/api/v1/reconciliations",
            None,
            Some(Viewer),
            StatusCode::OK,
        ),
        e(
            "GET",
            "/api/v1/reconciliations/999999",
            None,
            Some(Viewer),
            StatusCode::NOT_FOUND,
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_by_endpoint_matrix() {
    let s = start("  rate_limit: { per_second: 1000, burst: 1000 }").await;
    // Tracking id 1 exists for GET /sync/1.
    let first = s
        .post("/api/v1/sync")
        .bearer_auth(&s.operator)
        .json(&json!({"flow": "customers", "id": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let mut failures = Vec::new();
    for ep in endpoints() {
        for who in [
            Who::Nobody,
            Who::Revoked,
            Who::Viewer,
            Who::Operator,
            Who::Admin,
        ] {
            let mut path = ep.path.to_owned();
            if path.contains("{dl}") {
                // Dead letter 7's record: the edit body names record 7.
                let id = s.dead_letter("7").await;
                path = path.replace("{dl}", &id.to_string());
            }
            if path.contains("{key}") {
                let created = ferry_server::auth::create_key(
                    s.engine.store().as_ref(),
                    "throwaway",
                    ferry_server::auth::Role::Viewer,
                    &ferry_server::audit::Actor::cli(),
                )
                .await
                .unwrap();
                path = path.replace("{key}", &created.key.id.to_string());
            }
            let method = reqwest::Method::from_bytes(ep.method.as_bytes()).unwrap();
            let mut req = s.http.request(method, format!("{}{path}", s.url));
            if let Some(body) = &ep.body {
                req = req.json(body);
            }
            req = match who {
                Who::Nobody => req,
                Who::Revoked => req.bearer_auth(&s.revoked),
                Who::Viewer => req.bearer_auth(&s.viewer),
                Who::Operator => req.bearer_auth(&s.operator),
                Who::Admin => req.bearer_auth(&s.admin),
            };
            let got = req.send().await.unwrap().status();
            let expected = match ep.needs {
                None => ep.ok,
                Some(_) if matches!(who, Who::Nobody | Who::Revoked) => StatusCode::UNAUTHORIZED,
                Some(needed) if who < needed => StatusCode::FORBIDDEN,
                Some(_) => ep.ok,
            };
            if got != expected {
                failures.push(format!(
                    "{} {path} as {who:?}: got {got}, expected {expected}",
                    ep.method
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_why_in_json() {
    let s = start("").await;
    let r = s.get("/api/v1/flows").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    let body: Value = r.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("Bearer"));

    let r = s
        .post("/api/v1/sync")
        .bearer_auth(&s.viewer)
        .json(&json!({"flow": "customers", "id": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"],
        "this needs the operator role; the key is viewer"
    );

    for (bad, why) in [
        (json!({"flow": "nope", "id": "1"}), "unknown flow `nope`"),
        (
            json!({"entity": "invoice", "id": "1"}),
            "no enabled flow carries invoice",
        ),
        (
            json!({"flow": "customers", "entity": "customer", "id": "1"}),
            "not both",
        ),
        (json!({"flow": "customers", "id": ""}), "`id` must be"),
        (json!([]), "no change notice"),
    ] {
        let r = s
            .post("/api/v1/sync")
            .bearer_auth(&s.operator)
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains(why),
            "{bad}: {body}"
        );
    }
    let r = s
        .get("/api/v1/dead-letters?state=lost")
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .get("/api/v1/flows/nope")
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

/// Every operation the OpenAPI document gives a request body lists `413` as the one shared
/// response, and answers it: a body just over 2 MiB is refused with the JSON error the
/// shared response describes. Operations without a body do not list it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_with_a_body_documents_and_answers_413() {
    let s = start("").await;
    let doc: Value = s
        .get("/api/v1/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shared = &doc["components"]["responses"]["TooLarge"];
    assert_eq!(
        shared["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
        "{shared}"
    );
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    let mut with_body = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let listed = &operation["responses"]["413"];
            if operation.get("requestBody").is_some() {
                assert_eq!(
                    listed["$ref"], "#/components/responses/TooLarge",
                    "{method} {path}: {operation}"
                );
                with_body.push((method.clone(), path.clone()));
            } else {
                assert!(listed.is_null(), "{method} {path} takes no body: {listed}");
            }
        }
    }
    with_body.sort();
    assert_eq!(
        with_body,
        [
            ("post", "/conflicts/{id}/resolve"),
            ("post", "/dead-letters/{id}/edit"),
            ("post", "/flows/{flow}/reconcile"),
            ("post", "/keys"),
            ("post", "/sync"),
        ]
        .map(|(m, p)| (m.to_owned(), p.to_owned())),
        "the operations that take a body"
    );
    // Just past the API's 2 MiB limit: a much larger body can race the answer (a client still
    // writing when the server closes the connection may see the reset first).
    let id = "1".repeat(2 * 1024 * 1024 + 1024);
    for (_, path) in &with_body {
        let path = path.replace("{id}", "1").replace("{flow}", "customers");
        let r = s
            .post(&format!("/api/v1{path}"))
            .bearer_auth(&s.admin)
            .json(&json!({"flow": "customers", "id": id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "POST {path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error"],
            format!("request body larger than {} bytes", 2 * 1024 * 1024),
            "POST {path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_body_is_413_naming_the_limit() {
    let s = start("").await;
    // Just past the API's 2 MiB limit: a much larger body can race the answer (a client still
    // writing when the server closes the connection may see the reset first).
    let id = "1".repeat(2 * 1024 * 1024 + 1024);
    let r = s
        .post("/api/v1/sync")
        .bearer_auth(&s.operator)
        .json(&json!({"flow": "customers", "id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error"],
        format!("request body larger than {} bytes", 2 * 1024 * 1024)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_one_record_and_follow_it_to_the_target() {
    let s = start("").await;
    let r = s
        .post("/api/v1/sync")
        .bearer_auth(&s.operator)
        .json(&json!({"entity": "customer", "id": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: Value = r.json().await.unwrap();
    let tracking = body["accepted"][0]["tracking_id"].as_i64().unwrap();
    assert_eq!(body["accepted"][0]["flow"], "customers");
    assert_eq!(body["accepted"][0]["id"], "1");

    let status = |s: &TestServer| {
        let req = s
            .get(&format!("/api/v1/sync/{tracking}"))
            .bearer_auth(&s.viewer);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(status(&s).await["state"], "queued");
    assert!(s.target_rows().await.is_empty());

    s.drain().await;
    let done = status(&s).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["outcome"], "created");
    assert_eq!(
        s.target_rows().await,
        [("C001".into(), "Ada".into(), Some("13812345678".into()))]
    );

    // Asked again with nothing changed at the source: done, unchanged, nothing written.
    let r = s
        .post("/api/v1/sync")
        .bearer_auth(&s.operator)
        .json(&json!({"flow": "customers", "id": "1"}))
        .send()
        .await
        .unwrap();
    let again: Value = r.json().await.unwrap();
    let again = again["accepted"][0]["tracking_id"].as_i64().unwrap();
    s.drain().await;
    let st: Value = s
        .get(&format!("/api/v1/sync/{again}"))
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (st["state"].as_str(), st["outcome"].as_str()),
        (Some("done"), Some("unchanged"))
    );

    // The flow, its run and the ledger show it.
    let flows: Value = s
        .get("/api/v1/flows")
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(flows[0]["name"], "customers");
    assert_eq!(flows[0]["records"], 1);
    assert_eq!(flows[0]["source"], "crm");
    let ledger: Value = s
        .get("/api/v1/ledger?key=C001")
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ledger[0]["outcome"], "created");
    let runs: Value = s
        .get("/api/v1/runs?flow=customers&limit=1")
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(
        s.get("/api/v1/sync/999999")
            .bearer_auth(&s.viewer)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}

/// An id the source does not have is `not_found`, never `unchanged` (issue 13 item 6).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_the_source_does_not_have_is_not_found() {
    let s = start("").await;
    let r = s
        .post("/api/v1/sync")
        .bearer_auth(&s.operator)
        .json(&json!({"flow": "customers", "id": "4711"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: Value = r.json().await.unwrap();
    let tracking = body["accepted"][0]["tracking_id"].as_i64().unwrap();
    s.drain().await;
    let st = s
        .get_json(&format!("/api/v1/sync/{tracking}"), &s.viewer)
        .await;
    assert_eq!(
        (st["state"].as_str(), st["outcome"].as_str()),
        (Some("done"), Some("not_found")),
        "{st}"
    );
    assert!(
        st["error"].as_str().unwrap().contains("no such record"),
        "{st}"
    );
    assert!(s.target_rows().await.is_empty());
    let runs = s
        .get_json("/api/v1/runs?flow=customers&limit=1", &s.viewer)
        .await;
    assert_eq!(runs[0]["not_found"], 1, "{runs}");
    assert_eq!(runs[0]["unchanged"], 0, "{runs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_masked_and_an_edit_keeps_hidden_values() {
    let s = start("").await;
    let id = s.dead_letter("1").await;
    let shown: Value = s
        .get(&format!("/api/v1/dead-letters/{id}"))
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shown["payload"]["fields"]["phone"], "138****5678");
    let listed: Value = s
        .get("/api/v1/dead-letters")
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!listed.to_string().contains("13812345678"));

    // The operator renames the customer and sends the masked phone back untouched.
    let mut payload = shown["payload"].clone();
    payload["fields"]["name"] = json!("Ada Lovelace");
    let r = s
        .post(&format!("/api/v1/dead-letters/{id}/edit"))
        .bearer_auth(&s.operator)
        .json(&json!({ "payload": payload }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    s.drain().await;
    assert_eq!(
        s.target_rows().await,
        [(
            "C1".into(),
            "Ada Lovelace".into(),
            Some("13812345678".into())
        )]
    );
    // Replayed once: a second action on it is a conflict.
    let r = s
        .post(&format!("/api/v1/dead-letters/{id}/skip"))
        .bearer_auth(&s.operator)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // A payload for another record is refused.
    let other = s.dead_letter("2").await;
    let r = s
        .post(&format!("/api/v1/dead-letters/{other}/edit"))
        .bearer_auth(&s.operator)
        .json(&json!({"payload": {"id": "3", "fields": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .post(&format!("/api/v1/dead-letters/{other}/edit"))
        .bearer_auth(&s.operator)
        .json(&json!({"payload": "not a record"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_actions_are_audited_with_who_and_where() {
    let s = start("").await;
    let dl = s.dead_letter("9").await;
    s.post(&format!("/api/v1/dead-letters/{dl}/skip"))
        .bearer_auth(&s.operator)
        .send()
        .await
        .unwrap();
    s.post("/api/v1/sync")
        .bearer_auth(&s.operator)
        .json(&json!({"flow": "customers", "id": "2"}))
        .send()
        .await
        .unwrap();
    let created: Value = s
        .post("/api/v1/keys")
        .bearer_auth(&s.admin)
        .json(&json!({"name": "grafana", "role": "viewer"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap();
    let key_id = created["key"]["id"].as_i64().unwrap();
    // The new key works, until it is revoked.
    let ok = s
        .get("/api/v1/flows")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    s.http
        .delete(format!("{}/api/v1/keys/{key_id}", s.url))
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap();
    let refused = s
        .get("/api/v1/flows")
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // Keys are listed without tokens or hashes.
    let keys = s
        .get("/api/v1/keys")
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!keys.contains(token) && !keys.contains("token_hash"));

    let audit: Value = s
        .get("/api/v1/audit?limit=4")
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["key.revoke", "key.create", "sync", "dead_letter.skip"]
    );
    let skip = &audit[3];
    assert_eq!(skip["role"], "operator");
    assert_eq!(skip["key_name"], "operator");
    assert_eq!(skip["target"], format!("dead letter {dl}"));
    assert_eq!(skip["source"], "127.0.0.1");
    assert_eq!(skip["outcome"], "ok");
    assert_eq!(audit[2]["target"], "flow customers id 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_answers_429_with_retry_after_past_the_burst() {
    let s = start("  rate_limit: { per_second: 1, burst: 3 }").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let r = s
            .get("/api/v1/flows")
            .bearer_auth(&s.viewer)
            .send()
            .await
            .unwrap();
        statuses.push(r.status());
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            let wait: u64 = r.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(wait >= 1);
        }
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // Buckets are per key: the operator is not slowed by the viewer.
    let r = s
        .get("/api/v1/flows")
        .bearer_auth(&s.operator)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Requests without a valid key share their address's bucket: guessing keys is limited.
    let mut statuses = Vec::new();
    for n in 0..4 {
        let r = s
            .get("/api/v1/flows")
            .bearer_auth(format!("fy_guess{n}"))
            .send()
            .await
            .unwrap();
        statuses.push(r.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allowlist_refuses_other_addresses_on_every_route() {
    let outside = start("  allow_ips: [10.0.0.0/8, \"192.168.0.0/16\"]").await;
    for path in ["/healthz", "/api/v1/flows", "/hooks/crm", "/metrics"] {
        let r = outside
            .get(path)
            .bearer_auth(&outside.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    let body: Value = outside
        .get("/healthz")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["error"].as_str().unwrap().contains("127.0.0.1"));
    let inside = start("  allow_ips: [10.0.0.0/8, 127.0.0.1]").await;
    let r = inside.get("/healthz").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_openapi() {
    let s = start("").await;
    s.post("/api/v1/sync")
        .bearer_auth(&s.operator)
        .json(&json!({"flow": "customers", "id": "1"}))
        .send()
        .await
        .unwrap();
    s.drain().await;
    s.dead_letter("5").await;
    let text = s.metrics().await;
    for needle in [
        "ferry_records_total{flow=\"customers\",outcome=\"created\"}",
        "ferry_sync_latency_seconds_bucket{flow=\"customers\"",
        "ferry_queue_depth{flow=\"customers\"} 0",
        "ferry_dead_letters_open{flow=\"customers\"} 1",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    let ready: Value = s.get("/readyz").send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["store"], "ok");
    let doc: Value = s
        .get("/api/v1/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/flows",
        "/sync",
        "/sync/{tracking_id}",
        "/dead-letters/{id}/edit",
        "/conflicts",
        "/conflicts/{id}",
        "/conflicts/{id}/resolve",
        "/keys/{id}",
        "/audit",
        "/flows/{flow}/reconcile",
        "/reconciliations",
        "/reconciliations/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} not documented");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_ledger_pages_newest_first_with_masked_values() {
    // Phones must start with 138: Grace's 13900001111 fails, and the error shows the value.
    let s = start_with("", "    validate:\n      phone: [{ regex: \"^138\" }]\n").await;
    s.engine
        .sync(
            "customers",
            &Default::default(),
            &ferry_engine::NoProgress,
            &tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap();
    let get = |path: &str| {
        let req = s.get(path).bearer_auth(&s.viewer);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (status, latest) = get("/api/v1/ledger?flow=customers").await;
    assert_eq!(status, StatusCode::OK);
    let entries = latest.as_array().unwrap();
    assert_eq!(entries.len(), 2, "{latest}");
    assert!(
        entries[0]["id"].as_i64() > entries[1]["id"].as_i64(),
        "newest first"
    );
    let failed = entries
        .iter()
        .find(|e| e["outcome"] == "dead_lettered")
        .expect("Grace was dead-lettered");
    assert_eq!(failed["source_id"], "2");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("field `phone`") && error.contains("139****1111"),
        "{error}"
    );
    assert!(!latest.to_string().contains("13900001111"), "{latest}");
    // The dead letter's error is masked the same way (its payload already was).
    let (_, dead) = get("/api/v1/dead-letters?flow=customers").await;
    assert!(
        dead[0]["error"].as_str().unwrap().contains("139****1111"),
        "{dead}"
    );
    assert!(!dead.to_string().contains("13900001111"), "{dead}");
    // The search by key shows the masked error too.
    let (_, by_id) = get("/api/v1/ledger?key=2&flow=customers").await;
    assert!(!by_id.to_string().contains("13900001111"), "{by_id}");
    assert_eq!(by_id.as_array().unwrap().len(), 1);

    // Paging: one at a time, the next page below the last id shown.
    let (_, first) = get("/api/v1/ledger?flow=customers&limit=1").await;
    assert_eq!(first[0]["id"], entries[0]["id"]);
    let below = first[0]["id"].as_i64().unwrap();
    let (_, second) = get(&format!(
        "/api/v1/ledger?flow=customers&limit=1&before={below}"
    ))
    .await;
    assert_eq!(second[0]["id"], entries[1]["id"]);
    let (_, all_flows) = get("/api/v1/ledger").await;
    assert_eq!(all_flows.as_array().unwrap().len(), 2);
    let (_, other) = get("/api/v1/ledger?flow=orders").await;
    assert_eq!(other, json!([]));
    // Wrong combinations say why.
    for bad in [
        "/api/v1/ledger?limit=0",
        "/api/v1/ledger?limit=1001",
        "/api/v1/ledger?key=",
        "/api/v1/ledger?key=C001&limit=5",
        "/api/v1/ledger?before=x",
    ] {
        let (status, body) = get(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string(), "{bad}: {body}");
    }
    // The OpenAPI document has the new parameters.
    let (_, doc) = get("/api/v1/openapi.json").await;
    let params = doc["paths"]["/ledger"]["get"]["parameters"].to_string();
    for name in ["\"key\"", "\"flow\"", "\"limit\"", "\"before\""] {
        assert!(params.contains(name), "{name} not in {params}");
    }
}

/// The series of a Prometheus text page: metric name → the label names each series has.
fn series(text: &str) -> std::collections::HashMap<String, Vec<Vec<String>>> {
    let mut out: std::collections::HashMap<String, Vec<Vec<String>>> = Default::default();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (name, rest) = line.split_at(line.find(['{', ' ']).unwrap_or(line.len()));
        let labels = rest
            .strip_prefix('{')
            .and_then(|r| r.split_once('}'))
            .map(|(inside, _)| {
                inside
                    .split(',')
                    .filter_map(|pair| Some(pair.split_once('=')?.0.trim().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        out.entry(name.to_owned()).or_default().push(labels);
    }
    out
}

/// Each `ferry_…` metric a PromQL expression reads, with the label names it filters or
/// groups by.
fn metrics_in(expr: &str) -> Vec<(String, Vec<String>)> {
    let grouped: Vec<String> = expr
        .match_indices("by (")
        .filter_map(|(i, _)| expr[i + 4..].split_once(')'))
        .flat_map(|(list, _)| list.split(',').map(|l| l.trim().to_owned()))
        .collect();
    let mut out = Vec::new();
    for (i, _) in expr.match_indices("ferry_") {
        let name: String = expr[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let after = &expr[i + name.len()..];
        let mut labels: Vec<String> = after
            .strip_prefix('{')
            .and_then(|r| r.split_once('}'))
            .map(|(inside, _)| {
                inside
                    .split(',')
                    .filter_map(|m| {
                        let end = m.find(['=', '!'])?;
                        Some(m[..end].trim().to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        labels.extend(grouped.iter().cloned());
        out.push((name, labels));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grafana_dashboard_queries_only_series_ferry_exposes() {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../deploy/grafana/ferry.json"),
        )
        .expect("deploy/grafana/ferry.json"),
    )
    .expect("the dashboard is JSON");
    // A server that has synced a record, holds a dead letter and refused a webhook.
    let s = start("").await;
    s.post("/api/v1/sync")
        .bearer_auth(&s.operator)
        .json(&json!({"flow": "customers", "id": "1"}))
        .send()
        .await
        .unwrap();
    s.drain().await;
    s.dead_letter("5").await;
    let refused = s
        .post("/hooks/crm")
        .header("content-type", "application/json")
        .body(r#"{"entity": "customer", "id": "2"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let text = s.metrics().await;
    let exposed = series(&text);

    let mut queries: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect();
    queries.extend(
        dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["definition"].as_str().map(str::to_owned)),
    );
    assert!(queries.len() >= 10, "{queries:?}");
    let mut read = std::collections::BTreeSet::new();
    for query in &queries {
        let used = metrics_in(query);
        assert!(!used.is_empty(), "`{query}` reads no ferry_ metric");
        for (metric, labels) in used {
            let found = exposed.get(&metric).unwrap_or_else(|| {
                panic!("`{query}` reads {metric}, which /metrics lacks:\n{text}")
            });
            for label in labels
                .iter()
                .filter(|l| *l != "le" || metric.ends_with("_bucket"))
            {
                assert!(
                    found.iter().any(|names| names.contains(label)),
                    "`{query}`: no {metric} series has the label `{label}`"
                );
            }
            read.insert(metric.trim_end_matches("_bucket").to_owned());
        }
    }
    // Every metric Ferry exposes has a panel.
    for metric in [
        "ferry_records_total",
        "ferry_sync_latency_seconds",
        "ferry_queue_depth",
        "ferry_dead_letters_open",
        "ferry_webhooks_total",
    ] {
        assert!(read.contains(metric), "no panel shows {metric}");
    }
}
