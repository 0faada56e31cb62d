//! The console over real HTTP against a real server (SQLite CRM and ERP through the sql
//! connector, the embedded store): login and the session cookie, roles, CSRF, editing and
//! replaying a dead letter until it reaches the target table, Chinese text, the mapping
//! preview.

mod common;

use common::*;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};

/// Validation for the preview: an e-mail field, checked when given.
const FLOW: &str = "      email: email\n    validate:\n      email: [email]\n";

/// A browser: no redirects followed (so each answer can be checked), and a session cookie.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

impl Browser {
    fn new(s: &TestServer) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: s.url.clone(),
            cookie: None,
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let mut r = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        r.send().await.unwrap()
    }

    async fn page(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        assert_eq!(r.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
        r.text().await.unwrap()
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_body(fields));
        if let Some(c) = &self.cookie {
            r = r.header(COOKIE, c);
        }
        r.send().await.unwrap()
    }

    /// Logs in; returns the `Set-Cookie` header.
    async fn login(&mut self, key: &str) -> String {
        let r = self.post("/console/login", &[("key", key)]).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(r.headers()[LOCATION], "/console/");
        let set = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        self.cookie = Some(set.split(';').next().unwrap().to_owned());
        set
    }

    /// The CSRF token of a page's forms.
    async fn csrf(&self) -> String {
        let html = self.page("/console/").await;
        let start = html.find("name=\"csrf\" value=\"").unwrap() + 19;
        html[start..start + 64].to_owned()
    }
}

async fn server() -> TestServer {
    let s = start_with("", FLOW).await;
    let mut erp = sqlite(&s.dir.path().join("erp.db")).await;
    sqlx::raw_sql("ALTER TABLE erp_customers ADD COLUMN email TEXT")
        .execute(&mut erp)
        .await
        .unwrap();
    s
}

