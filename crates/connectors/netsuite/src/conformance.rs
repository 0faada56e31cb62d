//! The conformance suite (`ferry-conformance`) against the NetSuite double
//! (`ferry_doubles::netsuite`, built from published documentation, not a real account):
//! customers read by SuiteQL on `lastmodifieddate` in pages that cut through ties (every
//! seed at one frozen second), and written by external id with `companyName` as the name.
//! The double's own faults give the 503s, 429s and dropped connections; TBA tokens have no
//! sessions to expire, so the suite skips that check. Deletes by internal id (or external
//! id); no scan: the connector does not declare it, and the suite says so.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_conformance::{Faults, Fixture, PlanFaults, Seeded};
use ferry_doubles::RunningDouble;
use ferry_doubles::netsuite::{NetSuiteConfig, NetSuiteDouble};
use ferry_kit::{ConnectorFactory, Outgoing, SinkContext};
use ferry_model::{Entity, Record};
use serde_json::{Map, Value, json};

use crate::NetSuiteFactory;

const OBJECT: &str = "customer";

/// The double (its customers emptied before each check), and a handle on its governance.
pub struct Double {
    pub double: RunningDouble,
    pub netsuite: NetSuiteDouble,
    faults: PlanFaults,
}

pub fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

impl Double {
    pub async fn start() -> Option<Self> {
        Self::with(NetSuiteConfig::default()).await
    }

    pub async fn with(config: NetSuiteConfig) -> Option<Self> {
        let netsuite = NetSuiteDouble::new(config);
        let double = ferry_doubles::start(netsuite.clone(), 0)
            .await
            .expect("the double starts");
        double
            .clock()
            // After the seed (`seed_epoch`), as time goes.
            .freeze_at("2026-05-01T08:00:00Z".parse().expect("a time"));
        let faults = PlanFaults::new(double.faults(), "*", "/services/rest/**")
            .reads("POST", "/services/rest/query/v1/suiteql");
        Some(Self {
            double,
            netsuite,
            faults,
        })
    }

    pub fn tick(&self) {
        self.double.clock().advance(chrono::TimeDelta::seconds(1));
    }
}

#[async_trait]
impl Fixture for Double {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(NetSuiteFactory)
    }
    fn settings(&self) -> Map<String, Value> {
        let c = self.netsuite.config();
        map(json!({
            "account": c.account, "consumer_key": c.consumer_key,
            "consumer_secret": c.consumer_secret, "token_id": c.token_id,
            "token_secret": c.token_secret, "url": self.double.base_url(),
            "retries": 3, "backoff": "10ms",
        }))
    }
    fn refused_credentials(&self) -> Option<Map<String, Value>> {
        let mut settings = self.settings();
        settings.insert("token_secret".into(), json!("wrong-t0ken-s3cret"));
        Some(settings)
    }
    fn secrets(&self) -> Vec<String> {
        let c = self.netsuite.config();
        vec![
            c.consumer_secret.clone(),
            c.token_secret.clone(),
            "wrong-t0ken-s3cret".into(),
        ]
    }
    fn source_options(&self) -> Map<String, Value> {
        map(json!({"object": "customers", "overlap": "0s"}))
    }
    fn target_options(&self) -> Map<String, Value> {
        map(json!({"record": "customer", "fields": {"code": "entityId", "name": "companyName"}}))
    }
    fn sink_context(&self) -> SinkContext {
        SinkContext {
            entity: Entity::CUSTOMER,
            key_field: "code".into(),
            fields: vec!["code".into(), "name".into()],
        }
    }
    fn object(&self) -> String {
        "customers".into()
    }

    async fn reset(&self) {
        self.double.faults().clear();
        self.double
            .store()
            .delete_all(OBJECT)
            .expect("customers emptied");
        self.tick();
    }

    async fn seed(&self, records: &[(String, String)]) -> Seeded {
        self.tick();
        let store = self.double.store();
        records
            .iter()
            .map(|(key, name)| {
                let fields = json!({"entityid": key, "externalid": key, "companyname": name,
                                    "isperson": false, "isinactive": false});
                let record = store.insert(OBJECT, map(fields)).expect("seeded");
                (record.id.to_string(), key.clone())
            })
            .collect()
    }

    async fn rename(&self, id: &str, name: &str) {
        self.tick();
        let id = id.parse().expect("a numeric id");
        self.double
            .store()
            .update(OBJECT, id, map(json!({"companyname": name})))
            .expect("renamed");
    }

    fn name_of(&self, record: &Record) -> Option<String> {
        record
            .fields
            .get("companyname")?
            .as_str()
            .map(str::to_owned)
    }
    fn key_of(&self, record: &Record) -> Option<String> {
        record.fields.get("externalid")?.as_str().map(str::to_owned)
    }

    fn refused(&self) -> Option<Outgoing> {
        let mut out = self.outgoing(&format!("{}R-1", self.namespace()), "");
        out.fields.insert("name".into(), json!(""));
        Some(out)
    }
    fn refusal_says(&self) -> &str {
        "Please enter value(s) for: Company Name"
    }

    fn faults(&self) -> Option<&dyn Faults> {
        Some(&self.faults)
    }
}

ferry_conformance::suite!(double, crate::conformance::Double::start().await);
