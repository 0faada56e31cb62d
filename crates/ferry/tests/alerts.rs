//! Alerts from `ferry run`: dead letters appear → one POST (not one per check), fixed at the
//! source → one recovery POST; the header credential reaches the receiver and never the log.
//! The same two announcements reach a WeCom channel as Chinese markdown, its key never in
//! the log.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CONFIG: &str = r#"
systems:
  crm: { kind: sql, url: "sqlite://crm.db" }
  erp: { kind: sql, url: "sqlite://erp.db" }
flows:
  customers:
    entity: customer
    trigger: { poll: 200ms }
    source: { system: crm, table: customers, watermark: { column: updated_at, overlap: 1s } }
    target: { system: erp, table: erp_customers }
    mapping: { code: customer_no, name: name, email: email }
    validate: { email: [required, email] }
alerts:
  url: "URL/ferry-alerts"
  headers: { Authorization: "Bearer ${ALERT_TOKEN}" }
  channels:
    - { kind: wecom, webhook: "URL/cgi-bin/webhook/send?key=${WECOM_KEY}", language: zh }
  every: 200ms
  repeat: 1h
"#;

const TOKEN: &str = "alert-token-s3cr3t-0042";
const WECOM_KEY: &str = "wecom-key-5e3d587e-0042";

/// The bodies received so far at `path`.
async fn received_at(server: &MockServer, path: &str) -> Vec<serde_json::Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == path)
        .map(|r| serde_json::from_slice(&r.body).expect("alert bodies are JSON"))
        .collect()
}

/// The alert bodies of the JSON POST received so far.
async fn received(server: &MockServer) -> Vec<serde_json::Value> {
    received_at(server, "/ferry-alerts").await
}

async fn wait_for(server: &MockServer, what: &str, pred: impl Fn(&serde_json::Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if received(server).await.iter().any(&pred) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no {what} alert within 60 s; got {:#?}",
        received(server).await
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_letters_alert_once_and_recover_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/ferry-alerts"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/webhook/send"))
        .and(query_param("key", WECOM_KEY))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"errcode": 0, "errmsg": "ok"})),
        )
        .mount(&server)
        .await;

    let dir = scratch();
    let dir = dir.path();
    std::fs::write(dir.join("ferry.yaml"), CONFIG.replace("URL", &server.uri())).unwrap();
    let mut crm = sqlite(&dir.join("crm.db")).await;
    sqlx::raw_sql(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, customer_no TEXT NOT NULL, \
         name TEXT NOT NULL, email TEXT, updated_at TEXT NOT NULL);
         INSERT INTO customers VALUES
           (1, 'C1', '客户一', 'one@example.com', '2026-01-01 00:00:00'),
           (2, 'C2', '客户二', 'two@@example', '2026-01-01 00:00:00'),
           (3, 'C3', '客户三', 'three@example.com', '2026-01-01 00:00:00');",
    )
    .execute(&mut crm)
    .await
    .unwrap();
    let mut erp = sqlite(&dir.join("erp.db")).await;
    sqlx::raw_sql("CREATE TABLE erp_customers (code TEXT PRIMARY KEY, name TEXT, email TEXT)")
        .execute(&mut erp)
        .await
        .unwrap();

    let child = ferry()
        .current_dir(dir)
        .env("ALERT_TOKEN", TOKEN)
        .env("WECOM_KEY", WECOM_KEY)
        .env("FERRY_LOG", "info")
        .args(["run", "--no-serve"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry run starts");

    let dead_letter_alert = |state: &'static str| {
        move |a: &serde_json::Value| {
            a["flow"] == "customers" && a["condition"] == "dead_letters" && a["state"] == state
        }
    };
    wait_for(&server, "dead-letter", dead_letter_alert("firing")).await;

    // Fixed at the source: the next poll delivers the record, its dead letter resolves, and
    // the alert recovers.
    sqlx::raw_sql(
        "UPDATE customers SET email = 'two@example.com', updated_at = '2026-01-02 00:00:00' \
         WHERE id = 2",
    )
    .execute(&mut crm)
    .await
    .unwrap();
    wait_for(&server, "recovery", dead_letter_alert("resolved")).await;
    // A few more checks go by without anything new to say.
    tokio::time::sleep(Duration::from_millis(800)).await;

    sigterm(child.id());
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);

    let alerts = received(&server).await;
    let firing = alerts
        .iter()
        .filter(|a| dead_letter_alert("firing")(a))
        .count();
    let resolved = alerts
        .iter()
        .filter(|a| dead_letter_alert("resolved")(a))
        .count();
    assert_eq!((firing, resolved), (1, 1), "no flooding: {alerts:#?}");
    let first = alerts
        .iter()
        .find(|a| dead_letter_alert("firing")(a))
        .unwrap();
    assert!(
        first["message"]
            .as_str()
            .unwrap()
            .contains("flow `customers`: 1 open dead letter(s)"),
        "{first}"
    );
    assert!(
        log.contains("ALERT flow `customers`: 1 open dead letter(s)"),
        "{log}"
    );
    assert!(
        !log.contains(TOKEN),
        "the credential leaked into the log:\n{log}"
    );

    // WeCom got the same two announcements, as Chinese markdown, and its key stayed out of
    // the log.
    let wecom: Vec<String> = received_at(&server, "/cgi-bin/webhook/send")
        .await
        .iter()
        .map(|m| m["markdown"]["content"].as_str().unwrap().to_owned())
        .collect();
    // One message per check: the failed run and the dead letter come together (a third
    // message when their recoveries fall in different checks).
    assert!((2..=3).contains(&wecom.len()), "{wecom:#?}");
    assert!(
        wecom[0].starts_with("**🔴【Ferry】2 条告警：2 条告警中**")
            && wecom[0].contains("> **🔴 customers · 死信**\n> 1 条死信待处理"),
        "{}",
        wecom[0]
    );
    assert!(
        wecom
            .iter()
            .any(|m| m.contains("✅ customers · 死信：已恢复")),
        "{wecom:#?}"
    );
    assert!(
        !log.contains(WECOM_KEY),
        "the WeCom key leaked into the log:\n{log}"
    );
}
