//! The conformance suite (`ferry-conformance`) against the Jiandaoyun double
//! (`ferry_doubles::jiandaoyun`, built from the published documentation, not a real
//! account): the 客户 form read by update time in pages that cut through ties, and written
//! by its 客户编号 widget. Seeds go straight into the double's store at one frozen second;
//! each later change is a second on. API keys do not expire, so the `session` check does not
//! apply.

use std::sync::Arc;

use async_trait::async_trait;
use ferry_conformance::{Faults, Fixture, PlanFaults, Seeded};
use ferry_doubles::RunningDouble;
use ferry_doubles::jiandaoyun::{
    self, APP_ID, CUSTOMER_FORM, JiandaoyunConfig, JiandaoyunDouble, customer, data_id_of, store_id,
};
use ferry_kit::{ConnectorFactory, Outgoing, SinkContext};
use ferry_model::{Entity, Record};
use serde_json::{Map, Value, json};

use crate::JdyFactory;

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
        let config = JiandaoyunConfig::default();
        let double = ferry_doubles::start(JiandaoyunDouble::new(config), 0)
            .await
            .expect("the double starts");
        double
            .clock()
            .freeze_at("2026-03-01T08:00:00Z".parse().expect("a time"));
        let faults = PlanFaults::new(double.faults(), "POST", "/api/**")
            .reads("POST", "/api/v5/app/entry/data/list");
        Some(Self { double, faults })
    }

    fn tick(&self) {
        self.double.clock().advance(chrono::TimeDelta::seconds(1));
    }
}

#[async_trait]
impl Fixture for Double {
    fn factory(&self) -> Arc<dyn ConnectorFactory> {
        Arc::new(JdyFactory)
    }
    fn settings(&self) -> Map<String, Value> {
        map(json!({
            "url": format!("{}/api", self.double.base_url()), "api_key": jiandaoyun::API_KEY,
            "retries": 3, "backoff": "10ms",
        }))
    }
    fn refused_credentials(&self) -> Option<Map<String, Value>> {
        let mut settings = self.settings();
        settings.insert("api_key".into(), json!("wrong-s3cret"));
        Some(settings)
    }
    fn secrets(&self) -> Vec<String> {
        vec![jiandaoyun::API_KEY.into(), "wrong-s3cret".into()]
    }
    fn source_options(&self) -> Map<String, Value> {
        map(json!({"app": APP_ID, "form": CUSTOMER_FORM, "overlap": "0s"}))
    }
    fn target_options(&self) -> Map<String, Value> {
        map(
            json!({"app": APP_ID, "form": CUSTOMER_FORM, "key": customer::NUMBER,
                   "fields": {"name": customer::NAME, "credit_limit": customer::CREDIT}}),
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
        format!("{CUSTOMER_FORM} (客户管理/客户, app {APP_ID})")
    }

    async fn reset(&self) {
        self.double.faults().clear();
        for record in self
            .double
            .store()
            .list(CUSTOMER_FORM, None, None)
            .expect("the form")
        {
            self.double
                .store()
                .delete(CUSTOMER_FORM, record.id)
                .expect("deleted");
        }
        self.tick();
    }

    async fn seed(&self, records: &[(String, String)]) -> Seeded {
        self.tick();
        records
            .iter()
            .map(|(key, name)| {
                let fields = json!({customer::NUMBER: key, customer::NAME: name, "flowState": 1});
                let stored = self
                    .double
                    .store()
                    .insert(CUSTOMER_FORM, map(fields))
                    .expect("seeded");
                (data_id_of(&stored), key.clone())
            })
            .collect()
    }

    async fn rename(&self, id: &str, name: &str) {
        self.tick();
        let id = store_id(id).expect("an _id of the double");
        self.double
            .store()
            .update(CUSTOMER_FORM, id, map(json!({customer::NAME: name})))
            .expect("renamed");
    }

    fn name_of(&self, record: &Record) -> Option<String> {
        record
            .fields
            .get(customer::NAME)?
            .as_str()
            .map(str::to_owned)
    }
    fn key_of(&self, record: &Record) -> Option<String> {
        record
            .fields
            .get(customer::NUMBER)?
            .as_str()
            .map(str::to_owned)
    }

    fn refused(&self) -> Option<Outgoing> {
        let mut out = self.outgoing("R-1", "Refused");
        out.fields.insert("credit_limit".into(), json!("a lot"));
        Some(out)
    }
    fn refusal_says(&self) -> &str {
        "信用额度"
    }

    fn faults(&self) -> Option<&dyn Faults> {
        Some(&self.faults) // API keys do not expire: no session to end
    }
}

ferry_conformance::suite!(double, crate::conformance::Double::start().await);
