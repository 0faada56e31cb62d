//! The conformance suite (`ferry-conformance`) against the real Tryton peer, through a
//! faulting proxy (`ferry_doubles::proxy`) so that 503s, 429s and dropped connections reach
//! the connector from a real server.
//!
//! The suite works on `party.party`, keyed by `identifiers.code` as the customer flows are.
//! The peer is shared with the other tests of this crate, which run in parallel, so every
//! key the suite makes starts with a namespace of its own (`cf<unique>-`), the source reads
//! only those parties (a domain on `code`), and `reset` deletes only them. Each party's own
//! `code` is the business key too: with a code given, Tryton draws none from its sequence,
//! which the SQLite peer cannot draw safely in parallel (see `OneWriterAtATime` in the
//! tests). Seeds and renames go straight to Tryton over its RPC, never through the
//! connector under test; a batch of seeds is one `create` call, so it shares one timestamp.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_conformance::{Faults, Fixture, PlanFaults, Seeded};
use ferry_doubles::RunningDouble;
use ferry_doubles::proxy::Proxy;
use ferry_kit::{BuildContext, ConnectorFactory, Outgoing, SinkContext};
use ferry_model::{Entity, ErrorKind, Record};
use serde_json::{Map, Value, json};

use crate::rpc::{Effect, rpc_path};
use crate::{TrytonConnector, TrytonFactory, test_peer};

/// The real peer behind a proxy, and a direct connection to change it as its users would.
pub struct Peer {
    proxy: RunningDouble,
    faults: PlanFaults,
    proxied: Proxy,
    /// A connection to Tryton itself (not through the proxy), for seeds and renames.
    direct: TrytonConnector,
    upstream: String,
    database: String,
    user: String,
    password: String,
    company: i64,
    namespace: String,
    /// The `code` of a party the peer always has (its company's), for a refused duplicate.
    taken_code: String,
}

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

impl Peer {
    pub async fn start() -> Option<Self> {
        let env = match test_peer::env() {
            Ok(env) => env,
            Err(why) => return test_peer::skip(&why),
        };
        let get = |k: &str| env.get(k).cloned().unwrap_or_default();
        let upstream = get("TRYTON_URL");
        let company: i64 = get("TRYTON_COMPANY_ID").parse().unwrap_or(1);
        let settings = map(json!({
            "url": upstream, "database": get("TRYTON_DB"), "user": get("TRYTON_USER"),
            "password": get("TRYTON_PASSWORD"), "context": {"company": company}, "timeout": "60s",
        }));
        let ctx = BuildContext {
            system: "erp".to_owned(),
            base_dir: std::env::temp_dir(),
        };
        let direct = TrytonConnector::from_settings(&ctx, &settings)
            .unwrap_or_else(|issues| panic!("the peer's env file gives bad settings: {issues:?}"));
        let taken = direct
            .rpc
            .model(
                "party.party",
                "read",
                vec![json!([company]), json!(["code"])],
                &Map::new(),
                Effect::Read,
            )
            .await;
        let taken_code = match taken {
            Ok(rows) => rows[0]["code"].as_str().unwrap_or_default().to_owned(),
            Err(e) if e.kind() == ErrorKind::Retryable => return test_peer::skip(&e.to_string()),
            Err(e) => panic!("tryton answers but reading its company party failed: {e}"),
        };
        let proxied = Proxy::to(&upstream);
        let proxy = ferry_doubles::start(proxied.clone(), 0)
            .await
            .expect("the proxy starts");
        let faults = PlanFaults::new(proxy.faults(), "*", "/**");
        Some(Self {
            proxy,
            faults,
            proxied,
            direct,
            upstream,
            database: get("TRYTON_DB"),
            user: get("TRYTON_USER"),
            password: get("TRYTON_PASSWORD"),
            company,
            namespace: ferry_conformance::fresh_namespace(),
            taken_code,
        })
    }

    async fn direct(&self, method: &str, args: Vec<Value>) -> Value {
        self.direct
            .rpc
            .model("party.party", method, args, &Map::new(), Effect::Write)
            .await
            .unwrap_or_else(|e| panic!("party.party.{method} on the peer: {e}"))
    }

    /// Sends one JSON-RPC call to Tryton with the `Authorization` header given; the status.
    async fn call_as(&self, authorization: &str, method: &str) -> reqwest::StatusCode {
        let url = format!(
            "{}/{}",
            self.upstream.trim_end_matches('/'),
            rpc_path(&self.database)
        );
        let body = json!({"id": 1, "method": method, "params": []});
        reqwest::Client::new()
            .post(url)
            .header("authorization", authorization)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} on the peer: {e}"))
            .status()
    }
}

