//! The conformance suite (`ferry-conformance`) against the Salesforce double
//! (`ferry_doubles::salesforce`, built from the published documentation, not a real org):
//! Accounts read by `SystemModstamp` in pages that cut through ties, and upserted by
//! `ERP_Id__c`. Seeds go straight into the double's store at one frozen second; each later
//! change is a second on. The double's own faults give the 503s, 429s, dropped connections
//! and expired tokens.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_conformance::{Faults, Fixture, PlanFaults, Seeded};
use ferry_doubles::RunningDouble;
use ferry_doubles::salesforce::{
    CLIENT_ID, CLIENT_SECRET, SalesforceConfig, SalesforceDouble, parse_id, sf_id,
};
use ferry_kit::{ConnectorFactory, Outgoing, SinkContext};
use ferry_model::{Entity, Record};
use serde_json::{Map, Value, json};

use crate::SalesforceFactory;

const OBJECT: &str = "Account";

/// The double, its Accounts emptied before each check.
pub struct Double {
    pub double: RunningDouble,
    pub handle: SalesforceDouble,
    faults: PlanFaults,
}

pub fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// The Salesforce id of Account `n` in the double's store.
pub fn account_id(n: u64) -> String {
    let (account, _) = parse_id("0015g0000000001").expect("an Account id");
    sf_id(account, n)
}

impl Double {
    pub async fn start() -> Option<Self> {
        Some(Self::with(SalesforceConfig::default()).await)
    }

    pub async fn with(config: SalesforceConfig) -> Self {
        let handle = SalesforceDouble::new(config);
        let double = ferry_doubles::start(handle.clone(), 0)
            .await
            .expect("the double starts");
        double
            .clock()
            .freeze_at("2026-03-01T08:00:00Z".parse().expect("a time"));
        let faults = PlanFaults::new(double.faults(), "*", "/services/data/**")
            .reads("GET", "/services/data/**")
            .sessions(double.sessions());
        Self {
            double,
            handle,
            faults,
        }
    }

    pub fn tick(&self) {
        self.double.clock().advance(chrono::TimeDelta::seconds(1));
    }
}

#[async_trait]
impl Fixture for Double {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(SalesforceFactory)
    }
    fn settings(&self) -> Map<String, Value> {
        map(json!({
            "url": self.double.base_url(),
            "auth": {"type": "oauth2_client_credentials", "token_url": "/services/oauth2/token",
                     "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
            "retries": 3, "backoff": "10ms",
        }))
    }
    fn refused_credentials(&self) -> Option<Map<String, Value>> {
        let mut settings = self.settings();
        settings.insert(
            "auth".into(),
            json!({"type": "oauth2_client_credentials", "token_url": "/services/oauth2/token",
                   "client_id": CLIENT_ID, "client_secret": "wrong-s3cret"}),
        );
        Some(settings)
    }
    fn secrets(&self) -> Vec<String> {
        vec![CLIENT_SECRET.into(), "wrong-s3cret".into()]
    }
    fn source_options(&self) -> Map<String, Value> {
        map(json!({"object": OBJECT, "fields": ["Name", "ERP_Id__c"], "overlap": "0s"}))
    }
    fn target_options(&self) -> Map<String, Value> {
        map(json!({"object": OBJECT, "external_id": "ERP_Id__c",
                   "fields": {"name": "Name", "credit_limit": "Credit_Limit__c"}}))
    }
    fn sink_context(&self) -> SinkContext {
        SinkContext {
            entity: Entity::CUSTOMER,
            key_field: "code".into(),
            fields: vec!["code".into(), "name".into()],
        }
    }
    fn object(&self) -> String {
        OBJECT.into()
    }

    async fn reset(&self) {
        self.double.faults().clear();
        let held = self
            .double
            .store()
            .list(OBJECT, None, None)
            .expect("the object");
        for record in held {
            self.double
                .store()
                .delete(OBJECT, record.id)
                .expect("deleted");
        }
        self.tick();
    }

    async fn seed(&self, records: &[(String, String)]) -> Seeded {
        self.tick();
        records
            .iter()
            .map(|(key, name)| {
                let fields = json!({"Name": name, "ERP_Id__c": key});
                let stored = self
                    .double
                    .store()
                    .insert(OBJECT, map(fields))
                    .expect("seeded");
                (account_id(stored.id), key.clone())
            })
            .collect()
    }

    async fn rename(&self, id: &str, name: &str) {
        self.tick();
        let (_, n) = parse_id(id).expect("a double's id");
        self.double
            .store()
            .update(OBJECT, n, map(json!({"Name": name})))
            .expect("renamed");
    }

    fn name_of(&self, record: &Record) -> Option<String> {
        record.fields.get("Name")?.as_str().map(str::to_owned)
    }
    fn key_of(&self, record: &Record) -> Option<String> {
        record.fields.get("ERP_Id__c")?.as_str().map(str::to_owned)
    }

    fn refused(&self) -> Option<Outgoing> {
        let mut out = self.outgoing("R-1", "Refused");
        out.fields.insert("credit_limit".into(), json!(-5));
        Some(out)
    }
    fn refusal_says(&self) -> &str {
        "Credit limit cannot be negative"
    }

    fn faults(&self) -> Option<&dyn Faults> {
        Some(&self.faults)
    }
}

ferry_conformance::suite!(double, crate::conformance::Double::start().await);