#[tokio::test]
async fn login_gives_an_http_only_strict_session_and_bad_keys_are_refused() {
    let s = server().await;
    let mut b = Browser::new(&s);

    // Without a session, pages send the browser to the login form.
    let r = b.get("/console/").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[LOCATION], "/console/login");
    let login = b.page("/console/login").await;
    assert!(login.contains("<meta charset=\"utf-8\">") && login.contains("lang=\"en\""));

    for bad in ["fy_nonsense", &s.revoked, ""] {
        let r = b.post("/console/login", &[("key", bad)]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers().get(SET_COOKIE).is_none());
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("Unknown or revoked API key")
        );
    }

    let set = b.login(&s.viewer).await;
    assert!(set.starts_with("ferry_session="), "{set}");
    assert!(set.contains("; HttpOnly") && set.contains("; SameSite=Strict"));
    assert!(set.contains("; Path=/") && !set.contains("Secure"));
    let r = b.get("/console/").await;
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let overview = r.text().await.unwrap();
    assert!(overview.contains("customers") && overview.contains("viewer"));

    // A made-up session id is no session.
    let mut forged = Browser::new(&s);
    forged.cookie = Some(format!("ferry_session={}", "0".repeat(64)));
    assert_eq!(
        forged.get("/console/").await.status(),
        StatusCode::SEE_OTHER
    );

    // Logging out needs the CSRF token, and ends the session.
    let r = b.post("/console/logout", &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let csrf = b.csrf().await;
    let r = b.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(b.get("/console/").await.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn pages_render_for_each_role_and_the_audit_log_is_for_admins() {
    let s = server().await;
    let id = s.dead_letter("1").await;
    s.engine
        .sync(
            "customers",
            &Default::default(),
            &ferry_engine::NoProgress,
            &tokio_util::sync::CancellationToken::new(),
        )
        .await
        .unwrap();
    let pages = [
        "/console/".to_owned(),
        "/console/flows/customers".to_owned(),
        "/console/flows/customers?q=C002".to_owned(),
        "/console/dead-letters".to_owned(),
        "/console/dead-letters?state=all".to_owned(),
        format!("/console/dead-letters/{id}"),
        "/console/preview".to_owned(),
    ];
    for key in [&s.viewer, &s.operator, &s.admin] {
        let mut b = Browser::new(&s);
        b.login(key).await;
        for path in &pages {
            b.page(path).await;
        }
        let audit = b.get("/console/audit").await;
        if key == &s.admin {
            assert_eq!(audit.status(), StatusCode::OK);
            assert!(audit.text().await.unwrap().contains("key.create"));
        } else {
            assert_eq!(audit.status(), StatusCode::FORBIDDEN);
            assert!(!b.page("/console/").await.contains("/console/audit"));
        }
        // Only operators get the dead letter's forms.
        let dead = b.page(&format!("/console/dead-letters/{id}")).await;
        assert_eq!(dead.contains("/skip"), key != &s.viewer);
    }

    let mut b = Browser::new(&s);
    b.login(&s.viewer).await;
    // The overview shows the run's figures; the ledger search finds the synced record.
    let overview = b.page("/console/").await;
    assert!(overview.contains("<svg class=\"spark\""), "{overview}");
    let flow = b.page("/console/flows/customers?q=C002").await;
    assert!(flow.contains("<td>C002</td>"), "{flow}");
    assert!(flow.contains("outcome created"));
    assert_eq!(
        b.get("/console/flows/nope").await.status(),
        StatusCode::NOT_FOUND
    );
    // A viewer cannot replay even with a valid token.
    let csrf = b.csrf().await;
    let r = b
        .post(
            &format!("/console/dead-letters/{id}/replay"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_post_without_the_csrf_token_is_refused_and_changes_nothing() {
    let s = server().await;
    let id = s.dead_letter("1").await;
    let mut b = Browser::new(&s);
    b.login(&s.operator).await;
    let path = format!("/console/dead-letters/{id}/skip");
    for fields in [
        vec![],
        vec![("csrf", "0".repeat(64))],
        vec![("csrf", String::new())],
    ] {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = b.post(&path, &fields).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
    }
    // Another session's token does not do either.
    let mut other = Browser::new(&s);
    other.login(&s.operator).await;
    let theirs = other.csrf().await;
    assert_ne!(theirs, b.csrf().await);
    let r = b.post(&path, &[("csrf", &theirs)]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let dead = s.engine.store().dead_letter(id).await.unwrap().unwrap();
    assert_eq!(dead.state, ferry_store::DeadLetterState::Open);
    let audit = s.engine.store().audit_log(100, None).await.unwrap();
    assert!(audit.iter().all(|a| a.action != "dead_letter.skip"));

    // With it, the skip happens and is audited with the client address.
    let csrf = b.csrf().await;
    let r = b.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let dead = s.engine.store().dead_letter(id).await.unwrap().unwrap();
    assert_eq!(dead.state, ferry_store::DeadLetterState::Skipped);
    let audit = s.engine.store().audit_log(100, None).await.unwrap();
    let skip = audit
        .iter()
        .find(|a| a.action == "dead_letter.skip")
        .unwrap();
    assert_eq!(skip.source.as_deref(), Some("127.0.0.1"));
    assert_eq!(skip.role.as_deref(), Some("operator"));
    assert_eq!(skip.outcome, "ok");
}

#[tokio::test]
async fn a_dead_letter_edited_in_the_console_is_delivered_and_chinese_text_shows() {
    let s = server().await;
    // A customer whose name the target refused; the payload carries a masked phone.
    let store = s.engine.store();
    store
        .commit(
            "customers",
            &ferry_store::Commit {
                dead_letters: vec![ferry_store::NewDeadLetter {
                    source_id: "7".into(),
                    key: Some("C007".into()),
                    payload: serde_json::json!({
                        "id": "7",
                        "fields": {"customer_no": "C007", "name": "客户一",
                                   "phone": "13812345678", "email": "kehu@example",
                                   "updated_at": "2026-01-01 00:00:00"}
                    }),
                    error_kind: "validation".into(),
                    error: "flow `customers`, record `7`, field `email`: not an e-mail".into(),
                    attempts: 1,
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let id = store
        .dead_letters(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .find(|d| d.source_id == "7")
        .unwrap()
        .id;

    let mut b = Browser::new(&s);
    b.login(&s.operator).await;
    let list = b.page("/console/dead-letters").await;
    assert!(list.contains("C007") && list.contains("not an e-mail"));
    let page = b.page(&format!("/console/dead-letters/{id}")).await;
    assert!(page.contains("客户一"), "{page}");
    assert!(page.contains("138****5678") && !page.contains("13812345678"));

    // The payload as shown, with the e-mail fixed (the masked phone left as is).
    let start = page.find("name=\"payload\"").unwrap();
    let start = start + page[start..].find('>').unwrap() + 1;
    let end = start + page[start..].find("</textarea>").unwrap();
    let shown = page[start..end]
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    let mut payload: serde_json::Value = serde_json::from_str(&shown).expect(&shown);
    payload["fields"]["email"] = "kehu@example.com".into();
    let csrf = b.csrf().await;

    // Not JSON: the form comes back with the reason, nothing queued.
    let r = b
        .post(
            &format!("/console/dead-letters/{id}/edit"),
            &[("csrf", &csrf), ("payload", "{oops")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("not valid JSON"));

    let r = b
        .post(
            &format!("/console/dead-letters/{id}/edit"),
            &[("csrf", &csrf), ("payload", &payload.to_string())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let after = b.page(r.headers()[LOCATION].to_str().unwrap()).await;
    assert!(after.contains("queued for replay with the edited payload"));

    s.drain().await;
    let mut erp = sqlite(&s.dir.path().join("erp.db")).await;
    let rows: Vec<(String, String, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT code, name, phone, email FROM erp_customers")
            .fetch_all(&mut erp)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [(
            "C007".into(),
            "客户一".into(),
            Some("13812345678".into()),
            Some("kehu@example.com".into())
        )]
    );
    // (It stays `replayed` here: this test's dead letter has no xref row, which the pipeline
    // writes with every real one and resolves by.)
    let dead = store.dead_letter(id).await.unwrap().unwrap();
    assert_ne!(dead.state, ferry_store::DeadLetterState::Open);
    let audit = store.audit_log(100, None).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "dead_letter.edit"
        && a.target == format!("dead letter {id}")
        && a.source.as_deref() == Some("127.0.0.1")));

    // The flow's ledger shows the Chinese name's record by key.
    let flow = b.page("/console/flows/customers?q=C007").await;
    assert!(flow.contains("outcome created"), "{flow}");
}

#[tokio::test]
async fn the_mapping_preview_shows_mapped_fields_or_the_validation_error() {
    let s = server().await;
    let mut b = Browser::new(&s);
    b.login(&s.viewer).await;
    let csrf = b.csrf().await;
    let preview = |record: &'static str| {
        let csrf = csrf.clone();
        let b = &b;
        async move {
            let r = b
                .post(
                    "/console/preview",
                    &[("csrf", &csrf), ("flow", "customers"), ("record", record)],
                )
                .await;
            assert_eq!(r.status(), StatusCode::OK);
            r.text().await.unwrap()
        }
    };
    let bad = preview(
        r#"{"id": "9", "fields": {"customer_no": "C009", "name": "客户一", "email": "not-an-email"}}"#,
    )
    .await;
    assert!(bad.contains("Validation error"), "{bad}");
    assert!(bad.contains(">email<") && bad.contains("not-an-email"));
    assert!(!bad.contains("Mapped fields"));

    let good =
        preview(r#"{"customer_no": "C009", "name": "客户一", "email": "a@example.com"}"#).await;
    assert!(good.contains("Mapped fields") && !good.contains("Validation error"));
    assert!(
        good.contains("<code>code</code></td><td>C009</td>"),
        "{good}"
    );
    assert!(good.contains("<td>客户一</td>") && good.contains("<td>a@example.com</td>"));

    // Nothing was written.
    assert!(s.target_rows().await.is_empty());
    assert!(s.engine.store().runs(None, 10).await.unwrap().is_empty());

    // Without the token: refused.
    let r = b
        .post(
            "/console/preview",
            &[("flow", "customers"), ("record", "{}")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flow_page_lists_the_latest_ledger_and_record_latency() {
    // Phones must start with 138: Grace (13900001111) is dead-lettered.
    let s = start_with("", "    validate:\n      phone: [{ regex: \"^138\" }]\n").await;
    let mut b = Browser::new(&s);
    b.login(&s.viewer).await;
    let page = b.page("/console/flows/customers").await;
    assert!(page.contains("Nothing recorded yet."), "{page}");
    assert!(
        page.contains("Record latency p50 / p99</dt><dd>n/a / n/a"),
        "{page}"
    );

    // Two requests through the API, worked off as `ferry run` would.
    let r = s
        .post("/api/v1/sync")
        .bearer_auth(&s.operator)
        .json(&serde_json::json!([{"flow": "customers", "id": "1"},
                                   {"flow": "customers", "id": "2"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    s.drain().await;
    let page = b.page("/console/flows/customers").await;
    // The latest entries show without a search, the failure's phone masked.
    assert!(page.contains("Latest entries"), "{page}");
    assert!(page.contains("outcome created") && page.contains("outcome dead_lettered"));
    assert!(page.contains("139****1111"), "{page}");
    assert!(!page.contains("13900001111"), "the phone in clear: {page}");
    // One request delivered (the dead letter is not a delivery): a figure, not n/a.
    assert!(
        !page.contains("Record latency p50 / p99</dt><dd>n/a"),
        "{page}"
    );
    assert!(page.contains("1 delivered"), "{page}");
    let overview = b.page("/console/").await;
    assert!(overview.contains("Record latency"), "{overview}");

    // 60 more entries: 50 on the first page, an "Older" link to the other 12.
    let ledger = (0..60)
        .map(|n| ferry_store::LedgerEntry {
            id: 0,
            flow: "customers".into(),
            source_id: format!("bulk-{n:02}"),
            key: Some(format!("B{n:02}")),
            run_id: None,
            at: chrono::Utc::now(),
            trigger: "poll".into(),
            outcome: ferry_store::Outcome::Unchanged,
            attempt: 1,
            target_id: None,
            before_hash: None,
            after_hash: None,
            source_version: None,
            error_kind: None,
            error: None,
        })
        .collect();
    s.engine
        .store()
        .commit(
            "customers",
            &ferry_store::Commit {
                ledger,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let page = b.page("/console/flows/customers").await;
    assert!(page.contains("<td>bulk-59</td>") && page.contains("<td>bulk-10</td>"));
    assert!(!page.contains("<td>bulk-09</td>"), "51 rows on a page");
    assert!(
        !page.contains("<td>C001</td>"),
        "an older entry on the first page"
    );
    let start = page.find("?before=").expect("an Older link") + 8;
    let before: String = page[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let older = b
        .page(&format!("/console/flows/customers?before={before}"))
        .await;
    assert!(older.contains("<td>bulk-09</td>") && older.contains("<td>bulk-00</td>"));
    assert!(older.contains("<td>C001</td>"), "{older}");
    assert!(!older.contains("<td>bulk-10</td>"));
    assert!(
        !older.contains("?before="),
        "the last page has no Older link"
    );
}

/// The e-mail addresses of the masking test's records, none of which may be shown.
const CLEAR: [&str; 5] = [
    "ada.lovelace@example.com",
    "grace.hopper@example",
    "ada.king@example.com",
    "ada.new@example.com",
    "ada.old@example.com",
];

/// The source's e-mail column is `contact_email`, mapped to the canonical `email` that
/// `server.mask` names; names longer than 20 characters and bad e-mails are dead-lettered.
async fn contact_email_server() -> TestServer {
    let flow = "      email: contact_email\n    validate:\n      email: [email]\n      \
                name: [{ max_len: 20 }]\n";
    let s = start_with("    email: email\n", flow).await;
    let mut crm = sqlite(&s.dir.path().join("crm.db")).await;
    sqlx::raw_sql(
        "ALTER TABLE customers ADD COLUMN contact_email TEXT;
         UPDATE customers SET contact_email = 'ada.lovelace@example.com' WHERE id = 1;
         UPDATE customers SET contact_email = 'grace.hopper@example' WHERE id = 2;
         INSERT INTO customers VALUES (3, 'C003', 'Ada Augusta King, Countess of Lovelace',
                                       '13700001111', '2026-01-01 00:00:00',
                                       'ada.king@example.com');",
    )
    .execute(&mut crm)
    .await
    .unwrap();
    let mut erp = sqlite(&s.dir.path().join("erp.db")).await;
    sqlx::raw_sql("ALTER TABLE erp_customers ADD COLUMN email TEXT")
        .execute(&mut erp)
        .await
        .unwrap();
    s
}

/// Asserts that no e-mail of [`CLEAR`] is in `body`.
fn assert_masked(what: &str, body: &str) {
    for clear in CLEAR {
        assert!(!body.contains(clear), "{what} shows {clear}: {body}");
    }
}

#[tokio::test]
async fn a_source_column_behind_a_masked_field_is_masked_in_every_answer() {
    let s = contact_email_server().await;
    let store = s.engine.store();
    // Three records through the API: Ada is created, Grace (bad e-mail) and the Countess
    // (long name) are dead-lettered.
    let r = s
        .post("/api/v1/sync")
        .bearer_auth(&s.operator)
        .json(&serde_json::json!([{"flow": "customers", "id": "1"},
                                   {"flow": "customers", "id": "2"},
                                   {"flow": "customers", "id": "3"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let accepted: serde_json::Value = r.json().await.unwrap();
    s.drain().await;
    let dead = store.dead_letters(&Default::default()).await.unwrap();
    let dead_id = |source: &str| dead.iter().find(|d| d.source_id == source).unwrap().id;
    let (grace, countess) = (dead_id("2"), dead_id("3"));

    // The Countess's name is shortened through the API; her e-mail, shown masked and sent
    // back so, reaches the target as it was.
    let shown: serde_json::Value = s
        .get(&format!("/api/v1/dead-letters/{countess}"))
        .bearer_auth(&s.viewer)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        shown["payload"]["fields"]["contact_email"],
        "a****@example.com"
    );
    let mut payload = shown["payload"].clone();
    payload["fields"]["name"] = "Ada King".into();
    let r = s
        .post(&format!("/api/v1/dead-letters/{countess}/edit"))
        .bearer_auth(&s.operator)
        .json(&serde_json::json!({ "payload": payload }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    s.drain().await;
    let mut erp = sqlite(&s.dir.path().join("erp.db")).await;
    let email: (Option<String>,) =
        sqlx::query_as("SELECT email FROM erp_customers WHERE code = 'C003'")
            .fetch_one(&mut erp)
            .await
            .unwrap();
    assert_eq!(email.0.as_deref(), Some("ada.king@example.com"));

    // Ada's e-mail changed in the target: a reconciliation reports the difference, and
    // Grace as unmapped, a known failure since her dead letter is open (its error names the
    // bad e-mail).
    sqlx::raw_sql("UPDATE erp_customers SET email = 'ada.new@example.com' WHERE code = 'C001'")
        .execute(&mut erp)
        .await
        .unwrap();
    let options = ferry_engine::reconcile::Options {
        scratch_dir: s.dir.path().to_owned(),
        details_limit: 100,
        repair: false,
        repair_deletes: false,
    };
    let cancel = tokio_util::sync::CancellationToken::new();
    let started = ferry_engine::reconcile::start(&s.engine, "customers", &options, "cli")
        .await
        .unwrap();
    let reconciliation = started.id;
    let report = started
        .finish(&s.engine, &options, &ferry_engine::NoProgress, &cancel)
        .await
        .unwrap();
    assert_eq!(report.differing.len(), 1, "{report:?}");
    assert!(
        report
            .dead_lettered
            .iter()
            .any(|k| k.source_id == "2" && k.finding == ferry_engine::reconcile::Finding::Unmapped),
        "{report:?}"
    );

    // A conflict of a two-way pair on the e-mail (canonical values).
    store
        .commit(
            "customers",
            &ferry_store::Commit {
                conflicts: vec![ferry_store::NewConflict {
                    pair: "customers_both_ways".into(),
                    flow: "customers".into(),
                    key: "C001".into(),
                    source_id: Some("1".into()),
                    target_id: Some("C001".into()),
                    fields: vec!["email".into()],
                    source_values: json_map(r#"{"email": "ada.lovelace@example.com"}"#),
                    target_values: json_map(r#"{"email": "ada.new@example.com"}"#),
                    source_at: None,
                    target_at: None,
                    base_values: json_map(r#"{"email": "ada.old@example.com"}"#),
                }],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let conflict = store.conflicts(&Default::default()).await.unwrap()[0].id;

    // Every answer that can show a payload, a value or an error, as a viewer.
    let tracking = accepted["accepted"][1]["tracking_id"].as_i64().unwrap();
    let api = [
        "/api/v1/dead-letters?state=all".to_owned(),
        format!("/api/v1/dead-letters/{grace}"),
        format!("/api/v1/dead-letters/{countess}"),
        "/api/v1/ledger?key=C002".to_owned(),
        "/api/v1/ledger?key=2".to_owned(),
        "/api/v1/ledger?flow=customers&limit=100".to_owned(),
        "/api/v1/ledger?limit=100".to_owned(),
        format!("/api/v1/sync/{tracking}"),
        "/api/v1/runs".to_owned(),
        "/api/v1/flows".to_owned(),
        "/api/v1/flows/customers".to_owned(),
        "/api/v1/conflicts?state=all".to_owned(),
        format!("/api/v1/conflicts/{conflict}"),
        "/api/v1/reconciliations".to_owned(),
        format!("/api/v1/reconciliations/{reconciliation}"),
    ];
    let mut bodies = Vec::new();
    for path in &api {
        let r = s.get(path).bearer_auth(&s.viewer).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "GET {path}");
        let body = r.text().await.unwrap();
        assert_masked(path, &body);
        bodies.push(body);
    }
    let mut b = Browser::new(&s);
    b.login(&s.viewer).await;
    let console = [
        "/console/".to_owned(),
        "/console/dead-letters".to_owned(),
        "/console/dead-letters?state=all".to_owned(),
        format!("/console/dead-letters/{grace}"),
        format!("/console/dead-letters/{countess}"),
        "/console/flows/customers".to_owned(),
        "/console/flows/customers?q=C002".to_owned(),
        "/console/flows/customers?q=2".to_owned(),
        "/console/conflicts".to_owned(),
        format!("/console/reconciliations/{reconciliation}"),
    ];
    for path in &console {
        let body = b.page(path).await;
        assert_masked(path, &body);
        bodies.push(body);
    }
    // An operator's dead letter page carries the edit form with the payload.
    let mut operator = Browser::new(&s);
    operator.login(&s.operator).await;
    let edit = operator
        .page(&format!("/console/dead-letters/{grace}"))
        .await;
    assert!(edit.contains("name=\"payload\""), "{edit}");
    assert_masked("the edit form", &edit);

    // The values are there, masked: Grace's payload and error, the report's difference and
    // Grace's known failure's error, the conflict's three versions.
    let all = bodies.concat();
    assert!(all.contains("\"contact_email\":\"g****@example\""), "{all}");
    assert!(all.contains("a****@example.com"));
    let shown: serde_json::Value = serde_json::from_str(&bodies[api.len() - 1]).unwrap();
    let report = &shown["report"];
    assert_eq!(
        report["differing"][0]["fields"][0],
        serde_json::json!({"field": "email", "source": "a****@example.com",
                           "target": "a****@example.com"})
    );
    let known = report["dead_lettered"][0]["error"].as_str().unwrap();
    assert!(
        known.ends_with("not a valid e-mail address: \"g****@example\""),
        "{report}"
    );
}

fn json_map(text: &str) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(text).unwrap()
}

#[tokio::test]
async fn a_failed_console_login_is_audited_without_the_key_tried() {
    let s = server().await;
    let mut b = Browser::new(&s);
    let tried = format!("fy_{}", "ab".repeat(32));
    for bad in [tried.as_str(), &s.revoked] {
        let r = b.post("/console/login", &[("key", bad)]).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    b.login(&s.admin).await;
    let audit = b.page("/console/audit").await;
    let api = s
        .get("/api/v1/audit")
        .bearer_auth(&s.admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for shown in [&audit, &api] {
        assert!(!shown.contains(&tried) && !shown.contains(&s.revoked));
        assert!(!shown.contains(&ferry_server::auth::hash_token(&tried)));
    }
    let entries = s.engine.store().audit_log(100, None).await.unwrap();
    let logins: Vec<_> = entries
        .iter()
        .filter(|a| a.action == "console.login")
        .collect();
    // Two refusals; the admin's login after them is no failure.
    assert_eq!(logins.len(), 2, "{entries:?}");
    for login in logins {
        assert_eq!(login.target, "console");
        assert_eq!(login.source.as_deref(), Some("127.0.0.1"));
        assert_eq!(login.outcome, "refused: unknown or revoked API key");
        assert_eq!((login.key_id, &login.key_name), (None, &None));
    }
    assert!(audit.contains("console.login"));
}