#[async_trait]
impl Fixture for Peer {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(TrytonFactory)
    }
    fn settings(&self) -> Map<String, Value> {
        map(json!({
            "url": self.proxy.base_url(), "database": self.database, "user": self.user,
            "password": self.password, "context": {"company": self.company},
            "timeout": "60s", "retries": 3, "backoff": "10ms",
        }))
    }
    fn refused_credentials(&self) -> Option<Map<String, Value>> {
        let mut settings = self.settings();
        settings.insert("password".into(), json!("wrong-Pa55word"));
        Some(settings)
    }
    /// The peer's password is its login name (`admin`), which errors rightly show: it is
    /// checked only when it differs. The refused password is always checked.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = vec!["wrong-Pa55word".to_owned()];
        if self.password != self.user {
            secrets.push(self.password.clone());
        }
        secrets
    }
    fn source_options(&self) -> Map<String, Value> {
        map(json!({
            "model": "party.party", "fields": ["name", "code"],
            "domain": [["code", "like", format!("{}%", self.namespace)]],
        }))
    }
    fn target_options(&self) -> Map<String, Value> {
        map(json!({
            "model": "party.party", "key": "identifiers.code", "fields": {"party_code": "code"},
            "scan_domain": [["code", "like", format!("{}%", self.namespace)]],
        }))
    }
    fn sink_context(&self) -> SinkContext {
        SinkContext {
            entity: Entity::CUSTOMER,
            key_field: "code".into(),
            fields: vec!["code".into(), "name".into()],
        }
    }
    fn object(&self) -> String {
        "party.party".into()
    }
    fn namespace(&self) -> String {
        self.namespace.clone()
    }

    async fn reset(&self) {
        self.proxy.faults().clear();
        let domain = json!([["code", "like", format!("{}%", self.namespace)]]);
        let ids = self
            .direct
            .rpc
            .model(
                "party.party",
                "search",
                vec![domain],
                &map(json!({"active_test": false})),
                Effect::Read,
            )
            .await
            .expect("searching the suite's parties");
        if ids.as_array().is_some_and(|ids| !ids.is_empty()) {
            self.direct("delete", vec![ids]).await;
        }
    }

    async fn seed(&self, records: &[(String, String)]) -> Seeded {
        let parties: Vec<Value> = records
            .iter()
            .map(|(key, name)| {
                json!({"name": name, "code": key, "identifiers": [["create", [{"code": key}]]]})
            })
            .collect();
        let ids = self.direct("create", vec![Value::Array(parties)]).await;
        let ids = ids.as_array().expect("create answers ids");
        ids.iter()
            .zip(records)
            .map(|(id, (key, _))| (id.to_string(), key.clone()))
            .collect()
    }

    async fn rename(&self, id: &str, name: &str) {
        let id: i64 = id.parse().expect("a numeric id");
        self.direct("write", vec![json!([id]), json!({"name": name})])
            .await;
    }

    fn key_of(&self, record: &Record) -> Option<String> {
        record
            .fields
            .get("code")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    fn outgoing(&self, key: &str, name: &str) -> Outgoing {
        Outgoing {
            key: key.to_owned(),
            target_id: None,
            fields: map(json!({"code": key, "name": name, "party_code": key})),
        }
    }
    fn refused(&self) -> Option<Outgoing> {
        let mut out = self.outgoing(&format!("{}R-1", self.namespace), "Refused");
        out.fields
            .insert("party_code".into(), json!(self.taken_code));
        Some(out)
    }
    fn refusal_says(&self) -> &str {
        "The code on party must be unique"
    }

    fn faults(&self) -> Option<&dyn Faults> {
        Some(self)
    }
}

#[async_trait]
impl Faults for Peer {
    fn fail_next(&self, count: usize, status: u16) {
        self.faults.fail_next(count, status);
    }
    fn throttle_next(&self, seconds: u64) {
        self.faults.throttle_next(seconds);
    }
    fn drop_next(&self) {
        self.faults.drop_next();
    }
    /// Logs the connector's own session out at Tryton (the session it last sent through
    /// the proxy), and checks that Tryton now refuses it.
    async fn expire_sessions(&self) -> bool {
        let session = self
            .proxied
            .last_header("authorization")
            .expect("the connector has sent a session through the proxy");
        let session = session.to_str().expect("a session header is text");
        let logout = self.call_as(session, "common.db.logout").await;
        assert!(logout.is_success(), "common.db.logout: {logout}");
        let after = self.call_as(session, "common.db.logout").await;
        assert_eq!(
            after.as_u16(),
            401,
            "Tryton still takes the logged-out session"
        );
        true
    }
    fn unfired(&self) -> usize {
        self.faults.unfired()
    }
}

ferry_conformance::suite!(peer, crate::conformance::Peer::start().await);
