//! The conformance suite (`ferry-conformance`) against the real BottleCRM peer, through a
//! faulting proxy (`ferry_doubles::proxy`) so that 503s, 429s and dropped connections reach
//! the connector from a real server.
//!
//! The suite works on `accounts`, keyed by the custom field `erp_id` as the customer flows
//! are. The peer is shared with the other tests of this crate, which run in parallel, and
//! account names are unique per organization, so every key and name the suite makes starts
//! with a namespace of its own (`cf<unique>-`); the source reads only accounts whose name
//! holds it (`?name=`, which BottleCRM matches as "contains"), and `reset` deletes only
//! those. Seeds and renames go straight to BottleCRM's API with a client of their own,
//! never through the connector under test. BottleCRM authenticates by personal access
//! token, which does not expire: the `session` check does not apply.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_conformance::{Faults, Fixture, PlanFaults, Seeded};
use ferry_doubles::RunningDouble;
use ferry_doubles::proxy::Proxy;
use ferry_kit::http::Call;
use ferry_kit::{BuildContext, Connector, ConnectorFactory, Outgoing, SinkContext};
use ferry_model::{Entity, Record};
use serde_json::{Map, Value, json};

use crate::api::created_id;
use crate::test_peer::{peer_env, require_server};
use crate::{BottleCrmConnector, BottleCrmFactory};

/// The real peer behind a proxy, and a direct connection to change it as its users would.
pub struct Peer {
    proxy: RunningDouble,
    faults: PlanFaults,
    /// A connection to BottleCRM itself (not through the proxy), for seeds and renames.
    direct: BottleCrmConnector,
    token: String,
    namespace: String,
}

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

impl Peer {
    pub async fn start() -> Option<Self> {
        let env = match peer_env() {
            Ok(env) => env,
            Err(why) => {
                require_server(Err(why));
                return None;
            }
        };
        let url = env.get("CRM_URL").cloned().unwrap_or_default();
        let token = env.get("CRM_PAT").cloned().unwrap_or_default();
        let ctx = BuildContext {
            system: "crm".to_owned(),
            base_dir: std::env::temp_dir(),
        };
        let settings = map(json!({"url": url, "token": token, "timeout": "20s"}));
        let direct = BottleCrmConnector::from_settings(&ctx, &settings)
            .unwrap_or_else(|issues| panic!("the peer's env file gives bad settings: {issues:?}"));
        let reachable = direct
            .api
            .http
            .send(Call::get("api/accounts/").query("limit", 1))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        if !require_server(reachable) {
            return None;
        }
        let proxy = ferry_doubles::start(Proxy::to(&url), 0)
            .await
            .expect("the proxy starts");
        let faults = PlanFaults::new(proxy.faults(), "*", "/api/**").reads("GET", "/api/**");
        Some(Self {
            proxy,
            faults,
            direct,
            token,
            namespace: ferry_conformance::fresh_namespace(),
        })
    }

    async fn send(&self, call: Call) -> Value {
        self.direct
            .api
            .http
            .json(call)
            .await
            .unwrap_or_else(|e| panic!("the peer refused a direct call: {e}"))
    }
}

#[async_trait]
impl Fixture for Peer {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(BottleCrmFactory)
    }
    fn settings(&self) -> Map<String, Value> {
        map(json!({
            "url": self.proxy.base_url(), "token": self.token, "timeout": "20s",
            "retries": 3, "backoff": "10ms",
        }))
    }
    fn refused_credentials(&self) -> Option<Map<String, Value>> {
        let mut settings = self.settings();
        settings.insert("token".into(), json!("bcrm_pat_wrong-s3cret"));
        Some(settings)
    }
    fn secrets(&self) -> Vec<String> {
        vec![self.token.clone(), "bcrm_pat_wrong-s3cret".into()]
    }
    fn source_options(&self) -> Map<String, Value> {
        map(json!({"object": "accounts", "filter": {"name": self.namespace}}))
    }
    fn target_options(&self) -> Map<String, Value> {
        map(json!({"object": "accounts", "scan_filter": {"name": self.namespace}}))
    }
    fn sink_context(&self) -> SinkContext {
        SinkContext {
            entity: Entity::CUSTOMER,
            key_field: "code".into(),
            fields: vec!["code".into(), "name".into()],
        }
    }
    fn object(&self) -> String {
        "accounts".into()
    }
    fn namespace(&self) -> String {
        self.namespace.clone()
    }

    async fn reset(&self) {
        self.proxy.faults().clear();
        // The suite's accounts, found with the connector's own paging (a direct connection,
        // not the one under test): active and closed ones alike.
        let source = self
            .direct
            .source(&self.source_options())
            .expect("the suite's source options");
        let mut cursor: Option<String> = None;
        let mut ids = Vec::new();
        loop {
            let page = source
                .read(cursor.as_deref(), 100)
                .await
                .expect("listing the suite's accounts");
            ids.extend(page.records.into_iter().map(|r| r.id));
            if !page.more {
                break;
            }
            cursor = Some(page.cursor);
        }
        for id in ids {
            self.send(Call::delete(format!("api/accounts/{id}/"))).await;
        }
    }

    async fn seed(&self, records: &[(String, String)]) -> Seeded {
        let mut seeded = Vec::new();
        for (key, name) in records {
            let body = json!({"name": name, "custom_fields": {"erp_id": key}});
            let reply = self.send(Call::post("api/accounts/").json(&body)).await;
            let id = created_id(&reply, "account")
                .unwrap_or_else(|| panic!("no id in the reply to creating {key}: {reply}"));
            seeded.push((id, key.clone()));
        }
        seeded
    }

    async fn rename(&self, id: &str, name: &str) {
        let body = json!({"name": name});
        self.send(Call::patch(format!("api/accounts/{id}/")).json(&body))
            .await;
    }

    fn key_of(&self, record: &Record) -> Option<String> {
        let custom = record.fields.get("custom_fields")?;
        custom.get("erp_id")?.as_str().map(str::to_owned)
    }

    fn refused(&self) -> Option<Outgoing> {
        let mut out = self.outgoing(
            &format!("{}R-1", self.namespace),
            &format!("{}Refused", self.namespace),
        );
        out.fields.insert("email".into(), json!("not-an-email"));
        Some(out)
    }
    fn refusal_says(&self) -> &str {
        "Enter a valid email address"
    }

    fn faults(&self) -> Option<&dyn Faults> {
        Some(&self.faults) // a personal access token does not expire
    }
}

ferry_conformance::suite!(peer, crate::conformance::Peer::start().await);
