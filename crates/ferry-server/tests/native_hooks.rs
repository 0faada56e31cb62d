//! A vendor's own webhook format, added by a connector alone: the server and the engine are
//! not told about it. The test's connector, `acme`, is the `sql` connector plus the webhooks
//! of an imaginary vendor (its format below); the CRM of the standard test setup is one. A
//! notice in Acme's format reaches the durable queue before the answer and is then synced
//! into the real ERP table; a bad signature, a repeat, a topic no flow reads and a malformed
//! payload get the answers a vendor's retry logic expects.
//!
//! Acme's format: `POST` with `X-Acme-Signature: <hex HMAC-SHA256 of the body>` (keyed with
//! the webhook secret), `X-Acme-Delivery: <event id>` (the same on every redelivery), and a
//! body `{"topic": "<object>/<event>", "records": [{"id": …}, …]}`. A delivery sent with
//! `X-Acme-Ack: required` wants `ack <event id>` as text back, or Acme sends it again.

mod common;

use std::sync::Arc;

use async_trait::async_trait;
use common::*;
use ferry_kit::inbound::{
    Acknowledgement, Changes, Inbound, InboundError, InboundFlow, InboundRequest, Verified,
};
use ferry_kit::{
    BuildContext, Capabilities, Connector, ConnectorFactory, ConnectorSchemas, ObjectInfo,
    SettingsIssues, Sink, SinkContext, Source,
};
use ferry_model::ConnectorError;
use hmac::{KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

const ACME_SECRET: &str = "acme-shared-secret-42";

/// `kind: acme`: a `sql` database with Acme's webhooks (`webhook_secret`).
struct AcmeFactory;

impl ConnectorFactory for AcmeFactory {
    fn kind(&self) -> &'static str {
        "acme"
    }
    fn summary(&self) -> &'static str {
        "An imaginary vendor: a SQL database with its own webhooks"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            webhook: true,
            ..sql().capabilities()
        }
    }
    fn schemas(&self) -> ConnectorSchemas {
        sql().schemas()
    }
    fn build(
        &self,
        ctx: &BuildContext,
        settings: &Map<String, Value>,
    ) -> Result<Arc<dyn Connector>, SettingsIssues> {
        let mut settings = settings.clone();
        let secret = settings
            .remove("webhook_secret")
            .and_then(|v| v.as_str().map(str::to_owned));
        Ok(Arc::new(Acme {
            sql: sql().build(ctx, &settings)?,
            hooks: secret.map(|secret| Arc::new(AcmeHooks { secret }) as Arc<dyn Inbound>),
        }))
    }
}

fn sql() -> Arc<dyn ConnectorFactory> {
    ferry_connectors::builtin().get("sql").unwrap().clone()
}

struct Acme {
    sql: Arc<dyn Connector>,
    hooks: Option<Arc<dyn Inbound>>,
}

impl std::fmt::Debug for Acme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acme")
            .field("sql", &self.sql)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Connector for Acme {
    fn source(&self, options: &Map<String, Value>) -> Result<Arc<dyn Source>, SettingsIssues> {
        self.sql.source(options)
    }
    fn sink(
        &self,
        options: &Map<String, Value>,
        ctx: &SinkContext,
    ) -> Result<Arc<dyn Sink>, SettingsIssues> {
        self.sql.sink(options, ctx)
    }
    async fn discover(&self) -> Result<Vec<ObjectInfo>, ConnectorError> {
        self.sql.discover().await
    }
    fn inbound(&self) -> Option<Arc<dyn Inbound>> {
        self.hooks.clone()
    }
}

/// Acme's webhook format (see the module docs).
struct AcmeHooks {
    secret: String,
}

impl Inbound for AcmeHooks {
    fn verify(&self, request: &InboundRequest<'_>) -> Result<Verified, InboundError> {
        let signature = request
            .header("x-acme-signature")
            .ok_or_else(|| InboundError::Signature("missing header X-Acme-Signature".into()))?;
        let signature = hex::decode(signature.trim())
            .map_err(|_| InboundError::Signature("X-Acme-Signature is not hex".into()))?;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.secret.as_bytes())
            .expect("any key length");
        mac.update(request.body);
        mac.verify_slice(&signature)
            .map_err(|_| InboundError::Signature("X-Acme-Signature does not match".into()))?;
        let delivery = request
            .header("x-acme-delivery")
            .ok_or_else(|| InboundError::Malformed("missing header X-Acme-Delivery".into()))?;
        Ok(Verified {
            replay_key: delivery.to_owned(),
            valid_until: request.received_at + chrono::Duration::hours(24),
        })
    }

    fn changes(
        &self,
        request: &InboundRequest<'_>,
        flows: &[InboundFlow<'_>],
    ) -> Result<Changes, InboundError> {
        let malformed = |why: &str| InboundError::Malformed(format!("not an Acme event: {why}"));
        let body: Value =
            serde_json::from_slice(request.body).map_err(|_| malformed("not JSON"))?;
        let topic = body["topic"]
            .as_str()
            .ok_or_else(|| malformed("no `topic`"))?;
        let object = topic.split('/').next().unwrap_or_default();
        let ids: Vec<String> = body["records"]
            .as_array()
            .ok_or_else(|| malformed("no `records` list"))?
            .iter()
            .map(|r| {
                ferry_kit::sink::key_text(&r["id"])
                    .ok_or_else(|| malformed("a record without `id`"))
            })
            .collect::<Result<_, _>>()?;
        let mut changes = Changes::default();
        for flow in flows.iter().filter(|f| f.source["table"] == object) {
            changes
                .records
                .extend(ids.iter().map(|id| (flow.name.to_owned(), id.clone())));
        }
        Ok(changes)
    }

    fn acknowledgement(&self, request: &InboundRequest<'_>) -> Option<Acknowledgement> {
        (request.header("x-acme-ack") == Some("required")).then(|| Acknowledgement {
            content_type: "text/plain",
            body: format!(
                "ack {}",
                request.header("x-acme-delivery").unwrap_or_default()
            )
            .into_bytes(),
        })
    }
}

