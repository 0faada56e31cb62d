//! The conformance suite (`ferry-conformance`) against the Yonyou double
//! (`ferry_doubles::yonyou`, built from the published documentation, not a real tenant):
//! customers (`merchant`) read by `pubts` in pages that cut through ties, and written by
//! code. Seeds go straight into the double's store at one frozen second; each later change
//! is a second on. The double's own faults give the 503s, 429s, dropped connections and
//! expired tokens.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_conformance::{Faults, Fixture, PlanFaults, Seeded};
use ferry_doubles::RunningDouble;
use ferry_doubles::yonyou::{MERCHANT, YonyouConfig, YonyouDouble, wire_id};
use ferry_kit::{ConnectorFactory, Outgoing, SinkContext};
use ferry_model::{Entity, Record};
use serde_json::{Map, Value, json};

use crate::YonyouFactory;

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
        let double = ferry_doubles::start(YonyouDouble::new(YonyouConfig::default()), 0)
            .await
            .expect("the double starts");
        double
            .clock()
            .freeze_at("2026-03-01T08:00:00Z".parse().expect("a time"));
        let faults = PlanFaults::new(double.faults(), "POST", "/iuap-api-gateway/yonbip/**")
            .reads(
                "POST",
                "/iuap-api-gateway/yonbip/digitalModel/merchant/newlist",
            )
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
        Arc::new(YonyouFactory)
    }
    fn settings(&self) -> Map<String, Value> {
        map(json!({
            "url": self.double.base_url(), "tenant_id": "ferry-tenant",
            "app_key": "yy-app-key", "app_secret": "yy-app-s3cret",
            "retries": 3, "backoff": "10ms",
        }))
    }
    fn refused_credentials(&self) -> Option<Map<String, Value>> {
        let mut settings = self.settings();
        settings.insert("app_secret".into(), json!("wrong-s3cret"));
        Some(settings)
    }
    fn secrets(&self) -> Vec<String> {
        vec!["yy-app-s3cret".into(), "wrong-s3cret".into()]
    }
    fn source_options(&self) -> Map<String, Value> {
        map(json!({"object": "customers", "overlap": "0s", "page_size": 4}))
    }
    fn target_options(&self) -> Map<String, Value> {
        map(
            json!({"object": "customers", "fields": {"name": "name.simplifiedName"},
                   "defaults": {"createOrgCode": "global00"}}),
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
        "customers".into()
    }

    async fn reset(&self) {
        self.double.faults().clear();
        let held = self
            .double
            .store()
            .list(MERCHANT, None, None)
            .expect("the customers");
        for record in held {
            self.double
                .store()
                .delete(MERCHANT, record.id)
                .expect("deleted");
        }
        self.tick();
    }

    async fn seed(&self, records: &[(String, String)]) -> Seeded {
        self.tick();
        records
            .iter()
            .map(|(key, name)| {
                let fields = json!({"code": key, "name": {"simplifiedName": name},
                    "createOrgId": "global00", "createOrgCode": "global00",
                    "createOrgName": "Ferry 企业集团", "stopstatus": false});
                let stored = self
                    .double
                    .store()
                    .insert(MERCHANT, map(fields))
                    .expect("seeded");
                (wire_id(MERCHANT, stored.id).to_string(), key.clone())
            })
            .collect()
    }

    async fn rename(&self, id: &str, name: &str) {
        self.tick();
        let wire: u64 = id.parse().expect("a numeric id");
        let id = ferry_doubles::yonyou::store_id(MERCHANT, wire).expect("a customer id");
        self.double
            .store()
            .update(MERCHANT, id, map(json!({"name": {"simplifiedName": name}})))
            .expect("renamed");
    }

    fn name_of(&self, record: &Record) -> Option<String> {
        record
            .fields
            .get("name")?
            .get("simplifiedName")?
            .as_str()
            .map(str::to_owned)
    }
    fn key_of(&self, record: &Record) -> Option<String> {
        record.fields.get("code")?.as_str().map(str::to_owned)
    }

    fn refused(&self) -> Option<Outgoing> {
        let mut out = self.outgoing("R-1", "Refused");
        out.fields.insert("name".into(), json!(""));
        Some(out)
    }
    fn refusal_says(&self) -> &str {
        "客户名称不能为空"
    }

    fn faults(&self) -> Option<&dyn Faults> {
        Some(&self.faults)
    }
}

ferry_conformance::suite!(double, crate::conformance::Double::start().await);
