//! The conformance suite (`ferry-conformance`) against the SAP double (`ferry_doubles::sap`,
//! built from published documentation, not a real system): business partners
//! (`A_BusinessPartner`) read by `LastChangeDate` + `LastChangeTime` in pages that cut
//! through ties, and written by `SearchTerm1` (the flow's key) with `OrganizationBPName1` as
//! the name. Seeds go straight into the double's store at one frozen second; each later
//! change is a second on. The double's own faults give the 503s, 429s, dropped connections
//! and expired sessions (CSRF tokens and cookies). No delete and no scan: the connector
//! declares neither, and the suite says so.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_conformance::{Faults, Fixture, PlanFaults, Seeded};
use ferry_doubles::RunningDouble;
use ferry_doubles::sap::{SapConfig, SapDouble};
use ferry_kit::{ConnectorFactory, Outgoing, SinkContext};
use ferry_model::{Entity, Record};
use serde_json::{Map, Value, json};

use crate::SapFactory;

const SET: &str = "A_BusinessPartner";

/// The double, its business partners emptied before each check.
pub struct Double {
    double: RunningDouble,
    faults: PlanFaults,
}

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

impl Double {
    pub async fn start() -> Option<Self> {
        let double = ferry_doubles::start(SapDouble::new(SapConfig::default()), 0)
            .await
            .expect("the double starts");
        double
            .clock()
            .freeze_at("2026-03-01T08:00:00Z".parse().expect("a time"));
        let faults = PlanFaults::new(double.faults(), "*", "/sap/opu/odata/sap/**")
            .reads("GET", "/sap/opu/odata/sap/**")
            .sessions(double.sessions());
        Some(Self { double, faults })
    }

    fn tick(&self) {
        self.double.clock().advance(chrono::TimeDelta::seconds(1));
    }
}

#[async_trait]
impl Fixture for Double {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(SapFactory)
    }
    fn settings(&self) -> Map<String, Value> {
        map(json!({
            "url": self.double.base_url(),
            "auth": {"type": "basic", "username": "FERRY_COMM_USER", "password": "sap-Pa55word"},
            "services": ["API_BUSINESS_PARTNER"],
            "retries": 3, "backoff": "10ms",
        }))
    }
    fn refused_credentials(&self) -> Option<Map<String, Value>> {
        let mut settings = self.settings();
        settings.insert(
            "auth".into(),
            json!({"type": "basic", "username": "FERRY_COMM_USER", "password": "wrong-s3cret"}),
        );
        Some(settings)
    }
    fn secrets(&self) -> Vec<String> {
        vec!["sap-Pa55word".into(), "wrong-s3cret".into()]
    }
    fn source_options(&self) -> Map<String, Value> {
        map(json!({"service": "API_BUSINESS_PARTNER", "entity_set": SET, "overlap": "0s"}))
    }
    fn target_options(&self) -> Map<String, Value> {
        map(json!({"service": "API_BUSINESS_PARTNER", "entity_set": SET,
                   "fields": {"code": "SearchTerm1", "name": "OrganizationBPName1",
                              "category": "BusinessPartnerCategory"},
                   "defaults": {"BusinessPartnerCategory": "2", "BusinessPartnerGrouping": "BP02"}}))
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
                let number = format!("{}", 20_000_000 + store.list(SET, None, None).expect("the set").len() + 1);
                let fields = json!({"BusinessPartner": number, "BusinessPartnerCategory": "2",
                    "BusinessPartnerFullName": name, "OrganizationBPName1": name, "SearchTerm1": key,
                    "BusinessPartnerGrouping": "BP02", "BusinessPartnerIsBlocked": false,
                    "to_BusinessPartnerAddress": [], "to_BusinessPartnerRole": [],
                    "_key": number, "_rev": 0});
                store.insert(SET, map(fields)).expect("seeded");
                (number, key.clone())
            })
            .collect()
    }

    async fn rename(&self, id: &str, name: &str) {
        self.tick();
        let store = self.double.store();
        let record = store
            .find_by_key(SET, id)
            .expect("the set")
            .expect("the record");
        store
            .update(SET, record.id, map(json!({"OrganizationBPName1": name})))
            .expect("renamed");
    }

    fn name_of(&self, record: &Record) -> Option<String> {
        record
            .fields
            .get("OrganizationBPName1")?
            .as_str()
            .map(str::to_owned)
    }
    fn key_of(&self, record: &Record) -> Option<String> {
        record
            .fields
            .get("SearchTerm1")?
            .as_str()
            .map(str::to_owned)
    }

    fn refused(&self) -> Option<Outgoing> {
        let mut out = self.outgoing("R-1", "Refused");
        out.fields.insert("category".into(), json!("3"));
        Some(out)
    }
    fn refusal_says(&self) -> &str {
        "Business partner category must be 1 (person) or 2 (organization)"
    }

    fn faults(&self) -> Option<&dyn Faults> {
        Some(&self.faults)
    }
}

ferry_conformance::suite!(double, crate::conformance::Double::start().await);