async fn server() -> TestServer {
    start_custom(
        "",
        Custom {
            crm: Some(format!(
                r#"{{ kind: acme, url: "sqlite://crm.db", webhook_secret: "{ACME_SECRET}" }}"#
            )),
            connectors: vec![Arc::new(AcmeFactory)],
        },
    )
    .await
}

/// Posts `body` to `/hooks/crm` as Acme would, signed with `secret`.
async fn acme(s: &TestServer, body: &Value, delivery: &str, secret: &str) -> reqwest::Response {
    acme_request(s, body, delivery, secret)
        .send()
        .await
        .unwrap()
}

fn acme_request(
    s: &TestServer,
    body: &Value,
    delivery: &str,
    secret: &str,
) -> reqwest::RequestBuilder {
    let body = body.to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    s.post("/hooks/crm")
        .header("x-acme-signature", hex::encode(mac.finalize().into_bytes()))
        .header("x-acme-delivery", delivery)
        .body(body)
}

async fn queued(s: &TestServer) -> u64 {
    s.engine.store().queue_depth(None).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_event_is_queued_before_the_answer_and_then_synced() {
    let s = server().await;
    let event = json!({"topic": "customers/updated", "records": [{"id": 2}]});
    let r = acme(&s, &event, "evt-1", ACME_SECRET).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["accepted"][0]["flow"], "customers", "{body}");
    assert_eq!(queued(&s).await, 1);
    s.drain().await;
    assert_eq!(
        s.target_rows().await,
        [("C002".into(), "Grace".into(), Some("13900001111".into()))]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vendors_signature_is_checked_by_its_connector() {
    let s = server().await;
    let event = json!({"topic": "customers/updated", "records": [{"id": 1}]});
    let r = acme(&s, &event, "evt-2", "not-the-secret").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("X-Acme-Signature does not match"), "{error}");
    assert!(!error.contains(ACME_SECRET));
    // Ferry's own format is not taken for this system: its connector decides.
    let r = s
        .post("/hooks/crm")
        .body(r#"{"entity": "customer", "id": "1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(queued(&s).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_is_answered_without_queueing_again() {
    let s = server().await;
    let event = json!({"topic": "customers/created", "records": [{"id": "1"}, {"id": 2}]});
    let first = acme(&s, &event, "evt-3", ACME_SECRET).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let again = acme(&s, &event, "evt-3", ACME_SECRET).await;
    assert_eq!(again.status(), StatusCode::OK);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["duplicate"], true, "{body}");
    assert_eq!(queued(&s).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_no_flow_reads_are_acknowledged_and_malformed_events_refused() {
    let s = server().await;
    let other = json!({"topic": "invoices/paid", "records": [{"id": 9}]});
    let r = acme(&s, &other, "evt-4", ACME_SECRET).await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(queued(&s).await, 0);
    let broken = json!({"topic": "customers/updated", "records": [{"name": "no id"}]});
    let r = acme(&s, &broken, "evt-5", ACME_SECRET).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("a record without `id`"),
        "{body}"
    );
    assert_eq!(queued(&s).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_that_wants_its_own_answer_gets_it_and_the_event_is_queued() {
    let s = server().await;
    let event = json!({"topic": "customers/updated", "records": [{"id": 1}]});
    for _ in 0..2 {
        // The first delivery and its repeat: both answered the vendor's way.
        let r = acme_request(&s, &event, "evt-6", ACME_SECRET)
            .header("x-acme-ack", "required")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "text/plain");
        assert_eq!(r.text().await.unwrap(), "ack evt-6");
    }
    assert_eq!(queued(&s).await, 1, "queued once");
    // A refusal is still Ferry's own error answer.
    let r = acme_request(&s, &event, "evt-7", "not-the-secret")
        .header("x-acme-ack", "required")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}
