//! The conformance suite (`ferry-conformance`) against the Dynamics 365 double
//! (`ferry_doubles::dynamics`, built from published documentation, not a real environment):
//! accounts read through change tracking and written by their alternate key
//! `accountnumber` (the flow's key) with `name` as the name. Seeds go straight into the
//! double's store at one frozen second; each later change is a second on. The double's own
//! faults give the 503s, 429s, dropped connections and expired tokens.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_conformance::{Faults, Fixture, PlanFaults, Seeded};
use ferry_doubles::RunningDouble;
use ferry_doubles::dynamics::{DynamicsConfig, DynamicsDouble};
use ferry_kit::{ConnectorFactory, Outgoing, SinkContext};
use ferry_model::{Entity, Record};
use serde_json::{Map, Value, json};

use crate::DynamicsFactory;

const SET: &str = "accounts";

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// The double, its accounts emptied before each check.
pub struct Double {
    pub double: RunningDouble,
    pub dynamics: DynamicsDouble,
    faults: PlanFaults,
}

impl Double {
    pub async fn start() -> Option<Self> {
        let dynamics = DynamicsDouble::new(DynamicsConfig {
            seed: false,
            ..DynamicsConfig::default()
        });
        let double = ferry_doubles::start(dynamics.clone(), 0)
            .await
            .expect("the double starts");
        double
            .clock()
            .freeze_at("2026-03-01T08:00:00Z".parse().expect("a time"));
        let faults = PlanFaults::new(double.faults(), "*", "/api/data/v9.2/**")
            .reads("GET", "/api/data/v9.2/**")
            .sessions(double.sessions());
        Some(Self {
            double,
            dynamics,
            faults,
        })
    }

    fn tick(&self) {
        self.double.clock().advance(chrono::TimeDelta::seconds(1));
    }

    /// The store id of the account with this GUID.
    fn store_id(&self, guid: &str) -> Option<u64> {
        let store = self.double.store();
        store
            .list(SET, None, None)
            .ok()?
            .into_iter()
            .find(|r| self.dynamics.guid(store, SET, r.id).as_deref() == Some(guid))
            .map(|r| r.id)
    }
}

#[async_trait]
impl Fixture for Double {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(DynamicsFactory)
    }
    fn settings(&self) -> Map<String, Value> {
        let c = self.dynamics.config();
        map(json!({
            "url": self.double.base_url(),
            "tenant": c.tenant, "client_id": c.client_id, "client_secret": c.client_secret,
            "authority": self.double.base_url(),
            "retries": 3, "backoff": "10ms",
        }))
    }
    fn refused_credentials(&self) -> Option<Map<String, Value>> {
        let mut settings = self.settings();
        settings.insert("client_secret".into(), json!("wrong-s3cret"));
        Some(settings)
    }
    fn secrets(&self) -> Vec<String> {
        vec![
            self.dynamics.config().client_secret.clone(),
            "wrong-s3cret".into(),
        ]
    }
    fn source_options(&self) -> Map<String, Value> {
        map(json!({"entity_set": SET}))
    }
    fn target_options(&self) -> Map<String, Value> {
        map(json!({"entity_set": SET, "key": "accountnumber",
                   "fields": {"code": "accountnumber", "phone": "telephone1"}}))
    }
    fn sink_context(&self) -> SinkContext {
        SinkContext {
            entity: Entity::CUSTOMER,
            key_field: "code".into(),
            fields: vec!["code".into(), "name".into()],
        }
    }
    fn object(&self) -> String {
        SET.into()
    }

    async fn reset(&self) {
        self.double.faults().clear();
        self.double
            .store()
            .delete_all(SET)
            .expect("the set emptied");
        self.tick();
    }

    async fn seed(&self, records: &[(String, String)]) -> Seeded {
        self.tick();
        let store = self.double.store();
        records
            .iter()
            .map(|(key, name)| {
                let fields = map(json!({"accountnumber": key, "name": name}));
                let record = store.insert(SET, fields).expect("seeded");
                let guid = self.dynamics.guid(store, SET, record.id).expect("a GUID");
                (guid, key.clone())
            })
            .collect()
    }

    async fn rename(&self, id: &str, name: &str) {
        self.tick();
        let store_id = self.store_id(id).expect("the record");
        self.double
            .store()
            .update(SET, store_id, map(json!({"name": name})))
            .expect("renamed");
    }

    fn key_of(&self, record: &Record) -> Option<String> {
        record
            .fields
            .get("accountnumber")?
            .as_str()
            .map(str::to_owned)
    }

    fn refused(&self) -> Option<Outgoing> {
        let mut out = self.outgoing("R-1", "Refused");
        out.fields.insert("phone".into(), json!("5".repeat(60)));
        Some(out)
    }
    fn refusal_says(&self) -> &str {
        "exceeded the maximum allowed length of '50'"
    }

    fn faults(&self) -> Option<&dyn Faults> {
        Some(&self.faults)
    }
}

ferry_conformance::suite!(double, crate::conformance::Double::start().await);
