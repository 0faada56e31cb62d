//! The conformance suite (`ferry-conformance`) against the Kingdee double
//! (`ferry_doubles::kingdee`, built from the published documentation, not a real tenant):
//! customers (`BD_Customer`) read by change time in pages that cut through ties, and written
//! by number. Seeds go straight into the double's store at one frozen second; each later
//! change is a second on. The double's own faults give the 503s, 429s, dropped connections
//! and lost sessions.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_conformance::{Faults, Fixture, PlanFaults, Seeded};
use ferry_doubles::RunningDouble;
use ferry_doubles::kingdee::{KingdeeConfig, KingdeeDouble};
use ferry_kit::{ConnectorFactory, Outgoing, SinkContext};
use ferry_model::{Entity, Record};
use serde_json::{Map, Value, json};

use crate::KingdeeFactory;

const FORM: &str = "BD_Customer";

/// The double, its customers emptied before each check.
pub struct Double {
    double: RunningDouble,
    faults: PlanFaults,
}

fn map(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

impl Double {
    pub async fn start() -> Option<Self> {
        let double = ferry_doubles::start(KingdeeDouble::new(KingdeeConfig::default()), 0)
            .await
            .expect("the double starts");
        double
            .clock()
            .freeze_at("2026-03-01T08:00:00Z".parse().expect("a time"));
        let faults = PlanFaults::new(double.faults(), "POST", "/k3cloud/*DynamicFormService*")
            .reads("POST", "/k3cloud/*ExecuteBillQuery*")
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
        Arc::new(KingdeeFactory)
    }
    fn settings(&self) -> Map<String, Value> {
        map(json!({
            "url": format!("{}/k3cloud/", self.double.base_url()), "acct_id": "ferry-test-acct",
            "login": {"by": "password", "user": "Administrator", "password": "kd-Pa55word"},
            "retries": 3, "backoff": "10ms",
        }))
    }
    fn refused_credentials(&self) -> Option<Map<String, Value>> {
        let mut settings = self.settings();
        settings.insert(
            "login".into(),
            json!({"by": "password", "user": "Administrator", "password": "wrong-s3cret"}),
        );
        Some(settings)
    }
    fn secrets(&self) -> Vec<String> {
        vec!["kd-Pa55word".into(), "wrong-s3cret".into()]
    }
    fn source_options(&self) -> Map<String, Value> {
        map(json!({"form": FORM, "fields": ["FNumber", "FName"], "overlap": "0s"}))
    }
    fn target_options(&self) -> Map<String, Value> {
        map(
            json!({"form": FORM, "fields": {"name": "FName", "currency": "FTRADINGCURRID"},
                   "refs": ["FTRADINGCURRID"], "org": "100"}),
        )
    }
    fn sink_context(&self) -> SinkContext {
        SinkContext {
            entity: Entity::CUSTOMER,
            key_field: "code".into(),
            fields: vec!["code".into(), "name".into()],
        }
    }
    fn object(&self) -> String {
        FORM.into()
    }

    async fn reset(&self) {
        self.double.faults().clear();
        let held = self
            .double
            .store()
            .list(FORM, None, None)
            .expect("the form");
        for record in held {
            self.double
                .store()
                .delete(FORM, record.id)
                .expect("deleted");
        }
        self.tick();
    }

    async fn seed(&self, records: &[(String, String)]) -> Seeded {
        self.tick();
        records
            .iter()
            .map(|(key, name)| {
                let fields = json!({"FNumber": key, "FName": name, "FDocumentStatus": "A",
                                    "FForbidStatus": "A", "FUseOrgId": {"FNumber": "100"}});
                let stored = self
                    .double
                    .store()
                    .insert(FORM, map(fields))
                    .expect("seeded");
                (stored.id.to_string(), key.clone())
            })
            .collect()
    }

    async fn rename(&self, id: &str, name: &str) {
        self.tick();
        let id = id.parse().expect("a numeric id");
        self.double
            .store()
            .update(FORM, id, map(json!({"FName": name})))
            .expect("renamed");
    }

    fn name_of(&self, record: &Record) -> Option<String> {
        record.fields.get("FName")?.as_str().map(str::to_owned)
    }
    fn key_of(&self, record: &Record) -> Option<String> {
        record.fields.get("FNumber")?.as_str().map(str::to_owned)
    }

    fn refused(&self) -> Option<Outgoing> {
        let mut out = self.outgoing("R-1", "Refused");
        out.fields
            .insert("currency".into(), json!("NO-SUCH-CURRENCY"));
        Some(out)
    }
    fn refusal_says(&self) -> &str {
        "[NO-SUCH-CURRENCY]不存在"
    }

    fn faults(&self) -> Option<&dyn Faults> {
        Some(&self.faults)
    }
}

ferry_conformance::suite!(double, crate::conformance::Double::start().await);
